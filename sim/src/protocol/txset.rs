//! A set of transaction ids stored as runs of consecutive ids.
//!
//! A node remembers every transaction that reached its chain (so a proposal cannot include
//! one twice). The workload numbers transactions consecutively and proposals take the lowest
//! ids first, so the on-chain set is nearly one run: storing runs keeps it a few entries long
//! however long the run, where a plain set would grow by every transaction of every height.
//! Runs are kept maximal (never adjacent, never overlapping), so two equal sets have equal
//! representations and the derived `Eq`/`Hash` are those of the set.

use super::block::TxId;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxSet {
    /// First id of a run → last id of that run (inclusive, so `u64::MAX` fits).
    runs: BTreeMap<TxId, TxId>,
}

impl TxSet {
    pub fn new() -> TxSet {
        TxSet::default()
    }

    pub fn contains(&self, tx: &TxId) -> bool {
        // The common questions are about ids at or above the highest run (a proposal's
        // transactions, checked by every replica): answered from that run alone.
        match self.runs.last_key_value() {
            None => return false,
            Some((first, last)) if *tx >= *first => return *tx <= *last,
            Some(_) => {}
        }
        self.runs.range(..=*tx).next_back().is_some_and(|(_, last)| *last >= *tx)
    }

    /// Adds `tx`; false if it was already there.
    pub fn insert(&mut self, tx: TxId) -> bool {
        // The common case: the id right after the highest run (blocks take the lowest ids
        // in order), which extends that run and can neither be present nor bridge to a
        // later run.
        if let Some(mut last) = self.runs.last_entry()
            && last.get().checked_add(1) == Some(tx)
        {
            *last.get_mut() = tx;
            return true;
        }
        if self.contains(&tx) {
            return false;
        }
        // The run after `tx`, if it starts right after it, is absorbed.
        let next_last = tx.checked_add(1).and_then(|next| self.runs.remove(&next));
        let last = next_last.unwrap_or(tx);
        // The run before `tx`, if it ends right before it, is extended.
        match self.runs.range_mut(..tx).next_back() {
            Some((_, prev_last)) if prev_last.checked_add(1) == Some(tx) => *prev_last = last,
            _ => {
                self.runs.insert(tx, last);
            }
        }
        true
    }

    /// How many runs the set is stored as (for tests and memory figures).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Against a plain set, over insert orders that split, bridge and extend runs.
    #[test]
    fn agrees_with_a_plain_set() {
        let orders: [&[TxId]; 4] = [
            &[5, 7, 6, 1, 2, 3, 9, 0, 4, 8],
            &[10, 8, 6, 4, 2, 3, 5, 7, 9],
            &[u64::MAX, u64::MAX - 1, 0, u64::MAX - 3, u64::MAX - 2, 1],
            &[3, 3, 2, 2, 4, 4],
        ];
        for order in orders {
            let mut runs = TxSet::new();
            let mut plain = BTreeSet::new();
            for &t in order {
                assert_eq!(runs.insert(t), plain.insert(t), "insert {t} into {order:?}");
                for probe in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, u64::MAX - 4, u64::MAX - 1, u64::MAX] {
                    assert_eq!(runs.contains(&probe), plain.contains(&probe), "probe {probe} after {t} in {order:?}");
                }
            }
        }
    }

    /// Consecutive ids in any order end as one run, and equal sets compare equal.
    #[test]
    fn consecutive_ids_collapse_to_one_run() {
        let mut a = TxSet::new();
        let mut b = TxSet::new();
        for t in [4, 0, 2, 1, 3] {
            a.insert(t);
        }
        for t in 0..5 {
            b.insert(t);
        }
        assert_eq!(a.runs(), 1);
        assert_eq!(a, b);
        b.insert(7);
        assert_eq!(b.runs(), 2);
        assert_ne!(a, b);
    }
}
