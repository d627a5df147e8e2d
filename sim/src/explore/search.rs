//! The search: every state reachable within the bounds, breadth-first (shortest
//! counterexamples) or depth-first, each state visited once by its 64-bit fingerprint.
//!
//! - **Safety** (S1–S4, and S5/S6 as the checkers judge them) is checked on every step by
//!   the simulator's own checker, fed the step's records. A checker per state would be
//!   costly, so states share one until a step persists a block or signs a Commit
//!   (copy on write). The first violation ends the search.
//! - **Stuck states** need the whole graph: the search keeps every edge (8 bytes) and,
//!   once it ends, walks backwards from the states where every honest running validator
//!   has finished the target height (and from states it never expanded: unknown, so
//!   assumed able to finish). What is left cannot finish under any schedule within the
//!   bounds. Of those, the settled ones (nothing in flight) are reported, grouped by the
//!   stall diagnosis, with the shortest schedule of each group.
//! - **Bounds.** A step that makes a replica enter, or ask to enter, a view above
//!   `max_view` is not taken (counted as pruned); crashes are choices while fewer than
//!   `crashes` were taken; with `loss` every message in flight may also be dropped.
//!
//! **Partial-order reduction.** A step of replica p (a delivery to p, a drop of a message
//! to p, p's timer) reads and writes only p's state and adds messages to the set in
//! flight, so it commutes with a step of another replica q — unless one of them sends the
//! very message the other consumes (set semantics merge copies: "q consumes m, then p
//! sends m again" leaves m in flight, "p sends m, then q consumes it" does not). After a
//! step of q, the search therefore skips steps of replicas p < q that were possible
//! before it and that it did not touch: the order "p first" reaches the same states —
//! except a step of the consumed message's sender that sends it again, which is run and
//! kept only if it does ([`Allow::IfResends`]; missing this case lost reachable states
//! until 2026-12-02, test `the_reduction_skips_only_steps_that_commute`). Every sequence
//! of steps is equivalent to one without such an inversion (swap adjacent inversions:
//! the shortest, then lexicographically least, equivalent has none), so every reachable
//! state is still visited, and every step into a violation is judged on some path.
//! Because what a node skips depends on how it was reached, a search node is (state,
//! last replica, the messages the last step sent to lower replicas, the message it
//! consumed); crashes depend on everything and reset the context. Settled states (nothing in flight) are expanded in full and keyed by
//! state alone, which makes "can this state still finish?" exact for them: from an
//! unrestricted node, every path has a reduced equivalent. Stuck states are reported
//! only among settled ones for that reason. Under the synchrony bound timers are offered
//! only in settled states; a swap of two adjacent deliveries never makes the state
//! between them settled (the other is still in flight), so no swap moves a timer and the
//! argument stands.
//!
//! **Finished leaves merge.** A state where every honest running validator finished is
//! never expanded, so the messages still in flight there cannot matter; finished states
//! that differ only in them are one search node (fingerprint without the messages).
//!
//! **Crashed nodes are remembered by their ledgers.** A node that is down takes no step
//! again unless restarts are choices, and a restart reads only its ledger and (without
//! amnesia) its saved committed context; states that differ only in what else it held
//! are one state ([`Sys::forget_down`], [`Sys::allow_restarts`]). The Commits it signed
//! stay in the state's signature record (S4). A restart, like a crash, depends on every
//! other step for the partial-order reduction.
//!
//! No symmetry reduction: replicas are not symmetric (the primary of each view is fixed
//! by index, and keys differ).

use super::graph::Edges;
use super::model::{Act, Choices, Env, Key, Prune, Sys};
use super::schedule;
use super::step::Step;
use crate::byzantine::Node;
use crate::engine::trace::{Ev, Halt, Observer, Rec};
use crate::invariants::InvariantId;
use crate::invariants::diagnosis::{Stall, StallClass};
use crate::invariants::safety::{Found, Safety};
use crate::protocol::NodeId;
use crate::protocol::Note;
use crate::scenario::RunSpec;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the search may do.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Heights to finalise (1 or 2 are practical).
    pub heights: u32,
    /// The highest view a replica may enter.
    pub max_view: u8,
    /// How many crashes are choices (≤ F).
    pub crashes: u32,
    /// How many restarts of crashed honest nodes are choices. A down node then keeps what
    /// a restart reloads ([`Sys::allow_restarts`]); the dead-message argument holds between
    /// a node's crashes, and a crash drops everything in flight to it.
    pub restarts: u32,
    /// Restarts lose the saved context (the node comes back knowing only its chain).
    pub amnesia: bool,
    /// Messages may be lost.
    pub loss: bool,
    /// With `loss`: at most this many drop steps on a path (None: any number).
    pub max_drops: Option<u32>,
    /// A Byzantine node may withhold any message it sends from any recipient (a `drop`
    /// step on its message; not a loss): the explorer chooses, per recipient, which of
    /// the messages its behaviours produce arrive.
    pub withhold: bool,
    /// Timers fire only when nothing is in flight ([`Choices::synchrony`]): the network
    /// delivers within a bound below every timeout. Off: the asynchronous model, where a
    /// timer may fire before any delivery.
    pub synchrony: bool,
    /// Timers fire in deadline order, each only when nothing is in flight (the bounded
    /// delay model: every message arrives before the next timer expires; model.rs,
    /// "Deadline order"). Implies the synchrony bound.
    pub deadlines: bool,
    /// With `deadlines`: the longest message delay in µs (model.rs, "Delays"). None (or
    /// 0): every message arrives before the next timer expires. Timers then fire with
    /// messages in flight, so they are not local steps for the partial-order reduction.
    pub max_delay: Option<u64>,
    /// How many adversary-timer steps (one period of its periodic behaviours) each
    /// Byzantine node may take: every tick changes the wrapper's state, so the number is
    /// bounded like the view.
    pub adversary_ticks: u32,
    /// Depth-first instead of breadth-first.
    pub dfs: bool,
    /// Stop after this many search nodes ([`Stats::states`]: a state counts once per reduction context).
    pub max_states: u64,
    /// Stop after this much time.
    pub max_time: Option<Duration>,
    /// Stop when the process's resident memory exceeds this many bytes (checked every
    /// 2,048 expanded states), so a breadth-first search ends with its findings instead
    /// of being killed by the system. The command line defaults it to three quarters of
    /// the machine's memory; None here.
    pub max_memory: Option<u64>,
    /// Partial-order reduction, the merging of finished leaves and of states that differ
    /// only in a crashed node's unusable state (module comment, [`Sys::forget_down`]);
    /// off only to measure what they save.
    pub reduce: bool,
    /// With `reduce`: the partial-order reduction itself (off: only the merges). Where
    /// dead state is forgotten, most of what it would skip is merged anyway, and the
    /// sleep sets that key its visited table cost more than they save (docs/explore.md
    /// §4.7).
    pub por: bool,
    /// Fingerprint honest nodes by what a later step can still read of them, and drop
    /// the messages that write only what is forgotten ([`Sys::forget_dead`]). Applies
    /// only where it is sound: recovery off, every process honest; off only to measure
    /// what it saves.
    pub forget: bool,
    /// Deliver RecoveryRequest and RecoveryMessage (off: they are never delivered).
    pub recovery: bool,
    /// Drop messages their recipient ignores forever (model.rs, protocol/dbft/relevance.rs);
    /// `Prune::Check` also proves each one a no-op as it is dropped.
    pub prune: Prune,
    /// Instead of the exhaustive search, this many seeded random walks from the initial
    /// state (each step uniform among the enabled ones within the bounds, until the
    /// height is finished, nothing is enabled, or `walk_depth` steps): a fast way to deep
    /// counterexamples that BFS cannot reach and DFS reaches late. Proves nothing.
    pub walks: Option<u64>,
    pub walk_depth: u32,
    /// A walk that ends settled without finishing is a stuck-state candidate: a complete
    /// search from its last state within this many states proves it stuck (or shows a
    /// way out). 0: walks look for violations only. Also the budget of each candidate's
    /// search under `shortest_stuck`.
    pub walk_stuck_budget: u64,
    /// Instead of the exhaustive search: the shortest stuck state within this many
    /// steps ([`Explorer::shortest_stuck`]).
    pub shortest_stuck: Option<u32>,
    /// With `shortest_stuck`: check only candidates whose stall diagnosis is this class
    /// (the shortest commit lock, not the shortest artefact of a bound).
    pub stuck_class: Option<StallClass>,
    /// Stop at the first state where every honest running validator finished (a
    /// witness that the initial state can finish; [`Ending::FinishReached`]).
    pub stop_at_finish: bool,
}

/// The `dbft-sim explore` command line's defaults: one height, max view 1, no crash or
/// loss, breadth-first, partial-order reduction and dead-message dropping on, recovery
/// not delivered (but no memory budget: the command line's depends on the machine).
impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            heights: 1,
            max_view: 1,
            crashes: 0,
            restarts: 0,
            amnesia: false,
            loss: false,
            max_drops: None,
            withhold: false,
            synchrony: false,
            deadlines: false,
            max_delay: None,
            adversary_ticks: 2,
            dfs: false,
            max_states: 50_000_000,
            max_time: None,
            max_memory: None,
            reduce: true,
            por: true,
            forget: true,
            recovery: false,
            prune: Prune::On,
            walks: None,
            walk_depth: 200,
            walk_stuck_budget: 20_000,
            shortest_stuck: None,
            stuck_class: None,
            stop_at_finish: false,
        }
    }
}

