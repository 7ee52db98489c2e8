//! Helpers shared by the benchmarks: a generated repository, running commands, and their
//! wall time and peak memory.

// Each benchmark uses a subset.
#![allow(dead_code)]

pub mod scale;

use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the keys the benchmarks generate.
pub const PASSWORD: &str = "bench";

/// A size from the environment, else `default`.
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A repository on `main` whose every commit changes one of `prompts` prompt files.
pub fn generate(repo: &Path, prompts: usize, versions: usize) {
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
            // In directories of 100 too: one flat `src/` of 100,000 files (at 1,000,000
            // commits) made every tenth commit rewrite a tree of megabytes, and generating
            // the repository quadratic.
            let other = format!("code {i}\n");
            writeln!(
                stream,
                "M 100644 inline src/d{:04}/f{i}.rs\ndata {}\n{other}",
                i / 1000,
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

/// One run of a command: its wall time and its peak memory.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub time: Duration,
    /// Max RSS in KiB as `wait4` reports it for the command: the largest of its process and
    /// of the processes it waited for (git children), not their sum.
    pub max_rss_kib: u64,
}

impl Sample {
    pub fn ms(&self) -> f64 {
        self.time.as_secs_f64() * 1000.0
    }

    pub fn mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// The variable that makes a bench binary a reaper (see [`reap_if_asked`]): the file to write
/// the reaped command's max RSS to.
const REAP: &str = "PROMPTRAIL_BENCH_REAP";

/// Runs `cmd` (which must succeed) and measures it.
///
/// Linux carries a process's peak RSS across `fork` and `exec`: a command spawned straight
/// from this process reports at least this process's own peak (hundreds of MiB once a
/// bench holds a data set), whatever it used itself. So the command is started by a reaper —
/// this bench binary run again, small after its `exec` — that forks it from its own small
/// memory and reports what `wait4` says. Every bench's `main` calls [`reap_if_asked`] first.
pub fn measure(cmd: &mut Command) -> Sample {
    let mut stderr = tempfile::tempfile().unwrap();
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut reaper = Command::new(std::env::current_exe().unwrap());
    reaper
        .env(REAP, report.path())
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        reaper.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => reaper.env(k, v),
            None => reaper.env_remove(k),
        };
    }
    let status = reaper
        .env("PROMPTRAIL_KEY_PASSWORD", PASSWORD)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr.try_clone().unwrap())
        .status()
        .unwrap();
    let mut err = String::new();
    stderr.rewind().unwrap();
    stderr.read_to_string(&mut err).unwrap();
    assert!(status.success(), "{cmd:?}: {status}: {err}");
    let said = std::fs::read_to_string(report.path()).unwrap();
    let (rss, nanos) = said.trim().split_once(' ').unwrap();
    Sample {
        time: Duration::from_nanos(nanos.parse().unwrap()),
        max_rss_kib: rss.parse().unwrap(),
    }
}

/// When this bench binary was started by [`measure`] as a reaper: runs the command after
/// `--`, writes its max RSS (KiB) and wall time (ns, from spawn to reaping) to the file `PROMPTRAIL_BENCH_REAP` names, and exits with
/// its status. Otherwise returns at once.
pub fn reap_if_asked() {
    let Some(report) = std::env::var_os(REAP) else {
        return;
    };
    let mut args = std::env::args_os().skip_while(|a| a != "--").skip(1);
    let program = args.next().expect("the reaper needs a command after --");
    // Reaped by `wait4` below, which also returns its resource usage (`Child::wait` does not).
    let started = Instant::now();
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .env_remove(REAP)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not waited for yet (std never reaps it: `Child` is only
    // dropped); both out-pointers are valid for the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = started.elapsed();
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    std::fs::write(report, format!("{} {}", usage.ru_maxrss, time.as_nanos())).unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    std::process::exit(status.code().unwrap_or(1));
}

/// Runs `cmd`, which must succeed.
pub fn run(cmd: &mut Command) {
    measure(cmd);
}

/// The fastest of `n` runs (and the largest peak memory of them).
pub fn best_of(n: usize, mut f: impl FnMut() -> Sample) -> Sample {
    let runs: Vec<Sample> = (0..n).map(|_| f()).collect();
    Sample {
        time: runs.iter().map(|s| s.time).min().unwrap(),
        max_rss_kib: runs.iter().map(|s| s.max_rss_kib).max().unwrap(),
    }
}

/// One entry as the bare loop sees it: the file's bytes, the DSSE PAE and the signature.
pub type Work = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Only what verification cannot avoid, on every core: SHA-256 over each entry file and one
/// ECDSA P-256 verification of its PAE.
pub fn bare_loop(key: &aws_lc_rs::signature::ParsedPublicKey, work: &[Work]) -> Duration {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = work.len().div_ceil(threads).max(1);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in work.chunks(chunk) {
            scope.spawn(move || {
                for (bytes, pae, sig) in part {
                    std::hint::black_box(aws_lc_rs::digest::digest(
                        &aws_lc_rs::digest::SHA256,
                        bytes,
                    ));
                    assert!(key.verify_sig(pae, sig).is_ok());
                }
            });
        }
    });
    started.elapsed()
}
