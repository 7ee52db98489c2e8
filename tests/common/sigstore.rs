//! A Sigstore stand-in on 127.0.0.1 (wiremock): the GitHub Actions OIDC token endpoint, Fulcio
//! (`POST /api/v2/signingCert`) and Rekor v1 (`POST /api/v1/log/entries`, `GET /api/v1/log`),
//! answering with the services' real JSON shapes, plus the `trusted_root.json` that trusts
//! them. Everything is real cryptography with throw-away keys made at start: a CA (root and
//! intermediate) issues Fulcio-profile leaf certificates with an embedded RFC 6962 SCT from a
//! test CT log key, and Rekor keeps an RFC 6962 Merkle tree, returns inclusion proofs, signed
//! checkpoints and signed entry timestamps. `sigstore-verify` accepts what it produces when given
//! [`SigstoreStandIn::trusted_root_json`], and nothing else does.
//!
//! The OIDC token is shaped like GitHub's but signed by nobody: this Fulcio trusts any token
//! whose audience is `sigstore` and that has not expired.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::Encode as _;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber, SigningKey,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigstore_sign::crypto::VerificationKey;
use sigstore_sign::types::{DerPublicKey, SignatureBytes};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The issuer GitHub Actions puts in its OIDC tokens (and Fulcio in its certificates).
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The workflow the token claims to come from until [`SigstoreStandIn::set_workflow_identity`].
pub const WORKFLOW: &str =
    "octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/main";
/// Value for `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the token endpoint answers 401 to anything else.
pub const REQUEST_TOKEN: &str = "standInActionsIdTokenRequestToken0123";
/// The certificate identity (URI SAN) Fulcio derives from a GitHub workflow reference.
pub fn identity_for(job_workflow_ref: &str) -> String {
    format!("https://github.com/{job_workflow_ref}")
}

const TREE_ID: u64 = 2_605_736_670_972_794_746;
const LOG_NAME: &str = "rekor.stand-in";

/// Fulcio extension OIDs (<https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md>).
const OID_ISSUER_LEGACY: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_ISSUER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
const OID_BUILD_SIGNER_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 9];
const OID_SOURCE_REPO_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 12];
const OID_SOURCE_REPO_DIGEST: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 13];
const OID_SOURCE_REPO_REF: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 14];
const OID_BUILD_CONFIG_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 18];
const OID_BUILD_TRIGGER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 20];
/// RFC 6962 embedded SCT list.
const OID_CT_PRECERT_SCTS: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// What a test can change while the stand-in runs.
struct Settings {
    workflow: String,
    issuer: String,
    rekor_down: bool,
    tamper_set: bool,
    /// How long before issuance the certificate's validity starts, and how long it lasts.
    cert_starts_ago: Duration,
    cert_lifetime: Duration,
}

/// The key material, made once at start.
struct Keys {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
    ct: KeyPair,
    rekor: KeyPair,
    /// When the trust material became valid (`validFor.start`).
    since: SystemTime,
}

struct State {
    settings: Mutex<Settings>,
    keys: Keys,
    /// Leaf hashes of the log, in order.
    leaves: Mutex<Vec<[u8; 32]>>,
    serial: Mutex<u64>,
}

/// The running stand-in: one loopback server for all three services.
pub struct SigstoreStandIn {
    server: MockServer,
    state: Arc<State>,
}

impl SigstoreStandIn {
    /// Starts the stand-in from async code (a `#[tokio::test]`); the server runs on its own
    /// thread, so the caller's runtime only has to live while this future is awaited.
    pub async fn start() -> SigstoreStandIn {
        let state = Arc::new(State {
            settings: Mutex::new(Settings {
                workflow: WORKFLOW.to_owned(),
                issuer: GITHUB_ISSUER.to_owned(),
                rekor_down: false,
                tamper_set: false,
                cert_starts_ago: Duration::ZERO,
                cert_lifetime: Duration::from_secs(600),
            }),
            keys: Keys::generate(),
            leaves: Mutex::new(Vec::new()),
            serial: Mutex::new(1),
        });
        let server = MockServer::start().await;
        let routes: [(&str, &str, Box<dyn Respond>); 4] = [
            (
                "GET",
                "/_apis/actions/idtoken",
                Box::new(Oidc(state.clone())),
            ),
            (
                "POST",
                "/api/v2/signingCert",
                Box::new(Fulcio(state.clone())),
            ),
            (
                "POST",
                "/api/v1/log/entries",
                Box::new(Rekor(state.clone())),
            ),
            ("GET", "/api/v1/log", Box::new(RekorLogInfo(state.clone()))),
        ];
        for (verb, route, responder) in routes {
            Mock::given(method(verb))
                .and(path(route))
                .respond_with(BoxedRespond(responder))
                .mount(&server)
                .await;
        }
        SigstoreStandIn { server, state }
    }

