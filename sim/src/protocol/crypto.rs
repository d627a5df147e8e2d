//! Simulated cryptography: hashes, keys and signatures that are real in effect.
//!
//! A signature is the 128-bit SipHash-2-4 MAC of the signed content (a 32-byte hash) under
//! the signer's secret key. Only code holding a [`KeyPair`] can make one; every replica
//! verifies through the [`Keyring`], whose public API can check a signature but never
//! produce one. A Byzantine behaviour is handed the key pairs it holds (its own, or a
//! compromised copy) and nothing else, so a forged or misattributed message fails
//! verification exactly as it would with real public-key signatures.
//!
//! Why SipHash and not a keyed BLAKE3: a signature is made once per message and checked by
//! every recipient, tens of thousands of times per simulated minute, over a fixed 32-byte
//! input. SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012,
//! <https://131002.net/siphash/siphash.pdf>; reference code <https://github.com/veorq/SipHash>)
//! is a pseudorandom function designed for exactly such short inputs: without the 128-bit
//! key its output cannot be predicted from any number of other (content, tag) pairs, which
//! is the property the model needs — a node cannot compute another key's signature, not
//! even from that key's signatures over other contents. It costs less than half of a keyed
//! BLAKE3 here (≈ 250 against ≈ 600 instructions).
//!
//! # Content hashes and the trace digest
//!
//! Content hashes (payloads, headers, transaction roots, blocks) stay BLAKE3. They are
//! also the identities by which a schedule names a message (`"msg"` in scenario schedules,
//! the hash prefixes `explore` writes into the scenarios it exports), so changing the
//! content hash would orphan every exported schedule; see docs/performance.md for what a
//! cheaper one would save.
//!
//! The trace digest (`engine::trace::Digest`) is a [`TraceHasher`]: MurmurHash3_x64_128
//! ([`murmur3_x64_128`]; Austin Appleby's public-domain SMHasher,
//! <https://github.com/aappleby/smhasher/blob/master/src/MurmurHash3.cpp>), checked
//! against SMHasher's published verification value and widened to 32 bytes. A digest only
//! tells runs of this program apart, so what it needs is:
//!
//! - *No accidental collisions.* Two different event streams get one digest with
//!   probability about 2⁻¹²⁸ (the other 16 bytes are a function of the first 16 and add
//!   nothing); among n distinct runs compared, about n²/2¹²⁹.
//! - *Nobody crafts collisions.* Murmur3 is not collision-resistant against someone who
//!   searches (seed-independent collisions of its block function are known), but event
//!   streams are produced by the simulator, not chosen to collide.
//! - *The same bits everywhere.* Integer code only: the same digest on every machine.
//!
//! It costs ≈ 1.5 instructions per byte against BLAKE3's ≈ 2.5 on this stream (1 KiB
//! chunks hashed with SIMD).
//!
//! Deliberately left out: key sizes, signature aggregation, multisig scripts. Neo's M-of-N
//! witness is modelled as a list of (validator index, signature) pairs.

use crate::engine::rng::{SimRng, Stream};
use serde::{Deserialize, Serialize, Serializer};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// A 256-bit hash: BLAKE3 for contents ([`Hash32::of`]), widened Murmur3 for the trace
/// digest ([`TraceHasher`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

/// Hashes a [`Hash32`] key by its first eight bytes: content hashes are BLAKE3 outputs, so
/// these are as good as any hash of them. For tables of hashes that are only looked up,
/// never iterated (their order could reach nothing): a `BTreeMap` compared 32-byte keys a
/// dozen times per lookup.
#[derive(Default)]
pub struct ByHash(u64);

