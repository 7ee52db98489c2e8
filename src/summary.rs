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
//! (from their chunks), [`StateView::prompt`] all of these as one [`PromptState`]
//! (versions, deployments, entries, links), [`StateView::lineage`]
//! the prompt across renames, [`StateView::env`]`(name)` an environment's live set and
//! [`StateView::env_entries`] its entries,
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
    bound_index, deployments_dir, env_file, env_log_dir, heads_file, history_file, is_format_file,
    parse,
};
use crate::store::Store;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex};

/// The largest state file read (a shard of a very long log is a few MiB).
const FILE_LIMIT: u64 = 256 << 20;

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
        let mut reader = store.git().object_reader()?;
        let Some(bytes) = read_bounded(&mut reader, tip, INDEX_FILE)? else {
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

    /// Every deployment and rollback entry into environment `name`, in log order.
    pub fn env_entries(&mut self, name: &str) -> Result<Vec<EntryIndex>> {
        self.chunked(&env_log_dir(name), ENV_CHUNK, |file, c: EnvChunk| {
            if c.environment != name {
                bail!("{file} is about environment `{}`", c.environment);
            }
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

/// Every chunk but the last holds exactly `size` items, the last 1 to `size`.
fn check_chunk_sizes<T>(dir: &str, chunks: &[Vec<T>], size: usize) -> Result<()> {
    let n = chunks.len();
    for (i, c) in chunks.iter().enumerate() {
        let ok = if i + 1 == n {
            !c.is_empty() && c.len() <= size
        } else {
            c.len() == size
        };
        if !ok {
            bail!(
                "chunk {i} of {dir} holds {} items, not a chunk of {size}",
                c.len()
            );
        }
    }
    Ok(())
}
