//! Hostile repository contents: each is recorded correctly or refused with a clear error,
//! and nothing half-written.

mod common;

use common::*;

fn record(r: &Repo) -> std::process::Output {
    r.run(&[
        "record",
        "--offline",
        "--key",
        keys().private.to_str().unwrap(),
    ])
}

fn base() -> Repo {
    let r = Repo::new();
    r.write("prompts/a.md", "hello\n");
    r.commit("a");
    r.push();
    r
}

#[cfg(unix)]
#[test]
fn symlink_loop_and_dotdot_links() {
    let r = base();
    std::os::unix::fs::symlink("loop2.md", r.work.join("prompts/loop1.md")).unwrap();
    std::os::unix::fs::symlink("loop1.md", r.work.join("prompts/loop2.md")).unwrap();
    r.commit("a symlink loop inside the repository");
    r.push();
    // Links that stay inside are versioned as links (git's view); nothing is followed.
    assert_ok(&record(&r));
    assert_ok(&r.verify());
    std::os::unix::fs::symlink("../../../../etc/shadow", r.work.join("prompts/escape.md")).unwrap();
    r.commit("escape");
    r.push();
    let before = r.remote_audit_tip();
    let out = record(&r);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("prompts/escape.md") && stderr(&out).contains("outside"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.remote_audit_tip(), before, "nothing written");
}

#[test]
fn unicode_names_are_prompts_and_newlines_are_refused() {
    let r = base();
    r.write("prompts/triage-é-中文-🙂.md", "unicode\n");
    r.commit("unicode name");
    r.push();
    assert_ok(&record(&r));
    let log = r.log_json();
    assert!(
        versions(&log)
            .iter()
            .any(|(p, _, _)| p == "prompts/triage-é-中文-🙂.md")
    );
    #[cfg(unix)]
    {
        r.write("prompts/bad\nname.md", "x\n");
        r.commit("newline in a name");
        r.push();
        let before = r.remote_audit_tip();
        let out = record(&r);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("control characters"),
            "{}",
            stderr(&out)
        );
        assert_eq!(r.remote_audit_tip(), before);
    }
}

#[test]
fn a_hundred_megabyte_prompt_is_refused_with_its_path() {
    let r = base();
    let big = vec![b'a'; 100 * 1024 * 1024];
    r.write_bytes("prompts/huge.md", &big);
    r.commit("huge");
    r.push();
    let out = record(&r);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("prompts/huge.md") && stderr(&out).contains("over the limit"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.remote_audit_tip(), None);
}

#[test]
fn a_prompt_replaced_by_a_directory() {
    let r = base();
    r.git(&["rm", "-q", "prompts/a.md"]);
    r.write("prompts/a.md/part1.md", "one\n");
    r.commit("a.md becomes a directory");
    r.push();
    assert_ok(&record(&r));
    let v = versions(&r.log_json());
    assert!(
        v.contains(&("prompts/a.md".into(), 1, "deleted".into())),
        "{v:?}"
    );
    assert!(
        v.contains(&("prompts/a.md/part1.md".into(), 1, "added".into())),
        "{v:?}"
    );
    assert_ok(&r.verify());
}

#[test]
fn a_submodule_under_prompts_is_not_a_prompt() {
    let r = base();
    let sub = r.dir.path().join("sub");
    git_in(
        r.dir.path(),
        &["init", "-q", "-b", "main", sub.to_str().unwrap()],
    );
    std::fs::write(sub.join("x.md"), "x").unwrap();
    git_in(
        &sub,
        &["-c", "user.name=s", "-c", "user.email=s@x", "add", "."],
    );
    git_in(
        &sub,
        &[
            "-c",
            "user.name=s",
            "-c",
            "user.email=s@x",
            "commit",
            "-qm",
            "s",
        ],
    );
    let head = git_in(&sub, &["rev-parse", "HEAD"]);
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},prompts/vendor"),
    ]);
    r.commit("submodule");
    r.push();
    assert_ok(&record(&r));
    assert!(
        !versions(&r.log_json())
            .iter()
            .any(|(p, _, _)| p.contains("vendor"))
    );
    assert_ok(&r.verify());
}

#[test]
fn a_detached_head_records_what_landed_or_says_what_to_set() {
    let r = base();
    r.git(&["checkout", "-q", "--detach", "HEAD"]);
    let out = record(&r);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("protected_branch"),
        "{}",
        stderr(&out)
    );
    r.write(".promptrail.yml", "protected_branch: main\n");
    assert_ok(&record(&r));
    assert_eq!(r.log_json().len(), 1);
}
