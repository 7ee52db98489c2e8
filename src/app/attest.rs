//! GitHub's attestation store (keyless mode, opt-in): once new entries are on the pushed audit
//! branch, each entry's bundle is also uploaded with `POST /repos/{owner}/{repo}/attestations`,
//! so an auditor finds it by a prompt file's digest with `gh attestation verify`.
//!
//! The audit branch stays the record: an upload that fails leaves the entry recorded and
//! pushed, and the command ends with an error (exit 2) naming every entry not uploaded and
//! the command that uploads it by hand. Re-running `record` would not retry (it adds nothing).

use anyhow::{Result, bail};

use super::approvals::client;
use super::{Progress, Workspace, load_signer};
use crate::cli::{DeployArgs, KeyArg, RecordArgs};
use crate::github::Client;
use crate::signing::{Signer, Trust};
use crate::types::EntryIndex;

/// What a command that signs new entries asked for: its key (or keyless) flags,
/// `--github-attestations`, whether it pushes (no `--no-push`), and the token's variable.
pub struct SigningFlags<'a> {
    pub key: &'a KeyArg,
    pub github_attestations: bool,
    pub push: bool,
    pub token_env: &'a str,
}

/// The command lines that sign new entries and may upload them: record and deploy.
pub trait SignsEntries {
    fn signing_flags(&self) -> SigningFlags<'_>;
}

/// Implements [`SignsEntries`] for argument structs with the same four fields.
macro_rules! signs_entries {
    ($($args:ty),*) => {$(
        impl SignsEntries for $args {
            fn signing_flags(&self) -> SigningFlags<'_> {
                SigningFlags {
                    key: &self.key,
                    github_attestations: self.github_attestations,
                    push: !self.no_push,
                    token_env: &self.github.github_token_env,
                }
            }
        }
    )*};
}

signs_entries!(RecordArgs, DeployArgs);

/// What record and deploy open first: the signer, the trust it implies ([`load_signer`]), and
/// the client to upload the new entries with when asked for ([`open`]).
pub fn signing(
    ws: &Workspace,
    args: &impl SignsEntries,
) -> Result<(Signer, Trust, Option<Client>)> {
    let flags = args.signing_flags();
    let (signer, trust) = load_signer(ws, flags.key)?;
    let uploads = open(
        ws,
        flags.github_attestations,
        &signer,
        flags.push,
        flags.token_env,
    )?;
    Ok((signer, trust, uploads))
}

/// The client to upload with, when `--github-attestations` or `signing.github_attestations`
/// asks for it. Opened before anything is signed, so a missing token stops the command first.
fn open(
    ws: &Workspace,
    flag: bool,
    signer: &Signer,
    push: bool,
    token_env: &str,
) -> Result<Option<Client>> {
    if !(flag || ws.config.signing.github_attestations) {
        return Ok(None);
    }
    if !matches!(signer, Signer::Keyless(_)) {
        bail!(
            "GitHub attestations (--github-attestations or `signing.github_attestations`) need \
             keyless signing: `gh attestation verify` checks Sigstore certificates, not keys \
             (use --keyless or `signing.mode: keyless`)"
        );
    }
    if !push {
        bail!(
            "GitHub attestations are uploaded once the entries are pushed: drop --no-push, or \
             --github-attestations"
        );
    }
    Ok(Some(client(ws, token_env)?))
}

/// Uploads entries `indexes` as the local audit branch holds them after the push.
pub fn upload(
    ws: &Workspace,
    gh: &Client,
    indexes: impl IntoIterator<Item = EntryIndex>,
    progress: &Progress,
) -> Result<()> {
    let branch = &ws.config.audit.branch.0;
    let mut reader = ws.git.object_reader()?;
    let mut failed = Vec::new();
    for index in indexes {
        let path = crate::store::entry_path(index);
        let uploaded = reader
            .read(&format!("refs/heads/{branch}:{path}"))?
            .ok_or_else(|| anyhow::anyhow!("{path} is not on {branch}"))
            .and_then(|o| Ok(serde_json::from_slice::<serde_json::Value>(&o.data)?))
            .and_then(|bundle| Ok(gh.create_attestation(&bundle)?));
        match uploaded {
            Ok(id) => progress.say(&format!(
                "entry {} uploaded to GitHub's attestation store (attestation {id})",
                index.0
            )),
            Err(e) => failed.push(format!(
                "entry {} ({path}): {e:#}\n  by hand: git show {branch}:{path} | jq '{{bundle: .}}' | \
                 gh api --method POST repos/{}/attestations --input -",
                index.0,
                gh.repo()
            )),
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} entr{} recorded and pushed to {branch} but not uploaded to GitHub's attestation \
             store (the job needs `permissions: attestations: write`):\n{}",
            failed.len(),
            if failed.len() == 1 { "y is" } else { "ies are" },
            failed.join("\n")
        );
    }
    Ok(())
}
