//! `promptrail doctor` against a GitHub stand-in answering with GitHub's documented shapes:
//! every setting ok; every setting missing (with the exact fix, exit 1); settings the token
//! cannot read, reported apart from missing ones; the documented classic protection example.

mod common;

use common::github::{OWNER, REPO, StandIn, TOKEN, fixture};
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn repo_path(rest: &str) -> String {
    format!("/repos/{OWNER}/{REPO}{rest}")
}

fn answer(s: &StandIn, route: &str, status: u16, body: Value) {
    s.mount(
        Mock::given(method("GET"))
            .and(path(repo_path(route)))
            .respond_with(ResponseTemplate::new(status).set_body_json(body)),
    );
}

/// Rules as `GET /rules/branches/{branch}` lists them (shapes from the OpenAPI schema
/// `repository-rule-detailed`; the documented example only has pattern rules).
fn rule(kind: &str, parameters: Option<Value>) -> Value {
    let mut r = fixture("branch_rules.json")[0].clone();
    r["type"] = kind.into();
    match parameters {
        Some(p) => r["parameters"] = p,
        None => {
            r.as_object_mut().unwrap().remove("parameters");
        }
    }
    r
}

fn pull_request_rule(approvals: u64, last_push: bool) -> Value {
    rule(
        "pull_request",
        Some(json!({
            "dismiss_stale_reviews_on_push": false,
            "require_code_owner_review": false,
            "require_last_push_approval": last_push,
            "required_approving_review_count": approvals,
            "required_review_thread_resolution": false,
        })),
    )
}

fn status_check_rule(context: &str) -> Value {
    rule(
        "required_status_checks",
        Some(json!({
            "strict_required_status_checks_policy": false,
            "required_status_checks": [{"context": context}],
        })),
    )
}

fn not_protected(s: &StandIn, branch: &str) {
    answer(
        s,
        &format!("/branches/{branch}/protection"),
        404,
        fixture("error_branch_not_protected.json"),
    );
}

fn environments(s: &StandIn, names: &[(&str, &[&str])]) {
    let template = fixture("environments.json")["environments"][0].clone();
    let envs: Vec<Value> = names
        .iter()
        .map(|(name, branches)| {
            let mut e = template.clone();
            e["name"] = (*name).into();
            let mut policies = fixture("deployment_branch_policies.json");
            let one = policies["branch_policies"][0].clone();
            policies["branch_policies"] = branches
                .iter()
                .map(|b| {
                    let mut p = one.clone();
                    p["name"] = (*b).into();
                    p
                })
                .collect();
            policies["total_count"] = branches.len().into();
            answer(
                s,
                &format!("/environments/{name}/deployment-branch-policies"),
                200,
                policies,
            );
            e
        })
        .collect();
    let mut body = fixture("environments.json");
    body["total_count"] = envs.len().into();
    body["environments"] = envs.into();
    answer(s, "/environments", 200, body);
}

fn secrets(s: &StandIn, route: &str, names: &[&str]) {
    let mut body = fixture("secrets.json");
    let one = body["secrets"][0].clone();
    body["secrets"] = names
        .iter()
        .map(|n| {
            let mut x = one.clone();
            x["name"] = (*n).into();
            x
        })
        .collect();
    body["total_count"] = names.len().into();
    answer(s, route, 200, body);
}

/// `GET /actions/variables` listing `vars` (name, value).
fn variables(s: &StandIn, vars: &[(&str, &str)]) {
    let mut body = fixture("variables.json");
    let one = body["variables"][0].clone();
    body["variables"] = vars
        .iter()
        .map(|(n, v)| {
            let mut x = one.clone();
            x["name"] = (*n).into();
            x["value"] = (*v).into();
            x
        })
        .collect();
    body["total_count"] = vars.len().into();
    answer(s, "/actions/variables", 200, body);
}

fn ci_key_id() -> String {
    promptrail::signing::TrustedKey::load(&keys().public)
        .unwrap()
        .key_id
        .to_string()
}

fn workflow(s: &StandIn, default: &str) {
    let mut body = fixture("workflow_permissions.json");
    body["default_workflow_permissions"] = default.into();
    body["can_approve_pull_request_reviews"] = false.into();
    answer(s, "/actions/permissions/workflow", 200, body);
}

fn repo() -> Repo {
    let r = Repo::new();
    r.write(".promptrail.yml", "environments: [staging, production]\n");
    r.write("prompts/a.md", "hello\n");
    r.commit("first");
    r.push();
    r
}

