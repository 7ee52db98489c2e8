//! `promptrail verify-entry`: one entry's proof checked offline, with only the keys or
//! identities given on the command line.

use anyhow::{Context, Result, bail};

use super::{Outcome, print_json};
use crate::cli::{Format, VerifyEntryArgs};
use crate::proof::Proof;

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
    let trust = super::trust::trust_from_flags(&args.trust)?;
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
