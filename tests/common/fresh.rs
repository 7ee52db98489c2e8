//! The fresh-clone scenario shared by the tests of `gate` and `deploy` on a fresh CI clone:
//! a history of recorded and deployed rounds, a remote that serves partial fetches as
//! GitHub does, clones of the protected branch alone, and the audit branch edited as an
//! insider would.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::github::StandIn;
use super::*;

pub const INTAKE: &str = "prompts/intake.md";
pub const TRIAGE: &str = "prompts/triage.md";
pub const NOTES: &str = "prompts/notes.md";
pub const AUDIT: &str = "refs/remotes/origin/promptrail/audit";
pub const FELL_BACK: &str = "cannot answer from the audit branch's state summary";

pub fn key() -> String {
    keys().private.to_str().unwrap().to_owned()
}

pub fn public() -> String {
    keys().public.to_str().unwrap().to_owned()
}

pub fn run_in(r: &Repo, s: &StandIn, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    cmd.current_dir(dir).args(args).output().unwrap()
}

pub fn land(r: &Repo, s: &StandIn, message: &str) {
    let sha = r.commit(message);
    r.push();
    s.commit_pulls(&sha, None);
}

/// Three prompts, four rounds of new versions each recorded and deployed to production
/// (seventeen entries); the remote serves filtered fetches (GitHub does).
pub fn history() -> (Repo, StandIn) {
    let r = Repo::new();
    git_in(&r.remote, &["config", "uploadpack.allowFilter", "true"]);
    let s = StandIn::start();
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\"]\nenvironments: [production, staging]\npolicy:\n  default:\n    approvals: 0\n",
            keys().public.display()
        ),
    );
    land(&r, &s, "adopt promptrail");
    for round in 1..=4 {
        for p in [INTAKE, TRIAGE, NOTES] {
            r.write(p, &format!("{p}, round {round}.\n"));
        }
        land(&r, &s, &format!("round {round}"));
        assert_ok(&run_in(&r, &s, &r.work, &["record", "--key", &key()]));
        assert_ok(&run_in(
            &r,
            &s,
            &r.work,
            &["deploy", "--env", "production", "--key", &key()],
        ));
    }
    (r, s)
}

/// A CI checkout: the protected branch cloned over the wire, nothing else.
pub fn fresh_clone(r: &Repo, name: &str) -> PathBuf {
    let url = format!("file://{}", r.remote.display());
    git_in(
        r.dir.path(),
        &["clone", "-q", "--single-branch", "-b", "main", &url, name],
    );
    let dir = r.dir.path().join(name);
    assert!(
        git_cmd(&dir)
            .args(["rev-parse", "--verify", "--quiet", AUDIT])
            .output()
            .unwrap()
            .stdout
            .is_empty(),
        "the clone has no audit branch yet"
    );
    dir
}

/// (entry blobs present in `clone`, entries on its audit branch).
pub fn entry_blobs(clone: &Path) -> (usize, usize) {
    use std::io::Write as _;
    let listing = git_in(clone, &["ls-tree", "-r", AUDIT, "entries/"]);
    let oids: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    let mut child = git_cmd(clone)
        .env("GIT_NO_LAZY_FETCH", "1")
        .args(["cat-file", "--batch-check"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for o in &oids {
        writeln!(stdin, "{o}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let present = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with("missing"))
        .count();
    (present, oids.len())
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout:\n{}\nstderr:\n{}", stdout(out), stderr(out)))
}

/// The tip rewritten in place (same parent) with `edit`, pushed to the remote.
pub fn rewrite_tip(r: &Repo, edit: impl FnOnce(&mut Files)) {
    let parent = r.git(&["rev-parse", "promptrail/audit^"]);
    tamper_onto(r, &parent, edit);
    push_audit(r);
}

pub fn push_audit(r: &Repo) {
    r.git(&["push", "-q", "-f", "origin", "promptrail/audit"]);
}

pub fn edit_json(files: &mut Files, path: &str, edit: impl FnOnce(&mut Value)) {
    let f = files.get_mut(path).unwrap();
    let mut v: Value = serde_json::from_slice(f).unwrap();
    edit(&mut v);
    *f = serde_json::to_vec(&v).unwrap();
}

pub fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The heads shard holding `path`'s head (`state/heads/<first byte of SHA-256(path)>.json`).
pub fn shard_of(path: &str) -> String {
    format!("state/heads/{}.json", &sha256_of(path.as_bytes())[..2])
}

/// `path`'s history file (`state/prompts/<hh>/<SHA-256(path)>.json`).
pub fn history_of(path: &str) -> String {
    let h = sha256_of(path.as_bytes());
    format!("state/prompts/{}/{h}.json", &h[..2])
}

/// Lists `file`'s new hash in the index.
pub fn reindex(files: &mut Files, file: &str) {
    let hex = sha256_of(&files[file]);
    edit_json(files, "state/index.json", |i| {
        i["files"][file] = hex.into();
    });
}

/// Signs the checkpoint again with `signer` over the new index (size, root and parent kept):
/// what only a holder of the key could do.
pub fn resign(files: &mut Files, signer: &Path, password: &str) {
    use promptrail::checkpoint::Checkpoint;
    use promptrail::signing::{Signer, SigningKey};
    let pem = std::fs::read(signer).unwrap();
    let key = SigningKey::from_encrypted_pem(&pem, password.as_bytes(), "test").unwrap();
    let cp = Checkpoint::parse(std::str::from_utf8(&files["checkpoint"]).unwrap()).unwrap();
    let index = sha256_of(&files["state/index.json"]);
    let extensions = cp
        .extensions
        .iter()
        .map(|e| {
            if e.starts_with("promptrail-state sha256:") {
                format!("promptrail-state sha256:{index}")
            } else {
                e.clone()
            }
        })
        .collect();
    let signed =
        Checkpoint::sign_with(&cp.origin, cp.size, cp.root, extensions, &Signer::Key(key)).unwrap();
    files.insert("checkpoint".into(), signed.to_text().into_bytes());
}

/// Gates production in a new fresh clone: blocked, after saying it read the whole log.
pub fn assert_falls_back_and_blocks(r: &Repo, s: &StandIn, name: &str, extra: &[&str]) {
    let clone = fresh_clone(r, name);
    let mut args = vec!["gate", "--env", "production", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run_in(r, s, &clone, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: must block\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains(FELL_BACK), "{name}: {}", stderr(&out));
    assert_eq!(json(&out)["ok"], false, "{name}");
}
