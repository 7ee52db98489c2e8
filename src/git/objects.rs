//! Objects read through one `git cat-file --batch` process, and `git ls-tree` rows.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout};

use anyhow::{Context, Result, bail};

use crate::types::Oid;

/// A reader of objects by id or `rev:path` through one `git cat-file --batch`.
pub struct ObjectReader {
    pub(super) child: Child,
    pub(super) stdin: BufWriter<ChildStdin>,
    pub(super) stdout: BufReader<ChildStdout>,
}

/// An object as `cat-file` returned it.
#[derive(Debug)]
pub struct Object {
    pub oid: Oid,
    pub kind: String,
    pub data: Vec<u8>,
}

impl ObjectReader {
    /// Reads one object (`<oid>` or `<rev>:<path>`); `None` when it does not exist.
    pub fn read(&mut self, spec: &str) -> Result<Option<Object>> {
        if spec.contains('\n') {
            bail!("object name contains a newline");
        }
        self.stdin.write_all(spec.as_bytes())?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        read_answer(&mut self.stdout)
    }

    /// [`ObjectReader::read`], but an object larger than `limit` bytes is skipped unread
    /// (streamed past, never held in memory) and answered as `Err(size)`.
    pub fn read_bounded(&mut self, spec: &str, limit: u64) -> Result<Option<Result<Object, u64>>> {
        if spec.contains('\n') {
            bail!("object name contains a newline");
        }
        self.stdin.write_all(spec.as_bytes())?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        read_answer_bounded(&mut self.stdout, limit)
    }

    /// [`ObjectReader::read`] for many objects, answers in order. A second thread writes the
    /// requests while this one reads the answers: one round trip per object would cost more
    /// than git's work on a long audit log.
    pub fn read_many<S: AsRef<str> + Sync>(&mut self, specs: &[S]) -> Result<Vec<Option<Object>>> {
        self.read_many_bounded(specs, u64::MAX)?
            .into_iter()
            .map(|o| match o {
                None => Ok(None),
                Some(Ok(object)) => Ok(Some(object)),
                Some(Err(size)) => bail!("`git cat-file` announced an object of {size} bytes"),
            })
            .collect()
    }

    /// [`ObjectReader::read_many`], but each object larger than `limit` bytes is streamed
    /// past unread and answered as `Err(size)`, as [`ObjectReader::read_bounded`] does.
    pub fn read_many_bounded<S: AsRef<str> + Sync>(
        &mut self,
        specs: &[S],
        limit: u64,
    ) -> Result<Vec<Option<Result<Object, u64>>>> {
        if specs.iter().any(|s| s.as_ref().contains('\n')) {
            bail!("object name contains a newline");
        }
        let ObjectReader {
            child,
            stdin,
            stdout,
        } = self;
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> std::io::Result<()> {
                for spec in specs {
                    stdin.write_all(spec.as_ref().as_bytes())?;
                    stdin.write_all(b"\n")?;
                }
                stdin.flush()
            });
            let answers: Result<Vec<_>> = specs
                .iter()
                .map(|_| read_answer_bounded(stdout, limit))
                .collect();
            if answers.is_err() {
                // Unblocks the writer if git stopped reading; this reader is unusable anyway.
                let _ = child.kill();
            }
            let written = writer.join();
            let answers = answers?;
            match written {
                Ok(Ok(())) => Ok(answers),
                Ok(Err(e)) => Err(e).context("writing to `git cat-file`"),
                Err(_) => bail!("the thread writing to `git cat-file` panicked"),
            }
        })
    }

    /// Reads blobs' bytes by id, in order (pipelined as [`ObjectReader::read_many`]).
    pub fn blobs(&mut self, oids: &[Oid]) -> Result<Vec<Vec<u8>>> {
        let specs: Vec<&str> = oids.iter().map(Oid::as_str).collect();
        self.read_many(&specs)?
            .into_iter()
            .zip(oids)
            .map(|(o, oid)| into_blob(o, oid))
            .collect()
    }

    /// Reads a blob's bytes by id.
    pub fn blob(&mut self, oid: &Oid) -> Result<Vec<u8>> {
        into_blob(self.read(oid.as_str())?, oid)
    }
}

