//! The Merkle tree over every access-log entry (RFC 9162 §2.1), the same
//! tree Certificate Transparency logs keep.
//!
//! A leaf's hash is `SHA-256(0x00 || data)`, an interior node's
//! `SHA-256(0x01 || left || right)`; the tree over `n` leaves splits at the
//! largest power of two below `n` ([`root`], RFC 9162 §2.1.1). An inclusion
//! proof ([`inclusion_proof`], §2.1.3) shows that a leaf is in the tree of a
//! given size; a consistency proof ([`consistency_proof`], §2.1.4) shows
//! that the tree of one size is a prefix of the tree of a larger size, so a
//! log that removed or changed a covered entry cannot produce one. The
//! verifiers ([`verify_inclusion`], [`verify_consistency`]) follow the
//! algorithms of §2.1.3.2 and §2.1.4.2 step by step.
//!
//! In carehub the leaf data is the 32 bytes of an entry's chained hash
//! (`carehub_domain::chain_hash`), in the order the checkpoint job assigned
//! leaf indexes.

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 value.
pub type Hash = [u8; 32];

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A perfect subtree: the `2^level` leaves from `index << level` on, the
/// unit a log keeps hashes of ([`Frontier::push_noting`]) so that a proof
/// costs `O(log n)` of them instead of every leaf. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    /// Its height: it holds `2^level` leaves.
    pub level: u32,
    /// Its place among the subtrees of its level, left to right.
    pub index: u64,
}

impl Subtree {
    /// Its first leaf.
    pub fn first_leaf(self) -> u64 {
        self.index << self.level
    }

    /// One past its last leaf.
    pub fn end_leaf(self) -> u64 {
        (self.index + 1) << self.level
    }

    /// Its two halves (`None` for a leaf).
    pub fn children(self) -> Option<(Subtree, Subtree)> {
        let level = self.level.checked_sub(1)?;
        let left = Subtree {
            level,
            index: self.index * 2,
        };
        Some((
            left,
            Subtree {
                level,
                index: left.index + 1,
            },
        ))
    }
}

/// The perfect subtrees the first `size` leaves split into, largest
/// (leftmost) first: one per set bit of `size`, as a [`Frontier`] holds
/// their hashes.
pub fn decomposition(size: u64) -> Vec<Subtree> {
    let mut start = 0;
    let mut out = Vec::with_capacity(size.count_ones() as usize);
    for level in (0..64).rev() {
        if size >> level & 1 == 1 {
            out.push(Subtree {
                level,
                index: start >> level,
            });
            start += 1 << level;
        }
    }
    out
}

/// The Merkle tree hash of the leaves whose leaf hashes are `leaves`
/// (MTH, RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `leaves`
/// (PATH, RFC 9162 §2.1.3.1), or `None` when `index` is out of range.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let proof = inclusion_proof_from(index as u64, leaves.len() as u64, &mut of_leaves(leaves));
    proof.unwrap_or_else(|never| match never {})
}

