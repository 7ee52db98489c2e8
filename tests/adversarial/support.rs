//! Set-up shared by the policy and red-team suites: a repository that adopted promptrail
//! with a one-approval policy, and the commands they run against it.

use serde_json::Value;

use crate::common::github::{Review as GhReview, StandIn};
use crate::common::*;

pub const INTAKE: &str = "prompts/clinical/intake.md";

pub fn config(extra: &str) -> String {
    format!(
        "signing:\n  public_keys: [\"{}\"]\npolicy:\n  default:\n    approvals: 1\n{extra}",
        keys().public.display()
    )
}

pub fn gh(r: &Repo, s: &StandIn, args: &[&str]) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    cmd.args(args).output().unwrap()
}

pub fn record(r: &Repo, s: &StandIn) -> std::process::Output {
    let out = gh(r, s, &["record", "--key", keys().private.to_str().unwrap()]);
    assert_ok(&out);
    out
}

/// main: the policy and intake v1 (adopted by the first record), then intake v2 through
/// PR #12 approved by rita; recorded. Returns the repository and the GitHub stand-in.
pub fn adopted() -> (Repo, StandIn) {
    let r = Repo::new();
    r.write(".promptrail.yml", &config(""));
    r.write(INTAKE, "You are a clinical intake assistant.\n");
    let base = r.commit("adopt promptrail");
    r.push();
    r.git(&["checkout", "-q", "-b", "allergies"]);
    r.write(
        INTAKE,
        "You are a clinical intake assistant.\nAsk about allergies.\n",
    );
    let head = r.commit_as("Ana Author <ana@example.org>", "ask about allergies");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/12/head"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "merge",
        "-q",
        "--no-ff",
        "allergies",
        "-m",
        "Merge pull request #12",
    ]);
    r.push();
    let merge = r.git(&["rev-parse", "HEAD"]);
    let s = StandIn::start();
    s.commit_pulls(&base, None);
    s.reviews(
        12,
        &[GhReview {
            id: 7,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(12, &[(&head, "ana")]);
    s.permission("rita", "write");
    s.permission("omar", "write");
    s.commit_pulls(
        &merge,
        Some(s.pull_json(12, "ana", &head, &base, Some(&merge))),
    );
    record(&r, &s);
    (r, s)
}

pub fn entry_for<'a>(log: &'a [Value], path: &str, version: u64) -> &'a Value {
    log.iter()
        .find(|e| {
            e["event"] == "version"
                && e["prompts"][0]["path"] == path
                && e["prompts"][0]["version"] == version
        })
        .unwrap_or_else(|| panic!("no entry for {path} v{version}: {log:#?}"))
}

pub fn gate_with(r: &Repo, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["gate", "--env", "production", "--format", "json"];
    args.extend_from_slice(extra);
    let out = r.run(&args);
    // A refusal (exit 2) prints an error, not a report.
    let v = match out.status.code() {
        Some(2) => Value::String(stderr(&out)),
        _ => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), stderr(&out))),
    };
    (out.status.code(), v)
}

pub fn gate_json(r: &Repo) -> (Option<i32>, Value) {
    gate_with(r, &[])
}
