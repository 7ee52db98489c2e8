//! Every command at scale: a generated audit log of 100,000 prompt versions (1,000 prompts ×
//! 100 versions) plus a deployment after every ten versions, against `git log --raw -M` of
//! the same repository (the history scan `record` and `status` build on) and, for `verify`,
//! a bare SHA-256 + ECDSA loop over the same entry bytes — measured in the same process,
//! with each command's max RSS.
//!
//! Run: `cargo bench --bench scale`. The data set is generated once (a few minutes at
//! 100,000) and kept under `target/bench-data/`; `PROMPTRAIL_BENCH_SCALE=1000000` picks the
//! 1,000,000-version variant (10,000 prompts; generating it takes long), any other number
//! another size (prompts = versions / 100). `PROMPTRAIL_BENCH_BIN=PATH` times another build
//! of promptrail on the same data; `PROMPTRAIL_BENCH_RUNS=N` takes the best of N runs;
//! `PROMPTRAIL_BENCH_ONLY=verify` times only `verify` against the bare loop, and
//! `PROMPTRAIL_BENCH_VERIFY_BEFORE=PATH` adds another build's `verify` beside it;
//! `PROMPTRAIL_BENCH_ONLY=fresh` times only `gate` and `deploy` on a fresh clone (the
//! protected branch cloned over `file://` before each run, outside the timing; the audit
//! branch fetched by the command, inside it); `PROMPTRAIL_BENCH_ONLY=generate` only
//! generates the data set, and `PROMPTRAIL_BENCH_ONLY=repo` only its repository of prompt
//! commits (cached apart from the log, so a new log format does not regenerate it).

mod common;

use std::process::Command;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use common::scale::{Scale, scale};
use common::{Sample, Work, bare_loop, best_of, env_size, measure};
use promptrail::git::Git;
use promptrail::signing::TrustedKey;
use promptrail::store::Store;

struct Row {
    label: String,
    sample: Sample,
    target: &'static str,
}

