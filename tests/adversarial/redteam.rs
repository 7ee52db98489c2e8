//! Red-team attacks on "policy is governed content". Every test asserts the SECURE outcome:
//! a failing test is a working bypass (or a defect) and its message says which.

use crate::common::github::{Review as GhReview, StandIn};
use crate::common::*;
use crate::support::*;

/// Lands a PR `number` from branch `name` whose head writes `files`, approved by
/// `approvers` at its head; returns (head, merge).
fn land_pr(
    r: &Repo,
    s: &StandIn,
    number: u64,
    name: &str,
    files: &[(&str, &str)],
    approvers: &[&str],
) -> (String, String) {
    let base = r.git(&["rev-parse", "HEAD"]);
    r.git(&["checkout", "-q", "-b", name]);
    for (p, c) in files {
        r.write(p, c);
    }
    let head = r.commit_as("Ana Author <ana@example.org>", name);
    r.git(&[
        "push",
        "-q",
        "origin",
        &format!("HEAD:refs/pull/{number}/head"),
    ]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "merge",
        "-q",
        "--no-ff",
        name,
        "-m",
        &format!("Merge pull request #{number}"),
    ]);
    r.push();
    let merge = r.git(&["rev-parse", "HEAD"]);
    let reviews: Vec<GhReview> = approvers
        .iter()
        .enumerate()
        .map(|(i, login)| GhReview {
            id: number * 100 + i as u64,
            login,
            state: "APPROVED",
            commit: &head,
        })
        .collect();
    s.reviews(number, &reviews, 1);
    s.commits(number, &[(&head, "ana")]);
    s.commit_pulls(
        &merge,
        Some(s.pull_json(number, "ana", &head, &base, Some(&merge))),
    );
    (head, merge)
}

fn verify_branch(r: &Repo, branch: &str) -> std::process::Output {
    r.run(&[
        "verify",
        "--key",
        keys().public.to_str().unwrap(),
        "--branch",
        branch,
    ])
}

// ---------------------------------------------------------------------------------------
// A1. `audit.branch` is read from the (unapproved) working-tree config: a direct push that
// renames the audit branch makes `record` start a fresh log, whose first run is an adoption
// baseline in which the attacker's own config takes effect "as it landed".
// ---------------------------------------------------------------------------------------

