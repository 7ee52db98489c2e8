//! Readers on the state summary: the checked summary at the audit branch's tip, and the few
//! entries a question needs, read by path. When the branch has no summary, or it is not
//! believed (stale, tampered, unbound — a warning says why), the whole log is read instead.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{DecodedEntry, Workspace, read_statements};
use crate::store::StoredEntry;
use crate::summary::StateView;
use std::collections::BTreeSet;

use crate::types::{EntryIndex, PromptPath, Version};

/// The summary at the branch's tip, checked against its checkpoint (and the configured
/// trust); `None` when there is none or it is not believed (warned on stderr).
pub(crate) fn believed(ws: &Workspace, branch: &str) -> Result<Option<StateView>> {
    let store = ws.store(branch);
    let tip = store.resolve_for_reading()?;
    store.read_meta(&tip)?;
    let mut view = match StateView::open(&store, &tip) {
        Ok(Some(v)) => v,
        Ok(None) => {
            // A log older than the summary, read whole: its checkpoint signed, or a warning.
            match super::trust::trust(ws, &crate::cli::TrustArgs::default()) {
                Ok(trust) if trust.is_empty() => {}
                Ok(trust) => {
                    if let Err(why) =
                        crate::summary::check_unsummarised_signature(&store, &tip, &trust)
                    {
                        disbelieve(&why);
                    }
                }
                Err(e) => disbelieve(&format!("the trusted keys cannot be read ({e:#})")),
            }
            return Ok(None);
        }
        Err(e) => {
            disbelieve(&format!("{e:#}"));
            return Ok(None);
        }
    };
    let trust = match super::trust::trust(ws, &crate::cli::TrustArgs::default()) {
        Ok(t) => t,
        Err(e) => {
            disbelieve(&format!("the trusted keys cannot be read ({e:#})"));
            return Ok(None);
        }
    };
    match view.check(&trust) {
        Ok(()) => Ok(Some(view)),
        Err(why) => {
            disbelieve(&why);
            Ok(None)
        }
    }
}

fn disbelieve(why: &str) {
    eprintln!(
        "warning: the audit branch's state summary is not believed: {why}; reading the whole \
         log instead (run `promptrail verify`)"
    );
}

/// The decoded entries a question needs: `pick` names them from the summary (`None`: it
/// needs the whole log). Without a believed summary, or when `pick` fails, the whole log.
/// Either way the caller filters as it would the whole log, so answers are the same.
pub(crate) fn entries(
    ws: &Workspace,
    branch: &str,
    pick: impl FnOnce(&mut StateView) -> Result<Option<Vec<EntryIndex>>>,
) -> Result<Vec<DecodedEntry>> {
    if let Some(mut view) = believed(ws, branch)? {
        match pick(&mut view).and_then(|picked| match picked {
            Some(indexes) => decode(view.entries(&indexes)?).map(Some),
            None => Ok(None),
        }) {
            Ok(Some(entries)) => return Ok(entries),
            Ok(None) => {}
            Err(e) => disbelieve(&format!("{e:#}")),
        }
    }
    read_statements(ws, branch)
}

/// Decodes entry files as [`super::AuditLog::statements`] does.
pub(crate) fn decode(entries: Vec<StoredEntry>) -> Result<Vec<DecodedEntry>> {
    entries.iter().map(DecodedEntry::decode).collect()
}

/// Every entry naming a path of `path`'s lineage (its paths linked by renames).
pub(crate) fn lineage_entries(view: &mut StateView, path: &PromptPath) -> Result<Vec<EntryIndex>> {
    let lineage = view.lineage(path)?;
    Ok(StateView::entries_of(lineage.values()))
}

/// The version entries of `path`'s lineage (no deployment entries): what names versions,
/// numbers them and links renames.
pub(crate) fn lineage_version_entries(
    view: &mut StateView,
    path: &PromptPath,
) -> Result<BTreeSet<EntryIndex>> {
    Ok(view
        .lineage(path)?
        .values()
        .flat_map(|s| s.versions.iter().map(|v| v.entry))
        .collect())
}

/// The deployment and rollback entries of `version` under any name of `path`'s lineage.
pub(crate) fn lineage_deployment_entries(
    view: &mut StateView,
    path: &PromptPath,
    version: Version,
) -> Result<BTreeSet<EntryIndex>> {
    Ok(view
        .lineage(path)?
        .values()
        .flat_map(|s| s.deployments.iter())
        .filter(|d| d.version == version)
        .map(|d| d.entry)
        .collect())
}

/// The first entry that may have been recorded at or after `since`: entries before it are
/// all older. `recordedAt` only moves forward up to 10 minutes (PT013), so an entry more
/// than 10 minutes older than `since` has only older entries before it.
pub(crate) fn first_since(view: &mut StateView, since: DateTime<Utc>) -> Result<u64> {
    let cut = since - chrono::Duration::minutes(10);
    // Invariant: every entry before `lo` is older than `since`.
    let (mut lo, mut hi) = (0u64, view.size());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let entry = view.entries(&[EntryIndex(mid)])?.remove(0);
        let (_, st) = entry
            .decode()
            .map_err(|e| anyhow::anyhow!("{}: {e}", entry.path))?;
        if st.predicate.recorded_at < cut {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}
