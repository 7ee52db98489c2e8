//! `promptrail deploy`: only approved, recorded prompt versions go live, and every
//! deployment is a signed entry.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Result, bail};

use super::approvals::client;
use super::deployment::{DeploymentEvent, append_deployment, deployment_record, emit_manifest};
use super::fresh::Judged;
use super::gating::{evaluate_gate, print_gate};
use super::{Outcome, Progress, Workspace, attest};
use crate::attestation::predicate::{EventType, PromptRecord, RuleRecord};
use crate::cli::DeployArgs;
use crate::policy::is_policy_file;
use crate::report::views::{GateView, Manifest, ManifestPrompt};
use crate::signing::Trust;
use crate::types::{EntryIndex, PromptPath, Sha256Hex, Version};

pub fn run(dir: &Path, args: &DeployArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let (signer, trust, uploads) = attest::signing(&ws, args)?;
    let (view, mut judged, in_force, judged_at) =
        evaluate_gate(&ws, &env, &args.prompts, &trust, true, progress)?;
    if !view.ok {
        print_gate(&view, args.format.format)?;
        progress.say(&format!("deploy to {env} blocked: nothing was recorded"));
        return Ok(Outcome::No);
    }
    let Deployed {
        prompts,
        version_entries,
        rules,
    } = deployed_versions(&view, &judged)?;
    let deployment = deployment_record(&ws, &env, None)?;
    let sha = deployment.sha.clone();
    let already = already_recorded(
        &env,
        deployment.run_id.as_deref(),
        &prompts,
        &mut judged,
        &trust,
    )?;
    let entry = match already {
        Some(e) => {
            progress.say(&format!(
                "run {} already recorded this deployment as entry #{}; nothing appended",
                deployment.run_id.as_deref().unwrap_or(""),
                e.0
            ));
            e
        }
        None => {
            // Only when an entry is appended: the state chunks the append rewrites.
            if let Judged::Summary(answers) = &mut judged
                && let Err(e) = answers.fetch_for_deployment(&env, prompts.iter().map(|p| &p.path))
            {
                progress.warn(&format!("{e:#}; the append reads the rest of the branch"));
            }
            append_deployment(
                &ws,
                &signer,
                &trust,
                !args.no_push,
                DeploymentEvent {
                    event: EventType::Deployment,
                    prompts: prompts.clone(),
                    rules,
                    deployment,
                    in_force,
                    judged_at,
                },
                progress,
            )?
        }
    };
    if args.github_deployment && already.is_none() {
        let gh = client(&ws, &args.github.github_token_env)?;
        let names: Vec<String> = prompts
            .iter()
            .map(|p| format!("{} {}", p.path, p.version))
            .collect();
        let id = gh.create_deployment(
            &sha,
            &env,
            &format!("promptrail entry #{}: {}", entry.0, names.join(", ")),
            None,
        )?;
        progress.say(&format!("created GitHub deployment {id} for {env}"));
    }
    let manifest = Manifest {
        environment: env,
        event: "deployment".into(),
        entry: Some(entry),
        sha,
        prompts: prompts
            .iter()
            .zip(version_entries)
            .map(|(p, version_entry)| ManifestPrompt {
                path: p.path.clone(),
                version: p.version,
                sha256: p.digest.sha256.to_string(),
                version_entry,
                replaces: None,
            })
            .collect(),
        already_recorded: already.is_some(),
    };
    emit_manifest(&manifest, args.manifest.as_deref(), args.format.format)?;
    if let Some(gh) = uploads.as_ref().filter(|_| already.is_none()) {
        attest::upload(&ws, gh, [entry], progress)?;
    }
    Ok(Outcome::Ok)
}

/// What a deployment entry names: the versions deployed, the entries that recorded them,
/// and their approval decisions.
struct Deployed {
    prompts: Vec<PromptRecord>,
    version_entries: Vec<EntryIndex>,
    rules: Vec<RuleRecord>,
}

/// The recorded versions of exactly the bytes the gate passed. The policy file is not
/// deployed: the entry names the policy in force instead.
fn deployed_versions(view: &GateView, judged: &Judged) -> Result<Deployed> {
    let mut deployed = Deployed {
        prompts: Vec::new(),
        version_entries: Vec::new(),
        rules: Vec::new(),
    };
    for row in view.prompts.iter().filter(|r| !is_policy_file(&r.path)) {
        // Exactly the bytes the gate read: the version whose SHA-256 they have.
        let checked = row.sha256.as_deref().and_then(Sha256Hex::parse);
        let Some(v) = checked.and_then(|sha| judged.by_sha256(&row.path, &sha)) else {
            bail!(
                "{}: the gate passed it but it is not a recorded version",
                row.path
            );
        };
        let mut p = v.prompt.clone();
        p.change = None;
        deployed.prompts.push(p);
        deployed.version_entries.push(v.entry);
        deployed.rules.extend(v.rule.clone());
    }
    Ok(deployed)
}

/// The entry this CI run already recorded deploying exactly these versions, if it did: a
/// re-run of the same CI run that deploys the same versions adds nothing.
fn already_recorded(
    env: &str,
    run_id: Option<&str>,
    prompts: &[PromptRecord],
    judged: &mut Judged,
    trust: &Trust,
) -> Result<Option<EntryIndex>> {
    let want: BTreeSet<(PromptPath, Version)> = prompts
        .iter()
        .map(|p| (p.path.clone(), p.version))
        .collect();
    Ok(match (run_id, judged) {
        (None, _) => None,
        (Some(run), Judged::Full(ledger)) => {
            let done: BTreeSet<(PromptPath, Version)> = ledger
                .by_run(env, run)
                .iter()
                .map(|d| (d.path.clone(), d.version))
                .collect();
            (!done.is_empty() && done == want)
                .then(|| ledger.by_run(env, run).first().map(|d| d.entry))
                .flatten()
        }
        (Some(run), Judged::Summary(answers)) => answers
            .already_deployed(env, run, &want, trust)
            .map_err(|e| anyhow::anyhow!("{}", e.0))?,
    })
}
