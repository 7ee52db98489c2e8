//! The working tree as bytes on disk: every file at a prompt path that an application reading
//! the checkout would get, and its exact bytes, without git's index or filters.
//!
//! The gate must judge what ships, and what ships is the directory, not git's view of it: an
//! untracked or ignored file, a file removed from the index, bytes that git's `ident` or
//! `eol` filters would map onto an approved blob, a symbolic link where a prompt directory
//! should be. So the walk reads the file system itself, from the repository root, into every
//! directory the include globs can reach (only `.git` at the root is skipped), and reports
//! each prompt path with either the SHA-256 of its bytes, read once, or why it cannot be
//! judged. It never opens anything but a regular file, so a FIFO cannot make it hang.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::prompt::{PromptError, PromptMatcher, check_symlink, prompt_path};
use crate::types::{PromptPath, Sha256Hex};

/// One prompt path found in the working tree.
#[derive(Debug)]
pub struct OnDisk {
    /// The repository path (for a blocker on a directory: the directory's path).
    pub path: PromptPath,
    pub state: State,
}

/// What the walk found at a prompt path.
#[derive(Debug)]
pub enum State {
    /// A regular file with one link, read once.
    File {
        sha256: Sha256Hex,
        /// The bytes, kept only when the caller asked for them (to explain a mismatch).
        bytes: Option<Vec<u8>>,
    },
    /// Something the gate refuses to judge.
    Blocked(Blocker),
}

