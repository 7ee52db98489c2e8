//! `promptrail doctor`: are the repository settings the trust model relies on in place?

use std::path::Path;

use anyhow::Result;

use super::approvals::client;
use super::{Outcome, Workspace, print_json};
use crate::anchor::{TRUSTED_IDENTITIES_ENV, TRUSTED_KEY_IDS_ENV};
use crate::cli::{DoctorArgs, Format};
use crate::config::SigningMode;
use crate::doctor::{AnchorVariable, Settings, Signing, Status, diagnose};
use crate::report::plain;
use crate::report::views::DoctorView;
use crate::signing::TrustedKey;

pub fn run(dir: &Path, args: &DoctorArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let gh = client(&ws, &args.github.github_token_env)?;
    let protected_branch = ws.protected_branch()?;
    let audit_branch = ws.config.audit.branch.0.clone();
    let wanted_environments: Vec<String> =
        ws.config.environments.iter().map(|e| e.0.clone()).collect();
    let protected = gh.branch_settings(&protected_branch)?;
    let audit = gh.branch_settings(&audit_branch)?;
    let workflow = gh.workflow_permissions()?;
    let environments = gh.environments()?;
    let signing = match ws.config.signing.mode {
        SigningMode::Keyless => Signing::Keyless,
        SigningMode::Key => {
            Signing::Key(gh.secret_scope(crate::signing::KEY_ENV, &wanted_environments)?)
        }
    };
    let anchor = match ws.config.signing.mode {
        SigningMode::Keyless => Some(AnchorVariable {
            name: TRUSTED_IDENTITIES_ENV.into(),
            keyless: true,
            value: gh.repository_variable(TRUSTED_IDENTITIES_ENV)?,
            configured: ws.config.signing.identities.clone(),
        }),
        SigningMode::Key => Some(AnchorVariable {
            name: TRUSTED_KEY_IDS_ENV.into(),
            keyless: false,
            value: gh.repository_variable(TRUSTED_KEY_IDS_ENV)?,
            // A key that cannot be read has no id to compare; `gate` reports it itself.
            configured: ws
                .config
                .signing
                .public_keys
                .iter()
                .filter_map(|k| TrustedKey::load(&ws.git.root().join(k.path())).ok())
                .map(|k| k.key_id.to_string())
                .collect(),
        }),
    };
    let settings = Settings {
        repository: gh.repo().to_string(),
        protected,
        audit,
        check_name: args.check_name.clone(),
        workflow,
        environments,
        wanted_environments,
        signing,
        anchor,
    };
    let findings = diagnose(&settings);
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let view = DoctorView {
        repository: settings.repository.clone(),
        protected_branch,
        audit_branch,
        ok: count(Status::Missing) == 0,
        missing: count(Status::Missing),
        cannot_read: count(Status::CannotRead),
        findings,
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::doctor(&view)),
    }
    Ok(if view.ok { Outcome::Ok } else { Outcome::No })
}
