//! The verification checks as one table: each check's stable code, its name (as the text
//! and JSON output show it) and what fails it, defined once. README's "Verification checks"
//! table lists exactly these rows (a test keeps them equal). A new check gets a new code,
//! never a reused one.

use serde::{Serialize, Serializer};

/// Defines [`Check`] and its table from one list of `Variant = code, name, description;`.
macro_rules! checks {
    ($($variant:ident = $code:literal, $name:literal, $description:literal;)*) => {
        /// A verification check, with its stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Check {
            $(
                #[doc = concat!($code, " (", $name, "): fails when ", $description, ".")]
                $variant,
            )*
        }

        impl Check {
            /// Every check, in code order.
            pub const ALL: &[Check] = &[$(Check::$variant),*];

            /// The stable code, `PTnnn`.
            pub fn code(self) -> &'static str {
                match self {
                    $(Check::$variant => $code,)*
                }
            }

            /// The check's name, kebab-case (also its JSON form).
            pub fn name(self) -> &'static str {
                match self {
                    $(Check::$variant => $name,)*
                }
            }

            /// When the check fails, in a sentence's words (README's "fails when").
            pub fn description(self) -> &'static str {
                match self {
                    $(Check::$variant => $description,)*
                }
            }
        }
    };
}

checks! {
    Signature = "PT001", "signature",
        "the DSSE signature does not verify with the trusted key it names";
    Chain = "PT002", "chain",
        "`log.previous` is not the SHA-256 of the previous entry file (an earlier entry was \
        altered, removed or reordered)";
    Index = "PT003", "index",
        "entries are not 0, 1, 2… matching their file names (missing, swapped, duplicated, \
        replayed)";
    UntrustedKey = "PT004", "untrusted-key",
        "the entry is signed by a key not given with `--key`";
    Digest = "PT005", "digest",
        "a recorded `sha256` or `gitBlob` differs from the file in the repository's history";
    Numbering = "PT006", "numbering",
        "a prompt's versions are not numbered without gaps, a rename/deletion names a version \
        that was not live, or `readded` names a prompt that was not deleted";
    Format = "PT007", "format",
        "not a Sigstore bundle v0.3 / DSSE envelope / in-toto Statement v1 of our predicate \
        type, or not exactly one signature whose keyid equals the bundle's key hint";
    Origin = "PT008", "origin",
        "the entry names another repository than the log's `promptrail.json`";
    Layout = "PT009", "layout",
        "the branch has no `promptrail.json`, or files outside the layout";
    History = "PT010", "history",
        "a commit of the audit branch did more than append the next entry (an entry changed or \
        deleted in place, a merge, a missing root)";
    Checkpoint = "PT011", "checkpoint",
        "the branch's `checkpoint` is missing, not signed by a trusted key, or does not commit \
        to the entries (size, RFC 6962 root, origin), or the tip is not the commit it was \
        signed for (its parent is not the one the checkpoint names)";
    Consistency = "PT012", "consistency",
        "with `--checkpoint FILE`: the log is not an append-only extension of the checkpoint \
        you kept (truncated, or history rewritten)";
    KeyWindow = "PT013", "key-window",
        "an entry was signed by a key outside that key's validity window (a retired key, or one \
        not yet valid)";
    Deployment = "PT014", "deployment",
        "a deployment or rollback names a version that was not recorded before it with the same \
        content, or was not approved";
    Certificate = "PT015", "certificate",
        "a keyless entry's certificate does not chain to the trusted Fulcio at its signing time \
        (expired, another root), its SCT, Rekor inclusion proof or signed entry timestamp does \
        not verify, it has no Rekor entry where one is required, or the signature does not \
        verify with the certificate's key";
    Identity = "PT016", "identity",
        "a keyless entry's certificate names a workflow identity or OIDC issuer the policy does \
        not allow (a pull request's workflow, another repository), or no identity policy is \
        configured";
    State = "PT017", "state",
        "the state summary (`state/`) is not the one recomputed from the entries: a file's \
        field differs (named by JSON pointer, expected vs found; `state/tree.json`'s chunk \
        roots are recomputed from the entries' leaf hashes), a state file is missing or \
        extra, the index does not list the files' SHA-256 or the tree size, or the \
        checkpoint's `promptrail-state` line does not bind `state/index.json` (or binds a \
        summary the branch lacks)";
    Policy = "PT018", "policy",
        "the entry names a policy that was not in force for it (recomputed from the log: the \
        newest `.promptrail.yml` version that landed approved before it, or the adoption \
        baseline), an adoption-baseline entry follows ordinary ones, the policy in force \
        cannot be read back from the repository, or a version entry's rule or required count \
        is not the one that policy sets";
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_numbered_in_order() {
        let codes: HashSet<&str> = Check::ALL.iter().map(|c| c.code()).collect();
        let names: HashSet<&str> = Check::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(codes.len(), Check::ALL.len(), "a code is used twice");
        assert_eq!(names.len(), Check::ALL.len(), "a name is used twice");
        for (i, check) in Check::ALL.iter().enumerate() {
            assert_eq!(check.code(), format!("PT{:03}", i + 1), "{check:?}");
            assert_eq!(
                serde_json::to_value(check).ok(),
                Some(serde_json::Value::String(check.name().to_owned()))
            );
        }
    }

    /// README's "Verification checks" table, row by row: `| code | check | fails when |`.
    fn readme_rows() -> Vec<(String, String, String)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split_once("## Verification checks")
            .map(|(_, rest)| rest.split_once("\n## ").map_or(rest, |(s, _)| s))
            .expect("README has a Verification checks section");
        section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line
                    .strip_prefix('|')?
                    .strip_suffix('|')?
                    .split(" | ")
                    .map(str::trim)
                    .collect();
                match cells.as_slice() {
                    [code, name, description] if code.starts_with("PT") => Some((
                        (*code).to_owned(),
                        (*name).to_owned(),
                        (*description).to_owned(),
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn the_readme_table_lists_exactly_the_checks() {
        let expected: Vec<(String, String, String)> = Check::ALL
            .iter()
            .map(|c| {
                (
                    c.code().to_owned(),
                    c.name().to_owned(),
                    c.description().to_owned(),
                )
            })
            .collect();
        assert_eq!(readme_rows(), expected);
    }
}
