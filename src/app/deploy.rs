//! `promptrail gate` and `promptrail deploy`: only approved, recorded prompt versions go live,
//! and every deployment is a signed entry.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{SubsecRound as _, Utc};

use super::approvals::client;
use super::fresh::{self, Judged};
use super::trust::trust;
use super::verified::verify_log;
use super::{AuditLog, Outcome, Progress, Workspace, load_signer, print_json};
use crate::attestation::predicate::{
    AuditEvent, ConfigDigest, DeploymentRecord, EventType, LogPosition, PolicyInForce,
    PolicyRecord, PromptRecord, RuleRecord, ToolRecord,
};
use crate::attestation::{ResourceDescriptor, Statement};
use crate::cli::{DeployArgs, Format, GateArgs};
use crate::ledger::Ledger;
use crate::policy::{Policy, env_satisfied, is_policy_file};
use crate::report::views::{GateRow, GateView, Manifest, ManifestPrompt};
use crate::report::{github, plain};
use crate::signing::{Signer, Trust};
use crate::store::NewEntry;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};
use crate::worktree::{self, OnDisk, State};

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

fn print_gate(view: &GateView, format: Format) -> Result<()> {
    if github::in_actions() {
        for row in view.prompts.iter().filter(|r| !r.ok) {
            println!(
                "{}",
                github::error_annotation(
                    row.path.as_str(),
                    &format!("promptrail: blocked from {}", view.environment),
                    &row.reason
                )
            );
        }
    }
    match format {
        Format::Json => print_json(view),
        Format::Text => {
            print!("{}", plain::gate(view));
            Ok(())
        }
    }
}

/// The organisation that owns the repository (for team names without one).
pub(super) fn default_org(ws: &Workspace) -> String {
    std::env::var("GITHUB_REPOSITORY")
        .ok()
        .and_then(|r| crate::github::Repo::parse(&r))
        .or_else(|| {
            ws.origin()
                .ok()
                .and_then(|o| crate::github::Repo::from_origin(&o))
        })
        .map_or(String::new(), |r| r.owner)
}

/// Checks every prompt in the working tree (or `only`) against the log: from its checked
/// state summary and the entries that decide (see [`fresh`]), else the whole log verified.
fn evaluate_gate(
    ws: &Workspace,
    env: &str,
    only: &[String],
    trust: &Trust,
    progress: &Progress,
) -> Result<(GateView, Judged, PolicyInForce, Oid)> {
    let branch = ws.config.audit.branch.0.clone();
    let judged = fresh::judged_tip(ws, &branch, progress)?;
    let scanned = fresh::scan_keeping_all(|keep| scan_prompts(ws, only, keep))?;
    // The whole log tells why there is nothing to deploy.
    if scanned.0.iter().any(|f| !is_policy_file(&f.path)) {
        match fresh::answer(ws, &branch, &judged, env, trust, scanned, EXPLAINED) {
            Ok((answers, on_disk)) => {
                let in_force = answers.in_force.clone();
                let judged_by = Judged::Summary(Box::new(answers));
                let view = judge(ws, env, on_disk, &judged_by, &in_force, None, progress)?;
                return Ok((view, judged_by, in_force, judged.tip));
            }
            Err(why) => fresh::fall_back(progress, &why),
        }
    }
    fresh::complete(ws, &branch, &judged)?;
    let store = ws.store(&branch);
    store.read_meta(&judged.tip)?;
    let log = AuditLog {
        branch: branch.clone(),
        tip: judged.tip.clone(),
        files: store.read_all(&judged.tip)?,
    };
    let report = verify_log(ws, &log, trust, None)?;
    let statements = log.statements()?;
    let ledger = Ledger::new(statements.iter().map(|(_, _, st)| st));
    let in_force = crate::governance::in_force_after(
        statements
            .iter()
            .map(|(_, _, st)| (st.predicate.log.index, st)),
    );
    let on_disk = prompts_on_disk(ws, &ledger, only)?;
    let log_problem = (!report.ok).then(|| {
        format!(
            "the audit log failed verification ({} finding(s)): run `promptrail verify`",
            report.findings.len()
        )
    });
    let judged_by = Judged::Full(ledger);
    let view = judge(
        ws,
        env,
        on_disk,
        &judged_by,
        &in_force,
        log_problem,
        progress,
    )?;
    Ok((view, judged_by, in_force, log.tip))
}

