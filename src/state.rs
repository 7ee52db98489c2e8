//! The state summary on the audit branch (pure): what every reader and the gate would
//! otherwise compute by decoding the whole log, kept beside the entries and bound to the
//! signed checkpoint.
//!
//! ```text
//! state/index.json                          format, tree size, SHA-256 of every other file
//! state/policy.json                         the policy in force (and a change waiting)
//! state/renames.json                        every path a rename linked to another
//! state/tree.json                           the Merkle tree's complete-chunk roots (`crate::subtree`)
//! state/heads/<hh>.json                     each path's head: present, newest version, links
//! state/prompts/<hh>/<h>.json               one path's version records and version entries
//! state/deployments/<hh>/<h>/<nnnnnn>.json  one path's deployments, 32 a chunk
//! state/env/<env>.json                      each environment's live set
//! state/env-log/<env>/<nnnnnn>.json         its deployment entries, 1,024 a chunk
//! ```
//! `<h>` is the hex SHA-256 of the path and `<hh>` its first byte. The layout (format 2)
//! splits what is small and current from what grows with history, so that a reader reads,
//! and an append writes, only what its answer or its entries need: a version entry rewrites
//! its paths' heads shards and history files; a deployment only the last chunk of each
//! deployed path's deployments, the environment's live set and the last chunk of its
//! entry list (never a head or a history).
//!
//! The checkpoint that closes the append carries the extension line
//! `promptrail-state sha256:<hex of SHA-256(state/index.json)>`, so the one signed note binds
//! the summary to the tree size and root. Every file is compact JSON of the types below
//! (maps sorted by key), so that a summary recomputed from the entries is byte-equal to a
//! correct one: `verify` recomputes it (PT017), an append loads (through a [`Source`]) and
//! rewrites only the files its entries touch, and a log without a format-2 `state/` gets
//! the whole summary with its next append. Nothing here is believed unless the caller
//! checked the binding (see `crate::summary::StateView`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::attestation::Statement;
use crate::attestation::predicate::{ChangeType, EventType, PolicyInForce};
use crate::governance::PolicyTracker;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};

mod compact;
use compact::{DeploymentRec, HistoryRec, Names, VersionRec};

/// The summary's layout version.
pub const FORMAT: u32 = 2;
/// The directory of the summary on the audit branch.
pub const DIR: &str = "state";
/// The index of the summary's files.
pub const INDEX_FILE: &str = "state/index.json";
/// The policy in force.
pub const POLICY_FILE: &str = "state/policy.json";
/// Every path a rename linked to another (a lineage of more than one path).
pub const RENAMES_FILE: &str = "state/renames.json";
/// The roots of the Merkle tree's complete chunks ([`crate::subtree::Chunks`]): not computed
/// from the statements but from the entry files' leaf hashes, so the append and `verify` add
/// it to the encoded summary ([`Encoded::with_file`]).
pub const TREE_FILE: &str = "state/tree.json";
/// The checkpoint extension line's prefix; the hex SHA-256 of `state/index.json` follows.
pub const EXTENSION: &str = "promptrail-state sha256:";
/// Deployment records per chunk of one path's deployments.
pub const DEPLOYMENT_CHUNK: usize = 32;
/// Entries per chunk of one environment's entry list.
pub const ENV_CHUNK: usize = 1024;

fn path_hex(path: &PromptPath) -> String {
    Sha256Hex::of(path.as_str().as_bytes()).to_string()
}

/// The heads shard holding `path`: `state/heads/<first byte of SHA-256(path), hex>.json`.
pub fn heads_file(path: &PromptPath) -> String {
    let d = Sha256::digest(path.as_str().as_bytes());
    format!("{DIR}/heads/{:02x}.json", d[0])
}

/// The history file of `path`: `state/prompts/<hh>/<SHA-256(path), hex>.json`.
pub fn history_file(path: &PromptPath) -> String {
    let h = path_hex(path);
    format!("{DIR}/prompts/{}/{h}.json", &h[..2])
}

/// The directory of `path`'s deployment chunks (with a trailing `/`).
pub fn deployments_dir(path: &PromptPath) -> String {
    let h = path_hex(path);
    format!("{DIR}/deployments/{}/{h}/", &h[..2])
}

/// The stem naming environment `env` in file names: its name when that is a plain name
/// (letters, digits, `-`, `_`, at most 64), else `~` and the SHA-256 of the name (no name
/// can become a path).
fn env_stem(env: &str) -> String {
    let plain = !env.is_empty()
        && env.len() <= 64
        && env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        env.to_owned()
    } else {
        format!("~{}", Sha256Hex::of(env.as_bytes()))
    }
}

/// The live set file of environment `env`: `state/env/<stem>.json`.
pub fn env_file(env: &str) -> String {
    format!("{DIR}/env/{}.json", env_stem(env))
}

/// The directory of environment `env`'s entry list chunks (with a trailing `/`).
pub fn env_log_dir(env: &str) -> String {
    format!("{DIR}/env-log/{}/", env_stem(env))
}

/// Chunk `n` of a chunked list in `dir`.
pub fn chunk_file(dir: &str, n: u64) -> String {
    format!("{dir}{n:06}.json")
}

