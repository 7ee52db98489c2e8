//! Reports for compliance: the export model and its CSV and Markdown renderings (the HTML
//! page is its own room, [`super::html`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::views::EntryView;
use crate::attestation::predicate::{AuthorRole, EventType};
use crate::verify::Report;

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportModel {
    pub generated_at: String,
    pub branch: String,
    pub origin: Option<String>,
    /// `None` when no trusted key was given (the report then says "not verified").
    pub verification: Option<Report>,
    pub trusted_keys: Vec<String>,
    pub checkpoint: Option<String>,
    pub entries: Vec<EntryView>,
    pub prompts: BTreeMap<String, PromptTimeline>,
    /// Per environment: which version was live from when until when.
    pub live: BTreeMap<String, Vec<LiveSpan>>,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromptTimeline {
    /// The prompt's paths across renames, oldest first (the key is the newest).
    pub names: Vec<String>,
    pub versions: Vec<VersionRow>,
    pub deployments: Vec<DeployRow>,
}

impl PromptTimeline {
    /// Notes a path the prompt had (kept in the order first seen).
    pub fn note_name(&mut self, path: &str) {
        if !self.names.iter().any(|n| n == path) {
            self.names.push(path.to_owned());
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRow {
    /// The path the prompt had at this version.
    pub path: String,
    pub version: u32,
    pub change: String,
    pub entry: u64,
    pub landed_at: String,
    pub commit: String,
    pub authors: Vec<String>,
    pub approvers: Vec<String>,
    pub approved: bool,
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployRow {
    /// The path it was deployed under.
    pub path: String,
    pub environment: String,
    pub event: String,
    pub version: u32,
    pub entry: u64,
    pub at: String,
    pub actor: String,
    pub replaces: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSpan {
    pub path: String,
    pub version: u32,
    pub from: String,
    pub until: Option<String>,
    pub entry: u64,
}

impl ExportModel {
    pub fn verified(&self) -> &'static str {
        match &self.verification {
            None => "not verified (no trusted key given)",
            Some(r) if r.ok => "verified",
            Some(_) => "FAILED verification",
        }
    }
}

fn csv_cell(s: &str) -> String {
    // A cell a spreadsheet would read as a formula is prefixed with an apostrophe.
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV header line.
pub const CSV_HEADER: &str = "entry,recorded_at,event,prompt,version,change,commit,authors,approved_by,environment,actor,key_id\n";

/// One row per prompt per event.
pub fn csv(m: &ExportModel) -> String {
    let mut out = String::from(CSV_HEADER);
    for e in &m.entries {
        out.push_str(&csv_rows(e));
    }
    out
}

/// An entry's CSV rows, one per prompt.
pub fn csv_rows(e: &EntryView) -> String {
    let mut out = String::new();
    for p in &e.prompts {
        let authors: Vec<&str> = e
            .authors
            .iter()
            .filter(|a| a.role != AuthorRole::Committer)
            .map(|a| a.name.as_str())
            .collect();
        let approvers: Vec<&str> = e
            .approvals
            .iter()
            .filter(|a| a.counted && a.path == p.path)
            .map(|a| a.reviewer.as_str())
            .collect();
        let cells = [
            e.index.0.to_string(),
            e.recorded_at.clone(),
            e.event.as_str().to_owned(),
            p.path.to_string(),
            p.version.0.to_string(),
            p.change.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            p.commit.to_string(),
            authors.join("; "),
            approvers.join("; "),
            e.deployment
                .as_ref()
                .map(|d| d.environment.clone())
                .unwrap_or_default(),
            e.deployment
                .as_ref()
                .map(|d| d.actor.clone())
                .unwrap_or_default(),
            e.key_id.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
    out
}

/// A compliance summary in Markdown.
pub fn markdown(m: &ExportModel) -> String {
    markdown_counted(m, m.entries.len())
}

/// [`markdown`] of a model whose entries were streamed rather than kept: `entries` of them.
pub fn markdown_counted(m: &ExportModel, entries: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Prompt audit report: {}\n",
        m.origin.as_deref().unwrap_or(&m.branch)
    );
    let _ = writeln!(
        out,
        "Generated {} from the audit branch `{}` ({} entries). Verification: **{}**.\n",
        m.generated_at,
        m.branch,
        entries,
        m.verified()
    );
    if let Some(r) = &m.verification {
        for (k, n) in &r.signed_by {
            let _ = writeln!(out, "- {n} entries signed by key `{k}`");
        }
        for f in &r.findings {
            let _ = writeln!(
                out,
                "- **{} {}** {}: {}",
                f.code,
                f.check.name(),
                f.entry.map_or("log".into(), |e| format!("entry {e}")),
                f.message
            );
        }
        out.push('\n');
    }
    for (env, spans) in &m.live {
        let _ = writeln!(out, "## Live in {env}\n");
        let _ = writeln!(
            out,
            "| prompt | version | from | until | entry |\n|---|---|---|---|---|"
        );
        for s in spans {
            let _ = writeln!(
                out,
                "| `{}` | v{} | {} | {} | #{} |",
                s.path,
                s.version,
                s.from,
                s.until.as_deref().unwrap_or("now"),
                s.entry
            );
        }
        out.push('\n');
    }
    for (path, t) in &m.prompts {
        let _ = writeln!(out, "## `{path}`\n");
        let _ = writeln!(
            out,
            "| version | change | landed | commit | authors | approved by | entry |\n|---|---|---|---|---|---|---|"
        );
        for v in &t.versions {
            let _ = writeln!(
                out,
                "| v{} | {} | {} | `{}` | {} | {} | #{} |",
                v.version,
                v.change,
                v.landed_at,
                &v.commit[..7.min(v.commit.len())],
                v.authors.join(", "),
                if v.approved {
                    v.approvers.join(", ")
                } else {
                    "**not approved**".into()
                },
                v.entry
            );
        }
        out.push('\n');
    }
    out
}

/// The spans of what was live in each environment, from all deployment entries in order,
/// keeping those that overlap `[since, until]`.
/// With `follow`, a deployment under a prompt's new name ends the span of its old name.
pub fn live_spans(
    entries: &[EntryView],
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    follow: bool,
) -> BTreeMap<String, Vec<LiveSpan>> {
    let mut spans = LiveSpans::new(follow);
    for e in entries {
        spans.observe(e);
    }
    spans.finish(since, until)
}

/// What was live where, built one entry at a time in log order (every entry, versions too:
/// they carry the renames that link a prompt's names).
pub struct LiveSpans {
    follow: bool,
    lineages: crate::ledger::Lineages,
    out: BTreeMap<String, Vec<LiveSpan>>,
    /// The lineage of each span, parallel to the spans of its environment.
    span_lineage: BTreeMap<String, Vec<crate::ledger::LineageId>>,
}

impl LiveSpans {
    pub fn new(follow: bool) -> Self {
        LiveSpans {
            follow,
            lineages: crate::ledger::Lineages::default(),
            out: BTreeMap::new(),
            span_lineage: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, e: &EntryView) {
        let ids: Vec<_> = e
            .prompts
            .iter()
            .map(|p| self.lineages.observe(e.event, p))
            .collect();
        let d = match (e.event, &e.deployment) {
            (EventType::Deployment | EventType::Rollback, Some(d)) => d,
            (EventType::Deployment | EventType::Rollback, None) | (EventType::Version, _) => {
                return;
            }
        };
        let at = d
            .deployed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let spans = self.out.entry(d.environment.clone()).or_default();
        let lineage_of = self.span_lineage.entry(d.environment.clone()).or_default();
        let follow = self.follow;
        for (p, &id) in e.prompts.iter().zip(&ids) {
            let same = |s: &LiveSpan, l: crate::ledger::LineageId| {
                if follow {
                    l == id
                } else {
                    s.path == p.path.as_str()
                }
            };
            if let Some(open) = spans
                .iter_mut()
                .zip(lineage_of.iter())
                .rev()
                .find(|(s, l)| same(s, **l) && s.until.is_none())
                .map(|(s, _)| s)
            {
                open.until = Some(at.clone());
            }
            lineage_of.push(id);
            spans.push(LiveSpan {
                path: p.path.to_string(),
                version: p.version.0,
                from: at.clone(),
                until: None,
                entry: e.index.0,
            });
        }
    }

    /// The spans that overlap `since..until`, per environment that has any.
    pub fn finish(
        self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> BTreeMap<String, Vec<LiveSpan>> {
        let mut out = self.out;
        // RFC 3339 UTC strings with whole seconds compare like the times they name.
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for spans in out.values_mut() {
            spans.retain(|s| {
                until.is_none_or(|u| s.from <= fmt(u))
                    && since.is_none_or(|b| s.until.as_ref().is_none_or(|end| *end >= fmt(b)))
            });
        }
        out.retain(|_, spans| !spans.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
    }
}