fn doctor(r: &Repo, s: &StandIn, args: &[&str]) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    let out = cmd.arg("doctor").args(args).output().unwrap();
    assert!(
        !stdout(&out).contains(TOKEN) && !stderr(&out).contains(TOKEN),
        "token leaked"
    );
    out
}

fn findings(out: &std::process::Output) -> Vec<(String, String)> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", stdout(out), stderr(out)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn status_of<'a>(f: &'a [(String, String)], id: &str) -> &'a str {
    &f.iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no finding {id} in {f:?}"))
        .1
}

/// Every setting in place, the trust anchor variable listing exactly the configured key.
fn all_in_place(s: &StandIn) {
    answer(
        s,
        "/rules/branches/main",
        200,
        json!([
            pull_request_rule(1, true),
            status_check_rule("prompt approvals")
        ]),
    );
    answer(
        s,
        "/rules/branches/promptrail/audit",
        200,
        json!([rule("non_fast_forward", None), rule("deletion", None)]),
    );
    not_protected(s, "main");
    not_protected(s, "promptrail/audit");
    workflow(s, "read");
    environments(s, &[("staging", &["main"]), ("production", &["main"])]);
    secrets(s, "/actions/secrets", &["GH_TOKEN"]);
    secrets(s, "/environments/staging/secrets", &[]);
    secrets(
        s,
        "/environments/production/secrets",
        &["PROMPTRAIL_SIGNING_KEY"],
    );
}

/// [`repo`] whose `.promptrail.yml` also names the CI key.
fn repo_with_key() -> Repo {
    let r = repo();
    r.write(
        ".promptrail.yml",
        &format!(
            "environments: [staging, production]\nsigning:\n  public_keys: [\"{}\"]\n",
            keys().public.display()
        ),
    );
    r.commit("name the key");
    r
}

