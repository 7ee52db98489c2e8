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

// ---------------------------------------------------------------------------------------
// The external trust anchor (`PROMPTRAIL_TRUSTED_KEY_IDS`): the gate's trust set from
// outside the branch under review.

use common::github::StandIn;

const ANCHOR: &str = "PROMPTRAIL_TRUSTED_KEY_IDS";

fn key_id(public: &std::path::Path) -> String {
    TrustedKey::load(public).unwrap().key_id.to_string()
}

/// `promptrail <args>` in `dir` against the stand-in `s`, with the anchor set to `anchor`
/// when given.
fn run_anchored(
    r: &Repo,
    s: &StandIn,
    dir: &std::path::Path,
    anchor: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd).current_dir(dir).args(args);
    if let Some(a) = anchor {
        cmd.env(ANCHOR, a);
    }
    cmd.output().unwrap()
}

const GATE: &[&str] = &["gate", "--env", "production", "--format", "json"];

/// The honest history: [`adopted_config`] (the CI key) and the prompt adopted by the first
/// record, then the prompt's second version landed through pull request #12, approved by a
/// writer, recorded by CI against GitHub (the stand-in) and pushed.
/// The CI key is named by a copy outside the repository (`ci.pub` beside it), so that a test
/// can replace that file.
fn honest_repo() -> (Repo, StandIn) {
    let r = Repo::new();
    let ci_pub = r.dir.path().join("ci.pub");
    std::fs::copy(&keys().public, &ci_pub).unwrap();
    r.write(
        ".promptrail.yml",
        &adopted_config().replace(keys().public.to_str().unwrap(), ci_pub.to_str().unwrap()),
    );
    r.write(PROMPT, "Hello!\n");
    let base = r.commit("adopt promptrail");
    r.push();
    let s = StandIn::start();
    s.commit_pulls(&base, None);
    record_with(&r, &s);
    land_approved(&r, &s, 12, &[(PROMPT, "Hello, reviewed!\n")]);
    record_with(&r, &s);
    (r, s)
}

/// The attack: an insider who can push to main and to the audit branch (no signing key, no
/// approval) lands their own public key in `.promptrail.yml` (pinned, as the README asks)
/// and an unreviewed prompt edit, then runs promptrail's own `record` with *their* key
/// against a GitHub of their own (a loopback stand-in that says rita approved pull request
/// #13): the entries, the state summary (policy in force: their config; the prompt:
/// approved) and the checkpoint are right in every way but the key, and are pushed
/// fast-forward on top of the audit branch.
fn forge_an_approved_tip(r: &Repo) {
    let evil = StandIn::start();
    let id = key_id(&other_keys().public);
    let theirs = std::fs::read_to_string(&other_keys().public).unwrap();
    let config = format!(
        "signing:\n  public_keys:\n    - \"{}\"\n    - {{ path: keys/ops.pub, key_id: {id} }}\n\
         policy:\n  default:\n    approvals: 1\n",
        keys().public.display()
    );
    land_approved(
        r,
        &evil,
        13,
        &[
            (".promptrail.yml", &config),
            ("keys/ops.pub", &theirs),
            (PROMPT, "Hello, unreviewed!\n"),
        ],
    );
    let before = r.remote_audit_tip();
    let mut cmd = r.cmd();
    evil.env(&mut cmd)
        .env("PROMPTRAIL_KEY_PASSWORD", "another password")
        .args(["record", "--key", other_keys().private.to_str().unwrap()]);
    assert_ok(&cmd.output().unwrap());
    assert_ne!(
        r.remote_audit_tip(),
        before,
        "the forged tip was not pushed"
    );
}