/// Why a path in the working tree cannot be a deployable prompt.
#[derive(Debug, PartialEq, Eq)]
pub enum Blocker {
    /// A symbolic link at a prompt path, or where the globs cover a directory.
    Symlink {
        target: String,
        outside: bool,
        directory: bool,
    },
    /// A regular file with more than one hard link: its bytes can change through a path
    /// outside the globs after the check.
    HardLink { links: u64 },
    /// A FIFO, socket or device at a prompt path (never opened).
    NotRegular { kind: &'static str },
    /// The path or the content is not acceptable (non-UTF-8 name, too large, binary).
    Refused(PromptError),
    /// The file changed between looking at it and opening it, or could not be read.
    Unreadable(String),
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::Symlink {
                target,
                outside,
                directory,
            } => {
                let what = if *directory {
                    "a symbolic link where the prompt globs cover a directory"
                } else {
                    "a symbolic link at a prompt path"
                };
                let whereto = if *outside {
                    " (it resolves outside the repository)"
                } else {
                    ""
                };
                write!(
                    f,
                    "{what}, to `{target}`{whereto}: the gate judges the bytes an application \
                     reads, and a link can serve any file; replace it by the files themselves"
                )
            }
            Blocker::HardLink { links } => write!(
                f,
                "a hard-linked file ({links} links): its bytes can be changed through another \
                 name after the check; copy it so that it has one link"
            ),
            Blocker::NotRegular { kind } => write!(
                f,
                "a {kind}, not a regular file: the gate does not open it; remove it"
            ),
            Blocker::Refused(e) => write!(f, "{e}"),
            Blocker::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

impl OnDisk {
    pub fn sha256(&self) -> Option<&Sha256Hex> {
        match &self.state {
            State::File { sha256, .. } => Some(sha256),
            State::Blocked(_) => None,
        }
    }
}

/// Walks the working tree under `root` and returns every prompt path the matcher selects, and
/// every symbolic link, hard link or special file that stands where a prompt could be, sorted
/// by path. `keep(path, sha256)` says whether to keep a file's bytes in the answer.
pub fn scan(
    root: &Path,
    matcher: &PromptMatcher,
    keep: impl Fn(&PromptPath, &Sha256Hex) -> bool,
) -> anyhow::Result<Vec<OnDisk>> {
    scan_as(root, "", matcher, keep)
}

/// [`scan`] of a directory that holds the repository's directory `prefix` (`prompts`, or
/// empty for the repository root): a copy of the prompts as served, read the way the gate
/// reads the working tree. Paths in the answer are repository paths (`prefix/…`).
pub fn scan_as(
    root: &Path,
    prefix: &str,
    matcher: &PromptMatcher,
    keep: impl Fn(&PromptPath, &Sha256Hex) -> bool,
) -> anyhow::Result<Vec<OnDisk>> {
    let mut found = Vec::new();
    let mut start = prefix.trim_matches('/').as_bytes().to_vec();
    if !start.is_empty() {
        start.push(b'/');
    }
    let top = root.to_path_buf();
    // (directory on disk, its raw repository path with a trailing `/`, or empty for the root)
    let mut dirs: Vec<(PathBuf, Vec<u8>)> = vec![(root.to_path_buf(), start)];
    while let Some((dir, prefix)) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("reading the directory {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| anyhow::anyhow!("reading the directory {}: {e}", dir.display()))?;
            let name = entry.file_name();
            if dir == top && name == ".git" {
                continue;
            }
            let raw = name.as_encoded_bytes();
            let mut rel_raw = prefix.clone();
            rel_raw.extend_from_slice(raw);
            let rel = String::from_utf8_lossy(&rel_raw).into_owned();
            // `symlink_metadata` never follows the entry: a link is seen as a link.
            let meta = match entry.path().symlink_metadata() {
                Ok(m) => m,
                Err(e) => {
                    if matcher.matches(&rel_raw) || matcher.may_contain(&rel) {
                        found.push(blocked(&rel, Blocker::Unreadable(e.to_string())));
                    }
                    continue;
                }
            };
            let kind = meta.file_type();
            let is_prompt = matcher.matches(&rel_raw);
            if kind.is_symlink() {
                if is_prompt || matcher.may_contain(&rel) {
                    found.push(symlink(&entry.path(), &rel));
                }
            } else if kind.is_dir() {
                if matcher.may_contain(&rel) {
                    let mut below = rel_raw.clone();
                    below.push(b'/');
                    dirs.push((entry.path(), below));
                }
            } else if is_prompt {
                let state = match prompt_path(&rel_raw) {
                    Err(e) => State::Blocked(Blocker::Refused(e)),
                    Ok(path) => read_prompt(&entry.path(), &path, &meta, matcher, &keep),
                };
                found.push(OnDisk {
                    path: PromptPath::new(rel),
                    state,
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn blocked(rel: &str, why: Blocker) -> OnDisk {
    OnDisk {
        path: PromptPath::new(rel),
        state: State::Blocked(why),
    }
}

fn symlink(file: &Path, rel: &str) -> OnDisk {
    let target = std::fs::read_link(file)
        .map(|t| t.as_os_str().as_encoded_bytes().to_vec())
        .unwrap_or_default();
    let outside = check_symlink(&PromptPath::new(rel), &target).is_err();
    let directory = std::fs::metadata(file).is_ok_and(|m| m.is_dir());
    blocked(
        rel,
        Blocker::Symlink {
            target: String::from_utf8_lossy(&target).into_owned(),
            outside,
            directory,
        },
    )
}

/// Reads a prompt file once, refusing anything but a regular file with a single link.
fn read_prompt(
    file: &Path,
    path: &PromptPath,
    seen: &Metadata,
    matcher: &PromptMatcher,
    keep: &impl Fn(&PromptPath, &Sha256Hex) -> bool,
) -> State {
    let kind = seen.file_type();
    if !kind.is_file() {
        return State::Blocked(Blocker::NotRegular {
            kind: special_kind(seen),
        });
    }
    let links = link_count(seen);
    if links > 1 {
        return State::Blocked(Blocker::HardLink { links });
    }
    let bytes = match read_regular(file, seen, matcher.max_bytes()) {
        Ok(b) => b,
        Err(why) => return State::Blocked(why),
    };
    if let Err(e) = matcher.check_content(path, &bytes) {
        return State::Blocked(Blocker::Refused(e));
    }
    let sha256 = Sha256Hex::of(&bytes);
    let bytes = keep(path, &sha256).then_some(bytes);
    State::File { sha256, bytes }
}

/// Opens without following a link and without blocking (a FIFO swapped in after the look
/// would otherwise hang the open), checks that the opened file is the one looked at, and reads
/// at most `limit + 1` bytes.
fn read_regular(file: &Path, seen: &Metadata, limit: u64) -> Result<Vec<u8>, Blocker> {
    let changed = || Blocker::Unreadable("it changed while the gate was reading it".into());
    let handle = open_no_follow(file).map_err(|e| {
        if e.raw_os_error() == Some(libc_eloop()) {
            changed()
        } else {
            Blocker::Unreadable(e.to_string())
        }
    })?;
    let now = handle
        .metadata()
        .map_err(|e| Blocker::Unreadable(e.to_string()))?;
    if !now.is_file() || !same_file(seen, &now) {
        return Err(changed());
    }
    if link_count(&now) > 1 {
        return Err(Blocker::HardLink {
            links: link_count(&now),
        });
    }
    let mut bytes = Vec::new();
    handle
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Blocker::Unreadable(e.to_string()))?;
    Ok(bytes)
}

#[cfg(unix)]
fn open_no_follow(file: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file)
}

#[cfg(not(unix))]
fn open_no_follow(file: &Path) -> std::io::Result<File> {
    File::open(file)
}

#[cfg(unix)]
fn libc_eloop() -> i32 {
    libc::ELOOP
}

#[cfg(not(unix))]
fn libc_eloop() -> i32 {
    -1
}

#[cfg(unix)]
fn link_count(m: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    m.nlink()
}

#[cfg(not(unix))]
fn link_count(_: &Metadata) -> u64 {
    1
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len()
}

#[cfg(unix)]
fn special_kind(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = m.file_type();
    if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device file"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &Metadata) -> &'static str {
    "special file"
}

/// Writes `bytes` as the prompt at `path` under `root` (a rollback): every directory on the
/// way must be a real directory inside the repository (a symbolic link there would send the
/// write elsewhere), and the file is replaced, not written through, so a hard link or a link
/// at the path is not followed. Returns what is now on disk at the path, as the gate sees it.
pub fn write_prompt(root: &Path, path: &PromptPath, bytes: &[u8]) -> anyhow::Result<()> {
    let names: Vec<&str> = path.as_str().split('/').collect();
    let Some((leaf, parents)) = names.split_last() else {
        anyhow::bail!("{path}: not a file path");
    };
    if names
        .iter()
        .any(|n| n.is_empty() || *n == "." || *n == "..")
    {
        anyhow::bail!("{path}: not a plain repository path; refused");
    }
    let mut dir = root.to_path_buf();
    for (i, name) in parents.iter().enumerate() {
        dir.push(name);
        let shown = names[..=i].join("/");
        match dir.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
                "{shown} is a symbolic link: refusing to write {path} through it (replace the \
                 link by a directory)"
            ),
            Ok(m) if m.is_dir() => {}
            Ok(_) => anyhow::bail!("{shown} is not a directory: cannot write {path}"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir)
                    .map_err(|e| anyhow::anyhow!("creating the directory {shown}: {e}"))?;
            }
            Err(e) => anyhow::bail!("{shown}: {e}"),
        }
    }
    let target = dir.join(leaf);
    if target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("{path} is a directory: cannot restore the prompt there");
    }
    let temp = dir.join(format!(".{leaf}.promptrail-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut f = options.open(&temp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        anyhow::bail!("writing {path}: {e}");
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_restore_replaces_links_instead_of_writing_through_them() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("prompts")).unwrap();
        let outside = dir.path().join("outside.md");
        std::fs::write(&outside, "theirs\n").unwrap();
        // A hard link and a symbolic link at prompt paths: the restore replaces each name.
        std::fs::hard_link(&outside, root.join("prompts/hard.md")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("prompts/soft.md")).unwrap();
        for name in ["prompts/hard.md", "prompts/soft.md"] {
            write_prompt(&root, &PromptPath::new(name), b"approved\n").unwrap();
            let meta = root.join(name).symlink_metadata().unwrap();
            assert!(meta.is_file(), "{name}");
            assert_eq!(std::fs::read(root.join(name)).unwrap(), b"approved\n");
        }
        assert_eq!(std::fs::read(&outside).unwrap(), b"theirs\n");
        // New directories are created; a symlinked directory on the way is refused.
        write_prompt(&root, &PromptPath::new("prompts/a/b.md"), b"x\n").unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("prompts/out")).unwrap();
        let err = write_prompt(&root, &PromptPath::new("prompts/out/c.md"), b"x\n").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!dir.path().join("c.md").exists());
        for bad in ["../x.md", "prompts//x.md", "prompts/./x.md"] {
            assert!(
                write_prompt(&root, &PromptPath::new(bad), b"x").is_err(),
                "{bad}"
            );
        }
    }
}
