//! `promptrail doctor`'s judgement (pure): the repository settings the trust model relies on,
//! as GitHub reported them, become one finding per setting: ok, missing (with the exact
//! setting to change), or cannot read (the token may not read it; never taken for missing).

use serde::Serialize;

/// What GitHub answered for one setting.
#[derive(Debug, Clone)]
pub enum Read<T> {
    Ok(T),
    /// 403 or 404: the token may not read it (the message says which permission it lacks).
    Unreadable(String),
}

/// One source of branch rules: the active rulesets' rules for a branch (merged), or its
/// classic branch protection rule.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// Required approving reviews.
    pub approvals: u32,
    pub dismiss_stale: bool,
    pub last_push_approval: bool,
    /// Required status check contexts.
    pub checks: Vec<String>,
    pub blocks_force_push: bool,
    pub blocks_deletion: bool,
}

impl Protection {
    /// Rules of several rulesets all apply: the strictest of each wins.
    pub fn merge(&mut self, other: Protection) {
        self.approvals = self.approvals.max(other.approvals);
        self.dismiss_stale |= other.dismiss_stale;
        self.last_push_approval |= other.last_push_approval;
        self.checks.extend(other.checks);
        self.blocks_force_push |= other.blocks_force_push;
        self.blocks_deletion |= other.blocks_deletion;
    }
}

/// Everything that protects one branch.
#[derive(Debug, Clone)]
pub struct BranchSettings {
    pub branch: String,
    /// `GET /rules/branches/{branch}`: every active ruleset's rules for the branch, merged.
    pub rulesets: Read<Protection>,
    /// `GET /branches/{branch}/protection`: `None` when the branch has no protection rule.
    pub classic: Read<Option<Protection>>,
}

/// `GET /actions/permissions/workflow`.
#[derive(Debug, Clone)]
pub struct WorkflowPermissions {
    /// `default_workflow_permissions` is `read`.
    pub default_read: bool,
    pub can_approve_pull_requests: bool,
}

/// Which branches may deploy to an environment.
#[derive(Debug, Clone)]
pub enum BranchPolicy {
    /// `deployment_branch_policy: null`: every branch.
    Any,
    /// Protected branches only.
    Protected,
    /// Selected branches and tags: `(name pattern, is a tag pattern)`.
    Custom(Read<Vec<(String, bool)>>),
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub policy: BranchPolicy,
}

/// Where the signing key secret is visible.
#[derive(Debug, Clone)]
pub struct SecretScope {
    pub name: String,
    /// A repository secret of that name exists.
    pub in_repository: Read<bool>,
    /// Per environment: an environment secret of that name exists.
    pub in_environments: Vec<(String, Read<bool>)>,
}

/// How entries are signed, for the secret check.
#[derive(Debug, Clone)]
pub enum Signing {
    Keyless,
    Key(SecretScope),
}

/// The external trust anchor as the repository variable holds it, beside the key ids the
/// configuration names, to compare them.
#[derive(Debug, Clone)]
pub struct AnchorVariable {
    /// The variable's name (`PROMPTRAIL_TRUSTED_KEY_IDS`, or keyless
    /// `PROMPTRAIL_TRUSTED_IDENTITIES`).
    pub name: String,
    /// Keyless mode: the variable lists certificate identities, not key ids.
    pub keyless: bool,
    /// Its value; `None` when the repository has no such variable.
    pub value: Read<Option<String>>,
    /// The ids of the keys `signing.public_keys` names (those that could be read); keyless,
    /// the identities `signing.identities` names.
    pub configured: Vec<String>,
}

/// Everything `doctor` read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub repository: String,
    pub protected: BranchSettings,
    pub audit: BranchSettings,
    /// The required check's name (the check job's `name:`).
    pub check_name: String,
    pub workflow: Read<WorkflowPermissions>,
    pub environments: Read<Vec<Environment>>,
    /// The environments promptrail deploys to (`.promptrail.yml`).
    pub wanted_environments: Vec<String>,
    pub signing: Signing,
    /// The trust anchor variable of the signing mode.
    pub anchor: Option<AnchorVariable>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Ok,
    Missing,
    CannotRead,
}

