//! A Sigstore stand-in on 127.0.0.1 (wiremock): the GitHub Actions OIDC token endpoint, Fulcio
//! (`POST /api/v2/signingCert`) and Rekor v1 (`POST /api/v1/log/entries`, `GET /api/v1/log`),
//! answering with the services' real JSON shapes, plus the `trusted_root.json` that trusts
//! them. Everything is real cryptography with throw-away keys made at start: a CA (root and
//! intermediate) issues Fulcio-profile leaf certificates with an embedded RFC 6962 SCT from a
//! test CT log key, and Rekor keeps an RFC 6962 Merkle tree, returns inclusion proofs, signed
//! checkpoints and signed entry timestamps. `sigstore-verify` accepts what it produces when given
//! [`SigstoreStandIn::trusted_root_json`], and nothing else does; so do Sigstore's JavaScript
//! verifier and sigstore-python, which CI checks (`.ci/sigstore_js_keyless_check.mjs`,
//! `.ci/sigstore_python_check.py`).
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

#[path = "sigstore/fulcio.rs"]
mod fulcio;
#[path = "sigstore/rekor.rs"]
mod rekor;

use fulcio::Fulcio;
use rekor::{Rekor, RekorLogInfo};

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
    /// The log's name in its checkpoints: as real Rekor names them after its hostname
    /// (`rekor.sigstore.dev`), the host and port of the stand-in's base URL. Verifiers look
    /// the checkpoint's key up by it: sigstore-js matches it against the tlog's `baseUrl`.
    log_name: String,
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
        SigstoreStandIn::serve(MockServer::start().await).await
    }

    /// Starts the stand-in on a listener bound earlier (so that its address can be put in
    /// environment variables before any thread exists, as the quickstart does).
    pub fn start_on(listener: std::net::TcpListener) -> SigstoreStandIn {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                SigstoreStandIn::serve(MockServer::builder().listener(listener).start().await).await
            })
    }

    async fn serve(server: MockServer) -> SigstoreStandIn {
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
            log_name: server.address().to_string(),
        });
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

    /// How many requests reached `route` (e.g. `/api/v2/signingCert`, whose body carries the
    /// job's OIDC token), whatever they were answered.
    pub fn requests_to(&self, route: &str) -> usize {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == route)
            .count()
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

type Refusal = (u16, String);

fn bad(message: impl std::fmt::Display) -> Refusal {
    (400, message.to_string())
}

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
