//! `promptrail log`: the audit log's entries, optionally for one prompt.

use std::path::Path;

use anyhow::Result;

use super::{Outcome, Workspace, print_json, read_log};
use crate::cli::{Format, LogArgs};
use crate::report::plain;

pub fn run(dir: &Path, args: &LogArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let mut entries = read_log(&ws, &branch)?;
    if let Some(p) = &args.prompt {
        entries.retain(|e| {
            e.prompts.iter().any(|r| {
                r.path.as_str() == p || r.previous_path.as_ref().is_some_and(|pp| pp.as_str() == p)
            })
        });
    }
    match args.format.format {
        Format::Json => print_json(&entries)?,
        Format::Text => print!("{}", plain::log(&entries)),
    }
    Ok(Outcome::Ok)
}
