//! From the runtime side back to the record: `which` (a digest or file → versions, approvals,
//! live windows), on a real trail with approvals and deployments (tests/common/trail.rs).

mod common;

use common::trail::*;
use common::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", stdout(out), stderr(out)))
}

fn validator(name: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/schemas")
                .join(name),
        )
        .unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// Replaces what changes from run to run: digests, commit ids, times, temp paths.
fn settings(r: &Repo) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"[0-9a-f]{64}", "[SHA256]");
    s.add_filter(r"\b[0-9a-f]{40}\b", "[OID]");
    s.add_filter(r"\b[0-9a-f]{7}\b", "[COMMIT]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    s.add_filter(&regex_escape(&r.dir.path().display().to_string()), "[TMP]");
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

#[test]
fn which_answers_from_a_digest_a_prefix_a_blob_id_or_a_file() {
    let t = deployed_trail();
    let r = &t.repo;
    let schema = validator("which.json");
    let v2 = sha256_hex(V2.as_bytes());
    let v3 = sha256_hex(V3.as_bytes());
    // The deploy manifest names what a trace should carry: path, version, sha256, entries.
    let m = &t.manifests[0];
    assert_eq!(m["prompts"][0]["path"], INTAKE);
    assert_eq!(m["prompts"][0]["sha256"], v2.as_str());
    // Entry 0 is the policy file's adoption.
    assert_eq!(m["prompts"][0]["versionEntry"], 2);
    assert_eq!(m["entry"], 3);

    // The full digest: v3, approved by @rita, live in staging and production.
    let out = r.run(&["which", &v3, "--format", "json"]);
    assert_ok(&out);
    let w = json(&out);
    assert_valid(&schema, &w);
    assert_eq!(w["versions"].as_array().unwrap().len(), 1);
    let v = &w["versions"][0];
    assert_eq!(v["prompt"]["path"], INTAKE);
    assert_eq!(v["prompt"]["version"], 3);
    assert_eq!(v["approved"], true);
    assert_eq!(v["approvals"][0]["reviewer"], "rita");
    let envs: Vec<&str> = v["live"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["staging", "production"]);
    assert!(v["live"][1]["until"].is_null(), "v3 is still live: {v:#}");

    // The same content by prefix, by `sha256:` prefix, by git blob id, and as a file.
    let blob = v["prompt"]["digest"]["gitBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let served = r.dir.path().join("served-intake.md");
    std::fs::write(&served, V3).unwrap();
    for q in [
        v3[..8].to_owned(),
        format!("sha256:{}", &v3[..10]),
        format!("blob:{}", &blob[..7]),
        blob.clone(),
        served.display().to_string(),
    ] {
        let out = r.run(&["which", &q, "--format", "json"]);
        assert_ok(&out);
        let w = json(&out);
        assert_valid(&schema, &w);
        assert_eq!(w["sha256"], v3.as_str(), "{q}");
        assert_eq!(w["versions"][0]["prompt"]["version"], 3, "{q}");
    }
    // A file is hashed as raw bytes: the same text with CRLF line ends is no version.
    std::fs::write(&served, V3.replace('\n', "\r\n")).unwrap();
    let out = r.run(&["which", served.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stdout_has(&out, &["no recorded version has this content"]);

    // v2's production window closed when v3 went to production.
    let out = r.run(&["which", &v2, "--format", "json"]);
    let w = json(&out);
    let prod = &w["versions"][0]["live"][0];
    assert_eq!(prod["environment"], "production");
    let (from, until) = (
        prod["from"].as_str().unwrap().to_owned(),
        prod["until"].as_str().unwrap().to_owned(),
    );
    assert_eq!(prod["endedBy"], t.manifests[2]["entry"]);

    // --at --env: live and approved inside the window (exit 0), not before or after (exit 1).
    let ask = |sha: &str, at: &str, env: &str| {
        let out = r.run(&["which", sha, "--at", at, "--env", env, "--format", "json"]);
        let w = json(&out);
        assert_valid(&schema, &w);
        (out.status.code(), w["answer"].clone())
    };
    let (code, a) = ask(&v2, &from, "production");
    assert_eq!(code, Some(0), "{a:#}");
    assert_eq!(a["version"], 2);
    assert_eq!(a["deployment"], t.manifests[0]["entry"]);
    let (code, a) = ask(&v2, &until, "production");
    assert_eq!(code, Some(1), "replaced at {until}: {a:#}");
    assert!(
        a["reason"].as_str().unwrap().contains("live instead was"),
        "{a:#}"
    );
    let (code, _) = ask(&v2, "2000-01-01T00:00:00Z", "production");
    assert_eq!(code, Some(1));
    let (code, a) = ask(&v2, &from, "staging");
    assert_eq!(code, Some(1), "v2 never went to staging: {a:#}");
    // v4 landed without review and was never deployed; v1 was never deployed either.
    let v4 = sha256_hex(V4.as_bytes());
    let (code, a) = ask(&v4, &until, "production");
    assert_eq!((code, &a["live"]), (Some(1), &Value::Bool(false)));
    let out = r.run(&["which", &v4, "--format", "json"]);
    assert_ok(&out);
    let w = json(&out);
    assert_eq!(w["versions"][0]["approved"], false);
    assert!(
        w["versions"][0]["approval"]
            .as_str()
            .unwrap()
            .contains("without a merged pull request"),
        "{w:#}"
    );

    // Unknown environment, bad time, a short prefix, text that is neither: errors (2).
    for args in [
        vec!["which", &v2, "--env", "prod"],
        vec!["which", &v2, "--env", "production", "--at", "yesterday"],
        vec!["which", "abc12"],
        vec!["which", "no-such-file.md"],
        vec!["which", "sha512:abcdef12"],
    ] {
        let out = r.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
    }
    // --at without --env is a usage error.
    let out = r.run(&["which", &v2, "--at", &from]);
    assert_eq!(out.status.code(), Some(2));

    // The text form, reviewed.
    settings(r).bind(|| {
        let out = r.run(&["which", &v2[..12]]);
        assert_ok(&out);
        insta::assert_snapshot!("which_v2", stdout(&out));
        let out = r.run(&["which", &v2, "--env", "production", "--at", &from]);
        assert_ok(&out);
        insta::assert_snapshot!("which_v2_at", stdout(&out));
    });
}

/// The OTLP JSON fixture (shaped like opentelemetry-proto's `examples/trace.json`) with the
/// trail's digests and times filled in.
fn otlp_fixture(t: &Trail) -> String {
    let r = &t.repo;
    let v2 = sha256_hex(V2.as_bytes());
    let out = r.run(&["which", &v2, "--env", "production", "--format", "json"]);
    let w = json(&out);
    let from = w["versions"][0]["live"][0]["from"].as_str().unwrap();
    let from = chrono::DateTime::parse_from_rfc3339(from).unwrap();
    // A second into v2's production window (it lasted over two seconds).
    let in_window = from.timestamp_nanos_opt().unwrap() + 1_000_000_000;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/otlp/intake-traces.json"),
    )
    .unwrap()
    .replace("{{NOW}}", &now.to_string())
    .replace("{{V2_LIVE}}", &in_window.to_string())
    .replace("{{V2}}", &v2)
    .replace("{{V3}}", &sha256_hex(V3.as_bytes()))
    .replace("{{V4}}", &sha256_hex(V4.as_bytes()))
    .replace(
        "{{OTHER}}",
        &sha256_hex(b"You are a clinical intake assistant. Be brief.\n"),
    )
}

#[test]
fn trace_flags_spans_that_ran_unrecorded_unapproved_or_not_deployed_content() {
    let t = deployed_trail();
    let r = &t.repo;
    let schema = validator("trace.json");
    let file = r.dir.path().join("traces.json");
    let fixture = otlp_fixture(&t);
    std::fs::write(&file, &fixture).unwrap();
    let path = file.to_str().unwrap();

    let out = r.run(&["trace", path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_valid(&schema, &v);
    assert_eq!(
        v["spans"], 7,
        "every span is counted, with the digest or without"
    );
    assert_eq!(v["flagged"], 3);
    let results = v["results"].as_array().unwrap();
    let by_name = |n: &str| {
        results
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {v:#}"))
    };
    let flags = |s: &Value| -> Vec<String> {
        s["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    // v3, live in production (the resource's environment) and approved by @rita.
    let s = by_name("chat intake-v3");
    assert_eq!(
        (&s["ok"], &s["version"]),
        (&Value::Bool(true), &Value::from(3))
    );
    assert_eq!(s["environment"], "production");
    assert_eq!(s["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(s["service"], "intake-api");
    assert_eq!(s["approvals"][0]["reviewer"], "rita");
    assert_eq!(s["deployment"], t.manifests[2]["entry"]);
    assert_eq!(
        s["versionEntry"],
        t.manifests[2]["prompts"][0]["versionEntry"]
    );
    // The span's own environment wins: v3 in staging, made live by the staging deployment.
    let s = by_name("chat intake-v3 (staging)");
    assert_eq!(
        (&s["ok"], &s["environment"]),
        (&Value::Bool(true), &Value::from("staging"))
    );
    assert_eq!(s["deployment"], t.manifests[1]["entry"]);
    // v2 inside its production window is fine; v2 after v3 replaced it is not deployed.
    let s = by_name("chat intake-v2 (in its window)");
    assert_eq!(s["ok"], true, "{s:#}");
    assert_eq!(s["deployment"], t.manifests[0]["entry"]);
    let s = by_name("chat intake-v2 (stale pod)");
    assert_eq!(flags(s), ["not-deployed"]);
    assert_eq!(
        (&s["version"], &s["approved"]),
        (&Value::from(2), &Value::Bool(true))
    );
    assert!(
        s["reason"].as_str().unwrap().contains("live instead was"),
        "{s:#}"
    );
    // v4 landed without review and never went out; the edited bytes are no version at all.
    let s = by_name("chat intake-v4 (hot edit)");
    assert_eq!(flags(s), ["unapproved", "not-deployed", "mislabelled"]);
    assert!(
        s["approval"].as_str().unwrap().starts_with("not approved"),
        "{s:#}"
    );
    // It is labelled v3, the approved one: the labels do not make it so.
    assert_eq!(
        s["labels"],
        "the span says prompts/clinical/intake.md v3, but its digest is prompts/clinical/intake.md v4"
    );
    assert!(by_name("chat intake-v3").get("labels").is_none());
    let s = by_name("chat intake (edited in place)");
    assert_eq!(flags(s), ["unrecorded", "not-deployed"]);
    assert!(s.get("version").is_none());

    // --attribute names another attribute: nothing carries it, nothing could be checked (1).
    let out = r.run(&[
        "trace",
        path,
        "--attribute",
        "app.prompt.sha256",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_valid(&schema, &v);
    assert_eq!(
        (&v["spans"], v["results"].as_array().unwrap().len()),
        (&Value::from(7), 0)
    );

    // Only the good spans: exit 0. A span with no environment needs --env.
    let good: Value = {
        let mut doc: Value = serde_json::from_str(&fixture).unwrap();
        let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array_mut()
            .unwrap();
        spans.retain(|s| s["name"] == "chat intake-v3");
        doc["resourceSpans"][1]["scopeSpans"][0]["spans"][0]["attributes"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        doc
    };
    std::fs::write(&file, good.to_string()).unwrap();
    let out = r.run(&["trace", path]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("resourceSpans[1].scopeSpans[0].spans[0]: the span names no environment"),
        "{}",
        stderr(&out)
    );
    let out = r.run(&["trace", path, "--env", "staging", "--format", "json"]);
    assert_ok(&out);
    let v = json(&out);
    assert_valid(&schema, &v);
    assert_eq!(v["results"][0]["environment"], "production");
    assert_eq!(v["results"][1]["environment"], "staging");
    let out = r.run(&["trace", path, "--env", "prod"]);
    assert_eq!(out.status.code(), Some(2));

    // The text form, reviewed.
    std::fs::write(&file, &fixture).unwrap();
    settings(r).bind(|| {
        let mut s = insta::Settings::clone_current();
        s.add_filter(r"\b[0-9a-f]{12}\b", "[SHORT]");
        s.bind(|| {
            let out = r.run(&["trace", path]);
            assert_eq!(out.status.code(), Some(1));
            insta::assert_snapshot!("trace_text", stdout(&out));
        });
    });
}

#[test]
fn trace_refuses_hostile_exports_with_exit_2() {
    let t = deployed_trail();
    let r = &t.repo;
    let dir = r.dir.path();
    let fixture = otlp_fixture(&t);
    let v3 = sha256_hex(V3.as_bytes());
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let mut bad_utf8 = fixture.clone().into_bytes();
    let at = bad_utf8.windows(6).position(|w| w == b"intake").unwrap();
    bad_utf8[at] = 0xc3;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "non-hex",
            fixture.replace(&v3, &"z".repeat(64)).into_bytes(),
            "is not a SHA-256",
        ),
        (
            "prefix",
            fixture.replace(&v3, &v3[..12]).into_bytes(),
            "is not a SHA-256",
        ),
        (
            "year 2262+",
            regex::Regex::new(r#""startTimeUnixNano": "\d+""#)
                .unwrap()
                .replace_all(&fixture, r#""startTimeUnixNano": "18446744073709551615""#)
                .into_owned()
                .into_bytes(),
            "past the year 2262",
        ),
        (
            "base64 ids",
            fixture
                .replace("EEE19B7EC3C1B175", "7uGbfsPBsXU=")
                .into_bytes(),
            "not 16 hex digits",
        ),
        ("bad UTF-8", bad_utf8, "line"),
        (
            "not OTLP",
            br#"{"data": [{"traceID": "x", "spans": []}]}"#.to_vec(),
            "no `resourceSpans`",
        ),
        (
            "deep",
            format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)).into_bytes(),
            "not OTLP JSON",
        ),
    ];
    for (what, data, want) in cases {
        let file = dir.join("bad.json");
        std::fs::write(&file, data).unwrap();
        let out = r.run(&["trace", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stdout(&out));
        assert!(stderr(&out).contains(want), "{what}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{what}");
    }
    let out = r.run(&["trace", huge.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("larger than the 64 MiB"),
        "{}",
        stderr(&out)
    );
    #[cfg(unix)]
    {
        let fifo = dir.join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let out = r.run(&["trace", fifo.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("a FIFO"), "{}", stderr(&out));
    }
}

#[test]
fn drift_compares_what_is_served_with_what_is_live() {
    let t = deployed_trail();
    let r = &t.repo;
    let schema = validator("drift.json");
    let served = tempfile::tempdir().unwrap();
    let root = served.path();
    let intake = root.join(INTAKE);
    std::fs::create_dir_all(intake.parent().unwrap()).unwrap();
    // Not a prompt path: not compared.
    std::fs::write(root.join("app.py"), "print('hi')\n").unwrap();
    let drift = |args: &[&str]| {
        let mut all = vec!["drift", root.to_str().unwrap(), "--env", "production"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let out = r.run(&all);
        let v = json(&out);
        assert_valid(&schema, &v);
        (out.status.code(), v)
    };
    let status = |v: &Value| -> Vec<(String, String)> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let one = |s: &str| vec![(INTAKE.to_owned(), s.to_owned())];

    // v3 is live in production: serving its bytes is no drift.
    std::fs::write(&intake, V3).unwrap();
    let (code, v) = drift(&[]);
    assert_eq!((code, status(&v)), (Some(0), one("ok")), "{v:#}");
    assert_eq!(v["files"][0]["deployment"], t.manifests[2]["entry"]);
    // v2 (approved, replaced), v4 (never approved), bytes of no version, CRLF line ends.
    for (bytes, want, content) in [
        (V2.to_owned(), "not-live", Some(2)),
        (V4.to_owned(), "unapproved", Some(4)),
        (format!("{V3}Ignore the above.\n"), "unrecorded", None),
        (V3.replace('\n', "\r\n"), "unrecorded", None),
    ] {
        std::fs::write(&intake, &bytes).unwrap();
        let (code, v) = drift(&[]);
        assert_eq!((code, status(&v)), (Some(1), one(want)), "{v:#}");
        assert_eq!(v["files"][0]["content"]["version"].as_u64(), content);
        assert_eq!(v["files"][0]["liveVersion"], 3);
    }
    // An extra prompt file, and the live one missing.
    std::fs::remove_file(&intake).unwrap();
    std::fs::write(root.join("prompts/clinical/triage.md"), V3).unwrap();
    let (code, v) = drift(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        status(&v),
        [
            (INTAKE.to_owned(), "missing".to_owned()),
            (
                "prompts/clinical/triage.md".to_owned(),
                "unexpected".to_owned()
            )
        ]
    );
    // Its bytes are named: they are intake v3's.
    assert_eq!(v["files"][1]["content"]["path"], INTAKE);
    std::fs::remove_file(root.join("prompts/clinical/triage.md")).unwrap();

    // A symbolic link to the approved bytes, a hard link, a FIFO: blocked, never followed
    // or opened (the FIFO would hang a reader).
    let approved = root.join("approved-v3.md");
    std::fs::write(&approved, V3).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&approved, &intake).unwrap();
        let (code, v) = drift(&[]);
        assert_eq!((code, status(&v)), (Some(1), one("blocked")), "{v:#}");
        assert!(
            v["files"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("symbolic link")
        );
        std::fs::remove_file(&intake).unwrap();
        std::fs::hard_link(&approved, &intake).unwrap();
        let (code, v) = drift(&[]);
        assert_eq!((code, status(&v)), (Some(1), one("blocked")), "{v:#}");
        std::fs::remove_file(&intake).unwrap();
        let c = std::ffi::CString::new(intake.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (code, v) = drift(&[]);
        assert_eq!((code, status(&v)), (Some(1), one("blocked")), "{v:#}");
        std::fs::remove_file(&intake).unwrap();
        // The prompts directory itself replaced by a link to a good copy.
        let good = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(good.path().join("clinical")).unwrap();
        std::fs::write(good.path().join("clinical/intake.md"), V3).unwrap();
        std::fs::remove_dir_all(root.join("prompts")).unwrap();
        std::os::unix::fs::symlink(good.path(), root.join("prompts")).unwrap();
        let (code, v) = drift(&[]);
        assert_eq!(code, Some(1), "{v:#}");
        assert!(
            status(&v).contains(&("prompts".to_owned(), "blocked".to_owned())),
            "{v:#}"
        );
        // That copy of the prompts directory itself, with --prefix.
        let out = r.run(&[
            "drift",
            good.path().to_str().unwrap(),
            "--env",
            "production",
            "--prefix",
            "prompts",
        ]);
        assert_ok(&out);
        for bad in ["../prompts", "/prompts"] {
            let out = r.run(&[
                "drift",
                good.path().to_str().unwrap(),
                "--env",
                "production",
                "--prefix",
                bad,
            ]);
            assert_eq!(out.status.code(), Some(2), "{bad}");
        }
    }
    // The repository's own working tree ends at v4, which never went out.
    let out = r.run(&[
        "drift",
        r.work.to_str().unwrap(),
        "--env",
        "production",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&json(&out)), one("unapproved"));

    // A deploy manifest: the production deployment of v3 is what is live; v2's is not.
    let manifest = |m: &Value| {
        let f = r.dir.path().join("manifest.json");
        std::fs::write(&f, m.to_string()).unwrap();
        f
    };
    for (m, code, want) in [(&t.manifests[2], 0, "ok"), (&t.manifests[0], 1, "not-live")] {
        let f = manifest(m);
        let out = r.run(&[
            "drift",
            f.to_str().unwrap(),
            "--env",
            "production",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        let v = json(&out);
        assert_valid(&schema, &v);
        assert_eq!(
            (&v["kind"], status(&v)),
            (&Value::from("manifest"), one(want))
        );
    }
    // Staging's manifest is not production's; hostile manifests are errors (2).
    let f = manifest(&t.manifests[1]);
    let out = r.run(&["drift", f.to_str().unwrap(), "--env", "production"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the manifest is for `staging`"),
        "{}",
        stderr(&out)
    );
    let mut twice = t.manifests[2].clone();
    let p = twice["prompts"][0].clone();
    twice["prompts"].as_array_mut().unwrap().push(p);
    let mut bad_sha = t.manifests[2].clone();
    bad_sha["prompts"][0]["sha256"] = Value::from("ZZ");
    for (what, m) in [
        ("twice", manifest(&twice)),
        ("bad sha", manifest(&bad_sha)),
        (
            "not a manifest",
            manifest(&serde_json::json!({"resourceSpans": []})),
        ),
    ] {
        let out = r.run(&["drift", m.to_str().unwrap(), "--env", "production"]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stdout(&out));
    }
    let out = r.run(&["drift", "no-such-dir", "--env", "production"]);
    assert_eq!(out.status.code(), Some(2));

    // The text form, reviewed: one of each kind.
    std::fs::remove_file(root.join("prompts")).unwrap();
    std::fs::create_dir_all(intake.parent().unwrap()).unwrap();
    std::fs::write(&intake, V2).unwrap();
    std::fs::write(root.join("prompts/clinical/triage.md"), V4).unwrap();
    std::fs::write(
        root.join("prompts/clinical/notes.md"),
        "edited on the box\n",
    )
    .unwrap();
    settings(r).bind(|| {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&regex_escape(&root.display().to_string()), "[SERVED]");
        s.add_filter(r"\b[0-9a-f]{12}\b", "[SHORT]");
        s.bind(|| {
            let out = r.run(&["drift", root.to_str().unwrap(), "--env", "production"]);
            assert_eq!(out.status.code(), Some(1));
            insta::assert_snapshot!("drift_text", stdout(&out));
        });
    });
}
