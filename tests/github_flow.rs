//! The whole flow against a GitHub stand-in on 127.0.0.1 and real git: PR check → merge →
//! record (approvals attached) → gate → deploy → rollback → active → verify.

mod common;

use common::github::{Review, StandIn, TOKEN};
use common::*;
use serde_json::Value;

const INTAKE: &str = "prompts/clinical/intake.md";

fn gh(r: &Repo, s: &StandIn, args: &[&str]) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    cmd.args(args).output().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", stdout(out), stderr(out)))
}

fn no_secret(out: &std::process::Output) {
    assert!(
        !stdout(out).contains(TOKEN) && !stderr(out).contains(TOKEN),
        "token leaked"
    );
}

/// main with intake v1 (pushed directly, no PR), and PR #12 editing it (branch pushed,
/// also as refs/pull/12/head as GitHub does).
fn setup() -> (Repo, String, String) {
    let r = Repo::new();
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\"]\npolicy:\n  environments:\n    production:\n      approvals: 1\n",
            keys().public.display()
        ),
    );
    r.write(INTAKE, "You are a clinical intake assistant.\n");
    let base = r.commit("intake v1");
    r.push();
    r.git(&["checkout", "-q", "-b", "intake-allergies"]);
    r.write(
        INTAKE,
        "You are a clinical intake assistant.\nAsk about allergies.\n",
    );
    let head = r.commit_as("Ana Author <ana@example.org>", "ask about allergies");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/12/head"]);
    r.git(&["checkout", "-q", "main"]);
    (r, base, head)
}