    /// Starts the stand-in from synchronous code (a plain `#[test]`, the quickstart). Must not
    /// be called from inside a tokio runtime.
    pub fn start_blocking() -> SigstoreStandIn {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(SigstoreStandIn::start())
    }

    /// Base URL of the Fulcio stand-in (for `SigningServices::new` or `FulcioClient::new`).
    pub fn fulcio_url(&self) -> String {
        self.server.uri()
    }

    /// Base URL of the Rekor v1 stand-in.
    pub fn rekor_url(&self) -> String {
        self.server.uri()
    }

    /// Value for `ACTIONS_ID_TOKEN_REQUEST_URL`; clients append `&audience=sigstore`.
    pub fn oidc_request_url(&self) -> String {
        format!(
            "{}/_apis/actions/idtoken?api-version=2.0",
            self.server.uri()
        )
    }

    /// Value for `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn oidc_request_token(&self) -> &'static str {
        REQUEST_TOKEN
    }

    /// The JWT the token endpoint would hand out now for `audience` (skips the HTTP hop).
    pub fn id_token(&self, audience: &str) -> String {
        let s = self.settings();
        github_jwt(&s.workflow, &s.issuer, audience)
    }

    /// The certificate identity a signature made now will carry.
    pub fn identity(&self) -> String {
        identity_for(&self.settings().workflow)
    }

    /// `trusted_root.json` (media type `application/vnd.dev.sigstore.trustedroot+json;
    /// version=0.1`) trusting this stand-in's CA, Rekor key and CT log key.
    pub fn trusted_root_json(&self) -> String {
        let k = &self.state.keys;
        let since = rfc3339(k.since);
        let log_key = |key: &KeyPair, url: String| {
            let spki = key.subject_public_key_info();
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(&spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": since },
                },
                "logId": { "keyId": STANDARD.encode(Sha256::digest(&spki)) },
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log_key(&k.rekor, self.rekor_url())],
            "certificateAuthorities": [{
                "subject": { "organization": "promptrail stand-in", "commonName": "sigstore" },
                "uri": self.fulcio_url(),
                "certChain": { "certificates": [
                    { "rawBytes": STANDARD.encode(&k.intermediate_der) },
                    { "rawBytes": STANDARD.encode(&k.root_der) },
                ] },
                "validFor": { "start": since },
            }],
            "ctlogs": [log_key(&k.ct, "https://ctfe.stand-in.invalid/test".to_owned())],
            "timestampAuthorities": [],
        });
        serde_json::to_string_pretty(&root).unwrap()
    }

    /// The workflow the next tokens claim (`job_workflow_ref`, e.g.
    /// `octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/main`); the
    /// repository, ref and certificate identity follow from it.
    pub fn set_workflow_identity(&self, job_workflow_ref: &str) {
        self.settings().workflow = job_workflow_ref.to_owned();
    }

    /// The `iss` of the next tokens, which Fulcio copies into the certificate.
    pub fn set_issuer(&self, issuer: &str) {
        self.settings().issuer = issuer.to_owned();
    }

    /// While down, Rekor answers every upload with 503 and logs nothing.
    pub fn set_rekor_down(&self, down: bool) {
        self.settings().rekor_down = down;
    }

    /// Validity of the next certificates: from `starts_ago` before issuance, for `lifetime`
    /// (default: from now, for 10 minutes). `(1h, 10min)` issues an already expired one.
    pub fn set_cert_validity(&self, starts_ago: Duration, lifetime: Duration) {
        let mut s = self.settings();
        s.cert_starts_ago = starts_ago;
        s.cert_lifetime = lifetime;
    }

    /// While on, Rekor signs a different integrated time than the one it reports, so the
    /// signed entry timestamp (inclusion promise) does not verify.
    pub fn set_tamper_set(&self, tamper: bool) {
        self.settings().tamper_set = tamper;
    }

    /// How many entries Rekor has logged.
    pub fn rekor_entries(&self) -> usize {
        self.state.leaves.lock().unwrap().len()
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.state.settings.lock().unwrap()
    }
}

