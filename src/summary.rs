//! The state summary read back from the audit branch, checked before it is believed.
//!
//! API: [`StateView::open`]`(&store, &tip)` reads `state/index.json` and the checkpoint at an
//! audit branch commit (`Ok(None)` when the log has no summary: it predates it, so read the
//! whole log). [`StateView::check`]`(&trust)` must pass before anything else is believed: the
//! checkpoint's `promptrail-state` extension line is the SHA-256 of the index, the index's
//! tree size is the checkpoint's and the tip's last entry index + 1, and the checkpoint is
//! signed by a trusted key (or, keyless, by the certificate key of the entry it closes) when
//! `trust` is not empty, and the index is of this format and lists only files of its layout.
//! Then [`StateView::head`]`(&path)` gives one path's head (present, newest version, links),
//! [`StateView::history`] its version records, [`StateView::deployments`] its deployments
//! (from their chunks; [`StateView::newest_deployments`] only the newest ones it needs),
//! [`StateView::prompt`] all of these as one [`PromptState`]
//! (versions, deployments, entries, links), [`StateView::lineage`]
//! the prompt across renames, [`StateView::env`]`(name)` an environment's live set and
//! [`StateView::env_entries`] its entries ([`StateView::env_entries_from`] from one on),
//! [`StateView::policy`] the policy in force, and [`StateView::entries`] reads the few entry
//! files a caller needs by path. Every state file read is checked against the SHA-256 the
//! index lists; any error means "not believed": warn (run `promptrail verify`) and fall back
//! to the full read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};

use crate::checkpoint::Checkpoint;
use crate::git::{ObjectReader, Trees};
use crate::layout::{CHECKPOINT_FILE, StoredEntry, entry_path};
use crate::signing::{Trust, TrustedKey};
use crate::state::{
    DEPLOYMENT_CHUNK, DeploymentChunk, DeploymentState, ENV_CHUNK, EnvChunk, EnvState, FORMAT,
    Head, Heads, History, INDEX_FILE, POLICY_FILE, PolicyState, PromptState, StateIndex,
    bound_index, chunk_file, deployments_dir, env_file, env_log_dir, heads_file, history_file,
    is_format_file, parse,
};
use crate::store::Store;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex};

/// The largest state file read (a shard of a very long log is a few MiB).
const FILE_LIMIT: u64 = 256 << 20;

/// Paths whose deployment chunks [`StateView::newest_deployments`] reads together: a few
/// MiB of chunks held at once, and few enough that git's cache of delta bases (32 MiB in
/// its reader) still holds a group's bases when the next round asks for older chunks.
pub const PATHS_A_GROUP: usize = 256;

/// The summary at one audit branch commit; see the module docs.
pub struct StateView {
    tip: Oid,
    reader: ObjectReader,
    index: StateIndex,
    index_sha256: Sha256Hex,
    checkpoint: Option<Result<Checkpoint, String>>,
    /// The tip commit's parents, as its object lists them.
    parents: Vec<Oid>,
    heads: HashMap<String, Heads>,
    /// The tip's trees read so far: files and entries are read by id, each tree once.
    trees: Trees,
}

impl std::fmt::Debug for StateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateView")
            .field("tip", &self.tip)
            .field("size", &self.index.size)
            .finish_non_exhaustive()
    }
}

impl StateView {
    /// Reads the summary's index and the checkpoint at `tip`; `None` without a summary.
    pub fn open(store: &Store, tip: &Oid) -> Result<Option<StateView>> {
        // A reader asks for its answer's few files and entries, not the log.
        let mut reader = store.git().object_reader_for_few()?;
        let Some(bytes) = read_bounded(&mut reader, tip, INDEX_FILE)? else {
            unsummarised(store, &mut reader, tip)?;
            return Ok(None);
        };
        let index: StateIndex = parse(INDEX_FILE, &bytes).map_err(anyhow::Error::msg)?;
        let checkpoint = read_bounded(&mut reader, tip, CHECKPOINT_FILE)?.map(|b| {
            std::str::from_utf8(&b)
                .map_err(|_| "the checkpoint is not UTF-8".to_owned())
                .and_then(Checkpoint::parse)
        });
        let parents = store.git().commit_parents(tip)?;
        Ok(Some(StateView {
            tip: tip.clone(),
            parents,
            reader,
            index,
            index_sha256: Sha256Hex::of(&bytes),
            checkpoint,
            heads: HashMap::new(),
            trees: Trees::new(tip),
        }))
    }

