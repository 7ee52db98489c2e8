//! The threat model as an executable suite: an insider with push access (a direct push to the
//! protected branch, a crafted pull request, a crafted working tree, odd GitHub responses)
//! tries to get unapproved prompt content past `check`, `record`, `gate`, `deploy` and
//! `verify`. Every test asserts the secure outcome. README's "Trust model" table names the
//! test that shows each defence.

#[path = "../common/mod.rs"]
mod common;

/// Entries promptrail writes always verify: empty deployments, retiring every prompt.
mod entries;
/// GitHub's documented edge cases fail closed: null commit ids, unknown states, limits.
mod github;
/// Hostile files and inputs are bounded: device files, huge or deeply nested configs.
mod input;
/// Policy is governed content: who may change the bar, and what the bar is.
mod policy;
/// Attacks found by a red-team review of the policy governance, each with its defence.
mod redteam;
/// Set-up the policy and red-team suites share.
mod support;
/// The working tree is the bytes on disk: symlinks, untracked files, filters, links.
mod worktree;
