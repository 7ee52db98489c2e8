//! The audit branch: the only module that writes it.
//!
//! Layout (an orphan branch, one commit per entry):
//! ```text
//! promptrail.json                   format version, origin, hash algorithm
//! entries/000000/000000042.json     entry 42 (directories of 1000 entries)
//! checkpoint                        signed note: origin, size, RFC 6962 root (C2SP)
//! checkpoint.range                  the tree's right edge, so an append reads no old entry
//! state/                            the state summary (see `crate::state`), bound to the
//!                                   checkpoint by its `promptrail-state` extension line
//! ```
//! An append reads the tip, builds entries with the next index and the previous entry's
//! hash, writes them with one `git fast-import`, and pushes fast-forward only. When the push
//! is rejected because another job appended first, it fetches, rebuilds (new indexes, new
//! previous hash, new signatures) and retries with backoff. The last commit of an append also
//! writes the state summary's files its entries touch (read from the tip, checked against
//! its checkpoint; rebuilt from every entry when the tip has none or it is not believed). Refs move only after the remote
//! accepted the push, so a failure leaves the local and remote branch as they were.

use std::time::Duration;

use crate::checkpoint::Checkpoint;
use crate::git::{Git, PushOutcome};
use crate::merkle::{CompactRange, leaf_hash};
use crate::signing::Signer;
use crate::subtree::Chunks;
use crate::types::{EntryIndex, Oid, Sha256Hex};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

pub use crate::layout::{
    CHECKPOINT_FILE, ENTRIES_PER_DIR, LogMeta, META_FILE, RANGE_FILE, READ_WINDOW, StoredEntry,
    decode_entry, entry_path, index_from_path,
};

/// How many times an append is rebuilt after a rejected push, at least: it keeps trying
/// for [`KEEP_TRYING`] after its first attempt (a rejection means another job appended, so
/// the branch is moving, not stuck; on a loaded runner, eight jobs at once can take long).
const MAX_ATTEMPTS: u32 = 24;
/// How long an append keeps rebuilding after rejected pushes, beyond [`MAX_ATTEMPTS`].
const KEEP_TRYING: Duration = Duration::from_secs(300);

/// All files of the audit branch at one commit.
#[derive(Debug, Clone)]
pub struct LogFiles {
    /// `promptrail.json`'s bytes, if present.
    pub meta: Option<Vec<u8>>,
    /// The signed checkpoint's bytes, if present.
    pub checkpoint: Option<Vec<u8>>,
    /// The stored right edge of the Merkle tree, if present.
    pub range: Option<Vec<u8>>,
    /// Entry files in path (= index) order.
    pub entries: Vec<StoredEntry>,
    /// The state summary's files (path, blob id), listed, not read.
    pub state: Vec<(String, Oid)>,
    /// Any other file: not part of the layout.
    pub stray: Vec<String>,
}

/// The audit branch's files at one commit, entries listed but not read (see
/// [`read_entries`]): what a reader of a long log holds instead of every entry's bytes.
#[derive(Debug, Clone)]
pub struct LogListing {
    pub meta: Option<Vec<u8>>,
    pub checkpoint: Option<Vec<u8>>,
    pub range: Option<Vec<u8>>,
    /// Entry files (path, blob id) in path (= index) order.
    pub entries: Vec<(String, Oid)>,
    /// The state summary's files (path, blob id) in path order.
    pub state: Vec<(String, Oid)>,
    pub stray: Vec<String>,
}

/// Reads listed entry files, in order, through one pipelined batch.
pub fn read_entries(
    reader: &mut crate::git::ObjectReader,
    listed: &[(String, Oid)],
) -> Result<Vec<StoredEntry>> {
    let oids: Vec<Oid> = listed.iter().map(|(_, oid)| oid.clone()).collect();
    Ok(listed
        .iter()
        .zip(reader.blobs(&oids)?)
        .map(|((path, _), bytes)| StoredEntry {
            path: path.clone(),
            bytes,
        })
        .collect())
}

/// Listed entry files read from git a window at a time, in order: the one way a reader
/// walks a long log without holding every entry's bytes.
pub struct EntryWindows<'a> {
    reader: crate::git::ObjectReader,
    listed: &'a [(String, Oid)],
}

impl<'a> EntryWindows<'a> {
    pub fn new(reader: crate::git::ObjectReader, listed: &'a [(String, Oid)]) -> Self {
        EntryWindows { reader, listed }
    }

    /// Calls `each` with consecutive windows of at most `size` entries, in path order. The
    /// next window is read from git (on a thread of its own) while `each` works on one, so
    /// git and the caller run at once; at most two windows are held.
    pub fn for_each(
        &mut self,
        size: usize,
        mut each: impl FnMut(&[StoredEntry]) -> Result<()>,
    ) -> Result<()> {
        let windows = self.listed.chunks(size.max(1));
        let expected = windows.len();
        let reader = &mut self.reader;
        std::thread::scope(|scope| {
            // A rendezvous channel: the reader hands over a window only when the caller
            // takes it, and stops when the caller stops taking (an error, or the end).
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<StoredEntry>>>(0);
            scope.spawn(move || {
                for window in windows {
                    let read = read_entries(reader, window);
                    let failed = read.is_err();
                    if tx.send(read).is_err() || failed {
                        break;
                    }
                }
            });
            let mut seen = 0;
            for window in rx {
                each(&window?)?;
                seen += 1;
            }
            // The reader ends its windows early only by an error it sent (returned above) or a
            // panic: never a shorter log walked as if it were whole.
            if seen != expected {
                bail!("reading the audit log's entries stopped after {seen} of {expected} windows");
            }
            Ok(())
        })
    }

