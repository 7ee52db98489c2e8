//! The self-contained HTML report: one file, no network. An overview first (figures, the
//! verification result), inline SVG charts (what was live when per environment, versions
//! per month, approval coverage), a searchable index of prompts, then one collapsed section
//! per prompt lineage (its versions across renames, diffs rendered only when opened).
//!
//! Safety: every piece of text from the log (paths, names, environments, actors, key ids,
//! diffs) goes through [`esc`]; the page's only script is the constant [`SCRIPT`], which reads
//! the page and never evaluates data; a Content-Security-Policy meta tag allows exactly that
//! script and stylesheet (by hash) and nothing else, so markup smuggled past escaping would
//! still not run or load anything.
//!
//! Scale: the page stays usable at any length because what grows with the log is bounded:
//! each lineage section lists its newest [`ROWS_PER_LINEAGE`] versions, fewer when there are
//! many prompts ([`ROW_BUDGET`] rows in all, at least 5 each; the count of older ones is
//! stated, CSV/JSON exports have them all), each environment's timeline draws the
//! [`TIMELINE_ROWS`] prompts deployed most often, the overview lists the first
//! [`UNAPPROVED_LISTED`] unapproved versions, and the index shows [`INDEX_PAGE`] prompts a
//! page (all of them when printed or without scripts).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use std::io::Write;

use anyhow::Result;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use super::export::{DeployRow, DiffSource, ExportModel, LiveSpan, VersionRow};

