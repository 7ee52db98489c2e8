//! Keyless Sigstore signing and verification against the loopback stand-in
//! (`tests/common/sigstore.rs`), with the real `sigstore-sign` / `sigstore-verify` clients and
//! no internet: the happy path, each way verification must fail, and the Fulcio-only flow the
//! main code would use when `signing.transparency` is off (which sigstore-verify 0.15 refuses
//! without an RFC 3161 timestamp).

mod common;

use common::sigstore::{GITHUB_ISSUER, SigstoreStandIn, identity_for};
use serde_json::{Value, json};
use sigstore_sign::oidc::IdentityToken;
use sigstore_sign::types::{Bundle, Sha256Hash};
use sigstore_sign::{SigningContext, SigningServices};
use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
use sigstore_verify::{
    CertificateError, Error, TransparencyLogError, VerificationPolicy, VerificationResult, Verifier,
};

/// SHA-256 of `You are a careful clinical intake assistant.\n`, the Statement's subject.
const SUBJECT: &str = "3f0f0d5d1f5c8c3c44b2b1ec4b4c2b8e0f9a8f1e5d6c7b8a9f0e1d2c3b4a5968";
const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const WORKFLOW: &str = "octo-org/prompts/.github/workflows/promptrail-record.yml@refs/heads/main";

fn statement(subject: &str) -> Vec<u8> {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "prompts/clinical/intake.md", "digest": { "sha256": subject } }],
        "predicateType": "https://promptrail.dev/audit-event/v1",
        "predicate": { "event": "record", "version": 12 },
    })
    .to_string()
    .into_bytes()
}

/// Asks the token endpoint the way GitHub Actions clients do (`ambient-id`, used by
/// `IdentityToken::detect_ambient`): `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`
/// with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
async fn github_token(standin: &SigstoreStandIn) -> IdentityToken {
    let response = sigstore_sign::reqwest::Client::new()
        .get(format!("{}&audience=sigstore", standin.oidc_request_url()))
        .bearer_auth(standin.oidc_request_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    IdentityToken::from_jwt(body["value"].as_str().unwrap()).unwrap()
}

/// Fulcio certificate + DSSE signature + Rekor v1 `dsse` entry, as `promptrail record` does.
async fn sign(standin: &SigstoreStandIn, subject: &str) -> Result<Bundle, sigstore_sign::Error> {
    let context = SigningContext::new(SigningServices::new(
        standin.fulcio_url(),
        standin.rekor_url(),
    ));
    let bundle = context
        .signer(github_token(standin).await)
        .sign_raw_statement(&statement(subject))
        .await?;
    // What lands on the audit branch is the JSON; verify what a reader would parse.
    Ok(Bundle::from_json(&bundle.to_json().unwrap()).unwrap())
}

fn verify_with(
    trusted_root: &str,
    bundle: &Bundle,
    subject: &str,
    policy: &VerificationPolicy,
) -> Result<VerificationResult, Error> {
    let root = TrustedRoot::from_json(trusted_root).unwrap();
    let verifier = Verifier::new(&root).unwrap();
    verifier.verify(Sha256Hash::from_hex(subject).unwrap(), bundle, policy)
}

fn github_policy() -> VerificationPolicy {
    VerificationPolicy::new(identity_for(WORKFLOW), GITHUB_ISSUER)
}

fn verify(standin: &SigstoreStandIn, bundle: &Bundle) -> Result<VerificationResult, Error> {
    verify_with(
        &standin.trusted_root_json(),
        bundle,
        SUBJECT,
        &github_policy(),
    )
}

#[tokio::test]
async fn token_endpoint_answers_like_github_actions() {
    let standin = SigstoreStandIn::start().await;
    let token = github_token(&standin).await;
    assert_eq!(token.issuer(), GITHUB_ISSUER);
    assert_eq!(token.subject(), "repo:octo-org/prompts:ref:refs/heads/main");
    assert_eq!(token.email(), None);
    assert_eq!(
        token.identity(),
        "repo:octo-org/prompts:ref:refs/heads/main"
    );
    assert!(token.claims().aud.contains("sigstore"));
    assert!(!token.is_expired());
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.expose_secret().split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["job_workflow_ref"], WORKFLOW);
    assert_eq!(claims["workflow_ref"], WORKFLOW);
    assert_eq!(claims["repository"], "octo-org/prompts");
    assert_eq!(claims["ref"], "refs/heads/main");

    let unauthorized = sigstore_sign::reqwest::Client::new()
        .get(format!("{}&audience=sigstore", standin.oidc_request_url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test]
async fn signs_and_verifies_keyless_with_rekor() {
    let standin = SigstoreStandIn::start().await;
    // Several entries, so inclusion proofs have siblings and odd tree sizes occur.
    let mut bundles = Vec::new();
    for _ in 0..3 {
        bundles.push(sign(&standin, SUBJECT).await.unwrap());
    }
    assert_eq!(standin.rekor_entries(), 3);
    for (index, bundle) in bundles.iter().enumerate() {
        let entry = &bundle.verification_material.tlog_entries[0];
        assert_eq!(entry.log_index.as_i64(), index as i64);
        let result = verify(&standin, bundle).unwrap();
        assert_eq!(
            result.identity().map(|i| i.as_str()),
            Some(identity_for(WORKFLOW).as_str())
        );
        assert_eq!(result.issuer(), Some(GITHUB_ISSUER));
        let logged = result.integrated_time().unwrap().as_second();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now - logged).abs() < 60,
            "integrated at {logged}, now {now}"
        );
        assert!(result.certificate_verified() && result.sct_verified() && result.tlog_verified());
        let claims = &result.certificate().unwrap().ci_claims;
        assert_eq!(
            claims.source_repository_uri.as_deref(),
            Some("https://github.com/octo-org/prompts")
        );
    }
}

