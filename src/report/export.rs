//! Reports for compliance: the export model and its CSV and Markdown renderings (the HTML
//! page is its own room, [`super::html`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spool::{Group, Slots, Spool};
use super::views::EntryView;
use crate::attestation::Statement;
use crate::attestation::predicate::{ApprovalStatus, AuthorRole, ChangeType, EventType};
use crate::ledger::{LineageId, Lineages};
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    let mut out = markdown_head(m, entries);
    for (env, spans) in &m.live {
        out.push_str(&markdown_live_head(env));
        for s in spans {
            out.push_str(&markdown_span(s));
        }
        out.push('\n');
    }
    for (path, t) in &m.prompts {
        out.push_str(&markdown_prompt_head(path));
        for v in &t.versions {
            out.push_str(&markdown_version(v));
        }
        out.push('\n');
    }
    out
}

/// The Markdown report's title, figures and verification result, before its sections.
pub fn markdown_head(m: &ExportModel, entries: usize) -> String {
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
    out
}

/// The heading and table head of an environment's live spans (the section ends with a
/// blank line after its rows).
pub fn markdown_live_head(env: &str) -> String {
    format!(
        "## Live in {env}\n\n| prompt | version | from | until | entry |\n|---|---|---|---|---|\n"
    )
}

/// One live span's table row.
pub fn markdown_span(s: &LiveSpan) -> String {
    format!(
        "| `{}` | v{} | {} | {} | #{} |\n",
        s.path,
        s.version,
        s.from,
        s.until.as_deref().unwrap_or("now"),
        s.entry
    )
}

/// The heading and table head of a prompt's versions (the section ends with a blank line
/// after its rows).
pub fn markdown_prompt_head(path: &str) -> String {
    format!(
        "## `{path}`\n\n| version | change | landed | commit | authors | approved by | entry |\n|---|---|---|---|---|---|---|\n"
    )
}

/// One version's table row.
pub fn markdown_version(v: &VersionRow) -> String {
    format!(
        "| v{} | {} | {} | `{}` | {} | {} | #{} |\n",
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
    )
}

/// What was live where, built one entry at a time in log order (every entry, versions too:
/// they carry the renames that link a prompt's names). Each span is set aside as it starts
/// ([`Spool`]); its end, known when the next deployment of its prompt to its environment is
/// read, goes into a slot of its own ([`Slots`]): what is held grows with the prompts and
/// environments, not with the deployments.
pub struct LiveSpans {
    follow: bool,
    lineages: Lineages,
    spool: Spool,
    envs: BTreeMap<String, Group>,
    /// The slot of the open span of each prompt (lineage, or path without `follow`) per
    /// environment: a new span there ends it.
    open: HashMap<(String, SpanOf), u64>,
    ends: Slots<END>,
}

#[derive(PartialEq, Eq, Hash)]
enum SpanOf {
    Lineage(LineageId),
    Path(String),
}

/// A span's end in its slot: a flag, then the time's seconds and nanoseconds.
const END: usize = 13;

fn end_slot(at: Option<DateTime<Utc>>) -> [u8; END] {
    let mut slot = [0u8; END];
    if let Some(t) = at {
        slot[0] = 1;
        slot[1..9].copy_from_slice(&t.timestamp().to_le_bytes());
        slot[9..].copy_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
    }
    slot
}

