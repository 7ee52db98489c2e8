//! `promptrail check`: are the prompts a pull request changes approved under the policy?

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::approvals::{Target, changed_prompts, client, judge};
use super::merge_group::{self, MergeGroup};
use super::{AuditLog, DecodedEntry, Outcome, Progress, Workspace, print_json};
use crate::cli::{CheckArgs, Format};
use crate::config::Config;
use crate::github::Client;
use crate::policy::Policy;
use crate::report::views::{CheckView, GroupPrompt, MergeGroupView};
use crate::report::{github, plain};
use crate::types::Oid;

/// The event payload (`GITHUB_EVENT_PATH`), when running in Actions (bounded in size and
/// type, see [`super::actions_event`]).
fn read_event() -> Result<Option<serde_json::Value>> {
    super::actions_event()
}

/// The pull request number and head from a `pull_request*` payload. `GITHUB_SHA` is the test
/// merge commit there, so the head comes from `pull_request.head.sha`.
fn pull_from_event(event: &serde_json::Value) -> Option<(u64, Option<Oid>)> {
    let pr = &event["pull_request"];
    let number = pr["number"].as_u64()?;
    Some((number, pr["head"]["sha"].as_str().and_then(Oid::parse)))
}

pub fn run(dir: &Path, args: &CheckArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let event = read_event()?;
    if args.pr.is_none()
        && let Some(group) = event
            .as_ref()
            .map(MergeGroup::from_event)
            .transpose()?
            .flatten()
    {
        return run_group(&ws, args, &group, progress);
    }
    let event = event.as_ref().and_then(pull_from_event);
    let (number, event_head) = match (args.pr, event) {
        (Some(n), Some((m, head))) if n == m => (n, head),
        (Some(n), _) => (n, None),
        (None, Some(e)) => e,
        (None, None) => bail!(
            "no pull request: pass --pr N, or run on a `pull_request`, `pull_request_review` or \
             `merge_group` event (GITHUB_EVENT_PATH)"
        ),
    };
    let gh = client(&ws, &args.github.github_token_env)?;
    let view = judge_pull(&ws, &gh, number, event_head.as_ref(), progress)?;
    if progress.verbose {
        progress.say(&format!("GitHub API requests: {}", view.requests));
    }
    if github::in_actions() {
        actions_summary(&view)?;
        actions_outputs(std::slice::from_ref(&view), &[])?;
    }
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::check(&view)),
    }
    Ok(if view.approved || args.warn_only {
        Outcome::Ok
    } else {
        Outcome::No
    })
}

/// Judges one pull request at its current head as GitHub reports it now: a re-run of an old
/// run carries the head of its time in the payload (`event_head`), which is not judged.
fn judge_pull(
    ws: &Workspace,
    gh: &Client,
    number: u64,
    event_head: Option<&Oid>,
    progress: &Progress,
) -> Result<CheckView> {
    let matcher = ws.matcher()?;
    let pr = gh.pull_request(number)?;
    if let Some(old) = event_head.filter(|h| **h != pr.head) {
        progress.warn(&format!(
            "the event names head {} of pull request #{number}, which is now at {}: judging the \
             current head (a re-run of an older run)",
            old.short(),
            pr.head.short()
        ));
    }
    // The pull request is judged by the policy of its base, not by one it brings along; a
    // change to the policy file is itself a change that needs approval.
    let base_config = if ws.git.resolve_commit(pr.base.as_str())?.is_some() {
        ws.config_at(&pr.base)?
    } else {
        progress.warn(&format!(
            "base commit {} is not in this clone: using the working tree's .promptrail.yml",
            pr.base.short()
        ));
        ws.config.clone()
    };
    let owner = gh.repo().owner.clone();
    let policy = Policy::new(&base_config.policy, &owner)?;
    // The binding judgement is `record`'s, by the policy in force (the newest policy that
    // landed approved). `check` applies it too, and the base's file when that differs (a
    // policy change not recorded yet, or one that was never approved): both must pass.
    let in_force = in_force_policy(ws, &base_config)?;
    let in_force_policy = match &in_force {
        Some((name, config)) if config.digest != base_config.digest => {
            progress.warn(&format!(
                "the base's {} is not the policy in force ({name}): the pull request must \
                 satisfy both",
                crate::config::FILE_NAME
            ));
            Some(Policy::new(&config.policy, &owner)?)
        }
        _ => None,
    };
    let base_matcher = crate::prompt::PromptMatcher::new(&base_config.prompts)?;
    let files = gh.files(number)?;
    let mut prompts = changed_prompts(&files, &base_matcher);
    for extra in changed_prompts(&files, &matcher) {
        if !prompts.contains(&extra) {
            prompts.push(extra);
        }
    }
    // The policy file is governed like a prompt (the matchers select it), also when renamed
    // away.
    let policy_file = crate::types::PromptPath::new(crate::config::FILE_NAME);
    if !prompts.contains(&policy_file)
        && files
            .iter()
            .any(|f| f.previous_path.as_deref() == Some(crate::config::FILE_NAME))
    {
        prompts.push(policy_file);
    }
    let mut decisions = if prompts.is_empty() {
        Vec::new()
    } else {
        judge(ws, gh, &policy, &pr, &prompts, &Target::Head, progress)?
    };
    if let Some(strict) = &in_force_policy
        && !prompts.is_empty()
    {
        let other = judge(ws, gh, strict, &pr, &prompts, &Target::Head, progress)?;
        // Per prompt, the decision that says no (the in-force one when both say yes).
        for (d, o) in decisions.iter_mut().zip(other) {
            if d.approved || !o.approved {
                *d = o;
            }
        }
    }
    Ok(CheckView {
        pull_request: pr.number,
        url: pr.url.clone(),
        head: pr.head.clone(),
        approved: decisions.iter().all(|d| d.approved),
        decisions,
        requests: gh.requests(),
    })
}

