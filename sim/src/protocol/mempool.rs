//! A node's mempool: the transaction ids it knows and has not seen on chain, in ascending
//! order.
//!
//! The workload numbers transactions consecutively, a node receives them roughly in that
//! order and blocks take the lowest ids first, so new ids join at the high end and leave at
//! the low end. A sorted deque does both in a few instructions (a binary search only when an
//! id arrives or leaves out of order), where a `BTreeSet` walked and rebalanced nodes for
//! every one of them — seven times per transaction, once per node, on arrival and again on
//! persist. It holds the same set in the same order, and compares, hashes and prints as the
//! `BTreeSet` it replaces, so replica state hashes do not move.

use super::block::TxId;
use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Mempool {
    /// Ascending, no duplicates.
    ids: VecDeque<TxId>,
}

impl Mempool {
    pub fn new() -> Mempool {
        Mempool::default()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, tx: &TxId) -> bool {
        self.ids.binary_search(tx).is_ok()
    }

    /// How many of `txs` are not here. A proposal lists the lowest ids of its primary's
    /// mempool, mostly ascending and adjacent here too, so each id is first looked for
    /// right after the previous one found; a binary search only when that guess misses.
    /// (Replicas ask this on every consensus message while a proposal is open.)
    pub fn count_missing(&self, txs: &[TxId]) -> usize {
        let mut next = 0;
        let mut missing = 0;
        for t in txs {
            if self.ids.get(next) == Some(t) {
                next += 1;
                continue;
            }
            match self.ids.binary_search(t) {
                Ok(at) => next = at + 1,
                Err(_) => missing += 1,
            }
        }
        missing
    }

    /// Adds `tx`; false if it was already there.
    pub fn insert(&mut self, tx: TxId) -> bool {
        if self.ids.back().is_none_or(|last| *last < tx) {
            self.ids.push_back(tx);
            return true;
        }
        match self.ids.binary_search(&tx) {
            Ok(_) => false,
            Err(at) => {
                self.ids.insert(at, tx);
                true
            }
        }
    }

    /// Removes `tx`; false if it was not there.
    pub fn remove(&mut self, tx: &TxId) -> bool {
        if self.ids.front() == Some(tx) {
            self.ids.pop_front();
            return true;
        }
        match self.ids.binary_search(tx) {
            Ok(at) => {
                self.ids.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The ids from `from` up, ascending.
    pub fn from(&self, from: TxId) -> impl Iterator<Item = TxId> + '_ {
        let at = self.ids.partition_point(|t| *t < from);
        self.ids.range(at..).copied()
    }

    /// The ids below `below`, ascending.
    pub fn below(&self, below: TxId) -> impl Iterator<Item = TxId> + '_ {
        let at = self.ids.partition_point(|t| *t < below);
        self.ids.range(..at).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = TxId> + '_ {
        self.ids.iter().copied()
    }
}

impl Hash for Mempool {
    /// As `BTreeSet<TxId>` hashes: the length, then every id in ascending order.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.ids.len());
        for t in &self.ids {
            t.hash(state);
        }
    }
}

impl fmt::Debug for Mempool {
    /// As `BTreeSet<TxId>` prints: `{1, 2, 3}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.ids).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::hash::DefaultHasher;

    fn hash_of<T: Hash>(v: &T) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Against the `BTreeSet` it replaces: the same answers, order, hash and text after
    /// every step of inserts and removals in order, out of order, repeated and missing.
    #[test]
    fn agrees_with_a_btree_set() {
        let steps: &[(bool, TxId)] = &[
            (true, 5),
            (true, 6),
            (true, 7),
            (true, 3),
            (true, 6),
            (true, u64::MAX),
            (true, 1 << 62),
            (true, 0),
            (false, 0),
            (false, 6),
            (false, 6),
            (false, 42),
            (true, 8),
            (true, 4),
            (false, 3),
            (false, u64::MAX),
            (true, 2),
            (false, 5),
            (false, 8),
        ];
        let mut pool = Mempool::new();
        let mut plain = BTreeSet::new();
        for &(add, t) in steps {
            if add {
                assert_eq!(pool.insert(t), plain.insert(t), "insert {t}");
            } else {
                assert_eq!(pool.remove(&t), plain.remove(&t), "remove {t}");
            }
            assert_eq!(pool.iter().collect::<Vec<_>>(), plain.iter().copied().collect::<Vec<_>>());
            assert_eq!(pool.len(), plain.len());
            assert_eq!(hash_of(&pool), hash_of(&plain), "hash after {t}");
            assert_eq!(format!("{pool:?}"), format!("{plain:?}"));
            for txs in [&[][..], &[2, 3, 4], &[4, 3, 2], &[1 << 62, 2, 3, 9], &[7, 7, 8, u64::MAX, 0], &[5, 6, 7, 8]] {
                let plain_missing = txs.iter().filter(|t| !plain.contains(*t)).count();
                assert_eq!(pool.count_missing(txs), plain_missing, "missing of {txs:?} after {t}");
            }
            for probe in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1 << 62, u64::MAX] {
                assert_eq!(pool.contains(&probe), plain.contains(&probe), "probe {probe} after {t}");
                assert_eq!(pool.from(probe).collect::<Vec<_>>(), plain.range(probe..).copied().collect::<Vec<_>>());
                assert_eq!(pool.below(probe).collect::<Vec<_>>(), plain.range(..probe).copied().collect::<Vec<_>>());
            }
        }
        assert!(!pool.is_empty(), "the steps must leave something to compare");
    }
}
