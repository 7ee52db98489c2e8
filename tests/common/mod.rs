//! Shared helpers for the integration tests: real git repositories in temp dirs, a bare
//! repository as the remote, and the promptrail binary run as a subprocess.
#![allow(dead_code)]

pub mod browser;
pub mod fresh;
pub mod github;
pub mod sigstore;
pub mod trail;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use assert_cmd::cargo::cargo_bin;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

/// A key pair generated once per test binary (scrypt is deliberately slow).
pub struct Keys {
    _dir: TempDir,
    pub private: PathBuf,
    pub public: PathBuf,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| generate_keys(PASSWORD))
}

/// A second, untrusted key pair.
pub fn other_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| generate_keys("another password"))
}

fn generate_keys(password: &str) -> Keys {
    let dir = TempDir::new().unwrap();
    let out = Command::new(cargo_bin("promptrail"))
        .args(["keygen", "--out"])
        .arg(dir.path())
        .env("PROMPTRAIL_KEY_PASSWORD", password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Keys {
        private: dir.path().join("promptrail.key"),
        public: dir.path().join("promptrail.pub"),
        _dir: dir,
    }
}

/// A working clone with a bare remote, both in one temp dir.
pub struct Repo {
    pub dir: TempDir,
    pub work: PathBuf,
    pub remote: PathBuf,
    tick: std::cell::Cell<i64>,
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    c
}

impl Repo {
    /// An empty bare remote and a clone of it on branch `main`, no commits yet.
    pub fn new() -> Repo {
        let dir = TempDir::new().unwrap();
        let remote = dir.path().join("remote.git");
        let work = dir.path().join("work");
        git_in(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        git_in(dir.path(), &["init", "-q", "-b", "main", "work"]);
        git_in(
            &work,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        git_in(&work, &["config", "user.name", "Ana Author"]);
        git_in(&work, &["config", "user.email", "ana@example.org"]);
        Repo {
            dir,
            work,
            remote,
            tick: std::cell::Cell::new(1_700_000_000),
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.work, args)
    }

    pub fn write(&self, path: &str, content: &str) {
        self.write_bytes(path, content.as_bytes());
    }

    pub fn write_bytes(&self, path: &str, content: &[u8]) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Commits everything with a fixed, increasing date, as `author` (`Name <email>`).
    pub fn commit_as(&self, author: &str, message: &str) -> String {
        let t = self.tick.get() + 60;
        self.tick.set(t);
        let date = format!("{t} +0000");
        let out = git_cmd(&self.work).args(["add", "-A"]).output().unwrap();
        assert!(out.status.success());
        let out = git_cmd(&self.work)
            .args([
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
                "--author",
                author,
            ])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn commit(&self, message: &str) -> String {
        self.commit_as("Ana Author <ana@example.org>", message)
    }

    pub fn push(&self) {
        self.git(&["push", "-q", "origin", "HEAD:main"]);
    }

    /// `promptrail` in the working clone with the test key's password.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(cargo_bin("promptrail"));
        c.current_dir(&self.work)
            .env("PROMPTRAIL_KEY_PASSWORD", PASSWORD)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("PROMPTRAIL_SIGNING_KEY")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_SERVER_URL")
            // Keyless signing happens only where a test sets these.
            .env_remove("GITHUB_ACTIONS")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("PROMPTRAIL_FULCIO_URL")
            .env_remove("PROMPTRAIL_REKOR_URL")
            .env_remove("PROMPTRAIL_TRUSTED_ROOT")
            // The external trust anchor only where a test sets it.
            .env_remove("PROMPTRAIL_TRUSTED_KEY_IDS");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `promptrail record --key <test key>` and assert success.
    pub fn record(&self) -> Output {
        let out = self.run(&[
            "record",
            "--offline",
            "--key",
            keys().private.to_str().unwrap(),
        ]);
        assert_ok(&out);
        out
    }

    pub fn verify(&self) -> Output {
        self.run(&["verify", "--key", keys().public.to_str().unwrap()])
    }

    pub fn verify_json(&self) -> serde_json::Value {
        let out = self.run(&[
            "verify",
            "--key",
            keys().public.to_str().unwrap(),
            "--format",
            "json",
        ]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    pub fn log_json(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["log", "--format", "json"]);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Remote's audit branch tip, if any.
    pub fn remote_audit_tip(&self) -> Option<String> {
        audit_tip(&self.remote)
    }

    pub fn local_audit_tip(&self) -> Option<String> {
        audit_tip(&self.work)
    }
}

fn audit_tip(repo: &Path) -> Option<String> {
    let out = git_cmd(repo)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            "refs/heads/promptrail/audit",
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that the command's stdout holds every one of `wanted`; a failure names the
/// missing piece and prints the exit code, stdout and stderr.
#[track_caller]
pub fn assert_stdout_has(out: &Output, wanted: &[&str]) {
    let text = stdout(out);
    for w in wanted {
        assert!(
            text.contains(w),
            "stdout lacks {w:?}\nexit {:?}\nstdout:\n{text}\nstderr:\n{}",
            out.status.code(),
            stderr(out)
        );
    }
}

/// (path, version, change) of every prompt in every entry of the log.
pub fn versions(log: &[serde_json::Value]) -> Vec<(String, u64, String)> {
    log.iter()
        .flat_map(|e| e["prompts"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["version"].as_u64().unwrap(),
                p["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A repository with three prompts, a rename and a co-authored change, recorded and pushed.
pub fn recorded_repo() -> Repo {
    let r = Repo::new();
    r.write(
        "prompts/clinical/intake.md",
        "You are a clinical intake assistant.\n",
    );
    r.write("prompts/greet.md", "Hello!\n");
    r.commit("add prompts");
    r.git(&["mv", "prompts/greet.md", "prompts/welcome.md"]);
    r.commit("rename greeting");
    r.write(
        "prompts/clinical/intake.md",
        "You are a careful clinical intake assistant.\n",
    );
    r.commit("tune intake\n\nCo-authored-by: Bob Builder <bob@example.org>");
    r.push();
    r.record();
    r
}

impl Repo {
    /// The log as another clone sees it after fetching the audit branch.
    pub fn log_json_from(&self, clone: &Path) -> Vec<serde_json::Value> {
        git_in(
            clone,
            &[
                "fetch",
                "-q",
                "origin",
                "+promptrail/audit:promptrail/audit",
            ],
        );
        let out = self
            .cmd()
            .current_dir(clone)
            .args(["log", "--format", "json"])
            .output()
            .unwrap();
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Every entry of the local audit branch, decoded to its in-toto Statement.
pub fn statements(r: &Repo) -> Vec<serde_json::Value> {
    use base64::Engine as _;
    let listing = r.git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "promptrail/audit",
        "entries/",
    ]);
    listing
        .lines()
        .map(|p| {
            let out = git_cmd(&r.work)
                .args(["cat-file", "blob", &format!("promptrail/audit:{p}")])
                .output()
                .unwrap();
            let bundle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

/// Validates every entry's predicate against `schema/audit-event.v1.json` and the Statement
/// against the in-toto Statement v1 shape; returns how many entries were checked.
pub fn assert_schema_valid(r: &Repo) -> usize {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/audit-event.v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let all = statements(r);
    for (i, st) in all.iter().enumerate() {
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(st["predicateType"], "https://promptrail.dev/audit-event/v1");
        assert!(!st["subject"].as_array().unwrap().is_empty());
        let errors: Vec<String> = validator
            .iter_errors(&st["predicate"])
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "entry {i}: {errors:#?}\n{:#}",
            st["predicate"]
        );
    }
    all.len()
}

pub type Files = std::collections::BTreeMap<String, Vec<u8>>;

/// Rewrites the local audit branch: read every file, let `edit` change them, commit.
pub fn tamper(r: &Repo, edit: impl FnOnce(&mut Files)) {
    let tip = r.git(&["rev-parse", "promptrail/audit"]);
    tamper_onto(r, &tip, edit);
}

/// [`tamper`], committed onto `parent` (the tip's own parent: the tip rewritten in place).
pub fn tamper_onto(r: &Repo, parent: &str, edit: impl FnOnce(&mut Files)) {
    let listing = r.git(&["ls-tree", "-r", "--name-only", "promptrail/audit"]);
    let mut files: Files = listing
        .lines()
        .map(|p| {
            let out = git_cmd(&r.work)
                .args(["cat-file", "blob", &format!("promptrail/audit:{p}")])
                .output()
                .unwrap();
            (p.to_owned(), out.stdout)
        })
        .collect();
    edit(&mut files);
    let index = r.dir.path().join("tamper.index");
    let with_index = |args: &[&str], input: Option<&[u8]>| -> String {
        use std::io::Write;
        let mut cmd = git_cmd(&r.work);
        cmd.args(args)
            .env("GIT_INDEX_FILE", &index)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(data) = input {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    with_index(&["read-tree", "--empty"], None);
    for (path, bytes) in &files {
        let oid = with_index(&["hash-object", "-w", "--stdin"], Some(bytes));
        with_index(
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{oid},{path}"),
            ],
            None,
        );
    }
    let tree = with_index(&["write-tree"], None);
    let commit = r.git(&["commit-tree", &tree, "-p", parent, "-m", "tamper"]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &commit]);
}

/// CI's checkout of main: cloned over the wire, the audit branch not fetched.
pub fn ci_clone(r: &Repo, name: &str) -> PathBuf {
    let url = format!("file://{}", r.remote.display());
    git_in(
        r.dir.path(),
        &["clone", "-q", "--single-branch", "-b", "main", &url, name],
    );
    r.dir.path().join(name)
}

/// Lands `files` on `main` through pull request `n`: a branch by Ana, approved by Rita (a
/// writer) at its head, merged with a merge commit and pushed; the stand-in answers for it.
/// Returns the merge commit.
pub fn land_approved(r: &Repo, s: &github::StandIn, n: u64, files: &[(&str, &str)]) -> String {
    land_approved_with(r, s, n, |r| {
        for (path, content) in files {
            r.write(path, content);
        }
    })
}

/// [`land_approved`] of whatever `change` does to the working tree (a rename, a mode).
pub fn land_approved_with(
    r: &Repo,
    s: &github::StandIn,
    n: u64,
    change: impl FnOnce(&Repo),
) -> String {
    land_approved_by(r, s, n, "rita", change)
}

/// [`land_approved_with`], approved by `reviewer` (a writer) instead of Rita.
pub fn land_approved_by(
    r: &Repo,
    s: &github::StandIn,
    n: u64,
    reviewer: &str,
    change: impl FnOnce(&Repo),
) -> String {
    let base = r.git(&["rev-parse", "HEAD"]);
    let branch = format!("pr-{n}");
    r.git(&["checkout", "-q", "-b", &branch]);
    change(r);
    let head = r.commit_as("Ana Author <ana@example.org>", &format!("change #{n}"));
    r.git(&["push", "-q", "origin", &format!("HEAD:refs/pull/{n}/head")]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "-c",
        "user.name=Mia Merger",
        "-c",
        "user.email=mia@example.org",
        "merge",
        "-q",
        "--no-ff",
        &branch,
        "-m",
        &format!("Merge pull request #{n}"),
    ]);
    r.push();
    let merge = r.git(&["rev-parse", "HEAD"]);
    s.reviews(
        n,
        &[github::Review {
            id: n * 10,
            login: reviewer,
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(n, &[(&head, "ana")]);
    s.permission(reviewer, "write");
    s.commit_pulls(
        &merge,
        Some(s.pull_json(n, "ana", &head, &base, Some(&merge))),
    );
    merge
}

/// `promptrail record` against the stand-in with the test key; asserts success.
pub fn record_with(r: &Repo, s: &github::StandIn) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd)
        .args(["record", "--key", keys().private.to_str().unwrap()]);
    let out = cmd.output().unwrap();
    assert_ok(&out);
    out
}