fn slot_end(slot: [u8; END]) -> Result<Option<String>> {
    if slot[0] == 0 {
        return Ok(None);
    }
    let secs = i64::from_le_bytes(slot[1..9].try_into()?);
    let nanos = u32::from_le_bytes(slot[9..].try_into()?);
    let t = DateTime::from_timestamp(secs, nanos).context("a span's end out of range")?;
    Ok(Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

impl LiveSpans {
    pub fn new(follow: bool) -> Self {
        LiveSpans {
            follow,
            lineages: Lineages::default(),
            spool: Spool::default(),
            envs: BTreeMap::new(),
            open: HashMap::new(),
            ends: Slots::default(),
        }
    }

    pub fn observe(&mut self, st: &Statement) -> Result<()> {
        let p = &st.predicate;
        let ids: Vec<_> = p
            .prompts
            .iter()
            .map(|pr| self.lineages.observe(p.event, pr))
            .collect();
        let d = match (p.event, &p.deployment) {
            (EventType::Deployment | EventType::Rollback, Some(d)) => d,
            (EventType::Deployment | EventType::Rollback, None) | (EventType::Version, _) => {
                return Ok(());
            }
        };
        let at = d
            .deployed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let group = match self.envs.get(&d.environment) {
            Some(&g) => g,
            None => {
                let g = self.spool.group();
                self.envs.insert(d.environment.clone(), g);
                g
            }
        };
        for (pr, &id) in p.prompts.iter().zip(&ids) {
            let of = if self.follow {
                SpanOf::Lineage(id)
            } else {
                SpanOf::Path(pr.path.to_string())
            };
            let slot = self.ends.push(end_slot(None))?;
            if let Some(ended) = self.open.insert((d.environment.clone(), of), slot) {
                self.ends.set(ended, end_slot(Some(d.deployed_at)))?;
            }
            let span = LiveSpan {
                path: pr.path.to_string(),
                version: pr.version.0,
                from: at.clone(),
                until: None,
                entry: p.log.index.0,
            };
            self.spool.push(group, slot, &span)?;
        }
        Ok(())
    }

    /// The spans that overlap `since..until`, per environment that has any.
    pub fn finish(self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> LiveReport {
        LiveReport {
            spans: self,
            since,
            until,
        }
    }
}

/// Every environment's spans, read back in the order they started.
pub struct LiveReport {
    spans: LiveSpans,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl LiveReport {
    /// The environments that had a deployment, in order (some may have no span in range).
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.spans.envs.keys().map(String::as_str)
    }

    /// `env`'s spans that overlap the report's range, in the order they started.
    pub fn spans(&self, env: &str) -> Result<impl Iterator<Item = Result<LiveSpan>> + '_> {
        let groups: Vec<Group> = self.spans.envs.get(env).copied().into_iter().collect();
        // RFC 3339 UTC strings with whole seconds compare like the times they name.
        let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (since, until) = (self.since.map(fmt), self.until.map(fmt));
        let read = self.spans.spool.read::<LiveSpan>(&groups)?;
        Ok(read
            .map(move |r| {
                let (slot, mut s) = r?;
                s.until = slot_end(self.spans.ends.get(slot)?)?;
                Ok(s)
            })
            .filter(move |s: &Result<LiveSpan>| {
                s.as_ref().map_or(true, |s| {
                    until.as_ref().is_none_or(|u| s.from <= *u)
                        && since
                            .as_ref()
                            .is_none_or(|b| s.until.as_ref().is_none_or(|end| end >= b))
                })
            }))
    }

    /// Every environment's spans in range, held (what the HTML page draws from).
    pub fn collect(&self) -> Result<BTreeMap<String, Vec<LiveSpan>>> {
        let mut out = BTreeMap::new();
        for env in self.environments() {
            let spans = self.spans(env)?.collect::<Result<Vec<_>>>()?;
            if !spans.is_empty() {
                out.insert(env.to_owned(), spans);
            }
        }
        Ok(out)
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
/// former name after a rename) and after, as blob ids.
#[derive(Clone, Serialize, Deserialize)]
pub struct DiffSource {
    pub before: String,
    pub old: Option<String>,
    pub new: String,
}

/// A version row as set aside: the row and where its diff comes from.
#[derive(Serialize, Deserialize)]
struct VersionRecord {
    row: VersionRow,
    diff: Option<DiffSource>,
}

/// Rows of one timeline key: a lineage with `follow`, else a path.
#[derive(PartialEq, Eq, Hash)]
enum RowsOf {
    Lineage(LineageId),
    Path(String),
}

/// One timeline key's rows in the spool, and the paths they name with the row that first
/// named each.
struct Sections {
    of: LineageId,
    path: String,
    names: Vec<(u64, String)>,
    versions: Group,
    deployments: Group,
}

/// The per-prompt rows and live spans, gathered in one pass over the log: the rows are set
/// aside ([`Spool`]) as they are read, and only what later rows need is held (each
/// lineage's last blob, the lineages, the open spans).
pub struct Timelines {
    follow: bool,
    lineages: Lineages,
    last_blob: HashMap<LineageId, (String, String)>,
    keys: HashMap<RowsOf, usize>,
    sections: Vec<Sections>,
    spool: Spool,
    seq: u64,
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
            keys: HashMap::new(),
            sections: Vec::new(),
            spool: Spool::default(),
            seq: 0,
            live: LiveSpans::new(follow),
            count: 0,
        }
    }

    /// The sections of the next row of lineage `id` at `path`, with the path noted.
    fn sections(&mut self, id: LineageId, path: &str) -> &mut Sections {
        let of = if self.follow {
            RowsOf::Lineage(id)
        } else {
            RowsOf::Path(path.to_owned())
        };
        let i = match self.keys.get(&of) {
            Some(&i) => i,
            None => {
                let (versions, deployments) = (self.spool.group(), self.spool.group());
                self.sections.push(Sections {
                    of: id,
                    path: path.to_owned(),
                    names: Vec::new(),
                    versions,
                    deployments,
                });
                self.keys.insert(of, self.sections.len() - 1);
                self.sections.len() - 1
            }
        };
        let s = &mut self.sections[i];
        if !s.names.iter().any(|(_, n)| n == path) {
            s.names.push((self.seq, path.to_owned()));
        }
        s
    }

    /// Takes in the next entry of the log (its statement).
    pub fn observe(&mut self, filter: &Filter, st: &Statement) -> Result<()> {
        let p = &st.predicate;
        let ids: Vec<LineageId> = p
            .prompts
            .iter()
            .map(|pr| self.lineages.observe(p.event, pr))
            .collect();
        if filter.env_ok(st) {
            self.live.observe(st)?;
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
                self.last_blob.insert(
                    id,
                    (pr.path.to_string(), pr.digest.git_blob.as_str().to_owned()),
                );
                if !filter.in_range(p.recorded_at) {
                    continue;
                }
                let diff = match pr.change {
                    Some(ChangeType::Deleted | ChangeType::Renamed) => None,
                    _ => Some(DiffSource {
                        before,
                        old,
                        new: pr.digest.git_blob.as_str().to_owned(),
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
                let group = self.sections(id, pr.path.as_str()).versions;
                self.spool
                    .push(group, self.seq, &VersionRecord { row, diff })?;
                self.seq += 1;
            } else if let Some(d) = &p.deployment
                && filter.in_range(p.recorded_at)
                && filter.env.as_ref().is_none_or(|e| e == &d.environment)
            {
                let row = DeployRow {
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
                };
                let group = self.sections(id, pr.path.as_str()).deployments;
                self.spool.push(group, self.seq, &row)?;
                self.seq += 1;
            }
        }
        Ok(())
    }

    /// One timeline per prompt across renames, under its newest name (or one per path),
    /// and the live spans in the filter's range.
    pub fn finish(self, filter: &Filter) -> Gathered {
        let mut prompts: BTreeMap<String, Prompt> = BTreeMap::new();
        for s in self.sections {
            let key = if self.follow {
                self.lineages.name(s.of).to_string()
            } else {
                s.path.clone()
            };
            let p = prompts.entry(key).or_default();
            p.names.extend(s.names);
            p.versions.push(s.versions);
            p.deployments.push(s.deployments);
        }
        for p in prompts.values_mut() {
            // Several lineages under one newest name: their paths in the order rows named them.
            p.names.sort_by_key(|(seq, _)| *seq);
            let mut seen = std::collections::HashSet::new();
            p.names.retain(|(_, n)| seen.insert(n.clone()));
        }
        Gathered {
            spool: self.spool,
            prompts,
            live: self.live.finish(filter.since, filter.until),
        }
    }
}

/// A timeline's rows in the spool, and its names.
#[derive(Default)]
pub struct Prompt {
    names: Vec<(u64, String)>,
    versions: Vec<Group>,
    deployments: Vec<Group>,
}

impl Prompt {
    /// The prompt's paths across renames, oldest first.
    pub fn names(&self) -> Vec<String> {
        self.names.iter().map(|(_, n)| n.clone()).collect()
    }
}

/// What one pass over the log gathered: each prompt's rows and the live spans, read back in
/// log order.
pub struct Gathered {
    spool: Spool,
    pub prompts: BTreeMap<String, Prompt>,
    pub live: LiveReport,
}

impl Gathered {
    /// A prompt's version rows in log order, each with where its diff comes from.
    pub fn versions(
        &self,
        p: &Prompt,
    ) -> Result<impl Iterator<Item = Result<(VersionRow, Option<DiffSource>)>> + '_> {
        Ok(self
            .spool
            .read::<VersionRecord>(&p.versions)?
            .map(|r| r.map(|(_, v)| (v.row, v.diff))))
    }

    /// A prompt's deployment rows in log order.
    pub fn deployments(&self, p: &Prompt) -> Result<impl Iterator<Item = Result<DeployRow>> + '_> {
        Ok(self
            .spool
            .read::<DeployRow>(&p.deployments)?
            .map(|r| r.map(|(_, d)| d)))
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
