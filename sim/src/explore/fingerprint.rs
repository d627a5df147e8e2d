//! State fingerprints: a 64-bit hash of the bytes a value's `Hash` writes, the same on
//! every run and machine.
//!
//! A replica's `Hash` makes thousands of small writes (every slot, every field of every
//! message it holds). Fed one by one to `SipHasher`, each paid the hasher's buffering, and
//! that was most of the search's time. [`Fingerprinter`] collects the writes in a reused
//! buffer and hashes the bytes once, in bulk, with [`bulk`]: 16 bytes per step through a
//! 64 × 64 → 128-bit multiply whose halves are folded together (the mixing step of the
//! wyhash family, which passes the SMHasher statistical suite). It is several times faster
//! than SipHash-2-4 on kilobytes. It needs no resistance to an adversary — nobody chooses
//! the states — only a good spread, because two distinct states with equal fingerprints
//! would be merged: at 10⁸ states the chance of any such pair is about 3 · 10⁻⁴
//! (docs/explore.md §3).

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
        bulk(self.buf)
    }
}

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// The full 128-bit product of `a` and `b`, its halves xor-ed: every input bit reaches
/// many output bits.
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// The 64-bit hash of `bytes` (module comment): each 16-byte block is mixed into the
/// state by one folded multiply; the tail is zero-padded, and the length enters the
/// final mix, so inputs that differ only in trailing zeros differ.
pub fn bulk(bytes: &[u8]) -> u64 {
    let mut h = K0;
    let mut blocks = bytes.chunks_exact(16);
    for b in &mut blocks {
        h = fold(word(&b[..8]) ^ K1, word(&b[8..]) ^ h);
    }
    let tail = blocks.remainder();
    let (a, b) = if tail.len() > 8 { (word(&tail[..8]), word(&tail[8..])) } else { (word(tail), 0) };
    h = fold(a ^ K1, b ^ h);
    fold(K2 ^ bytes.len() as u64, fold(h ^ K1, K2))
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
        // The bulk hash of the bytes `Hash` writes.
        let mut bytes = Vec::new();
        (7u64, [1u8, 2]).hash(&mut Fingerprinter { buf: &mut bytes });
        assert_eq!(of(&(7u64, [1u8, 2])), bulk(&bytes));
    }

    /// Inputs that differ only in trailing zero bytes (the padded tail) still differ.
    #[test]
    fn the_length_counts() {
        assert_ne!(bulk(b""), bulk(b"\0"), "the length counts");
        assert_ne!(bulk(b"\0"), bulk(b"\0\0"));
    }

    /// A spread check: one flipped input bit flips about half the output bits (over
    /// every bit position of inputs of 1 to 40 bytes), and 200,000 distinct small inputs
    /// do not collide.
    #[test]
    fn one_flipped_bit_flips_about_half_the_output() {
        let mut total = 0u64;
        let mut count = 0u64;
        for len in 1..=40usize {
            let base: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let h = bulk(&base);
            for bit in 0..len * 8 {
                let mut x = base.clone();
                x[bit / 8] ^= 1 << (bit % 8);
                let d = (bulk(&x) ^ h).count_ones() as u64;
                assert!((12..=52).contains(&d), "len {len} bit {bit}: {d} bits differ");
                total += d;
                count += 1;
            }
        }
        let mean = total as f64 / count as f64;
        assert!((31.0..33.0).contains(&mean), "mean {mean}");
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000u64 {
            assert!(seen.insert(bulk(&i.to_le_bytes()[..5])), "collision at {i}");
        }
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
