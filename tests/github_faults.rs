//! The GitHub stand-in misbehaving: retried where GitHub says to, a clear error otherwise,
//! never a panic, never the token in output.

mod common;

use common::github::{Review, StandIn, fixture};
use common::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const INTAKE: &str = "prompts/intake.md";
const PULL: &str = "/repos/acme/clinic/pulls/5";

/// A PR #5 whose only review approves the head; everything mounted but the pull itself.
fn scenario() -> (Repo, StandIn, String, String) {
    let r = Repo::new();
    r.write(INTAKE, "v1\n");
    let base = r.commit("v1");
    r.push();
    r.git(&["checkout", "-q", "-b", "pr5"]);
    r.write(INTAKE, "v2\n");
    let head = r.commit("v2");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/5/head"]);
    r.git(&["checkout", "-q", "main"]);
    let s = StandIn::start();
    s.files(5, &[(INTAKE, "modified")]);
    s.reviews(
        5,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(5, &[(&head, "ana")]);
    s.permission("rita", "write");
    (r, s, base, head)
}

fn check(r: &Repo, s: &StandIn) -> std::process::Output {
    s.output(r.cmd().args(["check", "--pr", "5", "-v"]))
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let (r, s, base, head) = scenario();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"))
            .up_to_n_times(2)
            .with_priority(1),
    );
    s.pull(5, "ana", &head, &base, None);
    let out = check(&r, &s);
    assert_ok(&out);
    let pulls = s.requests().iter().filter(|q| q.ends_with(PULL)).count();
    assert_eq!(pulls, 3, "two 502s, then the answer");
    assert!(
        stderr(&out).contains("GitHub API requests: 7"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn persistent_server_errors_give_up_with_a_clear_error() {
    let (r, s, _, _) = scenario();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(ResponseTemplate::new(503))
            .with_priority(1),
    );
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("GitHub failed on GET /repos/acme/clinic/pulls/5 (503) 5 times"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secondary_rate_limit_honours_retry_after() {
    let (r, s, base, head) = scenario();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("retry-after", "1")
                    .set_body_json(fixture("error_secondary_rate_limit.json")),
            )
            .up_to_n_times(1)
            .with_priority(1),
    );
    s.pull(5, "ana", &head, &base, None);
    let started = std::time::Instant::now();
    let out = check(&r, &s);
    assert_ok(&out);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "retry-after was not honoured"
    );
}

#[test]
fn primary_rate_limit_waits_for_the_reset_or_says_how_long() {
    let (r, s, _, _) = scenario();
    let reset = chrono::Utc::now().timestamp() + 3600;
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                    .set_body_json(serde_json::json!({"message": "API rate limit exceeded for installation ID 1."})),
            )
            .with_priority(1),
    );
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rate-limited"), "{}", stderr(&out));
    assert!(stderr(&out).contains("longer than"), "{}", stderr(&out));
}

#[test]
fn bad_credentials_and_missing_permissions_say_what_to_fix() {
    let (r, s, _, _) = scenario();
    s.error(PULL, 401, "error_bad_credentials.json");
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("GitHub rejected the token"),
        "{}",
        stderr(&out)
    );

    s.reset();
    s.error(PULL, 404, "error_not_found.json");
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pull-requests: read"),
        "{}",
        stderr(&out)
    );

    s.reset();
    s.error(PULL, 403, "error_forbidden_integration.json");
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Resource not accessible by integration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn truncated_and_malformed_bodies_are_clear_errors() {
    let (r, s, _, _) = scenario();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"number\": 5, \"head\": {"))
            .with_priority(1),
    );
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected response from GitHub for GET /repos/acme/clinic/pulls/5"),
        "{}",
        stderr(&out)
    );

    // A missing required field.
    s.reset();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"number": 5})),
            )
            .with_priority(1),
    );
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing field"), "{}", stderr(&out));
}

#[test]
fn unexpected_fields_are_ignored() {
    let (r, s, base, head) = scenario();
    let mut body = s.pull_json(5, "ana", &head, &base, None);
    body["a_field_from_the_future"] = serde_json::json!({"nested": [1, 2, 3]});
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(ResponseTemplate::new(200).set_body_json(body)),
    );
    assert_ok(&check(&r, &s));
}