/// wiremock wants a sized `Respond`; this lets the routes share one table.
struct BoxedRespond(Box<dyn Respond>);

impl Respond for BoxedRespond {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// A gRPC-gateway style error body, as Fulcio and Rekor send.
fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "code": status, "message": message }))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------------
// OIDC: GitHub Actions' token endpoint.

struct Oidc(Arc<State>);

impl Respond for Oidc {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case(&format!("bearer {REQUEST_TOKEN}")));
        if !authorized {
            return error(401, "Bad credentials");
        }
        let audience = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "audience")
            .map_or_else(
                || "https://github.com/octo-org".to_owned(),
                |(_, v)| v.into(),
            );
        let s = self.0.settings.lock().unwrap();
        let value = github_jwt(&s.workflow, &s.issuer, &audience);
        ResponseTemplate::new(200).set_body_json(json!({ "count": value.len(), "value": value }))
    }
}

/// A JWT with GitHub Actions' claims for `job_workflow_ref`, with a signature nobody checks.
fn github_jwt(job_workflow_ref: &str, issuer: &str, audience: &str) -> String {
    let (workflow_path, git_ref) = job_workflow_ref
        .split_once('@')
        .unwrap_or((job_workflow_ref, "refs/heads/main"));
    let repository = workflow_path
        .split_once("/.github/")
        .map_or(workflow_path, |(repo, _)| repo);
    let owner = repository.split('/').next().unwrap_or(repository);
    let sha = hex(&Sha256::digest(job_workflow_ref.as_bytes())[..20]);
    let now = now_secs();
    let claims = json!({
        "jti": "6f1a5d2e-stand-in",
        "sub": format!("repo:{repository}:ref:{git_ref}"),
        "aud": audience,
        "ref": git_ref,
        "sha": sha,
        "repository": repository,
        "repository_owner": owner,
        "repository_visibility": "private",
        "run_id": "7318411205",
        "run_number": "42",
        "run_attempt": "1",
        "actor": "analopez",
        "workflow": "promptrail record",
        "workflow_ref": job_workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": job_workflow_ref,
        "job_workflow_sha": sha,
        "event_name": "push",
        "ref_type": "branch",
        "runner_environment": "github-hosted",
        "iss": issuer,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 300,
    });
    let header = json!({ "alg": "RS256", "kid": "stand-in", "typ": "JWT", "x5t": "stand-in" });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"signed-by-nobody")
    )
}

// ---------------------------------------------------------------------------------------------
// Fulcio.

impl Keys {
    fn generate() -> Keys {
        let since = SystemTime::now() - Duration::from_secs(24 * 3600);
        let until = SystemTime::now() + Duration::from_secs(365 * 24 * 3600);
        let ca_params = |cn: &str, constraint: BasicConstraints| {
            let mut p = CertificateParams::default();
            p.distinguished_name = DistinguishedName::new();
            p.distinguished_name
                .push(DnType::OrganizationName, "promptrail stand-in");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(constraint);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p.not_before = since.into();
            p.not_after = until.into();
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("sigstore", BasicConstraints::Unconstrained);
        let root_der = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let root = Issuer::new(root_params, root_key);

        let inter_key = KeyPair::generate().unwrap();
        let mut inter_params = ca_params("sigstore-intermediate", BasicConstraints::Constrained(0));
        // Fulcio's intermediate carries the code-signing EKU too; webpki checks it on the path.
        inter_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        inter_params.use_authority_key_identifier_extension = true;
        let intermediate_der = inter_params
            .signed_by(&inter_key, &root)
            .unwrap()
            .der()
            .to_vec();
        Keys {
            root_der,
            intermediate_der,
            intermediate: Issuer::new(inter_params, inter_key),
            ct: KeyPair::generate().unwrap(),
            rekor: KeyPair::generate().unwrap(),
            since,
        }
    }
}

/// A P-256 public key presented to Fulcio, in the form rcgen signs certificates for.
struct PresentedKey {
    point: Vec<u8>,
}

impl PublicKeyData for PresentedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

struct Fulcio(Arc<State>);

impl Respond for Fulcio {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match self.issue(request) {
            Ok(chain) => ResponseTemplate::new(201).set_body_json(json!({
                "signedCertificateEmbeddedSct": { "chain": { "certificates": chain } }
            })),
            Err((status, message)) => error(status, &message),
        }
    }
}

