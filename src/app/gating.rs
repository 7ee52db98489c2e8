//! The gate's judgement, shared by `gate` and `deploy`: the bytes on disk under the
//! prompt globs against the verified log and the policy in force for the environment.

use anyhow::{Result, bail};

use super::fresh::{self, Judged};
use super::verified::verify_log;
use super::{AuditLog, DecodedEntry, Progress, Workspace, print_json};
use crate::attestation::predicate::PolicyInForce;
use crate::cli::Format;
use crate::ledger::Ledger;
use crate::policy::{Policy, env_satisfied, is_policy_file};
use crate::report::views::{GateRow, GateView};
use crate::report::{github, plain};
use crate::signing::Trust;
use crate::types::{Oid, PromptPath, Sha256Hex, Version};
use crate::worktree::{self, OnDisk, State};

pub(super) fn print_gate(view: &GateView, format: Format) -> Result<()> {
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
/// state summary and the entries that decide (see [`fresh`]), else the whole log verified;
/// `deploying` brings ahead what the deployment's append rewrites.
pub(super) fn evaluate_gate(
    ws: &Workspace,
    env: &str,
    only: &[String],
    trust: &Trust,
    deploying: bool,
    progress: &Progress,
) -> Result<(GateView, Judged, PolicyInForce, Oid)> {
    let branch = ws.config.audit.branch.0.clone();
    let judged = fresh::judged_tip(ws, &branch, progress)?;
    let scanned = fresh::scan_keeping_all(|keep| scan_prompts(ws, only, keep))?;
    // The whole log tells why there is nothing to deploy.
    if scanned.0.iter().any(|f| !is_policy_file(&f.path)) {
        match fresh::answer(
            ws, &branch, &judged, env, trust, scanned, EXPLAINED, deploying,
        ) {
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
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let in_force = crate::governance::in_force_after(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| (st.predicate.log.index, st)),
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
pub(super) fn judge(
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
pub(super) fn policy_row(
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
pub(super) const EXPLAINED: usize = 16;

/// What the working tree holds at prompt paths, as bytes on disk (see [`crate::worktree`]),
/// narrowed to `only` (with any blocker on a directory above them). Refuses when there is
/// nothing to deploy: a deployment with no prompt would be an entry `verify` rejects.
pub(super) fn prompts_on_disk(
    ws: &Workspace,
    ledger: &Ledger,
    only: &[String],
) -> Result<Vec<OnDisk>> {
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
pub(super) fn scan_prompts(
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
pub(super) fn nothing_to_deploy(ws: &Workspace, ledger: &Ledger, found: &[OnDisk]) -> Result<()> {
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
pub(super) fn unrecorded_reason(
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
