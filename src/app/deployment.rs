//! A deployment recorded, shared by `deploy` and `rollback`: the deployment record from the
//! CI environment, the signed entry appended, the manifest published.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{SubsecRound as _, Utc};

use super::fresh;
use super::{AuditLog, DecodedEntry, Progress, Workspace, print_json};
use crate::attestation::predicate::{
    AuditEvent, ConfigDigest, DeploymentRecord, EventType, LogPosition, PolicyInForce,
    PolicyRecord, PromptRecord, RuleRecord, ToolRecord,
};
use crate::attestation::{ResourceDescriptor, Statement};
use crate::cli::Format;
use crate::report::views::Manifest;
use crate::report::{github, plain};
use crate::signing::{Signer, Trust};
use crate::store::NewEntry;
use crate::types::{EntryIndex, Oid, Version};

/// Who, where and what for a deployment entry, from the CI environment.
pub(super) fn deployment_record(
    ws: &Workspace,
    env: &str,
    replaces: Option<Version>,
) -> Result<DeploymentRecord> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let sha = ws
        .git
        .resolve_commit("HEAD")?
        .ok_or_else(|| anyhow::anyhow!("the repository has no commits"))?;
    let run_url = match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
        _ => None,
    };
    let git_ref = match var("GITHUB_REF") {
        Some(r) => r,
        None => ws
            .git
            .current_branch()?
            .map_or_else(|| sha.to_string(), |b| format!("refs/heads/{b}")),
    };
    Ok(DeploymentRecord {
        environment: env.to_owned(),
        actor: var("GITHUB_ACTOR")
            .or_else(|| var("USER"))
            .unwrap_or_else(|| "unknown".into()),
        workflow: var("GITHUB_WORKFLOW"),
        run_id: var("GITHUB_RUN_ID"),
        run_url,
        git_ref,
        sha,
        deployed_at: Utc::now().trunc_subsecs(0),
        replaces,
    })
}

/// A deployment or rollback to record.
pub(super) struct DeploymentEvent {
    pub event: EventType,
    pub prompts: Vec<PromptRecord>,
    pub rules: Vec<RuleRecord>,
    pub deployment: DeploymentRecord,
    /// The policy the gate judged by.
    pub in_force: PolicyInForce,
    /// The audit branch tip the gate judged (the policy in force is rechecked if it moved).
    pub judged_at: Oid,
}

/// Appends one deployment or rollback entry and returns its index.
pub(super) fn append_deployment(
    ws: &Workspace,
    signer: &Signer,
    trust: &Trust,
    push: bool,
    what: DeploymentEvent,
    progress: &Progress,
) -> Result<EntryIndex> {
    let DeploymentEvent {
        event,
        prompts,
        rules,
        deployment,
        in_force,
        judged_at,
    } = what;
    // In-toto requires a subject: an entry without a prompt is one `verify` rejects (PT007).
    if prompts.is_empty() {
        bail!(
            "nothing to deploy to {}: no prompt version to record (nothing was recorded)",
            deployment.environment
        );
    }
    let branch = ws.config.audit.branch.0.clone();
    // The configured trust: a tip signed before a key rotation is still built on, when
    // the policy in force before it names the key that signed it.
    let signers = super::signers::PolicySigners::new(ws);
    let store = ws.store(&branch).trusting(trust).governed_by(&signers);
    let origin = ws.origin()?;
    let config_digest = ws.config_digest();
    let appended = store.append(
        push,
        &origin,
        signer,
        |tip| {
            // Someone appended since the gate ran: the entry must name the policy in force
            // at the tip it extends, or verify would reject it (PT018). From the summary
            // there when it is believed, else from every entry.
            if let Some(now) = tip.commit.as_ref().filter(|t| **t != judged_at) {
                let current = match fresh::policy_at(ws, &branch, now, trust) {
                    Some(p) => p,
                    None => in_force_of_all(ws, &store, &branch, now)?,
                };
                if current != in_force {
                    bail!(
                        "the policy in force changed while deploying ({} when the gate ran, {} \
                         now): nothing was recorded; run the deployment again",
                        crate::governance::describe(&in_force),
                        crate::governance::describe(&current)
                    );
                }
            }
            let statement = Statement::new(
                prompts
                    .iter()
                    .map(|p| ResourceDescriptor {
                        name: p.path.to_string(),
                        digest: p.digest.clone(),
                    })
                    .collect(),
                AuditEvent {
                    event,
                    log: LogPosition {
                        index: tip.next_index,
                        previous: tip.previous.clone(),
                        origin: tip.meta.origin.clone(),
                    },
                    prompts: prompts.clone(),
                    authors: Vec::new(),
                    approvals: Vec::new(),
                    policy: PolicyRecord {
                        config_digest: ConfigDigest {
                            sha256: config_digest.clone(),
                        },
                        rules: rules.clone(),
                        in_force: Some(in_force.clone()),
                        adoption: false,
                    },
                    deployment: Some(deployment.clone()),
                    recorded_at: deployment.deployed_at,
                    tool: ToolRecord::this(),
                },
            );
            let bytes = signer.sign_entry(
                statement
                    .to_payload()
                    .context("serialising the deployment statement")?,
            )?;
            let names: Vec<String> = prompts
                .iter()
                .map(|p| format!("{} {}", p.path, p.version))
                .collect();
            Ok(vec![NewEntry {
                bytes,
                summary: format!(
                    "{} {}: {}",
                    event.as_str(),
                    deployment.environment,
                    names.join(", ")
                ),
                recorded_at: deployment.deployed_at,
            }])
        },
        |msg| progress.say(msg),
    )?;
    match appended {
        Some(a) => Ok(a.first),
        None => bail!("nothing was appended"),
    }
}

/// The policy in force after every entry at `tip`, read whole (the branch completed first
/// when only its tip is here).
pub(super) fn in_force_of_all(
    ws: &Workspace,
    store: &crate::store::Store,
    branch: &str,
    tip: &Oid,
) -> Result<PolicyInForce> {
    if ws.git.is_shallow_at(tip)? {
        ws.git
            .complete_branch(&ws.config.audit.remote.0, branch)
            .with_context(|| format!("reading all of `{branch}` after all"))?;
    }
    let log = AuditLog {
        branch: branch.to_owned(),
        tip: tip.clone(),
        files: store.read_all(tip)?,
    };
    let statements = log.statements()?;
    Ok(crate::governance::in_force_after(statements.iter().map(
        |DecodedEntry { statement: st, .. }| (st.predicate.log.index, st),
    )))
}

/// Writes the manifest to `--manifest` and to the step outputs.
pub(super) fn publish_manifest(manifest: &Manifest, file: Option<&Path>) -> Result<()> {
    let json = serde_json::to_string_pretty(manifest)?;
    if let Some(f) = file {
        std::fs::write(f, format!("{json}\n"))
            .map_err(|e| anyhow::anyhow!("writing manifest {}: {e}", f.display()))?;
    }
    if github::in_actions() {
        github::output("manifest", &serde_json::to_string(manifest)?)?;
        if let Some(e) = manifest.entry {
            github::output("entry", &e.0.to_string())?;
        }
    }
    Ok(())
}

/// Publishes the manifest ([`publish_manifest`]) and prints it in the chosen format: what
/// `deploy` and `rollback` end with.
pub(super) fn emit_manifest(
    manifest: &Manifest,
    file: Option<&Path>,
    format: Format,
) -> Result<()> {
    publish_manifest(manifest, file)?;
    match format {
        Format::Json => print_json(manifest),
        Format::Text => {
            print!("{}", plain::manifest(manifest));
            Ok(())
        }
    }
}
