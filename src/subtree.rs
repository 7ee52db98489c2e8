//! Complete-subtree hashes of the log's Merkle tree (pure): `state/tree.json` lists the root
//! of every complete chunk of 1,024 leaves, so that an inclusion proof reads the leaf's
//! chunk, these roots and the checkpoint's range instead of every entry.
//!
//! Nothing here is believed on its own: [`Chunks::fits`] checks that the roots fold into
//! every peak of a compact range (which the caller has checked against the signed
//! checkpoint's size and root), and a proof built from them is checked against that root
//! before it is used. A wrong list therefore fails closed: the caller reads every entry.
//!
//! ```text
//! {"chunkLeaves":1024,"roots":["<hex SHA-256>", …]}    roots of leaves [0, 1024), [1024, 2048), …
//! ```

use serde::{Deserialize, Serialize};

use crate::merkle::{CompactRange, Hash, node_hash, root, split};

/// Leaves per chunk: `2^CHUNK_HEIGHT`.
pub const CHUNK_HEIGHT: u32 = 10;

/// The roots of the complete chunks of a tree, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunks {
    height: u32,
    roots: Vec<Hash>,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks::with_height(CHUNK_HEIGHT)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Wire {
    chunk_leaves: u64,
    roots: Vec<String>,
}

impl Chunks {
    fn with_height(height: u32) -> Chunks {
        Chunks {
            height,
            roots: Vec::new(),
        }
    }

    fn leaves_per_chunk(&self) -> u64 {
        1 << self.height
    }

    /// The chunk roots of a tree with these leaves.
    pub fn of(leaves: &[Hash]) -> Chunks {
        Chunks::of_height(leaves, CHUNK_HEIGHT)
    }

    fn of_height(leaves: &[Hash], height: u32) -> Chunks {
        Chunks {
            height,
            roots: leaves.chunks_exact(1 << height).map(root).collect(),
        }
    }

    /// Complete chunks.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Pushes a leaf onto `range` (the tree these chunks belong to) and records the chunk it
    /// completes.
    pub fn push(&mut self, range: &mut CompactRange, leaf: Hash) {
        if let Some(h) = range.push_completing(leaf, self.height) {
            self.roots.push(h);
        }
    }

    /// Whether these are the chunks of the tree `range` is the right edge of: one root per
    /// complete chunk, folding into every peak of a chunk or more.
    pub fn fits(&self, range: &CompactRange) -> bool {
        if self.roots.len() as u64 != range.size() >> self.height {
            return false;
        }
        let mut start = 0usize;
        for (h, hash) in range.peaks() {
            if *h < self.height {
                break;
            }
            let n = 1usize << (h - self.height);
            match self.roots.get(start..start + n) {
                Some(roots) if root(roots) == *hash => {}
                _ => return false,
            }
            start += n;
        }
        true
    }

    /// The leaves `[start, end)` of the chunk holding leaf `index` in a tree of `size`:
    /// what [`Chunks::inclusion_proof`] needs besides the chunk roots and the range.
    pub fn block(&self, index: u64, size: u64) -> std::ops::Range<u64> {
        let start = index >> self.height << self.height;
        start..size.min(start + self.leaves_per_chunk())
    }

    /// The RFC 6962 inclusion proof of leaf `index` in the tree `range` is the edge of,
    /// given the leaves of its [`Chunks::block`]. `None` when the pieces do not cover it
    /// (a block of the wrong length, chunks that are not this tree's). The caller checks
    /// the proof against the signed root.
    pub fn inclusion_proof(
        &self,
        index: u64,
        range: &CompactRange,
        block: &[Hash],
    ) -> Option<Vec<Hash>> {
        let size = range.size();
        let span = self.block(index, size);
        if index >= size || block.len() as u64 != span.end - span.start {
            return None;
        }
        let mut peaks = Vec::new();
        let mut at = 0u64;
        for (h, hash) in range.peaks() {
            peaks.push((at, 1u64 << h, *hash));
            at += 1u64 << h;
        }
        let tree = Pieces {
            chunks: self,
            block_start: span.start,
            block,
            peaks,
        };
        tree.path(index, 0, size)
    }

    /// The compact JSON form stored as `state/tree.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = Wire {
            chunk_leaves: self.leaves_per_chunk(),
            roots: self.roots.iter().map(|h| crate::types::hex(h)).collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Parses [`Chunks::to_bytes`].
    pub fn parse(bytes: &[u8]) -> Result<Chunks, String> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| format!("not valid: {e}"))?;
        if wire.chunk_leaves != 1 << CHUNK_HEIGHT {
            return Err(format!(
                "chunkLeaves is {}, this promptrail uses {}",
                wire.chunk_leaves,
                1u64 << CHUNK_HEIGHT
            ));
        }
        let roots = wire
            .roots
            .iter()
            .map(|h| parse_hash(h).ok_or_else(|| format!("`{h}` is not a hex SHA-256")))
            .collect::<Result<_, _>>()?;
        Ok(Chunks {
            height: CHUNK_HEIGHT,
            roots,
        })
    }
}

