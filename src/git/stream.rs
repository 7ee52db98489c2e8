//! Parsing the `git log --raw -z` stream into commits and their changes.

use anyhow::{Context, Result, bail};

use super::find;
use crate::types::Oid;

/// One commit of the history stream, as git printed it.
#[derive(Debug, Clone)]
pub struct RawCommit {
    pub oid: Oid,
    pub parents: Vec<Oid>,
    pub author_name: String,
    pub author_email: String,
    pub author_date: String,
    pub committer_name: String,
    pub committer_email: String,
    pub committer_date: String,
    /// `Co-authored-by` trailer values, as written (`Name <email>`).
    pub coauthors: Vec<String>,
    /// Changes against the first parent (all changes for a root commit).
    pub changes: Vec<RawChange>,
}

/// One line of `git log --raw -z`.
#[derive(Debug, Clone)]
pub struct RawChange {
    pub old_mode: u32,
    pub new_mode: u32,
    pub old_oid: Oid,
    pub new_oid: Oid,
    /// `A`, `M`, `D`, `R`, `T`, `C`…
    pub status: u8,
    /// Source path for renames and copies, raw bytes.
    pub old_path: Option<Vec<u8>>,
    pub path: Vec<u8>,
}

/// A per-process nonce for stream markers.
pub(super) fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}-{}-{:p}", std::process::id(), &nanos);
    crate::types::Sha256Hex::of(seed.as_bytes()).as_str()[..20].to_owned()
}

/// Splits `bytes` on a multi-byte `marker`.
pub(super) fn split_marker<'a>(bytes: &'a [u8], marker: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(i) = find(rest, marker) {
        out.push(&rest[..i]);
        rest = &rest[i + marker.len()..];
    }
    out.push(rest);
    out
}

pub(super) fn parse_commit(record: &[u8], field: &[u8]) -> Result<RawCommit> {
    let fields = split_marker(record, field);
    let [oid, parents, an, ae, ad, cn, ce, cd, coauthors, rest] = fields[..] else {
        bail!(
            "unexpected commit header from git log ({} fields)",
            fields.len()
        );
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let oid = text(oid);
    Ok(RawCommit {
        oid: Oid::parse(&oid).with_context(|| format!("bad commit id from git log: {oid}"))?,
        parents: text(parents)
            .split_whitespace()
            .map(|p| Oid::parse(p).context("bad parent id from git log"))
            .collect::<Result<_>>()?,
        author_name: text(an),
        author_email: text(ae),
        author_date: text(ad),
        committer_name: text(cn),
        committer_email: text(ce),
        committer_date: text(cd),
        coauthors: text(coauthors)
            .split('\x1d')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        changes: parse_raw_changes(rest)?,
    })
}

/// Parses the NUL-separated `--raw -z` block that follows a commit header.
pub(super) fn parse_raw_changes(block: &[u8]) -> Result<Vec<RawChange>> {
    let mut tokens = block.split(|b| *b == 0).peekable();
    let mut changes = Vec::new();
    while let Some(tok) = tokens.next() {
        let tok = trim_newlines(tok);
        if tok.is_empty() {
            continue;
        }
        let Some(meta) = tok.strip_prefix(b":") else {
            bail!(
                "unexpected `git log --raw` output: {}",
                String::from_utf8_lossy(tok)
            );
        };
        let meta = std::str::from_utf8(meta)?;
        let parts: Vec<&str> = meta.split(' ').collect();
        let [old_mode, new_mode, old_oid, new_oid, status] = parts[..] else {
            bail!("unexpected `git log --raw` line: {meta}");
        };
        let status = *status.as_bytes().first().context("empty status")?;
        let first = tokens.next().context("truncated `git log --raw` output")?;
        let (old_path, path) = if matches!(status, b'R' | b'C') {
            let second = tokens
                .next()
                .context("truncated rename in `git log --raw`")?;
            (Some(first.to_vec()), second.to_vec())
        } else {
            (None, first.to_vec())
        };
        changes.push(RawChange {
            old_mode: u32::from_str_radix(old_mode, 8)?,
            new_mode: u32::from_str_radix(new_mode, 8)?,
            old_oid: Oid::parse(old_oid).context("bad blob id in git log")?,
            new_oid: Oid::parse(new_oid).context("bad blob id in git log")?,
            status,
            old_path,
            path,
        });
    }
    Ok(changes)
}

pub(super) fn trim_newlines(mut s: &[u8]) -> &[u8] {
    while let [b'\n', rest @ ..] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_changes_parse_renames_and_plain_changes() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let block = format!(
            "\0\n:000000 100644 {z} {a} A\0p/new.md\0:100644 100644 {a} {a} R100\0p/a.md\0p/b.md\0"
        );
        let changes = parse_raw_changes(block.as_bytes()).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].status, b'A');
        assert_eq!(changes[0].path, b"p/new.md");
        assert_eq!(changes[1].status, b'R');
        assert_eq!(changes[1].old_path.as_deref(), Some(&b"p/a.md"[..]));
        assert_eq!(changes[1].path, b"p/b.md");
    }
}
