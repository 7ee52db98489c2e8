//! `promptrail export`: the audit log as a report for compliance.
//!
//! Every format reads the log a window of entries at a time ([`ListedLog`]) and keeps only
//! what later rows need: CSV and OCSF rows are written as their entry is read; JSON streams
//! its `entries` and keeps, per prompt, its version and deployment rows without their diffs
//! (each diff is made when its prompt is written); Markdown keeps the same rows, and so does
//! the HTML page, which reads them back once for its figures and again for each part that
//! lists them. `pack` writes a directory of them for an auditor.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;

use super::trust::trust;
use super::verified::verify_listed;
use super::{DecodedEntry, ListedLog, Outcome, Workspace};
use crate::cli::{ExportArgs, ExportFormat};
use crate::report::export::{
    self, DeployRow, DiffSource, ExportModel, Filter, Gathered, LiveSpan, Timelines, VersionRow,
};
use crate::report::html::{self, PageSource, Rows};
use crate::report::views::EntryView;
use crate::report::{ocsf, stream};
use crate::signing::Trust;
use crate::types::Sha256Hex;
use crate::verify::Report;

mod pack;

pub fn run(dir: &Path, args: &ExportArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    if let Some(env) = &args.env {
        ws.environment(env)?;
    }
    let filter = Filter {
        since: super::parse_time("since", &args.since)?,
        until: super::parse_time("until", &args.until)?,
        env: args.env.clone(),
    };
    let trust = trust(&ws, &args.trust)?;
    let log = ListedLog::open(&ws, &branch)?;
    let verification = if trust.is_empty() {
        None
    } else {
        Some(verify_listed(&ws, &log.tip, &log.listing, &trust, None)?)
    };
    let report = Run {
        ws: &ws,
        log: &log,
        filter: &filter,
        follow: !args.follow.no_follow,
        header: header(&ws, &log, &trust, verification)?,
    };
    if args.format == ExportFormat::Pack {
        let Some(out) = &args.out else {
            anyhow::bail!("--format pack writes a directory: give it with --out DIR");
        };
        return pack::write(&report, out, args.force);
    }
    write_output(args.out.as_deref(), |out| report.render(args.format, out))?;
    Ok(Outcome::Ok)
}

