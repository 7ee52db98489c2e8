//! Checks of one entry at a time: format, signature, subjects, version numbering,
//! deployments, and the git cross-check.

use std::collections::{BTreeMap, HashMap};

use super::{Check, Evidence, Finding, Lineage, Loc, RepoObjects};
use crate::attestation::bundle::BUNDLE_MEDIA_TYPE;
use crate::attestation::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::attestation::predicate::{ChangeType, EventType};
use crate::attestation::statement::{PREDICATE_TYPE, STATEMENT_TYPE};
use crate::attestation::{Bundle, Statement};
use crate::keyless::verify::{KeylessFailure, KeylessSigned};
use crate::layout::StoredEntry;
use crate::signing::{Trust, TrustedKey};
use crate::types::{KeyId, PromptPath, Sha256Hex, Version};

pub(super) fn check_format(at: &Loc, bundle: &Bundle, st: &Statement, out: &mut Vec<Finding>) {
    let mut need = |ok: bool, what: &str, expected: &str, found: &str| {
        if !ok {
            out.push(at.finding(
                Check::Format,
                None,
                Evidence {
                    expected,
                    found,
                    message: what,
                },
            ));
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
            bundle.is_keyless(),
            "verificationMaterial",
            "a publicKey hint (key mode) or a certificate (keyless)",
            "neither",
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

/// One entry decoded, with its signature checked (`sig_ok`: by the trusted key it names).
pub(super) struct Decoded {
    pub(super) parsed: Result<(Bundle, Statement), String>,
    pub(super) sig_ok: bool,
    /// A keyless entry's verification (certificate, transparency log, identity).
    pub(super) keyless: Option<Result<KeylessSigned, KeylessFailure>>,
}

/// An entry parsed, its signature not yet checked.
pub(super) type Parsed = Result<(Bundle, Statement), String>;

/// What checking a parsed entry's signature (key mode) or keyless material found.
type Checked = (bool, Option<Result<KeylessSigned, KeylessFailure>>);

fn check_one(entry: &StoredEntry, parsed: &Parsed, trust: &Trust) -> Checked {
    let sig_ok = parsed
        .as_ref()
        .is_ok_and(|(bundle, _)| trust.verify_key_entry(bundle).is_some());
    let keyless = parsed
        .as_ref()
        .ok()
        .filter(|(bundle, _)| bundle.is_keyless())
        .map(|(_, st)| {
            let Some(keyless) = &trust.keyless else {
                return Err(KeylessFailure::Identity {
                    expected: "a keyless identity policy (`signing.identities` or \
                               --certificate-identity)"
                        .into(),
                    found: "none configured".into(),
                });
            };
            keyless.verify_entry(&entry.bytes, st)
        });
    (sig_ok, keyless)
}

/// Every entry of a window decoded and its signature checked, in order, on every core.
/// Between parsing and the signature checks, `meanwhile` gets the parsed entries and runs
/// on a thread of its own (the git cross-check's batch read: git works while the
/// signatures are checked).
///
/// Exactly one [`Decoded`] per entry, always: an entry whose worker panicked is not
/// verified, and says so (a PT007 finding naming the internal error), so the window can
/// never come back shorter and misaligned against its entries.
pub(super) fn decode_all(
    entries: &[StoredEntry],
    trust: &Trust,
    meanwhile: impl FnOnce(&[Parsed]) -> anyhow::Result<()> + Send,
) -> anyhow::Result<Vec<Decoded>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if entries.len() < 16 { 1 } else { threads };
    let failed = |why: &str| -> Parsed {
        Err(format!(
            "internal error: the verifier panicked on this entry ({why}); it is not verified"
        ))
    };
    let parsed = parallel_map(entries, threads, StoredEntry::decode, failed);
    let (done, checked) = std::thread::scope(|scope| {
        let side = scope.spawn(|| meanwhile(&parsed));
        let pairs: Vec<(&StoredEntry, &Parsed)> = entries.iter().zip(&parsed).collect();
        let checked = parallel_map(
            &pairs,
            threads,
            |(e, p)| Some(check_one(e, p, trust)),
            |_| None,
        );
        (side.join(), checked)
    });
    done.map_err(|_| anyhow::anyhow!("the git cross-check's reader panicked"))??;
    Ok(checked
        .into_iter()
        .zip(parsed)
        .map(|(checked, parsed)| match checked {
            Some((sig_ok, keyless)) => Decoded {
                parsed,
                sig_ok,
                keyless,
            },
            None => Decoded {
                parsed: failed("a worker panicked while checking its signature"),
                sig_ok: false,
                keyless: None,
            },
        })
        .collect())
}

/// `f` over `items` in order on up to `threads` threads, one result per item. When `f`
/// panics, every item of that chunk gets `failed(message)` instead: a panic is a result the
/// caller reports, never a shorter list.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
    failed: impl Fn(&str) -> R,
) -> Vec<R> {
    let run = |part: &[T]| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            part.iter().map(&f).collect::<Vec<R>>()
        }))
    };
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let results: Vec<(usize, std::thread::Result<Vec<R>>)> = if threads < 2 {
        items.chunks(chunk).map(|p| (p.len(), run(p))).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|part| (part.len(), scope.spawn(|| run(part))))
                .collect();
            handles
                .into_iter()
                .map(|(n, h)| (n, h.join().and_then(|r| r)))
                .collect()
        })
    };
    let mut out = Vec::with_capacity(items.len());
    for (n, result) in results {
        match result {
            Ok(part) if part.len() == n => out.extend(part),
            Ok(part) => {
                let why = format!("a worker returned {} results for {n} entries", part.len());
                out.extend((0..n).map(|_| failed(&why)));
            }
            Err(payload) => {
                let why = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a worker panicked".into());
                out.extend((0..n).map(|_| failed(&why)));
            }
        }
    }
    out
}

