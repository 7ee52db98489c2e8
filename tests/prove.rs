//! `prove` from the chunk roots on the audit branch (`state/tree.json`): the proof reads the
//! entry's chunk of 1,024 entries, not the whole log, is the one computed from every entry,
//! and a tampered chunk list or entry never yields a proof that does not verify. Real git.

mod common;

use common::*;
use serde_json::Value;

/// Prompts landed in the first commit: more than one chunk of 1,024 entries.
const PROMPTS: usize = 1_100;

fn prompt(i: usize) -> String {
    format!("prompts/p{i:04}.md")
}

/// 1,100 prompts in one commit, then the first one changed: 1,101 entries, one complete
/// chunk (entries 0–1023) and a tail (1024–1100).
fn big_log() -> Repo {
    let r = Repo::new();
    r.write(
        ".promptrail.yml",
        &format!(
            "signing:\n  public_keys: [\"{}\"]\n",
            keys().public.display()
        ),
    );
    for i in 0..PROMPTS {
        r.write(&prompt(i), &format!("Prompt number {i}.\n"));
    }
    r.commit("many prompts");
    r.write(&prompt(0), "Prompt number zero, changed.\n");
    r.commit("change the first");
    r.push();
    r.record();
    r
}

fn prove(r: &Repo, target: &str) -> std::process::Output {
    r.run(&["prove", target])
}

fn verify_entry(r: &Repo, proof: &[u8]) -> std::process::Output {
    let file = r.dir.path().join("proof.json");
    std::fs::write(&file, proof).unwrap();
    r.run(&[
        "verify-entry",
        file.to_str().unwrap(),
        "--key",
        keys().public.to_str().unwrap(),
    ])
}

fn index_of(proof: &[u8]) -> u64 {
    let v: Value = serde_json::from_slice(proof).unwrap();
    v["index"].as_u64().unwrap()
}

#[test]
fn proofs_from_the_chunk_roots_verify_and_tampering_fails_closed() {
    let r = big_log();
    let tree: Value = serde_json::from_slice(
        r.git(&["cat-file", "blob", "promptrail/audit:state/tree.json"])
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(tree["chunkLeaves"], 1024);
    assert_eq!(tree["roots"].as_array().unwrap().len(), 1, "{tree}");
    assert_ok(&r.verify());

    // One entry in the complete chunk, one in the tail: built from the chunk roots (no
    // warning), and each verifies offline.
    let targets = [format!("{}@v1", prompt(700)), format!("{}@v2", prompt(0))];
    let mut fast = Vec::new();
    for target in &targets {
        let out = prove(&r, target);
        assert_ok(&out);
        assert!(stderr(&out).is_empty(), "{target}: {}", stderr(&out));
        let check = verify_entry(&r, &out.stdout);
        assert_ok(&check);
        fast.push(out.stdout);
    }
    assert!(index_of(&fast[0]) < 1024 && index_of(&fast[1]) >= 1024);

    // A chunk root flipped on the tip, rewritten in place (push access, no key): prove says
    // why, hashes every entry instead, and prints the same proof; verify reports the file.
    let parent = r.git(&["rev-parse", "promptrail/audit^"]);
    tamper_onto(&r, &parent, |files| {
        let tree = files.get_mut("state/tree.json").unwrap();
        let mut v: Value = serde_json::from_slice(tree).unwrap();
        let root = v["roots"][0].as_str().unwrap().to_owned();
        let flipped = if root.starts_with('0') { "1" } else { "0" };
        v["roots"][0] = Value::String(format!("{flipped}{}", &root[1..]));
        *tree = serde_json::to_vec(&v).unwrap();
    });
    for (target, want) in targets.iter().zip(&fast) {
        let out = prove(&r, target);
        assert_ok(&out);
        assert!(
            stderr(&out).contains("do not fold into the signed checkpoint"),
            "{target}: {}",
            stderr(&out)
        );
        assert_eq!(
            &out.stdout, want,
            "{target}: another proof than the chunks gave"
        );
    }
    let report = r.verify_json();
    assert_eq!(report["ok"], false);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "PT017" && f["file"] == "state/tree.json"),
        "{report:#}"
    );

    // The next append does not build on the tampered list: it computes it from every entry.
    r.write(&prompt(1), "Prompt number one, changed.\n");
    r.commit("change the second");
    r.push();
    let out = r.run(&[
        "record",
        "--offline",
        "--no-push",
        "--key",
        keys().private.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("state/tree.json is absent or does not fit"),
        "{}",
        stderr(&out)
    );
    assert_ok(&r.verify());
    let out = prove(&r, &targets[0]);
    assert_ok(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert_ok(&verify_entry(&r, &out.stdout));
}

/// An entry file of the proved entry's chunk rewritten in place: neither the chunk roots nor
/// every entry's hashes lead to the signed root, and prove refuses (exit 2) rather than print
/// a proof that does not verify.
#[test]
fn prove_refuses_when_the_entries_do_not_hash_to_the_signed_root() {
    let r = big_log();
    let target = format!("{}@v1", prompt(3));
    let good = prove(&r, &target);
    assert_ok(&good);
    let victim = index_of(&good.stdout) + 1;
    let parent = r.git(&["rev-parse", "promptrail/audit^"]);
    tamper_onto(&r, &parent, |files| {
        let path = promptrail::store::entry_path(promptrail::types::EntryIndex(victim));
        // Another signature: the file still decodes, its leaf hash is another.
        let bytes = files.get_mut(&path).unwrap();
        let mut b: Value = serde_json::from_slice(bytes).unwrap();
        let sig = b["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap();
        let other = if sig.starts_with('A') { "B" } else { "A" };
        b["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(format!("{other}{}", &sig[1..]));
        *bytes = serde_json::to_vec(&b).unwrap();
    });
    let out = prove(&r, &target);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("do not hash to its signed checkpoint"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}