/// The chunk number of a chunk file in `dir`, if `file` is one.
pub fn chunk_number(dir: &str, file: &str) -> Option<u64> {
    let n = file.strip_prefix(dir)?.strip_suffix(".json")?;
    (n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_env_stem(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && s != "." && s != ".."
}

/// Whether `path` is a file of this format's layout (what an index may list).
pub fn is_format_file(path: &str) -> bool {
    if path == INDEX_FILE || path == POLICY_FILE || path == RENAMES_FILE || path == TREE_FILE {
        return true;
    }
    let Some(rest) = path.strip_prefix("state/") else {
        return false;
    };
    if let Some(n) = rest
        .strip_prefix("heads/")
        .and_then(|n| n.strip_suffix(".json"))
    {
        return is_hex(n, 2);
    }
    if let Some(n) = rest
        .strip_prefix("prompts/")
        .and_then(|n| n.strip_suffix(".json"))
    {
        return matches!(n.split_once('/'), Some((hh, h)) if is_hex(hh, 2) && is_hex(h, 64) && h.starts_with(hh));
    }
    if let Some(n) = rest.strip_prefix("deployments/") {
        let parts: Vec<&str> = n.split('/').collect();
        return matches!(parts.as_slice(), [hh, h, c] if is_hex(hh, 2) && is_hex(h, 64)
            && h.starts_with(hh) && chunk_number("", c).is_some());
    }
    if let Some(n) = rest.strip_prefix("env-log/") {
        return matches!(n.split_once('/'), Some((stem, c)) if is_env_stem(stem) && chunk_number("", c).is_some());
    }
    rest.strip_prefix("env/")
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(is_env_stem)
}

/// Whether `path` is a file of the summary's layout, this format's or format 1's (its
/// shards `state/prompts/<hh>.json`): what an append may change beside its entry.
pub fn is_state_file(path: &str) -> bool {
    if is_format_file(path) {
        return true;
    }
    path.strip_prefix("state/prompts/")
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|n| is_hex(n, 2))
}

/// The checkpoint extension line binding an index with this SHA-256.
pub fn extension_line(index_sha256: &Sha256Hex) -> String {
    format!("{EXTENSION}{index_sha256}")
}

/// The index SHA-256 a checkpoint's extension lines bind, if exactly one names one.
pub fn bound_index(extensions: &[String]) -> Result<Option<Sha256Hex>, String> {
    let named: Vec<&str> = extensions
        .iter()
        .filter_map(|l| l.strip_prefix(EXTENSION))
        .collect();
    match named.as_slice() {
        [] => Ok(None),
        [one] => Sha256Hex::parse(one)
            .map(Some)
            .ok_or_else(|| format!("the checkpoint's state line names `{one}`, not a SHA-256")),
        _ => Err("the checkpoint has more than one state line".into()),
    }
}

/// One version record of a prompt at one path (a `version` entry's prompt record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionState {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeType>,
    pub sha256: Sha256Hex,
    pub git_blob: Oid,
    /// The entry that recorded it.
    pub entry: EntryIndex,
    /// The landed commit.
    pub commit: Oid,
    /// Approved under its rule with approvals read from GitHub (the ledger's judgement).
    pub approved: bool,
}

/// One deployment or rollback of a prompt at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentState {
    pub entry: EntryIndex,
    pub environment: String,
    pub event: EventType,
    pub version: Version,
    pub sha256: Sha256Hex,
    #[serde(serialize_with = "crate::attestation::predicate::rfc3339")]
    pub deployed_at: DateTime<Utc>,
}

/// A path's head (constant size): what the gate, `status` and a deployment ask first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Head {
    /// Whether its newest version event left it in the tree (not deleted, not renamed away).
    pub present: bool,
    /// Its newest version record that is not a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<VersionState>,
    /// The paths a rename linked it to (either way): its lineage is the closure.
    pub links: BTreeSet<PromptPath>,
}

/// `state/heads/<hh>.json`: the heads of the paths whose SHA-256 starts with that byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heads {
    pub prompts: BTreeMap<PromptPath, Head>,
}

/// `state/prompts/<hh>/<h>.json`: one path's version records and version entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct History {
    pub path: PromptPath,
    /// Its version records in log order (a deletion or rename of a version already recorded
    /// here adds none, as in the ledger).
    pub versions: Vec<VersionState>,
    /// Every version entry that names it (as `path` or as `previousPath`), in log order.
    pub entries: Vec<EntryIndex>,
}

impl History {
    fn new(path: PromptPath) -> History {
        History {
            path,
            versions: Vec::new(),
            entries: Vec::new(),
        }
    }
}

/// `state/deployments/<hh>/<h>/<n>.json`: deployments `32n..32n+32` of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentChunk {
    pub path: PromptPath,
    pub deployments: Vec<DeploymentState>,
}

/// `state/env-log/<env>/<n>.json`: deployment entries `1024n..1024n+1024` of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvChunk {
    pub environment: String,
    pub entries: Vec<EntryIndex>,
}

/// Everything the log says about one path (assembled by readers from its head, history
/// and deployment chunks; not a file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptState {
    /// Whether its newest version event left it in the tree (not deleted, not renamed away).
    pub present: bool,
    /// Its version records in log order.
    pub versions: Vec<VersionState>,
    /// Its deployments and rollbacks in log order.
    pub deployments: Vec<DeploymentState>,
    /// Every entry that names it (as `path` or as `previousPath`), in log order.
    pub entries: Vec<EntryIndex>,
    /// The paths a rename linked it to (either way): its lineage is the closure.
    pub links: BTreeSet<PromptPath>,
}

impl PromptState {
    /// The state from its parts (entries: the history's and the deployments', merged).
    pub fn assemble(
        head: Head,
        history: Option<History>,
        deployments: Vec<DeploymentState>,
    ) -> PromptState {
        let (versions, mut entries) =
            history.map_or((Vec::new(), Vec::new()), |h| (h.versions, h.entries));
        entries.extend(deployments.iter().map(|d| d.entry));
        entries.sort();
        entries.dedup();
        PromptState {
            present: head.present,
            versions,
            deployments,
            entries,
            links: head.links,
        }
    }

    /// The newest version record of this content (not a deletion): what the gate looks up.
    pub fn by_sha256(&self, sha256: &Sha256Hex) -> Option<&VersionState> {
        by_sha256(&self.versions, sha256)
    }

    /// The version `n` recorded here.
    pub fn version(&self, n: Version) -> Option<&VersionState> {
        self.versions.iter().rev().find(|v| v.version == n)
    }
}

/// The newest record of `versions` with this content that is not a deletion.
pub fn by_sha256<'a>(versions: &'a [VersionState], sha256: &Sha256Hex) -> Option<&'a VersionState> {
    versions
        .iter()
        .rev()
        .find(|v| &v.sha256 == sha256 && v.change != Some(ChangeType::Deleted))
}

/// What is live at one path in one environment: its newest deployment or rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiveState {
    pub version: Version,
    pub sha256: Sha256Hex,
    /// The deployment or rollback entry.
    pub entry: EntryIndex,
    pub event: EventType,
    #[serde(serialize_with = "crate::attestation::predicate::rfc3339")]
    pub deployed_at: DateTime<Utc>,
    /// The entry that recorded the live version at this path with this content, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_entry: Option<EntryIndex>,
}