type Refusal = (u16, String);

fn bad(message: impl std::fmt::Display) -> Refusal {
    (400, message.to_string())
}

impl Fulcio {
    /// Checks the request like Fulcio does and returns the PEM chain, leaf first.
    fn issue(&self, request: &Request) -> Result<Vec<String>, Refusal> {
        let body: Value = request.body_json().map_err(bad)?;
        let token = body["credentials"]["oidcIdentityToken"]
            .as_str()
            .ok_or_else(|| bad("missing credentials.oidcIdentityToken"))?;
        let claims = jwt_claims(token).ok_or((401, "malformed OIDC token".to_owned()))?;
        let audience_ok = match &claims["aud"] {
            Value::String(a) => a == "sigstore",
            Value::Array(a) => a.iter().any(|a| a == "sigstore"),
            _ => false,
        };
        if !audience_ok || claims["exp"].as_u64().is_none_or(|exp| exp < now_secs()) {
            return Err((
                401,
                "OIDC token has the wrong audience or expired".to_owned(),
            ));
        }
        let (Some(issuer), Some(subject), Some(workflow)) = (
            claims["iss"].as_str(),
            claims["sub"].as_str(),
            claims["job_workflow_ref"].as_str(),
        ) else {
            return Err((
                401,
                "OIDC token lacks iss, sub or job_workflow_ref".to_owned(),
            ));
        };

        let request_key = &body["publicKeyRequest"];
        let pem = request_key["publicKey"]["content"]
            .as_str()
            .ok_or_else(|| bad("missing publicKeyRequest.publicKey.content"))?;
        let spki = DerPublicKey::from_pem(pem).map_err(bad)?;
        let proof = request_key["proofOfPossession"]
            .as_str()
            .and_then(|p| STANDARD.decode(p).ok())
            .ok_or_else(|| bad("missing publicKeyRequest.proofOfPossession"))?;
        // The proof of possession is a signature over the token's subject (email if any).
        let signed = claims["email"].as_str().unwrap_or(subject);
        VerificationKey::from_spki(&spki)
            .and_then(|k| k.verify(signed.as_bytes(), &SignatureBytes::new(proof)))
            .map_err(|e| bad(format!("proof of possession does not verify: {e}")))?;
        let key = presented_key(spki.as_bytes()).ok_or_else(|| bad("not a P-256 key"))?;

        let (starts_ago, lifetime) = {
            let s = self.0.settings.lock().unwrap();
            (s.cert_starts_ago, s.cert_lifetime)
        };
        let serial = {
            let mut n = self.0.serial.lock().unwrap();
            *n += 1;
            // 16 bytes, positive, no leading zero: a minimal DER INTEGER.
            let mut s = Sha256::digest(n.to_be_bytes())[..16].to_vec();
            s[0] = (s[0] & 0x7f) | 0x40;
            s
        };
        let not_before = SystemTime::now() - starts_ago;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = not_before.into();
        params.not_after = (not_before + lifetime).into();
        params.subject_alt_names = vec![SanType::URI(
            Ia5String::try_from(identity_for(workflow)).map_err(bad)?,
        )];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = fulcio_extensions(&claims, issuer, workflow);

        // RFC 6962 §3.1: the SCT signs the precertificate's TBS, which is the final TBS
        // without the SCT extension; build it, sign it, then add the SCT.
        let issuer_ca = &self.0.keys.intermediate;
        let precert = params.signed_by(&key, issuer_ca).map_err(bad)?;
        let sct = self.sct(precert.der())?;
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(OID_CT_PRECERT_SCTS, sct));
        let leaf = params.signed_by(&key, issuer_ca).map_err(bad)?;
        let keys = &self.0.keys;
        Ok(
            [leaf.der().as_ref(), &keys.intermediate_der, &keys.root_der]
                .iter()
                .map(|der| pem_cert(der))
                .collect(),
        )
    }

    /// The DER content of the SCT list extension for a precertificate.
    fn sct(&self, precert_der: &[u8]) -> Result<Vec<u8>, Refusal> {
        use der::Decode as _;
        let cert = x509_cert::Certificate::from_der(precert_der).map_err(bad)?;
        let tbs = cert.tbs_certificate.to_der().map_err(bad)?;
        let issuer_key_hash =
            Sha256::digest(self.0.keys.intermediate.key().subject_public_key_info());
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;

        // digitally-signed struct: version, signature_type, timestamp, entry_type (precert),
        // issuer_key_hash, tbs (u24 length), extensions (u16 length).
        let mut signed = vec![0u8, 0u8];
        signed.extend(timestamp.to_be_bytes());
        signed.extend(1u16.to_be_bytes());
        signed.extend(issuer_key_hash);
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(&tbs);
        signed.extend(0u16.to_be_bytes());
        let signature = self.0.keys.ct.sign(&signed).map_err(bad)?;

        let log_id = Sha256::digest(self.0.keys.ct.subject_public_key_info());
        let mut sct = vec![0u8];
        sct.extend(log_id);
        sct.extend(timestamp.to_be_bytes());
        sct.extend(0u16.to_be_bytes());
        sct.extend([4u8, 3u8]); // sha256, ecdsa
        sct.extend((signature.len() as u16).to_be_bytes());
        sct.extend(&signature);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(sct);
        der::asn1::OctetString::new(list)
            .and_then(|o| o.to_der())
            .map_err(bad)
    }
}

