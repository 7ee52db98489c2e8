//! `promptrail trace`: each span of a trace export that carries a prompt digest, annotated
//! with the recorded version, its approvals, and whether it was the one live in the span's
//! environment at the span's time (the view and its text form).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::plain::approval_line;
use crate::attestation::predicate::ApprovalRecord;
use crate::types::{EntryIndex, PromptPath, Version};

/// What `trace` found in one export.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceView {
    /// The file read, as given.
    pub file: String,
    /// The span attribute holding the digest.
    pub attribute: String,
    /// Spans in the export, with the attribute or without.
    pub spans: usize,
    /// Spans flagged (exit 1 when any, or when no span carries the attribute).
    pub flagged: usize,
    pub results: Vec<SpanResult>,
}

/// Why a span is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// No recorded version has the span's content: it never landed on the protected branch.
    Unrecorded,
    /// The version is recorded but was not approved under its rule.
    Unapproved,
    /// The content was not the version live in the span's environment at its time.
    NotDeployed,
    /// The span's `promptrail.prompt.path` / `promptrail.prompt.version` name another version
    /// than its digest is (a dashboard reading the labels would show the wrong prompt).
    Mislabelled,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Unrecorded => "unrecorded",
            Flag::Unapproved => "unapproved",
            Flag::NotDeployed => "not-deployed",
            Flag::Mislabelled => "mislabelled",
        }
    }
}

/// One span with a prompt digest, judged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanResult {
    /// Where the span is in the export (`resourceSpans[0].scopeSpans[0].spans[1]`).
    pub location: String,
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(serialize_with = "crate::attestation::predicate::rfc3339")]
    pub start: DateTime<Utc>,
    pub environment: String,
    pub sha256: String,
    /// Recorded, approved and live: nothing to flag.
    pub ok: bool,
    pub flags: Vec<Flag>,
    /// The recorded version with this content (the live one, else the newest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PromptPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The entry that recorded the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_entry: Option<EntryIndex>,
    pub approved: bool,
    /// The rule's decision, in a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    pub approvals: Vec<ApprovalRecord>,
    /// The deployment or rollback entry that made it live in the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<EntryIndex>,
    /// Where it stood in the environment at the span's time, in a sentence.
    pub reason: String,
    /// With the `mislabelled` flag: what the span's labels claim, against the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A value from the trace, safe to print: control characters (a terminal escape sequence in
/// a span name) are shown escaped.
fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_owned()
    }
}

pub fn text(v: &TraceView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} span{}, {} with {}, {} flagged",
        clean(&v.file),
        v.spans,
        if v.spans == 1 { "" } else { "s" },
        v.results.len(),
        v.attribute,
        v.flagged
    );
    if v.results.is_empty() {
        let _ = writeln!(
            out,
            "\nno span carries `{}`: nothing could be checked (does the application attach \
             the digest? see --attribute)",
            v.attribute
        );
    }
    for r in &v.results {
        let head = if r.ok {
            "ok".to_owned()
        } else {
            let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
            format!("FLAGGED {}", flags.join(", "))
        };
        let service = r
            .service
            .as_deref()
            .map(|s| format!(" ({})", clean(s)))
            .unwrap_or_default();
        let _ = writeln!(out, "\n{head}");
        let _ = writeln!(
            out,
            "  span       {}{service} trace {} span {}",
            clean(&r.name),
            r.trace_id,
            r.span_id
        );
        let _ = writeln!(
            out,
            "  at         {} in {}",
            time(r.start),
            clean(&r.environment)
        );
        match (&r.path, r.version) {
            (Some(p), Some(n)) => {
                let _ = writeln!(
                    out,
                    "  prompt     {p} {n} (entry #{}), sha256 {}",
                    r.version_entry.map_or(0, |e| e.0),
                    &r.sha256[..12]
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  prompt     sha256 {}: no recorded version has this content",
                    r.sha256
                );
            }
        }
        if let Some(a) = &r.approval {
            let _ = writeln!(out, "  decision   {a}");
        }
        for a in &r.approvals {
            let _ = writeln!(out, "  {}", approval_line(a));
        }
        let _ = writeln!(out, "  live       {}", r.reason);
        if let Some(l) = &r.labels {
            let _ = writeln!(out, "  labels     {}", clean(l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_trace_cannot_drive_the_terminal() {
        assert_eq!(clean("chat intake"), "chat intake");
        // A span name that would clear the screen and rewrite the line as "ok".
        let hostile = "chat\u{1b}[2J\u{1b}[1;1Hok\r\n";
        let shown = clean(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(shown, "chat\\u{1b}[2J\\u{1b}[1;1Hok\\r\\n");
    }
}