/// One environment's live set, by the path each prompt was deployed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvState {
    pub environment: String,
    pub live: BTreeMap<PromptPath, LiveState>,
}

/// A policy change waiting for the log to move past the commit that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingPolicy {
    pub commit: Oid,
    pub policy: PolicyInForce,
}

/// `state/policy.json`: the policy tracker after every entry ([`crate::governance`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyState {
    /// In force for the entries of the newest commit.
    pub in_force: PolicyInForce,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingPolicy>,
    pub past_adoption: bool,
}

impl PolicyState {
    pub fn tracker(&self) -> PolicyTracker {
        PolicyTracker::from_parts(
            self.in_force.clone(),
            self.pending
                .as_ref()
                .map(|p| (p.commit.clone(), p.policy.clone())),
            self.past_adoption,
        )
    }

    /// The policy that judges the next change or deployment.
    pub fn for_next_change(&self) -> PolicyInForce {
        self.tracker().for_next_change().clone()
    }

    fn of(tracker: &PolicyTracker) -> PolicyState {
        let (in_force, pending, past_adoption) = tracker.parts();
        PolicyState {
            in_force: in_force.clone(),
            pending: pending.map(|(commit, policy)| PendingPolicy {
                commit: commit.clone(),
                policy: policy.clone(),
            }),
            past_adoption,
        }
    }
}

/// `state/renames.json`: the paths whose lineage has more than one path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renames {
    pub paths: BTreeSet<PromptPath>,
}

/// `state/index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateIndex {
    pub format: u32,
    /// Entries the summary covers: the checkpoint's tree size.
    pub size: u64,
    /// The landed commit of the newest `version` entry (where recording stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version_commit: Option<Oid>,
    /// Every other state file with the SHA-256 of its bytes.
    pub files: BTreeMap<String, Sha256Hex>,
}

impl StateIndex {
    /// The chunk files the index lists in `dir`, in chunk order.
    pub fn chunks(&self, dir: &str) -> Vec<(u64, &str)> {
        self.files
            .range::<str, _>((std::ops::Bound::Included(dir), std::ops::Bound::Unbounded))
            .map(|(f, _)| f.as_str())
            .take_while(|f| f.starts_with(dir))
            .filter_map(|f| chunk_number(dir, f).map(|n| (n, f)))
            .collect()
    }

    /// The last chunk listed in `dir`, checked to be the last of `0..=n`.
    pub fn last_chunk(&self, dir: &str) -> Result<Option<u64>, String> {
        let chunks = self.chunks(dir);
        for (i, (n, f)) in chunks.iter().enumerate() {
            if *n != i as u64 {
                return Err(format!("{INDEX_FILE} lists {f}, not chunk {i} of {dir}"));
            }
        }
        Ok(chunks.last().map(|(n, _)| *n))
    }
}

/// The encoded files of a summary, to be written in one commit.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Changed files (path, bytes), index last.
    pub files: Vec<(String, Vec<u8>)>,
    /// Every file of the summary is here: remove the branch's `state/` before writing them
    /// (a summary rebuilt from every entry, e.g. over a format-1 one).
    pub replace_all: bool,
    /// SHA-256 of the index's bytes: what the checkpoint binds.
    pub index_sha256: Sha256Hex,
    pub index: StateIndex,
}

impl Encoded {
    /// The same summary with `path` (not one the statements give, e.g. [`TREE_FILE`]) set
    /// to `bytes`: written, and listed in the index, which is encoded again. (Written even
    /// when the index already lists these bytes: the file on the branch may not be them.)
    pub fn with_file(mut self, path: &str, bytes: Vec<u8>) -> Result<Encoded, serde_json::Error> {
        self.files.retain(|(p, _)| p != path && p != INDEX_FILE);
        self.index
            .files
            .insert(path.to_owned(), Sha256Hex::of(&bytes));
        self.files.push((path.to_owned(), bytes));
        let index = serde_json::to_vec(&self.index)?;
        self.index_sha256 = Sha256Hex::of(&index);
        self.files.push((INDEX_FILE.to_owned(), index));
        Ok(self)
    }
}

/// Where a resumed summary reads the files it did not load yet: the checked state files at
/// the tip (`None`: the index lists no such file).
pub trait Source {
    fn read(&mut self, file: &str) -> anyhow::Result<Option<Vec<u8>>>;
}

/// A list kept in chunks of a fixed size, loaded from its last chunk.
#[derive(Debug, Clone)]
struct Chunked<T> {
    /// The chunk number of `items[0]` (a chunk boundary).
    first: u64,
    items: Vec<T>,
}

/// The summary being computed: from the first entry (every file), or resumed at a tip with
/// files loaded from it as the new entries need them.
#[derive(Default)]
pub struct Summary {
    heads: BTreeMap<String, Heads>,
    /// Every path's versions and deployments, compact: on a summary recomputed from every
    /// entry these are nearly all of its memory.
    histories: BTreeMap<PromptPath, HistoryRec>,
    deployments: BTreeMap<PromptPath, Chunked<DeploymentRec>>,
    environments: Names,
    envs: BTreeMap<String, EnvState>,
    env_logs: BTreeMap<String, Chunked<EntryIndex>>,
    /// `None` until loaded (or created by a rename).
    renames: Option<Renames>,
    policy: PolicyTracker,
    size: u64,
    last_version_commit: Option<Oid>,
    /// Files changed since the summary was resumed (heads, env, policy, renames files).
    touched: BTreeSet<String>,
    touched_histories: BTreeSet<PromptPath>,
    touched_deployments: BTreeSet<PromptPath>,
    touched_env_logs: BTreeSet<String>,
    /// The index resumed from (`None`: built from scratch).
    base: Option<StateIndex>,
    source: Option<Box<dyn Source>>,
    /// The first file that could not be loaded: the summary cannot be encoded.
    failed: Option<String>,
}

