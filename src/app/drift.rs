//! `promptrail drift`: the prompt files actually served (a directory copied out of the running
//! system, or a deploy manifest) against what the trail says is live in an environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde::Deserialize;

use super::{DecodedEntry, Outcome, Workspace, print_json};
use crate::cli::{DriftArgs, Format};
use crate::fsread::{MANIFEST_LIMIT, Symlinks, read_regular};
use crate::ledger::{Deployed, Ledger, RecordedVersion};
use crate::policy::is_policy_file;
use crate::report::drift::{self, DriftRow, DriftStatus, DriftView, VersionRef};
use crate::types::{PromptPath, Sha256Hex};
use crate::worktree::{self, State};

/// What is served at a path.
enum Served {
    Bytes(Sha256Hex),
    /// Why it cannot be judged.
    Blocked(String),
}

/// The parts of a deploy manifest (`deploy --manifest`) that say what is served; the rest of
/// its fields are ignored.
#[derive(Deserialize)]
struct ManifestIn {
    environment: Option<String>,
    prompts: Vec<ManifestPromptIn>,
}

#[derive(Deserialize)]
struct ManifestPromptIn {
    path: PromptPath,
    sha256: Sha256Hex,
}

pub fn run(dir: &Path, args: &DriftArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env)?;
    let meta = std::fs::metadata(&args.path)
        .with_context(|| format!("{}: cannot be read", args.path.display()))?;
    let (kind, served) = if meta.is_dir() {
        ("directory", served_directory(&ws, args)?)
    } else {
        if args.prefix.is_some() {
            bail!(
                "--prefix applies to a directory; {} is a file",
                args.path.display()
            );
        }
        ("manifest", served_manifest(&args.path, &env)?)
    };
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let statements = super::verified::verified_statements(&ws, &branch, &args.trust, "drift")?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let live = ledger.active(&env, Utc::now(), true);
    let files = compare(&ledger, &env, &served, &live);
    let view = DriftView {
        environment: env,
        source: args.path.display().to_string(),
        kind,
        served: served.len(),
        live: live.len(),
        drifted: files.iter().filter(|r| r.status != DriftStatus::Ok).count(),
        files,
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", drift::text(&view)),
    }
    Ok(if view.drifted > 0 {
        Outcome::No
    } else {
        Outcome::Ok
    })
}

/// The directory, read as the gate reads the working tree: only regular files with one link,
/// each read once; links, hard links and special files at prompt paths are blocked.
fn served_directory(ws: &Workspace, args: &DriftArgs) -> Result<BTreeMap<PromptPath, Served>> {
    let prefix = args.prefix.as_deref().unwrap_or("");
    if prefix.split('/').any(|c| c == "..") || prefix.starts_with('/') {
        bail!("--prefix {prefix}: expected a directory of the repository, such as `prompts`");
    }
    let found = worktree::scan_as(&args.path, prefix, &ws.matcher()?, |_, _| false)?;
    Ok(found
        .into_iter()
        .filter(|f| !is_policy_file(&f.path))
        .map(|f| {
            let served = match f.state {
                State::File { sha256, .. } => Served::Bytes(sha256),
                State::Blocked(why) => Served::Blocked(why.to_string()),
            };
            (f.path, served)
        })
        .collect())
}

fn served_manifest(file: &Path, env: &str) -> Result<BTreeMap<PromptPath, Served>> {
    let data = read_regular(file, MANIFEST_LIMIT, "a deploy manifest", Symlinks::Follow)?;
    let m: ManifestIn = serde_json::from_slice(&data).with_context(|| {
        format!(
            "{}: not a deploy manifest (`promptrail deploy --manifest`: {{\"environment\", \
             \"prompts\": [{{\"path\", \"sha256\"}}]}})",
            file.display()
        )
    })?;
    if let Some(e) = m.environment.as_deref().filter(|e| *e != env) {
        bail!(
            "{}: the manifest is for `{}`, not {env}",
            file.display(),
            e.escape_debug()
        );
    }
    let mut out = BTreeMap::new();
    for p in m.prompts {
        if out.contains_key(&p.path) {
            bail!(
                "{}: `{}` is listed twice: which bytes are served?",
                file.display(),
                p.path
            );
        }
        out.insert(p.path, Served::Bytes(p.sha256));
    }
    Ok(out)
}