/// Versions listed per lineage section at most (the newest ones).
pub const ROWS_PER_LINEAGE: usize = 50;
/// Version rows listed over all sections: with many prompts each lists fewer (down to 5).
pub const ROW_BUDGET: usize = 10_000;
/// Prompts drawn per environment timeline (those deployed most often).
pub const TIMELINE_ROWS: usize = 40;
/// Unapproved versions linked from the overview.
pub const UNAPPROVED_LISTED: usize = 50;
/// Prompts per page of the index.
pub const INDEX_PAGE: usize = 100;

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:76rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:6px;white-space:pre-wrap;word-break:break-all}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.add{color:#1a7f37}.del{color:#cf222e}details{margin:.3rem 0}
.figures{display:flex;flex-wrap:wrap;gap:.8rem;padding:0;margin:1rem 0}
.figures div{border:1px solid #d0d7de;border-radius:8px;padding:.5rem .9rem;min-width:9rem}
.figures dt{color:#57606a;font-size:.85rem}.figures dd{margin:0;font-size:1.4rem;font-weight:600}
svg{max-width:100%;height:auto;display:block;margin:.4rem 0}svg text{font:11px system-ui,sans-serif;fill:#1b1f24}svg text.v{fill:#fff;font-size:10px}
.live{fill:#0969da}.live.alt{fill:#54aeff}.bar{fill:#8250df}.cov-ok{fill:#2da44e}.cov-bad{fill:#cf222e}.axis{stroke:#8c959f}
#unapproved{columns:18rem;font-size:.9rem;padding-left:1.2rem}
.controls{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:.6rem 0}
.controls input{flex:1;min-width:14rem;padding:.35rem}.hidden{display:none}
details.lineage>summary{cursor:pointer;padding:.3rem 0}details.lineage{border-bottom:1px solid #d0d7de}
@media print{.controls,.pager,details.diff{display:none}#index tr.hidden,#index tr.paged{display:table-row}
body{margin:0;max-width:none;font-size:11pt}a{color:inherit;text-decoration:none}
h2,svg,tr,.figures div{break-inside:avoid}details.lineage{break-inside:avoid-page}}";

/// The page's only script: search, filters and pages for the index, opening the section a
/// link points at, and diffs cloned from their inert `<template>` when first opened. Query
/// parameters (`?q=`, `only=`, `env=`, `open=`) set the same state, so a view can be linked.
const SCRIPT: &str = r#"(function(){
var d=document,q=d.getElementById('q'),only=d.getElementById('only'),env=d.getElementById('env');
var rows=Array.prototype.slice.call(d.querySelectorAll('#index tbody tr')),page=0,per=PAGE;
var count=d.getElementById('index-count'),prev=d.getElementById('prev'),next=d.getElementById('next');
function match(r){var s=q.value.trim().toLowerCase();
 if(s&&r.getAttribute('data-s').indexOf(s)<0)return false;
 var o=only.value;
 if(o==='unapproved'&&r.getAttribute('data-unapproved')==='0')return false;
 if(o==='renamed'&&r.getAttribute('data-renamed')==='0')return false;
 if(o==='deployed'&&r.getAttribute('data-envs')==='')return false;
 if(env.value&&r.getAttribute('data-envs').split('\n').indexOf(env.value)<0)return false;
 return true;}
function apply(){var shown=rows.filter(function(r){var m=match(r);r.classList.toggle('hidden',!m);return m;});
 var pages=Math.max(1,Math.ceil(shown.length/per));if(page>=pages)page=pages-1;
 shown.forEach(function(r,i){r.classList.toggle('paged',Math.floor(i/per)!==page);});
 count.textContent=shown.length+' of '+rows.length+' prompts'+(pages>1?' \u00b7 page '+(page+1)+' of '+pages:'');
 prev.disabled=page===0;next.disabled=page>=pages-1;}
function diff(det){if(det.getAttribute('data-rendered'))return;var t=d.getElementById(det.getAttribute('data-diff'));
 if(t){det.appendChild(t.content.cloneNode(true));det.setAttribute('data-rendered','1');}}
function reveal(id){var el=id&&d.getElementById(id);if(!el)return;
 if(el.tagName==='TEMPLATE')el=el.previousElementSibling;
 for(var p=el;p;p=p.parentElement){if(p.tagName==='DETAILS'){p.open=true;if(p.hasAttribute('data-diff'))diff(p);}}
 el.scrollIntoView();}
d.addEventListener('toggle',function(e){var t=e.target;if(t.open&&t.hasAttribute&&t.hasAttribute('data-diff'))diff(t);},true);
[q,only,env].forEach(function(c){c.addEventListener('input',function(){page=0;apply();});});
prev.addEventListener('click',function(){page--;apply();});next.addEventListener('click',function(){page++;apply();});
var a=new URLSearchParams(location.search);
if(a.get('q'))q.value=a.get('q');if(a.get('only'))only.value=a.get('only');if(a.get('env'))env.value=a.get('env');
apply();
window.addEventListener('hashchange',function(){reveal(location.hash.slice(1));});
reveal(a.get('open')||location.hash.slice(1));
d.documentElement.setAttribute('data-ready','1');
d.documentElement.setAttribute('data-ms',String(Math.round(performance.now())));
})();"#;

fn sha256_b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
}

/// Rows read back from a [`PageSource`], as often as the page needs them.
pub type Rows<'a, T> = Box<dyn Iterator<Item = Result<T>> + 'a>;

/// What the page is drawn from: a model held whole ([`ExportModel`]), or the rows an export
/// set aside while it read the log. The page reads each prompt's rows once per part that
/// shows them (figures, index, section) and holds only per-prompt figures and the rows of
/// the timelines it draws, so what it holds grows with the prompts, not with the log.
pub trait PageSource {
    /// The report's header (its `entries`, `prompts` and `live` are not read from here).
    fn header(&self) -> &ExportModel;
    /// Each timeline's key and its names across renames (oldest first), in key order.
    fn prompts(&self) -> Vec<(String, Vec<String>)>;
    /// The versions of the timeline under `key`, in log order, each with where its diff
    /// comes from (`None`: the row's own `diff` is the one shown).
    fn versions(&self, key: &str) -> Result<Rows<'_, (VersionRow, Option<DiffSource>)>>;
    /// The deployments of the timeline under `key`, in log order.
    fn deployments(&self, key: &str) -> Result<Rows<'_, DeployRow>>;
    /// The environments that have live spans to show, in order.
    fn environments(&self) -> Result<Vec<String>>;
    /// `env`'s live spans, in the order they started.
    fn spans(&self, env: &str) -> Result<Rows<'_, LiveSpan>>;
}

/// Makes a listed version's diff from where it comes from (`None` when a text is missing).
pub type MakeDiff<'a> = dyn FnMut(&VersionRow, &DiffSource) -> Result<Option<String>> + 'a;

impl PageSource for ExportModel {
    fn header(&self) -> &ExportModel {
        self
    }

    fn prompts(&self) -> Vec<(String, Vec<String>)> {
        self.prompts
            .iter()
            .map(|(k, t)| (k.clone(), t.names.clone()))
            .collect()
    }

    fn versions(&self, key: &str) -> Result<Rows<'_, (VersionRow, Option<DiffSource>)>> {
        Ok(Box::new(
            self.prompts
                .get(key)
                .into_iter()
                .flat_map(|t| &t.versions)
                .map(|v| Ok((v.clone(), None))),
        ))
    }

    fn deployments(&self, key: &str) -> Result<Rows<'_, DeployRow>> {
        Ok(Box::new(
            self.prompts
                .get(key)
                .into_iter()
                .flat_map(|t| &t.deployments)
                .map(|d| Ok(d.clone())),
        ))
    }

    fn environments(&self) -> Result<Vec<String>> {
        Ok(self.live.keys().cloned().collect())
    }

    fn spans(&self, env: &str) -> Result<Rows<'_, LiveSpan>> {
        Ok(Box::new(
            self.live
                .get(env)
                .into_iter()
                .flatten()
                .map(|s| Ok(s.clone())),
        ))
    }
}

