//! [`Row`]: one small value per node, stored inline.
//!
//! The explorer copies the whole system for every step it takes, and each per-node list
//! (up, armed timers, deadlines, adversary ticks) was a heap allocation of a few bytes to
//! copy and free again: six of them per step. The searches that finish have four or five
//! nodes, so up to [`ROW_INLINE`] the values live in the row itself and a copy is a plain
//! memory copy; a larger system falls back to a `Vec`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

/// The most nodes a row holds without a heap allocation.
pub const ROW_INLINE: usize = 8;

#[derive(Clone)]
pub enum Row<T: Copy> {
    Inline(u8, [T; ROW_INLINE]),
    Heap(Vec<T>),
}

impl<T: Copy> Row<T> {
    /// `n` copies of `x`.
    pub fn filled(x: T, n: usize) -> Row<T> {
        if n <= ROW_INLINE { Row::Inline(n as u8, [x; ROW_INLINE]) } else { Row::Heap(vec![x; n]) }
    }
}

impl<T: Copy> Deref for Row<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Row::Inline(n, items) => &items[..*n as usize],
            Row::Heap(v) => v,
        }
    }
}

impl<T: Copy> DerefMut for Row<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Row::Inline(n, items) => &mut items[..*n as usize],
            Row::Heap(v) => v,
        }
    }
}

/// As the slice (and so as the `Vec` it replaced): fingerprints do not move.
impl<T: Copy + Hash> Hash for Row<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}

impl<T: Copy + PartialEq> PartialEq for Row<T> {
    fn eq(&self, other: &Row<T>) -> bool {
        **self == **other
    }
}

impl<T: Copy + Eq> Eq for Row<T> {}

impl<T: Copy + fmt::Debug> fmt::Debug for Row<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of<T: Hash + ?Sized>(x: &T) -> u64 {
        crate::explore::fingerprint::of(x)
    }

    #[test]
    fn a_row_reads_writes_and_hashes_like_the_vec_it_replaces() {
        for n in [0, 1, 4, ROW_INLINE, ROW_INLINE + 1, 20] {
            let mut row = Row::filled(7u64, n);
            let mut vec = vec![7u64; n];
            assert_eq!(matches!(row, Row::Inline(..)), n <= ROW_INLINE, "n={n}");
            for i in 0..n {
                row[i] += i as u64;
                vec[i] += i as u64;
            }
            assert_eq!(&*row, vec.as_slice());
            assert_eq!(hash_of(&row), hash_of(&vec), "n={n}");
            let copy = row.clone();
            row.iter_mut().for_each(|x| *x = 0);
            assert_eq!(&*copy, vec.as_slice(), "a copy is independent of the original");
            assert_eq!(copy == row, n == 0);
        }
    }
}