impl std::hash::Hasher for ByHash {
    fn write(&mut self, bytes: &[u8]) {
        let mut w = [0u8; 8];
        let n = bytes.len().min(8);
        w[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(w);
    }

    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap`/`HashSet` hasher for [`Hash32`] keys ([`ByHash`]).
pub type ByHashBuild = std::hash::BuildHasherDefault<ByHash>;

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    pub fn of(bytes: &[u8]) -> Hash32 {
        Hash32(*blake3::hash(bytes).as_bytes())
    }

    /// The first 4 bytes as 8 hex digits: enough to tell blocks apart in a trace.
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The first eight bytes as a little-endian word: a key as good as the whole hash for
    /// tables that can accept a 2⁻⁶⁴ chance of two hashes sharing it.
    pub fn first_word(&self) -> u64 {
        word(&self.0, 0)
    }

    pub fn from_hex(s: &str) -> Option<Hash32> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Hash32(out))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash32::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// MurmurHash3_x64_128's constants.
const MURMUR_C1: u64 = 0x87c3_7b91_1142_53d5;
const MURMUR_C2: u64 = 0x4cf5_ad43_2745_937f;

/// MurmurHash3_x64_128 over a stream of bytes, fed in pieces of any length: the same
/// result as [`murmur3_x64_128`] of their concatenation with seed 0, without holding it.
/// [`TraceHasher::finish`] widens the 128 bits to a [`Hash32`]. Used for the trace
/// digest (module documentation).
#[derive(Clone, Default)]
pub struct TraceHasher {
    h1: u64,
    h2: u64,
    /// Bytes hashed so far, whole blocks and `tail`.
    len: u64,
    /// The bytes after the last whole 16-byte block: `tail[..tail_len]`.
    tail: [u8; 16],
    tail_len: usize,
}

impl TraceHasher {
    fn seeded(seed: u64) -> TraceHasher {
        TraceHasher { h1: seed, h2: seed, ..TraceHasher::default() }
    }

    #[inline(always)]
    fn block(&mut self, b: &[u8]) {
        let k1 = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let k2 = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        self.h1 ^= k1.wrapping_mul(MURMUR_C1).rotate_left(31).wrapping_mul(MURMUR_C2);
        self.h1 = self.h1.rotate_left(27).wrapping_add(self.h2).wrapping_mul(5).wrapping_add(0x52dc_e729);
        self.h2 ^= k2.wrapping_mul(MURMUR_C2).rotate_left(33).wrapping_mul(MURMUR_C1);
        self.h2 = self.h2.rotate_left(31).wrapping_add(self.h1).wrapping_mul(5).wrapping_add(0x3849_5ab5);
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (16 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 16 {
                return;
            }
            let tail = self.tail;
            self.block(&tail);
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(16);
        for b in &mut blocks {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The 128-bit result (h1, h2): bytes 0–7 and 8–15 of Murmur3's output, little-endian.
    fn finish128(&self) -> (u64, u64) {
        let (mut h1, mut h2) = (self.h1, self.h2);
        let mut t = [0u8; 16];
        t[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        let k1 = u64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let k2 = u64::from_le_bytes([t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]);
        // Missing tail bytes are zero, so a word of them contributes as Murmur3's tail
        // switch does; a word with no tail bytes at all is skipped.
        if self.tail_len > 8 {
            h2 ^= k2.wrapping_mul(MURMUR_C2).rotate_left(33).wrapping_mul(MURMUR_C1);
        }
        if self.tail_len > 0 {
            h1 ^= k1.wrapping_mul(MURMUR_C1).rotate_left(31).wrapping_mul(MURMUR_C2);
        }
        h1 ^= self.len;
        h2 ^= self.len;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        (h1, h2)
    }

    /// The [`Hash32`]: Murmur3's 16 bytes, then 16 more mixed from them (`fmix64` of each
    /// half offset by the golden ratio), so that the hex form looks like any hash. The
    /// second half adds no strength.
    pub fn finish(&self) -> Hash32 {
        let (h1, h2) = self.finish128();
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&h1.to_le_bytes());
        out[8..16].copy_from_slice(&h2.to_le_bytes());
        out[16..24].copy_from_slice(&fmix64(h1 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
        out[24..].copy_from_slice(&fmix64(h2 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
        Hash32(out)
    }
}

/// Murmur3's finalisation mix of a 64-bit word.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3_x64_128 of `bytes` with `seed`: the 16 output bytes (h1 then h2,
/// little-endian), as the reference code writes them.
pub fn murmur3_x64_128(bytes: &[u8], seed: u32) -> [u8; 16] {
    let mut h = TraceHasher::seeded(seed as u64);
    h.update(bytes);
    let (h1, h2) = h.finish128();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes());
    out
}

/// The public identity of a signing key (think: a public key). Validator sets are lists of
/// these; network addresses ([`crate::protocol::NodeId`]) are a separate thing, so that
/// twins and stolen keys can sign as one identity from two places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "K{}", self.0)
    }
}

/// A signature: 128 bits of keyed digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Signature(pub u128);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{:08x}", (self.0 >> 96) as u32)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:032x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        u128::from_str_radix(&s, 16).map(Signature).map_err(|_| serde::de::Error::custom("expected 32 hex digits"))
    }
}

/// The little-endian 64-bit word at `bytes[8 * i..]`.
fn word(bytes: &[u8; 32], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
    u64::from_le_bytes(w)
}

/// A signature: SipHash-2-4 with 128-bit output of the 32 content bytes, keyed with the
/// first 16 bytes of the secret (the other 16 are unused; the secret keeps its size so that
/// key generation draws what it always drew).
fn mac(secret: &[u8; 32], content: &Hash32) -> Signature {
    let m = [word(&content.0, 0), word(&content.0, 1), word(&content.0, 2), word(&content.0, 3)];
    Signature(siphash_2_4_128(word(secret, 0), word(secret, 1), &m))
}

/// SipHash-2-4 with its 128-bit output (the authors' specification: two compression rounds
/// per 8-byte word, four finalisation rounds per 64-bit half) of a 32-byte message given as
/// four little-endian words, under the key (k0, k1). The result is the 16 output bytes read
/// as a little-endian u128.
fn siphash_2_4_128(k0: u64, k1: u64, m: &[u64; 4]) -> u128 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d ^ 0xee,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    // The four message words, then the final word: the length (32) in the top byte, no
    // leftover bytes.
    for w in [m[0], m[1], m[2], m[3], 32u64 << 56] {
        v[3] ^= w;
        round(&mut v);
        round(&mut v);
        v[0] ^= w;
    }
    v[2] ^= 0xee;
    for _ in 0..4 {
        round(&mut v);
    }
    let lo = v[0] ^ v[1] ^ v[2] ^ v[3];
    v[1] ^= 0xdd;
    for _ in 0..4 {
        round(&mut v);
    }
    let hi = v[0] ^ v[1] ^ v[2] ^ v[3];
    (lo as u128) | ((hi as u128) << 64)
}

/// A key pair: the only thing that can sign. Whoever holds a clone of it can sign as `id`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyPair {
    pub id: KeyId,
    secret: [u8; 32],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.id)
    }
}

impl KeyPair {
    pub fn sign(&self, content: &Hash32) -> Signature {
        mac(&self.secret, content)
    }
}

/// Every key of the run. Replicas get `&Keyring` to *verify*; only the world builder hands
/// out [`KeyPair`]s, one per identity a node legitimately (or, for a compromised key,
/// illegitimately) holds.
#[derive(Clone)]
pub struct Keyring {
    secrets: Vec<[u8; 32]>,
    checked: CheckedMessages,
    verified: VerifiedSignatures,
    signers: KnownSigners,
}

/// How many signature checks [`Keyring::verify`] remembers.
const VERIFIED_SLOTS: usize = 256;

/// Recent answers of [`Keyring::verify`]: (key, content, signature) → valid, in a table
/// indexed by the signature's low bits. The answer is a function of those three values and
/// the run's fixed secrets, and an entry is used only for the very same three values, so a
/// hit gives the answer a fresh check would (and a forged signature, never computed by the
/// key's owner, is never remembered as valid). It saves the repeats: every replica checks
/// each Commit's signature over the same header hash when the Commit arrives and again
/// when it assembles the block, and the checkers check the certificate once more.
#[derive(Clone, Default)]
struct VerifiedSignatures {
    slots: RefCell<Vec<Option<Verified>>>,
}

/// One remembered signature check: key, content, signature, valid.
type Verified = (KeyId, Hash32, Signature, bool);

/// How many answers of [`Keyring::signer_of`] are remembered.
const SIGNER_SLOTS: usize = 4096;

/// Recent answers of [`Keyring::signer_of`]: (content, signature) → the signing key or
/// none, in a table indexed by the signature's low bits. `signer_of` tries every key in
/// turn, so one call costs up to N MACs, and under flood relay every node makes it for
/// every new payload it forwards (the transport check): N² MACs per payload, most of the
/// work of a 100-node gossip run. The answer is a function of the two values and the run's
/// fixed secrets, and an entry answers only for the very same two, so a hit returns what a
/// fresh scan would; a miss (or a slot taken by another signature) scans as before.
#[derive(Clone, Default)]
struct KnownSigners {
    slots: RefCell<Vec<Option<KnownSigner>>>,
}

/// One remembered answer: content, signature, signer.
type KnownSigner = (Hash32, Signature, Option<KeyId>);

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring({} keys)", self.secrets.len())
    }
}

/// How many shared messages [`Keyring::verify_shared`] remembers at least: `CHECKED_SETS`
/// sets of two.
const CHECKED_SETS: usize = 64;

/// At most this many sets ([`checked_sets`]).
const MAX_CHECKED_SETS: usize = 4096;

/// The number of sets for a run of `keys` keys: a power of two near `keys²/2`, at least
/// [`CHECKED_SETS`], at most [`MAX_CHECKED_SETS`]. Broadcasts in flight at once grow with
/// N²: at a C# cold start every node asks for recovery and about N/3 answer each by
/// broadcast, all at once, so at N = 100 some 3,400 RecoveryMessages are delivered
/// interleaved, and 128 remembered messages missed four deliveries in five (each miss a
/// payload hash and a signature check). Up to 11 keys the table is as it was.
fn checked_sets(keys: usize) -> usize {
    (keys.saturating_mul(keys) / 2).next_power_of_two().clamp(CHECKED_SETS, MAX_CHECKED_SETS)
}

/// The answers of recent [`Keyring::verify_shared`] checks: (the message, the key, the
/// answer), in a small table indexed by the message's address. A message may sit in
/// either of its set's two slots, and a new one replaces the less recently used: with one
/// slot per address, two messages that map to the same slot and are delivered interleaved
/// (a Commit and a PrepareResponse of one height, say) evicted each other at every
/// delivery and were checked again and again.
///
/// Why this is sound: each entry holds a clone of the message's `Rc`, so while it is
/// remembered the allocation can neither be freed (its address reused for other content)
/// nor changed — `Rc::get_mut` refuses a shared value, `Rc::make_mut` copies it, and the
/// messages have no interior mutability. The same address therefore means the same content,
/// and the remembered answer is the one a fresh check would give. The address only decides
/// which slot an entry takes (a hit or a miss, never an answer), so it reaches no behaviour
/// and no digest.
#[derive(Clone, Default)]
struct CheckedMessages {
    /// How many sets ([`checked_sets`]; a power of two; 0 until set: [`CHECKED_SETS`]).
    sets: usize,
    /// Set `i` is slots `2i` and `2i + 1`.
    slots: RefCell<Vec<Option<Checked>>>,
    /// Per set, the slot (0 or 1) to replace next: the one not used last.
    victim: RefCell<Vec<u8>>,
}

/// The set of [`CheckedMessages`] a message at `addr` goes to. Fibonacci hashing (the top
/// bits of the address times 2^64/φ): allocations of one size sit at a fixed stride, which
/// the plain low bits would map onto a few sets.
fn checked_set(addr: usize, sets: usize) -> usize {
    ((addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (u64::BITS - sets.ilog2())) as usize
}

/// One remembered check: the message (kept alive), the key, the answer.
type Checked = (Rc<dyn Any>, KeyId, bool);

impl Keyring {
    /// `count` keys derived from the run's master seed: key `i`'s secret is the first 32
    /// bytes of its own stream `Stream::Key(i)` (`engine::rng`), so adding a candidate
    /// never changes another key.
    pub fn generate(master_seed: u64, count: usize) -> Keyring {
        let secrets = (0..count as u32).map(|i| SimRng::derive(master_seed, Stream::Key(i)).next_bytes32()).collect();
        let checked = CheckedMessages { sets: checked_sets(count), ..CheckedMessages::default() };
        Keyring { secrets, checked, verified: VerifiedSignatures::default(), signers: KnownSigners::default() }
    }

    /// `check()` — a full check of `msg` against `key`, such as "its hash covers its
    /// fields and `key` signed that hash" — answered once per shared message and key.
    ///
    /// A broadcast reaches every recipient as the same `Rc`, and each recipient would hash
    /// the content and check the signature again: the answer cannot differ (same content,
    /// same key), so it is remembered for the most recent messages (see
    /// [`CheckedMessages`] for why an address identifies the content). A message rebuilt
    /// or altered by anyone is a new allocation and is checked afresh. `check` must depend
    /// on nothing but `msg` and `key`.
    pub fn verify_shared<T: 'static>(&self, msg: &Rc<T>, key: KeyId, check: impl FnOnce() -> bool) -> bool {
        let addr = Rc::as_ptr(msg) as *const () as usize;
        let sets = if self.checked.sets == 0 { CHECKED_SETS } else { self.checked.sets };
        let set = checked_set(addr, sets);
        {
            let slots = self.checked.slots.borrow();
            for way in 0..2 {
                if let Some(Some((m, k, ok))) = slots.get(2 * set + way)
                    && *k == key
                    && Rc::as_ptr(m) as *const () as usize == addr
                {
                    let ok = *ok;
                    self.checked.victim.borrow_mut()[set] = 1 - way as u8;
                    return ok;
                }
            }
        }
        let ok = check();
        let mut slots = self.checked.slots.borrow_mut();
        let mut victim = self.checked.victim.borrow_mut();
        if slots.len() < 2 * sets {
            slots.resize(2 * sets, None);
            victim.resize(sets, 0);
        }
        let way = victim[set] as usize;
        let shared: Rc<dyn Any> = msg.clone();
        slots[2 * set + way] = Some((shared, key, ok));
        victim[set] = 1 - way as u8;
        ok
    }

    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// True iff `sig` is `key`'s signature over `content`. Unknown keys never verify.
    pub fn verify(&self, key: KeyId, content: &Hash32, sig: &Signature) -> bool {
        let Some(secret) = self.secrets.get(key.0 as usize) else {
            return false;
        };
        let slot = sig.0 as usize % VERIFIED_SLOTS;
        if let Some(Some((k, c, s, ok))) = self.verified.slots.borrow().get(slot)
            && *k == key
            && s == sig
            && c == content
        {
            return *ok;
        }
        let ok = mac(secret, content) == *sig;
        let mut slots = self.verified.slots.borrow_mut();
        if slots.len() < VERIFIED_SLOTS {
            slots.resize(VERIFIED_SLOTS, None);
        }
        slots[slot] = Some((key, *content, *sig, ok));
        ok
    }

    /// Which key of the run made `sig` over `content`, if any. For the checkers, which
    /// may know every key: a signature proves its signer whatever index it claimed.
    pub fn signer_of(&self, content: &Hash32, sig: &Signature) -> Option<KeyId> {
        let slot = sig.0 as usize % SIGNER_SLOTS;
        if let Some(Some((c, s, signer))) = self.signers.slots.borrow().get(slot)
            && s == sig
            && c == content
        {
            return *signer;
        }
        let signer = (0..self.secrets.len() as u32).map(KeyId).find(|k| self.verify(*k, content, sig));
        let mut slots = self.signers.slots.borrow_mut();
        if slots.len() < SIGNER_SLOTS {
            slots.resize(SIGNER_SLOTS, None);
        }
        slots[slot] = Some((*content, *sig, signer));
        signer
    }

    /// Hands out the key pair of `key`. Called by the world builder only.
    pub(crate) fn keypair(&self, key: KeyId) -> Option<KeyPair> {
        self.secrets.get(key.0 as usize).map(|s| KeyPair { id: key, secret: *s })
    }
}

/// A `std::hash::Hasher` over BLAKE3, for hashing whole replica states with `#[derive(Hash)]`
/// (the field order of the derive is fixed, so the result is reproducible).
#[derive(Default)]
pub struct StateHasher(blake3::Hasher);

impl StateHasher {
    pub fn digest(&self) -> Hash32 {
        Hash32(*self.0.finalize().as_bytes())
    }
}

impl std::hash::Hasher for StateHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let d = self.digest();
        u64::from_le_bytes([d.0[0], d.0[1], d.0[2], d.0[3], d.0[4], d.0[5], d.0[6], d.0[7]])
    }
}

