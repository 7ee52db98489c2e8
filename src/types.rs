//! Small value types that keep prompt paths, versions, digests and key ids apart.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A prompt's id: its repository-relative path with `/` separators, valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PromptPath(String);

impl<'de> Deserialize<'de> for PromptPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(format!(
                "`{}` is not a prompt path",
                s.escape_debug()
            )));
        }
        Ok(PromptPath(s))
    }
}

impl PromptPath {
    /// Builds a prompt path from raw bytes as git prints them (`-z`, unquoted).
    pub fn from_git_bytes(raw: &[u8]) -> Result<Self, String> {
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Self(s.to_owned())),
            Err(_) => Err(String::from_utf8_lossy(raw).into_owned()),
        }
    }

    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromptPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prompt version number: 1, 2, 3… per prompt, in the order versions landed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Version(pub u32);

impl Version {
    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// The position of an entry on the audit log, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryIndex(pub u64);

impl fmt::Display for EntryIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A lowercase hex SHA-256 digest (validated when parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Hex::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{}` is not a lowercase hex SHA-256",
                s.escape_debug()
            ))
        })
    }
}

impl Sha256Hex {
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// Accepts a string only if it is 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, for human output.
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }

    /// The digest's 32 bytes (a compact form for long-lived tables; `hex` gives it back).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            // Validated at construction: 64 lowercase hex digits.
            *byte = self
                .0
                .get(2 * i..2 * i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .unwrap_or(0);
        }
        out
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A git object id (SHA-1 or SHA-256 repositories), lowercase hex (validated when parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Oid(String);

impl<'de> Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Oid::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{}` is not a git object id", s.escape_debug()))
        })
    }
}

impl Oid {
    pub fn parse(s: &str) -> Option<Self> {
        (matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn short(&self) -> &str {
        &self.0[..7]
    }

    /// The all-zero id git uses for "no object" in `--raw` output.
    pub fn is_null(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signing key's id: hex SHA-256 of its public key's SubjectPublicKeyInfo DER.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom("not a key id"));
        }
        Ok(KeyId(s))
    }
}

impl KeyId {
    pub fn from_spki_der(der: &[u8]) -> Self {
        Self(Sha256Hex::of(der).0)
    }

    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_is_the_known_value() {
        assert_eq!(
            Sha256Hex::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn oid_and_digest_parsing_reject_bad_input() {
        assert!(Oid::parse("abc").is_none());
        assert!(Oid::parse(&"A".repeat(40)).is_none());
        assert!(Oid::parse(&"a".repeat(40)).is_some());
        assert!(Sha256Hex::parse(&"0".repeat(63)).is_none());
        assert!(Oid::parse(&"0".repeat(40)).unwrap().is_null());
    }

    #[test]
    fn non_utf8_prompt_paths_are_refused_with_a_readable_name() {
        let err = PromptPath::from_git_bytes(b"prompts/caf\xe9.md").unwrap_err();
        assert_eq!(err, "prompts/caf\u{fffd}.md");
    }
}
