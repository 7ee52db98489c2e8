//! A tip commit checked against its parent, directory by directory: the tip holds its
//! parent's entries and exactly one more, and that one extends the parent's signed tree to
//! the tip's signed root, and removes nothing an append wrote.
//!
//! Why this is enough, and why it is needed. A checkpoint names the commit it was appended
//! onto (`promptrail-parent`), and a commit's id fixes its tree and its history, so a signed
//! checkpoint at the tip pins every commit below the tip (the callers refuse a tip whose
//! checkpoint names no parent: an append's inner commit, whose parent nothing pins). The tip's own tree is pinned by
//! nothing: an insider with push access can commit it again on the same parent, with the
//! same checkpoint and range, and other entries (an old one replaced, deleted, or a stray
//! file beside them). An append that took the signed right edge from `checkpoint.range`
//! would sign on top of that tree and make it history. So every append checks its base
//! against the base's parent ([`crate::store::Store`]), and readers check the tip they
//! believe a summary on ([`crate::summary::StateView::check_binding`]). By induction over
//! appends, each commit below the tip was checked this way when it was built on, so the tip's
//! entries are the log's entries `0..size` and hash to the signed root, which full `verify`
//! proves from every entry (PT007, PT010) and this check proves from the two root trees,
//! the tip's `entries` tree and last directory, and one entry, whatever the log's length.
//!
//! What is compared: the root trees hold only the layout's files (`promptrail.json`
//! unchanged from the parent, `checkpoint`, `checkpoint.range`, `entries/`, `state/`), and
//! the tip keeps the parent's `checkpoint.range` and `state/` (and holds `state/` when its
//! checkpoint binds one); the tip's `entries` tree names the directories `000000..=d` in
//! order, and `d`, the new entry's, holds entries by their canonical names, the new one
//! last; the parent's `entries` tree is the one those rows without the new entry make (its
//! id recomputed, as git names trees by the hash of their rows, so it is never read: the
//! directories before `d` unchanged, `d` without the new entry or, when that is `d`'s
//! first, no `d`); the parent's `checkpoint.range` has the parent checkpoint's size and
//! root, and with the new entry's leaf pushed has the tip checkpoint's. A parent without
//! `checkpoint.range` (a log older than it) is checked once from every entry of the tip
//! instead.

use crate::checkpoint::Checkpoint;
use crate::git::{ObjectReader, TreeRow, TreeRows};
use crate::layout::{CHECKPOINT_FILE, ENTRIES_PER_DIR, META_FILE, RANGE_FILE};
use crate::merkle::{CompactRange, leaf_hash};
use crate::types::Oid;

/// The largest entry or checkpoint file read.
const FILE_LIMIT: u64 = 1 << 24;

