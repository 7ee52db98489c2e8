//! promptrail: a signed, git-native, append-only audit trail for the LLM prompts a
//! repository ships. See `DESIGN.md` in the project for the picture; the modules follow it.

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
pub mod summary;
pub mod types;
pub mod verify;
pub mod worktree;
pub mod yamlscan;