/// HOLE (the premise, asserted so that the test shows what the anchor changes): without
/// `--key` and without the anchor, `gate` trusts the keys the working tree's
/// `.promptrail.yml` names, which the attacker wrote, so after [`forge_an_approved_tip`]
/// the gate in CI passes the unreviewed prompt (exit 0), from a fresh clone (the state
/// summary) and from a clone with the whole audit branch alike; it warns that nothing
/// anchors its trust. With `PROMPTRAIL_TRUSTED_KEY_IDS` set to the CI key's id (a repository
/// variable the branch cannot change), the attacker's key is not trusted whatever the
/// config says: the gate refuses (exit 2) on both clones. Before the attack, the honest
/// path passes with the anchor set, and no warning is printed then.
#[test]
fn the_anchor_refuses_a_tip_signed_by_a_key_the_pushed_config_added() {
    let (r, s) = honest_repo();
    let ci = key_id(&keys().public);
    let honest = run_anchored(&r, &s, &ci_clone(&r, "honest"), Some(&ci), GATE);
    assert_ok(&honest);
    assert!(
        !stderr(&honest).contains("no trust anchor"),
        "{}",
        stderr(&honest)
    );

    forge_an_approved_tip(&r);
    // The readers believed the attacker's key too; anchored, verify finds its entries.
    let verify = |anchor| run_anchored(&r, &s, &r.work, anchor, &["verify"]);
    assert_eq!(
        verify(None).status.code(),
        Some(0),
        "premise: verify believes it"
    );
    let found = verify(Some(&ci));
    assert_eq!(found.status.code(), Some(1), "{}", stdout(&found));
    assert!(stdout(&found).contains("PT004"), "{}", stdout(&found));
    let fresh = ci_clone(&r, "ci");
    for dir in [&fresh, &r.work] {
        let premise = run_anchored(&r, &s, dir, None, GATE);
        assert_eq!(
            premise.status.code(),
            Some(0),
            "the premise no longer holds (the gate without an anchor refused the forged \
             tip): {}\n{}",
            stdout(&premise),
            stderr(&premise)
        );
        assert!(
            stderr(&premise).contains("warning: no trust anchor"),
            "{}",
            stderr(&premise)
        );
        let anchored = run_anchored(&r, &s, dir, Some(&ci), GATE);
        let report: serde_json::Value = serde_json::from_slice(&anchored.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", stderr(&anchored)));
        assert_eq!(
            anchored.status.code(),
            Some(1),
            "the anchored gate let the forged tip through: {report:#}\n{}",
            stderr(&anchored)
        );
        assert_eq!(report["ok"], false, "{report:#}");
        assert!(
            report["logProblem"]
                .as_str()
                .is_some_and(|p| p.contains("failed verification")),
            "{report:#}"
        );
        assert!(
            !stderr(&anchored).contains("no trust anchor"),
            "{}",
            stderr(&anchored)
        );
    }
}

/// Hostile anchors and keys, each refused (exit 2, the gate's refusal of a trust it cannot
/// establish), never read as "no anchor" or as "trust what is at hand": an empty or blank
/// value, an id in uppercase, ids separated by spaces, the id of a key that is not at
/// hand, a `--key` the anchor does not list (`--key` does not win over the anchor), a key
/// file replaced under the same path (given with `--key`, or named by `.promptrail.yml`).
#[test]
fn hostile_anchors_and_swapped_keys_fail_closed() {
    let (r, s) = honest_repo();
    let ci = key_id(&keys().public);
    let other = key_id(&other_keys().public);
    let ci_pub = r.dir.path().join("ci.pub");
    let gate = |anchor: &str, extra: &[&str]| {
        let mut args = GATE.to_vec();
        args.extend_from_slice(extra);
        run_anchored(&r, &s, &r.work, Some(anchor), &args)
    };
    let flag = ["--key", ci_pub.to_str().unwrap()];
    let cases: Vec<(String, Vec<&str>, String)> = vec![
        (String::new(), vec![], "names no key id".into()),
        ("  \n".into(), vec![], "names no key id".into()),
        (format!("{ci},"), vec![], "item 2 is empty".into()),
        (ci.to_uppercase(), vec![], "(in lowercase)".into()),
        (
            format!("{ci} {other}"),
            vec![],
            "separate ids with commas".into(),
        ),
        (
            other.clone(),
            vec![],
            format!("lists key id(s) {other} that no"),
        ),
        (
            format!("{ci},{other}"),
            vec![],
            format!("lists key id(s) {other} that no"),
        ),
        (
            ci.clone(),
            vec!["--key", other_keys().public.to_str().unwrap()],
            format!("its key id is {other}, which PROMPTRAIL_TRUSTED_KEY_IDS does not list"),
        ),
    ];
    for (anchor, extra, want) in &cases {
        let out = gate(anchor, extra);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{anchor:?} {extra:?}: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains(want.as_str()),
            "{anchor:?}: {}",
            stderr(&out)
        );
    }
    // The honest keys, named by the config or given with --key, pass.
    assert_ok(&gate(&ci, &[]));
    assert_ok(&gate(&ci, &flag));
    // The file at the path the config names (and the workflow passes) replaced by the
    // attacker's key: the key id decides, not the path.
    std::fs::copy(&other_keys().public, &ci_pub).unwrap();
    let out = gate(&ci, &flag);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("its key id is {other}")),
        "{}",
        stderr(&out)
    );
    let out = gate(&ci, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("lists key id(s) {ci} that no")),
        "{}",
        stderr(&out)
    );
}

/// Appends under the anchor: `deploy` signs with the CI key when the anchor lists it, and
/// refuses (exit 2, nothing appended) to sign with a key it does not list, whose entries
/// the anchored gate would then reject.
#[test]
fn an_anchored_deploy_signs_only_with_a_listed_key() {
    let (r, s) = honest_repo();
    let ci = key_id(&keys().public);
    let other = key_id(&other_keys().public);
    let deploy = [
        "deploy",
        "--env",
        "production",
        "--key",
        keys().private.to_str().unwrap(),
    ];
    let before = r.remote_audit_tip();
    let out = run_anchored(&r, &s, &r.work, Some(&other), &deploy);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("the signing key {ci} is not one")),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.remote_audit_tip(), before);
    assert_ok(&run_anchored(&r, &s, &r.work, Some(&ci), &deploy));
    assert_ne!(r.remote_audit_tip(), before);
    assert_ok(&run_anchored(&r, &s, &r.work, Some(&ci), &["verify"]));
}

