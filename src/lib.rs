//! promptrail: a signed, git-native, append-only audit trail for the LLM prompts a
//! repository ships.
//!
//! The dependencies point one way, `cli` → `app` → domain: `app/` holds one module per
//! command and the shared wiring rooms (workspace, trust, audit log, verification, gating,
//! deployment), and no command module imports another; the domain modules (`history`,
//! `policy`, `ledger`, `state`, `attestation`, `merkle`, `checkpoint`, `proof`, `verify`,
//! `layout`, `otlp`) are pure; only `git` runs git, only `github` talks to GitHub, only
//! `store` writes the audit branch and only `keyless` talks to Fulcio and Rekor. README's
//! "Project layout" gives each room in one sentence.

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
pub mod summary;
pub mod types;
pub mod verify;
pub mod worktree;
pub mod yamlscan;
