//! The state summary on the audit branch (pure): what every reader and the gate would
//! otherwise compute by decoding the whole log, kept beside the entries and bound to the
//! signed checkpoint.
//!
//! ```text
//! state/index.json           format, tree size, SHA-256 of every other state file
//! state/policy.json          the policy in force (and a change waiting to take effect)
//! state/renames.json         every path a rename linked to another
//! state/prompts/<xx>.json    prompts by the first byte of SHA-256(path): 256 shards
//! state/env/<env>.json       each environment's live set
//! ```
//! The checkpoint that closes the append carries the extension line
//! `promptrail-state sha256:<hex of SHA-256(state/index.json)>`, so the one signed note binds
//! the summary to the tree size and root. Every file is compact JSON of the types below
//! (maps sorted by key), so that a summary recomputed from the entries is byte-equal to a
//! correct one: `verify` recomputes it (PT017), an append updates only the files its
//! entries touch ([`Summary::files_for`]), and a log without `state/` gets the whole summary
//! with its next append. Nothing here is believed unless the caller checked the binding
//! (see `crate::summary::StateView`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::attestation::Statement;
use crate::attestation::predicate::{ChangeType, EventType, PolicyInForce};
use crate::governance::PolicyTracker;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};

/// The summary's layout version.
pub const FORMAT: u32 = 1;
/// The directory of the summary on the audit branch.
pub const DIR: &str = "state";
/// The index of the summary's files.
pub const INDEX_FILE: &str = "state/index.json";
/// The policy in force.
pub const POLICY_FILE: &str = "state/policy.json";
/// Every path a rename linked to another (a lineage of more than one path).
pub const RENAMES_FILE: &str = "state/renames.json";
/// The checkpoint extension line's prefix; the hex SHA-256 of `state/index.json` follows.
pub const EXTENSION: &str = "promptrail-state sha256:";

/// The shard holding `path`: `state/prompts/<first byte of SHA-256(path), hex>.json`.
pub fn shard_file(path: &PromptPath) -> String {
    let d = Sha256::digest(path.as_str().as_bytes());
    format!("{DIR}/prompts/{:02x}.json", d[0])
}

/// The file of environment `env`: its name when that is a plain name (letters, digits, `-`,
/// `_`, at most 64), else `~` and the SHA-256 of the name (no name can become a path).
pub fn env_file(env: &str) -> String {
    let plain = !env.is_empty()
        && env.len() <= 64
        && env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        format!("{DIR}/env/{env}.json")
    } else {
        format!("{DIR}/env/~{}.json", Sha256Hex::of(env.as_bytes()))
    }
}

/// Whether `path` is a file of the summary's layout (index, policy, a shard, an env file).
pub fn is_state_file(path: &str) -> bool {
    if path == INDEX_FILE || path == POLICY_FILE || path == RENAMES_FILE {
        return true;
    }
    if let Some(name) = path
        .strip_prefix("state/prompts/")
        .and_then(|n| n.strip_suffix(".json"))
    {
        return name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    }
    path.strip_prefix("state/env/")
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && !n.contains('/'))
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

/// Everything the log says about one path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptState {
    /// Whether its newest version event left it in the tree (not deleted, not renamed away).
    pub present: bool,
    /// Its version records in log order (a deletion or rename of a version already recorded
    /// here adds none, as in the ledger).
    pub versions: Vec<VersionState>,
    /// Its deployments and rollbacks in log order.
    pub deployments: Vec<DeploymentState>,
    /// Every entry that names it (as `path` or as `previousPath`), in log order.
    pub entries: Vec<EntryIndex>,
    /// The paths a rename linked it to (either way): its lineage is the closure.
    pub links: BTreeSet<PromptPath>,
}

impl PromptState {
    /// The newest version record of this content (not a deletion): what the gate looks up.
    pub fn by_sha256(&self, sha256: &Sha256Hex) -> Option<&VersionState> {
        self.versions
            .iter()
            .rev()
            .find(|v| &v.sha256 == sha256 && v.change != Some(ChangeType::Deleted))
    }