/// One timeline's figures.
struct Tally {
    versions: usize,
    approved: usize,
    /// When its last version landed.
    last_landed: String,
    deployments: usize,
}

/// The overview's figures and each timeline's, from one read of every row.
struct Figures {
    versions: usize,
    approved: usize,
    /// (lineage number, row number, timeline key, version) of the first
    /// [`UNAPPROVED_LISTED`] unapproved versions.
    unapproved: Vec<(usize, usize, String, u32)>,
    unapproved_count: usize,
    /// Versions landed per (year, month).
    months: BTreeMap<(i32, u32), usize>,
    /// Deployments per environment.
    deploys: BTreeMap<String, usize>,
    /// Per timeline, in the order of [`PageSource::prompts`].
    prompts: Vec<Tally>,
}

fn figures(src: &dyn PageSource, prompts: &[(String, Vec<String>)]) -> Result<Figures> {
    use chrono::Datelike as _;
    let mut f = Figures {
        versions: 0,
        approved: 0,
        unapproved: Vec::new(),
        unapproved_count: 0,
        months: BTreeMap::new(),
        deploys: BTreeMap::new(),
        prompts: Vec::with_capacity(prompts.len()),
    };
    for (i, (key, _)) in prompts.iter().enumerate() {
        let mut t = Tally {
            versions: 0,
            approved: 0,
            last_landed: String::new(),
            deployments: 0,
        };
        for (j, row) in src.versions(key)?.enumerate() {
            let (v, _) = row?;
            t.versions += 1;
            if v.approved {
                t.approved += 1;
            } else {
                if f.unapproved.len() < UNAPPROVED_LISTED {
                    f.unapproved.push((i, j, key.clone(), v.version));
                }
                f.unapproved_count += 1;
            }
            if let Some(at) = time(&v.landed_at) {
                *f.months.entry((at.year(), at.month())).or_default() += 1;
            }
            t.last_landed = v.landed_at;
        }
        for d in src.deployments(key)? {
            t.deployments += 1;
            *f.deploys.entry(d?.environment).or_default() += 1;
        }
        f.versions += t.versions;
        f.approved += t.approved;
        f.prompts.push(t);
    }
    Ok(f)
}

/// What the page needs of one environment's live spans.
struct EnvLive {
    env: String,
    /// Spans still open (live now).
    open: usize,
    /// Spans to draw per timeline row (lineage key, or the path when it has none).
    rows: BTreeMap<String, usize>,
}

/// The live spans' figures, from one read of every environment's.
struct Live {
    envs: Vec<EnvLive>,
    /// Each path live now, with its environments.
    now: HashMap<String, Vec<String>>,
}

