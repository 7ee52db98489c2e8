//! Red team, round 12 (insider with push access, no signing key): `record` resuming from the
//! state summary, and the fresh-clone gate. Each test asserts the secure outcome; a test that
//! fails is a hole. The round found four (approval laundered through a rename or a mode-only
//! change the reviewers saw no content of); with them, the honest renames that must still
//! pass.

use std::process::Output;

use crate::common::github::StandIn;
use crate::common::*;

use super::support::*;
use serde_json::Value;

/// Premise: after the hidden edit the gate blocks `a` (its bytes were never recorded).
/// The attack: PR #2, which reviewers see as "renamed without changes" (`a.md` -> `c.md`)
/// plus `b` back to its approved text. CI's `record`, resuming from the summary, continues
/// `a`'s lineage as the log has it (live: the approved text) and so numbers the rename's
/// content a NEW version, c.md v2, carrying PR #2's approval: the unreviewed text, which
/// reached main by a direct push, is signed as approved and the gate passes it. The secure
/// outcome: the gate blocks c.md (or record refuses / does not attribute the approval).
#[test]
fn red_a_pure_rename_pr_does_not_approve_text_hidden_while_out_of_the_globs() {
    let (r, s) = approved_repo();
    let err = hide_an_edit(&r, &s);
    let g = gate(&r, &s, &[]);
    assert_eq!(
        g.status.code(),
        Some(1),
        "premise: {}{}",
        stdout(&g),
        stderr(&g)
    );
    land_pr(&r, &s, 2, |r| {
        r.git(&["mv", A, C]);
        r.write(B, B1);
    });
    // What the reviewers saw: a rename without changes.
    let diff = r.git(&["diff", "-M", "--stat", "HEAD^1", "HEAD^2", "--", "prompts/"]);
    let out = record(&r, &s);
    let err = err + &stderr(&out);
    let g = gate(&r, &s, &[]);
    let log = r.log_json();
    let c: Vec<&Value> = log
        .iter()
        .flat_map(|e| e["prompts"].as_array().unwrap())
        .filter(|p| p["path"] == C)
        .collect();
    let v = r.verify();
    assert_ne!(
        g.status.code(),
        Some(0),
        "HOLE: the gate passes unreviewed text at {C}\nreviewers saw: {diff}\ngate: {}\nrecord stderr: {err}\nc entries: {c:#?}\nverify: exit {:?} {}",
        stdout(&g),
        v.status.code(),
        stdout(&v)
    );
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && !ok),
        "{}",
        stdout(&g)
    );
}

/// Same hidden edit, then PR #2 changes only `a.md`'s mode (100644 -> 100755: GitHub shows
/// "file mode changed", no content diff) and `b` back. The mode-only change meets a lineage
/// whose live content is not the tree's, so it is a new version with the PR's approval.
#[test]
fn red_a_mode_only_pr_does_not_approve_text_hidden_while_out_of_the_globs() {
    let (r, s) = approved_repo();
    let err = hide_an_edit(&r, &s);
    land_pr(&r, &s, 2, |r| {
        use std::os::unix::fs::PermissionsExt as _;
        let p = r.work.join(A);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        r.write(B, B1);
    });
    let out = record(&r, &s);
    let err = err + &stderr(&out);
    let g = gate(&r, &s, &[]);
    assert_ne!(
        g.status.code(),
        Some(0),
        "HOLE: the gate passes unreviewed text at {A}\ngate: {}\nrecord stderr: {err}",
        stdout(&g)
    );
}

