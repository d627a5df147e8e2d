//! The untimed system: N replicas, the messages in flight, the armed timers and the
//! crashed nodes, advanced one explicit [`Step`] at a time. The schedule runner and the
//! explorer both drive the real replica code through this one type.
//!
//! What it abstracts, and why:
//! - **No time.** Every handler sees the same local time (zero). A timer is armed or not;
//!   an armed timer may fire at any point, before or after any delivery (the asynchronous
//!   model of the TLA+ specifications). Deadlines are therefore meaningless here and are
//!   zeroed in the replica after every step, so two states that differ only in how often a
//!   timer was extended are one state.
//! - **Deadline order** (`Env::deadlines`, explore's `--deadlines`): the bounded-delay
//!   variant. Handlers still see time zero, so a deadline a handler sets is the time left
//!   from now; the system keeps it per armed timer ([`Sys::due`]) and leaves it in the
//!   replica, where an extension adds to it. A timer may fire only when nothing is in
//!   flight and only if it is due first; firing it moves every other armed timer that much
//!   closer (in the system and in the replica). The time left is part of the state; a
//!   replica's record of a timer that is no longer armed is zeroed, as in the untimed model.
//! - **Delays** (`Env::max_delay` > 0 with deadline order, explore's `--max-delay-ms`):
//!   a message may take up to that long. Each message in flight keeps the time left until
//!   it must have arrived; a timer due first may fire while messages are in flight as
//!   long as none of them must arrive before it, and firing it moves their time left
//!   closer too. Deliveries take no time and happen at the instants timers fire, so a
//!   message sent on a delivery is timed from the last timer, not from a later moment
//!   the delivery could have had: every schedule of this model is one a network with
//!   delays up to the bound can produce, but not every such schedule is one of this
//!   model's (the bound counts from the last timer). A lock found here therefore exists
//!   under that delay bound; one not found may still exist.
//! - **Messages in flight are a set.** A copy identical to one still pending for the same
//!   recipient (same sender, same content hash) merges with it: dBFT replicas handle a
//!   payload they already hold as a no-op, and without it a committed node's periodic
//!   re-send would make the state space infinite. A message sent to a node that is down is
//!   lost at once (`recipient-down`).
//! - **Heights beyond the target are not sent.** Messages for heights above
//!   `target` never enter the set: the bounded model ends at the target height.
//! - **Optionally, dead messages are dropped** (`Sys::prune`, the explorer's default): a
//!   message its recipient ignores forever (`DbftReplica::ignores_forever`,
//!   protocol/dbft/relevance.rs) never enters the set, and leaves it when a step of its
//!   recipient makes it dead. Such a delivery changes nothing and emits nothing, now or
//!   later, so dropping it removes no replica state and no behaviour: a schedule of the
//!   full system maps to one of the pruned system by leaving out those deliveries, and
//!   back. What it removes is the enumeration of which dead messages are still pending.
//!   Deadness depends on the recipient alone, so the set stays canonical (a function of
//!   the unpruned set and the replicas) and steps of different replicas still commute.
//!   Scheduled runs (`run`) do not prune: the dead messages stay in flight there, never
//!   delivered by a schedule the explorer wrote.
//! - **Optionally, dead replica state is forgotten** ([`Sys::forget_dead`], the
//!   explorer's default where it is sound: recovery off, every process honest): an
//!   honest replica is fingerprinted by what a later step can still read of it
//!   (`LiveState`, protocol/dbft/relevance.rs), and the messages that write only what is
//!   forgotten are dead too. States whose replicas differ only in forgotten records are
//!   then one state; a unit test checks that such states are bisimilar.
//! - **Optionally no recovery** (`Env::recovery`): RecoveryRequest and RecoveryMessage
//!   are recorded as sent but never enter the set.
//!
//! - **Byzantine nodes run their wrapper** (`byzantine/`, the [`Node`] type): its whole
//!   state (replica and adversary memory) is part of the fingerprint, its sends enter the
//!   set like any message, its protocol timer is a `timer` step like any node's, its
//!   adversary timer (periodic behaviours) an `adversary-timer` step, and it is never a
//!   crash choice. The honest predicates (finished, stuck, S4's signature record) ignore
//!   it. Behaviours that need a clock are refused ([`untimed_behaviour`]): the model has
//!   none for a `from_ms` window or a withholding delay.
//!
//! Twins and attacker processes (compromised keys) are processes like any other: each
//! half of a twin pair is a Byzantine wrapper (its split is a selective delivery) holding
//! the shared key; an attacker is a wrapper holding the leaked keys.
//!
//! Validator-set change transactions submitted at time zero are in their recipients'
//! mempools from the start (`schedule::initial_txs`); changes at a later time or height
//! are refused. Deliberately left out: behaviours with a time window or a delay, flood
//! relay and partitions.

use super::bag::Bag;
use super::row::Row;
use super::step::{Envelope, Step};
use crate::byzantine::{Behaviour, Node};
use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Halt, Observer, Rec};
use crate::net::DropReason;
use crate::protocol::crypto::{Hash32, Keyring};
use crate::protocol::dbft::DbftReplica;
use crate::protocol::dbft::message::Wire;
use crate::protocol::dbft::relevance::{LiveState, Reloadable};
use crate::protocol::{Action, Cx, MsgKind, NodeId, Note, Replica, TimerKind, TimerSlot, WireMessage};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// Counted (in a search's marks) each time a restart choice is taken.
pub const RESTART_MARK: &str = "explore: a crashed node restarted";

/// Tags the fingerprint of a node that is down ([`Sys::forget_down`]).
const DOWN: u64 = 0xd0d0_d0d0_d0d0_d0d0;

/// A message in flight, keyed by (recipient, sender, content hash).
pub type Key = (NodeId, NodeId, Hash32);