fn live(src: &dyn PageSource, lineage_of: &HashMap<&str, &str>) -> Result<Live> {
    let mut live = Live {
        envs: Vec::new(),
        now: HashMap::new(),
    };
    for env in src.environments()? {
        let mut e = EnvLive {
            env,
            open: 0,
            rows: BTreeMap::new(),
        };
        for s in src.spans(&e.env)? {
            let s = s?;
            if time(&s.from).is_some() {
                let key = lineage_of.get(s.path.as_str()).copied().unwrap_or(&s.path);
                *e.rows.entry(key.to_owned()).or_default() += 1;
            }
            if s.until.is_none() {
                e.open += 1;
                live.now.entry(s.path).or_default().push(e.env.clone());
            }
        }
        live.envs.push(e);
    }
    Ok(live)
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "–".into();
    }
    format!("{}%", (part * 100 + whole / 2) / whole)
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// At most `n` characters of `s`, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
    o.push('…');
    o
}

/// One self-contained HTML page of a model held whole (its diffs already made).
pub fn html(m: &ExportModel) -> String {
    let mut out = Vec::new();
    // A held model's rows cannot fail to read and a Vec cannot fail to take bytes, so
    // there is no error to pass on here.
    let _ = write_page(m, m.entries.len(), &mut |_, _| Ok(None), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Versions listed in each lineage section (the newest ones) when the report has `prompts`
/// prompts: only their diffs are shown, so only theirs need to be made.
pub fn rows_per_lineage(prompts: usize) -> usize {
    (ROW_BUDGET / prompts.max(1)).clamp(5, ROWS_PER_LINEAGE)
}

/// Moves what `o` holds to `out`.
fn flush(o: &mut String, out: &mut dyn Write) -> Result<()> {
    out.write_all(o.as_bytes())?;
    o.clear();
    Ok(())
}

/// Writes the page of `src`, covering `entries` entries, to `out` as it is made: a first
/// read of the rows for the figures, then the overview and charts, the index (a second
/// read of each prompt's versions, for its search text) and the sections (a third, the
/// listed versions' diffs made by `diff` as each is written).
pub fn write_page(
    src: &dyn PageSource,
    entries: usize,
    diff: &mut MakeDiff<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    let m = src.header();
    let mut o = String::new();
    let title = format!(
        "Prompt audit report: {}",
        m.origin.as_deref().unwrap_or(&m.branch)
    );
    let script = SCRIPT.replace("PAGE", &INDEX_PAGE.to_string());
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; base-uri 'none'; form-action 'none'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        sha256_b64(CSS),
        sha256_b64(&script),
        esc(&title)
    );
    let _ = write!(o, "<h1>{}</h1>", esc(&title));
    let prompts = src.prompts();
    // The lineage (timeline key) of each path, to draw a prompt on one row across renames.
    let lineage_of: HashMap<&str, &str> = prompts
        .iter()
        .flat_map(|(k, names)| names.iter().map(move |n| (n.as_str(), k.as_str())))
        .collect();
    let f = figures(src, &prompts)?;
    let live = live(src, &lineage_of)?;
    overview(&mut o, m, entries, &f, &live);
    flush(&mut o, out)?;
    charts(&mut o, src, &f, &live, &lineage_of)?;
    flush(&mut o, out)?;
    index(&mut o, out, src, &prompts, &f, &live)?;
    lineages(&mut o, out, src, &prompts, &f, diff)?;
    o.push_str("<p class=\"muted\">Made by promptrail. Every row comes from a signed entry of the audit branch.</p>");
    let _ = writeln!(o, "<script>{script}</script></body></html>");
    flush(&mut o, out)
}

fn overview(o: &mut String, m: &ExportModel, entries: usize, f: &Figures, live: &Live) {
    let status_class = if m.verification.as_ref().is_some_and(|r| r.ok) {
        "ok"
    } else {
        "bad"
    };
    let _ = write!(
        o,
        "<section id=\"overview\"><p>Generated {} from the audit branch <code>{}</code>: {} entries. Verification: <span id=\"verification\" class=\"{status_class}\">{}</span>.</p>",
        esc(&m.generated_at),
        esc(&m.branch),
        entries,
        m.verified()
    );
    overview_figures(o, f, live);
    overview_verification(o, m);
    overview_unapproved(o, f);
    o.push_str("</section>");
}

/// The overview's figures: prompts, versions, approval, and deployments per environment.
fn overview_figures(o: &mut String, f: &Figures, live: &Live) {
    o.push_str("<dl class=\"figures\">");
    let mut fig = |id: &str, label: &str, value: String| {
        let _ = write!(
            o,
            "<div><dt>{label}</dt><dd id=\"fig-{id}\">{}</dd></div>",
            esc(&value)
        );
    };
    fig("prompts", "prompts", f.prompts.len().to_string());
    fig("versions", "versions", f.versions.to_string());
    fig(
        "approved",
        "approved",
        format!(
            "{} ({} of {})",
            percent(f.approved, f.versions),
            f.approved,
            f.versions
        ),
    );
    fig(
        "unapproved",
        "unapproved versions",
        f.unapproved_count.to_string(),
    );
    for (env, n) in &f.deploys {
        let open = live
            .envs
            .iter()
            .find(|e| &e.env == env)
            .map_or(0, |e| e.open);
        fig(
            &format!("deploy-{}", esc(env)),
            &format!("deployments to {}", esc(env)),
            format!("{n} ({open} live)"),
        );
    }
    o.push_str("</dl>");
}

/// The trusted keys, who signed how many entries, the findings and the signed checkpoint.
fn overview_verification(o: &mut String, m: &ExportModel) {
    o.push_str("<h2>Verification</h2><ul id=\"keys\">");
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
        let _ = write!(
            o,
            "<details id=\"checkpoint\"><summary>Signed checkpoint: {}</summary><pre>{}</pre></details>",
            esc(&clip(cp.lines().nth(1).unwrap_or(""), 40)),
            esc(cp)
        );
    }
}

