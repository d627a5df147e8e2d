//! Validator sets: who may sign at a height, how the set changes during a run, and the
//! quorum arithmetic derived from it.
//!
//! The chain carries its own validator schedule. The block at height h names the set that
//! produces height h+1 (dBFT's NextConsensus), and every replica derives N, F, M and the
//! primary from the set its own chain declares for the height it works on — never from a
//! global schedule and never from who is alive. The parts:
//!
//! - [`change`] — the change transactions (`join`, `leave`, `rotate`, `replace`, `eject`)
//!   and what applying one does to a set;
//! - [`handoff`] — the hand-off rules: when a change that is final in block d starts to
//!   validate (next block, a refresh period, two blocks later, with a double quorum) and a
//!   deliberately unsafe rule that switches on a mere proposal;
//! - [`custody`] — the chain's custody state, advanced one final block at a time, as a
//!   replica keeps it.
//!
//! The invariant checkers do not use [`custody`]: they derive the set of every height
//! from the final blocks with their own model (`invariants/custody_model.rs`), so a bug
//! in the replica's derivation cannot hide from its oracle.

pub mod change;
pub mod custody;
pub mod handoff;

use crate::protocol::crypto::{Enc, Hash32, KeyId};
use serde::Serialize;

/// A sorted list of validator keys. The position of a key is its validator index; keys
/// are kept in ascending order, as Neo orders validators by public key, so every replica
/// that holds the same set also agrees on every index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidatorSet {
    pub keys: Vec<KeyId>,
    #[serde(skip)]
    hash: Hash32,
}

/// Hashes the set's digest, not its key list: the digest is a function of the keys, so
/// equal sets hash equally, and a replica state (which holds several sets: its context's,
/// its custody's, every block's NextConsensus) hashes in a few words instead of one per
/// key. The explorer fingerprints a replica on every step (docs/explore.md §6).
impl std::hash::Hash for ValidatorSet {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.hash.hash(h);
    }
}

impl ValidatorSet {
    /// The set of `keys`, sorted and without repeats.
    pub fn new(mut keys: Vec<KeyId>) -> ValidatorSet {
        keys.sort_unstable();
        keys.dedup();
        let mut e = Enc::new();
        e.u8(0x56).u32(keys.len() as u32);
        for k in &keys {
            e.u32(k.0);
        }
        ValidatorSet { hash: e.finish(), keys }
    }

    pub fn hash(&self) -> Hash32 {
        self.hash
    }

    /// N: the number of validators.
    pub fn n(&self) -> usize {
        self.keys.len()
    }

    /// F = ⌊(N − 1) / 3⌋: the number of faulty validators the set tolerates.
    pub fn f(&self) -> usize {
        f_of(self.n())
    }

    /// M = N − F: the quorum.
    pub fn m(&self) -> usize {
        m_of(self.n())
    }

    pub fn index_of(&self, key: KeyId) -> Option<usize> {
        self.keys.binary_search(&key).ok()
    }

    pub fn contains(&self, key: KeyId) -> bool {
        self.index_of(key).is_some()
    }

    pub fn key(&self, index: usize) -> Option<KeyId> {
        self.keys.get(index).copied()
    }

    /// Primary of height `h` in view `v`: (h − v) mod N (docs/dbft-2.0.md §1.1).
    pub fn primary(&self, height: u32, view: u8) -> usize {
        primary_index(height, view, self.n())
    }
}

pub fn f_of(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

pub fn m_of(n: usize) -> usize {
    n - f_of(n)
}

/// p(h, v) = (h − v) mod N, mapped into [0, N). N = 0 gives 0.
pub fn primary_index(height: u32, view: u8, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // (h mod N − v mod N) mod N, in unsigned arithmetic: one division when v < N (every
    // view a run reaches at N ≥ 4 but the rarest), where the signed form took two 64-bit
    // ones on every call — and the primary is asked for on every consensus message.
    let h = (height as u64 % n as u64) as usize;
    let v = if (view as usize) < n { view as usize } else { view as usize % n };
    if h >= v { h - v } else { h + n - v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_arithmetic_matches_reference_table() {
        // docs/dbft-2.0.md §1.1: N=1 → F=0,M=1; 4 → 1,3; 5 → 1,4; 7 → 2,5; 10 → 3,7; 21 → 6,15.
        for (n, f, m) in [(1, 0, 1), (4, 1, 3), (5, 1, 4), (7, 2, 5), (10, 3, 7), (21, 6, 15)] {
            assert_eq!((f_of(n), m_of(n)), (f, m), "N={n}");
        }
    }

    #[test]
    fn primary_moves_down_one_index_per_view() {
        assert_eq!(primary_index(1, 0, 4), 1);
        assert_eq!(primary_index(1, 1, 4), 0);
        assert_eq!(primary_index(1, 2, 4), 3);
        // (0 − 255) mod 7: 255 = 36·7 + 3, so −3 mod 7 = 4.
        assert_eq!(primary_index(0, 255, 7), 4);
        assert_eq!(primary_index(10, 0, 7), 3);
        assert_eq!(primary_index(11, 0, 7), 4);
    }

    #[test]
    fn primary_index_is_the_euclidean_remainder_of_h_minus_v() {
        // The unsigned form against the definition, over every view and set sizes that
        // are below, equal to and above the views (so both branches and the wrap run).
        for n in 1..=300usize {
            for height in (0..700u32).chain([u32::MAX - 1, u32::MAX]) {
                for view in [0u8, 1, 2, 3, 6, 7, 99, 254, 255] {
                    let want = (height as i64 - view as i64).rem_euclid(n as i64) as usize;
                    assert_eq!(primary_index(height, view, n), want, "h={height} v={view} n={n}");
                }
            }
        }
    }

    #[test]
    fn sets_are_sorted_so_equal_members_mean_equal_indices() {
        let a = ValidatorSet::new(vec![KeyId(9), KeyId(2), KeyId(5), KeyId(2)]);
        let b = ValidatorSet::new(vec![KeyId(5), KeyId(9), KeyId(2)]);
        assert_eq!(a.keys, vec![KeyId(2), KeyId(5), KeyId(9)]);
        assert_eq!((a.hash(), a.index_of(KeyId(9))), (b.hash(), Some(2)));
        assert_eq!(a.index_of(KeyId(3)), None);
        assert_ne!(a.hash(), ValidatorSet::new(vec![KeyId(2), KeyId(5)]).hash());
    }
}