/// Without any glob change: unreviewed text pushed straight to main outside the globs
/// (`notes/a.md`, nobody reviews notes), then PR #2 moves it to `prompts/c.md` unchanged —
/// GitHub shows "renamed without changes", no content. `record` (whole history or not) makes
/// it `c.md` v1 "added" with PR #2's approval. The secure outcome: the content of a pure
/// rename into the globs is not approved by a review that never showed it (gate blocks).
#[test]
fn red_a_pure_rename_into_the_globs_does_not_approve_text_nobody_was_shown() {
    let (r, s) = approved_repo();
    r.write("notes/a.md", EVIL);
    direct(&r, &s, "a note");
    assert_ok(&record(&r, &s));
    land_pr(&r, &s, 2, |r| {
        std::fs::create_dir_all(r.work.join("prompts")).unwrap();
        r.git(&["mv", "notes/a.md", C]);
    });
    let diff = r.git(&["diff", "-M", "--stat", "HEAD^1", "HEAD^2"]);
    let out = record(&r, &s);
    let g = gate(&r, &s, &[]);
    assert_ne!(
        g.status.code(),
        Some(0),
        "HOLE: the gate passes unreviewed text at {C}\nreviewers saw: {diff}\ngate: {}\nrecord: {}",
        stdout(&g),
        stderr(&out)
    );
}

const ANCHOR: &str = "PROMPTRAIL_TRUSTED_KEY_IDS";

fn ci_key_id() -> String {
    promptrail::signing::TrustedKey::load(&keys().public)
        .unwrap()
        .key_id
        .to_string()
}

/// `promptrail <args>` in `dir` as CI runs it: against the stand-in, the anchor set to the CI
/// key, the repository named as Actions names it.
fn ci(r: &Repo, s: &StandIn, dir: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env(ANCHOR, ci_key_id())
        .current_dir(dir)
        .args(args);
    cmd.output().unwrap()
}

