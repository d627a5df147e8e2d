//! The persisted chain of one node: its newest blocks whole, older ones packed.
//!
//! A node keeps every block it persisted (a lagging or new node syncs from it), so over a
//! long run the chains are most of the simulator's memory: each node assembles its own copy
//! of each block — the certificate is the first M Commits *that* node received, so copies
//! differ and cannot be shared — and a whole block costs ≈ 550 bytes in three allocations
//! (block, transaction list, certificate). Blocks more than [`RECENT`] heights below the tip
//! are kept as [`Archived`]: only what cannot be recomputed, packed into one allocation
//! (≈ 170 bytes at M = 5), from
//! which the exact block is rebuilt when a peer asks for it (`GetBlocks`), which is rare
//! that far down. The parent hash, the transaction root and the next set's hash are
//! recomputed on rebuilding; a block for which that would not give back the same block
//! (none that a replica persists, but the chain does not rely on it) stays whole.
//!
//! Equality and hashing are those of the plain list of blocks (`Vec<Rc<Block>>`), so a
//! replica's state hash does not depend on how its chain is stored.

use crate::protocol::block::{Block, CertSig, Header, TxId, tx_root};
use crate::protocol::crypto::{Hash32, Signature};
use crate::validators::ValidatorSet;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// How many of the newest blocks are kept whole: a `GetBlocks` answer (16 blocks) for a
/// node that fell a little behind is served from them without rebuilding.
pub const RECENT: usize = 32;

#[derive(Clone, Debug)]
pub struct Chain {
    genesis: Rc<Block>,
    /// Heights 1 ..= `archived.len()`.
    archived: Vec<Archived>,
    /// The distinct next-validator sets of archived blocks, in order (sets rarely change).
    sets: Vec<Rc<ValidatorSet>>,
    /// The heights above those, oldest first (at most [`RECENT`]).
    recent: VecDeque<Rc<Block>>,
}

/// A block below the recent ones.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Archived {
    /// The fields that cannot be recomputed, in one allocation (≈ 170 bytes at M = 5):
    /// hash, timestamp, nonce, version, primary, view, the index of its next set in
    /// `Chain::sets`, the transactions as runs of consecutive ids (first, count) in block
    /// order — proposals take the lowest ids first, so a block is usually one run — and the
    /// certificate (signature, index, view per entry), all little-endian.
    Packed(Box<[u8]>),
    Whole(Rc<Block>),
}

impl Chain {
    pub fn new(genesis: Rc<Block>) -> Chain {
        Chain { genesis, archived: Vec::new(), sets: Vec::new(), recent: VecDeque::new() }
    }

    /// Number of blocks, genesis included (the tip's height + 1).
    pub fn len(&self) -> usize {
        1 + self.archived.len() + self.recent.len()
    }

