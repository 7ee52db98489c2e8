//! Reports for compliance: the export model and its CSV, Markdown and self-contained HTML
//! renderings (no network, inline CSS, no scripts).

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

/// One row per prompt per event.
pub fn csv(m: &ExportModel) -> String {
    let mut out = String::from(
        "entry,recorded_at,event,prompt,version,change,commit,authors,approved_by,environment,actor,key_id\n",
    );
    for e in &m.entries {
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
    }
    out
}

/// A compliance summary in Markdown.
pub fn markdown(m: &ExportModel) -> String {
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
        m.entries.len(),
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:6px}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.add{color:#1a7f37}.del{color:#cf222e}details{margin:.3rem 0}";

/// One self-contained HTML page.
pub fn html(m: &ExportModel) -> String {
    let mut o = String::new();
    let title = format!(
        "Prompt audit report: {}",
        m.origin.as_deref().unwrap_or(&m.branch)
    );
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(o, "<h1>{}</h1>", esc(&title));
    let status_class = if m.verification.as_ref().is_some_and(|r| r.ok) {
        "ok"
    } else {
        "bad"
    };
    let _ = write!(
        o,
        "<p>Generated {} from the audit branch <code>{}</code>: {} entries. Verification: <span id=\"verification\" class=\"{status_class}\">{}</span>.</p>",
        esc(&m.generated_at),
        esc(&m.branch),
        m.entries.len(),
        m.verified()
    );
    o.push_str("<h2>Verification</h2><ul>");
    for k in &m.trusted_keys {
        let _ = write!(o, "<li>trusted key <code>{}</code></li>", esc(k));
    }
    if let Some(r) = &m.verification {
        for (k, n) in &r.signed_by {
            let _ = write!(
                o,
                "<li>{n} entries signed by key <code>{}</code></li>",
                esc(k)
            );
        }
        for f in &r.findings {
            let _ = write!(
                o,
                "<li class=\"bad\">{} {} {}: {} (expected {}, found {})</li>",
                f.code,
                f.check.name(),
                f.entry.map_or("log".into(), |e| format!("entry {e}")),
                esc(&f.message),
                esc(&f.expected),
                esc(&f.found)
            );
        }
    }
    o.push_str("</ul>");
    if let Some(cp) = &m.checkpoint {
        let _ = write!(o, "<p>Signed checkpoint:</p><pre>{}</pre>", esc(cp));
    }
    for (env, spans) in &m.live {
        let _ = write!(
            o,
            "<h2>What was live in {}</h2><table><tr><th>prompt</th><th>version</th><th>live from</th><th>until</th><th>entry</th></tr>",
            esc(env)
        );
        for s in spans {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>v{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
                esc(&s.path),
                s.version,
                esc(&s.from),
                esc(s.until.as_deref().unwrap_or("now")),
                s.entry
            );
        }
        o.push_str("</table>");
    }
    for (path, t) in &m.prompts {
        let _ = write!(o, "<h2>Timeline of <code>{}</code></h2>", esc(path));
        o.push_str("<table><tr><th>version</th><th>change</th><th>landed</th><th>commit</th><th>authors</th><th>approved by</th><th>entry</th></tr>");
        for v in &t.versions {
            let approval = if v.approved {
                format!("<span class=\"ok\">{}</span>", esc(&v.approvers.join(", ")))
            } else {
                "<span class=\"bad\">not approved</span>".into()
            };
            let _ = write!(
                o,
                "<tr><td>v{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{approval}</td><td>#{}</td></tr>",
                v.version,
                esc(&v.change),
                esc(&v.landed_at),
                esc(&v.commit[..12.min(v.commit.len())]),
                esc(&v.authors.join(", ")),
                v.entry
            );
            if let Some(d) = &v.diff {
                let _ = write!(
                    o,
                    "<tr><td colspan=\"7\"><details><summary>diff of v{}</summary><pre>",
                    v.version
                );
                for line in d.lines() {
                    let class = match line.as_bytes().first() {
                        Some(b'+') => "add",
                        Some(b'-') => "del",
                        _ => "",
                    };
                    let _ = writeln!(o, "<span class=\"{class}\">{}</span>", esc(line));
                }
                o.push_str("</pre></details></td></tr>");
            }
        }
        o.push_str("</table>");
        if !t.deployments.is_empty() {
            o.push_str("<table><tr><th>environment</th><th>event</th><th>version</th><th>when</th><th>by</th><th>entry</th></tr>");
            for d in &t.deployments {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}{}</td><td>v{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
                    esc(&d.environment),
                    esc(&d.event),
                    d.replaces
                        .map(|r| format!(" (replaces v{r})"))
                        .unwrap_or_default(),
                    d.version,
                    esc(&d.at),
                    esc(&d.actor),
                    d.entry
                );
            }
            o.push_str("</table>");
        }
    }
    o.push_str("<p class=\"muted\">Made by promptrail. Every row comes from a signed entry of the audit branch.</p></body></html>\n");
    o
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
    let mut out: BTreeMap<String, Vec<LiveSpan>> = BTreeMap::new();
    let (_, ids) =
        crate::ledger::Lineages::assign(entries.iter().map(|e| (e.event, e.prompts.as_slice())));
    // The lineage of each open span, parallel to the spans of its environment.
    let mut span_lineage: BTreeMap<String, Vec<crate::ledger::LineageId>> = BTreeMap::new();
    for (e, ids) in entries.iter().zip(&ids) {
        let (EventType::Deployment | EventType::Rollback, Some(d)) = (e.event, &e.deployment)
        else {
            continue;
        };
        let at = d
            .deployed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let spans = out.entry(d.environment.clone()).or_default();
        let lineage_of = span_lineage.entry(d.environment.clone()).or_default();
        for (p, &id) in e.prompts.iter().zip(ids) {
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
