//! `promptrail show P@vN`: one version with its content, diff, authors and deployments.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Outcome, Workspace, print_json, read_log};
use crate::attestation::predicate::{ChangeType, EventType};
use crate::cli::{Format, ShowArgs};
use crate::report::plain;
use crate::report::views::{EntryView, ShowView};
use crate::types::Version;

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

pub fn run(dir: &Path, args: &ShowArgs) -> Result<Outcome> {
    let (path, version) = parse_target(&args.target)?;
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let entries = read_log(&ws, &branch)?;
    let is_version = |e: &&EntryView| e.event == EventType::Version;
    // The entry that made this version. A rename keeps the number, so a version asked for
    // under its new name is followed back through renames to where it was made.
    let find = |path: &str, renamed: bool| {
        entries.iter().filter(is_version).find_map(|e| {
            e.prompts
                .iter()
                .find(|p| {
                    p.path.as_str() == path
                        && p.version == version
                        && match p.change {
                            Some(ChangeType::Deleted) => false,
                            Some(ChangeType::Renamed) => renamed,
                            _ => !renamed,
                        }
                })
                .map(|p| (e, p))
        })
    };
    let mut lookup = path.clone();
    let mut found = None;
    for _ in 0..entries.len() + 1 {
        if let Some(hit) = find(&lookup, false) {
            found = Some(hit);
            break;
        }
        match find(&lookup, true).and_then(|(_, p)| p.previous_path.clone()) {
            Some(prev) => lookup = prev.to_string(),
            None => break,
        }
    }
    let Some((entry, prompt)) = found else {
        bail!(
            "{path}@{version} is not in the audit log on {branch} (see `promptrail log --prompt {path}`)"
        );
    };
    let mut reader = ws.git.object_reader()?;
    let content = reader
        .read(prompt.digest.git_blob.as_str())?
        .map(|o| String::from_utf8_lossy(&o.data).into_owned());
    // The previous version, possibly under its former name.
    let before = prompt.previous_version.and_then(|pv| {
        let prev_path = prompt.previous_path.as_ref().unwrap_or(&prompt.path);
        entries.iter().filter(is_version).find_map(|e| {
            e.prompts
                .iter()
                .find(|p| &p.path == prev_path && p.version == pv)
                .map(|p| p.digest.git_blob.clone())
        })
    });
    let diff = match before {
        Some(old) => ws.git.diff_blobs(
            &old,
            &prompt.digest.git_blob,
            prompt
                .previous_path
                .as_ref()
                .unwrap_or(&prompt.path)
                .as_str(),
            prompt.path.as_str(),
        )?,
        None => None,
    };
    let deployments = entries
        .iter()
        .filter(|e| matches!(e.event, EventType::Deployment | EventType::Rollback))
        .filter(|e| {
            e.prompts
                .iter()
                .any(|p| p.path == prompt.path && p.version == prompt.version)
        })
        .cloned()
        .collect();
    let view = ShowView {
        entry: entry.clone(),
        prompt: prompt.clone(),
        content,
        diff,
        deployments,
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::show(&view)),
    }
    Ok(Outcome::Ok)
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