    /// The audit branch commit read.
    pub fn tip(&self) -> &Oid {
        &self.tip
    }

    /// Entries the summary covers.
    pub fn size(&self) -> u64 {
        self.index.size
    }

    /// The index as read (unchecked until [`StateView::check`]).
    pub fn index(&self) -> &StateIndex {
        &self.index
    }

    /// The checkpoint at the tip, parsed.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref().and_then(|c| c.as_ref().ok())
    }

    /// Whether the summary may be believed: see the module docs. `Err` says why not.
    /// With nothing trusted the summary is never believed: its binding alone (hashes and
    /// extension lines) is something anyone with push access can recompute.
    pub fn check(&mut self, trust: &Trust) -> Result<(), String> {
        if trust.is_empty() {
            return Err(
                "no key or identity is configured to check its checkpoint's signature \
                        (`signing.public_keys` or `signing.identities` in .promptrail.yml)"
                    .into(),
            );
        }
        self.check_binding()?;
        self.check_signature(trust)
    }

    /// The binding alone (index hash, sizes, tip): what an append checks before it builds on
    /// the summary, with [`StateView::check_signed_by`] for its own key.
    pub fn check_binding(&mut self) -> Result<(), String> {
        if self.index.format != FORMAT {
            return Err(format!(
                "{INDEX_FILE} has format {}, this promptrail reads {FORMAT}",
                self.index.format
            ));
        }
        if let Some(f) = self.index.files.keys().find(|f| !is_format_file(f)) {
            return Err(format!(
                "{INDEX_FILE} (format {FORMAT}) lists {f}, not a file of its layout"
            ));
        }
        let cp = match &self.checkpoint {
            None => return Err("the branch has no checkpoint".into()),
            Some(Err(e)) => return Err(format!("the checkpoint is malformed: {e}")),
            Some(Ok(cp)) => cp,
        };
        match bound_index(&cp.extensions)? {
            None => return Err("the checkpoint binds no state summary".into()),
            Some(h) if h != self.index_sha256 => {
                return Err(format!(
                    "the checkpoint binds state index sha256:{h}, {INDEX_FILE} is sha256:{}",
                    self.index_sha256
                ));
            }
            Some(_) => {}
        }
        // A summary is believed only on the commit its checkpoint was signed for: the same
        // signed tree committed again on top of a newer log is an older state replayed.
        match cp.parent() {
            None => return Err("the checkpoint names no parent commit".into()),
            Some(named) => {
                if self.parents.len() > 1 || named != self.parents.first().map(Oid::as_str) {
                    return Err(format!(
                        "the checkpoint was signed for a commit on top of {}, the tip's parent \
                         is {}: an older signed tree replayed on top of the log",
                        named.unwrap_or("nothing"),
                        self.parents.first().map_or("nothing", Oid::as_str)
                    ));
                }
            }
        }
        crate::succession::check(&mut self.reader, &self.tip, self.parents.first(), cp)?;
        if cp.size != self.index.size {
            return Err(format!(
                "{INDEX_FILE} covers {} entries, the checkpoint {}",
                self.index.size, cp.size
            ));
        }
        let size = self.index.size;
        let last = size.checked_sub(1).ok_or("the summary covers no entry")?;
        let has = |reader: &mut ObjectReader, i: u64| -> Result<bool, String> {
            reader
                .read(&format!("{}:{}", self.tip, entry_path(EntryIndex(i))))
                .map(|o| o.is_some())
                .map_err(|e| format!("reading the audit branch: {e:#}"))
        };
        if !has(&mut self.reader, last)? || has(&mut self.reader, size)? {
            return Err(format!(
                "the branch's last entry is not #{last}: the summary is stale"
            ));
        }
        Ok(())
    }

    /// The checkpoint is signed by `key` under the log's name.
    pub fn check_signed_by(&self, keys: &[TrustedKey]) -> Result<(), String> {
        match self.checkpoint() {
            Some(cp) if cp.verified_by(keys).is_some() => Ok(()),
            _ => Err("the checkpoint is not signed by a trusted key".into()),
        }
    }

    fn check_signature(&mut self, trust: &Trust) -> Result<(), String> {
        let cp = self
            .checkpoint()
            .cloned()
            .ok_or("the branch has no checkpoint")?;
        let last = EntryIndex(self.index.size.saturating_sub(1));
        cp.check_trusted(trust, &[], || {
            self.entries(&[last])
                .map_err(|e| format!("{e:#}"))?
                .pop()
                .map(|e| e.bytes)
                .ok_or_else(|| "the last entry is missing".to_owned())
        })
        .map_err(|e| format!("the checkpoint is not signed by a trusted key: {e}"))
    }

    /// A state file's bytes, checked against the index (`None` when the index lists none).
    pub fn file(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.files(&[path])?.pop().flatten())
    }

    /// [`StateView::file`] for many files, in the order given, read in one pipelined batch.
    pub fn files(&mut self, paths: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let listed: Vec<&str> = paths
            .iter()
            .copied()
            .filter(|p| self.index.files.contains_key(*p))
            .collect();
        let ids = self.trees.resolve_many(&mut self.reader, &listed)?;
        let specs: Vec<&str> = ids.iter().flatten().map(Oid::as_str).collect();
        let mut read = self
            .reader
            .read_many_bounded(&specs, FILE_LIMIT)?
            .into_iter();
        let mut found: HashMap<&str, Vec<u8>> = HashMap::new();
        for (path, id) in listed.iter().zip(&ids) {
            let object = match id {
                Some(_) => read.next().flatten(),
                None => None,
            };
            let bytes = match object {
                None => bail!("{path} is listed in {INDEX_FILE} but missing"),
                Some(Err(size)) => bail!(
                    "{path} on the audit branch is {size} bytes, more than a state file may be"
                ),
                Some(Ok(o)) if o.kind == "blob" => o.data,
                Some(Ok(o)) => bail!("{path} on the audit branch is a {}, not a file", o.kind),
            };
            let got = Sha256Hex::of(&bytes);
            let want = &self.index.files[*path];
            if &got != want {
                bail!("{path} has sha256:{got}, {INDEX_FILE} lists sha256:{want}");
            }
            found.insert(path, bytes);
        }
        Ok(paths.iter().map(|p| found.get(p).cloned()).collect())
    }

    /// The heads shard `file` (read once), every path in it checked to belong there.
    pub fn heads(&mut self, file: &str) -> Result<&Heads> {
        if !self.heads.contains_key(file) {
            let heads = match self.file(file)? {
                None => Heads::default(),
                Some(bytes) => parse::<Heads>(file, &bytes).map_err(anyhow::Error::msg)?,
            };
            if let Some(p) = heads.prompts.keys().find(|p| heads_file(p) != file) {
                bail!("{file} holds {p}, a path of another shard");
            }
            self.heads.insert(file.to_owned(), heads);
        }
        Ok(&self.heads[file])
    }

    /// The head of `path` (`None`: no version event named it).
    pub fn head(&mut self, path: &PromptPath) -> Result<Option<Head>> {
        Ok(self.heads(&heads_file(path))?.prompts.get(path).cloned())
    }

    /// The version records and version entries of `path` (`None`: no version event).
    pub fn history(&mut self, path: &PromptPath) -> Result<Option<History>> {
        let file = history_file(path);
        let Some(bytes) = self.file(&file)? else {
            return Ok(None);
        };
        let h: History = parse(&file, &bytes).map_err(anyhow::Error::msg)?;
        if &h.path != path {
            bail!("{file} is about {}, not {path}", h.path);
        }
        Ok(Some(h))
    }

    /// Every deployment and rollback of `path`, in log order, from its chunks (each but the
    /// last full, numbered from 0).
    pub fn deployments(&mut self, path: &PromptPath) -> Result<Vec<DeploymentState>> {
        let dir = deployments_dir(path);
        self.chunked(&dir, DEPLOYMENT_CHUNK, |file, c: DeploymentChunk| {
            if &c.path != path {
                bail!("{file} is about {}, not {path}", c.path);
            }
            Ok(c.deployments)
        })
    }

    /// For each of `paths`, its newest deployment or rollback (in log order) that `wanted`
    /// accepts (`None`: none is), reading its chunks from the newest back only until one
    /// holds such a deployment: what is older than that cannot be the newest. Each chunk
    /// read is checked as [`StateView::deployments`] checks it.
    ///
    /// The paths are taken in the order of their directories (the tree's order), a group
    /// of [`PATHS_A_GROUP`] at a time, and a group's chunks in rounds of one pipelined batch
    /// (a round's chunks one step older than the last's): git stores a chunk as a delta on
    /// chunks of neighbouring paths and of the same path, and reads them cheaply only
    /// while the bases it inflated for the previous ones are still in its cache (measured
    /// at 1,000,000 entries: rounds over all paths at once cost git 2.7× this, paths in
    /// name order with a round trip each 2.9×).
    pub fn newest_deployments(
        &mut self,
        paths: &[&PromptPath],
        wanted: impl Fn(&DeploymentState) -> bool,
    ) -> Result<Vec<Option<DeploymentState>>> {
        let dirs: Vec<String> = paths.iter().map(|p| deployments_dir(p)).collect();
        let mut order: Vec<usize> = (0..paths.len()).collect();
        order.sort_by(|a, b| dirs[*a].cmp(&dirs[*b]));
        let mut found: Vec<Option<DeploymentState>> = vec![None; paths.len()];
        for group in order.chunks(PATHS_A_GROUP) {
            let lasts: Vec<Option<u64>> = group
                .iter()
                .map(|i| self.index.last_chunk(&dirs[*i]).map_err(anyhow::Error::msg))
                .collect::<Result<_>>()?;
            let answers = newest_in_chunks(
                &lasts,
                |batch| {
                    let files: Vec<String> = batch
                        .iter()
                        .map(|(k, n)| chunk_file(&dirs[group[*k]], *n))
                        .collect();
                    let names: Vec<&str> = files.iter().map(String::as_str).collect();
                    let read = self.files(&names)?;
                    batch
                        .iter()
                        .zip(files.iter().zip(read))
                        .map(|((k, n), (file, bytes))| {
                            let path = paths[group[*k]];
                            let bytes = bytes.with_context(|| {
                                format!("{file} is listed in {INDEX_FILE} but missing")
                            })?;
                            let c: DeploymentChunk =
                                parse(file, &bytes).map_err(anyhow::Error::msg)?;
                            if &c.path != path {
                                bail!("{file} is about {}, not {path}", c.path);
                            }
                            let last = lasts[*k] == Some(*n);
                            let (dir, len) = (&dirs[group[*k]], c.deployments.len());
                            check_chunk_size(dir, *n, last, len, DEPLOYMENT_CHUNK)?;
                            Ok(c.deployments)
                        })
                        .collect()
                },
                &wanted,
            )?;
            for (i, answer) in group.iter().zip(answers) {
                found[*i] = answer;
            }
        }
        Ok(found)
    }

    /// Every deployment and rollback entry into environment `name`, in log order.
    pub fn env_entries(&mut self, name: &str) -> Result<Vec<EntryIndex>> {
        self.chunked(&env_log_dir(name), ENV_CHUNK, |file, c: EnvChunk| {
            if c.environment != name {
                bail!("{file} is about environment `{}`", c.environment);
            }
            Ok(c.entries)
        })
    }

    /// [`StateView::env_entries`] from entry `start` on: the list is in log order, so its
    /// chunks are read from the newest back, one at a time, only until one begins at or
    /// before `start` (each read checked to be in order, as a list in log order is: a list out of
    /// order is not believed, rather than cut at the wrong place).
    pub fn env_entries_from(&mut self, name: &str, start: EntryIndex) -> Result<Vec<EntryIndex>> {
        let dir = env_log_dir(name);
        let Some(last) = self.index.last_chunk(&dir).map_err(anyhow::Error::msg)? else {
            return Ok(Vec::new());
        };
        entries_from(&dir, last, start, |n| {
            let file = chunk_file(&dir, n);
            let bytes = self
                .file(&file)?
                .with_context(|| format!("{file} is listed in {INDEX_FILE} but missing"))?;
            let c: EnvChunk = parse(&file, &bytes).map_err(anyhow::Error::msg)?;
            if c.environment != name {
                bail!("{file} is about environment `{}`", c.environment);
            }
            check_chunk_size(&dir, n, n == last, c.entries.len(), ENV_CHUNK)?;
            Ok(c.entries)
        })
    }

    /// The items of the chunks listed in `dir`, in order: each chunk file parsed as a `C`,
    /// whose items `items` takes (refusing a chunk about something else), and each chunk but
    /// the last `size` items long.
    fn chunked<C: serde::de::DeserializeOwned, T>(
        &mut self,
        dir: &str,
        size: usize,
        items: impl Fn(&str, C) -> Result<Vec<T>>,
    ) -> Result<Vec<T>> {
        let chunks: Vec<Vec<T>> = self
            .chunks(dir)?
            .into_iter()
            .map(|(file, bytes)| items(&file, parse(&file, &bytes).map_err(anyhow::Error::msg)?))
            .collect::<Result<_>>()?;
        check_chunk_sizes(dir, &chunks, size)?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// The chunk files listed in `dir` (numbered `0..n`), read and checked.
    fn chunks(&mut self, dir: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.index.last_chunk(dir).map_err(anyhow::Error::msg)?;
        let files: Vec<String> = self
            .index
            .chunks(dir)
            .into_iter()
            .map(|(_, f)| f.to_owned())
            .collect();
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let read = self.files(&names)?;
        files
            .into_iter()
            .zip(read)
            .map(|(f, bytes)| {
                let bytes =
                    bytes.with_context(|| format!("{f} is listed in {INDEX_FILE} but missing"))?;
                Ok((f, bytes))
            })
            .collect()
    }

    /// What the log says about `path` (`None`: the log never named it).
    pub fn prompt(&mut self, path: &PromptPath) -> Result<Option<PromptState>> {
        let head = self.head(path)?;
        let history = self.history(path)?;
        let deployments = self.deployments(path)?;
        if head.is_none() && history.is_none() && deployments.is_empty() {
            return Ok(None);
        }
        if head.is_none() != history.is_none() {
            bail!("{path} has a head without a history, or a history without a head");
        }
        Ok(Some(PromptState::assemble(
            head.unwrap_or_default(),
            history,
            deployments,
        )))
    }

    /// Every path linked to `path` by renames (transitively), with its state.
    pub fn lineage(&mut self, path: &PromptPath) -> Result<BTreeMap<PromptPath, PromptState>> {
        let mut out = BTreeMap::new();
        let mut todo = vec![path.clone()];
        while let Some(p) = todo.pop() {
            if out.contains_key(&p) {
                continue;
            }
            if let Some(s) = self.prompt(&p)? {
                todo.extend(s.links.iter().filter(|q| !out.contains_key(*q)).cloned());
                out.insert(p, s);
            }
        }
        Ok(out)
    }

    /// An environment's live set (`None`: nothing was ever deployed there).
    pub fn env(&mut self, name: &str) -> Result<Option<EnvState>> {
        let file = env_file(name);
        let Some(bytes) = self.file(&file)? else {
            return Ok(None);
        };
        let env: EnvState = parse(&file, &bytes).map_err(anyhow::Error::msg)?;
        if env.environment != name {
            bail!("{file} is about environment `{}`", env.environment);
        }
        Ok(Some(env))
    }

    /// The paths whose lineage has more than one path (renamed from or to).
    pub fn renames(&mut self) -> Result<crate::state::Renames> {
        match self.file(crate::state::RENAMES_FILE)? {
            None => Ok(crate::state::Renames::default()),
            Some(bytes) => parse(crate::state::RENAMES_FILE, &bytes).map_err(anyhow::Error::msg),
        }
    }

    /// The policy tracker after every entry.
    pub fn policy(&mut self) -> Result<PolicyState> {
        let bytes = self
            .file(POLICY_FILE)?
            .with_context(|| format!("{INDEX_FILE} lists no {POLICY_FILE}"))?;
        parse(POLICY_FILE, &bytes).map_err(anyhow::Error::msg)
    }

    /// The entry files at these indexes, in the order given (pipelined reads by id, each
    /// `entries/<dir>` tree read once).
    pub fn entries(&mut self, indexes: &[EntryIndex]) -> Result<Vec<StoredEntry>> {
        let paths: Vec<String> = indexes.iter().map(|i| entry_path(*i)).collect();
        let names: Vec<&str> = paths.iter().map(String::as_str).collect();
        let ids = self.trees.resolve_many(&mut self.reader, &names)?;
        let specs: Vec<&str> = ids.iter().flatten().map(Oid::as_str).collect();
        let mut read = self.reader.read_many(&specs)?.into_iter();
        paths
            .into_iter()
            .zip(indexes)
            .zip(&ids)
            .map(|((path, i), id)| {
                let o = id
                    .as_ref()
                    .and_then(|_| read.next().flatten())
                    .with_context(|| format!("entry {} is missing from the branch", i.0))?;
                Ok(StoredEntry {
                    path,
                    bytes: o.data,
                })
            })
            .collect()
    }

    /// Every entry naming any path of `states` (sorted, deduplicated).
    pub fn entries_of<'a>(states: impl IntoIterator<Item = &'a PromptState>) -> Vec<EntryIndex> {
        let set: BTreeSet<EntryIndex> = states
            .into_iter()
            .flat_map(|s| s.entries.iter().copied())
            .collect();
        set.into_iter().collect()
    }
}

