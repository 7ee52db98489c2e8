//! The acceptance story, end to end, on a scratch repository with a loopback stand-in for
//! GitHub (answering with GitHub's documented JSON shapes):
//!
//! a clinical intake prompt's version 12 is drafted in a pull request, approved by a
//! reviewer, merged, recorded and deployed to production the same afternoon; an unapproved
//! change is blocked by the gate; compliance asks who edited it, who approved it, when, and
//! what was live; the team rolls back to the prior approved version; the log verifies; and an
//! entry edited behind the log's back is caught; and from the runtime side, a digest from a
//! trace leads back to v12's record, a trace export is checked span by span, and the prompt
//! files served are compared with what the trail says is live.
//!
//! Run with `cargo run --example quickstart`. Everything happens in a temp directory and on
//! 127.0.0.1. With `-- --keyless`, entries are signed keylessly instead: the job's OIDC
//! identity gets a Fulcio certificate and each entry is logged in Rekor, all three played by
//! loopback stand-ins (`tests/common/sigstore.rs`).
//!
//! With `-- --keep DIR` (CI uses it with `--keyless`), what the auditor of step 8 has is
//! copied into DIR before the scratch directory is deleted: `DIR/auditor`, a clone with the
//! `promptrail/audit` branch (and step 9's `tampered` one), and the trust material to check
//! it with: `DIR/promptrail.pub` in key mode; in keyless mode `DIR/trusted_root.json` (the
//! stand-ins') and `DIR/public-good-trusted_root.json` (Sigstore's, which promptrail trusts by
//! default and which must reject the stand-ins' entries).

#[path = "../tests/common/sigstore.rs"]
mod sigstore;
#[path = "../tests/common/github.rs"]
mod standin;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser as _;
use promptrail::app::{Outcome, run};
use promptrail::cli::Cli;
use promptrail::types::Sha256Hex;
use standin::{Review, StandIn};

const INTAKE: &str = "prompts/clinical/intake.md";
const AUTHORS: [&str; 2] = [
    "Dr. Ana Lopez <41898282+analopez@users.noreply.github.com>",
    "Chen Wu <7531+chenwu@users.noreply.github.com>",
];
const LOGINS: [&str; 2] = ["analopez", "chenwu"];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The workflow that signs in keyless mode.
const WORKFLOW: &str = "acme/clinic/.github/workflows/promptrail.yml@refs/heads/main";

