//! Reports for compliance: the export model and its CSV and Markdown renderings (the HTML
//! page is its own room, [`super::html`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::views::EntryView;
use crate::attestation::Statement;
use crate::attestation::predicate::{ApprovalStatus, AuthorRole, ChangeType, EventType};
use crate::ledger::{LineageId, Lineages};
use crate::signing::SignedBy;
use crate::types::Oid;
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

/// Which entries a report covers.
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub env: Option<String>,
}

impl Filter {
    pub fn in_range(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }

    /// Entries of other environments' deployments are left out; versions stay.
    pub fn env_ok(&self, st: &Statement) -> bool {
        self.env.as_ref().is_none_or(|env| {
            st.predicate
                .deployment
                .as_ref()
                .is_none_or(|d| &d.environment == env)
        })
    }

    pub fn keeps(&self, st: &Statement) -> bool {
        self.in_range(st.predicate.recorded_at) && self.env_ok(st)
    }
}

/// A version row's diff, made when its prompt is written: the text before (under its
/// former name after a rename) and after.
#[derive(Clone)]
pub struct DiffSource {
    pub before: String,
    pub old: Option<Oid>,
    pub new: Oid,
}

/// A prompt's timeline and, parallel to its versions, where their diffs come from.
pub type Pending = (PromptTimeline, Vec<Option<DiffSource>>);

/// One row of a prompt's timeline, as the log is read.
enum Row {
    Version(VersionRow, Option<DiffSource>),
    Deploy(DeployRow),
}

/// The per-prompt rows and live spans, gathered in one pass over the log.
pub struct Timelines {
    follow: bool,
    lineages: Lineages,
    last_blob: HashMap<LineageId, (String, Oid)>,
    rows: Vec<(LineageId, Row)>,
    live: LiveSpans,
    /// Entries the report covers.
    pub count: usize,
}

impl Timelines {
    pub fn new(follow: bool) -> Self {
        Timelines {
            follow,
            lineages: Lineages::default(),
            last_blob: HashMap::new(),
            rows: Vec::new(),
            live: LiveSpans::new(follow),
            count: 0,
        }
    }

    /// Takes in the next entry of the log (its file, who it says signed it, its statement).
    pub fn observe(&mut self, filter: &Filter, file: &str, key: &Option<SignedBy>, st: &Statement) {
        let p = &st.predicate;
        let ids: Vec<LineageId> = p
            .prompts
            .iter()
            .map(|pr| self.lineages.observe(p.event, pr))
            .collect();
        if filter.env_ok(st) {
            self.live.observe(&EntryView::new(file, key.clone(), st));
        }
        if filter.keeps(st) {
            self.count += 1;
        }
        for (pr, &id) in p.prompts.iter().zip(&ids) {
            let is_version = match p.event {
                EventType::Version => true,
                EventType::Deployment | EventType::Rollback => false,
            };
            if is_version {
                let (before, old) = match self.last_blob.get(&id).cloned() {
                    Some((path, blob)) => (path, Some(blob)),
                    None => (pr.path.to_string(), None),
                };
                self.last_blob
                    .insert(id, (pr.path.to_string(), pr.digest.git_blob.clone()));
                if !filter.in_range(p.recorded_at) {
                    continue;
                }
                let diff = match pr.change {
                    Some(ChangeType::Deleted | ChangeType::Renamed) => None,
                    _ => Some(DiffSource {
                        before,
                        old,
                        new: pr.digest.git_blob.clone(),
                    }),
                };
                let rule = p.policy.rules.iter().find(|r| r.path == pr.path);
                let row = VersionRow {
                    path: pr.path.to_string(),
                    version: pr.version.0,
                    change: pr.change.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    entry: p.log.index.0,
                    landed_at: pr
                        .landed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    commit: pr.commit.to_string(),
                    authors: p
                        .authors
                        .iter()
                        .filter(|a| a.role != AuthorRole::Committer)
                        .map(|a| a.name.clone())
                        .collect(),
                    approvers: p
                        .approvals
                        .iter()
                        .filter(|a| a.counted && a.path == pr.path)
                        .map(|a| format!("@{}", a.reviewer))
                        .collect(),
                    approved: rule
                        .is_some_and(|r| r.approved && r.status == ApprovalStatus::Evaluated),
                    diff: None,
                };
                self.rows.push((id, Row::Version(row, diff)));
            } else if let Some(d) = &p.deployment
                && filter.in_range(p.recorded_at)
                && filter.env.as_ref().is_none_or(|e| e == &d.environment)
            {
                self.rows.push((
                    id,
                    Row::Deploy(DeployRow {
                        path: pr.path.to_string(),
                        environment: d.environment.clone(),
                        event: p.event.as_str().to_owned(),
                        version: pr.version.0,
                        entry: p.log.index.0,
                        at: d
                            .deployed_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        actor: d.actor.clone(),
                        replaces: d.replaces.map(|v| v.0),
                    }),
                ));
            }
        }
    }

    /// One timeline per prompt across renames, under its newest name (or one per path),
    /// each version's diff source parallel to its versions.
    pub fn finish(
        self,
        filter: &Filter,
    ) -> (BTreeMap<String, Pending>, BTreeMap<String, Vec<LiveSpan>>) {
        let mut prompts: BTreeMap<String, Pending> = BTreeMap::new();
        for (id, row) in self.rows {
            let path = match &row {
                Row::Version(v, _) => v.path.clone(),
                Row::Deploy(d) => d.path.clone(),
            };
            let key = if self.follow {
                self.lineages.name(id).to_string()
            } else {
                path.clone()
            };
            let (t, diffs) = prompts.entry(key).or_default();
            t.note_name(&path);
            match row {
                Row::Version(v, d) => {
                    t.versions.push(v);
                    diffs.push(d);
                }
                Row::Deploy(d) => t.deployments.push(d),
            }
        }
        (prompts, self.live.finish(filter.since, filter.until))
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
