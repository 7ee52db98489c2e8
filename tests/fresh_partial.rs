//! The tip-first fetch of a fresh CI clone: the two audit commits without trees, then only
//! the trees and files on the answer's paths, by id (of the parent, never its `entries`). A
//! server that refuses the `tree:0` filter (or every filter) is read as before (all trees of
//! the two commits) with the same answer; a tip whose directories are files, or that names a
//! tree the server does not have, is never passed on what was fetched: the whole log is read
//! (and blocks, or the gate fails).

mod common;

use std::path::Path;

use common::fresh::*;
use common::*;

const GATE: [&str; 5] = ["gate", "--env", "production", "--format", "json"];

/// Whether `clone` holds object `oid` (never fetched to find out).
fn here(clone: &Path, oid: &str) -> bool {
    git_cmd(clone)
        .env("GIT_NO_LAZY_FETCH", "1")
        .args(["cat-file", "-e", oid])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_fresh_gate_fetches_the_trees_on_its_paths_and_no_other() {
    let (r, s) = history();
    let full = run_in(&r, &s, &r.work, &GATE);
    assert_ok(&full);
    let clone = fresh_clone(&r, "ci");
    let fresh = run_in(&r, &s, &clone, &GATE);
    assert_ok(&fresh);
    assert_eq!(json(&fresh), json(&full));
    assert!(!stderr(&fresh).contains(FELL_BACK), "{}", stderr(&fresh));
    let id = |path: &str| r.git(&["rev-parse", &format!("promptrail/audit:{path}")]);
    // On the answer's paths: the heads shards' directory, the index, the last entry's.
    for path in ["state", "state/heads", "state/index.json", "entries"] {
        assert!(here(&clone, &id(path)), "{path} was fetched");
    }
    // Off them: the deployments' trees, and the parent's state and entries (never read:
    // the succession check recomputes the parent's `entries` ids from the tip's).
    assert!(!here(&clone, &id("state/deployments")), "state/deployments");
    assert!(!here(&clone, &id("state/env-log")), "state/env-log");
    for path in ["state", "entries", "entries/000000"] {
        let parents = r.git(&["rev-parse", &format!("promptrail/audit~1:{path}")]);
        assert_ne!(parents, id(path), "{path} differs between tip and parent");
        assert!(!here(&clone, &parents), "the parent's {path}");
    }
}

#[test]
fn a_server_refusing_the_tree_filter_gets_the_blobless_fetch_and_the_same_answer() {
    let (r, s) = history();
    let full = run_in(&r, &s, &r.work, &GATE);
    assert_ok(&full);
    let deployments = r.git(&["rev-parse", "promptrail/audit:state/deployments"]);
    // `tree:0` banned (a server may disallow it), then every filter (an older server: git
    // then ignores the filter and sends everything).
    for (name, setting, value) in [
        ("no-tree-filter", "uploadpackfilter.tree.allow", "false"),
        ("no-filter", "uploadpack.allowFilter", "false"),
    ] {
        git_in(&r.remote, &["config", setting, value]);
        let clone = fresh_clone(&r, name);
        let fresh = run_in(&r, &s, &clone, &GATE);
        assert_ok(&fresh);
        assert_eq!(json(&fresh), json(&full), "{name}");
        assert!(
            !stderr(&fresh).contains(FELL_BACK),
            "{name}: {}",
            stderr(&fresh)
        );
        // Not the treeless path: every tree of the tip came with it.
        assert!(here(&clone, &deployments), "{name}: the tip's trees");
        let (present, total) = entry_blobs(&clone);
        if name == "no-tree-filter" {
            assert!(present <= 5, "{name}: {present} of {total} entry blobs");
        }
        // And deploy appends on top of it as ever.
        let out = run_in(
            &r,
            &s,
            &clone,
            &["deploy", "--env", "staging", "--key", &key()],
        );
        assert_ok(&out);
        assert!(
            !stderr(&out).contains(FELL_BACK),
            "{name}: {}",
            stderr(&out)
        );
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
    let report = r.verify_json();
    assert_eq!(report["ok"], true, "{report:#}");
}

#[test]
fn a_tip_whose_directories_are_files_falls_back_and_blocks() {
    // `state/` replaced by a file: no summary can be read through it.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        f.retain(|p, _| !p.starts_with("state/"));
        f.insert("state".into(), b"{\"not\": \"a tree\"}\n".to_vec());
    });
    assert_falls_back_and_blocks(&r, &s, "state-file", &[]);

    // `entries/` replaced by a file: no last entry, and the whole log does not verify.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        f.retain(|p, _| !p.starts_with("entries/"));
        f.insert("entries".into(), b"000000000.json\n".to_vec());
    });
    assert_falls_back_and_blocks(&r, &s, "entries-file", &[]);

    // The last entry directory replaced by a file: the whole log cannot even be read.
    let (r, s) = history();
    rewrite_tip(&r, |f| {
        f.retain(|p, _| !p.starts_with("entries/000000/"));
        f.insert("entries/000000".into(), b"entries\n".to_vec());
    });
    assert_never_passes(&r, &s, &fresh_clone(&r, "entry-dir-file"));
}

/// Gates production in `clone`: blocked (1) or failed (2), after saying it read the whole
/// log; never passed.
fn assert_never_passes(r: &Repo, s: &common::github::StandIn, clone: &Path) {
    let out = run_in(r, s, clone, &GATE);
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "must not pass\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains(FELL_BACK), "{}", stderr(&out));
    if !stdout(&out).is_empty() {
        assert_eq!(json(&out)["ok"], false);
    }
}

#[test]
fn a_tip_naming_a_tree_the_server_lacks_never_passes() {
    let (r, s) = history();
    // Written into the remote by hand (a push would be refused for the missing object):
    // the tip's root with `state` pointing at a tree nobody has, on the same parent.
    let remote = |args: &[&str]| git_in(&r.remote, args);
    let rows = remote(&["ls-tree", "promptrail/audit"]);
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let edited: String = rows
        .lines()
        .map(|l| match l.strip_suffix("\tstate") {
            Some(_) => format!("040000 tree {absent}\tstate\n"),
            None => format!("{l}\n"),
        })
        .collect();
    let mut mktree = git_cmd(&r.remote)
        .args(["mktree", "--missing"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    mktree
        .stdin
        .take()
        .unwrap()
        .write_all(edited.as_bytes())
        .unwrap();
    let out = mktree.wait_with_output().unwrap();
    assert!(out.status.success());
    let tree = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let parent = remote(&["rev-parse", "promptrail/audit^"]);
    let commit = remote(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit-tree",
        &tree,
        "-p",
        &parent,
        "-m",
        "absent state",
    ]);
    remote(&["update-ref", "refs/heads/promptrail/audit", &commit]);

    assert_never_passes(&r, &s, &fresh_clone(&r, "ci"));
}