fn main() -> Res<()> {
    let keyless = std::env::args().any(|a| a == "--keyless");
    let keep = match std::env::args().skip_while(|a| a != "--keep").nth(1) {
        Some(dir) => Some(std::path::absolute(dir)?),
        None if std::env::args().any(|a| a == "--keep") => return Err("--keep needs a DIR".into()),
        None => None,
    };
    // The stand-ins' addresses must be known before any thread starts (to set the variables).
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let api = format!("http://{}", listener.local_addr()?);
    let scratch = tempfile::TempDir::new()?;
    let root = scratch.path();
    let trusted_root = root.join("trusted_root.json");
    let sigstore_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let sigstore_url = format!("http://{}", sigstore_listener.local_addr()?);
    if keyless {
        let token_url = format!("{sigstore_url}/_apis/actions/idtoken?api-version=2.0");
        // SAFETY: no other thread exists yet. These are what a GitHub Actions job with
        // `id-token: write` has, pointed at the stand-ins.
        unsafe {
            for (k, v) in [
                ("GITHUB_ACTIONS", "true"),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", token_url.as_str()),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", sigstore::REQUEST_TOKEN),
                ("PROMPTRAIL_FULCIO_URL", sigstore_url.as_str()),
                ("PROMPTRAIL_REKOR_URL", sigstore_url.as_str()),
                ("PROMPTRAIL_TRUSTED_ROOT", path(&trusted_root)),
            ] {
                std::env::set_var(k, v);
            }
        }
    }
    // SAFETY: no other thread exists yet; promptrail reads these as GitHub Actions sets them.
    unsafe {
        for (k, v) in [
            ("PROMPTRAIL_KEY_PASSWORD", "quickstart-demo-password"),
            ("GITHUB_API_URL", api.as_str()),
            ("GITHUB_TOKEN", standin::TOKEN),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/clinic"),
            ("GITHUB_ACTOR", "release-manager"),
            ("GITHUB_RUN_ID", "7001"),
            ("GITHUB_WORKFLOW", "deploy-prompts"),
            ("PROMPTRAIL_GITHUB_BACKOFF_MS", "10"),
            ("PROMPTRAIL_GITHUB_SECONDARY_WAIT_SECS", "1"),
        ] {
            std::env::set_var(k, v);
        }
        std::env::remove_var("PROMPTRAIL_SIGNING_KEY");
        if !keyless {
            std::env::remove_var("GITHUB_ACTIONS");
        }
        std::env::remove_var("GITHUB_EVENT_PATH");
    }
    let gh = StandIn::start_on(listener);
    gh.permission("rita", "write");
    gh.deployments();
    // Keyless entries also go to GitHub's attestation store (`gh attestation verify`).
    gh.attestations();
    let _sigstore = if keyless {
        let s = sigstore::SigstoreStandIn::start_on(sigstore_listener);
        s.set_workflow_identity(WORKFLOW);
        std::fs::write(&trusted_root, s.trusted_root_json())?;
        Some(s)
    } else {
        None
    };
    let identity = sigstore::identity_for(WORKFLOW);

    let remote = root.join("clinic.git");
    let work = root.join("work");
    let keys = root.join("keys");

    step("1. The team's repository, a bare remote for github.com/acme/clinic, and a signing key");
    git(root, &["init", "-q", "--bare", "-b", "main", path(&remote)]);
    git(root, &["clone", "-q", path(&remote), path(&work)]);
    git(&work, &["config", "user.name", "Dr. Ana Lopez"]);
    git(
        &work,
        &[
            "config",
            "user.email",
            "41898282+analopez@users.noreply.github.com",
        ],
    );
    git(&work, &["checkout", "-q", "-b", "main"]);
    promptrail(&work, &["keygen", "--out", path(&keys)])?;
    std::fs::create_dir_all(work.join("keys"))?;
    std::fs::copy(
        keys.join("promptrail.pub"),
        work.join("keys/promptrail.pub"),
    )?;
    // The key file lives in the repository: .promptrail.yml pins it by its id.
    let key_id = promptrail::signing::TrustedKey::load(&keys.join("promptrail.pub"))?.key_id;
    let pinned = CONFIG.replace(
        "public_keys: [keys/promptrail.pub]",
        &format!("public_keys:\n    - {{ path: keys/promptrail.pub, key_id: {key_id} }}"),
    );
    let config = if keyless {
        pinned.replace(
            "signing:\n",
            &format!(
                "signing:\n  mode: keyless\n  identities: [\"{identity}\"]\n  github_attestations: true\n"
            ),
        )
    } else {
        pinned
    };
    write(&work, ".promptrail.yml", &config);
    commit(&work, AUTHORS[0], "Set up promptrail");
    git(&work, &["push", "-q", "origin", "main"]);
    // Pushed directly: the first record adopts it (the adoption baseline).
    gh.commit_pulls(&head(&work), None);

    step("2. Versions 1 to 11 of the intake prompt land through reviewed pull requests");
    for n in 1..=11u64 {
        let who = (n % 2) as usize;
        let co = if n == 7 {
            "\n\nCo-authored-by: Ben Okafor <ben@clinic.example>"
        } else {
            ""
        };
        let mut files = vec![(INTAKE, intake(n))];
        if n == 1 {
            files.push(("prompts/greeting.md", "Welcome to the clinic.\n".to_owned()));
        }
        let (pr_head, merge) = pull_request(
            &work,
            n,
            AUTHORS[who],
            &files,
            &format!("Intake revision {n}{co}"),
        )?;
        land(&gh, n, LOGINS[who], &pr_head, &merge, true);
    }
    show_cmd("git log --oneline --first-parent | head -3");
    for line in git(
        &work,
        &["log", "--oneline", "--first-parent", "--format=%h %an: %s"],
    )
    .lines()
    .take(3)
    {
        println!("{line}");
    }
    let key = keys.join("promptrail.key");
    // Key mode signs with the key; keyless mode (from the config) needs no argument.
    let sign: Vec<&str> = if keyless {
        vec![]
    } else {
        vec!["--key", path(&key)]
    };
    promptrail_v(&work, &with(&["record"], &sign))?;
    promptrail_v(&work, &with(&["deploy", "--env", "production"], &sign))?;

    step("3. Version 12 is drafted in pull request #12; the check fails until a reviewer approves");
    git(&work, &["checkout", "-q", "-b", "intake-v12"]);
    write(&work, INTAKE, &intake(12));
    commit(
        &work,
        AUTHORS[1],
        "Intake: escalate chest pain to a nurse immediately",
    );
    let h12 = head(&work);
    git(&work, &["push", "-q", "origin", "HEAD:refs/pull/12/head"]);
    git(&work, &["checkout", "-q", "main"]);
    let base = head(&work);
    gh.pull(12, "chenwu", &h12, &base, None);
    gh.files(12, &[(INTAKE, "modified")]);
    gh.commits(12, &[(&h12, "chenwu")]);
    gh.reviews(
        12,
        &[Review {
            id: 1200,
            login: "chenwu",
            state: "COMMENTED",
            commit: &h12,
        }],
        1,
    );
    promptrail(&work, &["check", "--pr", "12"])?;
    println!("(Dr. Rita Patel, a clinical reviewer, approves the pull request on GitHub)");
    gh.reset_reviews(
        12,
        &[Review {
            id: 1201,
            login: "rita",
            state: "APPROVED",
            commit: &h12,
        }],
    );
    promptrail(&work, &["check", "--pr", "12"])?;

    step("4. Merged, recorded with its approval, and deployed to production the same afternoon");
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
            "intake-v12",
            "-m",
            "Merge pull request #12 from acme/intake-v12",
        ],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let m12 = head(&work);
    gh.commit_pulls(
        &m12,
        Some(gh.pull_json(12, "chenwu", &h12, &base, Some(&m12))),
    );
    promptrail_v(&work, &with(&["record"], &sign))?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before_v12 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    promptrail(&work, &["gate", "--env", "production"])?;
    promptrail_v(&work, &with(&["deploy", "--env", "production"], &sign))?;
    // A moment at which v12 is live in production (until step 7's rollback).
    let v12_live = chrono::Utc::now();
    // The log keeps whole seconds: let the rollback's second come after this moment.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    step("5. Someone edits the prompt without review: the gate blocks it from production");
    write(&work, INTAKE, UNREVIEWED);
    let blocked = promptrail(&work, &["gate", "--env", "production"])?;
    assert_eq!(blocked, Outcome::No, "an unreviewed edit must be blocked");
    git(&work, &["checkout", "--", INTAKE]);
    println!("(they push a policy change straight to main instead: production needs no approvals)");
    write(
        &work,
        ".promptrail.yml",
        &config.replace(
            "    production:\n      approvals: 1\n",
            "    production:\n      approvals: 0\n",
        ),
    );
    commit(&work, AUTHORS[1], "Relax the production rule");
    git(&work, &["push", "-q", "origin", "main"]);
    gh.commit_pulls(&head(&work), None);
    promptrail_v(&work, &with(&["record"], &sign))?;
    promptrail(&work, &["log", "--prompt", ".promptrail.yml"])?;
    println!("(recorded, but it takes no effect: the gate judges by the last approved policy)");
    let blocked = promptrail(&work, &["gate", "--env", "production"])?;
    assert_eq!(
        blocked,
        Outcome::No,
        "an unapproved policy must not take effect"
    );
    println!("(the team reverts it through a reviewed pull request)");
    let (pr_head, merge) = pull_request(
        &work,
        13,
        AUTHORS[0],
        &[(".promptrail.yml", config.clone())],
        "Restore the production rule",
    )?;
    land(&gh, 13, LOGINS[0], &pr_head, &merge, true);
    promptrail_v(&work, &with(&["record"], &sign))?;

    step("6. Compliance: who edited version 12, who approved it, when, and what was live");
    promptrail(&work, &["show", &format!("{INTAKE}@v12")])?;
    promptrail(
        &work,
        &["active", "--env", "production", "--at", &before_v12],
    )?;
    promptrail(&work, &["active", "--env", "production"])?;

    step("7. The team rolls back production to the prior approved version");
    promptrail_v(
        &work,
        &with(
            &["rollback", "--env", "production", "--prompt", INTAKE],
            &sign,
        ),
    )?;
    promptrail(&work, &["active", "--env", "production"])?;

    step("8. An auditor with a clone and the public key verifies the whole trail offline");
    let auditor = root.join("auditor");
    git(root, &["clone", "-q", path(&remote), path(&auditor)]);
    git(
        &auditor,
        &["fetch", "-q", "origin", "promptrail/audit:promptrail/audit"],
    );
    let public = keys.join("promptrail.pub");
    // What the auditor trusts: the public key, or (keyless) the workflow identity.
    let trust: Vec<&str> = if keyless {
        vec!["--certificate-identity", &identity]
    } else {
        vec!["--key", path(&public)]
    };
    promptrail(&auditor, &["log", "--prompt", INTAKE])?;
    let ok = promptrail_v(&auditor, &with(&["verify"], &trust))?;
    assert_eq!(ok, Outcome::Ok, "the trail must verify");
    println!("(the auditor keeps today's checkpoint, to prove later that the log only grew)");
    let saved = root.join("audit.checkpoint");
    promptrail(&auditor, &["checkpoint"])?;
    std::fs::write(
        &saved,
        git(&auditor, &["show", "promptrail/audit:checkpoint"]),
    )?;
    promptrail_v(
        &auditor,
        &with(&["verify", "--checkpoint", path(&saved)], &trust),
    )?;
    let proof = root.join("intake-v12.proof.json");
    promptrail(
        &auditor,
        &["prove", &format!("{INTAKE}@v12"), "--out", path(&proof)],
    )?;
    let ok = promptrail_v(root, &with(&["verify-entry", path(&proof)], &trust))?;
    assert_eq!(ok, Outcome::Ok, "the proof must check offline");
    let report = root.join("audit.html");
    promptrail_v(
        &auditor,
        &with(
            &["export", "--format", "html", "--out", path(&report)],
            &trust,
        ),
    )?;

    step("9. Someone rewrites entry 2 behind the log's back: verify says exactly what broke");
    tamper_entry(&auditor, "entries/000000/000000002.json")?;
    let outcome = promptrail_v(&auditor, &with(&["verify", "--branch", "tampered"], &trust))?;
    assert_eq!(outcome, Outcome::No, "tampering must be detected");

    step("10. On-call: which prompt version produced this answer? From a digest in a trace");
    let v12 = Sha256Hex::of(intake(12).as_bytes());
    let v12_at = v12_live.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let found = promptrail(&auditor, &["which", v12.short()])?;
    assert_eq!(found, Outcome::Ok, "v12's digest is a recorded version");
    let live = promptrail(
        &auditor,
        &[
            "which",
            v12.as_str(),
            "--env",
            "production",
            "--at",
            &v12_at,
        ],
    )?;
    assert_eq!(live, Outcome::Ok, "v12 was live and approved in production");
    println!(
        "(the application's trace export: one call on v12, one on the unreviewed edit of step 5)"
    );
    let spans = [
        ("chat intake", v12.clone(), v12_live),
        (
            "chat intake (hot-patched pod)",
            Sha256Hex::of(UNREVIEWED.as_bytes()),
            v12_live,
        ),
    ];
    let traces = root.join("traces.json");
    std::fs::write(&traces, otlp_export(&spans))?;
    let flagged = promptrail(&auditor, &["trace", path(&traces)])?;
    assert_eq!(
        flagged,
        Outcome::No,
        "the span on unreviewed content is flagged"
    );
    std::fs::write(&traces, otlp_export(&spans[..1]))?;
    let clean = promptrail(&auditor, &["trace", path(&traces)])?;
    assert_eq!(
        clean,
        Outcome::Ok,
        "a span on live, approved v12 is not flagged"
    );
    println!("(and the prompt files production serves now, against what the trail says is live)");
    let served = promptrail(&work, &["drift", path(&work), "--env", "production"])?;
    assert_eq!(served, Outcome::Ok, "production serves the rolled-back v11");
    let stale = promptrail(&auditor, &["drift", path(&auditor), "--env", "production"])?;
    assert_eq!(
        stale,
        Outcome::No,
        "v12 is no longer what production should serve"
    );

    if keyless {
        let uploads = gh
            .requests()
            .iter()
            .filter(|r| r.as_str() == "POST /repos/acme/clinic/attestations")
            .count();
        assert!(uploads > 0, "record and deploy upload keyless entries");
        println!(
            "\n{uploads} keyless entries (versions and deployments) are also in GitHub's attestation \
             store: `gh attestation verify {INTAKE} --repo acme/clinic --predicate-type \
             https://promptrail.dev/audit-event/v1 --signer-workflow …` finds them by the file's digest."
        );
    }

    if let Some(dir) = &keep {
        let trust = if keyless { &trusted_root } else { &public };
        keep_for_auditor(dir, &auditor, trust, keyless)?;
    }

    println!(
        "\nDone. Everything above ran in {} (deleted now).",
        root.display()
    );
    Ok(())
}

