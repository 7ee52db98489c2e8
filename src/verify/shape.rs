//! The audit branch's shape (PT010) without git's tree diff: each commit's tree must be the
//! one the layout prescribes for the entries up to it, which this module computes itself.
//!
//! Git names a tree by the SHA-1 of `tree <len>\0` followed by its rows (`<octal mode>
//! <name>\0<20-byte id>`, sorted by name), and a blob by the SHA-1 of `blob <len>\0<bytes>`.
//! Commit `k` of a well-formed branch has a root tree holding `promptrail.json` (the root
//! commit's, unchanged), `entries` (the tree of entries `0..=k`, directories of 1000) and
//! optionally `checkpoint` and `checkpoint.range` (rewritten with every append, never
//! removed once written) and `state` (the state summary, whose content PT017 checks; never
//! removed once written). So computing the `entries` tree id for every `k` from the entry
//! files' bytes, and reading each commit's small root tree, proves what the per-commit diff
//! proved: every commit appended exactly the next entry and changed nothing else.
//!
//! This is a fast check: it says only whether the whole branch has that shape. When it does
//! not, the caller falls back to git's diff, which names what each offending commit did.

use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, digest};

use crate::layout::{CHECKPOINT_FILE, ENTRIES_PER_DIR, META_FILE, RANGE_FILE};

/// A git object id (SHA-1).
pub type GitId = [u8; 20];

/// The git blob id of `bytes`.
pub fn blob_id(bytes: &[u8]) -> GitId {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(format!("blob {}\0", bytes.len()).as_bytes());
    ctx.update(bytes);
    to_id(ctx.finish().as_ref())
}