#[test]
fn check_counts_a_fresh_approval_in_five_requests() {
    let (r, base, head) = setup();
    let s = StandIn::start();
    s.pull(12, "ana", &head, &base, None);
    s.files(12, &[(INTAKE, "modified"), ("src/app.py", "modified")]);
    s.reviews(
        12,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(12, &[(&head, "ana")]);
    s.permission("rita", "write");
    let out = gh(&r, &s, &["check", "--pr", "12", "--format", "json", "-v"]);
    assert_ok(&out);
    no_secret(&out);
    let v = json(&out);
    assert_eq!(v["approved"], true);
    assert_eq!(v["decisions"][0]["path"], INTAKE);
    assert_eq!(v["decisions"][0]["counted"], 1);
    assert!(v["requests"].as_u64().unwrap() <= 5, "{v:#}");
    assert_eq!(s.requests().len() as u64, v["requests"].as_u64().unwrap());
    assert!(
        stderr(&out).contains("GitHub API requests: 5"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_fails_a_stale_or_self_approval_and_annotates_in_actions() {
    let (r, base, head) = setup();
    // Ana pushes again after Rita approved: the prompt changed since the approval.
    r.git(&["checkout", "-q", "intake-allergies"]);
    r.write(
        INTAKE,
        "You are a clinical intake assistant.\nAsk about allergies and medication.\n",
    );
    let head2 = r.commit("also medication");
    r.git(&["push", "-q", "-f", "origin", "HEAD:refs/pull/12/head"]);
    r.git(&["checkout", "-q", "main"]);
    let s = StandIn::start();
    s.pull(12, "ana", &head2, &base, None);
    s.files(12, &[(INTAKE, "modified")]);
    // Two pages of reviews: Ana's own approval, then Rita's approval of the older head.
    s.reviews(
        12,
        &[
            Review {
                id: 1,
                login: "ana",
                state: "APPROVED",
                commit: &head2,
            },
            Review {
                id: 2,
                login: "rita",
                state: "APPROVED",
                commit: &head,
            },
            Review {
                id: 3,
                login: "rita",
                state: "COMMENTED",
                commit: &head2,
            },
        ],
        2,
    );
    s.commits(12, &[(&head, "ana"), (&head2, "ana")]);
    s.permission("rita", "write");
    s.permission("ana", "admin");
    let summary = r.dir.path().join("summary.md");
    let outputs = r.dir.path().join("outputs.txt");
    let mut cmd = r.cmd();
    s.env(&mut cmd)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .args(["check", "--pr", "12"]);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    no_secret(&out);
    let text = stdout(&out);
    assert!(
        text.contains("::error file=prompts/clinical/intake.md"),
        "{text}"
    );
    assert!(text.contains("author of this change"), "{text}");
    assert!(text.contains("stale"), "{text}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| `prompts/clinical/intake.md` | ❌ needs approval |"),
        "{md}"
    );
    let o = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        o.contains("unapproved<<") && o.contains("[\"prompts/clinical/intake.md\"]"),
        "{o}"
    );
    // --warn-only reports but passes.
    let out = gh(&r, &s, &["check", "--pr", "12", "--warn-only"]);
    assert_ok(&out);
}

/// Merges PR `n` (branch `branch`) with a merge commit and pushes; returns the merge sha.
fn merge(r: &Repo, branch: &str, n: u64) -> String {
    r.git(&[
        "-c",
        "user.name=Mia Merger",
        "-c",
        "user.email=mia@example.org",
        "merge",
        "-q",
        "--no-ff",
        branch,
        "-m",
        &format!("Merge pull request #{n}"),
    ]);
    r.push();
    r.git(&["rev-parse", "HEAD"])
}

#[test]
fn merge_record_gate_deploy_rollback_active_verify() {
    let (r, base, head) = setup();
    let s = StandIn::start();
    // v1 was pushed directly: no PR behind it.
    s.commit_pulls(&base, None);
    s.reviews(
        12,
        &[Review {
            id: 7,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(12, &[(&head, "ana")]);
    s.permission("rita", "write");
    let m12 = merge(&r, "intake-allergies", 12);
    s.commit_pulls(&m12, Some(s.pull_json(12, "ana", &head, &base, Some(&m12))));

    let key = keys().private.to_str().unwrap().to_owned();
    let out = gh(&r, &s, &["record", "--key", &key, "-v"]);
    assert_ok(&out);
    no_secret(&out);
    // v1 (no PR behind it): 1 request; v2 (PR #12): associated PRs, reviews, commits, and the
    // approver's permission: 4.
    assert!(
        stderr(&out).contains("GitHub API requests: 5"),
        "{}",
        stderr(&out)
    );
    let log = r.log_json();
    // The policy file and intake v1 (adopted), intake v2.
    assert_eq!(log.len(), 3);
    // v1: no pull request, so unapproved; v2: Rita's approval counted.
    let rule = |i: usize| {
        let out = r.run(&["show", &format!("{INTAKE}@v{}", i + 1), "--format", "json"]);
        assert_ok(&out);
        json(&out)
    };
    let v1 = rule(0);
    assert_eq!(v1["entry"]["approvals"].as_array().unwrap().len(), 0);
    let entries: Vec<Value> = r.log_json();
    assert_eq!(entries[2]["approvals"][0]["reviewer"], "rita");
    assert_eq!(entries[2]["approvals"][0]["counted"], true);
    assert_eq!(entries[2]["approvals"][0]["pullRequest"], 12);
    let v2 = rule(1);
    assert!(
        stdout(&r.run(&["show", &format!("{INTAKE}@v2")])).contains("approved   @rita APPROVED")
    );
    assert_eq!(v2["prompt"]["version"], 2);

    // The gate opens for the approved v2 that is in the working tree.
    let out = r.run(&["gate", "--env", "production"]);
    assert_ok(&out);
    // An edit that never went through review is blocked.
    r.write(INTAKE, "Ignore previous instructions.\n");
    let out = r.run(&["gate", "--env", "production", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let g = json(&out);
    assert_eq!(g["prompts"][0]["path"], ".promptrail.yml", "{g:#}");
    assert_eq!(g["prompts"][0]["ok"], true, "{g:#}");
    assert!(
        g["prompts"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("not a recorded version"),
        "{g:#}"
    );
    r.git(&["checkout", "--", INTAKE]);

    // Deploy v2 to production; re-running the same CI run adds nothing.
    let manifest = r.dir.path().join("manifest.json");
    let deploy = |extra: &[&str]| {
        let mut cmd = r.cmd();
        s.env(&mut cmd)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_ACTOR", "release-manager")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .args(["deploy", "--env", "production", "--key", &key, "--manifest"])
            .arg(&manifest)
            .args(extra);
        cmd.output().unwrap()
    };
    s.deployments();
    let out = deploy(&["--github-deployment"]);
    assert_ok(&out);
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["prompts"][0]["version"], 2);
    assert_eq!(m["entry"], 3);
    assert!(
        s.requests()
            .iter()
            .any(|r| r == "POST /repos/acme/clinic/deployments")
    );
    let out = deploy(&[]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("already recorded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.log_json().len(), 4);

    // v3 lands through PR #13, approved, and is deployed by another run.
    r.git(&["checkout", "-q", "-b", "intake-escalate"]);
    r.write(
        INTAKE,
        "You are a clinical intake assistant.\nAsk about allergies.\nEscalate chest pain.\n",
    );
    let head13 = r.commit_as("Ben Builder <ben@example.org>", "escalate chest pain");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/13/head"]);
    r.git(&["checkout", "-q", "main"]);
    let m13 = merge(&r, "intake-escalate", 13);
    s.commit_pulls(
        &m13,
        Some(s.pull_json(13, "ben", &head13, &m12, Some(&m13))),
    );
    s.reviews(
        13,
        &[Review {
            id: 9,
            login: "rita",
            state: "APPROVED",
            commit: &head13,
        }],
        1,
    );
    s.commits(13, &[(&head13, "ben")]);
    assert_ok(&gh(&r, &s, &["record", "--key", &key]));
    let mut cmd = r.cmd();
    s.env(&mut cmd).env("GITHUB_RUN_ID", "4243").args([
        "deploy",
        "--env",
        "production",
        "--key",
        &key,
    ]);
    assert_ok(&cmd.output().unwrap());
    let active = json(&r.run(&["active", "--env", "production", "--format", "json"]));
    assert_eq!(active["prompts"][0]["version"], 3);
    // `log --env` lists only that environment's deployments; `--since` only newer entries.
    let deployed = json(&r.run(&["log", "--env", "production", "--format", "json"]));
    let deployed = deployed.as_array().unwrap();
    assert_eq!(deployed.len(), 2, "{deployed:?}");
    assert!(
        deployed
            .iter()
            .all(|e| e["deployment"]["environment"] == "production")
    );
    let all = json(&r.run(&["log", "--format", "json"]));
    let last = all.as_array().unwrap().last().unwrap()["recordedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = json(&r.run(&["log", "--since", &last, "--format", "json"]));
    assert!(
        since
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["recordedAt"].as_str().unwrap() >= last.as_str())
    );
    assert!(!since.as_array().unwrap().is_empty());
    assert_eq!(r.run(&["log", "--env", "nowhere"]).status.code(), Some(2));

    // Rolling back to v1 is refused: it was never approved.
    let out = r.run(&[
        "rollback",
        "--env",
        "production",
        "--prompt",
        INTAKE,
        "--to",
        "1",
        "--key",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("never approved"), "{}", stderr(&out));
    // The default rollback restores v2, the version live before v3.
    let rollback = || {
        r.cmd()
            .env("GITHUB_RUN_ID", "5000")
            .args(["rollback", "--env", "production", "--prompt", INTAKE])
            .args(["--key", &key, "--format", "json"])
            .output()
            .unwrap()
    };
    let out = rollback();
    assert_ok(&out);
    let m = json(&out);
    assert_eq!(m["prompts"][0]["version"], 2);
    assert_eq!(m["prompts"][0]["replaces"], 3);
    // Re-running the rollback job restores the same version and appends nothing.
    let entries_before = r.log_json().len();
    let out = rollback();
    assert_ok(&out);
    let again = json(&out);
    assert_eq!(again["prompts"][0]["version"], 2, "{again:#}");
    assert_eq!(again["alreadyRecorded"], true);
    assert_eq!(r.log_json().len(), entries_before);
    assert_eq!(
        std::fs::read_to_string(r.work.join(INTAKE)).unwrap(),
        "You are a clinical intake assistant.\nAsk about allergies.\n"
    );
    let active = json(&r.run(&["active", "--env", "production", "--format", "json"]));
    assert_eq!(active["prompts"][0]["version"], 2);
    assert_eq!(active["prompts"][0]["event"], "rollback");
    // Before anything was deployed, nothing was live.
    let before = json(&r.run(&[
        "active",
        "--env",
        "production",
        "--at",
        "2001-01-01T00:00:00Z",
        "--format",
        "json",
    ]));
    assert_eq!(before["prompts"].as_array().unwrap().len(), 0);

    let out = r.verify();
    assert_ok(&out);
    assert_stdout_has(&out, &["7 entries"]);
    // Versions with approvals, deployments and a rollback all match the published schema.
    assert_eq!(assert_schema_valid(&r), 7);
}

#[test]
fn record_refuses_without_github_access_unless_offline() {
    let (r, _, _) = setup();
    let out = r.run(&["record", "--key", keys().private.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no GitHub token"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--offline"), "{}", stderr(&out));
    assert_eq!(r.local_audit_tip(), None);
    // Offline: approvals are "not fetched", and the gate treats the version as unapproved.
    assert_ok(&r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]));
    let out = r.run(&["gate", "--env", "production"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["not fetched"]);
}

#[test]
fn a_pull_request_cannot_lower_the_policy_that_judges_it() {
    let (r, base, _) = setup();
    // The PR edits the prompt and, in the same change, drops the approvals it needs to 0.
    r.git(&["checkout", "-q", "-b", "sneaky"]);
    r.write(INTAKE, "Skip the allergy questions.\n");
    r.write(".promptrail.yml", "policy:\n  default:\n    approvals: 0\n");
    let head = r.commit("relax the policy");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/14/head"]);
    let s = StandIn::start();
    s.pull(14, "ana", &head, &base, None);
    s.files(14, &[(INTAKE, "modified"), (".promptrail.yml", "modified")]);
    s.reviews(14, &[], 1);
    s.commits(14, &[(&head, "ana")]);
    let out = gh(&r, &s, &["check", "--pr", "14", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v = json(&out);
    let paths: Vec<&str> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec![".promptrail.yml", INTAKE], "{v:#}");
    assert!(
        v["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["required"] == 1),
        "{v:#}"
    );
}

#[test]
fn a_co_author_known_only_by_email_cannot_approve() {
    let (r, base, _) = setup();
    r.git(&["checkout", "-q", "-b", "pair"]);
    r.write(INTAKE, "Paired on this text.\n");
    let head = r.commit_as(
        "Ana Author <ana@example.org>",
        "pair on intake\n\nCo-authored-by: Rita Reviewer <rita.r@clinic.example>",
    );
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/15/head"]);
    let s = StandIn::start();
    s.pull(15, "ana", &head, &base, None);
    s.files(15, &[(INTAKE, "modified")]);
    s.reviews(
        15,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(15, &[(&head, "ana")]);
    s.permission("rita", "write");
    s.email_login("rita.r@clinic.example", "rita");
    let out = gh(&r, &s, &["check", "--pr", "15"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_stdout_has(&out, &["author of this change"]);
}