/// Canonical byte encoding for hashing: fixed-width little-endian fields, length-prefixed
/// sequences. Used for signatures, block hashes and the trace digest, so it must never
/// depend on anything but the values written.
#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

thread_local! {
    /// The buffer [`Enc::hashed`] lends: hashing a block, header or transaction list
    /// allocated and freed a fresh one each time (a twentieth of all allocations).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Enc {
    pub fn new() -> Enc {
        Enc { buf: Vec::with_capacity(128) }
    }

    /// The hash of what `write` encodes, written into a per-thread buffer that is kept
    /// between calls instead of a fresh allocation. Re-entrant: a nested call finds the
    /// buffer lent out and starts an empty one.
    pub fn hashed(write: impl FnOnce(&mut Enc)) -> Hash32 {
        let mut e = Enc { buf: SCRATCH.take() };
        e.buf.clear();
        write(&mut e);
        let h = e.finish();
        SCRATCH.set(e.buf);
        h
    }
    pub fn u8(&mut self, x: u8) -> &mut Self {
        self.buf.push(x);
        self
    }
    pub fn u16(&mut self, x: u16) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u32(&mut self, x: u32) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u128(&mut self, x: u128) -> &mut Self {
        self.buf.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn hash(&mut self, h: &Hash32) -> &mut Self {
        self.buf.extend_from_slice(&h.0);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
        self
    }
    pub fn finish(&self) -> Hash32 {
        Hash32::of(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_holder_can_sign() {
        let ring = Keyring::generate(1, 4);
        let k1 = ring.keypair(KeyId(1)).unwrap();
        let k2 = ring.keypair(KeyId(2)).unwrap();
        let msg = Hash32::of(b"block header");
        let sig = k1.sign(&msg);
        assert!(ring.verify(KeyId(1), &msg, &sig));
        // Misattribution: the same signature claimed for another key fails.
        assert!(!ring.verify(KeyId(2), &msg, &sig));
        // Another signer's signature over the same content fails for key 1.
        assert!(!ring.verify(KeyId(1), &msg, &k2.sign(&msg)));
        // Tampered content fails.
        assert!(!ring.verify(KeyId(1), &Hash32::of(b"other"), &sig));
        // Unknown keys never verify.
        assert!(!ring.verify(KeyId(99), &msg, &sig));
        // Another run's keys differ.
        let other = Keyring::generate(2, 4);
        assert!(!other.verify(KeyId(1), &msg, &sig));
    }

    /// The published SipHash-2-4 128-bit test vector for key 00 01 .. 0f and the 32-byte
    /// message 00 01 .. 1f (vectors.h of the authors' reference code,
    /// https://github.com/veorq/SipHash, entry 32 of `vectors_sip128`).
    #[test]
    fn siphash_matches_the_published_test_vector() {
        let key: Vec<u8> = (0u8..32).collect();
        let key: [u8; 32] = key.try_into().unwrap();
        let content = Hash32(key);
        let want: [u8; 16] =
            [0x7c, 0x39, 0x56, 0xca, 0x5e, 0xea, 0xfc, 0x3e, 0x36, 0x3e, 0x9d, 0x55, 0x65, 0x46, 0xeb, 0x68];
        // The key is bytes 00..0f: the first 16 bytes of this 32-byte secret.
        assert_eq!(mac(&key, &content).0.to_le_bytes(), want);
    }

    /// A remembered answer is given only for the very same shared message and key; a copy
    /// (another allocation, perhaps altered) and another key are checked afresh.
    #[test]
    fn verify_shared_remembers_per_message_and_key() {
        let ring = Keyring::generate(1, 2);
        let calls = std::cell::Cell::new(0);
        let check = |answer: bool| {
            calls.set(calls.get() + 1);
            answer
        };
        let m = Rc::new(5u64);
        assert!(ring.verify_shared(&m, KeyId(0), || check(true)));
        assert!(ring.verify_shared(&m, KeyId(0), || check(false)), "the first answer is remembered");
        assert_eq!(calls.get(), 1);
        assert!(!ring.verify_shared(&m, KeyId(1), || check(false)), "another key is checked");
        let copy = Rc::new(*m);
        assert!(!ring.verify_shared(&copy, KeyId(0), || check(false)), "another allocation is checked");
        assert_eq!(calls.get(), 3);
        // While remembered, the message cannot be changed in place.
        let mut held = m.clone();
        drop(m);
        assert!(Rc::get_mut(&mut held).is_none());
    }

    /// Two messages of one set, checked alternately, are both remembered (with one slot
    /// per set each evicted the other: a check per delivery).
    #[test]
    fn verify_shared_keeps_two_messages_of_one_set() {
        let ring = Keyring::generate(1, 1);
        let set = |m: &Rc<u64>| checked_set(Rc::as_ptr(m) as *const () as usize, checked_sets(1));
        let mut held = vec![Rc::new(0u64)];
        let (a, b) = loop {
            let m = Rc::new(held.len() as u64);
            if let Some(first) = held.iter().find(|h| set(h) == set(&m)) {
                break (first.clone(), m);
            }
            assert!(held.len() < 10_000, "no two allocations share a set");
            held.push(m);
        };
        let calls = std::cell::Cell::new(0);
        for m in [&a, &b, &a, &b, &a] {
            assert!(ring.verify_shared(m, KeyId(0), || {
                calls.set(calls.get() + 1);
                true
            }));
        }
        assert_eq!(calls.get(), 2, "each message is checked once");
    }

    /// Remembered answers are the computed ones: a valid signature stays valid, and the
    /// same signature under another key, over other content or altered into the same slot
    /// of the table is checked afresh and refused, before and after the valid one is
    /// remembered.
    #[test]
    fn verify_remembers_only_the_same_key_content_and_signature() {
        let ring = Keyring::generate(5, 3);
        let (c1, c2) = (Hash32::of(b"one"), Hash32::of(b"two"));
        let k0 = ring.keypair(KeyId(0)).unwrap();
        let s = k0.sign(&c1);
        let same_slot = Signature(s.0.wrapping_add(VERIFIED_SLOTS as u128));
        for _ in 0..2 {
            assert!(ring.verify(KeyId(0), &c1, &s));
            assert!(!ring.verify(KeyId(1), &c1, &s));
            assert!(!ring.verify(KeyId(0), &c2, &s));
            assert!(!ring.verify(KeyId(0), &c1, &same_slot));
            assert!(!ring.verify(KeyId(9), &c1, &s));
        }
        for i in 0..3 * VERIFIED_SLOTS as u64 {
            let c = Hash32::of(&i.to_le_bytes());
            let sig = k0.sign(&c);
            assert!(!ring.verify(KeyId(0), &c, &Signature(sig.0.wrapping_add(VERIFIED_SLOTS as u128))));
            assert!(ring.verify(KeyId(0), &c, &sig));
            assert!(!ring.verify(KeyId(2), &c, &sig));
        }
    }

    /// `signer_of` answers from its table exactly as a scan of every key would: the right
    /// signer of each key, none for a forged signature, none for a valid signature over
    /// other content (same signature, so the same slot), none for a signature sharing a
    /// slot — each asked twice, so the second answer comes from the table where it can.
    #[test]
    fn signer_of_remembers_only_the_same_content_and_signature() {
        let ring = Keyring::generate(7, 5);
        let scan = |c: &Hash32, s: &Signature| (0..5).map(KeyId).find(|k| ring.verify(*k, c, s));
        for i in 0..3 * SIGNER_SLOTS as u64 {
            let (c, other) = (Hash32::of(&i.to_le_bytes()), Hash32::of(&(i + 1).to_le_bytes()));
            let key = KeyId((i % 5) as u32);
            let sig = ring.keypair(key).unwrap().sign(&c);
            let forged = Signature(sig.0 ^ 1);
            let same_slot = Signature(sig.0.wrapping_add(SIGNER_SLOTS as u128));
            for _ in 0..2 {
                assert_eq!(ring.signer_of(&c, &sig), Some(key));
                assert_eq!(ring.signer_of(&other, &sig), None);
                assert_eq!(ring.signer_of(&c, &forged), None);
                assert_eq!(ring.signer_of(&c, &same_slot), None);
                assert_eq!(ring.signer_of(&c, &sig), scan(&c, &sig));
            }
        }
    }

    /// SMHasher's verification test of MurmurHash3_x64_128 (`VerificationTest` in its
    /// KeysetTest.cpp): hash the keys {}, {0}, {0, 1}, … {0, …, 254} with seed 256 − length,
    /// hash the 256 results concatenated with seed 0, and read the first four bytes as a
    /// little-endian u32. SMHasher's table lists 0x6384BA69 for "Murmur3F".
    #[test]
    fn murmur3_matches_smhasher_verification_value() {
        let key: Vec<u8> = (0..=255u8).collect();
        let mut all = Vec::new();
        for i in 0..256usize {
            all.extend_from_slice(&murmur3_x64_128(&key[..i], 256 - i as u32));
        }
        let h = murmur3_x64_128(&all, 0);
        assert_eq!(u32::from_le_bytes([h[0], h[1], h[2], h[3]]), 0x6384_BA69);
    }

    /// Fed in pieces, the hasher gives the hash of the whole: every split of inputs of
    /// 0–80 bytes into three pieces.
    #[test]
    fn content_hasher_streams() {
        let data: Vec<u8> = (0..80u8).map(|b| b.wrapping_mul(37)).collect();
        for n in 0..=data.len() {
            let mut one = TraceHasher::default();
            one.update(&data[..n]);
            let whole = one.finish();
            assert_eq!(whole.0[..16], murmur3_x64_128(&data[..n], 0));
            for a in 0..=n {
                for b in a..=n {
                    let mut h = TraceHasher::default();
                    h.update(&data[..a]);
                    h.update(&data[a..b]);
                    h.update(&data[b..n]);
                    assert_eq!(h.finish(), whole, "{n} bytes split at {a}, {b}");
                }
            }
        }
    }

    #[test]
    fn hex_round_trips() {
        let h = Hash32::of(b"x");
        assert_eq!(Hash32::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash32::from_hex("zz"), None);
        assert_eq!(h.short().len(), 8);
    }

    /// The table keeps its old size up to 11 keys and grows with N² beyond, within bounds.
    #[test]
    fn the_shared_check_table_grows_with_the_square_of_the_keys() {
        for keys in [0, 1, 7, 11] {
            assert_eq!(checked_sets(keys), CHECKED_SETS);
        }
        assert_eq!(checked_sets(21), 256);
        assert_eq!(checked_sets(100), MAX_CHECKED_SETS);
        assert_eq!(checked_sets(usize::MAX), MAX_CHECKED_SETS);
        for keys in 0..200 {
            assert!(checked_sets(keys).is_power_of_two());
        }
    }
}
