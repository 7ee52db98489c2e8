//! The promptrail audit event predicate (`https://promptrail.dev/audit-event/v1`).
//!
//! Field names are lowerCamelCase and timestamps RFC 3339 UTC (`Z`), per the in-toto
//! predicate conventions. Fields that later versions add are optional so that older logs
//! keep parsing.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::statement::DigestSet;
use crate::types::{EntryIndex, Oid, PromptPath, Sha256Hex, Version};

/// The event an entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event: EventType,
    pub log: LogPosition,
    pub prompts: Vec<PromptRecord>,
    pub authors: Vec<AuthorRecord>,
    pub approvals: Vec<ApprovalRecord>,
    pub policy: PolicyRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
    #[serde(serialize_with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    pub tool: ToolRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventType {
    /// A prompt version landed (or a prompt was renamed or deleted).
    Version,
    /// Versions went live in an environment.
    Deployment,
    /// A deployment that restores an earlier approved version.
    Rollback,
}

impl EventType {
    /// Every kind, in the order the schema lists them (`schema/audit-event.v1.json`'s
    /// `event` enum; a test keeps the two in step).
    pub const ALL: [EventType; 3] = [
        EventType::Version,
        EventType::Deployment,
        EventType::Rollback,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Version => "version",
            EventType::Deployment => "deployment",
            EventType::Rollback => "rollback",
        }
    }
}

/// Where the entry sits in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPosition {
    pub index: EntryIndex,
    /// SHA-256 of the previous entry file's bytes; `null` for entry 0.
    pub previous: Option<Sha256Hex>,
    /// The repository the log belongs to (as in `promptrail.json`).
    pub origin: String,
}

/// What happened to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    /// The prompt's first version.
    Added,
    /// New content.
    Modified,
    /// Content equal to an earlier version's (`equalsVersion` names it).
    Reverted,
    /// Moved with unchanged content (`previousPath`): same version.
    Renamed,
    /// Removed; `version` is the one that was live.
    Deleted,
    /// Back after a deletion, numbering continued (`previousVersion` is the deleted one,
    /// `equalsVersion` set when the content equals an earlier version's). Logs recorded
    /// before this value existed say `modified` or `reverted` for a re-add.
    Readded,
}

impl ChangeType {
    /// The wire name (`added`, `modified`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeType::Added => "added",
            ChangeType::Modified => "modified",
            ChangeType::Reverted => "reverted",
            ChangeType::Renamed => "renamed",
            ChangeType::Deleted => "deleted",
            ChangeType::Readded => "readded",
        }
    }
}

/// One prompt in the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRecord {
    pub path: PromptPath,
    /// What happened to the prompt (`version` events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeType>,
    /// The version this event is about (for `deleted`: the version that was removed).
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_path: Option<PromptPath>,
    /// For a revert: the earlier version whose content this equals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals_version: Option<Version>,
    /// The landed (first-parent) commit of this version.
    pub commit: Oid,
    #[serde(serialize_with = "rfc3339")]
    pub landed_at: DateTime<Utc>,
    pub digest: DigestSet,
}

/// Someone who wrote, co-wrote or committed the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorRecord {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    pub role: AuthorRole,
    pub commit: Oid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthorRole {
    Author,
    CoAuthor,
    Committer,
}

/// A reviewer's latest verdict on the pull request that landed the change, and whether it
/// counted under the policy (filled from GitHub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    pub reviewer: String,
    pub reviewer_id: u64,
    pub review_id: u64,
    /// `APPROVED`, `CHANGES_REQUESTED` or `DISMISSED`, or a state GitHub added that this
    /// version does not know (recorded as sent, ASCII letters, digits and `_`; it never counts).
    pub state: String,
    /// The commit the reviewer saw; `null` when GitHub reports none (force-pushed away or
    /// garbage-collected): such a verdict never counts as an approval.
    pub reviewed_commit: Option<Oid>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_rfc3339"
    )]
    pub submitted_at: Option<DateTime<Utc>>,
    pub pull_request: u64,
    pub url: String,
    pub head_commit: Oid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<Oid>,
    /// The prompt this verdict was judged for.
    pub path: PromptPath,
    /// Whether it counted toward the rule, and why (or why not).
    pub counted: bool,
    pub reason: String,
    /// The reviewer's repository permission (role) when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// Teams (`org/slug`) the policy names that the reviewer is an active member of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
}

/// The policy in force: the config's digest and, per prompt, the rule and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    /// Digest of `.promptrail.yml` as read when the entry was made.
    pub config_digest: ConfigDigest,
    /// One decision per prompt; empty when no approval policy was evaluated.
    #[serde(default)]
    pub rules: Vec<RuleRecord>,
    /// The policy that judged this entry: the newest `.promptrail.yml` version that took
    /// effect before the entry's commit. Absent only in entries made before promptrail
    /// governed its policy (0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_force: Option<PolicyInForce>,
    /// Part of the adoption baseline: recorded by the log's first `record`, when each
    /// `.promptrail.yml` change in the history takes effect as it landed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adoption: bool,
}

/// Which policy was in force: a recorded version of `.promptrail.yml`, or the built-in
/// default (no `version`, the SHA-256 of empty content) when none has taken effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInForce {
    /// The `.promptrail.yml` version; `None` for the built-in default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The entry that recorded that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryIndex>,
    /// The commit it landed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Oid>,
    /// SHA-256 of the file's bytes (of empty content for the built-in default).
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDigest {
    pub sha256: Sha256Hex,
}

/// The policy's decision for one prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    pub path: PromptPath,
    pub rule: String,
    pub required: u32,
    pub counted: u32,
    pub approved: bool,
    /// How the approvals were obtained.
    pub status: ApprovalStatus,
    /// Pull request that landed the change, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// For a policy change: every rule of the policy in force, each evaluated on its own
    /// (`approved` only when all are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<RulePart>,
}

/// One rule a policy change must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulePart {
    pub rule: String,
    pub required: u32,
    pub counted: u32,
    pub approved: bool,
}

impl RuleRecord {
    /// Approved under its rule, with approvals that were actually looked at (a change
    /// recorded `--offline` is never approved). The one definition the gate, `verify` and
    /// the reports share.
    pub fn is_approved(&self) -> bool {
        self.approved && self.status != ApprovalStatus::NotFetched
    }
}

/// Where an entry's approvals came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalStatus {
    /// Reviews were read from GitHub and judged by the policy.
    Evaluated,
    /// No merged pull request landed the change (pushed directly): unapproved.
    NoPullRequest,
    /// Recorded with `--offline`: approvals were not fetched; the gate treats it as unapproved.
    NotFetched,
}

/// A deployment's facts (deployment and rollback events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    pub environment: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: Oid,
    #[serde(serialize_with = "rfc3339")]
    pub deployed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Version>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    pub version: String,
}

impl ToolRecord {
    pub fn this() -> Self {
        ToolRecord {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

pub(crate) fn opt_rfc3339<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// RFC 3339 in UTC with a `Z` and whole seconds.
pub(crate) fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}
