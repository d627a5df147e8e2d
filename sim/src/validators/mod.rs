//! Validator sets: who may sign at a height, and the quorum arithmetic derived from it.
//!
//! The chain carries its own validator schedule: the block at height h names the set that
//! produces height h+1 (dBFT's NextConsensus). Every replica derives F, M and the primary
//! from the set it knows for the height it is working on; invariants check every persisted
//! block against the set the chain itself declared for that height.
//!
//! Deliberately left out for now: mid-run set changes (join, leave, self-ejection) and
//! alternative hand-off rules; the schedule below keeps the genesis set unless the scenario
//! lists changes.

use crate::protocol::crypto::{Enc, Hash32, KeyId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::rc::Rc;

/// An ordered list of validator keys. The position of a key is its validator index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ValidatorSet {
    pub keys: Vec<KeyId>,
    #[serde(skip)]
    hash: Hash32,
}

impl ValidatorSet {
    pub fn new(keys: Vec<KeyId>) -> ValidatorSet {
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
        self.keys.iter().position(|k| *k == key)
    }

    pub fn key(&self, index: usize) -> Option<KeyId> {
        self.keys.get(index).copied()
    }

    /// Primary of height `h` in view `v`: (h − v) mod N (reference §1.1).
    pub fn primary(&self, height: u32, view: u8) -> usize {
        primary_index(height, view, self.n())
    }
}

/// Which set validates which height: the genesis set, replaced from given heights on.
/// Every honest primary names `set_for(h + 1)` in block h (NextConsensus), so all honest
/// replicas agree on the schedule because they read it from the same chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ValidatorSchedule {
    pub genesis: Rc<ValidatorSet>,
    /// Height → the set that validates that height and the ones after it.
    pub changes: BTreeMap<u32, Rc<ValidatorSet>>,
}

impl ValidatorSchedule {
    pub fn fixed(set: Rc<ValidatorSet>) -> ValidatorSchedule {
        ValidatorSchedule { genesis: set, changes: BTreeMap::new() }
    }

    /// The set that validates `height`.
    pub fn set_for(&self, height: u32) -> Rc<ValidatorSet> {
        self.changes.range(..=height).next_back().map_or(&self.genesis, |(_, s)| s).clone()
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
    let n = n as i64;
    (((height as i64 - view as i64) % n + n) % n) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_arithmetic_matches_reference_table() {
        // Reference §1.1: N=1 → F=0,M=1; 4 → 1,3; 5 → 1,4; 7 → 2,5; 10 → 3,7; 21 → 6,15.
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
}
