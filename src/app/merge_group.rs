//! Merge queues for `check`: which pull requests a `merge_group` event's group holds, and
//! whether what the group lands is exactly what those pull requests had approved.
//!
//! The queue's temporary branch `gh-readonly-queue/<base>/pr-<N>-<sha>` names the pull request
//! the group was built for; the others are found from the first-parent commits between the
//! group's base and head (a merge commit's second parent is a pull request's head; a squash
//! subject ends in `(#N)`). Commit subjects are written by authors, so they only say which
//! pull requests to *judge*: the content check below is what decides, and a prompt change no
//! identified pull request approved blocks the group.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::Workspace;
use crate::github::Client;
use crate::prompt::PromptMatcher;
use crate::report::views::{CheckView, GroupPrompt};
use crate::types::{Oid, PromptPath};

/// A `merge_group` event (`checks_requested`), as GitHub's webhook payload gives it.
#[derive(Debug, Clone)]
pub struct MergeGroup {
    pub head_ref: String,
    pub head_sha: Oid,
    /// The branch the group merges into, without `refs/heads/`.
    pub base_branch: String,
    pub base_sha: Oid,
    /// The pull request the queue entry was built for (`pr-<N>` in `head_ref`).
    pub queued: u64,
}

impl MergeGroup {
    /// `Ok(None)` when the payload is not a merge group event; an error when it is one that
    /// does not have the documented shape (a check never passes on a payload it cannot read).
    pub fn from_event(event: &serde_json::Value) -> Result<Option<MergeGroup>> {
        let group = &event["merge_group"];
        if !group.is_object() {
            return Ok(None);
        }
        let field = |name: &str| -> Result<&str> {
            match group[name].as_str() {
                Some(s) => Ok(s),
                None => bail!("merge_group event: `merge_group.{name}` is missing or not a string"),
            }
        };
        let sha = |name: &str| -> Result<Oid> {
            let s = field(name)?;
            Oid::parse(s).ok_or_else(|| {
                anyhow::anyhow!("merge_group event: `merge_group.{name}` `{s}` is not a commit id")
            })
        };
        let head_ref = field("head_ref")?.to_owned();
        let base_ref = field("base_ref")?;
        let Some(base_branch) = base_ref.strip_prefix("refs/heads/") else {
            bail!("merge_group event: `merge_group.base_ref` `{base_ref}` is not a branch");
        };
        let queued = queue_pull_request(&head_ref, base_branch).ok_or_else(|| {
            anyhow::anyhow!(
                "merge_group event: `merge_group.head_ref` `{head_ref}` is not a merge queue branch \
                 refs/heads/gh-readonly-queue/{base_branch}/pr-<N>-<sha>"
            )
        })?;
        Ok(Some(MergeGroup {
            head_sha: sha("head_sha")?,
            base_sha: sha("base_sha")?,
            base_branch: base_branch.to_owned(),
            head_ref,
            queued,
        }))
    }

    /// The pull requests to judge, in the order the group applies them, the queued one last.
    pub fn pull_requests(&self, ws: &Workspace, gh: &Client) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = Vec::new();
        for c in ws
            .git
            .first_parent_commits(&self.head_sha, &self.base_sha)?
        {
            let mut found = subject_pull_request(&c.subject);
            if let Some(merged) = c.parents.get(1)
                && let Some(pr) = gh
                    .pulls_for_commit(merged)?
                    .into_iter()
                    .find(|p| &p.head == merged)
            {
                found = Some(pr.number);
            }
            if let Some(n) = found.filter(|n| *n != self.queued && !out.contains(n)) {
                out.push(n);
            }
        }
        out.push(self.queued);
        Ok(out)
    }
}

