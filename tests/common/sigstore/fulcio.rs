//! Fulcio stand-in: a root and intermediate CA issuing Fulcio-profile leaf certificates with an
//! embedded RFC 6962 SCT, for keys whose proof of possession verifies.

use super::*;

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

impl Keys {
    pub(super) fn generate() -> Keys {
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

pub(super) struct Fulcio(pub(super) Arc<State>);

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
