//! The audit branch's layout as data: file names, entry paths and the entry file's decoding.
//!
//! Pure (no git): `verify`, `proof` and the readers use it without the I/O module that
//! writes the branch (`crate::store`).
//! ```text
//! promptrail.json                   format version, origin, hash algorithm
//! entries/000000/000000042.json     entry 42 (directories of 1000 entries)
//! checkpoint                        signed note: origin, size, RFC 6962 root (C2SP)
//! checkpoint.range                  the tree's right edge, so an append reads no old entry
//! state/                            the state summary (see `crate::state`)
//! ```

use serde::{Deserialize, Serialize};

use crate::attestation::{Bundle, Statement};
use crate::types::EntryIndex;

/// Name of the log's metadata file at the branch root.
pub const META_FILE: &str = "promptrail.json";
/// Name of the signed checkpoint at the branch root.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The Merkle tree's right edge after the last entry, so that an append needs no other entry.
pub const RANGE_FILE: &str = "checkpoint.range";
/// Entries per directory under `entries/`.
pub const ENTRIES_PER_DIR: u64 = 1000;
/// Entries read per window by the streaming readers (`verify`, `export`, `log`): batches
/// amortise the round trips to git while memory stays bounded whatever the log's length.
/// Small in debug builds, so that the test suite's logs cross window boundaries.
pub const READ_WINDOW: usize = if cfg!(debug_assertions) { 16 } else { 4096 };

/// `promptrail.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogMeta {
    /// Layout version; only 1 exists.
    pub format: u32,
    /// The repository this log belongs to.
    pub origin: String,
    /// Hash used for the chain (`log.previous`).
    pub hash_algorithm: String,
}

impl LogMeta {
    pub fn new(origin: String) -> Self {
        LogMeta {
            format: 1,
            origin,
            hash_algorithm: "sha256".into(),
        }
    }
}

/// Repository-relative path of entry `index` on the audit branch.
pub fn entry_path(index: EntryIndex) -> String {
    format!(
        "entries/{:06}/{:09}.json",
        index.0 / ENTRIES_PER_DIR,
        index.0
    )
}

/// Parses `entries/DDDDDD/NNNNNNNNN.json` back into an index, checking the directory.
pub fn index_from_path(path: &str) -> Option<EntryIndex> {
    let rest = path.strip_prefix("entries/")?;
    let (dir, file) = rest.split_once('/')?;
    let num = file.strip_suffix(".json")?;
    if dir.len() != 6
        || num.len() != 9
        || !dir.bytes().chain(num.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let index: u64 = num.parse().ok()?;
    (dir.parse::<u64>().ok()? == index / ENTRIES_PER_DIR).then_some(EntryIndex(index))
}

/// An entry file as stored.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// Path on the audit branch.
    pub path: String,
    pub bytes: Vec<u8>,
}

impl StoredEntry {
    pub fn decode(&self) -> Result<(Bundle, Statement), String> {
        decode_entry(&self.bytes)
    }
}

/// Parses entry bytes into its bundle and statement, or says what is malformed.
pub fn decode_entry(bytes: &[u8]) -> Result<(Bundle, Statement), String> {
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    let statement: Statement = serde_json::from_slice(&bundle.dsse_envelope.payload)
        .map_err(|e| format!("DSSE payload is not a promptrail in-toto Statement: {e}"))?;
    Ok((bundle, statement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_round_trip() {
        for i in [0, 1, 999, 1000, 123_456_789] {
            let p = entry_path(EntryIndex(i));
            assert_eq!(index_from_path(&p), Some(EntryIndex(i)), "{p}");
        }
        assert_eq!(entry_path(EntryIndex(42)), "entries/000000/000000042.json");
        assert_eq!(
            entry_path(EntryIndex(1042)),
            "entries/000001/000001042.json"
        );
        assert_eq!(index_from_path("entries/000000/000001042.json"), None);
        assert_eq!(index_from_path("entries/000000/42.json"), None);
    }
}
