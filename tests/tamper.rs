//! Tampering with the audit branch: each case is detected by `verify` with the right
//! finding (entry, check code), and an intact log verifies.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use promptrail::attestation::{Bundle, Statement};
use promptrail::signing::SigningKey;
use serde_json::Value;

fn entry(i: u64) -> String {
    format!("entries/000000/{i:09}.json")
}

/// (code, entry) of every finding.
fn findings(r: &Repo) -> Vec<(String, Option<u64>)> {
    let v = r.verify_json();
    assert_eq!(v["ok"], false, "verify must fail: {v:#}");
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_owned(), f["entry"].as_u64()))
        .collect()
}

fn has(found: &[(String, Option<u64>)], code: &str, entry: u64) -> bool {
    found.iter().any(|(c, e)| c == code && *e == Some(entry))
}

/// Re-signs entry bytes after `edit` changes the statement, with `key`.
fn resign(bytes: &[u8], key: &SigningKey, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let bundle: Bundle = serde_json::from_slice(bytes).unwrap();
    let mut st: Value = serde_json::from_slice(&bundle.dsse_envelope.payload).unwrap();
    edit(&mut st);
    let st: Statement = serde_json::from_value(st).unwrap();
    let env = key.sign_envelope(st.to_payload().unwrap()).unwrap();
    Bundle::key_mode(env, key.key_id().clone())
        .to_file_bytes()
        .unwrap()
}

