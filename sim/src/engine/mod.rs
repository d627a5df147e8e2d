//! The engine: virtual clock, event queue, seeded streams and the run loop.
//!
//! Replicas only react; the engine runs them, and a [`driver::Driver`] takes every
//! nondeterministic choice — the seam between the two (driver.rs). For each copy of a sent
//! message the driver decides its fate (delivered at t, maybe twice; dropped with a reason;
//! held until another node sends; or in flight until an explicit step), and before each
//! event it says what happens next: the earliest entry of the agenda, or an explicit step
//! of `explore/step.rs` (deliver m, drop m, fire n's timer, crash n, restart n). Three
//! drivers: [`driver::Random`] (the seeded network), [`driver::Scripted`] (the scenario's
//! message rules on top of it; the default, what `world.rs` builds) and
//! [`driver::Schedule`] (a scenario's `schedule`, in the untimed model the explorer uses).
//! The engine is generic over the driver, so each is monomorphised: no virtual call per
//! event.
//!
//! The agenda is one queue ordered by (virtual time, insertion sequence): timed deliveries,
//! timer expiries, the workload's transactions, and what the world scripted (crashes,
//! restarts, forced timers, releases of held deliveries, markers). The loop takes the
//! driver's next event, hands it to its replica, applies the actions the replica returns,
//! and reports every observable step as a [`trace::Rec`] to the observers (digest,
//! metrics, invariants, trace file).
//!
//! Not yet behind the driver: the workload's transaction arrivals and the world's timed
//! faults are still put on the agenda by the world, not chosen by the driver at run time,
//! and a Byzantine node's choice among its moves is the wrapper's own (seeded by nothing:
//! it is deterministic in its inputs), not a driver choice.
//!
//! Deliberately left out: threads and wall-clock time. A run is one thread; parallel sweeps
//! run many engines side by side, each with its own state.

pub mod clock;
pub mod driver;
pub mod queue;
pub mod rng;
pub mod time;
pub mod trace;
pub mod workload;

use crate::explore::step::{Envelope, Step};
use crate::net::rules::{RuleSet, RuleStats};
use crate::net::{DropReason, Fate, Network};
use crate::protocol::block::TxId;
use crate::protocol::crypto::Keyring;
use crate::protocol::crypto::{ByHashBuild, Hash32};
use crate::protocol::{Action, Cx, MsgMeta, NodeId, Replica, TimerKind, TimerSlot, WireMessage};
use clock::Clock;
use driver::{Choice, Driver, Outgoing, Plan, Scripted};
use queue::EventQueue;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use time::SimTime;
use trace::{Ev, Halt, Marker, Observer, Rec, RecentRecords};
use workload::Workload;

/// What the queue holds.
enum Event<M> {
    Start(NodeId),
    Deliver {
        id: u64,
        from: NodeId,
        to: NodeId,
        /// The message's type, computed once at the send.
        kind: crate::protocol::MsgKind,
        msg: Rc<M>,
        dup: bool,
    },
    Timer {
        node: NodeId,
        slot: usize,
        generation: u64,
    },
    Crash(NodeId),
    Restart {
        node: NodeId,
        amnesia: bool,
    },
    /// The workload's next transaction is born.
    NextTx,
    /// Change transaction `i` of the workload is submitted.
    SubmitChange(usize),
    TxArrive {
        node: NodeId,
        tx: TxId,
        /// The origin's own arrival of a transaction whose other arrivals may be kept
        /// back ([`Engine::keep_back`]): its record dates the submission.
        origin: bool,
    },
    Marker(Marker, Rc<str>),
    /// Flood relay with `resend`: `node` re-sends its pooled consensus payloads if nothing
    /// new arrived since this wake-up was queued (neo-go resendDispatcher).
    Resend {
        node: NodeId,
        generation: u64,
    },
    /// Fire the node's armed protocol timer now: scripted timer control (`forced`), or a
    /// schedule's `timer` step (not forced: the untimed model has no deadline to force).
    ForceTimer {
        node: NodeId,
        slot: TimerSlot,
        forced: bool,
    },
    /// Release every held delivery now.
    ReleaseHeld,
    /// A schedule's `drop` step: the message in flight is lost.
    Lose {
        id: u64,
        from: NodeId,
        to: NodeId,
        kind: crate::protocol::MsgKind,
    },
}

impl<M> Event<M> {
    /// The node whose replica this event reaches, if any: its kept-back transaction
    /// arrivals are handed over first.
    #[inline]
    fn node(&self) -> Option<NodeId> {
        match *self {
            Event::Start(n) | Event::Crash(n) => Some(n),
            Event::Deliver { to, .. } => Some(to),
            Event::Timer { node, .. }
            | Event::ForceTimer { node, .. }
            | Event::Restart { node, .. }
            | Event::TxArrive { node, .. } => Some(node),
            _ => None,
        }
    }
}

/// A delivery parked by a rule until `node` sends a message of `kind`.
struct Held<M> {
    node: NodeId,
    /// Released when `node` sends a message of this type (any if None).
    kind: Option<crate::protocol::MsgKind>,
    /// The held message's own type.
    kind_of_msg: crate::protocol::MsgKind,
    at: SimTime,
    id: u64,
    from: NodeId,
    to: NodeId,
    msg: Rc<M>,
}

/// A copy a schedule keeps in flight (its key in `Engine::pending` says where and what).
struct InFlight<M> {
    id: u64,
    kind: crate::protocol::MsgKind,
    msg: Rc<M>,
}

/// Per-node bookkeeping the engine keeps outside the replica.
struct Slot<R: Replica> {
    replica: R,
    up: bool,
    /// The node's two timers.
    timers: [TimerState; 2],
    /// Honest nodes count for "every node reached height H".
    honest: bool,
    clock: Clock,
    height: u32,
    /// Scripted windows `[from, until)` whose timer expiries are postponed to `until`.
    suppressed: Vec<(SimTime, SimTime)>,
    /// Flood relay: the gossiped messages this node has seen or sent, by [`relay_key`]
    /// (Neo's relay cache / extensible pool). Lost in a crash. Unused under direct relay.
    seen: HashSet<u64, ByHashBuild>,
    /// Flood relay with `resend`: the consensus payloads this node sent or accepted for
    /// heights it has not persisted, by hash (neo-go's extensible pool), and its resend
    /// dispatcher.
    pool: BTreeMap<Hash32, (u32, Rc<R::Msg>)>,
    resend: ResendState,
    /// Gossiped transactions on their way to this node while its replica is
    /// [`Replica::transactions_inert`]: (arrival time, reserved sequence number, id), in
    /// (time, sequence) order. See [`Engine::absorb_arrivals`].
    arrivals: Vec<(SimTime, u64, TxId)>,
    /// The latest time a crash of this node is scheduled (None: never). Past it the node
    /// stays up for good if it is up: no crash, so no restart, is left.
    last_crash: Option<SimTime>,
}

/// neo-go's resendDispatcher of one node: bumped on every new consensus payload, which
/// also resets the interval to the base.
#[derive(Clone, Copy, Debug, Default)]
struct ResendState {
    generation: u64,
    interval: u64,
}

/// One timer of a node. Re-arming does not push a new event when one is already queued
/// for the same time or earlier: the queued wake-up finds the later deadline and re-queues
/// itself there. Replicas extend their timers on almost every message (by 2T/M or 4T/M), so
/// this keeps the queue free of thousands of stale timer events per height.
///
/// The laziness is invisible in the event order: the sequence number is reserved when the
/// timer is armed and the re-queued wake-up uses it, so an expiry sorts among events at the
/// same instant exactly as if it had been pushed by the `SetTimer` itself.
#[derive(Clone, Copy, Debug, Default)]
struct TimerState {
    /// (tag, deadline in virtual time, reserved sequence number) of the armed timer.
    armed: Option<(TimerKind, SimTime, u64)>,
    /// When the queued wake-up for this timer is due, if one is queued.
    queued: Option<SimTime>,
    /// Bumped to invalidate the queued wake-up (a crash, or a re-arm to an earlier time).
    generation: u64,
}

