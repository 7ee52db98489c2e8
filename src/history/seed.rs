//! The lineages a history read since a commit starts from: replayed from the version events
//! the log recorded up to that commit, each checked to be the event the lineage gives.
//!
//! A lineage is what numbers a prompt's versions: the blob of each version (for `equals`),
//! whether it is live, and the path it is at now (renames carry it from path to path). The
//! whole history gives it by walking every commit; the log gives it by its version events,
//! since each one was made by that walk. Replaying a path's events (and those of every path a
//! rename linked it to) therefore rebuilds its lineage, and every replayed event must be the
//! one the rebuilt lineage would make — same version, previous version, revert and re-add —
//! or the seed is refused and the whole history is read.

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;

use super::{EventKind, Lineage, new_version, version_of};
use crate::git::Git;
use crate::types::{EntryIndex, Oid, PromptPath};

/// One version event as the log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The entry that recorded it (named in errors).
    pub entry: EntryIndex,
    /// The landed commit.
    pub commit: Oid,
    pub path: PromptPath,
    pub previous_path: Option<PromptPath>,
    pub kind: EventKind,
    /// The content after the event (for a deletion: the content deleted).
    pub blob: Oid,
}

/// The lineages of some paths as they stood after the events replayed.
#[derive(Default)]
pub struct Seed {
    pub(super) lineages: HashMap<PromptPath, Lineage>,
}

impl Seed {
    /// Replays `records` (log order; every version event naming any of the paths seeded, as
    /// `path` or `previousPath`, and every path a rename linked to one of them).
    /// `Err` says which event the replay does not reproduce.
    pub fn replay(records: &[Recorded]) -> Result<Seed, String> {
        let mut seed = Seed::default();
        let mut done: BTreeSet<&Oid> = BTreeSet::new();
        let mut at = 0;
        while at < records.len() {
            let commit = &records[at].commit;
            let end = records[at..]
                .iter()
                .position(|r| &r.commit != commit)
                .map_or(records.len(), |n| at + n);
            if !done.insert(commit) {
                return Err(format!(
                    "entry {} records commit {} again after other commits",
                    records[at].entry.0,
                    commit.short()
                ));
            }
            seed.commit(&records[at..end])?;
            at = end;
        }
        Ok(seed)
    }

    /// One landed commit's events. git names a path at most once in a commit's changes
    /// (as a rename's source or as a changed path), so the events apply one by one.
    fn commit(&mut self, records: &[Recorded]) -> Result<(), String> {
        let mut named: BTreeSet<&PromptPath> = BTreeSet::new();
        for r in records {
            for p in std::iter::once(&r.path).chain(&r.previous_path) {
                if !named.insert(p) {
                    return Err(format!(
                        "entry {}: commit {} names {p} twice",
                        r.entry.0,
                        r.commit.short()
                    ));
                }
            }
        }
        for r in records {
            self.event(r)?;
        }
        Ok(())
    }

    fn event(&mut self, r: &Recorded) -> Result<(), String> {
        let refuse = |what: &str| {
            Err(format!(
                "entry {} ({} at {}) {what}",
                r.entry.0,
                r.path,
                r.commit.short()
            ))
        };
        let made = match (&r.kind, &r.previous_path) {
            (EventKind::Deleted { .. }, None) => {
                let Some(l) = self.lineages.get_mut(&r.path) else {
                    return refuse("deletes a prompt with no versions");
                };
                if l.live.as_ref() != Some(&r.blob) {
                    return refuse("deletes content that is not live");
                }
                l.live = None;
                EventKind::Deleted {
                    version: version_of(l, &r.blob),
                }
            }
            (EventKind::Renamed { .. }, Some(from)) => {
                let Some(l) = self.lineages.remove(from) else {
                    return refuse("renames a path with no versions");
                };
                if l.live.as_ref() != Some(&r.blob) {
                    return refuse("renames content that is not live");
                }
                let made = EventKind::Renamed {
                    version: version_of(&l, &r.blob),
                };
                self.lineages.insert(r.path.clone(), l);
                made
            }
            (EventKind::Version { .. }, from) => {
                let mut l = match from {
                    Some(from) => match self.lineages.remove(from) {
                        Some(l) => l,
                        None => return refuse("moves a path with no versions"),
                    },
                    None => self.lineages.remove(&r.path).unwrap_or_else(Lineage::new),
                };
                if l.live.as_ref() == Some(&r.blob) {
                    return refuse("makes a version of the content already live");
                }
                let made = new_version(&mut l, &r.blob);
                self.lineages.insert(r.path.clone(), l);
                made
            }
            _ => return refuse("is a deletion with a previous path, or a rename without one"),
        };
        if made != r.kind {
            return refuse(&format!("records {:?}, its lineage gives {made:?}", r.kind));
        }
        Ok(())
    }

