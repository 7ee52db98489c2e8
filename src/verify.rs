//! The auditor's checks over a whole audit log, as findings (data, rendered elsewhere).
//!
//! Every check has a stable code. A finding names the entry, the check, and what was
//! expected versus found, so that tampering is reported precisely.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::attestation::bundle::BUNDLE_MEDIA_TYPE;
use crate::attestation::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::attestation::predicate::{ChangeType, EventType};
use crate::attestation::statement::{PREDICATE_TYPE, STATEMENT_TYPE};
use crate::attestation::{Bundle, Statement};
use crate::signing::TrustedKey;
use crate::store::{LogMeta, StoredEntry, index_from_path};
use crate::types::{EntryIndex, KeyId, Oid, PromptPath, Sha256Hex, Version};

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
    /// match the entries (size, RFC 6962 root, origin).
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
}

impl Check {
    pub const ALL: [Check; 14] = [
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
    /// Entries per signing key id.
    pub signed_by: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
}

/// Access to the repository's objects for the git cross-check.
pub trait RepoObjects {
    /// The blob at `rev:path` (`None` when the commit or the path does not exist).
    fn blob_at(&mut self, rev: &str, path: &str) -> anyhow::Result<Option<(Oid, Vec<u8>)>>;
}

struct Lineage {
    max: Version,
    live: Option<Version>,
}

/// Runs every check over the log's files.
pub fn verify(
    meta: Option<&[u8]>,
    entries: &[StoredEntry],
    stray_files: &[String],
    keys: &[TrustedKey],
    repo: &mut dyn RepoObjects,
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

    let keyring: HashMap<&KeyId, &TrustedKey> = keys.iter().map(|k| (&k.key_id, k)).collect();
    let mut previous: Option<Sha256Hex> = None;
    let mut lineages: HashMap<PromptPath, Lineage> = HashMap::new();
    let mut seen_index: HashMap<u64, u64> = HashMap::new();
    let mut last_recorded: Option<chrono::DateTime<chrono::Utc>> = None;
    // (path, version) → (sha256, approved) of versions recorded so far.
    let mut recorded: HashMap<(PromptPath, Version), (Sha256Hex, bool)> = HashMap::new();

    // Decoding and signature checks are independent per entry: they run on every core.
    let decoded = decode_all(entries, &keyring);
    for (pos, (entry, decoded)) in entries.iter().zip(decoded).enumerate() {
        let pos = pos as u64;
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

        let sig_ok = decoded.sig_ok;
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
        check_git(&at, &statement, repo, &mut findings)?;
    }

    findings.sort_by_key(|f| (f.entry.map_or(0, |e| e + 1), f.check));
    Ok(Report {
        ok: findings.is_empty(),
        entries: entries.len() as u64,
        origin: meta.map(|m| m.origin),
        signed_by,
        findings,
    })
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

fn check_format(at: &Loc, bundle: &Bundle, st: &Statement, out: &mut Vec<Finding>) {
    let mut need = |ok: bool, what: &str, expected: &str, found: &str| {
        if !ok {
            out.push(at.finding(Check::Format, None, expected, found, what));
        }
    };
    need(
        bundle.media_type == BUNDLE_MEDIA_TYPE,
        "bundle mediaType",
        BUNDLE_MEDIA_TYPE,
        &bundle.media_type,
    );
    let env = &bundle.dsse_envelope;
    need(
        env.payload_type == IN_TOTO_PAYLOAD_TYPE,
        "DSSE payloadType",
        IN_TOTO_PAYLOAD_TYPE,
        &env.payload_type,
    );
    need(
        env.signatures.len() == 1,
        "DSSE signature count",
        "exactly 1 signature",
        &format!("{} signatures", env.signatures.len()),
    );
    need(
        st.type_ == STATEMENT_TYPE,
        "Statement _type",
        STATEMENT_TYPE,
        &st.type_,
    );
    need(
        st.predicate_type == PREDICATE_TYPE,
        "predicateType",
        PREDICATE_TYPE,
        &st.predicate_type,
    );
    need(
        !st.subject.is_empty(),
        "Statement subject",
        "at least one subject",
        "none",
    );
    match bundle.key_hint() {
        None => need(
            false,
            "verificationMaterial.publicKey.hint",
            "a key id",
            "none",
        ),
        Some(hint) => {
            if let Some(sig) = env.signatures.first() {
                need(
                    sig.keyid == hint.as_str(),
                    "DSSE signature keyid equals publicKey.hint",
                    hint.as_str(),
                    &sig.keyid,
                );
            }
        }
    }
}

/// One entry decoded, with its signature checked (`None`: no trusted key to check with).
struct Decoded {
    parsed: Result<(Bundle, Statement), String>,
    sig_ok: Option<bool>,
}

fn decode_one(entry: &StoredEntry, keyring: &HashMap<&KeyId, &TrustedKey>) -> Decoded {
    let parsed = entry.decode();
    let sig_ok = parsed.as_ref().ok().and_then(|(bundle, _)| {
        let key = keyring.get(bundle.key_hint()?)?;
        let sig = bundle.dsse_envelope.signatures.first()?;
        Some(key.verify(&sig.sig, &bundle.dsse_envelope.signed_bytes()))
    });
    Decoded { parsed, sig_ok }
}

/// [`decode_one`] over all entries, in order, split across the available cores.
fn decode_all(entries: &[StoredEntry], keyring: &HashMap<&KeyId, &TrustedKey>) -> Vec<Decoded> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || entries.len() < 16 {
        return entries.iter().map(|e| decode_one(e, keyring)).collect();
    }
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|e| decode_one(e, keyring))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn check_signature(
    at: &Loc,
    bundle: &Bundle,
    keyring: &HashMap<&KeyId, &TrustedKey>,
    sig_ok: Option<bool>,
    signed_by: &mut BTreeMap<String, u64>,
    out: &mut Vec<Finding>,
) {
    let Some(hint) = bundle.key_hint() else {
        return;
    };
    if bundle.dsse_envelope.signatures.is_empty() {
        return;
    }
    if !keyring.contains_key(hint) {
        let mut trusted: Vec<&str> = keyring.keys().map(|k| k.as_str()).collect();
        trusted.sort();
        out.push(at.finding(
            Check::UntrustedKey,
            None,
            &format!("one of [{}]", trusted.join(", ")),
            hint.as_str(),
            "entry is signed by a key that is not trusted (pass its public key with --key if it should be)",
        ));
        return;
    }
    if sig_ok == Some(true) {
        *signed_by.entry(hint.to_string()).or_default() += 1;
    } else {
        out.push(at.finding(
            Check::Signature,
            None,
            &format!("a valid ECDSA P-256 signature by {hint}"),
            "a signature that does not verify over the DSSE PAE",
            "signature does not verify: the payload or the signature was altered",
        ));
    }
}

fn check_subjects(at: &Loc, st: &Statement, out: &mut Vec<Finding>) {
    for pr in &st.predicate.prompts {
        match st.subject.iter().find(|s| s.name == pr.path.as_str()) {
            Some(s) if s.digest == pr.digest => {}
            Some(s) => out.push(at.finding(
                Check::Digest,
                Some(&pr.path),
                &format!("subject digest sha256:{}", pr.digest.sha256),
                &format!("sha256:{}", s.digest.sha256),
                "subject and predicate disagree on the prompt's digest",
            )),
            None => out.push(at.finding(
                Check::Format,
                Some(&pr.path),
                "a subject for every prompt in the predicate",
                "no subject with this name",
                "predicate names a prompt that is not a subject",
            )),
        }
    }
}

fn check_numbering(
    at: &Loc,
    st: &Statement,
    lineages: &mut HashMap<PromptPath, Lineage>,
    out: &mut Vec<Finding>,
) {
    for pr in &st.predicate.prompts {
        let source = pr.previous_path.as_ref().unwrap_or(&pr.path);
        let lineage = if pr.previous_path.is_some() {
            lineages.remove(source)
        } else {
            lineages.remove(&pr.path)
        };
        let mut bad = |expected: String, found: String, msg: &str| {
            out.push(at.finding(Check::Numbering, Some(&pr.path), &expected, &found, msg));
        };
        let Some(change) = pr.change else {
            out.push(at.finding(
                Check::Format,
                Some(&pr.path),
                "a `change` for every prompt of a version entry",
                "none",
                "version entry does not say what happened to the prompt",
            ));
            continue;
        };
        let next = match change {
            ChangeType::Added | ChangeType::Modified | ChangeType::Reverted => {
                let expected = lineage.as_ref().map_or(Version(1), |l| l.max.next());
                if pr.version != expected {
                    bad(
                        expected.to_string(),
                        pr.version.to_string(),
                        "version number is not the next one: a version is missing or repeated",
                    );
                }
                let expected_prev = lineage.as_ref().and_then(|l| l.live.or(Some(l.max)));
                if pr.previous_version != expected_prev {
                    bad(
                        expected_prev.map_or("none".into(), |v| v.to_string()),
                        pr.previous_version.map_or("none".into(), |v| v.to_string()),
                        "previousVersion does not name the version before it",
                    );
                }
                Lineage {
                    max: pr.version.max(lineage.map_or(Version(0), |l| l.max)),
                    live: Some(pr.version),
                }
            }
            ChangeType::Renamed | ChangeType::Deleted => {
                let live = lineage.as_ref().and_then(|l| l.live);
                if live != Some(pr.version) {
                    bad(
                        live.map_or("no live version".into(), |v| v.to_string()),
                        pr.version.to_string(),
                        "renamed or deleted version is not the prompt's live version",
                    );
                }
                let max = lineage.map_or(pr.version, |l| l.max);
                Lineage {
                    max,
                    live: (change == ChangeType::Renamed).then_some(pr.version),
                }
            }
        };
        lineages.insert(pr.path.clone(), next);
    }
}

/// Every deployed or restored version must have been recorded earlier, with the same
/// content, and approved under the policy recorded with it.
fn check_deployed(
    at: &Loc,
    st: &Statement,
    recorded: &HashMap<(PromptPath, Version), (Sha256Hex, bool)>,
    out: &mut Vec<Finding>,
) {
    for pr in &st.predicate.prompts {
        match recorded.get(&(pr.path.clone(), pr.version)) {
            None => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                &format!("{} {} recorded before this entry", pr.path, pr.version),
                "no such version entry",
                "a deployment names a version that was never recorded",
            )),
            Some((sha, _)) if *sha != pr.digest.sha256 => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                &format!("sha256:{sha}"),
                &format!("sha256:{}", pr.digest.sha256),
                "the deployed content differs from the recorded version",
            )),
            Some((_, false)) => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                "an approved version",
                "a version that was not approved under its policy",
                "an unapproved version was deployed",
            )),
            Some(_) => {}
        }
    }
}

