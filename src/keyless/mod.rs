//! Keyless signing (Sigstore): the CI job's OIDC identity → a short-lived Fulcio
//! certificate for an ephemeral key → each DSSE envelope logged in Rekor.
//!
//! One certificate serves a whole run: it is requested at the first signature (so a run
//! with nothing to record never asks for one) and its ephemeral key also signs the
//! checkpoint, which binds the checkpoint to the same workflow identity as the entry it
//! closes. Network calls go through `sigstore-sign`'s building blocks (`sigstore-fulcio`,
//! `sigstore-rekor`); the private key never leaves this process.
//!
//! Verification of keyless entries lives in [`verify`].

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use sigstore_sign::bundle::BundleV03;
use sigstore_sign::crypto::KeyPair;
use sigstore_sign::fulcio::FulcioClient;
use sigstore_sign::oidc::IdentityToken;
use sigstore_sign::rekor::{DsseEntry, RekorClient};
use sigstore_sign::types::{
    DerCertificate, DsseEnvelope, DsseSignature, KeyId, KindVersion, PayloadBytes,
};

use crate::attestation::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::attestation::pae;

pub mod verify;

/// Sigstore's public-good Fulcio.
pub const PUBLIC_FULCIO: &str = "https://fulcio.sigstore.dev";
/// Sigstore's public-good Rekor.
pub const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";
/// The issuer of GitHub Actions' OIDC tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Environment variable with a raw OIDC token (cosign's name), used when set.
pub const TOKEN_ENV: &str = "SIGSTORE_ID_TOKEN";

/// Where keyless signing gets its certificate and logs its entries.
#[derive(Debug, Clone)]
pub struct Services {
    pub fulcio_url: String,
    pub rekor_url: String,
    /// `false`: no Rekor entry (`signing.transparency: false`, private repositories).
    pub transparency: bool,
    /// The identities verify will accept: a certificate outside them is refused before
    /// anything is signed (its entries would fail verification and block later appends).
    pub policy: verify::IdentityPolicy,
}

/// The run's ephemeral key and its certificate.
struct Session {
    key: KeyPair,
    cert: DerCertificate,
    spki: Vec<u8>,
    /// The certificate's identity (SAN).
    identity: String,
    /// The certificate's end (Unix seconds): a run outliving it gets a new one.
    not_after: i64,
}

/// Renew a certificate this long before it expires (Fulcio's last ~10 minutes).
const RENEW_BEFORE_SECS: i64 = 60;

/// Signs entries and checkpoints with a Fulcio certificate.
pub struct KeylessSigner {
    services: Services,
    runtime: tokio::runtime::Runtime,
    session: Mutex<Option<Arc<Session>>>,
}

impl std::fmt::Debug for KeylessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("KeylessSigner")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl KeylessSigner {
    pub fn new(services: Services) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime for Sigstore")?;
        Ok(KeylessSigner {
            services,
            runtime,
            session: Mutex::new(None),
        })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The identity of the certificate in use, once one was issued.
    pub fn identity(&self) -> Option<String> {
        let session = self.session.lock().ok()?.clone()?;
        Some(session.identity.clone())
    }