    /// Never true: the chain always holds the genesis block.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn genesis(&self) -> &Rc<Block> {
        &self.genesis
    }

    pub fn tip(&self) -> &Rc<Block> {
        self.recent.back().unwrap_or(&self.genesis)
    }

    /// The block at `height` (rebuilt if it is archived).
    pub fn get(&self, height: usize) -> Option<Rc<Block>> {
        if height == 0 {
            return Some(self.genesis.clone());
        }
        match self.archived.get(height - 1) {
            Some(Archived::Whole(b)) => Some(b.clone()),
            Some(Archived::Packed(p)) => unpack(p, height as u32, self.hash_at(height - 1), &self.sets).map(Rc::new),
            None => self.recent.get(height - 1 - self.archived.len()).cloned(),
        }
    }

    /// The hash of the block at an archived height (or of genesis).
    fn hash_at(&self, height: usize) -> Hash32 {
        match height.checked_sub(1).map(|i| &self.archived[i]) {
            None => self.genesis.hash,
            Some(Archived::Packed(p)) => Hash32(p[..32].try_into().unwrap_or([0; 32])),
            Some(Archived::Whole(b)) => b.hash,
        }
    }

    /// Appends the next block; the oldest recent one is archived when there are too many.
    pub fn push(&mut self, block: Rc<Block>) {
        self.recent.push_back(block);
        if self.recent.len() > RECENT
            && let Some(old) = self.recent.pop_front()
        {
            let height = self.archived.len() + 1;
            let prev = self.hash_at(height - 1);
            let archived = self.archive(old, height as u32, prev);
            self.archived.push(archived);
        }
    }

    /// Every block, oldest first (archived ones rebuilt).
    pub fn blocks(&self) -> impl Iterator<Item = Rc<Block>> + '_ {
        (0..self.len()).filter_map(|h| self.get(h))
    }

    fn archive(&mut self, block: Rc<Block>, height: u32, prev_hash: Hash32) -> Archived {
        let h = &block.header;
        let recomputable = h.height == height
            && h.prev_hash == prev_hash
            && h.next_validators == ValidatorSet::hash(&block.next_validators)
            && h.tx_root == tx_root(&block.txs);
        if !recomputable {
            return Archived::Whole(block);
        }
        if self.sets.last().is_none_or(|s| **s != *block.next_validators) {
            self.sets.push(block.next_validators.clone());
        }
        let mut runs: Vec<(TxId, u32)> = Vec::new();
        for &t in &block.txs {
            match runs.last_mut() {
                Some((first, count)) if *count < u32::MAX && first.checked_add(*count as u64) == Some(t) => *count += 1,
                _ => runs.push((t, 1)),
            }
        }
        // 63 bytes of fixed fields, 12 per run, the certificate's 4-byte count and 19 per signature.
        let mut b: Vec<u8> = Vec::with_capacity(67 + 12 * runs.len() + 19 * block.certificate.len());
        b.extend_from_slice(&block.hash.0);
        b.extend_from_slice(&h.timestamp_ms.to_le_bytes());
        b.extend_from_slice(&h.nonce.to_le_bytes());
        b.extend_from_slice(&h.version.to_le_bytes());
        b.extend_from_slice(&h.primary.to_le_bytes());
        b.push(block.view);
        b.extend_from_slice(&(self.sets.len() as u32 - 1).to_le_bytes());
        b.extend_from_slice(&(runs.len() as u32).to_le_bytes());
        for (first, count) in runs {
            b.extend_from_slice(&first.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
        }
        b.extend_from_slice(&(block.certificate.len() as u32).to_le_bytes());
        for c in &block.certificate {
            b.extend_from_slice(&c.sig.0.to_le_bytes());
            b.extend_from_slice(&c.index.to_le_bytes());
            b.push(c.view);
        }
        Archived::Packed(b.into_boxed_slice())
    }
}

/// Reads little-endian fields off the front of a packed block.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const K: usize>(&mut self) -> Option<[u8; K]> {
        let (head, rest) = self.0.split_first_chunk::<K>()?;
        self.0 = rest;
        Some(*head)
    }
}

/// The block packed in `p` (see [`Archived::Packed`]); `None` only if `p` was not written
/// by `Chain::archive`.
fn unpack(p: &[u8], height: u32, prev_hash: Hash32, sets: &[Rc<ValidatorSet>]) -> Option<Block> {
    let mut r = Reader(p);
    let hash = Hash32(r.take::<32>()?);
    let timestamp_ms = u64::from_le_bytes(r.take()?);
    let nonce = u64::from_le_bytes(r.take()?);
    let version = u32::from_le_bytes(r.take()?);
    let primary = u16::from_le_bytes(r.take()?);
    let [view] = r.take::<1>()?;
    let next_validators = sets.get(u32::from_le_bytes(r.take()?) as usize)?.clone();
    let runs = u32::from_le_bytes(r.take()?);
    let mut txs: Vec<TxId> = Vec::new();
    for _ in 0..runs {
        let first = u64::from_le_bytes(r.take()?);
        let count = u32::from_le_bytes(r.take()?);
        txs.extend((0..count as u64).map(|k| first + k));
    }
    let sigs = u32::from_le_bytes(r.take()?);
    let mut certificate = Vec::with_capacity(sigs as usize);
    for _ in 0..sigs {
        let sig = Signature(u128::from_le_bytes(r.take()?));
        let index = u16::from_le_bytes(r.take()?);
        let [view] = r.take::<1>()?;
        certificate.push(CertSig { index, view, sig });
    }
    let header = Header {
        version,
        height,
        prev_hash,
        timestamp_ms,
        nonce,
        primary,
        tx_root: tx_root(&txs),
        next_validators: ValidatorSet::hash(&next_validators),
    };
    Some(Block::new(hash, header, txs, next_validators, view, certificate))
}