/// No summary at `tip`: a log older than it only when the tip's checkpoint says so and is
/// the one appended on the tip's parent. It parses, binds no summary, names the tip's parent
/// (or predates the parent line), and the tip is its parent plus one entry
/// ([`crate::succession::check`]). Anything else is an error (readers warn): the checkpoint
/// is the tip's own file, which whoever removed `state/` can rewrite as well.
fn unsummarised(store: &Store, reader: &mut ObjectReader, tip: &Oid) -> Result<()> {
    let Some(bytes) = read_bounded(reader, tip, CHECKPOINT_FILE)? else {
        // The branch's first commit (its metadata) holds no entry and no checkpoint.
        if reader.read(&format!("{tip}:entries"))?.is_some() {
            bail!("{} holds entries but no checkpoint", tip.short());
        }
        return Ok(());
    };
    let cp = std::str::from_utf8(&bytes)
        .map_err(|_| "it is not UTF-8".to_owned())
        .and_then(Checkpoint::parse)
        .map_err(|e| {
            anyhow::anyhow!(
                "the checkpoint of {} is malformed ({e}) and its tree holds no state summary",
                tip.short()
            )
        })?;
    if !matches!(bound_index(&cp.extensions), Ok(None)) {
        bail!(
            "the checkpoint of {} binds a state summary ({INDEX_FILE}) that its tree does not \
             hold",
            tip.short()
        );
    }
    let parents = store.git().commit_parents(tip)?;
    if let Some(named) = cp.parent()
        && (parents.len() > 1 || named != parents.first().map(Oid::as_str))
    {
        bail!(
            "the checkpoint of {} was signed for a commit on top of {}, its parent is {}",
            tip.short(),
            named.unwrap_or("nothing"),
            parents.first().map_or("nothing", Oid::as_str)
        );
    }
    crate::succession::check(reader, tip, parents.first(), &cp)
        .map_err(|e| anyhow::anyhow!("{} is not a commit promptrail appended: {e}", tip.short()))
}

