//! Invariant checkers: what must never happen, judged from the run's events.
//!
//! Every checker is fed the same [`Rec`] stream the digest hashes — persisted blocks,
//! signed commits, timings — never replica internals, so a replica bug cannot hide from
//! its own oracle. Each invariant has a stable id used in reports and in scenario `expect`
//! blocks:
//!
//! | id | invariant |
//! |----|-----------|
//! | S1 | single-block finality: no two honest replicas persist different blocks at one height |
//! | S2 | no revert: a persisted height is never replaced on an honest replica |
//! | S3 | certificate: ≥ M valid commit signatures from one view and from the set declared for the height; the block tree across all replicas is a single path |
//! | S4 | no honest double-sign: an honest replica signs Commit for one block per height, across restarts |
//! | S5 | set custody: every final block carries ≥ M valid signatures of the set the chain itself assigns to its height (and, under the double-quorum rule, of the set before a hand-off), and names the set the chain's changes and the rule give for the next height — by the checkers' own model |
//! | S6 | accountability: a fork is signed by ≥ F+1 keys that signed both sides (else "unaccountable"); a fork signed by two different sets says so |
//! | L1 | liveness: after GST every height is final within the bound (time and views) |
//! | L2 | hand-off liveness: after each hand-off the new set finalises its first height within the bound |
//!
//! Deliberately left out: validity of transactions (all are valid in this model) and
//! censorship; the stall diagnosis (`diagnosis.rs`) explains a stall but is not an
//! invariant.

pub mod custody_model;
pub mod diagnosis;
pub mod handoffs;
pub mod liveness;
pub mod safety;

#[cfg(test)]
mod tests;

use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Halt, Observer, Rec, RecentRecords};
use crate::protocol::NodeId;
use crate::protocol::Note;
use crate::protocol::block::Block;
use crate::protocol::crypto::{Hash32, Keyring};
use custody_model::ScheduleSpec;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

crate::names::named_enum! {
    /// The invariants, in report order (see the table above).
    pub enum InvariantId {
        S1 = "S1",
        S2 = "S2",
        S3 = "S3",
        S4 = "S4",
        S5 = "S5",
        S6 = "S6",
        L1 = "L1",
        L2 = "L2",
    }
}

impl InvariantId {
    /// The invariant's short name in reports.
    pub fn title(self) -> &'static str {
        match self {
            InvariantId::S1 => "single-block finality",
            InvariantId::S2 => "no revert",
            InvariantId::S3 => "certificate and single chain",
            InvariantId::S4 => "no honest double-sign",
            InvariantId::S5 => "set custody",
            InvariantId::S6 => "accountability",
            InvariantId::L1 => "bounded liveness after GST",
            InvariantId::L2 => "hand-off liveness",
        }
    }

    /// `ids` as text, separated by `sep` (for messages and summaries).
    pub fn join(ids: &[InvariantId], sep: &str) -> String {
        ids.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(sep)
    }

    /// Safety invariants (S*) as opposed to liveness ones (L*).
    pub fn is_safety(self) -> bool {
        self < InvariantId::L1
    }
}

crate::names::named_enum! {
    /// An invariant's verdict for a run.
    pub enum InvariantStatus {
        Holds = "holds",
        Violated = "violated",
        /// L1 without a GST: there is no bound to check.
        NotChecked = "not-checked",
    }
}

/// How many recent events a violation report carries.
pub const WINDOW: usize = 24;

/// One violated invariant, with what a reader needs to find out why.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub id: InvariantId,
    pub step: u64,
    #[serde(serialize_with = "ser_ms")]
    pub time: SimTime,
    pub height: u32,
    pub nodes: Vec<NodeId>,
    /// The same nodes by name.
    pub node_names: Vec<String>,
    pub blocks: Vec<Hash32>,
    pub detail: String,
    /// The last events before the violation, oldest first.
    pub window: Vec<Rec>,
}

fn ser_ms<S: serde::Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(t.as_ms_f64())
}

/// What the checkers need to know about the run that is not in the event stream.
#[derive(Clone)]
pub struct CheckContext {
    /// Honest nodes are the ones invariants speak for.
    pub honest: Vec<bool>,
    /// Node names, for violation details.
    pub names: Vec<String>,
    pub keys: Rc<Keyring>,
    /// What the checkers' own validator-schedule model starts from (S5, S6, L2).
    pub schedule: ScheduleSpec,
    pub genesis: Hash32,
    /// The chain final before the run (heights 1 … start − 1, `protocol::prefix`): every
    /// checker starts from it as every replica does.
    pub prefix: Vec<Rc<Block>>,
    pub gst: Option<SimTime>,
    pub bound: SimTime,
    pub max_views: u8,
    /// Stop the run at the first violation.
    pub halt_on_violation: bool,
}

