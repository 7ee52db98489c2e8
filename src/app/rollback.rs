//! `promptrail rollback`: restore an earlier approved version of a prompt into the working
//! tree and record a signed `rollback` entry naming both versions.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::deployment::{DeploymentEvent, append_deployment, deployment_record, publish_manifest};
use super::verified::verify_log;
use super::{AuditLog, DecodedEntry, Outcome, Progress, Workspace, load_signer, print_json};
use crate::attestation::predicate::EventType;
use crate::cli::{Format, RollbackArgs};
use crate::ledger::{Ledger, RollbackPlan, RollbackRefusal};
use crate::policy::{Policy, env_satisfied};
use crate::report::plain;
use crate::report::views::{Manifest, ManifestPrompt};
use crate::types::{PromptPath, Version};

pub fn run(dir: &Path, args: &RollbackArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let path = PromptPath::new(&args.prompt);
    if crate::policy::is_policy_file(&path) {
        bail!(
            "{path} is the policy, not a prompt: it changes through an approved pull request \
             (revert the change there), never by rollback"
        );
    }
    let (signer, trust) = load_signer(&ws, &args.key)?;
    let branch = ws.config.audit.branch.0.clone();
    // Restore only from a log that verifies: anyone who can push the branch could otherwise
    // plant an "approved" version for us to restore and sign.
    let log = AuditLog::open_remote_first(&ws, &branch, progress)?;
    let report = verify_log(&ws, &log, &trust, None)?;
    if !report.ok {
        eprintln!(
            "refused: the audit log failed verification ({} finding(s)); run `promptrail verify`",
            report.findings.len()
        );
        return Ok(Outcome::No);
    }
    let statements = log.statements()?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    // A re-run of the same CI run restores what that run restored and appends nothing.
    let run_id = std::env::var("GITHUB_RUN_ID")
        .ok()
        .filter(|r| !r.is_empty());
    let to = args.to.map(Version);
    let RollbackPlan {
        current,
        already,
        target,
    } = match ledger.rollback_plan(&env, &path, run_id.as_deref(), to) {
        Ok(plan) => plan,
        Err(RollbackRefusal::NeverDeployed) => {
            bail!("{path} was never deployed to {env}: nothing to roll back")
        }
        Err(RollbackRefusal::NoEarlierVersion) => {
            bail!("{path} has no earlier version deployed to {env} to return to: pass --to N")
        }
        Err(RollbackRefusal::AlreadyLive(target)) => {
            bail!("{path} {target} is already live in {env}")
        }
    };
    let Some(version) = ledger.version(&path, target) else {
        bail!("{path} {target} is not a recorded version (see `promptrail log --prompt {path}`)");
    };
    if !version.approved() {
        eprintln!(
            "refused: {path} {target} was never approved: {}",
            version.why_not()
        );
        return Ok(Outcome::No);
    }
    // The environment's rule is the policy in force's, never the working tree's file.
    let in_force = crate::governance::in_force_after(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| (st.predicate.log.index, st)),
    );
    let policy = Policy::new(
        &ws.config_in_force(&in_force)?.policy,
        &super::gating::default_org(&ws),
    )?;
    if let Some(rule) = policy.env_rule(&env) {
        let (ok, counted, required) = env_satisfied(rule, policy.default_org(), &version.approvals);
        if !ok {
            eprintln!(
                "refused: {path} {target} has {counted} of the {required} approval(s) {env} needs"
            );
            return Ok(Outcome::No);
        }
    }

    // Restore the content first: if that fails, nothing is recorded.
    let mut reader = ws.git.object_reader()?;
    let data = reader
        .read(version.prompt.digest.git_blob.as_str())?
        .with_context(|| {
            format!(
                "the content of {path} {target} (blob {}) is not in this clone: fetch the protected branch",
                version.prompt.digest.git_blob
            )
        })?
        .data;
    // The entry names these exact bytes: what the gate will read back from disk.
    if crate::types::Sha256Hex::of(&data) != version.prompt.digest.sha256 {
        bail!(
            "the blob {} of {path} {target} does not have the recorded sha256 {}: refusing to \
             restore it (run `promptrail verify`)",
            version.prompt.digest.git_blob,
            version.prompt.digest.sha256
        );
    }
    crate::worktree::write_prompt(ws.git.root(), &path, &data)?;
    progress.say(&format!("restored {path} to {target} in the working tree"));

    if let Some(d) = already {
        progress.say(&format!(
            "run {} already recorded this rollback as entry #{}; nothing appended",
            run_id.as_deref().unwrap_or(""),
            d.entry.0
        ));
        let manifest = Manifest {
            environment: env,
            event: "rollback".into(),
            entry: Some(d.entry),
            sha: ws.git.resolve_commit("HEAD")?.context("no HEAD")?,
            prompts: vec![ManifestPrompt {
                path: path.clone(),
                version: target,
                sha256: version.prompt.digest.sha256.to_string(),
                version_entry: version.entry,
                replaces: d.replaces,
            }],
            already_recorded: true,
        };
        publish_manifest(&manifest, None)?;
        match args.format.format {
            Format::Json => print_json(&manifest)?,
            Format::Text => print!("{}", plain::manifest(&manifest)),
        }
        return Ok(Outcome::Ok);
    }
    let mut prompt = version.prompt.clone();
    prompt.change = None;
    let rules = version.rule.clone().into_iter().collect();
    let deployment = deployment_record(&ws, &env, Some(current.version))?;
    let sha = deployment.sha.clone();
    let entry = append_deployment(
        &ws,
        &signer,
        &trust,
        !args.no_push,
        DeploymentEvent {
            event: EventType::Rollback,
            prompts: vec![prompt.clone()],
            rules,
            in_force,
            judged_at: log.tip.clone(),
            deployment,
        },
        progress,
    )?;
    let manifest = Manifest {
        environment: env,
        event: "rollback".into(),
        entry: Some(entry),
        sha,
        prompts: vec![ManifestPrompt {
            path: prompt.path.clone(),
            version: prompt.version,
            sha256: prompt.digest.sha256.to_string(),
            version_entry: version.entry,
            replaces: Some(current.version),
        }],
        already_recorded: false,
    };
    publish_manifest(&manifest, None)?;
    match args.format.format {
        Format::Json => print_json(&manifest)?,
        Format::Text => print!("{}", plain::manifest(&manifest)),
    }
    Ok(Outcome::Ok)
}
