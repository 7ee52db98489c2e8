//! `record` on real repositories: what counts as a version, who the authors are,
//! idempotence, concurrent appends, and failures that leave everything as it was.

mod common;

use common::*;

#[test]
fn versions_follow_landed_history_renames_deletions_and_reverts() {
    let r = Repo::new();
    r.write("prompts/a.md", "one\n");
    r.write("README.md", "not a prompt\n");
    r.commit("add a");
    r.write("prompts/a.md", "two\n");
    r.commit("edit a");
    r.git(&["mv", "prompts/a.md", "prompts/b.md"]);
    r.commit("rename a to b");
    r.write("prompts/b.md", "one\n");
    r.commit("revert b to its first text");
    r.git(&["rm", "-q", "prompts/b.md"]);
    r.commit("delete b");
    r.write("prompts/b.md", "three\n");
    r.commit("bring b back");
    r.push();
    r.record();

    let log = r.log_json();
    assert_eq!(
        versions(&log),
        vec![
            ("prompts/a.md".into(), 1, "added".into()),
            ("prompts/a.md".into(), 2, "modified".into()),
            ("prompts/b.md".into(), 2, "renamed".into()),
            ("prompts/b.md".into(), 3, "reverted".into()),
            ("prompts/b.md".into(), 3, "deleted".into()),
            ("prompts/b.md".into(), 4, "readded".into()),
        ]
    );
    assert_eq!(log[2]["prompts"][0]["previousPath"], "prompts/a.md");
    assert_eq!(log[3]["prompts"][0]["equalsVersion"], 1);
    assert_eq!(log[3]["prompts"][0]["previousVersion"], 2);
    assert_eq!(log[5]["prompts"][0]["previousVersion"], 3);
    assert!(log[5]["prompts"][0].get("equalsVersion").is_none());
    assert_ok(&r.verify());
    assert_eq!(assert_schema_valid(&r), 6);
}

#[test]
fn merged_branch_is_one_version_authored_by_the_branch_commits() {
    let r = Repo::new();
    r.write("prompts/intake.md", "v1\n");
    r.commit("first");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("prompts/intake.md", "draft\n");
    r.commit_as("Dana Drafter <dana@example.org>", "draft");
    r.write("prompts/intake.md", "v2\n");
    r.commit_as("Eli Editor <12345+eli@users.noreply.github.com>", "polish");
    r.write("src.txt", "unrelated\n");
    r.commit_as("Uma Unrelated <uma@example.org>", "unrelated");
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "-c",
        "user.name=Mia Merger",
        "-c",
        "user.email=mia@example.org",
        "merge",
        "-q",
        "--no-ff",
        "feature",
        "-m",
        "Merge feature",
    ]);
    r.push();
    r.record();

    let log = r.log_json();
    assert_eq!(
        versions(&log),
        vec![
            ("prompts/intake.md".into(), 1, "added".into()),
            ("prompts/intake.md".into(), 2, "modified".into()),
        ],
        "drafts inside the merged branch are not versions"
    );
    let authors: Vec<(String, String)> = log[1]["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().into(),
                a["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        authors,
        vec![
            ("Dana Drafter".into(), "author".into()),
            ("Eli Editor".into(), "author".into()),
            ("Mia Merger".into(), "committer".into()),
        ]
    );
    assert_eq!(log[1]["authors"][1]["login"], "eli");
}

#[test]
fn squash_merge_credits_co_authors() {
    let r = Repo::new();
    r.write("prompts/a.md", "x\n");
    r.commit_as(
        "Ana Author <ana@example.org>",
        "Squashed PR (#7)\n\nCo-authored-by: Bob Builder <bob@example.org>\nCo-authored-by: Cy Coder <cy@example.org>",
    );
    r.push();
    r.record();
    let log = r.log_json();
    let roles: Vec<(String, String)> = log[0]["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap().into(),
                a["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("ana@example.org".into(), "author".into()),
            ("bob@example.org".into(), "coAuthor".into()),
            ("cy@example.org".into(), "coAuthor".into()),
            ("ana@example.org".into(), "committer".into()),
        ]
    );
}

