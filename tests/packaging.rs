//! What the release archives ship beside the binary: man pages and shell completions, generated
//! by the hidden `promptrail generate` from the clap definitions. Every command a user can run
//! must appear in them; the list is read from the definitions, so a new command is covered
//! without touching this test.

use std::process::{Command, Output};

use clap::CommandFactory as _;

fn promptrail(args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("promptrail"))
        .args(args)
        .output()
        .unwrap()
}

/// The commands `promptrail --help` lists (not the hidden `generate`).
fn commands() -> Vec<(String, String)> {
    let cli = promptrail::cli::Cli::command();
    let commands: Vec<_> = cli
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect();
    assert!(commands.len() >= 16, "{commands:?}");
    assert!(commands.iter().all(|(name, _)| name != "generate"));
    commands
}

/// Man page text with roff's escaped hyphens read as hyphens.
fn read_man(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
}

#[test]
fn man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man/man1");
    let out = promptrail(&["generate", "man", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");

    let top = read_man(&out_dir.join("promptrail.1"));
    assert!(top.contains(".TH promptrail 1"), "{top}");
    let source = format!(
        "\"promptrail {}\" \"promptrail manual\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(top.contains(&source), "{top}");
    assert!(
        top.contains("Exit codes: 0 ok"),
        "the long about is the description"
    );
    let mut pages = 1;
    for (name, about) in commands() {
        assert!(
            top.contains(&format!("promptrail-{name}(1)")),
            "promptrail.1 lacks {name}"
        );
        let page = read_man(&out_dir.join(format!("promptrail-{name}.1")));
        let title = format!(".TH promptrail-{name} 1  {source}");
        assert!(page.contains(&title), "{name}: {page}");
        // The page describes the command as --help does (its first line, unwrapped by roff).
        let first = about.lines().next().unwrap_or_default();
        let words: String = first
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(page.contains(&words), "promptrail-{name}.1 lacks {words:?}");
        pages += 1;
    }
    let written = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(
        written, pages,
        "one page per command, and no page for `generate`"
    );
}

#[test]
fn completions_cover_every_command_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = promptrail(&["generate", "completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for (name, _) in commands() {
            assert!(script.contains(&name), "{shell} completions lack `{name}`");
        }
        // Flags complete too (fish spells them `-l format`).
        for flag in ["format", "checkpoint", "certificate-identity"] {
            let found =
                script.contains(&format!("--{flag}")) || script.contains(&format!("-l {flag}"));
            assert!(found, "{shell} completions lack --{flag}");
        }
    }
}

#[test]
fn generate_refuses_bad_input_with_exit_2() {
    let out = promptrail(&["generate", "completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));

    // A man directory that is a file: the error names it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = promptrail(&["generate", "man", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not-a-dir"), "{stderr}");
}