/// One setting's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable id, for scripts (`protected-branch.reviews`, `environment.production`…).
    pub id: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The exact setting to change (when not ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The token permission reading it needs.
    pub permission: &'static str,
}

const RULESET_OR_PROTECTION: &str =
    "`metadata: read` (rulesets) and `administration: read` (branch protection)";

/// The findings, in a fixed order.
pub fn diagnose(s: &Settings) -> Vec<Finding> {
    let main = &s.protected.branch;
    let audit = &s.audit.branch;
    let ruleset = |b: &str| {
        format!(
            "Settings → Rules → Rulesets → a branch ruleset targeting `{b}` (or Settings → Branches → a branch protection rule for `{b}`)"
        )
    };
    let check = &s.check_name;
    let mut out = vec![
        branch_finding(
            "protected-branch.reviews",
            &s.protected,
            |p| {
                (p.approvals >= 1).then(|| {
                    format!(
                        "pull requests to `{main}` need {} approving review(s)",
                        p.approvals
                    )
                })
            },
            format!(
                "pull requests to `{main}` need no approving review: anyone with push access can merge an unreviewed prompt change"
            ),
            format!(
                "{}: enable \"Require a pull request before merging\" with \"Required approvals\" at least 1",
                ruleset(main)
            ),
        ),
        branch_finding(
            "protected-branch.required-check",
            &s.protected,
            |p| {
                p.checks
                    .iter()
                    .any(|c| c == check)
                    .then(|| format!("the `{check}` check must pass before merging into `{main}`"))
            },
            format!(
                "the `{check}` check is not required on `{main}`: a pull request with unapproved prompt changes can still be merged"
            ),
            format!(
                "{}: enable \"Require status checks to pass\" and add `{check}` (the check job's `name:` in promptrail-check.yml)",
                ruleset(main)
            ),
        ),
        branch_finding(
            "protected-branch.stale-approvals",
            &s.protected,
            |p| match (p.dismiss_stale, p.last_push_approval) {
                (_, true) => Some(
                    "the most recent push must be approved by someone other than its pusher".into(),
                ),
                (true, false) => Some("new commits dismiss earlier approvals".into()),
                _ => None,
            },
            format!(
                "approvals on `{main}` survive new commits: a co-author GitHub cannot link to an account could push after the approval"
            ),
            format!(
                "{}: enable \"Require approval of the most recent reviewable push\" (or \"Dismiss stale pull request approvals when new commits are pushed\")",
                ruleset(main)
            ),
        ),
        branch_finding(
            "audit-branch.force-push",
            &s.audit,
            |p| {
                p.blocks_force_push
                    .then(|| format!("force pushes to `{audit}` are blocked"))
            },
            format!(
                "force pushes to `{audit}` are allowed: the newest entries can be cut off and re-signed (verify catches it only against a checkpoint you kept)"
            ),
            format!("{}: enable \"Block force pushes\"", ruleset(audit)),
        ),
        branch_finding(
            "audit-branch.deletion",
            &s.audit,
            |p| {
                p.blocks_deletion
                    .then(|| format!("deleting `{audit}` is restricted"))
            },
            format!("`{audit}` can be deleted by anyone with push access"),
            format!("{}: enable \"Restrict deletions\"", ruleset(audit)),
        ),
        workflow_finding(&s.workflow),
    ];
    for env in &s.wanted_environments {
        out.push(environment_finding(env, main, &s.environments));
    }
    out.push(secret_finding(&s.signing, &s.wanted_environments));
    match &s.anchor {
        Some(anchor) if anchor.keyless => out.push(identity_anchor_finding(anchor)),
        Some(anchor) => out.push(anchor_finding(anchor)),
        None => {}
    }
    out
}

