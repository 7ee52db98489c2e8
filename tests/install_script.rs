//! The Action's installer (`scripts/install.sh`) end to end against a stand-in release server
//! on 127.0.0.1: GitHub's release download URL answers with a redirect to the asset's storage,
//! as github.com does. The script runs with a PATH of just the tools it needs plus stand-ins
//! for `gh` (the attestation check, which exits as the test says and records what it was
//! asked) and `cargo` (the source build, which records its arguments and writes a fake
//! binary instead of compiling), so every path is taken for real: a good release, a wrong
//! checksum, a missing asset (source build), a failing attestation, no `gh` at all.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const VERSION: &str = "0.1.0";
const REPO: &str = "acme/promptrail";
const RELEASES: &str = "/acme/promptrail/releases/download";

/// The release target the script picks on this machine (as the release workflow names it).
fn target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        other => panic!("no release target for {other:?}"),
    }
}

fn asset() -> String {
    format!("promptrail-{}.tar.gz", target())
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn fake_binary(version: &str) -> String {
    format!("#!/bin/sh\necho \"promptrail {version}\"\n")
}

struct Setup {
    dir: TempDir,
    server: MockServer,
    /// The release archive as the release workflow lays it out, and its SHA-256.
    archive: Vec<u8>,
    digest: String,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tools", "stubs", "log", "pack"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        // Only what the script (and the stand-ins) may use: a missing tool shows up as a
        // failure here rather than on a runner.
        for tool in [
            "bash",
            "curl",
            "tar",
            "gzip",
            "sha256sum",
            "awk",
            "mkdir",
            "rm",
            "install",
            "uname",
            "chmod",
        ] {
            let found = which(tool).unwrap_or_else(|| panic!("{tool} is not installed"));
            std::os::unix::fs::symlink(found, dir.path().join("tools").join(tool)).unwrap();
        }
        // The archive: promptrail-<target>/promptrail, with the documents beside it.
        let top = dir
            .path()
            .join("pack")
            .join(format!("promptrail-{}", target()));
        std::fs::create_dir(&top).unwrap();
        write_script(&top.join("promptrail"), &fake_binary(VERSION));
        std::fs::write(top.join("README.md"), "readme").unwrap();
        let tarball = dir.path().join("archive.tar.gz");
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(dir.path().join("pack"))
            .arg(format!("promptrail-{}", target()))
            .status()
            .unwrap();
        assert!(status.success());
        let archive = std::fs::read(&tarball).unwrap();
        let digest = hex(&Sha256::digest(&archive));
        let setup = Setup {
            dir,
            server: MockServer::start().await,
            archive,
            digest,
        };
        setup.gh(0);
        setup
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Serves the archive (through a redirect, as github.com does) and this .sha256 text.
    async fn serve(&self, sha256_file: &str) {
        let asset = asset();
        let stored = format!("/objects/{asset}");
        Mock::given(method("GET"))
            .and(path(format!("{RELEASES}/v{VERSION}/{asset}")))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}{stored}", self.server.uri())),
            )
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(stored))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(self.archive.clone()))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{RELEASES}/v{VERSION}/{asset}.sha256")))
            .respond_with(ResponseTemplate::new(200).set_body_string(sha256_file.to_string()))
            .mount(&self.server)
            .await;
    }

    /// A stand-in `gh` that records its arguments and the digest of the file it was given.
    fn gh(&self, exit: i32) {
        let log = self.path("log");
        write_script(
            &self.path("stubs/gh"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >{log}/gh.args\nsha256sum \"$3\" >{log}/gh.sha256\n\
                 [ {exit} -eq 0 ] || echo 'Error: no attestations found' >&2\nexit {exit}\n",
                log = log.display()
            ),
        );
    }

    fn no_gh(&self) {
        std::fs::remove_file(self.path("stubs/gh")).unwrap();
    }

    /// A stand-in `cargo` whose `install --root DIR` writes a fake promptrail into DIR/bin.
    fn cargo(&self) {
        let log = self.path("log");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >{log}/cargo.args\nroot=\"\"; prev=\"\"\n\
             for a in \"$@\"; do [ \"$prev\" = --root ] && root=\"$a\"; prev=\"$a\"; done\n\
             mkdir -p \"$root/bin\"\nprintf '%s' '{binary}' >\"$root/bin/promptrail\"\n\
             chmod +x \"$root/bin/promptrail\"\n",
            log = log.display(),
            binary = fake_binary(VERSION),
        );
        write_script(&self.path("stubs/cargo"), &script);
    }

    fn run(&self, extra: &[(&str, &str)]) -> Run {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh");
        let path = format!(
            "{}:{}",
            self.path("stubs").display(),
            self.path("tools").display()
        );
        let output_file = self.path("github_output");
        let mut command = Command::new(self.path("tools/bash"));
        command
            .arg(script)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("PROMPTRAIL_VERSION", VERSION)
            .env("PROMPTRAIL_REPOSITORY", REPO)
            .env(
                "PROMPTRAIL_DOWNLOAD_BASE",
                format!("{}{RELEASES}", self.server.uri()),
            )
            .env("PROMPTRAIL_INSTALL_DIR", self.path("install"))
            .env("GITHUB_OUTPUT", &output_file);
        for (k, v) in extra {
            command.env(k, v);
        }
        let output = command.output().unwrap();
        Run {
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            output,
            github_output: std::fs::read_to_string(&output_file).unwrap_or_default(),
            gh_args: std::fs::read_to_string(self.path("log/gh.args")).ok(),
            gh_sha256: std::fs::read_to_string(self.path("log/gh.sha256")).ok(),
            cargo_args: std::fs::read_to_string(self.path("log/cargo.args")).ok(),
            installed: self.path(&format!("install/v{VERSION}/bin/promptrail")),
        }
    }
}

