//! Questions answered from the decoded audit log (pure): which recorded version a content is,
//! whether it was approved, what was deployed where and when, and which paths are one prompt
//! across renames (its lineage).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::attestation::Statement;
use crate::attestation::predicate::{
    ApprovalRecord, ApprovalStatus, AuthorRecord, ChangeType, EventType, PromptRecord, RuleRecord,
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
        // Only a version entry gives a path its name; a deployment or rollback uses it.
        let names = match event {
            EventType::Version => true,
            EventType::Deployment | EventType::Rollback => false,
        };
        let moved = match &p.previous_path {
            Some(from) if names && from != &p.path => self.now.remove(from),
            _ => None,
        };
        let id = moved
            .or_else(|| self.now.get(&p.path).copied())
            // A deployment of a path no version entry named (verify reports it) still
            // belongs to whatever last had the path.
            .or_else(|| (!names).then(|| self.ever.get(&p.path).copied())?)
            .unwrap_or_else(|| {
                self.paths.push(Vec::new());
                LineageId(self.paths.len() - 1)
            });
        let paths = &mut self.paths[id.0];
        if paths.last() != Some(&p.path) {
            paths.retain(|q| q != &p.path);
            paths.push(p.path.clone());
        }
        if names {
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
    /// Everyone the entry names as author, co-author or committer.
    pub authors: Vec<AuthorRecord>,
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
                            authors: p.authors.clone(),
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

    /// Every recorded version (not deletions) whose `sha256` or git blob id starts with
    /// the query's hex digits, grouped by content (`sha256`), oldest first within a group.
    pub fn by_digest(&self, q: &DigestQuery) -> Vec<ContentMatch<'_>> {
        let mut out: Vec<ContentMatch<'_>> = Vec::new();
        for v in self
            .versions
            .iter()
            .filter(|v| v.prompt.change != Some(ChangeType::Deleted) && q.matches(v))
        {
            let sha = v.prompt.digest.sha256.as_str();
            match out.iter_mut().find(|m| m.sha256 == sha) {
                Some(m) => m.versions.push(v),
                None => out.push(ContentMatch {
                    sha256: sha.to_owned(),
                    versions: vec![v],
                }),
            }
        }
        out
    }

    /// The windows during which version `v` was live, per environment, in log order: from
    /// the deployment or rollback that made it live until the next one of that prompt (the
    /// same lineage, under any of its names) in the same environment that made another
    /// version live (`None`: still live). Re-deploying the live version extends its window.
    pub fn live_windows(&self, v: &RecordedVersion) -> Vec<LiveWindow> {
        let mut out: Vec<LiveWindow> = Vec::new();
        for d in self.deployments.iter().filter(|d| d.lineage == v.lineage) {
            let open = out
                .iter()
                .rposition(|w| w.environment == d.environment && w.until.is_none());
            match (open, d.version == v.prompt.version) {
                (Some(_), true) => {}
                (Some(i), false) => {
                    out[i].until = Some(d.deployed_at);
                    out[i].ended_by = Some(d.entry);
                }
                (None, true) => out.push(LiveWindow {
                    environment: d.environment.clone(),
                    from: d.deployed_at,
                    until: None,
                    entry: d.entry,
                    event: d.event,
                    ended_by: None,
                }),
                (None, false) => {}
            }
        }
        out
    }

    /// The deployment or rollback that made prompt `lineage` live in `env` as of `at`.
    pub fn live_at(&self, env: &str, lineage: LineageId, at: DateTime<Utc>) -> Option<&Deployed> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.environment == env && d.lineage == lineage && d.deployed_at <= at)
    }

    /// Every recorded version with exactly this content (`sha256`), not deletions.
    pub fn with_content(&self, sha256: &str) -> Vec<&RecordedVersion> {
        self.versions
            .iter()
            .filter(|v| {
                v.prompt.digest.sha256.as_str() == sha256
                    && v.prompt.change != Some(ChangeType::Deleted)
            })
            .collect()
    }

    /// What a content (`sha256`) was in `env` at `at`: the deployment that made it live
    /// there (under any path recorded with it) and that version's record, or what was live
    /// instead for those prompts (followed across renames).
    pub fn content_at(&self, env: &str, sha256: &str, at: DateTime<Utc>) -> ContentAt<'_> {
        self.content_at_among(env, sha256, at, &self.with_content(sha256))
    }

    /// [`Ledger::content_at`] given `versions`, the content's [`Ledger::with_content`] (for a
    /// caller asking about one content at many times: it looks them up once).
    pub fn content_at_among(
        &self,
        env: &str,
        sha256: &str,
        at: DateTime<Utc>,
        versions: &[&RecordedVersion],
    ) -> ContentAt<'_> {
        let mut out = ContentAt::default();
        let mut lineages: Vec<LineageId> = Vec::new();
        for v in versions {
            if !lineages.contains(&v.lineage) {
                lineages.push(v.lineage);
            }
        }
        for lineage in lineages {
            match self.live_at(env, lineage, at) {
                Some(d) if d.sha256 == sha256 => {
                    out.live = Some(d);
                    out.version = self.version(&d.path, d.version);
                    break;
                }
                Some(d) => out.instead.push(d),
                None => {}
            }
        }
        out
    }

    /// Deployments made by a CI run (`run_id`) into `env` (for idempotent re-runs).
    pub fn by_run(&self, env: &str, run_id: &str) -> Vec<&Deployed> {
        self.deployments
            .iter()
            .filter(|d| d.environment == env && d.run_id.as_deref() == Some(run_id))
            .collect()
    }

    /// What a rollback of `path` in `env` restores: the version `to` when given, else the
    /// newest version deployed there before the live one that was never rolled back from;
    /// for a CI run (`run_id`) that already recorded a rollback of `path`, what that
    /// rollback restored (a re-run restores it again and appends nothing).
    pub fn rollback_plan(
        &self,
        env: &str,
        path: &PromptPath,
        run_id: Option<&str>,
        to: Option<Version>,
    ) -> Result<RollbackPlan<'_>, RollbackRefusal> {
        let history = self.deployments_of(env, path);
        let Some(&current) = history.last() else {
            return Err(RollbackRefusal::NeverDeployed);
        };
        let already = run_id.and_then(|run| {
            self.by_run(env, run)
                .into_iter()
                .rfind(|d| &d.path == path && d.event == EventType::Rollback)
        });
        // Versions that were rolled back from are not candidates for the default target.
        let rolled_back_from: BTreeSet<Version> = history
            .iter()
            .filter(|d| d.event == EventType::Rollback)
            .filter_map(|d| d.replaces)
            .collect();
        let target = match (already, to) {
            (Some(d), _) => d.version,
            (None, Some(n)) => n,
            (None, None) => history
                .iter()
                .rev()
                .map(|d| d.version)
                .find(|v| *v != current.version && !rolled_back_from.contains(v))
                .ok_or(RollbackRefusal::NoEarlierVersion)?,
        };
        if already.is_none() && target == current.version {
            return Err(RollbackRefusal::AlreadyLive(target));
        }
        Ok(RollbackPlan {
            current,
            already,
            target,
        })
    }
}