/// A pending message: its id in the trace (not part of the state), type and content.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: u64,
    pub kind: MsgKind,
    pub msg: Rc<Wire>,
    /// Under deadline order with a delay bound: the time (µs) within which it must be
    /// delivered (or dropped), from now.
    pub left: u64,
}

/// What stays fixed while a system runs.
#[derive(Clone)]
pub struct Env {
    pub keys: Rc<Keyring>,
    pub honest: Vec<bool>,
    /// The highest height modelled: messages of higher heights are not sent.
    pub target: u32,
    /// Serialize message contents into Send records (for a trace file).
    pub trace_content: bool,
    /// RecoveryRequest and RecoveryMessage enter the set in flight. Without, they are
    /// sent (recorded) but never delivered — the explorer's `--recovery off` bound, as
    /// in the TLA+ models, which have no recovery.
    pub recovery: bool,
    /// Timers keep their deadlines and fire in deadline order (module comment,
    /// "Deadline order"); off: the untimed model, deadlines zeroed.
    pub deadlines: bool,
    /// With `deadlines`: the longest message delay (µs). 0: every message arrives before
    /// the next timer expires. Above 0, a message sent may still be in flight when timers
    /// due within this much time fire (module comment, "Delays").
    pub max_delay: u64,
}

/// One step's side effects that the drivers care about.
#[derive(Debug, Default)]
pub struct Effects {
    /// The highest view a replica entered or asked to enter (ChangeView for view v + 1).
    pub max_view: u8,
    /// An observer asked to stop.
    pub halt: Option<Halt>,
    /// The pending messages this step sent (added, or merged with an identical copy).
    pub sent: Vec<Key>,
    /// An honest node asked for recovery and, recovery being off, nobody will answer:
    /// a state stuck after such a step may be an artefact of that bound.
    pub unanswered_recovery: bool,
}

/// The whole nondeterministic system between two steps.
#[derive(Clone, Debug)]
pub struct Sys {
    /// Shared until a step writes one (`Rc::make_mut`): a successor state copies only
    /// the replica its step touched, and the search's frontier shares the rest.
    /// Replace one only by an equal state, or through [`Sys::apply`], which keeps `fps`
    /// right.
    pub replicas: Vec<Rc<Node>>,
    /// Each replica's fingerprint, computed when first asked for after the replica last
    /// changed (0: not known). A step writes one replica, so a state's fingerprint hashes
    /// one replica afresh and reuses the others' (hashing whole replicas was 60 % of the
    /// search's time).
    fps: Vec<Cell<u64>>,
    pub up: Row<bool>,
    /// The tag of each node's armed protocol timer.
    pub timers: Row<Option<TimerKind>>,
    /// Each Byzantine node's armed adversary timer (its periodic behaviours).
    pub adversary: Row<Option<TimerKind>>,
    /// Under `Env::deadlines`: the time (µs) until each armed protocol timer and adversary
    /// timer expires, from now. Handlers always see time zero, so a deadline a handler
    /// sets is already relative to now; firing a timer moves every other one closer.
    /// Meaningless (and not hashed) in the untimed model.
    pub due: Row<u64>,
    pub adversary_due: Row<u64>,
    deadlines: bool,
    /// `Env::max_delay`, kept for hashing and for moving the messages' time left.
    max_delay: u64,
    /// Adversary timer steps taken per node (the explorer bounds them: every tick is a
    /// new wrapper state, so unbounded ticks make the space infinite).
    pub ticks: Row<u32>,
    pub bag: Bag,
    /// Crashes taken so far (the explorer bounds them).
    pub crashes: u32,
    /// Restarts taken so far (the explorer bounds them; `--restarts`).
    pub restarts: u32,
    /// The nodes restarted with amnesia: the checkers count them faulty from then on, so
    /// two states that differ only in which node that was differ.
    amnesiac: BTreeSet<NodeId>,
    /// Messages dropped by a `drop` step so far; part of the state only when the explorer
    /// bounds them ([`Sys::count_drops`]).
    pub drops: u32,
    drops_counted: bool,
    /// Every (node, height, block) an honest node signed a Commit for: S4 judges a new
    /// signature against it, so two states with different histories differ.
    signed: BTreeSet<(NodeId, u32, Hash32)>,
    next_id: u64,
    /// Records emitted so far (the `step` of the next record).
    pub records: u64,
    /// Drop dead messages (module comment); with `Prune::Check`, also deliver each to a
    /// copy of its recipient first and panic unless that is a no-op.
    pub prune: Prune,
    /// Dead messages dropped so far (not part of the state).
    pub pruned: u64,
    /// A node that is down is fingerprinted by its ledger alone ([`Sys::forget_down`]).
    forget_down: bool,
    /// The target height when an honest node is fingerprinted by what a later step can
    /// still read of it ([`Sys::forget_dead`]).
    forget_dead: Option<u32>,
    /// Restarts are choices ([`Sys::allow_restarts`]): a down node may act again.
    restarts_allowed: bool,
    /// ... and without amnesia, so the saved context a restart reloads is part of the
    /// state of a forgotten node.
    keep_saved: bool,
}

/// Whether dead messages are dropped from the set in flight (module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prune {
    #[default]
    Off,
    On,
    /// On, and each dropped message is first delivered to a copy of its recipient: the
    /// state must hash the same and nothing but coverage marks may come out.
    Check,
}

