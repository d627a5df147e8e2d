//! The seam between the engine and nondeterminism: a [`Driver`] takes every choice the
//! engine does not take itself.
//!
//! Two kinds of choice remain once replicas are pure state machines:
//!
//! - **the fate of each copy of a sent message** ([`Driver::route`]): delivered at a time
//!   (maybe twice), dropped with a reason, held until another node sends something, or
//!   left in flight until an explicit step names it ([`Choice`]);
//! - **what happens next** ([`Driver::next`]): the earliest entry of the engine's agenda
//!   (a timed delivery, a timer expiry, a scripted crash, restart or forced timer), or an
//!   explicit step of `explore/step.rs` — deliver m, drop m, fire n's timer, crash n,
//!   restart n with or without amnesia.
//!
//! Three drivers implement it, each a plain struct, so the engine is monomorphised per
//! driver and a choice costs a direct (inlined) call, never a virtual one:
//!
//! - [`Random`]: the seeded random network of `net/` — every copy's fate drawn from the
//!   network's ChaCha stream at the send, the agenda in (time, sequence) order;
//! - [`Scripted`]: the scenario's message rules (`net/rules.rs`) layered on [`Random`]; the
//!   world puts its forced timers, held-delivery releases and timed crashes on the agenda;
//! - [`Schedule`]: replays an explicit list of [`Step`]s (a scenario's `schedule`, as the
//!   explorer writes counterexamples) in the untimed model of `explore/model.rs`: nothing
//!   is delivered unless a step says so, time stays zero, timers fire only when a step
//!   fires them.
//!
//! Each timed choice corresponds to a step of that vocabulary: a delivery popped from the
//! agenda is `deliver m`, a drop decided at the send is `drop m`, an expiry or a forced
//! timer is `timer n`, a scripted crash or restart is `crash n` / `restart n` ([`Step`]
//! names messages by content hash, which a timed run records too). The timed drivers do
//! not write their choices out as steps; only the explorer writes schedules.

use crate::explore::step::Step;
use crate::net::rules::{RuleSet, RuleStats, Verdict};
use crate::net::{DropReason, Fate, Network};
use crate::protocol::{MsgKind, MsgMeta, NodeId};

use super::time::SimTime;

/// What a driver decides for one copy of a message, `from` → `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Delivered (at a time, maybe with a duplicate) or dropped with a reason, as decided now.
    Now(Fate),
    /// Parked until `node` sends a message of `kind` (any type if None), and delivered no
    /// earlier than `at` (a scripted rule).
    HeldUntilSent { node: NodeId, kind: Option<MsgKind>, at: SimTime },
    /// In flight until an explicit step delivers or drops it. An identical copy (same
    /// sender, recipient and content hash) already in flight absorbs it: in flight is a set.
    Pending,
    /// Outside the bounds of the untimed model (a height above its target): sent, but no
    /// copy enters the wire and none is recorded as dropped.
    Unmodelled,
}

/// A copy of a message about to go on the wire, as the driver sees it.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub now: SimTime,
    pub from: NodeId,
    pub to: NodeId,
    pub meta: &'a MsgMeta,
    /// Whether the recipient is running at the send.
    pub recipient_up: bool,
}

/// What the engine does next, as the driver says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Dispatch the earliest entry of the agenda.
    Agenda,
    /// Take this explicit step now (at the current time).
    Step(Step),
    /// The driver has nothing more: the run ends.
    End,
}

/// Every nondeterministic choice of a run (module comment).
pub trait Driver {
    /// True for a driver with no time (the schedule): time stays zero, timers never fire
    /// by themselves, the run does not stop when heights are reached, pending copies to a
    /// node are lost when it crashes, and nothing left in flight at the end is recorded.
    const UNTIMED: bool = false;

