//! Policy is governed content: a direct push cannot lower the bar and pass its own change,
//! and a policy change must satisfy every rule of the policy in force at once.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use promptrail::config::Config;
use promptrail::policy::{Content, Input, Policy, PromptChange, ReviewerFacts};
use promptrail::review::{Account, AccountKind, Permission, Review, ReviewState};
use promptrail::types::{Oid, PromptPath};
use serde_json::Value;

use crate::common::github::Review as GhReview;
use crate::common::*;
use crate::support::*;

fn row<'a>(gate: &'a Value, path: &str) -> &'a Value {
    gate["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("no gate row for {path}: {gate:#}"))
}

/// Finding 1: two unreviewed commits pushed to main, the first lowering the policy to zero
/// approvals, the second editing a prompt. The policy change is recorded but takes no
/// effect; the edit is judged by the last approved policy and blocked; verify is clean.
#[test]
fn a_direct_push_cannot_lower_the_policy_and_pass_its_own_change() {
    let (r, s) = adopted();
    r.write(
        ".promptrail.yml",
        &config("").replace("approvals: 1", "approvals: 0"),
    );
    let lower = r.commit("relax the policy");
    r.write(INTAKE, "Skip the allergy questions.\n");
    let edit = r.commit("faster intake");
    r.push();
    s.commit_pulls(&lower, None);
    s.commit_pulls(&edit, None);
    record(&r, &s);

    let log = r.log_json();
    let policy_v2 = entry_for(&log, ".promptrail.yml", 2);
    assert_eq!(
        policy_v2["policy"]["rules"][0]["approved"], false,
        "{policy_v2:#}"
    );
    assert_eq!(policy_v2["policy"]["rules"][0]["status"], "noPullRequest");
    // Judged by (and still naming) version 1, the adopted policy.
    assert_eq!(
        policy_v2["policy"]["inForce"]["version"], 1,
        "{policy_v2:#}"
    );
    let intake_v3 = entry_for(&log, INTAKE, 3);
    assert_eq!(
        intake_v3["policy"]["inForce"]["version"], 1,
        "{intake_v3:#}"
    );
    assert_eq!(intake_v3["policy"]["rules"][0]["required"], 1);
    assert_eq!(intake_v3["policy"]["rules"][0]["approved"], false);

    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(1), "{g:#}");
    assert!(
        g["policy"].as_str().unwrap().contains(".promptrail.yml v1"),
        "{g:#}"
    );
    assert_eq!(row(&g, INTAKE)["ok"], false, "{g:#}");
    let policy_row = row(&g, ".promptrail.yml");
    assert_eq!(policy_row["ok"], false);
    assert!(
        policy_row["reason"]
            .as_str()
            .unwrap()
            .contains("not the policy in force"),
        "{g:#}"
    );
    // The log itself is sound: verify recomputes the same policy for every entry.
    assert_ok(&r.verify());
    let deploy = r.run(&[
        "deploy",
        "--env",
        "production",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    assert_eq!(deploy.status.code(), Some(1), "{}", stdout(&deploy));
}

/// Later changes keep being judged by the last approved policy: after the unapproved
/// lowering, a fresh direct push to the prompt alone is still unapproved.
#[test]
fn later_changes_stay_under_the_last_approved_policy() {
    let (r, s) = adopted();
    r.write(
        ".promptrail.yml",
        &config("").replace("approvals: 1", "approvals: 0"),
    );
    let lower = r.commit("relax the policy");
    r.push();
    s.commit_pulls(&lower, None);
    record(&r, &s);
    r.write(INTAKE, "Another unreviewed edit.\n");
    let edit = r.commit("edit later, in another push");
    r.push();
    s.commit_pulls(&edit, None);
    record(&r, &s);
    let log = r.log_json();
    let v3 = entry_for(&log, INTAKE, 3);
    assert_eq!(v3["policy"]["inForce"]["version"], 1, "{v3:#}");
    assert_eq!(v3["policy"]["rules"][0]["approved"], false);
    assert_ok(&r.verify());
}

/// The working tree's `.promptrail.yml` must be the policy in force: a branch whose config
/// adds an attacker's key (or lowers a rule) blocks the gate, whatever else it holds.
#[test]
fn a_gate_on_a_branch_whose_config_adds_a_key_is_blocked() {
    let (r, _s) = adopted();
    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(0), "{g:#}");
    r.git(&["checkout", "-q", "-b", "attacker"]);
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\", \"{}\"]\npolicy:\n  default:\n    approvals: 0\n",
            keys().public.display(),
            other_keys().public.display()
        ),
    );
    r.commit("trust my key too");
    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(1), "{g:#}");
    assert_eq!(row(&g, ".promptrail.yml")["ok"], false, "{g:#}");
    // Deleting the file does not help either (with the key given by the workflow).
    std::fs::remove_file(r.work.join(".promptrail.yml")).unwrap();
    let out = r.run(&[
        "gate",
        "--env",
        "production",
        "--format",
        "json",
        "--key",
        keys().public.to_str().unwrap(),
    ]);
    let code = out.status.code();
    let g: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), stderr(&out)));
    assert_eq!(code, Some(1), "{g:#}");
    assert!(
        row(&g, ".promptrail.yml")["reason"]
            .as_str()
            .unwrap()
            .contains("missing from the working tree"),
        "{g:#}"
    );
}