fn parse_hash(hex: &str) -> Option<Hash> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// What a proof may be built from: chunk roots, one chunk's leaves, the range's peaks.
struct Pieces<'a> {
    chunks: &'a Chunks,
    block_start: u64,
    block: &'a [Hash],
    /// (first leaf, leaves, root) of each peak.
    peaks: Vec<(u64, u64, Hash)>,
}

impl Pieces<'_> {
    /// MTH of leaves `[lo, lo + n)`, from whichever piece covers them.
    fn subtree(&self, lo: u64, n: u64) -> Option<Hash> {
        let block_end = self.block_start + self.block.len() as u64;
        if lo >= self.block_start && lo + n <= block_end {
            let from = (lo - self.block_start) as usize;
            return Some(root(&self.block[from..from + n as usize]));
        }
        let per = self.chunks.leaves_per_chunk();
        if n == per
            && lo.is_multiple_of(per)
            && let Some(h) = self.chunks.roots.get((lo / per) as usize)
        {
            return Some(*h);
        }
        if let Some((_, _, h)) = self.peaks.iter().find(|(s, len, _)| *s == lo && *len == n) {
            return Some(*h);
        }
        if n < 2 {
            return None;
        }
        let k = split(n as usize) as u64;
        Some(node_hash(
            &self.subtree(lo, k)?,
            &self.subtree(lo + k, n - k)?,
        ))
    }

    /// PATH(m - lo, D[lo, lo + n)), as [`crate::merkle::inclusion_proof`] computes it.
    fn path(&self, m: u64, lo: u64, n: u64) -> Option<Vec<Hash>> {
        if n <= 1 {
            return Some(Vec::new());
        }
        let k = split(n as usize) as u64;
        if m < lo + k {
            let mut p = self.path(m, lo, k)?;
            p.push(self.subtree(lo + k, n - k)?);
            Some(p)
        } else {
            let mut p = self.path(m, lo + k, n - k)?;
            p.push(self.subtree(lo, k)?);
            Some(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, leaf_hash, verify_inclusion};

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn range_of(leaves: &[Hash], height: u32) -> (CompactRange, Chunks) {
        let mut range = CompactRange::default();
        let mut chunks = Chunks::with_height(height);
        for l in leaves {
            chunks.push(&mut range, *l);
        }
        (range, chunks)
    }

    #[test]
    fn proofs_from_chunks_equal_proofs_from_every_leaf() {
        // Chunks of 4 leaves, every index of every size up to 40: the same proof as the one
        // computed from all leaves.
        for height in [0, 1, 2, 3] {
            let all = leaves(40);
            for size in 1..=all.len() {
                let l = &all[..size];
                let (range, chunks) = range_of(l, height);
                assert_eq!(chunks, Chunks::of_height(l, height), "size {size}");
                assert!(chunks.fits(&range), "size {size}");
                for m in 0..size as u64 {
                    let span = chunks.block(m, size as u64);
                    let block = &l[span.start as usize..span.end as usize];
                    let proof = chunks.inclusion_proof(m, &range, block).unwrap();
                    assert_eq!(proof, inclusion_proof(m as usize, l), "{m} of {size}");
                    assert!(verify_inclusion(
                        m,
                        size as u64,
                        &l[m as usize],
                        &proof,
                        &range.root()
                    ));
                }
            }
        }
    }

    #[test]
    fn a_wrong_chunk_root_does_not_fit_and_gives_no_valid_proof() {
        let all = leaves(37);
        let (range, chunks) = range_of(&all, 2);
        for i in 0..chunks.len() {
            let mut bad = chunks.clone();
            bad.roots[i][0] ^= 1;
            assert!(!bad.fits(&range), "chunk {i}");
            // A proof that uses the bad root does not lead to the signed root.
            for m in 0..all.len() as u64 {
                let span = bad.block(m, all.len() as u64);
                let block = &all[span.start as usize..span.end as usize];
                if let Some(p) = bad.inclusion_proof(m, &range, block)
                    && p != inclusion_proof(m as usize, &all)
                {
                    assert!(!verify_inclusion(
                        m,
                        all.len() as u64,
                        &all[m as usize],
                        &p,
                        &range.root()
                    ));
                }
            }
        }
        let mut short = chunks.clone();
        short.roots.pop();
        assert!(!short.fits(&range));
        let mut long = chunks.clone();
        long.roots.push([0; 32]);
        assert!(!long.fits(&range));
        // A block of the wrong length gives no proof.
        assert!(chunks.inclusion_proof(5, &range, &all[4..7]).is_none());
    }

    #[test]
    fn the_file_round_trips_and_refuses_other_shapes() {
        let all = leaves(3000);
        let chunks = Chunks::of(&all);
        assert_eq!(chunks.len(), 2);
        let bytes = chunks.to_bytes();
        assert_eq!(Chunks::parse(&bytes).unwrap(), chunks);
        assert!(Chunks::parse(br#"{"chunkLeaves":4,"roots":[]}"#).is_err());
        assert!(Chunks::parse(br#"{"chunkLeaves":1024,"roots":["ab"]}"#).is_err());
        assert!(Chunks::parse(br#"{"chunkLeaves":1024,"roots":[],"x":1}"#).is_err());
        assert_eq!(
            Chunks::parse(br#"{"chunkLeaves":1024,"roots":[]}"#).unwrap(),
            Chunks::default()
        );
    }
}
