//! The terminal: progress and warnings on stderr, JSON on stdout, time flags and
//! `PROMPT@vN` targets parsed.

use anyhow::{Context, Result};

use crate::types::Version;

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

/// Parses `path@vN` (or `path@N`).
pub fn parse_target(s: &str) -> Result<(String, Version)> {
    let (path, v) = s
        .rsplit_once('@')
        .with_context(|| format!("`{s}`: expected PROMPT@vN, for example prompts/intake.md@v12"))?;
    let n: u32 = v
        .strip_prefix('v')
        .unwrap_or(v)
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("`{v}` is not a version: expected v1, v2, …"))?;
    Ok((path.to_owned(), Version(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_target("prompts/a@b.md@v12").unwrap(),
            ("prompts/a@b.md".into(), Version(12))
        );
        assert_eq!(parse_target("p.md@3").unwrap().1, Version(3));
        assert!(parse_target("p.md").is_err());
        assert!(parse_target("p.md@v0").is_err());
        assert!(parse_target("p.md@vx").is_err());
    }
}
