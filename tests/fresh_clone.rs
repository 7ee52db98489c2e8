//! `gate` and `deploy` on a fresh CI clone (the protected branch cloned, the audit branch not
//! fetched): the same answer as a full clone, from the signed state summary and only the entry
//! blobs the answer needs; and, for every way an insider can edit the audit branch, a gate
//! that falls back to the whole log (saying why) and blocks. Real git, a bare remote that
//! serves partial fetches as GitHub does, a GitHub stand-in on 127.0.0.1.

mod common;

use common::fresh::*;
use common::*;
use serde_json::Value;

#[test]
fn a_fresh_clone_gates_and_deploys_as_a_full_clone_does_reading_only_what_it_needs() {
    let (r, s) = history();
    // One prompt with content the log never recorded: blocked, the same way.
    let gate = ["gate", "--env", "production", "--format", "json"];
    let full = run_in(&r, &s, &r.work, &gate);
    assert_ok(&full);
    let clone = fresh_clone(&r, "ci");
    let fresh = run_in(&r, &s, &clone, &gate);
    assert_ok(&fresh);
    assert_eq!(json(&fresh), json(&full));
    assert!(!stderr(&fresh).contains(FELL_BACK), "{}", stderr(&fresh));
    let (present, total) = entry_blobs(&clone);
    assert!(total >= 17, "{total} entries");
    // The three versions on disk and the last entry; the policy file's, when recorded.
    assert!(present <= 5, "{present} of {total} entry blobs fetched");
    assert!(
        git_in(&clone, &["rev-parse", "--is-shallow-repository"]) == "true",
        "the audit branch was fetched tip-first"
    );

    // An edit that was never recorded blocks in both, with the same rows.
    for dir in [&r.work, &clone] {
        std::fs::write(dir.join(TRIAGE), "an unrecorded edit\n").unwrap();
    }
    let full = run_in(&r, &s, &r.work, &gate);
    let fresh = run_in(&r, &s, &clone, &gate);
    assert_eq!(full.status.code(), Some(1), "{}", stderr(&full));
    assert_eq!(fresh.status.code(), Some(1), "{}", stderr(&fresh));
    assert_eq!(json(&fresh), json(&full));
    for dir in [&r.work, &clone] {
        std::fs::write(dir.join(TRIAGE), format!("{TRIAGE}, round 4.\n")).unwrap();
    }

    // deploy from the fresh clone: appended onto the shallow branch and pushed.
    let out = run_in(
        &r,
        &s,
        &clone,
        &[
            "deploy",
            "--env",
            "staging",
            "--key",
            &key(),
            "--format",
            "json",
        ],
    );
    assert_ok(&out);
    assert!(!stderr(&out).contains(FELL_BACK), "{}", stderr(&out));
    let manifest = json(&out);
    let deployed: Vec<(String, u64)> = manifest["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        deployed,
        [
            (NOTES.to_owned(), 4),
            (INTAKE.to_owned(), 4),
            (TRIAGE.to_owned(), 4)
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let (present, _) = entry_blobs(&clone);
    assert!(present <= 6, "{present} entry blobs after deploy");
    // The full clone sees it, and the whole log verifies (summary included).
    git_in(
        &r.work,
        &[
            "fetch",
            "-q",
            "origin",
            "+promptrail/audit:promptrail/audit",
        ],
    );
    let report = r.verify_json();
    assert_eq!(report["ok"], true, "{report:#}");
    let active = json(&run_in(
        &r,
        &s,
        &r.work,
        &["active", "--env", "staging", "--format", "json"],
    ));
    assert_eq!(
        active["prompts"].as_array().map(Vec::len),
        Some(3),
        "{active:#}"
    );
    // A re-run of the CI run that deployed adds nothing, judged from a fresh clone too.
    let deploy_in_run = |name: &str| {
        let clone = fresh_clone(&r, name);
        let mut cmd = r.cmd();
        s.env(&mut cmd);
        cmd.current_dir(&clone)
            .env("GITHUB_RUN_ID", "4711")
            .args(["deploy", "--env", "production", "--key", &key()])
            .output()
            .unwrap()
    };
    let first = deploy_in_run("run-1");
    assert_ok(&first);
    let tip = r.remote_audit_tip();
    let rerun = deploy_in_run("run-1-again");
    assert_ok(&rerun);
    assert!(
        stderr(&rerun).contains("already recorded this deployment"),
        "{}",
        stderr(&rerun)
    );
    assert!(!stderr(&rerun).contains(FELL_BACK), "{}", stderr(&rerun));
    assert_eq!(r.remote_audit_tip(), tip, "nothing appended");
    // The shallow audit branch numbers no version: record in the same checkout still runs.
    let out = run_in(&r, &s, &clone, &["record", "--key", &key()]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("shallow"), "{}", stderr(&out));
}

#[test]
fn every_edit_of_the_summary_or_the_tip_falls_back_to_the_whole_log_and_blocks() {
    // A shard edited: its hash is no longer the index's.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        edit_json(f, &shard_of(INTAKE), |v| {
            v["prompts"][INTAKE]["latest"]["approved"] = false.into();
        });
    });
    assert_falls_back_and_blocks(&r, &s, "shard", &[]);

    // An environment file edited and listed in the index: the checkpoint binds another.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        edit_json(f, "state/env/production.json", |v| {
            v["live"][INTAKE]["version"] = 1.into();
        });
        reindex(f, "state/env/production.json");
    });
    assert_falls_back_and_blocks(&r, &s, "env", &[]);

    // The index claims fewer entries.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        edit_json(f, "state/index.json", |i| {
            i["size"] = (i["size"].as_u64().unwrap() - 1).into();
        });
    });
    assert_falls_back_and_blocks(&r, &s, "index", &[]);

    // The checkpoint's state line edited to bind an edited index: its signature breaks.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        edit_json(f, &shard_of(TRIAGE), |v| {
            v["prompts"][TRIAGE]["latest"]["approved"] = false.into();
        });
        reindex(f, &shard_of(TRIAGE));
        let index = sha256_of(&f["state/index.json"]);
        let text = String::from_utf8(f["checkpoint"].clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("promptrail-state sha256:"))
            .unwrap()
            .to_owned();
        let edited = text.replace(&line, &format!("promptrail-state sha256:{index}"));
        f.insert("checkpoint".into(), edited.into_bytes());
    });
    assert_falls_back_and_blocks(&r, &s, "state-line", &[]);

    // A checkpoint not signed by a trusted key: the gate trusts another.
    let (r, s) = history();
    let other = other_keys().public.to_str().unwrap().to_owned();
    assert_falls_back_and_blocks(&r, &s, "untrusted", &["--key", &other]);

    // The same edit signed again by a key the gate does not trust.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        edit_json(f, &shard_of(NOTES), |v| {
            v["prompts"][NOTES]["latest"]["approved"] = false.into();
        });
        reindex(f, &shard_of(NOTES));
        resign(f, &other_keys().private, "another password");
    });
    assert_falls_back_and_blocks(&r, &s, "resigned-untrusted", &[]);
}

