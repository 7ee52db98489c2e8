//! GitHub's documented edge cases fail closed (issue 11, finding 7): a review whose
//! `commit_id` is null, a review state this version does not know, the 250-commit limit of
//! `GET /pulls/N/commits`, a team the token cannot see, commits whose linked account is `{}`
//! or null, and a co-author who approves behind a noreply address. Every answer is built from
//! GitHub's documented examples (tests/fixtures/github/) with only the documented variation.

use std::process::Output;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::github::{Review, StandIn, user_id};
use crate::common::*;

const INTAKE: &str = "prompts/intake.md";
const PR: u64 = 5;

/// main with intake v1 (and `config`, when given), and PR #5 editing intake, written by Ana
/// with `message` (trailers included), pushed as `refs/pull/5/head`.
struct Scenario {
    r: Repo,
    s: StandIn,
    base: String,
    head: String,
}

fn scenario(config: Option<&str>, message: &str) -> Scenario {
    let r = Repo::new();
    if let Some(c) = config {
        r.write(".promptrail.yml", c);
    }
    r.write(INTAKE, "You are a clinical intake assistant.\n");
    let base = r.commit("intake v1");
    r.push();
    r.git(&["checkout", "-q", "-b", "pr5"]);
    r.write(
        INTAKE,
        "You are a clinical intake assistant.\nSkip allergies.\n",
    );
    let head = r.commit_as("Ana Author <ana@example.org>", message);
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/5/head"]);
    r.git(&["checkout", "-q", "main"]);
    let s = StandIn::start();
    s.pull(PR, "ana", &head, &base, None);
    s.files(PR, &[(INTAKE, "modified")]);
    s.permission("rita", "write");
    Scenario { r, s, base, head }
}

impl Scenario {
    fn run(&self, args: &[&str]) -> Output {
        self.s.output(self.r.cmd().args(args))
    }

    fn check(&self) -> (Option<i32>, Value) {
        let out = self.run(&["check", "--pr", "5", "--format", "json"]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), v)
    }

    /// Merges the PR with a merge commit, tells the stand-in which PR is behind it, and
    /// runs `record`.
    fn merge_and_record(&self) -> Output {
        self.r.git(&[
            "merge",
            "-q",
            "--no-ff",
            "pr5",
            "-m",
            "Merge pull request #5",
        ]);
        self.r.push();
        let merge = self.r.git(&["rev-parse", "HEAD"]);
        self.s.commit_pulls(&self.base, None);
        self.s.commit_pulls(
            &merge,
            Some(
                self.s
                    .pull_json(PR, "ana", &self.head, &self.base, Some(&merge)),
            ),
        );
        self.run(&["record", "--key", keys().private.to_str().unwrap()])
    }

    /// The recorded verdicts on the PR's intake version.
    fn recorded_approvals(&self) -> Vec<Value> {
        self.r
            .log_json()
            .iter()
            .filter(|e| e["approvals"].as_array().is_some_and(|a| !a.is_empty()))
            .flat_map(|e| e["approvals"].as_array().unwrap().clone())
            .collect()
    }

    fn gate(&self) -> Output {
        self.r.run(&[
            "gate",
            "--env",
            "production",
            "--key",
            keys().public.to_str().unwrap(),
        ])
    }
}

fn review<'a>(id: u64, login: &'a str, state: &'a str, commit: &'a str) -> Review<'a> {
    Review {
        id,
        login,
        state,
        commit,
    }
}