/// Whether the checkpoint at `tip`, a log without a summary ([`StateView::open`] said
/// `None`), is signed under `trust` (keyless: by the certificate key of its last entry).
/// Without it a reader answers from entries nothing signed for this tip.
pub fn check_unsummarised_signature(store: &Store, tip: &Oid, trust: &Trust) -> Result<(), String> {
    let mut reader = store
        .git()
        .object_reader_for_few()
        .map_err(|e| format!("{e:#}"))?;
    let Some(bytes) =
        read_bounded(&mut reader, tip, CHECKPOINT_FILE).map_err(|e| format!("{e:#}"))?
    else {
        return Ok(());
    };
    let cp = std::str::from_utf8(&bytes)
        .map_err(|_| "the checkpoint is not UTF-8".to_owned())
        .and_then(Checkpoint::parse)?;
    cp.check_trusted(trust, &[], || {
        store
            .last_entry(tip)
            .map_err(|e| format!("{e:#}"))?
            .map(|e| e.bytes)
            .ok_or_else(|| "the last entry is missing".to_owned())
    })
    .map_err(|e| format!("the checkpoint is not signed by a trusted key: {e}"))
}

fn read_bounded(reader: &mut ObjectReader, tip: &Oid, path: &str) -> Result<Option<Vec<u8>>> {
    match reader.read_bounded(&format!("{tip}:{path}"), FILE_LIMIT)? {
        None => Ok(None),
        Some(Err(size)) => {
            bail!("{path} on the audit branch is {size} bytes, more than a state file may be")
        }
        Some(Ok(o)) if o.kind == "blob" => Ok(Some(o.data)),
        Some(Ok(o)) => bail!("{path} on the audit branch is a {}, not a file", o.kind),
    }
}

