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
    expect_approved: bool,
    expect_counted: u32,
    /// Substring of the reason given for the first not-counted verdict.
    expect_reason: Option<&'static str>,
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
    assert_eq!(d.approved, case.expect_approved, "{}: {d:#?}", case.name);
    assert_eq!(d.counted, case.expect_counted, "{}: {d:#?}", case.name);
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
        Case {
            name: "plain approval by a writer",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "rita", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "no reviews",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: None,
        },
        Case {
            name: "self-approval by the PR opener",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "ana", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("author of this change"),
        },
        Case {
            name: "self-approval by a co-author, logins compare case-insensitively",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "ben", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("author of this change"),
        },
        Case {
            name: "self-approval allowed by policy",
            config: "policy:\n  allow_author_approval: true\n",
            path: "prompts/a.md",
            reviews: vec![review(1, "ana", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "approval then changes requested",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", ChangesRequested, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("requested changes"),
        },
        Case {
            name: "changes requested then approval",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", ChangesRequested, MID),
                review(2, "rita", Approved, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "approval then a comment keeps the approval",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Commented, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "approval dismissed",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Dismissed, MID),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("dismissed"),
        },
        Case {
            name: "approval of an older commit, this prompt changed since: stale",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "rita", Approved, OLD)],
            changed_after_old: true,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("stale"),
        },
        Case {
            name: "approval of an older commit, only another file changed: still valid",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "rita", Approved, OLD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "content at the reviewed commit cannot be checked",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "rita", Approved, MID)],
            changed_after_old: false,
            mid_unknown: true,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("could not be checked"),
        },
        Case {
            name: "two approvals from the team needed, one member and one writer",
            config: CLINICAL,
            path: "prompts/clinical/intake.md",
            reviews: vec![
                review(1, "nina", Approved, HEAD),
                review(2, "rita", Approved, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 1,
            expect_reason: Some("not one of team acme/clinical-review"),
        },
        Case {
            name: "two approvals from the team",
            config: CLINICAL,
            path: "prompts/clinical/intake.md",
            reviews: vec![
                review(1, "nina", Approved, HEAD),
                review(2, "omar", Approved, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 2,
            expect_reason: None,
        },
        Case {
            name: "path rule does not apply to other prompts",
            config: CLINICAL,
            path: "prompts/greeting.md",
            reviews: vec![review(1, "rita", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: None,
        },
        Case {
            name: "reader permission is below write",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "outsider", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("below the required write"),
        },
        Case {
            name: "non-collaborator",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "stranger", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("not a collaborator"),
        },
        Case {
            name: "bot approval",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "dependabot[bot]", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("bot accounts"),
        },
        Case {
            name: "deleted account",
            config: DEFAULT,
            path: "prompts/a.md",
            reviews: vec![review(1, "ghost", Approved, HEAD)],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 0,
            expect_reason: Some("deleted"),
        },
        Case {
            name: "listed user with enough permission",
            config: "policy:\n  default:\n    users: [\"Rita\"]\n",
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", Approved, HEAD),
                review(2, "nina", Approved, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 1,
            expect_reason: Some("not one of @Rita"),
        },
        Case {
            name: "no approval required",
            config: "policy:\n  default:\n    approvals: 0\n",
            path: "prompts/a.md",
            reviews: vec![],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: true,
            expect_counted: 0,
            expect_reason: None,
        },
        Case {
            name: "the same reviewer approving twice counts once",
            config: "policy:\n  default:\n    approvals: 2\n",
            path: "prompts/a.md",
            reviews: vec![
                review(1, "rita", Approved, MID),
                review(2, "rita", Approved, HEAD),
            ],
            changed_after_old: false,
            mid_unknown: false,
            expect_approved: false,
            expect_counted: 1,
            expect_reason: None,
        },
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