#[test]
fn every_setting_in_place_is_ok() {
    let r = repo_with_key();
    let s = StandIn::start();
    all_in_place(&s);
    variables(
        &s,
        &[
            ("USERNAME", "octocat"),
            ("PROMPTRAIL_TRUSTED_KEY_IDS", &ci_key_id()),
        ],
    );

    let out = doctor(&r, &s, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let f = findings(&out);
    assert!(f.iter().all(|(_, st)| st == "ok"), "{f:?}");
    assert_eq!(f.len(), 10, "{f:?}");

    let out = doctor(&r, &s, &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("ok           protected-branch.required-check: the `prompt approvals` check must pass before merging into `main` (a ruleset)"), "{text}");
    assert!(
        text.contains("`PROMPTRAIL_SIGNING_KEY` is an environment secret of `production`"),
        "{text}"
    );
    assert!(text.contains("0 missing, 0 could not be read"), "{text}");
}

#[test]
fn missing_settings_name_the_fix_and_exit_1() {
    let r = repo();
    let s = StandIn::start();
    // A ruleset that asks for reviews but not the check; nothing on the audit branch.
    answer(
        &s,
        "/rules/branches/main",
        200,
        json!([pull_request_rule(1, false)]),
    );
    answer(&s, "/rules/branches/promptrail/audit", 200, json!([]));
    not_protected(&s, "main");
    not_protected(&s, "promptrail/audit");
    workflow(&s, "write");
    // The documented example: staging deploys from `release/*` and `main`; no production.
    answer(&s, "/environments", 200, fixture("environments.json"));
    answer(
        &s,
        "/environments/staging/deployment-branch-policies",
        200,
        fixture("deployment_branch_policies.json"),
    );
    secrets(&s, "/actions/secrets", &["PROMPTRAIL_SIGNING_KEY"]);
    secrets(&s, "/environments/staging/secrets", &[]);
    secrets(&s, "/environments/production/secrets", &[]);
    variables(&s, &[("USERNAME", "octocat")]);

    let out = doctor(&r, &s, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let f = findings(&out);
    assert_eq!(status_of(&f, "protected-branch.reviews"), "ok");
    for id in [
        "protected-branch.required-check",
        "protected-branch.stale-approvals",
        "audit-branch.force-push",
        "audit-branch.deletion",
        "actions.workflow-permissions",
        "environment.staging",
        "environment.production",
        "signing-key.secret-scope",
        "trust-anchor.key-ids",
    ] {
        assert_eq!(status_of(&f, id), "missing", "{id}");
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["missing"], 9);
    assert_eq!(v["ok"], false);

    let text = stdout(&doctor(&r, &s, &[]));
    for want in [
        "MISSING      audit-branch.force-push: force pushes to `promptrail/audit` are allowed",
        "fix: Settings → Rules → Rulesets → a branch ruleset targeting `promptrail/audit` (or Settings → Branches → a branch protection rule for `promptrail/audit`): enable \"Block force pushes\"",
        "add `prompt approvals` (the check job's `name:` in promptrail-check.yml)",
        "fix: Settings → Actions → General → Workflow permissions: \"Read repository contents and packages permissions\"",
        "`staging` also accepts deployments from branch `release/*`",
        "environment `production` does not exist on GitHub",
        "`PROMPTRAIL_SIGNING_KEY` is a repository secret",
        "MISSING      trust-anchor.key-ids: no repository variable `PROMPTRAIL_TRUSTED_KEY_IDS`",
        "pass it to the Action as `trusted-key-ids: ${{ vars.PROMPTRAIL_TRUSTED_KEY_IDS }}`",
        "9 missing, 0 could not be read: change the settings marked MISSING",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn unreadable_settings_are_not_missing() {
    let r = repo();
    r.write(
        ".promptrail.yml",
        "environments: [production]\nsigning:\n  mode: keyless\n  identities: [\"https://github.com/acme/clinic/.github/workflows/promptrail-keyless.yml@refs/heads/main\"]\n",
    );
    r.commit("keyless");
    let s = StandIn::start();
    // The workflow token reads rulesets (which say nothing here) but not branch protection
    // or Actions settings (`administration: read`), and not environments.
    answer(&s, "/rules/branches/main", 200, json!([]));
    answer(&s, "/rules/branches/promptrail/audit", 200, json!([]));
    for route in [
        "/branches/main/protection",
        "/branches/promptrail/audit/protection",
        "/actions/permissions/workflow",
    ] {
        answer(&s, route, 403, fixture("error_forbidden_integration.json"));
    }
    // A plain 404 is not GitHub's "Branch not protected": it cannot be read.
    answer(&s, "/environments", 404, fixture("error_not_found.json"));

    let out = doctor(&r, &s, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = findings(&out);
    for id in [
        "protected-branch.reviews",
        "audit-branch.deletion",
        "actions.workflow-permissions",
        "environment.production",
    ] {
        assert_eq!(status_of(&f, id), "cannotRead", "{id}");
    }
    assert_eq!(status_of(&f, "signing-key.secret-scope"), "ok");
    let text = stdout(&doctor(&r, &s, &[]));
    assert!(
        text.contains("CANNOT READ  actions.workflow-permissions: GitHub refused GET /repos/acme/clinic/actions/permissions/workflow (403 Resource not accessible by integration)"),
        "{text}"
    );
    assert!(
        text.contains("needs: a token with `administration: read`"),
        "{text}"
    );
    // Keyless: the identity anchor's variable (a 404 here: unreadable, never missing).
    assert_eq!(status_of(&f, "trust-anchor.identities"), "cannotRead");
    assert!(text.contains("0 missing, 8 could not be read"), "{text}");
}

#[test]
fn the_documented_classic_protection_example() {
    let r = repo();
    let s = StandIn::start();
    answer(
        &s,
        "/rules/branches/main",
        200,
        fixture("branch_rules.json"),
    );
    answer(&s, "/rules/branches/promptrail/audit", 200, json!([]));
    // GitHub's example: 2 approvals, stale dismissal, last-push approval, one unrelated
    // required check, and force pushes and deletion allowed.
    for b in ["main", "promptrail/audit"] {
        answer(
            &s,
            &format!("/branches/{b}/protection"),
            200,
            fixture("branch_protection.json"),
        );
    }
    workflow(&s, "read");
    environments(&s, &[("staging", &["main"]), ("production", &["main"])]);
    secrets(&s, "/actions/secrets", &[]);
    secrets(
        &s,
        "/environments/staging/secrets",
        &["PROMPTRAIL_SIGNING_KEY"],
    );
    secrets(
        &s,
        "/environments/production/secrets",
        &["PROMPTRAIL_SIGNING_KEY"],
    );
    let out = doctor(&r, &s, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let f = findings(&out);
    assert_eq!(status_of(&f, "protected-branch.reviews"), "ok");
    assert_eq!(status_of(&f, "protected-branch.stale-approvals"), "ok");
    assert_eq!(status_of(&f, "protected-branch.required-check"), "missing");
    assert_eq!(status_of(&f, "audit-branch.force-push"), "missing");
    assert_eq!(status_of(&f, "audit-branch.deletion"), "missing");
    assert_eq!(status_of(&f, "signing-key.secret-scope"), "ok");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reviews = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "protected-branch.reviews")
        .unwrap();
    assert_eq!(
        reviews["detail"],
        "pull requests to `main` need 2 approving review(s) (its branch protection rule)"
    );
}

#[test]
fn a_rejected_token_is_an_error_not_a_finding() {
    let r = repo();
    let s = StandIn::start();
    s.error(
        &repo_path("/rules/branches/main"),
        401,
        "error_bad_credentials.json",
    );
    let out = doctor(&r, &s, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("GitHub rejected the token"),
        "{}",
        stderr(&out)
    );
}

/// The trust anchor variable is judged as promptrail parses it and against the keys the
/// configuration names: absent, blank, in uppercase, or listing a key the config does not
/// name, it is missing (with the fix); unreadable (403), it cannot be read, never missing.
#[test]
fn the_trust_anchor_variable_is_checked_against_the_configured_keys() {
    let r = repo_with_key();
    let s = StandIn::start();
    let ci = ci_key_id();
    let other = promptrail::signing::TrustedKey::load(&other_keys().public)
        .unwrap()
        .key_id
        .to_string();
    let finding = |vars: Option<&[(&str, &str)]>| {
        s.reset();
        all_in_place(&s);
        match vars {
            Some(v) => variables(&s, v),
            None => answer(
                &s,
                "/actions/variables",
                403,
                fixture("error_forbidden_integration.json"),
            ),
        }
        let out = doctor(&r, &s, &["--format", "json"]);
        let v: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "trust-anchor.key-ids")
            .unwrap()
            .clone();
        (out.status.code(), f)
    };
    let name = "PROMPTRAIL_TRUSTED_KEY_IDS";
    let upper = ci.to_uppercase();
    let both = format!("{ci},{other}");
    for (value, want) in [
        ("", "names no key id"),
        ("  ", "names no key id"),
        (upper.as_str(), "(in lowercase)"),
        (both.as_str(), "that `signing.public_keys` does not name"),
    ] {
        let (code, f) = finding(Some(&[(name, value)]));
        assert_eq!(code, Some(1), "{value:?}: {f:#}");
        assert_eq!(f["status"], "missing", "{value:?}: {f:#}");
        assert!(
            f["detail"].as_str().unwrap().contains(want),
            "{value:?}: {f:#}"
        );
    }
    // GitHub stores variable names in uppercase and compares them without case.
    let (code, f) = finding(Some(&[("promptrail_trusted_key_ids", &ci)]));
    assert_eq!((code, &f["status"]), (Some(0), &Value::from("ok")), "{f:#}");
    let (code, f) = finding(None);
    assert_eq!(code, Some(0), "{f:#}");
    assert_eq!(f["status"], "cannotRead", "{f:#}");
    assert_eq!(f["permission"], "`variables: read`", "{f:#}");
    assert!(
        f["detail"].as_str().unwrap().contains("variables: read"),
        "{f:#}"
    );
}

/// Keyless mode: the identity anchor's variable is judged as promptrail parses it: absent or
/// a pattern, it is missing (with the fix); listing the configured identity, it is in place.
#[test]
fn the_keyless_trust_anchor_variable_is_parsed_as_promptrail_parses_it() {
    const IDENTITY: &str =
        "https://github.com/acme/clinic/.github/workflows/promptrail-keyless.yml@refs/heads/main";
    let r = repo();
    r.write(
        ".promptrail.yml",
        &format!(
            "environments: [staging, production]\nsigning:\n  mode: keyless\n  identities: [\"{IDENTITY}\"]\n"
        ),
    );
    r.commit("keyless");
    let s = StandIn::start();
    let name = "PROMPTRAIL_TRUSTED_IDENTITIES";
    for (vars, want, detail) in [
        (
            vec![],
            "missing",
            "no repository variable `PROMPTRAIL_TRUSTED_IDENTITIES`",
        ),
        (
            vec![(name, "https://github.com/acme/.*")],
            "missing",
            "is not a certificate identity",
        ),
        (
            vec![(name, IDENTITY)],
            "ok",
            "lists 1 identity(ies) (the workflows",
        ),
    ] {
        s.reset();
        all_in_place(&s);
        variables(&s, &vars);
        let out = doctor(&r, &s, &["--format", "json"]);
        let f = findings(&out);
        assert_eq!(status_of(&f, "trust-anchor.identities"), want, "{vars:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == "trust-anchor.identities")
            .unwrap()
            .clone();
        assert!(
            found["detail"].as_str().unwrap().contains(detail),
            "{vars:?}: {found}"
        );
        assert!(
            !f.iter().any(|(id, _)| id == "trust-anchor.key-ids"),
            "a key-id finding in keyless mode"
        );
    }
}