/// The reasons given for each verdict on the first decision.
fn reasons(v: &Value) -> Vec<String> {
    v["decisions"][0]["verdicts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["reason"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_change_request_without_a_commit_cancels_the_reviewers_earlier_approval() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(
        PR,
        &[
            review(1, "rita", "APPROVED", &sc.head),
            // Rita changed her mind; the commit she saw was force-pushed away since.
            review(2, "rita", "CHANGES_REQUESTED", ""),
        ],
        1,
    );
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["decisions"][0]["counted"], 0, "{v:#}");
    assert_eq!(reasons(&v).len(), 1, "{v:#}");
    assert!(reasons(&v)[0].contains("requested changes"), "{v:#}");

    // record writes the change request, with no reviewed commit, and nothing counted.
    assert_ok(&sc.merge_and_record());
    let approvals = sc.recorded_approvals();
    assert_eq!(approvals.len(), 1, "{approvals:#?}");
    assert_eq!(approvals[0]["state"], "CHANGES_REQUESTED");
    assert_eq!(approvals[0]["reviewedCommit"], Value::Null);
    assert_eq!(approvals[0]["counted"], false);
    assert_eq!(sc.gate().status.code(), Some(1));
    assert_schema_valid(&sc.r);
    assert_ok(&sc.r.verify());
}

#[test]
fn a_dismissal_without_a_commit_cancels_the_reviewers_earlier_approval() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(
        PR,
        &[
            review(1, "rita", "APPROVED", &sc.head),
            review(2, "rita", "DISMISSED", ""),
        ],
        1,
    );
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert!(reasons(&v)[0].contains("dismissed"), "{v:#}");
}

#[test]
fn an_approval_without_a_reviewed_commit_never_counts() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", "")], 1);
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["decisions"][0]["counted"], 0, "{v:#}");
    assert!(
        reasons(&v)[0].contains("reviewed commit is unknown"),
        "{v:#}"
    );

    assert_ok(&sc.merge_and_record());
    let approvals = sc.recorded_approvals();
    assert_eq!(approvals[0]["state"], "APPROVED");
    assert_eq!(approvals[0]["reviewedCommit"], Value::Null);
    assert_eq!(approvals[0]["counted"], false);
    let out = sc.gate();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_schema_valid(&sc.r);
    assert_ok(&sc.r.verify());
}

#[test]
fn an_unknown_review_state_cancels_the_reviewers_earlier_approval() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(
        PR,
        &[
            review(1, "rita", "APPROVED", &sc.head),
            review(2, "rita", "WITHDRAWN", &sc.head),
        ],
        1,
    );
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert!(
        reasons(&v)[0].contains("unknown review state WITHDRAWN"),
        "{v:#}"
    );

    // Recorded as sent, never counted; the entry still passes the schema and verify.
    assert_ok(&sc.merge_and_record());
    let approvals = sc.recorded_approvals();
    assert_eq!(approvals[0]["state"], "WITHDRAWN");
    assert_eq!(approvals[0]["counted"], false);
    assert_eq!(sc.gate().status.code(), Some(1));
    assert_schema_valid(&sc.r);
    assert_ok(&sc.r.verify());
}

#[test]
fn an_approved_state_in_another_case_is_not_an_approval() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "approved", &sc.head)], 1);
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert!(
        reasons(&v)[0].contains("unknown review state approved"),
        "{v:#}"
    );
}

#[test]
fn two_hundred_fifty_commits_refuse_check_and_record() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
    // GitHub stops at 250: the author of commit 251 (who could be Rita) is invisible.
    let mut commits: Vec<Value> = (0..249)
        .map(|i| sc.s.commit_json(&format!("{i:040x}"), "ana"))
        .collect();
    commits.push(sc.s.commit_json(&sc.head, "ana"));
    sc.s.commits_raw(PR, commits);
    let out = sc.run(&["check", "--pr", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("250 commits"), "{}", stderr(&out));
    let out = sc.merge_and_record();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("250 commits"), "{}", stderr(&out));
    assert_eq!(sc.r.local_audit_tip(), None);
    assert_eq!(sc.r.remote_audit_tip(), None);
}

#[test]
fn two_hundred_forty_nine_commits_are_read_in_full() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
    let mut commits: Vec<Value> = (0..248)
        .map(|i| sc.s.commit_json(&format!("{i:040x}"), "ana"))
        .collect();
    commits.push(sc.s.commit_json(&sc.head, "ana"));
    sc.s.commits_raw(PR, commits);
    let (code, v) = sc.check();
    assert_eq!(code, Some(0), "{v:#}");
}