/// The gate's rows for the files on disk, judged by `judged` under the policy in force.
fn judge(
    ws: &Workspace,
    env: &str,
    on_disk: Vec<OnDisk>,
    judged: &Judged,
    in_force: &PolicyInForce,
    mut log_problem: Option<String>,
    progress: &Progress,
) -> Result<GateView> {
    // The environment's rule is the policy in force's, never the working tree's file.
    let policy_config = match ws.config_in_force(in_force) {
        Ok(c) => c,
        Err(e) => {
            log_problem.get_or_insert(format!("{e:#}"));
            crate::config::Config::default()
        }
    };
    let policy = Policy::new(&policy_config.policy, &default_org(ws))?;
    let env_rule = policy.env_rule(env);
    let mut rows = Vec::new();
    let mut policy_present = false;
    for found in on_disk {
        if is_policy_file(&found.path)
            && let State::File { sha256, .. } = &found.state
        {
            policy_present = true;
            let recorded = judged.version_by_sha256(&found.path, sha256);
            rows.push(policy_row(found.path, sha256.clone(), recorded, in_force));
            continue;
        }
        policy_present |= is_policy_file(&found.path);
        let (version, ok, reason) = match &found.state {
            State::Blocked(why) => (None, false, why.to_string()),
            State::File { sha256, bytes } => match judged.by_sha256(&found.path, sha256) {
                None => (
                    None,
                    false,
                    unrecorded_reason(ws, judged, &found.path, bytes.as_deref()),
                ),
                Some(v) if !v.approved() => (Some(v.prompt.version), false, v.why_not()),
                Some(v) => {
                    match env_rule.map(|r| env_satisfied(r, policy.default_org(), &v.approvals)) {
                        Some((false, counted, required)) => (
                            Some(v.prompt.version),
                            false,
                            format!(
                                "{env} needs {required} approval(s) that its rule accepts; \
                                 {counted} counted"
                            ),
                        ),
                        _ => (
                            Some(v.prompt.version),
                            true,
                            format!("approved (entry #{})", v.entry.0),
                        ),
                    }
                }
            },
        };
        rows.push(GateRow {
            sha256: found.sha256().map(ToString::to_string),
            path: found.path,
            version,
            ok: ok && log_problem.is_none(),
            reason,
        });
    }
    if progress.verbose {
        progress.say(&format!(
            "gate {env}: {} prompt path(s) in the working tree, read as bytes on disk",
            rows.len()
        ));
    }
    if !policy_present && in_force.version.is_some() {
        rows.push(GateRow {
            path: PromptPath::new(crate::config::FILE_NAME),
            version: None,
            sha256: None,
            ok: false,
            reason: format!(
                "missing from the working tree, but the policy in force is {}",
                crate::governance::describe(in_force)
            ),
        });
    }
    Ok(GateView {
        environment: env.to_owned(),
        ok: log_problem.is_none() && rows.iter().all(|r| r.ok),
        log_problem,
        prompts: rows,
        policy: crate::governance::describe(in_force),
    })
}

/// The working tree's policy file must be the policy in force: the gate judges by that one,
/// and an unapproved edit (a lowered bar, an added key) must not ride along.
fn policy_row(
    path: PromptPath,
    sha256: Sha256Hex,
    recorded: Option<Version>,
    in_force: &PolicyInForce,
) -> GateRow {
    let ok = sha256 == in_force.sha256;
    GateRow {
        path,
        version: if ok { in_force.version } else { recorded },
        reason: if ok {
            format!(
                "the policy in force: {}",
                crate::governance::describe(in_force)
            )
        } else {
            format!(
                "not the policy in force ({}): an unapproved policy change takes no effect; land \
                 it through an approved pull request and run `promptrail record`",
                crate::governance::describe(in_force)
            )
        },
        sha256: Some(sha256.to_string()),
        ok,
    }
}

/// Files whose bytes match no recorded version and are kept to say why (git filters).
const EXPLAINED: usize = 16;

/// What the working tree holds at prompt paths, as bytes on disk (see [`crate::worktree`]),
/// narrowed to `only` (with any blocker on a directory above them). Refuses when there is
/// nothing to deploy: a deployment with no prompt would be an entry `verify` rejects.
fn prompts_on_disk(ws: &Workspace, ledger: &Ledger, only: &[String]) -> Result<Vec<OnDisk>> {
    let kept = std::cell::Cell::new(0);
    let found = scan_prompts(ws, only, &|path, sha256| {
        let keep = kept.get() < EXPLAINED && ledger.by_sha256(path, sha256).is_none();
        kept.set(kept.get() + usize::from(keep));
        keep
    })?;
    nothing_to_deploy(ws, ledger, &found)?;
    Ok(found)
}

