//! Objects read through one `git cat-file --batch` process, and `git ls-tree` rows.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
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
        let mut header = String::new();
        self.stdout.read_line(&mut header)?;
        let header = header.trim_end();
        if header.ends_with(" missing") || header.ends_with(" ambiguous") || header.is_empty() {
            return Ok(None);
        }
        let mut parts = header.split(' ');
        let (Some(oid), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("unexpected `git cat-file` header: {header}");
        };
        let size: usize = size.parse().context("bad object size from git cat-file")?;
        let mut data = vec![0; size + 1];
        self.stdout.read_exact(&mut data)?;
        data.pop(); // the trailing newline
        Ok(Some(Object {
            oid: Oid::parse(oid).context("bad object id from git cat-file")?,
            kind: kind.to_owned(),
            data,
        }))
    }

    /// Reads a blob's bytes by id.
    pub fn blob(&mut self, oid: &Oid) -> Result<Vec<u8>> {
        match self.read(oid.as_str())? {
            Some(o) if o.kind == "blob" => Ok(o.data),
            Some(o) => bail!("object {oid} is a {}, not a blob", o.kind),
            None => bail!("object {oid} is missing from the repository"),
        }
    }
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
