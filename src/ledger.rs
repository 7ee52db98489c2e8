//! Questions answered from the decoded audit log (pure): which recorded version a content is,
//! whether it was approved, what was deployed where and when, and which paths are one prompt
//! across renames (its lineage).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::attestation::Statement;
use crate::attestation::predicate::{
    ApprovalRecord, ApprovalStatus, ChangeType, EventType, PromptRecord, RuleRecord,
};
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};

/// One prompt across renames: the paths it had, linked by `previousPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineageId(pub usize);

/// Which lineage each prompt record of the log belongs to. Built in log order: a version
/// entry with `previousPath` continues the lineage of that path; any other record continues
/// the lineage now at its path (a re-add after a deletion keeps it, as the numbering does);
/// otherwise a new lineage starts. A path freed by a rename and later reused starts a new
/// lineage, so `x.md` can name two prompts at different times.
#[derive(Debug, Clone, Default)]
pub struct Lineages {
    /// The lineage at each path after the entries seen so far.
    now: HashMap<PromptPath, LineageId>,
    /// The newest lineage that ever had each path.
    ever: HashMap<PromptPath, LineageId>,
    /// Each lineage's paths, oldest first.
    paths: Vec<Vec<PromptPath>>,
}

impl Lineages {
    /// Assigns every prompt record of `entries` (in log order) its lineage; the result has
    /// one `Vec` per entry, parallel to its prompts.
    pub fn assign<'a>(
        entries: impl IntoIterator<Item = (EventType, &'a [PromptRecord])>,
    ) -> (Lineages, Vec<Vec<LineageId>>) {
        let mut l = Lineages::default();
        let ids = entries
            .into_iter()
            .map(|(event, prompts)| prompts.iter().map(|p| l.observe(event, p)).collect())
            .collect();
        (l, ids)
    }

    /// The lineage of the next record in log order.
    pub fn observe(&mut self, event: EventType, p: &PromptRecord) -> LineageId {
        let moved = match (&p.previous_path, event) {
            (Some(from), EventType::Version) if from != &p.path => self.now.remove(from),
            _ => None,
        };
        let id = moved
            .or_else(|| self.now.get(&p.path).copied())
            // A deployment of a path no version entry named (verify reports it) still
            // belongs to whatever last had the path.
            .or_else(|| (event != EventType::Version).then(|| self.ever.get(&p.path).copied())?)
            .unwrap_or_else(|| {
                self.paths.push(Vec::new());
                LineageId(self.paths.len() - 1)
            });
        let paths = &mut self.paths[id.0];
        if paths.last() != Some(&p.path) {
            paths.retain(|q| q != &p.path);
            paths.push(p.path.clone());
        }
        if event == EventType::Version {
            self.now.insert(p.path.clone(), id);
        }
        self.ever.insert(p.path.clone(), id);
        id
    }

    /// The prompt `path` names: the one at that path now, else the newest one that had it
    /// (a prompt asked for by a former name).
    pub fn of(&self, path: &PromptPath) -> Option<LineageId> {
        self.now.get(path).or_else(|| self.ever.get(path)).copied()
    }

    /// The paths of a lineage, oldest first (the last is its current name).
    pub fn paths(&self, id: LineageId) -> &[PromptPath] {
        &self.paths[id.0]
    }

    /// The lineage's newest name.
    pub fn name(&self, id: LineageId) -> &PromptPath {
        self.paths[id.0]
            .last()
            .expect("a lineage is created with its first path")
    }
}

/// A recorded version with its approval facts.
#[derive(Debug, Clone)]
pub struct RecordedVersion {
    pub entry: EntryIndex,
    pub lineage: LineageId,
    pub prompt: PromptRecord,
    pub rule: Option<RuleRecord>,
    pub approvals: Vec<ApprovalRecord>,
}

impl RecordedVersion {
    /// Approved under its rule with approvals read from GitHub.
    pub fn approved(&self) -> bool {
        self.rule.as_ref().is_some_and(RuleRecord::is_approved)
    }

    /// Why it is not approved, in a sentence.
    pub fn why_not(&self) -> String {
        match &self.rule {
            None => "no approval decision was recorded".into(),
            Some(r) => match r.status {
                ApprovalStatus::NotFetched => {
                    "approvals were not fetched (recorded with --offline)".into()
                }
                ApprovalStatus::NoPullRequest => format!(
                    "landed without a merged pull request (rule {} needs {} approval(s))",
                    r.rule, r.required
                ),
                ApprovalStatus::Evaluated => format!(
                    "rule {} needs {} approval(s), {} counted (PR #{})",
                    r.rule,
                    r.required,
                    r.counted,
                    r.pull_request.unwrap_or_default()
                ),
            },
        }
    }
}

