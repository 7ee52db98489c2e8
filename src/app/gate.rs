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
    // Keyless trust from the working tree (no identity anchor, no identity flag) is the
    // checkout's, whatever `--key` says.
    let keyless_from_checkout = trust.keyless.is_some()
        && !trust.identity_anchor
        && args.trust.identities.is_empty()
        && args.trust.identity_regexps.is_empty();
    if trust.anchor.is_none()
        && !trust.identity_anchor
        && (args.trust.keys.is_empty() || keyless_from_checkout)
    {
        warn_unanchored(progress);
    }
    let (view, _, _, _) = evaluate_gate(&ws, &env, &args.prompts, &trust, false, progress)?;
    print_gate(&view, args.format.format)?;
    Ok(if view.ok { Outcome::Ok } else { Outcome::No })
}

/// Without the external anchor or `--key`, the trust comes from the working tree, which is
/// whoever pushed it: say so (as an annotation inside GitHub Actions).
fn warn_unanchored(progress: &Progress) {
    let msg = format!(
        "no trust anchor: the gate trusts the keys (and keyless identities) this checkout's \
         .promptrail.yml names, and whoever can push the branch and the audit branch can add a \
         key or a workflow identity of their own there and sign an audit branch that approves \
         anything; set {} to the key ids CI trusts (the Action's `trusted-key-ids` input, from \
         a repository variable) or, keyless, {} to the certificate identities it trusts (the \
         `trusted-identities` input), or pass --key with a public key from outside the \
         checkout",
        crate::anchor::TRUSTED_KEY_IDS_ENV,
        crate::anchor::TRUSTED_IDENTITIES_ENV
    );
    if crate::report::github::in_actions() {
        eprintln!(
            "{}",
            crate::report::github::warning_annotation("promptrail: no trust anchor", &msg)
        );
    } else {
        progress.warn(&msg);
    }
}
