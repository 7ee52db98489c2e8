//! `promptrail drift`: the prompt files actually served, compared with what the trail says is
//! live in an environment (the view and its text form).

use std::fmt::Write as _;

use serde::Serialize;

use crate::types::{EntryIndex, PromptPath, Version};

/// What `drift` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftView {
    pub environment: String,
    /// What was compared, as given.
    pub source: String,
    /// `directory` or `manifest`.
    pub kind: &'static str,
    /// Prompt files served.
    pub served: usize,
    /// Prompts the trail says are live in the environment.
    pub live: usize,
    /// Rows that are not `ok` (exit 1 when any).
    pub drifted: usize,
    /// One row per path served or live, sorted by path.
    pub files: Vec<DriftRow>,
}

/// How a path stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftStatus {
    /// Served with the bytes of the version live there.
    Ok,
    /// Live in the environment, but not served.
    Missing,
    /// Served, but no version of it is live in the environment.
    Unexpected,
    /// The bytes are no recorded version of any prompt.
    Unrecorded,
    /// The bytes are a recorded version that was never approved.
    Unapproved,
    /// The bytes are an approved version, but not the one live.
    NotLive,
    /// Not a regular file with one link (a symbolic link, a FIFO…), or not acceptable as a
    /// prompt (too large, binary, a non-UTF-8 name): never judged.
    Blocked,
}

impl DriftStatus {
    pub fn label(self) -> &'static str {
        match self {
            DriftStatus::Ok => "ok",
            DriftStatus::Missing => "MISSING",
            DriftStatus::Unexpected => "UNEXPECTED",
            DriftStatus::Unrecorded => "UNRECORDED",
            DriftStatus::Unapproved => "UNAPPROVED",
            DriftStatus::NotLive => "NOT LIVE",
            DriftStatus::Blocked => "BLOCKED",
        }
    }
}

/// A recorded version, as a row names it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRef {
    pub path: PromptPath,
    pub version: Version,
    /// The entry that recorded it.
    pub entry: EntryIndex,
    pub approved: bool,
}

/// One path.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftRow {
    pub path: PromptPath,
    pub status: DriftStatus,
    /// The served bytes' SHA-256 (absent when missing or blocked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The recorded version the served bytes are, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<VersionRef>,
    /// The version live in the environment at this path, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_version: Option<Version>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_sha256: Option<String>,
    /// The deployment or rollback entry that made it live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<EntryIndex>,
    pub reason: String,
}

pub fn text(v: &DriftView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}) against {}: {} served, {} live, {}",
        v.source.escape_debug(),
        v.kind,
        v.environment,
        v.served,
        v.live,
        match v.drifted {
            0 => "no drift".to_owned(),
            1 => "1 drifted".to_owned(),
            n => format!("{n} drifted"),
        }
    );
    if v.files.is_empty() {
        let _ = writeln!(
            out,
            "\nnothing is served and nothing is live in {}",
            v.environment
        );
    }
    let _ = writeln!(out);
    for r in &v.files {
        let _ = writeln!(
            out,
            "{:<11} {}: {}",
            r.status.label(),
            r.path.as_str().escape_debug(),
            r.reason
        );
    }
    out
}
