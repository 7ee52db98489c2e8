//! The audit branch read back: once whole (`AuditLog`) or listed and read a window at a
//! time (`ListedLog`), each entry decoded with who it says signed it.

use anyhow::Result;

use super::{Progress, Workspace};
use crate::types::Oid;

/// One audit branch read once: its tip and every file, for commands that both verify and
/// query the log.
pub struct AuditLog {
    pub branch: String,
    pub tip: Oid,
    pub files: crate::store::LogFiles,
}

/// An entry file decoded.
#[derive(Debug, Clone)]
pub struct DecodedEntry {
    /// Its path on the audit branch.
    pub file: String,
    /// Who it says signed it (a key's id or a certificate's identity; `verify` checks it).
    pub signed_by: Option<crate::signing::SignedBy>,
    pub statement: crate::attestation::Statement,
}

impl DecodedEntry {
    /// The entry as `log` and `show` report it.
    pub fn view(&self) -> crate::report::views::EntryView {
        crate::report::views::EntryView::new(&self.file, self.signed_by.clone(), &self.statement)
    }

    /// Decodes a stored entry file, or says which file is malformed.
    pub fn decode(e: &crate::store::StoredEntry) -> Result<DecodedEntry> {
        let (bundle, statement) = e
            .decode()
            .map_err(|err| anyhow::anyhow!("{}: {err} (run `promptrail verify`)", e.path))?;
        Ok(DecodedEntry {
            file: e.path.clone(),
            signed_by: signed_by(&bundle),
            statement,
        })
    }
}

/// The local branch `refs/heads/<branch>`, if there is one.
fn self_local(ws: &Workspace, branch: &str) -> Result<Option<Oid>> {
    ws.git.resolve_commit(&format!("refs/heads/{branch}"))
}

/// The tip to judge once `remote`'s tip of the branch is fetched: the local branch is
/// believed only when it extends the remote's (entries recorded with --no-push); an older
/// or diverging one is not, and a warning says so.
pub(super) fn believed_tip(
    ws: &Workspace,
    branch: &str,
    remote: &str,
    remote_tip: Oid,
    progress: &Progress,
) -> Result<Oid> {
    Ok(match self_local(ws, branch)? {
        Some(l) if l != remote_tip && ws.git.is_ancestor(&remote_tip, &l)? => l,
        Some(l) if l != remote_tip => {
            progress.warn(&format!(
                "the local `{branch}` is not {remote}'s or ahead of it: judging {remote}'s"
            ));
            remote_tip
        }
        _ => remote_tip,
    })
}

impl AuditLog {
    /// Reads the branch, refusing one that is not a promptrail audit branch.
    pub fn open(ws: &Workspace, branch: &str) -> Result<AuditLog> {
        let log = AuditLog::open_unchecked(ws, branch)?;
        ws.store(branch).read_meta(&log.tip)?;
        Ok(log)
    }

    /// Reads the branch as the remote has it, when the remote can be reached: what the gate
    /// judges and what `deploy` appends to. A local ref that differs (stale, or rolled back to
    /// a tip where a weaker policy was in force) is not believed. Offline, the local branch.
    pub fn open_remote_first(
        ws: &Workspace,
        branch: &str,
        progress: &Progress,
    ) -> Result<AuditLog> {
        let store = ws.store(branch);
        let remote = &ws.config.audit.remote.0;
        match ws.git.fetch_branch(remote, branch) {
            Ok(Some(remote_tip)) => {
                let tip = believed_tip(ws, branch, remote, remote_tip, progress)?;
                store.read_meta(&tip)?;
                let files = store.read_all(&tip)?;
                Ok(AuditLog {
                    branch: branch.to_owned(),
                    tip,
                    files,
                })
            }
            // A log kept only locally (`record --no-push`).
            Ok(None) => AuditLog::open(ws, branch),
            Err(e) => {
                progress.warn(&format!("{e:#}; judging the local `{branch}`"));
                AuditLog::open(ws, branch)
            }
        }
    }