/// `N` from `refs/heads/gh-readonly-queue/<base>/pr-<N>-<40 hex>`.
fn queue_pull_request(head_ref: &str, base: &str) -> Option<u64> {
    let rest = head_ref
        .strip_prefix("refs/heads/gh-readonly-queue/")?
        .strip_prefix(base)?
        .strip_prefix("/pr-")?;
    let (number, sha) = rest.split_once('-')?;
    (Oid::parse(sha).is_some() && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .then(|| number.parse().ok())
        .flatten()
}

/// `#N` from a squash subject `Title (#N)` or a merge subject `Merge pull request #N from …`.
fn subject_pull_request(subject: &str) -> Option<u64> {
    let digits = |s: &str| -> Option<u64> {
        let n: String = s.chars().take_while(char::is_ascii_digit).collect();
        n.parse().ok()
    };
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        return digits(rest);
    }
    let inner = subject.trim_end().strip_suffix(')')?;
    let at = inner.rfind("(#")?;
    let n = &inner[at + 2..];
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// For every prompt (and `.promptrail.yml`) whose content differs between the group's base and
/// head: the last judged pull request that changed it must have it approved, with exactly the
/// content the group lands.
pub fn cover(
    ws: &Workspace,
    group: &MergeGroup,
    matchers: &[&PromptMatcher],
    views: &[CheckView],
) -> Result<Vec<GroupPrompt>> {
    let governed = |path: &[u8]| {
        path == crate::config::FILE_NAME.as_bytes() || matchers.iter().any(|m| m.matches(path))
    };
    let tree = |commit: &Oid| -> Result<BTreeMap<Vec<u8>, Oid>> {
        Ok(ws
            .git
            .ls_tree(commit.as_str(), true)?
            .into_iter()
            .filter(|e| governed(&e.path))
            .map(|e| (e.path, e.oid))
            .collect())
    };
    let (before, after) = (tree(&group.base_sha)?, tree(&group.head_sha)?);
    let mut changed: Vec<&Vec<u8>> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    changed.sort();
    changed.dedup();
    let mut reader = ws.git.object_reader()?;
    let mut out = Vec::new();
    for raw in changed {
        let path = PromptPath::new(String::from_utf8_lossy(raw).into_owned());
        let last = views.iter().rev().find_map(|v| {
            v.decisions
                .iter()
                .find(|d| d.path == path)
                .map(|d| (v, d.approved))
        });
        let (ok, pull_request, reason) = match last {
            None => (
                false,
                None,
                "changed in the merge group by no pull request promptrail could identify in it: \
                 nothing approved this change"
                    .to_owned(),
            ),
            Some((v, false)) => (
                false,
                Some(v.pull_request),
                format!("not approved in pull request #{}", v.pull_request),
            ),
            Some((v, true)) => {
                let at_head = reader
                    .read(&format!("{}:{path}", v.head))?
                    .filter(|o| o.kind == "blob")
                    .map(|o| o.oid);
                if at_head.as_ref() == after.get(raw) {
                    (
                        true,
                        Some(v.pull_request),
                        format!(
                            "the group lands the content approved in pull request #{}",
                            v.pull_request
                        ),
                    )
                } else {
                    (
                        false,
                        Some(v.pull_request),
                        format!(
                            "the group lands other content than pull request #{}'s head {} \
                             (combined with another pull request of the group): its approvals \
                             do not cover it; let these pull requests merge one at a time",
                            v.pull_request,
                            v.head.short()
                        ),
                    )
                }
            }
        };
        out.push(GroupPrompt {
            path,
            pull_request,
            ok,
            reason,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_refs_name_the_queued_pull_request() {
        let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
        let r = format!("refs/heads/gh-readonly-queue/main/pr-104-{sha}");
        assert_eq!(queue_pull_request(&r, "main"), Some(104));
        let r = format!("refs/heads/gh-readonly-queue/release/v2/pr-7-{sha}");
        assert_eq!(queue_pull_request(&r, "release/v2"), Some(7));
        for bad in [
            format!("refs/heads/gh-readonly-queue/main/pr-104-{sha}"),
            format!("refs/heads/feature/pr-104-{sha}"),
            format!("refs/heads/gh-readonly-queue/main/pr--{sha}"),
            format!("refs/heads/gh-readonly-queue/main/pr-1x-{sha}"),
            "refs/heads/gh-readonly-queue/main/pr-104-abc".to_owned(),
        ] {
            assert_eq!(queue_pull_request(&bad, "other"), None, "{bad}");
        }
    }

    #[test]
    fn subjects_hint_at_pull_requests() {
        assert_eq!(subject_pull_request("Ask about allergies (#12)"), Some(12));
        assert_eq!(
            subject_pull_request("Merge pull request #2048 from octo-repo/update-readme"),
            Some(2048)
        );
        assert_eq!(subject_pull_request("Revert \"x (#3)\" (#15)"), Some(15));
        assert_eq!(subject_pull_request("fix (#12) typo"), None);
        assert_eq!(subject_pull_request("wip (#)"), None);
        assert_eq!(subject_pull_request("plain"), None);
    }
}