/// Equal protocol states hash equally: ids and record counters are left out.
impl Hash for Sys {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for i in 0..self.replicas.len() {
            self.replica_fp(i).hash(h);
        }
        self.up.hash(h);
        self.timers.hash(h);
        self.adversary.hash(h);
        if self.deadlines {
            for i in 0..self.replicas.len() {
                self.timers[i].map(|_| self.due[i]).hash(h);
                self.adversary[i].map(|_| self.adversary_due[i]).hash(h);
            }
        }
        self.ticks.hash(h);
        self.bag.len().hash(h);
        for (k, p) in &self.bag {
            k.hash(h);
            if self.max_delay > 0 {
                p.left.hash(h);
            }
        }
        self.crashes.hash(h);
        // Only searches with restart choices take any: leaving the count out otherwise
        // keeps every other search's fingerprints as they were.
        if self.restarts > 0 {
            self.restarts.hash(h);
            self.amnesiac.hash(h);
        }
        if self.drops_counted {
            self.drops.hash(h);
        }
        self.signed.hash(h);
    }
}

/// Which nondeterministic choices a state offers besides deliveries (the search's bounds).
#[derive(Clone, Copy, Debug, Default)]
pub struct Choices {
    /// Every message in flight may also be dropped.
    pub loss: bool,
    /// An honest running validator may crash.
    pub crashes_left: bool,
    /// A crashed honest node may restart (`--restarts`), with its saved context or, with
    /// `amnesia`, without it.
    pub restarts_left: bool,
    pub amnesia: bool,
    /// Timers fire only when nothing is in flight: every message is delivered (or
    /// dropped) before any timeout expires, i.e. message delays below every timeout.
    pub synchrony: bool,
    /// How many adversary timer steps each Byzantine node may take.
    pub adversary_ticks: u32,
    /// Timers fire in deadline order (`Env::deadlines`), and only when nothing is in
    /// flight: of the timers that may fire, only those due first.
    pub deadlines: bool,
    /// A Byzantine node's message in flight may be dropped whatever `loss` says: the
    /// node's choice of recipients among what its behaviours send (not a loss; it does
    /// not count as one).
    pub withhold: bool,
}

/// The explicit step a driver wants, resolved against the pending messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Deliver(Key),
    Drop(Key),
    Timer(NodeId),
    AdversaryTimer(NodeId),
    Crash(NodeId),
    Restart(NodeId, bool),
}

impl Act {
    /// The one replica whose state the step reads and writes (a delivery's or drop's
    /// recipient, the timer's owner, either timer); None for crashes and restarts, which the explorer
    /// treats as dependent on every other step.
    pub fn process(self) -> Option<NodeId> {
        match self {
            Act::Deliver(k) | Act::Drop(k) => Some(k.0),
            Act::Timer(n) | Act::AdversaryTimer(n) => Some(n),
            Act::Crash(_) | Act::Restart(..) => None,
        }
    }
}

struct Emitter<'a> {
    obs: &'a mut dyn Observer,
    fx: &'a mut Effects,
    marks: Option<&'a mut BTreeMap<&'static str, u64>>,
}

impl Sys {
    /// The system after its initial transactions reached the mempools (`txs[i]`: those of
    /// node i) and every node started, in node order. Nothing is delivered yet.
    pub fn start(
        env: &Env,
        replicas: Vec<Node>,
        txs: &[Vec<u64>],
        obs: &mut dyn Observer,
        marks: Option<&mut BTreeMap<&'static str, u64>>,
    ) -> (Sys, Effects) {
        let n = replicas.len();
        let mut sys = Sys {
            replicas: replicas.into_iter().map(Rc::new).collect(),
            fps: vec![Cell::new(0); n],
            up: Row::filled(true, n),
            timers: Row::filled(None, n),
            adversary: Row::filled(None, n),
            due: Row::filled(0, n),
            adversary_due: Row::filled(0, n),
            deadlines: env.deadlines,
            max_delay: if env.deadlines { env.max_delay } else { 0 },
            ticks: Row::filled(0, n),
            bag: Bag::default(),
            crashes: 0,
            restarts: 0,
            amnesiac: BTreeSet::new(),
            drops: 0,
            drops_counted: false,
            signed: BTreeSet::new(),
            next_id: 0,
            records: 0,
            prune: Prune::Off,
            pruned: 0,
            forget_down: false,
            forget_dead: None,
            restarts_allowed: false,
            keep_saved: false,
        };
        let mut fx = Effects::default();
        let mut em = Emitter { obs, fx: &mut fx, marks };
        for (i, list) in txs.iter().enumerate() {
            let node = NodeId(i as u32);
            for &tx in list {
                sys.emit(&mut em, Ev::Tx { node, tx });
                sys.call(env, &mut em, node, |r, cx| r.on_transaction(cx, tx));
            }
        }
        for i in 0..n {
            let node = NodeId(i as u32);
            sys.emit(&mut em, Ev::Start { node });
            sys.call(env, &mut em, node, |r, cx| r.on_start(cx));
        }
        (sys, fx)
    }

    /// The fingerprint of replica `i`'s state (its [`Node`] hashed with SipHash under fixed
    /// keys), cached until a step writes that replica.
    pub fn replica_fp(&self, i: usize) -> u64 {
        let cached = self.fps[i].get();
        if cached != 0 {
            return cached;
        }
        let fp = match (&*self.replicas[i], self.forget_dead) {
            (node, _) if self.forget_down && !self.up[i] => {
                let r = node.replica();
                // The node's id too: the search interns replicas by fingerprint across
                // slots, and a restart rebuilds the node from the one it finds there.
                let fp = super::fingerprint::of(&(DOWN, r.node, &r.ledger));
                match (self.keep_saved, self.forget_dead) {
                    (false, _) => fp,
                    (true, Some(_)) => super::fingerprint::of(&(fp, Reloadable(r))),
                    (true, None) => super::fingerprint::of(&(fp, r.reloadable())),
                }
            }
            (Node::Honest(replica), Some(target)) => {
                super::fingerprint::of(&LiveState { replica, target, keep_saved: self.keep_saved })
            }
            (node, _) => super::fingerprint::of(node),
        };
        self.fps[i].set(fp);
        fp
    }

