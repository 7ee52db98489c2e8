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

fn ocsf_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ocsf/entity_management-1.8.0.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// Every line one OCSF event, each valid against the class schema.
fn ocsf_events(text: &str) -> Vec<serde_json::Value> {
    let v = ocsf_validator();
    text.lines()
        .map(|line| {
            let ev: serde_json::Value = serde_json::from_str(line).unwrap();
            let errors: Vec<String> = v.iter_errors(&ev).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:#?}\n{ev:#}");
            ev
        })
        .collect()
}

#[test]
fn ocsf_events_follow_the_entity_management_schema_and_name_their_entry() {
    let (r, s) = long_log();
    let public = keys().public.to_str().unwrap().to_owned();
    let events = ocsf_events(&out_of(&r, &s, &["export", "--format", "ocsf"]));
    // One event per prompt per entry (no approvals on this log): the CSV's rows.
    let csv = out_of(&r, &s, &["export", "--format", "csv", "--key", &public]);
    assert_eq!(events.len(), csv.lines().count() - 1);
    for ev in &events {
        assert_eq!(ev["class_uid"], 3004);
        assert_eq!(ev["metadata"]["version"], "1.8.0");
        let pt = &ev["unmapped"]["promptrail"];
        // The entry is found again: its file on the audit branch hashes to the event's
        // correlation id, and its index is the sequence number.
        let file = pt["entryFile"].as_str().unwrap();
        let bytes = git_cmd(&r.work)
            .args(["show", &format!("promptrail/audit:{file}")])
            .output()
            .unwrap()
            .stdout;
        use sha2::Digest as _;
        let sha = hex(&sha2::Sha256::digest(&bytes));
        assert_eq!(ev["metadata"]["correlation_uid"], sha.as_str());
        assert_eq!(pt["entrySha256"], sha.as_str());
        assert_eq!(ev["metadata"]["sequence"], pt["entry"]);
        assert_eq!(ev["metadata"]["log_source"], pt["origin"]);
        assert!(pt["origin"].as_str().unwrap().ends_with("/remote"));
    }
    let find = |event: &str, name: &str, activity: u64| {
        events
            .iter()
            .filter(|e| {
                e["metadata"]["event_code"] == event
                    && e["entity"]["name"] == name
                    && e["activity_id"] == activity
            })
            .count()
    };
    assert_eq!(
        find("version", ".promptrail.yml", 1),
        1,
        "the policy is created"
    );
    assert_eq!(find("version", "prompts/intake.md", 1), 1);
    assert_eq!(find("version", "prompts/intake.md", 3), 9, "nine updates");
    assert_eq!(
        find("version", "prompts/welcome.md", 5),
        1,
        "the rename is a move"
    );
    assert_eq!(find("version", "prompts/welcome.md", 4), 1, "deleted");
    assert_eq!(find("version", "prompts/welcome.md", 1), 1, "re-added");
    assert_eq!(find("deployment", "prompts/intake.md", 10), 4);
    let policy = events
        .iter()
        .find(|e| e["entity"]["name"] == ".promptrail.yml")
        .unwrap();
    assert_eq!(policy["entity"]["type"], "policy");
    let staging = events
        .iter()
        .filter(|e| e["unmapped"]["promptrail"]["deployment"]["environment"] == "staging")
        .count();
    assert_eq!(staging, 5);
    // Filters apply as to the other formats.
    let only_staging = ocsf_events(&out_of(
        &r,
        &s,
        &["export", "--format", "ocsf", "--env", "staging"],
    ));
    assert!(
        only_staging
            .iter()
            .all(|e| e["unmapped"]["promptrail"]["deployment"]["environment"] != "production")
    );
    assert_eq!(only_staging.len(), events.len() - 5);
}

/// The HTML page's `generatedAt`, which also ends the open spans its timelines draw.
fn generated(page: &str) -> &str {
    let at = page
        .find("<p>Generated ")
        .map_or(0, |i| i + "<p>Generated ".len());
    &page[at..at + page[at..].find(' ').unwrap_or(0)]
}

