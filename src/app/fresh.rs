//! `gate` and `deploy` on a fresh clone: the answer from the audit branch's signed state
//! summary and the few entries it names, fetched alone (the tip commit and its parent
//! without their trees, then by id only the trees and files on the paths the answer reads,
//! a tree level per request; from a server that refuses that filter, the two commits with
//! all their trees and then the files), never from anything unchecked.
//!
//! Believed only when all of these hold (else the whole log is read and verified, and
//! stderr says why): the tip's checkpoint is signed by the configured trust (keyless: by the
//! certificate key of the entry it closes), names the tip's parent, and binds
//! `state/index.json`; the tip is its parent plus exactly the entry its checkpoint signed
//! (`succession::check`, by directory, within `StateView::check`: its parent's entries,
//! one more, and that one extends the parent's `checkpoint.range` to the signed root; by
//! induction over appends the tip then holds exactly `0..size`); every state file read has
//! the SHA-256 the index lists; and every entry the
//! answer rests on is signed by the trust, says the index its path gives, and records what
//! the summary says it does (path, version, digests, approval). An append refuses a tip it
//! cannot trust (`Store::check_tip`), so a signed summary at the tip was computed by a
//! trusted signer on a chain of trusted tips. Nothing fetched is believed for having been
//! fetched: ids come from the trees read, and the commit's `Promptrail-Entry` trailer only
//! says what to fetch ahead.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};

use super::{Progress, Workspace};
use crate::attestation::Statement;
use crate::attestation::predicate::{ChangeType, EventType, PolicyInForce};
use crate::git::{Partial, TipTrees};
use crate::ledger::{Ledger, LineageId, RecordedVersion};
use crate::signing::Trust;
use crate::state::{EnvState, Head, History, VersionState, env_file, heads_file, history_file};
use crate::store::{
    CHECKPOINT_FILE, META_FILE, RANGE_FILE, decode_entry, entry_path, index_from_path,
};
use crate::summary::StateView;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};
use crate::worktree::{OnDisk, State};

/// The audit branch tip the gate judges, and how much of it is here.
#[derive(Debug, Clone)]
pub(super) struct JudgedTip {
    pub tip: Oid,
    /// The remote it was fetched from (where missing blobs come from).
    pub remote: Option<String>,
    /// Fetched tip-first: its history and most blobs are not here.
    pub shallow: bool,
    /// What a tip-first fetch left out (the trees too, or only the blobs).
    pub partial: Partial,
}

/// The audit branch tip as the remote has it, fetched; see `AuditLog::open_remote_first` for
/// which of local and remote is judged. Without any local history of the branch only the
/// tip and its parent commits are fetched, without trees or blobs (a fresh CI clone; from a
/// server that refuses that filter, with their trees); a local branch with its history is
/// brought up to date as it is.
pub(super) fn judged_tip(ws: &Workspace, branch: &str, progress: &Progress) -> Result<JudgedTip> {
    let store = ws.store(branch);
    let remote = ws.config.audit.remote.0.clone();
    let local = store.local_tip()?;
    let complete = match &local {
        Some(l) => !ws.git.is_shallow_at(l)?,
        None => false,
    };
    let mut partial = Partial::Blobless;
    let fetched = if complete {
        ws.git.fetch_branch(&remote, branch)
    } else {
        match ws.git.fetch_tip_commits(&remote, branch) {
            Ok(tip) => {
                partial = Partial::Treeless;
                Ok(tip)
            }
            // A server that refuses `tree:0` still serves the trees with the commits.
            Err(_) => ws.git.fetch_tip_trees(&remote, branch),
        }
    };
    let (tip, from) = match fetched {
        Ok(Some(remote_tip)) => {
            let tip = super::audit_log::believed_tip(ws, branch, &remote, remote_tip, progress)?;
            (tip, Some(remote.clone()))
        }
        Ok(None) => (store.resolve_for_reading()?, None),
        Err(e) => {
            progress.warn(&format!("{e:#}; judging the local `{branch}`"));
            (store.resolve_for_reading()?, None)
        }
    };
    let shallow = ws.git.is_shallow_at(&tip)?;
    Ok(JudgedTip {
        tip,
        remote: from,
        shallow,
        partial,
    })
}