/// [`inclusion_proof`] in the tree of `size` leaves, from the hashes of
/// perfect subtrees that `subtree` gives (at most two per level of the
/// tree), rather than from every leaf.
pub fn inclusion_proof_from<E>(
    index: u64,
    size: u64,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Option<Vec<Hash>>, E> {
    if index >= size {
        return Ok(None);
    }
    path(index, 0, size, subtree).map(Some)
}

/// [`Subtree`] hashes computed from all the leaves (the leaf-based proofs,
/// and tests).
fn of_leaves(leaves: &[Hash]) -> impl FnMut(Subtree) -> Result<Hash, std::convert::Infallible> {
    |s| {
        Ok(root(
            &leaves[s.first_leaf() as usize..s.end_leaf() as usize],
        ))
    }
}

/// PATH(m, D[start:start+n]).
fn path<E>(
    m: u64,
    start: u64,
    n: u64,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if n <= 1 {
        return Ok(Vec::new());
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, start, k, subtree)?;
        p.push(range_root(start + k, n - k, subtree)?);
        Ok(p)
    } else {
        let mut p = path(m - k, start + k, n - k, subtree)?;
        p.push(range_root(start, k, subtree)?);
        Ok(p)
    }
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:start+n]) for a range the RFC's recursion reaches: `start`
/// is a multiple of every power of two up to `n`, so the range is perfect
/// subtrees, split at the largest power of two below `n` as §2.1.1 does.
fn range_root<E>(
    start: u64,
    n: u64,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Hash, E> {
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        debug_assert_eq!(start % n, 0, "an aligned subtree");
        return subtree(Subtree {
            level,
            index: start >> level,
        });
    }
    let k = split(n);
    let left = range_root(start, k, subtree)?;
    let right = range_root(start + k, n - k, subtree)?;
    Ok(node_hash(&left, &right))
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): that the leaf with
/// hash `leaf` is at `index` in the tree of `size` leaves whose root is
/// `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The consistency proof between the tree of the first `old_size` leaves
/// and the tree of all `leaves` (PROOF, RFC 9162 §2.1.4.1), or `None` when
/// `old_size` exceeds `leaves.len()`. Empty when the sizes are equal or
/// the old tree is empty.
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let proof =
        consistency_proof_from(old_size as u64, leaves.len() as u64, &mut of_leaves(leaves));
    proof.unwrap_or_else(|never| match never {})
}

/// [`consistency_proof`] from the tree of `old_size` leaves to the tree
/// of `size`, from the hashes of perfect subtrees that `subtree` gives,
/// as [`inclusion_proof_from`].
pub fn consistency_proof_from<E>(
    old_size: u64,
    size: u64,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Option<Vec<Hash>>, E> {
    if old_size > size {
        return Ok(None);
    }
    if old_size == 0 || old_size == size {
        return Ok(Some(Vec::new()));
    }
    subproof(old_size, 0, size, true, subtree).map(Some)
}

/// SUBPROOF(m, D[start:start+n], b).
fn subproof<E>(
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if m == n {
        return Ok(if complete {
            Vec::new()
        } else {
            vec![range_root(start, n, subtree)?]
        });
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, start, k, complete, subtree)?;
        p.push(range_root(start + k, n - k, subtree)?);
        Ok(p)
    } else {
        let mut p = subproof(m - k, start + k, n - k, false, subtree)?;
        p.push(range_root(start, k, subtree)?);
        Ok(p)
    }
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): that the tree of
/// `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        // Every tree extends the empty one; nothing to prove.
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    // 2. If first is an exact power of 2, prepend first_hash to the proof.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    // 3.
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    // 4.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (path[0], path[0]);
    // 6.
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // 7.
    fr == *old_root && sr == *new_root && snode == 0
}

/// Parses a lower-case or upper-case hex SHA-256 into its 32 bytes.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    let bytes = hex::decode(hex_text).ok()?;
    bytes.try_into().ok()
}