fn check_git(
    at: &Loc,
    st: &Statement,
    repo: &mut dyn RepoObjects,
    out: &mut Vec<Finding>,
) -> anyhow::Result<()> {
    if st.predicate.event != EventType::Version {
        return Ok(());
    }
    for pr in &st.predicate.prompts {
        // A deletion's content is what the first parent had.
        let rev = if pr.change == Some(ChangeType::Deleted) {
            format!("{}^1", pr.commit)
        } else {
            pr.commit.to_string()
        };
        match repo.blob_at(&rev, pr.path.as_str())? {
            None => out.push(at.finding(
                Check::Digest,
                Some(&pr.path),
                &format!("{} at {rev}", pr.path),
                "no such commit or file in this repository",
                "the recorded content cannot be found in the repository (fetch the full history of the protected branch)",
            )),
            Some((oid, data)) => {
                if oid != pr.digest.git_blob {
                    out.push(at.finding(
                        Check::Digest,
                        Some(&pr.path),
                        &format!("gitBlob {oid}"),
                        &format!("gitBlob {}", pr.digest.git_blob),
                        "recorded git blob differs from the file in the repository",
                    ));
                }
                let sha = Sha256Hex::of(&data);
                if sha != pr.digest.sha256 {
                    out.push(at.finding(
                        Check::Digest,
                        Some(&pr.path),
                        &format!("sha256:{sha}"),
                        &format!("sha256:{}", pr.digest.sha256),
                        "recorded sha256 differs from the file's bytes in the repository",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// One commit of the audit branch with the files it changed against its first parent.
#[derive(Debug, Clone)]
pub struct AuditCommit {
    pub oid: Oid,
    pub parents: usize,
    /// (status letter, path) as `git log --raw` reports them.
    pub changes: Vec<(u8, String)>,
}

/// The audit branch must be a single line of commits, commit `k` adding exactly entry `k`
/// (and the root commit `promptrail.json`): anything else rewrote the log in place.
pub fn check_branch_history(commits: &[AuditCommit]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (k, c) in commits.iter().enumerate() {
        let expected_entry = crate::store::entry_path(EntryIndex(k as u64));
        let mut expected: Vec<(u8, String)> = vec![(b'A', expected_entry)];
        if k == 0 {
            expected.push((b'A', crate::store::META_FILE.to_owned()));
        }
        // The checkpoint is rewritten with every entry.
        let mut found: Vec<(u8, String)> = c
            .changes
            .iter()
            .filter(|(s, p)| {
                !((p == crate::store::CHECKPOINT_FILE || p == crate::store::RANGE_FILE)
                    && matches!(s, b'A' | b'M'))
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        let describe = |v: &[(u8, String)]| {
            v.iter()
                .map(|(s, p)| format!("{} {p}", *s as char))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let parents_ok = if k == 0 {
            c.parents == 0
        } else {
            c.parents == 1
        };
        if found != expected || !parents_ok {
            out.push(Finding {
                code: Check::History.code(),
                check: Check::History,
                entry: None,
                file: None,
                prompt: None,
                expected: format!(
                    "audit commit #{k} ({}) adds only {}{}",
                    c.oid,
                    describe(&expected),
                    if k == 0 { " (and has no parent)" } else { "" }
                ),
                found: format!(
                    "{} ({} parent{})",
                    if found.is_empty() { "no change".to_owned() } else { describe(&found) },
                    c.parents,
                    if c.parents == 1 { "" } else { "s" }
                ),
                message: "the audit branch was changed in place: every commit must append exactly the next entry".into(),
            });
        }
    }
    out
}

fn log_finding(check: Check, expected: String, found: String, message: &str) -> Finding {
    Finding {
        code: check.code(),
        check,
        entry: None,
        file: Some(crate::store::CHECKPOINT_FILE.to_owned()),
        prompt: None,
        expected,
        found,
        message: message.to_owned(),
    }
}

/// The branch's `checkpoint` must be signed by a trusted key and commit to exactly the
/// entries present (origin, size, RFC 6962 root over the entry files).
pub fn check_checkpoint(
    checkpoint: Option<&[u8]>,
    origin: Option<&str>,
    leaves: &[crate::merkle::Hash],
    keys: &[TrustedKey],
) -> Vec<Finding> {
    check_checkpoint_and_range(checkpoint, None, origin, leaves, keys)
}

/// [`check_checkpoint`], plus the stored right edge (when present) must be the entries'.
pub fn check_checkpoint_and_range(
    checkpoint: Option<&[u8]>,
    range: Option<&[u8]>,
    origin: Option<&str>,
    leaves: &[crate::merkle::Hash],
    keys: &[TrustedKey],
) -> Vec<Finding> {
    let mut out = check_checkpoint_only(checkpoint, origin, leaves, keys);
    if let Some(bytes) = range {
        let mut expected = crate::merkle::CompactRange::default();
        for l in leaves {
            expected.push(*l);
        }
        let found = String::from_utf8_lossy(bytes);
        if found != expected.to_text() {
            out.push(log_finding(
                Check::Checkpoint,
                format!("{} as the right edge of the entries' tree", crate::store::RANGE_FILE),
                "a range that does not match the entries".into(),
                "the stored Merkle range is wrong: the next checkpoints would commit to a wrong root",
            ));
        }
    }
    out
}

fn check_checkpoint_only(
    checkpoint: Option<&[u8]>,
    origin: Option<&str>,
    leaves: &[crate::merkle::Hash],
    keys: &[TrustedKey],
) -> Vec<Finding> {
    use crate::checkpoint::Checkpoint;
    let missing = |found: &str, msg: &str| {
        vec![log_finding(
            Check::Checkpoint,
            "a signed C2SP checkpoint at the branch root".into(),
            found.into(),
            msg,
        )]
    };
    let Some(bytes) = checkpoint else {
        return missing("no checkpoint file", "the branch has no checkpoint");
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return missing("bytes that are not UTF-8", "the checkpoint is not text");
    };
    let cp = match Checkpoint::parse(text) {
        Ok(cp) => cp,
        Err(e) => return missing(&e, "the checkpoint is malformed"),
    };
    let mut out = Vec::new();
    if cp.verified_by(keys).is_none() {
        out.push(log_finding(
            Check::Checkpoint,
            "a signature by a trusted key".into(),
            format!(
                "{} signature(s), none valid for the trusted keys",
                cp.signatures.len()
            ),
            "the checkpoint is not signed by a trusted key",
        ));
    }
    if let Some(o) = origin
        && cp.origin != o
    {
        out.push(log_finding(
            Check::Checkpoint,
            format!("origin {o}"),
            format!("origin {}", cp.origin),
            "the checkpoint names another log",
        ));
    }
    let root = crate::merkle::root(leaves);
    if cp.size != leaves.len() as u64 || cp.root != root {
        out.push(log_finding(
            Check::Checkpoint,
            format!("size {} root {}", leaves.len(), crate::types::hex(&root)),
            format!("size {} root {}", cp.size, crate::types::hex(&cp.root)),
            "the checkpoint does not commit to the entries on the branch",
        ));
    }
    out
}

/// Proves the log (all `leaves`) is an append-only extension of a checkpoint the auditor kept.
pub fn check_consistency(
    saved_text: &str,
    leaves: &[crate::merkle::Hash],
    keys: &[TrustedKey],
) -> Vec<Finding> {
    use crate::checkpoint::Checkpoint;
    use crate::merkle::{consistency_proof, root, verify_consistency};
    let finding = |expected: String, found: String, msg: &str| {
        let mut f = log_finding(Check::Consistency, expected, found, msg);
        f.file = None;
        f
    };
    let saved = match Checkpoint::parse(saved_text) {
        Ok(cp) => cp,
        Err(e) => {
            return vec![finding(
                "a C2SP checkpoint".into(),
                e,
                "the saved checkpoint cannot be read",
            )];
        }
    };
    let mut out = Vec::new();
    if saved.verified_by(keys).is_none() {
        out.push(finding(
            "a signature by a trusted key".into(),
            "none valid".into(),
            "the saved checkpoint is not signed by a trusted key",
        ));
    }
    let size = leaves.len() as u64;
    if saved.size > size {
        out.push(finding(
            format!(
                "at least {} entries (the saved checkpoint's size)",
                saved.size
            ),
            format!("{size} entries"),
            "the log was truncated: entries the saved checkpoint covers are gone",
        ));
        return out;
    }
    let current = root(leaves);
    let old = root(&leaves[..saved.size as usize]);
    let proof = consistency_proof(saved.size as usize, leaves);
    if old != saved.root || !verify_consistency(saved.size, size, &saved.root, &current, &proof) {
        out.push(finding(
            format!("root {} for the first {} entries", crate::types::hex(&saved.root), saved.size),
            format!("root {}", crate::types::hex(&old)),
            "the log's history was rewritten: its first entries no longer hash to the saved checkpoint",
        ));
    }
    out
}
