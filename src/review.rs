//! Pull requests and reviews as promptrail sees them (domain types; `github/` maps GitHub's
//! JSON into these, `policy` decides over them).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::Oid;

/// What kind of account acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountKind {
    User,
    Bot,
    /// A deleted account (GitHub shows it as `ghost`, or `user: null`).
    Ghost,
}

/// A GitHub account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub login: String,
    pub id: u64,
    pub kind: AccountKind,
}

impl Account {
    /// Logins compare case-insensitively on GitHub.
    pub fn is(&self, login: &str) -> bool {
        self.login.eq_ignore_ascii_case(login)
    }
}

/// A review's state as GitHub reports it. GitHub documents `state` as an open string, so a
/// state this version does not know is kept as [`ReviewState::Unknown`]: it is a verdict that
/// never approves (it cancels the reviewer's earlier approval), never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
    /// Any other state as sent, its case kept (`approved` is not `APPROVED`), other
    /// characters than ASCII letters, digits and `_` replaced by `_`, at most 64.
    Unknown(String),
}

impl ReviewState {
    /// The state GitHub sent; anything unknown becomes [`ReviewState::Unknown`].
    pub fn parse(s: &str) -> ReviewState {
        match s {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "COMMENTED" => ReviewState::Commented,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            other => {
                let clean: String = other
                    .chars()
                    .take(64)
                    .map(|c| match c {
                        'A'..='Z' | 'a'..='z' | '0'..='9' | '_' => c,
                        _ => '_',
                    })
                    .collect();
                ReviewState::Unknown(if clean.is_empty() {
                    "UNKNOWN".into()
                } else {
                    clean
                })
            }
        }
    }

    /// Whether this review replaces the reviewer's earlier verdict (a comment or a pending
    /// review does not; an unknown state does, failing closed).
    pub fn is_verdict(&self) -> bool {
        matches!(
            self,
            ReviewState::Approved
                | ReviewState::ChangesRequested
                | ReviewState::Dismissed
                | ReviewState::Unknown(_)
        )
    }
}

impl fmt::Display for ReviewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
            ReviewState::Unknown(s) => s,
        })
    }
}

impl Serialize for ReviewState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReviewState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ReviewState::parse(&String::deserialize(d)?))
    }
}

/// One submitted review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub reviewer: Account,
    pub state: ReviewState,
    /// The commit the reviewer saw; `None` when GitHub reports none (documented: the commit
    /// was force-pushed away or garbage-collected). Such a review still cancels the
    /// reviewer's earlier verdicts, and never counts as an approval.
    pub commit: Option<Oid>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub url: String,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    pub opener: Account,
    pub head: Oid,
    pub base: Oid,
    pub base_ref: String,
    pub merged: bool,
    pub merge_commit: Option<Oid>,
}

/// One file a pull request changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    pub previous_path: Option<String>,
    pub status: String,
}

/// One commit of a pull request, with the GitHub accounts behind it where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommit {
    pub sha: Oid,
    /// GitHub login of the commit's author, when GitHub linked one.
    pub author: Option<String>,
    /// The author's email as written in the commit (to recognise co-authors).
    pub author_email: Option<String>,
    pub committer: Option<String>,
}

/// A repository permission level (the `role_name` ladder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "none" => Permission::None,
            "read" | "pull" => Permission::Read,
            "triage" => Permission::Triage,
            "write" | "push" => Permission::Write,
            "maintain" => Permission::Maintain,
            "admin" => Permission::Admin,
            _ => return None,
        })
    }

    /// The level of a collaborator: `role_name` when it is a built-in role; for a custom
    /// role, the legacy `permission` it is based on (the conservative reading).
    pub fn from_role(role_name: &str, legacy: &str) -> Permission {
        Permission::parse(role_name)
            .or_else(|| Permission::parse(legacy))
            .unwrap_or(Permission::None)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_states_are_kept_as_verdicts_and_never_read_as_approvals() {
        assert_eq!(ReviewState::parse("APPROVED"), ReviewState::Approved);
        let lower = ReviewState::parse("approved");
        assert_eq!(lower, ReviewState::Unknown("approved".into()));
        assert!(lower.is_verdict());
        assert_ne!(lower.to_string(), "APPROVED");
        assert_eq!(
            ReviewState::parse("NEW STATE\n<b>").to_string(),
            "NEW_STATE__b_"
        );
        assert_eq!(ReviewState::parse("").to_string(), "UNKNOWN");
        assert_eq!(ReviewState::parse(&"X".repeat(500)).to_string().len(), 64);
        assert!(!ReviewState::Commented.is_verdict());
        let json = serde_json::to_string(&ReviewState::ChangesRequested).unwrap();
        assert_eq!(json, "\"CHANGES_REQUESTED\"");
        let back: ReviewState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ReviewState::ChangesRequested);
    }
}