impl crate::state::Source for StateView {
    fn read(&mut self, file: &str) -> Result<Option<Vec<u8>>> {
        self.file(file)
    }
}

/// The newest item `wanted` accepts in each of several chunked lists, items in log order
/// (`lasts[i]`: list `i`'s last chunk, `None`: it is empty). `read` reads a batch of
/// chunks `(list, chunk)`, items in order: first every list's last chunk, then, for the
/// lists whose chunk held no wanted item, the chunk before, and so on. The answer is the
/// one a search of each whole list from its end gives.
fn newest_in_chunks<T>(
    lasts: &[Option<u64>],
    mut read: impl FnMut(&[(usize, u64)]) -> Result<Vec<Vec<T>>>,
    wanted: impl Fn(&T) -> bool,
) -> Result<Vec<Option<T>>> {
    let mut found: Vec<Option<T>> = std::iter::repeat_with(|| None).take(lasts.len()).collect();
    let mut open: Vec<(usize, u64)> = lasts
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|n| (i, n)))
        .collect();
    while !open.is_empty() {
        let chunks = read(&open)?;
        if chunks.len() != open.len() {
            bail!("read {} chunks of {} asked", chunks.len(), open.len());
        }
        let mut next = Vec::new();
        for ((i, n), items) in open.into_iter().zip(chunks) {
            match items.into_iter().rev().find(|t| wanted(t)) {
                Some(t) => found[i] = Some(t),
                None if n > 0 => next.push((i, n - 1)),
                None => {}
            }
        }
        open = next;
    }
    Ok(found)
}