    /// Every (node, height, block) an honest node signed a Commit for.
    pub fn signed_commits(&self) -> &BTreeSet<(NodeId, u32, Hash32)> {
        &self.signed
    }

    /// The steps enabled now, in a fixed order: deliveries (and, with `loss`, drops) in
    /// the order of the pending set, then timers, then adversary timers (while a node
    /// has ticks left), then crashes (while `crashes_left`), then restarts of crashed honest nodes (while
    /// `restarts_left`), by node. Nodes that finished the target height take no timer step; under
    /// `synchrony`, no node does while anything is in flight.
    pub fn enabled(&self, env: &Env, choices: Choices, out: &mut Vec<Act>) {
        out.clear();
        for k in self.bag.keys() {
            out.push(Act::Deliver(*k));
            if choices.loss || (choices.withhold && !env.honest[k.1.idx()]) {
                out.push(Act::Drop(*k));
            }
        }
        if self.timers_may_fire(env, choices) {
            let first = if choices.deadlines { self.earliest(env, choices.adversary_ticks) } else { None };
            let due = |d: u64| first.is_none_or(|f| d == f);
            for i in 0..self.timers.len() {
                if self.protocol_timer_may_fire(env, i) && due(self.due[i]) {
                    out.push(Act::Timer(NodeId(i as u32)));
                }
            }
            for i in 0..self.adversary.len() {
                if self.adversary_timer_may_fire(i, choices.adversary_ticks) && due(self.adversary_due[i]) {
                    out.push(Act::AdversaryTimer(NodeId(i as u32)));
                }
            }
        }
        if choices.crashes_left {
            for i in 0..self.replicas.len() {
                if self.up[i] && env.honest[i] {
                    out.push(Act::Crash(NodeId(i as u32)));
                }
            }
        }
        if choices.restarts_left {
            for i in 0..self.replicas.len() {
                if !self.up[i] && env.honest[i] {
                    out.push(Act::Restart(NodeId(i as u32), choices.amnesia));
                }
            }
        }
    }

    /// Whether any timer step may be offered now: always in the asynchronous model; under
    /// the synchrony bound and zero-delay deadlines only when nothing is in flight; with
    /// a delay bound, when no message in flight must arrive before the first timer due.
    fn timers_may_fire(&self, env: &Env, choices: Choices) -> bool {
        if choices.deadlines && self.max_delay > 0 {
            let Some(first) = self.earliest(env, choices.adversary_ticks) else { return false };
            return self.bag.values().all(|p| p.left >= first);
        }
        !(choices.synchrony || choices.deadlines) || self.bag.is_empty()
    }

    fn protocol_timer_may_fire(&self, env: &Env, i: usize) -> bool {
        self.timers[i].is_some() && self.up[i] && self.replicas[i].ledger_height() < env.target
    }

    fn adversary_timer_may_fire(&self, i: usize, ticks: u32) -> bool {
        self.adversary[i].is_some() && self.up[i] && self.ticks[i] < ticks
    }

    /// Under deadline order: when the first timer that may still fire is due (None: no
    /// such timer). A finished node's timer and a Byzantine node's exhausted adversary
    /// timer never fire, so they do not hold the others back.
    pub fn earliest(&self, env: &Env, adversary_ticks: u32) -> Option<u64> {
        let protocol = (0..self.timers.len()).filter(|&i| self.protocol_timer_may_fire(env, i)).map(|i| self.due[i]);
        let adversary = (0..self.adversary.len())
            .filter(|&i| self.adversary_timer_may_fire(i, adversary_ticks))
            .map(|i| self.adversary_due[i]);
        protocol.chain(adversary).min()
    }

    /// Under deadline order: `d` µs pass before a timer fires. Every armed timer comes
    /// `d` closer, in the system and in the replica that set it (so an extension, which
    /// adds to the replica's deadline, adds to the time left).
    fn advance(&mut self, d: u64) {
        if d == 0 {
            return;
        }
        if self.max_delay > 0 {
            for p in self.bag.values_mut() {
                p.left = p.left.saturating_sub(d);
            }
        }
        for i in 0..self.replicas.len() {
            if self.timers[i].is_some() {
                self.due[i] = self.due[i].saturating_sub(d);
            }
            if self.adversary[i].is_some() {
                self.adversary_due[i] = self.adversary_due[i].saturating_sub(d);
            }
            if self.replicas[i].replica().timer.armed {
                let t = &mut inner_mut(Rc::make_mut(&mut self.replicas[i])).timer;
                t.deadline = SimTime(t.deadline.0.saturating_sub(d));
                self.fps[i].set(0);
            }
        }
    }

    /// Every honest, running validator has persisted the target height.
    pub fn finished(&self, env: &Env) -> bool {
        (0..self.replicas.len()).all(|i| {
            let r = &self.replicas[i];
            // (The context's own flag, not `status()`: this runs for every state the
            // search reaches, and a status is a tally of the whole context.)
            !env.honest[i] || !self.up[i] || r.ledger_height() >= env.target || r.replica().ctx.watch_only()
        })
    }

    /// The step a driver names, as data a schedule can hold.
    pub fn describe(&self, act: Act) -> Step {
        let env = |k: &Key| {
            let kind = self.bag.get(k).map_or(MsgKind::Other, |p| p.kind);
            Envelope { from: k.1, to: k.0, kind, msg: hex16(&k.2) }
        };
        match act {
            Act::Deliver(k) => Step::Deliver(env(&k)),
            Act::Drop(k) => Step::Drop(env(&k)),
            Act::Timer(n) => Step::Timer { node: n },
            Act::AdversaryTimer(n) => Step::AdversaryTimer { node: n },
            Act::Crash(n) => Step::Crash { node: n },
            Act::Restart(node, amnesia) => Step::Restart { node, amnesia },
        }
    }