const TEAM_RULE: &str = "policy:\n  default:\n    approvals: 1\n    teams: [\"clinical-review\"]\n";
const MEMBERSHIP: &str = "/orgs/acme/teams/clinical-review/memberships/rita";

#[test]
fn a_team_the_token_cannot_see_is_not_counted_by_check_and_refuses_record() {
    let sc = scenario(Some(TEAM_RULE), "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    // 404 for the membership and for the team itself: the token cannot see the team.
    sc.s.error(MEMBERSHIP, 404, "error_not_found.json");
    sc.s.error(
        "/orgs/acme/teams/clinical-review",
        404,
        "error_not_found.json",
    );
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert!(reasons(&v)[0].contains("cannot see team"), "{v:#}");
    assert!(reasons(&v)[0].contains("read:org"), "{v:#}");

    let out = sc.merge_and_record();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("cannot see team"), "{}", stderr(&out));
    assert_eq!(sc.r.local_audit_tip(), None);
}

#[test]
fn a_visible_team_without_the_reviewer_is_a_recorded_not_a_member() {
    let sc = scenario(Some(TEAM_RULE), "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
    sc.s.commits(PR, &[(&sc.head, "ana")]);
    sc.s.error(MEMBERSHIP, 404, "error_not_found.json");
    sc.s.team("clinical-review");
    let (code, v) = sc.check();
    assert_eq!(code, Some(1), "{v:#}");
    assert!(
        reasons(&v)[0].contains("not one of team acme/clinical-review"),
        "{v:#}"
    );
    assert!(!reasons(&v)[0].contains("cannot see"), "{v:#}");
    assert_ok(&sc.merge_and_record());
    assert_eq!(sc.recorded_approvals()[0]["counted"], false);
}

#[test]
fn commits_whose_accounts_are_empty_objects_or_null_parse() {
    let sc = scenario(None, "skip allergies");
    sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
    // Documented: `author`/`committer` is `simple-user`, `{}` (empty-object) or null when
    // GitHub links no account to the commit's email.
    let mut empty = sc.s.commit_json(&sc.head, "ana");
    empty["author"] = json!({});
    empty["committer"] = Value::Null;
    empty["commit"]["author"] = Value::Null;
    sc.s.commits_raw(PR, vec![empty]);
    // Ana's email is linked to no account: GitHub lists no commits for it.
    sc.s.mount(
        Mock::given(method("GET"))
            .and(path("/repos/acme/clinic/commits"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([]))),
    );
    let out = sc.run(&["check", "--pr", "5"]);
    assert!(!stderr(&out).contains("decode"), "{}", stderr(&out));
    let (code, v) = sc.check();
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["decisions"][0]["counted"], 1, "{v:#}");
}

#[test]
fn a_co_author_behind_a_noreply_address_cannot_approve() {
    let id = user_id("rita");
    for trailer in [
        format!("Rita Reviewer <{id}+rita@users.noreply.github.com>"),
        // The domain in another case is the same address.
        format!("Rita Reviewer <{id}+rita@Users.NoReply.GitHub.com>"),
        // The older form without an id.
        "Rita Reviewer <rita@users.noreply.github.com>".to_owned(),
        // A stale login (Rita renamed her account): the id still names her.
        format!("Rita Reviewer <{id}+rita-before-rename@users.noreply.github.com>"),
    ] {
        let sc = scenario(
            None,
            &format!("pair on intake\n\nCo-authored-by: {trailer}"),
        );
        sc.s.reviews(PR, &[review(1, "rita", "APPROVED", &sc.head)], 1);
        sc.s.commits(PR, &[(&sc.head, "ana")]);
        let (code, v) = sc.check();
        assert_eq!(code, Some(1), "{trailer}: {v:#}");
        assert!(
            reasons(&v)[0].contains("author of this change"),
            "{trailer}: {v:#}"
        );
    }
}
