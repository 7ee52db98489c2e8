//! A self-contained proof that one entry is in the audit log: the entry's exact bytes, its
//! RFC 6962 inclusion proof, and the signed checkpoint the proof is against. Checked offline
//! with only trusted public keys or, for a keyless log, the allowed identities and a Sigstore
//! trusted root (the checkpoint of a keyless log is signed by the certificate key of the entry
//! it closes, which the proof then carries).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::layout::decode_entry;
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::signing::{Trust, TrustedKey, key_that_signed};

/// Media type of a proof file.
pub const PROOF_MEDIA_TYPE: &str = "application/vnd.promptrail.proof.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proof {
    pub media_type: String,
    /// The entry's index in the log.
    pub index: u64,
    /// The entry file's exact bytes, standard base64 (its leaf hash covers these bytes).
    pub entry: String,
    /// Inclusion proof hashes, standard base64, leaf to root.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint (C2SP note text) the proof leads to.
    pub checkpoint: String,
    /// Keyless logs: the entry the checkpoint closes (standard base64 of its file), whose
    /// certificate key signed the checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_signer: Option<String>,
}

/// What checking a proof found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofReport {
    pub ok: bool,
    pub index: u64,
    pub tree_size: Option<u64>,
    pub problems: Vec<String>,
    /// The statement, when the entry could be decoded.
    pub statement: Option<serde_json::Value>,
}

impl Proof {
    /// `closing`: the entry the checkpoint closes, when it is keyless.
    pub fn new(
        index: u64,
        entry: &[u8],
        proof: &[Hash],
        checkpoint: &str,
        closing: Option<&[u8]>,
    ) -> Proof {
        Proof {
            media_type: PROOF_MEDIA_TYPE.into(),
            index,
            entry: STANDARD.encode(entry),
            inclusion_proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
            checkpoint: checkpoint.to_owned(),
            checkpoint_signer: closing.map(|b| STANDARD.encode(b)),
        }
    }

    /// Checks the checkpoint's signature, the inclusion proof, and the entry's signature.
    pub fn check(&self, trust: &Trust) -> ProofReport {
        let mut problems = Vec::new();
        let mut report = |p: String| problems.push(p);
        if self.media_type != PROOF_MEDIA_TYPE {
            report(format!(
                "mediaType is {}, expected {PROOF_MEDIA_TYPE}",
                self.media_type
            ));
        }
        let entry = STANDARD.decode(&self.entry).unwrap_or_else(|_| {
            report("entry is not standard base64".into());
            Vec::new()
        });
        let hashes: Vec<Hash> = self
            .inclusion_proof
            .iter()
            .filter_map(|h| STANDARD.decode(h).ok().and_then(|v| v.try_into().ok()))
            .collect();
        if hashes.len() != self.inclusion_proof.len() {
            report("an inclusion proof hash is not 32 bytes of base64".into());
        }
        let mut keys = trust.keys.clone();
        if let Some(signer) = &self.checkpoint_signer {
            match keyless_key(signer, trust) {
                Ok(key) => keys.push(key),
                Err(e) => report(format!("checkpoint signer: {e}")),
            }
        }
        let keys = &keys;
        let mut tree_size = None;
        match Checkpoint::parse(&self.checkpoint) {
            Err(e) => report(format!("checkpoint: {e}")),
            Ok(cp) => {
                tree_size = Some(cp.size);
                if cp.verified_by(keys).is_none() {
                    report("checkpoint is not signed by a trusted key".into());
                }
                if !verify_inclusion(self.index, cp.size, &leaf_hash(&entry), &hashes, &cp.root) {
                    report(format!(
                        "inclusion proof does not lead from entry {} to the checkpoint's root (size {})",
                        self.index, cp.size
                    ));
                }
            }
        }
        let mut statement = None;
        match decode_entry(&entry) {
            Err(e) => report(format!("entry: {e}")),
            Ok((bundle, st)) if bundle.is_keyless() => {
                if let Err(e) = verify_keyless(&entry, &st, trust) {
                    report(format!("entry: {e}"));
                }
                self.check_placement(&st, &mut report);
                statement = serde_json::to_value(&st).ok();
            }
            Ok((bundle, st)) => {
                if key_that_signed(keys, &bundle).is_none() {
                    report("entry's DSSE signature does not verify with a trusted key".into());
                }
                if bundle.key_hint().is_some_and(|hint| {
                    keys.iter()
                        .any(|k| &k.key_id == hint && !k.valid_at(st.predicate.recorded_at))
                }) {
                    report("entry was signed outside its key's validity window".into());
                }
                self.check_placement(&st, &mut report);
                statement = serde_json::to_value(&st).ok();
            }
        }
        ProofReport {
            ok: problems.is_empty(),
            index: self.index,
            tree_size,
            problems,
            statement,
        }
    }
}

impl Proof {
    /// The entry names the checkpoint's log and the proof's index.
    fn check_placement(&self, st: &crate::attestation::Statement, report: &mut impl FnMut(String)) {
        if let Ok(cp) = Checkpoint::parse(&self.checkpoint)
            && cp.origin != st.predicate.log.origin
        {
            report(format!(
                "entry belongs to log {}, the checkpoint to {}",
                st.predicate.log.origin, cp.origin
            ));
        }
        if st.predicate.log.index.0 != self.index {
            report(format!(
                "entry says index {}, the proof says {}",
                st.predicate.log.index.0, self.index
            ));
        }
    }
}

/// Verifies a keyless entry with the trust's identity policy and trusted root.
fn verify_keyless(
    entry: &[u8],
    st: &crate::attestation::Statement,
    trust: &Trust,
) -> Result<Vec<u8>, String> {
    let Some(keyless) = &trust.keyless else {
        return Err("keyless entry, but no identity policy given (--certificate-identity)".into());
    };
    keyless
        .verify_entry(entry, st)
        .map(|signed| signed.spki)
        .map_err(|e| e.to_string())
}

/// The checkpoint signer's key, from the keyless entry the checkpoint closes.
fn keyless_key(signer: &str, trust: &Trust) -> Result<TrustedKey, String> {
    let bytes = STANDARD
        .decode(signer)
        .map_err(|_| "not standard base64".to_owned())?;
    let (_, st) = decode_entry(&bytes).map_err(|e| e.to_string())?;
    let spki = verify_keyless(&bytes, &st, trust)?;
    TrustedKey::from_spki_der(spki, "the checkpoint signer's certificate")
        .map_err(|e| e.to_string())
}