/// The page is written from the rows the export set aside: the same page whether they stayed
/// in memory or went through the temporary file (a budget of 64 bytes spills on nearly every
/// row), with every prompt's lineage section, diffs, deployments and the live timelines.
#[test]
fn the_html_page_is_the_same_when_its_rows_go_through_the_spool_file() {
    let (r, s) = long_log();
    let public = keys().public.to_str().unwrap().to_owned();
    let args = ["export", "--format", "html", "--key", &public];
    let spilled = |budget: &str| {
        let mut cmd = r.cmd();
        s.env(&mut cmd);
        let out = cmd
            .env("PROMPTRAIL_SPOOL_BUDGET", budget)
            .args(args)
            .output()
            .unwrap();
        assert_ok(&out);
        stdout(&out)
    };
    // Both pages must be made in the same second (the time is on the page): a few tries.
    let (held, spooled) = (0..5)
        .map(|_| (spilled("100000000"), spilled("64")))
        .find(|(a, b)| generated(a) == generated(b))
        .expect("two exports within one second");
    assert!(held.starts_with("<!doctype html>"), "{held}");
    assert_eq!(held, spooled);
    // `.promptrail.yml`, intake, faq and greet/welcome (renamed, deleted, re-added).
    assert_eq!(held.matches("<details class=\"lineage\"").count(), 4);
    assert!(
        held.contains("formerly <code>prompts/greet.md</code>"),
        "{held}"
    );
    assert!(held.contains("data-env=\"production\""), "{held}");
    assert!(held.contains("data-env=\"staging\""), "{held}");
    assert!(held.contains("<span class=\"add\">+Rule 9: ask about allergies.</span>"));
    assert!(
        held.contains("<td>staging</td><td>deployment</td>"),
        "{held}"
    );
}

