//! The replica interface and the types every protocol shares.
//!
//! A replica is a pure state machine with three entry points — start, a message arrives, a
//! timer fires (plus: a transaction reaches its mempool) — each given the node's current
//! virtual time and returning [`Action`]s through a [`Cx`]. It never reads a clock, a socket
//! or a random number generator; everything nondeterministic is decided outside, by the
//! engine's driver (`engine/driver.rs`), from the seeded streams or an explicit schedule.
//! The same replica code therefore runs under the random network, under scripted rules,
//! under an explicit schedule, and under the exhaustive explorer (`explore/`).
//!
//! Deliberately left out: anything asynchronous. Handlers run to completion.

pub mod block;
pub mod crypto;
pub mod dbft;
pub mod mempool;
pub mod prefix;
#[cfg(test)]
pub mod toy;
pub mod txset;

use self::block::{Block, TxId};
use self::crypto::{Hash32, KeyId, Keyring};
use crate::engine::time::SimTime;
use serde::Serialize;
use std::fmt;
use std::rc::Rc;

/// A network address: one per simulated process. Distinct from [`KeyId`] (an identity),
/// because twins and attackers holding a stolen key sign as one identity from two places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Message types on the wire, in a fixed order used for per-type counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum MsgKind {
    ChangeView,
    PrepareRequest,
    PrepareResponse,
    Commit,
    RecoveryRequest,
    RecoveryMessage,
    /// A finalised block relayed to peers.
    Block,
    /// A request for blocks a lagging node is missing.
    GetBlocks,
    /// Anything a test protocol sends.
    Other,
    /// A request for transactions by hash (Neo's `GetData` of type TX).
    GetData,
    /// One transaction sent in answer to a GetData (Neo's `Transaction` message).
    Transaction,
}

impl MsgKind {
    pub const ALL: [MsgKind; 11] = [
        MsgKind::ChangeView,
        MsgKind::PrepareRequest,
        MsgKind::PrepareResponse,
        MsgKind::Commit,
        MsgKind::RecoveryRequest,
        MsgKind::RecoveryMessage,
        MsgKind::Block,
        MsgKind::GetBlocks,
        MsgKind::Other,
        MsgKind::GetData,
        MsgKind::Transaction,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            MsgKind::ChangeView => "ChangeView",
            MsgKind::PrepareRequest => "PrepareRequest",
            MsgKind::PrepareResponse => "PrepareResponse",
            MsgKind::Commit => "Commit",
            MsgKind::RecoveryRequest => "RecoveryRequest",
            MsgKind::RecoveryMessage => "RecoveryMessage",
            MsgKind::Block => "Block",
            MsgKind::GetBlocks => "GetBlocks",
            MsgKind::Other => "Other",
            MsgKind::GetData => "GetData",
            MsgKind::Transaction => "Transaction",
        }
    }

    pub fn parse(s: &str) -> Option<MsgKind> {
        MsgKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// True for the dBFT consensus messages (not block relay or sync).
    pub fn is_consensus(self) -> bool {
        self.index() <= MsgKind::RecoveryMessage.index()
    }

    /// True for what Neo nodes gossip (flood relay, hash cache): consensus payloads and
    /// blocks. Requests and answers (GetBlocks, GetData, Transaction) go point to point.
    pub fn is_gossiped(self) -> bool {
        self.is_consensus() || self == MsgKind::Block
    }
}

/// What the world needs to know about a message without understanding it: type, the
/// height/view/validator index it claims, its content hash and its size on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MsgMeta {
    pub kind: MsgKind,
    pub height: u32,
    pub view: u8,
    pub validator: u16,
    pub hash: Hash32,
    pub size: u32,
}

/// A message a replica can put on the simulated wire.
pub trait WireMessage: fmt::Debug + Serialize {
    fn meta(&self) -> MsgMeta;
}

/// Why a replica refused a message. Counted in the report; a rejection is never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// Signature does not verify for the claimed validator.
    BadSignature,
    /// Validator index outside the set of the message's height.
    UnknownValidator,
    /// A field is out of range or inconsistent (e.g. a duplicate transaction).
    Malformed,
    /// A block whose certificate does not prove it final, or that does not link.
    BadBlock,
    /// Signed with a key whose ejection has taken effect: it can never validate again.
    RevokedKey,
    /// Signed with the key of a validator that has left the set (an old set's key).
    StaleSet,
    /// For a future height, and not signed by the validator it names in the set this node
    /// projects for that height: forged, or from a set decided in blocks it has not seen.
    UnknownFutureSet,
}

