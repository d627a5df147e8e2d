//! Byzantine behaviours: wrappers around an honest dBFT replica.
//!
//! A Byzantine node runs the honest replica and rewrites, withholds, duplicates or adds to
//! what it sends. It can sign only with the keys it holds — its own, or a copy of a
//! compromised key the scenario hands it — so everything it forges that needs another
//! key fails verification at the receivers, and is counted as rejected there.
//!
//! The behaviours (`behaviour.rs`) compose: a node may equivocate as primary and double
//! sign as backup. Identity-level attacks are built from the same parts by the world:
//! *twins* are two honest replicas with one key, each delivering to its own subset of
//! the network; a *compromised key* is an extra attacker process holding a copy of an
//! honest validator's key.
//!
//! Deliberately left out: attacks on the transport itself (those are scripted message
//! rules in `net/rules.rs`) and on cryptography (signatures cannot be broken).

pub mod behaviour;
#[cfg(test)]
mod fuzz;
mod inject;
mod rewrite;
pub mod selftest;

use crate::engine::time::{Micros, SimTime};
use crate::protocol::block::Block;
use crate::protocol::block::TxId;
use crate::protocol::crypto::{Hash32, KeyId, KeyPair, Keyring};
use crate::protocol::dbft::DbftReplica;
use crate::protocol::dbft::message::{ConsensusMessage, Wire};
use crate::protocol::{Action, Cx, NodeId, Replica, ReplicaStatus, TimerKind};
use crate::scenario::spec::{NodeSpec, Role};
pub use behaviour::Behaviour;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A simulated process: an honest replica or a Byzantine one. Honest replicas are the
/// common case and stay inline (no indirection per event); the rarer wrapper is boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Hash)]
pub enum Node {
    Honest(DbftReplica),
    Byzantine(Box<Byzantine>),
}

impl Node {
    pub fn replica(&self) -> &DbftReplica {
        match self {
            Node::Honest(r) => r,
            Node::Byzantine(b) => &b.inner,
        }
    }
}

/// An honest replica wrapped by one or more behaviours, active from `from` on. `Hash`
/// covers the wrapped replica, the configuration and everything the behaviours remember.
#[derive(Clone, Debug, Hash)]
pub struct Byzantine {
    pub inner: DbftReplica,
    pub behaviours: Vec<Behaviour>,
    pub from: SimTime,
    pub me: NodeId,
    /// Every node address of the run.
    pub peers: Vec<NodeId>,
    /// The keys this process holds (the replica's own first).
    pub keys: Vec<KeyPair>,
    /// Sends nothing at all (a twin or attacker the self-test turned off).
    muted: bool,
    /// Behaviours whose effect the self-test turned off (they still mark what they do).
    effect_off: Vec<&'static str>,
    state: AdversaryState,
}

/// The process of node `i` of `nodes`, around its replica `r`: honest, or wrapped by its
/// behaviours and holding every key its role gives it (an attacker holding several leaked
/// keys can sign with each of them). The self-test switches (`selftest.rs`) act here.
pub fn process(nodes: &[NodeSpec], i: usize, r: DbftReplica, peers: &[NodeId], keyring: &Keyring) -> Node {
    use selftest::Off;
    let n = &nodes[i];
    let mut behaviours = n.behaviours.clone();
    let (mut muted, mut effect_off) = (false, Vec::new());
    let twin = matches!(n.role, Role::Twin { .. });
    // (Looked up only when the self-test asks: normal builds never scan the node list.)
    let twin_original = || nodes.iter().any(|m| m.role == (Role::Twin { of: i }));
    let attacker = matches!(n.role, Role::Attacker { .. });
    match selftest::off(selftest::TWINS) {
        Off::No => {}
        // Both halves become one honest process: the twin says nothing and the original
        // delivers to everyone.
        Off::Whole if twin => (muted, behaviours) = (true, Vec::new()),
        Off::Whole if twin_original() => behaviours.clear(),
        Off::Effect if twin => muted = true,
        Off::Effect if twin_original() => effect_off.push("selective-delivery"),
        _ => {}
    }
    match selftest::off(selftest::COMPROMISED_KEYS) {
        Off::Whole if attacker => (muted, behaviours) = (true, Vec::new()),
        Off::Effect if attacker => muted = true,
        _ => {}
    }
    behaviours.retain(|b| match selftest::off(b.name()) {
        Off::No => true,
        Off::Whole => false,
        Off::Effect => {
            effect_off.push(b.name());
            true
        }
    });
    if behaviours.is_empty() && !muted {
        return Node::Honest(r);
    }
    let me = NodeId(i as u32);
    let mut b = Byzantine::new(r, behaviours, n.byzantine_from, me, peers.to_vec());
    (b.muted, b.effect_off) = (muted, effect_off);
    b.keys.extend(n.role.keys().into_iter().skip(1).filter_map(|k| keyring.keypair(KeyId(k as u32))));
    Node::Byzantine(Box::new(b))
}

