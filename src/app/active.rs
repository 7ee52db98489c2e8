//! `promptrail active`: which version of each prompt was live in an environment at a time.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{DecodedEntry, Outcome, Workspace, indexed, print_json};
use crate::cli::{ActiveArgs, Format};
use crate::ledger::Ledger;
use crate::report::plain;
use crate::types::PromptPath;

pub fn run(dir: &Path, args: &ActiveArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let at: DateTime<Utc> = match &args.at {
        None => Utc::now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--at {s}: expected RFC 3339, e.g. 2026-11-20T15:00:00Z"))?
            .with_timezone(&Utc),
    };
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let follow = !args.follow.no_follow;
    // From the state summary: the deployment that made each path live at `at` (the live
    // set's, else the path's newest one before `at`), and for renamed prompts their whole
    // lineage, so that the ledger groups them as on the whole log.
    let statements = indexed::entries(&ws, &branch, |view| {
        let Some(live) = view.env(&env)? else {
            return Ok(Some(Vec::new()));
        };
        let renamed = if follow {
            view.renames()?.paths
        } else {
            Default::default()
        };
        let mut picked = std::collections::BTreeSet::new();
        // A path live since after `at`: its newest deployment here before `at`, read from
        // its newest chunks back, all such paths' chunks in one batch a round.
        let mut later: Vec<&PromptPath> = Vec::new();
        for (path, l) in &live.live {
            if l.deployed_at <= at {
                picked.insert(l.entry);
            } else {
                later.push(path);
            }
            if renamed.contains(path) {
                picked.extend(indexed::lineage_entries(view, path)?);
            }
        }
        let before =
            view.newest_deployments(&later, |d| d.environment == env && d.deployed_at <= at)?;
        picked.extend(before.into_iter().flatten().map(|d| d.entry));
        Ok(Some(picked.into_iter().collect()))
    })?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let active: Vec<_> = ledger
        .active(&env, at, follow)
        .into_values()
        .cloned()
        .collect();
    match args.format.format {
        Format::Json => print_json(&serde_json::json!({
            "environment": env,
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "prompts": active,
        }))?,
        Format::Text => print!("{}", plain::active(&env, at, &active)),
    }
    Ok(Outcome::Ok)
}