    /// Reads the branch whatever it holds (`verify` reports a missing `promptrail.json`).
    pub fn open_unchecked(ws: &Workspace, branch: &str) -> Result<AuditLog> {
        let store = ws.store(branch);
        let tip = store.resolve_for_reading()?;
        let files = store.read_all(&tip)?;
        Ok(AuditLog {
            branch: branch.to_owned(),
            tip,
            files,
        })
    }

    /// The decoded entries (for readers; `verify` is what checks them).
    pub fn statements(&self) -> Result<Vec<DecodedEntry>> {
        self.files
            .entries
            .iter()
            .map(DecodedEntry::decode)
            .collect()
    }
}

/// Who an entry says signed it: its key hint, or its certificate's identity.
fn signed_by(bundle: &crate::attestation::Bundle) -> Option<crate::signing::SignedBy> {
    use crate::signing::SignedBy;
    match bundle.key_hint() {
        Some(hint) => Some(SignedBy::Key(hint.to_string())),
        None => crate::keyless::certificate_identity(bundle).map(SignedBy::Keyless),
    }
}

/// The audit log's decoded entries with their file names and signers.
pub fn read_statements(ws: &Workspace, branch: &str) -> Result<Vec<DecodedEntry>> {
    AuditLog::open(ws, branch)?.statements()
}

/// The audit log's entries as views.
pub fn read_log(ws: &Workspace, branch: &str) -> Result<Vec<crate::report::views::EntryView>> {
    Ok(read_statements(ws, branch)?
        .iter()
        .map(DecodedEntry::view)
        .collect())
}

/// One audit branch listed, its entries read a window at a time when walked: what the
/// streaming readers (`log`, `export`) hold instead of every entry's bytes.
pub struct ListedLog {
    pub branch: String,
    pub tip: Oid,
    pub listing: crate::store::LogListing,
}

impl ListedLog {
    /// Lists the branch, refusing one that is not a promptrail audit branch.
    pub fn open(ws: &Workspace, branch: &str) -> Result<ListedLog> {
        let store = ws.store(branch);
        let tip = store.resolve_for_reading()?;
        store.read_meta(&tip)?;
        let listing = store.list(&tip)?;
        Ok(ListedLog {
            branch: branch.to_owned(),
            tip,
            listing,
        })
    }

    /// Decodes the entries in log order, a window at a time, and calls `each` per window.
    pub fn for_each_window(
        &self,
        ws: &Workspace,
        mut each: impl FnMut(&[DecodedEntry]) -> Result<()>,
    ) -> Result<()> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        windows.for_each(crate::store::READ_WINDOW, |window| {
            each(&decode_window(window)?)
        })
    }

    /// [`ListedLog::for_each_window`] with each entry's bytes beside its decoded form.
    pub fn for_each_stored(
        &self,
        ws: &Workspace,
        mut each: impl FnMut(&[(crate::store::StoredEntry, DecodedEntry)]) -> Result<()>,
    ) -> Result<()> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        windows.for_each(crate::store::READ_WINDOW, |window| {
            let decoded = decode_window(window)?;
            let pairs: Vec<_> = window.iter().cloned().zip(decoded).collect();
            each(&pairs)
        })
    }

    /// The listed entry files at `positions`, in that order, as stored.
    pub fn read_at_stored(
        &self,
        ws: &Workspace,
        positions: &[usize],
    ) -> Result<Vec<crate::store::StoredEntry>> {
        crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries)
            .read_at(positions)
    }

    /// Decodes the listed entries at `positions`, in that order.
    pub fn read_at(&self, ws: &Workspace, positions: &[usize]) -> Result<Vec<DecodedEntry>> {
        let mut windows =
            crate::store::EntryWindows::new(ws.git.object_reader()?, &self.listing.entries);
        decode_window(&windows.read_at(positions)?)
    }
}

fn decode_window(window: &[crate::store::StoredEntry]) -> Result<Vec<DecodedEntry>> {
    window.iter().map(DecodedEntry::decode).collect()
}