#[test]
fn three_thousand_files_fail_closed() {
    let (r, s, base, head) = scenario();
    s.pull(5, "ana", &head, &base, None);
    s.reset();
    s.pull(5, "ana", &head, &base, None);
    let names: Vec<String> = (0..3000).map(|i| format!("src/f{i}.rs")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "added")).collect();
    s.files(5, &files);
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("3,000 files"), "{}", stderr(&out));
}

#[test]
fn team_rules_need_active_membership_and_say_when_the_token_cannot_read_teams() {
    let (r, s, _, head) = scenario();
    // The team rule is on the base branch: it judges the pull request.
    r.write(
        ".promptrail.yml",
        "policy:\n  default:\n    approvals: 1\n    teams: [\"clinical-review\"]\n",
    );
    let base = r.commit("team rule");
    s.pull(5, "ana", &head, &base, None);
    s.membership("clinical-review", "rita", "pending");
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["not one of team acme/clinical-review"]);

    s.reset();
    let (_, s2, _, _) = (0, StandIn::start(), 0, 0);
    s2.pull(5, "ana", &head, &base, None);
    s2.files(5, &[(INTAKE, "modified")]);
    s2.reviews(
        5,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s2.commits(5, &[(&head, "ana")]);
    s2.permission("rita", "write");
    s2.error(
        "/orgs/acme/teams/clinical-review/memberships/rita",
        403,
        "error_forbidden_integration.json",
    );
    let out = check(&r, &s2);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("read:org"), "{}", stderr(&out));

    let s3 = StandIn::start();
    s3.pull(5, "ana", &head, &base, None);
    s3.files(5, &[(INTAKE, "modified")]);
    s3.reviews(
        5,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s3.commits(5, &[(&head, "ana")]);
    s3.permission("rita", "write");
    s3.membership("clinical-review", "rita", "active");
    assert_ok(&check(&r, &s3));
}

#[test]
fn a_reviewed_commit_missing_from_the_clone_is_fetched_or_not_counted() {
    let (r, s, base, head) = scenario();
    // A commit GitHub knows but nobody can fetch (force-pushed away).
    let gone = "0123456789abcdef0123456789abcdef01234567";
    s.pull(5, "ana", &head, &base, None);
    s.reset();
    s.pull(5, "ana", &head, &base, None);
    s.files(5, &[(INTAKE, "modified")]);
    s.reviews(
        5,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: gone,
        }],
        1,
    );
    s.commits(5, &[(&head, "ana")]);
    s.permission("rita", "write");
    let out = check(&r, &s);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["could not be checked"]);

    // The PR head itself is missing locally (a fresh shallow-free clone without PR refs):
    // promptrail fetches refs/pull/5/head and counts the approval.
    let clone = r.dir.path().join("fresh");
    git_in(
        r.dir.path(),
        &[
            "clone",
            "-q",
            r.remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let s2 = StandIn::start();
    s2.pull(5, "ana", &head, &base, None);
    s2.files(5, &[(INTAKE, "modified")]);
    s2.reviews(
        5,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s2.commits(5, &[(&head, "ana")]);
    s2.permission("rita", "write");
    let mut cmd = r.cmd();
    s2.env(&mut cmd)
        .current_dir(&clone)
        .args(["check", "--pr", "5"]);
    let out = cmd.output().unwrap();
    assert_ok(&out);
}

#[test]
fn a_stand_in_that_hangs_times_out_is_retried_then_fails_clearly() {
    let (r, s, base, head) = scenario();
    s.mount(
        Mock::given(method("GET"))
            .and(path(PULL))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(s.pull_json(5, "ana", &head, &base, None))
                    .set_delay(std::time::Duration::from_secs(3)),
            )
            .with_priority(1),
    );
    let mut cmd = r.cmd();
    s.env(&mut cmd)
        .env("PROMPTRAIL_GITHUB_TIMEOUT_SECS", "1")
        .env("PROMPTRAIL_GITHUB_RETRIES", "1")
        .args(["check", "--pr", "5"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not reach GitHub for GET /repos/acme/clinic/pulls/5"),
        "{}",
        stderr(&out)
    );
    let tries = s.requests().iter().filter(|q| q.ends_with(PULL)).count();
    assert_eq!(tries, 2, "one retry after the timeout");
}
