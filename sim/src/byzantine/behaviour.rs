//! The catalogue of Byzantine behaviours: what each one does to the honest replica it wraps.

use crate::engine::time::Micros;
use crate::protocol::NodeId;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Behaviour {
    /// Sends nothing at all (a crash that keeps its state; the network sees silence).
    Silent,
    /// As primary, sends one PrepareRequest to `a_to` and a conflicting one (another
    /// nonce and timestamp) to `b_to`; nodes in neither list get the first.
    Equivocate { a_to: Vec<NodeId>, b_to: Vec<NodeId> },
    /// For every PrepareRequest it sees, of any view, sends a PrepareResponse and a Commit
    /// for it to everyone — ignoring the commit lock, so it signs several blocks per height.
    DoubleSign,
    /// Holds its own Commits (and the RecoveryMessages that would carry them) for
    /// `delay`, then releases them to `to` (everyone if None).
    WithholdCommits { delay: Micros, to: Option<Vec<NodeId>> },
    /// Every `period`, a ChangeView: from its current view (flooding), from `forged_view`
    /// if set (a forged view number), and from an old view if `stale` (which receivers
    /// treat as a RecoveryRequest — the amplification path).
    ChangeViewFlood { period: Micros, forged_view: Option<u8>, stale: bool },
    /// Every `period`, re-sends messages it received earlier (older heights and views,
    /// old RecoveryMessages), oldest first.
    Replay { period: Micros },
    /// Every `period`, a batch of invalid messages: bad signatures, another validator's
    /// index signed with its own key, an index outside the set, malformed fields, another
    /// validator's genuine message relabelled to another view (signature kept), and a
    /// block with a forged certificate.
    Forge { period: Micros },
    /// Honest, but everything it broadcasts goes only to `to`.
    SelectiveDelivery { to: Vec<NodeId> },
    /// Every `period`, a Commit of its current view whose block signature is garbage (the
    /// payload itself is validly signed). Receivers extend their timer by 4T/M before they
    /// check the block signature, and drop the Commit without storing it — so the next one
    /// extends again: honest timers can be kept from ever expiring.
    GarbageCommits { period: Micros },
    /// Keeps acting as the validator it was: every `period`, with each key it holds, a
    /// ChangeView, a PrepareRequest, a PrepareResponse and a Commit at the height its chain
    /// is at, claiming the index that key had in the last set that held it — whether or
    /// not the chain still counts the key (an ejected or retired key in an attacker's
    /// hands).
    StaleSigner { period: Micros },
    /// A conflicting branch from `from_height` on, signed by the keys it holds at the
    /// indices they had in the set of the height before `from_height` (the last set they
    /// validated, when `from_height` is the first height of their successors) and naming
    /// that same set for every next height: every `period` it relays the branch (up to one height past its own
    /// tip) to everyone, and it answers block requests with it.
    StaleChain { period: Micros, from_height: u32 },
    /// Every `period`, while its height has no PrepareRequest yet, sends each other
    /// validator its own RecoveryMessage (validly signed by itself) for its current height
    /// and view, carrying a fabricated PrepareRequest "from the primary" (another nonce and
    /// timestamp per recipient, garbage signature) and PrepareResponse compacts with garbage
    /// signatures for every validator but the primary. A receiver that does not verify
    /// recovered payloads (neo-go) takes the proposal, reaches M preparations and commits to
    /// a header nobody proposed; each honest node to a different one.
    ForgeRecovery { period: Micros },
    /// Every `period`, while it is not the primary of its current view, a validly signed
    /// PrepareRequest of its own (current height and view, its own index, no transactions)
    /// to everyone. Both implementations record the sender as seen and then drop it
    /// (neo-node `OnConsensusPayload` sets LastSeenMessage before `OnPrepareRequestReceived`
    /// checks the primary index; nspcc-dev/dbft `OnReceive` marks the sender seen before
    /// `onPrepareRequest` does).
    NonPrimaryRequest { period: Micros },
    /// As primary, right before each PrepareRequest it sends, a PrepareResponse of its own
    /// for that request to `to`. C# has no check against a response from the primary's
    /// index: one that arrives before the request fills the request's slot, the request is
    /// then ignored and every genuine response refused (its hash is not that payload's), so
    /// the node cannot commit in this view. Go ignores a response from the primary.
    PrimaryResponse { to: Vec<NodeId> },
    /// As primary, its PrepareRequest carries `timestamp_ms` as the block's timestamp
    /// (re-signed; its own replica keeps the proposal it made). C# refuses a timestamp
    /// more than 8 block times ahead of the receiver's clock; Go checks only that it is
    /// above the previous block's, so the block can become final, and no later block can
    /// be above it.
    FutureTimestamp { timestamp_ms: u64 },
}

impl Behaviour {
    pub fn period(&self) -> Option<Micros> {
        match self {
            Behaviour::ChangeViewFlood { period, .. }
            | Behaviour::Replay { period }
            | Behaviour::Forge { period }
            | Behaviour::GarbageCommits { period }
            | Behaviour::StaleSigner { period }
            | Behaviour::StaleChain { period, .. }
            | Behaviour::ForgeRecovery { period }
            | Behaviour::NonPrimaryRequest { period } => Some(*period),
            Behaviour::WithholdCommits { delay, .. } => Some((*delay / 4).max(1_000)),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::Silent => "silent",
            Behaviour::Equivocate { .. } => "equivocate",
            Behaviour::DoubleSign => "double-sign",
            Behaviour::WithholdCommits { .. } => "withhold-commits",
            Behaviour::ChangeViewFlood { .. } => "change-view-flood",
            Behaviour::Replay { .. } => "replay",
            Behaviour::Forge { .. } => "forge",
            Behaviour::SelectiveDelivery { .. } => "selective-delivery",
            Behaviour::GarbageCommits { .. } => "garbage-commits",
            Behaviour::StaleSigner { .. } => "stale-signer",
            Behaviour::StaleChain { .. } => "stale-chain",
            Behaviour::ForgeRecovery { .. } => "forge-recovery",
            Behaviour::NonPrimaryRequest { .. } => "non-primary-request",
            Behaviour::PrimaryResponse { .. } => "primary-response",
            Behaviour::FutureTimestamp { .. } => "future-timestamp",
        }
    }
}