    /// The ephemeral key and certificate, requested on first use (and again when a long
    /// run nears the certificate's end).
    fn session(&self) -> Result<Arc<Session>> {
        let mut current = self
            .session
            .lock()
            .map_err(|_| anyhow!("internal: keyless session lock poisoned"))?;
        if let Some(s) = current.as_ref()
            && chrono::Utc::now().timestamp() < s.not_after - RENEW_BEFORE_SECS
        {
            return Ok(s.clone());
        }
        let fresh = Arc::new(self.new_session()?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    fn new_session(&self) -> Result<Session> {
        let token = self.runtime.block_on(identity_token())?;
        let key = KeyPair::generate_ecdsa_p256()
            .map_err(|e| anyhow!("generating the ephemeral signing key: {e}"))?;
        let fulcio = FulcioClient::new(&self.services.fulcio_url)
            .map_err(|e| anyhow!("Fulcio client for {}: {e}", self.services.fulcio_url))?;
        let cert = self
            .runtime
            .block_on(fulcio.create_signing_certificate(&token, &key))
            .map_err(|e| {
                anyhow!(
                    "Fulcio at {} refused a signing certificate: {e}",
                    self.services.fulcio_url
                )
            })?
            .leaf_certificate()
            .clone();
        let info = sigstore_sign::crypto::parse_certificate_info(&cert)
            .map_err(|e| anyhow!("Fulcio issued an unreadable certificate: {e}"))?;
        let identity = info
            .identity
            .as_ref()
            .map_or(String::new(), |i| i.as_str().to_owned());
        let issuer = info.issuer.as_deref().unwrap_or("");
        if let Err(why) = self.services.policy.check(&identity, issuer) {
            bail!(
                "refusing to sign: this job's certificate {why}, so verify would reject its \
                 entries (PT016); run the recording workflow on an allowed ref, or add its \
                 identity to `signing.identities`"
            );
        }
        let spki = key
            .public_key_der()
            .map_err(|e| anyhow!("exporting the ephemeral public key: {e}"))?
            .as_bytes()
            .to_vec();
        Ok(Session {
            key,
            cert,
            spki,
            identity,
            not_after: info.not_after.as_second(),
        })
    }

    /// Signs an in-toto payload and returns the entry file's bytes: a Sigstore bundle v0.3
    /// with the certificate and, unless transparency is off, the Rekor entry.
    pub fn sign_entry(&self, payload: Vec<u8>) -> Result<Vec<u8>> {
        let session = self.session()?;
        let sig = session
            .key
            .sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload))
            .map_err(|e| anyhow!("signing failed: {e}"))?;
        let envelope = DsseEnvelope::new(
            IN_TOTO_PAYLOAD_TYPE.to_owned(),
            PayloadBytes::from_bytes(&payload),
            DsseSignature::new(sig, KeyId::default()),
        );
        let logged = if self.services.transparency {
            Some(self.log_in_rekor(&envelope, &session.cert)?)
        } else {
            None
        };
        let mut bundle = BundleV03::with_certificate_and_dsse(session.cert.clone(), envelope);
        if let Some(entry) = logged {
            bundle = bundle.with_tlog_entry(entry);
        }
        let mut out = bundle
            .into_bundle()
            .to_json_pretty()
            .map_err(|e| anyhow!("serializing the bundle: {e}"))?
            .into_bytes();
        out.push(b'\n');
        Ok(out)
    }

    fn log_in_rekor(
        &self,
        envelope: &DsseEnvelope,
        cert: &DerCertificate,
    ) -> Result<sigstore_sign::types::TransparencyLogEntry> {
        let url = &self.services.rekor_url;
        let rekor = RekorClient::new(url).map_err(|e| anyhow!("Rekor client for {url}: {e}"))?;
        let request =
            DsseEntry::new(envelope, cert).map_err(|e| anyhow!("building the Rekor entry: {e}"))?;
        let logged = self
            .runtime
            .block_on(rekor.create_dsse_entry(request))
            .map_err(|e| {
                anyhow!(
                    "Rekor at {url} did not log the entry ({e}); nothing was appended — retry, \
                     or set `signing.transparency: false` for a repository whose entries must \
                     not be public"
                )
            })?;
        logged
            .to_bundle_entry(KindVersion::DsseV001)
            .map_err(|e| anyhow!("Rekor at {url} answered a malformed entry: {e}"))
    }

    /// Signs a checkpoint note body with the key of the entries just signed (never a renewed
    /// one: the checkpoint verifies with the certificate of the entry it closes).
    pub fn sign_note(&self, body: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let last = self
            .session
            .lock()
            .map_err(|_| anyhow!("internal: keyless session lock poisoned"))?
            .clone();
        let session = match last {
            Some(s) => s,
            None => self.session()?,
        };
        let sig = session
            .key
            .sign(body)
            .map_err(|e| anyhow!("signing the checkpoint failed: {e}"))?;
        Ok((session.spki.clone(), sig.as_bytes().to_vec()))
    }
}

/// The job's OIDC identity token: `SIGSTORE_ID_TOKEN`, else GitHub Actions' token endpoint
/// (audience `sigstore`).
async fn identity_token() -> Result<IdentityToken> {
    if let Some(raw) = std::env::var(TOKEN_ENV).ok().filter(|v| !v.is_empty()) {
        return IdentityToken::from_jwt(raw.trim())
            .map_err(|_| anyhow!("{TOKEN_ENV} is not a well-formed OIDC token (JWT)"));
    }
    let missing = "keyless signing needs the job's OIDC identity: in GitHub Actions give the \
                   job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is then set), \
                   or set SIGSTORE_ID_TOKEN";
    match IdentityToken::detect_ambient().await {
        Ok(Some(token)) => Ok(token),
        Ok(None) => bail!("{missing}"),
        // The detector's messages name variables, never the token.
        Err(e) => bail!("{missing} ({e})"),
    }
}

/// The identity (SAN) of a keyless entry's certificate, as stated (not verified), for reports.
pub fn certificate_identity(bundle: &crate::attestation::Bundle) -> Option<String> {
    use base64::Engine as _;
    let raw = bundle
        .verification_material
        .certificate
        .as_ref()?
        .get("rawBytes")?
        .as_str()?;
    let der = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let info =
        sigstore_sign::crypto::parse_certificate_info(&DerCertificate::from_bytes(&der)).ok()?;
    info.identity.map(|i| i.as_str().to_owned())
}
