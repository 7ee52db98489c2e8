//! Table tests for the approval policy (pure: no git, no network).

use std::collections::{BTreeSet, HashMap};

use chrono::{TimeZone, Utc};
use promptrail::config::Config;
use promptrail::policy::{Content, Input, Policy, PromptChange, ReviewerFacts};
use promptrail::review::{Account, AccountKind, Permission, Review, ReviewState};
use promptrail::types::{Oid, PromptPath};

const OLD: &str = "1111111111111111111111111111111111111111";
const MID: &str = "2222222222222222222222222222222222222222";
const HEAD: &str = "3333333333333333333333333333333333333333";

fn review(id: u64, login: &str, state: ReviewState, commit: &str) -> Review {
    Review {
        id,
        reviewer: Account {
            login: login.into(),
            id: login.bytes().map(u64::from).sum(),
            kind: if login.ends_with("[bot]") {
                AccountKind::Bot
            } else if login == "ghost" {
                AccountKind::Ghost
            } else {
                AccountKind::User
            },
        },
        state,
        commit: Oid::parse(commit),
        submitted_at: Some(
            Utc.timestamp_opt(1_700_000_000 + id as i64 * 60, 0)
                .unwrap(),
        ),
        url: format!("https://github.com/acme/clinic/pull/12#pullrequestreview-{id}"),
    }
}

fn facts(permission: Permission, teams: &[&str]) -> ReviewerFacts {
    ReviewerFacts {
        permission: Some(permission),
        teams: teams.iter().map(|t| t.to_string()).collect(),
        error: None,
    }
}

struct Case {
    name: &'static str,
    config: &'static str,
    path: &'static str,
    reviews: Vec<Review>,
    /// The prompt's content changed between OLD and MID (so approvals of OLD are stale).
    changed_after_old: bool,
    /// Content at MID cannot be checked.
    mid_unknown: bool,
    /// Whether the prompt ends approved, and how many approvals counted (every case says).
    expect: Option<(bool, u32)>,
    /// Substring of the reason given for the first not-counted verdict.
    expect_reason: Option<&'static str>,
}

impl Case {
    /// `reviews` of `prompts/a.md` under the default policy, content unchanged since OLD and
    /// checkable everywhere; [`Case::approved`] or [`Case::refused`] says the outcome.
    fn new(name: &'static str, reviews: Vec<Review>) -> Case {
        Case {
            name,
            config: DEFAULT,
            path: "prompts/a.md",
            reviews,
            changed_after_old: false,
            mid_unknown: false,
            expect: None,
            expect_reason: None,
        }
    }

    fn config(self, config: &'static str) -> Case {
        Case { config, ..self }
    }

    fn path(self, path: &'static str) -> Case {
        Case { path, ..self }
    }

    fn changed_after_old(self) -> Case {
        Case {
            changed_after_old: true,
            ..self
        }
    }

    fn mid_unknown(self) -> Case {
        Case {
            mid_unknown: true,
            ..self
        }
    }

    /// Expected approved, with `counted` approvals counted.
    fn approved(self, counted: u32) -> Case {
        Case {
            expect: Some((true, counted)),
            ..self
        }
    }

    /// Expected not approved, with `counted` approvals counted.
    fn refused(self, counted: u32) -> Case {
        Case {
            expect: Some((false, counted)),
            ..self
        }
    }

    /// The first not-counted verdict's reason contains `reason`.
    fn reason(self, reason: &'static str) -> Case {
        Case {
            expect_reason: Some(reason),
            ..self
        }
    }
}

