//! `promptrail export` as data: CSV, Markdown and JSON snapshots of a log longer than one
//! read window (so that streaming crosses window boundaries), `log` of the whole log, the
//! OCSF event stream validated against the OCSF class schema, and the auditor's pack.
//! Real git, a GitHub stand-in on 127.0.0.1.

mod common;

use common::github::StandIn;
use common::*;

fn run(r: &Repo, s: &StandIn, args: &[&str]) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    cmd.args(args).output().unwrap()
}

/// Commits, pushes (no pull request behind it) and tells the stand-in so.
fn land(r: &Repo, s: &StandIn, message: &str) {
    let sha = r.commit(message);
    r.push();
    s.commit_pulls(&sha, None);
}

fn key() -> String {
    keys().private.to_str().unwrap().to_owned()
}

fn record(r: &Repo, s: &StandIn) {
    assert_ok(&run(r, s, &["record", "--key", &key()]));
}

fn deploy(r: &Repo, s: &StandIn, env: &str) {
    assert_ok(&run(r, s, &["deploy", "--env", env, "--key", &key()]));
}

/// 26 entries (more than the debug build's read window of 16): three prompts, a rename,
/// a deletion and re-add, versions with commas and quotes in their authors, deployments to
/// two environments. The policy asks for no approval.
fn long_log() -> (Repo, StandIn) {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(".promptrail.yml", "policy:\n  default:\n    approvals: 0\n");
    land(&r, &s, "adopt a policy");
    r.write("prompts/intake.md", "You are an intake assistant.\n");
    r.write("prompts/greet.md", "Hello!\n");
    land(&r, &s, "add prompts");
    for i in 1..=9 {
        r.write(
            "prompts/intake.md",
            &format!("You are an intake assistant.\nRule {i}: ask about allergies.\n"),
        );
        land(&r, &s, &format!("intake rule {i}"));
    }
    record(&r, &s);
    deploy(&r, &s, "staging");
    deploy(&r, &s, "production");
    r.git(&["mv", "prompts/greet.md", "prompts/welcome.md"]);
    land(&r, &s, "rename greeting");
    r.write("prompts/faq.md", "=SUM(A1) \"quoted\", with a comma\n");
    let sha = r.commit_as(
        "Eve, \"the\" Editor <eve@example.org>",
        "faq\n\nCo-authored-by: Bob Builder <bob@example.org>",
    );
    r.push();
    s.commit_pulls(&sha, None);
    for i in 1..=5 {
        r.write("prompts/faq.md", &format!("FAQ revision {i}\n"));
        land(&r, &s, &format!("faq {i}"));
    }
    r.git(&["rm", "-q", "prompts/welcome.md"]);
    land(&r, &s, "drop welcome");
    r.write("prompts/welcome.md", "Welcome back!\n");
    land(&r, &s, "welcome again");
    record(&r, &s);
    deploy(&r, &s, "staging");
    deploy(&r, &s, "production");
    (r, s)
}

/// Replaces what changes from run to run: digests, key ids, times, temp paths, run ids.
fn settings(r: &Repo) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"[0-9a-f]{64}", "[SHA256]");
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[TIME]",
    );
    s.add_filter(&regex_escape(&r.dir.path().display().to_string()), "[TMP]");
    s.add_filter(r"127\.0\.0\.1:\d+", "[STANDIN]");
    s.add_filter(r"/[^ ()]*/promptrail\.pub", "[KEYFILE]");
    // The checkpoint's root and signature cover the entries' times.
    s.add_filter(r#""checkpoint": ".*""#, r#""checkpoint": "[CHECKPOINT]""#);
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

fn out_of(r: &Repo, s: &StandIn, args: &[&str]) -> String {
    let out = run(r, s, args);
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn csv_markdown_json_and_log_of_a_long_log_are_snapshots() {
    let (r, s) = long_log();
    let public = keys().public.to_str().unwrap().to_owned();
    let log = r.log_json();
    assert!(
        log.len() > 16,
        "crosses a read window: {} entries",
        log.len()
    );
    settings(&r).bind(|| {
        for (name, format) in [("csv", "csv"), ("md", "md"), ("json", "json")] {
            let text = out_of(&r, &s, &["export", "--format", format, "--key", &public]);
            insta::assert_snapshot!(format!("export_{name}"), text);
        }
        // Filtered exports keep their shape.
        let text = out_of(
            &r,
            &s,
            &[
                "export", "--format", "csv", "--env", "staging", "--key", &public,
            ],
        );
        insta::assert_snapshot!("export_csv_staging", text);
        insta::assert_snapshot!("log_long", out_of(&r, &s, &["log"]));
        insta::assert_snapshot!(
            "log_long_json",
            out_of(&r, &s, &["log", "--format", "json"])
        );
    });
    // The JSON export is one document whose entries are the log's.
    let json: serde_json::Value = serde_json::from_str(&out_of(
        &r,
        &s,
        &["export", "--format", "json", "--key", &public],
    ))
    .unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), log.len());
    assert_eq!(json["verification"]["ok"], true);
}
