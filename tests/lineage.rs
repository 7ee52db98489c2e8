//! A prompt across renames: `show`, `log --prompt`, `active` and `export` follow its
//! lineage (its paths linked by `previousPath`), `--no-follow` stays on one path; a prompt
//! deleted and re-added is recorded as `readded`. Real git, a GitHub stand-in on 127.0.0.1.

mod common;

use common::github::StandIn;
use common::*;
use serde_json::Value;

const OLD: &str = "prompts/intake.md";
const NEW: &str = "prompts/clinical/intake.md";

fn run(r: &Repo, s: &StandIn, args: &[&str]) -> std::process::Output {
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    cmd.args(args).output().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", stdout(out), stderr(out)))
}

/// Commits, pushes (directly, no pull request behind it) and tells the stand-in so.
fn land(r: &Repo, s: &StandIn, message: &str) {
    let sha = r.commit(message);
    r.push();
    s.commit_pulls(&sha, None);
}

fn record(r: &Repo, s: &StandIn) {
    let key = keys().private.to_str().unwrap().to_owned();
    assert_ok(&run(r, s, &["record", "--key", &key]));
}

fn deploy(r: &Repo, s: &StandIn) {
    let key = keys().private.to_str().unwrap().to_owned();
    assert_ok(&run(
        r,
        s,
        &["deploy", "--env", "production", "--key", &key],
    ));
}

/// intake v1, v2 (deployed) under `prompts/`, then moved to `prompts/clinical/` and v3
/// (deployed). The policy asks for no approval, so direct pushes may be deployed.
fn moved_prompt() -> (Repo, StandIn) {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\"]\npolicy:\n  default:\n    approvals: 0\n",
            keys().public.display()
        ),
    );
    r.write(OLD, "You are an intake assistant.\n");
    land(&r, &s, "intake v1");
    r.write(OLD, "You are an intake assistant.\nAsk about allergies.\n");
    land(&r, &s, "intake v2");
    record(&r, &s);
    deploy(&r, &s);
    std::fs::create_dir_all(r.work.join("prompts/clinical")).unwrap();
    r.git(&["mv", OLD, NEW]);
    land(&r, &s, "move the clinical prompts");
    r.write(
        NEW,
        "You are an intake assistant.\nAsk about allergies.\nEscalate chest pain.\n",
    );
    land(&r, &s, "intake v3");
    record(&r, &s);
    deploy(&r, &s);
    (r, s)
}

