//! `promptrail gate`: judge the working tree's prompts for an environment without recording
//! anything; exit 1 when a prompt may not ship.

use std::path::Path;

use anyhow::{Result, bail};

use super::gating::{evaluate_gate, print_gate};
use super::trust::trust;
use super::{Outcome, Progress, Workspace};
use crate::cli::GateArgs;

pub fn gate(dir: &Path, args: &GateArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let trust = trust(&ws, &args.trust)?;
    if trust.is_empty() {
        bail!(
            "gate trusts the audit log only once it verifies: pass --key PUB or \
             --certificate-identity, or list keys under `signing.public_keys` (identities under \
             `signing.identities`) in .promptrail.yml"
        );
    }
    let (view, _, _, _) = evaluate_gate(&ws, &env, &args.prompts, &trust, progress)?;
    print_gate(&view, args.format.format)?;
    Ok(if view.ok { Outcome::Ok } else { Outcome::No })
}
