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

/// A review's state as GitHub reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

impl ReviewState {
    /// Whether this review replaces the reviewer's earlier verdict (a comment does not).
    pub fn is_verdict(self) -> bool {
        matches!(
            self,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
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
        })
    }
}

/// One submitted review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub reviewer: Account,
    pub state: ReviewState,
    /// The commit the reviewer saw.
    pub commit: Oid,
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
