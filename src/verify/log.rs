//! Checks over the log as a whole rather than entry by entry: the audit branch's commit
//! history (PT010), its signed checkpoint (PT011), and consistency with a checkpoint the
//! auditor kept (PT012).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Check, Evidence, Finding, Loc};
use crate::attestation::Statement;
use crate::layout::{LogMeta, index_from_path};
use crate::signing::TrustedKey;
use crate::types::{EntryIndex, Oid, Sha256Hex};

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
        let expected_entry = crate::layout::entry_path(EntryIndex(k as u64));
        let mut expected: Vec<(u8, String)> = vec![(b'A', expected_entry)];
        if k == 0 {
            expected.push((b'A', crate::layout::META_FILE.to_owned()));
        }
        // The checkpoint is rewritten with every entry.
        let mut found: Vec<(u8, String)> = c
            .changes
            .iter()
            .filter(|(s, p)| {
                // The summary is rewritten too, and removed whole when rebuilt.
                !(((p == crate::layout::CHECKPOINT_FILE || p == crate::layout::RANGE_FILE)
                    && matches!(s, b'A' | b'M'))
                    || (crate::state::is_state_file(p) && matches!(s, b'A' | b'M' | b'D')))
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
            let expected = format!(
                "audit commit #{k} ({}) adds only {}{}",
                c.oid,
                describe(&expected),
                if k == 0 { " (and has no parent)" } else { "" }
            );
            let found = format!(
                "{} ({} parent{})",
                if found.is_empty() {
                    "no change".to_owned()
                } else {
                    describe(&found)
                },
                c.parents,
                if c.parents == 1 { "" } else { "s" }
            );
            out.push(Finding::new(
                Check::History,
                Evidence {
                    expected: &expected,
                    found: &found,
                    message: "the audit branch was changed in place: every commit must \
                    append exactly the next entry",
                },
            ));
        }
    }
    out
}

fn log_finding(check: Check, evidence: Evidence) -> Finding {
    Finding::new(check, evidence).in_file(crate::layout::CHECKPOINT_FILE)
}

/// The branch's `checkpoint` must be signed by a trusted key and commit to exactly the
/// entries present (origin, size, RFC 6962 root over the entry files).
pub fn check_checkpoint(
    checkpoint: Option<&[u8]>,
    origin: Option<&str>,
    leaves: &[crate::merkle::Hash],
    keys: &[TrustedKey],
) -> Vec<Finding> {
    let mut tree = crate::merkle::CompactRange::default();
    for l in leaves {
        tree.push(*l);
    }
    check_checkpoint_only(checkpoint, origin, &tree, keys)
}

/// [`check_checkpoint`] of the entries' tree (its right edge, built as the entries were
/// read), plus the stored right edge (when present) must be the entries'.
pub fn check_checkpoint_and_range(
    checkpoint: Option<&[u8]>,
    range: Option<&[u8]>,
    origin: Option<&str>,
    tree: &crate::merkle::CompactRange,
    keys: &[TrustedKey],
) -> Vec<Finding> {
    let mut out = check_checkpoint_only(checkpoint, origin, tree, keys);
    if let Some(bytes) = range {
        let found = String::from_utf8_lossy(bytes);
        if found != tree.to_text() {
            out.push(log_finding(
                Check::Checkpoint,
                Evidence {
                    expected: &format!(
                        "{} as the right edge of the entries' tree",
                        crate::layout::RANGE_FILE
                    ),
                    found: "a range that does not match the entries",
                    message: "the stored Merkle range is wrong: the next checkpoints \
                    would commit to a wrong root",
                },
            ));
        }
    }
    out
}

fn check_checkpoint_only(
    checkpoint: Option<&[u8]>,
    origin: Option<&str>,
    tree: &crate::merkle::CompactRange,
    keys: &[TrustedKey],
) -> Vec<Finding> {
    use crate::checkpoint::Checkpoint;
    let missing = |found: &str, msg: &str| {
        vec![log_finding(
            Check::Checkpoint,
            Evidence {
                expected: "a signed C2SP checkpoint at the branch root",
                found,
                message: msg,
            },
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
            Evidence {
                expected: "a signature by a trusted key",
                found: &format!(
                    "{} signature(s), none valid for the trusted keys",
                    cp.signatures.len()
                ),
                message: "the checkpoint is not signed by a trusted key",
            },
        ));
    }
    if let Some(o) = origin
        && cp.origin != o
    {
        out.push(log_finding(
            Check::Checkpoint,
            Evidence {
                expected: &format!("origin {o}"),
                found: &format!("origin {}", cp.origin),
                message: "the checkpoint names another log",
            },
        ));
    }
    let root = tree.root();
    if cp.size != tree.size() || cp.root != root {
        out.push(log_finding(
            Check::Checkpoint,
            Evidence {
                expected: &format!("size {} root {}", tree.size(), crate::types::hex(&root)),
                found: &format!("size {} root {}", cp.size, crate::types::hex(&cp.root)),
                message: "the checkpoint does not commit to the entries on the branch",
            },
        ));
    }
    out
}

