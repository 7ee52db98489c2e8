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
//! proves from every entry (PT007, PT010) and this check proves from three trees and one
//! entry whatever the log's length.
//!
//! What is compared: the root trees hold only the layout's files (`promptrail.json`
//! unchanged from the parent, `checkpoint`, `checkpoint.range`, `entries/`, `state/`), and
//! the tip keeps the parent's `checkpoint.range` and `state/` (and holds `state/` when its
//! checkpoint binds one); the
//! `entries` trees name the directories `000000..=d` in order and differ only in `d`, the
//! new entry's; the tip's `d` holds the parent's `d` (its canonical names) and the new entry
//! last; the parent's `checkpoint.range` has the parent checkpoint's size and root, and with
//! the new entry's leaf pushed has the tip checkpoint's. A parent without `checkpoint.range`
//! (a log older than it) is checked once from every entry of the tip instead.

use crate::checkpoint::Checkpoint;
use crate::git::{ObjectReader, TreeRow, TreeRows};
use crate::layout::{CHECKPOINT_FILE, ENTRIES_PER_DIR, META_FILE, RANGE_FILE};
use crate::merkle::{CompactRange, leaf_hash};
use crate::types::Oid;

/// The largest entry or checkpoint file read.
const FILE_LIMIT: u64 = 1 << 24;

/// Checks that `tip` (whose checkpoint is `cp`) is its parent `parent` (`None`: `tip` is a
/// root commit) plus exactly the entry the checkpoint signed; see the module docs. `Err`
/// says what differs. Reads three trees, a few small files and one entry.
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
/// parent's `0..n` and that one.
fn new_entry(
    reader: &mut ObjectReader,
    tip: &Root,
    parent: &Root,
    id_len: usize,
    n: u64,
) -> Result<Oid, String> {
    let dir = n / ENTRIES_PER_DIR;
    let tip_dirs = dirs(reader, tip.entries.as_ref(), id_len, "the tip", dir + 1)?;
    let parent_dirs = dirs(
        reader,
        parent.entries.as_ref(),
        id_len,
        "its parent",
        n.div_ceil(ENTRIES_PER_DIR),
    )?;
    // Every directory before the new entry's is the parent's, unchanged.
    if tip_dirs[..dir as usize] != parent_dirs[..dir as usize] {
        return Err("its entries before the last directory are not its parent's".into());
    }
    let first = dir * ENTRIES_PER_DIR;
    let before: Vec<(String, Oid)> = match parent_dirs.get(dir as usize) {
        Some(id) => files(reader, id, id_len, "its parent", first, n)?,
        None => Vec::new(),
    };
    let mut after = files(
        reader,
        &tip_dirs[dir as usize],
        id_len,
        "the tip",
        first,
        n + 1,
    )?;
    let new = after
        .pop()
        .map(|(_, id)| id)
        .ok_or("it holds no new entry")?;
    if after != before {
        return Err(format!(
            "its entries in entries/{dir:06} are not its parent's and entry #{n}"
        ));
    }
    Ok(new)
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