/// A keyless entry's outcome: counted by identity, or a PT015/PT016 finding.
pub(super) fn check_keyless(
    at: &Loc,
    outcome: &Result<KeylessSigned, KeylessFailure>,
    signed_by: &mut BTreeMap<String, u64>,
    out: &mut Vec<Finding>,
) {
    match outcome {
        Ok(signed) => {
            *signed_by
                .entry(format!("keyless {}", signed.identity))
                .or_default() += 1;
        }
        Err(KeylessFailure::Material(reason)) => out.push(at.finding(
            Check::Certificate,
            None,
            Evidence {
                expected: "a certificate chaining to the trusted Fulcio, a verified \
                    Rekor inclusion proof and signed entry timestamp, and a \
                    signature by the certificate's key",
                found: reason,
                message: "keyless entry does not verify",
            },
        )),
        Err(KeylessFailure::Identity { expected, found }) => out.push(at.finding(
            Check::Identity,
            None,
            Evidence {
                expected,
                found,
                message: "keyless entry is signed by an identity the policy does not allow",
            },
        )),
    }
}

pub(super) fn check_signature(
    at: &Loc,
    bundle: &Bundle,
    keyring: &HashMap<&KeyId, &TrustedKey>,
    sig_ok: bool,
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
            Evidence {
                expected: &format!("one of [{}]", trusted.join(", ")),
                found: hint.as_str(),
                message: "entry is signed by a key that is not trusted (pass its \
                    public key with --key if it should be)",
            },
        ));
        return;
    }
    if sig_ok {
        *signed_by.entry(hint.to_string()).or_default() += 1;
    } else {
        out.push(at.finding(
            Check::Signature,
            None,
            Evidence {
                expected: &format!("a valid ECDSA P-256 signature by {hint}"),
                found: "a signature that does not verify over the DSSE PAE",
                message: "signature does not verify: the payload or the signature was altered",
            },
        ));
    }
}

/// A logged keyless entry's `recordedAt` must agree with the time Rekor witnessed it
/// (runners' clocks may be minutes off).
pub(super) fn check_logged_time(
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
        Evidence {
            expected: &format!(
                "recordedAt within 10 minutes of {} (Rekor's integrated time)",
                fmt(signed.time)
            ),
            found: &format!("recordedAt {}", fmt(claimed)),
            message: "entry's recorded time disagrees with the time the \
                    transparency log witnessed it (backdated?)",
        },
    ));
}

