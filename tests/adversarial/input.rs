//! Hostile files are bounded (issue 11, finding 8): every file promptrail reads from a path
//! is read only as a regular file of bounded size, so that a symlink to `/dev/zero` cannot
//! grow a command's memory, `/dev/stdin` or a FIFO cannot hang it, and a huge or deeply
//! nested `.promptrail.yml` is refused before YAML parsing. Each command runs under a hang
//! guard (a generous deadline that only a hang can miss: this is not a speed test).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::github::StandIn;
use crate::common::*;

/// Runs `cmd` with stdin an open pipe nobody writes to (as a terminal would be); fails the
/// test if it has not finished after a minute.
fn bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "promptrail hung on hostile input\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn refused(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected `{n}` in: {err}");
    }
}

fn fifo(path: &Path) {
    let out = Command::new("mkfifo").arg(path).output().unwrap();
    assert!(out.status.success(), "mkfifo: {}", stderr(&out));
}

fn repo() -> Repo {
    let r = Repo::new();
    r.write("prompts/intake.md", "v1\n");
    r.commit("v1");
    r.push();
    r
}

fn config_link(r: &Repo, target: &str) {
    std::os::unix::fs::symlink(target, r.work.join(".promptrail.yml")).unwrap();
}

#[test]
fn a_config_linked_to_dev_zero_is_refused_unread() {
    let r = repo();
    config_link(&r, "/dev/zero");
    let out = bounded(r.cmd().args(["status"]));
    refused(
        &out,
        &[
            ".promptrail.yml",
            "symbolic link",
            "not a regular file",
            "1 MiB",
        ],
    );
}

#[test]
fn a_config_linked_to_dev_stdin_does_not_hang() {
    let r = repo();
    config_link(&r, "/dev/stdin");
    let out = bounded(r.cmd().args(["gate", "--env", "production"]));
    refused(&out, &[".promptrail.yml", "not a regular file"]);
}

#[test]
fn a_config_that_is_a_fifo_does_not_hang() {
    let r = repo();
    fifo(&r.work.join(".promptrail.yml"));
    let out = bounded(r.cmd().args(["status"]));
    refused(&out, &[".promptrail.yml", "a FIFO", "not a regular file"]);
}

#[test]
fn a_38_mb_config_is_refused_before_parsing() {
    let r = repo();
    let line = "# padding padding padding padding padding padding padding padding\n";
    r.write(".promptrail.yml", &line.repeat(38_000_000 / line.len()));
    let out = bounded(r.cmd().args(["status"]));
    refused(&out, &[".promptrail.yml", "larger than the 1 MiB"]);
}

#[test]
fn a_config_just_over_1_mib_is_refused_and_one_just_under_is_read() {
    let r = repo();
    let limit = 1 << 20;
    let head = "version: 1\n";
    let pad = |n: usize| format!("{head}#{}\n", "x".repeat(n - head.len() - 2));
    r.write(".promptrail.yml", &pad(limit + 1));
    refused(
        &bounded(r.cmd().args(["status"])),
        &["larger than the 1 MiB"],
    );
    r.write(".promptrail.yml", &pad(limit));
    assert_ok(&bounded(r.cmd().args(["status"])));
}

#[test]
fn two_hundred_kb_of_nested_flow_yaml_is_refused_before_parsing() {
    let r = repo();
    r.write(
        ".promptrail.yml",
        &format!("policy: {}\n", "[".repeat(200_000)),
    );
    let out = bounded(r.cmd().args(["status"]));
    refused(&out, &[".promptrail.yml:1:", "nested more than 32 levels"]);
    // Block nesting too.
    let deep: String = (0..100)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    r.write(".promptrail.yml", &deep);
    let out = bounded(r.cmd().args(["status"]));
    refused(&out, &[".promptrail.yml:33:", "nested more than 32 levels"]);
}

