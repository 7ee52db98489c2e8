//! The acceptance story, end to end, on a scratch repository:
//!
//! a team keeps clinical prompts in git; versions land on `main` (one renamed, one written
//! with a co-author, one drafted on a branch and merged); CI records them as signed entries
//! on the `promptrail/audit` branch of a bare "GitHub" remote; months later an auditor with
//! only a clone and the public key verifies the log, reconstructs a version, and catches an
//! edit made behind the log's back.
//!
//! Run with `cargo run --example quickstart`. Everything happens in a temp directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser as _;
use promptrail::app::{Outcome, run};
use promptrail::cli::Cli;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: set before any thread starts; the example is single-threaded.
    unsafe {
        std::env::set_var("PROMPTRAIL_KEY_PASSWORD", "quickstart-demo-password");
        std::env::remove_var("PROMPTRAIL_SIGNING_KEY");
        // As inside GitHub Actions: the log's origin names the GitHub repository.
        std::env::set_var("GITHUB_SERVER_URL", "https://github.com");
        std::env::set_var("GITHUB_REPOSITORY", "acme/clinic-prompts");
    }
    let scratch = tempfile::TempDir::new()?;
    let root = scratch.path();
    let remote = root.join("acme-clinic-prompts.git");
    let work = root.join("work");
    let keys = root.join("keys");

    step("1. A repository with prompts, and a bare remote standing in for GitHub");
    git(root, &["init", "-q", "--bare", "-b", "main", path(&remote)]);
    git(root, &["clone", "-q", path(&remote), path(&work)]);
    git(&work, &["config", "user.name", "Dr. Ana Lopez"]);
    git(&work, &["config", "user.email", "ana@clinic.example"]);
    git(&work, &["checkout", "-q", "-b", "main"]);
    write(
        &work,
        "prompts/clinical/intake.md",
        "You are a clinical intake assistant.\nCollect the patient's symptoms.\n",
    );
    write(&work, "prompts/greeting.md", "Welcome to the clinic.\n");
    write(&work, "src/app.py", "print('not a prompt')\n");
    commit(
        &work,
        "Dr. Ana Lopez <ana@clinic.example>",
        "Add intake and greeting prompts",
    );
    std::fs::create_dir_all(work.join("prompts/front-desk"))?;
    git(
        &work,
        &[
            "mv",
            "prompts/greeting.md",
            "prompts/front-desk/greeting.md",
        ],
    );
    commit(
        &work,
        "Dr. Ana Lopez <ana@clinic.example>",
        "Move greeting under front-desk",
    );
    write(
        &work,
        "prompts/clinical/intake.md",
        "You are a careful clinical intake assistant.\nCollect the patient's symptoms.\nAlways ask about allergies.\n",
    );
    commit(
        &work,
        "Dr. Ana Lopez <ana@clinic.example>",
        "Intake: ask about allergies\n\nCo-authored-by: Ben Okafor <41898282+benok@users.noreply.github.com>",
    );
    // A change drafted on a branch in two commits, merged as one landed version.
    git(&work, &["checkout", "-q", "-b", "intake-escalation"]);
    write(
        &work,
        "prompts/clinical/intake.md",
        "You are a careful clinical intake assistant.\nCollect the patient's symptoms.\nAlways ask about allergies.\nDRAFT: escalate?\n",
    );
    commit(&work, "Chen Wu <chen@clinic.example>", "WIP escalation");
    write(
        &work,
        "prompts/clinical/intake.md",
        "You are a careful clinical intake assistant.\nCollect the patient's symptoms.\nAlways ask about allergies.\nEscalate chest pain to a nurse immediately.\n",
    );
    commit(
        &work,
        "Chen Wu <chen@clinic.example>",
        "Escalate chest pain",
    );
    git(&work, &["checkout", "-q", "main"]);
    git(
        &work,
        &[
            "-c",
            "user.name=Release Bot",
            "-c",
            "user.email=bot@clinic.example",
            "merge",
            "-q",
            "--no-ff",
            "intake-escalation",
            "-m",
            "Merge pull request #12 from intake-escalation",
        ],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    show_cmd(&format!(
        "git log --oneline --graph  (in {})",
        work.display()
    ));
    print!(
        "{}",
        git(
            &work,
            &["log", "--oneline", "--graph", "--format=%h %an: %s"]
        )
    );

    step("2. The team makes a signing key (CI keeps the private key as a secret)");
    promptrail(&work, &["keygen", "--out", path(&keys)])?;

    step("3. CI records every landed prompt version as a signed entry, and pushes");
    let key = keys.join("promptrail.key");
    promptrail(&work, &["record", "--offline", "--key", path(&key)])?;
    step("   Re-running the job adds nothing");
    promptrail(&work, &["record", "--offline", "--key", path(&key)])?;

    step("4. Months later: the auditor clones the repository and gets the public key");
    let auditor = root.join("auditor");
    git(root, &["clone", "-q", path(&remote), path(&auditor)]);
    git(
        &auditor,
        &["fetch", "-q", "origin", "promptrail/audit:promptrail/audit"],
    );
    let public = keys.join("promptrail.pub");
    promptrail(&auditor, &["log"])?;

    step("5. ...verifies every signature, hash link, index, digest and version number");
    promptrail(&auditor, &["verify", "--key", path(&public)])?;

    step("6. ...and reconstructs the exact edit, its authors and when it landed");
    promptrail(&auditor, &["show", "prompts/clinical/intake.md@v3"])?;

    step("7. Someone rewrites entry 2 behind the log's back: verify says exactly what broke");
    tamper_entry(&auditor, "entries/000000/000000002.json")?;
    let outcome = promptrail(
        &auditor,
        &["verify", "--key", path(&public), "--branch", "tampered"],
    )?;
    assert_eq!(outcome, Outcome::No, "tampering must be detected");

    println!(
        "\nDone. Everything above ran in {} (deleted now).",
        root.display()
    );
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn show_cmd(cmd: &str) {
    println!("$ {cmd}");
}

/// Runs a promptrail command in-process, exactly as the binary would.
fn promptrail(dir: &Path, args: &[&str]) -> Result<Outcome, Box<dyn std::error::Error>> {
    show_cmd(&format!("promptrail {}", args.join(" ")));
    let mut argv = vec!["promptrail", "-q", "-C", path(dir)];
    argv.extend_from_slice(args);
    let outcome = run(Cli::try_parse_from(argv)?);
    if outcome == Outcome::Error {
        return Err(format!("promptrail {} failed", args.join(" ")).into());
    }
    Ok(outcome)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p: PathBuf = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit(dir: &Path, author: &str, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--author", author, "-m", message]);
}

/// Makes branch `tampered`: the audit branch with one word changed inside an entry's
/// signed payload (the signature is left as it was).
fn tamper_entry(repo: &Path, entry: &str) -> Result<(), Box<dyn std::error::Error>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let bytes = git(
        repo,
        &["cat-file", "blob", &format!("promptrail/audit:{entry}")],
    );
    let mut bundle: serde_json::Value = serde_json::from_str(&bytes)?;
    let payload = STANDARD.decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap_or(""))?;
    let forged = String::from_utf8(payload)?.replace("Dr. Ana Lopez", "Dr. Eve Mallory");
    bundle["dsseEnvelope"]["payload"] = STANDARD.encode(forged).into();
    let edited = root_of(repo).join("forged.json");
    std::fs::write(&edited, serde_json::to_vec_pretty(&bundle)?)?;
    git(
        repo,
        &["branch", "-q", "-f", "tampered", "promptrail/audit"],
    );
    git(
        repo,
        &["worktree", "add", "-q", "../tampered-wt", "tampered"],
    );
    let wt = root_of(repo).join("tampered-wt");
    std::fs::copy(&edited, wt.join(entry))?;
    git(
        &wt,
        &[
            "-c",
            "user.name=Eve",
            "-c",
            "user.email=eve@example.org",
            "commit",
            "-q",
            "-am",
            "fix typo",
        ],
    );
    println!("(entry 2's author name was changed from \"Dr. Ana Lopez\" to \"Dr. Eve Mallory\")");
    Ok(())
}

fn root_of(repo: &Path) -> PathBuf {
    repo.parent().expect("inside the scratch dir").to_owned()
}