/// What an insider with push access controls and the page shows (a prompt's path and text,
/// a commit's author and co-author, the deploying actor) stays text: the page's only script
/// is its own, and each hostile value appears escaped, never as markup.
#[test]
fn the_html_page_escapes_hostile_paths_authors_diffs_and_actors() {
    let r = Repo::new();
    let s = StandIn::start();
    r.write(".promptrail.yml", "policy:\n  default:\n    approvals: 0\n");
    land(&r, &s, "adopt a policy");
    let evil = "prompts/</td><script>alert(1)</script>\"x'.md";
    r.write(evil, "Hi </template><script>alert(2)</script>\n");
    let sha = r.commit_as(
        "Mal\"lory & 'co' <mal@example.org>",
        "evil\n\nCo-authored-by: Eve\"><script>alert(3)</script> <eve@example.org>",
    );
    r.push();
    s.commit_pulls(&sha, None);
    record(&r, &s);
    let mut cmd = r.cmd();
    s.env(&mut cmd);
    let out = cmd
        .env("GITHUB_ACTOR", "<script>alert(4)</script>")
        .args(["deploy", "--env", "staging", "--key", &key()])
        .output()
        .unwrap();
    assert_ok(&out);
    let public = keys().public.to_str().unwrap().to_owned();
    let page = out_of(&r, &s, &["export", "--format", "html", "--key", &public]);
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!page.contains("<script>alert"), "no hostile script element");
    for escaped in [
        "prompts/&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;x&#39;.md",
        "&lt;/template&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
        "Mal&quot;lory &amp; &#39;co",
        "Eve&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;",
        "&lt;script&gt;alert(4)&lt;/script&gt;",
    ] {
        assert!(page.contains(escaped), "{escaped} in {page}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ocsf_approvals_are_events_and_hostile_author_fields_stay_valid() {
    let r = Repo::new();
    let s = StandIn::start();
    r.write("README.md", "clinic\n");
    land(&r, &s, "start");
    land_approved(
        &r,
        &s,
        1,
        &[("prompts/intake.md", "You are an intake assistant.\n")],
    );
    // An author whose email OCSF's email_t refuses (no dot in its domain), odd name.
    r.write("prompts/intake.md", "Unreviewed.\n");
    let sha = r.commit_as("Mal\"lory & {co} <mal.lory@localhost>", "sneak");
    r.push();
    s.commit_pulls(&sha, None);
    record_with(&r, &s);
    let events = ocsf_events(&out_of(&r, &s, &["export", "--format", "ocsf"]));
    let approvals: Vec<_> = events.iter().filter(|e| e["activity_id"] == 99).collect();
    assert_eq!(approvals.len(), 1, "{events:#?}");
    let a = approvals[0];
    assert_eq!(a["activity_name"], "Approve");
    assert_eq!(a["type_uid"], 300499);
    assert_eq!(a["actor"]["user"]["name"], "rita");
    assert_eq!(a["entity"]["name"], "prompts/intake.md");
    assert_eq!(a["unmapped"]["promptrail"]["approval"]["pullRequest"], 1);
    let v1 = events
        .iter()
        .find(|e| e["activity_id"] == 1 && e["entity"]["name"] == "prompts/intake.md")
        .unwrap();
    assert_eq!(v1["unmapped"]["promptrail"]["approved"], true);
    let sneak = events.iter().find(|e| e["activity_id"] == 3).unwrap();
    assert_eq!(sneak["unmapped"]["promptrail"]["approved"], false);
    assert!(
        sneak["actor"]["user"].get("email_addr").is_none(),
        "{sneak:#}"
    );
    assert!(sneak["message"].as_str().unwrap().ends_with("not approved"));
}

#[test]
fn the_pack_holds_a_checkable_proof_of_every_deployed_version() {
    let (r, s) = long_log();
    let public = keys().public.to_str().unwrap().to_owned();
    let dir = r.dir.path().join("pack");
    let pack = dir.to_str().unwrap().to_owned();
    let args = [
        "export", "--format", "pack", "--out", &pack, "--key", &public,
    ];
    assert_ok(&run(&r, &s, &args));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.md",
            "checkpoint",
            "log.csv",
            "proofs",
            "report.html",
            "verification.json"
        ]
    );
    // The CSV and checkpoint are the exports' own.
    let csv = out_of(&r, &s, &["export", "--format", "csv", "--key", &public]);
    assert_eq!(std::fs::read_to_string(dir.join("log.csv")).unwrap(), csv);
    assert_eq!(
        std::fs::read_to_string(dir.join("checkpoint")).unwrap(),
        out_of(&r, &s, &["checkpoint"])
    );
    let verification: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("verification.json")).unwrap())
            .unwrap();
    assert_eq!(verification["ok"], true);
    assert!(
        std::fs::read_to_string(dir.join("report.html"))
            .unwrap()
            .starts_with("<!doctype html>")
    );
    // Deployed: greet v1, intake v10, faq v6, welcome v2 — each proof checks offline.
    let mut proofs: Vec<_> = std::fs::read_dir(dir.join("proofs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    proofs.sort();
    let proof_names: Vec<String> = proofs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        proof_names,
        [
            "prompts__faq.md@v6.json",
            "prompts__greet.md@v1.json",
            "prompts__intake.md@v10.json",
            "prompts__welcome.md@v2.json"
        ]
    );
    for p in &proofs {
        let out = run(
            &r,
            &s,
            &["verify-entry", p.to_str().unwrap(), "--key", &public],
        );
        assert_ok(&out);
        // The same file `prove` writes.
        let target = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".json")
            .replace("__", "/");
        let proved = out_of(&r, &s, &["prove", &target]);
        assert_eq!(std::fs::read_to_string(p).unwrap(), proved, "{target}");
    }
    // A tampered proof fails verify-entry.
    let text = std::fs::read_to_string(&proofs[0]).unwrap();
    let bad = r.dir.path().join("bad.json");
    let mut tampered: serde_json::Value = serde_json::from_str(&text).unwrap();
    tampered["index"] = serde_json::json!(tampered["index"].as_u64().unwrap() + 1);
    std::fs::write(&bad, tampered.to_string()).unwrap();
    let out = run(
        &r,
        &s,
        &["verify-entry", bad.to_str().unwrap(), "--key", &public],
    );
    assert_ne!(out.status.code(), Some(0));

    settings(&r).bind(|| {
        let mut s2 = insta::Settings::clone_current();
        s2.add_filter(r"commit `[0-9a-f]{40}`", "commit `[COMMIT]`");
        s2.add_filter(r"promptrail \d+\.\d+\.\d+\S*", "promptrail [VERSION]");
        s2.bind(|| {
            insta::assert_snapshot!(
                "pack_readme",
                std::fs::read_to_string(dir.join("README.md")).unwrap()
            );
        });
    });

    // A non-empty directory is refused unless asked; nothing in it changes.
    std::fs::write(dir.join("note.txt"), "mine").unwrap();
    let out = run(&r, &s, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert!(dir.join("note.txt").exists());
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_ok(&run(&r, &s, &forced));
    assert!(!dir.join("note.txt").exists());
    assert!(dir.join("README.md").exists());
    // No temporary directories are left beside it.
    let left: Vec<_> = std::fs::read_dir(r.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-") || n.contains(".old-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A file in the way, or no trust to verify with, is refused.
    let file = r.dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let out = run(
        &r,
        &s,
        &[
            "export",
            "--format",
            "pack",
            "--out",
            file.to_str().unwrap(),
            "--key",
            &public,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &r,
        &s,
        &[
            "export",
            "--format",
            "pack",
            "--out",
            r.dir.path().join("p2").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!r.dir.path().join("p2").exists());
}