/// The items from `start` on of a list of entries in log order, kept in chunks `0..=last`
/// of `dir`: `read(n)` gives chunk `n`'s items, read from the last back until a chunk
/// begins at or before `start`. Items out of order (within a chunk or across chunks) are an
/// error: the list cannot be cut by a position it does not keep in order.
fn entries_from(
    dir: &str,
    last: u64,
    start: EntryIndex,
    mut read: impl FnMut(u64) -> Result<Vec<EntryIndex>>,
) -> Result<Vec<EntryIndex>> {
    let mut chunks: Vec<Vec<EntryIndex>> = Vec::new();
    for n in (0..=last).rev() {
        let items = read(n)?;
        let newer = chunks.last().and_then(|later| later.first());
        let ordered = items.windows(2).all(|w| w[0] < w[1])
            && newer.is_none_or(|first| items.last().is_none_or(|l| l < first));
        if !ordered {
            bail!("chunk {n} of {dir} lists entries out of log order");
        }
        let done = items.first().is_some_and(|first| *first <= start);
        chunks.push(items);
        if done {
            break;
        }
    }
    Ok(chunks
        .into_iter()
        .rev()
        .flatten()
        .filter(|i| *i >= start)
        .collect())
}

/// Every chunk but the last holds exactly `size` items, the last 1 to `size`.
fn check_chunk_sizes<T>(dir: &str, chunks: &[Vec<T>], size: usize) -> Result<()> {
    let n = chunks.len();
    for (i, c) in chunks.iter().enumerate() {
        check_chunk_size(dir, i as u64, i + 1 == n, c.len(), size)?;
    }
    Ok(())
}

