//! `promptrail checkpoint`: print the audit branch's signed checkpoint, to keep for a later
//! `verify --checkpoint`.

use std::path::Path;

use anyhow::{Result, bail};

use super::{AuditLog, Outcome, Workspace};

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
