//! Approvals follow what a pull request showed its reviewers: red-team rounds against
//! laundering unreviewed prompt text through changes that show no content (a rename without
//! changes, a mode-only change, a move into the globs, an edit on top of bytes the log never
//! recorded), each test asserting the secure outcome, with the honest renames that must pass.
//! README's "Trust model" table names the tests.

#[path = "../common/mod.rs"]
mod common;

/// Round 12: renames and mode changes that launder a hidden edit or an unapproved version.
mod red12;
/// Round 13: around the round-12 fix: rule changes by rename, environment rules, one-line edits.
mod red13;
/// Round 14: forcing the whole-history fallback of `record` to launder a hidden edit.
mod red14;
/// Set-up the rounds share.
mod support;