/// Chunk `n` of `dir` holds `len` items: `size` when it is not the last, 1 to `size` when
/// it is.
fn check_chunk_size(dir: &str, n: u64, last: bool, len: usize, size: usize) -> Result<()> {
    let ok = if last {
        len > 0 && len <= size
    } else {
        len == size
    };
    if !ok {
        bail!("chunk {n} of {dir} holds {len} items, not a chunk of {size}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item: (entry, accepted?).
    type Item = (u64, bool);
    /// Each list's chunks.
    type Lists = Vec<Vec<Vec<Item>>>;

    /// Lists in chunks of 4: each list's last chunk, and the chunks.
    fn chunked(lists: &[&[Item]]) -> (Vec<Option<u64>>, Lists) {
        let chunks: Lists = lists
            .iter()
            .map(|l| l.chunks(4).map(<[_]>::to_vec).collect())
            .collect();
        let lasts = chunks
            .iter()
            .map(|c| c.len().checked_sub(1).map(|n| n as u64))
            .collect();
        (lasts, chunks)
    }

    #[test]
    fn the_newest_wanted_item_is_the_whole_lists_and_only_newer_chunks_are_read() {
        let t = (0..10u64).map(|i| (i, false)).collect::<Vec<_>>();
        let mut a = t.clone();
        a[1].1 = true; // chunk 0: two chunks back from the last
        a[5].1 = true; // chunk 1
        let mut b = t.clone();
        b[9].1 = true; // the last chunk
        let c = t.clone(); // none
        let mut d = t[..4].to_vec();
        d[3].1 = true; // one full chunk, the last
        let lists: Vec<&[(u64, bool)]> = vec![&a, &b, &c, &d, &[]];
        let (lasts, chunks) = chunked(&lists);
        let mut asked: Vec<Vec<(usize, u64)>> = Vec::new();
        let found = newest_in_chunks(
            &lasts,
            |batch| {
                asked.push(batch.to_vec());
                Ok(batch
                    .iter()
                    .map(|(i, n)| chunks[*i][*n as usize].clone())
                    .collect())
            },
            |x| x.1,
        )
        .unwrap();
        let whole: Vec<Option<(u64, bool)>> = lists
            .iter()
            .map(|l| l.iter().rev().find(|x| x.1).copied())
            .collect();
        assert_eq!(found, whole);
        assert_eq!(found[0], Some((5, true)));
        // Round 1: every last chunk; round 2: a's and c's chunk before; round 3: c's first.
        assert_eq!(
            asked,
            vec![
                vec![(0, 2), (1, 2), (2, 2), (3, 0)],
                vec![(0, 1), (2, 1)],
                vec![(2, 0)]
            ]
        );
        // A reader answering fewer chunks than asked is an error, not a short answer.
        assert!(newest_in_chunks(&lasts, |_| Ok(Vec::new()), |x: &(u64, bool)| x.1).is_err());
    }

    #[test]
    fn entries_from_a_position_read_back_to_it_and_refuse_a_list_out_of_order() {
        let list: Vec<EntryIndex> = (0..10u64).map(|i| EntryIndex(i * 3)).collect();
        let chunks: Vec<Vec<EntryIndex>> = list.chunks(4).map(<[_]>::to_vec).collect();
        for start in [0u64, 1, 11, 12, 13, 24, 26, 27, 28, 100] {
            let mut read = Vec::new();
            let got = entries_from("d/", 2, EntryIndex(start), |n| {
                read.push(n);
                Ok(chunks[n as usize].clone())
            })
            .unwrap();
            let want: Vec<EntryIndex> = list.iter().copied().filter(|i| i.0 >= start).collect();
            assert_eq!(got, want, "from {start}");
            // Chunk 2 starts at 24, chunk 1 at 12: older chunks are read only when needed.
            let deepest = *read.last().unwrap();
            let needed = if start >= 24 {
                2
            } else if start >= 12 {
                1
            } else {
                0
            };
            assert_eq!(deepest, needed, "from {start}: read {read:?}");
        }
        let mut swapped = chunks.clone();
        swapped[2].swap(0, 1);
        let mut across = chunks.clone();
        across[1][3] = EntryIndex(100);
        for bad in [swapped, across] {
            let got = entries_from("d/", 2, EntryIndex(0), |n| Ok(bad[n as usize].clone()));
            assert!(got.is_err_and(|e| e.to_string().contains("out of log order")));
        }
    }
}