/// Why the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every reachable state within the bounds was visited.
    Complete,
    Violation,
    StateBudget,
    TimeBudget,
    MemoryBudget,
    /// Random walks (`Bounds::walks`) ended without a violation: nothing is proven.
    WalksDone,
    /// `stop_at_finish`: a finished state was reached.
    FinishReached,
    /// `shortest_stuck`: every state within the step bound was visited.
    DepthDone,
}

impl Ending {
    pub fn name(self) -> &'static str {
        match self {
            Ending::Complete => "complete",
            Ending::Violation => "violation",
            Ending::StateBudget => "state budget reached",
            Ending::TimeBudget => "time budget reached",
            Ending::MemoryBudget => "memory budget reached",
            Ending::WalksDone => "random walks done (a sample, not a proof)",
            Ending::FinishReached => "a finished state reached",
            Ending::DepthDone => "every state within the step bound visited",
        }
    }
}

/// A safety violation and the schedule that reaches it.
#[derive(Clone, Debug)]
pub struct ViolationFound {
    pub ids: Vec<InvariantId>,
    pub detail: String,
    pub steps: Vec<Step>,
}

/// One group of stuck states (one stall class), with the shortest schedule found.
#[derive(Clone, Debug)]
pub struct StuckFound {
    pub class: StallClass,
    pub count: u64,
    /// Of `count`, the states from which a step into a view above `max_view` can be
    /// reached (a step the bound cut). For those the bound may be all that stops them,
    /// unless the stall diagnosis proves otherwise (a commit lock holds in every view);
    /// an undiagnosed group where this equals `count` is probably an artefact of the view
    /// bound (a search with a higher bound tells).
    pub past_bound: u64,
    /// Of `count`, the states from which a step can be reached where an honest node asks
    /// for recovery that, under `recovery off`, is never answered. With recovery
    /// delivered, the answer may unlock them (docs/explore.md §5).
    pub asks_recovery: u64,
    pub stall: Stall,
    pub steps: Vec<Step>,
    /// The group's states that reach neither a step past the view bound nor an
    /// unanswered recovery request (neither bound can be what stops them), and the
    /// shallowest of them when it is not the group's shortest itself. Only the exhaustive
    /// search reports it (`None` from walks and `--shortest-stuck`).
    pub robust: Option<Robust>,
}

/// [`StuckFound::robust`]: how many, and the shallowest one's diagnosis and schedule.
#[derive(Clone, Debug)]
pub struct Robust {
    pub count: u64,
    pub shallowest: Option<(Stall, Vec<Step>)>,
}

/// What `shortest_stuck` checked: the settled unfinished states within the step bound,
/// shallowest first, until the first depth with a proven stuck state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shortest {
    /// The depth of the shallowest proven stuck state (None: none within the bound).
    pub depth: Option<u32>,
    /// Candidates shown able to finish (a finished state reached from them).
    pub can_finish: u64,
    /// Candidates shallower than `depth` (all, if None) whose search ran out of budget:
    /// if any, a shorter stuck state may exist.
    pub undecided: u64,
    /// Settled candidates never checked because the enumeration itself stopped at its
    /// budget before every state within the step bound was visited (their depths were
    /// not final): nothing is proven either way then.
    pub unchecked: u64,
}

/// Counters while the search runs (for a progress line).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Search nodes: distinct (state, reduction context) pairs.
    pub states: u64,
    /// Distinct states among them.
    pub distinct: u64,
    pub transitions: u64,
    pub depth: u32,
    pub queue: usize,
    pub elapsed: Duration,
    /// Distinct replica tuples so far (the census; 0 where a search keeps none): while it
    /// still grows, the search is still finding new combinations of replica states, not
    /// only new messages in flight over known ones.
    pub replica_tuples: u64,
}

/// What the search found.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
    pub ending: Ending,
    /// Steps not taken because they went past `max_view`.
    pub pruned: u64,
    /// Steps taken where an honest node asked for recovery that nobody answers
    /// ([`super::model::Effects::unanswered_recovery`]).
    pub unanswered_recovery: u64,
    /// States where every honest running validator finished.
    pub finished: u64,
    pub violation: Option<ViolationFound>,
    /// Settled states (nothing in flight) from which no schedule within the bounds
    /// finishes (only meaningful when the search is complete).
    pub cannot_finish: u64,
    pub stuck: Vec<StuckFound>,
    /// Bytes the search's own tables use per visited state (fingerprint index, parent,
    /// depth, flags, edges), not counting the frontier's full states.
    pub table_bytes_per_state: f64,
    /// Where the states come from (the explosion census): distinct local states of each
    /// replica (its replica state, whether it is up, its armed timer), and distinct tuples
    /// of all replicas' local states (the state without the messages in flight), among
    /// the distinct states visited. When the tuples are close to the product of the
    /// local counts' reachable combinations and close to the distinct states, the space
    /// is the interleaving of genuinely different replica states, not duplicated
    /// bookkeeping that a canonical form could merge.
    pub local_states: Vec<u64>,
    /// `shortest_stuck`: what the candidates' checks showed.
    pub shortest: Option<Shortest>,
    pub replica_tuples: u64,
    /// Dead messages dropped over all transitions (one message can count on many).
    pub dead_dropped: u64,
    /// Coverage marks emitted over all transitions taken (a mark counts once per
    /// transition that emitted it): shows which protocol paths, and which Byzantine
    /// behaviours, the search exercised.
    pub marks: BTreeMap<&'static str, u64>,
}

/// Fingerprints are hashes already: the visited table uses them as they are.
#[derive(Default)]
struct Ident(u64);

impl Hasher for Ident {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The fingerprint of a state (SipHash with fixed keys: the same on every run).
pub fn fingerprint(sys: &Sys) -> u64 {
    super::fingerprint::of(sys)
}

/// The fingerprint of one replica's local state (module comment of [`Outcome::local_states`]).
fn local_fingerprint(sys: &Sys, i: usize) -> u64 {
    super::fingerprint::of(&(sys.replica_fp(i), sys.up[i], sys.timers[i]))
}

/// The fingerprint of a finished state, leaving out the messages in flight (see the
/// search loop: finished states are leaves). Distinct from every [`fingerprint`] by a
/// marker, so a finished leaf never merges with an unfinished state.
fn leaf_fingerprint(sys: &Sys) -> u64 {
    let locals: Vec<u64> = (0..sys.replicas.len()).map(|i| local_fingerprint(sys, i)).collect();
    super::fingerprint::of(&("finished leaf", locals, sys.crashes, sys.restarts, sys.signed_commits()))
}

/// Replaces replica `r` of `sys` by the pooled copy of an equal state, or pools it.
fn intern(pool: &mut HashMap<u64, Rc<Node>, BuildHasherDefault<Ident>>, sys: &mut Sys, r: usize) {
    match pool.entry(sys.replica_fp(r)) {
        Entry::Occupied(e) => sys.replicas[r] = e.get().clone(),
        Entry::Vacant(e) => {
            e.insert(sys.replicas[r].clone());
        }
    }
}

/// Counts distinct local states per replica and distinct replica tuples.
#[derive(Default)]
struct Census {
    local: Vec<std::collections::HashSet<u64, BuildHasherDefault<Ident>>>,
    tuples: std::collections::HashSet<u64, BuildHasherDefault<Ident>>,
}

impl Census {
    fn add(&mut self, sys: &Sys) {
        let n = sys.replicas.len();
        self.local.resize_with(n, Default::default);
        let locals: Vec<u64> = (0..n).map(|i| local_fingerprint(sys, i)).collect();
        for (i, f) in locals.iter().enumerate() {
            self.local[i].insert(*f);
        }
        self.tuples.insert(super::fingerprint::of(&locals));
    }
}

/// Feeds the step's records to the state's safety checker, copying it only when a record
/// can change it.
struct Judge<'a> {
    safety: &'a mut Rc<Safety>,
    found: Vec<Found>,
}

impl Observer for Judge<'_> {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let relevant = matches!(
            rec.ev,
            Ev::Persist { .. } | Ev::Note { note: Note::CommitSigned { .. }, .. } | Ev::Restart { amnesia: true, .. }
        );
        if relevant {
            self.found.extend(Rc::make_mut(self.safety).observe(rec));
        }
        None
    }
}

/// The partial-order reduction's memory of the step that led to a state: steps of a
/// replica numbered below `after` that were already possible before that step (so
/// independent of it) are not taken — the order with the lower replica first covers them.
/// Messages the last step sent (or merged with) are new, so always possible. One more
/// dependency is only known once the lower step ran: if the last step consumed a message
/// (delivered or dropped it) and the lower replica's step sends that very message again,
/// the two orders differ (in one the copy is back in flight, in the other it merged with
/// the pending copy the last step then consumed), so that step is taken after all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Reduction {
    after: Option<NodeId>,
    sent: Vec<Key>,
    /// The message the last step consumed, if its sender is below `after`.
    consumed: Option<Key>,
}

