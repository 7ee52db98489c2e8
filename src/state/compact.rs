//! Compact in-memory forms of the summary's growing records: a summary recomputed from a
//! long log (`verify`'s PT017) holds every version and deployment record until it is
//! encoded, and as wire types each is a handful of heap strings (hex digests, object ids,
//! the environment's name), ≈ 270 and ≈ 190 bytes. Here digests and ids are bytes and an
//! environment's name is shared, ≈ 112 and ≈ 80 bytes, converted back when encoded.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{DeploymentState, History, VersionState};
use crate::attestation::predicate::{ChangeType, EventType};
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};

/// A git object id as bytes (SHA-1 or SHA-256 repositories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Id {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Id {
    fn of(oid: &Oid) -> Id {
        let s = oid.as_str();
        // An `Oid` is 40 or 64 lowercase hex digits (validated when it was made).
        if s.len() == 40 {
            Id::Sha1(unhex(s))
        } else {
            Id::Sha256(unhex(s))
        }
    }

    fn oid(&self) -> Oid {
        let hex = match self {
            Id::Sha1(b) => crate::types::hex(b),
            Id::Sha256(b) => crate::types::hex(b),
        };
        Oid::parse(&hex).unwrap_or_else(|| unreachable!("hex of an id is an id"))
    }
}

/// Lowercase hex digits as `N` bytes (the caller checked the digits).
fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = s
            .get(2 * i..2 * i + 2)
            .and_then(|d| u8::from_str_radix(d, 16).ok())
            .unwrap_or(0);
    }
    out
}

fn sha(b: &[u8; 32]) -> Sha256Hex {
    Sha256Hex::parse(&crate::types::hex(b)).unwrap_or_else(|| unreachable!("hex of a digest"))
}

/// A [`VersionState`], compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VersionRec {
    pub entry: EntryIndex,
    pub sha256: [u8; 32],
    git_blob: Id,
    commit: Id,
    pub version: Version,
    pub change: Option<ChangeType>,
    approved: bool,
}

impl VersionRec {
    pub fn of(v: &VersionState) -> VersionRec {
        VersionRec {
            entry: v.entry,
            sha256: v.sha256.to_bytes(),
            git_blob: Id::of(&v.git_blob),
            commit: Id::of(&v.commit),
            version: v.version,
            change: v.change,
            approved: v.approved,
        }
    }

    pub fn state(&self) -> VersionState {
        VersionState {
            version: self.version,
            change: self.change,
            sha256: sha(&self.sha256),
            git_blob: self.git_blob.oid(),
            entry: self.entry,
            commit: self.commit.oid(),
            approved: self.approved,
        }
    }
}

/// A [`History`], compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HistoryRec {
    pub path: PromptPath,
    pub versions: Vec<VersionRec>,
    pub entries: Vec<EntryIndex>,
}

impl HistoryRec {
    pub fn new(path: PromptPath) -> HistoryRec {
        HistoryRec {
            path,
            versions: Vec::new(),
            entries: Vec::new(),
        }
    }

    pub fn of(h: History) -> HistoryRec {
        HistoryRec {
            versions: h.versions.iter().map(VersionRec::of).collect(),
            path: h.path,
            entries: h.entries,
        }
    }

    pub fn history(&self) -> History {
        History {
            path: self.path.clone(),
            versions: self.versions.iter().map(VersionRec::state).collect(),
            entries: self.entries.clone(),
        }
    }
}

/// Environment names, each held once.
#[derive(Debug, Clone, Default)]
pub(super) struct Names(BTreeSet<Arc<str>>);

impl Names {
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.0.insert(n.clone());
        n
    }
}

/// A [`DeploymentState`], compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeploymentRec {
    entry: EntryIndex,
    deployed_at: DateTime<Utc>,
    sha256: [u8; 32],
    environment: Arc<str>,
    version: Version,
    event: EventType,
}

impl DeploymentRec {
    pub fn of(d: &DeploymentState, names: &mut Names) -> DeploymentRec {
        DeploymentRec {
            entry: d.entry,
            deployed_at: d.deployed_at,
            sha256: d.sha256.to_bytes(),
            environment: names.get(&d.environment),
            version: d.version,
            event: d.event,
        }
    }

    pub fn state(&self) -> DeploymentState {
        DeploymentState {
            entry: self.entry,
            environment: self.environment.to_string(),
            event: self.event,
            version: self.version,
            sha256: sha(&self.sha256),
            deployed_at: self.deployed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(c: char, n: usize) -> Oid {
        Oid::parse(&c.to_string().repeat(n)).unwrap()
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let v = VersionState {
            version: Version(7),
            change: Some(ChangeType::Renamed),
            sha256: Sha256Hex::of(b"x"),
            git_blob: oid('a', 40),
            entry: EntryIndex(41),
            commit: oid('0', 64),
            approved: true,
        };
        assert_eq!(VersionRec::of(&v).state(), v);
        let d = DeploymentState {
            entry: EntryIndex(9),
            environment: "prod ~/x".into(),
            event: EventType::Rollback,
            version: Version(3),
            sha256: Sha256Hex::of(b"y"),
            deployed_at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        };
        let mut names = Names::default();
        let rec = DeploymentRec::of(&d, &mut names);
        assert_eq!(rec.state(), d);
        assert!(Arc::ptr_eq(
            &rec.environment,
            &DeploymentRec::of(&d, &mut names).environment
        ));
    }
}