/// Makes the whole branch readable before a full read: history and every blob.
pub(super) fn complete(ws: &Workspace, branch: &str, judged: &JudgedTip) -> Result<()> {
    if !judged.shallow && !has_missing_blobs(ws, judged)? {
        return Ok(());
    }
    let remote = judged
        .remote
        .clone()
        .unwrap_or_else(|| ws.config.audit.remote.0.clone());
    if judged.partial == Partial::Treeless {
        // The server sends the history as a thin pack against the shallow parent's trees
        // and blobs, which a treeless fetch left out; its lazy fetches of them do not make
        // the pack whole. With the two commits' trees here first, it is as after a
        // blobless fetch.
        ws.git
            .refetch_tip_trees(&remote, branch)
            .with_context(|| format!("reading all of `{branch}` after all"))?;
    }
    ws.git
        .complete_branch(&remote, branch)
        .with_context(|| format!("reading all of `{branch}` after all"))?;
    Ok(())
}

fn has_missing_blobs(ws: &Workspace, judged: &JudgedTip) -> Result<bool> {
    // A branch fetched tip-first and later deepened by a plain fetch: cheap to ask of the tip.
    let listed: Vec<Oid> = ws
        .git
        .ls_tree(judged.tip.as_str(), false)?
        .into_iter()
        .filter(|e| e.kind == "blob")
        .map(|e| e.oid)
        .collect();
    Ok(!ws.git.missing(&listed)?.is_empty())
}

/// What the gate and deploy ask of the log, answered by the whole log or by the summary.
pub(super) enum Judged {
    Full(Ledger),
    Summary(Box<Answers>),
}

impl Judged {
    /// The newest recorded version of `path` with these bytes (see [`Ledger::by_sha256`]).
    pub fn by_sha256(&self, path: &PromptPath, sha256: &Sha256Hex) -> Option<&RecordedVersion> {
        match self {
            Judged::Full(l) => l.by_sha256(path, sha256),
            Judged::Summary(a) => a.versions.get(&(path.clone(), sha256.clone())),
        }
    }

    /// The version number of the newest recorded version of `path` whose blob is `blob`.
    pub fn version_by_content(&self, path: &PromptPath, blob: &Oid) -> Option<Version> {
        match self {
            Judged::Full(l) => l.by_content(path, blob).map(|v| v.prompt.version),
            Judged::Summary(a) => a.newest(path, |v| &v.git_blob == blob).map(|v| v.version),
        }
    }

    /// The version number of the newest recorded version of `path` with these bytes, from
    /// the summary alone (for the policy file's row, which shows it and decides nothing).
    pub fn version_by_sha256(&self, path: &PromptPath, sha256: &Sha256Hex) -> Option<Version> {
        match self {
            Judged::Full(l) => l.by_sha256(path, sha256).map(|v| v.prompt.version),
            Judged::Summary(a) => a.newest(path, |v| &v.sha256 == sha256).map(|v| v.version),
        }
    }
}

/// The summary's answers for the prompts on disk, each resting on its checked entry.
pub(super) struct Answers {
    pub in_force: PolicyInForce,
    /// The heads of the paths on disk.
    heads: HashMap<PromptPath, Head>,
    /// The histories of the paths on disk whose bytes are not their newest version's.
    histories: HashMap<PromptPath, History>,
    versions: HashMap<(PromptPath, Sha256Hex), RecordedVersion>,
    env: Option<EnvState>,
    view: StateView,
    /// The tip's trees, through which entries and files are fetched and found.
    trees: TipTrees,
    /// Entries on the branch.
    size: u64,
    origin: String,
}