/// Paths under one tree resolved to object ids, each tree on the way read once and kept.
///
/// `cat-file --batch` re-reads every tree on the way for each `<rev>:<path>` it is asked,
/// so a thousand entries of one `entries/<dir>` (a tree of a thousand rows) cost a thousand
/// reads of that tree: reading each tree once and the blobs by id costs one. The ids are
/// the same ones git's own lookup finds (the same trees, read the same way), so nothing is
/// believed that the path lookup would not have given.
pub struct Trees {
    /// Every tree read so far, by its path from the root ("" is the root): its raw rows
    /// (scanned per lookup: cheaper than indexing rows of which few are wanted).
    dirs: HashMap<String, Vec<u8>>,
    /// The bytes of an id in a tree row: 20 (SHA-1) or 32 (SHA-256), as the root's id.
    id_len: usize,
    root: Oid,
}

impl Trees {
    /// The trees under `root` (a tree, or a commit: its tree), none read yet.
    pub fn new(root: &Oid) -> Trees {
        Trees {
            dirs: HashMap::new(),
            id_len: root.as_str().len() / 2,
            root: root.clone(),
        }
    }

    /// The id of each path (`None`: no such path, or a tree on the way is not a tree). The
    /// trees not read yet are read level by level, each level in one pipelined batch.
    pub fn resolve_many(
        &mut self,
        reader: &mut ObjectReader,
        paths: &[&str],
    ) -> Result<Vec<Option<Oid>>> {
        let mut sets = [(self, paths)];
        let mut found = Trees::resolve_together(reader, &mut sets, &mut |_, _| Ok(()))?;
        Ok(found.pop().unwrap_or_default())
    }

    /// [`Trees::resolve_many`] for several roots at once (a commit and its parent, say),
    /// calling `bring` before each level with the ids about to be read: that level's trees,
    /// and the paths' own ids of the level above (files, mostly), known by then (and once
    /// more after the last level, with the deepest ones). A partial clone fetches them
    /// there, a request per level, before anything reads them. A path ending in `/` names
    /// its directory: its tree is read, nothing under it is brought.
    pub fn resolve_together(
        reader: &mut ObjectReader,
        sets: &mut [(&mut Trees, &[&str])],
        bring: &mut Bring<'_>,
    ) -> Result<Vec<Vec<Option<Oid>>>> {
        let depth = sets
            .iter()
            .flat_map(|(_, paths)| paths.iter().map(|p| p.matches('/').count()))
            .max()
            .unwrap_or(0);
        for level in 0..=depth + 1 {
            let mut wanted: Vec<(usize, &str, Oid)> = Vec::new();
            let mut known: Vec<Oid> = Vec::new();
            for (set, (trees, paths)) in sets.iter().enumerate() {
                let mut queued = std::collections::HashSet::new();
                for path in paths.iter().copied() {
                    // A path of `level - 1` slashes: its own id is known now.
                    if level > 0 && path.matches('/').count() == level - 1 && !path.ends_with('/') {
                        known.extend(trees.lookup(path)?);
                    }
                    if level > depth {
                        continue;
                    }
                    // The directory `level` steps down on the way to `path` ("" is the root).
                    let dir = match level {
                        0 => "",
                        _ => match path.match_indices('/').nth(level - 1) {
                            Some((i, _)) => &path[..i],
                            None => continue,
                        },
                    };
                    if trees.dirs.contains_key(dir) || !queued.insert(dir) {
                        continue;
                    }
                    let id = match level {
                        0 => Some(trees.root.clone()),
                        _ => trees.lookup(dir)?,
                    };
                    if let Some(id) = id {
                        wanted.push((set, dir, id));
                    }
                }
            }
            let dirs: Vec<Oid> = wanted.iter().map(|(_, _, id)| id.clone()).collect();
            if !dirs.is_empty() || !known.is_empty() {
                bring(&dirs, &known)?;
            }
            let specs: Vec<String> = wanted
                .iter()
                .map(|(_, d, id)| match d.is_empty() {
                    // The root may be a commit's id: `^{tree}` peels it (a tree stays a tree).
                    true => format!("{id}^{{tree}}"),
                    false => id.as_str().to_owned(),
                })
                .collect();
            let read = reader.read_many(&specs)?;
            for ((set, dir, _), object) in wanted.into_iter().zip(read) {
                let rows = match object {
                    Some(o) if o.kind == "tree" => o.data,
                    // Not a tree: nothing resolves under it, as git's lookup would say.
                    _ => Vec::new(),
                };
                let dir = dir.to_owned();
                sets[set].0.dirs.insert(dir, rows);
            }
        }
        sets.iter()
            .map(|(trees, paths)| paths.iter().map(|p| trees.lookup(p)).collect())
            .collect()
    }

