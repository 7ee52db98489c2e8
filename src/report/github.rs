//! GitHub Actions output: step summary (Markdown), annotations, and step outputs.
//! Active only when `GITHUB_ACTIONS=true`; each file variable is optional.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};

/// True inside a GitHub Actions job.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Appends Markdown to the job's step summary.
pub fn summary(markdown: &str) -> Result<()> {
    append_env_file("GITHUB_STEP_SUMMARY", markdown)
}

/// Sets a step output (multi-line safe, with a random-enough delimiter).
pub fn output(name: &str, value: &str) -> Result<()> {
    let delimiter = format!(
        "promptrail_{}",
        crate::types::Sha256Hex::of(value.as_bytes()).short()
    );
    append_env_file(
        "GITHUB_OUTPUT",
        &format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"),
    )
}

fn append_env_file(var: &str, text: &str) -> Result<()> {
    let Ok(path) = std::env::var(var) else {
        return Ok(());
    };
    if path.is_empty() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("writing ${var} ({path})"))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing ${var} ({path})"))
}

/// An `::error` workflow command that annotates a file.
pub fn error_annotation(file: &str, title: &str, message: &str) -> String {
    format!(
        "::error file={},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

/// A `::warning` workflow command (no file).
pub fn warning_annotation(title: &str, message: &str) -> String {
    format!(
        "::warning title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table from rows of cells (cells escaped for `|`).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| c.replace('|', "\\|").replace('\n', " "))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_workflow_command_syntax() {
        assert_eq!(
            error_annotation("prompts/a,b.md", "unapproved: x", "line1\nline2 100%"),
            "::error file=prompts/a%2Cb.md,title=unapproved%3A x::line1%0Aline2 100%25"
        );
    }

    #[test]
    fn tables_escape_pipes() {
        let t = table(&["a", "b"], &[vec!["x|y".into(), "z".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| x\\|y | z |\n");
    }
}