/// The working tree's prompt files (see [`prompts_on_disk`]), `keep` saying whose bytes to
/// keep.
fn scan_prompts(
    ws: &Workspace,
    only: &[String],
    keep: &dyn Fn(&PromptPath, &Sha256Hex) -> bool,
) -> Result<Vec<OnDisk>> {
    let matcher = ws.matcher()?;
    let mut found = worktree::scan(ws.git.root(), &matcher, keep)?;
    if !only.is_empty() {
        let covers = |row: &PromptPath, wanted: &str| {
            wanted == row.as_str()
                || wanted
                    .strip_prefix(row.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        for w in only {
            if !found.iter().any(|f| covers(&f.path, w)) {
                bail!("--prompt {w}: not a prompt file in the working tree");
            }
        }
        // The policy file is always judged: the gate applies the policy in force.
        found.retain(|f| is_policy_file(&f.path) || only.iter().any(|w| covers(&f.path, w)));
    }
    Ok(found)
}

/// Refuses a working tree with no prompt file, saying what the log has.
fn nothing_to_deploy(ws: &Workspace, ledger: &Ledger, found: &[OnDisk]) -> Result<()> {
    if found.iter().all(|f| is_policy_file(&f.path)) {
        let include: Vec<&str> = ws
            .config
            .prompts
            .include
            .iter()
            .map(|g| g.0.as_str())
            .collect();
        let (live, known) = ledger.live_prompts();
        if known > 0 && live.is_empty() {
            bail!(
                "nothing to deploy: every prompt the audit log recorded ({known}) was retired \
                 (deleted and recorded), and no file in the working tree matches \
                 prompts.include [{}]; nothing was recorded",
                include.join(", ")
            );
        }
        bail!(
            "nothing to deploy: no file in the working tree matches prompts.include [{}]{}; \
             check the globs in .promptrail.yml and that the checkout has the prompts \
             (nothing was recorded)",
            include.join(", "),
            match live.len() {
                0 => String::new(),
                n => format!(
                    " although the audit log has {n} live prompt(s) (e.g. {})",
                    live[0]
                ),
            }
        );
    }
    Ok(())
}

/// Why bytes on disk are not a recorded version, naming git's filters when they are what
/// would turn these bytes into a recorded blob.
fn unrecorded_reason(
    ws: &Workspace,
    judged: &Judged,
    path: &PromptPath,
    bytes: Option<&[u8]>,
) -> String {
    let filtered = bytes
        .and_then(|b| ws.git.blob_id_through_filters(path.as_str(), b).ok())
        .and_then(|blob| judged.version_by_content(path, &blob));
    match filtered {
        Some(version) => format!(
            "the bytes on disk are not a recorded version: git's filters (.gitattributes \
             `ident`, `text`/`eol` or a filter driver) would turn them into the blob of {}, but \
             the gate compares the raw bytes (SHA-256); check the prompts out without filters \
             (e.g. `prompts/** -text -ident` in .gitattributes)",
            version
        ),
        None => "this content is not a recorded version: land it through an approved pull \
                 request and run `promptrail record`"
            .to_owned(),
    }
}

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
    // The configured trust: a tip signed before a key rotation is still built on.
    let store = ws.store(&branch).trusting(trust);
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
fn in_force_of_all(
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
    Ok(crate::governance::in_force_after(
        statements
            .iter()
            .map(|(_, _, st)| (st.predicate.log.index, st)),
    ))
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

pub fn run(dir: &Path, args: &DeployArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let env = ws.environment(&args.env.env)?;
    let (signer, trust) = load_signer(&ws, &args.key)?;
    let attestations = super::attest::open(
        &ws,
        args.github_attestations,
        &signer,
        !args.no_push,
        &args.github.github_token_env,
    )?;
    let (view, mut judged, in_force, judged_at) =
        evaluate_gate(&ws, &env, &args.prompts, &trust, progress)?;
    if !view.ok {
        print_gate(&view, args.format.format)?;
        progress.say(&format!("deploy to {env} blocked: nothing was recorded"));
        return Ok(Outcome::No);
    }
    let mut prompts = Vec::new();
    let mut version_entries = Vec::new();
    let mut rules = Vec::new();
    // The policy file is not deployed: the entry names the policy in force instead.
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
        prompts.push(p);
        version_entries.push(v.entry);
        rules.extend(v.rule.clone());
    }
    let deployment = deployment_record(&ws, &env, None)?;
    let sha = deployment.sha.clone();
    // A re-run of the same CI run that deploys the same versions adds nothing.
    let want: BTreeSet<(PromptPath, Version)> = prompts
        .iter()
        .map(|p| (p.path.clone(), p.version))
        .collect();
    let already = match (deployment.run_id.as_deref(), &mut judged) {
        (None, _) => None,
        (Some(run), Judged::Full(ledger)) => {
            let done: BTreeSet<(PromptPath, Version)> = ledger
                .by_run(&env, run)
                .iter()
                .map(|d| (d.path.clone(), d.version))
                .collect();
            (!done.is_empty() && done == want)
                .then(|| ledger.by_run(&env, run).first().map(|d| d.entry))
                .flatten()
        }
        (Some(run), Judged::Summary(answers)) => answers
            .already_deployed(&env, run, &want, &trust)
            .map_err(|e| anyhow::anyhow!("{}", e.0))?,
    };
    let entry = match already {
        Some(e) => {
            progress.say(&format!(
                "run {} already recorded this deployment as entry #{}; nothing appended",
                deployment.run_id.as_deref().unwrap_or(""),
                e.0
            ));
            e
        }
        None => append_deployment(
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
        )?,
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
    publish_manifest(&manifest, args.manifest.as_deref())?;
    match args.format.format {
        Format::Json => print_json(&manifest)?,
        Format::Text => print!("{}", plain::manifest(&manifest)),
    }
    if let Some(gh) = attestations.as_ref().filter(|_| already.is_none()) {
        super::attest::upload(&ws, gh, [entry], progress)?;
    }
    Ok(Outcome::Ok)
}
