//! View models: plain data that commands build and reports render.

use serde::Serialize;

use crate::attestation::Statement;
use crate::attestation::predicate::{
    ApprovalRecord, AuthorRecord, DeploymentRecord, EventType, PolicyRecord, PromptRecord,
};
use crate::signing::SignedBy;
use crate::types::{EntryIndex, Oid, PromptPath, Version};

/// One audit log entry, decoded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    pub index: EntryIndex,
    pub file: String,
    pub event: EventType,
    pub recorded_at: String,
    /// The signing key's id (key mode).
    pub key_id: Option<String>,
    /// The certificate's identity (keyless mode), as the entry states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_identity: Option<String>,
    pub prompts: Vec<PromptRecord>,
    pub authors: Vec<AuthorRecord>,
    pub approvals: Vec<ApprovalRecord>,
    /// The policy that judged the entry, and its decision per prompt.
    pub policy: PolicyRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

impl EntryView {
    pub fn new(file: &str, signed_by: Option<SignedBy>, st: &Statement) -> Self {
        let p = &st.predicate;
        let (key_id, certificate_identity) = match signed_by {
            Some(SignedBy::Key(id)) => (Some(id), None),
            Some(SignedBy::Keyless(identity)) => (None, Some(identity)),
            None => (None, None),
        };
        EntryView {
            index: p.log.index,
            file: file.to_owned(),
            event: p.event,
            recorded_at: p
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            key_id,
            certificate_identity,
            prompts: p.prompts.clone(),
            authors: p.authors.clone(),
            approvals: p.approvals.clone(),
            policy: p.policy.clone(),
            deployment: p.deployment.clone(),
        }
    }
}

/// `promptrail status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub branch: String,
    pub commit: Oid,
    pub audit_branch: String,
    /// Entries on the audit branch (0 when it does not exist yet).
    pub log_entries: u64,
    pub prompts: Vec<PromptStatus>,
    /// Prompt events that landed but are not in the log yet.
    pub unrecorded: Vec<PendingEvent>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptStatus {
    pub path: PromptPath,
    /// The live version on the protected branch.
    pub version: Version,
    /// The newest version of this prompt in the audit log.
    pub recorded: Option<Version>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEvent {
    pub path: PromptPath,
    pub version: Version,
    pub change: String,
    pub commit: Oid,
}

/// `promptrail record`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    pub audit_branch: String,
    pub commit: Oid,
    pub appended: Vec<EntryView>,
    pub pushed: bool,
    /// Pushes rejected because another job appended first, then rebuilt.
    pub retries: u32,
}

/// `promptrail show P@vN`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShowView {
    /// The prompt's names across renames, oldest first (one when it was never renamed).
    pub names: Vec<PromptPath>,
    pub entry: EntryView,
    pub prompt: PromptRecord,
    /// The version's text; `None` when the blob is not in this clone.
    pub content: Option<String>,
    /// Unified diff against the previous version (`None` for a first version).
    pub diff: Option<String>,
    pub deployments: Vec<EntryView>,
}

/// `promptrail check`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    pub pull_request: u64,
    pub url: String,
    pub head: Oid,
    pub approved: bool,
    pub decisions: Vec<crate::policy::Decision>,
    /// GitHub API requests made.
    pub requests: u32,
}

/// `promptrail check` on a `merge_group` event: every pull request of the group, and whether
/// what the group lands is what they had approved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeGroupView {
    pub head_ref: String,
    pub head_sha: Oid,
    pub base_branch: String,
    pub base_sha: Oid,
    pub approved: bool,
    /// One check per pull request of the group, in the order the group applies them.
    pub pull_requests: Vec<CheckView>,
    /// Every prompt (and `.promptrail.yml`) the group changes.
    pub group: Vec<GroupPrompt>,
    /// GitHub API requests made.
    pub requests: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPrompt {
    pub path: PromptPath,
    /// The pull request whose approvals cover it (the last of the group that changed it).
    pub pull_request: Option<u64>,
    pub ok: bool,
    pub reason: String,
}

/// `promptrail gate`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateView {
    pub environment: String,
    pub ok: bool,
    /// Set when the audit log itself failed verification (then nothing passes).
    pub log_problem: Option<String>,
    pub prompts: Vec<GateRow>,
    /// The policy the gate judged by (the policy in force, from the audit log).
    pub policy: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRow {
    pub path: PromptPath,
    pub version: Option<Version>,
    /// The SHA-256 of the bytes on disk (none when the path could not be read as a file).
    pub sha256: Option<String>,
    pub ok: bool,
    pub reason: String,
}

/// What a deployment or rollback recorded: the manifest.
///
/// An application attaches to each trace span the prompt's `path`, `version` and `sha256`
/// and the audit entries (`versionEntry`, `entry`) — `promptrail trace` and `promptrail which`
/// read them back (the README's "Attaching prompt identity to traces" names the attributes).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub environment: String,
    pub event: String,
    /// The deployment or rollback entry.
    pub entry: Option<EntryIndex>,
    pub sha: Oid,
    pub prompts: Vec<ManifestPrompt>,
    /// True when this run had already recorded the same deployment (nothing appended).
    pub already_recorded: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPrompt {
    pub path: PromptPath,
    pub version: Version,
    pub sha256: String,
    /// The entry that recorded this version (its approvals and authors).
    pub version_entry: EntryIndex,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Version>,
}

/// `promptrail doctor`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorView {
    pub repository: String,
    pub protected_branch: String,
    pub audit_branch: String,
    /// True when nothing is missing (settings that could not be read are not counted).
    pub ok: bool,
    pub missing: usize,
    pub cannot_read: usize,
    pub findings: Vec<crate::doctor::Finding>,
}