/// Rekor stores a `dsse` entry's verifier as it re-encodes it (Go's `encoding/pem`: LF line
/// endings, lines of 64), not as the client sent it (sigstore-rust writes CRLF). Verifiers that
/// compare the logged body with their own PEM of the bundle's certificate (sigstore-python)
/// reject anything else, so the stand-in must do the same.
#[tokio::test]
async fn rekor_logs_the_certificate_as_go_encodes_it() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let standin = SigstoreStandIn::start().await;
    let bundle: Value =
        serde_json::from_str(&sign(&standin, SUBJECT).await.unwrap().to_json().unwrap()).unwrap();
    let cert_b64 = bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    let body = &bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"];
    let body: Value =
        serde_json::from_slice(&STANDARD.decode(body.as_str().unwrap()).unwrap()).unwrap();
    let signatures = body["spec"]["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!(
        signatures[0]["signature"],
        bundle["dsseEnvelope"]["signatures"][0]["sig"]
    );
    let logged = String::from_utf8(
        STANDARD
            .decode(signatures[0]["verifier"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let lines: Vec<String> = cert_b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let expected = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    assert!(!logged.contains('\r'), "{logged:?}");
    assert_eq!(logged, expected);
    // The client's own verification still agrees with the canonical body.
    verify(&standin, &Bundle::from_json(&bundle.to_string()).unwrap()).unwrap();
}

#[tokio::test]
async fn another_workflow_is_an_identity_mismatch() {
    let standin = SigstoreStandIn::start().await;
    standin
        .set_workflow_identity("octo-org/prompts/.github/workflows/other.yml@refs/heads/feature");
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    match verify(&standin, &bundle) {
        Err(Error::IdentityMismatch { actual, .. }) => assert_eq!(
            actual.unwrap().as_str(),
            "https://github.com/octo-org/prompts/.github/workflows/other.yml@refs/heads/feature"
        ),
        other => panic!("expected an identity mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn another_issuer_is_an_issuer_mismatch() {
    let standin = SigstoreStandIn::start().await;
    standin.set_issuer("https://accounts.example.org");
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    match verify(&standin, &bundle) {
        Err(Error::IssuerMismatch { actual, .. }) => {
            assert_eq!(actual.as_deref(), Some("https://accounts.example.org"))
        }
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn another_subject_digest_is_an_artifact_mismatch() {
    let standin = SigstoreStandIn::start().await;
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    let result = verify_with(
        &standin.trusted_root_json(),
        &bundle,
        OTHER,
        &github_policy(),
    );
    assert!(
        matches!(result, Err(Error::ArtifactMismatch(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn production_trusted_root_rejects_stand_in_material() {
    let standin = SigstoreStandIn::start().await;
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    let result = verify_with(
        SIGSTORE_PRODUCTION_TRUSTED_ROOT,
        &bundle,
        SUBJECT,
        &github_policy(),
    );
    // The first thing checked is the SET, whose log key production does not know.
    assert!(
        matches!(
            result,
            Err(Error::TransparencyLog(
                TransparencyLogError::InclusionPromise(_)
            ))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn tampered_signed_entry_timestamp_is_rejected() {
    let standin = SigstoreStandIn::start().await;
    standin.set_tamper_set(true);
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    match verify(&standin, &bundle) {
        Err(Error::TransparencyLog(TransparencyLogError::InclusionPromise(message))) => {
            assert!(message.contains("SET verification failed"), "{message}")
        }
        other => panic!("expected a bad inclusion promise, got {other:?}"),
    }
}

#[tokio::test]
async fn expired_certificate_is_rejected() {
    let standin = SigstoreStandIn::start().await;
    standin.set_cert_validity(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(600),
    );
    let bundle = sign(&standin, SUBJECT).await.unwrap();
    let result = verify(&standin, &bundle);
    // Chain building runs at the log's integrated time, after the certificate's notAfter.
    assert!(
        matches!(
            &result,
            Err(Error::Certificate(CertificateError::ChainInvalid(m))) if m.contains("Expired")
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn rekor_unavailable_fails_signing_and_logs_nothing() {
    let standin = SigstoreStandIn::start().await;
    standin.set_rekor_down(true);
    let error = sign(&standin, SUBJECT).await.unwrap_err();
    assert!(
        matches!(
            &error,
            sigstore_sign::Error::Rekor(sigstore_sign::rekor::Error::Status { status: 503, .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(standin.rekor_entries(), 0);

    standin.set_rekor_down(false);
    sign(&standin, SUBJECT).await.unwrap();
    assert_eq!(standin.rekor_entries(), 1);
}

/// Keyless signing without a transparency log (`signing.transparency: false`): an ephemeral
/// key, a Fulcio certificate for it, a DSSE envelope over the in-toto Statement, and a v0.3
/// bundle holding the leaf certificate and the envelope. No Rekor upload.
async fn sign_without_rekor(fulcio_url: &str, token: &IdentityToken, statement: &[u8]) -> Bundle {
    use sigstore_sign::bundle::BundleV03;
    use sigstore_sign::crypto::KeyPair;
    use sigstore_sign::fulcio::FulcioClient;
    use sigstore_sign::types::{DsseEnvelope, DsseSignature, KeyId, PayloadBytes, pae};

    const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
    let key = KeyPair::generate_ecdsa_p256().unwrap();
    // Proves possession by signing the token's subject, then returns the chain, leaf first.
    let certificate = FulcioClient::new(fulcio_url)
        .unwrap()
        .create_signing_certificate(token, &key)
        .await
        .unwrap();
    // DSSE signs PAE(payloadType, payload), not the payload itself.
    let signature = key.sign(&pae(PAYLOAD_TYPE, statement)).unwrap();
    let envelope = DsseEnvelope::new(
        PAYLOAD_TYPE,
        PayloadBytes::from_bytes(statement),
        DsseSignature::new(signature, KeyId::default()),
    );
    BundleV03::with_certificate_and_dsse(certificate.leaf_certificate().clone(), envelope)
        .into_bundle()
}

#[tokio::test]
async fn fulcio_only_bundle_has_no_verified_time() {
    let standin = SigstoreStandIn::start().await;
    let token = github_token(&standin).await;
    let bundle = sign_without_rekor(&standin.fulcio_url(), &token, &statement(SUBJECT)).await;
    assert_eq!(standin.rekor_entries(), 0);
    assert!(bundle.verification_material.tlog_entries.is_empty());

    // sigstore-verify 0.15 checks the certificate at a *verified* signing time: a Rekor v1 SET
    // or an RFC 3161 timestamp. A bundle with neither is refused as malformed before any
    // cryptography, even with `skip_tlog_unsafe`: transparency off needs a TSA timestamp.
    let policy = github_policy().skip_tlog_unsafe();
    let result = verify_with(&standin.trusted_root_json(), &bundle, SUBJECT, &policy);
    assert!(
        matches!(
            result,
            Err(Error::Bundle(
                sigstore_verify::bundle::Error::MissingSigningTimeEvidence
            ))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn hashedrekord_blob_signature_verifies() {
    let standin = SigstoreStandIn::start().await;
    let context = SigningContext::new(SigningServices::new(
        standin.fulcio_url(),
        standin.rekor_url(),
    ));
    let prompt = b"You are a careful clinical intake assistant.\n";
    let bundle = context
        .signer(github_token(&standin).await)
        .sign(prompt)
        .await
        .unwrap();
    assert_eq!(standin.rekor_entries(), 1);
    let root = TrustedRoot::from_json(&standin.trusted_root_json()).unwrap();
    let result = Verifier::new(&root)
        .unwrap()
        .verify(prompt, &bundle, &github_policy())
        .unwrap();
    assert!(result.tlog_verified());
}

#[tokio::test]
async fn fulcio_refuses_a_key_without_proof_of_possession() {
    use sigstore_sign::crypto::KeyPair;
    let standin = SigstoreStandIn::start().await;
    let key = KeyPair::generate_ecdsa_p256().unwrap();
    // A signature over something other than the token's subject.
    let proof = key.sign(b"someone else").unwrap();
    let response = sigstore_sign::reqwest::Client::new()
        .post(format!("{}/api/v2/signingCert", standin.fulcio_url()))
        .header("content-type", "application/json")
        .body(
            json!({
                "credentials": { "oidcIdentityToken": standin.id_token("sigstore") },
                "publicKeyRequest": {
                    "publicKey": { "algorithm": "", "content": key.public_key_der().unwrap().to_pem() },
                    "proofOfPossession": base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        proof.as_bytes(),
                    ),
                },
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("proof of possession"), "{body}");
}