/// Why the summary cannot answer: said on stderr before the whole log is read.
pub(super) struct NotBelieved(pub String);

impl From<anyhow::Error> for NotBelieved {
    fn from(e: anyhow::Error) -> Self {
        NotBelieved(format!("{e:#}"))
    }
}

impl From<String> for NotBelieved {
    fn from(e: String) -> Self {
        NotBelieved(e)
    }
}

/// Tells why the summary is not used.
pub(super) fn fall_back(progress: &Progress, why: &NotBelieved) {
    progress.warn(&format!(
        "the gate cannot answer from the audit branch's state summary: {}; reading and \
         verifying the whole log instead",
        why.0
    ));
}

/// The working tree's prompt files with every file's bytes kept, and the order the walk met
/// them in (the whole-log gate keeps the bytes of the first unrecorded ones it meets).
pub(super) fn scan_keeping_all(
    scan: impl FnOnce(&dyn Fn(&PromptPath, &Sha256Hex) -> bool) -> Result<Vec<OnDisk>>,
) -> Result<(Vec<OnDisk>, Vec<PromptPath>)> {
    let order: RefCell<Vec<PromptPath>> = RefCell::new(Vec::new());
    let found = scan(&|p, _| {
        order.borrow_mut().push(p.clone());
        true
    })?;
    Ok((found, order.into_inner()))
}

/// The checked summary at `judged`'s tip and the working tree's files judged by it (from
/// [`scan_keeping_all`]). Returns them with the bytes kept that the whole-log gate keeps:
/// those of the first `explained` unrecorded files the walk met.
#[allow(clippy::too_many_arguments)]
pub(super) fn answer(
    ws: &Workspace,
    branch: &str,
    judged: &JudgedTip,
    env: &str,
    trust: &Trust,
    (mut found, order): (Vec<OnDisk>, Vec<PromptPath>),
    explained: usize,
    deploying: bool,
) -> Result<(Answers, Vec<OnDisk>), NotBelieved> {
    let tip = &judged.tip;
    let parents = ws.git.commit_parents(tip)?;
    let parent = match parents.as_slice() {
        [] => None,
        [p] => Some(p.clone()),
        _ => return Err("the tip is a merge commit".to_owned().into()),
    };
    let (tip_tree, message) = ws.git.commit_tree_and_message(tip)?;
    // The parent's tree, when the parent commit is here (fetched with the tip, or a full
    // branch).
    let parent_tree = match &parent {
        Some(p) if ws.git.resolve_commit(p.as_str())?.is_some() => {
            Some(ws.git.commit_tree_and_message(p)?.0)
        }
        _ => None,
    };
    let mut trees = TipTrees::new(
        &ws.git,
        judged.remote.as_deref(),
        judged.partial,
        &tip_tree,
        parent_tree.as_ref(),
    )?;
    let last = bring_first(&mut trees, &message, env, &found, deploying)?;
    let size = last.0 + 1;
    // The summary checked, the tip against its parent included (`succession::check`,
    // which reads the trees and files `bring_first` fetched).
    let (mut view, checkpoint) = checked_view(&ws.store(branch), tip, trust, size)?;
    // The heads of the paths on disk (one shard file per first byte, fetched at once), and
    // the history of each path whose bytes are not its newest version's: a long log's
    // history is read only where the answer needs it.
    let (heads, histories) = heads_and_histories(&mut view, &mut trees, &found)?;
    let policy = view.policy()?;
    let in_force = policy.for_next_change();
    // The entries the answer rests on: each version on disk, and the policy in force's.
    let mut wanted: BTreeSet<EntryIndex> = BTreeSet::new();
    let mut answers = Answers {
        in_force,
        heads,
        histories,
        versions: HashMap::new(),
        env: None,
        view,
        trees,
        size,
        origin: checkpoint.origin.clone(),
    };
    for f in &found {
        if let Some(v) = f
            .sha256()
            .and_then(|sha| answers.newest(&f.path, |v| &v.sha256 == sha))
        {
            wanted.insert(v.entry);
        }
    }
    wanted.extend(answers.in_force.entry);
    answers.env = answers.view.env(env)?;
    let read = answers.read_checked(&wanted.into_iter().collect::<Vec<_>>(), trust)?;
    if let Some(e) = answers.in_force.entry {
        check_policy_entry(&answers.in_force, &read[&e])?;
    }
    for f in &found {
        let Some(sha) = f.sha256() else {
            continue;
        };
        let Some(v) = answers.newest(&f.path, |v| &v.sha256 == sha) else {
            continue;
        };
        let recorded = recorded_version(&read[&v.entry], &f.path, v)?;
        answers
            .versions
            .insert((f.path.clone(), sha.clone()), recorded);
    }
    keep_unrecorded_bytes(&mut found, &order, &answers, explained);
    Ok((answers, found))
}