/// Whether the reduction lets a step be taken ([`Reduction::allows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Allow {
    Yes,
    No,
    /// Only if the step sends this message (the one the last step consumed) again.
    IfResends(Key),
}

impl Reduction {
    /// The context after `act`; `timers_global`: timer steps depend on every step
    /// ([`Explorer::delayed`]) and reset it.
    pub(super) fn after(act: Act, sent: &[Key], timers_global: bool) -> Reduction {
        if timers_global && matches!(act, Act::Timer(_) | Act::AdversaryTimer(_)) {
            return Reduction::default();
        }
        match act.process() {
            None => Reduction::default(),
            Some(q) => {
                let mut sent: Vec<Key> = sent.iter().filter(|k| k.0 < q).copied().collect();
                sent.sort();
                sent.dedup();
                let consumed = match act {
                    Act::Deliver(k) | Act::Drop(k) if k.1 < q => Some(k),
                    _ => None,
                };
                Reduction { after: Some(q), sent, consumed }
            }
        }
    }

    pub(super) fn allows(&self, act: Act, timers_global: bool) -> Allow {
        if timers_global && matches!(act, Act::Timer(_) | Act::AdversaryTimer(_)) {
            return Allow::Yes;
        }
        match (self.after, act.process()) {
            (Some(q), Some(p)) if p < q => match act {
                Act::Deliver(k) | Act::Drop(k) if self.sent.binary_search(&k).is_ok() => Allow::Yes,
                // Only the consumed message's sender can send it again.
                _ => match self.consumed {
                    Some(k) if k.1 == p => Allow::IfResends(k),
                    _ => Allow::No,
                },
            },
            _ => Allow::Yes,
        }
    }

    /// The search node's key: the state's fingerprint, with the reduction context unless
    /// there is none.
    fn key(&self, fp: u64) -> u64 {
        if self.after.is_none() {
            return fp;
        }
        super::fingerprint::of(&(fp, self))
    }
}

/// One stall class's settled stuck states ([`group_stuck`]).
#[derive(Debug, PartialEq, Eq)]
struct Group {
    count: u64,
    /// How many can reach a step past the view bound, and an unanswered recovery request.
    past_bound: u64,
    asks_recovery: u64,
    /// The shallowest state of the group (the first in state order among equals).
    shallowest: u32,
    /// The states that reach neither (`StuckFound::robust`), and the shallowest of them.
    robust_count: u64,
    robust_at: Option<u32>,
}

/// Groups the settled stuck states (`class`: the settled states' diagnoses; `can[i]`:
/// state i can still finish) by stall class, counting per group the states that can reach
/// a step past the view bound (`past`) and an unanswered recovery request (`asks`), and
/// finding the shallowest state (`depth`) of the group and of the part that reaches neither.
fn group_stuck(
    class: &BTreeMap<u32, StallClass>,
    can: &[bool],
    past: &[bool],
    asks: &[bool],
    depth: &[u32],
) -> BTreeMap<StallClass, Group> {
    let mut groups: BTreeMap<StallClass, Group> = BTreeMap::new();
    for (&i, &c) in class {
        let iu = i as usize;
        if can[iu] {
            continue;
        }
        let g = groups.entry(c).or_insert(Group {
            count: 0,
            past_bound: 0,
            asks_recovery: 0,
            shallowest: i,
            robust_count: 0,
            robust_at: None,
        });
        g.count += 1;
        g.past_bound += u64::from(past[iu]);
        g.asks_recovery += u64::from(asks[iu]);
        if depth[iu] < depth[g.shallowest as usize] {
            g.shallowest = i;
        }
        if !past[iu] && !asks[iu] {
            g.robust_count += 1;
            if g.robust_at.is_none_or(|r| depth[iu] < depth[r as usize]) {
                g.robust_at = Some(i);
            }
        }
    }
    groups
}

#[cfg(test)]
mod group_tests {
    use super::*;

    /// Counts and shallowest states per class, on states chosen so that every branch
    /// shows: a state that can finish (left out), one past the bound, one asking for
    /// recovery, both, and the robust ones at several depths.
    #[test]
    fn stuck_states_group_by_class_with_the_part_no_bound_explains() {
        use StallClass::{CommitLock, Undiagnosed};
        //              state:  0      1      2      3      4      5      6      7
        let can = [false, false, false, false, false, true, false, false];
        let past = [true, false, false, true, false, false, false, false];
        let asks = [false, true, false, true, false, false, false, false];
        let depth = [3, 1, 9, 2, 5, 0, 7, 4];
        let class: BTreeMap<u32, StallClass> = [
            (0, CommitLock),
            (1, CommitLock),
            (2, CommitLock),
            (3, CommitLock),
            (4, CommitLock),
            (5, CommitLock),
            (6, Undiagnosed),
            (7, Undiagnosed),
        ]
        .into_iter()
        .collect();
        let g = group_stuck(&class, &can, &past, &asks, &depth);
        assert_eq!(
            g[&CommitLock],
            Group { count: 5, past_bound: 2, asks_recovery: 2, shallowest: 1, robust_count: 2, robust_at: Some(4) }
        );
        assert_eq!(
            g[&Undiagnosed],
            Group { count: 2, past_bound: 0, asks_recovery: 0, shallowest: 7, robust_count: 2, robust_at: Some(7) }
        );
    }
}

const EXPANDED: u8 = 1;
const FINISHED: u8 = 2;
const SETTLED: u8 = 4;
/// A step from this state went past `max_view` (pruned).
const PAST_BOUND: u8 = 8;
/// A step from this state sent a RecoveryRequest that is never delivered.
const ASKS_RECOVERY: u8 = 16;

/// An explorer over one scenario's replicas.
pub struct Explorer<'a> {
    spec: &'a RunSpec,
    env: Env,
    init: Sys,
    safety: Rc<Safety>,
    pub bounds: Bounds,
    /// Dead replica state is forgotten ([`Bounds::forget`], where it is sound).
    pub forgets: bool,
    /// The steps that led to `init` when the search starts after the scenario's own
    /// schedule ([`Explorer::start_after_schedule`]): every written schedule begins
    /// with them, so it replays from the scenario's initial state.
    prefix: Vec<Step>,
    /// Deliveries of the scenario's schedule skipped as dead when starting after it.
    skipped: usize,
}

