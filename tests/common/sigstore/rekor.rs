//! Rekor v1 stand-in: canonical `dsse` / `hashedrekord` bodies, an RFC 6962 Merkle tree,
//! inclusion proofs, signed checkpoints and signed entry timestamps.

use super::*;

pub(super) struct Rekor(pub(super) Arc<State>);

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
                        "checkpoint": checkpoint(&self.0, size, &root),
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

pub(super) struct RekorLogInfo(pub(super) Arc<State>);

impl Respond for RekorLogInfo {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let leaves = self.0.leaves.lock().unwrap();
        let root = merkle_root(&leaves);
        ResponseTemplate::new(200).set_body_json(json!({
            "inactiveShards": [],
            "rootHash": hex(&root),
            "signedTreeHead": checkpoint(&self.0, leaves.len(), &root),
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
            let verifiers: Vec<Verifier> = verifiers
                .iter()
                .map(|v| read_verifier(v).ok_or_else(|| bad("unreadable verifier")))
                .collect::<Result<_, _>>()?;
            let mut signatures = Vec::new();
            for sig in envelope["signatures"].as_array().into_iter().flatten() {
                let sig_b64 = sig["sig"].as_str().unwrap_or_default();
                let signature = STANDARD.decode(sig_b64).map_err(bad)?;
                let pae = sigstore_sign::types::pae(payload_type, &payload);
                let verifier = verifiers
                    .iter()
                    .find(|v| verify(&v.key, &pae, &signature))
                    .ok_or_else(|| bad("envelope signature does not verify with any verifier"))?;
                // Rekor stores the verifier it parsed, re-encoded (`CanonicalValue`), not the
                // client's text; clients compare the body with their own PEM encoding of the
                // certificate (sigstore-python does, byte for byte).
                signatures.push(json!({ "signature": sig_b64, "verifier": verifier.canonical }));
            }
            if signatures.is_empty() {
                return Err(bad("envelope has no signatures"));
            }
            // Rekor sorts the signatures by their base64 text.
            signatures.sort_by(|a, b| a["signature"].as_str().cmp(&b["signature"].as_str()));
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
            let verifier = read_verifier(verifier).ok_or_else(|| bad("unreadable publicKey"))?;
            verifier
                .key
                .verify_prehashed(&digest, &SignatureBytes::new(signature))
                .map_err(|e| bad(format!("signature does not verify: {e}")))?;
            json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": { "hash": { "algorithm": "sha256", "value": digest_hex } },
                    "signature": { "content": content, "publicKey": { "content": verifier.canonical } },
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

/// A `dsse` verifier as Rekor reads it: its public key, and its canonical form.
struct Verifier {
    key: VerificationKey,
    /// Base64 of the PEM Rekor stores (`CanonicalValue`).
    canonical: String,
}

/// Reads a base64 PEM verifier (a certificate or a public key), as Rekor does.
fn read_verifier(verifier_b64: &str) -> Option<Verifier> {
    use der::Decode as _;
    let pem = String::from_utf8(STANDARD.decode(verifier_b64).ok()?).ok()?;
    let (spki, label, der) = if pem.contains("CERTIFICATE") {
        let der = sigstore_sign::types::DerCertificate::from_pem(&pem).ok()?;
        let cert = x509_cert::Certificate::from_der(der.as_bytes()).ok()?;
        let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
        (
            DerPublicKey::new(spki),
            "CERTIFICATE",
            der.as_bytes().to_vec(),
        )
    } else {
        let spki = DerPublicKey::from_pem(&pem).ok()?;
        let der = spki.as_bytes().to_vec();
        (spki, "PUBLIC KEY", der)
    };
    Some(Verifier {
        key: VerificationKey::from_spki(&spki).ok()?,
        canonical: STANDARD.encode(go_pem(label, &der)),
    })
}

/// A PEM block as Go's `encoding/pem` writes it (Rekor's `cryptoutils.MarshalCertificateToPEM`
/// and `MarshalPublicKeyToPEM`): base64 in lines of 64 characters, every line ending in LF,
/// whatever line endings or wrapping the client sent.
fn go_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn verify(key: &VerificationKey, message: &[u8], signature: &[u8]) -> bool {
    key.verify(message, &SignatureBytes::new(signature.to_vec()))
        .is_ok()
}

/// A signed note for the tree head, as Rekor v1 publishes it: origin `<name> - <tree ID>`, and
/// a signature line from `<name>` (the log's host) whose key hint is the first four bytes of the
/// log ID (SHA-256 of the log key's DER SubjectPublicKeyInfo).
fn checkpoint(state: &State, size: usize, root: &[u8; 32]) -> String {
    let (key, name) = (&state.keys.rekor, &state.log_name);
    let note = format!("{name} - {TREE_ID}\n{size}\n{}\n", STANDARD.encode(root));
    let mut signature = Sha256::digest(key.subject_public_key_info())[..4].to_vec();
    signature.extend(key.sign(note.as_bytes()).unwrap());
    format!("{note}\n\u{2014} {name} {}\n", STANDARD.encode(signature))
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