#[test]
fn a_huge_or_deep_config_at_the_pull_requests_base_is_refused() {
    for (name, config) in [
        ("huge", format!("#{}\n", "x".repeat(2 << 20))),
        ("deep", format!("policy: {}\n", "{a: ".repeat(10_000))),
    ] {
        let r = repo();
        // The base commit carries the hostile config; the working tree's is fine again.
        r.write(".promptrail.yml", &config);
        let base = r.commit(name);
        r.git(&["checkout", "-q", "-b", "pr5"]);
        r.write(".promptrail.yml", "version: 1\n");
        r.write("prompts/intake.md", "v2\n");
        let head = r.commit("v2");
        r.git(&["push", "-q", "origin", "HEAD:refs/pull/5/head"]);
        let s = StandIn::start();
        s.pull(5, "ana", &head, &base, None);
        s.files(5, &[("prompts/intake.md", "modified")]);
        let mut cmd = r.cmd();
        s.env(&mut cmd).args(["check", "--pr", "5"]);
        let out = bounded(&mut cmd);
        let needle = if name == "huge" {
            "larger than the 1 MiB"
        } else {
            "nested more than 32 levels"
        };
        refused(&out, &[".promptrail.yml", needle]);
    }
}

/// A scratch directory with a FIFO and a link to `/dev/zero`.
struct Hostile {
    _dir: tempfile::TempDir,
    fifo: PathBuf,
    zero: PathBuf,
}

fn hostile() -> Hostile {
    let dir = tempfile::TempDir::new().unwrap();
    let fifo_path = dir.path().join("fifo");
    fifo(&fifo_path);
    let zero = dir.path().join("zero.pub");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    Hostile {
        fifo: fifo_path,
        zero,
        _dir: dir,
    }
}

#[test]
fn keys_given_by_path_are_bounded_regular_files() {
    let r = recorded_repo();
    let h = hostile();
    for key in [&h.zero, &h.fifo] {
        let out = bounded(r.cmd().arg("verify").arg("--key").arg(key));
        refused(&out, &["not a regular file"]);
        let out = bounded(
            r.cmd()
                .args(["gate", "--env", "production", "--key"])
                .arg(key),
        );
        refused(&out, &["not a regular file"]);
    }
    let out = bounded(r.cmd().args(["record", "--offline", "--key", "/dev/stdin"]));
    refused(&out, &["/dev/stdin", "not a regular file"]);
    // A key file of 100 MB is refused at once.
    let big = r.dir.path().join("big.pub");
    std::fs::write(&big, vec![b'A'; 100 << 20]).unwrap();
    let out = bounded(r.cmd().arg("verify").arg("--key").arg(&big));
    refused(&out, &["big.pub", "larger than the 64 KiB"]);
}

#[test]
fn checkpoints_proofs_and_trusted_roots_are_bounded_regular_files() {
    let r = recorded_repo();
    let h = hostile();
    let key = keys().public.to_str().unwrap().to_owned();
    for file in [&h.zero, &h.fifo] {
        let out = bounded(
            r.cmd()
                .args(["verify", "--key", &key, "--checkpoint"])
                .arg(file),
        );
        refused(&out, &["not a regular file"]);
        let out = bounded(r.cmd().arg("verify-entry").arg(file).args(["--key", &key]));
        refused(&out, &["not a regular file"]);
        let out = bounded(
            r.cmd()
                .args([
                    "verify",
                    "--certificate-identity",
                    "https://github.com/acme/clinic/.github/workflows/r.yml@refs/heads/main",
                    "--trusted-root",
                ])
                .arg(file),
        );
        refused(&out, &["not a regular file"]);
    }
}

#[test]
fn the_actions_event_payload_is_a_bounded_regular_file() {
    let r = repo();
    let h = hostile();
    for event in [&h.zero, &h.fifo] {
        let out = bounded(r.cmd().args(["check"]).env("GITHUB_EVENT_PATH", event));
        refused(&out, &["event payload", "not a regular file"]);
    }
}

#[test]
fn a_file_looked_up_by_which_is_a_bounded_regular_file() {
    let r = recorded_repo();
    let h = hostile();
    for file in [&h.zero, &h.fifo] {
        let out = bounded(r.cmd().arg("which").arg(file));
        refused(&out, &["not a regular file"]);
    }
}

#[test]
fn a_config_of_thousands_of_globs_is_refused_before_compiling_them() {
    let r = repo();
    let globs: String = (0..30_000)
        .map(|i| format!("    - \"p{i}/**/*{{a,b}}[0-9]?.md\"\n"))
        .collect();
    r.write(".promptrail.yml", &format!("prompts:\n  include:\n{globs}"));
    let out = bounded(r.cmd().args(["status"]));
    refused(&out, &[".promptrail.yml:1:", "30000 globs", "at most 1000"]);
}