#[test]
fn rerunning_record_adds_nothing_and_new_commits_add_only_themselves() {
    let r = recorded_repo();
    let first = r.log_json().len();
    assert_eq!(first, 4);
    let tip = r.remote_audit_tip();
    let out = r.record();
    assert_stdout_has(&out, &["nothing new to record"]);
    assert_eq!(r.remote_audit_tip(), tip, "a no-op record must not push");
    assert_eq!(r.log_json().len(), first);

    r.write("prompts/clinical/intake.md", "Third text.\n");
    r.commit("third");
    r.push();
    r.record();
    let log = r.log_json();
    assert_eq!(log.len(), first + 1);
    assert_eq!(log[first]["prompts"][0]["version"], 3);
    // Each entry chains to the one before.
    assert_ok(&r.verify());
}

#[test]
fn record_with_nothing_new_reads_no_history() {
    // The log's newest version entry names the landed tip: nothing to scan.
    let r = recorded_repo();
    let out = r.record();
    assert_stdout_has(&out, &["nothing new to record"]);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        !progress.contains("scanned"),
        "the history was read although nothing was new: {progress}"
    );
    // With something new only the commits after the last recorded one are read, and only
    // the new version recorded.
    r.write("prompts/clinical/intake.md", "Third text.\n");
    r.commit("third");
    r.push();
    let out = r.record();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("read 1 commits of origin/main since the last recorded one")
            && !progress.contains("scanned"),
        "{progress}"
    );
    assert_eq!(r.log_json().len(), 5);
}

#[test]
fn record_after_the_protected_branch_was_rewritten_is_refused() {
    let r = recorded_repo();
    let n = r.log_json().len();
    // Rewrite the recorded tip (amend, then force-push main).
    r.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    r.git(&["push", "-q", "--force", "origin", "HEAD:main"]);
    let out = r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was it rewritten (force-pushed)?"), "{err}");
    assert_eq!(r.log_json().len(), n);
}

/// Someone with push access (not the key) rewrites the tip in place with a state summary
/// that claims a commit nobody recorded was recorded, and another summary whose policy file
/// is edited: neither is believed (the checkpoint binds another index), and record falls back
/// to reading the log's end, so the unrecorded commit is still recorded.
#[test]
fn record_does_not_resume_from_a_tampered_summary() {
    for edit in ["lastVersionCommit", "policy"] {
        let r = recorded_repo();
        let n = r.log_json().len();
        r.write("prompts/clinical/intake.md", "Not yet recorded.\n");
        let skipped = r.commit("unrecorded change");
        r.push();
        let parent = r.git(&["rev-parse", "promptrail/audit^"]);
        tamper_onto(&r, &parent, |files| {
            if edit == "policy" {
                let policy = files.get_mut("state/policy.json").unwrap();
                let mut v: serde_json::Value = serde_json::from_slice(policy).unwrap();
                v["inForce"]["sha256"] = serde_json::json!("0".repeat(64));
                *policy = serde_json::to_vec(&v).unwrap();
            }
            let index = files.get_mut("state/index.json").unwrap();
            let mut v: serde_json::Value = serde_json::from_slice(index).unwrap();
            if edit == "lastVersionCommit" {
                v["lastVersionCommit"] = serde_json::json!(skipped);
            }
            *index = serde_json::to_vec(&v).unwrap();
        });
        r.git(&["push", "-q", "--force", "origin", "promptrail/audit"]);
        let out = r.record();
        assert!(
            stderr(&out).contains("not believed to resume from"),
            "{edit}: {}",
            stderr(&out)
        );
        let log = r.log_json();
        assert_eq!(
            log.len(),
            n + 1,
            "{edit}: the unrecorded commit was skipped"
        );
        assert_eq!(log[n]["prompts"][0]["commit"], skipped.as_str());
        assert_eq!(log[n]["prompts"][0]["version"], 3);
        // Judged by the policy actually in force, not the edited one.
        assert_eq!(
            log[n]["policy"]["inForce"]["sha256"],
            log[n - 1]["policy"]["inForce"]["sha256"]
        );
    }
}

