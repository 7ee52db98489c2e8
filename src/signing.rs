//! Keys and signing (key mode) through the `sigstore` crate; signature verification through
//! aws-lc-rs directly, with each trusted key parsed once (`verify` checks every entry).
//!
//! Private keys are cosign-compatible encrypted PEM (`ENCRYPTED SIGSTORE PRIVATE KEY`,
//! scrypt + nacl/secretbox); signatures are ECDSA P-256 with SHA-256, ASN.1 DER.

use std::path::Path;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigstore::crypto::signing_key::ecdsa::ECDSAKeys;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, SigningScheme};
use sigstore::errors::SigstoreError;
use zeroize_shim::Secret;

use crate::attestation::dsse::{EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE};
use crate::attestation::{Bundle, Envelope, pae};
use crate::types::KeyId;

/// Environment variable holding the password of the private key.
pub const PASSWORD_ENV: &str = "PROMPTRAIL_KEY_PASSWORD";
/// Environment variable holding the private key's PEM text (a CI secret).
pub const KEY_ENV: &str = "PROMPTRAIL_SIGNING_KEY";

/// Key errors; none of them ever contains key material or the password.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{source_name}: wrong password for the private key (set {PASSWORD_ENV})")]
    WrongPassword { source_name: String },
    #[error("{source_name}: not a promptrail/cosign private key: {reason}")]
    CorruptPrivate { source_name: String, reason: String },
    #[error("{source_name}: not a PEM public key: {reason}")]
    CorruptPublic { source_name: String, reason: String },
    /// The key file is not a regular file of at most 64 KiB, or cannot be read.
    #[error(transparent)]
    Read(#[from] crate::fsread::ReadError),
    #[error("no password for the private key: set {PASSWORD_ENV} (no terminal to ask on)")]
    NoPassword,
    #[error("{0}")]
    Other(String),
}

/// A loaded private key, ready to sign.
pub struct SigningKey {
    signer: SigStoreSigner,
    key_id: KeyId,
    public_pem: String,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A newly generated key pair, as files would hold it.
pub struct GeneratedKey {
    pub private_pem: Secret,
    pub public_pem: String,
    pub key_id: KeyId,
}

/// Generates an ECDSA P-256 key and encrypts it with `password` (cosign's format).
pub fn generate(password: &[u8]) -> Result<GeneratedKey, KeyError> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .map_err(|e| KeyError::Other(format!("key generation failed: {e}")))?;
    let pair = signer
        .to_sigstore_keypair()
        .map_err(|e| KeyError::Other(format!("key generation failed: {e}")))?;
    let private_pem = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|e| KeyError::Other(format!("key encryption failed: {e}")))?;
    let public_pem = pair
        .public_key_to_pem()
        .map_err(|e| KeyError::Other(format!("public key export failed: {e}")))?;
    let der = pair
        .public_key_to_der()
        .map_err(|e| KeyError::Other(format!("public key export failed: {e}")))?;
    Ok(GeneratedKey {
        private_pem: Secret(private_pem.as_str().to_owned()),
        public_pem,
        key_id: KeyId::from_spki_der(&der),
    })
}