    /// Resolves a schedule step against this pruned model and `shadow`, the same steps on
    /// a copy that keeps every message. A delivery or loss of a message this model has
    /// already dropped as dead is found in the shadow, taken there (seen by `obs`), and
    /// reported as `Ok(None)`: a schedule written under other bounds (recovery off, no
    /// pruning, no forgetting) still replays. Any other step this model cannot take is
    /// this model's error. The caller takes a returned step on both copies.
    pub fn resolve_with_shadow(
        &self,
        shadow: &mut Sys,
        env: &Env,
        step: &Step,
        obs: &mut dyn Observer,
    ) -> Result<Option<Act>, String> {
        match self.resolve(step) {
            Ok(act) => Ok(Some(act)),
            Err(e) => match shadow.resolve(step) {
                Ok(dead @ (Act::Deliver(_) | Act::Drop(_))) => {
                    shadow.apply(env, dead, obs, None);
                    Ok(None)
                }
                _ => Err(e),
            },
        }
    }

    /// Finds the step a schedule names among what is possible now, or says why not.
    pub fn resolve(&self, step: &Step) -> Result<Act, String> {
        let find = |e: &Envelope| -> Result<Key, String> {
            // The keys from `e.from` to `e.to` whose hash starts with `e.msg`: a range of
            // the bag (`Envelope::hash_range`), not a walk of all of it.
            let found: Vec<&Key> = match e.hash_range() {
                Some((lo, hi)) => {
                    let (first, last) = ((e.to, e.from, lo), (e.to, e.from, hi));
                    self.bag
                        .from(&first)
                        .take_while(|(k, _)| **k <= last)
                        .filter(|(_, p)| p.kind == e.kind)
                        .map(|(k, _)| k)
                        .collect()
                }
                None => Vec::new(),
            };
            match found.as_slice() {
                [k] => Ok(**k),
                [] => {
                    Err(format!("no {} from {} to {} with hash {}… is in flight", e.kind.name(), e.from, e.to, e.msg))
                }
                _ => Err(format!("hash prefix {} names {} messages in flight; give more digits", e.msg, found.len())),
            }
        };
        let live = |n: NodeId| -> Result<(), String> {
            if n.idx() >= self.replicas.len() { Err(format!("no node {n}")) } else { Ok(()) }
        };
        match step {
            Step::Deliver(e) => Ok(Act::Deliver(find(e)?)),
            Step::Drop(e) => Ok(Act::Drop(find(e)?)),
            Step::Timer { node: n } => {
                live(*n)?;
                match (self.up[n.idx()], self.timers[n.idx()]) {
                    (false, _) => Err(format!("{n} is down")),
                    (true, None) => Err(format!("{n} has no armed timer")),
                    (true, Some(_)) => Ok(Act::Timer(*n)),
                }
            }
            Step::AdversaryTimer { node: n } => {
                live(*n)?;
                match (self.up[n.idx()], self.adversary[n.idx()]) {
                    (false, _) => Err(format!("{n} is down")),
                    (true, None) => Err(format!("{n} has no armed adversary timer")),
                    (true, Some(_)) => Ok(Act::AdversaryTimer(*n)),
                }
            }
            Step::Crash { node: n } => {
                live(*n)?;
                if self.up[n.idx()] { Ok(Act::Crash(*n)) } else { Err(format!("{n} is already down")) }
            }
            Step::Restart { node, amnesia } => {
                live(*node)?;
                if self.up[node.idx()] { Err(format!("{node} is running")) } else { Ok(Act::Restart(*node, *amnesia)) }
            }
        }
    }

    /// Takes one step. `act` must come from [`Sys::enabled`] or [`Sys::resolve`] on this
    /// state.
    pub fn apply(
        &mut self,
        env: &Env,
        act: Act,
        obs: &mut dyn Observer,
        marks: Option<&mut BTreeMap<&'static str, u64>>,
    ) -> Effects {
        let mut fx = Effects::default();
        let mut em = Emitter { obs, fx: &mut fx, marks };
        match act {
            Act::Deliver(k) => {
                let Some(p) = self.bag.remove(&k) else { return fx };
                let (to, from) = (k.0, k.1);
                self.emit(&mut em, Ev::Deliver { id: p.id, from, to, kind: p.kind, dup: false });
                self.call(env, &mut em, to, |r, cx| r.on_message(cx, from, &p.msg));
            }
            Act::Drop(k) => {
                let Some(p) = self.bag.remove(&k) else { return fx };
                if env.honest[k.1.idx()] {
                    self.drops += 1;
                } else if let Some(m) = em.marks.as_deref_mut() {
                    *m.entry(crate::engine::WITHHELD_MARK).or_insert(0) += 1;
                }
                let ev = Ev::Drop { id: p.id, from: k.1, to: k.0, kind: p.kind, reason: DropReason::Loss };
                self.emit(&mut em, ev);
            }
            Act::Timer(node) => {
                if self.deadlines && self.timers[node.idx()].is_some() {
                    self.advance(self.due[node.idx()]);
                }
                let Some(tag) = self.timers[node.idx()].take() else { return fx };
                self.emit(&mut em, Ev::Timer { node, tag: tag.trace_tag(), forced: false });
                self.call(env, &mut em, node, |r, cx| r.on_timer(cx, tag));
            }
            Act::AdversaryTimer(node) => {
                if self.deadlines && self.adversary[node.idx()].is_some() {
                    self.advance(self.adversary_due[node.idx()]);
                }
                let Some(tag) = self.adversary[node.idx()].take() else { return fx };
                self.ticks[node.idx()] += 1;
                self.emit(&mut em, Ev::Timer { node, tag: tag.trace_tag(), forced: false });
                self.call(env, &mut em, node, |r, cx| r.on_timer(cx, tag));
            }
            Act::Crash(node) => {
                self.up[node.idx()] = false;
                self.fps[node.idx()].set(0);
                self.timers[node.idx()] = None;
                self.adversary[node.idx()] = None;
                self.crashes += 1;
                self.emit(&mut em, Ev::Crash { node });
                let lost: Vec<Key> = self.bag.keys().filter(|k| k.0 == node).copied().collect();
                for k in lost {
                    if let Some(p) = self.bag.remove(&k) {
                        let ev =
                            Ev::Drop { id: p.id, from: k.1, to: k.0, kind: p.kind, reason: DropReason::RecipientDown };
                        self.emit(&mut em, ev);
                    }
                }
            }
            Act::Restart(node, amnesia) => {
                assert!(
                    self.restarts_allowed || (!self.forget_down && self.forget_dead.is_none()),
                    "a search that forgets down nodes or dead state restarts one only if told so (allow_restarts)"
                );
                let r = self.replicas[node.idx()].after_crash(amnesia);
                assert_eq!(r.replica().node, node, "a node restarts as itself");
                if amnesia {
                    self.amnesiac.insert(node);
                }
                // Counted only where restarts are the search's choices: a scheduled run's
                // marks stay the engine's own (engine/driver_tests.rs compares them).
                if self.restarts_allowed
                    && let Some(m) = em.marks.as_deref_mut()
                {
                    *m.entry(RESTART_MARK).or_insert(0) += 1;
                }
                self.replicas[node.idx()] = Rc::new(r);
                self.fps[node.idx()].set(0);
                self.up[node.idx()] = true;
                self.restarts += 1;
                self.emit(&mut em, Ev::Restart { node, amnesia });
                self.call(env, &mut em, node, |r, cx| r.on_start(cx));
            }
        }
        fx
    }