    /// Reads the listed entries at `positions` (ascending or not), in the order given.
    pub fn read_at(&mut self, positions: &[usize]) -> Result<Vec<StoredEntry>> {
        let picked: Vec<(String, Oid)> = positions
            .iter()
            .filter_map(|&i| self.listed.get(i).cloned())
            .collect();
        read_entries(&mut self.reader, &picked)
    }
}

/// What a builder needs to know to make the next entries.
#[derive(Debug, Clone)]
pub struct Tip {
    /// The audit branch commit, `None` for a new log.
    pub commit: Option<Oid>,
    pub meta: LogMeta,
    pub next_index: EntryIndex,
    /// Hash of the last entry's bytes (`None` for a new log).
    pub previous: Option<Sha256Hex>,
}

/// A signed entry ready to be written.
pub struct NewEntry {
    pub bytes: Vec<u8>,
    /// First line of the audit commit's message.
    pub summary: String,
    pub recorded_at: DateTime<Utc>,
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub first: EntryIndex,
    pub count: u64,
    pub commit: Oid,
    /// Pushes that were rejected and rebuilt.
    pub retries: u32,
    pub pushed: bool,
}

/// The audit branch of one repository.
pub struct Store<'a> {
    git: &'a Git,
    branch: String,
    remote: String,
    /// What besides the signer's own key an append trusts the tip's checkpoint to be signed
    /// by: configured keys (a key rotated out) and keyless identities.
    trust: Option<&'a crate::signing::Trust>,
    /// Which keys the policy in force after a commit names (see [`SignerPolicy`]).
    signers: Option<&'a dyn SignerPolicy>,
}

/// Which keys the policy in force after a commit of the audit branch names to sign the next
/// one (`signing.public_keys` of the recorded, approved configuration). `None` when the
/// commit cannot tell: it carries no believable state summary, or its policy names no key
/// (a log that never listed its signers), and then an append trusts the configured keys.
pub trait SignerPolicy {
    fn keys_after(
        &self,
        store: &Store,
        commit: &Oid,
    ) -> Result<Option<Vec<crate::signing::TrustedKey>>>;
}

impl<'a> Store<'a> {
    pub fn new(git: &'a Git, branch: &str, remote: &str) -> Self {
        Store {
            git,
            branch: branch.to_owned(),
            remote: remote.to_owned(),
            trust: None,
            signers: None,
        }
    }