/// The recorded version the bytes `sha256` are when served at `path`: that prompt's own, else
/// any prompt's (the newest).
fn content_of<'a>(
    ledger: &'a Ledger,
    path: &PromptPath,
    sha256: &Sha256Hex,
) -> Option<&'a RecordedVersion> {
    ledger
        .by_sha256(path, sha256)
        .or_else(|| ledger.with_content(sha256.as_str()).last().copied())
}

fn version_ref(v: &RecordedVersion) -> VersionRef {
    VersionRef {
        path: v.prompt.path.clone(),
        version: v.prompt.version,
        entry: v.entry,
        approved: v.approved(),
    }
}

fn describe(v: Option<&RecordedVersion>) -> String {
    match v {
        None => "they match no recorded version".into(),
        Some(v) => format!(
            "they are {} {} (entry #{}, {})",
            v.prompt.path,
            v.prompt.version,
            v.entry.0,
            if v.approved() {
                "approved".to_owned()
            } else {
                format!("NOT approved: {}", v.why_not())
            }
        ),
    }
}

fn compare(
    ledger: &Ledger,
    env: &str,
    served: &BTreeMap<PromptPath, Served>,
    live: &BTreeMap<PromptPath, &Deployed>,
) -> Vec<DriftRow> {
    let paths: BTreeSet<&PromptPath> = served.keys().chain(live.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let d = live.get(path).copied();
            let mut row = DriftRow {
                path: path.clone(),
                status: DriftStatus::Ok,
                sha256: None,
                content: None,
                live_version: d.map(|d| d.version),
                live_sha256: d.map(|d| d.sha256.clone()),
                deployment: d.map(|d| d.entry),
                reason: String::new(),
            };
            let live_text = d.map(|d| {
                format!(
                    "{} is live ({} #{})",
                    d.version,
                    d.event.as_str(),
                    d.entry.0
                )
            });
            match (served.get(path), d) {
                (None, None) => return None,
                (None, Some(_)) => {
                    row.status = DriftStatus::Missing;
                    row.reason = format!(
                        "{} in {env}, but no file is served at this path",
                        live_text.unwrap_or_default()
                    );
                }
                (Some(Served::Blocked(why)), _) => {
                    row.status = DriftStatus::Blocked;
                    row.reason = match live_text {
                        Some(l) => format!("{why} ({l})"),
                        None => why.clone(),
                    };
                }
                (Some(Served::Bytes(sha)), None) => {
                    let v = content_of(ledger, path, sha);
                    row.sha256 = Some(sha.to_string());
                    row.content = v.map(version_ref);
                    row.status = DriftStatus::Unexpected;
                    row.reason = format!(
                        "no version of it is live in {env}; served bytes {}: {}",
                        sha.short(),
                        describe(v)
                    );
                }
                (Some(Served::Bytes(sha)), Some(d)) => {
                    let v = content_of(ledger, path, sha);
                    row.sha256 = Some(sha.to_string());
                    row.content = v.map(version_ref);
                    let live_text = live_text.unwrap_or_default();
                    if sha.as_str() == d.sha256 {
                        row.reason = live_text;
                    } else {
                        row.status = match v {
                            None => DriftStatus::Unrecorded,
                            Some(v) if !v.approved() => DriftStatus::Unapproved,
                            Some(_) => DriftStatus::NotLive,
                        };
                        row.reason = format!(
                            "{live_text} in {env}, but the served bytes {} differ: {}",
                            sha.short(),
                            describe(v)
                        );
                    }
                }
            }
            Some(row)
        })
        .collect()
}