/// Checks that `tip` (whose checkpoint is `cp`) is its parent `parent` (`None`: `tip` is a
/// root commit) plus exactly the entry the checkpoint signed; see the module docs. `Err`
/// says what differs. Reads the root trees, the tip's `entries` tree and last directory, a
/// few small files and one entry; never the parent's `entries`.
pub fn check(
    reader: &mut ObjectReader,
    tip: &Oid,
    parent: Option<&Oid>,
    cp: &Checkpoint,
) -> Result<(), String> {
    let id_len = tip.as_str().len() / 2;
    let tip_root = Root::read(reader, tip, id_len, "the tip")?;
    let parent_root = match parent {
        Some(p) => Root::read(reader, p, id_len, "its parent")?,
        None => Root::default(),
    };
    if parent.is_some() && tip_root.meta != parent_root.meta {
        return Err(format!("its {META_FILE} is not its parent's"));
    }
    // What an append writes is never removed: a tip without its parent's summary or right
    // edge (or without the summary its own checkpoint binds) would have readers answer from
    // whatever entries it holds, unwarned, and an append sign on top of it.
    if parent_root.range.is_some() && tip_root.range.is_none() {
        return Err(format!("it removes its parent's {RANGE_FILE}"));
    }
    if parent_root.state && !tip_root.state {
        return Err("it removes its parent's state summary (state/)".into());
    }
    if !tip_root.state && !matches!(crate::state::bound_index(&cp.extensions), Ok(None)) {
        return Err("its checkpoint binds a state summary it does not hold (state/)".into());
    }
    // The parent's signed size and right edge (none for the log's first commit).
    let parent_cp = match &parent_root.checkpoint {
        Some(id) => Some(
            Checkpoint::parse(&String::from_utf8_lossy(&blob(
                reader,
                id,
                CHECKPOINT_FILE,
            )?))
            .map_err(|e| format!("its parent's checkpoint is malformed ({e})"))?,
        ),
        None => None,
    };
    let n = parent_cp.as_ref().map_or(0, |c| c.size);
    if cp.size != n + 1 {
        return Err(format!(
            "its checkpoint covers {} entries and its parent's {n}: every commit appends \
             exactly one entry",
            cp.size
        ));
    }
    let mut range = match (&parent_cp, &parent_root.range) {
        (None, _) => CompactRange::default(),
        (Some(pcp), Some(id)) => {
            let range =
                CompactRange::parse(&String::from_utf8_lossy(&blob(reader, id, RANGE_FILE)?))
                    .ok_or("its parent's checkpoint.range does not parse")?;
            if range.size() != pcp.size || range.root() != pcp.root {
                return Err("its parent's checkpoint.range is not its parent's signed tree".into());
            }
            range
        }
        // A log older than `checkpoint.range`: every entry, once.
        (Some(_), None) => return every_entry(reader, &tip_root, id_len, cp),
    };
    let new = new_entry(reader, &tip_root, &parent_root, id_len, n)?;
    range.push(leaf_hash(&blob(reader, &new, "the new entry")?));
    if range.size() != cp.size || range.root() != cp.root {
        return Err(format!(
            "entry #{n} does not extend its parent's signed tree to its signed root"
        ));
    }
    Ok(())
}

/// The ids in a commit's root tree that the check compares.
#[derive(Default)]
struct Root {
    meta: Option<Oid>,
    checkpoint: Option<Oid>,
    range: Option<Oid>,
    entries: Option<Oid>,
    /// Whether it holds `state/` (what PT017 and [`crate::summary::StateView`] check).
    state: bool,
}

impl Root {
    fn read(
        reader: &mut ObjectReader,
        commit: &Oid,
        id_len: usize,
        who: &str,
    ) -> Result<Root, String> {
        let data = tree(reader, &format!("{commit}^{{tree}}"), who)?;
        let mut root = Root::default();
        // Names strictly in git's order (a tree's name as if it ended in `/`): a name twice,
        // or out of order, would be one row to this scan and another to git's path lookup
        // and readers (the first row of a name; git stops at a name past the one sought).
        let mut last: Vec<u8> = Vec::new();
        for row in TreeRows::new(&data, id_len) {
            let row = row.map_err(|()| format!("{who}'s tree is malformed"))?;
            let mut key = row.name.to_vec();
            if row.mode == b"40000" {
                key.push(b'/');
            }
            if key <= last {
                return Err(format!(
                    "{who}'s tree holds `{}` twice or out of order",
                    String::from_utf8_lossy(row.name)
                ));
            }
            last = key;
            let id = Some(row_oid(&row, who)?);
            match (row.mode, row.name) {
                (b"100644", n) if n == META_FILE.as_bytes() => root.meta = id,
                (b"100644", n) if n == CHECKPOINT_FILE.as_bytes() => root.checkpoint = id,
                (b"100644", n) if n == RANGE_FILE.as_bytes() => root.range = id,
                (b"40000", b"entries") => root.entries = id,
                (b"40000", b"state") => root.state = true,
                (mode, name) => {
                    return Err(format!(
                        "{who} holds `{}` (mode {}), not a file of the audit branch's layout",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(mode)
                    ));
                }
            }
        }
        Ok(root)
    }
}

