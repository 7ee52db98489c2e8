//! Reading a file promptrail is given by path: only a regular file, of at most a stated
//! size. Every file promptrail reads from a path (the config, keys, `--checkpoint`, proofs,
//! trusted roots, the Actions event payload) goes through [`read_regular`], so that a hostile
//! path cannot make a command grow without bound (a symlink to `/dev/zero`, a 38 MB config)
//! or hang (a FIFO, `/dev/stdin` on a terminal).
//!
//! How: the type is checked before opening (`metadata`, or `symlink_metadata` where a
//! symlink is refused), the file is opened with `O_NONBLOCK` so that opening a FIFO cannot
//! block, the opened file's own type and size are checked again (the path may have been
//! swapped in between), and at most `limit + 1` bytes are ever read.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// `.promptrail.yml`, in the working tree or at a git revision.
pub const CONFIG_LIMIT: u64 = 1 << 20;
/// A PEM key (public or encrypted private): a few hundred bytes in practice.
pub const KEY_LIMIT: u64 = 64 << 10;
/// A kept checkpoint (a signed note of a few lines).
pub const CHECKPOINT_LIMIT: u64 = 64 << 10;
/// A Sigstore `trusted_root.json` (the public-good one is about 10 KiB).
pub const TRUSTED_ROOT_LIMIT: u64 = 4 << 20;
/// A `prove` output: one or two entries and their inclusion proofs.
pub const PROOF_LIMIT: u64 = 16 << 20;
/// An OpenTelemetry trace export (`trace`): OTLP/HTTP servers refuse bodies over 20 MiB by
/// default; a file export of several batches gets room for a few.
pub const TRACE_LIMIT: u64 = 64 << 20;
/// A deploy manifest given to `drift` (a few hundred bytes per prompt).
pub const MANIFEST_LIMIT: u64 = 16 << 20;
/// The GitHub Actions event payload (GitHub caps webhook payloads at 25 MB).
pub const EVENT_LIMIT: u64 = 25 << 20;

/// Whether a symlink at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// A path the user gave (a key in `/run/secrets`, a checkpoint they kept): followed.
    Follow,
    /// A file of the repository whose content is governed (`.promptrail.yml`): a symlink is
    /// refused, so that what is read is the file git tracks.
    Refuse,
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: not found", path.display())]
    NotFound { path: PathBuf },
    #[error(
        "{}: is {kind}, not a regular file: promptrail reads {what} only as a regular file of at \
         most {} (replace it with the file itself)",
        path.display(),
        Size(*limit)
    )]
    NotRegular {
        path: PathBuf,
        kind: &'static str,
        what: &'static str,
        limit: u64,
    },
    #[error(
        "{}: is {}, larger than the {} promptrail reads for {what}: refusing it",
        path.display(),
        Size(*size),
        Size(*limit)
    )]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound { .. })
    }
}

/// A byte count for messages: `1 MiB`, `38.1 MiB`, `512 bytes`.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", n >> 20)
        } else if n >= 1 << 20 {
            write!(f, "{:.1} MiB", n as f64 / f64::from(1 << 20))
        } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
            write!(f, "{} KiB", n >> 10)
        } else {
            write!(f, "{n} bytes")
        }
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them. `what` names the file in
/// errors ("the config", "a public key").
pub fn read_regular(
    path: &Path,
    limit: u64,
    what: &'static str,
    symlinks: Symlinks,
) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound {
                path: path.to_owned(),
            }
        } else {
            ReadError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.file_type().is_file() {
            return Err(ReadError::NotRegular {
                path: path.to_owned(),
                kind: kind_of(meta.file_type()),
                what,
                limit,
            });
        }
        if meta.len() > limit {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                what,
                size: meta.len(),
                limit,
            });
        }
        Ok(())
    };
    let before = match symlinks {
        Symlinks::Follow => std::fs::metadata(path),
        Symlinks::Refuse => std::fs::symlink_metadata(path),
    }
    .map_err(io)?;
    check(&before)?;

    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Opening a FIFO swapped in after the check must not wait for a writer; with
        // `Refuse`, a symlink swapped in is not followed either.
        let nofollow = if symlinks == Symlinks::Refuse {
            libc::O_NOFOLLOW
        } else {
            0
        };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return ReadError::NotRegular {
                path: path.to_owned(),
                kind: "a symbolic link",
                what,
                limit,
            };
        }
        io(e)
    })?;
    check(&file.metadata().map_err(io)?)?;
    let mut data = Vec::new();
    // The size can still grow after the check: never read more than one byte past the limit.
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            what,
            size: data.len() as u64,
            limit,
        });
    }
    Ok(data)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_text(
    path: &Path,
    limit: u64,
    what: &'static str,
    symlinks: Symlinks,
) -> Result<String, ReadError> {
    let bytes = read_regular(path, limit, what, symlinks)?;
    String::from_utf8(bytes).map_err(|_| ReadError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let got = read_regular(&p, 5, "a test file", Symlinks::Refuse).unwrap();
        assert_eq!(got, b"hello");
        let err = read_regular(&p, 4, "a test file", Symlinks::Refuse).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { size: 5, .. }), "{err}");
        assert!(err.to_string().contains("larger than the 4 bytes"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_directories_and_refused_symlinks_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_regular(&zero, 1 << 20, "the config", Symlinks::Follow).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let err = read_regular(&zero, 1 << 20, "the config", Symlinks::Refuse).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        let err = read_regular(dir.path(), 10, "the config", Symlinks::Follow).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_regular(&fifo, 10, "the config", Symlinks::Follow).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        assert!(
            read_regular(&dir.path().join("missing"), 1, "x", Symlinks::Follow)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(Size(1 << 20).to_string(), "1 MiB");
        assert_eq!(Size(40_000_000).to_string(), "38.1 MiB");
        assert_eq!(Size(64 << 10).to_string(), "64 KiB");
        assert_eq!(Size(12).to_string(), "12 bytes");
    }
}