    /// The version `n` recorded here.
    pub fn version(&self, n: Version) -> Option<&VersionState> {
        self.versions.iter().rev().find(|v| v.version == n)
    }
}

/// One shard of prompts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub prompts: BTreeMap<PromptPath, PromptState>,
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
    /// Every deployment and rollback entry into this environment, in log order.
    pub entries: Vec<EntryIndex>,
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

/// The encoded files of a summary, to be written in one commit.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Changed files (path, bytes), index last.
    pub files: Vec<(String, Vec<u8>)>,
    /// SHA-256 of the index's bytes: what the checkpoint binds.
    pub index_sha256: Sha256Hex,
    pub index: StateIndex,
}

/// The summary being computed: from the first entry (every file), or resumed at a tip with
/// only the files that the new entries touch loaded.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    shards: BTreeMap<String, Shard>,
    envs: BTreeMap<String, EnvState>,
    /// `None` until loaded (or created by a rename).
    renames: Option<Renames>,
    policy: PolicyTracker,
    size: u64,
    last_version_commit: Option<Oid>,
    /// Files changed since the summary was resumed (all, for one built from scratch).
    touched: BTreeSet<String>,
    /// The index resumed from (`None`: built from scratch).
    base: Option<StateIndex>,
}

impl Summary {
    /// The summary of an empty log.
    pub fn new() -> Summary {
        let mut s = Summary::default();
        s.touched.insert(POLICY_FILE.to_owned());
        s
    }

    /// A summary resumed at a tip whose (checked) index and policy are given; load the
    /// files [`Summary::files_for`] names before applying entries.
    pub fn resume(index: StateIndex, policy: &PolicyState) -> Summary {
        let mut touched = BTreeSet::new();
        touched.insert(POLICY_FILE.to_owned());
        Summary {
            shards: BTreeMap::new(),
            envs: BTreeMap::new(),
            renames: None,
            policy: policy.tracker(),
            size: index.size,
            last_version_commit: index.last_version_commit.clone(),
            touched,
            base: Some(index),
        }
    }

    /// Entries covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The state files (other than the index and the policy) that applying `st` changes.
    pub fn files_for(st: &Statement) -> BTreeSet<String> {
        let p = &st.predicate;
        let mut out = BTreeSet::new();
        for pr in &p.prompts {
            out.insert(shard_file(&pr.path));
            if let Some(from) = &pr.previous_path {
                out.insert(shard_file(from));
                if from != &pr.path && p.event == EventType::Version {
                    out.insert(RENAMES_FILE.to_owned());
                }
            }
        }
        if p.event != EventType::Version
            && let Some(d) = &p.deployment
        {
            out.insert(env_file(&d.environment));
        }
        out
    }

    /// Whether a file is loaded (or was created by an applied entry).
    pub fn is_loaded(&self, file: &str) -> bool {
        self.shards.contains_key(file) || self.envs.contains_key(file)
    }

    pub fn load_shard(&mut self, file: String, shard: Shard) {
        self.shards.insert(file, shard);
    }

    pub fn load_env(&mut self, file: String, env: EnvState) {
        self.envs.insert(file, env);
    }

    pub fn load_renames(&mut self, renames: Renames) {
        self.renames = Some(renames);
    }