/// The branch tip must be the commit its checkpoint was signed for: a checkpoint that names
/// its parent ([`crate::checkpoint::PARENT_EXTENSION`]) must sit on a commit whose only
/// parent is that one. Anything else replayed an older signed tree on top of the log (which
/// a reader of the tip alone, such as the gate on a fresh clone, would otherwise believe).
pub fn check_checkpoint_parent(checkpoint: Option<&[u8]>, parents: &[Oid]) -> Vec<Finding> {
    let Some(cp) = checkpoint
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| crate::checkpoint::Checkpoint::parse(t).ok())
    else {
        return Vec::new(); // reported by the checkpoint check itself
    };
    let Some(named) = cp.parent() else {
        return Vec::new(); // a log written before checkpoints named their parent
    };
    let found: Vec<String> = parents.iter().map(ToString::to_string).collect();
    if parents.len() <= 1 && named == found.first().map(String::as_str) {
        return Vec::new();
    }
    vec![log_finding(
        Check::Checkpoint,
        Evidence {
            expected: &format!(
                "the tip commit's parent to be {}, the commit the checkpoint names",
                named.unwrap_or("none (the log's first commit)")
            ),
            found: &if found.is_empty() {
                "no parent".to_owned()
            } else {
                format!("parent {}", found.join(", "))
            },
            message: "the branch tip is not the commit its checkpoint was \
                    signed for: an older signed tree was committed on top of \
                    the log",
        },
    )]
}

/// Proves the log (the entries' `tree`) is an append-only extension of a checkpoint the
/// auditor kept. `first_root(m)` is the root of the log's first `m` entries (recorded as
/// they were read, see [`crate::verify::Report::saved_root`]): the saved checkpoint holds
/// when it is that root, since the log's own tree then extends it by construction (the
/// consistency proof from those same leaves always verifies then, and never otherwise).
pub fn check_consistency(
    saved_text: &str,
    tree: &crate::merkle::CompactRange,
    first_root: &dyn Fn(u64) -> Option<crate::merkle::Hash>,
    keys: &[TrustedKey],
) -> anyhow::Result<Vec<Finding>> {
    use crate::checkpoint::Checkpoint;
    let saved = match Checkpoint::parse(saved_text) {
        Ok(cp) => cp,
        Err(e) => {
            return Ok(vec![Finding::new(
                Check::Consistency,
                Evidence {
                    expected: "a C2SP checkpoint",
                    found: &e,
                    message: "the saved checkpoint cannot be read",
                },
            )]);
        }
    };
    let mut out = Vec::new();
    if saved.verified_by(keys).is_none() {
        out.push(Finding::new(
            Check::Consistency,
            Evidence {
                expected: "a signature by a trusted key",
                found: "none valid",
                message: "the saved checkpoint is not signed by a trusted key",
            },
        ));
    }
    let size = tree.size();
    if saved.size > size {
        out.push(Finding::new(
            Check::Consistency,
            Evidence {
                expected: &format!(
                    "at least {} entries (the saved checkpoint's size)",
                    saved.size
                ),
                found: &format!("{size} entries"),
                message: "the log was truncated: entries the saved checkpoint covers are gone",
            },
        ));
        return Ok(out);
    }
    let Some(old) = first_root(saved.size) else {
        anyhow::bail!(
            "the root of the log's first {} entries was not kept while reading them",
            saved.size
        );
    };
    if old != saved.root {
        out.push(Finding::new(
            Check::Consistency,
            Evidence {
                expected: &format!(
                    "root {} for the first {} entries",
                    crate::types::hex(&saved.root),
                    saved.size
                ),
                found: &format!("root {}", crate::types::hex(&old)),
                message: "the log's history was rewritten: its first entries no \
                    longer hash to the saved checkpoint",
            },
        ));
    }
    Ok(out)
}

/// `promptrail.json` must be at the branch root and valid, and nothing but the layout's files
/// beside it (PT009); the log's metadata when it is.
pub(super) fn check_meta(
    meta: Option<&[u8]>,
    stray_files: &[String],
    out: &mut Vec<Finding>,
) -> Option<LogMeta> {
    let meta = match meta {
        None => {
            out.push(Finding::new(
                Check::Layout,
                Evidence {
                    expected: "promptrail.json at the branch root",
                    found: "no such file",
                    message: "the branch has no promptrail.json: not a promptrail audit branch",
                },
            ));
            None
        }
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                out.push(Finding::new(
                    Check::Layout,
                    Evidence {
                        expected: "a valid promptrail.json",
                        found: &e.to_string(),
                        message: "promptrail.json is not valid",
                    },
                ));
                None
            }
        },
    };
    for stray in stray_files {
        out.push(Finding::new(
            Check::Layout,
            Evidence {
                expected: "only promptrail.json and entries/",
                found: stray,
                message: &format!("unexpected file {stray} on the audit branch"),
            },
        ));
    }
    meta
}