/// What a rollback restores (see [`Ledger::rollback_plan`]).
#[derive(Debug, Clone, Copy)]
pub struct RollbackPlan<'a> {
    /// The deployment live now.
    pub current: &'a Deployed,
    /// The rollback this CI run already recorded, if it did.
    pub already: Option<&'a Deployed>,
    /// The version to restore.
    pub target: Version,
}

/// Why a rollback has nothing to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackRefusal {
    /// The prompt was never deployed to the environment.
    NeverDeployed,
    /// No earlier version was deployed there to return to (and none was named).
    NoEarlierVersion,
    /// The version to restore is the one live now.
    AlreadyLive(Version),
}

/// Which digest a runtime value names: hex digits of a `sha256`, of a git blob id, or of
/// either (a bare prefix), lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestQuery {
    pub kind: DigestKind,
    pub hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    Sha256,
    GitBlob,
    Either,
}

/// The shortest prefix accepted: shorter ones name too many contents to be an answer.
pub const MIN_PREFIX: usize = 6;

impl DigestQuery {
    /// `sha256:HEX`, `gitBlob:HEX` / `blob:HEX`, or bare HEX (a full 64-digit `sha256`, a
    /// full 40-digit blob id, or a prefix of either of at least [`MIN_PREFIX`] digits).
    /// `None` when the text is not such a value.
    pub fn parse(text: &str) -> Option<DigestQuery> {
        let text = text.trim();
        let (kind, hex) = match text.split_once(':') {
            Some((k, h)) if k.eq_ignore_ascii_case("sha256") => (DigestKind::Sha256, h),
            Some((k, h)) if k.eq_ignore_ascii_case("gitblob") || k.eq_ignore_ascii_case("blob") => {
                (DigestKind::GitBlob, h)
            }
            Some(_) => return None,
            None => (DigestKind::Either, text),
        };
        let ok = hex.len() >= MIN_PREFIX
            && hex.len() <= 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| DigestQuery {
            kind,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// The query for a content's full `sha256`.
    pub fn sha256(sha256: &str) -> DigestQuery {
        DigestQuery {
            kind: DigestKind::Sha256,
            hex: sha256.to_ascii_lowercase(),
        }
    }

    fn matches(&self, v: &RecordedVersion) -> bool {
        let d = &v.prompt.digest;
        match self.kind {
            DigestKind::Sha256 => d.sha256.as_str().starts_with(&self.hex),
            DigestKind::GitBlob => d.git_blob.as_str().starts_with(&self.hex),
            DigestKind::Either => {
                d.sha256.as_str().starts_with(&self.hex)
                    || d.git_blob.as_str().starts_with(&self.hex)
            }
        }
    }
}

/// One content a digest query matched, with every version recorded with it.
#[derive(Debug, Clone)]
pub struct ContentMatch<'a> {
    pub sha256: String,
    pub versions: Vec<&'a RecordedVersion>,
}

/// A time window during which a version was live in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveWindow {
    pub environment: String,
    #[serde(serialize_with = "crate::attestation::predicate::rfc3339")]
    pub from: DateTime<Utc>,
    /// `None`: still live.
    #[serde(serialize_with = "crate::attestation::predicate::opt_rfc3339")]
    pub until: Option<DateTime<Utc>>,
    /// The deployment or rollback entry that made it live.
    pub entry: EntryIndex,
    pub event: EventType,
    /// The entry that replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<EntryIndex>,
}