/// An approved policy change does take effect, from the next commit on.
#[test]
fn an_approved_policy_change_takes_effect_after_its_commit() {
    let (r, s) = adopted();
    let base = r.git(&["rev-parse", "HEAD"]);
    r.git(&["checkout", "-q", "-b", "stricter"]);
    r.write(
        ".promptrail.yml",
        &config("").replace("approvals: 1", "approvals: 2"),
    );
    let head = r.commit_as("Ana Author <ana@example.org>", "two approvals");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/13/head"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&[
        "merge",
        "-q",
        "--no-ff",
        "stricter",
        "-m",
        "Merge pull request #13",
    ]);
    r.push();
    let merge = r.git(&["rev-parse", "HEAD"]);
    s.reviews(
        13,
        &[GhReview {
            id: 9,
            login: "rita",
            state: "APPROVED",
            commit: &head,
        }],
        1,
    );
    s.commits(13, &[(&head, "ana")]);
    s.commit_pulls(
        &merge,
        Some(s.pull_json(13, "ana", &head, &base, Some(&merge))),
    );
    record(&r, &s);
    let log = r.log_json();
    let v2 = entry_for(&log, ".promptrail.yml", 2);
    assert_eq!(v2["policy"]["rules"][0]["approved"], true, "{v2:#}");
    assert_eq!(v2["policy"]["inForce"]["version"], 1);
    // The gate now judges by version 2.
    let (code, g) = gate_json(&r);
    assert_eq!(code, Some(0), "{g:#}");
    assert!(
        g["policy"].as_str().unwrap().contains(".promptrail.yml v2"),
        "{g:#}"
    );
    assert_ok(&r.verify());
}