impl<'a> Explorer<'a> {
    pub fn new(spec: &'a RunSpec, bounds: Bounds) -> Result<Explorer<'a>, String> {
        let mut spec_b = bounds.clone();
        spec_b.heights = bounds.heights.max(1);
        let mut tmp = spec.clone();
        tmp.stop.heights = Some(spec_b.heights);
        let (mut env, replicas, parts) = schedule::setup(&tmp, spec.seed, false)?;
        env.recovery = bounds.recovery;
        env.deadlines = bounds.deadlines;
        env.max_delay = if bounds.deadlines { bounds.max_delay.unwrap_or(0) } else { 0 };
        let mut safety = Rc::new(Safety::new(parts.check.clone()));
        let mut judge = Judge { safety: &mut safety, found: Vec::new() };
        let (mut init, _) = Sys::start(&env, replicas, &schedule::initial_txs(spec), &mut judge, None);
        if bounds.restarts > 0 {
            init.allow_restarts(bounds.amnesia);
        }
        init.set_prune(&env, bounds.prune);
        if bounds.reduce {
            init.forget_down();
        }
        let forgets = bounds.forget && init.forget_dead(&env);
        // Measured (docs/explore.md §4.7): with dead state forgotten, the reduction's
        // sleep sets multiply the search nodes by more than the orders they skip.
        spec_b.por = bounds.por && !forgets;
        if bounds.max_drops.is_some() {
            init.count_drops();
        }
        Ok(Explorer { spec, env, init, safety, bounds: spec_b, forgets, prefix: Vec::new(), skipped: 0 })
    }

    /// Starts the search where the scenario's own `schedule` ends instead of at its
    /// initial state: the steps are taken on the untimed system under these bounds (with
    /// `--recovery`, the recovery messages the schedule never delivered stay in flight),
    /// and every schedule the search writes begins with them. This is how a stuck state
    /// found under one bound is put to another: a complete search from it that reaches no
    /// finished state proves it stuck under the new bounds too. Err names the step that
    /// is not possible here, or the violation the schedule itself shows.
    pub fn start_after_schedule(&mut self) -> Result<(), String> {
        let mut sys = self.init.clone();
        let mut safety = self.safety.clone();
        // The same steps on a copy that keeps every message: a delivery the search's
        // model has already dropped as dead (docs/explore.md §3) is found there and
        // skipped, so a schedule written under other bounds (recovery off, where other
        // messages are dead) still starts the search. The copy holds every message the
        // model holds, so each step taken is taken there too, as the same action.
        let mut shadow = sys.clone();
        shadow.set_prune(&self.env, super::model::Prune::Off);
        let mut shadow_safety = self.safety.clone();
        let mut prefix = Vec::with_capacity(self.spec.schedule.len());
        let mut acts = Vec::new();
        for (i, step) in self.spec.schedule.iter().enumerate() {
            let mut judge = Judge { safety: &mut shadow_safety, found: Vec::new() };
            let act = match sys.resolve_with_shadow(&mut shadow, &self.env, step, &mut judge) {
                Ok(Some(act)) => act,
                Ok(None) => {
                    self.skipped += 1;
                    continue;
                }
                Err(e) => {
                    let names: Vec<String> = self.spec.nodes.iter().map(|n| n.name.clone()).collect();
                    return Err(format!("schedule[{i}]: {}", super::step::with_names(&e, &names)));
                }
            };
            // Only a step the search itself could take here: the bounds' choices.
            sys.enabled(&self.env, self.choices(&sys), &mut acts);
            if !acts.contains(&act) {
                return Err(format!("schedule[{i}]: {}", self.not_allowed(act)));
            }
            prefix.push(sys.describe(act));
            let mut judge = Judge { safety: &mut safety, found: Vec::new() };
            let fx = sys.apply(&self.env, act, &mut judge, None);
            if let Some(f) = judge.found.first() {
                return Err(format!(
                    "schedule[{i}]: the schedule itself violates {}: {} (replay it with `dbft-sim run`)",
                    f.id, f.detail
                ));
            }
            if fx.max_view > self.bounds.max_view {
                return Err(format!(
                    "schedule[{i}]: the schedule goes to view {}, past --max-view {}",
                    fx.max_view, self.bounds.max_view
                ));
            }
            let mut judge = Judge { safety: &mut shadow_safety, found: Vec::new() };
            shadow.apply(&self.env, act, &mut judge, None);
        }
        (self.init, self.safety, self.prefix) = (sys, safety, prefix);
        Ok(())
    }

    /// Why `act`, a step of the scenario's schedule, is not among the choices the
    /// bounds offer at that point.
    fn not_allowed(&self, act: Act) -> String {
        let b = &self.bounds;
        match act {
            Act::Timer(_) if b.deadlines => {
                "a timer fires out of deadline order or with messages in flight, which --deadlines forbids".into()
            }
            Act::Timer(_) if b.synchrony => "a timer fires with messages in flight, which --synchrony forbids".into(),
            Act::Timer(_) => "a timer that is not armed here".into(),
            Act::AdversaryTimer(_) => {
                format!("an adversary timer step beyond --adversary-ticks {}", b.adversary_ticks)
            }
            Act::Crash(_) => format!("a crash of a node that may not crash here (--crashes {})", b.crashes),
            Act::Restart(..) => format!(
                "a restart the bounds do not offer (--restarts {}{})",
                b.restarts,
                if b.amnesia { ", --amnesia" } else { "" }
            ),
            Act::Drop(_) => format!(
                "a lost message, and the bounds allow no loss here (--loss {}, --max-drops {})",
                if b.loss { "on" } else { "off" },
                b.max_drops.map_or("none".to_string(), |m| m.to_string())
            ),
            Act::Deliver(_) => "a delivery the bounds do not offer here".into(),
        }
    }

    /// Where the search starts: how many of the scenario's steps it starts after, how
    /// many of its deliveries were skipped as dead, and whether nothing is in flight.
    pub fn start_point(&self) -> (usize, usize, bool) {
        (self.prefix.len(), self.skipped, self.init.bag.is_empty())
    }

    /// The choices `sys` offers within the bounds.
    fn choices(&self, sys: &Sys) -> Choices {
        Choices {
            loss: self.bounds.loss && self.bounds.max_drops.is_none_or(|m| sys.drops < m),
            crashes_left: sys.crashes < self.bounds.crashes,
            restarts_left: sys.restarts < self.bounds.restarts,
            amnesia: self.bounds.amnesia,
            synchrony: self.bounds.synchrony && !self.delayed(),
            adversary_ticks: self.bounds.adversary_ticks,
            deadlines: self.bounds.deadlines,
            withhold: self.bounds.withhold,
        }
    }

    /// Timers may fire with messages in flight under a delay bound: a delivery to one
    /// node then changes whether another's timer may fire, and whether a message is sent
    /// before or after a timer changes its time left, so timer steps are global for the
    /// partial-order reduction (like crashes).
    fn delayed(&self) -> bool {
        self.bounds.deadlines && self.bounds.max_delay.is_some_and(|d| d > 0)
    }

    /// Runs the search; `progress` is called every few thousand states.
    pub fn run(&self, progress: &mut dyn FnMut(&Stats)) -> Outcome {
        if self.bounds.walks.is_some() {
            return self.walks(progress);
        }
        if self.bounds.shortest_stuck.is_some() {
            return self.shortest_stuck(progress);
        }
        let start = Instant::now();
        let b = &self.bounds;
        let mut visited: HashMap<u64, u32, BuildHasherDefault<Ident>> = HashMap::default();
        visited.insert(fingerprint(&self.init), 0);
        let mut parent: Vec<(u32, u32)> = vec![(u32::MAX, 0)];
        let mut depth: Vec<u32> = vec![0];
        let mut flags: Vec<u8> = vec![if self.init.bag.is_empty() { SETTLED } else { 0 }];
        let mut class: BTreeMap<u32, StallClass> = BTreeMap::new();
        let mut edges = Edges::default();
        let mut successors: Vec<u32> = Vec::new();
        let mut frontier: VecDeque<(u32, Sys, Rc<Safety>, Reduction)> = VecDeque::new();
        frontier.push_back((0, self.init.clone(), self.safety.clone(), Reduction::default()));
        // Distinct fingerprints apart from the search nodes: only the partial-order
        // reduction keys a node by more than its state's fingerprint (`Reduction::key`);
        // without it the visited set is the set of distinct states.
        let keyed_by_context = b.reduce && b.por;
        let mut distinct: std::collections::HashSet<u64, BuildHasherDefault<Ident>> = Default::default();
        if keyed_by_context {
            distinct.insert(fingerprint(&self.init));
        }
        let mut census = Census::default();
        census.add(&self.init);
        let mut stats = Stats::default();
        let (mut pruned, mut unanswered_recovery) = (0u64, 0u64);
        let mut violation: Option<(u32, u32, Vec<Found>)> = None;
        let mut ending = Ending::Complete;
        let mut acts = Vec::new();
        let mut expanded = 0u64;
        let mut dead_dropped = 0u64;
        let mut pool: HashMap<u64, Rc<Node>, BuildHasherDefault<Ident>> = HashMap::default();
        let mut marks = BTreeMap::new();
        while let Some((i, sys, safety, red)) = if b.dfs { frontier.pop_back() } else { frontier.pop_front() } {
            let iu = i as usize;
            stats.depth = stats.depth.max(depth[iu]);
            if sys.finished(&self.env) {
                flags[iu] |= FINISHED;
                if b.stop_at_finish {
                    ending = Ending::FinishReached;
                    break;
                }
                continue;
            }
            flags[iu] |= EXPANDED;
            if flags[iu] & SETTLED != 0 {
                class.insert(i, schedule::stall(self.spec, &sys, &self.env).class);
            }
            sys.enabled(&self.env, self.choices(&sys), &mut acts);
            successors.clear();
            // Looking for a finish: deliveries first (the stack pops the last pushed).
            let order: Vec<usize> =
                if b.stop_at_finish { (0..acts.len()).rev().collect() } else { (0..acts.len()).collect() };
            for k in order {
                let act = &acts[k];
                let Some((mut next, sf, fx, found)) = self.reduced_successor(&red, &sys, &safety, *act, &mut marks)
                else {
                    continue;
                };
                dead_dropped += next.pruned - sys.pruned;
                stats.transitions += 1;
                if fx.max_view > b.max_view {
                    pruned += 1;
                    flags[iu] |= PAST_BOUND;
                    continue;
                }
                if fx.unanswered_recovery {
                    unanswered_recovery += 1;
                    flags[iu] |= ASKS_RECOVERY;
                }
                if !found.is_empty() {
                    violation = Some((i, k as u32, found));
                    break;
                }
                // Frontier memory: the replica the step wrote is replaced by the one copy
                // of an equal replica state seen before (a few hundred per replica), so a
                // queued state holds little more than its messages in flight. Equal is
                // judged by a 64-bit hash, like the visited set.
                match act.process() {
                    Some(p) => intern(&mut pool, &mut next, p.idx()),
                    None => (0..next.replicas.len()).for_each(|r| intern(&mut pool, &mut next, r)),
                }
                // A finished state is a leaf: it is never expanded, so what is still in
                // flight there reaches no step, no safety check and no stuck analysis
                // (a finished state is a root of "can finish" whatever its messages).
                // Finished states that differ only in their messages are therefore one
                // search node. Measured: about 55% of the states of the N = 4, max view 0
                // search were such leaves (docs/explore.md §4).
                let done = b.reduce && next.finished(&self.env);
                let fp = if done { leaf_fingerprint(&next) } else { fingerprint(&next) };
                if keyed_by_context && distinct.insert(fp) {
                    census.add(&next);
                }
                // A settled state (nothing in flight) is expanded in full: the stuck-state
                // analysis is exact there (module comment).
                let next_red = if next.bag.is_empty() || !(b.reduce && b.por) || done {
                    Reduction::default()
                } else {
                    Reduction::after(*act, &fx.sent, self.delayed())
                };
                let j = match visited.entry(next_red.key(fp)) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        if !keyed_by_context {
                            census.add(&next);
                        }
                        let j = parent.len() as u32;
                        e.insert(j);
                        parent.push((i, k as u32));
                        depth.push(depth[iu] + 1);
                        flags.push(if next.bag.is_empty() { SETTLED } else { 0 });
                        frontier.push_back((j, next, sf, next_red));
                        j
                    }
                };
                successors.push(j);
            }
            if violation.is_some() {
                ending = Ending::Violation;
                break;
            }
            edges.grow_to(parent.len());
            if !edges.set(i, &mut successors) {
                // Its edges are not kept: count it as never expanded (unknown, so able to
                // finish), or the stuck analysis would take it for a dead end.
                flags[iu] &= !EXPANDED;
                ending = Ending::MemoryBudget;
                break;
            }
            expanded += 1;
            let distinct_count = if keyed_by_context { distinct.len() } else { visited.len() };
            let sizes = (parent.len(), distinct_count, frontier.len());
            // The stuck analysis at the end builds the edges reversed (4 bytes per edge and
            // per state) and three marks per state: the memory budget keeps room for it.
            let reserve = 4 * (edges.len() + parent.len()) + 3 * parent.len();
            stats.replica_tuples = census.tuples.len() as u64;
            if let Some(e) = self.over_budget(&mut stats, sizes, start, expanded, reserve, progress) {
                ending = e;
                break;
            }
        }
        stats.states = parent.len() as u64;
        stats.distinct = if keyed_by_context { distinct.len() } else { visited.len() } as u64;
        stats.queue = frontier.len();
        stats.elapsed = start.elapsed();
        let finished = flags.iter().filter(|f| **f & FINISHED != 0).count() as u64;
        let n = parent.len();
        let table_bytes = visited.capacity() * 16 + distinct.capacity() * 8 + n * (8 + 4 + 1) + edges.bytes();
        let table_bytes_per_state = table_bytes as f64 / n.max(1) as f64;
        let local_states = census.local.iter().map(|l| l.len() as u64).collect();
        let replica_tuples = census.tuples.len() as u64;
        // What the analysis below does not read goes first: on a search stopped by the
        // memory budget the visited set alone is a quarter of the memory.
        drop((visited, distinct, frontier, pool, census));
        let violation = violation.map(|(i, k, found)| {
            let mut path = self.path_to(&parent, i);
            path.push(k);
            self.violation_found(&path, &found)
        });
        let (cannot_finish, stuck) = if violation.is_none() && ending != Ending::FinishReached {
            self.stuck(&parent, &depth, &flags, &class, edges)
        } else {
            (0, Vec::new())
        };
        Outcome {
            stats,
            ending,
            pruned,
            unanswered_recovery,
            finished,
            violation,
            cannot_finish,
            stuck,
            table_bytes_per_state,
            local_states,
            replica_tuples,
            dead_dropped,
            marks,
            shortest: None,
        }
    }

    /// Seeded random walks (`Bounds::walks`): stops at the first safety violation. The
    /// walks draw from one ChaCha8 stream seeded from the scenario seed under the label
    /// `dbft-sim/explore/walk/v1`, so a run is reproducible.
    pub fn walks(&self, progress: &mut dyn FnMut(&Stats)) -> Outcome {
        use rand_core::{Rng, SeedableRng};
        let start = Instant::now();
        let b = &self.bounds;
        let mut seed = blake3::Hasher::new();
        seed.update(b"dbft-sim/explore/walk/v1");
        seed.update(&self.spec.seed.to_le_bytes());
        let mut rng = rand_chacha::ChaCha8Rng::from_seed(*seed.finalize().as_bytes());
        let mut stats = Stats::default();
        let (mut pruned, mut finished, mut dead_dropped, mut unanswered_recovery) = (0u64, 0u64, 0u64, 0u64);
        let mut violation = None;
        let mut violation_steps: Option<ViolationFound> = None;
        let mut acts = Vec::new();
        let mut marks = BTreeMap::new();
        // Stuck states proven from walks' ends, per class: (count, shortest schedule, stall).
        let mut stuck: BTreeMap<StallClass, StuckFound> = BTreeMap::new();
        let mut tried: std::collections::HashSet<u64, BuildHasherDefault<Ident>> = Default::default();
        'walks: for w in 0..b.walks.unwrap_or(0) {
            let mut sys = self.init.clone();
            let mut safety = self.safety.clone();
            let mut path: Vec<u32> = Vec::new();
            // Loops are cut from the path as the walk goes: when a step returns to a state
            // the path already passed through, the path is cut back to that point (the
            // walk goes on from the same state), so a schedule written from it has no
            // detours. `trail[i]` is the state after `i` steps of the path.
            let mut trail: Vec<u64> = vec![fingerprint(&sys)];
            let mut on_path: HashMap<u64, usize, BuildHasherDefault<Ident>> = HashMap::default();
            on_path.insert(trail[0], 0);
            let mut taken = 0u32;
            while taken < b.walk_depth {
                if sys.finished(&self.env) {
                    finished += 1;
                    break;
                }
                sys.enabled(&self.env, self.choices(&sys), &mut acts);
                let mut choices: Vec<u32> = (0..acts.len() as u32).collect();
                let mut stepped = false;
                while !choices.is_empty() {
                    let c = (rng.next_u64() % choices.len() as u64) as usize;
                    let k = choices.swap_remove(c);
                    let (next, sf, fx, found) = self.successor(&sys, &safety, acts[k as usize], &mut marks);
                    stats.transitions += 1;
                    if fx.max_view > b.max_view {
                        pruned += 1;
                        continue;
                    }
                    unanswered_recovery += u64::from(fx.unanswered_recovery);
                    dead_dropped += next.pruned - sys.pruned;
                    path.push(k);
                    taken += 1;
                    if !found.is_empty() {
                        // Counted as a finished walk would be (the summary said "0 states,
                        // depth 0" when the first walk found it).
                        stats.states += taken as u64;
                        stats.depth = stats.depth.max(path.len() as u32);
                        violation = Some((path.clone(), found));
                        break 'walks;
                    }
                    let fp = fingerprint(&next);
                    match on_path.get(&fp) {
                        Some(&at) => {
                            path.truncate(at);
                            for f in trail.drain(at + 1..) {
                                on_path.remove(&f);
                            }
                        }
                        None => {
                            on_path.insert(fp, path.len());
                            trail.push(fp);
                        }
                    }
                    (sys, safety, stepped) = (next, sf, true);
                    break;
                }
                if !stepped {
                    break;
                }
            }
            stats.states += taken as u64;
            stats.depth = stats.depth.max(path.len() as u32);
            if b.walk_stuck_budget > 0
                && sys.bag.is_empty()
                && !sys.finished(&self.env)
                && tried.insert(fingerprint(&sys))
            {
                match self.search_from(&sys, &safety) {
                    Some(Ok(found)) => {
                        let (walk, _) = self.replay(&path);
                        for mut st in found {
                            st.steps = walk.iter().cloned().chain(st.steps).collect();
                            let kept = stuck.entry(st.class).or_insert_with(|| StuckFound {
                                count: 0,
                                past_bound: 0,
                                robust: None,
                                ..st.clone()
                            });
                            kept.count += st.count;
                            kept.past_bound += st.past_bound;
                            if st.steps.len() < kept.steps.len() {
                                (kept.steps, kept.stall) = (st.steps, st.stall);
                            }
                        }
                    }
                    Some(Err(v)) => {
                        let (walk, _) = self.replay(&path);
                        let steps = walk.into_iter().chain(v.steps).collect();
                        violation_steps = Some(ViolationFound { steps, ..v });
                        break 'walks;
                    }
                    None => {}
                }
            }
            if w % 256 == 255 {
                stats.elapsed = start.elapsed();
                progress(&stats);
                if b.max_time.is_some_and(|t| stats.elapsed >= t) {
                    break;
                }
            }
        }
        stats.elapsed = start.elapsed();
        let violation = violation.map(|(path, found)| self.violation_found(&path, &found)).or(violation_steps);
        let ending = if violation.is_some() { Ending::Violation } else { Ending::WalksDone };
        let stuck: Vec<StuckFound> = if violation.is_some() { Vec::new() } else { stuck.into_values().collect() };
        Outcome {
            stats,
            ending,
            pruned,
            unanswered_recovery,
            finished,
            violation,
            cannot_finish: stuck.iter().map(|s| s.count).sum(),
            stuck,
            table_bytes_per_state: 0.0,
            local_states: Vec::new(),
            replica_tuples: 0,
            dead_dropped,
            marks,
            shortest: None,
        }
    }

    /// The shortest stuck state within `shortest_stuck` = D steps, proven shortest where
    /// it can be. Breadth-first search gives shortest schedules directly, but its frontier
    /// holds whole states and runs out of memory a few steps short of a lock
    /// (docs/explore.md §4.2); this keeps only the search's tables. A depth-first search
    /// bounded to D steps visits every state within D steps at its least depth: a state
    /// reached again by a shorter path takes that path and is expanded again. Then each
    /// settled, unfinished state (a candidate), shallowest first, is searched on its own
    /// within `walk_stuck_budget` states: reaching a finished state proves it can finish; a
    /// complete search without one proves it stuck. Checking stops after the first depth
    /// that holds a proven stuck state. That depth is the shortest unless a shallower
    /// candidate's search ran out of budget ([`Shortest::undecided`]).
    pub fn shortest_stuck(&self, progress: &mut dyn FnMut(&Stats)) -> Outcome {
        let start = Instant::now();
        let b = &self.bounds;
        let limit = b.shortest_stuck.unwrap_or(0);
        let mut visited: HashMap<u64, u32, BuildHasherDefault<Ident>> = HashMap::default();
        visited.insert(fingerprint(&self.init), 0);
        let mut distinct: std::collections::HashSet<u64, BuildHasherDefault<Ident>> = Default::default();
        distinct.insert(fingerprint(&self.init));
        let mut parent: Vec<(u32, u32)> = vec![(u32::MAX, 0)];
        let mut depth: Vec<u32> = vec![0];
        let mut flags: Vec<u8> = vec![if self.init.bag.is_empty() { SETTLED } else { 0 }];
        let mut stack = vec![(0u32, self.init.clone(), self.safety.clone(), Reduction::default(), 0u32)];
        let (mut stats, mut pruned, mut dead_dropped, mut expanded) = (Stats::default(), 0u64, 0u64, 0u64);
        let mut unanswered_recovery = 0u64;
        let mut acts = Vec::new();
        let mut marks = BTreeMap::new();
        let mut violation: Option<(u32, u32, Vec<Found>)> = None;
        let mut ending = Ending::DepthDone;
        while let Some((i, sys, safety, red, d)) = stack.pop() {
            let iu = i as usize;
            // A shorter way here was found after this entry was pushed: it was expanded.
            if d > depth[iu] {
                continue;
            }
            if sys.finished(&self.env) {
                flags[iu] |= FINISHED;
                continue;
            }
            if d >= limit {
                continue;
            }
            flags[iu] |= EXPANDED;
            stats.depth = stats.depth.max(d);
            sys.enabled(&self.env, self.choices(&sys), &mut acts);
            for (k, act) in acts.iter().enumerate() {
                let Some((next, sf, fx, found)) = self.reduced_successor(&red, &sys, &safety, *act, &mut marks) else {
                    continue;
                };
                dead_dropped += next.pruned - sys.pruned;
                stats.transitions += 1;
                if fx.max_view > b.max_view {
                    pruned += 1;
                    continue;
                }
                unanswered_recovery += u64::from(fx.unanswered_recovery);
                if !found.is_empty() {
                    violation = Some((i, k as u32, found));
                    break;
                }
                let fp = fingerprint(&next);
                distinct.insert(fp);
                let next_red = if next.bag.is_empty() || !(b.reduce && b.por) {
                    Reduction::default()
                } else {
                    Reduction::after(*act, &fx.sent, self.delayed())
                };
                let nd = d + 1;
                match visited.entry(next_red.key(fp)) {
                    Entry::Occupied(e) => {
                        let j = *e.get() as usize;
                        if nd < depth[j] {
                            (depth[j], parent[j]) = (nd, (i, k as u32));
                            stack.push((j as u32, next, sf, next_red, nd));
                        }
                    }
                    Entry::Vacant(e) => {
                        let j = parent.len() as u32;
                        e.insert(j);
                        parent.push((i, k as u32));
                        depth.push(nd);
                        flags.push(if next.bag.is_empty() { SETTLED } else { 0 });
                        stack.push((j, next, sf, next_red, nd));
                    }
                }
            }
            if violation.is_some() {
                ending = Ending::Violation;
                break;
            }
            expanded += 1;
            let sizes = (parent.len(), distinct.len(), stack.len());
            if let Some(e) = self.over_budget(&mut stats, sizes, start, expanded, 0, progress) {
                ending = e;
                break;
            }
        }
        drop(stack);
        drop(visited);
        stats.states = parent.len() as u64;
        stats.distinct = distinct.len() as u64;
        let finished = flags.iter().filter(|f| **f & FINISHED != 0).count() as u64;
        let mut violation = violation.map(|(i, k, found)| {
            let mut path = self.path_to(&parent, i);
            path.push(k);
            self.violation_found(&path, &found)
        });
        // The candidates, shallowest first; each is checked only after the enumeration,
        // when its depth is final.
        let mut candidates: Vec<u32> = (0..parent.len() as u32)
            .filter(|&i| flags[i as usize] & SETTLED != 0 && flags[i as usize] & FINISHED == 0)
            .collect();
        candidates.sort_by_key(|&i| (depth[i as usize], i));
        let mut shortest = Shortest::default();
        let mut groups: BTreeMap<StallClass, StuckFound> = BTreeMap::new();
        let mut undecided_at: BTreeMap<u32, u64> = BTreeMap::new();
        let sub_bounds = Bounds {
            dfs: true,
            walks: None,
            shortest_stuck: None,
            stop_at_finish: true,
            max_states: b.walk_stuck_budget,
            max_time: None,
            ..b.clone()
        };
        for (n, &c) in candidates.iter().enumerate() {
            if violation.is_some() || ending != Ending::DepthDone {
                break;
            }
            let dc = depth[c as usize];
            if shortest.depth.is_some_and(|found| dc > found) {
                break;
            }
            let (steps, sys, safety) = self.replay_full(&self.path_to(&parent, c));
            let stall = schedule::stall(self.spec, &sys, &self.env);
            if b.stuck_class.is_some_and(|want| stall.class != want) {
                continue;
            }
            let out = self.started_at(&sys, safety, sub_bounds.clone()).run(&mut |_| {});
            match (out.violation, out.ending) {
                (Some(v), _) => {
                    violation = Some(ViolationFound { steps: steps.into_iter().chain(v.steps).collect(), ..v })
                }
                (None, Ending::FinishReached) => shortest.can_finish += 1,
                (None, Ending::Complete) => {
                    shortest.depth = Some(dc);
                    let g = groups.entry(stall.class).or_insert_with(|| StuckFound {
                        class: stall.class,
                        count: 0,
                        past_bound: 0,
                        asks_recovery: 0,
                        stall: stall.clone(),
                        steps,
                        robust: None,
                    });
                    g.count += 1;
                    // Its own search saw every state reachable from it.
                    g.past_bound += u64::from(out.pruned > 0);
                    g.asks_recovery += u64::from(out.unanswered_recovery > 0);
                }
                _ => *undecided_at.entry(dc).or_insert(0) += 1,
            }
            if n % 64 == 63 {
                stats.elapsed = start.elapsed();
                progress(&stats);
            }
        }
        shortest.undecided =
            undecided_at.iter().filter(|(d, _)| shortest.depth.is_none_or(|f| **d < f)).map(|(_, n)| n).sum();
        if violation.is_none() && ending != Ending::DepthDone {
            shortest.unchecked = candidates.len() as u64;
        }
        if violation.is_some() {
            ending = Ending::Violation;
        }
        stats.elapsed = start.elapsed();
        let stuck: Vec<StuckFound> = if violation.is_some() { Vec::new() } else { groups.into_values().collect() };
        let n = parent.len();
        Outcome {
            stats,
            ending,
            pruned,
            unanswered_recovery,
            finished,
            violation,
            cannot_finish: stuck.iter().map(|s| s.count).sum(),
            stuck,
            table_bytes_per_state: (distinct.capacity() * 8 + n * (8 + 4 + 1)) as f64 / n.max(1) as f64,
            local_states: Vec::new(),
            replica_tuples: 0,
            dead_dropped,
            marks,
            shortest: Some(shortest),
        }
    }

    /// The same explorer started at `sys` (its checker `safety`) under `bounds`: the
    /// searches run from a candidate or a walk's end. Its schedules start at `sys`; the
    /// caller prefixes the steps that led there.
    fn started_at(&self, sys: &Sys, safety: Rc<Safety>, bounds: Bounds) -> Explorer<'a> {
        Explorer {
            spec: self.spec,
            env: self.env.clone(),
            init: sys.clone(),
            safety,
            bounds,
            forgets: self.forgets,
            prefix: Vec::new(),
            skipped: 0,
        }
    }

    /// A complete depth-first search from `sys` (a walk's settled end) within
    /// `walk_stuck_budget` states: Ok with the settled stuck states it proves (schedules
    /// from `sys`; empty if every one can finish), Err with a violation it reached, None
    /// if the budget ran out first (nothing proven).
    fn search_from(&self, sys: &Sys, safety: &Rc<Safety>) -> Option<Result<Vec<StuckFound>, ViolationFound>> {
        let bounds = Bounds {
            dfs: true,
            walks: None,
            max_states: self.bounds.walk_stuck_budget,
            max_time: None,
            ..self.bounds.clone()
        };
        let out = self.started_at(sys, safety.clone(), bounds).run(&mut |_| {});
        match (out.violation, out.ending) {
            (Some(v), _) => Some(Err(v)),
            (None, Ending::Complete) => Some(Ok(out.stuck)),
            _ => None,
        }
    }

    /// One step from `sys`, whose safety checker is `safety`: the successor, its checker
    /// (copied only if the step wrote it), the step's effects and the violations it showed.
    /// The successor by `act`, or None where the partial-order reduction (when on) skips
    /// the step after the one that led to `sys` ([`Reduction::allows`]); a step it keeps
    /// only if it re-sends the consumed message is run first, and counts its marks only
    /// if kept.
    #[allow(clippy::type_complexity)]
    fn reduced_successor(
        &self,
        red: &Reduction,
        sys: &Sys,
        safety: &Rc<Safety>,
        act: Act,
        marks: &mut BTreeMap<&'static str, u64>,
    ) -> Option<(Sys, Rc<Safety>, super::model::Effects, Vec<Found>)> {
        let b = &self.bounds;
        match if b.reduce && b.por { red.allows(act, self.delayed()) } else { Allow::Yes } {
            Allow::Yes => Some(self.successor(sys, safety, act, marks)),
            Allow::No => None,
            Allow::IfResends(k) => {
                let mut own = BTreeMap::new();
                let step = self.successor(sys, safety, act, &mut own);
                if !step.2.sent.contains(&k) {
                    return None;
                }
                for (name, n) in own {
                    *marks.entry(name).or_insert(0) += n;
                }
                Some(step)
            }
        }
    }

    fn successor(
        &self,
        sys: &Sys,
        safety: &Rc<Safety>,
        act: Act,
        marks: &mut BTreeMap<&'static str, u64>,
    ) -> (Sys, Rc<Safety>, super::model::Effects, Vec<Found>) {
        let mut next = sys.clone();
        let mut sf = safety.clone();
        let mut judge = Judge { safety: &mut sf, found: Vec::new() };
        let fx = next.apply(&self.env, act, &mut judge, Some(marks));
        let found = judge.found;
        (next, sf, fx, found)
    }

    /// Which budget ended the search, if one did: after every expanded state for the
    /// state budget; every 2,048 expanded states, and every 2,048 new states (after
    /// reporting progress), for time and memory — at N = 100 one expansion adds hundreds
    /// of states, and counting expansions alone let a 3-second search run 22 s and take
    /// 7 GB. `sizes` are the current states, distinct states and queue, written into
    /// `stats`.
    fn over_budget(
        &self,
        stats: &mut Stats,
        (states, distinct, queue): (usize, usize, usize),
        start: Instant,
        expanded: u64,
        reserve: usize,
        progress: &mut dyn FnMut(&Stats),
    ) -> Option<Ending> {
        let crossed = states as u64 / 2048 != stats.states / 2048;
        (stats.states, stats.distinct, stats.queue) = (states as u64, distinct as u64, queue);
        let b = &self.bounds;
        if expanded.is_multiple_of(2048) || crossed {
            stats.elapsed = start.elapsed();
            progress(stats);
            if b.max_time.is_some_and(|t| stats.elapsed >= t) {
                return Some(Ending::TimeBudget);
            }
            if b.max_memory.is_some_and(|m| current_rss().is_some_and(|r| r.saturating_add(reserve as u64) > m)) {
                return Some(Ending::MemoryBudget);
            }
        }
        (stats.states >= b.max_states).then_some(Ending::StateBudget)
    }

    /// The schedule of a violation reached by the action indices of `path`.
    fn violation_found(&self, path: &[u32], found: &[Found]) -> ViolationFound {
        let (steps, _) = self.replay(path);
        let mut ids: Vec<InvariantId> = found.iter().map(|f| f.id).collect();
        ids.sort();
        ids.dedup();
        let detail = found.iter().map(|f| format!("{}: {}", f.id, f.detail)).collect::<Vec<_>>().join("; ");
        ViolationFound { ids, detail, steps }
    }

    /// States that cannot finish, and the settled ones among them grouped by stall class.
    fn stuck(
        &self,
        parent: &[(u32, u32)],
        depth: &[u32],
        flags: &[u8],
        class: &BTreeMap<u32, StallClass>,
        edges: Edges,
    ) -> (u64, Vec<StuckFound>) {
        let n = parent.len();
        let back = edges.reverse(n);
        // The states from which a state whose flags match `root` can be reached: backwards
        // over the edges from those states.
        let reaching = |root: &dyn Fn(u8) -> bool| back.reaching(|i| root(flags[i]));
        // Finished states, and states never expanded (unknown, so assumed able to finish).
        let can = reaching(&|f| f & FINISHED != 0 || f & EXPANDED == 0);
        // Exact only for settled states (expanded without reduction): count those.
        let cannot = (0..n).filter(|&i| !can[i] && flags[i] & SETTLED != 0 && flags[i] & EXPANDED != 0).count() as u64;
        // Where a step past the view bound was cut, or an unanswered recovery asked for.
        let past = reaching(&|f| f & PAST_BOUND != 0);
        let asks = reaching(&|f| f & ASKS_RECOVERY != 0);
        // Per class: how many settled stuck states, how many of them reach the view bound
        // and an unanswered recovery request, and the shallowest.
        let stuck = group_stuck(class, &can, &past, &asks, depth)
            .into_iter()
            .map(|(class, Group { count, past_bound, asks_recovery, shallowest: i, robust_count, robust_at })| {
                let (steps, sys) = self.replay(&self.path_to(parent, i));
                let stall = schedule::stall(self.spec, &sys, &self.env);
                let shallowest = robust_at.filter(|&r| r != i).map(|r| {
                    let (steps, sys) = self.replay(&self.path_to(parent, r));
                    (schedule::stall(self.spec, &sys, &self.env), steps)
                });
                let robust = Some(Robust { count: robust_count, shallowest });
                StuckFound { class, count, past_bound, asks_recovery, stall, steps, robust }
            })
            .collect();
        (cannot, stuck)
    }

    /// The action indices from the initial state to state `i`.
    fn path_to(&self, parent: &[(u32, u32)], mut i: u32) -> Vec<u32> {
        let mut path = Vec::new();
        while parent[i as usize].0 != u32::MAX {
            let (p, k) = parent[i as usize];
            path.push(k);
            i = p;
        }
        path.reverse();
        path
    }

    /// Takes the steps of `path` (action indices) from the initial state: the schedule as
    /// data, and the state it ends in.
    fn replay(&self, path: &[u32]) -> (Vec<Step>, Sys) {
        let (steps, sys, _) = self.replay_full(path);
        (steps, sys)
    }

    /// [`Explorer::replay`], with the safety checker as the path leaves it.
    fn replay_full(&self, path: &[u32]) -> (Vec<Step>, Sys, Rc<Safety>) {
        let mut sys = self.init.clone();
        let mut safety = self.safety.clone();
        let mut acts = Vec::new();
        let mut steps = Vec::with_capacity(self.prefix.len() + path.len());
        steps.extend(self.prefix.iter().cloned());
        for &k in path {
            sys.enabled(&self.env, self.choices(&sys), &mut acts);
            let Some(&act) = acts.get(k as usize) else { break };
            steps.push(sys.describe(act));
            let mut judge = Judge { safety: &mut safety, found: Vec::new() };
            sys.apply(&self.env, act, &mut judge, None);
        }
        (steps, sys, safety)
    }
}

