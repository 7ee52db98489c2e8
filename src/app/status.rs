//! `promptrail status`: each live prompt's version and whether the audit log has it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::{Outcome, Workspace, print_json};
use crate::attestation::predicate::EventType;
use crate::cli::{Format, StatusArgs};
use crate::git::TreeEntry;
use crate::history::History;
use crate::prompt::PromptMatcher;
use crate::report::plain;
use crate::report::views::{PendingEvent, PromptStatus, StatusView};
use crate::store::decode_entry;
use crate::summary::StateView;
use crate::types::{Oid, PromptPath, Version};

pub fn run(dir: &Path, args: &StatusArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let matcher = ws.matcher()?;
    let (name, target) = ws.target_commit(None)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let tree = ws.prompt_files(&target, &matcher)?;
    let (answer, mut summary) = from_summary(&ws, &branch, &target, &tree, &matcher)?;
    let answer = match (answer, &mut summary) {
        (Some((prompts, size)), _) => Some((prompts, Vec::new(), size)),
        // Something is not recorded yet: read only the commits after the last recorded one.
        (None, Some(view)) => since_last(&ws, view, &target, &tree, &matcher)?
            .map(|(prompts, unrecorded)| (prompts, unrecorded, view.size())),
        (None, None) => None,
    };
    if let Some((prompts, unrecorded, log_entries)) = answer {
        let view = StatusView {
            branch: name,
            commit: target.clone(),
            audit_branch: branch,
            log_entries,
            prompts,
            unrecorded,
            warnings: unmatched(&matcher, &tree, &target),
        };
        return print(&view, args);
    }
    let history = History::scan(&ws.git, &target, &matcher)?;
    let store = ws.store(&branch);

    // Newest recorded version per path, and where recording stopped: from the believed
    // summary when the commit it names as recorded last is on this history (the live
    // prompts' heads), else from every entry of the log.
    let mut recorded: HashMap<PromptPath, Version> = HashMap::new();
    let mut resume: Option<usize> = None;
    let mut log_entries = 0;
    let summarised = match summary {
        Some(mut view) => {
            recorded_from_summary(&mut view, &history)?.map(|(r, at)| (r, at, view.size()))
        }
        None => None,
    };
    if let Some((from_summary, at, size)) = summarised {
        recorded = from_summary;
        resume = Some(at);
        log_entries = size;
    } else if let Some(tip) = store.local_tip()? {
        store.read_meta(&tip)?;
        let entries = store.read_all(&tip)?.entries;
        log_entries = entries.len() as u64;
        for e in &entries {
            let Ok((_, st)) = decode_entry(&e.bytes) else {
                continue;
            };
            match st.predicate.event {
                EventType::Version => {}
                EventType::Deployment | EventType::Rollback => continue,
            }
            for p in &st.predicate.prompts {
                recorded.insert(p.path.clone(), p.version);
                if let Some(pos) = history.position(&p.commit) {
                    resume = Some(resume.map_or(pos, |r: usize| r.max(pos)));
                }
            }
        }
    }

    let warnings = unmatched(&matcher, &tree, &target);
    let view = StatusView {
        branch: name,
        commit: target,
        audit_branch: branch,
        log_entries,
        prompts: history
            .live
            .iter()
            .map(|(path, version, _)| PromptStatus {
                path: path.clone(),
                version: *version,
                recorded: recorded.get(path).copied(),
            })
            .collect(),
        unrecorded: pending(&history, resume),
        warnings,
    };
    print(&view, args)
}

/// The events of `history` after position `resume` (all of them for `None`).
fn pending(history: &History, resume: Option<usize>) -> Vec<PendingEvent> {
    history
        .events
        .iter()
        .filter(|e| resume.is_none_or(|r| e.commit > r))
        .map(|e| PendingEvent {
            path: e.path.clone(),
            version: e.kind.version(),
            change: e.kind.name().to_owned(),
            commit: history.commits[e.commit].oid.clone(),
        })
        .collect()
}