/// `trust-anchor.key-ids`: the repository variable CI feeds the Action's `trusted-key-ids`
/// exists, parses as promptrail parses the anchor, and names only keys the configuration
/// names (else every anchored command would refuse).
fn anchor_finding(a: &AnchorVariable) -> Finding {
    const ID: &str = "trust-anchor.key-ids";
    const PERMISSION: &str = "`variables: read`";
    let name = &a.name;
    let set_it = format!(
        "Settings → Secrets and variables → Actions → Variables: set the repository variable `{name}` to the comma-separated ids of the keys you trust (what `promptrail keygen` prints), and pass it to the Action as `trusted-key-ids: ${{{{ vars.{name} }}}}`"
    );
    let missing = |detail: String, fix: String| Finding {
        id: ID.into(),
        status: Status::Missing,
        detail,
        fix: Some(fix),
        permission: PERMISSION,
    };
    let value = match &a.value {
        Read::Unreadable(why) => return cannot_read(ID, why.clone(), PERMISSION),
        Read::Ok(None) => {
            return missing(
                format!(
                    "no repository variable `{name}`: without the anchor, `gate` trusts the keys the checked-out .promptrail.yml names, and whoever can push the branch and the audit branch can add a key of their own there"
                ),
                set_it,
            );
        }
        Read::Ok(Some(v)) => v,
    };
    let anchor = match crate::anchor::KeyAnchor::parse(value) {
        Ok(anchor) => anchor,
        Err(e) => return missing(format!("the repository variable is refused: {e}"), set_it),
    };
    let unknown: Vec<&str> = anchor
        .ids()
        .filter(|id| !a.configured.iter().any(|c| c == id))
        .collect();
    if !unknown.is_empty() {
        return missing(
            format!(
                "`{name}` lists key id(s) {} that `signing.public_keys` does not name: every command would refuse to run under it",
                unknown.join(", ")
            ),
            "name those keys under `signing.public_keys` (pinned by their `key_id`), or correct the variable".into(),
        );
    }
    ok(
        ID,
        format!(
            "the repository variable `{name}` lists {} key id(s), each named by `signing.public_keys` (the workflows must pass it as `trusted-key-ids`; an environment variable of the same name would override it in a job of that environment)",
            anchor.ids().count()
        ),
        PERMISSION,
    )
}

/// `trust-anchor.identities` (keyless mode): the repository variable CI feeds the Action's
/// `trusted-identities` exists and parses as promptrail parses the anchor. An identity that
/// `signing.identities` does not name is said (the anchor decides, so it is trusted anyway).
fn identity_anchor_finding(a: &AnchorVariable) -> Finding {
    const ID: &str = "trust-anchor.identities";
    const PERMISSION: &str = "`variables: read`";
    let name = &a.name;
    let set_it = format!(
        "Settings → Secrets and variables → Actions → Variables: set the repository variable `{name}` to the comma-separated certificate identities you trust (your record workflow's, as `signing.identities` lists it), and pass it to the Action as `trusted-identities: ${{{{ vars.{name} }}}}`"
    );
    let missing = |detail: String| Finding {
        id: ID.into(),
        status: Status::Missing,
        detail,
        fix: Some(set_it.clone()),
        permission: PERMISSION,
    };
    let value = match &a.value {
        Read::Unreadable(why) => return cannot_read(ID, why.clone(), PERMISSION),
        Read::Ok(None) => {
            return missing(format!(
                "no repository variable `{name}`: without the anchor, `gate` trusts the identities (and the trusted root) the checked-out .promptrail.yml names, and whoever can push the branch and the audit branch can name a workflow of their own there"
            ));
        }
        Read::Ok(Some(v)) => v,
    };
    let anchor = match crate::anchor::IdentityAnchor::parse(value) {
        Ok(anchor) => anchor,
        Err(e) => return missing(format!("the repository variable is refused: {e}")),
    };
    let unnamed: Vec<&str> = anchor
        .identities()
        .filter(|id| !a.configured.iter().any(|c| c == id))
        .collect();
    let also = match unnamed.is_empty() {
        true => String::new(),
        false => format!(
            "; it also lists {} that `signing.identities` does not name (trusted under the anchor all the same)",
            unnamed.join(", ")
        ),
    };
    ok(
        ID,
        format!(
            "the repository variable `{name}` lists {} identity(ies){also} (the workflows must pass it as `trusted-identities`)",
            anchor.identities().count()
        ),
        PERMISSION,
    )
}

