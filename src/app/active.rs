//! `promptrail active`: which version of each prompt was live in an environment at a time.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{Outcome, Workspace, print_json, read_statements};
use crate::cli::{ActiveArgs, Format};
use crate::ledger::Ledger;
use crate::report::plain;

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
    let statements = read_statements(&ws, &branch)?;
    let ledger = Ledger::new(statements.iter().map(|(_, _, st)| st));
    let active: Vec<_> = ledger
        .active(&env, at, !args.follow.no_follow)
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
