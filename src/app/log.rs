//! `promptrail log`: the audit log's entries, optionally for one prompt.

use std::path::Path;

use anyhow::Result;

use std::io::Write as _;

use super::{DecodedEntry, ListedLog, Outcome, Workspace, indexed, print_json};
use crate::cli::{Format, LogArgs};
use crate::ledger::Lineages;
use crate::report::views::EntryView;
use crate::report::{plain, stream};
use crate::types::PromptPath;

pub fn run(dir: &Path, args: &LogArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let since = super::parse_time("since", &args.since)?;
    let env = args.env.as_deref().map(|e| ws.environment(e)).transpose()?;
    if args.prompt.is_none() && env.is_none() && since.is_none() {
        return whole_log(&ws, &branch, args.format.format);
    }
    // From the state summary: the prompt's lineage, the environment's deployments, the
    // entries since a time; the filters below then run as on the whole log.
    let prompt = args.prompt.as_ref().map(PromptPath::new);
    let decoded = indexed::entries(&ws, &branch, |view| {
        // Lineages are assigned over the prompt's whole history: no cut before that.
        if let Some(p) = &prompt {
            return Ok(Some(indexed::lineage_entries(view, p)?));
        }
        let start = match since {
            Some(t) => indexed::first_since(view, t)?,
            None => 0,
        };
        let picked = match &env {
            Some(e) => view.env_entries_from(e, crate::types::EntryIndex(start))?,
            None if since.is_some() => (start..view.size()).map(crate::types::EntryIndex).collect(),
            None => return Ok(None),
        };
        Ok(Some(picked.into_iter().filter(|i| i.0 >= start).collect()))
    })?;
    let mut entries: Vec<crate::report::views::EntryView> =
        decoded.iter().map(DecodedEntry::view).collect();
    if let Some(p) = &args.prompt {
        let p = PromptPath::new(p);
        if args.follow.no_follow {
            // This path only: its own events and the rename that took it away.
            entries.retain(|e| {
                e.prompts
                    .iter()
                    .any(|r| r.path == p || r.previous_path.as_ref() == Some(&p))
            });
        } else {
            // The prompt across renames: every event of its lineage, under any name.
            let (lineages, ids) =
                Lineages::assign(entries.iter().map(|e| (e.event, e.prompts.as_slice())));
            let wanted = lineages.of(&p);
            let mut keep = ids
                .iter()
                .map(|ids| ids.iter().any(|id| Some(*id) == wanted));
            entries.retain(|_| keep.next().unwrap_or(false));
        }
    }
    // After the prompt's lineage, which needs the whole log to follow renames.
    if let Some(env) = &env {
        entries.retain(|e| e.deployment.as_ref().is_some_and(|d| &d.environment == env));
    }
    if let Some(since) = since {
        entries.retain(|e| {
            chrono::DateTime::parse_from_rfc3339(&e.recorded_at).is_ok_and(|t| t >= since)
        });
    }
    match args.format.format {
        Format::Json => print_json(&entries)?,
        Format::Text => print!("{}", plain::log(&entries)),
    }
    Ok(Outcome::Ok)
}

/// The whole log, streamed: entries decoded and printed a window at a time, so that memory
/// stays constant whatever the log's length (the output is what the filtered path prints).
fn whole_log(ws: &Workspace, branch: &str, format: Format) -> Result<Outcome> {
    let log = ListedLog::open(ws, branch)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut array = stream::Array::new(0);
    let mut any = false;
    log.for_each_window(ws, |window| {
        for DecodedEntry {
            file,
            signed_by: key,
            statement: st,
        } in window
        {
            let view = EntryView::new(file, key.clone(), st);
            match format {
                Format::Json => array.push(&mut out, &view)?,
                Format::Text => writeln!(out, "{}", plain::entry_row(&view))?,
            }
            any = true;
        }
        Ok(())
    })?;
    match format {
        Format::Json => {
            array.finish(&mut out)?;
            out.write_all(b"\n")?;
        }
        Format::Text if !any => out.write_all(b"no entries\n")?,
        Format::Text => {}
    }
    out.flush()?;
    Ok(Outcome::Ok)
}