    /// The name of the last row of directory `dir` as read (`None`: not read, empty, or
    /// not a tree).
    pub fn last_name(&self, dir: &str) -> Result<Option<String>> {
        let Some(data) = self.dirs.get(dir) else {
            return Ok(None);
        };
        let mut last = None;
        for row in TreeRows::new(data, self.id_len) {
            let row = row.map_err(|()| {
                anyhow::anyhow!("the tree at `{dir}` on the audit branch is malformed")
            })?;
            last = Some(row.name);
        }
        Ok(last.map(|n| String::from_utf8_lossy(n).into_owned()))
    }

    /// The id of `path` from the trees read so far (`None`: not there, or its directory
    /// not read); an error when a tree on the way is malformed.
    fn lookup(&self, path: &str) -> Result<Option<Oid>> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(data) = self.dirs.get(dir) else {
            return Ok(None);
        };
        let malformed = || anyhow::anyhow!("the tree at `{dir}` on the audit branch is malformed");
        for row in TreeRows::new(data, self.id_len) {
            let row = row.map_err(|()| malformed())?;
            if row.name == name.as_bytes() {
                return row.oid().ok_or_else(malformed).map(Some);
            }
        }
        Ok(None)
    }
}

/// What [`Trees::resolve_together`] calls before each level: with the trees about to be read
/// and the ids of the paths just resolved.
pub type Bring<'a> = dyn FnMut(&[Oid], &[Oid]) -> Result<()> + 'a;

/// One row of a raw tree object (as `cat-file --batch` returns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow<'a> {
    /// The octal mode as written (`100644`, `40000`, …).
    pub mode: &'a [u8],
    pub name: &'a [u8],
    /// The raw id bytes (20 for SHA-1, 32 for SHA-256).
    pub id: &'a [u8],
}

impl TreeRow<'_> {
    /// The row's id as an [`Oid`].
    pub fn oid(&self) -> Option<Oid> {
        Oid::parse(&hex(self.id))
    }
}

/// The rows of a raw tree object, in order; an `Err(())` item (and nothing after it) when
/// the tree is malformed. `id_len` is 20 for SHA-1 repositories, 32 for SHA-256.
pub struct TreeRows<'a> {
    data: &'a [u8],
    id_len: usize,
}

impl<'a> TreeRows<'a> {
    pub fn new(data: &'a [u8], id_len: usize) -> Self {
        TreeRows { data, id_len }
    }
}

impl<'a> Iterator for TreeRows<'a> {
    type Item = Result<TreeRow<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        if data.is_empty() {
            return None;
        }
        let row = (|| {
            let space = data.iter().position(|b| *b == b' ')?;
            let nul = data.iter().position(|b| *b == 0)?;
            if nul < space || data.len() < nul + 1 + self.id_len {
                return None;
            }
            Some((
                TreeRow {
                    mode: &data[..space],
                    name: &data[space + 1..nul],
                    id: &data[nul + 1..nul + 1 + self.id_len],
                },
                nul + 1 + self.id_len,
            ))
        })();
        match row {
            Some((row, used)) => {
                self.data = &data[used..];
                Some(Ok(row))
            }
            None => {
                self.data = &[];
                Some(Err(()))
            }
        }
    }
}

