//! The auditor's checks over a whole audit log, as findings (data, rendered elsewhere).
//!
//! Every check has a stable code. A finding names the entry, the check, and what was
//! expected versus found, so that tampering is reported precisely.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::attestation::predicate::EventType;
use crate::layout::StoredEntry;
use crate::signing::{Trust, TrustedKey};
use crate::types::{EntryIndex, KeyId, Oid, PromptPath, Sha256Hex, Version};

mod check;
mod entry;
mod log;
mod policy;
pub mod shape;
pub mod state;

pub use check::Check;
use entry::{
    Decoded, check_deployed, check_format, check_git, check_key_window, check_keyless,
    check_logged_time, check_numbering, check_signature, check_subjects, decode_all, git_specs,
    note_recorded,
};
pub use log::{
    AuditCommit, check_branch_history, check_checkpoint, check_checkpoint_and_range,
    check_checkpoint_parent, check_consistency,
};
use log::{check_file_position, check_log_fields, check_meta, check_recorded_order};

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

/// What a failed check saw, each part by name: the value it expected, the one it found, and
/// what that means, in a sentence for people.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub expected: &'a str,
    pub found: &'a str,
    pub message: &'a str,
}

impl Finding {
    /// A finding of `check` about the log as a whole (no entry, file or prompt named).
    pub fn new(check: Check, evidence: Evidence) -> Finding {
        Finding {
            code: check.code(),
            check,
            entry: None,
            file: None,
            prompt: None,
            expected: evidence.expected.to_owned(),
            found: evidence.found.to_owned(),
            message: evidence.message.to_owned(),
        }
    }

    /// The same finding, naming the file on the audit branch it is about.
    pub fn in_file(self, file: &str) -> Finding {
        Finding {
            file: Some(file.to_owned()),
            ..self
        }
    }
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
    /// Verified keyless entries' certificate keys, by position (they sign checkpoints): the
    /// last entry's, and the one closing the size asked for as `root_at` (no other is used).
    #[serde(skip)]
    pub keyless_keys: Vec<(u64, Vec<u8>)>,
    /// The right edge of the Merkle tree over the entry files' leaf hashes (for the
    /// checkpoint checks): O(log n) hashes instead of every leaf.
    #[serde(skip)]
    pub tree: crate::merkle::CompactRange,
    /// The roots of its complete chunks (`state/tree.json`, for PT017).
    #[serde(skip)]
    pub chunks: crate::subtree::Chunks,
    /// The root of the first `n` entries, for the `root_at` size `n` asked for (a saved
    /// checkpoint's size, for PT012) when the log has that many.
    #[serde(skip)]
    pub saved_root: Option<(u64, crate::merkle::Hash)>,
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

/// Entries decoded, and their blobs announced to [`RepoObjects::prefetch`], at a time: in a
/// release build a quarter of the streaming readers' window ([`crate::layout::READ_WINDOW`]),
/// since the next window is read while one is checked and a decoded entry is several times
/// its bytes (a debug build keeps the small window, so that tests cross many).
const PREFETCH: usize = if cfg!(debug_assertions) {
    crate::layout::READ_WINDOW
} else {
    crate::layout::READ_WINDOW / 4
};

pub(super) struct Lineage {
    max: Version,
    live: Option<Version>,
}

/// Runs every check over the log's files; `root_at` is a size whose root (and closing
/// keyless key) the caller needs afterwards (a saved checkpoint's, for PT012).
pub fn verify(
    meta: Option<&[u8]>,
    entries: &mut dyn EntrySource,
    stray_files: &[String],
    trust: &Trust,
    repo: &mut (dyn RepoObjects + Send),
    root_at: Option<u64>,
) -> anyhow::Result<Report> {
    let mut findings = Vec::new();
    let meta = check_meta(meta, stray_files, &mut findings);
    let mut walk = Walk {
        keyring: trust.keys.iter().map(|k| (&k.key_id, k)).collect(),
        origin: meta.map(|m| m.origin),
        findings,
        summary: crate::state::Summary::new(),
        root_at,
        saved_root: (root_at == Some(0)).then(|| (0, crate::merkle::empty_root())),
        ..Walk::default()
    };
    // Decoding and signature checks are independent per entry: they run on every core, a
    // window of entries at a time so that memory stays bounded on long logs; each window's
    // git cross-check objects are prefetched in one batch while its signatures are checked.
    entries.windows(PREFETCH, &mut |window: &[StoredEntry]| {
        let decoded = decode_all(window, trust, |parsed| {
            let specs: Vec<(String, String)> = parsed
                .iter()
                .flat_map(|p| {
                    p.as_ref()
                        .map_or_else(|_| Vec::new(), |(_, st)| git_specs(st))
                })
                .collect();
            repo.prefetch(&specs)
        })?;
        for (entry, decoded) in window.iter().zip(decoded) {
            walk.entry(entry, decoded, repo)?;
        }
        Ok(())
    })?;

    let mut findings = walk.findings;
    findings.sort_by_key(|f| (f.entry.map_or(0, |e| e + 1), f.check));
    Ok(Report {
        ok: findings.is_empty(),
        entries: walk.pos,
        origin: walk.origin,
        signed_by: walk.signed_by,
        unlogged: walk.unlogged,
        findings,
        keyless_keys: walk.keyless_keys,
        tree: walk.tree,
        chunks: walk.chunks,
        saved_root: walk.saved_root,
        summary: walk.summary,
    })
}

/// What the checks have learnt from the entries so far, in log order: the one state the
/// per-entry checks (`entry.rs`) and the sequence checks (`log.rs`) share.
#[derive(Default)]
pub(super) struct Walk<'k> {
    keyring: HashMap<&'k KeyId, &'k TrustedKey>,
    /// The log's origin, from `promptrail.json`.
    origin: Option<String>,
    findings: Vec<Finding>,
    signed_by: BTreeMap<String, u64>,
    unlogged: u64,
    keyless_keys: Vec<(u64, Vec<u8>)>,
    /// The position of the next entry.
    pos: u64,
    tree: crate::merkle::CompactRange,
    chunks: crate::subtree::Chunks,
    root_at: Option<u64>,
    saved_root: Option<(u64, crate::merkle::Hash)>,
    /// The SHA-256 of the entry file before the next one.
    previous: Option<Sha256Hex>,
    lineages: HashMap<PromptPath, Lineage>,
    /// Which position first claimed each `log.index`.
    seen_index: log::Claims,
    /// The latest `recordedAt` so far.
    last_recorded: Option<chrono::DateTime<chrono::Utc>>,
    /// (path, version) → (sha256, approved) of versions recorded so far.
    recorded: entry::Recorded,
    policy_check: policy::PolicyCheck,
    summary: crate::state::Summary,
}

