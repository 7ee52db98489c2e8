//! The audit log verified against the repository before a command believes it: the checks
//! of `crate::verify` run over git's objects (whole, or streamed from a listing), the
//! branch's shape and commits, the checkpoint.

use std::collections::HashMap;

use anyhow::{Result, bail};

use super::trust::trust;
use super::{AuditLog, Workspace};
use crate::cli::TrustArgs;
use crate::git::{Object, ObjectReader};
use crate::signing::{Trust, TrustedKey};
use crate::types::Oid;
use crate::verify::{AuditCommit, RepoObjects, Report, verify};

/// The repository's objects through one `git cat-file --batch`, with the blobs announced by
/// `prefetch` read in one batch and kept until asked for.
struct GitObjects {
    reader: ObjectReader,
    prefetched: HashMap<String, Option<Object>>,
}

impl RepoObjects for GitObjects {
    fn blob_at(&mut self, rev: &str, path: &str) -> Result<Option<(Oid, Vec<u8>)>> {
        let spec = format!("{rev}:{path}");
        let object = match self.prefetched.remove(&spec) {
            Some(o) => o,
            None => self.reader.read(&spec)?,
        };
        Ok(object.filter(|o| o.kind == "blob").map(|o| (o.oid, o.data)))
    }

    fn prefetch(&mut self, specs: &[(String, String)]) -> Result<()> {
        let specs: Vec<String> = specs
            .iter()
            .map(|(rev, path)| format!("{rev}:{path}"))
            .collect();
        let objects = self.reader.read_many(&specs)?;
        self.prefetched = specs.into_iter().zip(objects).collect();
        Ok(())
    }
}

/// The decoded log for a command whose answer is a security claim (`drift`, `trace`,
/// `which`): the whole branch read and verified first, as the gate does. Refuses when nothing
/// is trusted (no `--key`, identity or `signing.public_keys`/`identities`) and when the log does
/// not verify: an entry pushed by someone without the key must not make an answer say "ok".
pub(super) fn verified_statements(
    ws: &Workspace,
    branch: &str,
    args: &TrustArgs,
    command: &str,
) -> Result<Vec<super::DecodedEntry>> {
    let trust = trust(ws, args)?;
    if trust.is_empty() {
        bail!(
            "{command} answers from the audit log only once it verifies: pass --key PUB or \
             --certificate-identity, or list keys under `signing.public_keys` (identities under \
             `signing.identities`) in .promptrail.yml"
        );
    }
    let log = AuditLog::open(ws, branch)?;
    let report = verify_log(ws, &log, &trust, None)?;
    if !report.ok {
        let first = report
            .findings
            .first()
            .map(|f| format!("; first: {} {}", f.code, f.message))
            .unwrap_or_default();
        bail!(
            "the audit log `{branch}` failed verification ({} finding(s){first}): {command} does \
             not answer from it; run `promptrail verify`",
            report.findings.len()
        );
    }
    log.statements()
}

/// Runs every check over an audit branch already read.
pub fn verify_log(
    ws: &Workspace,
    log: &AuditLog,
    trust: &Trust,
    saved_checkpoint: Option<&str>,
) -> Result<Report> {
    let files = &log.files;
    let canonical = canonical(files.entries.iter().map(|e| e.path.as_str()));
    let branch = BranchFiles {
        tip: &log.tip,
        meta: files.meta.as_deref(),
        checkpoint: files.checkpoint.as_deref(),
        range: files.range.as_deref(),
        state: &files.state,
        stray: &files.stray,
    };
    let ids = || {
        canonical.then(|| {
            files
                .entries
                .iter()
                .map(|e| crate::verify::shape::blob_id(&e.bytes))
                .collect()
        })
    };
    verify_files(
        ws,
        &branch,
        &mut files.entries.as_slice(),
        ids,
        trust,
        saved_checkpoint,
    )
}

/// [`verify_log`] reading the entry files from git a window at a time, so that memory
/// stays bounded whatever the log's length.
pub(super) fn verify_streaming(
    ws: &Workspace,
    branch: &str,
    trust: &Trust,
    saved_checkpoint: Option<&str>,
) -> Result<Report> {
    let store = ws.store(branch);
    let tip = store.resolve_for_reading()?;
    let listing = store.list(&tip)?;
    verify_listed(ws, &tip, &listing, trust, saved_checkpoint)
}

