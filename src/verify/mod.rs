//! The auditor's checks over a whole audit log, as findings (data, rendered elsewhere).
//!
//! Every check has a stable code. A finding names the entry, the check, and what was
//! expected versus found, so that tampering is reported precisely.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::attestation::predicate::EventType;
use crate::layout::{LogMeta, StoredEntry, index_from_path};
use crate::signing::{Trust, TrustedKey};
use crate::types::{EntryIndex, KeyId, Oid, PromptPath, Sha256Hex, Version};

mod entry;
mod log;
mod policy;
pub mod shape;
pub mod state;

use entry::{
    check_deployed, check_format, check_git, check_keyless, check_numbering, check_signature,
    check_subjects, decode_all, git_specs,
};
pub use log::{
    AuditCommit, check_branch_history, check_checkpoint, check_checkpoint_and_range,
    check_checkpoint_parent, check_consistency,
};

/// A verification check, with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// PT001: the DSSE signature does not verify with the trusted key it names.
    Signature,
    /// PT002: `log.previous` is not the SHA-256 of the previous entry file.
    Chain,
    /// PT003: indexes are not 0, 1, 2… matching the file names (missing, swapped, duplicated).
    Index,
    /// PT004: the entry is signed by a key that is not trusted.
    UntrustedKey,
    /// PT005: a recorded digest differs from the git blob in the repository.
    Digest,
    /// PT006: a prompt's versions are not numbered 1, 2, 3… without gaps.
    Numbering,
    /// PT007: the entry is not a well-formed bundle / DSSE envelope / Statement.
    Format,
    /// PT008: the entry names another repository than the log's origin.
    Origin,
    /// PT009: the branch layout is wrong (no `promptrail.json`, stray files).
    Layout,
    /// PT010: the branch's commits did more than append the next entry (an entry was
    /// changed or deleted in a later commit, or the history is not a single line).
    History,
    /// PT011: the branch's `checkpoint` is missing, not signed by a trusted key, or does not
    /// match the entries (size, RFC 6962 root, origin), or the tip commit is not the one it
    /// was signed for (its parent is not the commit the checkpoint names).
    Checkpoint,
    /// PT012: the log is not an append-only extension of a checkpoint the auditor kept
    /// (truncated, or its history rewritten).
    Consistency,
    /// PT013: the entry was signed by a key outside that key's validity window (a retired
    /// or not yet valid key).
    KeyWindow,
    /// PT014: a deployment or rollback names a version that was not recorded before it with
    /// the same content, or that was not approved under the policy recorded with it.
    Deployment,
    /// PT015: a keyless entry's certificate does not chain to the trusted Fulcio, its SCT,
    /// Rekor inclusion proof or signed entry timestamp does not verify, it has no Rekor
    /// entry where one is required, or the signature does not verify with its key.
    Certificate,
    /// PT016: a keyless entry's certificate names an identity (workflow) or OIDC issuer the
    /// policy does not allow.
    Identity,
    /// PT017: the state summary on the branch (`state/`) is not the one recomputed from the
    /// entries (a file's field differs, a file is missing or extra), or its index is not the
    /// one the checkpoint binds.
    State,
    /// PT018: the entry was judged by a policy that was not in force (the newest
    /// `.promptrail.yml` that landed approved before it), or its rule is not that policy's.
    Policy,
}