/// The attack: by a direct push (no review), `.promptrail.yml` gains `audit.remote: <a git
/// server of the attacker's>` (any URL or path is a "remote name") and `approvals: 0`; then,
/// in a second direct push, the unreviewed text. CI's `record` (its key, the anchor set)
/// fetches the audit branch from that remote, finds none there, and starts a new log there
/// (the second-log check looks only at that remote): the adoption baseline, in which every
/// `.promptrail.yml` change takes effect as it landed, so the unreviewed text is recorded
/// as approved under `approvals: 0` and signed by the CI key. The deploy job's gate (fresh
/// clone, anchor set) fetches from the same remote: every signature is the CI key's, the
/// working tree's config is that log's policy in force, and it passes. The secure outcome:
/// record refuses (or records into the real log, where the change takes no effect), and the
/// gate blocks. (HELD: `record` refuses a remote that is not a configured git remote, and
/// the gate cannot fetch from it.)
#[test]
fn red_an_unapproved_audit_remote_does_not_get_a_ci_signed_second_log() {
    let r = Repo::new();
    git_in(&r.remote, &["config", "uploadpack.allowFilter", "true"]);
    let s = StandIn::start();
    r.write(".promptrail.yml", &cfg("prompts/**"));
    r.write("README.md", "clinic\n");
    direct(&r, &s, "adopt promptrail");
    assert_ok(&ci(
        &r,
        &s,
        &r.work,
        &["record", "--key", &keys().private.to_string_lossy()],
    ));
    land_pr(&r, &s, 1, |r| r.write(A, A1));
    assert_ok(&ci(
        &r,
        &s,
        &r.work,
        &["record", "--key", &keys().private.to_string_lossy()],
    ));
    let honest = ci_clone(&r, "honest");
    let g = ci(
        &r,
        &s,
        &honest,
        &["gate", "--env", "production", "--format", "json"],
    );
    assert_eq!(
        g.status.code(),
        Some(0),
        "premise: {}{}",
        stdout(&g),
        stderr(&g)
    );

    // The attacker's server: an empty bare repository.
    let evil = r.dir.path().join("evil.git");
    git_in(r.dir.path(), &["init", "-q", "--bare", "evil.git"]);
    git_in(&evil, &["config", "uploadpack.allowFilter", "true"]);
    let theirs = format!(
        "signing:\n  public_keys: [\"{}\"]\nprompts:\n  include: [\"prompts/**\"]\nenvironments: [production]\naudit:\n  remote: \"{}\"\npolicy:\n  default:\n    approvals: 0\n",
        keys().public.display(),
        evil.display()
    );
    r.write(".promptrail.yml", &theirs);
    direct(&r, &s, "ci: audit remote");
    r.write(A, EVIL);
    direct(&r, &s, "tweak a");
    // CI's record job: a fresh checkout of main, as on every push.
    let rec = ci_clone(&r, "record-job");
    let out = ci(
        &r,
        &s,
        &rec,
        &["record", "--key", &keys().private.to_string_lossy()],
    );
    let recorded = format!(
        "record: exit {:?}\n{}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    // The deploy job: another fresh checkout.
    let dep = ci_clone(&r, "deploy-job");
    let g = ci(
        &r,
        &s,
        &dep,
        &["gate", "--env", "production", "--format", "json"],
    );
    let d = ci(
        &r,
        &s,
        &dep,
        &[
            "deploy",
            "--env",
            "production",
            "--key",
            &keys().private.to_string_lossy(),
        ],
    );
    assert_ne!(
        g.status.code(),
        Some(0),
        "HOLE: the gate passes unreviewed text\n{recorded}\ngate: {}{}\ndeploy: exit {:?} {}{}",
        stdout(&g),
        stderr(&g),
        d.status.code(),
        stdout(&d),
        stderr(&d)
    );
}

/// An unapproved version (a direct push, recorded as not approved) renamed: the rename
/// entry must not be what makes the unapproved content pass.
fn unapproved_version_renamed(by_pr: bool) -> (Output, Output, Output) {
    let (r, s) = approved_repo();
    r.write(A, EVIL);
    direct(&r, &s, "a edited without review");
    assert_ok(&record(&r, &s));
    let g = gate(&r, &s, &[]);
    assert_eq!(g.status.code(), Some(1), "premise: {}", stdout(&g));
    if by_pr {
        land_pr(&r, &s, 2, |r| {
            r.git(&["mv", A, C]);
        });
    } else {
        r.git(&["mv", A, C]);
        direct(&r, &s, "rename a");
    }
    let out = record(&r, &s);
    assert_ok(&out);
    let fresh = fresh_gate(&r, &s);
    let v = r.verify();
    assert_ok(&v); // the log verifies: nothing warns
    (gate(&r, &s, &[]), out, fresh)
}

/// HOLE: the pull request shows "renamed without changes"; it is approved; the rename entry
/// (c.md v2, renamed) carries that approval and the gate passes v2's content, which the
/// log itself recorded as not approved (entry of the direct push).
#[test]
fn red_a_rename_pr_does_not_approve_an_unapproved_version() {
    let (g, out, fresh) = unapproved_version_renamed(true);
    assert_eq!(
        (g.status.code(), fresh.status.code()),
        (Some(1), Some(1)),
        "HOLE: {}{}\nfresh clone: {}{}",
        stdout(&g),
        stderr(&out),
        stdout(&fresh),
        stderr(&fresh)
    );
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && !ok),
        "{}",
        stdout(&g)
    );
}

/// The same rename by a direct push: blocked.
#[test]
fn an_unapproved_version_renamed_by_a_direct_push_stays_blocked() {
    let (g, out, fresh) = unapproved_version_renamed(false);
    assert_eq!(g.status.code(), Some(1), "{}{}", stdout(&g), stderr(&out));
    assert_eq!(
        fresh.status.code(),
        Some(1),
        "{}{}",
        stdout(&fresh),
        stderr(&fresh)
    );
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && !ok),
        "{}",
        stdout(&g)
    );
}

