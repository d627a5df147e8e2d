//! State fingerprints: 64-bit SipHash-2-4 (fixed keys, so the same on every run and
//! machine) of what a value's `Hash` writes.
//!
//! A replica's `Hash` makes thousands of small writes (every slot, every field of every
//! message it holds). Fed one by one to `SipHasher`, each pays the hasher's buffering, and
//! that was most of the search's time. [`Fingerprinter`] collects the writes in a reused
//! buffer and hashes the bytes once, in bulk. The fingerprint is a function of the same
//! byte stream, so equal states still fingerprint equally.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};

/// A `Hasher` that buffers what it is given and SipHashes it once in `finish`.
pub struct Fingerprinter<'a> {
    buf: &'a mut Vec<u8>,
}

impl Hasher for Fingerprinter<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    fn finish(&self) -> u64 {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        h.write(self.buf);
        h.finish()
    }
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1 << 14));
}

/// The fingerprint of `x`. Reentrant: a `Hash` impl that fingerprints something itself
/// gets a buffer of its own.
pub fn of<T: Hash + ?Sized>(x: &T) -> u64 {
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let mut h = Fingerprinter { buf: &mut buf };
            x.hash(&mut h);
            h.finish()
        }
        Err(_) => {
            let mut buf = Vec::new();
            let mut h = Fingerprinter { buf: &mut buf };
            x.hash(&mut h);
            h.finish()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_byte_streams_fingerprint_equally_and_different_ones_do_not() {
        assert_eq!(of(&(1u32, "ab")), of(&(1u32, "ab")));
        assert_ne!(of(&(1u32, "ab")), of(&(2u32, "ab")));
        // The same as SipHash-2-4 with zero keys over the bytes `Hash` writes.
        let mut bytes = Vec::new();
        (7u64, [1u8, 2]).hash(&mut Fingerprinter { buf: &mut bytes });
        #[allow(deprecated)]
        let mut sip = std::hash::SipHasher::new();
        sip.write(&bytes);
        assert_eq!(of(&(7u64, [1u8, 2])), sip.finish());
    }

    /// A Hash impl that fingerprints a part of itself while being fingerprinted.
    struct Nested(u32);
    impl Hash for Nested {
        fn hash<H: Hasher>(&self, h: &mut H) {
            h.write_u64(of(&self.0));
        }
    }

    #[test]
    fn a_nested_fingerprint_does_not_disturb_the_outer_one() {
        let direct = {
            let mut bytes = Vec::new();
            let mut f = Fingerprinter { buf: &mut bytes };
            f.write_u64(of(&5u32));
            f.finish()
        };
        assert_eq!(of(&Nested(5)), direct);
    }
}