    fn prompt_mut(&mut self, path: &PromptPath) -> &mut PromptState {
        let file = shard_file(path);
        self.touched.insert(file.clone());
        self.shards
            .entry(file)
            .or_default()
            .prompts
            .entry(path.clone())
            .or_default()
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
                        let away = self.prompt_mut(from);
                        away.present = false;
                        push_entry(&mut away.entries, index);
                        if from != &pr.path {
                            away.links.insert(pr.path.clone());
                            self.prompt_mut(&pr.path).links.insert(from.clone());
                            self.touched.insert(RENAMES_FILE.to_owned());
                            let renames = self.renames.get_or_insert_with(Renames::default);
                            renames.paths.insert(from.clone());
                            renames.paths.insert(pr.path.clone());
                        }
                    }
                    let approved = p
                        .policy
                        .rules
                        .iter()
                        .any(|r| r.path == pr.path && r.is_approved());
                    let s = self.prompt_mut(&pr.path);
                    s.present = pr.change != Some(ChangeType::Deleted);
                    push_entry(&mut s.entries, index);
                    let again =
                        matches!(pr.change, Some(ChangeType::Deleted | ChangeType::Renamed))
                            && s.versions.iter().any(|v| v.version == pr.version);
                    if !again {
                        s.versions.push(VersionState {
                            version: pr.version,
                            change: pr.change,
                            sha256: pr.digest.sha256.clone(),
                            git_blob: pr.digest.git_blob.clone(),
                            entry: index,
                            commit: pr.commit.clone(),
                            approved,
                        });
                    }
                }
            }
            EventType::Deployment | EventType::Rollback => {
                for pr in &p.prompts {
                    let s = self.prompt_mut(&pr.path);
                    push_entry(&mut s.entries, index);
                    let Some(d) = &p.deployment else { continue };
                    s.deployments.push(DeploymentState {
                        entry: index,
                        environment: d.environment.clone(),
                        event: p.event,
                        version: pr.version,
                        sha256: pr.digest.sha256.clone(),
                        deployed_at: d.deployed_at,
                    });
                    let version_entry = s
                        .versions
                        .iter()
                        .rev()
                        .find(|v| {
                            v.version == pr.version
                                && v.sha256 == pr.digest.sha256
                                && v.change != Some(ChangeType::Deleted)
                        })
                        .map(|v| v.entry);
                    let file = env_file(&d.environment);
                    self.touched.insert(file.clone());
                    let env = self.envs.entry(file).or_insert_with(|| EnvState {
                        environment: d.environment.clone(),
                        live: BTreeMap::new(),
                        entries: Vec::new(),
                    });
                    push_entry(&mut env.entries, index);
                    env.live.insert(
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
            }
        }
    }

    /// The changed files and the new index. The index keeps the hashes of files not
    /// loaded (unchanged) from the one resumed from.
    pub fn encode(&self) -> Result<Encoded, serde_json::Error> {
        let mut files = Vec::new();
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
        for file in &self.touched {
            let bytes = if file == POLICY_FILE {
                serde_json::to_vec(&PolicyState::of(&self.policy))?
            } else if file == RENAMES_FILE {
                match &self.renames {
                    Some(r) => serde_json::to_vec(r)?,
                    None => continue,
                }
            } else if let Some(shard) = self.shards.get(file) {
                serde_json::to_vec(shard)?
            } else if let Some(env) = self.envs.get(file) {
                serde_json::to_vec(env)?
            } else {
                continue;
            };
            index.files.insert(file.clone(), Sha256Hex::of(&bytes));
            files.push((file.clone(), bytes));
        }
        let bytes = serde_json::to_vec(&index)?;
        let index_sha256 = Sha256Hex::of(&bytes);
        files.push((INDEX_FILE.to_owned(), bytes));
        Ok(Encoded {
            files,
            index_sha256,
            index,
        })
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
        let f = shard_file(&PromptPath::new("prompts/a.md"));
        assert!(f.starts_with("state/prompts/") && f.len() == "state/prompts/xx.json".len());
        assert!(is_state_file(&f));
        assert_eq!(env_file("production"), "state/env/production.json");
        let odd = env_file("../../entries/x");
        assert!(
            odd.starts_with("state/env/~") && !odd[10..].contains('/'),
            "{odd}"
        );
        assert!(is_state_file(&odd));
        assert!(!is_state_file("state/prompts/zz.json"));
        assert!(!is_state_file("state/other.json"));
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
}