fn branch_finding(
    id: &str,
    b: &BranchSettings,
    satisfied: impl Fn(&Protection) -> Option<String>,
    missing: String,
    fix: String,
) -> Finding {
    let mut unreadable = Vec::new();
    let mut sources = Vec::new();
    match &b.rulesets {
        Read::Ok(p) => sources.push(("a ruleset", p)),
        Read::Unreadable(why) => unreadable.push(why.clone()),
    }
    match &b.classic {
        Read::Ok(Some(p)) => sources.push(("its branch protection rule", p)),
        Read::Ok(None) => {}
        Read::Unreadable(why) => unreadable.push(why.clone()),
    }
    if let Some((source, detail)) = sources
        .iter()
        .find_map(|(source, p)| satisfied(p).map(|d| (source, d)))
    {
        return ok(id, format!("{detail} ({source})"), RULESET_OR_PROTECTION);
    }
    if !unreadable.is_empty() {
        return cannot_read(id, unreadable.join("; "), RULESET_OR_PROTECTION);
    }
    Finding {
        id: id.to_owned(),
        status: Status::Missing,
        detail: missing,
        fix: Some(fix),
        permission: RULESET_OR_PROTECTION,
    }
}

fn workflow_finding(w: &Read<WorkflowPermissions>) -> Finding {
    const ID: &str = "actions.workflow-permissions";
    const PERMISSION: &str = "`administration: read`";
    match w {
        Read::Unreadable(why) => cannot_read(ID, why.clone(), PERMISSION),
        Read::Ok(w) => {
            let approve = if w.can_approve_pull_requests {
                "; GitHub Actions may approve pull requests (promptrail never counts a bot's approval, GitHub's required reviews do: clear \"Allow GitHub Actions to create and approve pull requests\")"
            } else {
                ""
            };
            if w.default_read {
                ok(
                    ID,
                    format!(
                        "workflow tokens are read-only unless a workflow asks for more{approve}"
                    ),
                    PERMISSION,
                )
            } else {
                Finding {
                    id: ID.into(),
                    status: Status::Missing,
                    detail: format!("workflow tokens can write by default: any workflow a pull request adds can push to the audit branch{approve}"),
                    fix: Some("Settings → Actions → General → Workflow permissions: \"Read repository contents and packages permissions\"".into()),
                    permission: PERMISSION,
                }
            }
        }
    }
}

fn environment_finding(env: &str, main: &str, all: &Read<Vec<Environment>>) -> Finding {
    let id = format!("environment.{env}");
    const PERMISSION: &str = "`actions: read`";
    let fix = format!(
        "Settings → Environments → {env} → Deployment branches and tags: \"Selected branches and tags\" with only `{main}`"
    );
    let missing = |detail: String| Finding {
        id: id.clone(),
        status: Status::Missing,
        detail,
        fix: Some(fix.clone()),
        permission: PERMISSION,
    };
    let envs = match all {
        Read::Unreadable(why) => return cannot_read(&id, why.clone(), PERMISSION),
        Read::Ok(envs) => envs,
    };
    let Some(e) = envs.iter().find(|e| e.name == env) else {
        return missing(format!(
            "environment `{env}` does not exist on GitHub, so nothing restricts which branch deploys to it (create it)"
        ));
    };
    match &e.policy {
        BranchPolicy::Any => missing(format!(
            "any branch can deploy to `{env}`: the gate reads its trust anchors from the deployed ref"
        )),
        BranchPolicy::Protected => missing(format!(
            "every protected branch can deploy to `{env}`, not only `{main}`: the gate reads its trust anchors from the deployed ref"
        )),
        BranchPolicy::Custom(Read::Unreadable(why)) => cannot_read(&id, why.clone(), PERMISSION),
        BranchPolicy::Custom(Read::Ok(patterns)) => {
            let others: Vec<String> = patterns
                .iter()
                .filter(|(name, tag)| *tag || name != main)
                .map(|(name, tag)| format!("{} `{name}`", if *tag { "tag" } else { "branch" }))
                .collect();
            if patterns.is_empty() {
                missing(format!("no branch is selected for `{env}`"))
            } else if others.is_empty() {
                ok(
                    &id,
                    format!("only `{main}` can deploy to `{env}`"),
                    PERMISSION,
                )
            } else {
                missing(format!(
                    "`{env}` also accepts deployments from {}",
                    others.join(", ")
                ))
            }
        }
    }
}

