//! `promptrail prove`: one version's self-contained inclusion proof, for `verify-entry`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::console::parse_target;
use super::{DecodedEntry, Outcome, Workspace};
use crate::checkpoint::Checkpoint;
use crate::cli::ProveArgs;
use crate::ledger::Ledger;
use crate::merkle::{CompactRange, Hash, inclusion_proof, leaf_hash, verify_inclusion};
use crate::proof::Proof;
use crate::store::{CHECKPOINT_FILE, RANGE_FILE, entry_path};
use crate::subtree::Chunks;
use crate::types::{EntryIndex, Oid, PromptPath};

pub fn run(dir: &Path, args: &ProveArgs) -> Result<Outcome> {
    let (path, version) = parse_target(&args.target)?;
    let ws = Workspace::open(dir)?;
    let branch = ws.audit_branch(args.branch.branch.as_deref())?;
    // The version from the state summary (else the whole log): the path's own entry of
    // that version when it has one (what `Ledger::version` looks for first), else the
    // version entries of its lineage (where it looks next).
    let asked = PromptPath::new(&path);
    let statements = super::indexed::entries(&ws, &branch, |view| {
        let own: Vec<EntryIndex> = view
            .history(&asked)?
            .map(|h| h.versions)
            .unwrap_or_default()
            .iter()
            .filter(|v| v.version == version)
            .map(|v| v.entry)
            .collect();
        if !own.is_empty() {
            return Ok(Some(own));
        }
        let lineage = super::indexed::lineage_version_entries(view, &asked)?;
        Ok(Some(lineage.into_iter().collect()))
    })?;
    let ledger = Ledger::new(
        statements
            .iter()
            .map(|DecodedEntry { statement: st, .. }| st),
    );
    let Some(v) = ledger.version(&asked, version) else {
        bail!("{path}@{version} is not in the audit log on {branch}");
    };
    let store = ws.store(&branch);
    let tip = store.resolve_for_reading()?;
    let index = v.entry.0;
    // From the chunk roots on the branch (the leaf's chunk of 1,024 entries read), else from
    // every entry's leaf hash; either way checked against the signed root before it is used.
    let built = match from_chunks(&ws, &tip, index) {
        Ok(built) => built,
        Err(why) => {
            eprintln!(
                "warning: the inclusion proof cannot be built from {}: {why:#}; hashing every \
                 entry instead (run `promptrail verify`)",
                crate::state::TREE_FILE
            );
            from_every_entry(&ws, &store, &tip, index, &branch)?
        }
    };
    let Built {
        entry,
        proof: hashes,
        checkpoint,
        closing,
    } = built;
    let cp = Checkpoint::parse(&checkpoint).map_err(|e| anyhow::anyhow!("{branch}: {e}"))?;
    if !verify_inclusion(index, cp.size, &leaf_hash(&entry), &hashes, &cp.root) {
        bail!(
            "the entries on {branch} do not hash to its signed checkpoint's root: the log was \
             tampered with; run `promptrail verify`"
        );
    }
    // A keyless log's checkpoint is signed by the certificate key of the entry it closes.
    let closing = closing.filter(|bytes| {
        crate::store::decode_entry(bytes).is_ok_and(|(bundle, _)| bundle.is_keyless())
    });
    let proof = Proof::new(index, &entry, &hashes, &checkpoint, closing.as_deref());
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match &args.out {
        Some(f) => {
            std::fs::write(f, text).with_context(|| format!("writing {}", f.display()))?;
            eprintln!(
                "wrote the proof of {path}@{version} (entry {index}) to {}",
                f.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}

/// The pieces of a proof: the entry's bytes, the path, the checkpoint text, and the last
/// entry's bytes (whose key signs a keyless log's checkpoint).
struct Built {
    entry: Vec<u8>,
    proof: Vec<Hash>,
    checkpoint: String,
    closing: Option<Vec<u8>>,
}

/// The proof from `state/tree.json`: the checkpoint's range (believed only with the signed
/// size and root), the chunk roots (believed only when they fold into its peaks) and the
/// leaves of entry `index`'s chunk, read by path. Any piece missing or off is an error.
fn from_chunks(ws: &Workspace, tip: &Oid, index: u64) -> Result<Built> {
    let mut reader = ws.git.object_reader()?;
    let mut file = |path: &str| -> Result<Vec<u8>> {
        match reader.read_bounded(&format!("{tip}:{path}"), 64 << 20)? {
            Some(Ok(o)) if o.kind == "blob" => Ok(o.data),
            Some(Ok(o)) => bail!("{path} is a {}", o.kind),
            Some(Err(size)) => bail!("{path} is {size} bytes"),
            None => bail!("the branch has no {path}"),
        }
    };
    let checkpoint = String::from_utf8(file(CHECKPOINT_FILE)?)
        .map_err(|_| anyhow::anyhow!("the checkpoint is not UTF-8"))?;
    let cp = Checkpoint::parse(&checkpoint).map_err(anyhow::Error::msg)?;
    let range = CompactRange::parse(&String::from_utf8_lossy(&file(RANGE_FILE)?))
        .filter(|r| r.size() == cp.size && r.root() == cp.root)
        .with_context(|| format!("{RANGE_FILE} does not have the signed size and root"))?;
    let chunks = Chunks::parse(&file(crate::state::TREE_FILE)?).map_err(anyhow::Error::msg)?;
    if !chunks.fits(&range) {
        bail!("its chunk roots do not fold into the signed checkpoint's range");
    }
    let span = chunks.block(index, cp.size);
    let last = cp
        .size
        .checked_sub(1)
        .context("the checkpoint covers no entry")?;
    // By id through the tip's trees, each `entries/<dir>` read once (by path, git would
    // re-read a thousand-row tree for each of the chunk's 1,024 entries).
    let mut paths: Vec<String> = span.clone().map(|i| entry_path(EntryIndex(i))).collect();
    paths.push(entry_path(EntryIndex(last)));
    let names: Vec<&str> = paths.iter().map(String::as_str).collect();
    let ids = crate::git::Trees::new(tip).resolve_many(&mut reader, &names)?;
    let specs: Vec<&str> = ids.iter().flatten().map(Oid::as_str).collect();
    let mut found = reader.read_many(&specs)?.into_iter();
    let mut read: Vec<Option<crate::git::Object>> = ids
        .iter()
        .map(|id| id.as_ref().and_then(|_| found.next().flatten()))
        .collect();
    let closing = read.pop().flatten().map(|o| o.data);
    let mut block = Vec::with_capacity(read.len());
    let mut entry = None;
    for (i, o) in span.zip(read) {
        let o = o.with_context(|| format!("entry {i} is not at {}", entry_path(EntryIndex(i))))?;
        block.push(leaf_hash(&o.data));
        if i == index {
            entry = Some(o.data);
        }
    }
    let entry = entry.with_context(|| format!("entry {index} is missing"))?;
    let proof = chunks
        .inclusion_proof(index, &range, &block)
        .context("its chunk roots do not cover the entry")?;
    if !verify_inclusion(index, cp.size, &leaf_hash(&entry), &proof, &cp.root) {
        bail!("the proof built from it does not lead to the signed root");
    }
    Ok(Built {
        entry,
        proof,
        checkpoint,
        closing,
    })
}

/// The proof from every entry's leaf hash: the files are hashed a window at a time, not
/// decoded or held.
fn from_every_entry(
    ws: &Workspace,
    store: &crate::store::Store,
    tip: &Oid,
    index: u64,
    branch: &str,
) -> Result<Built> {
    let listing = store.list(tip)?;
    let Some(checkpoint) = &listing.checkpoint else {
        bail!("{branch} has no checkpoint: record once with this promptrail to write one");
    };
    let index = index as usize;
    let mut reader = ws.git.object_reader()?;
    let mut leaves = Vec::with_capacity(listing.entries.len());
    let (mut entry, mut last) = (None, None);
    for window in listing.entries.chunks(4096) {
        for e in crate::store::read_entries(&mut reader, window)? {
            if leaves.len() == index {
                entry = Some(e.bytes.clone());
            }
            leaves.push(leaf_hash(&e.bytes));
            last = Some(e.bytes);
        }
    }
    let entry = entry.with_context(|| format!("entry {index} is missing from {branch}"))?;
    Ok(Built {
        entry,
        proof: inclusion_proof(index, &leaves),
        checkpoint: String::from_utf8_lossy(checkpoint).into_owned(),
        closing: last,
    })
}