/// A key-mode entry's `recordedAt` must fall inside its trusted key's validity window
/// (PT013).
pub(super) fn check_key_window(
    at: &Loc,
    bundle: &Bundle,
    st: &Statement,
    keyring: &HashMap<&KeyId, &TrustedKey>,
    out: &mut Vec<Finding>,
) {
    let recorded_at = st.predicate.recorded_at;
    let Some(key) = bundle.key_hint().and_then(|h| keyring.get(h)) else {
        return;
    };
    if key.valid_at(recorded_at) {
        return;
    }
    let bound = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("unbounded".to_owned(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    };
    out.push(at.finding(
        Check::KeyWindow,
        None,
        Evidence {
            expected: &format!(
                "recorded between {} and {} (the validity of key {})",
                bound(key.not_before),
                bound(key.not_after),
                key.key_id
            ),
            found: &format!(
                "recorded at {}",
                recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            message: "entry is signed by a key outside its validity window \
                    (retired or not yet valid)",
        },
    ));
}

pub(super) fn check_subjects(at: &Loc, st: &Statement, out: &mut Vec<Finding>) {
    for pr in &st.predicate.prompts {
        match st.subject.iter().find(|s| s.name == pr.path.as_str()) {
            Some(s) if s.digest == pr.digest => {}
            Some(s) => out.push(at.finding(
                Check::Digest,
                Some(&pr.path),
                Evidence {
                    expected: &format!("subject digest sha256:{}", pr.digest.sha256),
                    found: &format!("sha256:{}", s.digest.sha256),
                    message: "subject and predicate disagree on the prompt's digest",
                },
            )),
            None => out.push(at.finding(
                Check::Format,
                Some(&pr.path),
                Evidence {
                    expected: "a subject for every prompt in the predicate",
                    found: "no subject with this name",
                    message: "predicate names a prompt that is not a subject",
                },
            )),
        }
    }
}

pub(super) fn check_numbering(
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
            out.push(at.finding(
                Check::Numbering,
                Some(&pr.path),
                Evidence {
                    expected: &expected,
                    found: &found,
                    message: msg,
                },
            ));
        };
        let Some(change) = pr.change else {
            out.push(at.finding(
                Check::Format,
                Some(&pr.path),
                Evidence {
                    expected: "a `change` for every prompt of a version entry",
                    found: "none",
                    message: "version entry does not say what happened to the prompt",
                },
            ));
            continue;
        };
        // A re-add is only a re-add of a prompt that was deleted. (Logs made before
        // `readded` existed call a re-add `modified` or `reverted`; those stay valid.)
        if change == ChangeType::Readded && lineage.as_ref().is_none_or(|l| l.live.is_some()) {
            bad(
                "a prompt deleted before this entry".into(),
                lineage
                    .as_ref()
                    .and_then(|l| l.live)
                    .map_or("no earlier version".into(), |v| format!("{v} live")),
                "readded names a prompt that was not deleted",
            );
        }
        let next = match change {
            ChangeType::Added
            | ChangeType::Modified
            | ChangeType::Reverted
            | ChangeType::Readded => {
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

/// The versions recorded so far, with their content and whether the policy recorded with
/// them approved them, for [`check_deployed`]: 33 bytes a version (the digest as bytes), in a
/// dense list per path for the numbers `1, 2, 3…` a well-formed log uses, and a map for any
/// other number (a hostile `4294967295` costs one slot, not four billion).
#[derive(Default)]
pub(super) struct Recorded {
    dense: HashMap<PromptPath, Vec<Option<Seen>>>,
    sparse: HashMap<(PromptPath, Version), Seen>,
}

/// A recorded version's SHA-256 (as bytes) and whether it was approved.
type Seen = ([u8; 32], bool);

impl Recorded {
    fn get(&self, path: &PromptPath, version: Version) -> Option<&Seen> {
        let slot = (version.0 as usize).checked_sub(1);
        match (self.dense.get(path), slot) {
            (Some(list), Some(i)) if i < list.len() => list[i].as_ref(),
            _ => self.sparse.get(&(path.clone(), version)),
        }
    }

    fn insert(&mut self, path: &PromptPath, version: Version, value: Seen) {
        let slot = (version.0 as usize).checked_sub(1);
        let list = self.dense.get_mut(path);
        match (list, slot) {
            (Some(list), Some(i)) if i < list.len() => list[i] = Some(value),
            (Some(list), Some(i)) if i == list.len() => list.push(Some(value)),
            (None, Some(0)) => {
                self.dense.insert(path.clone(), vec![Some(value)]);
            }
            _ => {
                self.sparse.insert((path.clone(), version), value);
            }
        }
    }
}

/// Notes a version entry's versions as recorded (with their content, and whether the policy
/// recorded with them approved them) for [`check_deployed`].
pub(super) fn note_recorded(st: &Statement, recorded: &mut Recorded) {
    let p = &st.predicate;
    for pr in &p.prompts {
        let approved = p
            .policy
            .rules
            .iter()
            .any(|r| r.path == pr.path && r.is_approved());
        let prior = recorded.get(&pr.path, pr.version).is_some_and(|(_, a)| *a);
        recorded.insert(
            &pr.path,
            pr.version,
            (pr.digest.sha256.to_bytes(), approved || prior),
        );
    }
}

/// Every deployed or restored version must have been recorded earlier, with the same
/// content, and approved under the policy recorded with it.
pub(super) fn check_deployed(
    at: &Loc,
    st: &Statement,
    recorded: &Recorded,
    out: &mut Vec<Finding>,
) {
    for pr in &st.predicate.prompts {
        match recorded.get(&pr.path, pr.version) {
            None => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                Evidence {
                    expected: &format!("{} {} recorded before this entry", pr.path, pr.version),
                    found: "no such version entry",
                    message: "a deployment names a version that was never recorded",
                },
            )),
            Some((sha, _)) if *sha != pr.digest.sha256.to_bytes() => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                Evidence {
                    expected: &format!("sha256:{}", crate::types::hex(sha)),
                    found: &format!("sha256:{}", pr.digest.sha256),
                    message: "the deployed content differs from the recorded version",
                },
            )),
            Some((_, false)) => out.push(at.finding(
                Check::Deployment,
                Some(&pr.path),
                Evidence {
                    expected: "an approved version",
                    found: "a version that was not approved under its policy",
                    message: "an unapproved version was deployed",
                },
            )),
            Some(_) => {}
        }
    }
}

