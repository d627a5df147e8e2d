//! Blocks, headers, transactions and commit certificates.
//!
//! A header is what Commit signatures cover (as in Neo, the signature is over the header
//! hash only). The certificate is the block's witness: the commit signatures, each with the
//! validator index that made it and the view of the Commit that carried it, so anyone can
//! check "≥ M valid signatures, one view, from the set declared for this height" from the
//! block alone.

use super::crypto::{Enc, Hash32, KeyPair, Keyring, Signature};
use crate::validators::ValidatorSet;
use serde::Serialize;
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
    pub fn hash(&self) -> Hash32 {
        let mut e = Enc::new();
        e.u8(0x48)
            .u32(self.version)
            .u32(self.height)
            .hash(&self.prev_hash)
            .u64(self.timestamp_ms)
            .u64(self.nonce)
            .u16(self.primary)
            .hash(&self.tx_root)
            .hash(&self.next_validators);
        e.finish()
    }
}

pub fn tx_root(txs: &[TxId]) -> Hash32 {
    let mut e = Enc::new();
    e.u8(0x54).u32(txs.len() as u32);
    for t in txs {
        e.u64(*t);
    }
    e.finish()
}

/// One commit signature inside a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CertSig {
    pub index: u16,
    pub view: u8,
    pub sig: Signature,
}

/// A finalised block: header, transactions, the next validator set and the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Block {
    pub hash: Hash32,
    pub header: Header,
    pub txs: Vec<TxId>,
    pub next_validators: Rc<ValidatorSet>,
    /// View in which the block was assembled.
    pub view: u8,
    pub certificate: Vec<CertSig>,
}

impl Block {
    pub fn height(&self) -> u32 {
        self.header.height
    }

    /// A digest of the whole block: the header hash plus the view and the certificate, so
    /// two copies that differ only in who signed them differ here (the trace digest uses it).
    pub fn digest(&self) -> Hash32 {
        let mut e = Enc::new();
        e.u8(0x42).hash(&self.hash).u8(self.view).u32(self.certificate.len() as u32);
        for c in &self.certificate {
            e.u16(c.index).u8(c.view).u128(c.sig.0);
        }
        e.finish()
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
        Block {
            hash: header.hash(),
            header,
            txs: Vec::new(),
            next_validators: validators,
            view: 0,
            certificate: Vec::new(),
        }
    }
}

/// Why a certificate does not prove a block final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CertError {
    TooFewSignatures { have: usize, need: usize },
    MixedViews { views: Vec<u8> },
    IndexOutOfSet { index: u16 },
    DuplicateSigner { index: u16 },
    BadSignature { index: u16 },
    HashMismatch,
}

/// Checks `block`'s certificate against `set` (the set declared for its height), requiring
/// `need` distinct valid signatures. Replicas call it with their quorum; the S3 invariant
/// calls it with the true M, so a replica that accepts too little is caught.
pub fn verify_certificate(block: &Block, set: &ValidatorSet, keys: &Keyring, need: usize) -> Result<(), CertError> {
    if block.header.hash() != block.hash {
        return Err(CertError::HashMismatch);
    }
    let mut seen = vec![false; set.n()];
    let mut views: Vec<u8> = Vec::new();
    for cs in &block.certificate {
        let Some(key) = set.key(cs.index as usize) else {
            return Err(CertError::IndexOutOfSet { index: cs.index });
        };
        if seen[cs.index as usize] {
            return Err(CertError::DuplicateSigner { index: cs.index });
        }
        seen[cs.index as usize] = true;
        if !keys.verify(key, &block.hash, &cs.sig) {
            return Err(CertError::BadSignature { index: cs.index });
        }
        if !views.contains(&cs.view) {
            views.push(cs.view);
        }
    }
    if views.len() > 1 {
        views.sort_unstable();
        return Err(CertError::MixedViews { views });
    }
    if block.certificate.len() < need {
        return Err(CertError::TooFewSignatures { have: block.certificate.len(), need });
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
    use crate::protocol::crypto::KeyId;

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
        let b = Block { hash, header, txs: vec![1, 2], next_validators: set.clone(), view: 0, certificate };
        (ring, set, b)
    }

    #[test]
    fn certificate_checks() {
        let (ring, set, b) = setup();
        assert_eq!(verify_certificate(&b, &set, &ring, 3), Ok(()));
        assert_eq!(verify_certificate(&b, &set, &ring, 4), Err(CertError::TooFewSignatures { have: 3, need: 4 }));
        let mut mixed = b.clone();
        mixed.certificate[1].view = 1;
        assert!(matches!(verify_certificate(&mixed, &set, &ring, 3), Err(CertError::MixedViews { .. })));
        let mut dup = b.clone();
        dup.certificate[1] = dup.certificate[0];
        assert_eq!(verify_certificate(&dup, &set, &ring, 3), Err(CertError::DuplicateSigner { index: 0 }));
        let mut forged = b.clone();
        forged.certificate[2].index = 3; // signature by key 2 claimed for index 3
        assert_eq!(verify_certificate(&forged, &set, &ring, 3), Err(CertError::BadSignature { index: 3 }));
        let mut tampered = b.clone();
        tampered.header.nonce += 1;
        assert_eq!(verify_certificate(&tampered, &set, &ring, 3), Err(CertError::HashMismatch));
        let mut outside = b.clone();
        outside.certificate[0].index = 7;
        assert_eq!(verify_certificate(&outside, &set, &ring, 3), Err(CertError::IndexOutOfSet { index: 7 }));
    }
}
