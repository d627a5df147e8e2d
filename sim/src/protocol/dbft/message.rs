//! dBFT 2.0 messages (docs/dbft-2.0.md §1.2) and the wire envelope.
//!
//! Every consensus message carries the common header (height = BlockIndex, view = the
//! sender's view when it made the message, validator index) and is signed by the sender's
//! key as a whole, like Neo's ExtensiblePayload witness. `hash` is the payload hash: what
//! the signature covers, what PrepareResponse.preparation_hash refers to, and what the C#
//! recovery de-duplication (`knownHashes`) remembers.
//!
//! RecoveryMessage carries compact forms that keep the *original* signature (Neo's
//! InvocationScript) so a receiver can rebuild each original message and re-verify it. As
//! on Neo's wire, the ChangeView compact has no `reason`: a rebuilt ChangeView gets reason
//! Timeout, so a replayed ChangeView that was sent with another reason fails verification
//! (a real property of Neo's encoding, kept here on purpose; FINDINGS.md #7).

use crate::protocol::block::TxId;
use crate::protocol::crypto::{Enc, Hash32, KeyPair, Signature};
use crate::protocol::{MsgKind, MsgMeta, WireMessage};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

/// ChangeView reasons (docs/dbft-2.0.md §1.2). No receiver acts on the reason itself; under
/// `protocol.rejected_hashes` receivers record the hashes a TxInvalid ChangeView carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum ChangeViewReason {
    Timeout = 0x00,
    ChangeAgreement = 0x01,
    TxNotFound = 0x02,
    TxRejectedByPolicy = 0x03,
    TxInvalid = 0x04,
    BlockRejectedByPolicy = 0x05,
}

/// Compact ChangeView inside a RecoveryMessage: no reason on the wire (see module doc).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ChangeViewCompact {
    pub validator: u16,
    pub original_view: u8,
    pub timestamp_ms: u64,
    pub sig: Signature,
}

/// Compact preparation (request or response): just who and the original signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PreparationCompact {
    pub validator: u16,
    pub sig: Signature,
}