/// Brings what every answer reads, in one round of requests (a tree level each): the
/// branch's metadata, checkpoint and range, the state summary's index, policy, renames and
/// environment file, the heads shards of the paths on disk, the parent's root tree, range
/// and checkpoint; and the last entry with its directory (what `succession::check`
/// compares with the parent), where the tip commit's `Promptrail-Entry` trailer
/// says it is (a hint, not believed: the trees say where it is, and a wrong hint costs a
/// request). When `deploying`, also the directories of the state chunks the append rewrites
/// (each path's deployments, the environment's entry list), so that only their files are
/// left to fetch ([`Answers::fetch_for_deployment`]). Returns the last entry's index as the
/// tip's trees have it (checked with the summary).
fn bring_first(
    trees: &mut TipTrees,
    message: &str,
    env: &str,
    found: &[OnDisk],
    deploying: bool,
) -> Result<EntryIndex, NotBelieved> {
    let env_path = env_file(env);
    let shards: BTreeSet<String> = found.iter().map(|f| heads_file(&f.path)).collect();
    let hinted = entry_hint(message).map(entry_path);
    let mut tip_paths: Vec<&str> = vec![
        META_FILE,
        CHECKPOINT_FILE,
        RANGE_FILE,
        crate::state::TREE_FILE,
        crate::state::INDEX_FILE,
        crate::state::POLICY_FILE,
        crate::state::RENAMES_FILE,
        &env_path,
        "entries/",
    ];
    tip_paths.extend(shards.iter().map(String::as_str));
    tip_paths.extend(hinted.as_deref());
    let chunk_dirs: Vec<String> = match deploying {
        true => found
            .iter()
            .map(|f| crate::state::deployments_dir(&f.path))
            .chain([crate::state::env_log_dir(env)])
            .collect(),
        false => Vec::new(),
    };
    tip_paths.extend(chunk_dirs.iter().map(String::as_str));
    // Of the parent, only its signed size and right edge: its `entries` tree is recomputed
    // from the tip's, never fetched (`succession::check`).
    trees.bring(&tip_paths, &[RANGE_FILE, CHECKPOINT_FILE])?;
    // The last entry as the trees have it: the last row of the last directory.
    let dir = trees
        .tip_last_name("entries")?
        .map(|d| format!("entries/{d}"))
        .ok_or_else(|| "the branch holds no entry".to_owned())?;
    if trees.tip_last_name(&dir)?.is_none() {
        trees.bring(&[&format!("{dir}/")], &[])?;
    }
    let path = trees
        .tip_last_name(&dir)?
        .map(|n| format!("{dir}/{n}"))
        .ok_or_else(|| format!("{dir} holds no entry"))?;
    let last = index_from_path(&path)
        .ok_or_else(|| format!("{path} is not an entry of a contiguous log"))?;
    // The last entry (already here when the hint was right).
    trees.bring(&[&path], &[])?;
    Ok(last)
}

