//! See main.rs. promptrail never signs an entry its own `verify` (or the predicate's schema)
//! rejects: an append-only log cannot take such an entry back, so one would refuse every
//! later `gate`, `deploy` and `rollback` for good.

use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::common::github::{OWNER, REPO, StandIn, fixture};
use crate::common::*;
use crate::worktree::approved;

fn signing(r: &Repo, args: &[&str]) -> Output {
    let mut cmd = r.cmd();
    cmd.args(args).arg("--key").arg(&keys().private);
    cmd.output().unwrap()
}

/// Exit 2 naming "nothing to deploy", and the audit branch exactly as it was.
fn refuses_empty(r: &Repo, args: &[&str]) -> String {
    let before = (r.local_audit_tip(), r.remote_audit_tip());
    let out = signing(r, args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to deploy"),
        "{}",
        stderr(&out)
    );
    assert_eq!((r.local_audit_tip(), r.remote_audit_tip()), before);
    stderr(&out)
}

#[test]
fn an_empty_deployment_is_refused_and_the_log_still_verifies() {
    let (r, _s) = approved();
    assert_ok(&signing(&r, &["deploy", "--env", "production"]));
    // The deploy job's checkout has no prompt at all (sparse checkout, wrong directory).
    std::fs::remove_dir_all(r.work.join("prompts")).unwrap();
    let why = refuses_empty(&r, &["deploy", "--env", "production"]);
    assert!(why.contains("live prompt"), "{why}");
    let out = r.run(&[
        "gate",
        "--env",
        "production",
        "--key",
        keys().public.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the gate does not pass silently"
    );
    assert!(
        stderr(&out).contains("nothing to deploy"),
        "{}",
        stderr(&out)
    );
    assert_ok(&r.verify());
    assert_schema_valid(&r);
    // Later deployments still work once the prompts are back.
    r.git(&["checkout", "--", "prompts"]);
    assert_ok(&signing(&r, &["deploy", "--env", "staging"]));
    assert_ok(&r.verify());
}

#[test]
fn globs_that_match_nothing_are_nothing_to_deploy() {
    let (r, _s) = approved();
    r.write(".promptrail.yml", "prompts:\n  include: [\"prompt/**\"]\n");
    let why = refuses_empty(&r, &["deploy", "--env", "production"]);
    assert!(why.contains("prompt/**"), "{why}");
    assert_ok(&r.verify());
}

#[test]
fn retiring_every_prompt_is_recorded_and_verifies() {
    let (r, s) = approved();
    assert_ok(&signing(&r, &["deploy", "--env", "production"]));
    r.git(&["rm", "-q", "-r", "prompts"]);
    let retired = r.commit("retire every prompt");
    r.push();
    s.commit_pulls(&retired, None);
    let entries = r.log_json().len();
    crate::common::record_with(&r, &s);
    let log = r.log_json();
    assert_eq!(log.len(), entries + 2, "one deletion entry per prompt");
    for entry in &log[entries..] {
        assert_eq!(entry["prompts"][0]["change"], "deleted", "{entry:#}");
    }
    assert_ok(&r.verify());
    assert_eq!(assert_schema_valid(&r), log.len());
    let why = refuses_empty(&r, &["deploy", "--env", "production"]);
    assert!(why.contains("retired"), "{why}");
    let out = r.run(&[
        "gate",
        "--env",
        "production",
        "--key",
        keys().public.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("retired"), "{}", stderr(&out));
    assert_ok(&r.verify());
}

#[test]
fn a_rollback_with_nothing_deployed_is_refused() {
    let (r, _s) = approved();
    let before = r.local_audit_tip();
    let out = signing(
        &r,
        &[
            "rollback",
            "--env",
            "production",
            "--prompt",
            "prompts/welcome.md",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("never deployed"), "{}", stderr(&out));
    assert_eq!(r.local_audit_tip(), before);
}

/// A GitHub stand-in for any history: a commit whose id starts with 0-b landed through a
/// merged pull request approved by Rita (a writer) at that commit; any other was pushed
/// directly. Pull request numbers are handed out as commits are asked about.
struct AnyHistory {
    prs: Arc<Mutex<HashMap<u64, String>>>,
    pull: Value,
}

impl Respond for AnyHistory {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = req.url.path().split('/').collect();
        // /repos/OWNER/REPO/commits/SHA/pulls or /repos/OWNER/REPO/pulls/N/(reviews|commits)
        match (parts.get(4), parts.get(5), parts.get(6)) {
            (Some(&"commits"), Some(sha), Some(&"pulls")) => {
                let approved = u8::from_str_radix(&sha[..1], 16).is_ok_and(|d| d < 12);
                if !approved {
                    return ResponseTemplate::new(200).set_body_json(json!([]));
                }
                let mut prs = self.prs.lock().unwrap();
                let n = prs
                    .iter()
                    .find(|(_, s)| s.as_str() == *sha)
                    .map(|(n, _)| *n)
                    .unwrap_or(prs.len() as u64 + 1);
                prs.insert(n, (*sha).to_owned());
                let mut p = self.pull.clone();
                p["number"] = n.into();
                p["html_url"] = format!("https://github.com/{OWNER}/{REPO}/pull/{n}").into();
                p["head"]["sha"] = (*sha).into();
                p["base"]["sha"] = (*sha).into();
                p["merge_commit_sha"] = (*sha).into();
                ResponseTemplate::new(200).set_body_json(json!([p]))
            }
            (Some(&"pulls"), Some(n), Some(what)) => {
                let sha = n
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| self.prs.lock().unwrap().get(&n).cloned())
                    .unwrap_or_default();
                let body = if *what == "reviews" {
                    let mut v = fixture("reviews.json")[0].clone();
                    v["user"]["login"] = "rita".into();
                    v["user"]["id"] = 4242.into();
                    v["user"]["type"] = "User".into();
                    v["state"] = "APPROVED".into();
                    v["commit_id"] = sha.into();
                    v["submitted_at"] = "2026-11-20T14:00:00Z".into();
                    json!([v])
                } else {
                    let mut c = fixture("commits.json")[0].clone();
                    c["sha"] = sha.into();
                    for who in ["author", "committer"] {
                        c[who]["login"] = "ana".into();
                        c[who]["id"] = 1717.into();
                    }
                    c["commit"]["author"]["email"] = "ana@example.org".into();
                    json!([c])
                };
                ResponseTemplate::new(200).set_body_json(body)
            }
            _ => ResponseTemplate::new(404).set_body_json(fixture("error_not_found.json")),
        }
    }
}

fn any_history() -> StandIn {
    let s = StandIn::start();
    let zero = "0".repeat(40);
    let pull = s.pull_json(0, "ana", &zero, &zero, Some(&zero));
    s.mount(
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/repos/{OWNER}/{REPO}/(commits/[0-9a-f]{{40}}/pulls|pulls/[0-9]+/(reviews|commits))$"
            )))
            .respond_with(AnyHistory {
                prs: Arc::default(),
                pull,
            }),
    );
    s.permission("rita", "write");
    s
}

