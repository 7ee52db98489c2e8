//! `promptrail prove`: one version's self-contained inclusion proof, for `verify-entry`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::console::parse_target;
use super::{DecodedEntry, Outcome, Workspace};
use crate::cli::ProveArgs;
use crate::ledger::Ledger;
use crate::merkle::{inclusion_proof, leaf_hash};
use crate::proof::Proof;
use crate::types::PromptPath;

pub fn run(dir: &Path, args: &ProveArgs) -> Result<Outcome> {
    let (path, version) = parse_target(&args.target)?;
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    // The version from the prompt's lineage in the state summary (else the whole log).
    let asked = PromptPath::new(&path);
    let statements = super::indexed::entries(&ws, &branch, |view| {
        Ok(Some(super::indexed::lineage_entries(view, &asked)?))
    })?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let Some(v) = ledger.version(&asked, version) else {
        bail!("{path}@{version} is not in the audit log on {branch}");
    };
    // The inclusion proof needs every entry's leaf hash: the files are hashed a window at a
    // time, not decoded or held.
    let store = ws.store(&branch);
    let tip = store.resolve_for_reading()?;
    let listing = store.list(&tip)?;
    let Some(checkpoint) = &listing.checkpoint else {
        bail!("{branch} has no checkpoint: record once with this promptrail to write one");
    };
    let index = v.entry.0 as usize;
    let mut reader = ws.git.object_reader()?;
    let mut leaves = Vec::with_capacity(listing.entries.len());
    let (mut entry, mut last) = (None, None);
    for window in listing.entries.chunks(4096) {
        for e in crate::store::read_entries(&mut reader, window)? {
            if leaves.len() == index {
                entry = Some(e.bytes.clone());
            }
            leaves.push(leaf_hash(&e.bytes));
            last = Some(e.bytes);
        }
    }
    let entry = entry.with_context(|| format!("entry {index} is missing from {branch}"))?;
    // A keyless log's checkpoint is signed by the certificate key of the entry it closes.
    let closing = last.filter(|bytes| {
        crate::store::decode_entry(bytes).is_ok_and(|(bundle, _)| bundle.is_keyless())
    });
    let proof = Proof::new(
        v.entry.0,
        &entry,
        &inclusion_proof(index, &leaves),
        &String::from_utf8_lossy(checkpoint),
        closing.as_deref(),
    );
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match &args.out {
        Some(f) => {
            std::fs::write(f, text).with_context(|| format!("writing {}", f.display()))?;
            eprintln!(
                "wrote the proof of {path}@{version} (entry {index}) to {}",
                f.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}
