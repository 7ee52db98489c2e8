//! Repository settings `doctor` reads: rulesets, branch protection, Actions workflow
//! permissions, environments and secret names (never values). A 403 or 404 is "cannot read",
//! except where GitHub documents a 404 as the answer ("Branch not protected").

use super::{Client, GitHubError};
use crate::doctor::{
    BranchPolicy, BranchSettings, Environment, Protection, Read, SecretScope, WorkflowPermissions,
};

/// GitHub's JSON shapes for these endpoints (REST API 2022-11-28), only the fields read.
mod wire {
    use serde::Deserialize;

    /// `GET /repos/{owner}/{repo}/rules/branches/{branch}` items (`repository-rule-detailed`).
    #[derive(Debug, Deserialize)]
    pub struct Rule {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default)]
        pub parameters: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Enabled {
        #[serde(default)]
        pub enabled: bool,
    }

    #[derive(Debug, Deserialize)]
    pub struct StatusCheck {
        pub context: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct RequiredStatusChecks {
        #[serde(default)]
        pub contexts: Vec<String>,
        #[serde(default)]
        pub checks: Vec<StatusCheck>,
    }

    #[derive(Debug, Deserialize)]
    pub struct RequiredReviews {
        #[serde(default)]
        pub dismiss_stale_reviews: bool,
        #[serde(default)]
        pub required_approving_review_count: u32,
        #[serde(default)]
        pub require_last_push_approval: bool,
    }

    /// `GET /repos/{owner}/{repo}/branches/{branch}/protection` (`branch-protection`).
    #[derive(Debug, Deserialize)]
    pub struct BranchProtection {
        #[serde(default)]
        pub required_status_checks: Option<RequiredStatusChecks>,
        #[serde(default)]
        pub required_pull_request_reviews: Option<RequiredReviews>,
        #[serde(default)]
        pub allow_force_pushes: Option<Enabled>,
        #[serde(default)]
        pub allow_deletions: Option<Enabled>,
    }

    /// `GET /repos/{owner}/{repo}/actions/permissions/workflow`.
    #[derive(Debug, Deserialize)]
    pub struct WorkflowPermissions {
        pub default_workflow_permissions: String,
        #[serde(default)]
        pub can_approve_pull_request_reviews: bool,
    }

    #[derive(Debug, Deserialize)]
    pub struct BranchPolicySettings {
        pub protected_branches: bool,
        pub custom_branch_policies: bool,
    }

    /// `GET /repos/{owner}/{repo}/environments` → `environments[]`.
    #[derive(Debug, Deserialize)]
    pub struct Environment {
        pub name: String,
        #[serde(default)]
        pub deployment_branch_policy: Option<BranchPolicySettings>,
    }

    /// `…/deployment-branch-policies` → `branch_policies[]`.
    #[derive(Debug, Deserialize)]
    pub struct DeploymentBranchPolicy {
        pub name: String,
        #[serde(rename = "type", default)]
        pub kind: Option<String>,
    }

    /// `…/secrets` → `secrets[]`.
    #[derive(Debug, Deserialize)]
    pub struct Secret {
        pub name: String,
    }

    /// `GET /repos/{owner}/{repo}/actions/variables` → `variables[]` (values are not
    /// secret: GitHub returns them).
    #[derive(Debug, Deserialize)]
    pub struct Variable {
        pub name: String,
        pub value: String,
    }
}