const CONFIG: &str = "# promptrail: see `promptrail init` for every option
signing:
  public_keys: [keys/promptrail.pub]
policy:
  default:
    approvals: 1
  environments:
    production:
      approvals: 1
";

fn intake(n: u64) -> String {
    let mut text = String::from(
        "You are a careful clinical intake assistant.\nCollect the patient's symptoms.\nAlways ask about allergies.\n",
    );
    if n >= 12 {
        text.push_str("Escalate chest pain to a nurse immediately.\n");
    }
    text.push_str(&format!("(revision {n})\n"));
    text
}

/// Drafts a change on a branch, pushes it as `refs/pull/N/head`, merges it with a merge
/// commit; returns (PR head, merge commit).
fn pull_request(
    work: &Path,
    n: u64,
    author: &str,
    files: &[(&str, String)],
    message: &str,
) -> Res<(String, String)> {
    git(work, &["checkout", "-q", "-b", &format!("pr-{n}")]);
    for (file, text) in files {
        write(work, file, text);
    }
    commit(work, author, message);
    let pr_head = head(work);
    git(
        work,
        &["push", "-q", "origin", &format!("HEAD:refs/pull/{n}/head")],
    );
    git(work, &["checkout", "-q", "main"]);
    git(
        work,
        &[
            "-c",
            "user.name=Release Bot",
            "-c",
            "user.email=bot@clinic.example",
            "merge",
            "-q",
            "--no-ff",
            &format!("pr-{n}"),
            "-m",
            &format!("Merge pull request #{n}"),
        ],
    );
    git(work, &["push", "-q", "origin", "main"]);
    Ok((pr_head, head(work)))
}

