//! The external trust anchor: the key ids CI trusts, set from outside the branch under review
//! (`PROMPTRAIL_TRUSTED_KEY_IDS`, fed from a repository variable only admins can change).
//!
//! Without it, the readers and `gate` trust the keys the working tree's `.promptrail.yml`
//! names, and on a branch an insider pushed that file is theirs: their own key, pinned,
//! signs a forged audit branch tip the gate then believes. With it, only keys whose id it
//! lists are trusted, whatever `.promptrail.yml` or `--key` says. Parsing is strict: a value
//! that is set but names nothing, or an item that is not exactly a key id as `keygen` prints
//! it, is an error, never "no anchor".
//!
//! Beside it: the keyless anchor ([`IdentityAnchor`], `PROMPTRAIL_TRUSTED_IDENTITIES`) and the
//! workflow's word on the transparency log ([`TRANSPARENCY_ENV`]), which the identity anchor
//! takes instead of the checkout's `signing.transparency`.

use std::collections::BTreeSet;

use crate::types::{KeyId, Sha256Hex};

/// The environment variable CI sets: comma-separated key ids.
pub const TRUSTED_KEY_IDS_ENV: &str = "PROMPTRAIL_TRUSTED_KEY_IDS";

/// The key ids trusted from outside the repository (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAnchor {
    ids: BTreeSet<String>,
}

/// Why a `PROMPTRAIL_TRUSTED_KEY_IDS` value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnchorError {
    #[error(
        "{TRUSTED_KEY_IDS_ENV} is set but names no key id: set it to the comma-separated key \
         ids to trust (what `promptrail keygen` prints), or unset it"
    )]
    Empty,
    #[error(
        "{TRUSTED_KEY_IDS_ENV}: item {position} is empty (two commas, or one at an end): list \
         the key ids separated by single commas"
    )]
    EmptyItem { position: usize },
    #[error(
        "{TRUSTED_KEY_IDS_ENV}: item {position} ({shown}) is not a key id: expected the 64 \
         lowercase hex digits `promptrail keygen` prints{hint}"
    )]
    NotAKeyId {
        position: usize,
        shown: String,
        hint: &'static str,
    },
    #[error("{TRUSTED_KEY_IDS_ENV} is not valid UTF-8")]
    NotUtf8,
}

impl KeyAnchor {
    /// Parses the variable's value. Items are separated by commas, with spaces (or a
    /// newline, as a pasted variable may end) around an item ignored; each must be 64
    /// lowercase hex digits. An uppercase id is refused rather than folded: the anchor is
    /// compared byte for byte, as the ids are printed.
    pub fn parse(value: &str) -> Result<KeyAnchor, AnchorError> {
        if value.trim().is_empty() {
            return Err(AnchorError::Empty);
        }
        let mut ids = BTreeSet::new();
        for (i, item) in value.split(',').enumerate() {
            let position = i + 1;
            let item = item.trim();
            if item.is_empty() {
                return Err(AnchorError::EmptyItem { position });
            }
            if Sha256Hex::parse(item).is_none() {
                let hint = if Sha256Hex::parse(&item.to_ascii_lowercase()).is_some() {
                    " (in lowercase)"
                } else if item.contains(char::is_whitespace) {
                    " (separate ids with commas)"
                } else {
                    ""
                };
                return Err(AnchorError::NotAKeyId {
                    position,
                    shown: shown(item),
                    hint,
                });
            }
            ids.insert(item.to_owned());
        }
        Ok(KeyAnchor { ids })
    }

    /// The anchor from the environment: `None` when the variable is unset; set, it must
    /// parse (an empty value is an error, not "no anchor").
    pub fn from_env() -> Result<Option<KeyAnchor>, AnchorError> {
        match std::env::var_os(TRUSTED_KEY_IDS_ENV) {
            None => Ok(None),
            Some(v) => KeyAnchor::parse(v.to_str().ok_or(AnchorError::NotUtf8)?).map(Some),
        }
    }

    /// Whether `id` is one of the anchored key ids (byte for byte).
    pub fn lists(&self, id: &KeyId) -> bool {
        self.ids.contains(id.as_str())
    }

    /// The anchored key ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }
}

/// The environment variable CI sets for keyless mode: comma-separated certificate
/// identities (exact), as `signing.identities` lists them.
pub const TRUSTED_IDENTITIES_ENV: &str = "PROMPTRAIL_TRUSTED_IDENTITIES";