/// The files of the tree of `commit` (a commit or a tree), as `git ls-tree -r` lists them
/// (same rows, same order; no rows for trees), but only inside the directories `descend`
/// admits: a directory it refuses (given its path from the root, `/`-separated, no trailing
/// slash) is neither read nor listed. The root is always read. Trees are read by id through
/// `reader`, one pipelined batch per level, so a repository whose prompts sit in a few
/// directories beside a large tree of other files costs those directories only.
///
/// An error, never a shorter listing, when a tree it reads is missing, is not a tree, or is
/// malformed: what `git ls-tree -r` would refuse.
pub fn list_within(
    reader: &mut ObjectReader,
    commit: &Oid,
    mut descend: impl FnMut(&[u8]) -> bool,
) -> Result<Vec<TreeEntry>> {
    let id_len = commit.as_str().len() / 2;
    // Each read directory's rows, by its path ("" is the root).
    let mut dirs: HashMap<Vec<u8>, Vec<Row>> = HashMap::new();
    let mut level: Vec<(Vec<u8>, String)> = vec![(Vec::new(), format!("{commit}^{{tree}}"))];
    while !level.is_empty() {
        let specs: Vec<&str> = level.iter().map(|(_, spec)| spec.as_str()).collect();
        let objects = reader.read_many(&specs)?;
        let mut next = Vec::new();
        for ((dir, spec), object) in level.iter().zip(objects) {
            let shown = String::from_utf8_lossy(dir);
            let data = match object {
                Some(o) if o.kind == "tree" => o.data,
                Some(o) => bail!("`{shown}` at {commit} is a {}, not a tree ({spec})", o.kind),
                None => bail!("the tree `{shown}` at {commit} is missing ({spec})"),
            };
            let malformed = || anyhow::anyhow!("the tree `{shown}` at {commit} is malformed");
            let mut listed = Vec::new();
            for row in TreeRows::new(&data, id_len) {
                let TreeRow { mode, name, id } = row.map_err(|()| malformed())?;
                let mode = std::str::from_utf8(mode)
                    .ok()
                    .and_then(|m| u32::from_str_radix(m, 8).ok())
                    .ok_or_else(malformed)?;
                let oid = Oid::parse(&hex(id)).ok_or_else(malformed)?;
                let mut path = dir.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name);
                if mode & 0o170000 == 0o040000 && descend(&path) {
                    next.push((path.clone(), oid.as_str().to_owned()));
                }
                listed.push(Row { mode, oid, path });
            }
            // Two rows naming one directory (fsck refuses such trees) would list one of them.
            if dirs.insert(dir.clone(), listed).is_some() {
                bail!("the tree at {commit} names the directory `{shown}` twice");
            }
        }
        level = next;
    }
    // Depth first in each tree's order, as `ls-tree -r` prints: a directory's files where
    // the directory stands.
    let mut out = Vec::new();
    let mut stack: Vec<std::vec::IntoIter<Row>> = Vec::new();
    stack.extend(dirs.remove(&Vec::new()).map(Vec::into_iter));
    while let Some(top) = stack.last_mut() {
        let Some(row) = top.next() else {
            stack.pop();
            continue;
        };
        let kind = match row.mode & 0o170000 {
            0o040000 => {
                if let Some(below) = dirs.remove(&row.path) {
                    stack.push(below.into_iter());
                }
                continue;
            }
            0o160000 => "commit",
            _ => "blob",
        };
        out.push(TreeEntry {
            mode: row.mode,
            kind: kind.to_owned(),
            oid: row.oid,
            path: row.path,
        });
    }
    Ok(out)
}