/// Links to the unapproved versions (the first [`UNAPPROVED_LISTED`] of them).
fn overview_unapproved(o: &mut String, f: &Figures) {
    if f.unapproved_count > 0 {
        let _ = write!(o, "<h2>Unapproved versions</h2><ul id=\"unapproved\">");
        for (i, j, key, version) in f.unapproved.iter().take(UNAPPROVED_LISTED) {
            let _ = write!(
                o,
                "<li><a href=\"#p{i}-r{j}\"><code>{}</code> v{version}</a></li>",
                esc(key)
            );
        }
        o.push_str("</ul>");
        if f.unapproved_count > UNAPPROVED_LISTED {
            let _ = write!(
                o,
                "<p class=\"muted\">and {} more: filter the index by “with unapproved versions”.</p>",
                f.unapproved_count - UNAPPROVED_LISTED
            );
        }
    }
}

/// A span to draw: from, until (now when open), and the span.
type Drawn = (DateTime<Utc>, DateTime<Utc>, LiveSpan);

fn charts(
    o: &mut String,
    src: &dyn PageSource,
    f: &Figures,
    live: &Live,
    lineage_of: &HashMap<&str, &str>,
) -> Result<()> {
    o.push_str("<section id=\"charts\"><h2>Charts</h2>");
    let now = time(&src.header().generated_at).unwrap_or_else(Utc::now);
    for e in &live.envs {
        timeline(o, src, e, lineage_of, now)?;
    }
    versions_per_month(o, f);
    approval_coverage(o, f);
    o.push_str("</section>");
    Ok(())
}

