//! `promptrail check`: are the prompts a pull request changes approved under the policy?

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::approvals::{Target, changed_prompts, client, judge};
use super::{Outcome, Progress, Workspace, print_json};
use crate::cli::{CheckArgs, Format};
use crate::policy::Policy;
use crate::report::views::CheckView;
use crate::report::{github, plain};
use crate::types::Oid;

/// The pull request number and head from the event payload (`GITHUB_EVENT_PATH`).
/// On `pull_request*` events `GITHUB_SHA` is the test merge commit, so the head comes from
/// `pull_request.head.sha`.
fn from_event() -> Result<Option<(u64, Option<Oid>)>> {
    let Ok(path) = std::env::var("GITHUB_EVENT_PATH") else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading event {path}"))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("event {path} is not JSON"))?;
    let pr = &event["pull_request"];
    let Some(number) = pr["number"].as_u64() else {
        return Ok(None);
    };
    Ok(Some((
        number,
        pr["head"]["sha"].as_str().and_then(Oid::parse),
    )))
}

pub fn run(dir: &Path, args: &CheckArgs, progress: &Progress) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let matcher = ws.matcher()?;
    let event = from_event()?;
    let (number, event_head) = match (args.pr, event) {
        (Some(n), Some((m, head))) if n == m => (n, head),
        (Some(n), _) => (n, None),
        (None, Some(e)) => e,
        (None, None) => bail!(
            "no pull request: pass --pr N, or run on a `pull_request` / `pull_request_review` \
             event (GITHUB_EVENT_PATH)"
        ),
    };
    let gh = client(&ws, &args.github.github_token_env)?;
    let mut pr = gh.pull_request(number)?;
    if let Some(head) = event_head {
        pr.head = head;
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
    let policy = Policy::new(&base_config.policy, &gh.repo().owner)?;
    let base_matcher = crate::prompt::PromptMatcher::new(&base_config.prompts)?;
    let files = gh.files(number)?;
    let mut prompts = changed_prompts(&files, &base_matcher);
    for extra in changed_prompts(&files, &matcher) {
        if !prompts.contains(&extra) {
            prompts.push(extra);
        }
    }
    if files.iter().any(|f| {
        f.path == crate::config::FILE_NAME
            || f.previous_path.as_deref() == Some(crate::config::FILE_NAME)
    }) {
        prompts.push(crate::types::PromptPath::new(crate::config::FILE_NAME));
    }
    let decisions = if prompts.is_empty() {
        Vec::new()
    } else {
        judge(&ws, &gh, &policy, &pr, &prompts, &Target::Head, progress)?
    };
    let view = CheckView {
        pull_request: pr.number,
        url: pr.url.clone(),
        head: pr.head.clone(),
        approved: decisions.iter().all(|d| d.approved),
        decisions,
        requests: gh.requests(),
    };
    if progress.verbose {
        progress.say(&format!("GitHub API requests: {}", view.requests));
    }
    if github::in_actions() {
        actions_output(&view)?;
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

fn actions_output(view: &CheckView) -> Result<()> {
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
    let list = |approved: bool| {
        let v: Vec<&str> = view
            .decisions
            .iter()
            .filter(|d| d.approved == approved)
            .map(|d| d.path.as_str())
            .collect();
        serde_json::to_string(&v).unwrap_or_default()
    };
    github::output("approved", &list(true))?;
    github::output("unapproved", &list(false))?;
    Ok(())
}
