//! Verification of keyless entries: the certificate chains to Fulcio in a trusted root, its
//! SCT verifies, the Rekor inclusion proof and signed entry timestamp verify, the signature
//! verifies with the certificate's key (all through `sigstore-verify`), and the certificate's
//! identity and issuer are ones the policy allows.
//!
//! Entries made with `signing.transparency: false` have no Rekor entry and so no witnessed
//! time: their certificate is checked at the entry's own `recordedAt`, and verify says so.

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use rustls_pki_types::{CertificateDer, UnixTime};
use sigstore_verify::crypto::{VerificationKey, WEBPKI_VERIFICATION_ALGS, parse_certificate_info};
use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
use sigstore_verify::types::{Bundle, Sha256Hash, SignatureContent, pae};
use sigstore_verify::{VerificationPolicy, Verifier};

use crate::types::Sha256Hex;

/// Tolerated difference between a runner's clock and the certificate's validity.
const SKEW_SECS: i64 = 600;

/// DER of the id-kp-codeSigning OID (1.3.6.1.5.5.7.3.3), the EKU Fulcio certificates carry.
const CODE_SIGNING_EKU: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Which certificate identities may sign.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Identities that match exactly (for GitHub: `https://github.com/OWNER/REPO/.github/
    /// workflows/FILE@REF`).
    pub exact: Vec<String>,
    /// Patterns that must match the whole identity.
    pub patterns: Vec<regex::Regex>,
    /// The OIDC issuer the certificate must name.
    pub issuer: String,
}

impl IdentityPolicy {
    /// Compiles `--certificate-identity-regexp` patterns, anchored at both ends.
    pub fn compile(pattern: &str) -> Result<regex::Regex> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .with_context(|| format!("certificate identity pattern `{pattern}`"))
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }

    fn allows(&self, identity: &str) -> bool {
        self.exact.iter().any(|e| e == identity)
            || self.patterns.iter().any(|p| p.is_match(identity))
    }

    /// Whether a certificate with `identity` from `issuer` may sign; says why not.
    pub fn check(&self, identity: &str, issuer: &str) -> Result<(), KeylessFailure> {
        if issuer != self.issuer {
            return Err(KeylessFailure::Identity {
                expected: format!("issuer {}", self.issuer),
                found: format!("issuer {issuer}"),
            });
        }
        if !self.allows(identity) {
            return Err(KeylessFailure::Identity {
                expected: format!("identity one of [{}]", self.describe()),
                found: format!("identity {identity}"),
            });
        }
        Ok(())
    }

    /// The allowed identities, for messages.
    pub fn describe(&self) -> String {
        let mut all: Vec<String> = self.exact.clone();
        all.extend(self.patterns.iter().map(|p| format!("/{}/", p.as_str())));
        all.join(", ")
    }
}

/// What verify trusts for keyless entries.
pub struct KeylessTrust {
    verifier: Verifier,
    root: TrustedRoot,
    /// Where the trusted root came from, for messages.
    pub root_name: String,
    pub policy: IdentityPolicy,
    /// `signing.transparency: false`: entries without a Rekor entry are accepted.
    pub allow_unlogged: bool,
}

impl std::fmt::Debug for KeylessTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessTrust")
            .field("root", &self.root_name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A keyless entry that verified.
#[derive(Debug, Clone)]
pub struct KeylessSigned {
    /// The certificate's identity (SAN).
    pub identity: String,
    pub issuer: String,
    /// Rekor's integrated time, or the entry's own `recordedAt` when not logged.
    pub time: DateTime<Utc>,
    /// Whether a transparency log witnessed the entry.
    pub logged: bool,
    /// The certificate's public key (SPKI DER), which also signs checkpoints.
    pub spki: Vec<u8>,
}

/// Why a keyless entry did not verify (or a certificate may not sign).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeylessFailure {
    /// The certificate, SCT, transparency-log proof, timestamp or signature is wrong.
    Material(String),
    /// The certificate is fine but names an identity or issuer the policy does not allow.
    Identity { expected: String, found: String },
}

impl KeylessTrust {
    /// `root`: a trusted_root.json (text, name); `None` is Sigstore's public-good root.
    pub fn new(
        root: Option<(String, String)>,
        policy: IdentityPolicy,
        allow_unlogged: bool,
    ) -> Result<Self> {
        let (json, root_name) = root.unwrap_or_else(|| {
            (
                SIGSTORE_PRODUCTION_TRUSTED_ROOT.to_owned(),
                "Sigstore's public-good trusted root".to_owned(),
            )
        });
        let root = TrustedRoot::from_json(&json)
            .map_err(|e| anyhow!("{root_name} is not a Sigstore trusted root: {e}"))?;
        let verifier =
            Verifier::new(&root).map_err(|e| anyhow!("{root_name} cannot be used: {e}"))?;
        if policy.is_empty() {
            bail!(
                "keyless verification needs the workflow identities allowed to sign: set \
                 `signing.identities` in .promptrail.yml or pass --certificate-identity"
            );
        }
        Ok(KeylessTrust {
            verifier,
            root,
            root_name,
            policy,
            allow_unlogged,
        })
    }

