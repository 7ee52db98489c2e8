//! The only module that talks to GitHub. It returns domain types (`review`), never
//! octocrab's or GitHub's JSON types.
//!
//! Requests go through octocrab's raw interface so that promptrail controls pagination
//! (`Link` headers, `per_page=100`), retries (5xx, secondary rate limits, honouring
//! `retry-after` and `x-ratelimit-reset`, a bounded number of times) and error messages that
//! say which permission the token lacks. The token never appears in output or errors.

mod attestations;
mod client;
mod settings;
mod wire;

pub use client::{Client, GitHubError};

use crate::review::{
    Account, AccountKind, ChangedFile, Permission, PrCommit, PullRequest, Review, ReviewState,
};
use crate::types::Oid;

/// GitHub stops listing a pull request's files here; beyond it promptrail fails closed.
pub const MAX_PR_FILES: usize = 3000;

/// GitHub lists at most this many of a pull request's commits (documented for
/// `GET /pulls/N/commits`); authors past it would be invisible, so promptrail fails closed.
pub const MAX_PR_COMMITS: usize = 250;

/// Where the repository lives on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// `owner/name`.
    pub fn parse(s: &str) -> Option<Repo> {
        let (owner, name) = s.trim().trim_matches('/').split_once('/')?;
        let name = name.strip_suffix(".git").unwrap_or(name);
        (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then(|| Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// From a normalized origin such as `github.com/owner/name`.
    pub fn from_origin(origin: &str) -> Option<Repo> {
        let mut parts: Vec<&str> = origin.trim_end_matches('/').rsplitn(3, '/').collect();
        parts.reverse();
        match parts.as_slice() {
            [_, owner, name] => Repo::parse(&format!("{owner}/{name}")),
            _ => None,
        }
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

fn account(user: Option<wire::User>) -> Account {
    match user {
        None => Account {
            login: "ghost".into(),
            id: 0,
            kind: AccountKind::Ghost,
        },
        Some(u) => {
            let kind = match u.kind.as_deref() {
                _ if u.login == "ghost" => AccountKind::Ghost,
                Some("Bot") => AccountKind::Bot,
                _ if u.login.ends_with("[bot]") => AccountKind::Bot,
                _ => AccountKind::User,
            };
            Account {
                login: u.login,
                id: u.id,
                kind,
            }
        }
    }
}

fn oid(s: &str, what: &str) -> Result<Oid, GitHubError> {
    Oid::parse(s).ok_or_else(|| GitHubError::Decode {
        endpoint: what.into(),
        message: format!("`{s}` is not a commit id"),
    })
}

fn pull(p: wire::Pull) -> Result<PullRequest, GitHubError> {
    Ok(PullRequest {
        number: p.number,
        url: p.html_url,
        opener: account(p.user),
        head: oid(&p.head.sha, "pull request head")?,
        base: oid(&p.base.sha, "pull request base")?,
        base_ref: p.base.git_ref,
        merged: p.merged.unwrap_or(false) || p.merged_at.is_some(),
        merge_commit: p.merge_commit_sha.as_deref().and_then(Oid::parse),
    })
}

impl Client {
    pub fn pull_request(&self, number: u64) -> Result<PullRequest, GitHubError> {
        let p: wire::Pull = self.get(&format!("/repos/{}/pulls/{number}", self.repo()))?;
        pull(p)
    }

    /// Every review of the pull request (all pages).
    pub fn reviews(&self, number: u64) -> Result<Vec<Review>, GitHubError> {
        let raw: Vec<wire::Review> =
            self.get_pages(&format!("/repos/{}/pulls/{number}/reviews", self.repo()))?;
        raw.into_iter()
            .map(|r| {
                // A null `commit_id` is documented (the commit was force-pushed away or
                // garbage-collected): the review is kept, so that it still cancels the
                // reviewer's earlier approvals; the policy never counts it as an approval.
                let commit = match r.commit_id.as_deref() {
                    None => None,
                    Some(s) => Some(oid(s, "pull request review")?),
                };
                Ok(Review {
                    id: r.id,
                    reviewer: account(r.user),
                    state: ReviewState::parse(&r.state),
                    commit,
                    submitted_at: r.submitted_at,
                    url: r.html_url,
                })
            })
            .collect()
    }

    /// Every changed file (all pages). Fails closed at GitHub's 3,000-file limit.
    pub fn files(&self, number: u64) -> Result<Vec<ChangedFile>, GitHubError> {
        let raw: Vec<wire::DiffEntry> =
            self.get_pages(&format!("/repos/{}/pulls/{number}/files", self.repo()))?;
        if raw.len() >= MAX_PR_FILES {
            return Err(GitHubError::TooManyFiles { number });
        }
        Ok(raw
            .into_iter()
            .map(|f| ChangedFile {
                path: f.filename,
                previous_path: f.previous_filename,
                status: f.status,
            })
            .collect())
    }

    /// The pull request's commits with their GitHub accounts (all pages). Fails closed at
    /// GitHub's 250-commit limit. An `author`/`committer` that is `null` or `{}` (documented:
    /// no GitHub account is linked to the commit's email) is an unknown account.
    pub fn commits(&self, number: u64) -> Result<Vec<PrCommit>, GitHubError> {
        let raw: Vec<wire::Commit> =
            self.get_pages(&format!("/repos/{}/pulls/{number}/commits", self.repo()))?;
        if raw.len() >= MAX_PR_COMMITS {
            return Err(GitHubError::TooManyCommits { number });
        }
        raw.into_iter()
            .map(|c| {
                Ok(PrCommit {
                    sha: oid(&c.sha, "pull request commit")?,
                    author: c.author.and_then(|u| u.login),
                    author_email: c.commit.and_then(|g| g.author).and_then(|a| a.email),
                    committer: c.committer.and_then(|u| u.login),
                })
            })
            .collect()
    }

    /// The GitHub login that commits authored with `email` are linked to, if any (one request:
    /// the newest such commit in the repository).
    pub fn login_for_email(&self, email: &str) -> Result<Option<String>, GitHubError> {
        let encoded: String = email
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let commits: Vec<wire::Commit> = self.get(&format!(
            "/repos/{}/commits?author={encoded}&per_page=1",
            self.repo()
        ))?;
        Ok(commits
            .into_iter()
            .find_map(|c| c.author.and_then(|u| u.login)))
    }

    /// Pull requests associated with a commit (to find the merged PR behind a push).
    pub fn pulls_for_commit(&self, sha: &Oid) -> Result<Vec<PullRequest>, GitHubError> {
        let raw: Vec<wire::Pull> =
            self.get_pages(&format!("/repos/{}/commits/{sha}/pulls", self.repo()))?;
        raw.into_iter().map(pull).collect()
    }

    /// A user's permission on the repository (`role_name`, custom roles by their base).
    /// `Ok(None)` when the user is not a collaborator.
    pub fn permission(&self, login: &str) -> Result<Option<Permission>, GitHubError> {
        match self.get::<wire::CollaboratorPermission>(&format!(
            "/repos/{}/collaborators/{login}/permission",
            self.repo()
        )) {
            Ok(p) => Ok(Some(Permission::from_role(
                p.role_name.as_deref().unwrap_or(&p.permission),
                &p.permission,
            ))),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `login` is an *active* member of `org/slug` (pending invitations do not count).
    ///
    /// GitHub answers 404 both for "not a member" and for a team the token cannot see
    /// (documented: "the team must be visible to the authenticated user"; a token without
    /// `read:org`, or a secret team). A 404 is "not a member" only once the team itself is
    /// visible; otherwise it is [`GitHubError::TeamNotVisible`], never a silent "no".
    pub fn team_member(&self, team: &str, login: &str) -> Result<bool, GitHubError> {
        let (org, slug) = team.split_once('/').unwrap_or((team, team));
        match self
            .get::<wire::TeamMembership>(&format!("/orgs/{org}/teams/{slug}/memberships/{login}"))
        {
            Ok(m) => Ok(m.state == "active"),
            Err(GitHubError::NotFound { .. }) => {
                let endpoint = format!("/orgs/{org}/teams/{slug}");
                match self.get::<wire::Team>(&endpoint) {
                    Ok(t) if t.slug.eq_ignore_ascii_case(slug) => Ok(false),
                    Ok(t) => Err(GitHubError::Decode {
                        endpoint,
                        message: format!("asked for team `{slug}`, GitHub answered `{}`", t.slug),
                    }),
                    Err(GitHubError::NotFound { .. }) => Err(GitHubError::TeamNotVisible {
                        team: format!("{org}/{slug}"),
                        login: login.to_owned(),
                    }),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a GitHub Deployment and a `success` status for it; returns the deployment id.
    pub fn create_deployment(
        &self,
        sha: &Oid,
        environment: &str,
        description: &str,
        log_url: Option<&str>,
    ) -> Result<u64, GitHubError> {
        let body = serde_json::json!({
            "ref": sha.as_str(),
            "environment": environment,
            "description": description,
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": environment == "production",
        });
        let d: wire::Deployment =
            self.post(&format!("/repos/{}/deployments", self.repo()), &body)?;
        let mut status = serde_json::json!({
            "state": "success",
            "environment": environment,
            "description": description,
        });
        if let Some(url) = log_url {
            status["log_url"] = url.into();
        }
        let _: serde_json::Value = self.post(
            &format!("/repos/{}/deployments/{}/statuses", self.repo(), d.id),
            &status,
        )?;
        Ok(d.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_parse() {
        assert_eq!(
            Repo::parse("acme/intake").unwrap().to_string(),
            "acme/intake"
        );
        assert!(Repo::parse("acme").is_none());
        assert_eq!(
            Repo::from_origin("github.com/acme/intake")
                .unwrap()
                .to_string(),
            "acme/intake"
        );
        assert_eq!(
            Repo::from_origin("ghe.example.com:8443/acme/intake")
                .unwrap()
                .name,
            "intake"
        );
    }

    #[test]
    fn documented_fixtures_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let p: wire::Pull = serde_json::from_str(&read("pull.json")).unwrap();
        let p = pull(p).unwrap();
        assert_eq!(p.number, 1347);
        let r: Vec<wire::Review> = serde_json::from_str(&read("reviews.json")).unwrap();
        assert_eq!(r[0].state, "APPROVED");
        let f: Vec<wire::DiffEntry> = serde_json::from_str(&read("files_renamed.json")).unwrap();
        assert!(f.iter().any(|f| f.previous_filename.is_some()));
        let c: Vec<wire::Commit> = serde_json::from_str(&read("commits.json")).unwrap();
        assert!(!c.is_empty());
        let cp: Vec<wire::Pull> = serde_json::from_str(&read("commit_pulls.json")).unwrap();
        assert!(!cp.is_empty());
        let perm: wire::CollaboratorPermission =
            serde_json::from_str(&read("collaborator_permission.json")).unwrap();
        assert_eq!(perm.role_name.as_deref(), Some("admin"));
        let m: wire::TeamMembership = serde_json::from_str(&read("team_membership.json")).unwrap();
        assert_eq!(m.state, "active");
        let t: wire::Team = serde_json::from_str(&read("team.json")).unwrap();
        assert_eq!(t.slug, "justice-league");
        let d: wire::Deployment = serde_json::from_str(&read("deployment.json")).unwrap();
        assert!(d.id > 0);
    }
}