/// Tells the stand-in that PR `n` landed `merge`, approved by Rita when `approved`.
fn land(gh: &StandIn, n: u64, author: &str, pr_head: &str, merge: &str, approved: bool) {
    let base = "0000000000000000000000000000000000000000";
    gh.commit_pulls(
        merge,
        Some(gh.pull_json(n, author, pr_head, base, Some(merge))),
    );
    gh.commits(n, &[(pr_head, author)]);
    let state = if approved { "APPROVED" } else { "COMMENTED" };
    gh.reviews(
        n,
        &[Review {
            id: n * 100,
            login: "rita",
            state,
            commit: pr_head,
        }],
        1,
    );
}

/// The edit of step 5 that never went through review.
const UNREVIEWED: &str =
    "You are a clinical intake assistant.\nSkip the allergy questions to save time.\n";

/// A trace export in OTLP JSON (opentelemetry-proto's JSON encoding, as the collector's file
/// exporter writes it) with one LLM span per (name, prompt digest, start time).
fn otlp_export(spans: &[(&str, Sha256Hex, chrono::DateTime<chrono::Utc>)]) -> String {
    let spans: Vec<serde_json::Value> = spans
        .iter()
        .enumerate()
        .map(|(i, (name, sha, at))| {
            let nanos = at.timestamp_nanos_opt().unwrap_or_default();
            serde_json::json!({
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": format!("eee19b7ec3c1b17{i}"),
                "name": name,
                "kind": 3,
                "startTimeUnixNano": nanos.to_string(),
                "endTimeUnixNano": (nanos + 850_000_000).to_string(),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "promptrail.prompt.sha256", "value": {"stringValue": sha.as_str()}}
                ]
            })
        })
        .collect();
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "intake-api"}},
            {"key": "deployment.environment.name", "value": {"stringValue": "production"}}
        ]},
        "scopeSpans": [{"scope": {"name": "intake.llm"}, "spans": spans}]
    }]})
    .to_string()
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn show_cmd(cmd: &str) {
    println!("$ {cmd}");
}

