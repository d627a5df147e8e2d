//! The chain before the run: heights 1 … start − 1, final and shared by every node.
//!
//! Real nodes never start consensus "at height H" by configuration: they derive the
//! height from their ledger (C# `ConsensusContext.Reset`: current block index + 1; Go
//! `context.go` `reset`: `CurrentHeight() + 1`). So to script a schedule that begins at
//! height H (several public test schedules begin at 5), every replica and every checker
//! starts from the same ledger holding heights 1 … H − 1. Those blocks are built here,
//! deterministically: empty, proposed by the view-0 primary of their height, assembled in
//! view 0 and signed by the first M validators of the genesis set, each naming the genesis
//! set as the next one (no change transaction is on them). Their timestamps are 0, the
//! run's zero, so the first proposal of the run (timestamp ≥ 1 ms) is after them. Only the
//! block height matters to consensus; what the prefix holds is never read again.

use super::block::{Block, CertSig, Header, tx_root};
use super::crypto::Keyring;
use crate::validators::primary_index;
use std::rc::Rc;

/// The highest start height a scenario may ask for (every node and checker holds the
/// prefix, so it is kept small).
pub const MAX_START_HEIGHT: u32 = 1_000;

/// Blocks 1 … `start_height` − 1 on top of `genesis` (empty when `start_height` is 1).
pub fn chain_prefix(genesis: &Block, keys: &Keyring, start_height: u32) -> Vec<Rc<Block>> {
    let set = &genesis.next_validators;
    let m = set.m();
    let mut prev = genesis.hash;
    let mut out = Vec::with_capacity(start_height.saturating_sub(1) as usize);
    for height in 1..start_height {
        let header = Header {
            version: 0,
            height,
            prev_hash: prev,
            timestamp_ms: 0,
            nonce: 0,
            primary: primary_index(height, 0, set.n()) as u16,
            tx_root: tx_root(&[]),
            next_validators: set.hash(),
        };
        let hash = header.hash();
        let certificate = (0..m)
            .filter_map(|i| {
                let key = keys.keypair(set.key(i)?)?;
                Some(CertSig { index: i as u16, view: 0, sig: key.sign(&hash) })
            })
            .collect();
        prev = hash;
        out.push(Rc::new(Block::new(hash, header, Vec::new(), set.clone(), 0, certificate)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::block::{Quorum, verify_certificate};
    use crate::protocol::crypto::KeyId;
    use crate::validators::ValidatorSet;

    #[test]
    fn prefix_links_and_carries_a_quorum_of_the_genesis_set() {
        let keys = Keyring::generate(7, 4);
        let set = Rc::new(ValidatorSet::new((0..4).map(KeyId).collect()));
        let genesis = Block::genesis(set.clone());
        assert!(chain_prefix(&genesis, &keys, 1).is_empty());
        let p = chain_prefix(&genesis, &keys, 5);
        assert_eq!(p.iter().map(|b| b.height()).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        let mut prev = genesis.hash;
        for b in &p {
            assert_eq!(b.header.prev_hash, prev);
            // p(h, 0) = h mod N.
            assert_eq!(b.header.primary as u32, b.height() % 4);
            assert_eq!(verify_certificate(b, &Quorum::of(&set, set.m()), &keys), Ok(()));
            prev = b.hash;
        }
        // Deterministic: the same keys give the same chain.
        assert_eq!(chain_prefix(&genesis, &keys, 5), p);
    }
}