/// One thing a team (or an insider) does.
#[derive(Debug, Clone)]
enum Step {
    /// Write text `k` to prompt `i`, commit and push.
    Write(u8, u8),
    Delete(u8),
    Rename(u8, u8),
    /// Move prompt `i` out of the globs (to `docs/`), or back if it is there.
    Park(u8),
    /// Write text `k` to prompt `i`, land it, record it and deploy to production.
    Ship(u8, u8),
    /// Change prompt `i` in the working tree only.
    Dirty(u8, u8),
    Record,
    RecordOffline,
    Deploy(bool),
    Rollback(u8, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3u8, 0..3u8).prop_map(|(i, k)| Step::Write(i, k)),
        3 => (0..3u8, 0..3u8).prop_map(|(i, k)| Step::Ship(i, k)),
        1 => (0..3u8).prop_map(Step::Delete),
        1 => (0..3u8, 0..3u8).prop_map(|(i, j)| Step::Rename(i, j)),
        1 => (0..3u8).prop_map(Step::Park),
        1 => (0..3u8, 0..3u8).prop_map(|(i, k)| Step::Dirty(i, k)),
        3 => Just(Step::Record),
        1 => Just(Step::RecordOffline),
        3 => any::<bool>().prop_map(Step::Deploy),
        3 => (0..2u8, any::<bool>()).prop_map(|(i, p)| Step::Rollback(i, p)),
    ]
}