    /// The fate of one copy. `net` is the wire (topology, options, random stream).
    fn route(&mut self, net: &mut Network, copy: Outgoing<'_>) -> Choice;

    /// What happens next, given whether the agenda has an entry.
    fn next(&mut self, agenda_has_entry: bool) -> Plan;

    /// Called when a step the driver planned could not be taken: the reason, for the run's
    /// result. Timed drivers plan no steps.
    fn refused(&mut self, _why: String) {}

    /// How often each scripted rule matched (empty without rules).
    fn rule_stats(&self) -> &[RuleStats] {
        &[]
    }

    /// Whether `copy`, which its recipient ignores for good
    /// ([`crate::protocol::Replica::ignores_for_good`]) or whose recipient's relay cache
    /// already holds it (a certain duplicate under flood relay), may be handed over at the
    /// send, without an event or a record (engine/mod.rs `transmit`). Only on the seeded random
    /// network, and only if no scripted rule matches the copy (a rule may hold, move or
    /// duplicate it, and counts it): a schedule names its deliveries step by step.
    fn hands_over_ignored(&self, _copy: &Outgoing<'_>) -> bool {
        false
    }
}

/// The seeded random network alone: each copy's fate is the network's draw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Random;

impl Driver for Random {
    #[inline]
    fn route(&mut self, net: &mut Network, c: Outgoing<'_>) -> Choice {
        Choice::Now(net.route(c.now, c.from, c.to, c.meta.size))
    }

    #[inline]
    fn hands_over_ignored(&self, _copy: &Outgoing<'_>) -> bool {
        true
    }

    #[inline]
    fn next(&mut self, _: bool) -> Plan {
        Plan::Agenda
    }
}

/// The scenario's message rules over the random network: the network draws first (so a
/// rule changes nothing but what it matches), then the first matching rule decides.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    pub rules: RuleSet,
}

impl Driver for Scripted {
    #[inline]
    fn route(&mut self, net: &mut Network, c: Outgoing<'_>) -> Choice {
        let fate = net.route(c.now, c.from, c.to, c.meta.size);
        if self.rules.is_empty() {
            return Choice::Now(fate);
        }
        match self.rules.decide(c.now, c.from, c.to, c.meta, fate) {
            Verdict::Now(f) => Choice::Now(f),
            Verdict::Held { node, kind, at } => Choice::HeldUntilSent { node, kind, at },
        }
    }

    #[inline]
    fn next(&mut self, _: bool) -> Plan {
        Plan::Agenda
    }

    fn rule_stats(&self) -> &[RuleStats] {
        &self.rules.stats
    }

    #[inline]
    fn hands_over_ignored(&self, c: &Outgoing<'_>) -> bool {
        !self.rules.any_matches(c.now, c.from, c.to, c.meta)
    }
}

/// Replays an explicit schedule in the untimed model (module comment). The agenda holds
/// only the start of the run (initial transactions, node starts), which goes first.
#[derive(Clone, Debug)]
pub struct Schedule {
    steps: std::vec::IntoIter<Step>,
    /// The index of the next step.
    pub taken: usize,
    /// Messages of heights above this are not modelled.
    pub target: u32,
    /// The first step that could not be taken, and why.
    pub error: Option<(usize, Step, String)>,
    last: Option<Step>,
}

impl Schedule {
    pub fn new(steps: Vec<Step>, target: u32) -> Schedule {
        Schedule { steps: steps.into_iter(), taken: 0, target, error: None, last: None }
    }
}

impl Driver for Schedule {
    const UNTIMED: bool = true;

    fn route(&mut self, _: &mut Network, c: Outgoing<'_>) -> Choice {
        if c.meta.height > self.target {
            Choice::Unmodelled
        } else if !c.recipient_up {
            Choice::Now(Fate::Dropped(DropReason::RecipientDown))
        } else {
            Choice::Pending
        }
    }

    fn next(&mut self, agenda_has_entry: bool) -> Plan {
        if agenda_has_entry {
            return Plan::Agenda;
        }
        if self.error.is_some() {
            return Plan::End;
        }
        match self.steps.next() {
            Some(s) => {
                self.taken += 1;
                self.last = Some(s.clone());
                Plan::Step(s)
            }
            None => Plan::End,
        }
    }

    fn refused(&mut self, why: String) {
        if let Some(step) = self.last.take() {
            self.error = Some((self.taken - 1, step, why));
        }
    }
}