/// After the hidden edit (globs narrowed, `a` edited, globs restored; each push recorded),
/// (HELD: status reports `a.md v2 unrecorded (log has v1)`.)
/// `status` must not say that everything is recorded: `a`'s bytes at main's tip are not what
/// the log has live.
#[test]
fn status_after_a_hidden_edit_does_not_say_all_is_recorded() {
    let (r, s) = approved_repo();
    hide_an_edit(&r, &s);
    let mut cmd = r.cmd();
    s.env(&mut cmd).args(["status", "--format", "json"]);
    let out = cmd.output().unwrap();
    let text = stdout(&out);
    let mut cmd = r.cmd();
    s.env(&mut cmd).args(["status"]);
    let plain = cmd.output().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let a_row = text.contains("prompts/a.md");
    assert!(
        a_row && !stdout(&plain).to_lowercase().contains("up to date"),
        "status names nothing about {A}:\n{}\n{}\n{v:#}",
        stdout(&plain),
        stderr(&plain)
    );
}

/// The honest counterpart of the rename holes: an approved version renamed by an approved
/// pull request (GitHub: "renamed without changes") carries its approval, and the gate
/// passes it, in the working clone and in the deploy job's fresh clone. `separately`:
/// recorded in two runs (the carried version read from the state summary), else in one run
/// (from the entries that run makes).
fn approved_version_renamed(separately: bool) {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(".promptrail.yml", &cfg("prompts/**"));
    direct(&r, &s, "adopt promptrail");
    assert_ok(&record(&r, &s));
    land_pr(&r, &s, 1, |r| r.write(A, A1));
    if separately {
        assert_ok(&record(&r, &s));
    }
    land_pr(&r, &s, 2, |r| {
        r.git(&["mv", A, C]);
    });
    assert_ok(&record(&r, &s));
    let log = r.log_json();
    let renamed = log
        .iter()
        .flat_map(|e| e["prompts"].as_array().unwrap())
        .find(|p| p["path"] == C)
        .unwrap_or_else(|| panic!("no entry for {C}: {log:#?}"));
    assert_eq!(renamed["change"], "renamed", "{renamed:#}");
    let g = gate(&r, &s, &[]);
    assert_eq!(g.status.code(), Some(0), "{}{}", stdout(&g), stderr(&g));
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && *ok),
        "{}",
        stdout(&g)
    );
    let f = fresh_gate(&r, &s);
    assert_eq!(f.status.code(), Some(0), "{}{}", stdout(&f), stderr(&f));
    assert_ok(&r.verify());
}

#[test]
fn an_approved_version_renamed_by_an_approved_pr_stays_approved() {
    approved_version_renamed(true);
}

#[test]
fn an_approved_version_renamed_in_the_same_record_run_stays_approved() {
    approved_version_renamed(false);
}

/// A rename that also edits the text shows the edit: the pull request's approval is the
/// new version's, as for any edit.
#[test]
fn a_rename_with_edits_takes_the_pull_requests_approval() {
    let (r, s) = approved_repo();
    land_pr(&r, &s, 2, |r| {
        r.git(&["mv", A, C]);
        r.write(C, &format!("{A1}Always confirm the dose.\n"));
    });
    assert_ok(&record(&r, &s));
    let g = gate(&r, &s, &[]);
    assert_eq!(g.status.code(), Some(0), "{}{}", stdout(&g), stderr(&g));
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && *ok),
        "{}",
        stdout(&g)
    );
}

/// Under a rule that needs no approval, whatever lands is approved, shown or not: a file
/// moved unchanged into the globs passes as a direct push of it would.
#[test]
fn a_rule_that_needs_no_approval_approves_a_move_into_the_globs() {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(
        ".promptrail.yml",
        &cfg("prompts/**").replace("approvals: 1", "approvals: 0"),
    );
    r.write("notes/a.md", A1);
    direct(&r, &s, "adopt promptrail");
    assert_ok(&record(&r, &s));
    land_pr(&r, &s, 1, |r| {
        std::fs::create_dir_all(r.work.join("prompts")).unwrap();
        r.git(&["mv", "notes/a.md", C]);
    });
    assert_ok(&record(&r, &s));
    let g = gate(&r, &s, &[]);
    assert_eq!(g.status.code(), Some(0), "{}{}", stdout(&g), stderr(&g));
    assert!(
        rows(&g).iter().any(|(p, ok, _)| p == C && *ok),
        "{}",
        stdout(&g)
    );
}
