//! in-toto Statement v1.

use serde::{Deserialize, Serialize};

use super::predicate::AuditEvent;
use crate::types::{Oid, Sha256Hex};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// Our predicate type.
pub const PREDICATE_TYPE: &str = "https://promptrail.dev/audit-event/v1";

/// An in-toto Statement v1 carrying an audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    pub predicate_type: String,
    pub predicate: AuditEvent,
}

/// One prompt file the event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// The prompt's repository-relative path.
    pub name: String,
    pub digest: DigestSet,
}

/// `sha256` of the bytes (what cosign and other verifiers match) and the git blob id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSet {
    pub sha256: Sha256Hex,
    #[serde(rename = "gitBlob")]
    pub git_blob: Oid,
}

impl Statement {
    pub fn new(subject: Vec<ResourceDescriptor>, predicate: AuditEvent) -> Self {
        Statement {
            type_: STATEMENT_TYPE.into(),
            subject,
            predicate_type: PREDICATE_TYPE.into(),
            predicate,
        }
    }

    /// The payload bytes: compact JSON, as signed. A serialisation error is returned, never
    /// turned into an empty payload that would then be signed.
    pub fn to_payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