/// The blob id of entry `n` in the tip, after checking that the tip's entries are the
/// parent's `0..n` and that one. The parent's `entries` trees are not read: git names a tree
/// by the hash of its rows, so the tip's rows without the new entry name the only `entries`
/// tree the parent may hold (a fresh clone then fetches one `entries` tree, not two).
fn new_entry(
    reader: &mut ObjectReader,
    tip: &Root,
    parent: &Root,
    id_len: usize,
    n: u64,
) -> Result<Oid, String> {
    let dir = n / ENTRIES_PER_DIR;
    let tip_dirs = dirs(reader, tip.entries.as_ref(), id_len, "the tip", dir + 1)?;
    let first = dir * ENTRIES_PER_DIR;
    let mut before = files(
        reader,
        &tip_dirs[dir as usize],
        id_len,
        "the tip",
        first,
        n + 1,
    )?;
    let new = before
        .pop()
        .map(|(_, id)| id)
        .ok_or("it holds no new entry")?;
    // The parent's `entries` as it must be: the tip's directories before the new entry's,
    // and that directory without it (none when the new entry is its first).
    let mut rows = Vec::new();
    for (d, id) in tip_dirs[..dir as usize].iter().enumerate() {
        push_row(&mut rows, "40000", &format!("{d:06}"), id);
    }
    if !before.is_empty() {
        let mut last = Vec::new();
        for (name, id) in &before {
            push_row(&mut last, "100644", name, id);
        }
        let last = tree_id(&last, id_len)?;
        push_row(&mut rows, "40000", &format!("{dir:06}"), &last);
    }
    let expected = tree_id(&rows, id_len)?;
    // A parent without entries holds no `entries` tree (or, written by hand, an empty one).
    let holds = match &parent.entries {
        Some(id) => id == &expected,
        None => rows.is_empty(),
    };
    if !holds {
        return Err(format!(
            "its entries are not its parent's and entry #{n} (entries/{dir:06})"
        ));
    }
    Ok(new)
}

/// Appends a tree row (`<mode> <name>\0<raw id>`) naming `id`.
fn push_row(rows: &mut Vec<u8>, mode: &str, name: &str, id: &Oid) {
    rows.extend_from_slice(mode.as_bytes());
    rows.push(b' ');
    rows.extend_from_slice(name.as_bytes());
    rows.push(0);
    let hex = id.as_str().as_bytes();
    rows.extend(hex.chunks(2).map(|pair| {
        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        digit(pair[0]) << 4 | digit(pair[1])
    }));
}

/// The id git gives a tree of these rows: SHA-1 (20-byte ids) or SHA-256 (32) of
/// `tree <len>\0<rows>`.
fn tree_id(rows: &[u8], id_len: usize) -> Result<Oid, String> {
    use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
    let mut ctx = match id_len {
        20 => Context::new(&SHA1_FOR_LEGACY_USE_ONLY),
        32 => Context::new(&SHA256),
        _ => return Err(format!("object ids of {id_len} bytes")),
    };
    ctx.update(format!("tree {}\0", rows.len()).as_bytes());
    ctx.update(rows);
    let hex: String = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Oid::parse(&hex).ok_or_else(|| "a tree id that does not parse".to_owned())
}

/// The `entries` tree's directories, which must be exactly `000000..count` (all trees).
fn dirs(
    reader: &mut ObjectReader,
    entries: Option<&Oid>,
    id_len: usize,
    who: &str,
    count: u64,
) -> Result<Vec<Oid>, String> {
    let Some(entries) = entries else {
        return match count {
            0 => Ok(Vec::new()),
            _ => Err(format!("{who} holds no entries")),
        };
    };
    let data = tree(reader, entries.as_str(), who)?;
    let mut out = Vec::new();
    for row in TreeRows::new(&data, id_len) {
        let row = row.map_err(|()| format!("{who}'s entries tree is malformed"))?;
        let expected = format!("{:06}", out.len());
        if row.mode != b"40000" || row.name != expected.as_bytes() {
            return Err(format!(
                "{who}'s entries/ holds `{}` where entries/{expected} belongs",
                String::from_utf8_lossy(row.name)
            ));
        }
        out.push(row_oid(&row, who)?);
    }
    if out.len() as u64 != count {
        return Err(format!(
            "{who}'s entries/ holds {} directories, not {count}",
            out.len()
        ));
    }
    Ok(out)
}