fn prompt(i: u8) -> String {
    format!("prompts/p{i}.md")
}

fn env(production: bool) -> &'static str {
    if production { "production" } else { "staging" }
}

/// Plays `steps`; after every promptrail command the log verifies and every statement
/// validates against the schema, and a command that did not succeed appended nothing.
fn play(steps: &[Step]) {
    let r = Repo::new();
    let s = any_history();
    r.write("README.md", "clinic\n");
    r.commit("readme");
    r.push();
    let land = |message: &str| {
        r.commit(message);
        r.push();
    };
    for (n, st) in steps.iter().enumerate() {
        let exists = |i: u8| r.work.join(prompt(i)).exists();
        let mut before = r.remote_audit_tip();
        let out = match st {
            Step::Write(i, k) => {
                r.write(&prompt(*i), &format!("Prompt text {k}.\n"));
                land("write");
                None
            }
            Step::Delete(i) => {
                if exists(*i) {
                    std::fs::remove_file(r.work.join(prompt(*i))).unwrap();
                }
                land("delete");
                None
            }
            Step::Rename(i, j) => {
                if i != j && exists(*i) && !exists(*j) {
                    r.git(&["mv", &prompt(*i), &prompt(*j)]);
                }
                land("rename");
                None
            }
            Step::Park(i) => {
                let parked = r.work.join(format!("docs/p{i}.md"));
                std::fs::create_dir_all(r.work.join("docs")).unwrap();
                if exists(*i) {
                    std::fs::rename(r.work.join(prompt(*i)), &parked).unwrap();
                } else if parked.exists() {
                    std::fs::rename(&parked, r.work.join(prompt(*i))).unwrap();
                }
                land("park");
                None
            }
            Step::Ship(i, k) => {
                r.write(&prompt(*i), &format!("Prompt text {k}.\n"));
                land("ship");
                let mut cmd = r.cmd();
                s.env(&mut cmd)
                    .args(["record", "--key"])
                    .arg(&keys().private);
                assert_ok(&cmd.output().unwrap());
                before = r.remote_audit_tip();
                Some((signing(&r, &["deploy", "--env", "production"]), false))
            }
            Step::Dirty(i, k) => {
                r.write(&prompt(*i), &format!("Unreviewed text {k}.\n"));
                None
            }
            Step::Record => {
                let mut cmd = r.cmd();
                s.env(&mut cmd)
                    .args(["record", "--key"])
                    .arg(&keys().private);
                Some((cmd.output().unwrap(), true))
            }
            Step::RecordOffline => Some((signing(&r, &["record", "--offline"]), true)),
            Step::Deploy(p) => Some((signing(&r, &["deploy", "--env", env(*p)]), false)),
            Step::Rollback(i, p) => Some((
                signing(&r, &["rollback", "--env", env(*p), "--prompt", &prompt(*i)]),
                false,
            )),
        };
        let Some((out, must_succeed)) = out else {
            continue;
        };
        if std::env::var_os("PROMPTRAIL_TRACE_STEPS").is_some() {
            eprintln!(
                "step {n} {st:?}: exit {:?} {}",
                out.status.code(),
                stderr(&out).lines().last().unwrap_or("")
            );
        }
        let context = || {
            format!(
                "step {n} {st:?} of {steps:?}\nexit {:?}\nstdout: {}\nstderr: {}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            )
        };
        if must_succeed {
            assert!(out.status.success(), "{}", context());
        } else if !out.status.success() {
            assert!(matches!(out.status.code(), Some(1 | 2)), "{}", context());
            assert_eq!(
                r.remote_audit_tip(),
                before,
                "appended on failure: {}",
                context()
            );
        }
        if r.local_audit_tip().is_some() {
            let v = r.verify();
            assert!(
                v.status.success(),
                "verify after {}\n{}",
                context(),
                stdout(&v)
            );
            assert_schema_valid(&r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_entry_any_command_writes_verifies(
        steps in proptest::collection::vec(step(), 2..8)
    ) {
        let mut all = vec![Step::Write(0, 0), Step::Write(1, 1), Step::Record, Step::Deploy(true), Step::Ship(0, 1)];
        all.extend(steps);
        play(&all);
    }
}
