//! Validator-set change transactions and what applying one does.
//!
//! A change is an ordinary transaction: it enters mempools, a primary includes it in a
//! proposal, and only a final block decides it. Its body is fixed by its id (in Neo a
//! transaction id is the hash of its content), so every node that sees the id in a block
//! knows what the change says; the run's [`ChangeBook`] holds the bodies, the way a real
//! node holds the bodies of the transactions it has received. Change ids live in their
//! own range above every workload transaction, so a proposal lists them first.
//!
//! Applying a change is forgiving, as a ledger must be: a change that makes no sense any
//! more when it takes effect (a join of a key already in the set, a leave that would empty
//! the set) does nothing, and says so; it still counts as one change for the churn limit.

use crate::protocol::block::TxId;
use crate::protocol::crypto::KeyId;
use serde::Serialize;
use std::collections::BTreeSet;

/// The first transaction id of the change range.
pub const CHANGE_TX_BASE: TxId = 1 << 62;

/// One change to the validator set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum SetChange {
    /// A registered candidate joins.
    Join { key: KeyId },
    /// A validator leaves (its key may join again later).
    Leave { key: KeyId },
    /// A validator hands its seat to a new key.
    Rotate { from: KeyId, to: KeyId },
    /// The whole set is replaced.
    Replace { keys: Vec<KeyId> },
    /// The operator revokes its own key (it believes the key compromised): the key leaves
    /// and can never validate again (Flow's self-ejection).
    Eject { key: KeyId },
}

impl SetChange {
    pub fn name(&self) -> &'static str {
        match self {
            SetChange::Join { .. } => "join",
            SetChange::Leave { .. } => "leave",
            SetChange::Rotate { .. } => "rotate",
            SetChange::Replace { .. } => "replace",
            SetChange::Eject { .. } => "eject",
        }
    }

    /// Applies the change to `set`; an ejection also revokes its key in `revoked` (not of
    /// the last member, which cannot leave). Returns false when the change had no effect
    /// on the set. The set never becomes empty and never holds a revoked key.
    pub fn apply(&self, set: &mut BTreeSet<KeyId>, revoked: &mut BTreeSet<KeyId>) -> bool {
        match self {
            SetChange::Join { key } => !revoked.contains(key) && set.insert(*key),
            SetChange::Leave { key } => set.len() > 1 && set.remove(key),
            SetChange::Rotate { from, to } => {
                if set.contains(from) && !set.contains(to) && !revoked.contains(to) {
                    set.remove(from);
                    set.insert(*to);
                    true
                } else {
                    false
                }
            }
            SetChange::Replace { keys } => {
                let new: BTreeSet<KeyId> = keys.iter().copied().filter(|k| !revoked.contains(k)).collect();
                if new.is_empty() || new == *set {
                    return false;
                }
                *set = new;
                true
            }
            // The last member cannot leave, so it cannot be ejected either: revoking the
            // key of the set's only member would leave a set whose every signer is refused.
            SetChange::Eject { key } if set.len() == 1 && set.contains(key) => false,
            SetChange::Eject { key } => {
                revoked.insert(*key);
                set.remove(key)
            }
        }
    }
}

/// The bodies of the run's change transactions: change i has id `CHANGE_TX_BASE + i`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ChangeBook {
    pub changes: Vec<SetChange>,
}

impl ChangeBook {
    pub fn new(changes: Vec<SetChange>) -> ChangeBook {
        ChangeBook { changes }
    }

    pub fn tx_of(index: usize) -> TxId {
        CHANGE_TX_BASE + index as TxId
    }

    /// The change a transaction carries, if it is a known change transaction.
    pub fn get(&self, tx: TxId) -> Option<&SetChange> {
        let i = tx.checked_sub(CHANGE_TX_BASE)?;
        self.changes.get(usize::try_from(i).ok()?)
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[u32]) -> BTreeSet<KeyId> {
        keys.iter().map(|k| KeyId(*k)).collect()
    }

    #[test]
    fn each_change_does_what_it_says_and_nothing_else() {
        let mut revoked = BTreeSet::new();
        let mut s = set(&[0, 1, 2, 3]);
        assert!(SetChange::Join { key: KeyId(7) }.apply(&mut s, &mut revoked));
        assert_eq!(s, set(&[0, 1, 2, 3, 7]));
        assert!(!SetChange::Join { key: KeyId(7) }.apply(&mut s, &mut revoked), "already a member");
        assert!(SetChange::Leave { key: KeyId(0) }.apply(&mut s, &mut revoked));
        assert!(!SetChange::Leave { key: KeyId(0) }.apply(&mut s, &mut revoked), "not a member");
        assert!(SetChange::Rotate { from: KeyId(1), to: KeyId(9) }.apply(&mut s, &mut revoked));
        assert_eq!(s, set(&[2, 3, 7, 9]));
        assert!(!SetChange::Rotate { from: KeyId(1), to: KeyId(8) }.apply(&mut s, &mut revoked), "from left");
        assert!(!SetChange::Rotate { from: KeyId(2), to: KeyId(3) }.apply(&mut s, &mut revoked), "to is in");
        assert!(SetChange::Eject { key: KeyId(3) }.apply(&mut s, &mut revoked));
        assert_eq!((s.clone(), revoked.clone()), (set(&[2, 7, 9]), set(&[3])));
        assert!(!SetChange::Join { key: KeyId(3) }.apply(&mut s, &mut revoked), "an ejected key never returns");
        assert!(!SetChange::Rotate { from: KeyId(2), to: KeyId(3) }.apply(&mut s, &mut revoked));
        assert!(SetChange::Replace { keys: vec![KeyId(3), KeyId(4), KeyId(5)] }.apply(&mut s, &mut revoked));
        assert_eq!(s, set(&[4, 5]), "replace drops revoked keys");
    }

    #[test]
    fn the_set_never_becomes_empty() {
        let mut revoked = BTreeSet::new();
        let mut s = set(&[4]);
        assert!(!SetChange::Leave { key: KeyId(4) }.apply(&mut s, &mut revoked));
        assert!(!SetChange::Replace { keys: vec![] }.apply(&mut s, &mut revoked));
        // The last member cannot be ejected, as it cannot leave: no removal and no
        // revocation (a revoked key in the set would be a member whose every message is
        // refused; it was kept signing instead, unrefused).
        assert!(!SetChange::Eject { key: KeyId(4) }.apply(&mut s, &mut revoked));
        assert_eq!((s.clone(), revoked.clone()), (set(&[4]), set(&[])));
        // With another member left it goes, and for good.
        s.insert(KeyId(5));
        assert!(SetChange::Eject { key: KeyId(4) }.apply(&mut s, &mut revoked));
        assert_eq!((s, revoked), (set(&[5]), set(&[4])));
    }

    #[test]
    fn change_ids_map_to_bodies() {
        let book = ChangeBook::new(vec![SetChange::Join { key: KeyId(5) }]);
        assert_eq!(book.get(ChangeBook::tx_of(0)), Some(&SetChange::Join { key: KeyId(5) }));
        assert_eq!(book.get(ChangeBook::tx_of(1)), None);
        assert_eq!(book.get(17), None, "workload transactions are not changes");
    }
}
