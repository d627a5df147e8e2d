//! The chain's custody of its validator set, as a replica keeps it.
//!
//! A replica advances its [`Custody`] by one block every time it persists one: the
//! change transactions in the block join the queue of decided changes, the hand-off rule
//! says which of them take effect in this block's NextConsensus (at most the churn limit),
//! and the result is the set of the next height. Nothing here reads a clock, a global
//! schedule or who is alive: two replicas with the same chain hold the same custody.
//!
//! The state is small and does not grow with history (the queue holds only changes not yet
//! in effect; revoked and former keys are bounded by the number of keys of the run).

use super::ValidatorSet;
use super::change::ChangeBook;
use super::handoff::HandoffOptions;
use crate::protocol::block::TxId;
use crate::protocol::crypto::KeyId;
use std::collections::BTreeSet;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Custody {
    /// Height of the last block applied (0: genesis).
    pub height: u32,
    /// The set that validated `height` (the genesis set at height 0).
    pub current: Rc<ValidatorSet>,
    /// The set that validates `height + 1`: the tip's NextConsensus.
    pub next: Rc<ValidatorSet>,
    /// Decided changes not yet in effect, oldest first: (height decided, transaction).
    pending: Vec<(u32, TxId)>,
    /// Keys revoked by an ejection that has taken effect.
    pub revoked: Rc<BTreeSet<KeyId>>,
    /// Keys that validated some earlier height and are not in `next`.
    pub former: Rc<BTreeSet<KeyId>>,
    opts: HandoffOptions,
    book: Rc<ChangeBook>,
}

/// Hashes what changes along a chain. The hand-off options and the change book are the
/// run's (every custody of a run holds the same ones), so they take part in equality but
/// not in the hash: equal custodies still hash equally, and the explorer, which
/// fingerprints replica states on every step, does not hash the whole book each time.
impl std::hash::Hash for Custody {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Custody { height, current, next, pending, revoked, former, opts: _, book: _ } = self;
        (height, current, next, pending, revoked, former).hash(h);
    }
}

impl Custody {
    pub fn genesis(set: Rc<ValidatorSet>, opts: HandoffOptions, book: Rc<ChangeBook>) -> Custody {
        Custody {
            height: 0,
            current: set.clone(),
            next: set,
            pending: Vec::new(),
            revoked: Rc::new(BTreeSet::new()),
            former: Rc::new(BTreeSet::new()),
            opts,
            book,
        }
    }

    pub fn opts(&self) -> &HandoffOptions {
        &self.opts
    }

    /// Is this a height where a new set takes over (its set differs from the one before)?
    pub fn next_is_handoff(&self) -> bool {
        self.current.hash() != self.next.hash()
    }

    /// The custody after block `height + 1` carrying `txs` is persisted.
    pub fn after(&self, txs: &[TxId]) -> Custody {
        let block = self.height + 1;
        let decided = txs.iter().filter(|t| self.book.get(**t).is_some());
        if self.pending.is_empty() && decided.clone().next().is_none() {
            // No change anywhere: the fast path of nearly every block.
            let mut c = self.clone();
            c.height = block;
            c.current = self.next.clone();
            return c;
        }
        let mut queue = self.pending.clone();
        queue.extend(decided.map(|t| (block, *t)));
        let take = queue.iter().take(self.opts.limit()).take_while(|(d, _)| self.opts.rule.eligible(*d, block)).count();
        let mut keys: BTreeSet<KeyId> = self.next.keys.iter().copied().collect();
        let mut revoked = (*self.revoked).clone();
        for (_, tx) in queue.drain(..take) {
            if let Some(change) = self.book.get(tx) {
                change.apply(&mut keys, &mut revoked);
            }
        }
        let next = if keys.iter().eq(self.next.keys.iter()) {
            self.next.clone()
        } else {
            Rc::new(ValidatorSet::new(keys.into_iter().collect()))
        };
        let mut former = (*self.former).clone();
        former.extend(self.next.keys.iter().copied());
        former.retain(|k| !next.contains(*k));
        Custody {
            height: block,
            current: self.next.clone(),
            next,
            pending: queue,
            revoked: if revoked == *self.revoked { self.revoked.clone() } else { Rc::new(revoked) },
            former: if former == *self.former { self.former.clone() } else { Rc::new(former) },
            opts: self.opts,
            book: self.book.clone(),
        }
    }

    /// The set block `height + 1` with `txs` names for the height after it.
    pub fn next_after(&self, txs: &[TxId]) -> Rc<ValidatorSet> {
        if self.pending.is_empty() && !txs.iter().any(|t| self.book.get(*t).is_some()) {
            return self.next.clone();
        }
        self.after(txs).next
    }

    /// Does `txs` carry a change transaction?
    pub fn carries_change(&self, txs: &[TxId]) -> bool {
        !self.book.is_empty() && txs.iter().any(|t| self.book.get(*t).is_some())
    }