    fn emit(&mut self, em: &mut Emitter, ev: Ev) {
        let rec = Rec { step: self.records, time: SimTime::ZERO, ev };
        self.records += 1;
        if let Some(h) = em.obs.observe(&rec) {
            em.fx.halt.get_or_insert(h);
        }
    }

    /// Runs one handler of `node` and applies what it asked for.
    fn call(&mut self, env: &Env, em: &mut Emitter, node: NodeId, f: impl FnOnce(&mut Node, &mut Cx<Wire>)) {
        let mut buf = Vec::new();
        {
            let mut cx = Cx::new(SimTime::ZERO, &env.keys, &mut buf);
            f(Rc::make_mut(&mut self.replicas[node.idx()]), &mut cx);
        }
        for a in buf {
            match a {
                Action::Broadcast(m) => self.send(env, em, node, None, m),
                Action::Send(to, m) => self.send(env, em, node, Some(to), m),
                Action::SetTimer { slot: TimerSlot::Protocol, tag, at } => {
                    self.timers[node.idx()] = Some(tag);
                    self.due[node.idx()] = at.0;
                }
                Action::CancelTimer(TimerSlot::Protocol) => self.timers[node.idx()] = None,
                Action::SetTimer { slot: TimerSlot::Adversary, tag, at } => {
                    self.adversary[node.idx()] = Some(tag);
                    self.adversary_due[node.idx()] = at.0;
                }
                Action::CancelTimer(TimerSlot::Adversary) => self.adversary[node.idx()] = None,
                Action::Persist(block) => self.emit(em, Ev::Persist { node, block }),
                Action::Note(note) => {
                    match &note {
                        Note::CommitSigned { height, block, .. } if env.honest[node.idx()] => {
                            self.signed.insert((node, *height, *block));
                        }
                        Note::ViewChanged { view, .. } => em.fx.max_view = em.fx.max_view.max(*view),
                        _ => {}
                    }
                    self.emit(em, Ev::Note { node, note });
                }
                Action::Mark(name) => {
                    if let Some(m) = em.marks.as_deref_mut() {
                        *m.entry(name).or_insert(0) += 1;
                    }
                }
            }
        }
        // Deadlines carry no meaning without time, nor for a timer no longer armed (module
        // comment).
        let t = &self.replicas[node.idx()].replica().timer;
        if (!self.deadlines || !t.armed) && t.deadline != SimTime::ZERO {
            inner_mut(Rc::make_mut(&mut self.replicas[node.idx()])).timer.deadline = SimTime::ZERO;
        }
        self.fps[node.idx()].set(0);
        if self.prune != Prune::Off {
            self.prune_to(env, node);
        }
    }

    /// Makes the number of drops part of the state: a search that bounds them needs it.
    pub fn count_drops(&mut self) {
        self.drops_counted = true;
    }

    /// Restarts become choices: a down node keeps, besides its ledger, what a restart
    /// reloads (the saved context, unless restarts come with amnesia), and so does a
    /// forgotten running node ([`LiveState::keep_saved`]). Dead messages stay dead across
    /// a restart because the crash before it dropped every message in flight to the node
    /// (protocol/dbft/relevance.rs).
    pub fn allow_restarts(&mut self, amnesia: bool) {
        self.restarts_allowed = true;
        self.keep_saved = !amnesia;
        for fp in &self.fps {
            fp.set(0);
        }
    }

    /// Fingerprint a node that is down by its ledger alone (and, where restarts are
    /// choices, by what a restart reloads: [`Sys::allow_restarts`]). Without restart
    /// choices such a node takes no step again: messages to it are lost at once and
    /// its timers are gone, so its context, caches and received-message records reach no
    /// later step. What a later check still needs of it is kept: the blocks it persisted
    /// (its ledger; S1–S3 compare later blocks with them) and the Commits it signed
    /// ([`Sys::signed_commits`], S4). Without this, a crash at any point multiplies the
    /// states by the crashed node's local states at that point, which differ only in
    /// what it can never use (docs/explore.md §3).
    pub fn forget_down(&mut self) {
        self.forget_down = true;
        for (i, fp) in self.fps.iter().enumerate() {
            if !self.up[i] {
                fp.set(0);
            }
        }
    }

