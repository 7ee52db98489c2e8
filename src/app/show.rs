//! `promptrail show P@vN`: one version with its content, diff, authors and deployments.

use std::path::Path;

use anyhow::{Result, bail};

use super::console::parse_target;
use super::{DecodedEntry, Outcome, Workspace, indexed, print_json};
use crate::attestation::predicate::{ChangeType, EventType, PromptRecord};
use crate::cli::{Format, ShowArgs};
use crate::ledger::{LineageId, Lineages};
use crate::report::plain;
use crate::report::views::{EntryView, ShowView};
use crate::types::{PromptPath, Version};

pub fn run(dir: &Path, args: &ShowArgs) -> Result<Outcome> {
    let (path, version) = parse_target(&args.target)?;
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let asked = PromptPath::new(&path);
    // From the state summary (else the whole log): the lineage's version entries (the
    // version, the one before it, the names) and the deployments of this version number
    // under any of its names — what follows needs nothing else.
    let log = Recorded::new(
        indexed::entries(&ws, &branch, |view| {
            let mut picked = indexed::lineage_version_entries(view, &asked)?;
            picked.extend(indexed::lineage_deployment_entries(view, &asked, version)?);
            Ok(Some(picked.into_iter().collect()))
        })?
        .iter()
        .map(DecodedEntry::view)
        .collect(),
    );
    let follow = !args.follow.no_follow;
    let Some((entry, prompt, lineage)) = log.made_version(&asked, version, follow) else {
        let hint = log.renames_hint(&asked, follow);
        bail!(
            "{path}@{version} is not in the audit log on {branch} (see `promptrail log --prompt {path}`){hint}"
        );
    };
    let mut reader = ws.git.object_reader()?;
    let content = reader
        .read(prompt.digest.git_blob.as_str())?
        .map(|o| String::from_utf8_lossy(&o.data).into_owned());
    let diff = match log.previous_version(entry, prompt, lineage) {
        Some(old) => ws.git.diff_blobs(
            &old.digest.git_blob,
            &prompt.digest.git_blob,
            old.path.as_str(),
            prompt.path.as_str(),
        )?,
        None => None,
    };
    let view = ShowView {
        names: log.lineages.paths(lineage).to_vec(),
        entry: entry.clone(),
        prompt: prompt.clone(),
        content,
        diff,
        deployments: log.deployments(prompt, lineage, follow),
    };
    match args.format.format {
        Format::Json => print_json(&view)?,
        Format::Text => print!("{}", plain::show(&view)),
    }
    Ok(Outcome::Ok)
}

/// The entries `show` answers from, each prompt record with its lineage.
struct Recorded {
    entries: Vec<EntryView>,
    lineages: Lineages,
    ids: Vec<Vec<LineageId>>,
}

fn is_version(e: &EntryView) -> bool {
    match e.event {
        EventType::Version => true,
        EventType::Deployment | EventType::Rollback => false,
    }
}

/// The record made the version (a deletion or a rename only carries it on).
fn made(p: &PromptRecord) -> bool {
    !matches!(p.change, Some(ChangeType::Deleted | ChangeType::Renamed))
}

impl Recorded {
    fn new(entries: Vec<EntryView>) -> Recorded {
        let (lineages, ids) =
            Lineages::assign(entries.iter().map(|e| (e.event, e.prompts.as_slice())));
        Recorded {
            entries,
            lineages,
            ids,
        }
    }

    /// Every prompt record of the log with its lineage, in log order.
    fn records(&self) -> impl DoubleEndedIterator<Item = (&EntryView, &PromptRecord, LineageId)> {
        self.entries
            .iter()
            .zip(&self.ids)
            .flat_map(|(e, ids)| e.prompts.iter().zip(ids).map(move |(p, id)| (e, p, *id)))
    }

    /// The entry that made this version: a rename keeps the number, so a version asked for
    /// under its new name is the one made under a former name. Without following, the
    /// version must be recorded under this path (made here, or renamed to it).
    fn made_version(
        &self,
        asked: &PromptPath,
        version: Version,
        follow: bool,
    ) -> Option<(&EntryView, &PromptRecord, LineageId)> {
        if follow {
            let wanted = self.lineages.of(asked);
            self.records().rfind(|(e, p, id)| {
                is_version(e) && Some(*id) == wanted && p.version == version && made(p)
            })
        } else {
            let here = |e: &EntryView, p: &PromptRecord| {
                is_version(e)
                    && &p.path == asked
                    && p.version == version
                    && p.change != Some(ChangeType::Deleted)
            };
            self.records()
                .rfind(|(e, p, _)| here(e, p) && made(p))
                .or_else(|| self.records().rfind(|(e, p, _)| here(e, p)))
        }
    }

    /// When a version is not found without following renames: the prompt's other names.
    fn renames_hint(&self, asked: &PromptPath, follow: bool) -> String {
        match self.lineages.of(asked).map(|id| self.lineages.paths(id)) {
            Some(names) if names.len() > 1 && !follow => format!(
                "; it was also recorded as {}: drop --no-follow to follow renames",
                names
                    .iter()
                    .map(PromptPath::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        }
    }

    /// The previous version of the same prompt, possibly under a former name.
    fn previous_version(
        &self,
        entry: &EntryView,
        prompt: &PromptRecord,
        lineage: LineageId,
    ) -> Option<&PromptRecord> {
        let pv = prompt.previous_version?;
        self.records()
            .take_while(|(e, _, _)| e.index < entry.index)
            .filter(|(e, p, id)| {
                is_version(e)
                    && *id == lineage
                    && p.version == pv
                    && p.change != Some(ChangeType::Deleted)
            })
            .last()
            .map(|(_, p, _)| p)
    }

    /// Deployments of this version, under any of the prompt's names (or this path only).
    fn deployments(
        &self,
        prompt: &PromptRecord,
        lineage: LineageId,
        follow: bool,
    ) -> Vec<EntryView> {
        self.entries
            .iter()
            .zip(&self.ids)
            .filter(|(e, _)| matches!(e.event, EventType::Deployment | EventType::Rollback))
            .filter(|(e, ids)| {
                e.prompts.iter().zip(ids.iter()).any(|(p, id)| {
                    p.version == prompt.version
                        && if follow {
                            *id == lineage
                        } else {
                            p.path == prompt.path
                        }
                })
            })
            .map(|(e, _)| e.clone())
            .collect()
    }
}