    /// Also builds on tips whose checkpoint `trust` accepts: signed by a configured key (one
    /// rotated out, say) or by the certificate of a keyless entry an allowed identity signed.
    #[must_use]
    pub fn trusting(mut self, trust: &'a crate::signing::Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Builds only on checkpoints each signed by the signer's own key or by a key the policy
    /// in force before it names (walking back from the tip to one the signer's key signed):
    /// a key added to `.promptrail.yml` by a change that did not land approved signs nothing
    /// an append builds on.
    #[must_use]
    pub fn governed_by(mut self, signers: &'a dyn SignerPolicy) -> Self {
        self.signers = Some(signers);
        self
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The repository the branch lives in.
    pub fn git(&self) -> &Git {
        self.git
    }

    fn local_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/{}/{}", self.remote, self.branch)
    }

    /// The audit branch tip to read: the local branch, else the remote-tracking one.
    pub fn local_tip(&self) -> Result<Option<Oid>> {
        match self.git.resolve_commit(&self.local_ref())? {
            Some(oid) => Ok(Some(oid)),
            None => self.git.resolve_commit(&self.tracking_ref()),
        }
    }

    /// Resolves a user-given branch name or the configured one, for readers.
    pub fn resolve_for_reading(&self) -> Result<Oid> {
        match self.local_tip()? {
            Some(oid) => Ok(oid),
            None => bail!(
                "audit branch `{}` not found (neither locally nor as {}/{}): run `promptrail record`, \
                 or `git fetch {} {}` first",
                self.branch,
                self.remote,
                self.branch,
                self.remote,
                self.branch
            ),
        }
    }

    /// Reads `promptrail.json` at `tip`, refusing branches that are not ours.
    pub fn read_meta(&self, tip: &Oid) -> Result<LogMeta> {
        let mut reader = self.git.object_reader()?;
        let Some(obj) = reader.read(&format!("{tip}:{META_FILE}"))? else {
            bail!(
                "branch `{}` has no {META_FILE}: it is not a promptrail audit branch \
                 (choose another `audit.branch` in .promptrail.yml)",
                self.branch
            );
        };
        serde_json::from_slice(&obj.data)
            .with_context(|| format!("branch `{}`: {META_FILE} is not valid", self.branch))
    }

    /// Reads the tip's state: metadata, next index and the last entry's hash.
    pub fn read_tip(&self, tip: Option<&Oid>, origin: &str) -> Result<Tip> {
        let Some(tip) = tip else {
            return Ok(Tip {
                commit: None,
                meta: LogMeta::new(origin.to_owned()),
                next_index: EntryIndex(0),
                previous: None,
            });
        };
        let meta = self.read_meta(tip)?;
        match self.last_entry(tip)? {
            None => Ok(Tip {
                commit: Some(tip.clone()),
                meta,
                next_index: EntryIndex(0),
                previous: None,
            }),
            Some(last) => {
                let index = index_from_path(&last.path).with_context(|| {
                    format!("unexpected file {} on the audit branch", last.path)
                })?;
                Ok(Tip {
                    commit: Some(tip.clone()),
                    meta,
                    next_index: EntryIndex(index.0 + 1),
                    previous: Some(Sha256Hex::of(&last.bytes)),
                })
            }
        }
    }

    /// The last entry file at `tip` (two small `ls-tree` calls, whatever the log's length).
    pub fn last_entry(&self, tip: &Oid) -> Result<Option<StoredEntry>> {
        self.entries_backwards(tip, |_| Ok(false))
    }

    /// Walks entries from the newest back and returns the first that `skip` does not skip
    /// (`None` when all are skipped or the log is empty).
    pub fn entries_backwards(
        &self,
        tip: &Oid,
        mut skip: impl FnMut(&StoredEntry) -> Result<bool>,
    ) -> Result<Option<StoredEntry>> {
        let mut reader = self.git.object_reader()?;
        // No `entries` tree yet means an empty log; any other failure is an error (treating
        // it as empty would overwrite entry 0).
        if reader.read(&format!("{tip}:entries"))?.is_none() {
            return Ok(None);
        }
        let mut dirs: Vec<String> = self
            .git
            .ls_tree(&format!("{tip}:entries"), false)?
            .into_iter()
            .filter(|e| e.kind == "tree")
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        dirs.sort();
        for dir in dirs.iter().rev() {
            let mut files: Vec<(String, Oid)> = self
                .git
                .ls_tree(&format!("{tip}:entries/{dir}"), false)?
                .into_iter()
                .filter(|e| e.kind == "blob")
                .map(|e| (String::from_utf8_lossy(&e.path).into_owned(), e.oid))
                .collect();
            files.sort();
            for (name, oid) in files.into_iter().rev() {
                let entry = StoredEntry {
                    path: format!("entries/{dir}/{name}"),
                    bytes: reader.blob(&oid)?,
                };
                if !skip(&entry)? {
                    return Ok(Some(entry));
                }
            }
        }
        Ok(None)
    }

    /// Every file on the branch at `tip`: the metadata and the entries in path order.
    pub fn read_all(&self, tip: &Oid) -> Result<LogFiles> {
        let listing = self.list(tip)?;
        let mut reader = self.git.object_reader()?;
        let entries = read_entries(&mut reader, &listing.entries)?;
        Ok(LogFiles {
            meta: listing.meta,
            checkpoint: listing.checkpoint,
            range: listing.range,
            entries,
            state: listing.state,
            stray: listing.stray,
        })
    }

    /// The branch's files at `tip`, with the entries listed (path order) but not read.
    pub fn list(&self, tip: &Oid) -> Result<LogListing> {
        let mut reader = self.git.object_reader()?;
        let mut out = LogListing {
            meta: None,
            checkpoint: None,
            range: None,
            entries: Vec::new(),
            state: Vec::new(),
            stray: Vec::new(),
        };
        // Row by row as git writes them: a long log lists a million entry files.
        self.git.ls_tree_each(tip.as_str(), true, |item| {
            let path = String::from_utf8_lossy(&item.path).into_owned();
            if path == META_FILE {
                out.meta = Some(reader.blob(&item.oid)?);
            } else if path == CHECKPOINT_FILE {
                out.checkpoint = Some(reader.blob(&item.oid)?);
            } else if path == RANGE_FILE {
                out.range = Some(reader.blob(&item.oid)?);
            } else if path.starts_with("entries/") && item.kind == "blob" {
                out.entries.push((path, item.oid));
            } else if item.kind == "blob" && crate::state::is_state_file(&path) {
                out.state.push((path, item.oid));
            } else {
                out.stray.push(path);
            }
            Ok(())
        })?;
        out.entries.sort_by(|a, b| a.0.cmp(&b.0));
        out.state.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Appends the entries that `build` makes for the current tip; see the module docs.
    /// `build` is called again after every rejected push, with the new tip.
    pub fn append(
        &self,
        push: bool,
        origin: &str,
        key: &Signer,
        mut build: impl FnMut(&Tip) -> Result<Vec<NewEntry>>,
        mut progress: impl FnMut(&str),
    ) -> Result<Option<Appended>> {
        if push && self.git.remote_url(&self.remote)?.is_none() {
            bail!(
                "remote `{}` is not configured: add it (`git remote add {} URL`), set \
                 `audit.remote` in .promptrail.yml, or pass --no-push",
                self.remote,
                self.remote
            );
        }
        let started = std::time::Instant::now();
        for attempt in 0.. {
            if attempt >= MAX_ATTEMPTS && started.elapsed() >= KEEP_TRYING {
                break;
            }
            let local = self.git.resolve_commit(&self.local_ref())?;
            let remote_tip = if push {
                self.git.fetch_branch(&self.remote, &self.branch)?
            } else {
                None
            };
            let base = if push {
                self.choose_base(local.clone(), remote_tip.clone(), &mut progress)?
            } else {
                self.local_tip()?
            };
            let tip = self.read_tip(base.as_ref(), origin)?;
            let tip_checkpoint = self.check_tip(&tip, key)?;
            let entries = build(&tip)?;
            let count = entries.len() as u64;
            let new = if entries.is_empty() {
                // Nothing new; still publish entries an earlier --no-push left local.
                match &base {
                    Some(b) if push && remote_tip.as_ref() != Some(b) => b.clone(),
                    _ => return Ok(None),
                }
            } else {
                let (range, mut chunks) = match (&tip.commit, &tip_checkpoint) {
                    (Some(commit), Some(cp)) => self.edge_at(commit, cp, &mut progress)?,
                    _ => (CompactRange::default(), Chunks::default()),
                };
                let mut after = range.clone();
                for e in &entries {
                    chunks.push(&mut after, leaf_hash(&e.bytes));
                }
                let state = self
                    .summary_after(&tip, &entries, key, &mut progress)?
                    .with_file(crate::state::TREE_FILE, chunks.to_bytes())
                    .map_err(|e| anyhow::anyhow!("serialising the state summary: {e}"))?;
                self.write(&tip, range, &entries, key, &state)?
            };
            if push {
                match self.git.push(&self.remote, &new, &self.branch)? {
                    PushOutcome::Pushed => {
                        self.git.update_ref(&self.tracking_ref(), &new, None).ok();
                        self.force_local(&new)?;
                    }
                    PushOutcome::Rejected => {
                        let wait = backoff(attempt);
                        progress(&format!(
                            "the remote audit branch moved (another job appended); rebuilding \
                             in {} ms",
                            wait.as_millis()
                        ));
                        std::thread::sleep(wait);
                        continue;
                    }
                }
            } else if self
                .git
                .update_ref(&self.local_ref(), &new, local.as_ref())
                .is_err()
            {
                std::thread::sleep(backoff(attempt));
                continue;
            }
            if count == 0 {
                return Ok(None);
            }
            return Ok(Some(Appended {
                first: tip.next_index,
                count,
                commit: new,
                retries: attempt,
                pushed: push,
            }));
        }
        bail!(
            "gave up appending to `{}` after {MAX_ATTEMPTS} attempts and {} s: the remote kept \
             moving",
            self.branch,
            KEEP_TRYING.as_secs()
        )
    }

    /// Writes `entries` on top of `tip`, one commit each with the signed checkpoint after
    /// it. The last commit also carries the state summary, and its checkpoint binds it
    /// ([`crate::state::extension_line`]) and names the commit it is appended onto
    /// ([`crate::checkpoint::PARENT_EXTENSION`]): so when there are several entries, all but
    /// the last are written first, to learn that commit's id.
    fn write(
        &self,
        tip: &Tip,
        mut range: CompactRange,
        entries: &[NewEntry],
        key: &Signer,
        state: &crate::state::Encoded,
    ) -> Result<Oid> {
        let mut meta = serde_json::to_vec_pretty(&tip.meta)
            .map_err(|e| anyhow::anyhow!("serialising {META_FILE}: {e}"))?;
        meta.push(b'\n');
        let mut sign = |e: &NewEntry, extensions: Vec<String>| -> Result<(String, String)> {
            range.push(leaf_hash(&e.bytes));
            let cp = Checkpoint::sign_with(
                &tip.meta.origin,
                range.size(),
                range.root(),
                extensions,
                key,
            )?;
            Ok((cp.to_text(), range.to_text()))
        };
        let (last, first) = entries.split_last().context("nothing to write")?;
        let mut base = tip.clone();
        if !first.is_empty() {
            let checkpoints = first
                .iter()
                .map(|e| sign(e, Vec::new()))
                .collect::<Result<Vec<_>>>()?;
            let written = self.git.fast_import(|scratch| {
                fast_import_stream(scratch, tip, &meta, first, &checkpoints, None)
            })?;
            base.commit = Some(written);
            base.next_index = EntryIndex(tip.next_index.0 + first.len() as u64);
        }
        let parent = base.commit.as_ref().map(ToString::to_string);
        let checkpoint = sign(
            last,
            vec![
                crate::state::extension_line(&state.index_sha256),
                crate::checkpoint::parent_extension(parent.as_deref()),
            ],
        )?;
        self.git.fast_import(|scratch| {
            fast_import_stream(
                scratch,
                &base,
                &meta,
                std::slice::from_ref(last),
                std::slice::from_ref(&checkpoint),
                Some(state),
            )
        })
    }

    /// The state summary after `entries` on top of `tip`: the tip's, updated in the files
    /// the entries touch, when its binding holds (and, in key mode, its checkpoint is signed
    /// by this key); otherwise rebuilt from every entry.
    fn summary_after(
        &self,
        tip: &Tip,
        entries: &[NewEntry],
        key: &Signer,
        progress: &mut impl FnMut(&str),
    ) -> Result<crate::state::Encoded> {
        let statements = entries
            .iter()
            .map(|e| decode_entry(&e.bytes).map(|(_, st)| st))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("a new entry does not decode: {e}"))?;
        let apply = |summary: &mut crate::state::Summary| {
            for (i, st) in statements.iter().enumerate() {
                summary.apply(EntryIndex(tip.next_index.0 + i as u64), st);
            }
        };
        let mut summary = match &tip.commit {
            None => crate::state::Summary::new(),
            Some(commit) => {
                let resumed = match self.resume_summary(commit, key) {
                    Ok(Some(s)) if s.size() == tip.next_index.0 => {
                        let mut s = s;
                        apply(&mut s);
                        match s.failure() {
                            None => Ok(s),
                            Some(why) => Err(format!(
                                "the state summary is not believed ({why}): rebuilding it from \
                                 every entry"
                            )),
                        }
                    }
                    Ok(None) => Err(
                        "the audit branch has no state summary yet: writing it from every entry \
                         (once)"
                            .to_owned(),
                    ),
                    Ok(Some(_)) => Err(
                        "the state summary does not cover the log: rebuilding it from every entry"
                            .to_owned(),
                    ),
                    Err(e) => Err(format!(
                        "the state summary is not believed ({e:#}): rebuilding it from every entry"
                    )),
                };
                match resumed {
                    Ok(s) => s,
                    Err(why) => {
                        progress(&why);
                        let mut s = self.rebuild_summary(commit)?;
                        apply(&mut s);
                        s
                    }
                }
            }
        };
        if tip.commit.is_none() {
            apply(&mut summary);
        }
        summary
            .encode()
            .map_err(|e| anyhow::anyhow!("serialising the state summary: {e:#}"))
    }

    /// The tip's summary, reading the files the next entries touch from the tip; `None`
    /// without one.
    fn resume_summary(&self, commit: &Oid, key: &Signer) -> Result<Option<crate::state::Summary>> {
        let Some(mut view) = crate::summary::StateView::open(self, commit)? else {
            return Ok(None);
        };
        if view.index().format < crate::state::FORMAT {
            anyhow::bail!(
                "it is format {}, this promptrail writes format {}",
                view.index().format,
                crate::state::FORMAT
            );
        }
        view.check_binding().map_err(anyhow::Error::msg)?;
        if let Signer::Key(k) = key {
            let own = crate::signing::TrustedKey::from_spki_der(
                k.spki_der().to_vec(),
                "the signing key",
            )?;
            view.check_signed_by(std::slice::from_ref(&own))
                .map_err(anyhow::Error::msg)?;
        }
        let index = view.index().clone();
        let policy = view.policy()?;
        Ok(Some(crate::state::Summary::resume(
            index,
            &policy,
            Box::new(view),
        )))
    }

    /// The summary of every entry at `commit`, read a window at a time.
    pub fn rebuild_summary(&self, commit: &Oid) -> Result<crate::state::Summary> {
        let listing = self.list(commit)?;
        let mut reader = self.git.object_reader()?;
        let mut summary = crate::state::Summary::new();
        let mut pos = 0u64;
        for window in listing.entries.chunks(4096) {
            for e in read_entries(&mut reader, window)? {
                // An entry that does not decode is verify's finding (PT007); it is no state.
                if let Ok((_, st)) = e.decode() {
                    summary.apply(EntryIndex(pos), &st);
                }
                pos += 1;
            }
        }
        Ok(summary)
    }

    /// The stored right edge at `commit` and its complete chunks' roots (`state/tree.json`),
    /// believed only when the range has the signed checkpoint's size and root and the chunks
    /// fold into its peaks (O(1)); otherwise (older logs, or files someone edited so that the
    /// next checkpoint would sign their root) both rebuilt from every entry.
    fn edge_at(
        &self,
        commit: &Oid,
        checkpoint: &Checkpoint,
        progress: &mut impl FnMut(&str),
    ) -> Result<(CompactRange, Chunks)> {
        let mut reader = self.git.object_reader()?;
        let range = match reader.read(&format!("{commit}:{RANGE_FILE}"))? {
            Some(obj) => CompactRange::parse(&String::from_utf8_lossy(&obj.data))
                .filter(|r| r.size() == checkpoint.size && r.root() == checkpoint.root),
            None => None,
        };
        if let Some(range) = range {
            let chunks = match reader.read(&format!("{commit}:{}", crate::state::TREE_FILE))? {
                Some(obj) => Chunks::parse(&obj.data).ok().filter(|c| c.fits(&range)),
                None => None,
            };
            match chunks {
                Some(chunks) => return Ok((range, chunks)),
                None => progress(&format!(
                    "{} is absent or does not fit the signed checkpoint: computing it from \
                     every entry",
                    crate::state::TREE_FILE
                )),
            }
        }
        let mut range = CompactRange::default();
        let mut chunks = Chunks::default();
        for e in self.read_all(commit)?.entries {
            chunks.push(&mut range, leaf_hash(&e.bytes));
        }
        if range.size() != checkpoint.size || range.root() != checkpoint.root {
            bail!(
                "the audit branch's entries do not hash to its signed checkpoint: not appending \
                 to a log that does not verify (run `promptrail verify`)"
            );
        }
        Ok((range, chunks))
    }

    /// Refuses to build on a tip promptrail did not append: its checkpoint must cover exactly
    /// the entries there, be signed by this signer's key or a trusted one, name the tip's
    /// parent when it names one, and be one entry larger than the parent's. A signed tree
    /// committed again on top of the log (a replay), or any plain commit on top, fails the
    /// last: an append there would sign a fork that `verify` rejects. Returns the checkpoint
    /// (`None` for a new log).
    fn check_tip(&self, tip: &Tip, key: &Signer) -> Result<Option<Checkpoint>> {
        let Some(commit) = &tip.commit else {
            return Ok(None);
        };
        let refuse = |why: String| {
            anyhow::anyhow!(
                "the tip of `{}` ({}) is not a commit promptrail appended: {why}; not appending \
                 to it (run `promptrail verify`)",
                self.branch,
                commit.short()
            )
        };
        let mut reader = self.git.object_reader()?;
        let read_checkpoint =
            |reader: &mut crate::git::ObjectReader, at: &Oid| -> Result<Option<Checkpoint>> {
                match reader.read_bounded(&format!("{at}:{CHECKPOINT_FILE}"), 1 << 20)? {
                    None => Ok(None),
                    Some(Err(size)) => Err(refuse(format!("its checkpoint is {size} bytes"))),
                    Some(Ok(obj)) => std::str::from_utf8(&obj.data)
                        .map_err(|_| "not UTF-8".to_owned())
                        .and_then(Checkpoint::parse)
                        .map(Some)
                        .map_err(|e| refuse(format!("its checkpoint is malformed ({e})"))),
                }
            };
        let Some(cp) = read_checkpoint(&mut reader, commit)? else {
            // A new log: the branch's first commit holds no entry yet. A commit without a
            // checkpoint on top of a log is no new log: an append there would restart the
            // log beside the one it hides.
            if tip.next_index.0 == 0 && self.git.commit_parents(commit)?.is_empty() {
                return Ok(None);
            }
            if tip.next_index.0 == 0 {
                return Err(refuse(
                    "it holds no entry and no checkpoint, on top of other commits (a log \
                     restarted on top of a log)"
                        .into(),
                ));
            }
            return Err(refuse("it has no checkpoint".into()));
        };
        if cp.size != tip.next_index.0 {
            return Err(refuse(format!(
                "its checkpoint covers {} entries, the branch holds {}",
                cp.size, tip.next_index.0
            )));
        }
        let own = match key {
            Signer::Key(k) => vec![crate::signing::TrustedKey::from_spki_der(
                k.spki_der().to_vec(),
                "the signing key",
            )?],
            Signer::Keyless(_) => Vec::new(),
        };
        let none = crate::signing::Trust::default();
        let last = EntryIndex(cp.size.saturating_sub(1));
        cp.check_trusted(self.trust.unwrap_or(&none), &own, || {
            match reader.read_bounded(&format!("{commit}:{}", entry_path(last)), 1 << 24) {
                Ok(Some(Ok(obj))) => Ok(obj.data),
                Ok(_) => Err(format!("entry #{} is missing or too large", last.0)),
                Err(e) => Err(format!("reading entry #{}: {e:#}", last.0)),
            }
        })
        .map_err(|e| {
            refuse(format!(
                "its checkpoint is not signed by this key or a trusted one ({e})"
            ))
        })?;
        let parents = self.git.commit_parents(commit)?;
        // Every append's last checkpoint names its parent: one that names none is a commit
        // inside an append, whose parent nothing pins (its tree may be anyone's, under a copy
        // of the signed range), so the check against the parent below would prove nothing.
        let Some(named) = cp.parent() else {
            return Err(refuse(
                "its checkpoint names no parent commit (a commit inside an append, or a log \
                 older than that line)"
                    .into(),
            ));
        };
        if parents.len() > 1 || named != parents.first().map(Oid::as_str) {
            return Err(refuse(format!(
                "its checkpoint was signed for a commit on top of {}",
                named.unwrap_or("nothing (the log's first commit)")
            )));
        }
        match parents.as_slice() {
            [] => {}
            [parent] => {
                if let Some(before) = read_checkpoint(&mut reader, parent)?
                    && before.size + 1 != cp.size
                {
                    return Err(refuse(format!(
                        "its checkpoint covers {} entries and its parent's {}: every commit \
                         appends exactly one entry",
                        cp.size, before.size
                    )));
                }
            }
            _ => return Err(refuse("it is a merge commit".into())),
        }
        crate::succession::check(&mut reader, commit, parents.first(), &cp).map_err(refuse)?;
        if matches!(key, Signer::Key(_)) {
            self.check_signers(commit, &cp, &own, &mut |at| {
                read_checkpoint(&mut reader, at)
            })
            .map_err(refuse)?;
        }
        Ok(Some(cp))
    }

    /// Walks back from the tip's checkpoint `cp` to one `own` (the signer's key) signed: each
    /// checkpoint on the way must be signed by a key the policy in force after its parent
    /// names ([`SignerPolicy`]); where that policy cannot tell, by a configured key, as
    /// before. The log's first checkpoint, by a configured key. An attacker's key added to
    /// the working tree's `.promptrail.yml` by a change that never landed approved is named
    /// by no policy in force, so a checkpoint it signed stops the walk. The walk is as long
    /// as the run of checkpoints other keys signed (none, as a rule; the whole log once, on
    /// the first append after a key rotation). `Err`: why not to build on the tip.
    fn check_signers(
        &self,
        tip: &Oid,
        cp: &Checkpoint,
        own: &[crate::signing::TrustedKey],
        read_checkpoint: &mut dyn FnMut(&Oid) -> Result<Option<Checkpoint>>,
    ) -> Result<(), String> {
        let configured: &[crate::signing::TrustedKey] = self.trust.map_or(&[], |t| &t.keys);
        let failed = |e: anyhow::Error| format!("{e:#}");
        let (mut at, mut cp) = (tip.clone(), cp.clone());
        loop {
            // Every step is a commit an append made: one parent (none at the root), named by
            // its checkpoint, and one entry more than that parent's checkpoint. A checkpoint
            // copied onto another commit, a merge or a root inside the history stops the walk.
            let parent = match self.git.commit_parents(&at).map_err(failed)?.as_slice() {
                [p] => Some(p.clone()),
                [] => None,
                _ => return Err(format!("{} in the branch's history is a merge", at.short())),
            };
            if let Some(named) = cp.parent()
                && named != parent.as_ref().map(Oid::as_str)
            {
                return Err(format!(
                    "the checkpoint of {} was signed for a commit on top of {}, not on its \
                     parent",
                    at.short(),
                    named.unwrap_or("nothing")
                ));
            }
            if cp.verified_by(own).is_some() {
                return Ok(());
            }
            let Some(parent) = parent else {
                return if cp.size != 1 {
                    Err(format!(
                        "{} is a root commit inside the log's history: its checkpoint covers \
                         {} entries, and a log's first commit holds one",
                        at.short(),
                        cp.size
                    ))
                } else if cp.verified_by(configured).is_some() {
                    Ok(())
                } else {
                    Err(format!(
                        "the checkpoint of the branch's first commit {} is signed by none of \
                         the configured keys",
                        at.short()
                    ))
                };
            };
            let Some(before) = read_checkpoint(&parent).map_err(failed)? else {
                // A parent without a checkpoint is the log's start only when this is the
                // log's first entry and the parent is the branch's root (its metadata
                // commit); anything else (a commit this clone does not hold, an empty commit
                // pushed on top of the log to restart it) cannot tell who may sign.
                let root = cp.size == 1
                    && self
                        .git
                        .resolve_commit(parent.as_str())
                        .map_err(failed)?
                        .is_some()
                    && self.git.commit_parents(&parent).map_err(failed)?.is_empty();
                return if root && cp.verified_by(configured).is_some() {
                    Ok(())
                } else {
                    Err(format!(
                        "the checkpoint of {} is signed by key id(s) {} and its parent {} has \
                         no checkpoint (and is not the log's first commit, or is not in this \
                         clone: fetch the audit branch whole), so who may sign after it \
                         cannot be checked",
                        at.short(),
                        cp.key_ids().join(", "),
                        parent.short()
                    ))
                };
            };
            if before.size + 1 != cp.size {
                return Err(format!(
                    "the checkpoint of {} covers {} entries and its parent's {}",
                    at.short(),
                    cp.size,
                    before.size
                ));
            }
            // The commits of one append before its last bind no state summary (their
            // checkpoint has no `promptrail-state` line): such a parent's child is the same
            // append's, signed by the same key.
            let summarised = !matches!(crate::state::bound_index(&before.extensions), Ok(None));
            if !summarised {
                if configured.iter().chain(own).any(|k| {
                    cp.verified_by(std::slice::from_ref(k)).is_some()
                        && before.verified_by(std::slice::from_ref(k)).is_some()
                }) {
                    (at, cp) = (parent, before);
                    continue;
                }
                return Err(format!(
                    "the checkpoint of {} is signed by key id(s) {}, and its parent {} (no \
                     state summary: within one append) by another key",
                    at.short(),
                    cp.key_ids().join(", "),
                    parent.short()
                ));
            }
            let named = self
                .signers
                .map(|s| s.keys_after(self, &parent))
                .transpose()
                .map_err(failed)?
                .flatten()
                // Under an external anchor, only the named keys it lists (none may be left).
                .map(|keys| {
                    keys.into_iter()
                        .filter(|k| self.trust.is_none_or(|t| t.admits(k)))
                        .collect::<Vec<_>>()
                });
            let trusted = named.as_deref().unwrap_or(configured);
            if cp.verified_by(trusted).is_none() {
                return Err(match named {
                    Some(_) if self.trust.is_some_and(|t| t.anchor.is_some()) => format!(
                        "the checkpoint of {} is signed by key id(s) {}, which the policy in \
                         force before it does not name in `signing.public_keys` among the keys \
                         {} lists",
                        at.short(),
                        cp.key_ids().join(", "),
                        crate::anchor::TRUSTED_KEY_IDS_ENV
                    ),
                    Some(_) => format!(
                        "the checkpoint of {} is signed by key id(s) {}, which the policy in \
                         force before it does not name in `signing.public_keys`: a key signs \
                         the log only once a policy that names it landed approved",
                        at.short(),
                        cp.key_ids().join(", ")
                    ),
                    None => format!(
                        "the checkpoint of {} is signed by key id(s) {}, none of the \
                         configured keys",
                        at.short(),
                        cp.key_ids().join(", ")
                    ),
                });
            }
            (at, cp) = (parent, before);
        }
    }

    fn choose_base(
        &self,
        local: Option<Oid>,
        remote: Option<Oid>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<Oid>> {
        Ok(match (local, remote) {
            (None, r) => r,
            (Some(l), None) => Some(l),
            (Some(l), Some(r)) if l == r => Some(r),
            (Some(l), Some(r)) => {
                if self.git.is_ancestor(&r, &l)? {
                    // Local entries not pushed yet (an earlier --no-push): publish them too.
                    Some(l)
                } else {
                    if !self.git.is_ancestor(&l, &r)? {
                        progress(&format!(
                            "local `{}` diverged from {}; the remote's log is used",
                            self.branch, self.remote
                        ));
                    }
                    Some(r)
                }
            }
        })
    }

    fn force_local(&self, new: &Oid) -> Result<()> {
        let current = self.git.resolve_commit(&self.local_ref())?;
        self.git
            .update_ref(&self.local_ref(), new, current.as_ref())
    }
}

/// Exponential backoff with jitter: 50 ms · 2^attempt capped at 3 s, then ±50 %.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(3000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let jitter = (nanos ^ (std::process::id() as u64).wrapping_mul(2_654_435_761)) % base.max(1);
    Duration::from_millis(base / 2 + jitter)
}

/// The `git fast-import` stream writing one commit per entry on top of `tip`.
fn fast_import_stream(
    refname: &str,
    tip: &Tip,
    meta: &[u8],
    entries: &[NewEntry],
    checkpoints: &[(String, String)],
    state: Option<&crate::state::Encoded>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut index = tip.next_index;
    let last = entries.len().saturating_sub(1);
    for (i, (e, (checkpoint, range))) in entries.iter().zip(checkpoints).enumerate() {
        // The summary names prompt paths: keep control characters out of the message.
        let summary: String = e
            .summary
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let message = format!("{summary}\n\nPromptrail-Entry: {}\n", index.0);
        out.extend_from_slice(format!("commit {refname}\n").as_bytes());
        out.extend_from_slice(
            format!(
                "committer promptrail <promptrail@localhost> {} +0000\n",
                e.recorded_at.timestamp()
            )
            .as_bytes(),
        );
        data(&mut out, message.as_bytes());
        if i == 0
            && let Some(base) = &tip.commit
        {
            out.extend_from_slice(format!("from {base}\n").as_bytes());
        }
        if tip.commit.is_none() && i == 0 {
            out.extend_from_slice(format!("M 100644 inline {META_FILE}\n").as_bytes());
            data(&mut out, meta);
        }
        out.extend_from_slice(format!("M 100644 inline {}\n", entry_path(index)).as_bytes());
        data(&mut out, &e.bytes);
        out.extend_from_slice(format!("M 100644 inline {CHECKPOINT_FILE}\n").as_bytes());
        data(&mut out, checkpoint.as_bytes());
        out.extend_from_slice(format!("M 100644 inline {RANGE_FILE}\n").as_bytes());
        data(&mut out, range.as_bytes());
        if i == last
            && let Some(state) = state
        {
            // The summary after the last entry, bound by this commit's checkpoint; rebuilt
            // whole, it replaces every state file (an older format's too).
            if state.replace_all && tip.commit.is_some() {
                out.extend_from_slice(format!("D {}\n", crate::state::DIR).as_bytes());
            }
            for (path, bytes) in &state.files {
                out.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
                data(&mut out, bytes);
            }
        }
        out.push(b'\n');
        index = EntryIndex(index.0 + 1);
    }
    out
}

fn data(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) < Duration::from_millis(75));
        assert!(backoff(20) < Duration::from_millis(4500));
        assert!(backoff(20) >= Duration::from_millis(1500));
    }
}