impl Check {
    pub const ALL: [Check; 18] = [
        Check::Signature,
        Check::Chain,
        Check::Index,
        Check::UntrustedKey,
        Check::Digest,
        Check::Numbering,
        Check::Format,
        Check::Origin,
        Check::Layout,
        Check::History,
        Check::Checkpoint,
        Check::Consistency,
        Check::KeyWindow,
        Check::Deployment,
        Check::Certificate,
        Check::Identity,
        Check::State,
        Check::Policy,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Check::Signature => "PT001",
            Check::Chain => "PT002",
            Check::Index => "PT003",
            Check::UntrustedKey => "PT004",
            Check::Digest => "PT005",
            Check::Numbering => "PT006",
            Check::Format => "PT007",
            Check::Origin => "PT008",
            Check::Layout => "PT009",
            Check::History => "PT010",
            Check::Checkpoint => "PT011",
            Check::Consistency => "PT012",
            Check::KeyWindow => "PT013",
            Check::Deployment => "PT014",
            Check::Certificate => "PT015",
            Check::Identity => "PT016",
            Check::State => "PT017",
            Check::Policy => "PT018",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Check::Signature => "signature",
            Check::Chain => "chain",
            Check::Index => "index",
            Check::UntrustedKey => "untrusted-key",
            Check::Digest => "digest",
            Check::Numbering => "numbering",
            Check::Format => "format",
            Check::Origin => "origin",
            Check::Layout => "layout",
            Check::History => "history",
            Check::Checkpoint => "checkpoint",
            Check::Consistency => "consistency",
            Check::KeyWindow => "key-window",
            Check::Deployment => "deployment",
            Check::Certificate => "certificate",
            Check::Identity => "identity",
            Check::State => "state",
            Check::Policy => "policy",
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: &'static str,
    pub check: Check,
    /// The entry's position in the log (by file), when the finding is about one entry.
    pub entry: Option<u64>,
    /// The entry file on the audit branch.
    pub file: Option<String>,
    pub prompt: Option<String>,
    pub expected: String,
    pub found: String,
    pub message: String,
}

/// What `verify` concluded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub ok: bool,
    pub entries: u64,
    pub origin: Option<String>,
    /// Entries per signing key id (key mode) or `keyless IDENTITY`.
    pub signed_by: BTreeMap<String, u64>,
    /// Keyless entries with no transparency-log entry (`signing.transparency: false`): their
    /// time is the signer's own claim.
    #[serde(skip_serializing_if = "is_zero")]
    pub unlogged: u64,
    pub findings: Vec<Finding>,
    /// Verified keyless entries' certificate keys, by position (they sign checkpoints).
    #[serde(skip)]
    pub keyless_keys: Vec<(u64, Vec<u8>)>,
    /// The RFC 6962 leaf hash of every entry file, in order (for the checkpoint checks).
    #[serde(skip)]
    pub leaves: Vec<crate::merkle::Hash>,
    /// The state summary recomputed from the entries (for PT017).
    #[serde(skip)]
    pub summary: crate::state::Summary,
}