/// One environment's timeline: a row per lineage (the [`TIMELINE_ROWS`] deployed most
/// often), a bar per span a version was live. The rows are chosen from the counts, then
/// the environment's spans are read again for the chosen rows' bars.
fn timeline(
    o: &mut String,
    src: &dyn PageSource,
    e: &EnvLive,
    lineage_of: &HashMap<&str, &str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let env = e.env.as_str();
    let total = e.rows.len();
    let mut chosen: Vec<(&str, usize)> = e.rows.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    if chosen.len() > TIMELINE_ROWS {
        chosen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        chosen.truncate(TIMELINE_ROWS);
    }
    let mut rows: BTreeMap<&str, Vec<Drawn>> =
        chosen.iter().map(|(k, _)| (*k, Vec::new())).collect();
    for s in src.spans(env)? {
        let s = s?;
        let (Some(from), until) = (time(&s.from), s.until.as_deref().map(time)) else {
            continue;
        };
        let until = until.flatten().unwrap_or(now).max(from);
        let key = lineage_of.get(s.path.as_str()).copied().unwrap_or(&s.path);
        if let Some(row) = rows.get_mut(key) {
            row.push((from, until, s));
        }
    }
    let drawn: Vec<_> = rows.into_iter().collect();
    let start = drawn
        .iter()
        .flat_map(|r| r.1.iter().map(|s| s.0))
        .min()
        .unwrap_or(now);
    let end = drawn
        .iter()
        .flat_map(|r| r.1.iter().map(|s| s.1))
        .max()
        .unwrap_or(now)
        .max(now);
    let span_secs = (end - start).num_seconds().max(1) as f64;
    let (label_w, plot_w, row_h) = (260.0, 640.0, 16.0);
    let height = drawn.len() as f64 * row_h + 24.0;
    let _ = write!(
        o,
        "<h3>Live in {}</h3><svg class=\"timeline\" data-env=\"{}\" viewBox=\"0 0 {} {height}\" role=\"img\" aria-label=\"which version of each prompt was live in {} over time\">",
        esc(env),
        esc(env),
        label_w + plot_w + 10.0,
        esc(env)
    );
    for (r, (key, spans)) in drawn.iter().enumerate() {
        let y = r as f64 * row_h;
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{}\">{}</text>",
            y + 12.0,
            esc(&clip(key, 40))
        );
        for (n, (from, until, s)) in spans.iter().enumerate() {
            let x = label_w + (*from - start).num_seconds() as f64 / span_secs * plot_w;
            let w = ((*until - *from).num_seconds() as f64 / span_secs * plot_w).max(1.5);
            let _ = write!(
                o,
                "<rect class=\"live{}\" x=\"{x:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\"><title>{} v{} from {} until {} (entry #{})</title></rect>",
                if n % 2 == 1 { " alt" } else { "" },
                y + 2.0,
                row_h - 4.0,
                esc(&s.path),
                s.version,
                esc(&s.from),
                esc(s.until.as_deref().unwrap_or("now")),
                s.entry
            );
            if w >= 26.0 {
                let _ = write!(
                    o,
                    "<text class=\"v\" x=\"{:.1}\" y=\"{}\">v{}</text>",
                    x + 3.0,
                    y + 12.0,
                    s.version
                );
            }
        }
    }
    let axis_y = drawn.len() as f64 * row_h + 4.0;
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"{label_w}\" x2=\"{}\" y1=\"{axis_y}\" y2=\"{axis_y}\"/><text x=\"{label_w}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
        label_w + plot_w,
        axis_y + 14.0,
        start.format("%Y-%m-%d"),
        label_w + plot_w,
        axis_y + 14.0,
        end.format("%Y-%m-%d")
    );
    if total > drawn.len() {
        let _ = write!(
            o,
            "<p class=\"muted\">The {} prompts deployed most often to {} of {total}; the index and each prompt's section have the rest.</p>",
            drawn.len(),
            esc(env)
        );
    }
    Ok(())
}

/// Versions per month, every month from the first to the last (empty ones too).
fn versions_per_month(o: &mut String, f: &Figures) {
    let months = &f.months;
    if let (Some(&first), Some(&last)) = (months.keys().next(), months.keys().next_back()) {
        let mut all = Vec::new();
        let (mut y, mut mo) = first;
        while (y, mo) <= last {
            all.push(((y, mo), months.get(&(y, mo)).copied().unwrap_or(0)));
            (y, mo) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
        }
        let max = all.iter().map(|a| a.1).max().unwrap_or(1).max(1) as f64;
        let (w, h) = (900.0, 140.0);
        let bw = w / all.len() as f64;
        let _ = write!(
            o,
            "<h3>Versions per month</h3><svg id=\"per-month\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"versions per month\">",
            h + 18.0
        );
        for (n, ((y, mo), c)) in all.iter().enumerate() {
            let bh = *c as f64 / max * h;
            let _ = write!(
                o,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{y}-{mo:02}: {c} versions</title></rect>",
                n as f64 * bw + bw * 0.1,
                h - bh,
                bw * 0.8
            );
        }
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{}\">{}-{:02}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}-{:02}</text></svg>",
            h + 14.0,
            first.0,
            first.1,
            h + 14.0,
            last.0,
            last.1
        );
    }
}