/// What a replay of a scheduled scenario on the untimed system shows about the
/// schedule itself (shrinking keeps both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replay {
    /// Nothing live is in flight at the end: a settled state of the search.
    pub settled: bool,
    /// Every timer step was taken with nothing live in flight (the `--synchrony` bound).
    pub synchronous: bool,
    /// Every timer step was also one of those due first (the `--deadlines` order; every
    /// adversary timer counted, however many ticks it took), with nothing in flight that
    /// had to arrive before it (under the replay's delay bound; with none, nothing in
    /// flight at all).
    pub timely: bool,
}

/// Replays `spec.schedule` on the untimed system as the search models it (its recovery
/// bound, dead messages dropped as it drops them, dead state forgotten where it forgets
/// it), without checkers. None if a step was not possible.
pub fn replay_of(spec: &RunSpec, b: &Bounds) -> Option<Replay> {
    let delay = if b.deadlines { b.max_delay.unwrap_or(0) } else { 0 };
    replay_with(spec, b.recovery, b.prune, b.forget, delay, None)
}

/// [`replay_of`] for a replay judged outside a search: with or without recovery
/// delivered, dead messages dropped or not, `timely` judged under a delay bound
/// (µs, 0: none); `marks` counts the coverage marks emitted.
///
/// With `forget` (and pruning), messages are judged dead as a search that forgets dead
/// state judges them ([`Sys::forget_dead`], where it applies: recovery off, every
/// process honest): a message that writes only what no later step reads is dead too.
/// Without it, a stuck state the search found with nothing in flight replayed with such
/// messages still "in flight" and looked unsettled, and a shrink comparing settledness
/// compared nothing. A delivery of a message this replay has dropped as dead (a
/// schedule written without pruning or forgetting) is skipped: a no-op for its
/// recipient.
pub fn replay_with(
    spec: &RunSpec,
    recovery: bool,
    prune: crate::explore::model::Prune,
    forget: bool,
    max_delay: u64,
    mut marks: Option<&mut BTreeMap<&'static str, u64>>,
) -> Option<Replay> {
    struct Null;
    impl Observer for Null {
        fn observe(&mut self, _: &Rec) -> Option<Halt> {
            None
        }
    }
    let (mut env, replicas, _) = schedule::setup(spec, spec.seed, false).ok()?;
    env.recovery = recovery;
    // Deadlines kept: they change no step's records, only what `timely` can judge.
    env.deadlines = true;
    env.max_delay = max_delay;
    let (mut sys, _) = Sys::start(&env, replicas, &schedule::initial_txs(spec), &mut Null, None);
    // The same steps on a copy that keeps every message (as `start_after_schedule`
    // does): a delivery of a message this model has dropped as dead is skipped, so a
    // schedule written without pruning or forgetting still replays.
    let mut shadow = sys.clone();
    sys.set_prune(&env, prune);
    if forget && prune != Prune::Off {
        let restarts: Vec<bool> = spec
            .schedule
            .iter()
            .filter_map(|s| if let Step::Restart { amnesia, .. } = s { Some(*amnesia) } else { None })
            .collect();
        if !restarts.is_empty() {
            sys.allow_restarts(restarts.iter().any(|a| *a));
        }
        sys.forget_dead(&env);
    }
    let (mut synchronous, mut timely) = (true, true);
    for step in &spec.schedule {
        let act = match sys.resolve_with_shadow(&mut shadow, &env, step, &mut Null) {
            Ok(Some(act)) => act,
            // Delivering or losing a message this replay dropped as dead: a no-op.
            Ok(None) if prune != Prune::Off => continue,
            _ => return None,
        };
        let due = match act {
            Act::Timer(n) => Some(sys.due[n.idx()]),
            Act::AdversaryTimer(n) => Some(sys.adversary_due[n.idx()]),
            _ => None,
        };
        if let Some(due) = due {
            synchronous &= sys.bag.is_empty();
            let waited = if max_delay > 0 { sys.bag.values().all(|p| p.left >= due) } else { sys.bag.is_empty() };
            timely &= waited && sys.earliest(&env, u32::MAX).is_none_or(|first| due <= first);
        }
        sys.apply(&env, act, &mut Null, marks.as_deref_mut());
        shadow.apply(&env, act, &mut Null, None);
    }
    Some(Replay { settled: sys.bag.is_empty(), synchronous, timely })
}