#[test]
fn show_log_active_and_export_follow_a_prompt_across_its_rename() {
    let (r, s) = moved_prompt();
    assert_ok(&r.verify());

    // v1 was recorded under the old path; asked for by the new one, it is found.
    let v1 = json(&r.run(&["show", &format!("{NEW}@v1"), "--format", "json"]));
    assert_eq!(v1["prompt"]["path"], OLD);
    assert_eq!(v1["prompt"]["change"], "added");
    assert_eq!(v1["names"], serde_json::json!([OLD, NEW]));
    // v2's deployment happened under the old name and counts for the prompt.
    let v2 = json(&r.run(&["show", &format!("{NEW}@v2"), "--format", "json"]));
    assert_eq!(v2["prompt"]["path"], OLD);
    assert_eq!(v2["deployments"].as_array().unwrap().len(), 1);
    let text = stdout(&r.run(&["show", &format!("{NEW}@v2")]));
    assert!(
        text.contains(&format!("names      {OLD} -> {NEW}")),
        "{text}"
    );
    // v3's diff is against v2 under its former name.
    let v3 = json(&r.run(&["show", &format!("{NEW}@v3"), "--format", "json"]));
    let diff = v3["diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("a/{OLD}")) || diff.contains(&format!("a/{NEW}")),
        "{diff}"
    );
    assert!(diff.contains("+Escalate chest pain."), "{diff}");
    // The old name still finds the prompt, and its newest version.
    let by_old = json(&r.run(&["show", &format!("{OLD}@v3"), "--format", "json"]));
    assert_eq!(by_old["prompt"]["path"], NEW);

    // --no-follow stays on the path, and says where the version is.
    let out = r.run(&["show", &format!("{NEW}@v1"), "--no-follow"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("drop --no-follow"),
        "{}",
        stderr(&out)
    );
    let renamed = json(&r.run(&[
        "show",
        &format!("{NEW}@v2"),
        "--no-follow",
        "--format",
        "json",
    ]));
    assert_eq!(renamed["prompt"]["change"], "renamed");

    // log --prompt: the whole lineage (3 versions, the rename, 2 deployments) or one path.
    let log = |extra: &[&str]| {
        let mut args = vec!["log", "--prompt", NEW, "--format", "json"];
        args.extend_from_slice(extra);
        json(&r.run(&args)).as_array().unwrap().len()
    };
    assert_eq!(log(&[]), 6);
    assert_eq!(
        log(&["--no-follow"]),
        3,
        "the rename, v3 and its deployment"
    );

    // active: the prompt is live under its new name only; --no-follow keeps each path.
    let active = |extra: &[&str]| {
        let mut args = vec!["active", "--env", "production", "--format", "json"];
        args.extend_from_slice(extra);
        let v = json(&r.run(&args));
        v["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}@v{}", p["path"].as_str().unwrap(), p["version"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(active(&[]), vec![format!("{NEW}@v3")]);
    assert_eq!(
        active(&["--no-follow"]),
        vec![format!("{NEW}@v3"), format!("{OLD}@v2")]
    );

    // export: one timeline per prompt under its newest name, with its former names.
    let key = keys().public.to_str().unwrap().to_owned();
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--format", "json", "--key", &key];
        args.extend_from_slice(extra);
        json(&r.run(&args))
    };
    let e = export(&[]);
    let prompts = e["prompts"].as_object().unwrap();
    // Besides the policy file, which is recorded like a prompt.
    assert_eq!(
        prompts
            .keys()
            .filter(|k| k.as_str() != ".promptrail.yml")
            .collect::<Vec<_>>(),
        vec![NEW]
    );
    assert_eq!(prompts[NEW]["names"], serde_json::json!([OLD, NEW]));
    let versions: Vec<(String, u64)> = prompts[NEW]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().into(),
                v["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (OLD.into(), 1),
            (OLD.into(), 2),
            (NEW.into(), 2),
            (NEW.into(), 3)
        ]
    );
    // What was live: v2 under the old name until v3 under the new one replaced it.
    let live = e["live"]["production"].as_array().unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0]["path"], OLD);
    assert_eq!(live[0]["until"], live[1]["from"]);
    assert!(live[1]["until"].is_null());
    let per_path = export(&["--no-follow"]);
    // The old name, the new name, and the policy file.
    assert_eq!(per_path["prompts"].as_object().unwrap().len(), 3);
    assert!(per_path["live"]["production"][0]["until"].is_null());
    drop(s);
}

#[test]
fn a_prompt_deleted_and_added_again_is_recorded_as_readded() {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(OLD, "one\n");
    land(&r, &s, "add");
    r.git(&["rm", "-q", OLD]);
    land(&r, &s, "delete");
    r.write(OLD, "two\n");
    land(&r, &s, "bring it back with new text");
    r.git(&["rm", "-q", OLD]);
    land(&r, &s, "delete again");
    r.write(OLD, "one\n");
    land(&r, &s, "bring back the first text");
    record(&r, &s);
    let log = r.log_json();
    assert_eq!(
        versions(&log),
        vec![
            (OLD.into(), 1, "added".into()),
            (OLD.into(), 1, "deleted".into()),
            (OLD.into(), 2, "readded".into()),
            (OLD.into(), 2, "deleted".into()),
            (OLD.into(), 3, "readded".into()),
        ]
    );
    assert_eq!(log[2]["prompts"][0]["previousVersion"], 1);
    // Back with the first text: a re-add that says which version it equals.
    assert_eq!(log[4]["prompts"][0]["equalsVersion"], 1);
    assert_eq!(log[4]["prompts"][0]["previousVersion"], 2);
    assert_ok(&r.verify());
    assert_eq!(assert_schema_valid(&r), 5);
    let text = stdout(&r.run(&["log", "--prompt", OLD]));
    assert!(text.contains(&format!("{OLD} v3 readded")), "{text}");
}