impl LiveWindow {
    /// Live at `at` (the start is inclusive, the end exclusive).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && self.until.is_none_or(|u| at < u)
    }
}

/// A content's state in an environment at a time ([`Ledger::content_at`]).
#[derive(Debug, Clone, Default)]
pub struct ContentAt<'a> {
    /// The deployment or rollback that made it live.
    pub live: Option<&'a Deployed>,
    /// The live version's record.
    pub version: Option<&'a RecordedVersion>,
    /// Not live: what was live instead under the paths recorded with this content.
    pub instead: Vec<&'a Deployed>,
}

impl ContentAt<'_> {
    /// Live and approved.
    pub fn ok(&self) -> bool {
        self.live.is_some() && self.version.is_some_and(RecordedVersion::approved)
    }

    /// The answer in a sentence (`env`, `at` as asked).
    pub fn reason(&self, env: &str, at: DateTime<Utc>) -> String {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match (self.live, self.version) {
            (Some(d), Some(v)) if v.approved() => format!(
                "{} {} was live in {env} at {at} ({} #{}) and approved (entry #{})",
                d.path,
                d.version,
                d.event.as_str(),
                d.entry.0,
                v.entry.0
            ),
            (Some(d), Some(v)) => format!(
                "{} {} was live in {env} at {at} ({} #{}) but NOT approved: {}",
                d.path,
                d.version,
                d.event.as_str(),
                d.entry.0,
                v.why_not()
            ),
            (Some(d), None) => format!(
                "{} {} was live in {env} at {at} ({} #{}) but is not a recorded version",
                d.path,
                d.version,
                d.event.as_str(),
                d.entry.0
            ),
            (None, _) if self.instead.is_empty() => {
                format!(
                    "this content was not live in {env} at {at}: nothing with it had been deployed there"
                )
            }
            (None, _) => {
                let instead: Vec<String> = self
                    .instead
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {} ({} #{})",
                            d.path,
                            d.version,
                            d.event.as_str(),
                            d.entry.0
                        )
                    })
                    .collect();
                format!(
                    "this content was not live in {env} at {at}: live instead was {}",
                    instead.join(", ")
                )
            }
        }
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
