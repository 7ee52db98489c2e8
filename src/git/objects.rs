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
        let depth = paths.iter().map(|p| p.matches('/').count()).max();
        for level in 0..=depth.unwrap_or(0) {
            let mut wanted: Vec<(&str, Oid)> = Vec::new();
            let mut queued = std::collections::HashSet::new();
            for path in paths {
                // The directory `level` steps down on the way to `path` ("" is the root).
                let dir = match level {
                    0 => "",
                    _ => match path.match_indices('/').nth(level - 1) {
                        Some((i, _)) => &path[..i],
                        None => continue,
                    },
                };
                if self.dirs.contains_key(dir) || !queued.insert(dir) {
                    continue;
                }
                let id = match level {
                    0 => Some(self.root.clone()),
                    _ => self.lookup(dir)?,
                };
                if let Some(id) = id {
                    wanted.push((dir, id));
                }
            }
            let specs: Vec<String> = wanted
                .iter()
                .map(|(d, id)| match d.is_empty() {
                    // The root may be a commit's id: `^{tree}` peels it (a tree stays a tree).
                    true => format!("{id}^{{tree}}"),
                    false => id.as_str().to_owned(),
                })
                .collect();
            for ((dir, _), object) in wanted.into_iter().zip(reader.read_many(&specs)?) {
                let rows = match object {
                    Some(o) if o.kind == "tree" => o.data,
                    // Not a tree: nothing resolves under it, as git's lookup would say.
                    _ => Vec::new(),
                };
                self.dirs.insert(dir.to_owned(), rows);
            }
        }
        paths.iter().map(|p| self.lookup(p)).collect()
    }

    /// The id of `path` from the trees read so far (`None`: not there, or its directory
    /// not read); an error when a tree on the way is malformed.
    fn lookup(&self, path: &str) -> Result<Option<Oid>> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(mut data) = self.dirs.get(dir).map(Vec::as_slice) else {
            return Ok(None);
        };
        let malformed = || anyhow::anyhow!("the tree at `{dir}` on the audit branch is malformed");
        while !data.is_empty() {
            let space = data.iter().position(|b| *b == b' ').ok_or_else(malformed)?;
            let nul = data.iter().position(|b| *b == 0).ok_or_else(malformed)?;
            if nul < space || data.len() < nul + 1 + self.id_len {
                return Err(malformed());
            }
            if &data[space + 1..nul] == name.as_bytes() {
                let id = &data[nul + 1..nul + 1 + self.id_len];
                return Oid::parse(&hex(id)).ok_or_else(malformed).map(Some);
            }
            data = &data[nul + 1 + self.id_len..];
        }
        Ok(None)
    }
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
}