struct Run {
    output: Output,
    text: String,
    github_output: String,
    gh_args: Option<String>,
    gh_sha256: Option<String>,
    cargo_args: Option<String>,
    installed: PathBuf,
}

impl Run {
    fn assert_refused(&self, why: &str) {
        assert_eq!(self.output.status.code(), Some(2), "{}", self.text);
        assert!(
            self.text.contains("::error title=promptrail::"),
            "{}",
            self.text
        );
        assert!(
            self.text.contains(why),
            "expected {why:?} in:\n{}",
            self.text
        );
        assert_eq!(self.github_output, "", "no binary is handed on");
        assert!(!self.installed.exists(), "nothing is installed");
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn good_release_is_verified_then_installed() {
    let setup = Setup::new().await;
    setup
        .serve(&format!("{}  {}\n", setup.digest, asset()))
        .await;
    let run = setup.run(&[]);
    assert!(run.output.status.success(), "{}", run.text);
    assert_eq!(
        run.github_output,
        format!("bin={}\n", run.installed.display())
    );
    let version = Command::new(&run.installed)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        "promptrail 0.1.0\n"
    );
    // gh was asked about the downloaded archive, for this repository's release workflow.
    let archive = setup.path(&format!("install/v{VERSION}/download/{}", asset()));
    assert_eq!(
        run.gh_args.as_deref(),
        Some(
            format!(
                "attestation\nverify\n{}\n--repo\n{REPO}\n--signer-workflow\n{REPO}/.github/workflows/release.yml\n",
                archive.display()
            )
            .as_str()
        )
    );
    assert!(run.gh_sha256.unwrap().starts_with(&setup.digest));
    assert!(run.cargo_args.is_none(), "no source build");
    assert!(
        run.text.contains("checksum and attestation verified"),
        "{}",
        run.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_checksum_is_refused_before_anything_runs() {
    let setup = Setup::new().await;
    let wrong = "0".repeat(64);
    setup.serve(&format!("{wrong}  {}\n", asset())).await;
    let run = setup.run(&[]);
    run.assert_refused("checksum mismatch");
    assert!(run.text.contains(&setup.digest), "names the digest found");
    assert!(run.gh_args.is_none() && run.cargo_args.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checksum_file_without_a_digest_is_refused() {
    let setup = Setup::new().await;
    setup.serve("$(touch /tmp/pwned) promptrail\n").await;
    setup.run(&[]).assert_refused("holds no SHA-256 digest");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_attestation_check_is_refused() {
    let setup = Setup::new().await;
    setup
        .serve(&format!("{}  {}\n", setup.digest, asset()))
        .await;
    setup.gh(1);
    let run = setup.run(&[]);
    run.assert_refused(
        "has no valid provenance attestation from acme/promptrail/.github/workflows/release.yml",
    );
    assert!(run.gh_args.is_some(), "gh was asked");
    assert!(
        run.cargo_args.is_none(),
        "a refused release is not replaced by a source build"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_gh_the_release_is_refused_with_what_to_do() {
    let setup = Setup::new().await;
    setup
        .serve(&format!("{}  {}\n", setup.digest, asset()))
        .await;
    setup.no_gh();
    let run = setup.run(&[]);
    run.assert_refused("GitHub CLI (gh) is needed");
    assert!(
        run.text.contains("build-from-source: always"),
        "{}",
        run.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_asset_builds_from_the_tag() {
    let setup = Setup::new().await; // serves nothing: every asset is a 404
    setup.cargo();
    let run = setup.run(&[]);
    assert!(run.output.status.success(), "{}", run.text);
    let root = setup.path(&format!("install/v{VERSION}"));
    assert_eq!(
        run.cargo_args.as_deref(),
        Some(
            format!(
                "install\n--locked\n--git\nhttps://github.com/{REPO}\n--tag\nv{VERSION}\n--root\n{}\npromptrail\n",
                root.display()
            )
            .as_str()
        )
    );
    assert_eq!(
        run.github_output,
        format!("bin={}\n", run.installed.display())
    );
    assert!(run.gh_args.is_none());
    assert!(
        run.text.contains("built from the v0.1.0 tag"),
        "{}",
        run.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn build_from_source_always_and_never() {
    let setup = Setup::new().await;
    setup
        .serve(&format!("{}  {}\n", setup.digest, asset()))
        .await;
    setup.cargo();
    // always: the release is not even downloaded; no gh needed.
    setup.no_gh();
    let run = setup.run(&[("PROMPTRAIL_BUILD_FROM_SOURCE", "always")]);
    assert!(run.output.status.success(), "{}", run.text);
    assert!(run.cargo_args.is_some());
    assert!(setup.server.received_requests().await.unwrap().is_empty());

    // never: a missing asset is an error, not a build.
    let setup = Setup::new().await;
    setup.cargo();
    let run = setup.run(&[("PROMPTRAIL_BUILD_FROM_SOURCE", "never")]);
    run.assert_refused("build-from-source is never");
    assert!(run.cargo_args.is_none());

    let run = setup.run(&[("PROMPTRAIL_BUILD_FROM_SOURCE", "sometimes")]);
    run.assert_refused("must be if-no-release, always or never");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_inputs_are_refused() {
    let setup = Setup::new().await;
    setup.cargo();
    for (var, value, why) in [
        (
            "PROMPTRAIL_VERSION",
            "0.1.0; touch /tmp/x",
            "must look like 1.2.3",
        ),
        (
            "PROMPTRAIL_REPOSITORY",
            "acme/promptrail/../evil",
            "unexpected action repository",
        ),
        // The test-only download base never points off the machine.
        (
            "PROMPTRAIL_DOWNLOAD_BASE",
            "https://evil.example/releases",
            "loopback address",
        ),
        (
            "PROMPTRAIL_DOWNLOAD_BASE",
            "http://127.0.0.1.evil.example/x",
            "loopback address",
        ),
    ] {
        let run = setup.run(&[(var, value)]);
        run.assert_refused(why);
        assert!(run.cargo_args.is_none(), "{var}={value}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binary_that_reports_another_version_is_refused() {
    let setup = Setup::new().await;
    // The stand-in cargo writes a 0.1.0 binary; ask for 0.2.0.
    setup.cargo();
    let run = setup.run(&[("PROMPTRAIL_VERSION", "0.2.0")]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.text);
    assert!(
        run.text.contains("expected 'promptrail 0.2.0'"),
        "{}",
        run.text
    );
    assert_eq!(run.github_output, "");
}

/// The Action's "Run promptrail" step as action.yml has it: its script run by bash with the
/// step's `env:`, each `${{ inputs.NAME }}` replaced by `inputs` (default: empty), plus
/// `job_env`, and a stand-in binary that prints the anchor it was given.
fn run_step(inputs: &[(&str, &str)], job_env: &[(&str, &str)]) -> String {
    let action: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap(),
    )
    .unwrap();
    let step = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "run")
        .expect("the run step");
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("promptrail");
    write_script(
        &bin,
        "#!/bin/sh\nprintf 'identities=%s internal=%s\\n' \
         \"${PROMPTRAIL_TRUSTED_IDENTITIES-unset}\" \"${TRUSTED_IDENTITIES-unset}\"\n\
         printf 'anchor=%s internal=%s\\n' \"${PROMPTRAIL_TRUSTED_KEY_IDS-unset}\" \
         \"${TRUSTED_KEY_IDS-unset}\"\n",
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(step["run"].as_str().unwrap())
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for (name, value) in step["env"].as_mapping().unwrap() {
        let (name, value) = (name.as_str().unwrap(), value.as_str().unwrap());
        let value = match value.strip_prefix("${{ inputs.") {
            Some(rest) => {
                let input = rest.trim_end_matches(" }}");
                inputs
                    .iter()
                    .find(|(n, _)| *n == input)
                    .map_or("", |(_, v)| *v)
            }
            None => "",
        };
        cmd.env(name, value);
    }
    cmd.env("PROMPTRAIL_BIN", &bin)
        .env("PROMPTRAIL_COMMAND", "gate");
    for (name, value) in job_env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `trusted-key-ids` reaches promptrail as `PROMPTRAIL_TRUSTED_KEY_IDS`, verbatim (never
/// run as shell code); empty, it leaves the job's own environment as it is.
#[test]
fn the_actions_trusted_key_ids_input_becomes_the_anchor_only_when_given() {
    let id = "3f0c1c9a0a1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990011";
    let out = run_step(&[("command", "gate"), ("trusted-key-ids", id)], &[]);
    assert!(
        out.ends_with(&format!("anchor={id} internal=unset\n")),
        "{out}"
    );
    let out = run_step(&[("command", "gate")], &[]);
    assert!(out.ends_with("anchor=unset internal=unset\n"), "{out}");
    let out = run_step(
        &[("command", "gate")],
        &[("PROMPTRAIL_TRUSTED_KEY_IDS", id)],
    );
    assert!(
        out.ends_with(&format!("anchor={id} internal=unset\n")),
        "{out}"
    );
    let hostile = "$(touch pwned); `touch pwned`";
    let out = run_step(&[("command", "gate"), ("trusted-key-ids", hostile)], &[]);
    assert!(
        out.ends_with(&format!("anchor={hostile} internal=unset\n")),
        "{out}"
    );
}

/// `trusted-identities` reaches promptrail as `PROMPTRAIL_TRUSTED_IDENTITIES`, verbatim
/// (never run as shell code); empty, it leaves the job's own environment as it is.
#[test]
fn the_actions_trusted_identities_input_becomes_the_anchor_only_when_given() {
    let id =
        "https://github.com/acme/clinic/.github/workflows/promptrail-keyless.yml@refs/heads/main";
    let out = run_step(&[("command", "gate"), ("trusted-identities", id)], &[]);
    assert!(
        out.contains(&format!("identities={id} internal=unset\n")),
        "{out}"
    );
    let out = run_step(&[("command", "gate")], &[]);
    assert!(out.contains("identities=unset internal=unset\n"), "{out}");
    let hostile = "$(touch pwned); `touch pwned`";
    let out = run_step(&[("command", "gate"), ("trusted-identities", hostile)], &[]);
    assert!(
        out.contains(&format!("identities={hostile} internal=unset\n")),
        "{out}"
    );
}