/// The coverage mark of a `drop` step that takes a Byzantine node's message out of flight:
/// in the untimed model that is the node's own choice not to send it to that recipient
/// (explore's `--withhold`), not a network loss.
pub const WITHHELD_MARK: &str = "byzantine: withheld a message from one recipient";

/// The coverage mark of a validator-set change submitted at a node that is down: lost.
pub const CHANGE_LOST_MARK: &str = "change lost: submitted at a node that is down";

/// How a node is set up.
#[derive(Clone, Copy, Debug)]
pub struct NodeSetup {
    pub honest: bool,
    pub clock: Clock,
}

/// When the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopCondition {
    /// Simulated time limit.
    pub until: SimTime,
    /// Stop once every honest node that is up has persisted this height.
    pub heights: Option<u32>,
}

/// Why the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    Duration,
    Heights,
    /// Nothing left to happen (no timers, no messages in flight).
    Quiescent,
    /// An observer asked to stop (an invariant failed).
    Halted(String),
}

/// A deterministic simulation of `R` replicas, its nondeterministic choices taken by `D`
/// (the scripted random network unless said otherwise).
pub struct Engine<R: Replica, D: Driver = Scripted> {
    now: SimTime,
    /// The sequence number of the event being dispatched: with `now`, its place in the order.
    now_seq: u64,
    step: u64,
    queue: EventQueue<Event<R::Msg>>,
    slots: Vec<Slot<R>>,
    net: Network,
    keys: Rc<Keyring>,
    workload: Option<Workload>,
    buf: Vec<Action<R::Msg>>,
    /// Every node, in order: the targets of a broadcast, kept so a send does not allocate.
    everyone: Vec<NodeId>,
    next_msg_id: u64,
    stop: StopCondition,
    /// Serialize message contents into Send records (only when a trace file wants them).
    pub trace_content: bool,
    /// Coverage marks counted during the run (see [`Engine::all_marks`]).
    pub marks: BTreeMap<&'static str, u64>,
    /// Flood relay's per-copy marks, counted here and added by [`Engine::all_marks`] (a map
    /// entry per copy cost a tenth of a 100-node gossip run): payloads forwarded, of them
    /// for a height beyond the next, and duplicates dropped on arrival.
    relay_marks: RelayMarks,
    started: bool,
    /// Why the run ended, once it has: the end is final (held deliveries were recorded as
    /// dropped), so running again only reports it.
    ended: Option<StopReason>,
    /// Node names for the text of the engine's own markers (default `n<i>`); never hashed.
    names: Vec<String>,
    /// Takes every choice the engine does not (driver.rs).
    driver: D,
    /// Deliveries a scripted rule holds until a node sends (`Choice::HeldUntilSent`).
    held: Vec<Held<R::Msg>>,
    /// The copies a schedule keeps in flight until a step names them (`Choice::Pending`),
    /// by (recipient, sender, content hash): the untimed model's set, in its order. A map,
    /// not entries of `held`: every send walked `held` for holds to release and every copy
    /// walked it for an identical one, so with thousands of copies in flight (N = 300
    /// starts with 90,000; each adversary-timer step adds a few) a step cost as much as
    /// everything in flight.
    pending: BTreeMap<(NodeId, NodeId, Hash32), InFlight<R::Msg>>,
    /// Entries of `held` and `pending` visited by the lookups above ([`Engine::in_flight_visits`]).
    visits: u64,
    /// Highest height any honest node persisted (height-triggered changes wait for it).
    honest_height: u32,
    /// Height-triggered change transactions not yet submitted: (height, change index).
    change_triggers: Vec<(u32, usize)>,
    /// Whether a node's height or up state changed since the stop condition on heights was
    /// last evaluated: only a persist, a crash or a restart can make it true, so the run
    /// loop asks only after those, not after every event.
    heights_changed: bool,
    /// Where every record goes after the observers saw it, if anyone asked
    /// ([`Engine::keep_recent`]).
    recent: Option<Rc<RefCell<RecentRecords>>>,
    /// How many arrivals all nodes' `arrivals` hold.
    lazy_arrivals: usize,
    /// The workload's per-node delays of the transaction being spawned (kept so a spawn
    /// does not allocate).
    spawned: Vec<Option<u64>>,
    /// Keep gossiped transaction arrivals back while a replica is inert ([`Engine::keep_back`]).
    /// On by default; off only to check that it changes nothing a replica sees.
    pub keep_back_arrivals: bool,
    /// Hand deliveries their recipient ignores for good over at the send, without an
    /// event (`transmit`). On by default; off only to check that it changes nothing a
    /// replica sees.
    pub hand_over_ignored: bool,
    /// Drop flooded copies that are certain duplicates at the send, without an event
    /// ([`Engine::certain_duplicate`]). On by default; off only to check that it changes
    /// nothing but their own drop records.
    pub hand_over_duplicates: bool,
    /// Per message type: copies handed over that way, and how many of them were
    /// duplicates ([`Engine::ignored_deliveries`]).
    ignored: [(u64, u64); crate::protocol::MsgKind::ALL.len()],
    /// Per message type: flooded copies dropped at the send as certain duplicates
    /// ([`Engine::certain_duplicate`], [`Engine::unrecorded_duplicate_drops`]).
    seen_drops: [u64; crate::protocol::MsgKind::ALL.len()],
    /// The handed-over copies that may still be travelling: (arrival, the sequence number
    /// its event would have had, type index, what it is). At the end of the run those not
    /// yet due are taken out of the counts, as their events would never have been
    /// dispatched. Pruned of past ones when it reaches `ignored_prune_at`.
    ignored_in_flight: Vec<(SimTime, u64, usize, Handed)>,
    ignored_prune_at: usize,
}

/// The relay cache's key for a payload hash: its first eight bytes. A cache of full
/// 32-byte hashes, one set per node and never pruned within a run (as the model has it),
/// took 86 MiB for 10,000 heights at N = 7; eight bytes take half. Two distinct payloads
/// share a key with probability 2⁻⁶⁴ per pair (the hashes are BLAKE3 outputs): over a
/// 100,000-height N = 7 run, ~10⁷ lookups against up to 1.5 M keys per node, the chance
/// that any fresh payload is taken for a duplicate is below 10⁻⁶.
fn relay_key(h: &Hash32) -> u64 {
    h.first_word()
}

/// Counts of flood relay's per-copy coverage marks ([`Engine::all_marks`]).
#[derive(Clone, Copy, Debug, Default)]
struct RelayMarks {
    forwarded: u64,
    forwarded_future: u64,
    dropped_duplicate: u64,
}

/// What a copy handed over at the send would have been, had it been queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handed {
    /// A delivery its recipient ignores for good (`dup`: the network's second copy).
    Ignored { dup: bool },
    /// A flooded copy its recipient's relay cache drops as a duplicate.
    SeenDrop,
}

impl<R: Replica> Engine<R, Scripted> {
    /// An engine on the seeded random network (scripted rules can be installed later).
    pub fn new(
        replicas: Vec<(R, NodeSetup)>,
        net: Network,
        keys: Rc<Keyring>,
        workload: Option<Workload>,
        stop: StopCondition,
    ) -> Engine<R, Scripted> {
        Engine::with_driver(replicas, net, Scripted::default(), keys, workload, stop)
    }

    /// Installs scripted message rules.
    pub fn set_rules(&mut self, rules: RuleSet) {
        self.driver.rules = rules;
    }
}

