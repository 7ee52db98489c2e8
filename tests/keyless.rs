//! Keyless signing end to end: `promptrail` as a subprocess inside a (simulated) GitHub
//! Actions job whose OIDC token endpoint, Fulcio and Rekor are the loopback stand-ins of
//! `tests/common/sigstore.rs`; `verify` checks the certificates, Rekor proofs and identities
//! against the stand-in's trusted root. Each way a keyless entry must fail has its own test.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::sigstore::{REQUEST_TOKEN, SigstoreStandIn, WORKFLOW, identity_for};
use common::*;
use serde_json::Value;

/// A repository signing keylessly against the stand-ins.
struct Keyless {
    r: Repo,
    s: SigstoreStandIn,
    root: std::path::PathBuf,
}

const CONFIG: &str = "signing:
  mode: keyless
  identities:
    - https://github.com/octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/main
policy:
  default:
    approvals: 0
";

impl Keyless {
    fn new(config: &str) -> Keyless {
        let r = Repo::new();
        let s = SigstoreStandIn::start_blocking();
        let root = r.dir.path().join("trusted_root.json");
        std::fs::write(&root, s.trusted_root_json()).unwrap();
        r.write(".promptrail.yml", config);
        r.write(
            "prompts/intake.md",
            "You are a careful clinical intake assistant.\n",
        );
        r.commit("intake v1");
        r.write(
            "prompts/intake.md",
            "You are a careful, kind clinical intake assistant.\n",
        );
        r.commit("intake v2");
        r.push();
        Keyless { r, s, root }
    }

    /// `promptrail` inside a GitHub Actions job with `id-token: write`.
    fn cmd(&self) -> Command {
        let mut c = self.r.cmd();
        c.env("GITHUB_ACTIONS", "true")
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", self.s.oidc_request_url())
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                self.s.oidc_request_token(),
            )
            .env("PROMPTRAIL_FULCIO_URL", self.s.fulcio_url())
            .env("PROMPTRAIL_REKOR_URL", self.s.rekor_url())
            .env("PROMPTRAIL_TRUSTED_ROOT", &self.root);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        for text in [stdout(&out), stderr(&out)] {
            assert!(
                !text.contains(REQUEST_TOKEN),
                "the token request secret leaked"
            );
            assert!(!text.contains("eyJ"), "an OIDC token (JWT) leaked: {text}");
        }
        out
    }

    fn record(&self) -> Output {
        self.run(&["record", "--offline"])
    }

    fn verify_json(&self, extra: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec!["verify", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let v: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        (out.status.code(), v)
    }

    /// The entry files on the audit branch, parsed.
    fn entries(&self) -> Vec<Value> {
        let list = self.r.git(&[
            "ls-tree",
            "-r",
            "--name-only",
            "promptrail/audit",
            "entries",
        ]);
        list.lines()
            .map(|p| {
                serde_json::from_str(&self.r.git(&["show", &format!("promptrail/audit:{p}")]))
                    .unwrap()
            })
            .collect()
    }
}

/// (entry, code) of every finding about an entry.
fn codes(report: &Value) -> Vec<(Option<u64>, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["entry"].is_u64())
        .map(|f| (f["entry"].as_u64(), f["code"].as_str().unwrap().to_owned()))
        .collect()
}

/// The first finding about an entry.
fn first(report: &Value) -> &Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["entry"].is_u64())
        .unwrap_or_else(|| panic!("no entry finding: {report}"))
}

/// When the newest entry's certificate is rejected, so is the checkpoint it signed.
fn checkpoint_rejected(report: &Value) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "PT011")
}