/// Compact Commit: its own view, the block signature and the payload signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CommitCompact {
    pub view: u8,
    pub validator: u16,
    pub signature: Signature,
    pub sig: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Recovery {
    pub change_views: Vec<ChangeViewCompact>,
    /// The full PrepareRequest, when the sender knows it.
    pub prepare_request: Option<Rc<ConsensusMessage>>,
    /// Otherwise (C#) the most common preparation hash among the sender's responses.
    pub preparation_hash: Option<Hash32>,
    pub preparations: Vec<PreparationCompact>,
    pub commits: Vec<CommitCompact>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type")]
pub enum Body {
    ChangeView {
        timestamp_ms: u64,
        reason: ChangeViewReason,
        /// neo-node's RejectedHashes (TxInvalid / TxRejectedByPolicy, only under
        /// `protocol.rejected_hashes`); empty otherwise, and then not on the wire, so the
        /// message is the 9-byte ChangeView of the older C# plugin and of Go.
        rejected: Vec<TxId>,
    },
    PrepareRequest {
        version: u32,
        prev_hash: Hash32,
        timestamp_ms: u64,
        nonce: u64,
        tx_hashes: Vec<TxId>,
    },
    PrepareResponse {
        preparation_hash: Hash32,
    },
    /// `signature` is the block signature over the header hash.
    Commit {
        signature: Signature,
    },
    RecoveryRequest {
        timestamp_ms: u64,
    },
    RecoveryMessage(Box<Recovery>),
}

impl Body {
    pub fn kind(&self) -> MsgKind {
        match self {
            Body::ChangeView { .. } => MsgKind::ChangeView,
            Body::PrepareRequest { .. } => MsgKind::PrepareRequest,
            Body::PrepareResponse { .. } => MsgKind::PrepareResponse,
            Body::Commit { .. } => MsgKind::Commit,
            Body::RecoveryRequest { .. } => MsgKind::RecoveryRequest,
            Body::RecoveryMessage(_) => MsgKind::RecoveryMessage,
        }
    }

    fn encode(&self, e: &mut Enc) {
        match self {
            Body::ChangeView { timestamp_ms, reason, rejected } => {
                e.u8(0x00).u64(*timestamp_ms).u8(*reason as u8);
                if !rejected.is_empty() {
                    e.u32(rejected.len() as u32);
                    for t in rejected {
                        e.u64(*t);
                    }
                }
            }
            Body::PrepareRequest { version, prev_hash, timestamp_ms, nonce, tx_hashes } => {
                e.u8(0x20).u32(*version).hash(prev_hash).u64(*timestamp_ms).u64(*nonce);
                e.u32(tx_hashes.len() as u32);
                for t in tx_hashes {
                    e.u64(*t);
                }
            }
            Body::PrepareResponse { preparation_hash } => {
                e.u8(0x21).hash(preparation_hash);
            }
            Body::Commit { signature } => {
                e.u8(0x30).u128(signature.0);
            }
            Body::RecoveryRequest { timestamp_ms } => {
                e.u8(0x40).u64(*timestamp_ms);
            }
            Body::RecoveryMessage(r) => {
                e.u8(0x41).u32(r.change_views.len() as u32);
                for c in &r.change_views {
                    e.u16(c.validator).u8(c.original_view).u64(c.timestamp_ms).u128(c.sig.0);
                }
                match (&r.prepare_request, &r.preparation_hash) {
                    (Some(req), _) => {
                        e.u8(1).hash(&req.hash).u128(req.sig.0);
                    }
                    (None, Some(h)) => {
                        e.u8(2).hash(h);
                    }
                    (None, None) => {
                        e.u8(0);
                    }
                }
                e.u32(r.preparations.len() as u32);
                for p in &r.preparations {
                    e.u16(p.validator).u128(p.sig.0);
                }
                e.u32(r.commits.len() as u32);
                for c in &r.commits {
                    e.u8(c.view).u16(c.validator).u128(c.signature.0).u128(c.sig.0);
                }
            }
        }
    }

    /// Approximate size on Neo's wire, in bytes (for bandwidth and byte counts).
    fn wire_size(&self) -> u32 {
        const WITNESS: u32 = 66;
        match self {
            Body::ChangeView { rejected, .. } if rejected.is_empty() => 9,
            // Lists a Byzantine sender fills: saturated, not wrapped (a size is counted
            // before the receiver checks the list).
            Body::ChangeView { rejected, .. } => {
                10u32.saturating_add(u32::try_from(rejected.len()).unwrap_or(u32::MAX).saturating_mul(32))
            }
            Body::PrepareRequest { tx_hashes, .. } => {
                53u32.saturating_add(u32::try_from(tx_hashes.len()).unwrap_or(u32::MAX).saturating_mul(32))
            }
            Body::PrepareResponse { .. } => 32,
            Body::Commit { .. } => 64,
            Body::RecoveryRequest { .. } => 8,
            Body::RecoveryMessage(r) => {
                let req = r.prepare_request.as_ref().map_or(33, |m| m.size());
                let each = |count: usize, size: u32| (count as u32).saturating_mul(size);
                3u32.saturating_add(each(r.change_views.len(), 10 + WITNESS))
                    .saturating_add(req)
                    .saturating_add(each(r.preparations.len(), 1 + WITNESS))
                    .saturating_add(each(r.commits.len(), 66 + WITNESS))
            }
        }
    }
}

/// How many payload encodings [`PayloadMemo`] remembers.
const PAYLOAD_SLOTS: usize = 256;

/// Recent payload encodings and their hashes, one slot per (validator, message type)
/// modulo [`PAYLOAD_SLOTS`]. An entry answers only an identical encoding (compared byte
/// for byte, never by address), so whether a lookup hits changes nothing but the work
/// done; a collision only evicts. One table per thread, also holding the buffer each
/// payload is encoded into, so hashing a payload allocates nothing once warm.
struct PayloadMemo {
    enc: Vec<u8>,
    slots: Vec<(Vec<u8>, Hash32)>,
}

impl PayloadMemo {
    fn get_or(&mut self, slot: usize, encoding: &[u8]) -> Hash32 {
        if self.slots.is_empty() {
            self.slots = vec![(Vec::new(), Hash32::ZERO); PAYLOAD_SLOTS];
        }
        let (known, hash) = &mut self.slots[slot];
        if known.as_slice() != encoding {
            *hash = Hash32::of(encoding);
            known.clear();
            known.extend_from_slice(encoding);
        }
        *hash
    }
}

thread_local! {
    static PAYLOAD_HASHES: RefCell<PayloadMemo> =
        const { RefCell::new(PayloadMemo { enc: Vec::new(), slots: Vec::new() }) };
}

/// A signed dBFT consensus message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ConsensusMessage {
    pub height: u32,
    pub view: u8,
    pub validator: u16,
    pub body: Body,
    /// Payload hash over (height, view, validator, body).
    pub hash: Hash32,
    /// Signature of the validator's key over `hash`.
    pub sig: Signature,
}