impl RejectReason {
    /// The name used in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::BadSignature => "bad-signature",
            RejectReason::UnknownValidator => "unknown-validator",
            RejectReason::Malformed => "malformed",
            RejectReason::BadBlock => "bad-block",
            RejectReason::RevokedKey => "revoked-key",
            RejectReason::StaleSet => "stale-set",
            RejectReason::UnknownFutureSet => "unknown-future-set",
        }
    }
}

/// Protocol events a replica reports. They feed the trace, the invariant checkers and the
/// stall diagnosis, so checkers never need to peek into replica internals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "kebab-case")]
pub enum Note {
    /// The replica entered `view` at `height` (view 0 means a new height).
    ViewChanged { height: u32, view: u8 },
    /// The replica signed a Commit for `block` with `key` (S4 watches these).
    CommitSigned { height: u32, view: u8, block: Hash32, key: KeyId },
    /// The replica asked to leave its view.
    ChangeViewSent { height: u32, view: u8, reason: u8 },
    /// A primary proposed `block`.
    Proposed { height: u32, view: u8, block: Hash32 },
    /// A message was refused.
    Rejected { kind: MsgKind, reason: RejectReason },
}

/// Each node has two independent timers: the protocol's (scripted timer control acts on
/// it) and one for wrappers around the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerSlot {
    Protocol = 0,
    Adversary = 1,
}

/// What an armed timer is for; it comes back to the replica in [`Replica::on_timer`]. A
/// typed value, so replica state holds (and hashes) what the timer means, not a packed
/// number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// dBFT's view timer, armed for (height, view): an expiry meant for another height or
    /// view is stale and ignored.
    View { height: u32, view: u8 },
    /// A Byzantine wrapper's own periodic timer (always on [`TimerSlot::Adversary`]).
    Adversary,
    /// A test protocol's own numbering.
    Other(u64),
}

impl TimerKind {
    /// The number a trace record carries (`Ev::Timer::tag`, hashed into the digest): the
    /// packing the engine recorded before timers were typed — (height << 8) | view, the
    /// top bit for the adversary — so no digest moved.
    pub fn trace_tag(self) -> u64 {
        match self {
            TimerKind::View { height, view } => ((height as u64) << 8) | view as u64,
            TimerKind::Adversary => 1 << 63,
            TimerKind::Other(n) => n,
        }
    }
}

/// What a replica asks the world to do.
#[derive(Debug)]
pub enum Action<M> {
    /// Send to every other node.
    Broadcast(Rc<M>),
    /// Send to one node.
    Send(NodeId, Rc<M>),
    /// Arm one of the node's timers to fire at `at` (the node's local clock), replacing
    /// what that slot had armed. `tag` comes back in `on_timer`.
    SetTimer {
        slot: TimerSlot,
        tag: TimerKind,
        at: SimTime,
    },
    /// Disarm one of the node's timers.
    CancelTimer(TimerSlot),
    /// The block is final for this node (it persisted it).
    Persist(Rc<Block>),
    Note(Note),
    /// A coverage mark: an interesting protocol path was taken (counted, not traced).
    Mark(&'static str),
}

/// A replica's view of the world during one handler call.
pub struct Cx<'a, M> {
    /// The node's local clock (virtual time, possibly drifted).
    pub now: SimTime,
    /// Signature verification for every key of the run (verification only).
    pub keys: &'a Keyring,
    out: &'a mut Vec<Action<M>>,
}

impl<'a, M> Cx<'a, M> {
    pub fn new(now: SimTime, keys: &'a Keyring, out: &'a mut Vec<Action<M>>) -> Self {
        Cx { now, keys, out }
    }
    pub fn broadcast(&mut self, m: Rc<M>) {
        self.out.push(Action::Broadcast(m));
    }
    pub fn send(&mut self, to: NodeId, m: Rc<M>) {
        self.out.push(Action::Send(to, m));
    }
    pub fn set_timer(&mut self, tag: TimerKind, at: SimTime) {
        self.out.push(Action::SetTimer { slot: TimerSlot::Protocol, tag, at });
    }
    pub fn cancel_timer(&mut self) {
        self.out.push(Action::CancelTimer(TimerSlot::Protocol));
    }
    /// Arms the second timer, reserved for wrappers (Byzantine behaviours) so they never
    /// disturb the protocol's own timer.
    pub fn set_adversary_timer(&mut self, tag: TimerKind, at: SimTime) {
        self.out.push(Action::SetTimer { slot: TimerSlot::Adversary, tag, at });
    }
    pub fn persist(&mut self, b: Rc<Block>) {
        self.out.push(Action::Persist(b));
    }
    pub fn note(&mut self, n: Note) {
        self.out.push(Action::Note(n));
    }
    pub fn mark(&mut self, name: &'static str) {
        self.out.push(Action::Mark(name));
    }
    pub fn reject(&mut self, kind: MsgKind, reason: RejectReason) {
        self.out.push(Action::Note(Note::Rejected { kind, reason }));
    }
    /// Actions emitted so far in this call (wrappers inspect and rewrite them).
    pub fn actions(&mut self) -> &mut Vec<Action<M>> {
        self.out
    }
}