    /// Fingerprint every honest node by what a later step can still read of it
    /// (`LiveState`, protocol/dbft/relevance.rs): nothing of a node that finished the
    /// target height but its ledger; of a node committed at it, not the preparations,
    /// ChangeViews and LastSeen records it will never read again; of any node, not what
    /// only a RecoveryMessage or a restart reads. And drop, as dead, the messages that
    /// only write what is forgotten. Sound only under the bounds `LiveState` lists,
    /// which this checks: no recovery delivered, every process honest (no mutation and
    /// no double-quorum height are checked per replica); a node restarts only
    /// after [`Sys::allow_restarts`], which keeps what a restart reloads.
    pub fn forget_dead(&mut self, env: &Env) -> bool {
        if env.recovery
            || env.honest.iter().any(|h| !h)
            || self.replicas.iter().any(|r| !matches!(**r, Node::Honest(_)))
        {
            return false;
        }
        self.forget_dead = Some(env.target);
        for fp in &self.fps {
            fp.set(0);
        }
        if self.prune != Prune::Off {
            for i in 0..self.replicas.len() {
                self.prune_to(env, NodeId(i as u32));
            }
        }
        true
    }

    /// Is `msg` dead to `r` (dropped from the set in flight): ignored forever, or, when
    /// dead state is forgotten, writing only what is forgotten.
    fn judged_dead(&self, r: &DbftReplica, msg: &Wire) -> bool {
        match self.forget_dead {
            Some(target) => r.ignores_when_forgetting(msg, target),
            None => r.ignores_forever(msg),
        }
    }

    /// Turns dead-message pruning on (or to checking) and drops what is dead already.
    pub fn set_prune(&mut self, env: &Env, prune: Prune) {
        self.prune = prune;
        if prune != Prune::Off {
            for i in 0..self.replicas.len() {
                self.prune_to(env, NodeId(i as u32));
            }
        }
    }

    /// Drops the messages in flight to `node` that it ignores forever.
    fn prune_to(&mut self, env: &Env, node: NodeId) {
        let Some(r) = honest_recipient(env, &self.replicas[node.idx()]) else { return };
        let dead: Vec<Key> = self
            .bag
            .from(&(node, NodeId(0), Hash32::default()))
            .take_while(|(k, _)| k.0 == node)
            .filter(|(k, p)| env.honest[k.1.idx()] && self.judged_dead(r, &p.msg))
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            if let Some(p) = self.bag.remove(&k) {
                self.dead(env, k.1, node, &p.msg);
            }
        }
    }

    /// Counts a dropped dead message; under `Prune::Check`, proves it a no-op first.
    fn dead(&mut self, env: &Env, from: NodeId, to: NodeId, msg: &Rc<Wire>) {
        self.pruned += 1;
        if self.prune == Prune::Check {
            check_no_op(env, &self.replicas[to.idx()], from, msg, self.forget_dead);
        }
    }

    fn send(&mut self, env: &Env, em: &mut Emitter, from: NodeId, to: Option<NodeId>, msg: Rc<Wire>) {
        let id = self.next_id;
        self.next_id += 1;
        let meta = msg.meta();
        if meta.kind == MsgKind::ChangeView {
            em.fx.max_view = em.fx.max_view.max(meta.view.saturating_add(1));
        }
        let content = if env.trace_content { serde_json::to_value(&*msg).ok() } else { None };
        self.emit(em, Ev::Send { id, from, to, meta, content });
        if meta.height > env.target {
            return;
        }
        if !env.recovery && matches!(meta.kind, MsgKind::RecoveryRequest | MsgKind::RecoveryMessage) {
            em.fx.unanswered_recovery |= meta.kind == MsgKind::RecoveryRequest && env.honest[from.idx()];
            return;
        }
        let n = self.replicas.len() as u32;
        let targets: Vec<NodeId> = match to {
            Some(t) if t.0 < n => vec![t],
            Some(_) => Vec::new(),
            None => (0..n).map(NodeId).collect(),
        };
        for t in targets {
            if t == from {
                continue;
            }
            if !self.up[t.idx()] {
                let ev = Ev::Drop { id, from, to: t, kind: meta.kind, reason: DropReason::RecipientDown };
                self.emit(em, ev);
                continue;
            }
            if self.prune != Prune::Off
                && env.honest[from.idx()]
                && honest_recipient(env, &self.replicas[t.idx()]).is_some_and(|r| self.judged_dead(r, &msg))
            {
                self.dead(env, from, t, &msg);
                continue;
            }
            // A copy merging with one still pending keeps the earlier time left.
            let left = self.max_delay;
            self.bag.insert_if_absent((t, from, meta.hash), || Pending { id, kind: meta.kind, msg: msg.clone(), left });
            em.fx.sent.push((t, from, meta.hash));
        }
    }
}

/// The replica of `node` if dead-message pruning may judge messages to it: only an honest
/// node's. Pruning rests on `ignores_forever` (protocol/dbft/relevance.rs), which reasons
/// about the honest handlers alone and assumes the sender is honest. Both halves fail
/// with Byzantine nodes, so the explorer prunes only messages between honest nodes:
/// - a Byzantine *recipient* reacts in its wrapper to messages its inner replica ignores
///   (double-sign answers any PrepareRequest of its height, whatever the view), so a
///   message dead to the inner replica is not dead to the node;
/// - a Byzantine *sender* signs what it likes with its own key: a Commit or a preparation
///   under another validator's index fails verification at the receiver, and whether
///   that rejection leaves the receiver's state alone is a question relevance.rs never
///   asks (its argument starts from messages whose signatures verify). Kept in flight,
///   such a message is simply delivered or not, as any other.
fn honest_recipient<'a>(env: &Env, node: &'a Node) -> Option<&'a DbftReplica> {
    match node {
        Node::Honest(r) if env.honest[r.node.idx()] => Some(r),
        _ => None,
    }
}