/// The live prompts and the events not recorded yet, from the history since the commit
/// the believed summary names as recorded last: a prompt the new commits touch (or its
/// lineage) gets its version from that history, any other from its head, which must hold
/// the tree's content. `None` (read the whole history) when that history cannot be read
/// from the summary, or a head disagrees with the tree.
fn since_last(
    ws: &Workspace,
    view: &mut StateView,
    target: &Oid,
    tree: &[TreeEntry],
    matcher: &PromptMatcher,
) -> Result<Option<(Vec<PromptStatus>, Vec<PendingEvent>)>> {
    let Some(base) = view.index().last_version_commit.clone() else {
        return Ok(None);
    };
    let decode = |e: &crate::store::StoredEntry| {
        e.decode()
            .map(|(_, st)| st)
            .map_err(|why| anyhow::anyhow!("{}: {why}", e.path))
    };
    let Ok(history) = super::since::history_since(ws, view, (&base, target), matcher, decode)?
    else {
        return Ok(None);
    };
    let mut prompts = Vec::new();
    for (path, version, _) in &history.live {
        prompts.push(PromptStatus {
            path: path.clone(),
            version: *version,
            recorded: view.head(path)?.and_then(|h| h.latest).map(|v| v.version),
        });
    }
    for e in tree
        .iter()
        .filter(|e| e.kind == "blob" && matcher.matches(&e.path))
    {
        let Ok(path) = PromptPath::from_git_bytes(&e.path) else {
            return Ok(None);
        };
        if history.knows(&path) {
            continue;
        }
        let newest = view.head(&path)?.and_then(|h| {
            h.latest
                .filter(|v| v.git_blob == e.oid && h.present)
                .map(|v| v.version)
        });
        let Some(version) = newest else {
            return Ok(None);
        };
        prompts.push(PromptStatus {
            path,
            version,
            recorded: Some(version),
        });
    }
    prompts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some((prompts, pending(&history, None))))
}

fn print(view: &StatusView, args: &StatusArgs) -> Result<Outcome> {
    for w in &view.warnings {
        eprintln!("warning: {w}");
    }
    match args.format.format {
        Format::Json => print_json(view)?,
        Format::Text => print!("{}", plain::status(view)),
    }
    Ok(Outcome::Ok)
}

fn unmatched(matcher: &PromptMatcher, tree: &[TreeEntry], target: &Oid) -> Vec<String> {
    matcher
        .unmatched_patterns(tree.iter().map(|e| e.path.as_slice()))
        .into_iter()
        .map(|pattern| {
            format!(
                "prompts.include pattern `{pattern}` matches no file at {}",
                target.short()
            )
        })
        .collect()
}

/// The live prompts' newest recorded versions from the summary's heads, and the position
/// on `history` of the commit recorded last; `None` when that commit is not on it (the
/// branch was rewritten, or nothing is recorded): the log is read instead.
fn recorded_from_summary(
    view: &mut StateView,
    history: &History,
) -> Result<Option<(HashMap<PromptPath, Version>, usize)>> {
    let Some(at) = view
        .index()
        .last_version_commit
        .as_ref()
        .and_then(|c| history.position(c))
    else {
        return Ok(None);
    };
    let mut recorded = HashMap::new();
    for (path, _, _) in &history.live {
        if let Some(v) = view.head(path)?.and_then(|h| h.latest) {
            recorded.insert(path.clone(), v.version);
        }
    }
    Ok(Some((recorded, at)))
}

/// What [`from_summary`] found: the answer, else the believed summary (if any) for the
/// slow path to use.
type FromSummary = (Option<(Vec<PromptStatus>, u64)>, Option<StateView>);

/// Status from the state summary, when the log is recorded up to `target` (its newest
/// version entry names it, as `record`'s fast path asks): every prompt file in the tree is
/// then at its newest recorded version. No answer (read history) otherwise, or when the
/// summary disagrees with the tree.
fn from_summary(
    ws: &Workspace,
    branch: &str,
    target: &Oid,
    tree: &[TreeEntry],
    matcher: &PromptMatcher,
) -> Result<FromSummary> {
    if ws.store(branch).local_tip()?.is_none() {
        return Ok((None, None));
    }
    let Some(mut view) = super::indexed::believed(ws, branch)? else {
        return Ok((None, None));
    };
    if view.index().last_version_commit.as_ref() != Some(target) {
        return Ok((None, Some(view)));
    }
    let mut prompts = Vec::new();
    for e in tree
        .iter()
        .filter(|e| e.kind == "blob" && matcher.matches(&e.path))
    {
        let Ok(path) = PromptPath::from_git_bytes(&e.path) else {
            return Ok((None, Some(view)));
        };
        // The head's newest version record that is not a deletion, read from its shard.
        let newest = view.head(&path)?.and_then(|h| {
            h.latest
                .filter(|v| v.git_blob == e.oid && h.present)
                .map(|v| v.version)
        });
        let Some(version) = newest else {
            return Ok((None, Some(view)));
        };
        prompts.push(PromptStatus {
            path,
            version,
            recorded: Some(version),
        });
    }
    prompts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((Some((prompts, view.size())), None))
}
