//! Append latency at 1,000 entries vs at 100,000 entries: an append must not grow with the
//! log's length. Measured with the library's `Store::append` (the code `record` and `deploy`
//! run), with and without the push, in the same process.
//!
//! Run: `cargo bench --bench append` (PROMPTRAIL_BENCH_LARGE changes the large size).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use promptrail::attestation::Statement;
use promptrail::checkpoint::Checkpoint;
use promptrail::git::Git;
use promptrail::merkle::{CompactRange, leaf_hash};
use promptrail::signing::{Signer, SigningKey};
use promptrail::store::{NewEntry, Store, Tip, entry_path};
use promptrail::types::{EntryIndex, Sha256Hex};

const ORIGIN: &str = "github.com/acme/bench";

fn statement(index: u64, previous: Option<&Sha256Hex>, run: &str) -> Statement {
    serde_json::from_value(serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "prompts/a.md", "digest": {"sha256": "0".repeat(64), "gitBlob": "0".repeat(40)}}],
        "predicateType": "https://promptrail.dev/audit-event/v1",
        "predicate": {
            "event": "deployment",
            "log": {"index": index, "previous": previous.map(|p| p.to_string()), "origin": ORIGIN},
            "prompts": [{"path": "prompts/a.md", "version": 1, "commit": "0".repeat(40), "landedAt": "2026-11-20T14:00:00Z",
                         "digest": {"sha256": "0".repeat(64), "gitBlob": "0".repeat(40)}}],
            "authors": [], "approvals": [],
            "policy": {"configDigest": {"sha256": "0".repeat(64)}, "rules": []},
            "deployment": {"environment": "production", "actor": "ci", "runId": run, "ref": "refs/heads/main",
                           "sha": "0".repeat(40), "deployedAt": "2026-11-20T15:00:00Z"},
            "recordedAt": "2026-11-20T15:00:00Z",
            "tool": {"name": "promptrail", "version": "bench"}
        }
    }))
    .unwrap()
}

fn signed(key: &Signer, st: &Statement) -> Vec<u8> {
    key.sign_entry(st.to_payload().unwrap()).unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// A remote whose audit branch holds `n` signed entries (written in one commit).
fn log_of(n: u64, key: &Signer, root: &Path) -> std::path::PathBuf {
    let remote = root.join(format!("remote-{n}.git"));
    let work = root.join(format!("work-{n}"));
    git(root, &["init", "-q", "--bare", remote.to_str().unwrap()]);
    git(root, &["init", "-q", work.to_str().unwrap()]);
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    let mut stream = Vec::new();
    writeln!(
        stream,
        "commit refs/heads/promptrail/audit\ncommitter b <b@x> 1700000000 +0000\ndata 4\nbulk"
    )
    .unwrap();
    let meta = format!("{{\"format\":1,\"origin\":\"{ORIGIN}\",\"hashAlgorithm\":\"sha256\"}}\n");
    writeln!(
        stream,
        "M 100644 inline promptrail.json\ndata {}\n{meta}",
        meta.len()
    )
    .unwrap();
    let mut previous: Option<Sha256Hex> = None;
    let mut range = CompactRange::default();
    for i in 0..n {
        let bytes = signed(key, &statement(i, previous.as_ref(), &format!("bulk-{i}")));
        previous = Some(Sha256Hex::of(&bytes));
        range.push(leaf_hash(&bytes));
        writeln!(
            stream,
            "M 100644 inline {}\ndata {}",
            entry_path(EntryIndex(i)),
            bytes.len()
        )
        .unwrap();
        stream.extend_from_slice(&bytes);
        stream.push(b'\n');
    }
    let cp = Checkpoint::sign(ORIGIN, range.size(), range.root(), key)
        .unwrap()
        .to_text();
    writeln!(
        stream,
        "M 100644 inline checkpoint\ndata {}\n{cp}",
        cp.len()
    )
    .unwrap();
    let r = range.to_text();
    writeln!(
        stream,
        "M 100644 inline checkpoint.range\ndata {}\n{r}",
        r.len()
    )
    .unwrap();
    let mut child = Command::new("git")
        .current_dir(&work)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    git(&work, &["push", "-q", "origin", "promptrail/audit"]);
    work
}

fn append_once(work: &Path, key: &Signer, push: bool, run: &str) -> Duration {
    let git = Git::open(work).unwrap();
    let store = Store::new(&git, "promptrail/audit", "origin");
    let t = Instant::now();
    let build = |tip: &Tip| {
        let st = statement(tip.next_index.0, tip.previous.as_ref(), run);
        Ok(vec![NewEntry {
            bytes: signed(key, &st),
            summary: format!("deployment {run}"),
            recorded_at: st.predicate.recorded_at,
        }])
    };
    store
        .append(push, ORIGIN, key, build, |_| {})
        .unwrap()
        .unwrap();
    t.elapsed()
}

fn main() {
    let large: u64 = std::env::var("PROMPTRAIL_BENCH_LARGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::TempDir::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promptrail"))
        .args(["keygen", "--out"])
        .arg(dir.path().join("keys"))
        .env("PROMPTRAIL_KEY_PASSWORD", "bench")
        .output()
        .unwrap();
    assert!(out.status.success());
    let pem = std::fs::read(dir.path().join("keys/promptrail.key")).unwrap();
    let key = Signer::Key(SigningKey::from_encrypted_pem(&pem, b"bench", "bench").unwrap());
    let mut rows = Vec::new();
    for n in [1_000, large] {
        let t = Instant::now();
        let work = log_of(n, &key, dir.path());
        eprintln!("built a log of {n} entries in {:?}", t.elapsed());
        let best = |push: bool, tag: &str| {
            (0..5)
                .map(|i| append_once(&work, &key, push, &format!("{tag}-{i}")))
                .min()
                .unwrap()
        };
        rows.push((n, best(false, "local"), best(true, "pushed")));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (n, local, pushed) in &rows {
        println!(
            "append at {n:>7} entries: {:>7.1} ms without the push, {:>7.1} ms with it",
            ms(*local),
            ms(*pushed)
        );
    }
    let (small, big) = (&rows[0], &rows[1]);
    println!(
        "ratio {} / {} entries: {:.2}x without the push (goal <= 1.5x), {:.2}x with it",
        big.0,
        small.0,
        big.1.as_secs_f64() / small.1.as_secs_f64(),
        big.2.as_secs_f64() / small.2.as_secs_f64()
    );
}
