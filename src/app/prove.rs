//! `promptrail prove` and `promptrail verify-entry`: one version's proof, checked offline.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::show::parse_target;
use super::{AuditLog, Outcome, Workspace, print_json};
use crate::cli::{Format, ProveArgs, VerifyEntryArgs};
use crate::ledger::Ledger;
use crate::merkle::{inclusion_proof, leaf_hash};
use crate::proof::Proof;
use crate::types::PromptPath;

pub fn run(dir: &Path, args: &ProveArgs) -> Result<Outcome> {
    let (path, version) = parse_target(&args.target)?;
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    let log = AuditLog::open(&ws, &branch)?;
    let statements = log.statements()?;
    let ledger = Ledger::new(statements.iter().map(|(_, _, st)| st));
    let Some(v) = ledger.version(&PromptPath::new(&path), version) else {
        bail!("{path}@{version} is not in the audit log on {branch}");
    };
    let files = &log.files;
    let Some(checkpoint) = &files.checkpoint else {
        bail!("{branch} has no checkpoint: record once with this promptrail to write one");
    };
    let leaves: Vec<_> = files.entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
    let index = v.entry.0 as usize;
    let entry = files
        .entries
        .get(index)
        .with_context(|| format!("entry {index} is missing from {branch}"))?;
    // A keyless log's checkpoint is signed by the certificate key of the entry it closes.
    let closing = files.entries.last().filter(|e| {
        crate::store::decode_entry(&e.bytes).is_ok_and(|(bundle, _)| bundle.is_keyless())
    });
    let proof = Proof::new(
        v.entry.0,
        &entry.bytes,
        &inclusion_proof(index, &leaves),
        &String::from_utf8_lossy(checkpoint),
        closing.map(|e| e.bytes.as_slice()),
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

pub fn verify_entry(args: &VerifyEntryArgs) -> Result<Outcome> {
    let text = crate::fsread::read_text(
        &args.file,
        crate::fsread::PROOF_LIMIT,
        "a proof",
        crate::fsread::Symlinks::Follow,
    )?;
    let proof: Proof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a promptrail proof", args.file.display()))?;
    // No repository needed: what is trusted comes from the command line only.
    let trust = super::verify::trust_from_flags(&args.trust)?;
    if trust.is_empty() {
        bail!("nothing to check the proof with: pass --key PUB or --certificate-identity");
    }
    let report = proof.check(&trust);
    match args.format.format {
        Format::Json => print_json(&report)?,
        Format::Text => {
            if let Some(st) = &report.statement {
                for p in st["predicate"]["prompts"].as_array().into_iter().flatten() {
                    println!(
                        "{} v{} ({}) in commit {}",
                        p["path"].as_str().unwrap_or(""),
                        p["version"],
                        st["predicate"]["event"].as_str().unwrap_or(""),
                        p["commit"].as_str().unwrap_or("")
                    );
                }
            }
            for p in &report.problems {
                println!("FAIL {p}");
            }
            if report.ok {
                println!(
                    "OK: entry {} is in the log of size {} under a checkpoint signed by a trusted key",
                    report.index,
                    report.tree_size.unwrap_or_default()
                );
            }
        }
    }
    Ok(if report.ok { Outcome::Ok } else { Outcome::No })
}
