//! `promptrail which`: every recorded version with a content, and whether it was live and
//! approved somewhere at some time (the view and its text form).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::plain::{approval_line, author_line, prompt_line};
use crate::attestation::predicate::{ApprovalRecord, AuthorRecord, PromptRecord};
use crate::ledger::{LiveWindow, RecordedVersion};
use crate::types::{EntryIndex, PromptPath, Version};

/// What `which` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhichView {
    /// The digest or file asked about, as given.
    pub query: String,
    /// The content matched (for a FILE: its sha256, even when nothing matched).
    pub sha256: Option<String>,
    pub versions: Vec<WhichVersion>,
    /// With `--at` and `--env`: the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<LiveAnswer>,
}

/// One recorded version with that content.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhichVersion {
    /// The version entry.
    pub entry: EntryIndex,
    pub prompt: PromptRecord,
    pub authors: Vec<AuthorRecord>,
    /// Approved under its rule with approvals read from GitHub.
    pub approved: bool,
    /// The rule's decision (or why there is none), in a sentence.
    pub approval: String,
    pub approvals: Vec<ApprovalRecord>,
    /// When it was live, per environment.
    pub live: Vec<LiveWindow>,
}

impl WhichVersion {
    pub fn new(v: &RecordedVersion, live: Vec<LiveWindow>) -> WhichVersion {
        WhichVersion {
            entry: v.entry,
            prompt: v.prompt.clone(),
            authors: v.authors.clone(),
            approved: v.approved(),
            approval: approval_sentence(v),
            approvals: v.approvals.clone(),
            live,
        }
    }
}

/// The rule's decision on a version (or why there is none), in a sentence.
pub fn approval_sentence(v: &RecordedVersion) -> String {
    match &v.rule {
        Some(r) if v.approved() => format!(
            "approved under rule {}: {} of {} approval(s) counted{}",
            r.rule,
            r.counted,
            r.required,
            r.pull_request
                .map(|n| format!(" (PR #{n})"))
                .unwrap_or_default()
        ),
        _ => format!("not approved: {}", v.why_not()),
    }
}

/// "Was this content live and approved in ENV at TIME?"
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveAnswer {
    pub environment: String,
    #[serde(serialize_with = "crate::attestation::predicate::rfc3339")]
    pub at: DateTime<Utc>,
    /// Live and approved: the question's answer (exit 0).
    pub ok: bool,
    pub live: bool,
    pub approved: bool,
    /// The version that was live with this content, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PromptPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The deployment or rollback entry that made it live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<EntryIndex>,
    pub reason: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `production  2026-11-20T15:02:11Z → now (deployment #14)`.
pub fn window_line(w: &LiveWindow) -> String {
    format!(
        "{:<12} {} → {} ({} #{}{})",
        w.environment,
        time(w.from),
        w.until.map_or("now".to_owned(), time),
        w.event.as_str(),
        w.entry.0,
        w.ended_by
            .map(|e| format!(", replaced by #{}", e.0))
            .unwrap_or_default()
    )
}

pub fn text(v: &WhichView) -> String {
    let mut out = String::new();
    let sha = v.sha256.as_deref().unwrap_or("?");
    if v.versions.is_empty() {
        let _ = writeln!(
            out,
            "no recorded version has this content ({}, sha256 {sha})",
            v.query
        );
    } else {
        let _ = writeln!(
            out,
            "sha256 {sha}: {} recorded version{}",
            v.versions.len(),
            if v.versions.len() == 1 { "" } else { "s" }
        );
    }
    for w in &v.versions {
        let p = &w.prompt;
        let _ = writeln!(out, "\n{}", prompt_line(p));
        let _ = writeln!(out, "  entry      #{}", w.entry.0);
        let _ = writeln!(out, "  landed     {} in {}", time(p.landed_at), p.commit);
        let _ = writeln!(out, "  git blob   {}", p.digest.git_blob);
        for a in &w.authors {
            let _ = writeln!(out, "  {}", author_line(a));
        }
        let _ = writeln!(out, "  decision   {}", w.approval);
        for a in &w.approvals {
            let _ = writeln!(out, "  {}", approval_line(a));
        }
        if w.live.is_empty() {
            out.push_str("  live       never deployed\n");
        }
        for (i, l) in w.live.iter().enumerate() {
            let label = if i == 0 { "live" } else { "" };
            let _ = writeln!(out, "  {label:<10} {}", window_line(l));
        }
    }
    if let Some(a) = &v.answer {
        let _ = writeln!(out, "\n{}: {}", if a.ok { "yes" } else { "no" }, a.reason);
    }
    out
}
