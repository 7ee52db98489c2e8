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
    assert!(stdout(&out).contains("no recorded version has this content"));

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