/// A row of a tree read by [`list_within`], its path from the root.
struct Row {
    mode: u32,
    oid: Oid,
    path: Vec<u8>,
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

fn into_blob(object: Option<Object>, oid: &Oid) -> Result<Vec<u8>> {
    match object {
        Some(o) if o.kind == "blob" => Ok(o.data),
        Some(o) => bail!("object {oid} is a {}, not a blob", o.kind),
        None => bail!("object {oid} is missing from the repository"),
    }
}

/// Reads one answer of `git cat-file --batch`: a header line, then the object's bytes.
fn read_answer(stdout: &mut impl BufRead) -> Result<Option<Object>> {
    match read_answer_bounded(stdout, u64::MAX)? {
        None => Ok(None),
        Some(Ok(object)) => Ok(Some(object)),
        Some(Err(size)) => bail!("`git cat-file` announced an object of {size} bytes"),
    }
}

fn read_answer_bounded(
    stdout: &mut impl BufRead,
    limit: u64,
) -> Result<Option<Result<Object, u64>>> {
    let mut header = String::new();
    stdout.read_line(&mut header)?;
    let header = header.trim_end();
    if header.ends_with(" missing") || header.ends_with(" ambiguous") || header.is_empty() {
        return Ok(None);
    }
    let mut parts = header.split(' ');
    let (Some(oid), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("unexpected `git cat-file` header: {header}");
    };
    let size: u64 = size.parse().context("bad object size from git cat-file")?;
    if size > limit {
        // Keep the stream in step without holding the object: read past it and its newline.
        let mut object = std::io::Read::take(&mut *stdout, size + 1);
        let skipped = std::io::copy(&mut object, &mut std::io::sink())?;
        if skipped != size + 1 {
            bail!("`git cat-file` ended inside an object");
        }
        return Ok(Some(Err(size)));
    }
    let size = usize::try_from(size).context("object too large for this platform")?;
    let mut data = vec![0; size + 1];
    stdout.read_exact(&mut data)?;
    data.pop(); // the trailing newline
    Ok(Some(Ok(Object {
        oid: Oid::parse(oid).context("bad object id from git cat-file")?,
        kind: kind.to_owned(),
        data,
    })))
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        let _ = self.stdin.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of `git ls-tree`.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub mode: u32,
    pub kind: String,
    pub oid: Oid,
    pub path: Vec<u8>,
}

pub(super) fn parse_tree_line(line: &[u8]) -> Result<TreeEntry> {
    let tab = line
        .iter()
        .position(|b| *b == b'\t')
        .context("bad ls-tree line")?;
    let meta = std::str::from_utf8(&line[..tab])?;
    let mut it = meta.split(' ');
    let (Some(mode), Some(kind), Some(oid)) = (it.next(), it.next(), it.next()) else {
        bail!("bad ls-tree line: {meta}");
    };
    Ok(TreeEntry {
        mode: u32::from_str_radix(mode, 8)?,
        kind: kind.to_owned(),
        oid: Oid::parse(oid).context("bad object id in ls-tree")?,
        path: line[tab + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Git;

    /// A commit with `a.txt`, `d/b.txt`, `d/e/c.txt` and a file `f` (not a tree).
    fn repo() -> (tempfile::TempDir, Git, Oid) {
        let dir = tempfile::TempDir::new().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        run(&["init", "-q"]);
        std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
        for (p, body) in [
            ("a.txt", "a"),
            ("d/b.txt", "b"),
            ("d/e/c.txt", "c"),
            ("f", "f"),
        ] {
            std::fs::write(dir.path().join(p), body).unwrap();
        }
        run(&["add", "."]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        let tip = Oid::parse(run(&["rev-parse", "HEAD"]).trim()).unwrap();
        let git = Git::open(dir.path()).unwrap();
        (dir, git, tip)
    }

    #[test]
    fn trees_resolve_paths_as_git_does() {
        let (_dir, git, tip) = repo();
        let mut reader = git.object_reader().unwrap();
        let paths = [
            "d/e/c.txt",
            "a.txt",
            "d/b.txt",
            "d/nope",
            "f/under",
            "x/y/z",
            "d",
        ];
        let got = Trees::new(&tip).resolve_many(&mut reader, &paths).unwrap();
        for (path, id) in paths.iter().zip(got) {
            // What `cat-file` answers for `<commit>:<path>` is what the trees gave.
            let want = reader
                .read(&format!("{tip}:{path}"))
                .unwrap()
                .map(|o| o.oid);
            assert_eq!(id, want, "{path}");
        }
        // Asked again, from the trees already read, the answers are the same.
        let mut trees = Trees::new(&tip);
        let first = trees.resolve_many(&mut reader, &["d/e/c.txt"]).unwrap();
        let again = trees.resolve_many(&mut reader, &["d/e/c.txt"]).unwrap();
        assert_eq!(first, again);
        assert_eq!(reader.blob(first[0].as_ref().unwrap()).unwrap(), b"c");
    }

    #[test]
    fn a_malformed_tree_is_an_error_not_a_miss() {
        let mut trees = Trees::new(&Oid::parse(&"1".repeat(40)).unwrap());
        trees
            .dirs
            .insert(String::new(), b"100644 a.txt\0short".to_vec());
        assert!(trees.lookup("a.txt").is_err());
        trees.dirs.insert(String::new(), b"no nul here".to_vec());
        assert!(trees.lookup("a.txt").is_err());
    }

    /// Runs git in `dir` (input on stdin when given) and returns its stdout.
    fn git_io(dir: &std::path::Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.unwrap_or_default()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}");
        out.stdout
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap().trim_end().to_owned()
    }

    /// The rows as comparable tuples.
    fn rows_of(entries: &[TreeEntry]) -> Vec<(u32, String, String, Vec<u8>)> {
        entries
            .iter()
            .map(|e| (e.mode, e.kind.clone(), e.oid.to_string(), e.path.clone()))
            .collect()
    }

    /// `repo()` plus names that sort around a directory (`d.x` before `d/`), a symbolic
    /// link, a submodule (gitlink) and a deeper tree.
    fn richer_repo() -> (tempfile::TempDir, Git, Oid) {
        let (dir, git, _) = repo();
        let p = dir.path();
        std::fs::write(p.join("d.x"), "dx").unwrap();
        std::fs::create_dir_all(p.join("z/y/x")).unwrap();
        std::fs::write(p.join("z/y/x/w.md"), "w").unwrap();
        std::os::unix::fs::symlink("d", p.join("l")).unwrap();
        git_io(p, &["add", "."], None);
        let sub = format!("160000,{},sub", "ab".repeat(20));
        git_io(p, &["update-index", "--add", "--cacheinfo", &sub], None);
        let args = [
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "y",
        ];
        git_io(p, &args, None);
        let tip = Oid::parse(&text(git_io(p, &["rev-parse", "HEAD"], None))).unwrap();
        (dir, git, tip)
    }

    #[test]
    fn listing_within_every_directory_is_ls_tree_r() {
        let (_dir, git, tip) = richer_repo();
        let got = list_within(&mut git.object_reader().unwrap(), &tip, |_| true).unwrap();
        let want = git.ls_tree(tip.as_str(), true).unwrap();
        assert_eq!(rows_of(&got), rows_of(&want));
        assert!(got.iter().any(|e| e.kind == "commit" && e.path == b"sub"));
        assert!(
            got.iter()
                .any(|e| e.mode == crate::git::MODE_SYMLINK && e.path == b"l")
        );
    }

    #[test]
    fn a_refused_directory_is_neither_read_nor_listed() {
        let (dir, git, tip) = richer_repo();
        let mut reader = git.object_reader().unwrap();
        // A root tree naming a `vendor` directory whose tree this repository does not have.
        let mut rows = text(git_io(dir.path(), &["ls-tree", tip.as_str()], None));
        rows.push_str(&format!("\n040000 tree {}\tvendor\n", "cd".repeat(20)));
        let args = ["mktree", "--missing"];
        let root = text(git_io(dir.path(), &args, Some(rows.as_bytes())));
        let root = Oid::parse(&root).unwrap();
        assert!(git.ls_tree(root.as_str(), true).is_err(), "git reads it");
        let mut asked = Vec::new();
        let got = list_within(&mut reader, &root, |d| {
            asked.push(d.to_vec());
            !d.starts_with(b"vendor") && !d.starts_with(b"z/")
        })
        .unwrap();
        let want: Vec<_> = rows_of(&git.ls_tree(tip.as_str(), true).unwrap())
            .into_iter()
            .filter(|r| !r.3.starts_with(b"z/"))
            .collect();
        assert_eq!(rows_of(&got), want);
        // Each directory is asked about once, and nothing below a refused one.
        asked.sort();
        let names: Vec<&[u8]> = vec![b"d", b"d/e", b"vendor", b"z", b"z/y"];
        assert_eq!(asked, names);
        // Admitted, the missing tree is an error, not a shorter listing.
        let err = list_within(&mut reader, &root, |_| true).unwrap_err();
        assert!(format!("{err:#}").contains("`vendor`"), "{err:#}");
    }

    #[test]
    fn duplicate_or_malformed_or_mistyped_trees_are_errors() {
        let (dir, git, tip) = repo();
        let mut reader = git.object_reader().unwrap();
        let id = |spec: &str| text(git_io(dir.path(), &["rev-parse", spec], None));
        let raw = |hex: &str| -> Vec<u8> {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        };
        let write = |data: &[u8]| {
            let args = ["hash-object", "-t", "tree", "--literally", "-w", "--stdin"];
            Oid::parse(&text(git_io(dir.path(), &args, Some(data)))).unwrap()
        };
        let d = raw(&id(&format!("{tip}:d")));
        let a = raw(&id(&format!("{tip}:a.txt")));
        let row = |mode: &str, name: &str, id: &[u8]| {
            [format!("{mode} {name}\0").as_bytes(), id].concat()
        };
        let twice = write(&[row("40000", "d", &d), row("40000", "d", &d)].concat());
        let short = write(b"100644 a.txt\0short");
        let mistyped = write(&row("40000", "x", &a));
        let bad_mode = write(&row("10x644", "a.txt", &a));
        for (tree, says) in [
            (twice, "twice"),
            (short, "malformed"),
            (mistyped.clone(), "not a tree"),
            (bad_mode, "malformed"),
        ] {
            let err = list_within(&mut reader, &tree, |_| true).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{says}: {err:#}");
        }
        // Refused, the mistyped directory is not read.
        let got = list_within(&mut reader, &mistyped, |_| false).unwrap();
        assert!(got.is_empty(), "{:?}", rows_of(&got));
    }

    #[test]
    fn prompt_directories_list_every_file_the_globs_select() {
        use crate::config::{GlobPattern, PositiveSize, PromptsConfig};
        use crate::prompt::PromptMatcher;
        let (_dir, git, tip) = richer_repo();
        let mut reader = git.object_reader().unwrap();
        let full = git.ls_tree(tip.as_str(), true).unwrap();
        for include in [
            &["d/**"][..],
            &["**/*.md"],
            &["*/e/*.txt"],
            &["z/y/x/w.md", "a.txt"],
            &["{d,z}/**"],
            &["[dz]/**"],
            &["l/*"],
        ] {
            let matcher = PromptMatcher::new(&PromptsConfig {
                include: include.iter().map(|s| GlobPattern((*s).into())).collect(),
                exclude: Vec::new(),
                max_bytes: PositiveSize(10),
            })
            .unwrap();
            let within = list_within(&mut reader, &tip, |d| {
                matcher.may_contain(&String::from_utf8_lossy(d))
            })
            .unwrap();
            let selected = |rows: &[TreeEntry]| -> Vec<Vec<u8>> {
                rows.iter()
                    .filter(|e| matcher.matches(&e.path))
                    .map(|e| e.path.clone())
                    .collect()
            };
            assert_eq!(selected(&within), selected(&full), "{include:?}");
            let paths =
                |rows: &[TreeEntry]| rows.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
            assert_eq!(
                matcher.unmatched_patterns(paths(&within).iter().map(Vec::as_slice)),
                matcher.unmatched_patterns(paths(&full).iter().map(Vec::as_slice)),
                "{include:?}"
            );
        }
    }
}