/// Verifies the branch at `tip` as listed, reading its entries a window at a time.
pub fn verify_listed(
    ws: &Workspace,
    tip: &Oid,
    listing: &crate::store::LogListing,
    trust: &Trust,
    saved_checkpoint: Option<&str>,
) -> Result<Report> {
    let tip = tip.clone();
    let canonical = canonical(listing.entries.iter().map(|(p, _)| p.as_str()));
    let files = BranchFiles {
        tip: &tip,
        meta: listing.meta.as_deref(),
        checkpoint: listing.checkpoint.as_deref(),
        range: listing.range.as_deref(),
        state: &listing.state,
        stray: &listing.stray,
    };
    let ids = || {
        canonical.then(|| {
            listing
                .entries
                .iter()
                .map(|(_, oid)| crate::verify::shape::parse_id(oid.as_str()))
                .collect::<Option<Vec<_>>>()
        })?
    };
    let mut source = crate::store::EntryWindows::new(ws.git.object_reader()?, &listing.entries);
    verify_files(ws, &files, &mut source, ids, trust, saved_checkpoint)
}

impl crate::verify::EntrySource for crate::store::EntryWindows<'_> {
    fn windows(
        &mut self,
        size: usize,
        each: &mut dyn FnMut(&[crate::store::StoredEntry]) -> Result<()>,
    ) -> Result<()> {
        self.for_each(size, each)
    }
}

/// The audit branch's files other than the entries.
struct BranchFiles<'a> {
    tip: &'a Oid,
    meta: Option<&'a [u8]>,
    checkpoint: Option<&'a [u8]>,
    range: Option<&'a [u8]>,
    /// The state summary's files (path, blob id).
    state: &'a [(String, Oid)],
    stray: &'a [String],
}

/// Whether entry files are exactly `entries/…/0.json`, 1, 2… (the fast PT010 check needs it).
fn canonical<'a>(paths: impl Iterator<Item = &'a str>) -> bool {
    let mut n = 0u64;
    for p in paths {
        if p != crate::store::entry_path(crate::types::EntryIndex(n)) {
            return false;
        }
        n += 1;
    }
    n > 0
}

fn verify_files(
    ws: &Workspace,
    files: &BranchFiles,
    entries: &mut dyn crate::verify::EntrySource,
    blob_ids: impl FnOnce() -> Option<Vec<crate::verify::shape::GitId>> + Send,
    trust: &Trust,
    saved_checkpoint: Option<&str>,
) -> Result<Report> {
    let tip = files.tip;
    // The saved checkpoint's size: its root is kept while the entries are read.
    let saved_size = saved_checkpoint
        .and_then(|saved| crate::checkpoint::Checkpoint::parse(saved).ok())
        .map(|cp| cp.size);
    let mut repo = GitObjects {
        reader: ws.git.object_reader()?,
        prefetched: HashMap::new(),
    };
    // The branch's history (PT010) is independent of the entries' checks: it is checked
    // while they are.
    let (mut report, mut history) = std::thread::scope(|scope| {
        let history = scope.spawn(|| -> Result<_> {
            let shaped = match blob_ids() {
                Some(ids) => has_shape(ws, tip, ids)?,
                None => false,
            };
            if shaped {
                Ok(Vec::new())
            } else {
                // Something is off: git's diff names what each offending commit did.
                Ok(crate::verify::check_branch_history(&audit_commits(
                    ws, tip,
                )?))
            }
        });
        let report = verify(
            files.meta,
            entries,
            files.stray,
            trust,
            &mut repo,
            saved_size,
        );
        let history = history
            .join()
            .map_err(|_| anyhow::anyhow!("reading the audit branch's history failed"))?;
        Ok::<_, anyhow::Error>((report?, history?))
    })?;
    history.extend(crate::verify::check_checkpoint_and_range(
        files.checkpoint,
        files.range,
        report.origin.as_deref(),
        &report.tree,
        &checkpoint_keys(trust, &report, report.tree.size()),
    ));
    // The branch's state files are compared by blob id; only the index and a file that
    // differs are read.
    let mut state_reader = ws.git.object_reader()?;
    history.extend(crate::verify::state::check_state(
        &std::mem::take(&mut report.summary),
        &report.chunks,
        files.state,
        &mut |oid| state_reader.blob(oid),
        files.checkpoint,
    )?);
    history.extend(crate::verify::check_checkpoint_parent(
        files.checkpoint,
        &ws.git.commit_parents(tip)?,
    ));
    if let Some(saved) = saved_checkpoint {
        let keys = checkpoint_keys(trust, &report, saved_size.unwrap_or(0));
        let first_root = |m: u64| {
            report
                .saved_root
                .filter(|(size, _)| *size == m)
                .map(|(_, root)| root)
        };
        history.extend(crate::verify::check_consistency(
            saved,
            &report.tree,
            &first_root,
            &keys,
        )?);
    }
    if !history.is_empty() {
        report.ok = false;
        report.findings.extend(history);
        report
            .findings
            .sort_by_key(|f| (f.entry.map_or(0, |e| e + 1), f.check));
    }
    Ok(report)
}

