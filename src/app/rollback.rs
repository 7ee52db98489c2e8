//! `promptrail rollback`: restore an earlier approved version of a prompt into the working
//! tree and record a signed `rollback` entry naming both versions.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::deploy::{DeploymentEvent, append_deployment, deployment_record, publish_manifest};
use super::{Outcome, Progress, Workspace, load_signing_key, print_json, read_statements};
use crate::attestation::predicate::EventType;
use crate::cli::{Format, RollbackArgs};
use crate::ledger::Ledger;
use crate::policy::{Policy, env_satisfied};
use crate::report::plain;
use crate::report::views::{Manifest, ManifestPrompt};
use crate::types::{PromptPath, Version};

pub fn run(dir: &Path, args: &RollbackArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let path = PromptPath::new(&args.prompt);
    let branch = ws.config.audit.branch.0.clone();
    let statements = read_statements(&ws, &branch)?;
    let ledger = Ledger::new(statements.iter().map(|(_, _, st)| st));
    let history = ledger.deployments_of(&env, &path);
    let Some(current) = history.last() else {
        bail!("{path} was never deployed to {env}: nothing to roll back");
    };
    let target = match args.to {
        Some(n) => Version(n),
        None => history
            .iter()
            .rev()
            .map(|d| d.version)
            .find(|v| *v != current.version)
            .with_context(|| {
                format!(
                    "{path} has had only {} in {env}: pass --to N to choose a version",
                    current.version
                )
            })?,
    };
    if target == current.version {
        bail!("{path} {target} is already live in {env}");
    }
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
    let org = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .and_then(|r| crate::github::Repo::parse(&r))
        .map_or(String::new(), |r| r.owner);
    let policy = Policy::new(&ws.config.policy, &org)?;
    if let Some(rule) = policy.env_rule(&env) {
        let (ok, counted, required) = env_satisfied(rule, policy.default_org(), &version.approvals);
        if !ok {
            eprintln!(
                "refused: {path} {target} has {counted} of the {required} approval(s) {env} needs"
            );
            return Ok(Outcome::No);
        }
    }
    let key = load_signing_key(&ws, args.key.key.as_deref())?;

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
    let file = ws.git.root().join(path.as_str());
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file, &data).with_context(|| format!("writing {}", file.display()))?;
    progress.say(&format!("restored {path} to {target} in the working tree"));

    let mut prompt = version.prompt.clone();
    prompt.change = None;
    let rules = version.rule.clone().into_iter().collect();
    let deployment = deployment_record(&ws, &env, Some(current.version))?;
    let sha = deployment.sha.clone();
    let entry = append_deployment(
        &ws,
        &key,
        !args.no_push,
        DeploymentEvent {
            event: EventType::Rollback,
            prompts: vec![prompt.clone()],
            rules,
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