/// The entry files `verify` reads, a window at a time: from memory, or from git as they
/// are needed (so that a long log is never held whole).
pub trait EntrySource {
    /// Calls `each` with consecutive windows of at most `size` entries, in order.
    fn windows(
        &mut self,
        size: usize,
        each: &mut dyn FnMut(&[StoredEntry]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
}

impl EntrySource for &[StoredEntry] {
    fn windows(
        &mut self,
        size: usize,
        each: &mut dyn FnMut(&[StoredEntry]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.chunks(size).try_for_each(each)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Access to the repository's objects for the git cross-check.
pub trait RepoObjects {
    /// The blob at `rev:path` (`None` when the commit or the path does not exist).
    fn blob_at(&mut self, rev: &str, path: &str) -> anyhow::Result<Option<(Oid, Vec<u8>)>>;

    /// Announces the `(rev, path)` blobs that [`RepoObjects::blob_at`] will be asked for
    /// next, so that an implementation can read them in one batch. The default does nothing.
    fn prefetch(&mut self, _specs: &[(String, String)]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Entries decoded, and their blobs announced to [`RepoObjects::prefetch`], at a time (the
/// streaming readers' window, [`crate::layout::READ_WINDOW`]).
const PREFETCH: usize = crate::layout::READ_WINDOW;

pub(super) struct Lineage {
    max: Version,
    live: Option<Version>,
}

/// Runs every check over the log's files.
pub fn verify(
    meta: Option<&[u8]>,
    entries: &mut dyn EntrySource,
    stray_files: &[String],
    trust: &Trust,
    repo: &mut (dyn RepoObjects + Send),
) -> anyhow::Result<Report> {
    let mut findings = Vec::new();
    let mut signed_by = BTreeMap::new();
    let meta: Option<LogMeta> = match meta {
        None => {
            findings.push(finding(
                Check::Layout,
                None,
                None,
                "promptrail.json at the branch root",
                "no such file",
                "the branch has no promptrail.json: not a promptrail audit branch",
            ));
            None
        }
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                findings.push(finding(
                    Check::Layout,
                    None,
                    None,
                    "a valid promptrail.json",
                    &e.to_string(),
                    "promptrail.json is not valid",
                ));
                None
            }
        },
    };
    for stray in stray_files {
        findings.push(finding(
            Check::Layout,
            None,
            None,
            "only promptrail.json and entries/",
            stray,
            &format!("unexpected file {stray} on the audit branch"),
        ));
    }

    let keyring: HashMap<&KeyId, &TrustedKey> = trust.keys.iter().map(|k| (&k.key_id, k)).collect();
    let mut unlogged = 0;
    let mut keyless_keys = Vec::new();
    let mut previous: Option<Sha256Hex> = None;
    let mut lineages: HashMap<PromptPath, Lineage> = HashMap::new();
    let mut seen_index: HashMap<u64, u64> = HashMap::new();
    let mut last_recorded: Option<chrono::DateTime<chrono::Utc>> = None;
    // (path, version) → (sha256, approved) of versions recorded so far.
    let mut recorded: HashMap<(PromptPath, Version), (Sha256Hex, bool)> = HashMap::new();
    let mut policy_check = policy::PolicyCheck::default();
    let mut summary = crate::state::Summary::new();

    // Decoding and signature checks are independent per entry: they run on every core, a
    // window of entries at a time so that memory stays bounded on long logs; each window's
    // git cross-check objects are prefetched in one batch while its signatures are checked.
    let mut pos: u64 = 0;
    let mut leaves: Vec<crate::merkle::Hash> = Vec::new();
    entries.windows(PREFETCH, &mut |window: &[StoredEntry]| {
    // The window's git cross-check objects are read while its signatures are checked.
    let decoded = decode_all(window, &keyring, trust.keyless.as_ref(), |parsed| {
        let specs: Vec<(String, String)> = parsed
            .iter()
            .flat_map(|p| p.as_ref().map_or_else(|_| Vec::new(), |(_, st)| git_specs(st)))
            .collect();
        repo.prefetch(&specs)
    })?;
    for (entry, decoded) in window.iter().zip(decoded) {
        let pos = {
            pos += 1;
            pos - 1
        };
        leaves.push(crate::merkle::leaf_hash(&entry.bytes));
        let at = Loc {
            entry: pos,
            file: &entry.path,
        };
        let this_hash = Sha256Hex::of(&entry.bytes);
        let expected_previous = previous.replace(this_hash);

        match index_from_path(&entry.path) {
            Some(EntryIndex(i)) if i == pos => {}
            Some(EntryIndex(i)) if i > pos => findings.push(at.finding(
                Check::Index,
                None,
                &format!("entry {pos}"),
                &format!("entry {i}"),
                &format!("entries {pos}..{} are missing from the log", i - 1),
            )),
            Some(EntryIndex(i)) => findings.push(at.finding(
                Check::Index,
                None,
                &format!("entry {pos}"),
                &format!("entry {i}"),
                "entry file out of order",
            )),
            None => findings.push(at.finding(
                Check::Layout,
                None,
                "entries/DDDDDD/NNNNNNNNN.json",
                &entry.path,
                "entry file name does not follow the layout",
            )),
        }

        let (sig_ok, keyless) = (decoded.sig_ok, decoded.keyless);
        let (bundle, statement) = match decoded.parsed {
            Ok(x) => x,
            Err(e) => {
                findings.push(at.finding(
                    Check::Format,
                    None,
                    "a Sigstore bundle v0.3 with a DSSE in-toto Statement",
                    &e,
                    "entry cannot be decoded",
                ));
                continue;
            }
        };
        check_format(&at, &bundle, &statement, &mut findings);
        check_signature(
            &at,
            &bundle,
            &keyring,
            sig_ok,
            &mut signed_by,
            &mut findings,
        );
        if let Some(outcome) = &keyless {
            check_keyless(&at, outcome, &mut signed_by, &mut findings);
            if let Ok(signed) = outcome {
                keyless_keys.push((pos, signed.spki.clone()));
                if !signed.logged {
                    unlogged += 1;
                }
                check_logged_time(&at, &statement, signed, &mut findings);
            }
        }
        // Times only move forward (runners' clocks may differ by minutes): a key window
        // cannot be dodged by backdating an entry behind newer ones.
        let t = statement.predicate.recorded_at;
        if let Some(prev) = last_recorded
            && t + chrono::Duration::minutes(10) < prev
        {
            findings.push(at.finding(
                Check::KeyWindow,
                None,
                &format!(
                    "recordedAt no earlier than {} (the entry before)",
                    prev.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                &format!(
                    "recordedAt {}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                "entry is dated before the entry that precedes it (backdated?)",
            ));
        }
        last_recorded = Some(last_recorded.map_or(t, |p| p.max(t)));
        if let Some(key) = bundle.key_hint().and_then(|h| keyring.get(h))
            && !key.valid_at(statement.predicate.recorded_at)
        {
            let bound = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("unbounded".to_owned(), |t| {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
            };
            findings.push(at.finding(
                Check::KeyWindow,
                None,
                &format!(
                    "recorded between {} and {} (the validity of key {})",
                    bound(key.not_before),
                    bound(key.not_after),
                    key.key_id
                ),
                &format!(
                    "recorded at {}",
                    statement
                        .predicate
                        .recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                "entry is signed by a key outside its validity window (retired or not yet valid)",
            ));
        }

        let p = &statement.predicate;
        if p.log.index.0 != pos {
            let dup = seen_index.get(&p.log.index.0);
            findings.push(at.finding(
                Check::Index,
                None,
                &format!("log.index {pos}"),
                &format!("log.index {}", p.log.index.0),
                &match dup {
                    Some(first) => format!(
                        "entry claims index {}, already claimed by the entry at position {first} (duplicated or replayed)",
                        p.log.index.0
                    ),
                    None => format!(
                        "entry claims index {} but sits at position {pos} (reordered or moved)",
                        p.log.index.0
                    ),
                },
            ));
        }
        seen_index.entry(p.log.index.0).or_insert(pos);
        if p.log.previous != expected_previous {
            findings.push(at.finding(
                Check::Chain,
                None,
                &opt_hash(&expected_previous),
                &opt_hash(&p.log.previous),
                "log.previous is not the SHA-256 of the previous entry file: an entry before this one was altered, removed or reordered",
            ));
        }
        if let Some(meta) = &meta
            && p.log.origin != meta.origin
        {
            findings.push(at.finding(
                Check::Origin,
                None,
                &meta.origin,
                &p.log.origin,
                "entry was made for another repository's log (replayed?)",
            ));
        }

        check_subjects(&at, &statement, &mut findings);
        if p.event == EventType::Version {
            check_numbering(&at, &statement, &mut lineages, &mut findings);
            for pr in &p.prompts {
                let approved = p
                    .policy
                    .rules
                    .iter()
                    .any(|r| r.path == pr.path && r.is_approved());
                let key = (pr.path.clone(), pr.version);
                let prior = recorded.get(&key).is_some_and(|(_, a)| *a);
                recorded.insert(key, (pr.digest.sha256.clone(), approved || prior));
            }
        } else {
            check_deployed(&at, &statement, &recorded, &mut findings);
        }
        summary.apply(EntryIndex(pos), &statement);
        policy_check.check(&at, &statement, repo, &mut findings)?;
        check_git(&at, &statement, repo, &mut findings)?;
    }
    Ok(())
    })?;

    findings.sort_by_key(|f| (f.entry.map_or(0, |e| e + 1), f.check));
    Ok(Report {
        ok: findings.is_empty(),
        entries: pos,
        origin: meta.map(|m| m.origin),
        signed_by,
        unlogged,
        findings,
        keyless_keys,
        leaves,
        summary,
    })
}

/// A logged keyless entry's `recordedAt` must agree with the time Rekor witnessed it
/// (runners' clocks may be minutes off).
fn check_logged_time(
    at: &Loc,
    statement: &crate::attestation::Statement,
    signed: &crate::keyless::verify::KeylessSigned,
    out: &mut Vec<Finding>,
) {
    let claimed = statement.predicate.recorded_at;
    if !signed.logged || (claimed - signed.time).num_minutes().abs() <= 10 {
        return;
    }
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    out.push(at.finding(
        Check::KeyWindow,
        None,
        &format!("recordedAt within 10 minutes of {} (Rekor's integrated time)", fmt(signed.time)),
        &format!("recordedAt {}", fmt(claimed)),
        "entry's recorded time disagrees with the time the transparency log witnessed it (backdated?)",
    ));
}

struct Loc<'a> {
    entry: u64,
    file: &'a str,
}

impl Loc<'_> {
    fn finding(
        &self,
        check: Check,
        prompt: Option<&PromptPath>,
        expected: &str,
        found: &str,
        message: &str,
    ) -> Finding {
        Finding {
            code: check.code(),
            check,
            entry: Some(self.entry),
            file: Some(self.file.to_owned()),
            prompt: prompt.map(|p| p.to_string()),
            expected: expected.to_owned(),
            found: found.to_owned(),
            message: message.to_owned(),
        }
    }
}

fn finding(
    check: Check,
    entry: Option<u64>,
    prompt: Option<&str>,
    expected: &str,
    found: &str,
    message: &str,
) -> Finding {
    Finding {
        code: check.code(),
        check,
        entry,
        file: None,
        prompt: prompt.map(str::to_owned),
        expected: expected.to_owned(),
        found: found.to_owned(),
        message: message.to_owned(),
    }
}

fn opt_hash(h: &Option<Sha256Hex>) -> String {
    h.as_ref().map_or_else(
        || "null (first entry)".to_owned(),
        |h| format!("sha256:{h}"),
    )
}