impl ConsensusMessage {
    /// The payload hash, remembered for recent payloads ([`PayloadMemo`]): a message is
    /// hashed when its sender signs it and again by the first receiver that checks it.
    pub fn payload_hash(height: u32, view: u8, validator: u16, body: &Body) -> Hash32 {
        PAYLOAD_HASHES.with_borrow_mut(|memo| {
            let mut e = Enc { buf: std::mem::take(&mut memo.enc) };
            e.buf.clear();
            e.u8(0xDB).u32(height).u8(view).u16(validator);
            body.encode(&mut e);
            let slot = (validator as usize).wrapping_mul(8).wrapping_add(body.kind() as usize) % PAYLOAD_SLOTS;
            let h = memo.get_or(slot, &e.buf);
            memo.enc = e.buf;
            h
        })
    }

    /// Builds and signs a message.
    pub fn signed(height: u32, view: u8, validator: u16, body: Body, key: &KeyPair) -> ConsensusMessage {
        let hash = Self::payload_hash(height, view, validator, &body);
        ConsensusMessage { height, view, validator, sig: key.sign(&hash), body, hash }
    }

    /// Rebuilds a message from its fields and a signature someone else made (recovery
    /// compacts). Whether `sig` is valid is for the receiver to check.
    pub fn with_sig(height: u32, view: u8, validator: u16, body: Body, sig: Signature) -> ConsensusMessage {
        let hash = Self::payload_hash(height, view, validator, &body);
        ConsensusMessage { height, view, validator, body, hash, sig }
    }

    /// Does `hash` really cover this message's fields? A receiver checks this before the
    /// signature: otherwise a signed message could be relabelled (another view, height or
    /// body) and still verify.
    pub fn hash_matches(&self) -> bool {
        self.hash == Self::payload_hash(self.height, self.view, self.validator, &self.body)
    }

    /// NewViewNumber of a ChangeView: always view + 1 (docs/dbft-2.0.md §1.2), as a byte — view
    /// 255 wraps to 0 like C#'s `(byte)(ViewNumber + 1)`, so such a ChangeView is stale.
    pub fn new_view_number(&self) -> u8 {
        self.view.wrapping_add(1)
    }

    pub fn kind(&self) -> MsgKind {
        self.body.kind()
    }

    pub fn size(&self) -> u32 {
        // Common header plus the ExtensiblePayload envelope (category, valid range,
        // sender, witness): about 120 bytes on Neo.
        120u32.saturating_add(self.body.wire_size())
    }
}

/// What travels between nodes: consensus messages, relayed blocks, block requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "wire")]
pub enum Wire {
    Consensus(Rc<ConsensusMessage>),
    Block(Rc<crate::protocol::block::Block>),
    /// "Send me the blocks from `from` on" (at most `SYNC_BATCH`).
    GetBlocks {
        from: u32,
    },
    /// "Send me these transactions" (Neo's `GetData` of type TX; fetch.rs).
    GetData {
        txs: Vec<TxId>,
    },
    /// One transaction, answering a GetData (Neo's `Transaction` message; fetch.rs).
    Transaction {
        tx: TxId,
    },
}

