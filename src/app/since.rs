//! The protected branch's history since the audit log's last recorded commit, with the
//! lineages of the prompts the new commits touch seeded from the believed state summary:
//! what `record` and `status` read when the log is behind, at a cost that follows the new
//! commits and the prompts they touch, not the branch's length. Any doubt — the commit is
//! not on the first-parent line, the summary cannot seed a lineage, a replayed event is not
//! the one its lineage gives — answers `Err(why)`: the caller reads the whole history
//! instead. Where the seed disagrees with the commit's tree (the prompt globs changed), the
//! log's lineages are continued: versions are numbered per prompt in log order.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};

use super::Workspace;
use crate::attestation::Statement;
use crate::attestation::predicate::{ChangeType, EventType, PromptRecord};
use crate::history::{EventKind, History, Recorded, Seed};
use crate::prompt::PromptMatcher;
use crate::state::history_file;
use crate::store::StoredEntry;
use crate::summary::StateView;
use crate::types::{EntryIndex, Oid, PromptPath, Version};

/// The history after `base` (the log's last recorded commit) up to `tip`. `view` must be
/// believed (checked against its signed checkpoint) and cover the log up to `base`;
/// `decode` turns an entry file into its statement (and may refuse it, e.g. unless a
/// trusted key signed it).
pub(crate) fn history_since(
    ws: &Workspace,
    view: &mut StateView,
    (base, tip): (&Oid, &Oid),
    matcher: &PromptMatcher,
    mut decode: impl FnMut(&StoredEntry) -> Result<Statement>,
) -> Result<Result<History, String>> {
    if ws.git.resolve_commit(base.as_str())?.is_none() {
        return Ok(Err(format!("this clone does not have {base}")));
    }
    History::scan_since(&ws.git, tip, base, matcher, |touched| {
        Ok(seed(view, touched, &mut decode)
            .map_err(|e| format!("the state summary cannot seed its lineages: {e:#}")))
    })
}

/// The lineages of `touched` and of every path a rename linked to one of them, replayed
/// from the version entries the summary lists for those paths.
fn seed(
    view: &mut StateView,
    touched: &BTreeSet<PromptPath>,
    decode: &mut impl FnMut(&StoredEntry) -> Result<Statement>,
) -> Result<Seed> {
    let mut paths: BTreeSet<PromptPath> = BTreeSet::new();
    let mut todo: Vec<PromptPath> = touched.iter().cloned().collect();
    while let Some(p) = todo.pop() {
        if paths.contains(&p) {
            continue;
        }
        if let Some(head) = view.head(&p)? {
            todo.extend(head.links.into_iter().filter(|q| !paths.contains(q)));
        }
        paths.insert(p);
    }
    let files: Vec<String> = paths.iter().map(history_file).collect();
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut indexes: BTreeSet<EntryIndex> = BTreeSet::new();
    for ((path, file), bytes) in paths.iter().zip(&names).zip(view.files(&names)?) {
        let Some(bytes) = bytes else { continue };
        let h: crate::state::History =
            crate::state::parse(file, &bytes).map_err(anyhow::Error::msg)?;
        if &h.path != path {
            bail!("{file} is about {}, not {path}", h.path);
        }
        indexes.extend(h.entries);
    }
    let indexes: Vec<EntryIndex> = indexes.into_iter().collect();
    let mut records = Vec::with_capacity(indexes.len());
    for (index, entry) in indexes.iter().zip(view.entries(&indexes)?) {
        let st = decode(&entry)?;
        records.push(recorded(*index, &st).with_context(|| entry.path.clone())?);
    }
    Seed::replay(&records).map_err(anyhow::Error::msg)
}

/// The version event entry `index` records.
fn recorded(index: EntryIndex, st: &Statement) -> Result<Recorded> {
    let p = &st.predicate;
    if p.log.index != index {
        bail!("it is entry {}, listed as entry {}", p.log.index.0, index.0);
    }
    if p.event != EventType::Version {
        bail!("it is a {:?} entry, listed as a version entry", p.event);
    }
    let [pr] = p.prompts.as_slice() else {
        bail!("a version entry names {} prompts, not one", p.prompts.len());
    };
    Ok(Recorded {
        entry: index,
        commit: pr.commit.clone(),
        path: pr.path.clone(),
        previous_path: pr.previous_path.clone(),
        kind: kind_of(pr)?,
        blob: pr.digest.git_blob.clone(),
    })
}

/// The history's event kind a prompt record was made from: refused unless [`change_of`]
/// gives back the record's change type, previous version and revert.
fn kind_of(pr: &PromptRecord) -> Result<EventKind> {
    let version = pr.version;
    let previous = pr.previous_version;
    let equals = pr.equals_version;
    let kind = match pr.change {
        Some(ChangeType::Added) => EventKind::Version {
            version,
            previous,
            equals,
            readded: false,
        },
        Some(ChangeType::Modified | ChangeType::Reverted) => EventKind::Version {
            version,
            previous,
            equals,
            readded: false,
        },
        Some(ChangeType::Readded) => EventKind::Version {
            version,
            previous,
            equals,
            readded: true,
        },
        Some(ChangeType::Renamed) => EventKind::Renamed { version },
        Some(ChangeType::Deleted) => EventKind::Deleted { version },
        None => bail!("a version entry without a change type"),
    };
    if pr.change.map(|c| (c, previous, equals)) != Some(change_of(&kind)) {
        bail!("its change type, previous version and revert do not fit together");
    }
    Ok(kind)
}

/// How a prompt event is written in its entry: its change type, previous version, and the
/// earlier version a revert equals.
pub(crate) fn change_of(kind: &EventKind) -> (ChangeType, Option<Version>, Option<Version>) {
    match *kind {
        EventKind::Version {
            previous: None,
            equals,
            ..
        } => (ChangeType::Added, None, equals),
        EventKind::Version {
            previous,
            equals,
            readded: true,
            ..
        } => (ChangeType::Readded, previous, equals),
        EventKind::Version {
            previous,
            equals: Some(eq),
            ..
        } => (ChangeType::Reverted, previous, Some(eq)),
        EventKind::Version { previous, .. } => (ChangeType::Modified, previous, None),
        EventKind::Renamed { .. } => (ChangeType::Renamed, None, None),
        EventKind::Deleted { .. } => (ChangeType::Deleted, None, None),
    }
}