/// The `Promptrail-Entry: N` trailer of an audit commit's message (informational: used
/// only to fetch ahead).
fn entry_hint(message: &str) -> Option<EntryIndex> {
    message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Promptrail-Entry: "))
        .and_then(|n| n.trim().parse().ok())
        .map(EntryIndex)
}

/// The tip's state summary, checked against its signed checkpoint under the trust, and
/// covering exactly the `size` entries the branch holds; with that checkpoint.
fn checked_view(
    store: &crate::store::Store,
    tip: &Oid,
    trust: &Trust,
    size: u64,
) -> Result<(StateView, crate::checkpoint::Checkpoint), NotBelieved> {
    let Some(mut view) = StateView::open(store, tip)? else {
        return Err("the log has no state summary yet (it predates it)"
            .to_owned()
            .into());
    };
    view.check(trust)?;
    if view.size() != size {
        return Err(format!(
            "the checkpoint covers {} entries, the branch holds {size}",
            view.size()
        )
        .into());
    }
    let checkpoint = view
        .checkpoint()
        .cloned()
        .ok_or_else(|| "the branch has no checkpoint".to_owned())?;
    Ok((view, checkpoint))
}

/// A summary's records of the paths on disk.
type ByPath<T> = HashMap<PromptPath, T>;

/// The heads of the paths on disk (their shard files fetched at once), and the history of
/// each path whose bytes are not its newest version's.
fn heads_and_histories(
    view: &mut StateView,
    trees: &mut TipTrees,
    found: &[OnDisk],
) -> Result<(ByPath<Head>, ByPath<History>), NotBelieved> {
    // The shards came with the first files (`bring_first`).
    let mut heads = HashMap::new();
    for f in found {
        if let Some(h) = view.head(&f.path)? {
            heads.insert(f.path.clone(), h);
        }
    }
    let older: Vec<&PromptPath> = found
        .iter()
        .filter(|f| {
            f.sha256().is_some_and(|sha| {
                heads
                    .get(&f.path)
                    .is_some_and(|h: &Head| h.latest.as_ref().is_none_or(|l| &l.sha256 != sha))
            })
        })
        .map(|f| &f.path)
        .collect();
    let files: Vec<String> = older.iter().map(|p| history_file(p)).collect();
    if !files.is_empty() {
        trees.bring(&files.iter().map(String::as_str).collect::<Vec<_>>(), &[])?;
    }
    let mut histories = HashMap::new();
    for p in older {
        if let Some(h) = view.history(p)? {
            histories.insert(p.clone(), h);
        }
    }
    Ok((heads, histories))
}

/// Bytes kept as the whole-log gate keeps them: the first `explained` unrecorded files.
fn keep_unrecorded_bytes(
    found: &mut [OnDisk],
    order: &[PromptPath],
    answers: &Answers,
    explained: usize,
) {
    let unrecorded: BTreeSet<PromptPath> = order
        .iter()
        .filter(|p| {
            found
                .iter()
                .find(|f| &f.path == *p)
                .and_then(OnDisk::sha256)
                .is_some_and(|sha| !answers.versions.contains_key(&((*p).clone(), sha.clone())))
        })
        .take(explained)
        .cloned()
        .collect();
    for f in found {
        if let State::File { bytes, .. } = &mut f.state
            && !unrecorded.contains(&f.path)
        {
            *bytes = None;
        }
    }
}