/// A clone reads nothing more from the source (a summary built from scratch needs none).
impl Clone for Summary {
    fn clone(&self) -> Self {
        Summary {
            heads: self.heads.clone(),
            histories: self.histories.clone(),
            deployments: self.deployments.clone(),
            environments: self.environments.clone(),
            envs: self.envs.clone(),
            env_logs: self.env_logs.clone(),
            renames: self.renames.clone(),
            policy: self.policy.clone(),
            size: self.size,
            last_version_commit: self.last_version_commit.clone(),
            touched: self.touched.clone(),
            touched_histories: self.touched_histories.clone(),
            touched_deployments: self.touched_deployments.clone(),
            touched_env_logs: self.touched_env_logs.clone(),
            base: self.base.clone(),
            source: None,
            failed: self.failed.clone(),
        }
    }
}

impl std::fmt::Debug for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summary")
            .field("size", &self.size)
            .field("resumed", &self.base.is_some())
            .finish_non_exhaustive()
    }
}

impl Summary {
    /// The summary of an empty log.
    pub fn new() -> Summary {
        let mut s = Summary::default();
        s.touched.insert(POLICY_FILE.to_owned());
        s
    }

    /// A summary resumed at a tip whose (checked) index and policy are given; the files the
    /// entries applied next touch are read from `source` when first needed.
    pub fn resume(index: StateIndex, policy: &PolicyState, source: Box<dyn Source>) -> Summary {
        let mut s = Summary::new();
        s.policy = policy.tracker();
        s.size = index.size;
        s.last_version_commit = index.last_version_commit.clone();
        s.base = Some(index);
        s.source = Some(source);
        s
    }