    /// Verifies one entry file (a Sigstore bundle) whose statement names `subject`, recorded
    /// (by its own claim) at `recorded_at`.
    pub fn verify(
        &self,
        bundle_json: &[u8],
        subject: &Sha256Hex,
        recorded_at: DateTime<Utc>,
    ) -> Result<KeylessSigned, KeylessFailure> {
        let material = |e: String| KeylessFailure::Material(e);
        let text = std::str::from_utf8(bundle_json).map_err(|_| material("not UTF-8".into()))?;
        let bundle =
            Bundle::from_json(text).map_err(|e| material(format!("not a Sigstore bundle: {e}")))?;
        let digest = Sha256Hash::from_hex(subject.as_str())
            .map_err(|e| material(format!("subject digest: {e}")))?;
        let signed = if bundle.verification_material.tlog_entries.is_empty() {
            if !self.allow_unlogged {
                return Err(material(
                    "no transparency-log entry (only a log kept with `signing.transparency: \
                     false` may omit Rekor)"
                        .into(),
                ));
            }
            self.verify_unlogged(&bundle, recorded_at)
                .map_err(|e| material(format!("{e:#}")))?
        } else {
            let result = self
                .verifier
                .verify(digest, &bundle, &VerificationPolicy::any_identity())
                .map_err(|e| material(e.to_string()))?;
            let time = result
                .integrated_time()
                .and_then(|t| DateTime::from_timestamp(t.as_second(), 0))
                .ok_or_else(|| material("the Rekor entry has no integrated time".into()))?;
            let spki = result
                .certificate()
                .map(|c| c.public_key.as_bytes().to_vec())
                .unwrap_or_default();
            KeylessSigned {
                identity: result
                    .identity()
                    .map(|i| i.as_str().to_owned())
                    .unwrap_or_default(),
                issuer: result.issuer().unwrap_or_default().to_owned(),
                time,
                logged: true,
                spki,
            }
        };
        self.policy.check(&signed.identity, &signed.issuer)?;
        Ok(signed)
    }

    /// Verifies one decoded entry: its file's bytes and the statement they hold.
    pub fn verify_entry(
        &self,
        bytes: &[u8],
        st: &crate::attestation::Statement,
    ) -> Result<KeylessSigned, KeylessFailure> {
        let Some(subject) = st.subject.first() else {
            return Err(KeylessFailure::Material(
                "the statement has no subject".into(),
            ));
        };
        self.verify(bytes, &subject.digest.sha256, st.predicate.recorded_at)
    }

    /// An entry without a Rekor entry: the certificate must chain to the trusted Fulcio at
    /// the entry's own time, and the signature verify with its key.
    fn verify_unlogged(
        &self,
        bundle: &Bundle,
        recorded_at: DateTime<Utc>,
    ) -> Result<KeylessSigned> {
        let cert = bundle
            .signing_certificate()
            .ok_or_else(|| anyhow!("the bundle has no signing certificate"))?;
        let info = parse_certificate_info(cert).map_err(|e| anyhow!("certificate: {e}"))?;
        // `recordedAt` is set just before the certificate is requested, by a runner whose
        // clock may be minutes off: allow the same 10 minutes as elsewhere, and check the
        // chain at the nearest instant of the certificate's validity.
        let (nb, na) = (info.not_before.as_second(), info.not_after.as_second());
        let at = recorded_at.timestamp();
        if at + SKEW_SECS < nb || at > na + SKEW_SECS {
            bail!(
                "the certificate (valid {} to {}) was not valid at the entry's recordedAt {}",
                info.not_before,
                info.not_after,
                recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        let anchors: Vec<_> = self
            .root
            .certificate_authorities
            .iter()
            .flat_map(|ca| ca.cert_chain.certificates.iter())
            .filter_map(|c| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(c.raw_bytes.as_bytes()))
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        let leaf = CertificateDer::from(cert.as_bytes());
        let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| anyhow!("certificate: {e}"))?;
        ee.verify_for_usage(
            WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                at.clamp(nb, na).max(0) as u64
            )),
            webpki::KeyUsage::required(CODE_SIGNING_EKU),
            None,
            None,
        )
        .map_err(|e| anyhow!("the certificate does not chain to {}: {e}", self.root_name))?;
        let SignatureContent::DsseEnvelope(env) = &bundle.content else {
            bail!("the bundle holds no DSSE envelope");
        };
        VerificationKey::from_spki(&info.public_key)
            .and_then(|k| {
                k.verify(
                    pae(&env.payload_type, env.payload.as_bytes()),
                    &env.signature.sig,
                )
            })
            .map_err(|_| anyhow!("the signature does not verify with the certificate's key"))?;
        Ok(KeylessSigned {
            identity: info
                .identity
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            issuer: info.issuer.clone().unwrap_or_default(),
            time: recorded_at,
            logged: false,
            spki: info.public_key.as_bytes().to_vec(),
        })
    }
}

impl std::fmt::Display for KeylessFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeylessFailure::Material(m) => f.write_str(m),
            KeylessFailure::Identity { expected, found } => {
                write!(f, "names {found}, not {expected}")
            }
        }
    }
}
