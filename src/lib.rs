//! promptrail: a signed, git-native, append-only audit trail for the LLM prompts a
//! repository ships.
//!
//! The dependencies point one way, `cli` → `app` → domain: `app/` holds one module per
//! command and the shared wiring rooms (workspace, trust, audit log, verification, gating,
//! deployment, the fresh-clone and summary readers), and no command module imports another;
//! the domain modules (`history`, `policy`, `governance`, `review`, `doctor`, `ledger`,
//! `state`, `attestation`, `merkle`, `subtree`, `checkpoint`, `proof`, `verify`, `layout`,
//! `otlp`) are pure, and `report` renders their views; only `git` runs git, only `github`
//! talks to GitHub, only `store` writes the audit branch and only `keyless` talks to Fulcio
//! and Rekor.
//! README's "Project layout" gives each room in one sentence.

pub mod anchor;
pub mod app;
pub mod attestation;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod fsread;
pub mod git;
pub mod github;
pub mod governance;
pub mod history;
pub mod keyless;
pub mod layout;
pub mod ledger;
pub mod merkle;
pub mod otlp;
pub mod policy;
pub mod prompt;
pub mod proof;
pub mod report;
pub mod review;
pub mod signing;
pub mod state;
pub mod store;
pub mod subtree;
pub mod succession;
pub mod summary;
pub mod types;
pub mod verify;
pub mod worktree;
pub mod yamlscan;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The path column of README's "Project layout" block.
    fn layout_paths() -> Vec<String> {
        let readme = include_str!("../README.md");
        let section = readme
            .split_once("## Project layout")
            .and_then(|(_, rest)| rest.split_once("```\n"))
            .and_then(|(_, rest)| rest.split_once("\n```"))
            .map(|(block, _)| block)
            .expect("README has a Project layout block");
        section
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// The commands' modules, as `app/mod.rs`'s dispatch names them (`=> name::run(..)`).
    fn command_modules() -> Vec<String> {
        include_str!("app/mod.rs")
            .lines()
            .filter_map(|line| line.split_once("=> ")?.1.split_once("::"))
            .map(|(module, _)| module.trim().to_owned())
            .collect()
    }

    #[test]
    fn the_project_layout_names_every_room_and_only_rooms_that_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let listed = layout_paths();
        for path in &listed {
            assert!(
                root.join(path).exists(),
                "README's Project layout names {path}, which does not exist"
            );
        }
        let commands = command_modules();
        assert!(commands.contains(&"record".to_owned()), "{commands:?}");
        let mut rooms: Vec<String> = Vec::new();
        for dir in ["src", "src/app"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("src is readable") {
                let entry = entry.expect("src is readable");
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.path().is_dir();
                let command = name
                    .strip_suffix(".rs")
                    .is_some_and(|m| commands.contains(&m.to_owned()));
                if dir == "src/app" && (command || name == "mod.rs") {
                    continue;
                }
                rooms.push(if is_dir {
                    format!("{dir}/{name}/")
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
        for room in rooms {
            assert!(
                listed.contains(&room),
                "README's Project layout does not name {room}"
            );
        }
    }
}