/// A 40-digit hex object id as bytes (`None` for anything else, such as SHA-256 ids).
pub fn parse_id(hex: &str) -> Option<GitId> {
    if hex.len() != 40 {
        return None;
    }
    let mut id = [0; 20];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn to_id(bytes: &[u8]) -> GitId {
    let mut id = [0; 20];
    id.copy_from_slice(&bytes[..20]);
    id
}

fn tree_id(rows: &[u8]) -> GitId {
    let mut object = format!("tree {}\0", rows.len()).into_bytes();
    object.extend_from_slice(rows);
    to_id(digest(&SHA1_FOR_LEGACY_USE_ONLY, &object).as_ref())
}

fn push_row(rows: &mut Vec<u8>, mode: &str, name: &str, id: &GitId) {
    rows.extend_from_slice(mode.as_bytes());
    rows.push(b' ');
    rows.extend_from_slice(name.as_bytes());
    rows.push(0);
    rows.extend_from_slice(id);
}

/// The length of one row of the `entries` tree: `40000 DDDDDD\0` and a 20-byte id.
const DIR_ROW: usize = "40000 ".len() + 6 + 1 + 20;

/// Checks commits oldest first, one at a time, against the entry files' blob ids.
pub struct ShapeCheck {
    entries: Vec<GitId>,
    /// Ids of the full directories before the current one.
    full_dirs: Vec<GitId>,
    /// Rows of the current directory so far.
    dir_rows: Vec<u8>,
    /// SHA-1 state after `tree <len>\0` and the full directories' rows, for the current
    /// directory (the `entries` tree's length only changes with a new directory).
    entries_prefix: Option<Context>,
    next: u64,
    meta: Option<GitId>,
    had_checkpoint: bool,
    had_range: bool,
    had_state: bool,
}

impl ShapeCheck {
    /// `entries` are the blob ids of the entry files at the tip, in index order.
    pub fn new(entries: Vec<GitId>) -> Self {
        ShapeCheck {
            entries,
            full_dirs: Vec::new(),
            dir_rows: Vec::new(),
            entries_prefix: None,
            next: 0,
            meta: None,
            had_checkpoint: false,
            had_range: false,
            had_state: false,
        }
    }

    /// The next commit (oldest first): its parent count and its root tree's raw rows (as
    /// `git cat-file --batch` returns them). `false` when it does not have the shape.
    pub fn commit(&mut self, parents: usize, root: &[u8]) -> bool {
        let k = self.next;
        self.next += 1;
        if parents != usize::from(k > 0) {
            return false;
        }
        let Some(expected_entries) = self.entries_tree(k) else {
            return false;
        };
        let Some(rows) = parse_tree(root) else {
            return false;
        };
        let (mut meta, mut entries, mut checkpoint, mut range) = (None, None, false, false);
        let mut state = false;
        for (mode, name, id) in rows {
            match (mode, name) {
                (b"100644", n) if n == META_FILE.as_bytes() => meta = Some(id),
                (b"100644", n) if n == CHECKPOINT_FILE.as_bytes() => checkpoint = true,
                (b"100644", n) if n == RANGE_FILE.as_bytes() => range = true,
                (b"40000", b"entries") => entries = Some(id),
                // The state summary (PT017 checks its content at the tip).
                (b"40000", b"state") => state = true,
                _ => return false,
            }
        }
        let meta_ok = match (&self.meta, meta) {
            (_, None) => false,
            (None, Some(m)) => {
                self.meta = Some(m);
                true
            }
            (Some(first), Some(m)) => *first == m,
        };
        // The checkpoint and its range are rewritten with every append, never removed.
        let kept = (checkpoint || !self.had_checkpoint)
            && (range || !self.had_range)
            && (state || !self.had_state);
        self.had_checkpoint |= checkpoint;
        self.had_range |= range;
        self.had_state |= state;
        meta_ok && kept && entries == Some(expected_entries)
    }

    /// Whether every entry was added by one of the commits seen.
    pub fn complete(&self) -> bool {
        self.next == self.entries.len() as u64
    }

    /// The id of the `entries` tree holding entries `0..=k`.
    fn entries_tree(&mut self, k: u64) -> Option<GitId> {
        let blob = *self.entries.get(usize::try_from(k).ok()?)?;
        let dir = k / ENTRIES_PER_DIR;
        if k.is_multiple_of(ENTRIES_PER_DIR) && k > 0 {
            self.full_dirs.push(tree_id(&self.dir_rows));
            self.dir_rows.clear();
            self.entries_prefix = None;
        }
        push_row(&mut self.dir_rows, "100644", &format!("{k:09}.json"), &blob);
        let dir_id = tree_id(&self.dir_rows);
        // Each row of the `entries` tree: "40000 DDDDDD\0" + 20 bytes.
        let prefix = self.entries_prefix.get_or_insert_with(|| {
            let rows = (self.full_dirs.len() + 1) * DIR_ROW;
            let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
            ctx.update(format!("tree {rows}\0").as_bytes());
            let mut full = Vec::new();
            for (i, id) in self.full_dirs.iter().enumerate() {
                push_row(&mut full, "40000", &format!("{i:06}"), id);
            }
            ctx.update(&full);
            ctx
        });
        let mut ctx = prefix.clone();
        let mut last = Vec::with_capacity(34);
        push_row(&mut last, "40000", &format!("{dir:06}"), &dir_id);
        ctx.update(&last);
        Some(to_id(ctx.finish().as_ref()))
    }
}

/// One row of a tree object: mode, name, id.
type TreeRow<'a> = (&'a [u8], &'a [u8], GitId);

/// A tree object's rows: (mode, name, id); `None` when malformed or not SHA-1.
fn parse_tree(data: &[u8]) -> Option<Vec<TreeRow<'_>>> {
    crate::git::TreeRows::new(data, 20)
        .map(|row| row.ok().map(|r| (r.mode, r.name, to_id(r.id))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a branch in the audit layout with `git fast-import` (`entries + 1` commits'
    /// worth of entries, crossing a directory boundary; `tamper` rewrites entry 3 in the
    /// commit adding entry `tamper`) and runs the check over git's own trees.
    fn shape_of_git_branch(entries: u64, tamper: Option<u64>) -> (bool, bool) {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let dir = tempfile::TempDir::new().unwrap();
        let git = |args: &[&str]| {
            Command::new("git")
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap()
        };
        assert!(git(&["init", "-q"]).status.success());
        let mut child = Command::new("git")
            .current_dir(dir.path())
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ids = Vec::new();
        {
            let out = child.stdin.as_mut().unwrap();
            for k in 0..entries {
                let body = format!("{{\"entry\":{k}}}\n");
                ids.push(blob_id(body.as_bytes()));
                let msg = format!("entry {k}\n");
                write!(
                    out,
                    "commit refs/heads/audit\ncommitter t <t@t> {k} +0000\n"
                )
                .unwrap();
                write!(out, "data {}\n{msg}", msg.len()).unwrap();
                if k == 0 {
                    write!(out, "M 100644 inline {META_FILE}\ndata 3\n{{}}\n\n").unwrap();
                }
                let path = crate::layout::entry_path(crate::types::EntryIndex(k));
                write!(out, "M 100644 inline {path}\ndata {}\n{body}\n", body.len()).unwrap();
                if tamper == Some(k) {
                    let path = crate::layout::entry_path(crate::types::EntryIndex(3));
                    write!(out, "M 100644 inline {path}\ndata 2\nno\n").unwrap();
                }
                if k + 1 == entries {
                    write!(out, "M 100644 inline {CHECKPOINT_FILE}\ndata 3\ncp\n\n").unwrap();
                }
                writeln!(out).unwrap();
            }
        }
        assert!(child.wait().unwrap().success());
        let log = git(&[
            "log",
            "--first-parent",
            "--reverse",
            "--format=%T %P",
            "audit",
        ]);
        let mut check = ShapeCheck::new(ids);
        let mut ok = true;
        for line in String::from_utf8(log.stdout).unwrap().lines() {
            let mut ids = line.split(' ').filter(|s| !s.is_empty());
            let tree = ids.next().unwrap();
            let raw = git(&["cat-file", "tree", tree]).stdout;
            ok &= check.commit(ids.count(), &raw);
        }
        (ok, check.complete())
    }

    #[test]
    fn the_expected_trees_are_gits_own_across_a_directory_boundary() {
        let entries = ENTRIES_PER_DIR + 5;
        assert_eq!(shape_of_git_branch(entries, None), (true, true));
        // An earlier entry rewritten by a later commit (in either directory) is off.
        assert!(!shape_of_git_branch(entries, Some(7)).0);
        assert!(!shape_of_git_branch(entries, Some(ENTRIES_PER_DIR + 2)).0);
    }

    #[test]
    fn ids_match_git() {
        // `git hash-object` of "hello\n", and git's empty tree.
        let hex = |id: GitId| crate::types::hex(&id);
        assert_eq!(
            hex(blob_id(b"hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            hex(tree_id(&[])),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }
}
