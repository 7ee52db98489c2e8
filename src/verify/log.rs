//! Checks over the log as a whole rather than entry by entry: the audit branch's commit
//! history (PT010), its signed checkpoint (PT011), and consistency with a checkpoint the
//! auditor kept (PT012).

use super::{Check, Finding};
use crate::signing::TrustedKey;
use crate::types::{EntryIndex, Oid};

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
                !((p == crate::layout::CHECKPOINT_FILE
                    || p == crate::layout::RANGE_FILE
                    || crate::state::is_state_file(p))
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
        file: Some(crate::layout::CHECKPOINT_FILE.to_owned()),
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
                format!("{} as the right edge of the entries' tree", crate::layout::RANGE_FILE),
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
        format!(
            "the tip commit's parent to be {}, the commit the checkpoint names",
            named.unwrap_or("none (the log's first commit)")
        ),
        if found.is_empty() {
            "no parent".to_owned()
        } else {
            format!("parent {}", found.join(", "))
        },
        "the branch tip is not the commit its checkpoint was signed for: an older signed \
         tree was committed on top of the log",
    )]
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