#[test]
fn a_replayed_tree_a_swapped_entry_or_a_lying_signed_summary_blocks() {
    // An older signed tree committed again on top: its checkpoint names another parent.
    let (r, s) = history();
    let old = r.git(&["rev-parse", "promptrail/audit~2"]);
    let replay = r.git(&[
        "commit-tree",
        &format!("{old}^{{tree}}"),
        "-p",
        "promptrail/audit",
        "-m",
        "replay",
    ]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &replay]);
    push_audit(&r);
    assert_falls_back_and_blocks(&r, &s, "replay", &[]);

    // The entry of the version on disk swapped for another signed entry (the tip rewritten
    // in place): the tip's entries are no longer its parent's and one more.
    let (r, s) = history();
    let shard: Value = serde_json::from_slice(
        &git_cmd(&r.work)
            .args([
                "cat-file",
                "blob",
                &format!("promptrail/audit:{}", history_of(INTAKE)),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let versions = shard["versions"].as_array().unwrap();
    let newest = versions.last().unwrap()["entry"].as_u64().unwrap();
    let older = versions[0]["entry"].as_u64().unwrap();
    let path = |i: u64| format!("entries/{:06}/{i:09}.json", i / 1000);
    rewrite_tip(&r, |f| {
        let other = f[&path(older)].clone();
        f.insert(path(newest), other);
    });
    assert_falls_back_and_blocks(&r, &s, "swap", &[]);

    // A version recorded without approvals (offline), which the summary then claims was
    // approved — re-signed with the trusted key, as a signer with a bug would: the entry
    // says otherwise.
    let (r, s) = history();
    r.write(INTAKE, "an offline version\n");
    land(&r, &s, "intake offline");
    assert_ok(&run_in(
        &r,
        &s,
        &r.work,
        &["record", "--offline", "--key", &key()],
    ));
    let blocked = run_in(&r, &s, &r.work, &["gate", "--env", "production"]);
    assert_eq!(blocked.status.code(), Some(1), "{}", stderr(&blocked));
    rewrite_tip(&r, |f| {
        edit_json(f, &shard_of(INTAKE), |v| {
            v["prompts"][INTAKE]["latest"]["approved"] = true.into();
        });
        reindex(f, &shard_of(INTAKE));
        resign(f, &keys().private, PASSWORD);
    });
    assert_falls_back_and_blocks(&r, &s, "lying-summary", &["--key", &public()]);
}

#[test]
fn two_fresh_clones_deploying_at_once_both_land_and_the_log_verifies() {
    let (r, s) = history();
    let before = statements(&r).len();
    let clones = [fresh_clone(&r, "ci-a"), fresh_clone(&r, "ci-b")];
    let children: Vec<_> = clones
        .iter()
        .map(|clone| {
            let mut cmd = r.cmd();
            s.env(&mut cmd);
            cmd.current_dir(clone)
                .args(["deploy", "--env", "staging", "--key", &key()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        // Usually one push is rejected and rebuilt on the shallow branch ("the remote audit
        // branch moved"); either way both must land.
        assert_ok(&child.wait_with_output().unwrap());
    }
    git_in(
        &r.work,
        &[
            "fetch",
            "-q",
            "origin",
            "+promptrail/audit:promptrail/audit",
        ],
    );
    assert_eq!(statements(&r).len(), before + 2, "both deployments landed");
    let report = r.verify_json();
    assert_eq!(report["ok"], true, "{report:#}");
}