/// The files of one `entries/<dir>` tree, which must be exactly entries `first..end`.
fn files(
    reader: &mut ObjectReader,
    dir: &Oid,
    id_len: usize,
    who: &str,
    first: u64,
    end: u64,
) -> Result<Vec<(String, Oid)>, String> {
    let data = tree(reader, dir.as_str(), who)?;
    let mut out = Vec::new();
    for row in TreeRows::new(&data, id_len) {
        let row = row.map_err(|()| format!("{who}'s entries tree is malformed"))?;
        let expected = format!("{:09}.json", first + out.len() as u64);
        if row.mode != b"100644" || row.name != expected.as_bytes() {
            return Err(format!(
                "{who} holds entries/{:06}/{} where entry {expected} belongs",
                first / ENTRIES_PER_DIR,
                String::from_utf8_lossy(row.name)
            ));
        }
        out.push((expected, row_oid(&row, who)?));
    }
    if first + out.len() as u64 != end {
        return Err(format!(
            "{who} holds entries up to #{}, not #{}",
            (first + out.len() as u64).saturating_sub(1),
            end.saturating_sub(1)
        ));
    }
    Ok(out)
}

/// The tip of a log older than `checkpoint.range`: every entry hashed to the signed root.
fn every_entry(
    reader: &mut ObjectReader,
    tip: &Root,
    id_len: usize,
    cp: &Checkpoint,
) -> Result<(), String> {
    let size = cp.size;
    let dirs = dirs(
        reader,
        tip.entries.as_ref(),
        id_len,
        "the tip",
        size.div_ceil(ENTRIES_PER_DIR),
    )?;
    let mut range = CompactRange::default();
    for (d, id) in dirs.iter().enumerate() {
        let first = d as u64 * ENTRIES_PER_DIR;
        let end = (first + ENTRIES_PER_DIR).min(size);
        let ids: Vec<Oid> = files(reader, id, id_len, "the tip", first, end)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        for bytes in reader.blobs(&ids).map_err(|e| format!("{e:#}"))? {
            range.push(leaf_hash(&bytes));
        }
    }
    if range.root() != cp.root {
        return Err("its entries do not hash to its signed root".into());
    }
    Ok(())
}

fn row_oid(row: &TreeRow<'_>, who: &str) -> Result<Oid, String> {
    row.oid()
        .ok_or_else(|| format!("{who}'s tree is malformed"))
}

fn tree(reader: &mut ObjectReader, spec: &str, who: &str) -> Result<Vec<u8>, String> {
    match reader.read(spec) {
        Ok(Some(o)) if o.kind == "tree" => Ok(o.data),
        Ok(Some(o)) => Err(format!("{who} has a {} where a tree belongs", o.kind)),
        Ok(None) => Err(format!("{who}'s tree {spec} is not here")),
        Err(e) => Err(format!("reading {who}'s tree: {e:#}")),
    }
}