/// The certificate identities trusted from outside the repository (keyless mode; at least
/// one). While it is set, keyless trust rests on these identities alone, the OIDC issuer
/// given by flag (else GitHub's) and the trusted root given by flag or
/// `PROMPTRAIL_TRUSTED_ROOT` (else Sigstore's public-good root): never on the identities,
/// patterns, issuer or trusted root the working tree's `.promptrail.yml` names, which an
/// insider could point at a workflow or a certificate authority of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityAnchor {
    identities: BTreeSet<String>,
}

/// Why a `PROMPTRAIL_TRUSTED_IDENTITIES` value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityAnchorError {
    #[error(
        "{TRUSTED_IDENTITIES_ENV} is set but names no identity: set it to the comma-separated \
         certificate identities to trust (e.g. \
         https://github.com/OWNER/REPO/.github/workflows/record.yml@refs/heads/main), or unset it"
    )]
    Empty,
    #[error(
        "{TRUSTED_IDENTITIES_ENV}: item {position} is empty (two commas, or one at an end): \
         list the identities separated by single commas"
    )]
    EmptyItem { position: usize },
    #[error(
        "{TRUSTED_IDENTITIES_ENV}: item {position} ({shown}) is not a certificate identity: \
         expected an https:// URI (a workflow identity) or an email address, without spaces, \
         matched exactly (patterns are not accepted here)"
    )]
    NotAnIdentity { position: usize, shown: String },
    #[error("{TRUSTED_IDENTITIES_ENV} is not valid UTF-8")]
    NotUtf8,
}

impl IdentityAnchor {
    /// Parses the variable's value: items separated by commas, spaces (or a trailing
    /// newline) around an item ignored; each an `https://` URI or an email address with no
    /// space or control character in it, compared exactly.
    pub fn parse(value: &str) -> Result<IdentityAnchor, IdentityAnchorError> {
        if value.trim().is_empty() {
            return Err(IdentityAnchorError::Empty);
        }
        let mut identities = BTreeSet::new();
        for (i, item) in value.split(',').enumerate() {
            let position = i + 1;
            let item = item.trim();
            if item.is_empty() {
                return Err(IdentityAnchorError::EmptyItem { position });
            }
            let uri = item
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
            let email = item
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && !item.contains('/');
            if !(uri || email)
                || item
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*')
            {
                return Err(IdentityAnchorError::NotAnIdentity {
                    position,
                    shown: shown(item),
                });
            }
            identities.insert(item.to_owned());
        }
        Ok(IdentityAnchor { identities })
    }

    /// The anchor from the environment: `None` when the variable is unset; set, it must
    /// parse (an empty value is an error, not "no anchor").
    pub fn from_env() -> Result<Option<IdentityAnchor>, IdentityAnchorError> {
        match std::env::var_os(TRUSTED_IDENTITIES_ENV) {
            None => Ok(None),
            Some(v) => {
                IdentityAnchor::parse(v.to_str().ok_or(IdentityAnchorError::NotUtf8)?).map(Some)
            }
        }
    }

    /// The anchored identities, sorted.
    pub fn identities(&self) -> impl Iterator<Item = &str> {
        self.identities.iter().map(String::as_str)
    }
}

/// An item as an error shows it: at most 80 characters, control characters escaped.
fn shown(item: &str) -> String {
    let mut s: String = item.chars().take(80).flat_map(char::escape_debug).collect();
    if item.chars().count() > 80 {
        s.push('…');
    }
    format!("`{s}`")
}

/// The environment variable a workflow sets to say whether keyless entries must be in a
/// transparency log: `true` or `false`, the workflow's word over `signing.transparency`.
/// Under [`IdentityAnchor`] the checkout's `signing.transparency: false` is not used (it would
/// let entries without a Rekor entry, checked at the time they claim, be trusted): keyless
/// entries must be logged unless this says `false`.
pub const TRANSPARENCY_ENV: &str = "PROMPTRAIL_TRANSPARENCY";