    /// The live content of `path` (`None`: no lineage; `Some(None)`: deleted).
    pub fn live(&self, path: &PromptPath) -> Option<Option<&Oid>> {
        self.lineages.get(path).map(|l| l.live.as_ref())
    }

    /// Where a path of `touched` does not hold at `base` what its lineage says is live
    /// there (a path the log never numbered that is in the tree counts too): each one
    /// described. With constant globs there is none: the log recorded every change up to
    /// `base`. No path of `touched` may hold a newline (the batch reader's spec).
    pub(super) fn disagreements_with_tree(
        &self,
        git: &Git,
        base: &Oid,
        touched: &BTreeSet<PromptPath>,
    ) -> Result<Vec<String>> {
        let specs: Vec<String> = touched.iter().map(|p| format!("{base}:{p}")).collect();
        let found = git.object_reader_for_few()?.read_many(&specs)?;
        let mut out = Vec::new();
        for (path, object) in touched.iter().zip(found) {
            let in_tree = object.filter(|o| o.kind == "blob").map(|o| o.oid);
            let live = self.live(path).flatten();
            if in_tree.as_ref() != live {
                out.push(format!(
                    "{path} is {} at {}, the log has {}",
                    in_tree.as_ref().map_or("absent", Oid::short),
                    base.short(),
                    live.map_or("none live", Oid::short)
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Version;

    fn oid(n: u8) -> Oid {
        Oid::parse(&format!("{n:02x}").repeat(20)).unwrap()
    }

    fn version(v: u32, previous: Option<u32>, equals: Option<u32>, readded: bool) -> EventKind {
        EventKind::Version {
            version: Version(v),
            previous: previous.map(Version),
            equals: equals.map(Version),
            readded,
        }
    }

    fn rec(
        entry: u64,
        commit: u8,
        path: &str,
        from: Option<&str>,
        kind: EventKind,
        blob: u8,
    ) -> Recorded {
        Recorded {
            entry: EntryIndex(entry),
            commit: oid(commit),
            path: PromptPath::new(path),
            previous_path: from.map(PromptPath::new),
            kind,
            blob: oid(blob),
        }
    }

    /// a: v1, v2, deleted, re-added as v1's text (v3, equals v1), renamed to b, then b
    /// edited back to v2's text (v4, a revert).
    fn honest() -> Vec<Recorded> {
        vec![
            rec(0, 1, "a", None, version(1, None, None, false), 10),
            rec(1, 2, "a", None, version(2, Some(1), None, false), 11),
            rec(
                2,
                3,
                "a",
                None,
                EventKind::Deleted {
                    version: Version(2),
                },
                11,
            ),
            rec(3, 4, "a", None, version(3, Some(2), Some(1), true), 10),
            rec(
                4,
                5,
                "b",
                Some("a"),
                EventKind::Renamed {
                    version: Version(3),
                },
                10,
            ),
            rec(5, 6, "b", None, version(4, Some(3), Some(2), false), 11),
        ]
    }

    #[test]
    fn replays_a_lineage_across_deletion_readdition_rename_and_revert() {
        let seed = Seed::replay(&honest()).unwrap();
        assert_eq!(seed.live(&PromptPath::new("b")), Some(Some(&oid(11))));
        assert_eq!(seed.live(&PromptPath::new("a")), None, "the rename took it");
        let b = &seed.lineages[&PromptPath::new("b")];
        assert_eq!(b.versions, vec![oid(10), oid(11), oid(10), oid(11)]);
    }

    #[test]
    fn refuses_events_the_lineage_does_not_give() {
        type Edit = Box<dyn Fn(&mut Vec<Recorded>)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "a version skipped",
                Box::new(|r| r[1].kind = version(3, Some(1), None, false)),
            ),
            (
                "a revert not noted",
                Box::new(|r| r[5].kind = version(4, Some(3), None, false)),
            ),
            (
                "a re-addition called new",
                Box::new(|r| r[3].kind = version(3, Some(2), None, false)),
            ),
            (
                "a deletion of other content",
                Box::new(|r| r[2].blob = oid(10)),
            ),
            (
                "a rename from nowhere",
                Box::new(|r| r[4].previous_path = Some(PromptPath::new("z"))),
            ),
            (
                "a first version that is not 1",
                Box::new(|r| r[0].kind = version(2, None, None, false)),
            ),
            (
                "a commit recorded twice",
                Box::new(|r| r[5].commit = oid(1)),
            ),
            (
                "a path named twice in a commit",
                Box::new(|r| r[1].commit = oid(1)),
            ),
            (
                "a rename without a source",
                Box::new(|r| r[4].previous_path = None),
            ),
        ];
        for (what, edit) in cases {
            let mut records = honest();
            edit(&mut records);
            assert!(Seed::replay(&records).is_err(), "{what} was replayed");
        }
    }
}