/// With a believed summary record resumes from it: nothing new costs no walk of the log,
/// and what comes next is judged by the policy the log replays to (verify agrees).
#[test]
fn record_resumes_from_a_believed_summary() {
    let r = recorded_repo();
    let out = r.record();
    assert!(!stderr(&out).contains("not believed"), "{}", stderr(&out));
    r.write("prompts/welcome.md", "Welcome!\n");
    r.commit("welcome v2");
    r.push();
    let out = r.record();
    assert!(!stderr(&out).contains("not believed"), "{}", stderr(&out));
    let log = r.log_json();
    let last = log.last().unwrap();
    assert_eq!(last["prompts"][0]["path"], "prompts/welcome.md");
    assert_eq!(last["policy"].get("adoption"), None, "the baseline is over");
    assert_ok(&r.verify());
}

#[test]
fn record_for_an_older_commit_adds_nothing() {
    let r = recorded_repo();
    let n = r.log_json().len();
    let first = r.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let out = r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
        "--commit",
        &first,
    ]);
    assert_ok(&out);
    assert_eq!(r.log_json().len(), n);
}

#[test]
fn no_push_appends_locally_only_and_a_later_record_publishes() {
    let r = Repo::new();
    r.write("prompts/a.md", "x\n");
    r.commit("a");
    r.push();
    let out = r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
        "--no-push",
    ]);
    assert_ok(&out);
    assert!(r.local_audit_tip().is_some());
    assert_eq!(
        r.remote_audit_tip(),
        None,
        "--no-push must not touch the remote"
    );
    r.record();
    assert_eq!(r.remote_audit_tip(), r.local_audit_tip());
    assert_eq!(r.log_json().len(), 1);
}

#[test]
fn signing_key_from_the_environment_variable() {
    let r = Repo::new();
    r.write("prompts/a.md", "x\n");
    r.commit("a");
    r.push();
    let pem = std::fs::read_to_string(&keys().private).unwrap();
    let out = r
        .cmd()
        .args(["record", "--offline"])
        .env("PROMPTRAIL_SIGNING_KEY", &pem)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        !stdout(&out).contains("ENCRYPTED"),
        "key material must not be printed"
    );
    assert!(!stderr(&out).contains("ENCRYPTED"));
    assert_ok(&r.verify());
}

#[test]
fn a_rejected_push_leaves_local_and_remote_as_they_were() {
    let r = Repo::new();
    r.write("prompts/a.md", "x\n");
    r.commit("a");
    r.push();
    // The remote refuses every push to the audit branch, as a protected branch would.
    let hook = r.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'denied: protected branch' >&2\nexit 1\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not push"), "{}", stderr(&out));
    assert_eq!(r.local_audit_tip(), None);
    assert_eq!(r.remote_audit_tip(), None);
}

#[test]
fn racing_record_processes_record_every_version_exactly_once() {
    let r = Repo::new();
    r.write("prompts/a.md", "a1\n");
    r.write("prompts/b.md", "b1\n");
    r.commit("one");
    r.push();
    // Four clones of the remote; each gets a different amount of the history.
    let mut clones = Vec::new();
    for i in 0..4 {
        let path = r.dir.path().join(format!("clone{i}"));
        git_in(
            r.dir.path(),
            &[
                "clone",
                "-q",
                r.remote.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        clones.push(path);
    }
    for round in 0..3 {
        r.write("prompts/a.md", &format!("a{}\n", round + 2));
        r.write(&format!("prompts/new{round}.md"), "n\n");
        r.commit(&format!("round {round}"));
        r.push();
        let children: Vec<_> = clones
            .iter()
            .enumerate()
            .map(|(i, c)| {
                git_in(c, &["fetch", "-q", "origin"]);
                // Half the clones record up to the previous commit only.
                let rev = if i % 2 == 0 {
                    "origin/main"
                } else {
                    "origin/main~1"
                };
                let mut cmd = r.cmd();
                cmd.current_dir(c).args([
                    "record",
                    "--offline",
                    "--key",
                    keys().private.to_str().unwrap(),
                    "--commit",
                    rev,
                ]);
                cmd.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert_ok(&out);
        }
    }
    let log = r.log_json_from(&clones[0]);
    let mut seen = versions(&log);
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "an event was recorded twice: {seen:?}");
    // 2 added + 3 × (a modified + new file) = 8 events.
    assert_eq!(total, 8);
    let indexes: Vec<u64> = log.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (0..8).collect::<Vec<_>>());
    r.git(&[
        "fetch",
        "-q",
        "origin",
        "+promptrail/audit:promptrail/audit",
    ]);
    assert_ok(&r.verify());
}
