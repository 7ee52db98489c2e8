//! Red-team review (insider with push access, no signing key): each test plays one attack
//! and asserts the secure outcome; it fails on the code it was written against.

mod common;

use common::*;
use promptrail::signing::TrustedKey;

const PROMPT: &str = "prompts/welcome.md";

/// The policy the repository adopted: the CI key trusted, one approval a change.
fn adopted_config() -> String {
    format!(
        "signing:\n  public_keys: [\"{}\"]\npolicy:\n  default:\n    approvals: 1\n",
        keys().public.display()
    )
}

/// A repository whose first `record` adopted [`adopted_config`] and one prompt.
fn adopted_repo() -> Repo {
    let r = Repo::new();
    r.write(".promptrail.yml", &adopted_config());
    r.write(PROMPT, "Hello!\n");
    r.commit("adopt promptrail");
    r.push();
    r.record();
    r
}

/// The attacker's direct push to main (no pull request, no review): their own public key,
/// pinned as the README asks, added to `signing.public_keys`. An unapproved policy change,
/// recorded as such, "takes no effect".
fn push_config_trusting_the_attackers_key(r: &Repo) {
    std::fs::create_dir_all(r.work.join("keys")).unwrap();
    std::fs::copy(&other_keys().public, r.work.join("keys/ops.pub")).unwrap();
    let id = TrustedKey::load(&other_keys().public).unwrap().key_id;
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys:\n    - \"{}\"\n    - {{ path: keys/ops.pub, key_id: {id} }}\n\
             policy:\n  default:\n    approvals: 1\n",
            keys().public.display()
        ),
    );
    r.commit("ops: add the new CI key");
    r.push();
}

/// `record --offline --no-push` signed with the private key at `key` (password `password`).
fn record_offline(r: &Repo, key: &std::path::Path, password: &str) -> std::process::Output {
    r.cmd()
        .env("PROMPTRAIL_KEY_PASSWORD", password)
        .args([
            "record",
            "--offline",
            "--no-push",
            "--key",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// The attacker records with their own key (`record --offline --no-push --key <theirs>`):
/// promptrail itself writes entries, summary and checkpoint right in every way but the key,
/// fast-forward on top of the audit branch (no force-push). Returns the forged tip.
fn record_with_the_attackers_key(r: &Repo) -> String {
    let before = r.git(&["rev-parse", "promptrail/audit"]);
    let out = record_offline(r, &other_keys().private, "another password");
    assert_ok(&out);
    let forged = r.git(&["rev-parse", "promptrail/audit"]);
    assert_ne!(forged, before, "the attacker's record appended nothing");
    forged
}

/// HOLE: `record` (run by CI on main with the real key) trusts whatever keys the working
/// tree's `.promptrail.yml` names, including one added by an unapproved direct push. The
/// attacker pushes that config and a prompt edit to main, records them with their own key
/// (entries, summary and checkpoint as promptrail writes them, only the key is theirs) and
/// pushes the audit branch fast-forward; the next `record` checks the tip against the
/// working tree's keys, accepts it, and signs its own entry and checkpoint on top of the
/// forgery, which `verify` with the CI key alone rejects (PT004 on the attacker's entries). The secure outcome: the append refuses (exit 2)
/// and appends nothing, as it does when the attacker's key is not in the config.
#[test]
fn red_record_does_not_sign_on_top_of_a_tip_signed_by_a_key_an_unapproved_config_added() {
    let r = adopted_repo();
    push_config_trusting_the_attackers_key(&r);
    r.write(PROMPT, "Hello, unreviewed!\n");
    r.commit("welcome v2, pushed straight to main");
    r.push();
    let forged = record_with_the_attackers_key(&r);
    r.write(PROMPT, "Hello again!\n");
    r.commit("welcome v3");
    r.push();
    let out = record_offline(&r, &keys().private, PASSWORD);
    let tip = r.git(&["rev-parse", "promptrail/audit"]);
    // What the CI key alone says of the branch record left behind.
    let verdict = r.run(&["verify", "--key", keys().public.to_str().unwrap()]);
    assert!(
        out.status.code() == Some(2) && tip == forged,
        "record signed on top of an entry signed by a key only an unapproved policy change \
         trusts (exit {:?}; tip {} over forged {}); verify with the CI key: exit {:?}\n\
         record stderr: {}\nverify: {}",
        out.status.code(),
        tip,
        forged,
        verdict.status.code(),
        stderr(&out),
        stdout(&verdict)
    );
    assert!(
        stderr(&out).contains("which the policy in force before it does not name"),
        "{}",
        stderr(&out)
    );
}

/// The fix's other side: a second key the adopted policy names (a rotation, or a second
/// job's key) still builds on the first key's checkpoints, back to the log's first one.
#[test]
fn a_key_the_policy_in_force_names_still_builds_on_the_other_keys_checkpoints() {
    let r = Repo::new();
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\", \"{}\"]\npolicy:\n  default:\n    approvals: 1\n",
            keys().public.display(),
            other_keys().public.display()
        ),
    );
    r.write(PROMPT, "Hello!\n");
    r.commit("adopt promptrail, two keys");
    r.push();
    r.record();
    r.write(PROMPT, "Hello, rotated!\n");
    r.commit("welcome v2");
    r.push();
    let before = r.git(&["rev-parse", "promptrail/audit"]);
    let out = record_offline(&r, &other_keys().private, "another password");
    assert_ok(&out);
    assert_ne!(r.git(&["rev-parse", "promptrail/audit"]), before);
    let verdict = r.run(&["verify"]);
    assert_ok(&verdict);
}

/// HOLE (red6): the walk trusts the working tree's keys where a parent has no checkpoint.
/// The attacker pushes, fast-forward on top of the honest tip, one commit with the empty
/// tree (no entries, no checkpoint), then records with their own key: promptrail sees a new
/// log there and writes one, whose checkpoint names that empty commit as parent. The next
/// CI `record` walks back: the tip's parent has no checkpoint, so it checks the tip against
/// the configured keys, which the unapproved config made include the attacker's. The
/// secure outcome: record refuses (exit 2) and appends nothing.
#[test]
fn red_record_does_not_sign_on_top_of_a_log_restarted_after_an_empty_commit() {
    let r = adopted_repo();
    push_config_trusting_the_attackers_key(&r);
    r.write(PROMPT, "Hello, unreviewed!\n");
    r.commit("welcome v2, pushed straight to main");
    r.push();
    let honest = r.git(&["rev-parse", "promptrail/audit"]);
    // The honest tree with only its marker file kept: no entries, no checkpoint, no summary.
    let marker = r.git(&["rev-parse", &format!("{honest}:promptrail.json")]);
    let tree = git_stdin(
        &r.work,
        &["mktree"],
        &format!("100644 blob {marker}\tpromptrail.json\n"),
    );
    let wipe = r.git(&[
        "commit-tree",
        &tree,
        "-p",
        &honest,
        "-m",
        "promptrail: append",
    ]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &wipe]);
    // Neither the attacker's own `record` (which would write the restarted log for them)
    // nor CI's builds on a commit without entries or checkpoint on top of a log.
    for (key, password) in [
        (other_keys().private.clone(), "another password"),
        (keys().private.clone(), PASSWORD),
    ] {
        let out = record_offline(&r, &key, password);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("a log restarted on top of a log"),
            "{}",
            stderr(&out)
        );
        assert_eq!(r.git(&["rev-parse", "promptrail/audit"]), wipe);
    }
}

/// `git <args>` in `dir` with `input` on stdin; its trimmed stdout.
fn git_stdin(dir: &std::path::Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
