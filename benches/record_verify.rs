//! `record` and `verify` on a generated repository with 1,000 prompt versions, against
//! `git log --raw -M` over the same repository, measured in the same process.
//!
//! Run: `cargo bench --bench record_verify` (set PROMPTRAIL_BENCH_VERSIONS to change the size).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench";

fn main() {
    let versions: usize = std::env::var("PROMPTRAIL_BENCH_VERSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let prompts: usize = std::env::var("PROMPTRAIL_BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
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
        run(Command::new("git").current_dir(&repo).args([
            "log",
            "--raw",
            "-M",
            "--no-abbrev",
            "-z",
            "main",
        ]))
    });
    let status = best_of(3, || {
        run(Command::new(bin).current_dir(&repo).args(["-q", "status"]))
    });
    // record is measured once: a second run would have nothing to do.
    let record = time(|| {
        run(Command::new(bin)
            .current_dir(&repo)
            .args(["-q", "record", "--offline", "--no-push", "--key"])
            .arg(keys.join("promptrail.key")))
    });
    let record_noop = best_of(3, || {
        run(Command::new(bin)
            .current_dir(&repo)
            .args(["-q", "record", "--offline", "--no-push", "--key"])
            .arg(keys.join("promptrail.key")))
    });
    let verify = best_of(3, || {
        run(Command::new(bin)
            .current_dir(&repo)
            .args(["-q", "verify", "--key"])
            .arg(keys.join("promptrail.pub")))
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |d: Duration| d.as_secs_f64() / git_log.as_secs_f64();
    println!("repository: {versions} prompt versions, {prompts} prompts, {versions} commits");
    println!(
        "baseline  git log --raw -M          {:>9.1} ms",
        ms(git_log)
    );
    println!(
        "status    (history scan)             {:>9.1} ms  {:>6.2}x git log",
        ms(status),
        ratio(status)
    );
    println!(
        "record    {versions} new entries (sign+write) {:>9.1} ms  {:>6.2}x git log  ({:.2} ms/entry)",
        ms(record),
        ratio(record),
        ms(record) / versions as f64
    );
    println!(
        "record    nothing new                {:>9.1} ms  {:>6.2}x git log",
        ms(record_noop),
        ratio(record_noop)
    );
    println!(
        "verify    {versions} entries             {:>9.1} ms  {:>6.2}x git log  ({:.2} ms/entry)",
        ms(verify),
        ratio(verify),
        ms(verify) / versions as f64
    );
}

/// A repository on `main` whose every commit changes one of `prompts` prompt files.
fn generate(repo: &Path, prompts: usize, versions: usize) {
    run(Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(repo));
    let mut stream = Vec::new();
    for i in 0..versions {
        let t = 1_700_000_000 + i * 60;
        let msg = format!("change {i}");
        writeln!(stream, "commit refs/heads/main").unwrap();
        writeln!(
            stream,
            "author Author {} <a{}@example.org> {t} +0000",
            i % 7,
            i % 7
        )
        .unwrap();
        writeln!(stream, "committer Bot <bot@example.org> {t} +0000").unwrap();
        writeln!(stream, "data {}\n{msg}", msg.len()).unwrap();
        let content = format!(
            "Prompt {} revision {i}\n{}\n",
            i % prompts,
            "lorem ipsum ".repeat(20)
        );
        // Directories of 100 prompts, as real repositories nest them.
        let p = i % prompts;
        writeln!(stream, "M 100644 inline prompts/d{:03}/p{p:05}.md", p / 100).unwrap();
        writeln!(stream, "data {}\n{content}", content.len()).unwrap();
        if i % 10 == 0 {
            let other = format!("code {i}\n");
            writeln!(
                stream,
                "M 100644 inline src/f{i}.rs\ndata {}\n{other}",
                other.len()
            )
            .unwrap();
        }
    }
    let mut child = Command::new("git")
        .current_dir(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    run(Command::new("git")
        .current_dir(repo)
        .args(["checkout", "-q", "main"]));
}

fn run(cmd: &mut Command) {
    let out = cmd
        .env("PROMPTRAIL_KEY_PASSWORD", PASSWORD)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n).map(|_| time(&mut f)).min().unwrap()
}