/// `check` on a merge queue's group: every pull request in it, then what the group lands.
fn run_group(
    ws: &Workspace,
    args: &CheckArgs,
    group: &MergeGroup,
    progress: &Progress,
) -> Result<Outcome> {
    for commit in [&group.base_sha, &group.head_sha] {
        if ws.git.resolve_commit(commit.as_str())?.is_none() {
            bail!(
                "merge group commit {} is not in this clone: check out the merge group with \
                 `actions/checkout` and `fetch-depth: 0`",
                commit.short()
            );
        }
    }
    let gh = client(ws, &args.github.github_token_env)?;
    let mut views = Vec::new();
    for number in group.pull_requests(ws, &gh)? {
        let pr = gh.pull_request(number)?;
        // A subject may name any pull request; only open ones into this branch are in the
        // queue (what the others changed is then covered by nobody, and blocks).
        if number != group.queued && (pr.merged || pr.base_ref != group.base_branch) {
            progress.warn(&format!(
                "pull request #{number} named in the merge group is not an open pull request \
                 into {}: not judged",
                group.base_branch
            ));
            continue;
        }
        views.push(judge_pull(ws, &gh, number, None, progress)?);
    }
    let base_config = ws.config_at(&group.base_sha)?;
    let base_matcher = crate::prompt::PromptMatcher::new(&base_config.prompts)?;
    let matcher = ws.matcher()?;
    let rows = merge_group::cover(ws, group, &[&base_matcher, &matcher], &views)?;
    let view = MergeGroupView {
        head_ref: group.head_ref.clone(),
        head_sha: group.head_sha.clone(),
        base_branch: group.base_branch.clone(),
        base_sha: group.base_sha.clone(),
        approved: views.iter().all(|v| v.approved) && rows.iter().all(|r| r.ok),
        pull_requests: views,
        group: rows,
        requests: gh.requests(),
    };
    if progress.verbose {
        progress.say(&format!("GitHub API requests: {}", view.requests));
    }
    if github::in_actions() {
        for pr in &view.pull_requests {
            actions_summary(pr)?;
        }
        group_summary(&view)?;
        actions_outputs(&view.pull_requests, &view.group)?;
    }
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::merge_group(&view)),
    }
    Ok(if view.approved || args.warn_only {
        Outcome::Ok
    } else {
        Outcome::No
    })
}

