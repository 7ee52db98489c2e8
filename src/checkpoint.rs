//! Signed checkpoints of the audit log in the C2SP `tlog-checkpoint` form: a signed note
//! whose body is the origin, the tree size and the base64 RFC 6962 root hash.
//!
//! ```text
//! github.com/acme/clinic
//! 16
//! 3Zm4qJ0e0aR2…=
//!
//! — github.com/acme/clinic AbCdEf…base64(key ID ‖ ASN.1 DER ECDSA signature)
//! ```
//! Signature type 0x02 is ECDSA in C2SP `signed-note` ("as implemented by
//! transparency-dev/witness"), whose key ID is the first 4 bytes of SHA-256 of the DER SPKI.
//! The key name is the log's origin.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;
use crate::signing::{Signer, TrustedKey};

/// Signature type byte for ECDSA in C2SP signed notes.
pub const ECDSA_TYPE: u8 = 0x02;

/// The extension line that binds a checkpoint to the audit commit it was appended onto
/// (`promptrail-parent <commit id>`, or `promptrail-parent none` for the log's first commit).
/// Written on the last commit of every append: a reader that sees only the branch's tip (a
/// fresh, shallow clone) can then tell a genuine tip from an old signed tree replayed on top
/// of a newer one, because the replay's parent is not the one its note names.
pub const PARENT_EXTENSION: &str = "promptrail-parent ";
const NO_PARENT: &str = "none";

/// The extension line naming `parent` (see [`PARENT_EXTENSION`]).
pub fn parent_extension(parent: Option<&str>) -> String {
    format!("{PARENT_EXTENSION}{}", parent.unwrap_or(NO_PARENT))
}

/// A parsed checkpoint with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension lines after the root hash (kept, not interpreted).
    pub extensions: Vec<String>,
    /// (key name, key ID, signature)
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

/// The 4-byte key ID of an ECDSA key (signature type 0x02): SHA-256(DER SPKI)[:4]. The name
/// is not part of it for this type.
pub fn key_id(_name: &str, spki_der: &[u8]) -> [u8; 4] {
    let d = Sha256::digest(spki_der);
    [d[0], d[1], d[2], d[3]]
}