/// Peak resident memory of this process in bytes (Linux; None elsewhere).
pub fn peak_rss() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// Current resident memory of this process in bytes (Linux; None elsewhere).
pub fn current_rss() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
impl Explorer<'_> {
    /// A plain breadth-first search (no partial-order reduction, no merged leaves;
    /// finished states are not expanded, as in the search) that tells states apart by
    /// `key` and calls `visit` on each new one with its own checker (the checker of the
    /// path that first reached it: a second height is judged against the first). It must
    /// meet no violation.
    fn plain_bfs(&self, key: &dyn Fn(&Sys) -> u64, visit: &mut dyn FnMut(&Sys, &Rc<Safety>)) {
        let mut seen: std::collections::HashSet<u64> = Default::default();
        seen.insert(key(&self.init));
        visit(&self.init, &self.safety);
        let mut queue = VecDeque::from([(self.init.clone(), self.safety.clone())]);
        let mut acts = Vec::new();
        while let Some((sys, safety)) = queue.pop_front() {
            if sys.finished(&self.env) {
                continue;
            }
            sys.enabled(&self.env, self.choices(&sys), &mut acts);
            for act in &acts {
                let (next, sf, fx, found) = self.successor(&sys, &safety, *act, &mut BTreeMap::new());
                assert!(found.is_empty(), "{found:?}");
                if fx.max_view <= self.bounds.max_view && seen.insert(key(&next)) {
                    visit(&next, &sf);
                    queue.push_back((next, sf));
                }
            }
        }
    }

    /// Every state reachable within the bounds ([`Self::plain_bfs`] by fingerprint), each
    /// mapped by `project`.
    pub(super) fn reachable(&self, project: &dyn Fn(&Sys, &Env) -> u64) -> std::collections::BTreeSet<u64> {
        let mut out = std::collections::BTreeSet::new();
        self.plain_bfs(&fingerprint, &mut |sys, _| {
            out.insert(project(sys, &self.env));
        });
        out
    }

    /// The start of this explorer's search, its safety checker there, and its fixed
    /// environment (for tests that drive the system by hand).
    pub(super) fn start(&self) -> (&Sys, &Rc<Safety>, &Env) {
        (&self.init, &self.safety, &self.env)
    }

    /// One step by hand, judged by the checker: the next state and checker.
    pub(super) fn step(&self, sys: &Sys, safety: &Rc<Safety>, act: Act) -> (Sys, Rc<Safety>) {
        let (next, sf, _, found) = self.successor(sys, safety, act, &mut BTreeMap::new());
        assert!(found.is_empty(), "{found:?}");
        (next, sf)
    }

    /// One step on from two states with one fingerprint: both must offer the same steps,
    /// and each step must take both to states that fingerprint alike, with the same view
    /// reached and no violation. The successors (of `x`, of `y`, `x`'s checker, the view).
    fn step_merged(&self, x: &Sys, y: &Sys, safety: &Rc<Safety>) -> Vec<(Sys, Sys, Rc<Safety>, u8)> {
        let (mut acts, mut theirs, mut marks) = (Vec::new(), Vec::new(), BTreeMap::new());
        x.enabled(&self.env, self.choices(x), &mut acts);
        y.enabled(&self.env, self.choices(y), &mut theirs);
        assert_eq!(acts, theirs, "merged states offer different steps");
        acts.iter()
            .map(|a| {
                let (x2, sf, fx_x, found_x) = self.successor(x, safety, *a, &mut marks);
                let (y2, _, fx_y, found_y) = self.successor(y, safety, *a, &mut marks);
                assert!(found_x.is_empty() && found_y.is_empty(), "{found_x:?} {found_y:?}");
                assert_eq!(fx_x.max_view, fx_y.max_view, "{a:?}");
                assert_eq!(fingerprint(&x2), fingerprint(&y2), "merged states part after {a:?}");
                (x2, y2, sf, fx_x.max_view)
            })
            .collect()
    }

    /// Checks that two states with one fingerprint are bisimilar as far as `limit` pairs:
    /// a breadth-first search over pairs of states, from (`x`, `y`), where both must
    /// offer the same steps and every step must take both to states that fingerprint
    /// alike, with the same view reached and no violation. Returns the pairs checked.
    /// `safety` is the checker as the path to `x` left it (the same serves `y`: the pair
    /// differs only in what the checkers have already judged).
    pub(super) fn check_pair(&self, x: &Sys, y: &Sys, safety: &Rc<Safety>, limit: usize) -> usize {
        self.check_pair_visiting(x, y, safety, limit, &mut |_| {})
    }

    /// [`Self::check_pair`], calling `visit` on the first state of each pair checked (so a
    /// test can say how far the pairs went).
    pub(super) fn check_pair_visiting(
        &self,
        x: &Sys,
        y: &Sys,
        safety: &Rc<Safety>,
        limit: usize,
        visit: &mut dyn FnMut(&Sys),
    ) -> usize {
        assert_eq!(fingerprint(x), fingerprint(y), "the pair does not merge to begin with");
        let mut seen: std::collections::HashSet<u64> = Default::default();
        let mut queue = VecDeque::from([(x.clone(), y.clone(), safety.clone())]);
        let mut checked = 0;
        while let Some((x, y, safety)) = queue.pop_front() {
            if checked == limit {
                break;
            }
            checked += 1;
            visit(&x);
            if x.finished(&self.env) {
                continue;
            }
            for (x2, y2, sf, max_view) in self.step_merged(&x, &y, &safety) {
                if max_view <= self.bounds.max_view && seen.insert(fingerprint(&x2)) {
                    queue.push_back((x2, y2, sf));
                }
            }
        }
        checked
    }

    /// Checks that what the fingerprint forgets never matters, by a breadth-first search
    /// that tells states apart in full (every replica's whole state, the messages in
    /// flight) while keeping, per fingerprint, the first state seen with it. Every other
    /// state with that fingerprint must offer the same steps as that one, and each step
    /// must take both to states that fingerprint alike, with the same view reached and
    /// no invariant broken. Since every state reached is compared with the one kept for
    /// its fingerprint, passing makes "equal fingerprints" a bisimulation on the
    /// reachable states: merging them loses no state, step or violation. Returns how many
    /// states were compared with a different one.
    pub(super) fn check_merges(&self) -> u64 {
        let full = |sys: &Sys| {
            let replicas: Vec<u64> = sys.replicas.iter().map(|r| super::fingerprint::of(&**r)).collect();
            super::fingerprint::of(&(replicas, fingerprint(sys)))
        };
        let mut reps: HashMap<u64, Sys> = HashMap::new();
        let mut checked = 0;
        self.plain_bfs(&full, &mut |sys, safety| {
            let Some(rep) = reps.get(&fingerprint(sys)) else {
                reps.insert(fingerprint(sys), sys.clone());
                return;
            };
            if sys.finished(&self.env) {
                return;
            }
            checked += 1;
            self.step_merged(sys, rep, safety);
        });
        checked
    }
}