impl SigningKey {
    /// Decrypts an encrypted PEM private key. `source_name` names it in errors.
    pub fn from_encrypted_pem(
        pem: &[u8],
        password: &[u8],
        source_name: &str,
    ) -> Result<SigningKey, KeyError> {
        let text = String::from_utf8_lossy(pem);
        let label_ok = text.contains("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
            || text.contains("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----");
        if !label_ok {
            return Err(KeyError::CorruptPrivate {
                source_name: source_name.into(),
                reason: "expected an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM block \
                         (from `promptrail keygen` or `cosign generate-key-pair`)"
                    .into(),
            });
        }
        let keys = ECDSAKeys::from_encrypted_pem(pem, password).map_err(|e| match e {
            // secretbox fails to open (an AEAD error, which sigstore files under
            // "encrypt") when the password is wrong; anything else is corruption.
            SigstoreError::PrivateKeyEncryptError(_) => KeyError::WrongPassword {
                source_name: source_name.into(),
            },
            _ => KeyError::CorruptPrivate {
                source_name: source_name.into(),
                reason: "the key could not be decoded".into(),
            },
        })?;
        let signer = keys
            .to_sigstore_signer()
            .map_err(|_| KeyError::CorruptPrivate {
                source_name: source_name.into(),
                reason: "unsupported key type (promptrail signs with ECDSA P-256)".into(),
            })?;
        if !matches!(signer, SigStoreSigner::ECDSA_P256_SHA256_ASN1(_)) {
            return Err(KeyError::CorruptPrivate {
                source_name: source_name.into(),
                reason: "unsupported curve (promptrail signs with ECDSA P-256)".into(),
            });
        }
        let pair = signer
            .to_sigstore_keypair()
            .map_err(|e| KeyError::Other(e.to_string()))?;
        let der = pair
            .public_key_to_der()
            .map_err(|e| KeyError::Other(e.to_string()))?;
        let public_pem = pair
            .public_key_to_pem()
            .map_err(|e| KeyError::Other(e.to_string()))?;
        Ok(SigningKey {
            signer,
            key_id: KeyId::from_spki_der(&der),
            public_pem,
            spki_der: der,
        })
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public key's SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// An ASN.1 DER ECDSA P-256 / SHA-256 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer
            .sign(msg)
            .map_err(|e| KeyError::Other(format!("signing failed: {e}")))
    }

    /// Signs an in-toto payload into a DSSE envelope with exactly one signature.
    pub fn sign_envelope(&self, payload: Vec<u8>) -> Result<Envelope, KeyError> {
        let sig = self
            .signer
            .sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload))
            .map_err(|e| KeyError::Other(format!("signing failed: {e}")))?;
        Ok(Envelope {
            payload,
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![EnvelopeSignature {
                sig,
                keyid: self.key_id.to_string(),
            }],
        })
    }
}

/// Who signed an entry, as the entry says (`verify` is what checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// A key, by id.
    Key(String),
    /// A keyless certificate, by identity.
    Keyless(String),
}

/// What signs new entries: a key, or the job's identity (keyless).
#[derive(Debug)]
pub enum Signer {
    Key(SigningKey),
    Keyless(crate::keyless::KeylessSigner),
}

impl Signer {
    /// Signs an in-toto payload; returns the entry file's bytes (a Sigstore bundle).
    pub fn sign_entry(&self, payload: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        match self {
            Signer::Key(key) => {
                let envelope = key.sign_envelope(payload)?;
                Ok(
                    crate::attestation::Bundle::key_mode(envelope, key.key_id().clone())
                        .to_file_bytes()
                        .map_err(|e| anyhow::anyhow!("serialising the entry's bundle: {e}"))?,
                )
            }
            Signer::Keyless(signer) => signer.sign_entry(payload),
        }
    }

    /// Signs a checkpoint body: `(the signer's SPKI DER, ASN.1 DER signature)`.
    pub fn sign_note(&self, body: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        match self {
            Signer::Key(key) => Ok((key.spki_der().to_vec(), key.sign(body)?)),
            Signer::Keyless(signer) => signer.sign_note(body),
        }
    }

    /// What signed, for reports: the key, or the certificate's identity.
    pub fn signed_by(&self) -> Option<SignedBy> {
        match self {
            Signer::Key(key) => Some(SignedBy::Key(key.key_id().to_string())),
            Signer::Keyless(signer) => signer.identity().map(SignedBy::Keyless),
        }
    }
}

/// Everything verification trusts: public keys for key-mode entries and, for keyless
/// entries, a Sigstore trusted root with the identities allowed to sign.
#[derive(Default)]
pub struct Trust {
    pub keys: Vec<TrustedKey>,
    pub keyless: Option<crate::keyless::verify::KeylessTrust>,
    /// The external trust anchor, when CI set one: `keys` are already only the ones it
    /// lists, and an append's signer walk trusts only those of the keys a policy names.
    pub anchor: Option<crate::anchor::KeyAnchor>,
    /// Whether `keyless` is the identity anchor's (`PROMPTRAIL_TRUSTED_IDENTITIES`) rather
    /// than the working tree's.
    pub identity_anchor: bool,
}

