//! `record` and `verify` on a generated repository with 1,000 prompt versions, against
//! `git log --raw -M` over the same repository, measured in the same process, with the peak
//! memory (max RSS) of each command.
//!
//! Run: `cargo bench --bench record_verify` (set PROMPTRAIL_BENCH_VERSIONS and
//! PROMPTRAIL_BENCH_PROMPTS to change the size).

mod common;

use std::process::Command;
use std::time::Instant;

use common::{Sample, best_of, env_size, generate, measure, run};

fn main() {
    common::reap_if_asked();
    let versions = env_size("PROMPTRAIL_BENCH_VERSIONS", 1000);
    let prompts = env_size("PROMPTRAIL_BENCH_PROMPTS", 50);
    let dir = tempfile::TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    let started = Instant::now();
    generate(&repo, prompts, versions);
    eprintln!(
        "generated {versions} prompt versions over {prompts} prompts in {:?}",
        started.elapsed()
    );
    let bin = env!("CARGO_BIN_EXE_promptrail");
    let keys = dir.path().join("keys");
    run(Command::new(bin).args(["keygen", "--out"]).arg(&keys));

    let git_log = best_of(3, || {
        measure(Command::new("git").current_dir(&repo).args([
            "log",
            "--raw",
            "-M",
            "--no-abbrev",
            "-z",
            "main",
        ]))
    });
    let status = best_of(3, || {
        measure(Command::new(bin).current_dir(&repo).args(["-q", "status"]))
    });
    // record is measured once: a second run would have nothing to do.
    let record = measure(
        Command::new(bin)
            .current_dir(&repo)
            .args(["-q", "record", "--offline", "--no-push", "--key"])
            .arg(keys.join("promptrail.key")),
    );
    let record_noop = best_of(3, || {
        measure(
            Command::new(bin)
                .current_dir(&repo)
                .args(["-q", "record", "--offline", "--no-push", "--key"])
                .arg(keys.join("promptrail.key")),
        )
    });
    let verify = best_of(3, || {
        measure(
            Command::new(bin)
                .current_dir(&repo)
                .args(["-q", "verify", "--key"])
                .arg(keys.join("promptrail.pub")),
        )
    });
    let ratio = |s: &Sample| s.time.as_secs_f64() / git_log.time.as_secs_f64();
    let row = |label: &str, s: &Sample, extra: String| {
        println!(
            "{label:<40} {:>9.1} ms  {:>6.2}x git log  max RSS {:>7.1} MiB{extra}",
            s.ms(),
            ratio(s),
            s.mib()
        );
    };
    println!("repository: {versions} prompt versions, {prompts} prompts, {versions} commits");
    row("baseline  git log --raw -M", &git_log, String::new());
    row("status    (history scan)", &status, String::new());
    let per_entry = |s: &Sample| format!("  ({:.2} ms/entry)", s.ms() / versions as f64);
    row(
        &format!("record    {versions} new entries (sign+write)"),
        &record,
        per_entry(&record),
    );
    row("record    nothing new", &record_noop, String::new());
    row(
        &format!("verify    {versions} entries"),
        &verify,
        per_entry(&verify),
    );
}
