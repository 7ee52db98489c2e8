//! `check` on a merge queue: GitHub's documented `merge_group` payload, a real queue branch
//! `gh-readonly-queue/main/pr-<N>-<sha>` holding squash commits of several pull requests, and a
//! GitHub stand-in. Also: a re-run of an old `pull_request` run judges the current head.

mod common;

use common::github::{Review, StandIn, fixture};
use common::*;
use serde_json::Value;

const A: &str = "prompts/a.md";
const B: &str = "prompts/b.md";

struct Queue {
    r: Repo,
    base: String,
    heads: Vec<String>,
}

/// main with two prompts; PR #12 edits a.md, PR #13 edits b.md (heads pushed as
/// refs/pull/N/head). `edits` lists, per queue commit, (subject, path, content).
fn queue(edits: &[(&str, &str, &str)]) -> (Queue, String, String) {
    let r = Repo::new();
    r.write(A, "A v1\n");
    r.write(B, "B v1\n");
    let base = r.commit("prompts v1");
    r.push();
    let mut heads = Vec::new();
    for (n, path, content) in [(12, A, "A v2\n"), (13, B, "B v2\n")] {
        r.git(&["checkout", "-q", "-b", &format!("pr-{n}"), &base]);
        r.write(path, content);
        heads.push(r.commit(&format!("edit {path}")));
        r.git(&["push", "-q", "origin", &format!("HEAD:refs/pull/{n}/head")]);
    }
    // The queue's branch: one squash commit per pull request, on top of main.
    r.git(&["checkout", "-q", "-b", "queue", &base]);
    for (subject, path, content) in edits {
        r.write(path, content);
        r.commit(subject);
    }
    let head = r.git(&["rev-parse", "HEAD"]);
    let head_ref = format!("refs/heads/gh-readonly-queue/main/pr-13-{base}");
    r.git(&["push", "-q", "origin", &format!("HEAD:{head_ref}")]);
    r.git(&["checkout", "-q", "main"]);
    (Queue { r, base, heads }, head, head_ref)
}

/// GitHub's documented `merge_group` payload with this group's refs.
fn event(q: &Queue, head: &str, head_ref: &str) -> std::path::PathBuf {
    let mut e = fixture("merge_group.json");
    e["merge_group"]["head_sha"] = head.into();
    e["merge_group"]["head_ref"] = head_ref.into();
    e["merge_group"]["base_sha"] = q.base.as_str().into();
    e["merge_group"]["base_ref"] = "refs/heads/main".into();
    e["merge_group"]["head_commit"]["id"] = head.into();
    let p = q.r.dir.path().join("event.json");
    std::fs::write(&p, serde_json::to_vec(&e).unwrap()).unwrap();
    p
}

/// Both pull requests on the stand-in; `approved` says whose reviewer approved its head.
fn stand_in(q: &Queue, approved: [bool; 2]) -> StandIn {
    let s = StandIn::start();
    for (i, (n, path, reviewer)) in [(12, A, "rita"), (13, B, "sam")].into_iter().enumerate() {
        let head = &q.heads[i];
        s.pull(n, "ana", head, &q.base, None);
        s.files(n, &[(path, "modified")]);
        let reviews = [Review {
            id: n,
            login: reviewer,
            state: "APPROVED",
            commit: head,
        }];
        s.reviews(n, if approved[i] { &reviews } else { &[] }, 1);
        s.commits(n, &[(head, "ana")]);
        s.permission(reviewer, "write");
    }
    s
}

fn check(q: &Queue, s: &StandIn, event: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = q.r.cmd();
    s.env(&mut cmd);
    cmd.env("GITHUB_EVENT_NAME", "merge_group")
        .env("GITHUB_EVENT_PATH", event)
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", stdout(out), stderr(out)))
}

fn squash_group() -> (Queue, String, String) {
    queue(&[("Edit a (#12)", A, "A v2\n"), ("Edit b (#13)", B, "B v2\n")])
}

#[test]
fn every_pull_request_of_the_group_is_judged() {
    let (q, head, head_ref) = squash_group();
    let e = event(&q, &head, &head_ref);
    let s = stand_in(&q, [true, true]);
    let out = check(&q, &s, &e, &["--format", "json"]);
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["approved"], true, "{v:#}");
    assert_eq!(v["headRef"], head_ref.as_str());
    let prs: Vec<u64> = v["pullRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pullRequest"].as_u64().unwrap())
        .collect();
    assert_eq!(prs, [12, 13]);
    let group: Vec<(&str, bool)> = v["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["path"].as_str().unwrap(), g["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(group, [(A, true), (B, true)]);

    let out = check(&q, &s, &e, &[]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("into main (2 pull requests)"), "{text}");
    assert!(text.contains("pull request #12 at"), "{text}");
    assert!(
        text.contains(
            "group ok   prompts/b.md: the group lands the content approved in pull request #13"
        ),
        "{text}"
    );
}

#[test]
fn an_unapproved_pull_request_blocks_the_group() {
    let (q, head, head_ref) = squash_group();
    let e = event(&q, &head, &head_ref);
    let s = stand_in(&q, [false, true]);
    let out = check(&q, &s, &e, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["pullRequests"][0]["approved"], false);
    assert_eq!(v["pullRequests"][1]["approved"], true);
    assert_eq!(v["group"][0]["reason"], "not approved in pull request #12");
    // --warn-only reports and passes.
    let out = check(&q, &s, &e, &["--warn-only"]);
    assert_ok(&out);
    assert_stdout_has(&out, &["merge group not approved"]);
}