/// 403 and 404 become "cannot read"; other failures (401, rate limits, 5xx, transport) are
/// errors: the answer would be incomplete for a reason the token's permissions do not explain.
fn readable<T>(r: Result<T, GitHubError>) -> Result<Read<T>, GitHubError> {
    match r {
        Ok(v) => Ok(Read::Ok(v)),
        Err(e @ (GitHubError::Forbidden { .. } | GitHubError::NotFound { .. })) => {
            Ok(Read::Unreadable(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// A branch or environment name as one URL path (`/` kept, as GitHub's routes accept it;
/// everything else outside the unreserved set escaped, so `#` or `%` cannot cut the path).
fn escape(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn from_rules(rules: Vec<wire::Rule>) -> Protection {
    let mut p = Protection::default();
    for r in rules {
        let params = r.parameters.unwrap_or_default();
        let flag = |k: &str| params[k].as_bool().unwrap_or(false);
        match r.kind.as_str() {
            "pull_request" => p.merge(Protection {
                approvals: params["required_approving_review_count"]
                    .as_u64()
                    .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
                dismiss_stale: flag("dismiss_stale_reviews_on_push"),
                last_push_approval: flag("require_last_push_approval"),
                ..Protection::default()
            }),
            "required_status_checks" => p.checks.extend(
                params["required_status_checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["context"].as_str().map(str::to_owned)),
            ),
            "non_fast_forward" => p.blocks_force_push = true,
            "deletion" => p.blocks_deletion = true,
            _ => {}
        }
    }
    p
}

fn from_protection(b: wire::BranchProtection) -> Protection {
    let reviews = b.required_pull_request_reviews;
    let checks = b.required_status_checks.map_or_else(Vec::new, |c| {
        c.contexts
            .into_iter()
            .chain(c.checks.into_iter().map(|c| c.context))
            .collect()
    });
    Protection {
        approvals: reviews
            .as_ref()
            .map_or(0, |r| r.required_approving_review_count),
        dismiss_stale: reviews.as_ref().is_some_and(|r| r.dismiss_stale_reviews),
        last_push_approval: reviews
            .as_ref()
            .is_some_and(|r| r.require_last_push_approval),
        checks,
        // A protected branch refuses force pushes and deletion unless these allow them.
        blocks_force_push: !b.allow_force_pushes.is_some_and(|e| e.enabled),
        blocks_deletion: !b.allow_deletions.is_some_and(|e| e.enabled),
    }
}

impl Client {
    /// The active rulesets' rules and the classic protection rule of `branch`.
    pub fn branch_settings(&self, branch: &str) -> Result<BranchSettings, GitHubError> {
        let repo = self.repo();
        let name = escape(branch);
        let rulesets = readable(
            self.get_pages::<wire::Rule>(&format!("/repos/{repo}/rules/branches/{name}"))
                .map(from_rules),
        )?;
        let classic = match self
            .get::<wire::BranchProtection>(&format!("/repos/{repo}/branches/{name}/protection"))
        {
            Ok(b) => Read::Ok(Some(from_protection(b))),
            // GitHub's documented answers for an unprotected or not yet existing branch.
            Err(GitHubError::NotFound { message, .. })
                if message == "Branch not protected" || message == "Branch not found" =>
            {
                Read::Ok(None)
            }
            Err(e) => readable::<Option<Protection>>(Err(e))?,
        };
        Ok(BranchSettings {
            branch: branch.to_owned(),
            rulesets,
            classic,
        })
    }

    pub fn workflow_permissions(&self) -> Result<Read<WorkflowPermissions>, GitHubError> {
        readable(
            self.get::<wire::WorkflowPermissions>(&format!(
                "/repos/{}/actions/permissions/workflow",
                self.repo()
            ))
            .map(|w| WorkflowPermissions {
                default_read: w.default_workflow_permissions == "read",
                can_approve_pull_requests: w.can_approve_pull_request_reviews,
            }),
        )
    }

    /// Every environment with its deployment branch policy (custom patterns read too).
    pub fn environments(&self) -> Result<Read<Vec<Environment>>, GitHubError> {
        let repo = self.repo();
        let raw = match readable(self.get_pages_in::<wire::Environment>(
            &format!("/repos/{repo}/environments"),
            "environments",
        ))? {
            Read::Ok(raw) => raw,
            Read::Unreadable(why) => return Ok(Read::Unreadable(why)),
        };
        let mut out = Vec::with_capacity(raw.len());
        for e in raw {
            let policy = match e.deployment_branch_policy {
                None => BranchPolicy::Any,
                Some(p) if p.protected_branches && !p.custom_branch_policies => {
                    BranchPolicy::Protected
                }
                Some(_) => BranchPolicy::Custom(readable(
                    self.get_pages_in::<wire::DeploymentBranchPolicy>(
                        &format!(
                            "/repos/{repo}/environments/{}/deployment-branch-policies",
                            escape(&e.name)
                        ),
                        "branch_policies",
                    )
                    .map(|ps| {
                        ps.into_iter()
                            .map(|p| (p.name, p.kind.as_deref() == Some("tag")))
                            .collect()
                    }),
                )?),
            };
            out.push(Environment {
                name: e.name,
                policy,
            });
        }
        Ok(Read::Ok(out))
    }

    /// The value of the repository's Actions variable `name` (GitHub stores names in
    /// uppercase and compares them without case); `None` when the listing has none. Listed
    /// rather than fetched by name, so that "no such variable" is never a 404 that might
    /// also mean "may not read".
    pub fn repository_variable(&self, name: &str) -> Result<Read<Option<String>>, GitHubError> {
        let repo = self.repo();
        readable(
            self.get_pages_in::<wire::Variable>(
                &format!("/repos/{repo}/actions/variables"),
                "variables",
            )
            .map(|vs| {
                vs.into_iter()
                    .find(|v| v.name.eq_ignore_ascii_case(name))
                    .map(|v| v.value)
            }),
        )
    }

    /// Whether a secret named `name` exists in the repository and in each of `environments`
    /// (names only: GitHub never returns secret values).
    pub fn secret_scope(
        &self,
        name: &str,
        environments: &[String],
    ) -> Result<SecretScope, GitHubError> {
        let repo = self.repo();
        let has = |path: String| -> Result<Read<bool>, GitHubError> {
            readable(
                self.get_pages_in::<wire::Secret>(&path, "secrets")
                    .map(|s| s.iter().any(|s| s.name.eq_ignore_ascii_case(name))),
            )
        };
        let in_repository = has(format!("/repos/{repo}/actions/secrets"))?;
        let mut in_environments = Vec::new();
        for env in environments {
            in_environments.push((
                env.clone(),
                has(format!(
                    "/repos/{repo}/environments/{}/secrets",
                    escape(env)
                ))?,
            ));
        }
        Ok(SecretScope {
            name: name.to_owned(),
            in_repository,
            in_environments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn documented_examples_decode() {
        let rules: Vec<wire::Rule> = serde_json::from_str(&fixture("branch_rules.json")).unwrap();
        let p = from_rules(rules);
        assert_eq!(p.approvals, 0);
        assert!(!p.blocks_force_push);
        let b: wire::BranchProtection =
            serde_json::from_str(&fixture("branch_protection.json")).unwrap();
        let p = from_protection(b);
        assert_eq!(p.approvals, 2);
        assert!(p.dismiss_stale && p.last_push_approval);
        assert_eq!(p.checks, ["continuous-integration/travis-ci"]);
        // The documented example allows both.
        assert!(!p.blocks_force_push && !p.blocks_deletion);
        let w: wire::WorkflowPermissions =
            serde_json::from_str(&fixture("workflow_permissions.json")).unwrap();
        assert_eq!(w.default_workflow_permissions, "read");
        let e: serde_json::Value = serde_json::from_str(&fixture("environments.json")).unwrap();
        let e: Vec<wire::Environment> = serde_json::from_value(e["environments"].clone()).unwrap();
        assert!(
            e[0].deployment_branch_policy
                .as_ref()
                .unwrap()
                .custom_branch_policies
        );
    }

    #[test]
    fn names_cannot_cut_the_path() {
        assert_eq!(escape("promptrail/audit"), "promptrail/audit");
        assert_eq!(escape("a#b?c%d e"), "a%23b%3Fc%25d%20e");
    }
}
