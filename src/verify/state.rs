//! PT017: the state summary on the branch must be the one recomputed from the entries, file
//! for file and byte for byte, and its index the one the checkpoint binds.

use anyhow::Context as _;

use super::{Check, Evidence, Finding};
use crate::state::{INDEX_FILE, Summary, TREE_FILE, bound_index, parse};
use crate::types::{Oid, Sha256Hex};

/// Differences reported per state file (the first ones; one is enough to reject it).
const PER_FILE: usize = 5;

fn state_finding(file: &str, evidence: Evidence) -> Finding {
    Finding::new(Check::State, evidence).in_file(file)
}

/// Compares the summary recomputed from every entry (with `tree`, the chunk roots of the
/// entries' leaf hashes, as [`TREE_FILE`]) with the branch's state files (path, blob id) and
/// the checkpoint's binding. A branch without any state file (a log written before the
/// summary existed) has nothing to compare, unless its checkpoint binds one.
///
/// A file is the recomputed one when its git blob id is the id of the recomputed bytes (the
/// same byte-for-byte equality, without reading the branch's copy: on a long log the
/// summary is tens of MiB); `read` fetches the bytes of the index and of any file that
/// differs (to describe how), and of every file when the ids are not SHA-1.
pub fn check_state(
    expected: &Summary,
    tree: &crate::subtree::Chunks,
    found: &[(String, Oid)],
    read: &mut dyn FnMut(&Oid) -> anyhow::Result<Vec<u8>>,
    checkpoint: Option<&[u8]>,
) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    let bound = checkpoint
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| crate::checkpoint::Checkpoint::parse(t).ok())
        .map(|cp| bound_index(&cp.extensions));
    if found.is_empty() {
        if let Some(Ok(Some(h))) = bound {
            out.push(state_finding(
                INDEX_FILE,
                Evidence {
                    expected: &format!("the state index the checkpoint binds (sha256:{h})"),
                    found: "no state/ files",
                    message: "the checkpoint binds a state summary the branch does not have",
                },
            ));
        }
        return Ok(out);
    }
    // A summary of an older format (written by an older promptrail) is believed by no
    // reader of this one and replaced whole by the next append: its files are not compared
    // (its binding still is).
    let index_bytes = match found.iter().find(|(p, _)| p == INDEX_FILE) {
        Some((_, oid)) => Some(read(oid)?),
        None => None,
    };
    let older = index_bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("format").and_then(serde_json::Value::as_u64))
        .is_some_and(|f| f < u64::from(crate::state::FORMAT));
    // By path: a long log's summary has a file per prompt.
    let by_path: std::collections::HashMap<&str, &Oid> =
        found.iter().map(|(p, o)| (p.as_str(), o)).collect();
    let mut expected_paths: std::collections::HashSet<String> = std::collections::HashSet::new();
    // File by file: the recomputed summary's encoding (tens of MiB on a long log) is never
    // held whole.
    let tree = tree.to_bytes();
    expected
        .encode_each(&[(TREE_FILE, &tree)], &mut |path, want| {
            expected_paths.insert(path.to_owned());
            if older {
                return Ok(());
            }
            match by_path.get(path) {
                None => out.push(state_finding(
                    path,
                    Evidence {
                        expected: &format!("{path} (recomputed from the entries)"),
                        found: "no such file",
                        message: &format!("state file {path} is missing"),
                    },
                )),
                Some(have) => {
                    let same = match crate::verify::shape::parse_id(have.as_str()) {
                        Some(id) => id == crate::verify::shape::blob_id(want),
                        None => read(have)? == want,
                    };
                    if !same {
                        out.extend(describe(path, want, &read(have)?));
                    }
                }
            }
            Ok(())
        })
        .context("comparing the state summary recomputed from the entries with the branch's")?;
    for (path, _) in found.iter().filter(|_| !older) {
        if !expected_paths.contains(path) {
            out.push(state_finding(
                path,
                Evidence {
                    expected: "no such file (the entries give it no state)",
                    found: &path.clone(),
                    message: &format!("extra state file {path}"),
                },
            ));
        }
    }
    let index_found = index_bytes.as_deref().map(Sha256Hex::of);
    match (bound, index_found) {
        (Some(Ok(Some(h))), Some(i)) if h == i => {}
        (Some(Ok(Some(h))), i) => out.push(state_finding(
            crate::layout::CHECKPOINT_FILE,
            Evidence {
                expected: &format!(
                    "the state line names sha256:{}",
                    i.map_or("(no index)".to_owned(), |i| i.to_string())
                ),
                found: &format!("sha256:{h}"),
                message: &format!("the checkpoint binds another {INDEX_FILE} than the branch's"),
            },
        )),
        (Some(Err(e)), _) => out.push(state_finding(
            crate::layout::CHECKPOINT_FILE,
            Evidence {
                expected: "one `promptrail-state sha256:<hex>` line",
                found: &e,
                message: "the checkpoint's state binding cannot be read",
            },
        )),
        (Some(Ok(None)) | None, _) => out.push(state_finding(
            crate::layout::CHECKPOINT_FILE,
            Evidence {
                expected: &format!("a `promptrail-state` line binding {INDEX_FILE}"),
                found: "no state line",
                message: "the branch has a state summary its checkpoint does not bind",
            },
        )),
    }
    Ok(out)
}

/// What differs in one file: its fields (JSON pointers), or its bytes when it is not JSON.
fn describe(path: &str, want: &[u8], have: &[u8]) -> Vec<Finding> {
    let expected: serde_json::Value = match parse(path, want) {
        Ok(v) => v,
        Err(e) => {
            return vec![state_finding(
                path,
                Evidence {
                    expected: "valid JSON",
                    found: &e,
                    message: &e_msg(path),
                },
            )];
        }
    };
    let found: serde_json::Value = match parse(path, have) {
        Ok(v) => v,
        Err(e) => {
            return vec![state_finding(
                path,
                Evidence {
                    expected: &format!("sha256:{}", Sha256Hex::of(want)),
                    found: &e,
                    message: &e_msg(path),
                },
            )];
        }
    };
    let diffs = crate::state::differences(&expected, &found, PER_FILE);
    if diffs.is_empty() {
        // Same JSON, other bytes (spacing, key order): not the canonical encoding.
        return vec![state_finding(
            path,
            Evidence {
                expected: &format!("sha256:{} (canonical encoding)", Sha256Hex::of(want)),
                found: &format!("sha256:{}", Sha256Hex::of(have)),
                message: &e_msg(path),
            },
        )];
    }
    diffs
        .into_iter()
        .map(|(at, e, f)| {
            state_finding(
                path,
                Evidence {
                    expected: &format!("{at} = {e}"),
                    found: &format!("{at} = {f}"),
                    message: &format!(
                        "state file {path} differs from the summary recomputed from the entries"
                    ),
                },
            )
        })
        .collect()
}

fn e_msg(path: &str) -> String {
    format!("state file {path} differs from the summary recomputed from the entries")
}