    /// Entries covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Why a file the entries needed could not be read from the source (`None`: all were).
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Reads and parses a file from the source (`None`: not there, or nothing to read from).
    fn load<T: serde::de::DeserializeOwned>(&mut self, file: &str) -> Option<T> {
        if self.failed.is_some() {
            return None;
        }
        let source = self.source.as_mut()?;
        match source.read(file).and_then(|b| {
            b.map(|b| parse(file, &b).map_err(anyhow::Error::msg))
                .transpose()
        }) {
            Ok(v) => v,
            Err(e) => {
                self.failed = Some(format!("{e:#}"));
                None
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.failed.get_or_insert(why);
    }

    /// Loads the heads shard of `path` (once).
    fn load_heads(&mut self, path: &PromptPath) -> String {
        let file = heads_file(path);
        if !self.heads.contains_key(&file) {
            let heads: Heads = self.load(&file).unwrap_or_default();
            if heads.prompts.keys().any(|p| heads_file(p) != file) {
                self.fail(format!("{file} holds a path of another shard"));
            }
            self.heads.insert(file.clone(), heads);
        }
        file
    }

    fn head_mut(&mut self, path: &PromptPath) -> &mut Head {
        let file = self.load_heads(path);
        self.heads
            .entry(file)
            .or_default()
            .prompts
            .entry(path.clone())
            .or_default()
    }

    fn history_mut(&mut self, path: &PromptPath) -> &mut HistoryRec {
        if !self.histories.contains_key(path) {
            let file = history_file(path);
            let h: History = self
                .load(&file)
                .unwrap_or_else(|| History::new(path.clone()));
            if &h.path != path {
                self.fail(format!("{file} is about {}", h.path));
            }
            self.histories.insert(path.clone(), HistoryRec::of(h));
        }
        self.histories
            .entry(path.clone())
            .or_insert_with(|| HistoryRec::new(path.clone()))
    }

    /// The last chunk of the list in `dir`, as loaded: `(first, items)`.
    fn load_chunk<T, C: serde::de::DeserializeOwned>(
        &mut self,
        dir: &str,
        size: usize,
        items: impl FnOnce(C) -> Result<Vec<T>, String>,
    ) -> Chunked<T> {
        let last = match self.base.as_ref().map(|b| b.last_chunk(dir)) {
            None | Some(Ok(None)) => return Chunked::default_with(0),
            Some(Err(e)) => {
                self.fail(e);
                return Chunked::default_with(0);
            }
            Some(Ok(Some(n))) => n,
        };
        let file = chunk_file(dir, last);
        let Some(chunk) = self.load::<C>(&file) else {
            self.fail(format!("{file} is listed but cannot be read"));
            return Chunked::default_with(0);
        };
        match items(chunk) {
            Ok(v) if v.is_empty() || v.len() > size => {
                self.fail(format!(
                    "{file} holds {} items, a chunk 1 to {size}",
                    v.len()
                ));
                Chunked::default_with(0)
            }
            Ok(v) if v.len() == size => Chunked::default_with(last + 1),
            Ok(v) => Chunked {
                first: last,
                items: v,
            },
            Err(e) => {
                self.fail(format!("{file}: {e}"));
                Chunked::default_with(0)
            }
        }
    }

    fn deployments_mut(&mut self, path: &PromptPath) -> &mut Chunked<DeploymentRec> {
        if !self.deployments.contains_key(path) {
            let c = self.load_chunk(
                &deployments_dir(path),
                DEPLOYMENT_CHUNK,
                |c: DeploymentChunk| {
                    if &c.path == path {
                        Ok(c.deployments)
                    } else {
                        Err(format!("it is about {}", c.path))
                    }
                },
            );
            let names = &mut self.environments;
            let c = Chunked {
                first: c.first,
                items: c
                    .items
                    .iter()
                    .map(|d| DeploymentRec::of(d, names))
                    .collect(),
            };
            self.deployments.insert(path.clone(), c);
        }
        self.touched_deployments.insert(path.clone());
        self.deployments.entry(path.clone()).or_default()
    }

    fn env_mut(&mut self, env: &str) -> &mut EnvState {
        let file = env_file(env);
        if !self.envs.contains_key(&file) {
            let e: EnvState = self.load(&file).unwrap_or_else(|| EnvState {
                environment: env.to_owned(),
                live: BTreeMap::new(),
            });
            if e.environment != env {
                self.fail(format!("{file} is about environment `{}`", e.environment));
            }
            self.envs.insert(file.clone(), e);
        }
        self.touched.insert(file.clone());
        self.envs.entry(file).or_insert_with(|| EnvState {
            environment: env.to_owned(),
            live: BTreeMap::new(),
        })
    }

    fn env_log_mut(&mut self, env: &str) -> &mut Chunked<EntryIndex> {
        if !self.env_logs.contains_key(env) {
            let c = self.load_chunk(&env_log_dir(env), ENV_CHUNK, |c: EnvChunk| {
                if c.environment == env {
                    Ok(c.entries)
                } else {
                    Err(format!("it is about environment `{}`", c.environment))
                }
            });
            self.env_logs.insert(env.to_owned(), c);
        }
        self.touched_env_logs.insert(env.to_owned());
        self.env_logs.entry(env.to_owned()).or_default()
    }

    fn renames_mut(&mut self) -> &mut Renames {
        if self.renames.is_none() {
            let r = self.load(RENAMES_FILE).unwrap_or_default();
            self.renames = Some(r);
        }
        self.touched.insert(RENAMES_FILE.to_owned());
        self.renames.get_or_insert_with(Renames::default)
    }

    /// The entry that recorded version `version` with these bytes at `path` (not a
    /// deletion): the head's newest record when it is that one, else the path's history.
    fn version_entry(
        &mut self,
        path: &PromptPath,
        version: Version,
        sha256: &Sha256Hex,
    ) -> Option<EntryIndex> {
        let file = self.load_heads(path);
        if let Some(l) = self
            .heads
            .get(&file)
            .and_then(|h| h.prompts.get(path))
            .and_then(|h| h.latest.as_ref())
            .filter(|v| {
                v.version == version && &v.sha256 == sha256 && v.change != Some(ChangeType::Deleted)
            })
        {
            return Some(l.entry);
        }
        let sha256 = sha256.to_bytes();
        self.history_mut(path)
            .versions
            .iter()
            .rev()
            .find(|v| {
                v.version == version && v.sha256 == sha256 && v.change != Some(ChangeType::Deleted)
            })
            .map(|v| v.entry)
    }

    fn touch_prompt(&mut self, path: &PromptPath) {
        self.touched.insert(heads_file(path));
        self.touched_histories.insert(path.clone());
    }

    /// Takes entry `index` into account (entries in log order, from [`Summary::size`]).
    pub fn apply(&mut self, index: EntryIndex, st: &Statement) {
        let p = &st.predicate;
        self.policy.for_entry(st);
        self.policy.observe(index, st);
        self.size = index.0 + 1;
        match p.event {
            EventType::Version => {
                if let Some(first) = p.prompts.first() {
                    self.last_version_commit = Some(first.commit.clone());
                }
                for pr in &p.prompts {
                    if let Some(from) = &pr.previous_path {
                        self.touch_prompt(from);
                        self.head_mut(from).present = false;
                        push_entry(&mut self.history_mut(from).entries, index);
                        if from != &pr.path {
                            self.touch_prompt(&pr.path);
                            self.head_mut(from).links.insert(pr.path.clone());
                            self.head_mut(&pr.path).links.insert(from.clone());
                            let renames = self.renames_mut();
                            renames.paths.insert(from.clone());
                            renames.paths.insert(pr.path.clone());
                        }
                    }
                    let approved = p
                        .policy
                        .rules
                        .iter()
                        .any(|r| r.path == pr.path && r.is_approved());
                    self.touch_prompt(&pr.path);
                    let history = self.history_mut(&pr.path);
                    push_entry(&mut history.entries, index);
                    let again =
                        matches!(pr.change, Some(ChangeType::Deleted | ChangeType::Renamed))
                            && history.versions.iter().any(|v| v.version == pr.version);
                    let record = (!again).then(|| VersionState {
                        version: pr.version,
                        change: pr.change,
                        sha256: pr.digest.sha256.clone(),
                        git_blob: pr.digest.git_blob.clone(),
                        entry: index,
                        commit: pr.commit.clone(),
                        approved,
                    });
                    if let Some(r) = &record {
                        history.versions.push(VersionRec::of(r));
                    }
                    let head = self.head_mut(&pr.path);
                    head.present = pr.change != Some(ChangeType::Deleted);
                    if let Some(r) = record.filter(|r| r.change != Some(ChangeType::Deleted)) {
                        head.latest = Some(r);
                    }
                }
            }
            EventType::Deployment | EventType::Rollback => {
                let Some(d) = &p.deployment else {
                    return;
                };
                for pr in &p.prompts {
                    let record = DeploymentRec::of(
                        &DeploymentState {
                            entry: index,
                            environment: d.environment.clone(),
                            event: p.event,
                            version: pr.version,
                            sha256: pr.digest.sha256.clone(),
                            deployed_at: d.deployed_at,
                        },
                        &mut self.environments,
                    );
                    self.deployments_mut(&pr.path).items.push(record);
                    let version_entry = self.version_entry(&pr.path, pr.version, &pr.digest.sha256);
                    self.env_mut(&d.environment).live.insert(
                        pr.path.clone(),
                        LiveState {
                            version: pr.version,
                            sha256: pr.digest.sha256.clone(),
                            entry: index,
                            event: p.event,
                            deployed_at: d.deployed_at,
                            version_entry,
                        },
                    );
                }
                if !p.prompts.is_empty() {
                    push_entry(&mut self.env_log_mut(&d.environment).items, index);
                }
            }
        }
    }

    /// The changed files and the new index. The index keeps the hashes of files not
    /// loaded (unchanged) from the one resumed from.
    pub fn encode(&self) -> anyhow::Result<Encoded> {
        let mut files = Vec::new();
        let (index, index_sha256) = self.encode_each(&[], &mut |path, bytes| {
            files.push((path.to_owned(), bytes.to_vec()));
            Ok(())
        })?;
        Ok(Encoded {
            files,
            replace_all: self.base.is_none(),
            index_sha256,
            index,
        })
    }

    /// What [`Summary::encode`] writes, one file at a time in path order and the index last,
    /// without holding the encodings at once (`verify` compares a long log's summary, tens
    /// of MiB, file by file). `extra` are files the statements do not give (e.g.
    /// [`TREE_FILE`]), written and listed like the others. Returns the index and the
    /// SHA-256 of its bytes.
    pub fn encode_each(
        &self,
        extra: &[(&str, &[u8])],
        each: &mut dyn FnMut(&str, &[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<(StateIndex, Sha256Hex)> {
        if let Some(why) = &self.failed {
            anyhow::bail!("the state summary could not be read: {why}");
        }
        let mut index = StateIndex {
            format: FORMAT,
            size: self.size,
            last_version_commit: self.last_version_commit.clone(),
            files: self
                .base
                .as_ref()
                .map(|b| b.files.clone())
                .unwrap_or_default(),
        };
        let mut files: Vec<(String, Part)> = Vec::new();
        for file in &self.touched {
            let part = if file == POLICY_FILE {
                Part::Policy
            } else if file == RENAMES_FILE {
                match &self.renames {
                    Some(r) => Part::Renames(r),
                    None => continue,
                }
            } else if let Some(heads) = self.heads.get(file) {
                Part::Heads(heads)
            } else if let Some(env) = self.envs.get(file) {
                Part::Env(env)
            } else {
                continue;
            };
            files.push((file.clone(), part));
        }
        for path in &self.touched_histories {
            if let Some(h) = self.histories.get(path) {
                files.push((history_file(path), Part::History(h)));
            }
        }
        for path in &self.touched_deployments {
            if let Some(c) = self.deployments.get(path) {
                let dir = deployments_dir(path);
                for (k, part) in c.items.chunks(DEPLOYMENT_CHUNK).enumerate() {
                    let file = chunk_file(&dir, c.first + k as u64);
                    files.push((file, Part::Deployments(path, part)));
                }
            }
        }
        for env in &self.touched_env_logs {
            if let Some(c) = self.env_logs.get(env) {
                let dir = env_log_dir(env);
                for (k, part) in c.items.chunks(ENV_CHUNK).enumerate() {
                    let file = chunk_file(&dir, c.first + k as u64);
                    files.push((file, Part::EnvLog(env, part)));
                }
            }
        }
        for (path, bytes) in extra {
            files.retain(|(p, _)| p != path);
            files.push(((*path).to_owned(), Part::Bytes(bytes)));
        }
        files.retain(|(p, _)| p != INDEX_FILE);
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (file, part) in &files {
            let bytes = part.encode(&self.policy)?;
            index.files.insert(file.clone(), Sha256Hex::of(&bytes));
            each(file, &bytes)?;
        }
        let bytes = serde_json::to_vec(&index)?;
        let index_sha256 = Sha256Hex::of(&bytes);
        each(INDEX_FILE, &bytes)?;
        Ok((index, index_sha256))
    }
}

/// One file of an encoded summary, not yet encoded.
enum Part<'a> {
    Policy,
    Renames(&'a Renames),
    Heads(&'a Heads),
    Env(&'a EnvState),
    History(&'a HistoryRec),
    Deployments(&'a PromptPath, &'a [DeploymentRec]),
    EnvLog(&'a String, &'a [EntryIndex]),
    Bytes(&'a [u8]),
}

impl Part<'_> {
    fn encode(&self, policy: &PolicyTracker) -> serde_json::Result<Vec<u8>> {
        match self {
            Part::Policy => serde_json::to_vec(&PolicyState::of(policy)),
            Part::Renames(r) => serde_json::to_vec(r),
            Part::Heads(h) => serde_json::to_vec(h),
            Part::Env(e) => serde_json::to_vec(e),
            Part::History(h) => serde_json::to_vec(&h.history()),
            Part::Deployments(path, part) => serde_json::to_vec(&DeploymentChunk {
                path: (*path).clone(),
                deployments: part.iter().map(DeploymentRec::state).collect(),
            }),
            Part::EnvLog(env, part) => serde_json::to_vec(&EnvChunk {
                environment: (*env).clone(),
                entries: part.to_vec(),
            }),
            Part::Bytes(b) => Ok(b.to_vec()),
        }
    }
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked::default_with(0)
    }
}

impl<T> Chunked<T> {
    fn default_with(first: u64) -> Chunked<T> {
        Chunked {
            first,
            items: Vec::new(),
        }
    }
}

fn push_entry(entries: &mut Vec<EntryIndex>, index: EntryIndex) {
    if entries.last() != Some(&index) {
        entries.push(index);
    }
}
/// Parses a state file's bytes as `T`, naming the file when they are not one.
pub fn parse<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{file} is not a valid state file: {e}"))
}

/// The first differences between two JSON documents, as `(pointer, expected, found)`, at
/// most `limit` of them (what PT017 reports).
pub fn differences(
    expected: &serde_json::Value,
    found: &serde_json::Value,
    limit: usize,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    diff_at(String::new(), expected, found, limit, &mut out);
    out
}

fn diff_at(
    at: String,
    expected: &serde_json::Value,
    found: &serde_json::Value,
    limit: usize,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    if out.len() >= limit || expected == found {
        return;
    }
    let key = |k: &str| format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
    match (expected, found) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => diff_at(key(k), va, vb, limit, out),
                    None => out.push((key(k), short(va), "absent".into())),
                }
                if out.len() >= limit {
                    return;
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) && out.len() < limit {
                    out.push((key(k), "absent".into(), short(vb)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff_at(format!("{at}/{i}"), va, vb, limit, out);
            }
        }
        (Value::Array(a), Value::Array(b)) => out.push((
            at,
            format!("{} item(s)", a.len()),
            format!("{} item(s)", b.len()),
        )),
        _ => out.push((at, short(expected), short(found))),
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_fixed_and_safe() {
        let p = PromptPath::new("prompts/a.md");
        let f = heads_file(&p);
        assert!(f.starts_with("state/heads/") && f.len() == "state/heads/xx.json".len());
        let h = history_file(&p);
        assert!(is_format_file(&f) && is_format_file(&h), "{h}");
        assert!(is_format_file(&chunk_file(&deployments_dir(&p), 3)));
        assert!(is_format_file(&chunk_file(&env_log_dir("production"), 0)));
        assert_eq!(env_file("production"), "state/env/production.json");
        let odd = env_file("../../entries/x");
        assert!(
            odd.starts_with("state/env/~") && !odd[10..].contains('/'),
            "{odd}"
        );
        assert!(is_format_file(&odd));
        let odd_log = chunk_file(&env_log_dir("../x"), 0);
        assert!(
            is_format_file(&odd_log) && odd_log.matches('/').count() == 3,
            "{odd_log}"
        );
        assert!(!is_format_file("state/heads/zz.json"));
        assert!(!is_format_file("state/other.json"));
        assert!(!is_format_file("state/env-log/production/1.json"));
        assert!(!is_format_file("state/env-log/../000000.json"));
        // Format 1's shards are state files (an append replaces them) but not this format's.
        assert!(is_state_file("state/prompts/ab.json"));
        assert!(!is_format_file("state/prompts/ab.json"));
        // A history file whose directory is not its name's first byte.
        let wrong = format!("state/prompts/00/{}.json", "f".repeat(64));
        assert!(!is_format_file(&wrong));
    }

    #[test]
    fn the_binding_line_is_read_back_and_ambiguity_refused() {
        let h = Sha256Hex::of(b"x");
        let line = extension_line(&h);
        assert_eq!(bound_index(std::slice::from_ref(&line)), Ok(Some(h)));
        assert_eq!(bound_index(&["other ext".into()]), Ok(None));
        assert!(bound_index(&[line.clone(), line]).is_err());
        assert!(bound_index(&[format!("{EXTENSION}nothex")]).is_err());
    }

    #[test]
    fn differences_name_the_field() {
        let a = serde_json::json!({"prompts": {"p.md": {"present": true, "versions": [1, 2]}}});
        let b = serde_json::json!({"prompts": {"p.md": {"present": false, "versions": [1]}}});
        let d = differences(&a, &b, 10);
        assert_eq!(
            d[0],
            (
                "/prompts/p.md/present".into(),
                "true".into(),
                "false".into()
            )
        );
        assert_eq!(d[1].0, "/prompts/p.md/versions");
    }

    fn statement(index: u64, event: &str, prompts: Vec<serde_json::Value>, env: &str) -> Statement {
        let mut v = serde_json::json!({
            "_type": crate::attestation::statement::STATEMENT_TYPE,
            "subject": [],
            "predicateType": crate::attestation::statement::PREDICATE_TYPE,
            "predicate": {
                "event": event,
                "log": { "index": index, "previous": null, "origin": "github.com/acme/clinic" },
                "prompts": prompts,
                "authors": [],
                "approvals": [],
                "policy": { "configDigest": { "sha256": "0".repeat(64) } },
                "recordedAt": "2026-11-20T14:00:00Z",
                "tool": { "name": "promptrail", "version": "0.1.0" }
            }
        });
        if event != "version" {
            v["predicate"]["deployment"] = serde_json::json!({
                "environment": env, "actor": "ci", "ref": "refs/heads/main",
                "sha": "1".repeat(40),
                "deployedAt": format!("2026-11-20T14:{:02}:{:02}Z", (index / 60) % 60, index % 60),
            });
        }
        serde_json::from_value(v).expect("a statement")
    }

    fn record(
        path: &str,
        change: &str,
        version: u32,
        from: Option<&str>,
        content: u32,
    ) -> serde_json::Value {
        let mut p = serde_json::json!({
            "path": path,
            "change": change,
            "version": version,
            "commit": "1".repeat(40),
            "landedAt": "2026-11-20T14:00:00Z",
            "digest": {
                "sha256": Sha256Hex::of(content.to_string().as_bytes()).to_string(),
                "gitBlob": format!("{:040x}", content),
            }
        });
        if let Some(f) = from {
            p["previousPath"] = f.into();
        }
        p
    }

    /// A log of versions, a deletion, renames and many deployments (past chunk boundaries).
    fn log() -> Vec<Statement> {
        let mut out = Vec::new();
        let mut push = |event: &str, prompts: Vec<serde_json::Value>, env: &str| {
            let i = out.len() as u64;
            out.push(statement(i, event, prompts, env));
        };
        push(
            "version",
            vec![
                record("a.md", "added", 1, None, 1),
                record("b.md", "added", 1, None, 2),
            ],
            "",
        );
        for round in 0..40u32 {
            let env = if round % 3 == 0 {
                "staging"
            } else {
                "production"
            };
            push(
                "deployment",
                vec![record(
                    "a.md",
                    "added",
                    1 + round / 10,
                    None,
                    1 + round / 10,
                )],
                env,
            );
            if round % 10 == 9 {
                let v = 2 + round / 10;
                push("version", vec![record("a.md", "modified", v, None, v)], "");
            }
            if round == 20 {
                push(
                    "version",
                    vec![record("c.md", "renamed", 1, Some("b.md"), 2)],
                    "",
                );
            }
            if round == 25 {
                push("version", vec![record("c.md", "deleted", 1, None, 2)], "");
            }
            if round % 7 == 0 {
                push(
                    "rollback",
                    vec![
                        record("a.md", "added", 1, None, 1),
                        record("c.md", "renamed", 1, None, 2),
                    ],
                    env,
                );
            }
        }
        for k in 0..1100u64 {
            // Past one environment chunk.
            let _ = k;
            push(
                "deployment",
                vec![record("a.md", "added", 5, None, 5)],
                "qa",
            );
        }
        out
    }

    struct Files(BTreeMap<String, Vec<u8>>);

    impl Source for Files {
        fn read(&mut self, file: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.get(file).cloned())
        }
    }

    fn write(tree: &mut BTreeMap<String, Vec<u8>>, e: &Encoded) {
        if e.replace_all {
            tree.clear();
        }
        tree.extend(e.files.iter().cloned());
    }

    /// A summary of every entry of `log`, in order.
    fn summarise(log: &[Statement]) -> Summary {
        let mut s = Summary::new();
        for (i, st) in log.iter().enumerate() {
            s.apply(EntryIndex(i as u64), st);
        }
        s
    }

    /// The index and the policy a summary resumes from, read back from the files it wrote.
    fn resume_point(tree: &BTreeMap<String, Vec<u8>>) -> (StateIndex, PolicyState) {
        let index: StateIndex = parse(INDEX_FILE, &tree[INDEX_FILE]).expect("index");
        let policy: PolicyState = parse(POLICY_FILE, &tree[POLICY_FILE]).expect("policy");
        (index, policy)
    }

    /// The files a summary of every entry of `log` writes, and its resume point.
    fn encoded_tree(log: &[Statement]) -> (BTreeMap<String, Vec<u8>>, StateIndex, PolicyState) {
        let mut tree = BTreeMap::new();
        write(&mut tree, &summarise(log).encode().expect("encodes"));
        let (index, policy) = resume_point(&tree);
        (tree, index, policy)
    }

    /// The files one at a time are exactly what `encode` and `with_file` make together:
    /// the same paths and bytes in the same order (the index last), so PT017 compares what
    /// an append writes.
    #[test]
    fn encode_each_hands_over_what_encode_writes() {
        let summary = summarise(&log());
        let tree = b"[]".to_vec();
        let whole = summary
            .encode()
            .and_then(|e| Ok(e.with_file(TREE_FILE, tree.clone())?))
            .expect("encodes");
        let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
        let (index, sha) = summary
            .encode_each(&[(TREE_FILE, &tree)], &mut |p, b| {
                seen.push((p.to_owned(), b.to_vec()));
                Ok(())
            })
            .expect("encodes");
        assert_eq!(seen, whole.files);
        assert_eq!(seen.last().map(|(p, _)| p.as_str()), Some(INDEX_FILE));
        assert_eq!((index, sha), (whole.index, whole.index_sha256));
        // A failing visitor stops the encoding with its error.
        let stopped = summary.encode_each(&[], &mut |_, _| anyhow::bail!("stop"));
        assert!(stopped.is_err_and(|e| e.to_string() == "stop"));
    }

    /// Appends in batches, each resumed from the files the previous ones wrote, write the
    /// very files a summary built from every entry has: byte for byte, and no other.
    #[test]
    fn a_resumed_summary_writes_what_a_rebuilt_one_has() {
        let log = log();
        let whole = summarise(&log).encode().expect("encodes");
        let mut tree: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut pos = 0usize;
        for batch in [1usize, 2, 5, 1, 30, 1, 3, 700, 1, 500] {
            let end = (pos + batch).min(log.len());
            let mut s = if pos == 0 {
                Summary::new()
            } else {
                let (index, policy) = resume_point(&tree);
                Summary::resume(index, &policy, Box::new(Files(tree.clone())))
            };
            for (i, st) in log[pos..end].iter().enumerate() {
                s.apply(EntryIndex((pos + i) as u64), st);
            }
            assert_eq!(s.failure(), None);
            let e = s.encode().expect("encodes");
            if batch == 1 && pos > 10 {
                // Only what the entry touched is rewritten.
                assert!(
                    e.files.len() < tree.len(),
                    "{} of {}",
                    e.files.len(),
                    tree.len()
                );
            }
            write(&mut tree, &e);
            pos = end;
        }
        assert_eq!(pos, log.len());
        let rebuilt: BTreeMap<String, Vec<u8>> = whole.files.iter().cloned().collect();
        assert_eq!(
            tree.keys().collect::<Vec<_>>(),
            rebuilt.keys().collect::<Vec<_>>()
        );
        for (f, b) in &rebuilt {
            assert!(&tree[f] == b, "{f} differs");
        }
        // Chunks were cut as the layout says.
        let a = deployments_dir(&PromptPath::new("a.md"));
        assert!(tree.contains_key(&chunk_file(&a, 1)), "{:?}", tree.keys());
        assert!(tree.contains_key(&chunk_file(&env_log_dir("qa"), 1)));
    }

    /// A deployment resumed on a log of many versions reads the path's head only, when
    /// the deployed version is its newest; and writes no head and no history.
    #[test]
    fn a_deployment_writes_no_head_and_no_history() {
        let log = log();
        let (mut files, index, policy) = encoded_tree(&log);
        files.remove(&history_file(&PromptPath::new("a.md")));
        let mut s = Summary::resume(index, &policy, Box::new(Files(files)));
        let n = log.len() as u64;
        s.apply(
            EntryIndex(n),
            &statement(
                n,
                "deployment",
                vec![record("a.md", "modified", 5, None, 5)],
                "production",
            ),
        );
        assert_eq!(s.failure(), None, "the history was not needed");
        let written: Vec<String> = s
            .encode()
            .expect("encodes")
            .files
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert!(
            written
                .iter()
                .all(|f| !f.starts_with("state/heads/") && !f.starts_with("state/prompts/")),
            "{written:?}"
        );
        assert_eq!(written.len(), 5, "{written:?}");
    }

    /// What a resumed summary reads and cannot believe makes it fail, never half-apply:
    /// a heads shard holding a path of another shard, a chunk of the wrong size or path.
    #[test]
    fn files_that_do_not_fit_the_layout_fail_the_resume() {
        let log = log();
        let (tree, index, policy) = encoded_tree(&log);
        let a = PromptPath::new("a.md");
        let n = log.len() as u64;
        let version = statement(
            n,
            "version",
            vec![record("a.md", "modified", 6, None, 6)],
            "",
        );
        let deployment = statement(
            n,
            "deployment",
            vec![record("a.md", "modified", 5, None, 5)],
            "qa",
        );
        type Edit<'a> = Box<dyn Fn(&mut BTreeMap<String, Vec<u8>>) + 'a>;
        let cases: Vec<(&str, Edit, &Statement)> = vec![
            (
                "another shard",
                Box::new(|t| {
                    let mut h: Heads = parse("h", &t[&heads_file(&a)]).expect("heads");
                    let head = h.prompts.remove(&a).expect("a's head");
                    h.prompts.insert(PromptPath::new("not-this-shard.md"), head);
                    t.insert(heads_file(&a), serde_json::to_vec(&h).expect("json"));
                }),
                &version,
            ),
            (
                "is about",
                Box::new(|t| {
                    let mut h: History = parse("h", &t[&history_file(&a)]).expect("history");
                    h.path = PromptPath::new("b.md");
                    t.insert(history_file(&a), serde_json::to_vec(&h).expect("json"));
                }),
                &version,
            ),
            (
                "items",
                Box::new(|t| {
                    let f = chunk_file(&env_log_dir("qa"), 1);
                    let mut c: EnvChunk = parse("c", &t[&f]).expect("chunk");
                    c.entries.clear();
                    t.insert(f, serde_json::to_vec(&c).expect("json"));
                }),
                &deployment,
            ),
        ];
        for (why, edit, st) in cases {
            let mut files = tree.clone();
            edit(&mut files);
            let mut s = Summary::resume(index.clone(), &policy, Box::new(Files(files)));
            s.apply(EntryIndex(n), st);
            let failure = s.failure().map(str::to_owned).unwrap_or_default();
            assert!(failure.contains(why), "{why}: {failure}");
            assert!(s.encode().is_err(), "{why}");
        }
    }
}