fn secret_finding(signing: &Signing, environments: &[String]) -> Finding {
    const ID: &str = "signing-key.secret-scope";
    const PERMISSION: &str = "`secrets: read`";
    let s = match signing {
        Signing::Keyless => {
            return ok(
                ID,
                "keyless signing: no signing key secret exists".into(),
                PERMISSION,
            );
        }
        Signing::Key(s) => s,
    };
    let name = &s.name;
    let scoped: Vec<&str> = s
        .in_environments
        .iter()
        .filter(|(_, r)| matches!(r, Read::Ok(true)))
        .map(|(e, _)| e.as_str())
        .collect();
    let mut unreadable: Vec<String> = s
        .in_environments
        .iter()
        .filter_map(|(_, r)| match r {
            Read::Unreadable(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    let target = environments.last().map_or("production", String::as_str);
    match &s.in_repository {
        Read::Ok(true) => Finding {
            id: ID.into(),
            status: Status::Missing,
            detail: format!(
                "`{name}` is a repository secret: every workflow on every branch can read the signing key"
            ),
            fix: Some(format!(
                "add `{name}` (and PROMPTRAIL_KEY_PASSWORD) under Settings → Environments → {target} → Environment secrets, give the recording and deploying jobs `environment: {target}`, then delete the repository secret"
            )),
            permission: PERMISSION,
        },
        Read::Ok(false) if !scoped.is_empty() => ok(
            ID,
            format!(
                "`{name}` is an environment secret of {}",
                scoped
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PERMISSION,
        ),
        Read::Unreadable(why) => {
            unreadable.insert(0, why.clone());
            cannot_read(ID, unreadable.join("; "), PERMISSION)
        }
        Read::Ok(false) if !unreadable.is_empty() => {
            cannot_read(ID, unreadable.join("; "), PERMISSION)
        }
        Read::Ok(false) => Finding {
            id: ID.into(),
            status: Status::Missing,
            detail: format!(
                "no repository or environment secret is named `{name}` (an organization secret is visible to every workflow it is shared with)"
            ),
            fix: Some(format!(
                "add `{name}` under Settings → Environments → {target} → Environment secrets and give the recording and deploying jobs `environment: {target}`"
            )),
            permission: PERMISSION,
        },
    }
}

fn ok(id: &str, detail: String, permission: &'static str) -> Finding {
    Finding {
        id: id.to_owned(),
        status: Status::Ok,
        detail,
        fix: None,
        permission,
    }
}

fn cannot_read(id: &str, why: String, permission: &'static str) -> Finding {
    Finding {
        id: id.to_owned(),
        status: Status::CannotRead,
        detail: why,
        fix: None,
        permission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(
        name: &str,
        rulesets: Read<Protection>,
        classic: Read<Option<Protection>>,
    ) -> BranchSettings {
        BranchSettings {
            branch: name.into(),
            rulesets,
            classic,
        }
    }

    fn settings(protected: BranchSettings, audit: BranchSettings) -> Settings {
        Settings {
            repository: "acme/clinic".into(),
            protected,
            audit,
            check_name: "prompt approvals".into(),
            workflow: Read::Ok(WorkflowPermissions {
                default_read: true,
                can_approve_pull_requests: false,
            }),
            environments: Read::Ok(vec![Environment {
                name: "production".into(),
                policy: BranchPolicy::Custom(Read::Ok(vec![("main".into(), false)])),
            }]),
            wanted_environments: vec!["production".into()],
            signing: Signing::Keyless,
            anchor: None,
        }
    }

    /// Settings where nothing protects either branch.
    fn unprotected() -> Settings {
        settings(
            branch("main", Read::Ok(Protection::default()), Read::Ok(None)),
            branch(
                "promptrail/audit",
                Read::Ok(Protection::default()),
                Read::Ok(None),
            ),
        )
    }

    fn status(findings: &[Finding], id: &str) -> Status {
        findings.iter().find(|f| f.id == id).unwrap().status
    }

    #[test]
    fn a_satisfied_source_wins_an_unreadable_one_is_not_missing() {
        let strict = Protection {
            approvals: 1,
            last_push_approval: true,
            checks: vec!["prompt approvals".into()],
            blocks_force_push: true,
            blocks_deletion: true,
            ..Protection::default()
        };
        let s = settings(
            branch(
                "main",
                Read::Ok(strict.clone()),
                Read::Unreadable("403".into()),
            ),
            branch(
                "promptrail/audit",
                Read::Ok(Protection::default()),
                Read::Unreadable("403".into()),
            ),
        );
        let f = diagnose(&s);
        assert_eq!(status(&f, "protected-branch.reviews"), Status::Ok);
        assert_eq!(status(&f, "protected-branch.required-check"), Status::Ok);
        // Rulesets say nothing for the audit branch, classic protection cannot be read:
        // that is not "missing".
        assert_eq!(status(&f, "audit-branch.force-push"), Status::CannotRead);
        let s = settings(
            branch("main", Read::Ok(Protection::default()), Read::Ok(None)),
            branch(
                "promptrail/audit",
                Read::Ok(Protection::default()),
                Read::Ok(Some(strict)),
            ),
        );
        let f = diagnose(&s);
        assert_eq!(status(&f, "protected-branch.reviews"), Status::Missing);
        assert_eq!(status(&f, "audit-branch.deletion"), Status::Ok);
        assert!(
            f.iter()
                .filter(|f| f.status == Status::Missing)
                .all(|f| f.fix.is_some())
        );
    }

    #[test]
    fn environments_allow_only_the_protected_branch() {
        let mut s = unprotected();
        assert_eq!(status(&diagnose(&s), "environment.production"), Status::Ok);
        for policy in [
            BranchPolicy::Any,
            BranchPolicy::Protected,
            BranchPolicy::Custom(Read::Ok(vec![
                ("main".into(), false),
                ("release/*".into(), false),
            ])),
            BranchPolicy::Custom(Read::Ok(vec![("main".into(), true)])),
            BranchPolicy::Custom(Read::Ok(vec![])),
        ] {
            s.environments = Read::Ok(vec![Environment {
                name: "production".into(),
                policy,
            }]);
            assert_eq!(
                status(&diagnose(&s), "environment.production"),
                Status::Missing
            );
        }
        s.environments = Read::Ok(vec![]);
        assert_eq!(
            status(&diagnose(&s), "environment.production"),
            Status::Missing
        );
    }

    #[test]
    fn the_signing_secret_must_be_an_environment_secret() {
        let mut s = unprotected();
        let scope = |repo: Read<bool>, env: Read<bool>| {
            Signing::Key(SecretScope {
                name: "PROMPTRAIL_SIGNING_KEY".into(),
                in_repository: repo,
                in_environments: vec![("production".into(), env)],
            })
        };
        for (repo, env, want) in [
            (Read::Ok(false), Read::Ok(true), Status::Ok),
            (Read::Ok(true), Read::Ok(true), Status::Missing),
            (Read::Ok(false), Read::Ok(false), Status::Missing),
            (
                Read::Unreadable("403".into()),
                Read::Ok(true),
                Status::CannotRead,
            ),
            (
                Read::Ok(false),
                Read::Unreadable("403".into()),
                Status::CannotRead,
            ),
        ] {
            s.signing = scope(repo, env);
            assert_eq!(status(&diagnose(&s), "signing-key.secret-scope"), want);
        }
    }
}