/// `check` judges a pull request by the policy in force, not only by its base's file: with
/// the lowered (unapproved) policy on main, a PR without approvals still fails.
#[test]
fn check_judges_by_the_policy_in_force_not_the_bases_file() {
    let (r, s) = adopted();
    r.write(
        ".promptrail.yml",
        &config("").replace("approvals: 1", "approvals: 0"),
    );
    let lower = r.commit("relax the policy");
    r.push();
    s.commit_pulls(&lower, None);
    record(&r, &s);
    r.git(&["checkout", "-q", "-b", "quick"]);
    r.write(INTAKE, "No review needed now, right?\n");
    let head = r.commit_as("Ana Author <ana@example.org>", "quick edit");
    r.git(&["push", "-q", "origin", "HEAD:refs/pull/20/head"]);
    r.git(&["checkout", "-q", "main"]);
    s.pull(20, "ana", &head, &lower, None);
    s.files(20, &[(INTAKE, "modified")]);
    s.reviews(20, &[], 1);
    s.commits(20, &[(&head, "ana")]);
    let out = gh(&r, &s, &["check", "--pr", "20", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not the policy in force"),
        "{}",
        stderr(&out)
    );
}

// Finding 2, as pure decisions: a policy change must satisfy every rule at once.

const OLD: &str = "1111111111111111111111111111111111111111";

fn review(id: u64, login: &str) -> Review {
    Review {
        id,
        reviewer: Account {
            login: login.into(),
            id: 100 + id,
            kind: AccountKind::User,
        },
        state: ReviewState::Approved,
        commit: Oid::parse(OLD),
        submitted_at: Some(Utc.timestamp_opt(1_700_000_000 + id as i64, 0).unwrap()),
        url: format!("https://github.com/acme/clinic/pull/3#pullrequestreview-{id}"),
    }
}

fn decide_policy_change(yaml: &str, approvers: &[(&str, &[&str])]) -> promptrail::policy::Decision {
    let config = Config::parse(yaml, std::path::Path::new(".promptrail.yml")).unwrap();
    let policy = Policy::new(&config.policy, "acme").unwrap();
    let facts: HashMap<String, ReviewerFacts> = approvers
        .iter()
        .map(|(login, teams)| {
            (
                login.to_string(),
                ReviewerFacts {
                    permission: Some(Permission::Write),
                    teams: teams.iter().map(|t| t.to_string()).collect(),
                    error: None,
                },
            )
        })
        .collect();
    let reviews: Vec<Review> = approvers
        .iter()
        .enumerate()
        .map(|(i, (login, _))| review(i as u64 + 1, login))
        .collect();
    let prompts = vec![PromptChange {
        path: PromptPath::new(".promptrail.yml"),
        authors: ["ana".to_string()].into_iter().collect(),
    }];
    let same = |_: &Oid, _: &PromptPath| Content::Same;
    policy
        .decide(&Input {
            reviews: &reviews,
            prompts: &prompts,
            facts: &facts,
            content: &same,
        })
        .remove(0)
}

fn part<'a>(
    d: &'a promptrail::policy::Decision,
    name: &str,
) -> &'a promptrail::policy::PartDecision {
    d.parts
        .iter()
        .find(|p| p.rule == name)
        .unwrap_or_else(|| panic!("no part {name}: {d:#?}"))
}

const TEAMS: &str = "policy:\n  rules:\n    - name: clinical\n      paths: [\"prompts/clinical/**\"]\n      approvals: 1\n      teams: [clinical-review]\n    - name: misc\n      paths: [\"prompts/misc/**\"]\n      approvals: 1\n";

#[test]
fn a_policy_change_needs_the_team_a_team_rule_names() {
    // One writer outside the team cannot approve a change that could delete the team rule.
    let d = decide_policy_change(TEAMS, &[("rita", &[])]);
    assert!(!d.approved, "{d:#?}");
    assert!(!part(&d, "rule clinical").approved);
    assert!(part(&d, "rule misc").approved);
    assert!(part(&d, "default").approved);
    // A team member's approval satisfies every rule.
    let d = decide_policy_change(TEAMS, &[("nina", &["acme/clinical-review"])]);
    assert!(d.approved, "{d:#?}");
}

#[test]
fn a_policy_change_needs_the_user_a_rule_names() {
    let yaml = "policy:\n  rules:\n    - name: legal\n      paths: [\"prompts/legal/**\"]\n      approvals: 1\n      users: [lawyer]\n";
    let d = decide_policy_change(yaml, &[("rita", &[]), ("omar", &[])]);
    assert!(!d.approved, "{d:#?}");
    assert!(!part(&d, "rule legal").approved);
    let d = decide_policy_change(yaml, &[("lawyer", &[])]);
    assert!(d.approved, "{d:#?}");
}

#[test]
fn a_policy_change_needs_what_each_environment_needs() {
    let yaml = "policy:\n  environments:\n    production:\n      approvals: 2\n";
    let d = decide_policy_change(yaml, &[("rita", &[])]);
    assert!(!d.approved, "{d:#?}");
    let prod = part(&d, "environment production");
    assert_eq!((prod.required, prod.counted, prod.approved), (2, 1, false));
    let d = decide_policy_change(yaml, &[("rita", &[]), ("omar", &[])]);
    assert!(d.approved, "{d:#?}");
    assert_eq!(d.rule, "policy change (every rule)");
}

#[test]
fn an_author_of_the_policy_change_counts_for_no_rule() {
    let d = decide_policy_change(TEAMS, &[("ana", &["acme/clinical-review"])]);
    assert!(!d.approved, "{d:#?}");
    assert!(d.parts.iter().all(|p| p.counted == 0), "{d:#?}");
    assert!(d.verdicts[0].reason.contains("author"), "{d:#?}");
}