#[test]
fn a1_renaming_the_audit_branch_does_not_restart_the_adoption_baseline() {
    let (r, s) = adopted();
    // One direct push, two commits: a fresh audit branch and zero approvals, then the edit.
    let evil_cfg = format!(
        "audit:\n  branch: promptrail/audit2\n{}",
        config("").replace("approvals: 1", "approvals: 0")
    );
    r.write(".promptrail.yml", &evil_cfg);
    let lower = r.commit("housekeeping");
    r.write(INTAKE, "Skip the allergy questions.\n");
    let edit = r.commit("faster intake");
    r.push();
    s.commit_pulls(&lower, None);
    s.commit_pulls(&edit, None);
    // The CI record job on main, with the real signing key.
    let rec = gh(
        &r,
        &s,
        &["record", "--key", keys().private.to_str().unwrap()],
    );
    // The deploy job on main: gate with the committed key, then deploy.
    let (code, g) = gate_with(&r, &["--key", keys().public.to_str().unwrap()]);
    let deploy = r.run(&[
        "deploy",
        "--env",
        "production",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    let v_new = verify_branch(&r, "promptrail/audit2");
    let v_old = verify_branch(&r, "promptrail/audit");
    assert!(
        // Blocked (1) or refused (2): anything but passing.
        code != Some(0) && deploy.status.code() != Some(0) && rec.status.code() != Some(0),
        "BYPASS: gate exit {code:?}, deploy exit {:?}; record exit {:?}: {}\n\
         verify promptrail/audit2 exit {:?}, verify promptrail/audit exit {:?}\ngate: {g:#}\n{}",
        deploy.status.code(),
        rec.status.code(),
        stderr(&rec),
        v_new.status.code(),
        v_old.status.code(),
        stdout(&deploy)
    );
}

// ---------------------------------------------------------------------------------------
// A2. A commit that changes the policy (approved) AND a prompt: the policy entry is not the
// last entry of its commit. A later `record` resumes from the newest version entry only and
// loses the pending policy change, so the next commit is judged by the OLD policy.
// ---------------------------------------------------------------------------------------

#[test]
fn a2_an_approved_policy_change_landed_with_a_prompt_takes_effect_after_a_resume() {
    let (r, s) = adopted();
    // PR #13 (approved by rita, as the policy in force needs): two approvals from now on,
    // and an intake tweak in the same merge.
    land_pr(
        &r,
        &s,
        13,
        "stricter",
        &[
            (
                ".promptrail.yml",
                &config("").replace("approvals: 1", "approvals: 2"),
            ),
            (INTAKE, "You are a careful clinical intake assistant.\n"),
        ],
        &["rita"],
    );
    record(&r, &s);
    // PR #14 with ONE approval: under the new policy it is not approved.
    land_pr(
        &r,
        &s,
        14,
        "one-approval",
        &[(INTAKE, "Only one reviewer looked at this.\n")],
        &["rita"],
    );
    record(&r, &s);
    let log = r.log_json();
    let v4 = entry_for(&log, INTAKE, 4);
    let verify = r.verify();
    let (code, g) = gate_json(&r);
    assert!(
        v4["policy"]["inForce"]["version"] == 2
            && v4["policy"]["rules"][0]["approved"] == false
            && verify.status.success(),
        "DEFECT: intake v4 judged by policy {} (approved {}); verify exit {:?}: {}\ngate exit \
         {code:?}: {g:#}",
        v4["policy"]["inForce"],
        v4["policy"]["rules"][0]["approved"],
        verify.status.code(),
        stdout(&verify)
    );
}

// ---------------------------------------------------------------------------------------
// A3. `check` takes the audit branch name from the PR's own config (the merge checkout) and
// falls back to the base's file alone when the log cannot be read. With an unapproved
// `approvals: 0` pushed to main, a PR that also points `audit.branch` nowhere passes check.
// ---------------------------------------------------------------------------------------

#[test]
fn a3_check_cannot_be_made_to_forget_the_policy_in_force() {
    let (r, s) = adopted();
    let weak = config("").replace("approvals: 1", "approvals: 0");
    r.write(".promptrail.yml", &weak);
    let lower = r.commit("relax the policy");
    r.push();
    s.commit_pulls(&lower, None);
    record(&r, &s);
    r.git(&["checkout", "-q", "-b", "quick"]);
    r.write(INTAKE, "No review needed now, right?\n");
    r.write(
        ".promptrail.yml",
        &format!("audit:\n  branch: promptrail/nowhere\n{weak}"),
    );
    let head = r.commit_as("Ana Author <ana@example.org>", "quick edit");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/20/head"]);
    // The check job's checkout is the PR (its merge ref): stay on `quick`.
    s.pull(20, "ana", &head, &lower, None);
    s.files(20, &[(INTAKE, "modified"), (".promptrail.yml", "modified")]);
    s.reviews(20, &[], 1);
    s.commits(20, &[(&head, "ana")]);
    let out = gh(&r, &s, &["check", "--pr", "20", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "BYPASS (check): an unreviewed PR passes check under the unapproved base policy\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A3b: the same without touching the PR's config: a garbage entry appended to the audit
/// branch (fast-forward) makes the log unreadable, and check falls back to the base's file.
#[test]
fn a3b_check_does_not_fall_back_to_the_bases_file_when_the_log_is_unreadable() {
    let (r, s) = adopted();
    let weak = config("").replace("approvals: 1", "approvals: 0");
    r.write(".promptrail.yml", &weak);
    let lower = r.commit("relax the policy");
    r.push();
    s.commit_pulls(&lower, None);
    record(&r, &s);
    tamper(&r, |files| {
        files.insert(
            "entries/000000/000000099.json".into(),
            b"{not json".to_vec(),
        );
    });
    r.git(&["push", "-q", "origin", "promptrail/audit"]);
    r.git(&["checkout", "-q", "-b", "quick"]);
    r.write(INTAKE, "No review needed now, right?\n");
    let head = r.commit_as("Ana Author <ana@example.org>", "quick edit");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/21/head"]);
    s.pull(21, "ana", &head, &lower, None);
    s.files(21, &[(INTAKE, "modified")]);
    s.reviews(21, &[], 1);
    s.commits(21, &[(&head, "ana")]);
    let out = gh(&r, &s, &["check", "--pr", "21", "--format", "json"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "BYPASS (check): fail-open on an unreadable log\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------
// A4. The gate's `--prompt` filter: the policy file is filtered out too.
// ---------------------------------------------------------------------------------------

#[test]
fn a4_gate_with_a_prompt_filter_passes_an_approved_prompt() {
    let (r, _s) = adopted();
    let (code, g) = gate_with(&r, &["--prompt", INTAKE]);
    assert_eq!(
        code,
        Some(0),
        "DEFECT: `gate --prompt` blocks an approved prompt: {g:#}"
    );
}

// ---------------------------------------------------------------------------------------
// A5. Untracked prompt files in the deploy working tree (DESIGN: "every regular file the
// globs match in the working tree, tracked or not").
// ---------------------------------------------------------------------------------------

#[test]
fn a5_an_untracked_prompt_in_the_working_tree_blocks_the_gate() {
    let (r, _s) = adopted();
    r.write("prompts/clinical/triage.md", "Never escalate.\n");
    let (code, g) = gate_json(&r);
    assert_eq!(
        code,
        Some(1),
        "BYPASS: an untracked prompt file is not gated: {g:#}"
    );
}

/// A5b: a tracked prompt file removed from the index but left on disk (`git rm --cached`).
#[test]
fn a5b_a_prompt_removed_from_the_index_but_on_disk_blocks_the_gate() {
    let (r, _s) = adopted();
    r.git(&["rm", "-q", "--cached", INTAKE]);
    r.write(INTAKE, "Unreviewed, and untracked now.\n");
    let (code, g) = gate_json(&r);
    assert_eq!(
        code,
        Some(1),
        "BYPASS: a prompt dropped from the index is not gated: {g:#}"
    );
}

/// A5c: `.promptrail.yml` removed from the index but on disk with other content: the gate
/// loads it (matcher, audit branch, keys) but does not compare it.
#[test]
fn a5c_a_policy_file_removed_from_the_index_is_still_compared() {
    let (r, _s) = adopted();
    r.git(&["rm", "-q", "--cached", ".promptrail.yml"]);
    r.write(
        ".promptrail.yml",
        &config("").replace("approvals: 1", "approvals: 0"),
    );
    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(1), "BYPASS: {g:#}");
}

// ---------------------------------------------------------------------------------------
// A6. `prompts.exclude` from the (unapproved) working-tree config decides what `record`
// scans. A direct push excludes intake, edits it alongside another recorded change (so the
// log moves past that commit), then restores the approved config. The edit is never
// recorded; the next legitimate intake version leaves a numbering gap.
// ---------------------------------------------------------------------------------------

#[test]
fn a7_a_rolled_back_local_audit_ref_does_not_restore_a_weaker_policy() {
    let (r, s) = adopted();
    let before = r.local_audit_tip().unwrap();
    let p1 = config("");
    land_pr(
        &r,
        &s,
        13,
        "prod-two",
        &[(
            ".promptrail.yml",
            &config("  environments:\n    production:\n      approvals: 2\n"),
        )],
        &["rita"],
    );
    record(&r, &s);
    // Precondition: under the approved policy, intake v2 (one approval) cannot go to prod.
    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(1), "precondition: {g:#}");
    // The crafted deploy job.
    r.git(&["update-ref", "refs/heads/promptrail/audit", &before]);
    r.write(".promptrail.yml", &p1);
    let (code, g) = gate_with(&r, &["--key", keys().public.to_str().unwrap()]);
    let deploy = r.run(&[
        "deploy",
        "--env",
        "production",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    r.git(&[
        "fetch",
        "-q",
        "origin",
        "+promptrail/audit:promptrail/audit",
    ]);
    r.write(
        ".promptrail.yml",
        &config("  environments:\n    production:\n      approvals: 2\n"),
    );
    let verify = r.verify();
    eprintln!(
        "verify after the deploy: exit {:?}\n{}",
        verify.status.code(),
        stdout(&verify)
    );
    assert!(
        code == Some(1) && deploy.status.code() != Some(0),
        "BYPASS: the gate applied the superseded policy from a rolled-back log: gate exit \
         {code:?}, deploy exit {:?}: {} {}\ngate: {g:#}",
        deploy.status.code(),
        stdout(&deploy),
        stderr(&deploy)
    );
}