/// Approval coverage: one bar, approved against not.
fn approval_coverage(o: &mut String, f: &Figures) {
    if f.versions > 0 {
        let w = 900.0;
        let aw = f.approved as f64 / f.versions as f64 * w;
        let _ = write!(
            o,
            "<h3>Approval coverage</h3><svg id=\"coverage\" viewBox=\"0 0 {w} 40\" role=\"img\" aria-label=\"approval coverage\">\
<rect class=\"cov-ok\" x=\"0\" y=\"0\" width=\"{aw:.1}\" height=\"22\"><title>{} approved</title></rect>\
<rect class=\"cov-bad\" x=\"{aw:.1}\" y=\"0\" width=\"{:.1}\" height=\"22\"><title>{} not approved</title></rect>\
<text x=\"0\" y=\"36\">{} of {} versions approved ({})</text></svg>",
            f.approved,
            w - aw,
            f.versions - f.approved,
            f.approved,
            f.versions,
            percent(f.approved, f.versions)
        );
    }
}

/// The environments a lineage is live in now.
fn live_now<'a>(now: &'a HashMap<String, Vec<String>>, names: &[String]) -> Vec<&'a str> {
    let mut envs: Vec<&str> = names
        .iter()
        .filter_map(|n| now.get(n.as_str()))
        .flatten()
        .map(String::as_str)
        .collect();
    envs.sort_unstable();
    envs.dedup();
    envs
}

fn index(
    o: &mut String,
    out: &mut dyn Write,
    src: &dyn PageSource,
    prompts: &[(String, Vec<String>)],
    f: &Figures,
    live: &Live,
) -> Result<()> {
    o.push_str("<section id=\"prompts\"><h2>Prompts</h2><div class=\"controls\">\
<input id=\"q\" type=\"search\" placeholder=\"search prompt paths, former paths, authors\" aria-label=\"search prompts\">\
<select id=\"only\" aria-label=\"filter\"><option value=\"\">all prompts</option><option value=\"unapproved\">with unapproved versions</option>\
<option value=\"deployed\">live somewhere</option><option value=\"renamed\">renamed</option></select>\
<select id=\"env\" aria-label=\"environment\"><option value=\"\">any environment</option>");
    for e in &live.envs {
        let _ = write!(
            o,
            "<option value=\"{}\">live in {}</option>",
            esc(&e.env),
            esc(&e.env)
        );
    }
    let _ = write!(
        o,
        "</select><span id=\"index-count\" class=\"muted\">{} prompts</span>\
<span class=\"pager\"><button id=\"prev\" type=\"button\">previous</button> <button id=\"next\" type=\"button\">next</button></span></div>\
<table id=\"index\"><thead><tr><th>prompt</th><th>formerly</th><th>versions</th><th>approved</th><th>last change</th><th>live in</th></tr></thead><tbody>",
        prompts.len()
    );
    for (i, ((key, names), t)) in prompts.iter().zip(&f.prompts).enumerate() {
        let approved = t.approved;
        let former: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| n != key)
            .collect();
        let envs = live_now(&live.now, names);
        let mut search = names.join(" ");
        for row in src.versions(key)? {
            for a in &row?.0.authors {
                search.push(' ');
                search.push_str(a);
            }
        }
        let _ = write!(
            o,
            "<tr data-s=\"{}\" data-unapproved=\"{}\" data-renamed=\"{}\" data-envs=\"{}\"><td><a href=\"#p{i}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td class=\"{}\">{approved} of {}</td><td>{}</td><td>{}</td></tr>",
            esc(&search.to_lowercase()),
            t.versions - approved,
            u8::from(!former.is_empty()),
            esc(&envs.join("\n")),
            esc(key),
            former
                .iter()
                .map(|n| format!("<code>{}</code>", esc(n)))
                .collect::<Vec<_>>()
                .join(", "),
            t.versions,
            if approved == t.versions { "ok" } else { "bad" },
            t.versions,
            esc(&t.last_landed),
            esc(&envs.join(", "))
        );
        flush(o, out)?;
    }
    o.push_str("</tbody></table></section>");
    Ok(())
}

