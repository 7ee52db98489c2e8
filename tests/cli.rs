//! Snapshots of `--help` and of the human output, reviewed by hand: a change to what users
//! read shows up in review.

mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", help(&[]));
    for cmd in [
        "init", "keygen", "status", "record", "verify", "log", "show", "check", "gate", "deploy",
        "rollback", "active", "doctor", "which", "trace", "drift", "export",
    ] {
        insta::assert_snapshot!(format!("help_{cmd}"), help(&[cmd]));
    }
}

/// Replaces what changes from run to run: key ids, digests, times, temp paths.
fn settings(r: &Repo) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"[0-9a-f]{64}", "[SHA256]");
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
fn human_output() {
    let r = Repo::new();
    r.write(
        "prompts/clinical/intake.md",
        "You are a clinical intake assistant.\n",
    );
    r.write("prompts/greet.md", "Hello!\n");
    r.commit("add prompts");
    r.git(&["mv", "prompts/greet.md", "prompts/welcome.md"]);
    r.commit("rename greeting");
    r.write(
        "prompts/clinical/intake.md",
        "You are a careful clinical intake assistant.\nAsk about allergies.\n",
    );
    r.commit_as(
        "Ana Author <ana@example.org>",
        "tune intake\n\nCo-authored-by: Bob Builder <bob@example.org>",
    );
    r.push();
    let s = settings(&r);
    s.bind(|| {
        insta::assert_snapshot!("record", stdout(&r.record()));
        insta::assert_snapshot!("record_again", stdout(&r.record()));
        let out = r.run(&["log"]);
        assert_ok(&out);
        insta::assert_snapshot!("log", stdout(&out));
        let out = r.run(&["show", "prompts/clinical/intake.md@v2"]);
        assert_ok(&out);
        insta::assert_snapshot!("show", stdout(&out));
        let out = r.run(&["status"]);
        assert_ok(&out);
        insta::assert_snapshot!("status", stdout(&out));
        let out = r.verify();
        assert_ok(&out);
        insta::assert_snapshot!("verify_ok", stdout(&out));
        let out = r.run(&["verify", "--key", other_keys().public.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        insta::assert_snapshot!("verify_untrusted", stdout(&out));
    });
}