fn main() {
    common::reap_if_asked();
    let versions = env_size("PROMPTRAIL_BENCH_SCALE", 100_000);
    let prompts = (versions / 100).max(1);
    // PROMPTRAIL_BENCH_ONLY=repo: only the repository of prompt commits (cached apart from
    // the log, which a change of the log's format regenerates), e.g. ahead of a long run.
    if std::env::var("PROMPTRAIL_BENCH_ONLY").is_ok_and(|o| o == "repo") {
        let repo = common::scale::repository(versions, prompts);
        println!("repository ready under {}", repo.display());
        return;
    }
    let data = scale(versions, prompts);
    // PROMPTRAIL_BENCH_ONLY=generate: build (or check) the cached data set and stop, so that
    // the long 1,000,000-entry generation can run on its own, ahead of the measurements.
    if std::env::var("PROMPTRAIL_BENCH_ONLY").is_ok_and(|o| o == "generate") {
        println!(
            "data set ready: {} entries under {}",
            data.entries,
            data.root.display()
        );
        return;
    }
    // PROMPTRAIL_BENCH_BIN times another build (say, the one before a change) on the same data.
    let bin_env = std::env::var("PROMPTRAIL_BENCH_BIN").ok();
    let bin = bin_env
        .as_deref()
        .unwrap_or(env!("CARGO_BIN_EXE_promptrail"));
    let has_log_filters = String::from_utf8_lossy(
        &Command::new(bin)
            .args(["log", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .contains("--since");
    let repo = &data.repo;
    let runs = env_size("PROMPTRAIL_BENCH_RUNS", 1);
    // PROMPTRAIL_BENCH_ONLY=verify: only verify against the bare loop (the other commands
    // take minutes at scale).
    let verify_only = std::env::var("PROMPTRAIL_BENCH_ONLY").is_ok_and(|o| o == "verify");
    let fresh_only = std::env::var("PROMPTRAIL_BENCH_ONLY").is_ok_and(|o| o == "fresh");
    let p = Scale::prompt(prompts / 2);
    let v = 50.min(versions / prompts).max(1);
    let t0 = 1_700_000_000i64;
    let mid = chrono::DateTime::from_timestamp(t0 + (versions as i64 / 2) * 60, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recent = chrono::DateTime::from_timestamp(t0 + (versions as i64 * 99 / 100) * 60, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pubkey = data.public_key();
    let privkey = data.private_key();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.current_dir(repo).arg("-q").args(args);
        c
    };
    let timed = |c: &mut dyn FnMut() -> Command| best_of(runs, || measure(&mut c()));

    let baseline = best_of(if verify_only { 1 } else { runs.max(3) }, || {
        measure(Command::new("git").current_dir(repo).args([
            "log",
            "--raw",
            "-M",
            "--no-abbrev",
            "-z",
            "main",
        ]))
    });
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |label: String, sample: Sample, target: &'static str| {
        eprintln!("{label}: {:.1} ms, {:.1} MiB", sample.ms(), sample.mib());
        rows.push(Row {
            label,
            sample,
            target,
        });
    };
    let pk = pubkey.to_str().unwrap();
    let sk = privkey.to_str().unwrap();
    let show = format!("{p}@v{v}");
    if !verify_only && !fresh_only {
        row(
            "log --prompt P".into(),
            timed(&mut || cmd(&["log", "--prompt", &p])),
            "<= 200 ms, <= 100 MiB",
        );
        row(
            format!("show P@v{v}"),
            timed(&mut || cmd(&["show", &show])),
            "<= 200 ms, <= 100 MiB",
        );
        row(
            "active --env production --at T".into(),
            timed(&mut || cmd(&["active", "--env", "production", "--at", &mid])),
            "<= 200 ms, <= 100 MiB",
        );
        row(
            format!("prove P@v{v}"),
            timed(&mut || cmd(&["prove", &show])),
            "<= 200 ms, <= 100 MiB",
        );
        if has_log_filters {
            row(
                "log --env production --since T (last 1 %)".into(),
                timed(&mut || cmd(&["log", "--env", "production", "--since", &recent])),
                "<= 200 ms, <= 100 MiB",
            );
        }
        row(
            "log (the whole log)".into(),
            timed(&mut || cmd(&["log"])),
            "streams (constant memory)",
        );
        row(
            "record, nothing new".into(),
            timed(&mut || cmd(&["record", "--offline", "--no-push", "--key", sk])),
            "<= 300 ms",
        );
        row(
            "status".into(),
            timed(&mut || cmd(&["status"])),
            "<= 300 ms",
        );
        // To stdout (the benchmark discards it): `--out` writes a temporary file beside its
        // target and renames it into place, which must never be tried on /dev/null.
        for format in ["csv", "json", "md", "html"] {
            row(
                format!("export --format {format}"),
                timed(&mut || cmd(&["export", "--format", format, "--key", pk])),
                "<= 200 MiB",
            );
        }
    }
    if !verify_only {
        // A fresh clone per run: CI starts without any cache.
        let fresh = |name: &str, args: &[&str]| {
            best_of(runs, || {
                let clone = data.fresh_clone(name);
                measure(Command::new(bin).current_dir(&clone).arg("-q").args(args))
            })
        };
        row(
            "gate --env production (fresh clone)".into(),
            fresh("clone-gate", &["gate", "--env", "production", "--key", pk]),
            "<= 1 s, <= 100 MiB",
        );
        row(
            "deploy --env production --no-push (fresh clone)".into(),
            fresh(
                "clone-deploy",
                &["deploy", "--env", "production", "--no-push", "--key", sk],
            ),
            "<= 1 s, <= 100 MiB",
        );
    }
    if fresh_only {
        println!(
            "log: {} entries ({versions} versions of {prompts} prompts); baseline git log --raw -M of main: {:.1} ms, max RSS {:.1} MiB",
            data.entries,
            baseline.ms(),
            baseline.mib()
        );
        println!("| command | time | × git log | max RSS | target |");
        println!("|---|---|---|---|---|");
        for r in &rows {
            println!(
                "| `{}` | {:.1} ms | {:.2}× | {:.1} MiB | {} |",
                r.label,
                r.sample.ms(),
                r.sample.time.as_secs_f64() / baseline.time.as_secs_f64(),
                r.sample.mib(),
                r.target
            );
        }
        return;
    }
    let verify = timed(&mut || cmd(&["verify", "--key", pk]));
    // PROMPTRAIL_BENCH_VERIFY_BEFORE=PATH: the same verify by another build (say, main's
    // before a change), in the same process, for a before/after against one bare loop.
    let before = std::env::var("PROMPTRAIL_BENCH_VERIFY_BEFORE")
        .ok()
        .map(|old| {
            best_of(runs, || {
                measure(
                    Command::new(&old)
                        .current_dir(repo)
                        .args(["-q", "verify", "--key", pk]),
                )
            })
        });

    // The bare loop: only what verification cannot avoid, over the same entry bytes.
    let git = Git::open(repo).unwrap();
    let store = Store::new(&git, "promptrail/audit", "origin");
    let files = store
        .read_all(&store.resolve_for_reading().unwrap())
        .unwrap();
    assert_eq!(files.entries.len() as u64, data.entries);
    let work: Vec<Work> = files
        .entries
        .into_iter()
        .map(|e| {
            let (bundle, _) = e.decode().unwrap();
            let env = bundle.dsse_envelope;
            (e.bytes, env.signed_bytes(), env.signatures[0].sig.clone())
        })
        .collect();
    let trusted = TrustedKey::load(&pubkey).unwrap();
    let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &trusted.spki_der).unwrap();
    let bare = (0..runs.max(3))
        .map(|_| bare_loop(&key, &work))
        .min()
        .unwrap();

    println!(
        "log: {} entries ({versions} versions of {prompts} prompts, {} deployments); P = {p}",
        data.entries,
        data.entries - versions as u64
    );
    println!(
        "baseline git log --raw -M of main: {:.1} ms, max RSS {:.1} MiB; bare SHA-256 + ECDSA loop: {:.1} ms",
        baseline.ms(),
        baseline.mib(),
        bare.as_secs_f64() * 1000.0
    );
    println!("| command | time | × git log | max RSS | target |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| `{}` | {:.1} ms | {:.2}× | {:.1} MiB | {} |",
            r.label,
            r.sample.ms(),
            r.sample.time.as_secs_f64() / baseline.time.as_secs_f64(),
            r.sample.mib(),
            r.target
        );
    }
    println!(
        "| `verify` | {:.1} ms | {:.2}× the bare loop | {:.1} MiB | <= 1.5× the loop, <= 150 MiB |",
        verify.ms(),
        verify.time.as_secs_f64() / bare.as_secs_f64(),
        verify.mib()
    );
    if let Some(before) = before {
        println!(
            "| `verify` (PROMPTRAIL_BENCH_VERIFY_BEFORE) | {:.1} ms | {:.2}× the bare loop | {:.1} MiB | <= 1.5× the loop, <= 150 MiB |",
            before.ms(),
            before.time.as_secs_f64() / bare.as_secs_f64(),
            before.mib()
        );
    }
}