/// Writes to `path` through a temporary file beside it, renamed into place once complete
/// (a failure leaves no partial report under the name), or streams to stdout.
fn write_output(
    path: Option<&Path>,
    render: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match path {
        Some(f) => {
            write_file(f, render)?;
            eprintln!("wrote {}", f.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// `render` into `f`, atomically: a temporary sibling renamed over `f` when complete. A
/// target that exists and is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) is
/// written into as it is: renaming over it would replace the device or pipe with a file.
fn write_file(f: &Path, render: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if std::fs::metadata(f).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(f)
            .with_context(|| format!("opening {}", f.display()))?;
        let mut out = std::io::BufWriter::new(file);
        render(&mut out)?;
        return out
            .flush()
            .with_context(|| format!("writing {}", f.display()));
    }
    let name = f
        .file_name()
        .with_context(|| format!("{} names no file", f.display()))?;
    let tmp = f.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        render(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&tmp, f).with_context(|| format!("writing {}", f.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The part of the model every format opens with.
fn header(
    ws: &Workspace,
    log: &ListedLog,
    trust: &Trust,
    verification: Option<Report>,
) -> Result<ExportModel> {
    let first_origin = || -> Result<Option<String>> {
        if log.listing.entries.is_empty() {
            return Ok(None);
        }
        Ok(log
            .read_at(ws, &[0])?
            .first()
            .map(|DecodedEntry { statement: st, .. }| st.predicate.log.origin.clone()))
    };
    let origin = match verification.as_ref().and_then(|r| r.origin.clone()) {
        Some(o) => Some(o),
        None => first_origin()?,
    };
    Ok(ExportModel {
        generated_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        branch: log.branch.clone(),
        origin,
        verification,
        trusted_keys: trust
            .keys
            .iter()
            .map(|k| format!("{} ({})", k.key_id, k.source))
            .chain(
                trust
                    .keyless
                    .iter()
                    .map(|k| format!("keyless: {} ({})", k.policy.describe(), k.root_name)),
            )
            .collect(),
        checkpoint: log
            .listing
            .checkpoint
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned()),
        entries: Vec::new(),
        prompts: BTreeMap::new(),
        live: BTreeMap::new(),
    })
}

/// One export run's inputs.
struct Run<'a> {
    ws: &'a Workspace,
    log: &'a ListedLog,
    filter: &'a Filter,
    follow: bool,
    header: ExportModel,
}

/// A version's unified diff from git: `None` when either text is not in this clone.
fn diff_of(
    reader: &mut crate::git::ObjectReader,
    v: &VersionRow,
    d: &DiffSource,
) -> Result<Option<String>> {
    let new_text = reader
        .read(&d.new)?
        .map(|o| String::from_utf8_lossy(&o.data).into_owned());
    let old_text = match &d.old {
        Some(o) => reader
            .read(o)?
            .map(|o| String::from_utf8_lossy(&o.data).into_owned()),
        None => Some(String::new()),
    };
    Ok(match (old_text, new_text) {
        (Some(a), Some(b)) => Some(
            similar::TextDiff::from_lines(&a, &b)
                .unified_diff()
                .header(&d.before, &v.path)
                .to_string(),
        ),
        _ => None,
    })
}

impl Run<'_> {
    fn render(&self, format: ExportFormat, out: &mut dyn Write) -> Result<()> {
        match format {
            ExportFormat::Csv => self.csv(out),
            ExportFormat::Ocsf => self.ocsf(out),
            ExportFormat::Json => self.json(out),
            ExportFormat::Md => self.markdown(out),
            ExportFormat::Html => self.html(out),
            ExportFormat::Pack => anyhow::bail!("a pack is a directory, not a stream"),
        }
    }

    fn csv(&self, out: &mut dyn Write) -> Result<()> {
        out.write_all(export::CSV_HEADER.as_bytes())?;
        self.log.for_each_window(self.ws, |window| {
            for DecodedEntry {
                file,
                signed_by: key,
                statement: st,
            } in window
                .iter()
                .filter(|DecodedEntry { statement: st, .. }| self.filter.keeps(st))
            {
                let view = EntryView::new(file, key.clone(), st);
                out.write_all(export::csv_rows(&view).as_bytes())?;
            }
            Ok(())
        })
    }

    fn ocsf(&self, out: &mut dyn Write) -> Result<()> {
        self.log.for_each_stored(self.ws, |window| {
            for (
                stored,
                DecodedEntry {
                    file,
                    statement: st,
                    ..
                },
            ) in window
            {
                if !self.filter.keeps(st) {
                    continue;
                }
                let sha256 = Sha256Hex::of(&stored.bytes);
                let entry = ocsf::EntryRef {
                    file,
                    sha256: &sha256,
                    branch: &self.log.branch,
                };
                for ev in ocsf::events(&entry, st) {
                    serde_json::to_writer(&mut *out, &ev)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(())
        })
    }

    /// One pass over the log: every row set aside by prompt and environment.
    fn gather(&self, mut each: impl FnMut(&DecodedEntry) -> Result<()>) -> Result<Gathered> {
        let mut timelines = Timelines::new(self.follow);
        self.log.for_each_window(self.ws, |window| {
            for e in window {
                timelines.observe(self.filter, &e.statement)?;
                each(e)?;
            }
            Ok(())
        })?;
        Ok(timelines.finish(self.filter))
    }

    /// The HTML page, written as it is made from the rows set aside (each prompt's read
    /// back once per part of the page that shows it), the diffs made only for the versions
    /// the page lists (each lineage's newest [`html::rows_per_lineage`]).
    fn html(&self, out: &mut dyn Write) -> Result<()> {
        let mut count = 0;
        let gathered = self.gather(|e| {
            count += usize::from(self.filter.keeps(&e.statement));
            Ok(())
        })?;
        let mut reader = self.ws.git.object_reader()?;
        let page = Page {
            header: &self.header,
            gathered: &gathered,
        };
        html::write_page(&page, count, &mut |v, d| diff_of(&mut reader, v, d), out)
    }

    /// The Markdown summary, its sections written from the rows set aside.
    fn markdown(&self, out: &mut dyn Write) -> Result<()> {
        {
            let mut count = 0;
            let gathered = self.gather(|e| {
                count += usize::from(self.filter.keeps(&e.statement));
                Ok(())
            })?;
            out.write_all(export::markdown_head(&self.header, count).as_bytes())?;
            for env in gathered.live.environments() {
                let mut any = false;
                for s in gathered.live.spans(env)? {
                    if !any {
                        out.write_all(export::markdown_live_head(env).as_bytes())?;
                        any = true;
                    }
                    out.write_all(export::markdown_span(&s?).as_bytes())?;
                }
                if any {
                    out.write_all(b"\n")?;
                }
            }
            for (path, p) in &gathered.prompts {
                out.write_all(export::markdown_prompt_head(path).as_bytes())?;
                for row in gathered.versions(p)? {
                    out.write_all(export::markdown_version(&row?.0).as_bytes())?;
                }
                out.write_all(b"\n")?;
            }
            Ok(())
        }
    }

    /// The JSON document, byte for byte `serde_json`'s pretty form of the whole model
    /// (plus a newline), written as it is read: `entries` as the log is read, then each
    /// prompt's rows (each diff made as its row is written) and the live spans from where
    /// they were set aside.
    fn json(&self, out: &mut dyn Write) -> Result<()> {
        let h = &self.header;
        let mut doc = stream::Object::new(0);
        doc.member(out, "generatedAt", &h.generated_at)?;
        doc.member(out, "branch", &h.branch)?;
        doc.member(out, "origin", &h.origin)?;
        doc.member(out, "verification", &h.verification)?;
        doc.member(out, "trustedKeys", &h.trusted_keys)?;
        doc.member(out, "checkpoint", &h.checkpoint)?;
        doc.key(out, "entries")?;
        let mut entries = stream::Array::new(1);
        let gathered = self.gather(|e| {
            if self.filter.keeps(&e.statement) {
                entries.push(
                    &mut *out,
                    &EntryView::new(&e.file, e.signed_by.clone(), &e.statement),
                )?;
            }
            Ok(())
        })?;
        entries.finish(out)?;
        doc.key(out, "prompts")?;
        let mut map = stream::Object::new(1);
        let mut reader = self.ws.git.object_reader()?;
        for (name, p) in &gathered.prompts {
            map.key(out, name)?;
            let mut t = stream::Object::new(2);
            t.member(out, "names", &p.names())?;
            t.key(out, "versions")?;
            let mut versions = stream::Array::new(3);
            for row in gathered.versions(p)? {
                let (mut v, d) = row?;
                if let Some(d) = &d {
                    v.diff = diff_of(&mut reader, &v, d)?;
                }
                versions.push(out, &v)?;
            }
            versions.finish(out)?;
            t.key(out, "deployments")?;
            let mut deployments = stream::Array::new(3);
            for d in gathered.deployments(p)? {
                deployments.push(out, &d?)?;
            }
            deployments.finish(out)?;
            t.finish(out)?;
        }
        map.finish(out)?;
        doc.key(out, "live")?;
        let mut live = stream::Object::new(1);
        for env in gathered.live.environments() {
            let mut spans: Option<stream::Array> = None;
            for s in gathered.live.spans(env)? {
                let s = s?;
                let arr = match &mut spans {
                    Some(a) => a,
                    None => {
                        live.key(out, env)?;
                        spans.insert(stream::Array::new(2))
                    }
                };
                arr.push(out, &s)?;
            }
            if let Some(a) = spans {
                a.finish(out)?;
            }
        }
        live.finish(out)?;
        doc.finish(out)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

/// The HTML page's rows: the header, and what one pass over the log set aside.
struct Page<'a> {
    header: &'a ExportModel,
    gathered: &'a Gathered,
}

impl PageSource for Page<'_> {
    fn header(&self) -> &ExportModel {
        self.header
    }

    fn prompts(&self) -> Vec<(String, Vec<String>)> {
        self.gathered
            .prompts
            .iter()
            .map(|(k, p)| (k.clone(), p.names()))
            .collect()
    }

    fn versions(&self, key: &str) -> Result<Rows<'_, (VersionRow, Option<DiffSource>)>> {
        Ok(match self.gathered.prompts.get(key) {
            Some(p) => Box::new(self.gathered.versions(p)?),
            None => Box::new(std::iter::empty()),
        })
    }

    fn deployments(&self, key: &str) -> Result<Rows<'_, DeployRow>> {
        Ok(match self.gathered.prompts.get(key) {
            Some(p) => Box::new(self.gathered.deployments(p)?),
            None => Box::new(std::iter::empty()),
        })
    }

    /// The environments with a span in the report's range (as [`LiveReport::collect`]
    /// keeps them).
    fn environments(&self) -> Result<Vec<String>> {
        let live = &self.gathered.live;
        let mut out = Vec::new();
        for env in live.environments() {
            if live.spans(env)?.next().is_some() {
                out.push(env.to_owned());
            }
        }
        Ok(out)
    }

    fn spans(&self, env: &str) -> Result<Rows<'_, LiveSpan>> {
        Ok(Box::new(self.gathered.live.spans(env)?))
    }
}