/// `record --offline --no-push` with the trusted key.
fn record_locally(r: &Repo) -> std::process::Output {
    r.cmd()
        .args([
            "record",
            "--offline",
            "--no-push",
            "--key",
            keys().private.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

fn trusted_signer() -> SigningKey {
    let pem = std::fs::read(&keys().private).unwrap();
    SigningKey::from_encrypted_pem(&pem, PASSWORD.as_bytes(), "test").unwrap()
}

#[test]
fn intact_log_verifies() {
    let r = recorded_repo();
    let out = r.verify();
    assert_ok(&out);
    assert_stdout_has(&out, &["OK:"]);
    let v = r.verify_json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 4);
}

#[test]
fn flipped_byte_in_a_payload() {
    let r = recorded_repo();
    tamper(&r, |f| {
        let mut b: Value = serde_json::from_slice(&f[&entry(1)]).unwrap();
        let mut payload = STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        // Change one letter of the prompt path: still valid JSON, different bytes.
        let pos = payload.windows(6).position(|w| w == b"prompt").unwrap();
        payload[pos] ^= 0x01;
        b["dsseEnvelope"]["payload"] = STANDARD.encode(&payload).into();
        f.insert(entry(1), serde_json::to_vec_pretty(&b).unwrap());
    });
    let out = r.verify();
    assert_eq!(out.status.code(), Some(1));
    let found = findings(&r);
    assert!(has(&found, "PT001", 1), "{found:?}");
    assert!(
        has(&found, "PT002", 2),
        "the next entry's hash link breaks too: {found:?}"
    );
    assert_stdout_has(
        &out,
        &["entry 1 (entries/000000/000000001.json) PT001 signature"],
    );
}

#[test]
fn flipped_byte_in_a_signature() {
    let r = recorded_repo();
    tamper(&r, |f| {
        let mut b: Value = serde_json::from_slice(&f[&entry(3)]).unwrap();
        let mut sig = STANDARD
            .decode(b["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        let last = sig.len() - 1;
        sig[last] ^= 0x01;
        b["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(&sig).into();
        f.insert(entry(3), serde_json::to_vec_pretty(&b).unwrap());
    });
    let found = findings(&r);
    // The signature fails; the branch shows the entry was rewritten in place; the signed
    // checkpoint no longer matches the entries (root, range), and the tip is not the commit
    // it was signed for (its parent).
    assert_eq!(
        found,
        vec![
            ("PT010".to_owned(), None),
            ("PT011".to_owned(), None),
            ("PT011".to_owned(), None),
            ("PT011".to_owned(), None),
            ("PT001".to_owned(), Some(3))
        ]
    );
}

#[test]
fn deleted_entry() {
    let r = recorded_repo();
    tamper(&r, |f| {
        f.remove(&entry(1));
    });
    let found = findings(&r);
    // Position 1 now holds entry 2: a gap, a wrong index and a broken hash link.
    assert!(has(&found, "PT003", 1), "{found:?}");
    assert!(has(&found, "PT002", 1), "{found:?}");
}

#[test]
fn swapped_entries() {
    let r = recorded_repo();
    tamper(&r, |f| {
        let a = f.remove(&entry(1)).unwrap();
        let b = f.remove(&entry(2)).unwrap();
        f.insert(entry(1), b);
        f.insert(entry(2), a);
    });
    let found = findings(&r);
    assert!(
        has(&found, "PT003", 1) && has(&found, "PT003", 2),
        "{found:?}"
    );
    assert!(has(&found, "PT002", 1), "{found:?}");
}

#[test]
fn duplicated_entry() {
    let r = recorded_repo();
    tamper(&r, |f| {
        let copy = f[&entry(1)].clone();
        f.insert(entry(4), copy);
    });
    let v = r.verify_json();
    let dup = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT003" && f["entry"] == 4)
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(
        dup["message"].as_str().unwrap().contains("already claimed"),
        "{dup}"
    );
    assert_eq!(dup["expected"], "log.index 4");
    assert_eq!(dup["found"], "log.index 1");
}

#[test]
fn entry_signed_by_an_untrusted_key() {
    let r = recorded_repo();
    let pem = std::fs::read(&other_keys().private).unwrap();
    let other = SigningKey::from_encrypted_pem(&pem, b"another password", "other").unwrap();
    tamper(&r, |f| {
        let b = resign(&f[&entry(3)], &other, |_| {});
        f.insert(entry(3), b);
    });
    let v = r.verify_json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT004")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(f["entry"], 3);
    assert_eq!(f["found"], other.key_id().as_str());
    assert_eq!(
        v["findings"].as_array().unwrap().len(),
        5,
        "PT004, PT010 and PT011 (checkpoint, range and parent): {v:#}"
    );
}

#[test]
fn digest_that_does_not_match_the_blob() {
    let r = recorded_repo();
    let key = trusted_signer();
    let fake = "0".repeat(63) + "1";
    tamper(&r, |f| {
        let b = resign(&f[&entry(3)], &key, |st| {
            st["subject"][0]["digest"]["sha256"] = fake.clone().into();
            st["predicate"]["prompts"][0]["digest"]["sha256"] = fake.clone().into();
        });
        f.insert(entry(3), b);
    });
    let v = r.verify_json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT005")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(f["entry"], 3);
    assert_eq!(f["prompt"], "prompts/clinical/intake.md");
    assert_eq!(f["found"], format!("sha256:{fake}"));
    assert!(f["expected"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn version_number_gap_and_foreign_origin() {
    let r = recorded_repo();
    let key = trusted_signer();
    tamper(&r, |f| {
        let b = resign(&f[&entry(3)], &key, |st| {
            st["predicate"]["prompts"][0]["version"] = 3.into();
            st["predicate"]["log"]["origin"] = "github.com/someone/else".into();
        });
        f.insert(entry(3), b);
    });
    let found = findings(&r);
    assert!(has(&found, "PT006", 3), "{found:?}");
    assert!(has(&found, "PT008", 3), "{found:?}");
}

#[test]
fn branch_without_metadata_is_reported() {
    let r = recorded_repo();
    tamper(&r, |f| {
        f.remove("promptrail.json");
        f.insert("notes.txt".into(), b"hi".to_vec());
    });
    let v = r.verify_json();
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    // The plain commit on top is also not the one the checkpoint was signed for (PT011).
    assert_eq!(codes, vec!["PT009", "PT009", "PT010", "PT011"], "{v:#}");
}

#[test]
fn a_fast_forward_commit_that_deletes_the_newest_entry_is_caught() {
    // No key and no force push needed: a plain commit on top that removes entry 3.
    let r = recorded_repo();
    tamper(&r, |f| {
        f.remove(&entry(3));
    });
    let v = r.verify_json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT010")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(
        f["found"]
            .as_str()
            .unwrap()
            .contains("D entries/000000/000000003.json"),
        "{f}"
    );
    assert!(
        f["expected"]
            .as_str()
            .unwrap()
            .contains("adds only A entries/000000/000000004.json"),
        "{f}"
    );
}

#[test]
fn checkpoint_saved_earlier_proves_growth_and_catches_truncation_and_rewrites() {
    let r = recorded_repo();
    let saved = r.dir.path().join("saved.checkpoint");
    let out = r.run(&["checkpoint"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("\n4\n"), "size 4: {text}");
    std::fs::write(&saved, &text).unwrap();
    let with_saved = |r: &Repo| {
        let out = r.run(&[
            "verify",
            "--key",
            keys().public.to_str().unwrap(),
            "--checkpoint",
            saved.to_str().unwrap(),
            "--format",
            "json",
        ]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(with_saved(&r)["ok"], true);

    // The log grows: still consistent with what the auditor kept.
    r.write("prompts/clinical/intake.md", "A fourth text.\n");
    r.commit("more");
    r.push();
    r.record();
    assert_eq!(with_saved(&r)["ok"], true, "{:#}", with_saved(&r));

    // Truncated back below the saved size (re-signed checkpoint and all): caught.
    let truncate = |r: &Repo, keep: u64| {
        tamper(r, |f| {
            f.retain(|p, _| {
                !p.starts_with("entries/") || {
                    let n: u64 = p[15..24].parse().unwrap();
                    n < keep
                }
            });
            let leaves: Vec<_> = f
                .iter()
                .filter(|(p, _)| p.starts_with("entries/"))
                .map(|(_, b)| promptrail::merkle::leaf_hash(b))
                .collect();
            let cp = promptrail::checkpoint::Checkpoint::sign(
                r.remote.display().to_string().trim_start_matches('/'),
                leaves.len() as u64,
                promptrail::merkle::root(&leaves),
                &promptrail::signing::Signer::Key(trusted_signer()),
            )
            .unwrap();
            f.insert("checkpoint".into(), cp.to_text().into_bytes());
        })
    };
    truncate(&r, 3);
    let v = with_saved(&r);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT012")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(f["message"].as_str().unwrap().contains("truncated"), "{f}");
}

#[test]
fn rewritten_history_after_a_saved_checkpoint_is_caught() {
    let r = recorded_repo();
    let saved = r.dir.path().join("saved.checkpoint");
    std::fs::write(&saved, stdout(&r.run(&["checkpoint"]))).unwrap();
    // Someone with the key re-signs entry 1 and rebuilds everything after it.
    let key = trusted_signer();
    tamper(&r, |f| {
        let b = resign(&f[&entry(1)], &key, |st| {
            st["predicate"]["authors"][0]["name"] = "Someone Else".into();
        });
        f.insert(entry(1), b);
    });
    let out = r.run(&[
        "verify",
        "--key",
        keys().public.to_str().unwrap(),
        "--checkpoint",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["PT012 consistency", "history was rewritten"]);
}

#[test]
fn prove_and_verify_entry_offline() {
    let r = recorded_repo();
    let proof = r.dir.path().join("intake-v2.proof.json");
    let out = r.run(&[
        "prove",
        "prompts/clinical/intake.md@v2",
        "--out",
        proof.to_str().unwrap(),
    ]);
    assert_ok(&out);
    // Checked from a directory that is not a repository at all.
    let elsewhere = tempfile::TempDir::new().unwrap();
    let check = |key: &std::path::Path| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
            .current_dir(elsewhere.path())
            .args([
                "verify-entry",
                proof.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let out = check(&keys().public);
    assert_ok(&out);
    assert_stdout_has(
        &out,
        &[
            "prompts/clinical/intake.md v2 (version)",
            "OK: entry 3 is in the log of size 4",
        ],
    );
    // The wrong key, or a forged entry, fail.
    let out = check(&other_keys().public);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["checkpoint is not signed by a trusted key"]);
    let mut p: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    let mut entry = STANDARD.decode(p["entry"].as_str().unwrap()).unwrap();
    let last = entry.len() - 3;
    entry[last] ^= 1;
    p["entry"] = STANDARD.encode(&entry).into();
    std::fs::write(&proof, serde_json::to_vec(&p).unwrap()).unwrap();
    let out = check(&keys().public);
    assert_eq!(out.status.code(), Some(1));
    assert_stdout_has(&out, &["inclusion proof does not lead"]);
}

#[test]
fn key_rotation_windows() {
    let r = recorded_repo();
    let config = |a_until: &str| {
        format!(
            "signing:\n  public_keys:\n    - path: \"{}\"\n      not_after: {a_until}\n    - path: \"{}\"\n      not_before: 2020-01-01T00:00:00Z\n",
            keys().public.display(),
            other_keys().public.display()
        )
    };
    // The key that signed everything was retired in 2001: every entry is flagged.
    r.write(".promptrail.yml", &config("2001-01-01T00:00:00Z"));
    let out = r.run(&["verify", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let windows: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "PT013")
        .collect();
    assert_eq!(windows.len(), 4, "{v:#}");
    assert!(
        windows[0]["expected"]
            .as_str()
            .unwrap()
            .contains("and 2001-01-01T00:00:00Z")
    );

    // Rotation: the old key stays valid for what it signed, the new key signs from now on.
    r.write(".promptrail.yml", &config("2100-01-01T00:00:00Z"));
    r.commit("rotate the signing key");
    r.write("prompts/clinical/intake.md", "Signed with the new key.\n");
    r.commit("after rotation");
    r.push();
    let out = r
        .cmd()
        .args([
            "record",
            "--offline",
            "--key",
            other_keys().private.to_str().unwrap(),
        ])
        .env("PROMPTRAIL_KEY_PASSWORD", "another password")
        .output()
        .unwrap();
    assert_ok(&out);
    let out = r.run(&["verify"]);
    assert_ok(&out);
    // The second key also signed the policy file's change that trusts it.
    assert_stdout_has(&out, &["4 signed by key", "2 signed by key"]);
}

#[test]
fn deployment_of_an_unapproved_or_unrecorded_version_is_flagged() {
    // Recorded offline: no version is approved.
    let r = recorded_repo();
    let key = trusted_signer();
    tamper(&r, |f| {
        let prev = promptrail::types::Sha256Hex::of(&f[&entry(3)]);
        let b = resign(&f[&entry(3)], &key, |st| {
            st["predicate"]["event"] = "deployment".into();
            st["predicate"]["log"]["index"] = 4.into();
            st["predicate"]["log"]["previous"] = prev.as_str().into();
            st["predicate"]["prompts"][0]
                .as_object_mut()
                .unwrap()
                .remove("change");
            st["predicate"]["deployment"] = serde_json::json!({
                "environment": "production", "actor": "mallory", "ref": "refs/heads/main",
                "sha": st["predicate"]["prompts"][0]["commit"].clone(),
                "deployedAt": "2026-11-20T15:00:00Z"
            });
        });
        f.insert(entry(4), b);
    });
    let found = findings(&r);
    assert!(has(&found, "PT014", 4), "{found:?}");
}

#[test]
fn replay_of_an_entry_from_another_repository() {
    // Two repositories whose logs are signed with the same key.
    let a = recorded_repo();
    let b = recorded_repo();
    std::fs::rename(b.remote.clone(), b.dir.path().join("other.git")).unwrap();
    b.git(&[
        "remote",
        "set-url",
        "origin",
        b.dir.path().join("other.git").to_str().unwrap(),
    ]);
    b.write("prompts/clinical/intake.md", "Other repository.\n");
    b.commit("other");
    b.push();
    b.record();
    let foreign = {
        let out = git_cmd(&b.work)
            .args([
                "cat-file",
                "blob",
                &format!("promptrail/audit:{}", entry(4)),
            ])
            .output()
            .unwrap();
        out.stdout
    };
    // The foreign entry 4 is appended to A's log as if it were A's.
    tamper(&a, |f| {
        f.insert(entry(4), foreign.clone());
    });
    let found = findings(&a);
    assert!(has(&found, "PT008", 4), "origin mismatch: {found:?}");
}

#[test]
fn a_backdated_entry_is_flagged() {
    let r = recorded_repo();
    let key = trusted_signer();
    tamper(&r, |f| {
        let b = resign(&f[&entry(3)], &key, |st| {
            st["predicate"]["recordedAt"] = "2001-01-01T00:00:00Z".into();
        });
        f.insert(entry(3), b);
    });
    let v = r.verify_json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT013")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(f["entry"], 3);
    assert!(f["message"].as_str().unwrap().contains("backdated"), "{f}");
}

#[test]
fn a_signed_tree_replayed_on_top_of_the_log_is_caught() {
    // The newest signed checkpoint names the commit it was appended onto. Committing a
    // signed tree again on top (here the tip's own, as an attacker who wants a reader of
    // the tip alone to believe an older state would) leaves it on the wrong parent.
    let r = recorded_repo();
    let tip = r.git(&["rev-parse", "promptrail/audit"]);
    let parent = r.git(&["rev-parse", "promptrail/audit^"]);
    let checkpoint = r.git(&["show", "promptrail/audit:checkpoint"]);
    assert!(
        checkpoint.contains(&format!("\npromptrail-parent {parent}\n")),
        "{checkpoint}"
    );
    let replay = r.git(&[
        "commit-tree",
        "promptrail/audit^{tree}",
        "-p",
        &tip,
        "-m",
        "replay",
    ]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &replay]);
    let v = r.verify_json();
    assert_eq!(v["ok"], false, "{v:#}");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PT011" && f["found"] == format!("parent {tip}"))
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(f["expected"].as_str().unwrap().contains(&parent), "{f}");
}

/// An edited `checkpoint.range` (same size, another peak) would make the next checkpoint
/// sign a root that is not this log's: the append refuses to build on a tip it did not
/// write, and never signs it. (Found by the red-team review.)
#[test]
fn record_refuses_to_sign_on_top_of_a_forged_range() {
    let r = recorded_repo();
    let before = r.git(&["rev-parse", "promptrail/audit"]);
    tamper(&r, |f| {
        let text = String::from_utf8(f["checkpoint.range"].clone()).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let (size, _) = lines[1].split_once(' ').unwrap();
        lines[1] = format!("{size} {}", "ab".repeat(32));
        f.insert(
            "checkpoint.range".into(),
            (lines.join("\n") + "\n").into_bytes(),
        );
    });
    let tampered = r.git(&["rev-parse", "promptrail/audit"]);
    assert_ne!(before, tampered);
    r.write("prompts/welcome.md", "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    let out = record_locally(&r);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a commit promptrail appended"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.git(&["rev-parse", "promptrail/audit"]), tampered);
}

/// The same forged range on a tip rewritten in place (as someone who may force-push would):
/// the range is believed only with the signed root, so the append rebuilds it from the
/// entries and signs this log's root.
#[test]
fn a_forged_range_rewritten_in_place_is_not_believed() {
    let r = recorded_repo();
    let index = r.dir.path().join("forged.index");
    let git_index = |args: &[&str], input: Option<&[u8]>| {
        use std::io::Write as _;
        let mut child = git_cmd(&r.work)
            .env("GIT_INDEX_FILE", &index)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.unwrap_or_default())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let range = r.git(&["show", "promptrail/audit:checkpoint.range"]);
    let mut lines: Vec<String> = range.lines().map(str::to_owned).collect();
    let (size, _) = lines[1].split_once(' ').unwrap();
    lines[1] = format!("{size} {}", "ab".repeat(32));
    let forged = lines.join("\n") + "\n";
    let blob = git_index(&["hash-object", "-w", "--stdin"], Some(forged.as_bytes()));
    git_index(&["read-tree", "promptrail/audit"], None);
    git_index(
        &[
            "update-index",
            "--cacheinfo",
            &format!("100644,{blob},checkpoint.range"),
        ],
        None,
    );
    let tree = git_index(&["write-tree"], None);
    let parent = r.git(&["rev-parse", "promptrail/audit^"]);
    let rewritten = r.git(&["commit-tree", &tree, "-p", &parent, "-m", "forged range"]);
    r.git(&["update-ref", "refs/heads/promptrail/audit", &rewritten]);
    r.write("prompts/welcome.md", "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    let out = record_locally(&r);
    assert_ok(&out);
    let v = r.verify_json();
    let checkpoint_findings: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "PT011")
        .collect();
    assert!(checkpoint_findings.is_empty(), "{v:#}");
}

/// Someone with push access and a key of their own appends an entry and a checkpoint that is
/// right in every way but its signer: the next entry's size, this log's Merkle root over the
/// entries, the right edge, the state line, the parent line naming the tip it was pushed on.
/// The next `record` must not sign on top of it: it is not a tip promptrail appended.
#[test]
fn an_append_refuses_a_tip_checkpoint_signed_by_an_untrusted_key() {
    use promptrail::checkpoint::{Checkpoint, parent_extension};
    use promptrail::merkle::{CompactRange, leaf_hash};
    use promptrail::signing::Signer;
    let r = recorded_repo();
    let before = r.git(&["rev-parse", "promptrail/audit"]);
    let pem = std::fs::read(&other_keys().private).unwrap();
    let evil = SigningKey::from_encrypted_pem(&pem, b"another password", "evil").unwrap();
    let evil = Signer::Key(evil);
    tamper(&r, |f| {
        let mut entries: Vec<String> = f
            .keys()
            .filter(|k| k.starts_with("entries/"))
            .cloned()
            .collect();
        entries.sort();
        let n = entries.len();
        let bundle: Bundle = serde_json::from_slice(&f[entries.last().unwrap()]).unwrap();
        let mut st: Value = serde_json::from_slice(&bundle.dsse_envelope.payload).unwrap();
        st["predicate"]["log"]["index"] = n.into();
        let st: Statement = serde_json::from_value(st).unwrap();
        let bytes = evil.sign_entry(st.to_payload().unwrap()).unwrap();
        let path = format!("entries/000000/{n:09}.json");
        entries.push(path.clone());
        f.insert(path, bytes);
        let mut range = CompactRange::default();
        for e in &entries {
            range.push(leaf_hash(&f[e]));
        }
        let old = Checkpoint::parse(std::str::from_utf8(&f["checkpoint"]).unwrap()).unwrap();
        let state = old
            .extensions
            .iter()
            .find(|e| e.starts_with("promptrail-state "))
            .unwrap()
            .clone();
        let cp = Checkpoint::sign_with(
            &old.origin,
            range.size(),
            range.root(),
            vec![state, parent_extension(Some(&before))],
            &evil,
        )
        .unwrap();
        f.insert("checkpoint".into(), cp.to_text().into_bytes());
        f.insert("checkpoint.range".into(), range.to_text().into_bytes());
    });
    let tampered = r.git(&["rev-parse", "promptrail/audit"]);
    r.write("prompts/welcome.md", "Hello again!\n");
    r.commit("welcome v2");
    r.push();
    let out = record_locally(&r);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is not a commit promptrail appended"), "{err}");
    assert!(
        err.contains("not signed by this key or a trusted one"),
        "{err}"
    );
    assert_eq!(r.git(&["rev-parse", "promptrail/audit"]), tampered);
}
