//! Blocks, headers, transactions and commit certificates.
//!
//! A header is what Commit signatures cover (as in Neo, the signature is over the header
//! hash only). The certificate is the block's witness: the commit signatures, each with the
//! validator index that made it and the view of the Commit that carried it, so anyone can
//! check "≥ M valid signatures, one view, from the set declared for this height" from the
//! block alone.

use super::crypto::{Enc, Hash32, KeyId, KeyPair, Keyring, Signature};
use crate::validators::ValidatorSet;
use serde::Serialize;
use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::rc::Rc;

/// A transaction is identified by a number; its content does not matter to consensus.
pub type TxId = u64;

/// Block header: the signed part of a block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Header {
    pub version: u32,
    pub height: u32,
    pub prev_hash: Hash32,
    /// Milliseconds since the run started (the primary's clock when it proposed).
    pub timestamp_ms: u64,
    pub nonce: u64,
    pub primary: u16,
    pub tx_root: Hash32,
    /// Hash of the validator set that produces height + 1 (Neo's NextConsensus).
    pub next_validators: Hash32,
}

impl Header {
    /// The header's hash, remembered for the last few headers hashed ([`Recent`]): every
    /// replica builds the same header from the same proposal and hashes it.
    pub fn hash(&self) -> Hash32 {
        HEADER_HASHES.with_borrow_mut(|m| m.get_or(self, |h| h.compute_hash()))
    }

    fn compute_hash(&self) -> Hash32 {
        Enc::hashed(|e| {
            e.u8(0x48)
                .u32(self.version)
                .u32(self.height)
                .hash(&self.prev_hash)
                .u64(self.timestamp_ms)
                .u64(self.nonce)
                .u16(self.primary)
                .hash(&self.tx_root)
                .hash(&self.next_validators);
        })
    }
}

/// The transaction root of `txs`, remembered for the last few lists hashed ([`Recent`]):
/// every replica computes it for the same proposal, and again for the same block when it
/// archives it.
pub fn tx_root(txs: &[TxId]) -> Hash32 {
    TX_ROOTS.with_borrow_mut(|m| m.get_or(txs, compute_tx_root))
}

fn compute_tx_root(txs: &[TxId]) -> Hash32 {
    Enc::hashed(|e| {
        e.u8(0x54).u32(txs.len() as u32);
        for t in txs {
            e.u64(*t);
        }
    })
}

/// The last [`RECENT_HASHES`] answers of a hash function of `K`'s content, compared by
/// content (never by address): the answer for an equal input is the answer, so whether a
/// lookup hits changes nothing but the work done. One table per thread; the simulator's
/// runs on a thread share it harmlessly for the same reason.
struct Recent<K> {
    entries: Vec<(K, Hash32)>,
    /// The entry the next new input replaces once the table is full.
    next: usize,
}

/// How many recent inputs a [`Recent`] table remembers.
const RECENT_HASHES: usize = 4;

impl<K> Recent<K> {
    const fn new() -> Recent<K> {
        Recent { entries: Vec::new(), next: 0 }
    }

    fn get_or<Q>(&mut self, input: &Q, compute: impl FnOnce(&Q) -> Hash32) -> Hash32
    where
        Q: ?Sized + PartialEq + ToOwned<Owned = K>,
        K: std::borrow::Borrow<Q>,
    {
        if let Some((_, h)) = self.entries.iter().find(|(k, _)| k.borrow() == input) {
            return *h;
        }
        let h = compute(input);
        if self.entries.len() < RECENT_HASHES {
            self.entries.push((input.to_owned(), h));
        } else {
            self.entries[self.next] = (input.to_owned(), h);
            self.next = (self.next + 1) % RECENT_HASHES;
        }
        h
    }
}

thread_local! {
    static TX_ROOTS: RefCell<Recent<Vec<TxId>>> = const { RefCell::new(Recent::new()) };
    static HEADER_HASHES: RefCell<Recent<Header>> = const { RefCell::new(Recent::new()) };
}

/// One commit signature inside a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CertSig {
    pub index: u16,
    pub view: u8,
    pub sig: Signature,
}

