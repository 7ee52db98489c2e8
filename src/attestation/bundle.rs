//! Sigstore bundle v0.3: the DSSE envelope plus the public key's hint (key mode), or the
//! certificate and Rekor entry (keyless, written by `sigstore-sign`'s types).

use serde::{Deserialize, Serialize};

use super::dsse::Envelope;
use crate::types::KeyId;

/// Media type of a Sigstore bundle v0.3.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    pub dsse_envelope: Envelope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// Keyless: the Fulcio certificate (checked by `crate::keyless::verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    /// Empty in key mode: no transparency log.
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    pub hint: KeyId,
}

impl Bundle {
    pub fn key_mode(envelope: Envelope, key_id: KeyId) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyIdentifier { hint: key_id }),
                certificate: None,
                tlog_entries: Vec::new(),
            },
            dsse_envelope: envelope,
        }
    }

    /// The entry file's bytes: pretty JSON and a final newline, so diffs of the audit
    /// branch read well. These exact bytes are what the next entry's `log.previous` hashes.
    /// A serialisation error is returned, never turned into an empty entry file.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Whether the entry was signed keylessly (it carries a certificate, no key hint).
    pub fn is_keyless(&self) -> bool {
        self.verification_material.certificate.is_some()
    }

    pub fn key_hint(&self) -> Option<&KeyId> {
        self.verification_material
            .public_key
            .as_ref()
            .map(|k| &k.hint)
    }
}