fn run(case: &Case) {
    let config = Config::parse(case.config, std::path::Path::new(".promptrail.yml")).unwrap();
    let policy = Policy::new(&config.policy, "acme").unwrap();
    let mut f = HashMap::new();
    for (login, fx) in [
        ("rita", facts(Permission::Write, &[])),
        ("nina", facts(Permission::Admin, &["acme/clinical-review"])),
        (
            "omar",
            facts(Permission::Maintain, &["acme/clinical-review"]),
        ),
        ("ana", facts(Permission::Write, &[])),
        ("ben", facts(Permission::Write, &[])),
        ("outsider", facts(Permission::Read, &[])),
        ("dependabot[bot]", facts(Permission::Write, &[])),
    ] {
        f.insert(login.to_string(), fx);
    }
    f.insert(
        "stranger".into(),
        ReviewerFacts {
            permission: None,
            teams: BTreeSet::new(),
            error: Some("not a collaborator of acme/clinic".into()),
        },
    );
    let prompts = vec![PromptChange {
        path: PromptPath::new(case.path),
        // Ana opened the PR; Ben co-authored a commit touching the prompt.
        authors: ["ana", "Ben"].iter().map(|s| s.to_string()).collect(),
    }];
    let changed = case.changed_after_old;
    let unknown = case.mid_unknown;
    let content = move |commit: &Oid, _: &PromptPath| match commit.as_str() {
        OLD if changed => Content::Changed,
        MID if unknown => Content::Unknown("commit 2222222 is not in this clone".into()),
        _ => Content::Same,
    };
    let decisions = policy.decide(&Input {
        reviews: &case.reviews,
        prompts: &prompts,
        facts: &f,
        content: &content,
    });
    let d = &decisions[0];
    let (approved, counted) = case
        .expect
        .unwrap_or_else(|| panic!("{}: say .approved(n) or .refused(n)", case.name));
    assert_eq!(d.approved, approved, "{}: {d:#?}", case.name);
    assert_eq!(d.counted, counted, "{}: {d:#?}", case.name);
    if let Some(reason) = case.expect_reason {
        let first = d
            .verdicts
            .iter()
            .find(|v| !v.counted)
            .unwrap_or_else(|| panic!("{}: expected a not-counted verdict: {d:#?}", case.name));
        assert!(
            first.reason.contains(reason),
            "{}: reason was {:?}",
            case.name,
            first.reason
        );
    }
}

const DEFAULT: &str = "# defaults\n";
const CLINICAL: &str = "policy:\n  rules:\n    - name: clinical\n      paths: [\"prompts/clinical/**\"]\n      approvals: 2\n      teams: [\"clinical-review\"]\n";