fn lineages(
    o: &mut String,
    out: &mut dyn Write,
    src: &dyn PageSource,
    prompts: &[(String, Vec<String>)],
    f: &Figures,
    diff: &mut MakeDiff<'_>,
) -> Result<()> {
    o.push_str("<section id=\"lineages\"><h2>Each prompt's history</h2>");
    let per = rows_per_lineage(prompts.len());
    for (i, ((key, names), t)) in prompts.iter().zip(&f.prompts).enumerate() {
        let former: Vec<String> = names
            .iter()
            .filter(|n| *n != key)
            .map(|n| format!("<code>{}</code>", esc(n)))
            .collect();
        let _ = write!(
            o,
            "<details class=\"lineage\" id=\"p{i}\"><summary><code>{}</code> · {} versions{}</summary>",
            esc(key),
            t.versions,
            if former.is_empty() {
                String::new()
            } else {
                format!(" · formerly {}", former.join(", "))
            }
        );
        let skip = t.versions.saturating_sub(per);
        if skip > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">The newest {per} versions; {skip} older ones are in the CSV and JSON exports and <code>promptrail log --prompt</code>.</p>"
            );
        }
        o.push_str("<table><tr><th>version</th><th>path</th><th>change</th><th>landed</th><th>commit</th><th>authors</th><th>approved by</th><th>entry</th></tr>");
        for (j, row) in src.versions(key)?.enumerate().skip(skip) {
            let (v, source) = row?;
            let approval = if v.approved {
                format!("<span class=\"ok\">{}</span>", esc(&v.approvers.join(", ")))
            } else {
                "<span class=\"bad\">not approved</span>".into()
            };
            let _ = write!(
                o,
                "<tr id=\"p{i}-r{j}\"><td>v{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{approval}</td><td>#{}</td></tr>",
                v.version,
                esc(&v.path),
                esc(&v.change),
                esc(&v.landed_at),
                esc(&clip(&v.commit, 12)),
                esc(&v.authors.join(", ")),
                v.entry
            );
            let made = match &source {
                Some(d) => diff(&v, d)?,
                None => v.diff,
            };
            if let Some(d) = &made {
                // Inert until opened: the script clones the template into the details.
                let _ = write!(
                    o,
                    "<tr><td colspan=\"8\"><details class=\"diff\" data-diff=\"d{i}-{j}\"><summary>diff of v{}</summary></details><template id=\"d{i}-{j}\"><pre class=\"diff-text\">",
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
                o.push_str("</pre></template></td></tr>");
            }
            flush(o, out)?;
        }
        o.push_str("</table>");
        if t.deployments > 0 {
            o.push_str("<table><tr><th>environment</th><th>event</th><th>path</th><th>version</th><th>when</th><th>by</th><th>entry</th></tr>");
            let skip = t.deployments.saturating_sub(per);
            for d in src.deployments(key)?.skip(skip) {
                let d = d?;
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}{}</td><td><code>{}</code></td><td>v{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
                    esc(&d.environment),
                    esc(&d.event),
                    d.replaces
                        .map(|r| format!(" (replaces v{r})"))
                        .unwrap_or_default(),
                    esc(&d.path),
                    d.version,
                    esc(&d.at),
                    esc(&d.actor),
                    d.entry
                );
            }
            o.push_str("</table>");
        }
        o.push_str("</details>");
        flush(o, out)?;
    }
    o.push_str("</section>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{clip, esc, percent};

    #[test]
    fn escapes_every_character_that_could_break_out() {
        assert_eq!(
            esc("</style><script>\"x\"'y'&"),
            "&lt;/style&gt;&lt;script&gt;&quot;x&quot;&#39;y&#39;&amp;"
        );
    }

    #[test]
    fn clips_on_character_boundaries_and_rounds_percentages() {
        assert_eq!(clip("ääääää", 3), "ää…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(percent(2, 3), "67%");
        assert_eq!(percent(0, 0), "–");
    }
}
