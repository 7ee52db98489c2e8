//! `promptrail export`: the audit log as a report for compliance.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::verify::{trust, verify_log};
use super::{AuditLog, Outcome, Workspace};
use crate::attestation::predicate::{AuthorRole, ChangeType, EventType};
use crate::cli::{ExportArgs, ExportFormat};
use crate::ledger::{LineageId, Lineages};
use crate::report::export::{self, DeployRow, ExportModel, PromptTimeline, VersionRow};
use crate::report::views::EntryView;

pub fn run(dir: &Path, args: &ExportArgs) -> Result<Outcome> {
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    if let Some(env) = &args.env {
        ws.environment(env)?;
    }
    let (since, until) = (
        super::parse_time("since", &args.since)?,
        super::parse_time("until", &args.until)?,
    );
    let trust = trust(&ws, &args.trust)?;
    let log = AuditLog::open(&ws, &branch)?;
    let verification = if trust.is_empty() {
        None
    } else {
        Some(verify_log(&ws, &log, &trust, None)?)
    };
    let statements = log.statements()?;
    let in_range = |t: DateTime<Utc>| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u);
    let entries: Vec<EntryView> = statements
        .iter()
        .filter(|(_, _, st)| in_range(st.predicate.recorded_at))
        .filter(|(_, _, st)| {
            args.env.as_ref().is_none_or(|env| {
                st.predicate
                    .deployment
                    .as_ref()
                    .is_none_or(|d| &d.environment == env)
            })
        })
        .map(|(file, key, st)| EntryView::new(file, key.clone(), st))
        .collect();

    let mut reader = ws.git.object_reader()?;
    let follow = !args.follow.no_follow;
    let (lineages, ids) = Lineages::assign(
        statements
            .iter()
            .map(|(_, _, st)| (st.predicate.event, st.predicate.prompts.as_slice())),
    );
    // One timeline per prompt across renames, under its newest name (or one per path).
    let key = |pr: &crate::attestation::predicate::PromptRecord, id: LineageId| {
        if follow {
            lineages.name(id).to_string()
        } else {
            pr.path.to_string()
        }
    };
    let mut prompts: BTreeMap<String, PromptTimeline> = BTreeMap::new();
    let mut last_blob: BTreeMap<LineageId, (String, crate::types::Oid)> = BTreeMap::new();
    for ((_, _, st), ids) in statements.iter().zip(&ids) {
        let p = &st.predicate;
        for (pr, &id) in p.prompts.iter().zip(ids) {
            let timeline = key(pr, id);
            if p.event == EventType::Version {
                // The diff against the version before (under its former name after a rename).
                let (before, old) = match last_blob.get(&id).cloned() {
                    Some((path, blob)) => (path, Some(blob)),
                    None => (pr.path.to_string(), None),
                };
                last_blob.insert(id, (pr.path.to_string(), pr.digest.git_blob.clone()));
                if !in_range(p.recorded_at) {
                    continue;
                }
                let diff = match (old, pr.change) {
                    (_, Some(ChangeType::Deleted | ChangeType::Renamed)) => None,
                    (old, _) => {
                        let new_text = reader
                            .read(pr.digest.git_blob.as_str())?
                            .map(|o| String::from_utf8_lossy(&o.data).into_owned());
                        let old_text = match old {
                            Some(o) => reader
                                .read(o.as_str())?
                                .map(|o| String::from_utf8_lossy(&o.data).into_owned()),
                            None => Some(String::new()),
                        };
                        match (old_text, new_text) {
                            (Some(a), Some(b)) => Some(
                                similar::TextDiff::from_lines(&a, &b)
                                    .unified_diff()
                                    .header(&before, pr.path.as_str())
                                    .to_string(),
                            ),
                            _ => None,
                        }
                    }
                };
                let rule = p.policy.rules.iter().find(|r| r.path == pr.path);
                let t = prompts.entry(timeline).or_default();
                t.note_name(pr.path.as_str());
                t.versions.push(VersionRow {
                    path: pr.path.to_string(),
                    version: pr.version.0,
                    change: pr.change.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    entry: p.log.index.0,
                    landed_at: pr
                        .landed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    commit: pr.commit.to_string(),
                    authors: p
                        .authors
                        .iter()
                        .filter(|a| a.role != AuthorRole::Committer)
                        .map(|a| a.name.clone())
                        .collect(),
                    approvers: p
                        .approvals
                        .iter()
                        .filter(|a| a.counted && a.path == pr.path)
                        .map(|a| format!("@{}", a.reviewer))
                        .collect(),
                    approved: rule.is_some_and(|r| {
                        r.approved
                            && r.status == crate::attestation::predicate::ApprovalStatus::Evaluated
                    }),
                    diff,
                });
            } else if let Some(d) = &p.deployment
                && in_range(p.recorded_at)
                && args.env.as_ref().is_none_or(|e| e == &d.environment)
            {
                let t = prompts.entry(timeline).or_default();
                t.note_name(pr.path.as_str());
                t.deployments.push(DeployRow {
                    path: pr.path.to_string(),
                    environment: d.environment.clone(),
                    event: p.event.as_str().to_owned(),
                    version: pr.version.0,
                    entry: p.log.index.0,
                    at: d
                        .deployed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    actor: d.actor.clone(),
                    replaces: d.replaces.map(|v| v.0),
                });
            }
        }
    }
    let checkpoint = log
        .files
        .checkpoint
        .as_ref()
        .map(|c| String::from_utf8_lossy(c).into_owned());
    let model = ExportModel {
        generated_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        origin: verification
            .as_ref()
            .and_then(|r| r.origin.clone())
            .or_else(|| {
                statements
                    .first()
                    .map(|(_, _, st)| st.predicate.log.origin.clone())
            }),
        branch,
        trusted_keys: trust
            .keys
            .iter()
            .map(|k| format!("{} ({})", k.key_id, k.source))
            .chain(
                trust
                    .keyless
                    .iter()
                    .map(|k| format!("keyless: {} ({})", k.policy.describe(), k.root_name)),
            )
            .collect(),
        verification,
        checkpoint,
        live: export::live_spans(
            &statements
                .iter()
                .filter(|(_, _, st)| {
                    args.env.as_ref().is_none_or(|env| {
                        st.predicate
                            .deployment
                            .as_ref()
                            .is_none_or(|d| &d.environment == env)
                    })
                })
                .map(|(file, key, st)| EntryView::new(file, key.clone(), st))
                .collect::<Vec<_>>(),
            since,
            until,
            follow,
        ),
        entries,
        prompts,
    };
    let text = match args.format {
        ExportFormat::Json => serde_json::to_string_pretty(&model)? + "\n",
        ExportFormat::Csv => export::csv(&model),
        ExportFormat::Md => export::markdown(&model),
        ExportFormat::Html => crate::report::html::html(&model),
    };
    match &args.out {
        Some(f) => {
            std::fs::write(f, text).with_context(|| format!("writing {}", f.display()))?;
            eprintln!("wrote {}", f.display());
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}