fn blob(reader: &mut ObjectReader, id: &Oid, what: &str) -> Result<Vec<u8>, String> {
    match reader.read_bounded(id.as_str(), FILE_LIMIT) {
        Ok(Some(Ok(o))) if o.kind == "blob" => Ok(o.data),
        Ok(Some(Ok(o))) => Err(format!("{what} is a {}, not a file", o.kind)),
        Ok(Some(Err(size))) => Err(format!("{what} is {size} bytes")),
        Ok(None) => Err(format!("{what} ({id}) is not here")),
        Err(e) => Err(format!("reading {what}: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// A repository and a writer of trees by hand (`git mktree`), as an insider writes them.
    struct Repo(tempfile::TempDir);

    impl Repo {
        fn new() -> Repo {
            let dir = tempfile::TempDir::new().unwrap();
            let ok = Command::new("git")
                .args(["init", "-q"])
                .current_dir(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
            Repo(dir)
        }

        fn git(&self, args: &[&str], input: &str) -> Oid {
            let mut child = Command::new("git")
                .args(args)
                .current_dir(self.0.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{args:?}");
            Oid::parse(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
        }

        fn blob(&self, text: &str) -> Oid {
            self.git(&["hash-object", "-w", "--stdin"], text)
        }

        /// A directory of entries `first..end`, each named canonically, all `blob`.
        fn dir(&self, first: u64, end: u64, blob: &Oid) -> Oid {
            let rows: String = (first..end)
                .map(|i| format!("100644 blob {blob}\t{i:09}.json\n"))
                .collect();
            self.git(&["mktree", "--missing"], &rows)
        }

        fn entries(&self, dirs: &[Oid]) -> Oid {
            let rows: String = dirs
                .iter()
                .enumerate()
                .map(|(d, id)| format!("040000 tree {id}\t{d:06}\n"))
                .collect();
            self.git(&["mktree", "--missing"], &rows)
        }

        fn reader(&self) -> ObjectReader {
            crate::git::Git::open(self.0.path())
                .unwrap()
                .object_reader()
                .unwrap()
        }
    }

    fn root(entries: Option<Oid>) -> Root {
        Root {
            entries,
            ..Root::default()
        }
    }

    /// `new_entry` of a tip holding `tip` (directories) over a parent holding `parent`.
    fn check(r: &Repo, tip: &[Oid], parent: Option<Oid>, n: u64) -> Result<Oid, String> {
        let tip = root(Some(r.entries(tip)));
        new_entry(&mut r.reader(), &tip, &root(parent), 20, n)
    }

    #[test]
    fn the_parent_entries_are_recomputed_from_the_tip_and_never_read() {
        let r = Repo::new();
        let (old, new) = (r.blob("old\n"), r.blob("new\n"));
        // Mid-directory: entry #1500 appended to entries/000001. The parent's trees are
        // written in another repository only: never read, they need not be here (a fresh
        // clone never fetches them); their id is what is compared.
        let full = r.dir(0, 1000, &old);
        let rows: String = (1000..1501)
            .map(|i| {
                let b = if i == 1500 { &new } else { &old };
                format!("100644 blob {b}\t{i:09}.json\n")
            })
            .collect();
        let tip_last = r.git(&["mktree", "--missing"], &rows);
        let elsewhere = Repo::new();
        let parent = elsewhere.entries(&[
            elsewhere.dir(0, 1000, &old),
            elsewhere.dir(1000, 1500, &old),
        ]);
        assert!(r.reader().read(parent.as_str()).unwrap().is_none());
        assert_eq!(
            check(&r, &[full.clone(), tip_last.clone()], Some(parent), 1500),
            Ok(new.clone())
        );
        // An entry before it changed in the tip's `d` (or the new one put before the last).
        let changed = elsewhere.entries(&[
            elsewhere.dir(0, 1000, &old),
            elsewhere.dir(1000, 1500, &new),
        ]);
        assert!(check(&r, &[full.clone(), tip_last], Some(changed), 1500).is_err());

        // The first entry of a directory: the parent holds no `d` at all.
        let tip_first = r.dir(1000, 1001, &new);
        assert_eq!(
            check(
                &r,
                &[full.clone(), tip_first.clone()],
                Some(r.entries(std::slice::from_ref(&full))),
                1000
            ),
            Ok(new.clone())
        );
        // Hostile parents (any other tree than the recomputed one): an empty `d` beside,
        // an earlier directory changed, one entry fewer in `d`, or no `entries` at all.
        let other = r.dir(0, 1000, &new);
        let fewer = r.dir(0, 999, &old);
        let empty = r.git(&["mktree", "--missing"], "");
        for (why, parent) in [
            (
                "an empty d",
                Some(r.entries(&[full.clone(), empty.clone()])),
            ),
            ("another 000000", Some(r.entries(&[other]))),
            ("one entry fewer in 000000", Some(r.entries(&[fewer]))),
            ("no entries", None),
        ] {
            let got = check(&r, &[full.clone(), tip_first.clone()], parent, 1000);
            assert!(
                got.as_ref().is_err_and(|e| e.contains("not its parent's")),
                "{why}: {got:?}"
            );
        }
        // The first entry of the log: the parent holds no entries (or an empty tree).
        let first = r.dir(0, 1, &new);
        assert_eq!(
            check(&r, std::slice::from_ref(&first), None, 0),
            Ok(new.clone())
        );
        assert_eq!(
            check(&r, std::slice::from_ref(&first), Some(empty), 0),
            Ok(new.clone())
        );
        assert!(check(&r, &[first], Some(r.entries(&[full])), 0).is_err());
    }
}