impl Trust {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.keyless.is_none()
    }

    /// Whether the external anchor (if any) admits `key`: without one, every key does.
    pub fn admits(&self, key: &TrustedKey) -> bool {
        self.anchor.as_ref().is_none_or(|a| a.lists(&key.key_id))
    }

    /// Key mode's signature check of one entry, beside keyless mode's
    /// [`KeylessTrust::verify_entry`](crate::keyless::verify::KeylessTrust::verify_entry): the
    /// trusted key the bundle's hint names, when the envelope's (first and only) signature
    /// verifies with it over the DSSE PAE. `None`: no hint, no such trusted key, no
    /// signature, or one that does not verify. The key's validity window is the caller's.
    pub fn verify_key_entry(&self, bundle: &Bundle) -> Option<&TrustedKey> {
        key_that_signed(&self.keys, bundle)
    }
}

/// [`Trust::verify_key_entry`] over any list of keys (a proof adds the key of a keyless
/// log's checkpoint signer to the trusted ones).
pub fn key_that_signed<'k>(keys: &'k [TrustedKey], bundle: &Bundle) -> Option<&'k TrustedKey> {
    let hint = bundle.key_hint()?;
    let sig = bundle.dsse_envelope.signatures.first()?;
    let signed = bundle.dsse_envelope.signed_bytes();
    keys.iter()
        .find(|k| &k.key_id == hint && k.verify(&sig.sig, &signed))
}

/// A public key trusted for verification.
#[derive(Clone)]
pub struct TrustedKey {
    pub key_id: KeyId,
    /// Where it came from (a file path), for messages.
    pub source: String,
    /// The SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// When this key may sign (key rotation); `None` is unbounded.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    key: ParsedPublicKey,
}

impl TrustedKey {
    pub fn from_pem(pem: &[u8], source: &str) -> Result<TrustedKey, KeyError> {
        let corrupt = |reason: &str| KeyError::CorruptPublic {
            source_name: source.into(),
            reason: reason.into(),
        };
        let der = pem_body(pem, "PUBLIC KEY").ok_or_else(|| {
            corrupt("expected a `-----BEGIN PUBLIC KEY-----` block (promptrail.pub)")
        })?;
        TrustedKey::from_spki_der(der, source)
    }

    /// A key from its SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: Vec<u8>, source: &str) -> Result<TrustedKey, KeyError> {
        let corrupt = |reason: &str| KeyError::CorruptPublic {
            source_name: source.into(),
            reason: reason.into(),
        };
        let key = CosignVerificationKey::try_from_der(&der)
            .map_err(|_| corrupt("the key's SubjectPublicKeyInfo could not be parsed"))?;
        if !matches!(key, CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_)) {
            return Err(corrupt("not an ECDSA P-256 public key"));
        }
        // Parsed again for aws-lc, which verifies several times faster than the pure-Rust
        // verifier behind `CosignVerificationKey`, over the same bytes with the same result.
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &der)
            .map_err(|_| corrupt("not an ECDSA P-256 public key"))?;
        Ok(TrustedKey {
            key_id: KeyId::from_spki_der(&der),
            source: source.into(),
            spki_der: der,
            not_before: None,
            not_after: None,
            key,
        })
    }

    pub fn load(path: &Path) -> Result<TrustedKey, KeyError> {
        let bytes = crate::fsread::read_regular(
            path,
            crate::fsread::KEY_LIMIT,
            "a public key",
            crate::fsread::Symlinks::Follow,
        )?;
        TrustedKey::from_pem(&bytes, &path.display().to_string())
    }

    /// Whether an entry recorded at `t` may carry this key's signature.
    pub fn valid_at(&self, t: chrono::DateTime<chrono::Utc>) -> bool {
        self.not_before.is_none_or(|nb| t >= nb) && self.not_after.is_none_or(|na| t <= na)
    }

    /// Verifies an ASN.1 DER ECDSA P-256 / SHA-256 signature over `msg`.
    pub fn verify(&self, sig: &[u8], msg: &[u8]) -> bool {
        self.key.verify_sig(msg, sig).is_ok()
    }
}