/// What the behaviours remember between calls.
#[derive(Clone, Debug, Default)]
struct AdversaryState {
    /// Consensus messages received from others (for replays), oldest first, bounded.
    seen: Vec<Rc<ConsensusMessage>>,
    replay_cursor: usize,
    /// Withheld messages: (release time, recipients or everyone, message).
    held: Vec<(SimTime, Option<Vec<NodeId>>, Rc<Wire>)>,
    /// The latest consensus message another validator sent us (for relabelling forgeries).
    last_foreign: Option<Rc<ConsensusMessage>>,
    /// (height, view, proposal hash) already double-signed.
    double_signed: BTreeSet<(u32, u8, Hash32)>,
    ticks: u64,
    timer_armed_until: Option<SimTime>,
    /// Per held key, the index it had in the last set that counted it (stale signing).
    last_index: BTreeMap<KeyId, u16>,
    /// The conflicting branch built so far (stale-chain), from its first height on.
    forged: Vec<Rc<Block>>,
}

/// Every field; a withheld message hashes by its content hash.
impl std::hash::Hash for AdversaryState {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.seen.hash(h);
        self.replay_cursor.hash(h);
        self.held.len().hash(h);
        for (at, to, w) in &self.held {
            use crate::protocol::WireMessage;
            at.hash(h);
            to.hash(h);
            w.meta().hash.hash(h);
        }
        self.last_foreign.hash(h);
        self.double_signed.hash(h);
        self.ticks.hash(h);
        self.timer_armed_until.hash(h);
        self.last_index.hash(h);
        self.forged.hash(h);
    }
}

const SEEN_LIMIT: usize = 256;

impl Byzantine {
    pub fn new(
        inner: DbftReplica,
        behaviours: Vec<Behaviour>,
        from: SimTime,
        me: NodeId,
        peers: Vec<NodeId>,
    ) -> Byzantine {
        let keys = inner.key().cloned().into_iter().collect();
        Byzantine {
            inner,
            behaviours,
            from,
            me,
            peers,
            keys,
            muted: false,
            effect_off: Vec::new(),
            state: AdversaryState::default(),
        }
    }

    fn active(&self, now: SimTime) -> bool {
        now >= self.from
    }

    /// Whether the self-test turned the effect of behaviour `name` off (never in normal
    /// builds: the list is empty).
    fn effect_off(&self, name: &str) -> bool {
        !self.effect_off.is_empty() && self.effect_off.contains(&name)
    }

    /// A muted process (self-test) sends nothing of what one handler call asked for.
    fn mute(&self, cx: &mut Cx<Wire>) {
        if self.muted {
            cx.actions().retain(|a| !matches!(a, Action::Send(..) | Action::Broadcast(_)));
        }
    }

    fn key(&self) -> Option<&KeyPair> {
        self.keys.first()
    }

    /// Everyone but me.
    fn others(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.iter().copied().filter(move |p| *p != self.me)
    }

    /// The period of the adversary's own timer: the shortest of the periodic behaviours.
    fn period(&self) -> Option<Micros> {
        self.behaviours.iter().filter_map(|b| b.period()).min()
    }

    fn arm(&mut self, cx: &mut Cx<Wire>) {
        let Some(p) = self.period() else { return };
        let at = cx.now.max(self.from).plus(p.max(1));
        if self.state.timer_armed_until.is_some_and(|t| t <= at && t > cx.now) {
            return;
        }
        self.state.timer_armed_until = Some(at);
        cx.set_adversary_timer(TimerKind::Adversary, at);
    }

    /// Runs one inner handler, then lets the behaviours rewrite what it asked for.
    fn wrap(
        &mut self,
        cx: &mut Cx<Wire>,
        incoming: Option<&Rc<Wire>>,
        f: impl FnOnce(&mut DbftReplica, &mut Cx<Wire>),
    ) {
        let mut buf = Vec::new();
        {
            let mut inner_cx = Cx::new(cx.now, cx.keys, &mut buf);
            f(&mut self.inner, &mut inner_cx);
        }
        self.remember_indices();
        if !self.active(cx.now) {
            cx.actions().append(&mut buf);
            return;
        }
        if let Some(w) = incoming {
            self.observe_incoming(cx, w);
        }
        let actions = self.rewrite(cx, buf);
        cx.actions().extend(actions);
        self.release_due(cx);
    }
}