/// The Fulcio extensions a GitHub Actions token yields: the issuer (legacy raw string and the
/// DER UTF8String form) and the CI claims verifiers read.
fn fulcio_extensions(claims: &Value, issuer: &str, workflow: &str) -> Vec<CustomExtension> {
    let claim = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
    let utf8 = |oid: &[u64], value: String| {
        let der = der::asn1::Utf8StringRef::new(&value)
            .and_then(|s| s.to_der())
            .unwrap();
        CustomExtension::from_oid_content(oid, der)
    };
    vec![
        CustomExtension::from_oid_content(OID_ISSUER_LEGACY, issuer.as_bytes().to_vec()),
        utf8(OID_ISSUER, issuer.to_owned()),
        utf8(OID_BUILD_SIGNER_URI, identity_for(workflow)),
        utf8(
            OID_SOURCE_REPO_URI,
            format!("https://github.com/{}", claim("repository")),
        ),
        utf8(OID_SOURCE_REPO_DIGEST, claim("sha")),
        utf8(OID_SOURCE_REPO_REF, claim("ref")),
        utf8(
            OID_BUILD_CONFIG_URI,
            format!("https://github.com/{}", claim("workflow_ref")),
        ),
        utf8(OID_BUILD_TRIGGER, claim("event_name")),
    ]
}

fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The uncompressed EC point of a P-256 SubjectPublicKeyInfo.
fn presented_key(spki_der: &[u8]) -> Option<PresentedKey> {
    use der::Decode as _;
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki_der).ok()?;
    let point = spki.subject_public_key.as_bytes()?.to_vec();
    (point.len() == 65).then_some(PresentedKey { point })
}