/// Decodes the base64 body of the first PEM block with `label`.
fn pem_body(pem: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// Reads the key password from `PROMPTRAIL_KEY_PASSWORD`, or asks on the terminal.
pub fn read_password(prompt: &str, confirm: bool) -> Result<Secret, KeyError> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(Secret(p));
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoPassword);
    }
    let first = rpassword::prompt_password(prompt)
        .map_err(|e| KeyError::Other(format!("could not read the password: {e}")))?;
    if confirm {
        let again = rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| KeyError::Other(format!("could not read the password: {e}")))?;
        if again != first {
            return Err(KeyError::Other("the passwords do not match".into()));
        }
    }
    Ok(Secret(first))
}

/// Minimal secret holder that never prints its content.
mod zeroize_shim {
    pub struct Secret(pub String);

    impl std::fmt::Debug for Secret {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Secret(***)")
        }
    }

    impl Drop for Secret {
        fn drop(&mut self) {
            // Best effort: overwrite the bytes before the allocation is freed.
            // SAFETY-free: replace with zeros through a safe API.
            let len = self.0.len();
            self.0.clear();
            self.0.extend(std::iter::repeat_n('\0', len));
        }
    }

    impl Secret {
        pub fn as_bytes(&self) -> &[u8] {
            self.0.as_bytes()
        }
        pub fn as_str(&self) -> &str {
            &self.0
        }
    }
}

pub use zeroize_shim::Secret as SecretString;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_sign_verify_and_wrong_password() {
        let k = generate(b"pw").unwrap();
        assert!(
            k.private_pem
                .as_str()
                .contains("BEGIN ENCRYPTED SIGSTORE PRIVATE KEY")
        );
        let signer = SigningKey::from_encrypted_pem(k.private_pem.as_bytes(), b"pw", "k").unwrap();
        assert_eq!(signer.key_id(), &k.key_id);
        let env = signer.sign_envelope(b"{}".to_vec()).unwrap();
        assert_eq!(env.signatures.len(), 1);
        assert_eq!(env.signatures[0].keyid, k.key_id.as_str());
        // ASN.1 DER: a SEQUENCE.
        assert_eq!(env.signatures[0].sig[0], 0x30);
        let trusted = TrustedKey::from_pem(k.public_pem.as_bytes(), "pub").unwrap();
        assert_eq!(trusted.key_id, k.key_id);
        assert!(trusted.verify(&env.signatures[0].sig, &env.signed_bytes()));
        assert!(!trusted.verify(&env.signatures[0].sig, b"other"));

        let err =
            SigningKey::from_encrypted_pem(k.private_pem.as_bytes(), b"nope", "k").unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword { .. }), "{err}");
        let err = SigningKey::from_encrypted_pem(b"garbage", b"pw", "k").unwrap_err();
        assert!(matches!(err, KeyError::CorruptPrivate { .. }), "{err}");
        assert!(
            TrustedKey::from_pem(
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "p"
            )
            .is_err()
        );
    }

    #[test]
    fn aws_lc_and_sigstore_verifiers_agree() {
        use sigstore::crypto::Signature;
        let k = generate(b"pw").unwrap();
        let signer = SigningKey::from_encrypted_pem(k.private_pem.as_bytes(), b"pw", "k").unwrap();
        let trusted = TrustedKey::from_pem(k.public_pem.as_bytes(), "pub").unwrap();
        let reference = CosignVerificationKey::try_from_der(&trusted.spki_der).unwrap();
        let msg = pae(IN_TOTO_PAYLOAD_TYPE, b"{}");
        let sig = signer.sign(&msg).unwrap();
        let mut flipped = sig.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut trailing = sig.clone();
        trailing.push(0);
        let truncated = sig[..sig.len() - 1].to_vec();
        let cases: [(&[u8], &[u8], bool); 6] = [
            (&sig, &msg, true),
            (&sig, b"other", false),
            (&flipped, &msg, false),
            (&trailing, &msg, false),
            (&truncated, &msg, false),
            (&[], &msg, false),
        ];
        for (i, (sig, msg, valid)) in cases.into_iter().enumerate() {
            let by_sigstore = reference.verify_signature(Signature::Raw(sig), msg).is_ok();
            assert_eq!(by_sigstore, valid, "case {i}");
            assert_eq!(trusted.verify(sig, msg), valid, "case {i}");
        }
    }
}
