//! `export --format pack --out DIR`: everything an auditor takes away, in one directory.
//!
//! The pack is built in a temporary sibling directory and renamed into place when every
//! file is written (its index, README.md, last), so a failure leaves no half pack under
//! the name. A non-empty DIR is replaced only with `--force`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{DecodedEntry, Outcome, Run};
use crate::attestation::predicate::EventType;
use crate::cli::ExportFormat;
use crate::merkle::{inclusion_proof, leaf_hash};
use crate::proof::Proof;
use crate::types::Sha256Hex;

/// A deployed version and the entry that recorded it.
struct Deployed {
    path: String,
    version: u32,
    entry: u64,
    environments: BTreeSet<String>,
}

pub(super) fn write(run: &Run, dir: &Path, force: bool) -> Result<Outcome> {
    let Some(verification) = &run.header.verification else {
        bail!(
            "a pack carries the verification result: give the trusted keys (--key PUB) or \
             identities, or list them in .promptrail.yml"
        );
    };
    check_target(dir, force)?;
    let Some(checkpoint) = &run.log.listing.checkpoint else {
        bail!(
            "{} has no checkpoint: record once with this promptrail to write one",
            run.log.branch
        );
    };
    let name = dir
        .file_name()
        .with_context(|| format!("{} names no directory", dir.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let built = (|| -> Result<()> {
        let mut files: Vec<(String, String)> = Vec::new();
        let mut put = |rel: &str, what: String, bytes: &[u8]| -> Result<()> {
            let path = tmp.join(rel);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            files.push((rel.to_owned(), what));
            Ok(())
        };
        let render = |format| -> Result<Vec<u8>> {
            let mut out = Vec::new();
            run.render(format, &mut out)?;
            Ok(out)
        };
        put(
            "report.html",
            "the self-contained HTML report (open it in a browser; no network)".into(),
            &render(ExportFormat::Html)?,
        )?;
        put(
            "log.csv",
            "one row per prompt per audit event, for a spreadsheet".into(),
            &render(ExportFormat::Csv)?,
        )?;
        put(
            "verification.json",
            format!(
                "the verification result (`promptrail verify --format json`): {}",
                if verification.ok {
                    "verified"
                } else {
                    "FAILED"
                }
            ),
            (serde_json::to_string_pretty(verification)? + "\n").as_bytes(),
        )?;
        put(
            "checkpoint",
            "the audit log's signed checkpoint (C2SP signed note) the proofs lead to".into(),
            checkpoint,
        )?;
        std::fs::create_dir(tmp.join("proofs"))?;
        for (rel, what, bytes) in proofs(run, checkpoint)? {
            put(&rel, what, &bytes)?;
        }
        let index = readme(run, verification.ok, &files, &tmp)?;
        let path = tmp.join("README.md");
        let mut f = std::fs::File::create(&path)?;
        f.write_all(index.as_bytes())?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = replace(dir, &tmp, force) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    eprintln!("wrote the audit pack to {}", dir.display());
    Ok(Outcome::Ok)
}

/// Refuses a DIR that is a file, or a non-empty directory without `force`.
fn check_target(dir: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
            if !empty && !force {
                bail!(
                    "{} is not empty: choose another --out, or pass --force to replace it",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

/// Moves the finished pack `tmp` to `dir`, replacing what `check_target` allowed.
fn replace(dir: &Path, tmp: &Path, force: bool) -> Result<()> {
    check_target(dir, force)?;
    if dir.exists() {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let old: PathBuf = dir.with_file_name(format!(
            ".{}.old-{}",
            name.unwrap_or_default(),
            std::process::id()
        ));
        std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
        if let Err(e) = std::fs::rename(tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            return Err(e).with_context(|| format!("writing {}", dir.display()));
        }
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        std::fs::rename(tmp, dir).with_context(|| format!("writing {}", dir.display()))?;
    }
    Ok(())
}

/// A `promptrail prove` proof for every version ever deployed: (file, what, bytes).
fn proofs(run: &Run, checkpoint: &[u8]) -> Result<Vec<(String, String, Vec<u8>)>> {
    let mut leaves = Vec::with_capacity(run.log.listing.entries.len());
    // (path, version) → the version entry that recorded it (the newest, as `prove` finds).
    let mut recorded: HashMap<(String, u32), u64> = HashMap::new();
    let mut deployed: BTreeMap<(String, u32), BTreeSet<String>> = BTreeMap::new();
    let mut last_keyless = false;
    run.log.for_each_stored(run.ws, |window| {
        for (stored, DecodedEntry { statement: st, .. }) in window {
            leaves.push(leaf_hash(&stored.bytes));
            last_keyless = crate::store::decode_entry(&stored.bytes)
                .is_ok_and(|(bundle, _)| bundle.is_keyless());
            let p = &st.predicate;
            for pr in &p.prompts {
                let key = (pr.path.to_string(), pr.version.0);
                match (p.event, &p.deployment) {
                    (EventType::Version, _) => {
                        recorded.insert(key, p.log.index.0);
                    }
                    (_, Some(d)) => {
                        deployed
                            .entry(key)
                            .or_default()
                            .insert(d.environment.clone());
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    let mut wanted: Vec<Deployed> = Vec::new();
    for ((path, version), environments) in deployed {
        let Some(&entry) = recorded.get(&(path.clone(), version)) else {
            bail!(
                "{path}@v{version} was deployed but no version entry records it: run \
                 `promptrail verify`"
            );
        };
        wanted.push(Deployed {
            path,
            version,
            entry,
            environments,
        });
    }
    let positions: Vec<usize> = wanted.iter().map(|d| d.entry as usize).collect();
    let entries = run.log.read_at_stored(run.ws, &positions)?;
    let closing = if last_keyless {
        let last = run.log.listing.entries.len().saturating_sub(1);
        run.log
            .read_at_stored(run.ws, &[last])?
            .into_iter()
            .next()
            .map(|e| e.bytes)
    } else {
        None
    };
    let checkpoint = String::from_utf8_lossy(checkpoint);
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (d, stored) in wanted.iter().zip(entries) {
        let index = d.entry as usize;
        let proof = Proof::new(
            d.entry,
            &stored.bytes,
            &inclusion_proof(index, &leaves),
            &checkpoint,
            closing.as_deref(),
        );
        let mut name = format!("proofs/{}@v{}.json", file_safe(&d.path), d.version);
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("proofs/{}@v{}-{n}.json", file_safe(&d.path), d.version);
            n += 1;
        }
        out.push((
            name,
            format!(
                "proof of `{}` v{} (entry {}, deployed to {}): `promptrail verify-entry` checks it",
                d.path,
                d.version,
                d.entry,
                d.environments
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (serde_json::to_string_pretty(&proof)? + "\n").into_bytes(),
        ));
    }
    Ok(out)
}

/// A prompt path as one file name: `/` becomes `__`, anything outside `[A-Za-z0-9._-]`
/// becomes `_`, and a leading dot is kept from hiding the file.
fn file_safe(path: &str) -> String {
    let s: String = path
        .replace('/', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

/// The pack's index: what each file is, its SHA-256, and how to check it.
fn readme(run: &Run, ok: bool, files: &[(String, String)], dir: &Path) -> Result<String> {
    let h = &run.header;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Prompt audit pack: {}\n",
        h.origin.as_deref().unwrap_or(&h.branch)
    );
    let _ = writeln!(
        o,
        "Exported {} by promptrail {} from the audit branch `{}` at commit `{}` ({} entries). \
         Verification: **{}**.\n",
        h.generated_at,
        env!("CARGO_PKG_VERSION"),
        h.branch,
        run.log.tip,
        run.log.listing.entries.len(),
        if ok { "verified" } else { "FAILED" }
    );
    for k in &h.trusted_keys {
        let _ = writeln!(o, "- trusted: `{k}`");
    }
    let _ = writeln!(o, "\n| file | what it is | sha256 |\n|---|---|---|");
    for (rel, what) in files {
        let bytes = std::fs::read(dir.join(rel))?;
        let _ = writeln!(o, "| `{rel}` | {what} | `{}` |", Sha256Hex::of(&bytes));
    }
    o.push_str(
        "\nTo check a proof offline, with the public key the log was signed with:\n\n\
         ```\npromptrail verify-entry proofs/FILE.json --key promptrail.pub\n```\n\n\
         Each proof holds the entry (a Sigstore bundle), its inclusion path and the signed \
         checkpoint above; `verification.json` is the result of checking the whole log.\n",
    );
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::file_safe;

    #[test]
    fn prompt_paths_become_one_plain_file_name() {
        assert_eq!(file_safe("prompts/intake.md"), "prompts__intake.md");
        assert_eq!(file_safe(".promptrail.yml"), "_promptrail.yml");
        assert_eq!(file_safe("../../etc/passwd"), "_.__..__etc__passwd");
        assert_eq!(file_safe("a b/ü.md"), "a_b___.md");
    }
}