#[test]
fn approval_rules() {
    use ReviewState::*;
    let cases = vec![
        Case::new(
            "plain approval by a writer",
            vec![review(1, "rita", Approved, HEAD)],
        )
        .approved(1),
        Case::new("no reviews", vec![]).refused(0),
        Case::new(
            "self-approval by the PR opener",
            vec![review(1, "ana", Approved, HEAD)],
        )
        .refused(0)
        .reason("author of this change"),
        Case::new(
            "self-approval by a co-author, logins compare case-insensitively",
            vec![review(1, "ben", Approved, HEAD)],
        )
        .refused(0)
        .reason("author of this change"),
        Case::new(
            "self-approval allowed by policy",
            vec![review(1, "ana", Approved, HEAD)],
        )
        .config("policy:\n  allow_author_approval: true\n")
        .approved(1),
        Case::new(
            "approval then changes requested",
            vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", ChangesRequested, HEAD),
            ],
        )
        .refused(0)
        .reason("requested changes"),
        Case::new(
            "changes requested then approval",
            vec![
                review(1, "rita", ChangesRequested, MID),
                review(2, "rita", Approved, HEAD),
            ],
        )
        .approved(1),
        Case::new(
            "approval then a comment keeps the approval",
            vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Commented, HEAD),
            ],
        )
        .approved(1),
        Case::new(
            "approval dismissed",
            vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Dismissed, MID),
            ],
        )
        .refused(0)
        .reason("dismissed"),
        Case::new(
            "approval of an older commit, this prompt changed since: stale",
            vec![review(1, "rita", Approved, OLD)],
        )
        .changed_after_old()
        .refused(0)
        .reason("stale"),
        Case::new(
            "approval of an older commit, only another file changed: still valid",
            vec![review(1, "rita", Approved, OLD)],
        )
        .approved(1),
        Case::new(
            "content at the reviewed commit cannot be checked",
            vec![review(1, "rita", Approved, MID)],
        )
        .mid_unknown()
        .refused(0)
        .reason("could not be checked"),
        Case::new(
            "two approvals from the team needed, one member and one writer",
            vec![
                review(1, "nina", Approved, HEAD),
                review(2, "rita", Approved, HEAD),
            ],
        )
        .config(CLINICAL)
        .path("prompts/clinical/intake.md")
        .refused(1)
        .reason("not one of team acme/clinical-review"),
        Case::new(
            "two approvals from the team",
            vec![
                review(1, "nina", Approved, HEAD),
                review(2, "omar", Approved, HEAD),
            ],
        )
        .config(CLINICAL)
        .path("prompts/clinical/intake.md")
        .approved(2),
        Case::new(
            "path rule does not apply to other prompts",
            vec![review(1, "rita", Approved, HEAD)],
        )
        .config(CLINICAL)
        .path("prompts/greeting.md")
        .approved(1),
        Case::new(
            "reader permission is below write",
            vec![review(1, "outsider", Approved, HEAD)],
        )
        .refused(0)
        .reason("below the required write"),
        Case::new(
            "non-collaborator",
            vec![review(1, "stranger", Approved, HEAD)],
        )
        .refused(0)
        .reason("not a collaborator"),
        Case::new(
            "bot approval",
            vec![review(1, "dependabot[bot]", Approved, HEAD)],
        )
        .refused(0)
        .reason("bot accounts"),
        Case::new("deleted account", vec![review(1, "ghost", Approved, HEAD)])
            .refused(0)
            .reason("deleted"),
        Case::new(
            "listed user with enough permission",
            vec![
                review(1, "rita", Approved, HEAD),
                review(2, "nina", Approved, HEAD),
            ],
        )
        .config("policy:\n  default:\n    users: [\"Rita\"]\n")
        .approved(1)
        .reason("not one of @Rita"),
        Case::new("no approval required", vec![])
            .config("policy:\n  default:\n    approvals: 0\n")
            .approved(0),
        Case::new(
            "the same reviewer approving twice counts once",
            vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Approved, HEAD),
            ],
        )
        .config("policy:\n  default:\n    approvals: 2\n")
        .refused(1),
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn environment_rules_count_recorded_approvals() {
    use promptrail::attestation::predicate::ApprovalRecord;
    let config = Config::parse(
        "policy:\n  environments:\n    production:\n      approvals: 2\n      teams: [\"clinical-review\"]\n",
        std::path::Path::new(".promptrail.yml"),
    )
    .unwrap();
    let policy = Policy::new(&config.policy, "acme").unwrap();
    let rule = policy.env_rule("production").unwrap();
    let approval = |who: &str, counted: bool, teams: &[&str]| ApprovalRecord {
        reviewer: who.into(),
        reviewer_id: 1,
        review_id: 1,
        state: "APPROVED".into(),
        reviewed_commit: Some(Oid::parse(HEAD).unwrap()),
        submitted_at: None,
        pull_request: 12,
        url: String::new(),
        head_commit: Oid::parse(HEAD).unwrap(),
        merge_commit: None,
        path: PromptPath::new("prompts/a.md"),
        counted,
        reason: String::new(),
        permission: Some("write".into()),
        teams: teams.iter().map(|t| t.to_string()).collect(),
    };
    let one = [
        approval("nina", true, &["acme/clinical-review"]),
        approval("rita", true, &[]),
    ];
    assert_eq!(
        promptrail::policy::env_satisfied(rule, "acme", &one),
        (false, 1, 2)
    );
    let two = [
        approval("nina", true, &["acme/clinical-review"]),
        approval("omar", true, &["acme/clinical-review"]),
        approval("zed", false, &["acme/clinical-review"]),
    ];
    assert_eq!(
        promptrail::policy::env_satisfied(rule, "acme", &two),
        (true, 2, 2)
    );
    assert!(policy.env_rule("staging").is_none());
}
