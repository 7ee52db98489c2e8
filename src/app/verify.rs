//! `promptrail verify`: every check over the whole audit log; exit 1 on any finding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{AuditLog, Outcome, Progress, Workspace, print_json};
use crate::cli::{Format, VerifyArgs};
use crate::git::{Object, ObjectReader};
use crate::report::plain;
use crate::signing::TrustedKey;
use crate::types::Oid;
use crate::verify::{AuditCommit, RepoObjects, Report, verify};

/// The repository's objects through one `git cat-file --batch`, with the blobs announced by
/// `prefetch` read in one batch and kept until asked for.
struct GitObjects {
    reader: ObjectReader,
    prefetched: HashMap<String, Option<Object>>,
}

impl RepoObjects for GitObjects {
    fn blob_at(&mut self, rev: &str, path: &str) -> Result<Option<(Oid, Vec<u8>)>> {
        let spec = format!("{rev}:{path}");
        let object = match self.prefetched.remove(&spec) {
            Some(o) => o,
            None => self.reader.read(&spec)?,
        };
        Ok(object.filter(|o| o.kind == "blob").map(|o| (o.oid, o.data)))
    }

    fn prefetch(&mut self, specs: &[(String, String)]) -> Result<()> {
        let specs: Vec<String> = specs
            .iter()
            .map(|(rev, path)| format!("{rev}:{path}"))
            .collect();
        let objects = self.reader.read_many(&specs)?;
        self.prefetched = specs.into_iter().zip(objects).collect();
        Ok(())
    }
}

/// Loads trusted public keys: the given paths, else `signing.public_keys` from the config
/// (with their validity windows).
pub fn trusted_keys(ws: &Workspace, flags: &[PathBuf]) -> Result<Vec<TrustedKey>> {
    if !flags.is_empty() {
        return Ok(flags
            .iter()
            .map(|p| TrustedKey::load(p))
            .collect::<Result<Vec<_>, _>>()?);
    }
    ws.config
        .signing
        .public_keys
        .iter()
        .map(|k| {
            let mut key = TrustedKey::load(&ws.git.root().join(k.path()))?;
            (key.not_before, key.not_after) = k.window();
            Ok(key)
        })
        .collect()
}

/// Runs every check over an audit branch already read.
pub fn verify_log(
    ws: &Workspace,
    log: &AuditLog,
    keys: &[TrustedKey],
    saved_checkpoint: Option<&str>,
) -> Result<Report> {
    let (tip, files) = (&log.tip, &log.files);
    let mut repo = GitObjects {
        reader: ws.git.object_reader()?,
        prefetched: HashMap::new(),
    };
    // The branch's history is git's work (a tree diff per commit) and the Merkle leaves are
    // independent of the entries' checks: both run while the entries are checked.
    let (mut report, (mut history, leaves)) = std::thread::scope(|scope| {
        let history = scope.spawn(|| -> Result<_> {
            let history = crate::verify::check_branch_history(&audit_commits(ws, tip)?);
            let leaves: Vec<crate::merkle::Hash> = files
                .entries
                .iter()
                .map(|e| crate::merkle::leaf_hash(&e.bytes))
                .collect();
            Ok((history, leaves))
        });
        let report = verify(
            files.meta.as_deref(),
            &files.entries,
            &files.stray,
            keys,
            &mut repo,
        );
        let history = history
            .join()
            .map_err(|_| anyhow::anyhow!("reading the audit branch's history failed"))?;
        Ok::<_, anyhow::Error>((report?, history?))
    })?;
    history.extend(crate::verify::check_checkpoint_and_range(
        files.checkpoint.as_deref(),
        files.range.as_deref(),
        report.origin.as_deref(),
        &leaves,
        keys,
    ));
    if let Some(saved) = saved_checkpoint {
        history.extend(crate::verify::check_consistency(saved, &leaves, keys));
    }
    if !history.is_empty() {
        report.ok = false;
        report.findings.extend(history);
        report
            .findings
            .sort_by_key(|f| (f.entry.map_or(0, |e| e + 1), f.check));
    }
    Ok(report)
}

/// The audit branch's first-parent commits, oldest first, with their changed files.
fn audit_commits(ws: &Workspace, tip: &Oid) -> Result<Vec<AuditCommit>> {
    let mut all = std::collections::HashMap::new();
    ws.git.log(tip, |c| {
        all.insert(c.oid.clone(), c);
        Ok(())
    })?;
    let mut line = Vec::new();
    let mut cur = Some(tip.clone());
    while let Some(oid) = cur {
        let Some(c) = all.remove(&oid) else { break };
        cur = c.parents.first().cloned();
        line.push(AuditCommit {
            oid: c.oid,
            parents: c.parents.len(),
            changes: c
                .changes
                .iter()
                .map(|ch| (ch.status, String::from_utf8_lossy(&ch.path).into_owned()))
                .collect(),
        });
    }
    line.reverse();
    Ok(line)
}

pub fn run(dir: &Path, args: &VerifyArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let keys = trusted_keys(&ws, &args.keys)?;
    if keys.is_empty() {
        bail!(
            "no trusted public key: pass --key PUB (repeatable), or list keys under \
             `signing.public_keys` in .promptrail.yml"
        );
    }
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    progress.say(&format!("verifying the audit log on {branch}"));
    let saved = match &args.checkpoint {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading --checkpoint {}", p.display()))?,
        ),
        None => None,
    };
    let log = AuditLog::open_unchecked(&ws, &branch)?;
    let report = verify_log(&ws, &log, &keys, saved.as_deref())?;
    if report.signed_by.is_empty() && report.entries > 0 {
        let ids: Vec<String> = keys
            .iter()
            .map(|k| format!("{} ({})", k.key_id, k.source))
            .collect();
        progress.warn(&format!(
            "none of the given public keys signed any entry: {}",
            ids.join(", ")
        ));
    }
    match args.format.format {
        Format::Json => print_json(&report)?,
        Format::Text => print!("{}", plain::verify(&report, &branch)),
    }
    Ok(if report.ok { Outcome::Ok } else { Outcome::No })
}

/// `promptrail checkpoint`: the branch's checkpoint, as stored.
pub fn print_checkpoint(dir: &Path, args: &crate::cli::CheckpointArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let files = AuditLog::open(&ws, &branch)?.files;
    let Some(cp) = files.checkpoint else {
        bail!("{branch} has no checkpoint yet: it is written with every append");
    };
    print!("{}", String::from_utf8_lossy(&cp));
    Ok(Outcome::Ok)
}