#[test]
fn content_no_pull_request_approved_blocks_the_group() {
    // A third commit in the group changes a prompt and names no pull request; another names
    // #12 but lands other content than #12's approved head.
    for edits in [
        vec![
            ("Edit a (#12)", A, "A v2\n"),
            ("sneak", "prompts/c.md", "unreviewed\n"),
            ("Edit b (#13)", B, "B v2\n"),
        ],
        vec![
            ("Edit a (#12)", A, "A v2, and more\n"),
            ("Edit b (#13)", B, "B v2\n"),
        ],
    ] {
        let (q, head, head_ref) = queue(&edits);
        let e = event(&q, &head, &head_ref);
        let s = stand_in(&q, [true, true]);
        let out = check(&q, &s, &e, &["--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let v = json(&out);
        assert_eq!(v["pullRequests"][0]["approved"], true);
        assert_eq!(v["pullRequests"][1]["approved"], true);
        let bad: Vec<&Value> = v["group"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["ok"] == false)
            .collect();
        assert_eq!(bad.len(), 1, "{v:#}");
        let reason = bad[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("by no pull request promptrail could identify")
                || reason.contains("other content than pull request #12's head"),
            "{reason}"
        );
    }
}

#[test]
fn a_payload_that_is_not_a_queue_group_is_refused() {
    let (q, head, _) = squash_group();
    let s = stand_in(&q, [true, true]);
    for head_ref in [
        "refs/heads/feature".to_owned(),
        format!("refs/heads/gh-readonly-queue/other/pr-13-{}", q.base),
    ] {
        let e = event(&q, &head, &head_ref);
        let out = check(&q, &s, &e, &[]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("`merge_group.head_ref`"),
            "{}",
            stderr(&out)
        );
    }
    let e = event(
        &q,
        "not-a-sha",
        &format!("refs/heads/gh-readonly-queue/main/pr-13-{}", q.base),
    );
    let out = check(&q, &s, &e, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`merge_group.head_sha`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_rerun_of_an_old_run_judges_the_current_head() {
    let (q, _, _) = squash_group();
    // PR #12 moved on after its first run: the new head changes a.md again, unreviewed; the
    // approval is of the old head, which the old run's payload still names.
    q.r.git(&["checkout", "-q", "pr-12"]);
    q.r.write(A, "A v3\n");
    let new_head = q.r.commit("edit again");
    q.r.git(&["push", "-q", "-f", "origin", "HEAD:refs/pull/12/head"]);
    q.r.git(&["checkout", "-q", "main"]);
    let s = StandIn::start();
    s.pull(12, "ana", &new_head, &q.base, None);
    s.files(12, &[(A, "modified")]);
    s.reviews(
        12,
        &[Review {
            id: 1,
            login: "rita",
            state: "APPROVED",
            commit: &q.heads[0],
        }],
        1,
    );
    s.commits(12, &[(&q.heads[0], "ana"), (&new_head, "ana")]);
    s.permission("rita", "write");
    let mut e = fixture("merge_group.json");
    e.as_object_mut().unwrap().remove("merge_group");
    e["action"] = "synchronize".into();
    e["pull_request"] = s.pull_json(12, "ana", &q.heads[0], &q.base, None);
    let p = q.r.dir.path().join("old-run.json");
    std::fs::write(&p, serde_json::to_vec(&e).unwrap()).unwrap();
    let mut cmd = q.r.cmd();
    s.env(&mut cmd);
    let out = cmd
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &p)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["head"], new_head.as_str());
    assert_eq!(v["approved"], false);
    assert!(
        stderr(&out).contains("judging the current head (a re-run of an older run)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn merge_commits_name_their_pull_request_by_second_parent() {
    // The merge method: each queue commit merges a pull request's head. Their subjects name
    // no pull request; GitHub's commit → pull request association of the second parent does.
    let (q, _, _) = queue(&[]);
    q.r.git(&["checkout", "-q", "queue"]);
    for branch in ["pr-12", "pr-13"] {
        q.r.git(&["merge", "-q", "--no-ff", "-m", "Merge queue entry", branch]);
    }
    let head = q.r.git(&["rev-parse", "HEAD"]);
    let head_ref = format!("refs/heads/gh-readonly-queue/main/pr-13-{}", q.base);
    q.r.git(&["push", "-q", "origin", &format!("+HEAD:{head_ref}")]);
    q.r.git(&["checkout", "-q", "main"]);
    let e = event(&q, &head, &head_ref);
    let s = stand_in(&q, [true, true]);
    let pr12 = s.pull_json(12, "ana", &q.heads[0], &q.base, None);
    s.commit_pulls(&q.heads[0], Some(pr12));
    let pr13 = s.pull_json(13, "ana", &q.heads[1], &q.base, None);
    s.commit_pulls(&q.heads[1], Some(pr13));
    let out = check(&q, &s, &e, &["--format", "json"]);
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["pullRequests"].as_array().unwrap().len(), 2, "{v:#}");
    assert_eq!(v["pullRequests"][0]["pullRequest"], 12);
    assert!(
        v["group"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["ok"] == true),
        "{v:#}"
    );
}