/// The policy in force according to the audit log named by the base's configuration (never
/// the pull request's: it could point at an empty branch), fetched when the clone lacks it.
/// `None` only when no such log exists (before the first `record`); a log that exists but
/// cannot be read is an error, not a reason to fall back to the base's file.
fn in_force_policy(ws: &Workspace, base: &Config) -> Result<Option<(String, Config)>> {
    let branch = base.audit.branch.0.clone();
    let store = crate::store::Store::new(&ws.git, &branch, &base.audit.remote.0);
    // Always the remote's tip when it can be had: a local ref may be stale or planted.
    let _ = ws.git.fetch_branch(&base.audit.remote.0, &branch);
    if store.local_tip()?.is_none() {
        return Ok(None);
    }
    let tip = store.resolve_for_reading()?;
    store.read_meta(&tip)?;
    let files = store.read_all(&tip)?;
    let log = AuditLog {
        branch: branch.clone(),
        tip,
        files,
    };
    let statements = log.statements().with_context(|| {
        format!("the audit log `{branch}` cannot be read, so the policy in force is unknown")
    })?;
    let in_force = crate::governance::in_force_after(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| (st.predicate.log.index, st)),
    );
    let config = ws.config_in_force(&in_force)?;
    Ok(Some((crate::governance::describe(&in_force), config)))
}

fn group_summary(view: &MergeGroupView) -> Result<()> {
    let rows: Vec<Vec<String>> = view
        .group
        .iter()
        .map(|g| {
            vec![
                format!("`{}`", g.path),
                if g.ok { "✅" } else { "❌" }.to_owned(),
                g.reason.clone(),
            ]
        })
        .collect();
    let mut md = format!(
        "### promptrail: merge group into {} — {}\n\n",
        view.base_branch,
        if view.approved {
            "every prompt it lands is approved"
        } else {
            "unapproved prompt changes"
        }
    );
    if rows.is_empty() {
        md.push_str("No prompt files changed.\n");
    } else {
        md.push_str(&github::table(&["prompt", "covered", "why"], &rows));
    }
    github::summary(&md)?;
    for g in view.group.iter().filter(|g| !g.ok) {
        println!(
            "{}",
            github::error_annotation(
                g.path.as_str(),
                "promptrail: merge group lands an unapproved prompt change",
                &g.reason
            )
        );
    }
    Ok(())
}

fn actions_summary(view: &CheckView) -> Result<()> {
    let rows: Vec<Vec<String>> = view
        .decisions
        .iter()
        .map(|d| {
            let who: Vec<String> = d
                .verdicts
                .iter()
                .map(|v| {
                    format!(
                        "@{} {}{}",
                        v.review.reviewer.login,
                        if v.counted { "✅ " } else { "❌ " },
                        v.reason
                    )
                })
                .collect();
            vec![
                format!("`{}`", d.path),
                if d.approved {
                    "✅ approved".into()
                } else {
                    "❌ needs approval".into()
                },
                format!("{} ({}/{})", d.rule, d.counted, d.required),
                who.join("<br>"),
            ]
        })
        .collect();
    let mut md = format!(
        "### promptrail: pull request #{} — {}\n\n",
        view.pull_request,
        if view.approved {
            "all prompt changes approved"
        } else {
            "unapproved prompt changes"
        }
    );
    if rows.is_empty() {
        md.push_str("No prompt files changed.\n");
    } else {
        md.push_str(&github::table(
            &["prompt", "decision", "rule (counted/required)", "reviews"],
            &rows,
        ));
    }
    github::summary(&md)?;
    for d in view.decisions.iter().filter(|d| !d.approved) {
        let reasons: Vec<String> = d
            .verdicts
            .iter()
            .filter(|v| !v.counted)
            .map(|v| format!("@{}: {}", v.review.reviewer.login, v.reason))
            .collect();
        println!(
            "{}",
            github::error_annotation(
                d.path.as_str(),
                "promptrail: prompt change not approved",
                &format!(
                    "rule {} needs {} approval(s), {} counted.{}",
                    d.rule,
                    d.required,
                    d.counted,
                    if reasons.is_empty() {
                        String::new()
                    } else {
                        format!("\n{}", reasons.join("\n"))
                    }
                )
            )
        );
    }
    Ok(())
}

/// Step outputs `approved` / `unapproved`: the prompts of every judged pull request (and of a
/// merge group's content check).
fn actions_outputs(views: &[CheckView], group: &[GroupPrompt]) -> Result<()> {
    let list = |approved: bool| {
        let mut v: Vec<&str> = views
            .iter()
            .flat_map(|view| &view.decisions)
            .filter(|d| d.approved == approved)
            .map(|d| d.path.as_str())
            .chain(
                group
                    .iter()
                    .filter(|g| !approved && !g.ok)
                    .map(|g| g.path.as_str()),
            )
            .collect();
        v.sort_unstable();
        v.dedup();
        serde_json::to_string(&v).unwrap_or_default()
    };
    github::output("approved", &list(true))?;
    github::output("unapproved", &list(false))?;
    Ok(())
}