    /// The set this custody expects to validate `height` (> self.height) if no further
    /// change is decided: exact for `height + 1`, a projection beyond.
    pub fn projected(&self, height: u32) -> Rc<ValidatorSet> {
        let mut c = self.clone();
        let mut guard = 0;
        while c.height + 1 < height && !c.pending.is_empty() && guard < 4096 {
            c = c.after(&[]);
            guard += 1;
        }
        c.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validators::change::SetChange;
    use crate::validators::handoff::HandoffRule;

    fn set(keys: &[u32]) -> Rc<ValidatorSet> {
        Rc::new(ValidatorSet::new(keys.iter().map(|k| KeyId(*k)).collect()))
    }

    fn custody(rule: HandoffRule, churn: Option<u32>, changes: Vec<SetChange>) -> Custody {
        Custody::genesis(
            set(&[0, 1, 2, 3]),
            HandoffOptions { rule, churn_limit: churn },
            Rc::new(ChangeBook::new(changes)),
        )
    }

    /// Runs `heights` blocks; block `h` carries the change transactions listed for it.
    /// Returns the set of every height 1..=heights+1 (index 0 = height 1).
    fn sets(mut c: Custody, blocks: &[(u32, Vec<usize>)], heights: u32) -> Vec<Vec<u32>> {
        let mut out = vec![c.next.keys.iter().map(|k| k.0).collect()];
        for h in 1..=heights {
            let txs: Vec<TxId> = blocks
                .iter()
                .filter(|(b, _)| *b == h)
                .flat_map(|(_, v)| v.iter().map(|i| ChangeBook::tx_of(*i)))
                .collect();
            c = c.after(&txs);
            assert_eq!(c.height, h);
            out.push(c.next.keys.iter().map(|k| k.0).collect());
        }
        out
    }

    #[test]
    fn each_rule_activates_where_its_table_says() {
        let join = vec![SetChange::Join { key: KeyId(7) }];
        let old = vec![0, 1, 2, 3];
        let new = vec![0, 1, 2, 3, 7];
        // Decided in block 5.
        let next = sets(custody(HandoffRule::NextBlock, None, join.clone()), &[(5, vec![0])], 8);
        assert_eq!(next[4], old, "height 5 is still the old set");
        assert_eq!(next[5], new, "height 6 is the first of the new set");
        let d2 = sets(custody(HandoffRule::Delay2, None, join.clone()), &[(5, vec![0])], 8);
        assert_eq!((&d2[5], &d2[6]), (&old, &new), "delay-2: height 7");
        let refresh = sets(custody(HandoffRule::RefreshPeriod { period: 4 }, None, join.clone()), &[(5, vec![0])], 12);
        assert_eq!((&refresh[7], &refresh[8]), (&old, &new), "refresh every 4: block 8 names it, height 9");
        let aop = sets(custody(HandoffRule::ApplyOnPropose, None, join), &[(5, vec![0])], 8);
        assert_eq!(aop, next, "on chain, apply-on-propose is next-block");
    }

    #[test]
    fn churn_limit_lets_the_rest_wait_in_decided_order() {
        let changes = vec![
            SetChange::Join { key: KeyId(7) },
            SetChange::Join { key: KeyId(8) },
            SetChange::Leave { key: KeyId(0) },
        ];
        let s = sets(custody(HandoffRule::NextBlock, Some(1), changes), &[(2, vec![0, 1, 2])], 6);
        assert_eq!(s[2], vec![0, 1, 2, 3, 7]);
        assert_eq!(s[3], vec![0, 1, 2, 3, 7, 8]);
        assert_eq!(s[4], vec![1, 2, 3, 7, 8]);
        assert_eq!(s[5], s[4]);
    }

    #[test]
    fn former_and_revoked_keys_are_tracked() {
        let changes = vec![SetChange::Eject { key: KeyId(1) }, SetChange::Rotate { from: KeyId(2), to: KeyId(9) }];
        let mut c = custody(HandoffRule::NextBlock, None, changes);
        c = c.after(&[ChangeBook::tx_of(0), ChangeBook::tx_of(1)]);
        assert_eq!(c.next.keys, vec![KeyId(0), KeyId(3), KeyId(9)]);
        assert!(c.next_is_handoff());
        assert_eq!(*c.revoked, BTreeSet::from([KeyId(1)]));
        assert_eq!(*c.former, BTreeSet::from([KeyId(1), KeyId(2)]));
        c = c.after(&[]);
        assert!(!c.next_is_handoff());
        assert_eq!(c.current.hash(), c.next.hash());
    }

    #[test]
    fn projection_applies_decided_changes_at_their_heights() {
        let c = custody(HandoffRule::Delay2, None, vec![SetChange::Join { key: KeyId(7) }]);
        let c = c.after(&[ChangeBook::tx_of(0)]); // decided in block 1 → validates height 3
        assert_eq!(c.projected(2).n(), 4);
        assert_eq!(c.projected(3).n(), 5);
        assert_eq!(c.projected(40).n(), 5);
        assert_eq!(c.next.n(), 4, "height 2 is still the old set");
        assert_eq!(c.next_after(&[]).n(), 5, "block 2 names the new set for height 3");
    }
}