#[test]
fn keyless_record_and_verify_end_to_end() {
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let entries = k.entries();
    // The policy file and the prompt.
    assert_eq!(entries.len(), 3);
    for e in &entries {
        let vm = &e["verificationMaterial"];
        assert!(vm["certificate"]["rawBytes"].is_string(), "{e}");
        assert!(vm.get("publicKey").is_none(), "{e}");
        let tlog = &vm["tlogEntries"][0];
        assert_eq!(tlog["kindVersion"]["kind"], "dsse");
        assert!(tlog["inclusionProof"]["hashes"].is_array(), "{tlog}");
        assert!(tlog["inclusionPromise"]["signedEntryTimestamp"].is_string());
    }
    assert_eq!(k.s.rekor_entries(), 3, "one Rekor entry per audit entry");

    let out = k.run(&["verify"]);
    assert_ok(&out);
    let text = stdout(&out);
    let who = identity_for(WORKFLOW);
    assert!(
        text.contains(&format!("3 signed keylessly by {who}")),
        "{text}"
    );
    assert!(text.contains("3 keyless entries logged in Rekor"), "{text}");
    // Readers show who signed.
    let out = k.run(&["show", "prompts/intake.md@v2"]);
    assert_ok(&out);
    assert_stdout_has(
        &out,
        &[format!("signed by  {who} (keyless certificate)").as_str()],
    );
    let out = k.run(&["log", "--format", "json"]);
    let log: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(log.iter().all(|e| e["certificateIdentity"] == who.as_str()));

    // The checkpoint is signed by the run's certificate key: an auditor's saved checkpoint
    // still proves consistency after more keyless appends.
    let saved = k.r.dir.path().join("saved.checkpoint");
    let cp = k.run(&["checkpoint"]);
    assert_ok(&cp);
    std::fs::write(&saved, &cp.stdout).unwrap();
    k.r.write("prompts/intake.md", "v3\n");
    k.r.commit("intake v3");
    k.r.push();
    assert_ok(&k.run(&["record", "--offline", "--no-push"]));
    let (code, report) = k.verify_json(&["--checkpoint", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["entries"], 4);
}

#[test]
fn an_identity_the_policy_does_not_allow_is_pt016() {
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let (code, report) = k.verify_json(&[
        "--certificate-identity",
        "https://github.com/octo-org/prompts/.github/workflows/other.yml@refs/heads/main",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        codes(&report),
        vec![
            (Some(0), "PT016".into()),
            (Some(1), "PT016".into()),
            (Some(2), "PT016".into())
        ],
        "{report}"
    );
    assert!(checkpoint_rejected(&report), "{report}");
    let f = first(&report);
    assert_eq!(f["found"], format!("identity {}", identity_for(WORKFLOW)));

    // A regular expression must match the whole identity.
    let (code, _) = k.verify_json(&[
        "--certificate-identity-regexp",
        r"https://github\.com/octo-org/prompts/\.github/workflows/promptrail-.*@refs/heads/main",
    ]);
    assert_eq!(code, Some(0));
    let (code, _) = k.verify_json(&["--certificate-identity-regexp", "octo-org"]);
    assert_eq!(code, Some(1), "a partial match is not an allowed identity");
}

#[test]
fn an_entry_signed_by_a_pull_request_workflow_is_rejected_on_its_own() {
    const PR: &str = "octo-org/prompts/.github/workflows/promptrail-record.yml@refs/pull/7/merge";
    // A repository that (wrongly) let a pull request's workflow record.
    let lax = CONFIG.replace(
        "  identities:\n",
        &format!("  identities:\n    - {}\n", identity_for(PR)),
    );
    let k = Keyless::new(&lax);
    assert_ok(&k.record());
    k.s.set_workflow_identity(PR);
    k.r.write("prompts/intake.md", "v3 from a pull request's workflow\n");
    k.r.commit("intake v3");
    k.r.push();
    assert_ok(&k.record());
    // The auditor allows only the main branch's workflow.
    let (code, report) = k.verify_json(&["--certificate-identity", &identity_for(WORKFLOW)]);
    assert_eq!(code, Some(1));
    assert_eq!(codes(&report), vec![(Some(3), "PT016".into())], "{report}");
    assert_eq!(
        first(&report)["found"],
        format!("identity {}", identity_for(PR))
    );
}

#[test]
fn record_refuses_to_sign_with_an_identity_verify_would_reject() {
    let k = Keyless::new(CONFIG);
    k.s.set_workflow_identity(
        "octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/feature",
    );
    let out = k.record();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("refusing to sign"), "{err}");
    assert!(err.contains("@refs/heads/feature"), "{err}");
    assert_eq!(k.s.rekor_entries(), 0);
    assert_eq!(k.r.remote_audit_tip(), None);
}

#[test]
fn a_wrong_issuer_is_pt016() {
    let k = Keyless::new(&CONFIG.replace(
        "  mode: keyless\n",
        "  mode: keyless\n  issuer: https://accounts.example.com\n",
    ));
    k.s.set_issuer("https://accounts.example.com");
    assert_ok(&k.record());
    let (code, report) = k.verify_json(&[
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ]);
    assert_eq!(code, Some(1));
    let f = first(&report);
    assert_eq!(f["code"], "PT016");
    assert_eq!(
        f["expected"],
        "issuer https://token.actions.githubusercontent.com"
    );
    assert_eq!(f["found"], "issuer https://accounts.example.com");
}

#[test]
fn the_public_good_root_rejects_stand_in_material() {
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let out = k
        .cmd()
        .env_remove("PROMPTRAIL_TRUSTED_ROOT")
        .args(["verify", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = codes(&report);
    assert!(c.contains(&(Some(0), "PT015".into())), "{report}");
    assert!(c.contains(&(Some(1), "PT015".into())), "{report}");
    // The checkpoint is signed by an entry key that no longer verifies.
    assert!(checkpoint_rejected(&report), "{report}");
}

#[test]
fn a_tampered_signed_entry_timestamp_is_pt015() {
    let k = Keyless::new(CONFIG);
    k.s.set_tamper_set(true);
    assert_ok(&k.record());
    let (code, report) = k.verify_json(&[]);
    assert_eq!(code, Some(1));
    let f = first(&report);
    assert_eq!(f["code"], "PT015", "{report}");
    assert!(
        f["found"].as_str().unwrap().contains("SET"),
        "{}",
        f["found"]
    );
}

#[test]
fn an_expired_certificate_is_pt015() {
    let k = Keyless::new(CONFIG);
    k.s.set_cert_validity(Duration::from_secs(3600), Duration::from_secs(600));
    assert_ok(&k.record());
    let (code, report) = k.verify_json(&[]);
    assert_eq!(code, Some(1));
    let f = first(&report);
    assert_eq!(f["code"], "PT015", "{report}");
    assert!(
        f["found"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("expired"),
        "{}",
        f["found"]
    );
}

#[test]
fn rekor_unavailable_fails_clearly_and_appends_nothing() {
    let k = Keyless::new(CONFIG);
    k.s.set_rekor_down(true);
    let out = k.record();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Rekor at http://127.0.0.1:"), "{err}");
    assert!(err.contains("nothing was appended"), "{err}");
    assert_eq!(k.r.remote_audit_tip(), None);
    assert_eq!(k.r.local_audit_tip(), None);
    // Once Rekor is back, the same run completes.
    k.s.set_rekor_down(false);
    assert_ok(&k.record());
    // The policy file and the prompt.
    assert_eq!(k.entries().len(), 3);
}

#[test]
fn without_an_oidc_token_keyless_signing_says_what_the_job_needs() {
    let k = Keyless::new(CONFIG);
    let out = k
        .cmd()
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .args(["record", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("permissions: id-token: write"),
        "{}",
        stderr(&out)
    );
    assert_eq!(k.r.remote_audit_tip(), None);
}

#[test]
fn transparency_off_signs_with_a_certificate_but_logs_nothing() {
    let k = Keyless::new(&CONFIG.replace(
        "  mode: keyless\n",
        "  mode: keyless\n  transparency: false\n",
    ));
    assert_ok(&k.record());
    assert_eq!(k.s.rekor_entries(), 0, "no public log entry");
    for e in k.entries() {
        assert!(e["verificationMaterial"]["certificate"].is_object());
        assert_eq!(
            e["verificationMaterial"]["tlogEntries"],
            Value::Array(vec![])
        );
    }
    let out = k.run(&["verify"]);
    assert_ok(&out);
    assert_stdout_has(&out, &["3 keyless entries not in a transparency log"]);

    // A log whose policy requires Rekor refuses the same entries.
    k.r.write(".promptrail.yml", CONFIG);
    let (code, report) = k.verify_json(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(first(&report)["code"], "PT015");
    assert!(
        first(&report)["found"]
            .as_str()
            .unwrap()
            .contains("no transparency-log entry")
    );
}

#[test]
fn a_log_migrated_from_a_key_to_keyless_verifies_both_kinds() {
    let k = Keyless::new("policy:\n  default:\n    approvals: 0\n");
    std::fs::create_dir_all(k.r.work.join("keys")).unwrap();
    std::fs::copy(&keys().public, k.r.work.join("keys/promptrail.pub")).unwrap();
    k.r.commit("trust the key");
    k.r.push();
    assert_ok(&k.r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]));
    // The migration: keyless from now on, the old key still trusted for old entries.
    let key_id = promptrail::signing::TrustedKey::load(&keys().public)
        .unwrap()
        .key_id;
    k.r.write(
        ".promptrail.yml",
        &format!(
            "signing:
  mode: keyless
  public_keys:
    - {{ path: keys/promptrail.pub, key_id: {key_id} }}
  identities:
    - https://github.com/octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/main
policy:
  default:
    approvals: 0
"
        ),
    );
    k.r.write("prompts/intake.md", "v3, signed keylessly\n");
    k.r.commit("go keyless");
    k.r.push();
    assert_ok(&k.record());
    let entries = k.entries();
    // Key mode: the policy file v1 and the prompt's v1, v2; keyless: the policy's v2 and
    // the prompt's v3.
    assert_eq!(entries.len(), 5);
    assert!(entries[0]["verificationMaterial"]["publicKey"].is_object());
    assert!(entries[4]["verificationMaterial"]["certificate"].is_object());
    let out = k.run(&["verify"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("3 signed by key"), "{text}");
    assert!(text.contains("2 signed keylessly by"), "{text}");
}

#[test]
fn a_changed_subject_digest_breaks_the_signature_and_the_git_cross_check() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    tamper(&k.r, |files| {
        let path = "entries/000000/000000001.json";
        let mut bundle: Value = serde_json::from_slice(&files[path]).unwrap();
        let payload = bundle["dsseEnvelope"]["payload"].as_str().unwrap();
        let mut st: Value = serde_json::from_slice(&STANDARD.decode(payload).unwrap()).unwrap();
        st["subject"][0]["digest"]["sha256"] = Value::String("ab".repeat(32));
        bundle["dsseEnvelope"]["payload"] =
            Value::String(STANDARD.encode(serde_json::to_vec(&st).unwrap()));
        files.insert(path.into(), serde_json::to_vec_pretty(&bundle).unwrap());
    });
    let (code, report) = k.verify_json(&[]);
    assert_eq!(code, Some(1));
    let c = codes(&report);
    assert!(c.contains(&(Some(1), "PT015".into())), "{report}");
    assert!(c.contains(&(Some(1), "PT005".into())), "{report}");
}

#[test]
fn a_keyless_proof_checks_offline_with_the_identity_alone() {
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let proof = k.r.dir.path().join("intake-v1.proof.json");
    assert_ok(&k.run(&[
        "prove",
        "prompts/intake.md@v1",
        "--out",
        proof.to_str().unwrap(),
    ]));
    let saved: Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    assert!(
        saved["checkpointSigner"].is_string(),
        "the proof carries the entry whose certificate signed the checkpoint"
    );
    let who = identity_for(WORKFLOW);
    // Anywhere, without the repository: a fresh directory.
    let elsewhere = tempfile::TempDir::new().unwrap();
    let check = |trust: &[&str]| {
        let mut args = vec!["verify-entry", proof.to_str().unwrap()];
        args.extend_from_slice(trust);
        k.cmd()
            .current_dir(elsewhere.path())
            .args(&args)
            .output()
            .unwrap()
    };
    let out = check(&["--certificate-identity", &who]);
    assert_ok(&out);
    assert_stdout_has(&out, &["OK: entry 1 is in the log of size 3"]);

    let out = check(&[
        "--certificate-identity",
        "https://github.com/octo-org/prompts/.github/workflows/other.yml@refs/heads/main",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(
        &out,
        &[
            "FAIL entry: names identity",
            "FAIL checkpoint signer: names identity",
        ],
    );

    let out = check(&["--key", keys().public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["no identity policy"]);
}

/// GitHub's attestation store on the stand-in: `POST /repos/acme/clinic/attestations`
/// answering `status` with the documented body (`201 {"id": 2}`) or an error fixture.
fn attestation_store(status: u16) -> common::github::StandIn {
    use wiremock::matchers::{method, path};
    let gh = common::github::StandIn::start();
    let body = if status == 201 {
        serde_json::json!({"id": 2})
    } else {
        common::github::fixture("error_forbidden_integration.json")
    };
    gh.mount(
        wiremock::Mock::given(method("POST"))
            .and(path("/repos/acme/clinic/attestations"))
            .respond_with(wiremock::ResponseTemplate::new(status).set_body_json(body)),
    );
    gh
}

const ATTESTATIONS: &str = "/repos/acme/clinic/attestations";

/// `promptrail ARGS` in the job, with the GitHub stand-in as the API.
fn run_with_github(k: &Keyless, gh: &common::github::StandIn, args: &[&str]) -> Output {
    let mut cmd = k.cmd();
    gh.env(&mut cmd);
    let out = cmd.args(args).output().unwrap();
    assert!(
        !stderr(&out).contains(common::github::TOKEN),
        "token leaked"
    );
    out
}

const RECORD_ATTESTED: [&str; 3] = ["record", "--offline", "--github-attestations"];

#[test]
fn record_uploads_each_new_entry_to_githubs_attestation_store() {
    let k = Keyless::new(CONFIG);
    let gh = attestation_store(201);
    let out = run_with_github(&k, &gh, &RECORD_ATTESTED);
    assert_ok(&out);
    let entries = k.entries();
    // The policy file and the prompt's two versions.
    assert_eq!(entries.len(), 3);
    // The documented request: `{"bundle": …}`, the entry file exactly as on the branch.
    let bodies = gh.bodies(ATTESTATIONS);
    assert_eq!(bodies.len(), 3);
    for (body, entry) in bodies.iter().zip(&entries) {
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(&body["bundle"], entry);
    }
    // `gh attestation verify FILE` looks the bundle up by the file's SHA-256: the subject.
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        bodies[2]["bundle"]["dsseEnvelope"]["payload"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let file = std::fs::read(k.r.work.join("prompts/intake.md")).unwrap();
    let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.as_str());
    assert_eq!(
        statement["predicateType"],
        "https://promptrail.dev/audit-event/v1"
    );
    assert!(
        stderr(&out).contains("entry 2 uploaded to GitHub's attestation store (attestation 2)"),
        "{}",
        stderr(&out)
    );
    // Nothing new: nothing uploaded again.
    assert_ok(&run_with_github(&k, &gh, &RECORD_ATTESTED));
    assert_eq!(gh.bodies(ATTESTATIONS).len(), 3);
}

#[test]
fn a_failed_upload_keeps_the_entries_and_says_how_to_upload_them() {
    let k = Keyless::new(CONFIG);
    let gh = attestation_store(403);
    let out = run_with_github(&k, &gh, &RECORD_ATTESTED);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("3 entries are recorded and pushed to promptrail/audit but not uploaded to GitHub's attestation store"),
        "{err}"
    );
    assert!(err.contains("GitHub refused POST /repos/acme/clinic/attestations (403 Resource not accessible by integration)"), "{err}");
    assert!(
        err.contains("by hand: git show promptrail/audit:entries/000000/000000001.json | jq '{bundle: .}' | gh api --method POST repos/acme/clinic/attestations --input -"),
        "{err}"
    );
    // The record itself stands: pushed and verifying.
    assert!(k.r.remote_audit_tip().is_some());
    assert_eq!(k.entries().len(), 3);
    let (code, _) = k.verify_json(&["--certificate-identity", &k.s.identity()]);
    assert_eq!(code, Some(0));
}

#[test]
fn github_attestations_need_keyless_signing_and_a_push() {
    let k = Keyless::new(CONFIG);
    let gh = attestation_store(201);
    for args in [
        vec![
            "record",
            "--offline",
            "--github-attestations",
            "--key",
            keys().private.to_str().unwrap(),
        ],
        vec!["record", "--offline", "--github-attestations", "--no-push"],
    ] {
        let out = run_with_github(&k, &gh, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("GitHub attestations"),
            "{}",
            stderr(&out)
        );
        assert_eq!(k.r.local_audit_tip(), None, "{args:?}");
    }
    assert!(gh.bodies(ATTESTATIONS).is_empty());
}

/// In a keyless log, someone with push access rewrites a state shard (drops a version), the
/// index and the checkpoint's state line, and commits it on top. The checkpoint's signature
/// no longer holds for the certificate of the entry it closes: the next keyless `record`
/// refuses to build on that tip, rather than sign a checkpoint binding the forged summary.
#[test]
fn a_keyless_append_refuses_a_tip_whose_checkpoint_its_certificate_did_not_sign() {
    use sha2::Digest as _;
    let sha = |b: &[u8]| -> String {
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let h = sha(b"prompts/intake.md");
    let shard = format!("state/prompts/{}/{h}.json", &h[..2]);
    tamper(&k.r, |f| {
        let mut v: Value = serde_json::from_slice(&f[&shard]).unwrap();
        let e = v["entries"].as_array_mut().unwrap();
        e.remove(0);
        let bytes = serde_json::to_vec(&v).unwrap();
        let mut idx: Value = serde_json::from_slice(&f["state/index.json"]).unwrap();
        idx["files"][&shard] = sha(&bytes).into();
        f.insert(shard.clone(), bytes);
        let idx = serde_json::to_vec(&idx).unwrap();
        let h = sha(&idx);
        f.insert("state/index.json".into(), idx);
        let cp = String::from_utf8(f["checkpoint"].clone()).unwrap();
        let cp: String = cp
            .lines()
            .map(|l| {
                if l.starts_with("promptrail-state sha256:") {
                    format!("promptrail-state sha256:{h}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        f.insert("checkpoint".into(), cp.into_bytes());
    });
    let tampered = k.r.git(&["rev-parse", "promptrail/audit"]);
    k.r.write("prompts/other.md", "Other.\n");
    k.r.commit("other");
    k.r.push();
    let out = k.run(&["record", "--offline", "--no-push"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is not a commit promptrail appended"), "{err}");
    assert!(
        err.contains("nor the certificate of the entry it closes"),
        "{err}"
    );
    assert_eq!(k.r.git(&["rev-parse", "promptrail/audit"]), tampered);
}

const IDENTITY_ANCHOR: &str = "PROMPTRAIL_TRUSTED_IDENTITIES";

/// HOLE: keyless trust came from the working tree alone. An insider who can push to main
/// adds a workflow of their own (`evil.yml`) and its identity to `signing.identities`, with
/// an unreviewed prompt, and records from that workflow: `verify` and `gate` on the checkout
/// trust its entries and checkpoint (the premise, asserted: the log verifies, and the gate
/// finds no problem with it). With
/// `PROMPTRAIL_TRUSTED_IDENTITIES` naming the record workflow (a repository variable the
/// branch cannot change), its entries are PT016, `gate` does not pass, the evil workflow's
/// `record` refuses to sign, and the honest workflow's refuses to build on its tip.
#[test]
fn the_identity_anchor_trusts_only_the_identities_it_lists() {
    const EVIL: &str = "octo-org/prompts/.github/workflows/evil.yml@refs/heads/main";
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let lax = CONFIG.replace(
        "  identities:\n",
        &format!("  identities:\n    - {}\n", identity_for(EVIL)),
    );
    k.r.write(".promptrail.yml", &lax);
    k.r.write("prompts/intake.md", "Unreviewed.\n");
    k.r.commit("intake v3");
    k.r.push();
    k.s.set_workflow_identity(EVIL);
    assert_ok(&k.record());
    let gate = ["gate", "--env", "production", "--format", "json"];
    let (code, _) = k.verify_json(&[]);
    assert_eq!(
        code,
        Some(0),
        "premise: the checkout trusts the evil workflow"
    );
    let premise = k.run(&gate);
    let premise = json_after_annotations(&stdout(&premise));
    assert!(premise["logProblem"].is_null(), "premise: {premise}");
    let anchored = |args: &[&str], value: &str| {
        let out = k
            .cmd()
            .env(IDENTITY_ANCHOR, value)
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let honest = identity_for(WORKFLOW);
    let (code, report, err) = anchored(&["verify", "--format", "json"], &honest);
    assert_eq!(code, Some(1), "{err}");
    let report: Value =
        serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}{err}"));
    assert!(codes(&report).iter().any(|(_, c)| c == "PT016"), "{report}");
    let (code, out, err) = anchored(&gate, &honest);
    assert_ne!(code, Some(0), "the anchored gate passed: {err}");
    let view = json_after_annotations(&out);
    assert!(!view["logProblem"].is_null(), "{view}");
    assert!(!err.contains("no trust anchor"), "{err}");
    // The evil workflow cannot sign under the anchor; the honest one does not build on it.
    k.r.write("prompts/intake.md", "Unreviewed, again.\n");
    k.r.commit("intake v4");
    k.r.push();
    let tip = k.r.git(&["rev-parse", "promptrail/audit"]);
    let (code, _, err) = anchored(&["record", "--offline"], &honest);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("refusing to sign") || err.contains("is not a commit promptrail appended"),
        "{err}"
    );
    k.s.set_workflow_identity(WORKFLOW);
    let (code, _, err) = anchored(&["record", "--offline"], &honest);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not a commit promptrail appended"), "{err}");
    assert_eq!(k.r.git(&["rev-parse", "promptrail/audit"]), tip);
    // A hostile value is an error, never "no anchor".
    for value in ["", " ", ",", "https://github.com/octo-org/.*"] {
        let (code, _, err) = anchored(&["verify"], value);
        assert_eq!(code, Some(2), "{value:?}: {err}");
        assert!(err.contains(IDENTITY_ANCHOR), "{value:?}: {err}");
    }
}

/// The JSON document on `stdout` after the workflow annotations printed before it.
fn json_after_annotations(stdout: &str) -> Value {
    let at = stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON: {stdout}"));
    serde_json::from_str(&stdout[at..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Under the identity anchor, the trusted root is the flag's (`--trusted-root` or
/// `PROMPTRAIL_TRUSTED_ROOT`), else Sigstore's public-good root: never the file
/// `signing.trusted_root` names in the checkout, which an insider could replace with a
/// certificate authority of their own that issues any identity.
#[test]
fn the_identity_anchor_ignores_the_checkouts_trusted_root() {
    let config = CONFIG.replace("policy:", "  trusted_root: trusted_root.json\npolicy:");
    let k = Keyless::new(&config);
    std::fs::copy(&k.root, k.r.work.join("trusted_root.json")).unwrap();
    k.r.commit("the stand-in's root in the checkout");
    k.r.push();
    assert_ok(&k.record());
    let verify = |anchor: Option<&str>| {
        let mut cmd = k.cmd();
        cmd.env_remove("PROMPTRAIL_TRUSTED_ROOT").args(["verify"]);
        if let Some(a) = anchor {
            cmd.env(IDENTITY_ANCHOR, a);
        }
        cmd.output().unwrap().status.code()
    };
    assert_eq!(
        verify(None),
        Some(0),
        "premise: the checkout's root is used"
    );
    assert_eq!(verify(Some(&identity_for(WORKFLOW))), Some(1));
    // Given from outside the checkout, the same root is trusted.
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, identity_for(WORKFLOW))
        .args(["verify"])
        .output()
        .unwrap();
    assert_ok(&out);
}

// ---------------------------------------------------------------------------------------
// Red team: the identity anchor. An insider who can push to main and to the audit branch,
// without a signing key, an approval or a say over the repository's variables.
// ---------------------------------------------------------------------------------------

const FULCIO_ROUTE: &str = "/api/v2/signingCert";

/// HOLE (fixed): under `PROMPTRAIL_TRUSTED_IDENTITIES`, keyless signing still took Fulcio
/// and Rekor from the checkout's `.promptrail.yml`. An insider pushes `signing.fulcio_url`
/// naming a server of their own; CI's `record --keyless` on main sends it this job's OIDC
/// token (audience `sigstore`, the very workflow identity the anchor trusts), with which the
/// insider gets a real certificate for that identity from the real Fulcio and signs a forged
/// audit branch that the anchored gate believes. Now, under the anchor, a Fulcio or Rekor
/// the checkout names is refused (exit 2) before any token is asked for or sent; given by
/// the workflow (`--fulcio-url`, `PROMPTRAIL_FULCIO_URL`), the checkout's is never used.
#[test]
fn red_the_anchor_never_sends_the_jobs_token_to_the_checkouts_fulcio() {
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let evil = SigstoreStandIn::start_blocking();
    let hostile = CONFIG.replace(
        "policy:",
        &format!(
            "  fulcio_url: {}\n  rekor_url: {}\npolicy:",
            evil.fulcio_url(),
            evil.rekor_url()
        ),
    );
    k.r.write(".promptrail.yml", &hostile);
    k.r.write("prompts/intake.md", "Unreviewed.\n");
    k.r.commit("intake v3, and a Fulcio of mine");
    k.r.push();
    let tip = k.r.git(&["rev-parse", "promptrail/audit"]);
    let honest = identity_for(WORKFLOW);
    // CI's job: the anchor set, no Fulcio or Rekor given by the workflow.
    for command in [
        &["record", "--offline"][..],
        &["deploy", "--env", "production", "--no-push"][..],
    ] {
        let out = k
            .cmd()
            .env(IDENTITY_ANCHOR, &honest)
            .env_remove("PROMPTRAIL_FULCIO_URL")
            .env_remove("PROMPTRAIL_REKOR_URL")
            .args(command)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(err.contains("signing.fulcio_url"), "{command:?}: {err}");
        assert!(!err.contains("eyJ"), "a token leaked: {err}");
        assert_eq!(evil.requests_to(FULCIO_ROUTE), 0, "the token reached it");
        assert_eq!(evil.rekor_entries(), 0);
        assert_eq!(k.r.git(&["rev-parse", "promptrail/audit"]), tip);
    }
    // Only Rekor named by the checkout: refused too (it would be sent every entry).
    k.r.write(
        ".promptrail.yml",
        &CONFIG.replace(
            "policy:",
            &format!("  rekor_url: {}\npolicy:", evil.rekor_url()),
        ),
    );
    k.r.commit("a Rekor of mine");
    k.r.push();
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, &honest)
        .env_remove("PROMPTRAIL_REKOR_URL")
        .args(["record", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("signing.rekor_url"),
        "{}",
        stderr(&out)
    );
    assert_eq!(evil.requests_to(FULCIO_ROUTE), 0);
    assert_eq!(evil.rekor_entries(), 0);
    // The workflow gives the services: the checkout's are not used, and the append signs.
    k.r.write(".promptrail.yml", &hostile);
    k.r.commit("a Fulcio of mine, again");
    k.r.push();
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, &honest)
        .args(["record", "--offline"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(evil.requests_to(FULCIO_ROUTE), 0);
    assert_eq!(evil.rekor_entries(), 0);
    assert_ne!(k.r.git(&["rev-parse", "promptrail/audit"]), tip);
    // Premise: without the anchor the checkout's Fulcio is where the token goes.
    k.r.write("prompts/intake.md", "Unreviewed, again.\n");
    k.r.commit("intake v4");
    k.r.push();
    let _ = k
        .cmd()
        .env_remove("PROMPTRAIL_FULCIO_URL")
        .env_remove("PROMPTRAIL_REKOR_URL")
        .args(["record", "--offline", "--no-push"])
        .output()
        .unwrap();
    assert!(
        evil.requests_to(FULCIO_ROUTE) > 0,
        "premise: the checkout's Fulcio is used without the anchor"
    );
}

/// A log migrated from a key to keyless (old entries key-signed, new ones keyless), read
/// under one anchor only: under the identity anchor alone its key-signed entries are not
/// trusted, whatever `signing.public_keys` pins (PT004, the gate does not pass), nor is a
/// `--key` (exit 2); under the key anchor alone its keyless entries are not; with both, the
/// log verifies.
#[test]
fn red_a_mixed_log_verifies_only_under_both_anchors() {
    let k = Keyless::new("policy:\n  default:\n    approvals: 0\n");
    std::fs::create_dir_all(k.r.work.join("keys")).unwrap();
    std::fs::copy(&keys().public, k.r.work.join("keys/promptrail.pub")).unwrap();
    k.r.commit("trust the key");
    k.r.push();
    assert_ok(&k.r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ]));
    let key_id = promptrail::signing::TrustedKey::load(&keys().public)
        .unwrap()
        .key_id;
    k.r.write(
        ".promptrail.yml",
        &format!(
            "signing:
  mode: keyless
  public_keys:
    - {{ path: keys/promptrail.pub, key_id: {key_id} }}
  identities:
    - {}
policy:
  default:
    approvals: 0
",
            identity_for(WORKFLOW)
        ),
    );
    k.r.write("prompts/intake.md", "v3, signed keylessly\n");
    k.r.commit("go keyless");
    k.r.push();
    assert_ok(&k.record());
    let honest = identity_for(WORKFLOW);
    let key_id = key_id.to_string();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = k.cmd();
        for (name, value) in env {
            cmd.env(name, value);
        }
        let out = cmd.args(args).output().unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let verify = ["verify", "--format", "json"];
    let gate = ["gate", "--env", "production", "--format", "json"];
    let only_identities = [(IDENTITY_ANCHOR, honest.as_str())];
    let (code, report, err) = run(&only_identities, &verify);
    assert_eq!(code, Some(1), "{err}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let found = codes(&report);
    assert!(found.iter().any(|(_, c)| c == "PT004"), "{report}");
    assert!(
        !found
            .iter()
            .any(|(e, c)| *e == Some(4) && (c == "PT004" || c == "PT016")),
        "the keyless entry is trusted: {report}"
    );
    let (code, out, err) = run(&only_identities, &gate);
    assert_ne!(code, Some(0), "{err}");
    let view = json_after_annotations(&out);
    assert!(!view["logProblem"].is_null(), "{view}");
    let pubkey = keys().public.to_str().unwrap().to_owned();
    let (code, _, err) = run(&only_identities, &["verify", "--key", &pubkey]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--key is refused"), "{err}");
    let only_keys = [("PROMPTRAIL_TRUSTED_KEY_IDS", key_id.as_str())];
    let (code, report, err) = run(&only_keys, &verify);
    assert_eq!(code, Some(1), "{err}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(
        codes(&report).iter().any(|(e, _)| *e == Some(4)),
        "the keyless entry is trusted under the key anchor alone: {report}"
    );
    let both = [
        (IDENTITY_ANCHOR, honest.as_str()),
        ("PROMPTRAIL_TRUSTED_KEY_IDS", key_id.as_str()),
    ];
    let (code, _, err) = run(&both, &verify);
    assert_eq!(code, Some(0), "{err}");
    // (Its prompts are blocked for want of fetched approvals, not for the log.)
    let (_, out, _) = run(&both, &gate);
    let view = json_after_annotations(&out);
    assert!(view["logProblem"].is_null(), "{view}");
}

/// Under the identity anchor the checkout's `identity_regexps` and `issuer` reach nothing.
/// An insider pushes a pattern that the record workflow on a branch of theirs matches
/// (`…/promptrail-record.yml@refs/heads/main-evil`: the anchored identity is its prefix) and
/// records from it; or a whole log is certified by an issuer of theirs (an identity provider
/// that puts the anchored workflow's identity in its tokens) under a config naming it. The
/// checkout's policy trusts their entries (the premise, asserted); the anchored `verify` finds
/// each of them PT016, and the gate reports the log.
#[test]
fn red_the_anchor_ignores_the_checkouts_patterns_and_issuer() {
    const INSIDER_IDP: &str = "https://idp.insider.example";
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let honest = identity_for(WORKFLOW);
    let findings_from = |first: usize, anchor: Option<&str>| {
        let mut cmd = k.cmd();
        if let Some(a) = anchor {
            cmd.env(IDENTITY_ANCHOR, a);
        }
        let out = cmd.args(["verify", "--format", "json"]).output().unwrap();
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        codes(&report)
            .into_iter()
            .filter(|(e, _)| e.is_some_and(|e| e as usize >= first))
            .map(|(_, c)| c)
            .collect::<Vec<_>>()
    };
    let pattern = CONFIG.replace(
        "policy:",
        "  identity_regexps:\n    - 'https://github\\.com/octo-org/prompts/\\.github/workflows/promptrail-record\\.yml@refs/heads/main.*'\npolicy:",
    );
    k.r.write(".promptrail.yml", &pattern);
    k.r.write("prompts/intake.md", "Unreviewed, from main-evil.\n");
    k.r.commit("intake v3");
    k.r.push();
    let first = k.entries().len();
    k.s.set_workflow_identity(&format!("{WORKFLOW}-evil"));
    assert_ok(&k.record());
    assert!(k.entries().len() > first, "the insider recorded nothing");
    assert_eq!(findings_from(first, None), Vec::<String>::new(), "premise");
    let anchored = findings_from(first, Some(&honest));
    assert!(
        !anchored.is_empty() && anchored.iter().all(|c| c == "PT016"),
        "{anchored:?}"
    );
    let gate_sees_a_log_problem = |k: &Keyless| {
        let out = k
            .cmd()
            .env(IDENTITY_ANCHOR, &honest)
            .args(["gate", "--env", "production", "--format", "json"])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!json_after_annotations(&stdout(&out))["logProblem"].is_null());
    };
    gate_sees_a_log_problem(&k);
    // A log whose every entry the insider's identity provider certified, for the anchored
    // workflow's identity, under a config naming that issuer.
    let k = Keyless::new(&CONFIG.replace("policy:", &format!("  issuer: {INSIDER_IDP}\npolicy:")));
    k.s.set_issuer(INSIDER_IDP);
    assert_ok(&k.record());
    let (code, _) = k.verify_json(&[]);
    assert_eq!(
        code,
        Some(0),
        "premise: the checkout trusts the insider's issuer"
    );
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, &honest)
        .args(["verify", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = codes(&report);
    assert!(
        !found.is_empty() && found.iter().all(|(_, c)| c == "PT016"),
        "{report}"
    );
    gate_sees_a_log_problem(&k);
}

/// A proof checked anywhere (`verify-entry`, no repository) under the identity anchor: an
/// insider's proof of an entry their own workflow signed (its checkpoint signer too) is not
/// trusted, and neither `--certificate-identity` naming their workflow nor a `--key` of
/// theirs gets it trusted (refused, exit 2). Without the anchor the flag trusts it (the
/// premise).
#[test]
fn red_a_proof_under_the_identity_anchor_trusts_only_the_anchor() {
    const EVIL: &str = "octo-org/prompts/.github/workflows/evil.yml@refs/heads/main";
    let evil = identity_for(EVIL);
    let k = Keyless::new(&CONFIG.replace(&identity_for(WORKFLOW), &evil));
    k.s.set_workflow_identity(EVIL);
    assert_ok(&k.record());
    let proof = k.r.dir.path().join("intake-v1.proof.json");
    assert_ok(&k.run(&[
        "prove",
        "prompts/intake.md@v1",
        "--out",
        proof.to_str().unwrap(),
    ]));
    let elsewhere = tempfile::TempDir::new().unwrap();
    let check = |anchor: Option<&str>, trust: &[&str]| {
        let mut cmd = k.cmd();
        if let Some(a) = anchor {
            cmd.env(IDENTITY_ANCHOR, a);
        }
        let out = cmd
            .current_dir(elsewhere.path())
            .arg("verify-entry")
            .arg(&proof)
            .args(trust)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let (code, _, err) = check(None, &["--certificate-identity", &evil]);
    assert_eq!(code, Some(0), "premise: {err}");
    let honest = identity_for(WORKFLOW);
    let (code, out, err) = check(Some(&honest), &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("FAIL entry: names identity"), "{out}");
    assert!(!out.contains("OK: entry"), "{out}");
    for flags in [
        &["--certificate-identity", evil.as_str()][..],
        &["--certificate-identity-regexp", ".*"][..],
        &["--key", keys().public.to_str().unwrap()][..],
    ] {
        let (code, out, err) = check(Some(&honest), flags);
        assert_eq!(code, Some(2), "{flags:?}: {out}{err}");
        assert!(err.contains(IDENTITY_ANCHOR), "{flags:?}: {err}");
    }
    // An honest proof checks under the anchor alone (no flag needed, none refused).
    let k = Keyless::new(CONFIG);
    assert_ok(&k.record());
    let proof = k.r.dir.path().join("honest.proof.json");
    assert_ok(&k.run(&[
        "prove",
        "prompts/intake.md@v1",
        "--out",
        proof.to_str().unwrap(),
    ]));
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, &honest)
        .current_dir(elsewhere.path())
        .arg("verify-entry")
        .arg(&proof)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_stdout_has(&out, &["OK: entry 1 is in the log of size 3"]);
}

/// HOLE (fixed): under `PROMPTRAIL_TRUSTED_IDENTITIES`, the checkout's
/// `signing.transparency: false` still decided whether keyless entries must be in Rekor: an
/// insider who pushed it had entries without a transparency-log entry trusted, checked at
/// the time they claim rather than the time a log witnessed. Now, under the anchor, only the
/// workflow's `PROMPTRAIL_TRANSPARENCY=false` lets them in; `record` refuses (exit 2) while
/// the checkout turns the log off and the workflow does not, and a malformed value is exit 2.
#[test]
fn red_the_anchor_ignores_the_checkouts_transparency_off() {
    let k = Keyless::new(&CONFIG.replace(
        "  mode: keyless\n",
        "  mode: keyless\n  transparency: false\n",
    ));
    let honest = identity_for(WORKFLOW);
    let run = |args: &[&str], transparency: Option<&str>| {
        let mut cmd = k.cmd();
        cmd.env(IDENTITY_ANCHOR, &honest).args(args);
        if let Some(t) = transparency {
            cmd.env("PROMPTRAIL_TRANSPARENCY", t);
        }
        cmd.output().unwrap()
    };
    let out = run(&["record", "--offline"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PROMPTRAIL_TRANSPARENCY=false"),
        "{}",
        stderr(&out)
    );
    assert_eq!(k.r.remote_audit_tip(), None, "nothing recorded");
    // The workflow's word: signed without a log entry.
    assert_ok(&run(&["record", "--offline"], Some("false")));
    assert_eq!(k.s.rekor_entries(), 0, "no public log entry");
    // The checkout's `false` no longer lets those entries in under the anchor.
    let out = run(&["verify", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first(&report)["code"], "PT015", "{report}");
    assert_ok(&run(&["verify"], Some("false")));
    for value in ["", "no", "False "] {
        let out = run(&["verify"], Some(value));
        assert_eq!(out.status.code(), Some(2), "{value:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("PROMPTRAIL_TRANSPARENCY"),
            "{value:?}: {}",
            stderr(&out)
        );
    }
}

/// HOLE (red9): `verify-entry` under `PROMPTRAIL_TRUSTED_IDENTITIES` accepted a proof of a
/// keyless entry without a transparency-log entry (checked at the time it claims) whatever
/// `PROMPTRAIL_TRANSPARENCY` said, where `verify` and `gate` under the same anchor reject
/// it. The secure outcome: under the anchor such a proof fails (exit 1) unless the
/// workflow sets `PROMPTRAIL_TRANSPARENCY=false`; `=true` fails it without the anchor too.
#[test]
fn red_a_proof_of_an_unlogged_entry_is_not_trusted_under_the_identity_anchor() {
    let k = Keyless::new(&CONFIG.replace(
        "  mode: keyless\n",
        "  mode: keyless\n  transparency: false\n",
    ));
    let honest = identity_for(WORKFLOW);
    let out = k
        .cmd()
        .env(IDENTITY_ANCHOR, &honest)
        .env("PROMPTRAIL_TRANSPARENCY", "false")
        .args(["record", "--offline"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(k.s.rekor_entries(), 0, "no public log entry");
    let proof = k.r.dir.path().join("unlogged.proof.json");
    assert_ok(&k.run(&[
        "prove",
        "prompts/intake.md@v1",
        "--out",
        proof.to_str().unwrap(),
    ]));
    let elsewhere = tempfile::TempDir::new().unwrap();
    let check = |anchor: Option<&str>, transparency: Option<&str>, flags: &[&str]| {
        let mut cmd = k.cmd();
        if let Some(a) = anchor {
            cmd.env(IDENTITY_ANCHOR, a);
        }
        if let Some(t) = transparency {
            cmd.env("PROMPTRAIL_TRANSPARENCY", t);
        }
        let out = cmd
            .current_dir(elsewhere.path())
            .arg("verify-entry")
            .arg(&proof)
            .args(flags)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    for (anchor, transparency, flags, want) in [
        (Some(honest.as_str()), None, &[][..], 1),
        (Some(honest.as_str()), Some("true"), &[][..], 1),
        (Some(honest.as_str()), Some("false"), &[][..], 0),
        (
            None,
            Some("true"),
            &["--certificate-identity", honest.as_str()][..],
            1,
        ),
        // Without the anchor and the variable, a proof names no setting (the premise).
        (
            None,
            None,
            &["--certificate-identity", honest.as_str()][..],
            0,
        ),
    ] {
        let (code, out, err) = check(anchor, transparency, flags);
        assert_eq!(code, Some(want), "{anchor:?} {transparency:?}: {out}{err}");
        if want == 1 {
            assert!(!out.contains("OK: entry"), "{out}");
        }
    }
}
