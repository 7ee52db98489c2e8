//! The terminal: progress and warnings on stderr, JSON on stdout, time flags parsed.

use anyhow::{Context, Result};

/// Progress and warnings on stderr.
pub struct Progress {
    pub quiet: bool,
    pub verbose: bool,
}

impl Progress {
    pub fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }
}

/// Parses the RFC 3339 time of flag `--NAME`, when given.
pub(crate) fn parse_time(
    flag: &str,
    s: &Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.as_ref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .with_context(|| {
                    format!("--{flag} {s}: expected RFC 3339, e.g. 2026-11-20T15:00:00Z")
                })
        })
        .transpose()
}

/// Prints a serializable value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
