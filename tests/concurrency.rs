//! Many appenders on one remote at once, and appenders killed mid-append: the audit branch
//! is always whole, with nothing lost or duplicated.

mod common;

use std::collections::BTreeSet;

use common::*;
use promptrail::attestation::Statement;
use promptrail::git::Git;
use promptrail::merkle::leaf_hash;
use promptrail::signing::{Signer, SigningKey, TrustedKey};
use promptrail::store::{NewEntry, Store};
use promptrail::types::Sha256Hex;

/// A signed deployment-shaped entry whose run id names its appender and sequence number.
fn entry(tip: &promptrail::store::Tip, key: &Signer, run: &str) -> NewEntry {
    let st: Statement = serde_json::from_value(serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "prompts/a.md", "digest": {"sha256": "0".repeat(64), "gitBlob": "0".repeat(40)}}],
        "predicateType": "https://promptrail.dev/audit-event/v1",
        "predicate": {
            "event": "deployment",
            "log": {"index": tip.next_index.0, "previous": tip.previous.as_ref().map(|p| p.to_string()), "origin": tip.meta.origin},
            "prompts": [{"path": "prompts/a.md", "version": 1, "commit": "0".repeat(40), "landedAt": "2026-11-20T14:00:00Z",
                         "digest": {"sha256": "0".repeat(64), "gitBlob": "0".repeat(40)}}],
            "authors": [], "approvals": [],
            "policy": {"configDigest": {"sha256": "0".repeat(64)}, "rules": []},
            "deployment": {"environment": "production", "actor": "ci", "runId": run, "ref": "refs/heads/main",
                           "sha": "0".repeat(40), "deployedAt": "2026-11-20T15:00:00Z"},
            "recordedAt": "2026-11-20T15:00:00Z",
            "tool": {"name": "promptrail", "version": "test"}
        }
    }))
    .unwrap();
    NewEntry {
        bytes: key.sign_entry(st.to_payload().unwrap()).unwrap(),
        summary: format!("deployment {run}"),
        recorded_at: st.predicate.recorded_at,
    }
}

