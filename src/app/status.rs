//! `promptrail status`: each live prompt's version and whether the audit log has it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::{Outcome, Workspace, print_json};
use crate::attestation::predicate::EventType;
use crate::cli::{Format, StatusArgs};
use crate::history::History;
use crate::report::plain;
use crate::report::views::{PendingEvent, PromptStatus, StatusView};
use crate::store::decode_entry;
use crate::types::{PromptPath, Version};

pub fn run(dir: &Path, args: &StatusArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let matcher = ws.matcher()?;
    let (name, target) = ws.target_commit(None)?;
    let history = History::scan(&ws.git, &target, &matcher)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let store = ws.store(&branch);

    // Newest recorded version per path, and where recording stopped.
    let mut recorded: HashMap<PromptPath, Version> = HashMap::new();
    let mut resume: Option<usize> = None;
    let mut log_entries = 0;
    if let Some(tip) = store.local_tip()? {
        store.read_meta(&tip)?;
        let entries = store.read_all(&tip)?.entries;
        log_entries = entries.len() as u64;
        for e in &entries {
            let Ok((_, st)) = decode_entry(&e.bytes) else {
                continue;
            };
            if st.predicate.event != EventType::Version {
                continue;
            }
            for p in &st.predicate.prompts {
                recorded.insert(p.path.clone(), p.version);
                if let Some(pos) = history.position(&p.commit) {
                    resume = Some(resume.map_or(pos, |r: usize| r.max(pos)));
                }
            }
        }
    }

    let mut warnings = Vec::new();
    let tree = ws.git.ls_tree(target.as_str(), true)?;
    for pattern in matcher.unmatched_patterns(tree.iter().map(|e| e.path.as_slice())) {
        warnings.push(format!(
            "prompts.include pattern `{pattern}` matches no file at {}",
            target.short()
        ));
    }
    let view = StatusView {
        branch: name,
        commit: target,
        audit_branch: branch,
        log_entries,
        prompts: history
            .live
            .iter()
            .map(|(path, version, _)| PromptStatus {
                path: path.clone(),
                version: *version,
                recorded: recorded.get(path).copied(),
            })
            .collect(),
        unrecorded: history
            .events
            .iter()
            .filter(|e| resume.is_none_or(|r| e.commit > r))
            .map(|e| PendingEvent {
                path: e.path.clone(),
                version: e.kind.version(),
                change: e.kind.name().to_owned(),
                commit: history.commits[e.commit].oid.clone(),
            })
            .collect(),
        warnings,
    };
    for w in &view.warnings {
        eprintln!("warning: {w}");
    }
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::status(&view)),
    }
    Ok(Outcome::Ok)
}
