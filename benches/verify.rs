//! `verify` of an audit log of 100,000 signed entries against a bare loop that does only
//! what verification cannot avoid — for each entry, SHA-256 over its bytes and one ECDSA
//! P-256 verification of its DSSE PAE (aws-lc-rs, on every core) — over the same entry
//! bytes, in the same process; with the peak memory (max RSS) of `verify`.
//!
//! Run: `cargo bench --bench verify` (PROMPTRAIL_BENCH_VERIFY_ENTRIES changes the size;
//! the log is written by `record`, about 1 ms per entry).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use common::{Work, bare_loop, best_of, env_size, generate, measure, run};
use promptrail::git::Git;
use promptrail::signing::TrustedKey;
use promptrail::store::Store;

fn main() {
    common::reap_if_asked();
    let entries = env_size("PROMPTRAIL_BENCH_VERIFY_ENTRIES", 100_000);
    let prompts = env_size("PROMPTRAIL_BENCH_PROMPTS", 1_000);
    let dir = tempfile::TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    let started = Instant::now();
    generate(&repo, prompts, entries);
    let bin = env!("CARGO_BIN_EXE_promptrail");
    let keys = dir.path().join("keys");
    run(Command::new(bin).args(["keygen", "--out"]).arg(&keys));
    run(Command::new(bin)
        .current_dir(&repo)
        .args(["-q", "record", "--offline", "--no-push", "--key"])
        .arg(keys.join("promptrail.key")));
    eprintln!(
        "generated {entries} commits and recorded them in {:?}",
        started.elapsed()
    );

    // The entry files exactly as `verify` reads them; decoding them is not timed.
    let git = Git::open(&repo).unwrap();
    let store = Store::new(&git, "promptrail/audit", "origin");
    let files = store
        .read_all(&store.resolve_for_reading().unwrap())
        .unwrap();
    assert_eq!(files.entries.len(), entries);
    let work: Vec<Work> = files
        .entries
        .into_iter()
        .map(|e| {
            let (bundle, _) = e.decode().unwrap();
            let env = bundle.dsse_envelope;
            (e.bytes, env.signed_bytes(), env.signatures[0].sig.clone())
        })
        .collect();
    let entry_bytes: usize = work.iter().map(|w| w.0.len()).sum();
    let trusted = TrustedKey::load(&keys.join("promptrail.pub")).unwrap();
    let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &trusted.spki_der).unwrap();

    let bare = (0..3).map(|_| bare_loop(&key, &work)).min().unwrap();
    let verify = best_of(3, || {
        measure(
            Command::new(bin)
                .current_dir(&repo)
                .args(["-q", "verify", "--key"])
                .arg(keys.join("promptrail.pub")),
        )
    });
    // What git alone needs to list the audit branch's history (verify's PT010 check).
    let git_log = best_of(3, || {
        measure(Command::new("git").current_dir(&repo).args([
            "log",
            "--raw",
            "-M",
            "--no-abbrev",
            "-z",
            "promptrail/audit",
        ]))
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "log: {entries} entries, {:.1} MiB of entry files, {threads} cores",
        entry_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "baseline  SHA-256 + ECDSA P-256 per entry   {:>9.1} ms  ({:.1} µs/entry)",
        ms(bare),
        ms(bare) * 1000.0 / entries as f64
    );
    println!(
        "verify    {entries} entries {:>20.1} ms  {:>6.2}x baseline (goal <= 1.3x)  max RSS {:>7.1} MiB",
        verify.ms(),
        verify.time.as_secs_f64() / bare.as_secs_f64(),
        verify.mib()
    );
    println!(
        "git log --raw -M of the audit branch      {:>9.1} ms  {:>6.2}x baseline                max RSS {:>7.1} MiB",
        git_log.ms(),
        git_log.time.as_secs_f64() / bare.as_secs_f64(),
        git_log.mib()
    );
}