/// Runs a promptrail command in-process, exactly as the binary would.
fn promptrail(dir: &Path, args: &[&str]) -> Res<Outcome> {
    show_cmd(&format!("promptrail {}", args.join(" ")));
    let mut argv = vec!["promptrail", "-q", "-C", path(dir)];
    argv.extend_from_slice(args);
    let outcome = run(Cli::try_parse_from(argv)?);
    if outcome == Outcome::Error {
        return Err(format!("promptrail {} failed", args.join(" ")).into());
    }
    Ok(outcome)
}

/// `args` then `extra`, as owned strings.
fn with(args: &[&str], extra: &[&str]) -> Vec<String> {
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn promptrail_v(dir: &Path, args: &[String]) -> Res<Outcome> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    promptrail(dir, &args)
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

fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn commit(dir: &Path, author: &str, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--author", author, "-m", message]);
}

/// `--keep DIR`: the auditor's clone (its audit branches as local branches, no remote: that
/// pointed into the scratch directory) and the trust material, as the header describes.
fn keep_for_auditor(dir: &Path, auditor: &Path, trust: &Path, keyless: bool) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let clone = dir.join("auditor");
    git(dir, &["clone", "-q", path(auditor), path(&clone)]);
    for branch in ["promptrail/audit", "tampered"] {
        git(
            &clone,
            &["branch", "-q", branch, &format!("origin/{branch}")],
        );
    }
    git(&clone, &["remote", "remove", "origin"]);
    let name = trust.file_name().ok_or("trust material has a file name")?;
    std::fs::copy(trust, dir.join(name))?;
    if keyless {
        std::fs::write(
            dir.join("public-good-trusted_root.json"),
            sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
        )?;
    }
    println!(
        "(the auditor's clone and trust material are kept in {})",
        dir.display()
    );
    Ok(())
}

/// Makes branch `tampered`: the audit branch with one word changed inside an entry's
/// signed payload (the signature is left as it was).
fn tamper_entry(repo: &Path, entry: &str) -> Res<()> {
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
    let scratch = repo.parent().expect("inside the scratch dir");
    let edited = scratch.join("forged.json");
    std::fs::write(&edited, serde_json::to_vec_pretty(&bundle)?)?;
    git(
        repo,
        &["branch", "-q", "-f", "tampered", "promptrail/audit"],
    );
    git(
        repo,
        &["worktree", "add", "-q", "../tampered-wt", "tampered"],
    );
    let wt = scratch.join("tampered-wt");
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