/// Reads the remote's audit branch in a fresh clone and checks the log's integrity:
/// contiguous indexes, the hash chain, the branch history and the checkpoint.
fn assert_whole(remote: &std::path::Path, dir: &std::path::Path) -> Vec<Statement> {
    let clone = dir.join(format!("check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&clone);
    git_in(
        dir,
        &[
            "clone",
            "-q",
            "--no-checkout",
            remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let git = Git::open(&clone).unwrap();
    let tracking = git
        .resolve_commit("refs/remotes/origin/promptrail/audit")
        .unwrap()
        .unwrap();
    let store = Store::new(&git, "promptrail/audit", "origin");
    let files = store.read_all(&tracking).unwrap();
    let mut previous: Option<Sha256Hex> = None;
    let mut out = Vec::new();
    for (i, e) in files.entries.iter().enumerate() {
        let (bundle, st) = e.decode().unwrap();
        assert_eq!(st.predicate.log.index.0, i as u64, "index of {}", e.path);
        assert_eq!(st.predicate.log.previous, previous, "chain at {}", e.path);
        let trusted =
            TrustedKey::from_pem(std::fs::read(&keys().public).unwrap().as_slice(), "pub").unwrap();
        assert!(trusted.verify(
            &bundle.dsse_envelope.signatures[0].sig,
            &bundle.dsse_envelope.signed_bytes()
        ));
        previous = Some(Sha256Hex::of(&e.bytes));
        out.push(st);
    }
    let leaves: Vec<_> = files.entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
    let trusted = vec![
        TrustedKey::from_pem(std::fs::read(&keys().public).unwrap().as_slice(), "pub").unwrap(),
    ];
    let origin = out.first().map(|s| s.predicate.log.origin.clone());
    let problems = promptrail::verify::check_checkpoint(
        files.checkpoint.as_deref(),
        origin.as_deref(),
        &leaves,
        &trusted,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    let _ = std::fs::remove_dir_all(&clone);
    out
}

/// Set in the child processes of the test below: `NAME=PRIVATE_KEY=CLONE`.
const APPENDER_ENV: &str = "PROMPTRAIL_TEST_APPENDER";

/// One appender process: 25 entries from its own clone. A no-op unless started by the test
/// below (which runs this test binary again, filtered to this function).
#[test]
fn appender_process() {
    let Ok(spec) = std::env::var(APPENDER_ENV) else {
        return;
    };
    let (name, rest) = spec.split_once('=').unwrap();
    let (key_path, clone) = rest.split_once('=').unwrap();
    // The parent's key (each test process would otherwise generate its own).
    let pem = std::fs::read(key_path).unwrap();
    let key =
        Signer::Key(SigningKey::from_encrypted_pem(&pem, PASSWORD.as_bytes(), "test").unwrap());
    let git = Git::open(std::path::Path::new(clone)).unwrap();
    let store = Store::new(&git, "promptrail/audit", "origin");
    for n in 0..25 {
        let run = format!("{name}-{n}");
        store
            .append(
                true,
                "github.com/acme/concurrency",
                &key,
                |tip| Ok(vec![entry(tip, &key, &run)]),
                |_| {},
            )
            .unwrap()
            .expect("an entry was appended");
    }
}

#[test]
fn eight_appender_processes_twenty_five_entries_each_lose_and_duplicate_nothing() {
    let r = Repo::new();
    r.write("prompts/a.md", "a\n");
    r.commit("a");
    r.push();
    // Every clone first: a local clone copies the remote's files, which the appenders change.
    let clones: Vec<_> = (0..8)
        .map(|t| {
            let clone = r.dir.path().join(format!("appender{t}"));
            git_in(
                r.dir.path(),
                &[
                    "clone",
                    "-q",
                    r.remote.to_str().unwrap(),
                    clone.to_str().unwrap(),
                ],
            );
            clone
        })
        .collect();
    let children: Vec<_> = clones
        .iter()
        .enumerate()
        .map(|(t, clone)| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "appender_process", "--test-threads", "1"])
                .env(
                    APPENDER_ENV,
                    format!(
                        "appender{t}={}={}",
                        keys().private.display(),
                        clone.display()
                    ),
                )
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "an appender process failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = assert_whole(&r.remote, r.dir.path());
    assert_eq!(log.len(), 200);
    let runs: BTreeSet<String> = log
        .iter()
        .map(|s| {
            s.predicate
                .deployment
                .as_ref()
                .unwrap()
                .run_id
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(runs.len(), 200, "every appender's every entry, once");
}

#[cfg(unix)]
#[test]
fn killed_mid_append_fifty_times_the_branch_is_never_broken() {
    let r = Repo::new();
    // Forty commits, each a new version: plenty of work for every interrupted run.
    for i in 0..40 {
        r.write(
            &format!("prompts/p{}.md", i % 5),
            &format!("revision {i}\n"),
        );
        r.commit(&format!("revision {i}"));
    }
    r.push();
    let mut seed: u64 = 0x5eed;
    let mut last_len = 0;
    for round in 0..50 {
        let mut child = r
            .cmd()
            .args([
                "-q",
                "record",
                "--offline",
                "--key",
                keys().private.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // A pseudo-random point in 0..512 ms: from start-up to the end of a typical run.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(std::time::Duration::from_millis(seed >> 55));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if r.remote_audit_tip().is_some() {
            let log = assert_whole(&r.remote, r.dir.path());
            assert!(log.len() >= last_len, "round {round}: the log shrank");
            last_len = log.len();
        }
    }
    // The next run completes, and every version is recorded exactly once.
    assert_ok(&r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]));
    let log = assert_whole(&r.remote, r.dir.path());
    assert_eq!(log.len(), 40);
    assert_ok(&r.verify());
}