/// A finalised block: header, transactions, the next validator set and the certificate.
///
/// Built with [`Block::new`] and not changed afterwards (blocks are shared behind `Rc`):
/// the block remembers its [`Block::digest`], which a change would leave stale. A clone
/// forgets it, so a copy may be altered (as Byzantine nodes do) before its digest is taken.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Block {
    pub hash: Hash32,
    pub header: Header,
    pub txs: Vec<TxId>,
    pub next_validators: Rc<ValidatorSet>,
    /// View in which the block was assembled.
    pub view: u8,
    pub certificate: Vec<CertSig>,
    #[serde(skip)]
    digest: DigestMemo,
}

/// [`Block::digest`] once computed. Not part of the block's value: it compares equal,
/// hashes to nothing and is not serialised, so blocks compare, hash (replica state hashes)
/// and print as they did before it existed; a clone starts empty.
#[derive(Default)]
struct DigestMemo(OnceCell<Hash32>);

impl Clone for DigestMemo {
    fn clone(&self) -> Self {
        DigestMemo::default()
    }
}

impl PartialEq for DigestMemo {
    fn eq(&self, _: &DigestMemo) -> bool {
        true
    }
}

impl Eq for DigestMemo {}

impl std::hash::Hash for DigestMemo {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl fmt::Debug for Block {
    /// As the derived form printed before the digest memo (which it leaves out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("hash", &self.hash)
            .field("header", &self.header)
            .field("txs", &self.txs)
            .field("next_validators", &self.next_validators)
            .field("view", &self.view)
            .field("certificate", &self.certificate)
            .finish()
    }
}

impl Block {
    pub fn new(
        hash: Hash32,
        header: Header,
        txs: Vec<TxId>,
        next_validators: Rc<ValidatorSet>,
        view: u8,
        certificate: Vec<CertSig>,
    ) -> Block {
        Block { hash, header, txs, next_validators, view, certificate, digest: DigestMemo::default() }
    }

    pub fn height(&self) -> u32 {
        self.header.height
    }

    /// A digest of the whole block: the header hash plus the view and the certificate, so
    /// two copies that differ only in who signed them differ here (the trace digest uses it).
    ///
    /// Computed once per block: a block is hashed when it is relayed (its message's hash)
    /// and when each node persists it, and the certificate makes it several BLAKE3 blocks.
    pub fn digest(&self) -> Hash32 {
        *self.digest.0.get_or_init(|| self.compute_digest())
    }

    fn compute_digest(&self) -> Hash32 {
        // A kept buffer: it grows once to the largest certificate, then never regrows.
        Enc::hashed(|e| {
            e.u8(0x42).hash(&self.hash).u8(self.view).u32(self.certificate.len() as u32);
            for c in &self.certificate {
                e.u16(c.index).u8(c.view).u128(c.sig.0);
            }
        })
    }

    /// The genesis block (height 0): no certificate; names the initial validator set.
    pub fn genesis(validators: Rc<ValidatorSet>) -> Block {
        let header = Header {
            version: 0,
            height: 0,
            prev_hash: Hash32::ZERO,
            timestamp_ms: 0,
            nonce: 0,
            primary: 0,
            tx_root: tx_root(&[]),
            next_validators: validators.hash(),
        };
        Block::new(header.hash(), header, Vec::new(), validators, 0, Vec::new())
    }
}

/// Why a certificate does not prove a block final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CertError {
    TooFewSignatures {
        have: usize,
        need: usize,
    },
    /// A double-quorum hand-off block without enough signatures of the outgoing set.
    TooFewPreviousSignatures {
        have: usize,
        need: usize,
    },
    MixedViews {
        views: Vec<u8>,
    },
    IndexOutOfSet {
        index: u16,
    },
    DuplicateSigner {
        index: u16,
    },
    BadSignature {
        index: u16,
    },
    HashMismatch,
}

/// Who must have signed a block, and how many.
///
/// The signers of a block are indexed in one list: the block's own set, then — at a
/// double-quorum hand-off — the keys of the previous set that left, in ascending order.
/// Those outgoing validators sign the first block of their successors too, so it carries
/// `need` signatures of its own set and `previous.1` of the set before it.
#[derive(Clone, Copy, Debug)]
pub struct Quorum<'a> {
    pub set: &'a ValidatorSet,
    pub need: usize,
    /// The previous set and how many of its keys must have signed (double quorum only).
    pub previous: Option<(&'a ValidatorSet, usize)>,
}