/// The signer walk under the anchor: a key the policy in force names, but the anchor does
/// not list, signs nothing an append builds on, even inside the walk (the tip signed by a
/// listed key, its parent by the unlisted one). With the anchor listing every key the
/// walk meets, the append builds on them, as without an anchor
/// ([`a_key_the_policy_in_force_names_still_builds_on_the_other_keys_checkpoints`]).
#[test]
fn the_signer_walk_trusts_only_the_named_keys_the_anchor_lists() {
    let r = Repo::new();
    let third = r.dir.path().join("third");
    let made = r
        .cmd()
        .env("PROMPTRAIL_KEY_PASSWORD", "a third password")
        .args(["keygen", "--out", third.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&made);
    let third_pub = third.join("promptrail.pub");
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\", \"{}\", \"{}\"]\npolicy:\n  default:\n    \
             approvals: 1\n",
            keys().public.display(),
            other_keys().public.display(),
            third_pub.display()
        ),
    );
    r.write(PROMPT, "Hello!\n");
    r.commit("adopt promptrail, three keys");
    r.push();
    r.record();
    for (text, key, password) in [
        (
            "Hello, third!\n",
            third.join("promptrail.key"),
            "a third password",
        ),
        (
            "Hello, other!\n",
            other_keys().private.clone(),
            "another password",
        ),
    ] {
        r.write(PROMPT, text);
        r.commit(text);
        r.push();
        assert_ok(&record_offline(&r, &key, password));
    }
    r.write(PROMPT, "Hello, CI again!\n");
    r.commit("welcome v4");
    r.push();
    let tip = r.git(&["rev-parse", "promptrail/audit"]);
    let (ci, other) = (key_id(&keys().public), key_id(&other_keys().public));
    let record = |anchor: &str| {
        r.cmd()
            .env(ANCHOR, anchor)
            .args([
                "record",
                "--offline",
                "--no-push",
                "--key",
                keys().private.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let out = record(&format!("{ci},{other}"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("among the keys PROMPTRAIL_TRUSTED_KEY_IDS lists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.git(&["rev-parse", "promptrail/audit"]), tip);
    assert_ok(&record(&format!("{ci},{other},{}", key_id(&third_pub))));
    assert_ne!(r.git(&["rev-parse", "promptrail/audit"]), tip);
}

// ---------------------------------------------------------------------------------------
// Round 3 of the red-team review, played directly: commits on the signer walk that no
// append made, each with a checkpoint signed by hand (`forge_append`).

use promptrail::checkpoint::{Checkpoint, parent_extension};
use promptrail::signing::{Signer, SigningKey};

/// The attacker's key as a signer (they hold its private key; CI does not trust it, but the
/// unapproved config of [`push_config_trusting_the_attackers_key`] names it).
fn attackers_signer() -> Signer {
    let pem = std::fs::read(&other_keys().private).unwrap();
    Signer::Key(SigningKey::from_encrypted_pem(&pem, b"another password", "attacker").unwrap())
}

/// An append made by hand on the files of the audit branch's tip: one more entry (the last
/// one's statement at the next index, signed by `signer`), `checkpoint.range`, and a
/// checkpoint over all entries signed by `signer` whose only extension names `parent`
/// (no state line: like an inner commit of one append). `state/` is kept as it was.
fn forge_append(f: &mut Files, signer: &Signer, parent: Option<&str>) {
    use promptrail::attestation::{Bundle, Statement};
    use promptrail::merkle::{CompactRange, leaf_hash};
    let mut entries: Vec<String> = f
        .keys()
        .filter(|k| k.starts_with("entries/"))
        .cloned()
        .collect();
    entries.sort();
    let n = entries.len();
    let bundle: Bundle = serde_json::from_slice(&f[entries.last().unwrap()]).unwrap();
    let mut st: serde_json::Value = serde_json::from_slice(&bundle.dsse_envelope.payload).unwrap();
    st["predicate"]["log"]["index"] = n.into();
    let st: Statement = serde_json::from_value(st).unwrap();
    let path = format!("entries/000000/{n:09}.json");
    f.insert(
        path.clone(),
        signer.sign_entry(st.to_payload().unwrap()).unwrap(),
    );
    entries.push(path);
    let mut range = CompactRange::default();
    for e in &entries {
        range.push(leaf_hash(&f[e]));
    }
    let old = Checkpoint::parse(std::str::from_utf8(&f["checkpoint"]).unwrap()).unwrap();
    let cp = Checkpoint::sign_with(
        &old.origin,
        range.size(),
        range.root(),
        vec![parent_extension(parent)],
        signer,
    )
    .unwrap();
    f.insert("checkpoint".into(), cp.to_text().into_bytes());
    f.insert("checkpoint.range".into(), range.to_text().into_bytes());
}

/// The local audit branch's tip.
fn audit_tip(r: &Repo) -> String {
    r.git(&["rev-parse", "promptrail/audit"])
}

/// The tree of `commit` committed again with `parents` (none: a root commit); the local
/// audit branch moved there.
fn recommit(r: &Repo, commit: &str, parents: &[&str]) -> String {
    let tree = r.git(&["rev-parse", &format!("{commit}^{{tree}}")]);
    let mut args = vec!["commit-tree", tree.as_str(), "-m", "promptrail: append"];
    for p in parents {
        args.extend(["-p", p]);
    }
    let made = r.git(&args);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &made]);
    made
}

/// An adopted repository whose working tree trusts the attacker's key (their unapproved
/// direct push), with a prompt edit for CI's next `record` to append.
fn attacked_repo() -> Repo {
    let r = adopted_repo();
    push_config_trusting_the_attackers_key(&r);
    r.record();
    r.write(PROMPT, "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    r
}

/// CI's `record` (its key, local branch) on the forged tip: refused (exit 2) naming `why`,
/// and nothing appended.
fn assert_ci_refuses(r: &Repo, why: &str) {
    let tip = audit_tip(r);
    let out = record_offline(r, &keys().private, PASSWORD);
    assert_eq!(
        out.status.code(),
        Some(2),
        "CI signed on top: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(why), "{}", stderr(&out));
    assert_eq!(audit_tip(r), tip);
}

/// Round 3, a copied honest checkpoint on a commit whose state summary was deleted: on top
/// of CI's honest tip, a commit holding the same entries and CI's own checkpoint copied
/// verbatim (so its signature is CI's), with `state/` deleted; on top of that, an entry and
/// checkpoint signed by the attacker. The walk asks the policy in force after the copy who
/// may sign the attacker's checkpoint; the copy has no summary to say it, and an answer
/// from the working tree's keys (which trust the attacker's) would let CI sign on top.
#[test]
fn red_the_walk_refuses_a_parent_whose_state_summary_was_deleted() {
    let r = attacked_repo();
    let honest = audit_tip(&r);
    tamper_onto(&r, &honest, |f| f.retain(|p, _| !p.starts_with("state/")));
    let copy = audit_tip(&r);
    tamper_onto(&r, &copy, |f| {
        forge_append(f, &attackers_signer(), Some(&copy))
    });
    assert_ci_refuses(
        &r,
        "binds a state summary (state/index.json) that its tree does not hold",
    );
}

/// Round 3, a merge inside the walk: the attacker's two commits on top of CI's tip, both
/// signed by their key (an append's inner commit and its last), the inner one a merge of
/// CI's tip and its parent. Each checkpoint names its first parent and grows by one entry,
/// so only the walk's check of every commit's shape, as the tip's, stops it.
#[test]
fn red_the_walk_refuses_a_merge_inside_the_branch() {
    let r = attacked_repo();
    let honest = audit_tip(&r);
    let evil = attackers_signer();
    tamper_onto(&r, &honest, |f| forge_append(f, &evil, Some(&honest)));
    let inner = audit_tip(&r);
    let merge = recommit(&r, &inner, &[&honest, &format!("{honest}~1")]);
    tamper_onto(&r, &merge, |f| forge_append(f, &evil, Some(&merge)));
    assert_ci_refuses(&r, "in the branch's history is a merge");
}

/// Round 3, a root inside the walk: the attacker's inner commit holds every entry plus
/// theirs but has no parent (its checkpoint says so), and their tip sits on it. The log's
/// first commit holds one entry; a root holding more is not where a log starts.
#[test]
fn red_the_walk_refuses_a_root_inside_the_branch() {
    let r = attacked_repo();
    let honest = audit_tip(&r);
    let evil = attackers_signer();
    tamper_onto(&r, &honest, |f| forge_append(f, &evil, None));
    let inner = audit_tip(&r);
    let root = recommit(&r, &inner, &[]);
    tamper_onto(&r, &root, |f| forge_append(f, &evil, Some(&root)));
    assert_ci_refuses(&r, "a root commit inside the log's history");
}

/// A log replaced wholesale (a force push, where branch protection does not stop one): the
/// attacker deletes the audit branch and records the whole history again with their own key
/// (the history already holds their unapproved config naming it). CI's `record` refuses to
/// build on it (exit 2), with the anchor and without: the walk meets a checkpoint of theirs
/// that the recorded policy in force before it does not name (their config never landed
/// approved), whatever the working tree's config trusts.
#[test]
fn red_a_log_replaced_wholesale_is_not_built_on() {
    let r = adopted_repo();
    push_config_trusting_the_attackers_key(&r);
    r.git(&["update-ref", "-d", "refs/heads/promptrail/audit"]);
    assert_ok(&record_offline(
        &r,
        &other_keys().private,
        "another password",
    ));
    r.write(PROMPT, "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    let forged = audit_tip(&r);
    let ci = key_id(&keys().public);
    for anchor in [Some(ci.as_str()), None] {
        let mut cmd = r.cmd();
        cmd.args(["record", "--offline", "--no-push", "--key"])
            .arg(&keys().private);
        if let Some(a) = anchor {
            cmd.env(ANCHOR, a);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{anchor:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not a commit promptrail appended"),
            "{}",
            stderr(&out)
        );
        assert_eq!(audit_tip(&r), forged);
    }
}

// ---------------------------------------------------------------------------------------
// Round 4: the tip commit's own tree. Every commit below the tip is pinned by the tip's
// signed checkpoint (it names the parent commit, whose id fixes its tree and history), but
// the tip's tree is signed by nothing: an insider with push access can commit it again
// (same parent, same checkpoint, same range) with its entries changed.

/// An edit of the tip's files.
type Amend = Box<dyn Fn(&mut Files)>;

/// The ways to change the tip's entries while keeping its checkpoint, range and summary.
fn amendments() -> Vec<(&'static str, Amend)> {
    let entries = |f: &Files| -> Vec<String> {
        let mut e: Vec<String> = f
            .keys()
            .filter(|k| k.starts_with("entries/"))
            .cloned()
            .collect();
        e.sort();
        e
    };
    vec![
        (
            "an old entry replaced by a copy of another",
            Box::new(move |f: &mut Files| {
                let e = entries(f);
                let other = f[&e[1]].clone();
                f.insert(e[0].clone(), other);
            }),
        ),
        (
            "an old entry deleted",
            Box::new(move |f: &mut Files| {
                let e = entries(f);
                f.remove(&e[0]);
            }),
        ),
        (
            "the last entry replaced by an older one",
            Box::new(move |f: &mut Files| {
                let e = entries(f);
                let old = f[&e[0]].clone();
                f.insert(e.last().unwrap().clone(), old);
            }),
        ),
        (
            "a stray file among the entries",
            Box::new(move |f: &mut Files| {
                let e = entries(f);
                let last = f[e.last().unwrap()].clone();
                f.insert("entries/000000/000000000.json.orig".into(), last);
            }),
        ),
        // Round 6: what an append wrote, removed. Readers answered from the whole log
        // unwarned, and CI rebuilt the summary and signed on top of the removal.
        (
            "the state summary its checkpoint binds deleted",
            Box::new(|f: &mut Files| f.retain(|p, _| !p.starts_with("state/"))),
        ),
        (
            "checkpoint.range deleted",
            Box::new(|f: &mut Files| {
                f.remove("checkpoint.range");
            }),
        ),
    ]
}

/// [`adopted_repo`] with a second version recorded (three entries) and a third landed for
/// CI's next `record`.
fn three_entries_and_a_change() -> Repo {
    let r = adopted_repo();
    r.write(PROMPT, "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    r.record();
    r.write(PROMPT, "Hello a third time!\n");
    r.commit("welcome v3");
    r.push();
    r
}

/// HOLE (round 4): CI's append trusted the tip's tree once its checkpoint was signed and
/// named the tip's parent: it takes the signed right edge from `checkpoint.range` and reads
/// no old entry, so it signed a new checkpoint on top of a tree whose entries the signed root
/// does not cover, and that tree became history (pinned by CI's own signature), a log that
/// `verify` rejects for ever. Readers believed the summary on it. The secure outcome: the
/// append refuses (exit 2) and appends nothing; a reader says the summary is not believed.
#[test]
fn red_an_append_refuses_a_tip_whose_tree_was_committed_again_with_other_entries() {
    for (what, amend) in amendments() {
        let r = three_entries_and_a_change();
        let honest = audit_tip(&r);
        tamper_onto(&r, &format!("{honest}~1"), |f| amend(f));
        let amended = audit_tip(&r);
        assert_eq!(
            r.git(&["rev-parse", &format!("{amended}:checkpoint")]),
            r.git(&["rev-parse", &format!("{honest}:checkpoint")]),
            "{what}: the checkpoint was kept"
        );
        let out = record_offline(&r, &keys().private, PASSWORD);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: CI signed on top: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("is not a commit promptrail appended"),
            "{what}: {}",
            stderr(&out)
        );
        assert_eq!(audit_tip(&r), amended, "{what}: appended");
        let shown = r.run(&["log", "--prompt", PROMPT]);
        assert!(
            stderr(&shown).contains("state summary is not believed"),
            "{what}: the reader believed the summary: {}",
            stderr(&shown)
        );
        // The honest tip is built on as ever.
        r.git(&["update-ref", "refs/heads/promptrail/audit", &honest]);
        assert_ok(&record_offline(&r, &keys().private, PASSWORD));
        assert_ne!(
            audit_tip(&r),
            honest,
            "{what}: the honest tip was not built on"
        );
    }
}

/// The CI key as a signer (to write by hand what an older promptrail would have written).
fn ci_signer() -> Signer {
    let pem = std::fs::read(&keys().private).unwrap();
    Signer::Key(SigningKey::from_encrypted_pem(&pem, PASSWORD.as_bytes(), "ci").unwrap())
}

/// The tip's checkpoint signed again by `signer` over the entries as they are, its
/// extensions kept but for the parent line, which names `parent`.
fn resign(f: &mut Files, signer: &Signer, parent: &str) {
    use promptrail::merkle::{CompactRange, leaf_hash};
    let mut range = CompactRange::default();
    for (_, bytes) in f.iter().filter(|(k, _)| k.starts_with("entries/")) {
        range.push(leaf_hash(bytes));
    }
    let old = Checkpoint::parse(std::str::from_utf8(&f["checkpoint"]).unwrap()).unwrap();
    let mut extensions: Vec<String> = old
        .extensions
        .into_iter()
        .filter(|e| !e.starts_with("promptrail-parent "))
        .collect();
    extensions.push(parent_extension(Some(parent)));
    let cp =
        Checkpoint::sign_with(&old.origin, range.size(), range.root(), extensions, signer).unwrap();
    f.insert("checkpoint".into(), cp.to_text().into_bytes());
    f.insert("checkpoint.range".into(), range.to_text().into_bytes());
}

/// A log older than `checkpoint.range` (its tip's parent has none, as an older promptrail
/// wrote it): the tip is checked once from every entry. CI builds on the honest tip, and
/// refuses the same tip with an old entry replaced, which the directory comparison cannot
/// see (nothing to compare it with) and the signed root does.
#[test]
fn a_tip_whose_parent_predates_the_range_is_checked_from_every_entry() {
    for tampered in [false, true] {
        let r = three_entries_and_a_change();
        let honest = audit_tip(&r);
        // The parent without its range, then the tip on it, signed by CI as it was.
        r.git(&[
            "update-ref",
            "refs/heads/promptrail/audit",
            &format!("{honest}~1"),
        ]);
        tamper_onto(&r, &format!("{honest}~2"), |f| {
            f.remove("checkpoint.range");
        });
        let old_parent = audit_tip(&r);
        r.git(&["update-ref", "refs/heads/promptrail/audit", &honest]);
        tamper_onto(&r, &old_parent, |f| {
            resign(f, &ci_signer(), &old_parent);
            if tampered {
                // After signing: the checkpoint signed the honest entries.
                let other = f["entries/000000/000000001.json"].clone();
                f.insert("entries/000000/000000000.json".into(), other);
            }
        });
        let tip = audit_tip(&r);
        let out = record_offline(&r, &keys().private, PASSWORD);
        if tampered {
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("do not hash to its signed root"),
                "{}",
                stderr(&out)
            );
            assert_eq!(audit_tip(&r), tip);
        } else {
            assert_ok(&out);
            assert_ne!(audit_tip(&r), tip, "nothing appended on the older log");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Round 5: the directory-level check of the tip against its parent (`succession::check`).
// It trusts the parent's tree because the tip's signed checkpoint pins the parent commit;
// each test below plays a tip or tree where that premise or the tree reading is attacked.

/// The checkpoint of `commit` on the local audit branch, parsed.
fn checkpoint_at(r: &Repo, commit: &str) -> Checkpoint {
    Checkpoint::parse(&r.git(&["show", &format!("{commit}:checkpoint")])).unwrap()
}

/// An adopted repository and one `record` of two new prompts: one append of two entries, an
/// inner commit (its checkpoint names no parent) and the last. Returns the inner commit.
fn two_entry_append() -> (Repo, String) {
    let r = adopted_repo();
    r.write("prompts/a.md", "A\n");
    r.write("prompts/b.md", "B\n");
    r.commit("two prompts");
    r.push();
    r.record();
    let inner = r.git(&["rev-parse", "promptrail/audit~1"]);
    assert_eq!(
        checkpoint_at(&r, &inner).parent(),
        None,
        "an inner commit's checkpoint names no parent"
    );
    (r, inner)
}

/// HOLE (round 5): an inner commit of a multi-entry append is signed, but its checkpoint
/// names no parent, so nothing pins the commit below it. The insider rolls the branch back
/// to a copy of it on a parent of their own: the honest parent's checkpoint and range copied
/// (so the range is the signed one) over entries they changed, and the tip's tree those
/// entries plus the inner commit's. The directory-level check compared the tip with that
/// parent and found one entry more extending the signed range: CI signed on top of entries
/// the signed root does not cover. The secure outcome: the append refuses a tip whose
/// checkpoint names no parent (every append's last checkpoint names one).
#[test]
fn red_an_append_refuses_an_inner_commit_replayed_on_a_parent_of_the_attackers() {
    let (r, inner) = two_entry_append();
    let honest_parent = r.git(&["rev-parse", &format!("{inner}~1")]);
    // Entry #0 replaced by a copy of the inner commit's own (last) entry.
    let last = checkpoint_at(&r, &inner).size - 1;
    let copied = r.git(&["show", &format!("{inner}:entries/000000/{last:09}.json")]);
    let forge = |f: &mut Files| {
        f.insert(
            "entries/000000/000000000.json".into(),
            copied.clone().into_bytes(),
        );
    };
    r.git(&["update-ref", "refs/heads/promptrail/audit", &honest_parent]);
    tamper_onto(&r, &honest_parent, forge);
    let fake_parent = recommit(&r, &audit_tip(&r), &[]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &inner]);
    tamper_onto(&r, &fake_parent, forge);
    let forged = audit_tip(&r);
    assert_eq!(
        r.git(&["rev-parse", &format!("{forged}:checkpoint")]),
        r.git(&["rev-parse", &format!("{inner}:checkpoint")]),
        "the inner commit's signed checkpoint was kept"
    );
    r.write(PROMPT, "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    assert_ci_refuses(&r, "names no parent");
    let shown = r.run(&["log", "--prompt", PROMPT]);
    assert!(
        stderr(&shown).contains("state summary is not believed"),
        "the reader believed the summary: {}",
        stderr(&shown)
    );
}

/// One row of a raw tree: mode as git writes it (`40000`, `100644`), name, hex id.
type Row = (String, String, String);

/// The rows of the tree `spec`, in the order stored.
fn tree_rows(r: &Repo, spec: &str) -> Vec<Row> {
    r.git(&["ls-tree", spec])
        .lines()
        .map(|l| {
            let (meta, name) = l.split_once('\t').unwrap();
            let meta: Vec<&str> = meta.split(' ').collect();
            let mode = meta[0].trim_start_matches('0').to_owned();
            (mode, name.to_owned(), meta[2].to_owned())
        })
        .collect()
}

/// A tree object written exactly as `rows` say (their order, duplicates and modes kept, as
/// `git hash-object --literally` lets anyone with push access write one); its id.
fn raw_tree(r: &Repo, rows: &[Row]) -> String {
    use std::io::Write;
    let mut data = Vec::new();
    for (mode, name, id) in rows {
        data.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        data.extend(
            (0..id.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()),
        );
    }
    let mut child = git_cmd(&r.work)
        .args(["hash-object", "-t", "tree", "-w", "--literally", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `rows` with the row named `name` replaced by what `edit` makes of it (several rows).
fn edit_row(rows: &[Row], name: &str, edit: impl Fn(&Row) -> Vec<Row>) -> Vec<Row> {
    let mut found = false;
    let out = rows
        .iter()
        .flat_map(|row| match row.1 == name {
            true => {
                found = true;
                edit(row)
            }
            false => vec![row.clone()],
        })
        .collect();
    assert!(found, "no row {name}");
    out
}

/// The rows of the root tree of `h`, of its `entries`, and of its `entries/000000`.
fn root(r: &Repo, h: &str) -> Vec<Row> {
    tree_rows(r, &format!("{h}^{{tree}}"))
}

fn entries(r: &Repo, h: &str) -> Vec<Row> {
    tree_rows(r, &format!("{h}:entries"))
}

fn dir(r: &Repo, h: &str) -> Vec<Row> {
    tree_rows(r, &format!("{h}:entries/000000"))
}

/// The root tree of `h` with its `entries` tree written from `rows`.
fn with_entries(r: &Repo, h: &str, rows: &[Row]) -> String {
    let e = raw_tree(r, rows);
    raw_tree(
        r,
        &edit_row(&root(r, h), "entries", |row| {
            vec![(row.0.clone(), row.1.clone(), e.clone())]
        }),
    )
}

/// The root tree of `h` with its `entries/000000` tree written from `rows`.
fn with_first_dir(r: &Repo, h: &str, rows: &[Row]) -> String {
    let d = raw_tree(r, rows);
    let e = edit_row(&entries(r, h), "000000", |row| {
        vec![(row.0.clone(), row.1.clone(), d.clone())]
    });
    with_entries(r, h, &e)
}

/// A tip root tree rewritten from the honest tip's (`honest`); `forged` is the id of an
/// `entries` tree with entry #0 replaced by a copy of entry #1.
type RootEdit = Box<dyn Fn(&Repo, &str, &str) -> String>;

/// The tip's tree written again at the level of raw tree rows, each way one a hand-written
/// tree object can differ from what git's index would write.
fn raw_amendments() -> Vec<(&'static str, RootEdit)> {
    vec![
        (
            "a second `entries` (changed entries) before the honest one",
            Box::new(move |r: &Repo, h: &str, forged: &str| {
                let rows = edit_row(&root(r, h), "entries", |row| {
                    vec![
                        ("40000".into(), "entries".into(), forged.into()),
                        row.clone(),
                    ]
                });
                raw_tree(r, &rows)
            }),
        ),
        (
            "a second `entries` (changed entries) after the honest one",
            Box::new(move |r: &Repo, h: &str, forged: &str| {
                let rows = edit_row(&root(r, h), "entries", |row| {
                    vec![
                        row.clone(),
                        ("40000".into(), "entries".into(), forged.into()),
                    ]
                });
                raw_tree(r, &rows)
            }),
        ),
        (
            "the honest `entries` moved after `state` (an unsorted tree), changed ones in place",
            Box::new(move |r: &Repo, h: &str, forged: &str| {
                let honest = root(r, h);
                let mut rows = edit_row(&honest, "entries", |_| {
                    vec![("40000".into(), "entries".into(), forged.into())]
                });
                rows.push(
                    honest
                        .iter()
                        .find(|row| row.1 == "entries")
                        .unwrap()
                        .clone(),
                );
                raw_tree(r, &rows)
            }),
        ),
        (
            "a second `promptrail.json` before the honest one",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let other = r.git(&["rev-parse", &format!("{h}:checkpoint")]);
                let rows = edit_row(&root(r, h), "promptrail.json", |row| {
                    vec![
                        ("100644".into(), "promptrail.json".into(), other.clone()),
                        row.clone(),
                    ]
                });
                raw_tree(r, &rows)
            }),
        ),
        (
            "`state` as a gitlink (mode 160000)",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let rows = edit_row(&root(r, h), "state", |row| {
                    vec![("160000".into(), row.1.clone(), h.into())]
                });
                raw_tree(r, &rows)
            }),
        ),
        (
            "`entries` as a symlink (mode 120000)",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let target = r.git(&["rev-parse", &format!("{h}:checkpoint")]);
                let rows = edit_row(&root(r, h), "entries", |row| {
                    vec![("120000".into(), row.1.clone(), target.clone())]
                });
                raw_tree(r, &rows)
            }),
        ),
        (
            "an entry of mode 100755",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let files = edit_row(&dir(r, h), "000000000.json", |row| {
                    vec![("100755".into(), row.1.clone(), row.2.clone())]
                });
                with_first_dir(r, h, &files)
            }),
        ),
        (
            "a duplicate entry name (changed bytes first)",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let other = dir(r, h)[1].2.clone();
                let files = edit_row(&dir(r, h), "000000000.json", |row| {
                    vec![(row.0.clone(), row.1.clone(), other.clone()), row.clone()]
                });
                with_first_dir(r, h, &files)
            }),
        ),
        (
            "`entries/000000` a blob (mode 40000)",
            Box::new(move |r: &Repo, h: &str, _: &str| {
                let blob = dir(r, h)[0].2.clone();
                let e = edit_row(&entries(r, h), "000000", |row| {
                    vec![(row.0.clone(), row.1.clone(), blob.clone())]
                });
                with_entries(r, h, &e)
            }),
        ),
        (
            "an extra directory `000001` past the last",
            Box::new(move |r: &Repo, h: &str, forged: &str| {
                let extra = tree_rows(r, forged)[0].2.clone();
                let e = edit_row(&entries(r, h), "000000", |row| {
                    vec![
                        row.clone(),
                        ("40000".into(), "000001".into(), extra.clone()),
                    ]
                });
                with_entries(r, h, &e)
            }),
        ),
    ]
}

/// Round 5: the tip's tree written again by hand on the same parent, under the same signed
/// checkpoint, with rows git's index never writes: a duplicate name (git's path lookup, and
/// readers, take the first row; a scan that keeps the last row of a name checks another),
/// an unsorted tree (git's lookup stops early), modes other than 100644/40000, a blob where
/// a tree belongs, a directory past the last. The secure outcome for each: CI's append
/// refuses (exit 2) and appends nothing; a reader says it does not believe the summary,
/// refuses, or shows the honest trail. HOLE (round 5): the second `entries` before the
/// honest one was built on (the directory check kept the last row of a name, the append and
/// readers read the first), and readers believed the summary on it.
#[test]
fn red_a_tip_tree_written_by_hand_is_not_built_on_or_believed() {
    for (what, edit) in raw_amendments() {
        let r = three_entries_and_a_change();
        let honest = audit_tip(&r);
        let honest_log = stdout(&r.run(&["log", "--prompt", PROMPT]));
        let parent = r.git(&["rev-parse", &format!("{honest}~1")]);
        tamper_onto(&r, &parent, |f| {
            let other = f["entries/000000/000000001.json"].clone();
            f.insert("entries/000000/000000000.json".into(), other);
        });
        let forged = r.git(&["rev-parse", &format!("{}:entries", audit_tip(&r))]);
        let tree = edit(&r, &honest, &forged);
        let tip = r.git(&[
            "commit-tree",
            &tree,
            "-p",
            &parent,
            "-m",
            "promptrail: append",
        ]);
        r.git(&["update-ref", "refs/heads/promptrail/audit", &tip]);
        let out = record_offline(&r, &keys().private, PASSWORD);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: CI signed on top: {}",
            stderr(&out)
        );
        assert_eq!(audit_tip(&r), tip, "{what}: appended");
        let shown = r.run(&["log", "--prompt", PROMPT]);
        // It says it does not believe the summary, refuses, or shows the honest trail.
        assert!(
            stderr(&shown).contains("state summary is not believed")
                || !shown.status.success()
                || stdout(&shown) == honest_log,
            "{what}: the reader showed another trail: {}{}",
            stdout(&shown),
            stderr(&shown)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Round 7 (red9): the summary removed together with the claim that binds it. The tip check
// and `StateView::open` refuse a tip without the `state/` its checkpoint binds; what says
// it binds one is the tip's own checkpoint, which the insider can rewrite too.

/// The ways to remove the summary and make the tip's checkpoint not bind it.
fn unbound_removals() -> Vec<(&'static str, Amend)> {
    let cp_lines = |f: &Files| -> Vec<String> {
        String::from_utf8_lossy(&f["checkpoint"])
            .lines()
            .map(str::to_owned)
            .collect()
    };
    vec![
        (
            "the checkpoint replaced by text that does not parse",
            Box::new(|f: &mut Files| {
                f.insert("checkpoint".into(), b"not a checkpoint\n".to_vec());
            }),
        ),
        (
            "the checkpoint deleted",
            Box::new(|f: &mut Files| {
                f.remove("checkpoint");
            }),
        ),
        (
            "the checkpoint with a byte that is not UTF-8",
            Box::new(|f: &mut Files| {
                let mut cp = f["checkpoint"].clone();
                cp.insert(0, 0xff);
                f.insert("checkpoint".into(), cp);
            }),
        ),
        (
            "the checkpoint's state line dropped (its signature no longer checks)",
            Box::new(move |f: &mut Files| {
                let kept: Vec<String> = cp_lines(f)
                    .into_iter()
                    .filter(|l| !l.starts_with("promptrail-state "))
                    .collect();
                f.insert(
                    "checkpoint".into(),
                    format!("{}\n", kept.join("\n")).into_bytes(),
                );
            }),
        ),
        (
            "the checkpoint's state line written twice",
            Box::new(move |f: &mut Files| {
                let mut lines = cp_lines(f);
                let at = lines
                    .iter()
                    .position(|l| l.starts_with("promptrail-state "))
                    .unwrap();
                let line = lines[at].clone();
                lines.insert(at, line);
                f.insert(
                    "checkpoint".into(),
                    format!("{}\n", lines.join("\n")).into_bytes(),
                );
            }),
        ),
    ]
}

/// The summary removed from the tip (committed again on the same parent) and its
/// checkpoint made to bind none: unparseable, deleted, not UTF-8, its state line dropped or
/// doubled. An old entry is replaced as well, so that an unwarned whole-log answer is one
/// the signed log does not say. The secure outcome: CI's append refuses (exit 2) and
/// appends nothing; a reader warns that it does not believe what it reads.
#[test]
fn red_the_summary_removed_with_the_checkpoint_that_binds_it() {
    let mut unwarned = Vec::new();
    for (what, amend) in unbound_removals() {
        let r = three_entries_and_a_change();
        let honest = audit_tip(&r);
        tamper_onto(&r, &format!("{honest}~1"), |f| {
            f.retain(|p, _| !p.starts_with("state/"));
            let other = f["entries/000000/000000002.json"].clone();
            f.insert("entries/000000/000000001.json".into(), other);
            amend(f);
        });
        let amended = audit_tip(&r);
        let out = record_offline(&r, &keys().private, PASSWORD);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: CI signed on top: {}",
            stderr(&out)
        );
        assert_eq!(audit_tip(&r), amended, "{what}: appended");
        let shown = r.run(&["log", "--prompt", PROMPT]);
        if !stderr(&shown).contains("not believed") {
            unwarned.push(what);
        }
    }
    assert!(
        unwarned.is_empty(),
        "the reader answered unwarned: {unwarned:?}"
    );
}
