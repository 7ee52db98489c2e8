//! `promptrail rollback`: restore an earlier approved version of a prompt into the working
//! tree and record a signed `rollback` entry naming both versions.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::deployment::{DeploymentEvent, append_deployment, deployment_record, emit_manifest};
use super::verified::verify_log;
use super::{AuditLog, DecodedEntry, Outcome, Progress, Workspace, load_signer};
use crate::attestation::predicate::{EventType, PolicyInForce};
use crate::cli::RollbackArgs;
use crate::ledger::{Ledger, RecordedVersion, RollbackPlan, RollbackRefusal};
use crate::policy::{Policy, env_satisfied};
use crate::report::views::{Manifest, ManifestPrompt};
use crate::signing::Trust;
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
    let Some(log) = verified_log(&ws, &trust, progress)? else {
        return Ok(Outcome::No);
    };
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
    let RollbackPlan {
        current,
        already,
        target,
    } = plan(
        &ledger,
        &env,
        &path,
        run_id.as_deref(),
        args.to.map(Version),
    )?;
    let Some(version) = ledger.version(&path, target) else {
        bail!("{path} {target} is not a recorded version (see `promptrail log --prompt {path}`)");
    };
    // The environment's rule is the policy in force's, never the working tree's file.
    let in_force = crate::governance::in_force_after(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| (st.predicate.log.index, st)),
    );
    if let Some(why) = refusal(&ws, &env, &path, version, &in_force)? {
        eprintln!("refused: {why}");
        return Ok(Outcome::No);
    }

    // Restore the content first: if that fails, nothing is recorded.
    restore(&ws, &path, version)?;
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
            prompts: vec![manifest_prompt(&path, version, d.replaces)],
            already_recorded: true,
        };
        emit_manifest(&manifest, None, args.format.format)?;
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
        prompts: vec![manifest_prompt(
            &prompt.path,
            version,
            Some(current.version),
        )],
        already_recorded: false,
    };
    emit_manifest(&manifest, None, args.format.format)?;
    Ok(Outcome::Ok)
}

/// The audit log, fetched from the remote first, when it verifies; `None` (and the
/// refusal said on stderr) when it does not. Restore only from a log that verifies: anyone
/// who can push the branch could otherwise plant an "approved" version for us to restore
/// and sign.
fn verified_log(ws: &Workspace, trust: &Trust, progress: &Progress) -> Result<Option<AuditLog>> {
    let branch = ws.config.audit.branch.0.clone();
    let log = AuditLog::open_remote_first(ws, &branch, progress)?;
    let report = verify_log(ws, &log, trust, None)?;
    if !report.ok {
        eprintln!(
            "refused: the audit log failed verification ({} finding(s)); run `promptrail verify`",
            report.findings.len()
        );
        return Ok(None);
    }
    Ok(Some(log))
}

/// The ledger's rollback plan, its refusals as errors that say what to do.
fn plan<'a>(
    ledger: &'a Ledger,
    env: &str,
    path: &PromptPath,
    run_id: Option<&str>,
    to: Option<Version>,
) -> Result<RollbackPlan<'a>> {
    match ledger.rollback_plan(env, path, run_id, to) {
        Ok(plan) => Ok(plan),
        Err(RollbackRefusal::NeverDeployed) => {
            bail!("{path} was never deployed to {env}: nothing to roll back")
        }
        Err(RollbackRefusal::NoEarlierVersion) => {
            bail!("{path} has no earlier version deployed to {env} to return to: pass --to N")
        }
        Err(RollbackRefusal::AlreadyLive(target)) => {
            bail!("{path} {target} is already live in {env}")
        }
    }
}

/// Why the target version may not be restored, if it may not: it was never approved, or it
/// lacks the approvals the environment's rule (in the policy in force) needs.
fn refusal(
    ws: &Workspace,
    env: &str,
    path: &PromptPath,
    version: &RecordedVersion,
    in_force: &PolicyInForce,
) -> Result<Option<String>> {
    let target = version.prompt.version;
    if !version.approved() {
        return Ok(Some(format!(
            "{path} {target} was never approved: {}",
            version.why_not()
        )));
    }
    let policy = Policy::new(
        &ws.config_in_force(in_force)?.policy,
        &super::gating::default_org(ws),
    )?;
    if let Some(rule) = policy.env_rule(env) {
        let (ok, counted, required) = env_satisfied(rule, policy.default_org(), &version.approvals);
        if !ok {
            return Ok(Some(format!(
                "{path} {target} has {counted} of the {required} approval(s) {env} needs"
            )));
        }
    }
    Ok(None)
}

/// Writes the version's recorded bytes to the working tree, read from this clone and
/// checked against the sha256 the entry names (what the gate will read back from disk).
fn restore(ws: &Workspace, path: &PromptPath, version: &RecordedVersion) -> Result<()> {
    let target = version.prompt.version;
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
    if crate::types::Sha256Hex::of(&data) != version.prompt.digest.sha256 {
        bail!(
            "the blob {} of {path} {target} does not have the recorded sha256 {}: refusing to \
             restore it (run `promptrail verify`)",
            version.prompt.digest.git_blob,
            version.prompt.digest.sha256
        );
    }
    crate::worktree::write_prompt(ws.git.root(), path, &data)
}

/// The manifest's row for the restored version.
fn manifest_prompt(
    path: &PromptPath,
    version: &RecordedVersion,
    replaces: Option<Version>,
) -> ManifestPrompt {
    ManifestPrompt {
        path: path.clone(),
        version: version.prompt.version,
        sha256: version.prompt.digest.sha256.to_string(),
        version_entry: version.entry,
        replaces,
    }
}
