//! `promptrail which`: from a runtime digest (or a file's bytes) to the recorded versions
//! with that content, their approvals, and when they were live where.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use super::{DecodedEntry, Outcome, Workspace, print_json};
use crate::cli::{Format, WhichArgs};
use crate::ledger::{DigestQuery, Ledger};
use crate::report::which::{self, LiveAnswer, WhichVersion, WhichView};
use crate::types::Sha256Hex;

pub fn run(dir: &Path, args: &WhichArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = args.env.as_deref().map(|e| ws.environment(e)).transpose()?;
    let at = args.at.as_deref().map(parse_time).transpose()?;
    let query = match DigestQuery::parse(&args.target) {
        Some(q) => q,
        None => DigestQuery::sha256(
            hash_file(Path::new(&args.target), ws.config.prompts.max_bytes.0)?.as_str(),
        ),
    };
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let statements = super::verified::verified_statements(&ws, &branch, &args.trust, "which")?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let mut matches = ledger.by_digest(&query);
    if matches.len() > 1 {
        let candidates: Vec<String> = matches
            .iter()
            .map(|m| {
                let names: Vec<String> = m
                    .versions
                    .iter()
                    .map(|v| format!("{} {}", v.prompt.path, v.prompt.version))
                    .collect();
                format!("  sha256 {} ({})", m.sha256, names.join(", "))
            })
            .collect();
        bail!(
            "`{}` matches {} different recorded contents; give more digits:\n{}",
            args.target,
            matches.len(),
            candidates.join("\n")
        );
    }
    let found = matches.pop();
    let sha256 = found.as_ref().map(|m| m.sha256.clone()).or_else(|| {
        (query.kind != crate::ledger::DigestKind::GitBlob && query.hex.len() == 64)
            .then(|| query.hex.clone())
    });
    let versions: Vec<WhichVersion> = found
        .iter()
        .flat_map(|m| &m.versions)
        .map(|v| {
            let mut live = ledger.live_windows(v);
            if let Some(env) = &env {
                live.retain(|w| &w.environment == env);
            }
            WhichVersion::new(v, live)
        })
        .collect();
    let answer = match (&env, at, &sha256) {
        (Some(env), Some(at), Some(sha)) => {
            let state = ledger.content_at(env, sha, at);
            Some(LiveAnswer {
                environment: env.clone(),
                at,
                ok: state.ok(),
                live: state.live.is_some(),
                approved: state.version.is_some_and(|v| v.approved()),
                path: state.live.map(|d| d.path.clone()),
                version: state.live.map(|d| d.version),
                deployment: state.live.map(|d| d.entry),
                reason: state.reason(env, at),
            })
        }
        (Some(env), Some(at), None) => Some(LiveAnswer {
            environment: env.clone(),
            at,
            ok: false,
            live: false,
            approved: false,
            path: None,
            version: None,
            deployment: None,
            reason: "no recorded version has this content".into(),
        }),
        _ => None,
    };
    let outcome = match &answer {
        Some(a) if a.ok => Outcome::Ok,
        Some(_) => Outcome::No,
        None if versions.is_empty() => Outcome::No,
        None => Outcome::Ok,
    };
    let view = WhichView {
        query: args.target.clone(),
        sha256,
        versions,
        answer,
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", which::text(&view)),
    }
    Ok(outcome)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("--at {s}: expected RFC 3339, e.g. 2026-11-20T15:00:00Z"))?
        .with_timezone(&Utc))
}

/// The SHA-256 of a file's raw bytes (no filters, no newline conversion), refusing what
/// cannot be a prompt: not a regular file, or larger than `max_bytes`.
pub fn hash_file(path: &Path, max_bytes: u64) -> Result<Sha256Hex> {
    use crate::fsread::{ReadError, Symlinks, read_regular};
    match read_regular(path, max_bytes, "a file to look up", Symlinks::Follow) {
        Ok(data) => Ok(Sha256Hex::of(&data)),
        Err(ReadError::NotFound { .. }) => bail!(
            "`{}` is neither a hex digest (sha256, git blob id, or a prefix of {}+ digits) nor a \
             readable file",
            path.display(),
            crate::ledger::MIN_PREFIX
        ),
        Err(ReadError::TooLarge { .. }) => bail!(
            "{}: larger than prompts.max_bytes ({max_bytes} bytes), so no recorded prompt version \
             can have this content",
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}