impl Answers {
    /// The state files a deployment's append rewrites beyond those the gate read: each
    /// deployed path's last deployment chunk and the environment's last entry-list chunk,
    /// fetched by id in one request. A fresh clone holds the tip's trees, not its blobs:
    /// without these the append finds them missing and rebuilds the summary from every entry
    /// (the whole branch fetched). What they hold is checked by the append as ever.
    pub(super) fn fetch_for_deployment<'p>(
        &mut self,
        env: &str,
        paths: impl IntoIterator<Item = &'p PromptPath>,
    ) -> Result<()> {
        let index = self.view.index();
        // Each chunk file with the trees on its way (the append rewrites those trees), or
        // the directory a first chunk is written into.
        let files: Vec<String> = paths
            .into_iter()
            .map(crate::state::deployments_dir)
            .chain([crate::state::env_log_dir(env)])
            .map(|dir| match index.last_chunk(&dir).ok().flatten() {
                Some(last) => crate::state::chunk_file(&dir, last),
                None => dir,
            })
            .collect();
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        self.trees.bring(&names, &[])?;
        Ok(())
    }

    /// The newest version record of `path` (not a deletion) that `pick` accepts: the head's
    /// newest when it is one, else from the path's history (read for the paths on disk
    /// whose bytes are not their newest version's).
    fn newest(
        &self,
        path: &PromptPath,
        pick: impl Fn(&VersionState) -> bool,
    ) -> Option<&VersionState> {
        let head = self.heads.get(path)?;
        if let Some(l) = head.latest.as_ref().filter(|l| pick(l)) {
            return Some(l);
        }
        self.histories.get(path).and_then(|h| {
            h.versions
                .iter()
                .rev()
                .find(|v| v.change != Some(ChangeType::Deleted) && pick(v))
        })
    }

    /// Reads entries by index (fetching the missing ones at once), each checked: signed by
    /// the trust, at the position its path gives, of this log.
    fn read_checked(
        &mut self,
        indexes: &[EntryIndex],
        trust: &Trust,
    ) -> Result<HashMap<EntryIndex, Statement>, NotBelieved> {
        if let Some(i) = indexes.iter().find(|i| i.0 >= self.size) {
            return Err(format!("the summary names entry #{}, past the log", i.0).into());
        }
        let paths: Vec<String> = indexes.iter().map(|i| entry_path(*i)).collect();
        self.trees
            .bring(&paths.iter().map(String::as_str).collect::<Vec<_>>(), &[])?;
        let mut out = HashMap::new();
        for (entry, i) in self.view.entries(indexes)?.into_iter().zip(indexes) {
            let st = check_entry(&entry.bytes, *i, trust, &self.origin)
                .map_err(|e| format!("{}: {e}", entry_path(*i)))?;
            out.insert(*i, st);
        }
        Ok(out)
    }

    /// The deployment a re-run of CI run `run` already recorded for exactly `want`: every
    /// wanted path is live in the environment by an entry of that run, and those entries
    /// deployed exactly `want` (the summary keeps no run ids; the live entries are read).
    pub fn already_deployed(
        &mut self,
        env: &str,
        run: &str,
        want: &BTreeSet<(PromptPath, Version)>,
        trust: &Trust,
    ) -> Result<Option<EntryIndex>, NotBelieved> {
        let Some(state) = &self.env else {
            return Ok(None);
        };
        let mut live = BTreeSet::new();
        for (path, _) in want {
            match state.live.get(path) {
                Some(l) => {
                    live.insert(l.entry);
                }
                None => return Ok(None),
            }
        }
        let entries: Vec<EntryIndex> = live.into_iter().collect();
        let read = self.read_checked(&entries, trust)?;
        let mut done = BTreeSet::new();
        for e in &entries {
            let st = &read[e];
            let d = st.predicate.deployment.as_ref();
            if !matches!(
                st.predicate.event,
                EventType::Deployment | EventType::Rollback
            ) || d.is_none_or(|d| d.environment != env || d.run_id.as_deref() != Some(run))
            {
                return Ok(None);
            }
            done.extend(
                st.predicate
                    .prompts
                    .iter()
                    .map(|p| (p.path.clone(), p.version)),
            );
        }
        Ok((&done == want).then(|| entries.first().copied()).flatten())
    }
}