/// The `(rev, path)` of each prompt's content that [`check_git`] compares with (none for
/// deployments and rollbacks).
pub(super) fn git_specs(st: &Statement) -> Vec<(String, String)> {
    match st.predicate.event {
        EventType::Version => {}
        EventType::Deployment | EventType::Rollback => return Vec::new(),
    }
    let spec = |pr: &crate::attestation::predicate::PromptRecord| {
        // A deletion's content is what the first parent had.
        let rev = if pr.change == Some(ChangeType::Deleted) {
            format!("{}^1", pr.commit)
        } else {
            pr.commit.to_string()
        };
        (rev, pr.path.to_string())
    };
    st.predicate.prompts.iter().map(spec).collect()
}

pub(super) fn check_git(
    at: &Loc,
    st: &Statement,
    repo: &mut dyn RepoObjects,
    out: &mut Vec<Finding>,
) -> anyhow::Result<()> {
    match st.predicate.event {
        EventType::Version => {}
        EventType::Deployment | EventType::Rollback => return Ok(()),
    }
    for (pr, (rev, path)) in st.predicate.prompts.iter().zip(git_specs(st)) {
        match repo.blob_at(&rev, &path)? {
            None => out.push(at.finding(
                Check::Digest,
                Some(&pr.path),
                Evidence {
                    expected: &format!("{} at {rev}", pr.path),
                    found: "no such commit or file in this repository",
                    message: "the recorded content cannot be found in the repository \
                    (fetch the full history of the protected branch)",
                },
            )),
            Some((oid, data)) => {
                if oid != pr.digest.git_blob {
                    out.push(at.finding(
                        Check::Digest,
                        Some(&pr.path),
                        Evidence {
                            expected: &format!("gitBlob {oid}"),
                            found: &format!("gitBlob {}", pr.digest.git_blob),
                            message: "recorded git blob differs from the file in the repository",
                        },
                    ));
                }
                let sha = Sha256Hex::of(&data);
                if sha != pr.digest.sha256 {
                    out.push(at.finding(Check::Digest, Some(&pr.path), Evidence {
expected: &format!("sha256:{sha}"),
found: &format!("sha256:{}", pr.digest.sha256),
message: "recorded sha256 differs from the file's bytes in the repository",
}));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn statement(index: u64, prompt: Value) -> Statement {
        serde_json::from_value(json!({
            "_type": STATEMENT_TYPE,
            "subject": [],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "event": "version",
                "log": { "index": index, "previous": null, "origin": "github.com/acme/clinic" },
                "prompts": [prompt],
                "authors": [],
                "approvals": [],
                "policy": { "configDigest": { "sha256": "0".repeat(64) } },
                "recordedAt": "2026-11-20T14:00:00Z",
                "tool": { "name": "promptrail", "version": "0.1.0" }
            }
        }))
        .unwrap()
    }

    fn prompt(change: &str, version: u32, previous: Option<u32>) -> Value {
        let mut p = json!({
            "path": "prompts/a.md",
            "change": change,
            "version": version,
            "commit": "1".repeat(40),
            "landedAt": "2026-11-20T14:00:00Z",
            "digest": { "sha256": "2".repeat(64), "gitBlob": "3".repeat(40) }
        });
        if let Some(v) = previous {
            p["previousVersion"] = v.into();
        }
        p
    }

    /// The numbering findings of a sequence of version entries.
    fn numbering(prompts: Vec<Value>) -> Vec<(u64, String)> {
        let mut lineages = HashMap::new();
        let mut out = Vec::new();
        for (i, p) in prompts.into_iter().enumerate() {
            let st = statement(i as u64, p);
            let at = Loc {
                entry: i as u64,
                file: "entry",
            };
            check_numbering(&at, &st, &mut lineages, &mut out);
        }
        out.into_iter()
            .map(|f| (f.entry.unwrap_or_default(), f.message))
            .collect()
    }

    #[test]
    fn a_readd_continues_the_numbering_of_a_deleted_prompt() {
        let deleted = || vec![prompt("added", 1, None), prompt("deleted", 1, None)];
        let mut log = deleted();
        log.push(prompt("readded", 2, Some(1)));
        assert_eq!(numbering(log), vec![]);
        // Logs recorded before `readded` existed call a re-add `modified`: still valid.
        let mut log = deleted();
        log.push(prompt("modified", 2, Some(1)));
        assert_eq!(numbering(log), vec![]);
    }

    #[test]
    fn a_readd_of_a_live_or_unknown_prompt_is_a_numbering_finding() {
        let live = vec![prompt("added", 1, None), prompt("readded", 2, Some(1))];
        let found = numbering(live);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 1);
        assert!(found[0].1.contains("not deleted"), "{found:?}");
        let unknown = numbering(vec![prompt("readded", 1, None)]);
        assert!(
            unknown
                .iter()
                .any(|(e, m)| *e == 0 && m.contains("not deleted")),
            "{unknown:?}"
        );
        // Numbers still only grow after a re-add.
        let skipped = numbering(vec![
            prompt("added", 1, None),
            prompt("deleted", 1, None),
            prompt("readded", 3, Some(1)),
        ]);
        assert!(
            skipped
                .iter()
                .any(|(e, m)| *e == 2 && m.contains("not the next one")),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_panicking_worker_is_a_result_per_item_never_a_shorter_list() {
        let items: Vec<u32> = (0..64).collect();
        for threads in [1, 2, 4] {
            let out = parallel_map(
                &items,
                threads,
                |&i| {
                    assert!(i != 37, "injected panic on item 37");
                    Ok(i)
                },
                |why| Err(why.to_owned()),
            );
            assert_eq!(out.len(), items.len(), "{threads} threads");
            // Items outside the panicking chunk keep their results, in order; every item of
            // that chunk is a failure, none is missing.
            let chunk = 64usize.div_ceil(threads);
            for (i, r) in out.iter().enumerate() {
                assert_eq!(
                    r.is_err(),
                    i / chunk == 37 / chunk,
                    "item {i}, {threads} threads"
                );
                if let Ok(v) = r {
                    assert_eq!(*v as usize, i);
                }
            }
            assert!(
                matches!(&out[37], Err(why) if why.contains("injected panic")),
                "{:?}",
                out[37]
            );
        }
    }

    #[test]
    fn without_panics_every_result_is_in_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = parallel_map(&items, 3, |&i| i * 2, |_| u32::MAX);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}