impl Replica for Node {
    type Msg = Wire;

    fn on_start(&mut self, cx: &mut Cx<Wire>) {
        match self {
            Node::Honest(r) => r.on_start(cx),
            Node::Byzantine(b) => {
                b.state.timer_armed_until = None;
                b.wrap(cx, None, |r, cx| r.on_start(cx));
                b.arm(cx);
                b.mute(cx);
            }
        }
    }

    fn on_message(&mut self, cx: &mut Cx<Wire>, from: NodeId, msg: &Rc<Wire>) {
        match self {
            Node::Honest(r) => r.on_message(cx, from, msg),
            Node::Byzantine(b) if b.active(cx.now) && matches!(**msg, Wire::GetData { .. }) => {
                // An active Byzantine node never serves transactions: `withhold` means
                // "nobody honest has it" once missing transactions are fetched.
                cx.mark("fetch: Byzantine node refused GetData");
            }
            Node::Byzantine(b) => {
                b.wrap(cx, Some(msg), |r, cx| r.on_message(cx, from, msg));
                b.mute(cx);
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<Wire>, tag: TimerKind) {
        match self {
            Node::Honest(r) => r.on_timer(cx, tag),
            Node::Byzantine(b) if tag == TimerKind::Adversary => {
                b.state.timer_armed_until = None;
                if b.active(cx.now) {
                    b.remember_indices();
                    b.state.ticks += 1;
                    b.tick(cx);
                    b.release_due(cx);
                }
                b.arm(cx);
                b.mute(cx);
            }
            Node::Byzantine(b) => {
                b.wrap(cx, None, |r, cx| r.on_timer(cx, tag));
                b.mute(cx);
            }
        }
    }

    fn on_transaction(&mut self, cx: &mut Cx<Wire>, tx: TxId) {
        match self {
            Node::Honest(r) => r.on_transaction(cx, tx),
            Node::Byzantine(b) => {
                b.wrap(cx, None, |r, cx| r.on_transaction(cx, tx));
                b.mute(cx);
            }
        }
    }

    fn after_crash(&self, amnesia: bool) -> Self {
        match self {
            Node::Honest(r) => Node::Honest(r.after_crash(amnesia)),
            Node::Byzantine(b) => {
                let mut nb = (**b).clone();
                nb.inner = b.inner.after_crash(amnesia);
                nb.state = AdversaryState::default();
                Node::Byzantine(Box::new(nb))
            }
        }
    }

    /// A wrapped node's behaviour may react to anything: every delivery stays an event.
    fn ignores_for_good(&self, meta: &crate::protocol::MsgMeta) -> bool {
        match self {
            Node::Honest(r) => r.ignores_for_good(meta),
            Node::Byzantine(_) => false,
        }
    }

    /// A wrapped node's behaviour may react to anything: every arrival stays an event.
    fn transactions_inert(&self) -> bool {
        match self {
            Node::Honest(r) => r.transactions_inert(),
            Node::Byzantine(_) => false,
        }
    }

    fn status(&self) -> Option<ReplicaStatus> {
        self.replica().status()
    }

    fn ledger_height(&self) -> u32 {
        self.replica().ledger_height()
    }

    fn relays(&self, keys: &crate::protocol::crypto::Keyring, msg: &Wire) -> bool {
        // The engine never asks a Byzantine node to relay; answered for completeness.
        matches!(self, Node::Honest(_)) && self.replica().relays(keys, msg)
    }

    /// An honest node hashes as its replica does; a wrapped one hashes the wrapper whole.
    fn state_hash(&self) -> Hash32 {
        match self {
            Node::Honest(r) => r.state_hash(),
            Node::Byzantine(b) => {
                let mut h = crate::protocol::crypto::StateHasher::default();
                std::hash::Hash::hash(&**b, &mut h);
                h.digest()
            }
        }
    }
}

/// Sends `w` to each of `to`.
fn send_each(out: &mut Vec<Action<Wire>>, to: &[NodeId], w: &Rc<Wire>) {
    for n in to {
        out.push(Action::Send(*n, w.clone()));
    }
}

fn consensus(w: &Wire) -> Option<&Rc<ConsensusMessage>> {
    match w {
        Wire::Consensus(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use crate::protocol::dbft::DbftOptions;
    use crate::protocol::dbft::message::Body;
    use crate::protocol::dbft::semantics::Semantics;
    use crate::validators::ValidatorSet;

    fn wrapped(behaviours: Vec<Behaviour>) -> (Node, Keyring) {
        let ring = Keyring::generate(7, 4);
        let set = Rc::new(ValidatorSet::new((0..4).map(KeyId).collect()));
        let opts = Rc::new(DbftOptions::for_test(1_000_000, Semantics::CSharp, 8));
        let genesis = Rc::new(Block::genesis(set));
        let r = DbftReplica::new(NodeId(1), ring.keypair(KeyId(1)), opts, genesis);
        let peers = (0..4).map(NodeId).collect();
        (Node::Byzantine(Box::new(Byzantine::new(r, behaviours, SimTime::ZERO, NodeId(1), peers))), ring)
    }

    #[test]
    fn a_wrapper_hashes_its_own_state_not_only_the_replica_it_wraps() {
        let flood = Behaviour::ChangeViewFlood { period: 1_000, forged_view: None, stale: false };
        let (a, ring) = wrapped(vec![flood.clone()]);
        assert_ne!(a.state_hash(), Hash32::ZERO);
        assert_eq!(a.clone().state_hash(), a.state_hash(), "a copy is the same state");
        // Same inner replica, another behaviour: another process.
        let (other, _) = wrapped(vec![Behaviour::DoubleSign]);
        assert_eq!(other.replica().state_hash(), a.replica().state_hash());
        assert_ne!(other.state_hash(), a.state_hash());
        // One adversary tick: the inner replica is untouched, the wrapper's memory moved.
        let mut ticked = a.clone();
        let mut out = Vec::new();
        ticked.on_timer(&mut Cx::new(SimTime(5_000), &ring, &mut out), TimerKind::Adversary);
        assert_eq!(ticked.replica().state_hash(), a.replica().state_hash());
        assert_ne!(ticked.state_hash(), a.state_hash(), "the tick count is state");
        // Two withheld messages that differ only in content.
        let msg = |from| Rc::new(Wire::GetBlocks { from });
        let (mut x, mut y) = (a.clone(), a.clone());
        let (Node::Byzantine(bx), Node::Byzantine(by)) = (&mut x, &mut y) else { unreachable!() };
        bx.state.held.push((SimTime(1), None, msg(1)));
        by.state.held.push((SimTime(1), None, msg(2)));
        assert_ne!(x.state_hash(), y.state_hash(), "withheld messages hash by content");
        // The honest variant hashes as its replica.
        let honest = Node::Honest(a.replica().clone());
        assert_eq!(honest.state_hash(), a.replica().state_hash());
    }

    /// `future-timestamp`: as primary of height 1 (index 1 of 4), the request the node
    /// broadcasts carries the chosen timestamp, is validly signed by its key, and marks
    /// that it acted; its own replica keeps the proposal it made (another header).
    #[test]
    fn a_future_timestamp_primary_broadcasts_its_request_restamped() {
        let (mut node, ring) = wrapped(vec![Behaviour::FutureTimestamp { timestamp_ms: u64::MAX }]);
        let mut out = Vec::new();
        let mut cx = Cx::new(SimTime::ZERO, &ring, &mut out);
        node.on_start(&mut cx);
        let tag = node.replica().timer.tag;
        let mut cx = Cx::new(SimTime(1_000_000), &ring, &mut out);
        node.on_timer(&mut cx, tag);
        let requests: Vec<Rc<ConsensusMessage>> = out
            .iter()
            .filter_map(|a| match a {
                Action::Broadcast(w) => match &**w {
                    Wire::Consensus(m) if matches!(m.body, Body::PrepareRequest { .. }) => Some(m.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(requests.len(), 1, "one request, restamped: {out:?}");
        let Body::PrepareRequest { timestamp_ms, .. } = requests[0].body else { unreachable!() };
        assert_eq!(timestamp_ms, u64::MAX);
        let m = &requests[0];
        assert!(ring.verify(KeyId(1), &m.hash, &m.sig), "signed again with its own key");
        assert_eq!(
            m.hash,
            ConsensusMessage::payload_hash(m.height, m.view, m.validator, &m.body),
            "its hash is its content's"
        );
        assert!(out.iter().any(|a| matches!(a, Action::Mark("byzantine: PrepareRequest stamped in the future"))));
        let own = node.replica().ctx.proposal.as_ref().map(|p| p.timestamp_ms);
        assert!(own.is_some_and(|t| t < u64::MAX), "its own replica keeps its proposal: {own:?}");
    }
}
