//! `promptrail verify`: every check over the whole audit log; exit 1 on any finding.

use std::path::Path;

use anyhow::{Result, bail};

use super::trust::trust;
use super::verified::verify_streaming;
use super::{Outcome, Progress, Workspace, print_json};
use crate::cli::{Format, VerifyArgs};
use crate::report::plain;

pub fn run(dir: &Path, args: &VerifyArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let trust = trust(&ws, &args.trust)?;
    if trust.is_empty() {
        bail!(
            "nothing to verify with: pass --key PUB (repeatable) or --certificate-identity \
             (keyless), or list keys under `signing.public_keys` (identities under \
             `signing.identities`) in .promptrail.yml"
        );
    }
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    progress.say(&format!("verifying the audit log on {branch}"));
    let saved = match &args.checkpoint {
        Some(p) => Some(crate::fsread::read_text(
            p,
            crate::fsread::CHECKPOINT_LIMIT,
            "a --checkpoint",
            crate::fsread::Symlinks::Follow,
        )?),
        None => None,
    };
    let report = verify_streaming(&ws, &branch, &trust, saved.as_deref())?;
    if report.signed_by.is_empty() && report.entries > 0 && !trust.keys.is_empty() {
        let ids: Vec<String> = trust
            .keys
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