impl Walk<'_> {
    /// Every check of the next entry, decoded and its signature checked.
    fn entry(
        &mut self,
        entry: &StoredEntry,
        decoded: Decoded,
        repo: &mut dyn RepoObjects,
    ) -> anyhow::Result<()> {
        let pos = self.pos;
        self.pos += 1;
        self.chunks
            .push(&mut self.tree, crate::merkle::leaf_hash(&entry.bytes));
        if self.root_at == Some(self.pos) {
            self.saved_root = Some((self.pos, self.tree.root()));
        }
        let at = Loc {
            entry: pos,
            file: &entry.path,
        };
        let expected_previous = self.previous.replace(Sha256Hex::of(&entry.bytes));
        check_file_position(&at, &mut self.findings);

        let (bundle, statement) = match decoded.parsed {
            Ok(x) => x,
            Err(e) => {
                self.findings.push(at.finding(
                    Check::Format,
                    None,
                    Evidence {
                        expected: "a Sigstore bundle v0.3 with a DSSE in-toto Statement",
                        found: &e,
                        message: "entry cannot be decoded",
                    },
                ));
                return Ok(());
            }
        };
        let out = &mut self.findings;
        check_format(&at, &bundle, &statement, out);
        let keyring = &self.keyring;
        check_signature(
            &at,
            &bundle,
            keyring,
            decoded.sig_ok,
            &mut self.signed_by,
            out,
        );
        if let Some(outcome) = &decoded.keyless {
            check_keyless(&at, outcome, &mut self.signed_by, out);
            if let Ok(signed) = outcome {
                // Only the last entry's key and the one closing `root_at` sign checkpoints.
                self.keyless_keys
                    .retain(|(i, _)| Some(*i + 1) == self.root_at);
                self.keyless_keys.push((pos, signed.spki.clone()));
                if !signed.logged {
                    self.unlogged += 1;
                }
                check_logged_time(&at, &statement, signed, out);
            }
        }
        check_recorded_order(&at, &statement, &mut self.last_recorded, out);
        check_key_window(&at, &bundle, &statement, keyring, out);
        let origin = self.origin.as_deref();
        check_log_fields(
            &at,
            &statement,
            &expected_previous,
            origin,
            &mut self.seen_index,
            out,
        );
        check_subjects(&at, &statement, out);
        match statement.predicate.event {
            EventType::Version => {
                check_numbering(&at, &statement, &mut self.lineages, out);
                note_recorded(&statement, &mut self.recorded);
            }
            EventType::Deployment | EventType::Rollback => {
                check_deployed(&at, &statement, &self.recorded, out);
            }
        }
        self.summary.apply(EntryIndex(pos), &statement);
        self.policy_check.check(&at, &statement, repo, out)?;
        check_git(&at, &statement, repo, out)
    }
}

struct Loc<'a> {
    entry: u64,
    file: &'a str,
}

impl Loc<'_> {
    fn finding(&self, check: Check, prompt: Option<&PromptPath>, evidence: Evidence) -> Finding {
        Finding {
            entry: Some(self.entry),
            prompt: prompt.map(|p| p.to_string()),
            ..Finding::new(check, evidence).in_file(self.file)
        }
    }
}