/// The right edge of a tree of `size` leaves: the roots of the perfect
/// subtrees it splits into, largest (leftmost) first — one per set bit of
/// `size`. Enough to append leaves and to compute the root without the
/// leaves before: the checkpoint job keeps one per checkpoint, so a
/// checkpoint costs the new leaves, not the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn empty() -> Frontier {
        Frontier::default()
    }

    /// The frontier of the tree of `leaves`.
    pub fn of(leaves: &[Hash]) -> Frontier {
        let mut f = Frontier::empty();
        f.extend(leaves);
        f
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (its leaf hash).
    pub fn push(&mut self, leaf: Hash) {
        self.push_noting(leaf, &mut |_, _| {});
    }

    /// Appends a leaf, and gives `completed` each perfect subtree of two
    /// or more leaves the leaf completes, smallest first, with its hash:
    /// every such subtree of the log once, as the leaves arrive.
    pub fn push_noting(&mut self, leaf: Hash, completed: &mut impl FnMut(Subtree, &Hash)) {
        let mut node = leaf;
        let mut size = self.size;
        let end = self.size + 1;
        let mut level = 0;
        // Each trailing 1 bit of the size is a subtree of the new leaf's
        // size: the two merge, as a binary counter carries.
        while size & 1 == 1 {
            let left = self.nodes.pop().expect("one node per set bit");
            node = node_hash(&left, &node);
            size >>= 1;
            level += 1;
            completed(
                Subtree {
                    level,
                    index: (end >> level) - 1,
                },
                &node,
            );
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The frontier of a tree of `size` leaves from the hashes of its
    /// [`decomposition`], in that order; `None` when there are not one
    /// per set bit of `size`.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// Appends leaves in order.
    pub fn extend(&mut self, leaves: &[Hash]) {
        for leaf in leaves {
            self.push(*leaf);
        }
    }

    /// The tree's root: MTH over every leaf (RFC 9162 §2.1.1), folded from
    /// the right as the definition splits at the largest power of two.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The nodes as text: their lower-case hex, comma-separated.
    pub fn to_text(&self) -> String {
        let hexes: Vec<String> = self.nodes.iter().map(hex::encode).collect();
        hexes.join(",")
    }

    /// Reads [`Frontier::to_text`] back for a tree of `size` leaves;
    /// `None` when the text does not hold one hash per set bit of `size`.
    pub fn from_text(size: u64, text: &str) -> Option<Frontier> {
        let nodes = if text.is_empty() {
            Vec::new()
        } else {
            text.split(',')
                .map(parse_hash)
                .collect::<Option<Vec<_>>>()?
        };
        Frontier::from_nodes(size, nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frontier_gives_the_root_of_every_size_grown_at_once_or_a_leaf_at_a_time() {
        let all = leaves(300);
        let mut grown = Frontier::empty();
        for n in 0..=all.len() {
            let of = Frontier::of(&all[..n]);
            assert_eq!(of, grown, "size {n}");
            assert_eq!(of.size(), n as u64);
            assert_eq!(of.root(), root(&all[..n]), "size {n}");
            assert_eq!(of.root(), mth(&all[..n]), "size {n}");
            assert_eq!(Frontier::from_text(n as u64, &of.to_text()), Some(of));
            if n < all.len() {
                grown.push(all[n]);
            }
        }
        // Grown from a stored frontier in two pieces.
        let mut f = Frontier::from_text(97, &Frontier::of(&all[..97]).to_text()).unwrap();
        f.extend(&all[97..]);
        assert_eq!(f.root(), root(&all));
    }

    /// The subtree hashes a log keeps: every perfect subtree of two or
    /// more leaves, noted as the leaves were pushed.
    fn noted(all: &[Hash]) -> std::collections::HashMap<Subtree, Hash> {
        let mut kept = std::collections::HashMap::new();
        let mut f = Frontier::empty();
        for leaf in all {
            f.push_noting(*leaf, &mut |s, h| {
                assert!(kept.insert(s, *h).is_none(), "{s:?} noted twice");
            });
        }
        kept
    }

    #[test]
    fn pushing_notes_every_perfect_subtree_once_with_its_hash() {
        let all = leaves(300);
        let kept = noted(&all);
        let expected: u64 = (1..9).map(|level| 300u64 >> level).sum();
        assert_eq!(kept.len() as u64, expected);
        for (s, h) in &kept {
            assert!(s.level >= 1 && s.end_leaf() <= 300, "{s:?}");
            assert_eq!(
                *h,
                root(&all[s.first_leaf() as usize..s.end_leaf() as usize]),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_frontier_is_the_decomposition_of_its_size() {
        let all = leaves(300);
        let kept = noted(&all);
        let hash = |s: Subtree| {
            if s.level == 0 {
                all[s.index as usize]
            } else {
                kept[&s]
            }
        };
        for n in 0..=300u64 {
            let parts = decomposition(n);
            assert_eq!(parts.len(), n.count_ones() as usize);
            assert_eq!(parts.last().map_or(0, |s| s.end_leaf()), n);
            let f = Frontier::from_nodes(n, parts.into_iter().map(hash).collect());
            assert_eq!(f, Some(Frontier::of(&all[..n as usize])), "size {n}");
        }
        assert_eq!(Frontier::from_nodes(3, vec![all[0]]), None);
        let s = Subtree { level: 2, index: 3 };
        assert_eq!((s.first_leaf(), s.end_leaf()), (12, 16));
        assert_eq!(
            s.children(),
            Some((
                Subtree { level: 1, index: 6 },
                Subtree { level: 1, index: 7 }
            ))
        );
        assert_eq!(Subtree { level: 0, index: 5 }.children(), None);
    }

    #[test]
    fn proofs_from_kept_subtrees_are_the_proofs_from_the_leaves_and_ask_for_few() {
        let all = leaves(70);
        let kept = noted(&all);
        for n in 0..=all.len() {
            let d = &all[..n];
            let mut asked = 0;
            let mut from_kept = |s: Subtree| -> Result<Hash, ()> {
                asked += 1;
                assert!(s.end_leaf() <= n as u64, "{s:?} beyond the tree of {n}");
                Ok(if s.level == 0 {
                    all[s.index as usize]
                } else {
                    kept[&s]
                })
            };
            for m in 0..=n {
                let proof = inclusion_proof_from(m as u64, n as u64, &mut from_kept).unwrap();
                assert_eq!(proof, inclusion_proof(m, d), "leaf {m} of {n}");
                if let Some(p) = &proof {
                    assert!(verify_inclusion(m as u64, n as u64, &d[m], p, &root(d)));
                }
                let proof = consistency_proof_from(m as u64, n as u64, &mut from_kept).unwrap();
                assert_eq!(proof, consistency_proof(m, d), "{m} to {n}");
                let p = proof.unwrap();
                assert!(verify_consistency(
                    m as u64,
                    n as u64,
                    &root(&d[..m]),
                    &root(d),
                    &p
                ));
            }
            // Each proof asks for at most about two subtrees per level.
            let levels = 64 - (n as u64).leading_zeros() as usize + 1;
            assert!(asked <= (n + 1) * 2 * 2 * levels, "{asked} for size {n}");
        }
        let mut failing = |_: Subtree| -> Result<Hash, &str> { Err("gone") };
        assert_eq!(inclusion_proof_from(1, 5, &mut failing), Err("gone"));
        assert_eq!(inclusion_proof_from(5, 5, &mut failing), Ok(None));
        assert_eq!(consistency_proof_from(5, 5, &mut failing), Ok(Some(vec![])));
    }

    #[test]
    fn a_frontier_text_must_fit_its_size() {
        let f = Frontier::of(&leaves(5)).to_text();
        assert_eq!(Frontier::from_text(5, &f).map(|f| f.size()), Some(5));
        assert_eq!(Frontier::from_text(7, &f), None);
        assert_eq!(Frontier::from_text(4, &f), None);
        assert_eq!(Frontier::from_text(5, "zz,00"), None);
        assert_eq!(Frontier::from_text(0, ""), Some(Frontier::empty()));
        assert_eq!(Frontier::from_text(1, ""), None);
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    /// RFC 9162's MTH written as the recursive definition, to check the
    /// implementation against.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn hashes_follow_the_rfc_prefixes() {
        // SHA-256("") and SHA-256(0x00): the empty tree and the empty leaf.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = leaves(3);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(root(&l[..1]), l[0]);
    }

    #[test]
    fn a_proof_of_seven_leaves_as_in_the_rfc_example() {
        // RFC 9162 §2.1.5: the tree of seven leaves a..g; the inclusion
        // proof of d (index 3) is [c, hash(a,b), hash(e,f,g)].
        let l = leaves(7);
        let proof = inclusion_proof(3, &l).unwrap();
        assert_eq!(
            proof,
            vec![
                l[2],
                node_hash(&l[0], &l[1]),
                node_hash(&node_hash(&l[4], &l[5]), &l[6])
            ]
        );
        // The consistency proof between 3 and 7 leaves: [c, d, hash(a,b), hash(e,f,g)].
        assert_eq!(
            consistency_proof(3, &l).unwrap(),
            vec![
                l[2],
                l[3],
                node_hash(&l[0], &l[1]),
                node_hash(&node_hash(&l[4], &l[5]), &l[6])
            ]
        );
        // Between 4 and 7: [hash(e,f,g)].
        assert_eq!(
            consistency_proof(4, &l).unwrap(),
            vec![node_hash(&node_hash(&l[4], &l[5]), &l[6])]
        );
    }

    #[test]
    fn out_of_range_requests_have_no_proof() {
        let l = leaves(4);
        assert!(inclusion_proof(4, &l).is_none());
        assert!(consistency_proof(5, &l).is_none());
        assert!(!verify_inclusion(4, 4, &l[0], &[], &root(&l)));
        assert!(!verify_consistency(5, 4, &root(&l), &root(&l), &[]));
        assert!(consistency_proof(0, &l).unwrap().is_empty());
        assert!(consistency_proof(4, &l).unwrap().is_empty());
    }

    #[test]
    fn parse_hash_takes_exactly_32_bytes_of_hex() {
        let h = leaf_hash(b"x");
        assert_eq!(parse_hash(&hex::encode(h)), Some(h));
        assert_eq!(parse_hash("00"), None);
        assert_eq!(parse_hash("zz"), None);
    }

    proptest! {
        #[test]
        fn root_is_the_recursive_mth(n in 0usize..70) {
            let l = leaves(n);
            prop_assert_eq!(root(&l), mth(&l));
        }

        #[test]
        fn every_inclusion_proof_verifies_and_a_tampered_one_does_not(
            n in 1usize..70, i in 0usize..70, flip in 0usize..64
        ) {
            let l = leaves(n);
            let i = i % n;
            let r = root(&l);
            let proof = inclusion_proof(i, &l).unwrap();
            prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &proof, &r));
            // Another leaf, another index or a changed proof element fails.
            let other = leaf_hash(b"not a leaf");
            prop_assert!(!verify_inclusion(i as u64, n as u64, &other, &proof, &r));
            if n > 1 {
                let j = (i + 1) % n;
                prop_assert!(!verify_inclusion(j as u64, n as u64, &l[i], &proof, &r));
                let mut bad = proof.clone();
                let k = flip % bad.len();
                bad[k][flip % 32] ^= 1;
                prop_assert!(!verify_inclusion(i as u64, n as u64, &l[i], &bad, &r));
                // A shorter proof does not verify either.
                prop_assert!(!verify_inclusion(i as u64, n as u64, &l[i], &proof[..proof.len() - 1], &r));
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_a_changed_history_does_not(
            n in 1usize..70, m in 0usize..70, flip in 0usize..64
        ) {
            let l = leaves(n);
            let m = m % (n + 1);
            let (old, new) = (root(&l[..m]), root(&l));
            let proof = consistency_proof(m, &l).unwrap();
            prop_assert!(verify_consistency(m as u64, n as u64, &old, &new, &proof));
            if m > 0 && m < n {
                // A log that changed one of the first m leaves cannot
                // prove consistency with the old root.
                let mut changed = l.clone();
                changed[flip % m][flip % 32] ^= 1;
                let proof2 = consistency_proof(m, &changed).unwrap();
                prop_assert!(!verify_consistency(m as u64, n as u64, &old, &root(&changed), &proof2));
                let mut bad = proof.clone();
                let k = flip % bad.len();
                bad[k][flip % 32] ^= 1;
                prop_assert!(!verify_consistency(m as u64, n as u64, &old, &new, &bad));
            }
        }
    }
}