/// The policy in force at the tip after `judged_at`'s deployment was built: from the checked
/// summary at `tip` when it is believed (`None` otherwise: read the whole log).
pub(super) fn policy_at(
    ws: &Workspace,
    branch: &str,
    tip: &Oid,
    trust: &Trust,
) -> Option<PolicyInForce> {
    let store = ws.store(branch);
    let mut view = StateView::open(&store, tip).ok()??;
    view.check(trust).ok()?;
    Some(view.policy().ok()?.for_next_change())
}

/// An entry's signature, position and log, as `verify` checks them (PT002–PT006).
fn check_entry(
    bytes: &[u8],
    index: EntryIndex,
    trust: &Trust,
    origin: &str,
) -> Result<Statement, String> {
    let (bundle, st) = decode_entry(bytes)?;
    if st.predicate.log.index != index {
        return Err(format!(
            "it says index {}, its path {}",
            st.predicate.log.index.0, index.0
        ));
    }
    if st.predicate.log.origin != origin {
        return Err(format!(
            "it belongs to log {}, the checkpoint to {origin}",
            st.predicate.log.origin
        ));
    }
    if bundle.is_keyless() {
        let keyless = trust
            .keyless
            .as_ref()
            .ok_or("a keyless entry, and no identity is trusted")?;
        keyless
            .verify_entry(bytes, &st)
            .map_err(|e| format!("its keyless signature does not verify: {e}"))?;
        return Ok(st);
    }
    match trust.verify_key_entry(&bundle) {
        Some(k) if k.valid_at(st.predicate.recorded_at) => {}
        Some(_) => return Err("it was signed outside its key's validity window".into()),
        None => return Err("its signature does not verify with a trusted key".into()),
    }
    Ok(st)
}

/// The version record `v` of the summary, as its entry has it: refused when they differ.
fn recorded_version(
    st: &Statement,
    path: &PromptPath,
    v: &crate::state::VersionState,
) -> Result<RecordedVersion, NotBelieved> {
    let p = &st.predicate;
    let disagree = |what: &str| {
        NotBelieved(format!(
            "the summary says entry #{} records {path} {} ({what}), the entry does not",
            v.entry.0, v.version
        ))
    };
    match p.event {
        EventType::Version => {}
        EventType::Deployment | EventType::Rollback => return Err(disagree("a version entry")),
    }
    let prompt = p
        .prompts
        .iter()
        .find(|r| {
            &r.path == path
                && r.version == v.version
                && r.digest.sha256 == v.sha256
                && r.digest.git_blob == v.git_blob
                && r.commit == v.commit
                && r.change != Some(ChangeType::Deleted)
        })
        .ok_or_else(|| disagree("these digests"))?;
    let recorded = RecordedVersion {
        entry: p.log.index,
        lineage: LineageId(0),
        prompt: prompt.clone(),
        rule: p.policy.rules.iter().find(|r| &r.path == path).cloned(),
        approvals: p
            .approvals
            .iter()
            .filter(|a| &a.path == path)
            .cloned()
            .collect(),
        authors: p.authors.clone(),
    };
    if recorded.approved() != v.approved {
        return Err(disagree(if v.approved {
            "approved"
        } else {
            "not approved"
        }));
    }
    Ok(recorded)
}

/// The policy in force's entry records that `.promptrail.yml` version.
fn check_policy_entry(in_force: &PolicyInForce, st: &Statement) -> Result<(), NotBelieved> {
    let ok = st.predicate.prompts.iter().any(|r| {
        crate::policy::is_policy_file(&r.path)
            && Some(r.version) == in_force.version
            && r.digest.sha256 == in_force.sha256
            && Some(&r.commit) == in_force.commit.as_ref()
    });
    if ok {
        Ok(())
    } else {
        Err(NotBelieved(format!(
            "the summary's policy in force names entry #{}, which does not record it",
            in_force.entry.map_or(0, |e| e.0)
        )))
    }
}
