//! promptrail: a signed, git-native, append-only audit trail for the LLM prompts a
//! repository ships. See `DESIGN.md` in the project for the picture; the modules follow it.

pub mod attestation;
pub mod config;
pub mod git;
pub mod history;
pub mod prompt;
pub mod signing;
pub mod types;