/// [`TRANSPARENCY_ENV`]'s value: `None` when unset; set, exactly `true` or `false` (spaces
/// around it ignored), anything else an error naming the variable.
pub fn transparency_from_env() -> Result<Option<bool>, String> {
    let Some(v) = std::env::var_os(TRANSPARENCY_ENV) else {
        return Ok(None);
    };
    match v.to_str().map(str::trim) {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!(
            "{TRANSPARENCY_ENV} is `{}`: set it to `true` or `false`, or unset it",
            shown(other)
        )),
        None => Err(format!("{TRANSPARENCY_ENV} is not valid UTF-8")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f0c1c9a0a1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990011";
    const B: &str = "aa0c1c9a0a1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990011";

    #[test]
    fn lists_exactly_the_ids_given() {
        let anchor = KeyAnchor::parse(&format!(" {A} ,{B}\n")).unwrap();
        assert!(anchor.lists(&KeyId::new(A)));
        assert!(anchor.lists(&KeyId::new(B)));
        assert!(!anchor.lists(&KeyId::new(A.replace('3', "4"))));
        assert_eq!(anchor.ids().collect::<Vec<_>>(), vec![A, B]);
        assert_eq!(
            KeyAnchor::parse(&format!("{A},{A}")).unwrap().ids().count(),
            1
        );
    }

    #[test]
    fn hostile_values_are_refused_never_taken_for_no_anchor() {
        let upper = A.to_ascii_uppercase();
        let cases: Vec<(String, AnchorError)> = vec![
            (String::new(), AnchorError::Empty),
            ("   ".into(), AnchorError::Empty),
            ("\n".into(), AnchorError::Empty),
            (",".into(), AnchorError::EmptyItem { position: 1 }),
            (format!("{A},"), AnchorError::EmptyItem { position: 2 }),
            (format!("{A},,{B}"), AnchorError::EmptyItem { position: 2 }),
            (
                upper.clone(),
                AnchorError::NotAKeyId {
                    position: 1,
                    shown: format!("`{upper}`"),
                    hint: " (in lowercase)",
                },
            ),
            (
                format!("{A} {B}"),
                AnchorError::NotAKeyId {
                    position: 1,
                    shown: shown(&format!("{A} {B}")),
                    hint: " (separate ids with commas)",
                },
            ),
            (
                A[..63].to_owned(),
                AnchorError::NotAKeyId {
                    position: 1,
                    shown: format!("`{}`", &A[..63]),
                    hint: "",
                },
            ),
            (
                format!("sha256:{A}"),
                AnchorError::NotAKeyId {
                    position: 1,
                    shown: format!("`sha256:{A}`"),
                    hint: "",
                },
            ),
            (
                format!("{B},*"),
                AnchorError::NotAKeyId {
                    position: 2,
                    shown: "`*`".into(),
                    hint: "",
                },
            ),
        ];
        for (value, want) in cases {
            assert_eq!(KeyAnchor::parse(&value), Err(want), "{value:?}");
        }
    }

    const WORKFLOW: &str =
        "https://github.com/acme/clinic/.github/workflows/record.yml@refs/heads/main";

    #[test]
    fn identities_are_taken_exactly() {
        let anchor = IdentityAnchor::parse(&format!(" {WORKFLOW} , ops@example.com\n")).unwrap();
        assert_eq!(
            anchor.identities().collect::<Vec<_>>(),
            vec![WORKFLOW, "ops@example.com"]
        );
    }

    #[test]
    fn hostile_identity_values_are_refused_never_taken_for_no_anchor() {
        use IdentityAnchorError::*;
        for (value, want) in [
            ("", Empty),
            (" \n", Empty),
            (",", EmptyItem { position: 1 }),
            (&format!("{WORKFLOW},") as &str, EmptyItem { position: 2 }),
        ] {
            assert_eq!(IdentityAnchor::parse(value), Err(want), "{value:?}");
        }
        for (value, position) in [
            ("https://github.com/acme/.*", 1),
            ("http://github.com/acme/clinic/x.yml@refs/heads/main", 1),
            ("https://", 1),
            ("https:///etc", 1),
            ("github.com/acme/clinic", 1),
            ("@example.com", 1),
            ("ops@localhost", 1),
            (&format!("{WORKFLOW} {WORKFLOW}") as &str, 1),
            (
                &format!("{WORKFLOW},https://github.com/acme/clinic/\u{1b}[2J") as &str,
                2,
            ),
            ("*", 1),
        ] {
            match IdentityAnchor::parse(value) {
                Err(NotAnIdentity { position: p, .. }) => assert_eq!(p, position, "{value:?}"),
                other => panic!("{value:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_shows_a_long_or_odd_item_bounded_and_escaped() {
        let long = "x".repeat(500);
        let Err(AnchorError::NotAKeyId { shown, .. }) = KeyAnchor::parse(&long) else {
            panic!("accepted");
        };
        assert_eq!(shown.chars().count(), 83);
        let Err(AnchorError::NotAKeyId { shown, .. }) = KeyAnchor::parse("a\u{1b}[2Jb") else {
            panic!("accepted");
        };
        assert_eq!(shown, "`a\\u{1b}[2Jb`");
    }
}