impl<'a> Quorum<'a> {
    pub fn of(set: &'a ValidatorSet, need: usize) -> Quorum<'a> {
        Quorum { set, need, previous: None }
    }

    /// The key at signer index `index`.
    pub fn signer(&self, index: usize) -> Option<KeyId> {
        if let Some(k) = self.set.key(index) {
            return Some(k);
        }
        let (prev, _) = self.previous?;
        prev.keys.iter().copied().filter(|k| !self.set.contains(*k)).nth(index - self.set.n())
    }
}

/// Checks `block`'s certificate against `q` (the set declared for its height), requiring
/// `q.need` distinct valid signatures of that set (and of the previous set at a
/// double-quorum hand-off). Replicas call it with their quorum; the S3 and S5 invariants
/// call it with the true M, so a replica that accepts too little is caught.
pub fn verify_certificate(block: &Block, q: &Quorum, keys: &Keyring) -> Result<(), CertError> {
    if block.header.hash() != block.hash {
        return Err(CertError::HashMismatch);
    }
    let n = q.set.n();
    let mut seen: Vec<u16> = Vec::with_capacity(block.certificate.len());
    let mut views: Vec<u8> = Vec::new();
    let (mut own, mut previous) = (0, 0);
    for cs in &block.certificate {
        let Some(key) = q.signer(cs.index as usize) else {
            return Err(CertError::IndexOutOfSet { index: cs.index });
        };
        if seen.contains(&cs.index) {
            return Err(CertError::DuplicateSigner { index: cs.index });
        }
        seen.push(cs.index);
        if !keys.verify(key, &block.hash, &cs.sig) {
            return Err(CertError::BadSignature { index: cs.index });
        }
        if !views.contains(&cs.view) {
            views.push(cs.view);
        }
        own += ((cs.index as usize) < n) as usize;
        previous += q.previous.is_some_and(|(p, _)| p.contains(key)) as usize;
    }
    if views.len() > 1 {
        views.sort_unstable();
        return Err(CertError::MixedViews { views });
    }
    if own < q.need {
        return Err(CertError::TooFewSignatures { have: own, need: q.need });
    }
    if let Some((_, need)) = q.previous
        && previous < need
    {
        return Err(CertError::TooFewPreviousSignatures { have: previous, need });
    }
    Ok(())
}

/// Signs a header hash for a commit (the Commit message's block signature).
pub fn sign_header(key: &KeyPair, header_hash: &Hash32) -> Signature {
    key.sign(header_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Keyring, Rc<ValidatorSet>, Block) {
        let ring = Keyring::generate(3, 4);
        let set = Rc::new(ValidatorSet::new((0..4).map(KeyId).collect()));
        let g = Block::genesis(set.clone());
        let header = Header {
            version: 0,
            height: 1,
            prev_hash: g.hash,
            timestamp_ms: 15_000,
            nonce: 9,
            primary: 1,
            tx_root: tx_root(&[1, 2]),
            next_validators: set.hash(),
        };
        let hash = header.hash();
        let certificate = (0..3u16)
            .map(|i| CertSig { index: i, view: 0, sig: ring.keypair(KeyId(i as u32)).unwrap().sign(&hash) })
            .collect();
        let b = Block::new(hash, header, vec![1, 2], set.clone(), 0, certificate);
        (ring, set, b)
    }

    /// The remembered digest is the computed one, and a clone altered before its digest is
    /// taken gets its own (the memo does not travel with the clone); the memo changes
    /// neither equality nor the block's printed form.
    #[test]
    fn the_digest_is_remembered_per_block_not_per_clone() {
        let (_, _, b) = setup();
        let first = b.digest();
        assert_eq!(first, b.compute_digest());
        assert_eq!(b.digest(), first);
        let mut altered = b.clone();
        altered.certificate.pop();
        assert_ne!(altered.digest(), first, "the clone must not reuse the original's digest");
        assert_eq!(altered.digest(), altered.compute_digest());
        let fresh = b.clone();
        assert_eq!(fresh, b);
        assert!(!format!("{b:?}").contains("digest"), "{b:?}");
    }

    /// The remembered tx roots and header hashes are the computed ones, for inputs that
    /// come back after others pushed them out of the table and for inputs that differ only
    /// in the last position.
    #[test]
    fn remembered_hashes_are_the_computed_ones() {
        let lists: Vec<Vec<TxId>> = (0..2 * RECENT_HASHES as u64 + 3).map(|i| (i..i + 5).collect()).collect();
        for round in 0..3 {
            for (i, txs) in lists.iter().enumerate().rev().skip(round) {
                assert_eq!(tx_root(txs), compute_tx_root(txs), "list {i} in round {round}");
                let mut other = txs.clone();
                *other.last_mut().unwrap() += 100;
                assert_ne!(tx_root(&other), tx_root(txs));
                assert_eq!(tx_root(&other), compute_tx_root(&other));
            }
        }
        assert_ne!(tx_root(&[]), tx_root(&[0]));
        let (_, _, b) = setup();
        for nonce in [1, 2, 3, 1, 4, 5, 6, 2, 1] {
            let mut h = b.header.clone();
            h.nonce = nonce;
            assert_eq!(h.hash(), h.compute_hash(), "nonce {nonce}");
        }
        assert_eq!(b.header.hash(), b.hash);
    }

    #[test]
    fn certificate_checks() {
        let (ring, set, b) = setup();
        assert_eq!(verify_certificate(&b, &Quorum::of(&set, 3), &ring), Ok(()));
        assert_eq!(
            verify_certificate(&b, &Quorum::of(&set, 4), &ring),
            Err(CertError::TooFewSignatures { have: 3, need: 4 })
        );
        let mut mixed = b.clone();
        mixed.certificate[1].view = 1;
        assert!(matches!(verify_certificate(&mixed, &Quorum::of(&set, 3), &ring), Err(CertError::MixedViews { .. })));
        let mut dup = b.clone();
        dup.certificate[1] = dup.certificate[0];
        assert_eq!(verify_certificate(&dup, &Quorum::of(&set, 3), &ring), Err(CertError::DuplicateSigner { index: 0 }));
        let mut forged = b.clone();
        forged.certificate[2].index = 3; // signature by key 2 claimed for index 3
        assert_eq!(verify_certificate(&forged, &Quorum::of(&set, 3), &ring), Err(CertError::BadSignature { index: 3 }));
        let mut tampered = b.clone();
        tampered.header.nonce += 1;
        assert_eq!(verify_certificate(&tampered, &Quorum::of(&set, 3), &ring), Err(CertError::HashMismatch));
        let mut outside = b.clone();
        outside.certificate[0].index = 7;
        assert_eq!(
            verify_certificate(&outside, &Quorum::of(&set, 3), &ring),
            Err(CertError::IndexOutOfSet { index: 7 })
        );
    }

    #[test]
    fn double_quorum_counts_the_previous_set_by_key() {
        // Old set {0,1,2,3}; new set {2,3,4,5}: outgoing keys 0 and 1 sign as indices 4, 5.
        let ring = Keyring::generate(3, 6);
        let old = ValidatorSet::new((0..4).map(KeyId).collect());
        let new = ValidatorSet::new((2..6).map(KeyId).collect());
        let (_, _, mut b) = setup();
        b.hash = b.header.hash();
        let sign =
            |index: u16, key: u32| CertSig { index, view: 0, sig: ring.keypair(KeyId(key)).unwrap().sign(&b.hash) };
        let q = Quorum { set: &new, need: 3, previous: Some((&old, 3)) };
        assert_eq!(q.signer(4), Some(KeyId(0)));
        assert_eq!(q.signer(5), Some(KeyId(1)));
        assert_eq!(q.signer(6), None);
        // Keys 4, 5, 2 of the new set (indices 2, 3, 0) and only key 2 of the old set.
        b.certificate = vec![sign(0, 2), sign(2, 4), sign(3, 5)];
        assert_eq!(verify_certificate(&b, &q, &ring), Err(CertError::TooFewPreviousSignatures { have: 1, need: 3 }));
        // Add the outgoing keys 0 and 1: three of the old set (0, 1, 2).
        b.certificate.extend([sign(4, 0), sign(5, 1)]);
        assert_eq!(verify_certificate(&b, &q, &ring), Ok(()));
        // Without the previous requirement the outgoing signatures are simply extra.
        assert_eq!(verify_certificate(&b, &Quorum::of(&new, 3), &ring), Err(CertError::IndexOutOfSet { index: 4 }));
    }
}