/// One deployment or rollback of one prompt into an environment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub path: PromptPath,
    #[serde(skip)]
    pub lineage: LineageId,
    pub version: Version,
    pub sha256: String,
    pub environment: String,
    pub event: EventType,
    pub entry: EntryIndex,
    pub deployed_at: DateTime<Utc>,
    pub actor: String,
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Version>,
}

/// The log, indexed.
#[derive(Debug, Default)]
pub struct Ledger {
    versions: Vec<RecordedVersion>,
    deployments: Vec<Deployed>,
    lineages: Lineages,
    /// Every path the log recorded, and whether its newest event left it in the tree.
    present: BTreeMap<PromptPath, bool>,
}

impl Ledger {
    pub fn new<'a>(statements: impl IntoIterator<Item = &'a Statement>) -> Ledger {
        let mut ledger = Ledger::default();
        for st in statements {
            let p = &st.predicate;
            match p.event {
                EventType::Version => {
                    for prompt in &p.prompts {
                        let lineage = ledger.lineages.observe(p.event, prompt);
                        if let Some(from) = &prompt.previous_path {
                            ledger.present.insert(from.clone(), false);
                        }
                        ledger.present.insert(
                            prompt.path.clone(),
                            prompt.change != Some(ChangeType::Deleted),
                        );
                        if matches!(
                            prompt.change,
                            Some(ChangeType::Deleted | ChangeType::Renamed)
                        ) && ledger.version_at(&prompt.path, prompt.version).is_some()
                        {
                            continue;
                        }
                        ledger.versions.push(RecordedVersion {
                            entry: p.log.index,
                            lineage,
                            prompt: prompt.clone(),
                            rule: p
                                .policy
                                .rules
                                .iter()
                                .find(|r| r.path == prompt.path)
                                .cloned(),
                            approvals: p
                                .approvals
                                .iter()
                                .filter(|a| a.path == prompt.path)
                                .cloned()
                                .collect(),
                        });
                    }
                }
                EventType::Deployment | EventType::Rollback => {
                    let Some(d) = &p.deployment else { continue };
                    for prompt in &p.prompts {
                        let lineage = ledger.lineages.observe(p.event, prompt);
                        ledger.deployments.push(Deployed {
                            path: prompt.path.clone(),
                            lineage,
                            version: prompt.version,
                            sha256: prompt.digest.sha256.to_string(),
                            environment: d.environment.clone(),
                            event: p.event,
                            entry: p.log.index,
                            deployed_at: d.deployed_at,
                            actor: d.actor.clone(),
                            run_id: d.run_id.clone(),
                            replaces: d.replaces,
                        });
                    }
                }
            }
        }
        ledger
    }

    /// The newest recorded version of `path` whose content is `blob`.
    pub fn by_content(&self, path: &PromptPath, blob: &Oid) -> Option<&RecordedVersion> {
        self.versions.iter().rev().find(|v| {
            &v.prompt.path == path
                && &v.prompt.digest.git_blob == blob
                && v.prompt.change != Some(ChangeType::Deleted)
        })
    }

    /// The version `n` recorded under exactly `path`.
    fn version_at(&self, path: &PromptPath, n: Version) -> Option<&RecordedVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| &v.prompt.path == path && v.prompt.version == n)
    }

    /// The newest recorded version of `path` whose bytes have the SHA-256 `sha256` (what the
    /// gate compares: the bytes on disk, no git filters).
    pub fn by_sha256(&self, path: &PromptPath, sha256: &Sha256Hex) -> Option<&RecordedVersion> {
        self.versions.iter().rev().find(|v| {
            &v.prompt.path == path
                && &v.prompt.digest.sha256 == sha256
                && v.prompt.change != Some(ChangeType::Deleted)
        })
    }

    /// The prompts the log says are in the tree (their newest event is not a deletion or a
    /// rename away), and how many prompts the log has ever recorded.
    pub fn live_prompts(&self) -> (Vec<&PromptPath>, usize) {
        let live = self
            .present
            .iter()
            .filter(|(_, live)| **live)
            .map(|(p, _)| p)
            .collect();
        (live, self.present.len())
    }

    /// The version `n` of `path`: recorded under that name, else under a former name of the
    /// same prompt (renames keep the number).
    pub fn version(&self, path: &PromptPath, n: Version) -> Option<&RecordedVersion> {
        self.version_at(path, n).or_else(|| {
            let lineage = self.lineages.of(path)?;
            self.versions
                .iter()
                .rev()
                .find(|v| v.lineage == lineage && v.prompt.version == n)
        })
    }

    /// The lineages (prompts across renames) of the log.
    pub fn lineages(&self) -> &Lineages {
        &self.lineages
    }

    /// Deployments and rollbacks of `path` into `env`, oldest first.
    pub fn deployments_of(&self, env: &str, path: &PromptPath) -> Vec<&Deployed> {
        self.deployments
            .iter()
            .filter(|d| d.environment == env && &d.path == path)
            .collect()
    }

    /// What was live in `env` at `at`: the latest deployment or rollback of each prompt,
    /// by the path it was deployed under. With `follow`, a prompt deployed under a new name
    /// after a rename is no longer listed under its old one; without, each path stands alone.
    pub fn active(
        &self,
        env: &str,
        at: DateTime<Utc>,
        follow: bool,
    ) -> BTreeMap<PromptPath, &Deployed> {
        let mut by_prompt: BTreeMap<(LineageId, Option<&PromptPath>), &Deployed> = BTreeMap::new();
        for d in self
            .deployments
            .iter()
            .filter(|d| d.environment == env && d.deployed_at <= at)
        {
            by_prompt.insert((d.lineage, (!follow).then_some(&d.path)), d);
        }
        by_prompt
            .into_values()
            .map(|d| (d.path.clone(), d))
            .collect()
    }

    /// Deployments made by a CI run (`run_id`) into `env` (for idempotent re-runs).
    pub fn by_run(&self, env: &str, run_id: &str) -> Vec<&Deployed> {
        self.deployments
            .iter()
            .filter(|d| d.environment == env && d.run_id.as_deref() == Some(run_id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::statement::DigestSet;
    use crate::types::Sha256Hex;

    fn record(path: &str, change: ChangeType, v: u32, from: Option<&str>) -> PromptRecord {
        PromptRecord {
            path: PromptPath::new(path),
            change: Some(change),
            version: Version(v),
            previous_version: None,
            previous_path: from.map(PromptPath::new),
            equals_version: None,
            commit: Oid::parse(&"1".repeat(40)).unwrap(),
            landed_at: DateTime::<Utc>::UNIX_EPOCH,
            digest: DigestSet {
                sha256: Sha256Hex::of(path.as_bytes()),
                git_blob: Oid::parse(&"2".repeat(40)).unwrap(),
            },
        }
    }

    #[test]
    fn renames_link_paths_and_a_reused_path_is_another_prompt() {
        use ChangeType::*;
        let log = [
            (EventType::Version, vec![record("x.md", Added, 1, None)]),
            (EventType::Deployment, vec![record("x.md", Added, 1, None)]),
            (EventType::Version, vec![record("x.md", Modified, 2, None)]),
            (
                EventType::Version,
                vec![record("data/x.md", Renamed, 2, Some("x.md"))],
            ),
            (
                EventType::Version,
                vec![record("data/x.md", Modified, 3, None)],
            ),
            // A new prompt at the freed path.
            (EventType::Version, vec![record("x.md", Added, 1, None)]),
            (
                EventType::Version,
                vec![record("data/x.md", Deleted, 3, None)],
            ),
            (
                EventType::Version,
                vec![record("data/x.md", Readded, 4, None)],
            ),
        ];
        let (lineages, ids) = Lineages::assign(log.iter().map(|(e, p)| (*e, p.as_slice())));
        let ids: Vec<usize> = ids.iter().map(|i| i[0].0).collect();
        assert_eq!(ids, vec![0, 0, 0, 0, 0, 1, 0, 0]);
        let moved = lineages.of(&PromptPath::new("data/x.md")).unwrap();
        assert_eq!(
            lineages.paths(moved),
            &[PromptPath::new("x.md"), PromptPath::new("data/x.md")]
        );
        assert_eq!(lineages.name(moved).as_str(), "data/x.md");
        // `x.md` now names the new prompt.
        assert_eq!(lineages.of(&PromptPath::new("x.md")), Some(LineageId(1)));
    }
}
