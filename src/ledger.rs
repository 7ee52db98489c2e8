//! Questions answered from the decoded audit log (pure): which recorded version a content is,
//! whether it was approved, and what was deployed where and when.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::attestation::Statement;
use crate::attestation::predicate::{
    ApprovalRecord, ApprovalStatus, ChangeType, EventType, PromptRecord, RuleRecord,
};
use crate::types::{EntryIndex, Oid, PromptPath, Version};

/// A recorded version with its approval facts.
#[derive(Debug, Clone)]
pub struct RecordedVersion {
    pub entry: EntryIndex,
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
}

impl Ledger {
    pub fn new<'a>(statements: impl IntoIterator<Item = &'a Statement>) -> Ledger {
        let mut ledger = Ledger::default();
        for st in statements {
            let p = &st.predicate;
            match p.event {
                EventType::Version => {
                    for prompt in &p.prompts {
                        if matches!(
                            prompt.change,
                            Some(ChangeType::Deleted | ChangeType::Renamed)
                        ) && ledger.version(&prompt.path, prompt.version).is_some()
                        {
                            continue;
                        }
                        ledger.versions.push(RecordedVersion {
                            entry: p.log.index,
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
                        ledger.deployments.push(Deployed {
                            path: prompt.path.clone(),
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

    /// The version `n` of `path` (under that name, or a former one).
    pub fn version(&self, path: &PromptPath, n: Version) -> Option<&RecordedVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| &v.prompt.path == path && v.prompt.version == n)
            .or_else(|| {
                self.versions.iter().rev().find(|v| {
                    v.prompt.previous_path.as_ref() == Some(path) && v.prompt.version == n
                })
            })
    }

    /// Deployments and rollbacks of `path` into `env`, oldest first.
    pub fn deployments_of(&self, env: &str, path: &PromptPath) -> Vec<&Deployed> {
        self.deployments
            .iter()
            .filter(|d| d.environment == env && &d.path == path)
            .collect()
    }

    /// What was live in `env` at `at`: the latest deployment or rollback of each prompt.
    pub fn active(&self, env: &str, at: DateTime<Utc>) -> BTreeMap<PromptPath, &Deployed> {
        let mut out = BTreeMap::new();
        for d in self
            .deployments
            .iter()
            .filter(|d| d.environment == env && d.deployed_at <= at)
        {
            out.insert(d.path.clone(), d);
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
}
