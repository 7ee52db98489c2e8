//! RFC 6962 / RFC 9162 Merkle trees over the log's entry files: root hashes, inclusion and
//! consistency proofs, and their verification (pure).
//!
//! Leaf hash = SHA-256(0x00 ‖ entry bytes); node hash = SHA-256(0x01 ‖ left ‖ right).

use sha2::{Digest as _, Sha256};

/// A 32-byte SHA-256 hash.
pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
pub(crate) fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the inclusion proof of leaf `m`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || m >= n {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = inclusion_proof(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]): the consistency proof between the first `m` leaves and all of them.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole {
                Vec::new()
            } else {
                vec![root(leaves)]
            };
        }
        let k = split(n);
        if m <= k {
            let mut p = sub(m, &leaves[..k], whole);
            p.push(root(&leaves[k..]));
            p
        } else {
            let mut p = sub(m - k, &leaves[k..], false);
            p.push(root(&leaves[..k]));
            p
        }
    }
    if m == 0 || m > leaves.len() {
        return Vec::new();
    }
    sub(m, leaves, true)
}

/// RFC 9162 §2.1.3.2: does `proof` show leaf `index` with hash `leaf` in the tree of `size`
/// with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree of `size2` with `root2` extends the tree of
/// `size1` with `root1`?
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> bool {
    if size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if size1 == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    &fr == root1 && &sr == root2 && sn == 0
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first.
/// Appending is O(log n); the root of any size is available without the leaves.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    size: u64,
    /// (height, hash) of perfect subtrees, largest first.
    peaks: Vec<(u32, Hash)>,
}

impl CompactRange {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        self.push_completing(leaf, 0);
    }

    /// [`CompactRange::push`], returning the root of the perfect subtree of `2^height`
    /// leaves that this leaf completes, if it completes one (the node is formed on the way,
    /// even when it is merged into a larger peak at once).
    pub fn push_completing(&mut self, leaf: Hash, height: u32) -> Option<Hash> {
        let mut node = (0u32, leaf);
        let mut completed = (height == 0).then_some(leaf);
        while let Some(&(h, left)) = self.peaks.last() {
            if h != node.0 {
                break;
            }
            self.peaks.pop();
            node = (h + 1, node_hash(&left, &node.1));
            if node.0 == height {
                completed = Some(node.1);
            }
        }
        self.peaks.push(node);
        self.size += 1;
        completed
    }

    /// The (height, hash) of its perfect subtrees, largest (leftmost) first.
    pub fn peaks(&self) -> &[(u32, Hash)] {
        &self.peaks
    }

    /// The text form stored beside the checkpoint: `size N`, then `height hexhash` per peak.
    pub fn to_text(&self) -> String {
        let mut out = format!("size {}\n", self.size);
        for (h, hash) in &self.peaks {
            out.push_str(&format!("{h} {}\n", crate::types::hex(hash)));
        }
        out
    }

    /// Parses [`CompactRange::to_text`], checking that the peaks fit the size.
    pub fn parse(text: &str) -> Option<CompactRange> {
        let mut lines = text.lines();
        let size: u64 = lines.next()?.strip_prefix("size ")?.parse().ok()?;
        let mut peaks = Vec::new();
        for line in lines {
            let (h, hex) = line.split_once(' ')?;
            let h: u32 = h.parse().ok()?;
            if hex.len() != 64 {
                return None;
            }
            let mut hash = [0u8; 32];
            for (i, b) in hash.iter_mut().enumerate() {
                *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            peaks.push((h, hash));
        }
        // The peaks are the set bits of the size, largest first.
        let expected: Vec<u32> = (0..64).rev().filter(|b| size >> b & 1 == 1).collect();
        let heights: Vec<u32> = peaks.iter().map(|(h, _)| *h).collect();
        (heights == expected).then_some(CompactRange { size, peaks })
    }

    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Hash {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    // The RFC 6962 test vectors used by certificate-transparency and transparency-dev.
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(l)).collect()
    }

    #[test]
    fn compact_ranges_round_trip_through_text() {
        let l = leaves();
        let mut range = CompactRange::default();
        for leaf in &l[..7] {
            range.push(*leaf);
            let back = CompactRange::parse(&range.to_text()).unwrap();
            assert_eq!(back.root(), range.root());
            assert_eq!(back.size(), range.size());
        }
        assert!(
            CompactRange::parse("size 3\n").is_none(),
            "peaks must match the size"
        );
        assert!(CompactRange::parse("nonsense").is_none());
    }

    #[test]
    fn roots_match_the_published_vectors() {
        let l = leaves();
        let mut range = CompactRange::default();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(root(&l[..=n]), hex(want), "size {}", n + 1);
            range.push(l[n]);
            assert_eq!(range.root(), hex(want), "compact range, size {}", n + 1);
        }
        assert_eq!(
            empty_root(),
            hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn inclusion_proofs_match_the_published_vectors() {
        let l = leaves();
        // (leaf index, size, proof)
        let vectors: [(usize, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, want) in vectors {
            let proof = inclusion_proof(m, &l[..n]);
            let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
            assert_eq!(proof, want, "leaf {m} of {n}");
            let r = root(&l[..n]);
            assert!(verify_inclusion(m as u64, n as u64, &l[m], &proof, &r));
            assert!(!verify_inclusion(
                m as u64,
                n as u64,
                &l[(m + 1) % n],
                &proof,
                &r
            ));
            let mut bad = proof.clone();
            bad[0][0] ^= 1;
            assert!(!verify_inclusion(m as u64, n as u64, &l[m], &bad, &r));
        }
    }

    #[test]
    fn consistency_proofs_match_the_published_vectors() {
        let l = leaves();
        let vectors: [(usize, usize, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (m, n, want) in vectors {
            let proof = consistency_proof(m, &l[..n]);
            let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
            assert_eq!(proof, want, "{m} → {n}");
            let (r1, r2) = (root(&l[..m]), root(&l[..n]));
            assert!(verify_consistency(m as u64, n as u64, &r1, &r2, &proof));
            assert!(!verify_consistency(m as u64, n as u64, &r2, &r1, &proof));
            assert!(!verify_consistency(
                m as u64,
                n as u64,
                &r1,
                &r2,
                &proof[1..]
            ));
        }
        // Every pair of sizes round-trips, and a changed leaf breaks the proof.
        for n in 1..=8 {
            for m in 1..=n {
                let proof = consistency_proof(m, &l[..n]);
                assert!(
                    verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&l[..n]), &proof),
                    "{m} → {n}"
                );
                if m < n {
                    let mut other = l.clone();
                    other[m - 1] = leaf_hash(b"rewritten");
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &root(&other[..m]),
                        &root(&l[..n]),
                        &proof
                    ));
                }
            }
            for i in 0..n {
                let p = inclusion_proof(i, &l[..n]);
                assert!(verify_inclusion(
                    i as u64,
                    n as u64,
                    &l[i],
                    &p,
                    &root(&l[..n])
                ));
            }
        }
    }
}