impl Checkpoint {
    /// The signed body: origin, size, base64 root, extensions, each ending in a newline.
    pub fn body(&self) -> String {
        let mut b = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            b.push_str(e);
            b.push('\n');
        }
        b
    }

    /// Signs a new checkpoint with `key`, named after the origin.
    pub fn sign(
        origin: &str,
        size: u64,
        root: Hash,
        signer: &Signer,
    ) -> anyhow::Result<Checkpoint> {
        Checkpoint::sign_with(origin, size, root, Vec::new(), signer)
    }

    /// [`Checkpoint::sign`] with extension lines after the root hash (C2SP allows opaque,
    /// non-empty ones; they are part of the signed body).
    pub fn sign_with(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
        signer: &Signer,
    ) -> anyhow::Result<Checkpoint> {
        if extensions.iter().any(|e| e.is_empty() || e.contains('\n')) {
            anyhow::bail!("a checkpoint extension line must be one non-empty line");
        }
        let mut cp = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
            signatures: Vec::new(),
        };
        let (spki, sig) = signer.sign_note(cp.body().as_bytes())?;
        cp.signatures
            .push((origin.to_owned(), key_id(origin, &spki), sig));
        Ok(cp)
    }

    /// The note's text.
    pub fn to_text(&self) -> String {
        let mut out = self.body();
        out.push('\n');
        for (name, id, sig) in &self.signatures {
            let mut blob = id.to_vec();
            blob.extend_from_slice(sig);
            out.push_str(&format!("\u{2014} {name} {}\n", STANDARD.encode(blob)));
        }
        out
    }

    /// Parses a signed note; says what is malformed.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        if text.contains('\r') {
            return Err("a signed note uses LF line endings only".into());
        }
        // The body has no empty line; the signatures follow the last one.
        let (body, sigs) = text
            .rsplit_once("\n\n")
            .ok_or("not a signed note: no blank line before the signatures")?;
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or("no origin line")?;
        let size = lines
            .next()
            .filter(|l| *l == "0" || (!l.starts_with('0') && l.bytes().all(|b| b.is_ascii_digit())))
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or("the second line is not a tree size")?;
        let root_b64 = lines.next().ok_or("no root hash line")?;
        let root: Hash = STANDARD
            .decode(root_b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or("the root hash is not 32 bytes of base64")?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        let mut signatures = Vec::new();
        for line in sigs.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or("a signature line does not start with an em dash")?;
            let (name, b64) = rest
                .rsplit_once(' ')
                .ok_or("a signature line has no signature")?;
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| "a signature is not base64".to_owned())?;
            if blob.len() < 5 {
                return Err("a signature is too short".into());
            }
            let id: [u8; 4] = [blob[0], blob[1], blob[2], blob[3]];
            signatures.push((name.to_owned(), id, blob[4..].to_vec()));
        }
        if signatures.is_empty() {
            return Err("the note has no signature".into());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
            signatures,
        })
    }

    /// The audit commit this checkpoint says it was appended onto, from its
    /// `promptrail-parent` extension line: `None` when the note has no such line (a log
    /// written before 0.2, or a commit inside a multi-entry append), `Some(None)` for the
    /// log's first commit.
    pub fn parent(&self) -> Option<Option<&str>> {
        self.extensions.iter().find_map(|e| {
            let rest = e.strip_prefix(PARENT_EXTENSION)?;
            Some((rest != NO_PARENT).then_some(rest))
        })
    }

    /// Whether the checkpoint is signed by one of `trust`'s keys or `extra`, or (a keyless
    /// log) by the certificate key of the entry it closes: `closing` reads that entry's bytes,
    /// only when the keys did not sign, and the certificate must verify under `trust`'s
    /// identity policy. `Err` says what signed and what was trusted, without key material.
    pub fn check_trusted(
        &self,
        trust: &crate::signing::Trust,
        extra: &[TrustedKey],
        closing: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        if self.verified_by(&trust.keys).is_some() || self.verified_by(extra).is_some() {
            return Ok(());
        }
        let hex = |id: &[u8; 4]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let signed = self.key_ids();
        let tried: Vec<String> = trust
            .keys
            .iter()
            .chain(extra)
            .map(|k| hex(&key_id("", &k.spki_der)))
            .collect();
        let not_keys = format!(
            "signed by key id(s) {}, none of the trusted key(s) {}",
            signed.join(", "),
            if tried.is_empty() {
                "(none)".to_owned()
            } else {
                tried.join(", ")
            }
        );
        let Some(keyless) = &trust.keyless else {
            return Err(not_keys);
        };
        let bytes = closing()?;
        let (_, st) = crate::layout::decode_entry(&bytes)
            .map_err(|e| format!("{not_keys}; the entry it closes does not decode: {e}"))?;
        let signed = keyless
            .verify_entry(&bytes, &st)
            .map_err(|e| format!("{not_keys}; the entry it closes is not trusted keyless: {e}"))?;
        let key = TrustedKey::from_spki_der(signed.spki, "the closing entry's certificate")
            .map_err(|e| e.to_string())?;
        if self.verified_by(std::slice::from_ref(&key)).is_some() {
            Ok(())
        } else {
            Err(format!(
                "{not_keys}, nor the certificate of the entry it closes ({})",
                signed.identity
            ))
        }
    }

    /// The key ids (hex) its signature lines name.
    pub fn key_ids(&self) -> Vec<String> {
        self.signatures
            .iter()
            .map(|(_, id, _)| id.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    }

    /// The first trusted key with a valid signature on this checkpoint, made under the log's
    /// own name (the origin).
    pub fn verified_by<'a>(&self, keys: &'a [TrustedKey]) -> Option<&'a TrustedKey> {
        let body = self.body();
        keys.iter().find(|k| {
            self.signatures.iter().any(|(name, id, sig)| {
                name == &self.origin
                    && *id == key_id(name, &k.spki_der)
                    && k.verify(sig, body.as_bytes())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_render_parse_verify() {
        let k = crate::signing::generate(b"pw").unwrap();
        let signer = crate::signing::Signer::Key(
            crate::signing::SigningKey::from_encrypted_pem(k.private_pem.as_bytes(), b"pw", "k")
                .unwrap(),
        );
        let trusted = TrustedKey::from_pem(k.public_pem.as_bytes(), "pub").unwrap();
        let cp = Checkpoint::sign("github.com/acme/clinic", 16, [7; 32], &signer).unwrap();
        let text = cp.to_text();
        assert!(
            text.starts_with("github.com/acme/clinic\n16\nBwcH"),
            "{text}"
        );
        assert!(
            text.contains("\n\n\u{2014} github.com/acme/clinic "),
            "{text}"
        );
        let parsed = Checkpoint::parse(&text).unwrap();
        assert_eq!(parsed, cp);
        assert!(parsed.verified_by(std::slice::from_ref(&trusted)).is_some());
        let forged = Checkpoint::parse(&text.replace("\n16\n", "\n17\n")).unwrap();
        assert!(forged.verified_by(std::slice::from_ref(&trusted)).is_none());
        assert!(Checkpoint::parse("x\n1\nAAAA\n").is_err());
        assert!(Checkpoint::parse("x\nnope\nAAAA\n\n\u{2014} x AAAAAAA=\n").is_err());
    }
}