/// Phase of a replica at its current height, for stall diagnosis (docs/dbft-2.0.md §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Initial,
    RequestSentOrReceived,
    ResponseSent,
    CommitSent,
    ViewChanging,
    BlockSent,
}

/// A replica's consensus state as the stall diagnosis needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    pub height: u32,
    pub view: u8,
    pub phase: Phase,
    pub watch_only: bool,
    pub count_committed: usize,
    pub count_failed: usize,
    /// View in which this replica committed, if it did.
    pub committed_view: Option<u8>,
    /// The proposal (PrepareRequest hash) this replica committed to, if it did and still
    /// holds it: Commits of one view count towards one block only if they are for the same
    /// proposal (a Byzantine node can feed different nodes different ones).
    #[serde(skip)]
    pub committed_proposal: Option<crate::protocol::crypto::Hash32>,
    /// (new view number, how many ChangeViews for at least that view it holds).
    pub change_views: Vec<(u8, usize)>,
    pub preparations: usize,
    /// Validator set size, F and M at this height.
    pub n: usize,
    pub f: usize,
    pub m: usize,
    /// At a double-quorum hand-off height, the block also needs M signatures of the set
    /// before; without this the diagnosis would count only the new set's quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_quorum: Option<PreviousQuorum>,
}

/// The previous set's share of a double-quorum hand-off block, as one replica sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PreviousQuorum {
    /// M of the previous set.
    pub m: usize,
    /// This replica's key is in the previous set and not revoked by an ejection (its
    /// Commit counts towards that M).
    pub member: bool,
}

/// The [`Replica::state_hash`] of anything `Hash`: BLAKE3 over the derive's fixed field
/// order.
pub fn hash_state<T: std::hash::Hash + ?Sized>(state: &T) -> Hash32 {
    let mut h = crypto::StateHasher::default();
    state.hash(&mut h);
    h.digest()
}

/// A simulated process. Implementations must be deterministic functions of their state
/// and inputs; `Clone` so twins, crash images and explorers can copy them.
pub trait Replica: Clone {
    type Msg: WireMessage;

    fn on_start(&mut self, cx: &mut Cx<Self::Msg>);
    fn on_message(&mut self, cx: &mut Cx<Self::Msg>, from: NodeId, msg: &Rc<Self::Msg>);
    fn on_timer(&mut self, cx: &mut Cx<Self::Msg>, tag: TimerKind);
    /// A transaction reached this node's mempool.
    fn on_transaction(&mut self, _cx: &mut Cx<Self::Msg>, _tx: TxId) {}
    /// Whether a transaction arriving now would only join the mempool: `on_transaction`
    /// in this state asks for no action (no message, timer, note or mark), and leaves a
    /// state of which this is still true. While it holds, the engine may hand the node
    /// its gossiped transactions late — all those due before its next event, just before
    /// that event, in arrival order — instead of one event each: the node cannot tell.
    /// False (the default) keeps every arrival an event of its own.
    fn transactions_inert(&self) -> bool {
        false
    }
    /// Whether delivering a message described by `meta` to this replica does nothing,
    /// now and in every state it can reach from here (restarts included): the handler
    /// would ask for no action and change no state. Only then may the engine hand such a
    /// delivery over without an event (engine/mod.rs `transmit`; docs/performance.md,
    /// ninth pass). False (the default) keeps every delivery an event.
    fn ignores_for_good(&self, _meta: &MsgMeta) -> bool {
        false
    }
    /// The process as it comes back after a crash: what it persisted survives; with
    /// `amnesia` only the ledger survives (the saved consensus context is lost).
    fn after_crash(&self, amnesia: bool) -> Self;
    /// Current consensus state for diagnosis, if the replica has one.
    fn status(&self) -> Option<ReplicaStatus> {
        None
    }
    /// Height of the last block this replica persisted.
    fn ledger_height(&self) -> u32;
    /// Under flood relay: does `msg` pass this node's transport checks, so that it forwards
    /// it to its peers? (Neo: a consensus payload with a valid witness of a whitelisted key
    /// for a height not yet persisted; a block once persisted.) Pure: no state change.
    fn relays(&self, _keys: &Keyring, _msg: &Self::Msg) -> bool {
        false
    }
    /// Hash of the replica's whole state, for determinism checks and state deduplication.
    /// No default: two different states must hash differently, so every implementation
    /// (wrappers included) hashes what it really holds — usually `#[derive(Hash)]` fed to
    /// [`crypto::StateHasher`].
    fn state_hash(&self) -> Hash32;
}
