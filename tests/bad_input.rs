//! Bad input gets a clear error (exit 2) that names the thing at fault, and nothing is
//! written to the audit branch.

mod common;

use common::*;

fn record(r: &Repo) -> std::process::Output {
    r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ])
}

/// Asserts exit 2, that stderr contains every needle, and that no audit branch appeared.
fn refused(r: &Repo, out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {err}\nstdout: {}",
        stdout(out)
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert_eq!(r.local_audit_tip(), None, "nothing may be written");
    assert_eq!(r.remote_audit_tip(), None, "nothing may be pushed");
}

fn one_prompt() -> Repo {
    let r = Repo::new();
    r.write("prompts/a.md", "hello\n");
    r.commit("a");
    r.push();
    r
}

#[test]
fn not_a_git_repository() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
        .args(["-C", dir.path().to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not inside a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repository_without_commits() {
    let r = Repo::new();
    refused(&r, &record(&r), &["no commits yet"]);
}

#[test]
fn config_syntax_error_names_line_and_column() {
    let r = one_prompt();
    r.write(".promptrail.yml", "prompts:\n  include: [\"prompts/**\"\n");
    let out = record(&r);
    refused(&r, &out, &[".promptrail.yml:"]);
    assert!(
        stderr(&out).contains(":3:") || stderr(&out).contains(":2:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_config_key_names_line_and_column() {
    let r = one_prompt();
    r.write(".promptrail.yml", "version: 1\naudit:\n  brnach: x\n");
    refused(
        &r,
        &record(&r),
        &[".promptrail.yml:3:3:", "unknown field `brnach`"],
    );
}

#[test]
fn glob_that_matches_nothing_is_a_warning() {
    let r = one_prompt();
    r.write(
        ".promptrail.yml",
        "prompts:\n  include: [\"prompts/**\", \"agents/*.md\"]\n",
    );
    r.commit("config");
    let out = r.run(&["status"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("warning: prompts.include pattern `agents/*.md` matches no file"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn symlink_pointing_outside_the_repository_is_refused() {
    let r = one_prompt();
    std::os::unix::fs::symlink("../../etc/passwd", r.work.join("prompts/evil.md")).unwrap();
    r.commit("evil link");
    r.push();
    refused(
        &r,
        &record(&r),
        &["prompts/evil.md", "points outside the repository"],
    );
}

#[test]
fn binary_prompt_is_refused_with_its_path() {
    let r = one_prompt();
    r.write_bytes("prompts/image.md", b"\x89PNG\r\n\x1a\n\0\0\0");
    r.commit("binary");
    r.push();
    refused(&r, &record(&r), &["prompts/image.md", "binary"]);
}

#[test]
fn oversize_prompt_is_refused_with_its_path() {
    let r = Repo::new();
    r.write(".promptrail.yml", "prompts:\n  max_bytes: 10\n");
    r.write("prompts/long.md", "this is longer than ten bytes\n");
    r.commit("long");
    r.push();
    refused(
        &r,
        &record(&r),
        &["prompts/long.md", "over the limit of 10 bytes"],
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_file_name_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let r = one_prompt();
    let name = std::ffi::OsStr::from_bytes(b"prompts/caf\xe9.md");
    std::fs::write(r.work.join(name), "x\n").unwrap();
    r.commit("latin-1 name");
    r.push();
    refused(
        &r,
        &record(&r),
        &["prompts/caf\u{fffd}.md", "not valid UTF-8"],
    );
}

#[test]
fn wrong_key_password() {
    let r = one_prompt();
    let out = r
        .cmd()
        .args([
            "record",
            "--offline",
            "--key",
            keys().private.to_str().unwrap(),
        ])
        .env("PROMPTRAIL_KEY_PASSWORD", "not the password")
        .output()
        .unwrap();
    refused(&r, &out, &["wrong password", "PROMPTRAIL_KEY_PASSWORD"]);
    assert!(
        !stderr(&out).contains("not the password"),
        "the password must not be echoed"
    );
}

#[test]
fn corrupt_key_file() {
    let r = one_prompt();
    let bad = r.dir.path().join("bad.key");
    std::fs::write(&bad, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm9wZQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n").unwrap();
    let out = r.run(&["record", "--offline", "--key", bad.to_str().unwrap()]);
    refused(&r, &out, &["bad.key", "could not be decoded"]);
    std::fs::write(&bad, "hello").unwrap();
    let out = r.run(&["record", "--offline", "--key", bad.to_str().unwrap()]);
    refused(&r, &out, &["not a promptrail/cosign private key"]);
}

#[test]
fn missing_signing_key() {
    let r = one_prompt();
    refused(
        &r,
        &r.run(&["record", "--offline"]),
        &["no signing key", "PROMPTRAIL_SIGNING_KEY"],
    );
}

#[test]
fn missing_signing_key_message_reads_as_one_sentence() {
    let r = one_prompt();
    let out = r.run(&["record", "--offline"]);
    refused(
        &r,
        &out,
        &[
            "no signing key: pass --key PATH, set PROMPTRAIL_SIGNING_KEY to the private key's \
             PEM text, or set `signing.key` in .promptrail.yml (create one with `promptrail keygen`)",
        ],
    );
    assert!(
        !stderr(&out).contains("  "),
        "no run of spaces in the message: {}",
        stderr(&out)
    );
}

#[test]
fn public_key_that_matches_no_entry() {
    let r = recorded_repo();
    let out = r.run(&["verify", "--key", other_keys().public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("none of the given public keys signed any entry"),
        "{}",
        stderr(&out)
    );
    assert_stdout_has(&out, &["PT004 untrusted-key"]);
}

#[test]
fn corrupt_public_key() {
    let r = recorded_repo();
    let bad = r.dir.path().join("bad.pub");
    std::fs::write(&bad, "not a key").unwrap();
    let out = r.run(&["verify", "--key", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.pub: not a PEM public key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_without_any_key_is_a_usage_error() {
    let r = recorded_repo();
    let out = r.run(&["verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to verify with: pass --key PUB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn audit_branch_missing() {
    let r = one_prompt();
    for args in [
        vec!["verify", "--key", keys().public.to_str().unwrap()],
        vec!["log"],
        vec!["show", "prompts/a.md@v1"],
    ] {
        let out = r.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("audit branch `promptrail/audit` not found"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn audit_branch_that_is_not_ours() {
    let r = one_prompt();
    // Someone else's branch happens to have the configured name.
    r.git(&["branch", "promptrail/audit"]);
    r.git(&["push", "-q", "origin", "promptrail/audit"]);
    let before = (r.local_audit_tip(), r.remote_audit_tip());
    let out = record(&r);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a promptrail audit branch"),
        "{}",
        stderr(&out)
    );
    assert_eq!((r.local_audit_tip(), r.remote_audit_tip()), before);
    let out = r.run(&["log"]);
    assert!(
        stderr(&out).contains("not a promptrail audit branch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_without_permission_says_which_permission() {
    let r = one_prompt();
    let hook = r.remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'remote: Permission to acme/intake.git denied to github-actions[bot].' >&2\nexit 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    refused(&r, &record(&r), &["could not push", "contents: write"]);
}

#[test]
fn shallow_clone_is_refused_with_the_fix() {
    let r = Repo::new();
    r.write("prompts/a.md", "1\n");
    r.commit("1");
    r.write("prompts/a.md", "2\n");
    r.commit("2");
    r.push();
    let shallow = r.dir.path().join("shallow");
    git_in(
        r.dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", r.remote.display()),
            shallow.to_str().unwrap(),
        ],
    );
    let out = r
        .cmd()
        .current_dir(&shallow)
        .args([
            "record",
            "--offline",
            "--key",
            keys().private.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("fetch-depth: 0"), "{}", stderr(&out));
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let r = Repo::new();
    assert_ok(&r.run(&["init"]));
    let text = std::fs::read_to_string(r.work.join(".promptrail.yml")).unwrap();
    assert!(text.contains("# promptrail configuration"));
    let out = r.run(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists; pass --force"));
    assert_ok(&r.run(&["init", "--force"]));
}

#[test]
fn keygen_refuses_to_overwrite_and_protects_the_private_key() {
    let dir = tempfile::TempDir::new().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
            .args(["keygen", "--out", dir.path().to_str().unwrap()])
            .args(extra)
            .env("PROMPTRAIL_KEY_PASSWORD", "pw")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_ok(&out);
    let id_line = stdout(&out);
    let key_id = id_line
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key_id.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("promptrail.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "private key must not be readable by others"
        );
    }
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_ok(&run(&["--force"]));
}

#[test]
fn keygen_without_password_and_terminal_fails_clearly() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
        .args(["keygen", "--out", dir.path().to_str().unwrap()])
        .env_remove("PROMPTRAIL_KEY_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set PROMPTRAIL_KEY_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("promptrail.key").exists());
}

#[test]
fn keyless_settings_that_cannot_work_are_refused_with_their_place() {
    let r = one_prompt();
    // A pattern that is not a regular expression: named with its line and column.
    r.write(
        ".promptrail.yml",
        "signing:\n  mode: keyless\n  identity_regexps: ['(unclosed']\n",
    );
    refused(
        &r,
        &record(&r),
        &[
            ".promptrail.yml:3:",
            "certificate identity pattern `(unclosed`",
        ],
    );
    // Keyless without any identity to trust: say which setting is missing.
    r.write(".promptrail.yml", "signing:\n  mode: keyless\n");
    refused(
        &r,
        &r.run(&["record", "--offline"]),
        &["signing.identities"],
    );
    // The same pattern given as a flag.
    let out = r.run(&["verify", "--certificate-identity-regexp", "(unclosed"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("certificate identity pattern `(unclosed`"),
        "{}",
        stderr(&out)
    );
}