impl PartialEq for Chain {
    /// Where the recent part starts depends only on the length, and archiving is a
    /// function of the block, so equal chains are stored alike.
    fn eq(&self, other: &Chain) -> bool {
        self.genesis == other.genesis
            && self.archived == other.archived
            && self.sets == other.sets
            && self.recent == other.recent
    }
}

impl Eq for Chain {}

impl Hash for Chain {
    /// As `Vec<Rc<Block>>` hashes: the length, then every block.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for b in self.blocks() {
            b.hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::KeyId;
    use std::hash::DefaultHasher;

    /// A chain of `n` linked blocks with varied transaction lists.
    fn blocks(n: u32) -> (Rc<Block>, Vec<Rc<Block>>) {
        let set = Rc::new(ValidatorSet::new((0..4).map(KeyId).collect()));
        let genesis = Rc::new(Block::genesis(set.clone()));
        let mut prev = genesis.hash;
        let mut out = Vec::new();
        for h in 1..=n {
            // Runs, a gap, a change transaction out of order, and an empty block.
            let txs: Vec<TxId> = match h % 4 {
                0 => vec![],
                1 => (10 * h as u64..10 * h as u64 + 5).collect(),
                2 => vec![u64::MAX - 1, 3, 4, 9, u64::MAX],
                _ => vec![7],
            };
            let header = Header {
                version: 0,
                height: h,
                prev_hash: prev,
                timestamp_ms: 15_000 * h as u64,
                nonce: h as u64 * 7919,
                primary: (h % 4) as u16,
                tx_root: tx_root(&txs),
                next_validators: ValidatorSet::hash(&set),
            };
            let hash = header.hash();
            let certificate = (0..3u16)
                .map(|i| CertSig { index: i, view: 1, sig: Signature(u128::MAX - h as u128 * 31 - i as u128) })
                .collect();
            out.push(Rc::new(Block::new(hash, header, txs, set.clone(), 1, certificate)));
            prev = hash;
        }
        (genesis, out)
    }

    fn hash_of<T: Hash>(x: &T) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    #[test]
    fn archived_blocks_come_back_exactly() {
        let n = RECENT as u32 * 3 + 5;
        let (genesis, list) = blocks(n);
        let mut chain = Chain::new(genesis.clone());
        for b in &list {
            chain.push(b.clone());
        }
        assert_eq!(chain.len(), n as usize + 1);
        assert_eq!(chain.archived.len(), n as usize - RECENT);
        assert!(chain.archived.iter().all(|a| matches!(a, Archived::Packed(_))));
        for (h, b) in list.iter().enumerate() {
            assert_eq!(chain.get(h + 1).as_deref(), Some(&**b), "height {}", h + 1);
        }
        assert_eq!(chain.get(0), Some(genesis.clone()));
        assert_eq!(chain.get(n as usize + 1), None);
        assert_eq!(chain.tip(), &list[list.len() - 1]);
        // Hashes like the plain list of blocks it replaces.
        let plain: Vec<Rc<Block>> = std::iter::once(genesis).chain(list.iter().cloned()).collect();
        assert_eq!(hash_of(&chain), hash_of(&plain));
    }

    #[test]
    fn a_block_that_cannot_be_recomputed_stays_whole_and_equality_sees_content() {
        let (genesis, mut list) = blocks(RECENT as u32 + 2);
        // Height 1 with a wrong transaction root: archived whole, still returned as is.
        let mut odd = (*list[0]).clone();
        odd.header.tx_root = Hash32::ZERO;
        list[0] = Rc::new(odd);
        let build = |list: &[Rc<Block>]| {
            let mut c = Chain::new(genesis.clone());
            list.iter().for_each(|b| c.push(b.clone()));
            c
        };
        let chain = build(&list);
        assert!(matches!(chain.archived[0], Archived::Whole(_)));
        assert!(matches!(chain.archived[1], Archived::Packed(_)));
        assert_eq!(chain.get(1).as_deref(), Some(&*list[0]));
        assert_eq!(chain.get(2).as_deref(), Some(&*list[1]));
        assert_eq!(chain, build(&list));
        // Another certificate at an archived height: a different chain.
        let mut other = list.clone();
        let mut b = (*other[1]).clone();
        b.certificate[0].sig = Signature(1);
        other[1] = Rc::new(b);
        assert_ne!(chain, build(&other));
        assert_ne!(hash_of(&chain), hash_of(&build(&other)));
    }
}