fn pem_cert(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// Rekor v1.

struct Rekor(Arc<State>);

impl Respond for Rekor {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.0.settings.lock().unwrap().rekor_down {
            return error(503, "stand-in Rekor is unavailable");
        }
        let body = match request
            .body_json::<Value>()
            .map_err(bad)
            .and_then(|proposed| canonical_entry(&proposed))
        {
            Ok(body) => body,
            Err((status, message)) => return error(status, &message),
        };
        match self.append(body) {
            Ok(entry) => ResponseTemplate::new(201).set_body_json(entry),
            Err((status, message)) => error(status, &message),
        }
    }
}

impl Rekor {
    /// Logs a canonical body and answers like Rekor: `{uuid: entry}`.
    fn append(&self, body: Vec<u8>) -> Result<Value, Refusal> {
        let keys = &self.0.keys;
        let leaf = leaf_hash(&body);
        let mut leaves = self.0.leaves.lock().unwrap();
        if leaves.contains(&leaf) {
            return Err((
                409,
                format!(
                    "an equivalent entry already exists in the transparency log with UUID {}",
                    hex(&leaf)
                ),
            ));
        }
        leaves.push(leaf);
        let index = leaves.len() - 1;
        let size = leaves.len();
        let root = merkle_root(&leaves);
        let proof: Vec<String> = inclusion_path(index, &leaves)
            .iter()
            .map(|h| hex(h))
            .collect();
        drop(leaves);

        let body_b64 = STANDARD.encode(&body);
        let log_id = hex(&Sha256::digest(keys.rekor.subject_public_key_info()));
        let integrated_time = now_secs();
        let signed_time = if self.0.settings.lock().unwrap().tamper_set {
            integrated_time + 1
        } else {
            integrated_time
        };
        // Canonical JSON (sorted keys, no spaces) of what the SET covers.
        let set_payload = format!(
            r#"{{"body":"{body_b64}","integratedTime":{signed_time},"logID":"{log_id}","logIndex":{index}}}"#
        );
        let set = keys.rekor.sign(set_payload.as_bytes()).map_err(bad)?;
        let uuid = format!("{TREE_ID:016x}{}", hex(&leaf));
        Ok(json!({
            uuid: {
                "body": body_b64,
                "integratedTime": integrated_time,
                "logID": log_id,
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": checkpoint(&keys.rekor, size, &root),
                        "hashes": proof,
                        "logIndex": index,
                        "rootHash": hex(&root),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": STANDARD.encode(set),
                },
            }
        }))
    }
}

struct RekorLogInfo(Arc<State>);

impl Respond for RekorLogInfo {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let leaves = self.0.leaves.lock().unwrap();
        let root = merkle_root(&leaves);
        ResponseTemplate::new(200).set_body_json(json!({
            "inactiveShards": [],
            "rootHash": hex(&root),
            "signedTreeHead": checkpoint(&self.0.keys.rekor, leaves.len(), &root),
            "treeID": TREE_ID.to_string(),
            "treeSize": leaves.len(),
        }))
    }
}