/// The keys a checkpoint of `size` entries may be signed with: the trusted keys, and when
/// the entry it closes is keyless, that entry's certificate key (a keyless run signs its
/// checkpoints with the ephemeral key it signed its entries with).
fn checkpoint_keys(trust: &Trust, report: &Report, size: u64) -> Vec<TrustedKey> {
    let mut keys: Vec<TrustedKey> = trust.keys.clone();
    let closing = size.checked_sub(1);
    if let Some((_, spki)) = report
        .keyless_keys
        .iter()
        .find(|(i, _)| Some(*i) == closing)
        && let Ok(k) = TrustedKey::from_spki_der(spki.clone(), "the keyless certificate")
    {
        keys.push(k);
    }
    keys
}

/// Whether every commit of the audit branch appended exactly the next entry, checked by
/// computing each commit's expected tree from the entry files' blob ids (see
/// [`crate::verify::shape`]) rather than by git's per-commit diff.
fn has_shape(ws: &Workspace, tip: &Oid, entries: Vec<crate::verify::shape::GitId>) -> Result<bool> {
    // The line newest first, as git streams it (20 bytes a commit), then checked oldest first.
    let mut line: Vec<(u8, crate::verify::shape::GitId)> = Vec::new();
    let mut ok = true;
    ws.git
        .first_parent_line(tip, |_, parents, tree| {
            match crate::verify::shape::parse_id(tree.as_str()) {
                // SHA-256 repositories: git's diff decides.
                None => ok = false,
                Some(id) => line.push((u8::try_from(parents).unwrap_or(u8::MAX), id)),
            }
            // A line longer than the entries is not in shape: no need to read further.
            if ok && line.len() <= entries.len() {
                Ok(())
            } else {
                bail!(Stop)
            }
        })
        .or_else(|e| if e.is::<Stop>() { Ok(()) } else { Err(e) })?;
    if !ok || line.len() != entries.len() {
        return Ok(false);
    }
    let mut check = crate::verify::shape::ShapeCheck::new(entries);
    let mut reader = ws.git.object_reader()?;
    while !line.is_empty() {
        let at = line.len().saturating_sub(SHAPE_WINDOW);
        let window: Vec<(u8, crate::verify::shape::GitId)> = line.drain(at..).rev().collect();
        let specs: Vec<String> = window.iter().map(|(_, t)| crate::types::hex(t)).collect();
        let trees = reader.read_many(&specs)?;
        for ((parents, _), tree) in window.iter().zip(trees) {
            if !tree
                .is_some_and(|t| t.kind == "tree" && check.commit(usize::from(*parents), &t.data))
            {
                return Ok(false);
            }
        }
    }
    Ok(check.complete())
}

/// Root trees read per batch by [`has_shape`].
const SHAPE_WINDOW: usize = 4096;

/// Ends [`has_shape`]'s stream early.
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the audit branch is not in shape")
    }
}

impl std::error::Error for Stop {}

/// The audit branch's first-parent commits, oldest first, with their changed files.
fn audit_commits(ws: &Workspace, tip: &Oid) -> Result<Vec<AuditCommit>> {
    let mut all = std::collections::HashMap::new();
    ws.git.log(tip, |c| {
        all.insert(c.oid.clone(), c);
        Ok(())
    })?;
    let mut line = Vec::new();
    let mut cur = Some(tip.clone());
    while let Some(oid) = cur {
        let Some(c) = all.remove(&oid) else { break };
        cur = c.parents.first().cloned();
        line.push(AuditCommit {
            oid: c.oid,
            parents: c.parents.len(),
            changes: c
                .changes
                .iter()
                .map(|ch| (ch.status, String::from_utf8_lossy(&ch.path).into_owned()))
                .collect(),
        });
    }
    line.reverse();
    Ok(line)
}