/// All checkers as one observer.
pub struct Checkers {
    pub safety: safety::Safety,
    pub liveness: liveness::Liveness,
    pub handoffs: handoffs::Handoffs,
    window: Window,
    pub violations: Vec<Violation>,
    halt: bool,
    names: Vec<String>,
}

impl Checkers {
    pub fn new(cx: CheckContext) -> Checkers {
        let halt = cx.halt_on_violation;
        let names = cx.names.clone();
        Checkers {
            names,
            liveness: liveness::Liveness::new(&cx),
            handoffs: handoffs::Handoffs::new(&cx),
            safety: safety::Safety::new(cx),
            window: Window::default(),
            violations: Vec::new(),
            halt,
        }
    }

    /// The verdict on invariant `id` (L1 is not checked without GST).
    pub fn status(&self, id: InvariantId) -> InvariantStatus {
        if self.violations.iter().any(|v| v.id == id) {
            InvariantStatus::Violated
        } else if id == InvariantId::L1 && !self.liveness.enabled() {
            InvariantStatus::NotChecked
        } else {
            InvariantStatus::Holds
        }
    }

    /// Final checks at the end of the run (L1's and L2's open heights).
    pub fn finish(&mut self, end: SimTime, step: u64) {
        let mut found = self.liveness.finish(end);
        found.extend(self.handoffs.finish(end, &self.safety.model));
        self.record(found, step, end);
    }

    /// Lets the engine keep the window (see [`Window`]): hand the result to
    /// `Engine::keep_recent` before the run.
    pub fn share_window(&mut self) -> Rc<RefCell<RecentRecords>> {
        let shared = Rc::new(RefCell::new(RecentRecords::new(WINDOW)));
        self.window = Window { shared: Some(shared.clone()), ..Window::default() };
        shared
    }

    fn record(&mut self, found: Vec<safety::Found>, step: u64, time: SimTime) -> bool {
        let any = !found.is_empty();
        for f in found {
            self.violations.push(Violation {
                id: f.id,
                step,
                time,
                height: f.height,
                node_names: f.nodes.iter().map(|n| self.names.get(n.idx()).cloned().unwrap_or_default()).collect(),
                nodes: f.nodes,
                blocks: f.blocks,
                detail: f.detail,
                window: self.window.in_order(),
            });
        }
        any
    }
}

impl Observer for Checkers {
    #[inline(always)]
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        self.window.remember(rec);
        // Only these events can change a checker's state or verdict (safety: persists,
        // signed commits, amnesic restarts; liveness: persists, amnesic restarts; hand-offs:
        // persists and restarts). Every other record — almost all of them are sends and
        // deliveries — goes only into the window, without building and dropping three
        // empty verdict lists.
        if !matches!(rec.ev, Ev::Persist { .. } | Ev::Restart { .. } | Ev::Note { note: Note::CommitSigned { .. }, .. })
        {
            return None;
        }
        let mut found = self.safety.observe(rec);
        found.extend(self.liveness.observe(rec));
        if matches!(rec.ev, Ev::Persist { .. } | Ev::Restart { .. }) {
            found.extend(self.handoffs.observe(rec, &self.safety.model));
        }
        if self.record(found, rec.step, rec.time) && self.halt {
            let v = &self.violations[self.violations.len() - 1];
            return Some(Halt(format!("{} violated at height {}: {}", v.id, v.height, v.detail)));
        }
        None
    }
}

/// The last [`WINDOW`] records, for violation reports. Kept one of two ways:
///
/// - **Shared** (`world::run`): the engine moves every record into a [`RecentRecords`] the
///   checkers share ([`Checkers::share_window`]) and the observers see it there. No copy
///   per event; a violation found while observing record r reads the last `WINDOW`
///   records, r included, from there.
/// - **Own** (any other driver of the checkers): a ring whose slots are overwritten in place
///   (`clone_from`), so a record costs one clone and no queue shuffling.
///
/// Both give the same window: the last `WINDOW` records up to and including the one being
/// observed (at the end of a run, the last `WINDOW` records).
#[derive(Default)]
struct Window {
    recs: Vec<Rec>,
    /// The slot the next record overwrites once the ring is full (= the oldest record).
    next: usize,
    shared: Option<Rc<RefCell<RecentRecords>>>,
}

impl Window {
    fn remember(&mut self, rec: &Rec) {
        if self.shared.is_some() {
            return;
        }
        if self.recs.len() < WINDOW {
            self.recs.push(rec.clone());
        } else {
            self.recs[self.next].clone_from(rec);
            self.next = (self.next + 1) % WINDOW;
        }
    }

    /// The remembered records, oldest first.
    fn in_order(&self) -> Vec<Rec> {
        if let Some(shared) = &self.shared {
            return shared.borrow().last(WINDOW);
        }
        let (newer, older) = self.recs.split_at(self.next);
        older.iter().chain(newer).cloned().collect()
    }
}