/// The canonical body Rekor stores for a proposed `dsse` or `hashedrekord` v0.0.1 entry, after
/// checking its signatures as Rekor does.
fn canonical_entry(proposed: &Value) -> Result<Vec<u8>, Refusal> {
    let spec = &proposed["spec"];
    let body = match (proposed["kind"].as_str(), proposed["apiVersion"].as_str()) {
        (Some("dsse"), Some("0.0.1")) => {
            let content = &spec["proposedContent"];
            let envelope_text = content["envelope"]
                .as_str()
                .ok_or_else(|| bad("missing spec.proposedContent.envelope"))?;
            let envelope: Value = serde_json::from_str(envelope_text).map_err(bad)?;
            let payload = envelope["payload"]
                .as_str()
                .and_then(|p| STANDARD.decode(p).ok())
                .ok_or_else(|| bad("envelope payload is not base64"))?;
            let payload_type = envelope["payloadType"].as_str().unwrap_or_default();
            let verifiers: Vec<&str> = content["verifiers"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut signatures = Vec::new();
            for sig in envelope["signatures"].as_array().into_iter().flatten() {
                let sig_b64 = sig["sig"].as_str().unwrap_or_default();
                let signature = STANDARD.decode(sig_b64).map_err(bad)?;
                let pae = sigstore_sign::types::pae(payload_type, &payload);
                let verifier = verifiers
                    .iter()
                    .find(|v| verifier_key(v).is_some_and(|k| verify(&k, &pae, &signature)))
                    .ok_or_else(|| bad("envelope signature does not verify with any verifier"))?;
                signatures.push(json!({ "signature": sig_b64, "verifier": verifier }));
            }
            if signatures.is_empty() {
                return Err(bad("envelope has no signatures"));
            }
            json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": { "algorithm": "sha256", "value": hex(&Sha256::digest(envelope_text)) },
                    "payloadHash": { "algorithm": "sha256", "value": hex(&Sha256::digest(&payload)) },
                    "signatures": signatures,
                },
            })
        }
        (Some("hashedrekord"), Some("0.0.1")) => {
            let digest_hex = spec["data"]["hash"]["value"].as_str().unwrap_or_default();
            let digest = (0..digest_hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(digest_hex.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(bad)?;
            let content = spec["signature"]["content"].as_str().unwrap_or_default();
            let verifier = spec["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap_or_default();
            let signature = STANDARD.decode(content).map_err(bad)?;
            let key = verifier_key(verifier).ok_or_else(|| bad("unreadable publicKey"))?;
            key.verify_prehashed(&digest, &SignatureBytes::new(signature))
                .map_err(|e| bad(format!("signature does not verify: {e}")))?;
            json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": { "hash": { "algorithm": "sha256", "value": digest_hex } },
                    "signature": { "content": content, "publicKey": { "content": verifier } },
                },
            })
        }
        _ => {
            return Err(bad(
                "unsupported entry kind; this stand-in takes dsse and hashedrekord 0.0.1",
            ));
        }
    };
    // serde_json without `preserve_order` writes object keys sorted: Rekor's canonical form.
    Ok(serde_json::to_vec(&body).unwrap())
}

/// The public key of a base64 PEM verifier (a certificate or a public key), as Rekor reads it.
fn verifier_key(verifier_b64: &str) -> Option<VerificationKey> {
    use der::Decode as _;
    let pem = String::from_utf8(STANDARD.decode(verifier_b64).ok()?).ok()?;
    let spki = if pem.contains("CERTIFICATE") {
        let der = sigstore_sign::types::DerCertificate::from_pem(&pem).ok()?;
        let cert = x509_cert::Certificate::from_der(der.as_bytes()).ok()?;
        DerPublicKey::new(cert.tbs_certificate.subject_public_key_info.to_der().ok()?)
    } else {
        DerPublicKey::from_pem(&pem).ok()?
    };
    VerificationKey::from_spki(&spki).ok()
}

fn verify(key: &VerificationKey, message: &[u8], signature: &[u8]) -> bool {
    key.verify(message, &SignatureBytes::new(signature.to_vec()))
        .is_ok()
}

/// A signed note for the tree head, as Rekor v1 publishes it: the signature line's key hint is
/// the first four bytes of the log ID (SHA-256 of the log key's DER SubjectPublicKeyInfo).
fn checkpoint(key: &KeyPair, size: usize, root: &[u8; 32]) -> String {
    let note = format!(
        "{LOG_NAME} - {TREE_ID}\n{size}\n{}\n",
        STANDARD.encode(root)
    );
    let mut signature = Sha256::digest(key.subject_public_key_info())[..4].to_vec();
    signature.extend(key.sign(note.as_bytes()).unwrap());
    format!(
        "{note}\n\u{2014} {LOG_NAME} {}\n",
        STANDARD.encode(signature)
    )
}

// ---------------------------------------------------------------------------------------------
// RFC 6962 Merkle tree over leaf hashes.

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    Sha256::new_with_prefix([0u8])
        .chain_update(body)
        .finalize()
        .into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new_with_prefix([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]); the empty tree's hash is SHA-256 of nothing.
fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]), deepest sibling first.
fn inclusion_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if m < k {
        (inclusion_path(m, &leaves[..k]), merkle_root(&leaves[k..]))
    } else {
        (
            inclusion_path(m - k, &leaves[k..]),
            merkle_root(&leaves[..k]),
        )
    };
    path.push(sibling);
    path
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