#[cfg(test)]
impl Sys {
    /// Replica `i`'s inner replica, to write by hand (its cached fingerprint dropped).
    pub(super) fn replica_mut(&mut self, i: usize) -> &mut DbftReplica {
        self.fps[i].set(0);
        inner_mut(Rc::make_mut(&mut self.replicas[i]))
    }
}

/// The inner replica of a process, to write.
fn inner_mut(node: &mut Node) -> &mut DbftReplica {
    match node {
        Node::Honest(r) => r,
        Node::Byzantine(b) => &mut b.inner,
    }
}

/// Whether the untimed model can run behaviour `b`: `Err` says why not. It has no clock
/// (every handler sees time zero). A behaviour that acts on its own timer acts when its
/// adversary timer fires, an explicit step (`adversary-timer`): one period is one step,
/// and the explorer bounds how many each node takes. A behaviour that holds messages back
/// for a delay (`withhold-commits`) would release them at a meaningless instant, and the
/// stale-chain and stale-signer attacks need heights and set changes the model does not
/// reach; they are refused. The rest react only to what the wrapped replica sends and
/// receives.
pub fn untimed_behaviour(b: &Behaviour) -> Result<(), String> {
    match b {
        Behaviour::Silent
        | Behaviour::Equivocate { .. }
        | Behaviour::DoubleSign
        | Behaviour::SelectiveDelivery { .. }
        | Behaviour::PrimaryResponse { .. }
        | Behaviour::FutureTimestamp { .. }
        | Behaviour::ChangeViewFlood { .. }
        | Behaviour::Replay { .. }
        | Behaviour::Forge { .. }
        | Behaviour::GarbageCommits { .. }
        | Behaviour::ForgeRecovery { .. }
        | Behaviour::NonPrimaryRequest { .. } => Ok(()),
        _ => Err(format!(
            "behaviour `{}` acts after a delay or over several heights of a changing set; the untimed model has no \
             time (accepted: silent, equivocate, double-sign, selective-delivery, primary-response, future-timestamp, \
             and the periodic \
             change-view-flood, replay, forge, garbage-commits, forge-recovery, non-primary-request, whose period is \
             an adversary-timer step)",
            b.name()
        )),
    }
}

/// The coverage mark an untimed behaviour ([`untimed_behaviour`]) emits whenever it acts
/// (`byzantine/rewrite.rs`): what a counterexample expects, to prove it acted.
pub fn behaviour_mark(b: &Behaviour) -> Option<&'static str> {
    match b {
        Behaviour::Silent => Some("byzantine: silenced a message"),
        Behaviour::Equivocate { .. } => Some("byzantine: equivocating PrepareRequest"),
        Behaviour::DoubleSign => Some("byzantine: double-signed a proposal"),
        Behaviour::SelectiveDelivery { .. } => Some("byzantine: delivered to a chosen subset"),
        Behaviour::PrimaryResponse { .. } => Some("byzantine: PrepareResponse from the primary"),
        Behaviour::FutureTimestamp { .. } => Some("byzantine: PrepareRequest stamped in the future"),
        Behaviour::ChangeViewFlood { .. } => Some("byzantine: ChangeView flood"),
        Behaviour::Replay { .. } => Some("byzantine: replayed old messages"),
        Behaviour::Forge { .. } => Some("byzantine: forged messages"),
        Behaviour::GarbageCommits { .. } => Some("byzantine: garbage commit"),
        Behaviour::ForgeRecovery { .. } => Some("byzantine: forged RecoveryMessage"),
        Behaviour::NonPrimaryRequest { .. } => Some("byzantine: PrepareRequest from a non-primary"),
        _ => None,
    }
}

/// Delivers `msg` to a copy of the process `r` (its wrapper too, if Byzantine) and panics
/// unless nothing changed and nothing but coverage marks came out (the
/// `--check-reductions` mode).
/// When dead state is forgotten (`forget_dead`, the target height), the live states are
/// compared instead, and RecoveryMessages may come out: that bound never delivers them.
pub fn check_no_op(env: &Env, r: &Node, from: NodeId, msg: &Rc<Wire>, forget_dead: Option<u32>) {
    let hash = |r: &Node| match forget_dead {
        // Keeping the reloadable saved context makes the comparison only stricter.
        Some(target) => super::fingerprint::of(&LiveState { replica: r.replica(), target, keep_saved: true }),
        None => super::fingerprint::of(r),
    };
    let mut copy = r.clone();
    let mut buf = Vec::new();
    {
        let mut cx = Cx::new(SimTime::ZERO, &env.keys, &mut buf);
        copy.on_message(&mut cx, from, msg);
    }
    inner_mut(&mut copy).timer.deadline = r.replica().timer.deadline;
    let undelivered = |a: &Action<Wire>| match a {
        Action::Mark(_) => true,
        Action::Broadcast(m) | Action::Send(_, m) => {
            forget_dead.is_some() && !env.recovery && m.meta().kind == MsgKind::RecoveryMessage
        }
        _ => false,
    };
    let outputs: Vec<String> = buf.iter().filter(|a| !undelivered(a)).map(|a| format!("{a:?}")).collect();
    assert!(
        hash(&copy) == hash(r) && outputs.is_empty(),
        "a message judged dead is not a no-op: {} from {from} to {}: {:?}; outputs {outputs:?}; state {}",
        msg.meta().kind.name(),
        r.replica().node,
        msg,
        if hash(&copy) == hash(r) { "unchanged" } else { "changed" },
    );
}

/// The first 16 hex digits of a content hash: what a schedule names a message by.
pub fn hex16(h: &Hash32) -> String {
    h.to_hex()[..16].to_string()
}