/// The entry's file name must be the layout's for its position in the log (PT003, PT009).
pub(super) fn check_file_position(at: &Loc, out: &mut Vec<Finding>) {
    let pos = at.entry;
    let expected = &format!("entry {pos}");
    match index_from_path(at.file) {
        Some(EntryIndex(i)) if i == pos => {}
        Some(EntryIndex(i)) => out.push(at.finding(
            Check::Index,
            None,
            Evidence {
                expected,
                found: &format!("entry {i}"),
                message: &if i > pos {
                    format!("entries {pos}..{} are missing from the log", i - 1)
                } else {
                    "entry file out of order".to_owned()
                },
            },
        )),
        None => out.push(at.finding(
            Check::Layout,
            None,
            Evidence {
                expected: "entries/DDDDDD/NNNNNNNNN.json",
                found: at.file,
                message: "entry file name does not follow the layout",
            },
        )),
    }
}

/// Times only move forward (runners' clocks may differ by minutes): a key window cannot be
/// dodged by backdating an entry behind newer ones (PT013). `last` is the latest time so far.
pub(super) fn check_recorded_order(
    at: &Loc,
    st: &Statement,
    last: &mut Option<DateTime<Utc>>,
    out: &mut Vec<Finding>,
) {
    let t = st.predicate.recorded_at;
    if let Some(prev) = *last
        && t + chrono::Duration::minutes(10) < prev
    {
        out.push(at.finding(
            Check::KeyWindow,
            None,
            Evidence {
                expected: &format!(
                    "recordedAt no earlier than {} (the entry before)",
                    prev.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
                found: &format!(
                    "recordedAt {}",
                    t.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
                message: "entry is dated before the entry that precedes it (backdated?)",
            },
        ));
    }
    *last = Some(last.map_or(t, |p| p.max(t)));
}

/// The entry's `log` fields must place it where it is: its index is its position (PT003,
/// naming the first entry that claimed a duplicated index), `previous` is the SHA-256 of the
/// entry file before it (PT002), and `origin` is the log's (PT008).
pub(super) fn check_log_fields(
    at: &Loc,
    st: &Statement,
    expected_previous: &Option<Sha256Hex>,
    origin: Option<&str>,
    seen_index: &mut Claims,
    out: &mut Vec<Finding>,
) {
    let (pos, log) = (at.entry, &st.predicate.log);
    if log.index.0 != pos {
        let message = match seen_index.first(log.index.0) {
            Some(first) => format!(
                "entry claims index {}, already claimed by the entry at position {first} \
                 (duplicated or replayed)",
                log.index.0
            ),
            None => format!(
                "entry claims index {} but sits at position {pos} (reordered or moved)",
                log.index.0
            ),
        };
        out.push(at.finding(
            Check::Index,
            None,
            Evidence {
                expected: &format!("log.index {pos}"),
                found: &format!("log.index {}", log.index.0),
                message: &message,
            },
        ));
    }
    seen_index.note(log.index.0, pos);
    if log.previous != *expected_previous {
        out.push(at.finding(
            Check::Chain,
            None,
            Evidence {
                expected: &opt_hash(expected_previous),
                found: &opt_hash(&log.previous),
                message: "log.previous is not the SHA-256 of the previous entry \
                    file: an entry before this one was altered, removed or \
                    reordered",
            },
        ));
    }
    if let Some(origin) = origin
        && log.origin != origin
    {
        out.push(at.finding(
            Check::Origin,
            None,
            Evidence {
                expected: origin,
                found: &log.origin,
                message: "entry was made for another repository's log (replayed?)",
            },
        ));
    }
}

/// Which position first claimed each `log.index`, without a row per entry: the positions
/// whose entry claimed its own index, as ranges (a well-formed log is one range), and the
/// first claimant of every other index.
#[derive(Default)]
pub(super) struct Claims {
    /// Ascending, disjoint `start..end` of positions `p` whose entry claimed index `p`.
    own: Vec<std::ops::Range<u64>>,
    /// Index → the first position that claimed it, for claims of another index.
    other: HashMap<u64, u64>,
}

impl Claims {
    /// Notes that the entry at `pos` (positions in order) claimed `index`.
    pub(super) fn note(&mut self, index: u64, pos: u64) {
        if index != pos {
            self.other.entry(index).or_insert(pos);
        } else if let Some(last) = self.own.last_mut().filter(|r| r.end == pos) {
            last.end = pos + 1;
        } else {
            self.own.push(pos..pos + 1);
        }
    }

    /// The first position noted as claiming `index`.
    pub(super) fn first(&self, index: u64) -> Option<u64> {
        let at = self.own.partition_point(|r| r.end <= index);
        let own = self
            .own
            .get(at)
            .filter(|r| r.contains(&index))
            .map(|_| index);
        match (own, self.other.get(&index).copied()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn opt_hash(h: &Option<Sha256Hex>) -> String {
    h.as_ref().map_or_else(
        || "null (first entry)".to_owned(),
        |h| format!("sha256:{h}"),
    )
}