impl<R: Replica, D: Driver> Engine<R, D> {
    /// An engine whose choices `driver` takes; `net` is the wire it routes on.
    pub fn with_driver(
        replicas: Vec<(R, NodeSetup)>,
        net: Network,
        driver: D,
        keys: Rc<Keyring>,
        workload: Option<Workload>,
        stop: StopCondition,
    ) -> Engine<R, D> {
        let queue = EventQueue::new();
        let slots: Vec<Slot<R>> = replicas
            .into_iter()
            .map(|(replica, s)| Slot {
                height: replica.ledger_height(),
                replica,
                up: true,
                timers: [TimerState::default(); 2],
                honest: s.honest,
                clock: s.clock,
                suppressed: Vec::new(),
                seen: HashSet::default(),
                pool: BTreeMap::new(),
                resend: ResendState::default(),
                arrivals: Vec::new(),
                last_crash: None,
            })
            .collect();
        // Heights final before the run (a start height above 1) count as reached.
        let honest_height = slots.iter().filter(|s| s.honest).map(|s| s.height).max().unwrap_or(0);
        Engine {
            now: SimTime::ZERO,
            now_seq: 0,
            step: 0,
            queue,
            slots,
            net,
            keys,
            workload,
            buf: Vec::new(),
            everyone: Vec::new(),
            next_msg_id: 0,
            stop,
            trace_content: false,
            marks: BTreeMap::new(),
            relay_marks: RelayMarks::default(),
            started: false,
            ended: None,
            names: Vec::new(),
            driver,
            held: Vec::new(),
            pending: BTreeMap::new(),
            visits: 0,
            honest_height,
            change_triggers: Vec::new(),
            heights_changed: true,
            recent: None,
            lazy_arrivals: 0,
            spawned: Vec::new(),
            keep_back_arrivals: true,
            hand_over_ignored: true,
            hand_over_duplicates: true,
            ignored: [(0, 0); crate::protocol::MsgKind::ALL.len()],
            seen_drops: [0; crate::protocol::MsgKind::ALL.len()],
            ignored_in_flight: Vec::new(),
            ignored_prune_at: 1024,
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    pub fn replica(&self, n: NodeId) -> &R {
        &self.slots[n.idx()].replica
    }

    pub fn is_up(&self, n: NodeId) -> bool {
        self.slots[n.idx()].up
    }

    pub fn is_honest(&self, n: NodeId) -> bool {
        self.slots[n.idx()].honest
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    pub fn schedule_crash(&mut self, node: NodeId, at: SimTime) {
        let last = &mut self.slots[node.idx()].last_crash;
        *last = Some(last.map_or(at, |t| t.max(at)));
        self.queue.push(at, Event::Crash(node));
    }

    /// Per message type (indexed as [`crate::protocol::MsgKind::ALL`]): the deliveries
    /// handed over at the send because their recipient ignores them for good, without an
    /// event or a record (`transmit`), and how many of those were duplicates. Every one of
    /// them arrives (the network decided so, or cannot drop); the metrics count them as
    /// delivered.
    pub fn ignored_deliveries(&self) -> &[(u64, u64); crate::protocol::MsgKind::ALL.len()] {
        &self.ignored
    }

    /// Per message type: the flooded copies dropped as duplicates without an event or a
    /// record, because their recipient's relay cache already held their hash when they
    /// were sent ([`Engine::certain_duplicate`]). Only those whose arrival the run reached;
    /// the report counts them as dropped (reason `duplicate`) and in the coverage mark
    /// `relay: dropped duplicate`, as a queued copy would have been.
    pub fn unrecorded_duplicate_drops(&self) -> &[u64; crate::protocol::MsgKind::ALL.len()] {
        &self.seen_drops
    }

    /// Every coverage mark of the run: those counted in [`Engine::marks`], flood relay's
    /// per-copy ones, and the duplicates dropped at the send
    /// ([`Engine::unrecorded_duplicate_drops`]) counted as those dropped on arrival.
    pub fn all_marks(&self) -> BTreeMap<&'static str, u64> {
        let mut marks = self.marks.clone();
        let r = self.relay_marks;
        let unrecorded: u64 = self.seen_drops.iter().sum();
        for (name, n) in [
            ("relay: forwarded", r.forwarded),
            ("relay: forwarded a future-height payload", r.forwarded_future),
            ("relay: dropped duplicate", r.dropped_duplicate + unrecorded),
        ] {
            if n > 0 {
                *marks.entry(name).or_insert(0) += n;
            }
        }
        marks
    }

    /// Whether a flooded `copy` is certain to be dropped as a duplicate when it arrives, so
    /// that it may be handed over at the send without an event (`transmit`): its
    /// recipient's relay cache holds the hash already, and nothing can empty the cache
    /// before the arrival — the recipient is up and has no crash ahead (a crash is the only
    /// thing that clears the cache, and a node down now could restart with an empty one;
    /// a crash due at this very instant counts as ahead, as its event may still be queued).
    /// The cache check is the first thing an arrival meets (`deliver_flooded`), for every
    /// recipient, honest or not. Only where the driver allows it (no rule fits the copy).
    #[inline]
    fn certain_duplicate(&self, copy: &Outgoing<'_>, flood: bool) -> bool {
        if D::UNTIMED || !self.hand_over_duplicates || !flood {
            return false;
        }
        let slot = &self.slots[copy.to.idx()];
        slot.up
            && slot.last_crash.is_none_or(|t| t < self.now)
            && slot.seen.contains(&relay_key(&copy.meta.hash))
            && self.driver.hands_over_ignored(copy)
    }

    /// Whether `copy` may be handed over without an event: its type is not flooded (a
    /// flooded delivery fills the relay cache and may be forwarded), its recipient is an
    /// honest node that is up, has no crash ahead of it, not even one due at this instant
    /// (so the copy cannot meet it down)
    /// and whose replica ignores the message for good, and the driver allows it.
    #[inline]
    fn ignored_for_good(&self, copy: &Outgoing<'_>, flood: bool) -> bool {
        if D::UNTIMED || !self.hand_over_ignored || flood {
            return false;
        }
        let slot = &self.slots[copy.to.idx()];
        slot.up
            && slot.honest
            && slot.last_crash.is_none_or(|t| t < self.now)
            && slot.replica.ignores_for_good(copy.meta)
            && self.driver.hands_over_ignored(copy)
    }

    pub fn schedule_restart(&mut self, node: NodeId, at: SimTime, amnesia: bool) {
        self.queue.push(at, Event::Restart { node, amnesia });
    }

    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// Names the nodes in the markers the engine writes (suppressed timers, held messages).
    pub fn set_names(&mut self, names: Vec<String>) {
        self.names = names;
    }

    fn name(&self, n: NodeId) -> String {
        self.names.get(n.idx()).cloned().unwrap_or_else(|| n.to_string())
    }

    /// How often each rule matched and acted.
    pub fn rule_stats(&self) -> &[RuleStats] {
        self.driver.rule_stats()
    }

    /// Fires `node`'s armed timer at `at` (if it has one then), as if it expired.
    pub fn schedule_forced_timer(&mut self, node: NodeId, at: SimTime) {
        self.queue.push(at, Event::ForceTimer { node, slot: TimerSlot::Protocol, forced: true });
    }

    /// Postpones `node`'s timer expiries that fall in `[from, until)` to `until`.
    pub fn suppress_timers(&mut self, node: NodeId, from: SimTime, until: SimTime) {
        self.slots[node.idx()].suppressed.push((from, until));
    }

    /// A marker at `at` (partition starts, GST, ...): `marker` for the digest, `text` for
    /// readers of the trace.
    pub fn schedule_marker(&mut self, at: SimTime, marker: Marker, text: &str) {
        self.queue.push(at, Event::Marker(marker, Rc::from(text)));
    }

    #[inline(always)]
    fn emit(&mut self, obs: &mut dyn Observer, ev: Ev) -> Option<Halt> {
        let rec = Rec { step: self.step, time: self.now, ev };
        self.step += 1;
        match &self.recent {
            None => obs.observe(&rec),
            Some(recent) => {
                // Observed where it is kept: no copy. The observers may read the kept
                // records (a shared borrow) but never add any.
                let i = recent.borrow_mut().put(rec);
                let kept = recent.borrow();
                obs.observe(kept.get(i))
            }
        }
    }

    /// Keeps the most recent records in `recent` after the observers have seen them (see
    /// [`RecentRecords`]; the invariant checkers' window).
    pub fn keep_recent(&mut self, recent: Rc<RefCell<RecentRecords>>) {
        self.recent = Some(recent);
    }

    /// Queues the nodes' start and the workload. Done at the first `run`, after the world
    /// has scheduled its faults, so a fault at time t takes effect before anything else
    /// at t (a node crashed "at 0" never starts). The initial transactions are in the
    /// mempools before any node starts, as on a real network whose nodes had pooled them
    /// before consensus began: a Go primary proposes at once at height 1 and must see them.
    fn start(&mut self) {
        self.started = true;
        if D::UNTIMED {
            self.start_untimed();
            return;
        }
        if let Some(w) = self.workload.as_ref() {
            for tx in 1..=w.opts.initial_txs {
                for i in 0..self.slots.len() {
                    match w.opts.withheld_until(tx, NodeId(i as u32)) {
                        None => {
                            self.queue
                                .push(SimTime::ZERO, Event::TxArrive { node: NodeId(i as u32), tx, origin: false });
                        }
                        Some(SimTime::MAX) => {}
                        Some(until) => {
                            self.queue.push(until, Event::TxArrive { node: NodeId(i as u32), tx, origin: false });
                        }
                    }
                }
            }
        }
        for i in 0..self.slots.len() {
            self.queue.push(SimTime::ZERO, Event::Start(NodeId(i as u32)));
        }
        if let Some(w) = self.workload.as_mut() {
            if let Some(gap) = w.next_gap() {
                self.queue.push(SimTime(gap), Event::NextTx);
            }
            for (i, c) in w.changes.iter().enumerate() {
                match c.at {
                    Some(t) => {
                        self.queue.push(t, Event::SubmitChange(i));
                    }
                    None => self.change_triggers.push((c.height, i)),
                }
            }
        }
    }

    /// The untimed start (`explore/model.rs` `Sys::start`): each node's initial
    /// transactions, node by node (withheld ones never arrive: no window can end), then
    /// the change transactions submitted at time zero that reach it (no gossip delay:
    /// there is no time), then every node starts. No workload is generated.
    fn start_untimed(&mut self) {
        if let Some(w) = self.workload.as_ref() {
            for i in 0..self.slots.len() {
                let node = NodeId(i as u32);
                for tx in 1..=w.opts.initial_txs {
                    if w.opts.withheld_until(tx, node).is_none() {
                        self.queue.push(SimTime::ZERO, Event::TxArrive { node, tx, origin: false });
                    }
                }
                for c in w.changes.iter().filter(|c| c.at == Some(SimTime::ZERO) && c.reaches(node)) {
                    self.queue.push(SimTime::ZERO, Event::TxArrive { node, tx: c.tx, origin: false });
                }
            }
        }
        for i in 0..self.slots.len() {
            self.queue.push(SimTime::ZERO, Event::Start(NodeId(i as u32)));
        }
    }

    /// Runs until the stop condition, quiescence or a halt. Deliveries a rule still holds
    /// at the end are recorded as dropped (reason `rule`), so no message vanishes unseen.
    /// The end is final: calling `run` again returns the same reason and does nothing.
    pub fn run(&mut self, obs: &mut dyn Observer) -> StopReason {
        if let Some(reason) = &self.ended {
            return reason.clone();
        }
        if !self.started {
            self.start();
        }
        let reason = self.run_loop(obs);
        if D::UNTIMED {
            // What is still in flight stays in flight: the untimed model has no end of time.
            self.ended = Some(reason.clone());
            return reason;
        }
        // Handed-over copies whose delivery the run did not reach are not delivered: after
        // the time limit, or after the event the run stopped at (a quiescent run reached
        // every one).
        let reached = match reason {
            StopReason::Quiescent => (SimTime::MAX, u64::MAX),
            StopReason::Duration => (self.stop.until, u64::MAX),
            StopReason::Heights | StopReason::Halted(_) => (self.now, self.now_seq),
        };
        for (at, seq, k, what) in std::mem::take(&mut self.ignored_in_flight) {
            if (at, seq) > reached {
                match what {
                    Handed::Ignored { dup } => {
                        self.ignored[k].0 -= 1;
                        self.ignored[k].1 -= dup as u64;
                    }
                    Handed::SeenDrop => self.seen_drops[k] -= 1,
                }
            }
        }

        for h in std::mem::take(&mut self.held) {
            let ev = Ev::Drop { id: h.id, from: h.from, to: h.to, kind: h.kind_of_msg, reason: DropReason::Rule };
            let _ = self.emit(obs, ev);
        }
        self.ended = Some(reason.clone());
        reason
    }

    fn run_loop(&mut self, obs: &mut dyn Observer) -> StopReason {
        loop {
            let ev = match self.driver.next(!self.queue.is_empty()) {
                Plan::End => {
                    return if D::UNTIMED && self.heights_reached() {
                        StopReason::Heights
                    } else {
                        StopReason::Quiescent
                    };
                }
                Plan::Step(step) => match self.resolve(&step) {
                    Ok(ev) => ev,
                    Err(why) => {
                        self.driver.refused(why);
                        continue;
                    }
                },
                Plan::Agenda => match self.queue.pop_due(self.stop.until) {
                    Ok((t, seq, ev)) => {
                        self.now = t;
                        self.now_seq = seq;
                        ev
                    }
                    Err(next) => {
                        // Arrivals kept back that the run reaches are handed over: those
                        // due by the time limit (all of them, if nothing else is left).
                        let last = self.absorb_all((self.stop.until, u64::MAX), obs);
                        // Copies handed over at the send that are still travelling are
                        // events a queued run would still dispatch: the run ends at the
                        // last of them, or at the time limit if one falls after it.
                        let now = (self.now, self.now_seq);
                        let handed =
                            self.ignored_in_flight.iter().filter(|&&(t, s, ..)| (t, s) > now).map(|e| e.0).max();
                        if next.is_none() && self.lazy_arrivals == 0 && handed.is_none_or(|t| t <= self.stop.until) {
                            self.now = self.now.max(last.unwrap_or(SimTime::ZERO)).max(handed.unwrap_or(SimTime::ZERO));
                            return StopReason::Quiescent;
                        }
                        self.now = self.stop.until;
                        return StopReason::Duration;
                    }
                },
            };
            if let Some(Halt(why)) = self.dispatch(ev, obs) {
                self.absorb_all((self.now, self.now_seq), obs);
                return StopReason::Halted(why);
            }
            if !D::UNTIMED && std::mem::take(&mut self.heights_changed) && self.heights_reached() {
                self.absorb_all((self.now, self.now_seq), obs);
                return StopReason::Heights;
            }
        }
    }

    /// The agenda entry that takes `step` now, or why it is not possible (the step names no
    /// message in flight, a node that is down, ...): the schedule is wrong, not the protocol.
    fn resolve(&mut self, step: &Step) -> Result<Event<R::Msg>, String> {
        let n = self.slots.len();
        let live = |node: NodeId| if node.idx() < n { Ok(()) } else { Err(format!("no node {node}")) };
        match step {
            Step::Deliver(e) | Step::Drop(e) => {
                let key = self.find_pending(e)?;
                let Some(h) = self.pending.remove(&key) else { return Err("no such message in flight".into()) };
                let (to, from) = (key.0, key.1);
                Ok(match step {
                    Step::Deliver(_) => Event::Deliver { id: h.id, from, to, kind: h.kind, msg: h.msg, dup: false },
                    _ => Event::Lose { id: h.id, from, to, kind: h.kind },
                })
            }
            Step::Timer { node } | Step::AdversaryTimer { node } => {
                live(*node)?;
                let (which, what) = match step {
                    Step::Timer { .. } => (TimerSlot::Protocol, "timer"),
                    _ => (TimerSlot::Adversary, "adversary timer"),
                };
                let slot = &self.slots[node.idx()];
                match (slot.up, slot.timers[which as usize].armed) {
                    (false, _) => Err(format!("{node} is down")),
                    (true, None) => Err(format!("{node} has no armed {what}")),
                    (true, Some(_)) => Ok(Event::ForceTimer { node: *node, slot: which, forced: false }),
                }
            }
            Step::Crash { node } => {
                live(*node)?;
                if self.slots[node.idx()].up { Ok(Event::Crash(*node)) } else { Err(format!("{node} is already down")) }
            }
            Step::Restart { node, amnesia } => {
                live(*node)?;
                if self.slots[node.idx()].up {
                    Err(format!("{node} is running"))
                } else {
                    Ok(Event::Restart { node: *node, amnesia: *amnesia })
                }
            }
        }
    }

    /// The key of the one message in flight (kept for a step) that `e` names: a range of
    /// `pending`, those from `e.from` to `e.to` whose hash starts with `e.msg`.
    fn find_pending(&mut self, e: &Envelope) -> Result<(NodeId, NodeId, Hash32), String> {
        let range = e.hash_range().map(|(lo, hi)| self.pending.range((e.to, e.from, lo)..=(e.to, e.from, hi)));
        let mut visits = 0;
        let mut found = range.into_iter().flatten().inspect(|_| visits += 1).filter(|(_, h)| h.kind == e.kind);
        let result = (found.next().map(|(k, _)| *k), found.count());
        self.visits += visits;
        match result {
            (Some(k), 0) => Ok(k),
            (None, _) => {
                Err(format!("no {} from {} to {} with hash {}… is in flight", e.kind.name(), e.from, e.to, e.msg))
            }
            (Some(_), more) => {
                Err(format!("hash prefix {} names {} messages in flight; give more digits", e.msg, more + 1))
            }
        }
    }

    /// How many entries of the engine's held and in-flight sets its lookups have visited
    /// (releasing held deliveries on a send, finding a step's message, absorbing an
    /// identical copy, losing a crashed node's copies): what a long schedule's cost grows
    /// with, for tests that its steps stay cheap.
    pub fn in_flight_visits(&self) -> u64 {
        self.visits
    }

    /// At `at` every delivery a rule is holding is released (the end of scripted faults at
    /// GST).
    pub fn schedule_release_held(&mut self, at: SimTime) {
        self.queue.push(at, Event::ReleaseHeld);
    }

    fn heights_reached(&self) -> bool {
        match self.stop.heights {
            None => false,
            Some(h) => {
                let mut any = false;
                for s in self.slots.iter().filter(|s| s.honest && s.up) {
                    if s.height < h {
                        return false;
                    }
                    any = true;
                }
                any
            }
        }
    }

    fn dispatch(&mut self, ev: Event<R::Msg>, obs: &mut dyn Observer) -> Option<Halt> {
        if self.lazy_arrivals > 0
            && let Some(node) = ev.node()
        {
            self.absorb_arrivals(node, (self.now, self.now_seq), obs);
        }
        match ev {
            Event::Start(node) => {
                if !self.slots[node.idx()].up {
                    // Crashed before it started: its restart will start it.
                    return None;
                }
                let h = self.emit(obs, Ev::Start { node });
                h.or(self.call(node, obs, |r, cx| r.on_start(cx)))
            }
            Event::Deliver { id, from, to, kind, msg, dup } => {
                if !self.slots[to.idx()].up {
                    let reason = DropReason::RecipientDown;
                    return self.emit(obs, Ev::Drop { id, from, to, kind, reason });
                }
                if self.net.opts.relay.is_flood() && kind.is_gossiped() {
                    return self.deliver_flooded(obs, id, from, to, kind, msg, dup);
                }
                let h = self.emit(obs, Ev::Deliver { id, from, to, kind, dup });
                h.or(self.call(to, obs, |r, cx| r.on_message(cx, from, &msg)))
            }
            Event::Timer { node, slot: which, generation } => {
                let now = self.now;
                let slot = &mut self.slots[node.idx()];
                let timer = &mut slot.timers[which];
                if !slot.up || timer.generation != generation {
                    return None;
                }
                timer.queued = None;
                let (tag, deadline, seq) = timer.armed?;
                if (deadline, seq) > (now, self.now_seq) {
                    // Re-armed since this wake-up was queued (later, or to this same instant
                    // by a later SetTimer): sleep until the place its last SetTimer reserved.
                    timer.queued = Some(deadline);
                    self.queue.push_with_seq(deadline, seq, Event::Timer { node, slot: which, generation });
                    return None;
                }
                if which == TimerSlot::Protocol as usize
                    && let Some(&(_, until)) = slot.suppressed.iter().find(|&&(a, b)| now >= a && now < b)
                {
                    // Suppressed: the expiry is postponed to the end of the window.
                    timer.queued = Some(until);
                    self.queue.push(until, Event::Timer { node, slot: which, generation });
                    let text = format!("{} timer expiry suppressed until {until}", self.name(node));
                    let marker = Marker::TimerSuppressed { node, until_us: until.0 };
                    return self.emit(obs, Ev::Marker { marker, text: Rc::from(text.as_str()) });
                }
                timer.armed = None;
                let h = self.emit(obs, Ev::Timer { node, tag: tag.trace_tag(), forced: false });
                h.or(self.call(node, obs, |r, cx| r.on_timer(cx, tag)))
            }
            Event::ForceTimer { node, slot: which, forced } => {
                let slot = &mut self.slots[node.idx()];
                let p = which as usize;
                let (tag, ..) = slot.timers[p].armed.filter(|_| slot.up)?;
                // The forced expiry replaces the pending one (its queued wake-up finds
                // nothing armed).
                slot.timers[p].armed = None;
                let h = self.emit(obs, Ev::Timer { node, tag: tag.trace_tag(), forced });
                h.or(self.call(node, obs, |r, cx| r.on_timer(cx, tag)))
            }
            Event::Crash(node) => {
                let slot = &mut self.slots[node.idx()];
                if !slot.up {
                    return None;
                }
                slot.up = false;
                self.heights_changed = true;
                slot.seen.clear();
                slot.pool.clear();
                slot.resend.generation += 1;
                for t in &mut slot.timers {
                    t.generation += 1;
                    t.armed = None;
                    t.queued = None;
                }
                let h = self.emit(obs, Ev::Crash { node });
                if D::UNTIMED { h.or(self.lose_pending_to(node, obs)) } else { h }
            }
            Event::Restart { node, amnesia } => {
                let slot = &mut self.slots[node.idx()];
                if slot.up {
                    return None;
                }
                slot.replica = slot.replica.after_crash(amnesia);
                slot.height = slot.replica.ledger_height();
                slot.up = true;
                self.heights_changed = true;
                let h = self.emit(obs, Ev::Restart { node, amnesia });
                h.or(self.call(node, obs, |r, cx| r.on_start(cx)))
            }
            Event::NextTx => {
                let n = self.slots.len();
                let w = self.workload.as_mut()?;
                if w.opts.until.is_some_and(|u| self.now >= u) {
                    return None;
                }
                let mut arrivals = std::mem::take(&mut self.spawned);
                let tx = w.spawn_into(n, self.now, &mut arrivals);
                let gap = w.next_gap();
                // The origin's own arrival (no delay) and every arrival of a withheld
                // transaction stay events: the metrics date a transaction's submission by
                // its first arrival record.
                let keep_back = !D::UNTIMED
                    && self.keep_back_arrivals
                    && !w.opts.withhold.iter().any(|h| tx >= h.first && tx <= h.last);
                for (i, &d) in arrivals.iter().enumerate() {
                    if let Some(d) = d {
                        let node = NodeId(i as u32);
                        let at = self.now.plus(d);
                        if keep_back && d > 0 && self.slots[i].replica.transactions_inert() {
                            let seq = self.queue.reserve_seq();
                            self.keep_back(node, at, seq, tx);
                        } else {
                            let origin = keep_back && d == 0;
                            self.queue.push(at, Event::TxArrive { node, tx, origin });
                        }
                    }
                }
                self.spawned = arrivals;
                if let Some(g) = gap {
                    self.queue.push(self.now.plus(g), Event::NextTx);
                }
                None
            }
            Event::SubmitChange(i) => {
                let n = self.slots.len();
                let origin = self.workload.as_ref()?.changes[i].origin;
                if !self.slots[origin.idx()].up {
                    // A transaction enters the network through a running node: submitted
                    // to one that is down, it goes nowhere (and is not retried).
                    self.count_mark(obs, origin, CHANGE_LOST_MARK);
                    let label = self.workload.as_ref()?.changes[i].label.clone();
                    let text = format!("change {i} lost: {} is down when it is submitted ({label})", self.name(origin));
                    let marker = Marker::ChangeLost { change: i as u32, node: origin };
                    return self.emit(obs, Ev::Marker { marker, text: Rc::from(text.as_str()) });
                }
                let w = self.workload.as_mut()?;
                let delays = w.spread_change(i, n);
                let (tx, origin, label) = (w.changes[i].tx, w.changes[i].origin, w.changes[i].label.clone());
                let text = format!("change {i} submitted at {}: {label}", self.name(origin));
                let marker = Marker::ChangeSubmitted { change: i as u32, node: origin };
                for (j, d) in delays.into_iter().enumerate() {
                    if let Some(d) = d {
                        self.queue
                            .push(self.now.plus(d), Event::TxArrive { node: NodeId(j as u32), tx, origin: false });
                    }
                }
                self.emit(obs, Ev::Marker { marker, text: Rc::from(text.as_str()) })
            }
            Event::TxArrive { node, tx, origin } => {
                if !self.slots[node.idx()].up {
                    if origin {
                        // No record dates the submission now: the first node up to get
                        // the transaction must record it, so none of its arrivals
                        // (all later) stays kept back.
                        self.release_tx(tx);
                    }
                    return None;
                }
                let h = self.emit(obs, Ev::Tx { node, tx });
                h.or(self.call(node, obs, |r, cx| r.on_transaction(cx, tx)))
            }
            Event::Marker(marker, text) => self.emit(obs, Ev::Marker { marker, text }),
            Event::Resend { node, generation } => self.resend(node, generation, obs),
            Event::Lose { id, from, to, kind } => {
                let withheld = !self.slots[from.idx()].honest;
                let halt = self.emit(obs, Ev::Drop { id, from, to, kind, reason: DropReason::Loss });
                if withheld {
                    // After the drop's record, so the narration reads the drop, then why.
                    self.count_mark(obs, from, WITHHELD_MARK);
                }
                halt
            }
            Event::ReleaseHeld => {
                // Rule holds only (a copy a schedule keeps in flight waits in `pending`).
                self.visits += self.held.len() as u64;
                for h in std::mem::take(&mut self.held) {
                    let at = h.at.max(self.now);
                    let ev = Event::Deliver {
                        id: h.id,
                        from: h.from,
                        to: h.to,
                        kind: h.kind_of_msg,
                        msg: h.msg,
                        dup: false,
                    };
                    self.queue.push(at, ev);
                }
                None
            }
        }
    }

    /// Untimed: the copies in flight to a node that crashed are lost at once, in the order
    /// (sender, content hash) — the untimed model's set order.
    fn lose_pending_to(&mut self, node: NodeId, obs: &mut dyn Observer) -> Option<Halt> {
        let lost: Vec<_> = self
            .pending
            .range((node, NodeId(0), Hash32::default())..)
            .take_while(|(k, _)| k.0 == node)
            .map(|(k, _)| *k)
            .collect();
        self.visits += lost.len() as u64;
        let mut halt = None;
        for key @ (to, from, _) in lost {
            let Some(h) = self.pending.remove(&key) else { continue };
            let ev = Ev::Drop { id: h.id, from, to, kind: h.kind, reason: DropReason::RecipientDown };
            if let Some(x) = self.emit(obs, ev) {
                halt.get_or_insert(x);
            }
        }
        halt
    }

    /// Runs one replica handler and applies what it asked for.
    fn call(&mut self, node: NodeId, obs: &mut dyn Observer, f: impl FnOnce(&mut R, &mut Cx<R::Msg>)) -> Option<Halt> {
        let mut buf = std::mem::take(&mut self.buf);
        let slot = &mut self.slots[node.idx()];
        let local_now = slot.clock.local(self.now);
        {
            let mut cx = Cx::new(local_now, &self.keys, &mut buf);
            f(&mut slot.replica, &mut cx);
        }
        let mut halt = None;
        for a in buf.drain(..) {
            if let Some(h) = self.apply(node, a, obs) {
                halt.get_or_insert(h);
            }
        }
        self.buf = buf;
        let slot = &self.slots[node.idx()];
        if !slot.arrivals.is_empty() && !slot.replica.transactions_inert() {
            self.release_arrivals(node);
        }
        halt
    }

    /// Keeps a gossiped transaction's arrival at `node` back instead of queueing it: the
    /// replica is [`Replica::transactions_inert`], so the arrival would only add it to
    /// the mempool, which nobody reads before the node's next event. `seq` is reserved
    /// from the queue, so every other event keeps its place in the order.
    ///
    /// What this changes: such an arrival leaves no `Tx` record (a third of all events
    /// of a run with a workload were these), so trace digests differ from a build that
    /// queued every arrival; what every replica sees, and when, does not.
    fn keep_back(&mut self, node: NodeId, at: SimTime, seq: u64, tx: TxId) {
        let list = &mut self.slots[node.idx()].arrivals;
        let i = list.partition_point(|&(t, s, _)| (t, s) < (at, seq));
        list.insert(i, (at, seq, tx));
        self.lazy_arrivals += 1;
    }

    /// `node`'s replica stopped being inert: its kept-back arrivals (all due after the
    /// event being dispatched) become events at their own places in the order.
    fn release_arrivals(&mut self, node: NodeId) {
        let list = std::mem::take(&mut self.slots[node.idx()].arrivals);
        self.lazy_arrivals -= list.len();
        for (at, seq, tx) in list {
            self.queue.push_with_seq(at, seq, Event::TxArrive { node, tx, origin: false });
        }
    }

    /// Every kept-back arrival of `tx` becomes an event at its own place in the order.
    fn release_tx(&mut self, tx: TxId) {
        for i in 0..self.slots.len() {
            let list = &mut self.slots[i].arrivals;
            let Some(j) = list.iter().position(|a| a.2 == tx) else { continue };
            let (at, seq, _) = list.remove(j);
            self.lazy_arrivals -= 1;
            self.queue.push_with_seq(at, seq, Event::TxArrive { node: NodeId(i as u32), tx, origin: false });
        }
    }

    /// Hands `node` its kept-back arrivals due before `before` (a place in the (time,
    /// sequence) order), each as `on_transaction` at its own time, with no record. A node
    /// that is down drops them, as it drops a queued arrival. Returns the latest arrival
    /// time handed over or dropped.
    fn absorb_arrivals(&mut self, node: NodeId, before: (SimTime, u64), obs: &mut dyn Observer) -> Option<SimTime> {
        let slot = &mut self.slots[node.idx()];
        let k = slot.arrivals.partition_point(|&(t, s, _)| (t, s) < before);
        if k == 0 {
            return None;
        }
        self.lazy_arrivals -= k;
        let last = slot.arrivals[k - 1].0;
        let mut buf = std::mem::take(&mut self.buf);
        if slot.up {
            for &(at, _, tx) in &slot.arrivals[..k] {
                let mut cx = Cx::new(slot.clock.local(at), &self.keys, &mut buf);
                slot.replica.on_transaction(&mut cx, tx);
            }
        }
        // (Copy entries: moving the rest down beats a `Drain`.)
        slot.arrivals.copy_within(k.., 0);
        slot.arrivals.truncate(slot.arrivals.len() - k);
        // An inert replica asks for nothing; should one break that promise, its actions
        // are still carried out (late) rather than lost.
        debug_assert!(buf.is_empty(), "{node}: an inert replica acted on a transaction");
        for a in buf.drain(..) {
            let _ = self.apply(node, a, obs);
        }
        self.buf = buf;
        Some(last)
    }

    /// [`absorb_arrivals`](Self::absorb_arrivals) for every node; the latest time handed.
    fn absorb_all(&mut self, before: (SimTime, u64), obs: &mut dyn Observer) -> Option<SimTime> {
        if self.lazy_arrivals == 0 {
            return None;
        }
        (0..self.slots.len()).filter_map(|i| self.absorb_arrivals(NodeId(i as u32), before, obs)).max()
    }

    fn apply(&mut self, node: NodeId, a: Action<R::Msg>, obs: &mut dyn Observer) -> Option<Halt> {
        match a {
            Action::Broadcast(m) => self.send(node, None, m, obs),
            Action::Send(to, m) => self.send(node, Some(to), m, obs),
            Action::SetTimer { slot: which, tag, at } => {
                let which = which as usize;
                let slot = &mut self.slots[node.idx()];
                let at = slot.clock.global(at).max(self.now);
                let timer = &mut slot.timers[which];
                if D::UNTIMED {
                    // Armed, never due: only a schedule's `timer` step fires it.
                    timer.armed = Some((tag, at, 0));
                    return None;
                }
                let seq = self.queue.reserve_seq();
                timer.armed = Some((tag, at, seq));
                if timer.queued.is_none_or(|q| q > at) {
                    timer.generation += 1;
                    timer.queued = Some(at);
                    let generation = timer.generation;
                    self.queue.push_with_seq(at, seq, Event::Timer { node, slot: which, generation });
                }
                None
            }
            Action::CancelTimer(which) => {
                self.slots[node.idx()].timers[which as usize].armed = None;
                None
            }
            Action::Persist(block) => {
                let slot = &mut self.slots[node.idx()];
                slot.height = slot.height.max(block.height());
                self.heights_changed = true;
                if slot.honest && block.height() > self.honest_height {
                    self.honest_height = block.height();
                    self.trigger_changes();
                }
                self.emit(obs, Ev::Persist { node, block })
            }
            Action::Note(note) => self.emit(obs, Ev::Note { node, note }),
            Action::Mark(name) => {
                self.count_mark(obs, node, name);
                None
            }
        }
    }

    /// Counts coverage mark `name`, taken by `node` now, and tells the observers (the
    /// narration shows it; no digest sees it).
    fn count_mark(&mut self, obs: &mut dyn Observer, node: NodeId, name: &'static str) {
        *self.marks.entry(name).or_insert(0) += 1;
        obs.mark(self.now, Some(node), name);
    }

    /// Submits the height-triggered changes whose height an honest node has reached.
    fn trigger_changes(&mut self) {
        if self.change_triggers.is_empty() {
            return;
        }
        let h = self.honest_height;
        let (due, wait): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.change_triggers).into_iter().partition(|t| t.0 <= h);
        self.change_triggers = wait;
        for (_, i) in due {
            self.queue.push(self.now, Event::SubmitChange(i));
        }
    }

    /// Releases deliveries held until `from` sends a message of `kind`.
    fn release_held(&mut self, from: NodeId, kind: crate::protocol::MsgKind) {
        if self.held.is_empty() {
            return;
        }
        self.visits += self.held.len() as u64;
        let (release, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.node == from && h.kind.is_none_or(|k| k == kind));
        self.held = keep;
        for h in release {
            let at = h.at.max(self.now);
            self.queue.push(
                at,
                Event::Deliver { id: h.id, from: h.from, to: h.to, kind: h.kind_of_msg, msg: h.msg, dup: false },
            );
        }
    }

    fn send(&mut self, from: NodeId, to: Option<NodeId>, msg: Rc<R::Msg>, obs: &mut dyn Observer) -> Option<Halt> {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let meta: MsgMeta = msg.meta();
        let content = if self.trace_content { serde_json::to_value(&*msg).ok() } else { None };
        let halt = self.emit(obs, Ev::Send { id, from, to, meta, content });
        self.release_held(from, meta.kind);
        let n = self.slots.len() as u32;
        let flood = self.net.opts.relay.is_flood() && meta.kind.is_gossiped();
        let mut everyone = std::mem::take(&mut self.everyone);
        if everyone.len() != n as usize {
            everyone = (0..n).map(NodeId).collect();
        }
        let one: [NodeId; 1];
        let peers: Rc<[NodeId]>;
        let targets: &[NodeId] = match to {
            Some(t) if t.0 < n => {
                one = [t];
                &one
            }
            Some(_) => &[],
            // Flood: a broadcast goes to the sender's peers, who relay it on.
            None if flood => {
                peers = self.net.topology.neighbours(from);
                &peers
            }
            None => &everyone,
        };
        if flood {
            // Own payloads go into the cache when sent: an echo is dropped (neo-go
            // BroadcastExtensible puts them in the pool).
            self.slots[from.idx()].seen.insert(relay_key(&meta.hash));
            if meta.kind.is_consensus() {
                self.pool_payload(from, &msg, meta.hash, meta.height);
            }
        }
        let more = self.transmit(id, from, targets, None, &msg, &meta, obs);
        self.everyone = everyone;
        halt.or(more)
    }

    /// Under flood relay, a gossiped message reaches `to`: dropped if its cache holds the
    /// hash; otherwise recorded, forwarded to `to`'s other peers when `to` is honest and
    /// the message passes its transport checks (before the replica handles it, as Neo's
    /// Blockchain.OnInventory relays before consensus sees the payload), and handed to the
    /// replica. A block is forwarded only once the node has persisted it, so it is cached
    /// only then. Byzantine nodes never relay (a Byzantine relay may drop).
    #[allow(clippy::too_many_arguments)]
    fn deliver_flooded(
        &mut self,
        obs: &mut dyn Observer,
        id: u64,
        from: NodeId,
        to: NodeId,
        kind: crate::protocol::MsgKind,
        msg: Rc<R::Msg>,
        dup: bool,
    ) -> Option<Halt> {
        let hash = msg.meta().hash;
        if self.slots[to.idx()].seen.contains(&relay_key(&hash)) {
            self.relay_marks.dropped_duplicate += 1;
            return self.emit(obs, Ev::Drop { id, from, to, kind, reason: DropReason::Duplicate });
        }
        let is_block = kind == crate::protocol::MsgKind::Block;
        if !is_block {
            self.slots[to.idx()].seen.insert(relay_key(&hash));
        }
        let mut halt = self.emit(obs, Ev::Deliver { id, from, to, kind, dup });
        let relays = |e: &Self| {
            let slot = &e.slots[to.idx()];
            slot.honest && slot.replica.relays(&e.keys, &msg)
        };
        let mut relayed = false;
        if relays(self) {
            relayed = true;
            if !is_block {
                let h = msg.meta().height;
                self.pool_payload(to, &msg, hash, h);
            }
            if let Some(h) = self.forward(to, from, &msg, obs) {
                halt.get_or_insert(h);
            }
        }
        if let Some(h) = self.call(to, obs, |r, cx| r.on_message(cx, from, &msg)) {
            halt.get_or_insert(h);
        }
        if is_block && !relayed && self.slots[to.idx()].up && relays(self) {
            // Blocks are relayed only after they are persisted (Blockchain.OnNewBlock).
            if let Some(h) = self.forward(to, from, &msg, obs) {
                halt.get_or_insert(h);
            }
        }
        halt
    }

    /// Flood with `resend`: keeps an honest node's new consensus payload for re-sending and
    /// restarts its resend dispatcher at the base interval.
    fn pool_payload(&mut self, node: NodeId, msg: &Rc<R::Msg>, hash: Hash32, height: u32) {
        let Some(base) = self.net.opts.resend_us else { return };
        let slot = &mut self.slots[node.idx()];
        if !slot.honest || height <= slot.height {
            return;
        }
        slot.pool.insert(hash, (height, msg.clone()));
        slot.resend.generation += 1;
        slot.resend.interval = base.max(1);
        let generation = slot.resend.generation;
        self.queue.push(self.now.plus(base.max(1)), Event::Resend { node, generation });
    }

    /// neo-go resendDispatcher: nothing new for an interval, so every pooled payload of a
    /// height not yet persisted goes to all peers again; the interval doubles.
    fn resend(&mut self, node: NodeId, generation: u64, obs: &mut dyn Observer) -> Option<Halt> {
        let slot = &mut self.slots[node.idx()];
        if !slot.up || slot.resend.generation != generation {
            return None;
        }
        let persisted = slot.height;
        slot.pool.retain(|_, (h, _)| *h > persisted);
        if slot.pool.is_empty() {
            return None;
        }
        let msgs: Vec<Rc<R::Msg>> = slot.pool.values().map(|(_, m)| m.clone()).collect();
        slot.resend.interval = slot.resend.interval.saturating_mul(2);
        let next = self.now.plus(slot.resend.interval);
        self.queue.push(next, Event::Resend { node, generation });
        self.count_mark(obs, node, "relay: re-sent pooled payloads");
        let targets = self.net.topology.neighbours(node);
        let mut halt = None;
        for m in msgs {
            let meta = m.meta();
            let id = self.next_msg_id;
            self.next_msg_id += 1;
            let content = if self.trace_content { serde_json::to_value(&*m).ok() } else { None };
            if let Some(h) = self.emit(obs, Ev::Send { id, from: node, to: None, meta, content }) {
                halt.get_or_insert(h);
            }
            if let Some(h) = self.transmit(id, node, &targets, None, &m, &meta, obs) {
                halt.get_or_insert(h);
            }
        }
        halt
    }

    /// `node` re-relays `msg` (which it got from `got_from`) to its other peers: a new send
    /// with its own id and per-hop draws. It does not count as `node` sending a message of
    /// that type for held deliveries (the relay is the transport, not the replica).
    fn forward(&mut self, node: NodeId, got_from: NodeId, msg: &Rc<R::Msg>, obs: &mut dyn Observer) -> Option<Halt> {
        let meta = msg.meta();
        self.slots[node.idx()].seen.insert(relay_key(&meta.hash));
        let targets = self.net.topology.neighbours(node);
        self.relay_marks.forwarded += 1;
        if meta.height > self.slots[node.idx()].height.saturating_add(1) {
            self.relay_marks.forwarded_future += 1;
        }
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let content = if self.trace_content { serde_json::to_value(&**msg).ok() } else { None };
        let halt = self.emit(obs, Ev::Send { id, from: node, to: None, meta, content });
        let more = self.transmit(id, node, &targets, Some(got_from), msg, &meta, obs);
        halt.or(more)
    }

    /// Puts one send on the wire to each of `targets` but `except` (the peer a forwarded
    /// payload came from): the network's fate and the rules, per recipient.
    #[allow(clippy::too_many_arguments)]
    fn transmit(
        &mut self,
        id: u64,
        from: NodeId,
        targets: &[NodeId],
        except: Option<NodeId>,
        msg: &Rc<R::Msg>,
        meta: &MsgMeta,
        obs: &mut dyn Observer,
    ) -> Option<Halt> {
        let meta = *meta;
        let mut halt = None;
        let flood = self.net.opts.relay.is_flood() && meta.kind.is_gossiped();
        for &to in targets {
            if to == from || Some(to) == except {
                continue;
            }
            let recipient_up = self.slots[to.idx()].up;
            let copy = Outgoing { now: self.now, from, to, meta: &meta, recipient_up };
            // A copy its recipient ignores for good is routed as any other (the same draws:
            // whether it is handed over changes no other copy's fate) and, if it arrives,
            // handed over here: counted, no queue event, no record.
            let ignored = self.ignored_for_good(&copy, flood);
            let seen = self.certain_duplicate(&copy, flood);
            let choice = self.driver.route(&mut self.net, copy);
            let fate = match choice {
                Choice::Now(f) => f,
                Choice::Unmodelled => continue,
                Choice::Pending => {
                    // An identical copy still in flight absorbs this one (driver.rs).
                    self.visits += 1;
                    self.pending.entry((to, from, meta.hash)).or_insert_with(|| InFlight {
                        id,
                        kind: meta.kind,
                        msg: msg.clone(),
                    });
                    continue;
                }
                Choice::HeldUntilSent { node, kind, at } => {
                    let msg = msg.clone();
                    self.held.push(Held { node, kind, kind_of_msg: meta.kind, at, id, from, to, msg });
                    // Said at send time, so a reader of the trace sees why the delivery
                    // comes late (it shows up as an ordinary delivery when released).
                    let awaited = kind.map_or("any message".to_string(), |k| format!("{k:?}"));
                    let (f, t, n) = (self.name(from), self.name(to), self.name(node));
                    let text = format!("msg {id} {f} -> {t} held until {n} sends {awaited}");
                    let marker = Marker::Held { id, from, to, node, kind };
                    if let Some(h) = self.emit(obs, Ev::Marker { marker, text: Rc::from(text.as_str()) }) {
                        halt.get_or_insert(h);
                    }
                    continue;
                }
            };
            match fate {
                Fate::Dropped(reason) => {
                    let h = self.emit(obs, Ev::Drop { id, from, to, kind: meta.kind, reason });
                    if let Some(h) = h {
                        halt.get_or_insert(h);
                    }
                }
                Fate::Arrives { at, dup } if ignored || seen => {
                    let k = meta.kind.index();
                    let copies = 1 + dup.is_some() as u64;
                    let (first, second) = if seen {
                        self.seen_drops[k] += copies;
                        (Handed::SeenDrop, Handed::SeenDrop)
                    } else {
                        let counts = &mut self.ignored[k];
                        counts.0 += copies;
                        counts.1 += dup.is_some() as u64;
                        (Handed::Ignored { dup: false }, Handed::Ignored { dup: true })
                    };
                    // The sequence numbers its events would have taken: every other event
                    // keeps its own.
                    let seq = self.queue.reserve_seq();
                    self.ignored_in_flight.push((at, seq, k, first));
                    if let Some(d) = dup {
                        let seq = self.queue.reserve_seq();
                        self.ignored_in_flight.push((d, seq, k, second));
                    }
                    if self.ignored_in_flight.len() >= self.ignored_prune_at {
                        let past = (self.now, self.now_seq);
                        self.ignored_in_flight.retain(|&(t, s, ..)| (t, s) > past);
                        self.ignored_prune_at = (2 * self.ignored_in_flight.len()).max(1024);
                    }
                }
                Fate::Arrives { at, dup } => {
                    let m = msg.clone();
                    self.queue.push(at, Event::Deliver { id, from, to, kind: meta.kind, msg: m, dup: false });
                    if let Some(d) = dup {
                        let m = msg.clone();
                        self.queue.push(d, Event::Deliver { id, from, to, kind: meta.kind, msg: m, dup: true });
                    }
                }
            }
        }
        halt
    }
}

#[cfg(test)]
mod arrival_tests;
#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod ignored_tests;
#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod seen_drop_tests;
#[cfg(test)]
mod tests;
