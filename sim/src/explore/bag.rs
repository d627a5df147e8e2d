//! [`Bag`]: the messages in flight, as a sorted list.
//!
//! The explorer copies the bag with the rest of the system at every step and drops the
//! copy later. With a few dozen messages in flight a `BTreeMap` spent an allocation per
//! node and a walk of its nodes on each copy and each drop; a sorted vector is one
//! allocation and one pass. It keeps the map's order (by [`Key`]), so everything that
//! walks the bag — fingerprints, the order of enabled steps, printed schedules — sees
//! the same sequence as before.

use super::model::{Key, Pending};

#[derive(Clone, Debug, Default)]
pub struct Bag {
    /// Sorted by key, no key twice.
    items: Vec<(Key, Pending)>,
}

impl Bag {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn find(&self, k: &Key) -> Result<usize, usize> {
        self.items.binary_search_by(|(x, _)| x.cmp(k))
    }

    pub fn get(&self, k: &Key) -> Option<&Pending> {
        self.find(k).ok().map(|i| &self.items[i].1)
    }

    pub fn remove(&mut self, k: &Key) -> Option<Pending> {
        self.find(k).ok().map(|i| self.items.remove(i).1)
    }

    /// Inserts `make()` under `k` unless `k` is already there (a copy that merges with
    /// one still in flight keeps the one in flight).
    pub fn insert_if_absent(&mut self, k: Key, make: impl FnOnce() -> Pending) {
        if let Err(i) = self.find(&k) {
            self.items.insert(i, (k, make()));
        }
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Pending)> {
        self.items.iter().map(|(k, p)| (k, p))
    }

    /// The entries from the first key at or after `from`, in key order.
    pub fn from(&self, from: &Key) -> impl Iterator<Item = (&Key, &Pending)> {
        let start = self.find(from).unwrap_or_else(|i| i);
        self.items[start..].iter().map(|(k, p)| (k, p))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.items.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Pending> {
        self.items.iter().map(|(_, p)| p)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Pending> {
        self.items.iter_mut().map(|(_, p)| p)
    }
}

/// `bag[&k]`: the message under `k`; panics if there is none (as a map's index does).
impl std::ops::Index<&Key> for Bag {
    type Output = Pending;
    fn index(&self, k: &Key) -> &Pending {
        self.get(k).expect("no message in flight under this key")
    }
}

impl<'a> IntoIterator for &'a Bag {
    type Item = (&'a Key, &'a Pending);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (Key, Pending)>, fn(&'a (Key, Pending)) -> (&'a Key, &'a Pending)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, p)| (k, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::Hash32;
    use crate::protocol::dbft::message::Wire;
    use crate::protocol::{MsgKind, NodeId};
    use std::collections::BTreeMap;
    use std::rc::Rc;

    fn pending(id: u64) -> Pending {
        Pending { id, kind: MsgKind::Other, msg: Rc::new(Wire::GetBlocks { from: id as u32 }), left: 0 }
    }

    /// The same operations on a bag and on the `BTreeMap` it replaced give the same
    /// contents in the same order, whatever order keys arrive in.
    #[test]
    fn a_bag_behaves_as_the_ordered_map_it_replaces() {
        let mut bag = Bag::default();
        let mut map: BTreeMap<Key, u64> = BTreeMap::new();
        let mut x: u64 = 7;
        for step in 0..2_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut h = Hash32::ZERO;
            h.0[0] = (x >> 40) as u8 % 5;
            let k = (NodeId((x >> 20) as u32 % 4), NodeId((x >> 30) as u32 % 4), h);
            if (x >> 50).is_multiple_of(3) {
                assert_eq!(bag.remove(&k).map(|p| p.id), map.remove(&k), "step {step}");
            } else {
                bag.insert_if_absent(k, || pending(step));
                map.entry(k).or_insert(step);
            }
            assert_eq!(bag.len(), map.len());
            assert_eq!(bag.get(&k).map(|p| p.id), map.get(&k).copied());
            let from = (NodeId(2), NodeId(0), Hash32::ZERO);
            assert!(bag.from(&from).map(|(k, p)| (*k, p.id)).eq(map.range(from..).map(|(k, v)| (*k, *v))));
        }
        assert!(bag.iter().map(|(k, p)| (*k, p.id)).eq(map.iter().map(|(k, v)| (*k, *v))));
        assert!(!map.is_empty(), "the walk must leave something in flight to compare");
    }
}
