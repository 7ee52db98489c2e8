//! GitHub's JSON shapes, only the fields promptrail reads (REST API 2022-11-28).

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: String,
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
}

#[derive(Debug, Deserialize)]
pub struct Pull {
    pub number: u64,
    pub html_url: String,
    pub user: Option<User>,
    pub head: GitRef,
    pub base: GitRef,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    pub state: String,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub commit_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DiffEntry {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

/// A commit's linked account: `simple-user`, or `{}` / `null` when GitHub links none (the
/// OpenAPI description's `oneOf: [simple-user, empty-object]`, nullable).
#[derive(Debug, Deserialize)]
pub struct CommitUser {
    #[serde(default)]
    pub login: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Commit {
    pub sha: String,
    #[serde(default)]
    pub author: Option<CommitUser>,
    #[serde(default)]
    pub committer: Option<CommitUser>,
    #[serde(default)]
    pub commit: Option<GitCommit>,
}

#[derive(Debug, Deserialize)]
pub struct GitCommit {
    #[serde(default)]
    pub author: Option<GitIdentity>,
}

#[derive(Debug, Deserialize)]
pub struct GitIdentity {
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CollaboratorPermission {
    pub permission: String,
    #[serde(default)]
    pub role_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TeamMembership {
    pub state: String,
}

/// `GET /orgs/{org}/teams/{slug}` (only to learn that the team is visible).
#[derive(Debug, Deserialize)]
pub struct Team {
    pub slug: String,
}

#[derive(Debug, Deserialize)]
pub struct Deployment {
    pub id: u64,
}

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
}
