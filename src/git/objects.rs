//! Objects read through one `git cat-file --batch` process, and `git ls-tree` rows.

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
            let answers: Result<Vec<_>> = specs.iter().map(|_| read_answer(stdout)).collect();
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