impl WireMessage for Wire {
    fn meta(&self) -> MsgMeta {
        match self {
            Wire::Consensus(m) => MsgMeta {
                kind: m.kind(),
                height: m.height,
                view: m.view,
                validator: m.validator,
                hash: m.hash,
                size: m.size(),
            },
            Wire::Block(b) => MsgMeta {
                kind: MsgKind::Block,
                height: b.height(),
                view: b.view,
                validator: b.header.primary,
                hash: b.digest(),
                size: 700u32
                    .saturating_add((b.txs.len() as u32).saturating_mul(32))
                    .saturating_add((b.certificate.len() as u32).saturating_mul(70)),
            },
            Wire::GetBlocks { from } => {
                let mut e = Enc::new();
                e.u8(0x60).u32(*from);
                MsgMeta { kind: MsgKind::GetBlocks, height: *from, view: 0, validator: 0, hash: e.finish(), size: 40 }
            }
            Wire::GetData { txs } => {
                let mut e = Enc::new();
                e.u8(0x61).u32(txs.len() as u32);
                for t in txs {
                    e.u64(*t);
                }
                // Neo's InvPayload: type byte, count, 32 bytes per hash, plus the message header.
                let size = 30u32.saturating_add((txs.len() as u32).saturating_mul(32));
                MsgMeta { kind: MsgKind::GetData, height: 0, view: 0, validator: 0, hash: e.finish(), size }
            }
            Wire::Transaction { tx } => {
                let mut e = Enc::new();
                e.u8(0x62).u64(*tx);
                // A small transfer is about 250 bytes on Neo N3.
                MsgMeta { kind: MsgKind::Transaction, height: 0, view: 0, validator: 0, hash: e.finish(), size: 250 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::{KeyId, Keyring};

    #[test]
    fn payload_hash_covers_every_field() {
        let ring = Keyring::generate(1, 2);
        let k = ring.keypair(KeyId(0)).unwrap();
        let body = Body::ChangeView { timestamp_ms: 5, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
        let m = ConsensusMessage::signed(3, 1, 0, body.clone(), &k);
        assert!(ring.verify(KeyId(0), &m.hash, &m.sig));
        let variants = [
            ConsensusMessage::payload_hash(4, 1, 0, &body),
            ConsensusMessage::payload_hash(3, 2, 0, &body),
            ConsensusMessage::payload_hash(3, 1, 1, &body),
            ConsensusMessage::payload_hash(
                3,
                1,
                0,
                &Body::ChangeView { timestamp_ms: 5, reason: ChangeViewReason::ChangeAgreement, rejected: Vec::new() },
            ),
        ];
        for h in variants {
            assert_ne!(h, m.hash);
        }
        assert_eq!(m.new_view_number(), 2);
        // Rebuilt with the same fields and the original signature, it still verifies.
        let rebuilt = ConsensusMessage::with_sig(3, 1, 0, body, m.sig);
        assert_eq!(rebuilt, m);
    }

    /// The memo answers exactly what hashing the encoding answers, whatever the order of
    /// lookups, slot collisions (validators 0 and 32 share slots) and repeats.
    #[test]
    fn remembered_payload_hashes_are_the_hashes() {
        let direct = |height: u32, view: u8, validator: u16, body: &Body| {
            let mut e = Enc::new();
            e.u8(0xDB).u32(height).u8(view).u16(validator);
            body.encode(&mut e);
            e.finish()
        };
        let bodies = [
            Body::Commit { signature: Signature(7) },
            Body::Commit { signature: Signature(8) },
            Body::PrepareResponse { preparation_hash: Hash32::of(b"a") },
            Body::PrepareRequest {
                version: 0,
                prev_hash: Hash32::of(b"p"),
                timestamp_ms: 9,
                nonce: 1,
                tx_hashes: (1..40).collect(),
            },
            Body::PrepareRequest {
                version: 0,
                prev_hash: Hash32::of(b"p"),
                timestamp_ms: 9,
                nonce: 1,
                tx_hashes: vec![],
            },
            Body::ChangeView { timestamp_ms: 5, reason: ChangeViewReason::Timeout, rejected: vec![3] },
            Body::RecoveryRequest { timestamp_ms: 5 },
        ];
        for round in 0..3u32 {
            for (i, body) in bodies.iter().enumerate() {
                for validator in [0u16, 32, 1] {
                    let (height, view) = (round % 2 + 1, (i % 2) as u8);
                    let want = direct(height, view, validator, body);
                    assert_eq!(ConsensusMessage::payload_hash(height, view, validator, body), want);
                    assert_eq!(ConsensusMessage::payload_hash(height, view, validator, body), want);
                }
            }
        }
    }
}
