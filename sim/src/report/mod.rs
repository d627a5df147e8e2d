//! Reports: what a run produced, as JSON (`report.json`) and as a compact summary on
//! stdout; the trace file writer; atomic output files.
//!
//! Every report carries the trace digest and the fully resolved configuration, so a report
//! alone is enough to reproduce its run.

pub mod expect;
pub mod files;
pub mod html;
pub mod lint;
pub mod metrics;
pub mod narrate;
pub mod pages;
pub mod plot;
pub mod summary;
pub mod trace_file;
pub mod windows;

use crate::engine::StopReason;
use crate::invariants::diagnosis::Stall;
use crate::invariants::safety::Accountability;
use crate::invariants::{InvariantId, InvariantStatus, Violation};
use crate::protocol::MsgKind;
use crate::protocol::crypto::Hash32;
use crate::scenario::RunSpec;
use crate::world::RunResult;
use metrics::{KindCounts, Summary};
use serde::Serialize;
use std::collections::BTreeMap;

pub const FORMAT: &str = "dbft-sim/report/v1";

#[derive(Clone, Debug, Serialize)]
pub struct InvariantResult {
    pub id: InvariantId,
    pub name: &'static str,
    pub status: InvariantStatus,
    pub violations: Vec<Violation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Heights {
    /// The first height the run decided (`start_height`); heights below it were final
    /// before the run. Shown only when it is not 1.
    #[serde(skip_serializing_if = "is_one")]
    pub start: u32,
    /// Highest height finalised by any honest node (start − 1 when none was).
    pub finalised: u32,
    /// Lowest ledger height among honest nodes that are running at the end.
    pub min_honest: u32,
    /// How many nodes are honest and running at the end (those `min_honest` is over).
    pub running_honest: u32,
    pub per_node: BTreeMap<String, u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HeightRecord {
    pub height: u32,
    pub time_ms: f64,
    pub view: u8,
    pub block: Hash32,
    pub finalised_by: String,
    /// The node that proposed the finalised block: the sender of the proposal seen, or
    /// else the block's primary index looked up in the validator set of this height (the
    /// index is a position in that set, not in the configured nodes).
    pub primary: String,
    /// Time since the previous height was finalised. For the run's first height there is
    /// no previous finalisation in the run: it is the time from the run's start to the
    /// first block, and block-interval statistics and plots leave it out.
    pub interval_ms: f64,
    /// Time from the proposal of the finalised block to its finalisation.
    pub consensus_ms: Option<f64>,
    /// Messages about this height: how many were sent (a broadcast counts once) and their
    /// bytes, by type.
    pub messages: BTreeMap<&'static str, SentBytes>,
}

/// Messages sent and their bytes.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SentBytes {
    pub sent: u64,
    pub bytes: u64,
}

/// The program that wrote a report.
#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const TOOL: Tool = Tool { name: env!("CARGO_PKG_NAME"), version: env!("CARGO_PKG_VERSION") };

/// Each distribution is `null` when it has no sample (no height finalised, no hand-off).
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Per height after the run's first: time between consecutive finalisations (the
    /// block time users see). The first height's time counts from the run's start, not
    /// from a block, so it is not a block interval.
    #[serde(serialize_with = "Summary::or_null")]
    pub block_interval_ms: Summary,
    /// Per height: from the winning PrepareRequest to finalisation.
    #[serde(serialize_with = "Summary::or_null")]
    pub consensus_ms: Summary,
    /// Per hand-off: from the last height of the old set to the first of the new.
    #[serde(serialize_with = "Summary::or_null")]
    pub handoff_ms: Summary,
    /// Per transaction in a finalised block: from its first arrival at a node (its
    /// submission, as near as the simulator sees it) to the first persistence of a block
    /// holding it by an honest node.
    #[serde(serialize_with = "Summary::or_null")]
    pub tx_confirm_ms: Summary,
}

/// A validator-set hand-off (by the checkers' own schedule model).
#[derive(Clone, Debug, Serialize)]
pub struct HandoffRecord {
    /// The first height of the new set.
    pub height: u32,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub joined: Vec<String>,
    pub left: Vec<String>,
    /// When the old set's last height was final.
    pub from_ms: f64,
    /// When the new set's first height was final (None: not by the end).
    pub final_ms: Option<f64>,
    pub latency_ms: Option<f64>,
}

/// What became of one scheduled validator-set change (`changes[i]` of the scenario).
#[derive(Clone, Debug, Serialize)]
pub struct ChangeRecord {
    /// Its index in the scenario's `changes`.
    pub index: usize,
    /// What it does, in words ("join C0", "rotate R1 -> C1").
    pub change: String,
    /// `not-submitted` (the run ended before its time or height), `lost` (submitted at a
    /// node that was down), `pending` (submitted, in no block the honest chain finalised),
    /// `no-effect` (decided, but when its turn came it changed neither the set nor the
    /// revoked keys: a join of a member, a leave of the last member, ...; `no_effect` says
    /// which), `decided` (in a final block; the first height of its set was not finalised
    /// by the end), or `effective` (the first height of its set was finalised).
    pub status: &'static str,
    /// Why a `no-effect` change did nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_effect: Option<&'static str>,
    /// When it was submitted (ms) and at which node.
    pub submitted_ms: Option<f64>,
    pub via: String,
    /// The final block that carries it.
    pub decided_height: Option<u32>,
    /// The first height whose set includes it: the height after the block whose
    /// NextConsensus carries it (by the hand-off rule and the churn limit). None for a
    /// change that did nothing.
    pub effective_height: Option<u32>,
}

/// One record per scheduled change, from the submission markers and the checkers'
/// schedule model along the chain honest replicas finalised first.
fn change_records(spec: &RunSpec, r: &RunResult) -> Vec<ChangeRecord> {
    use crate::validators::change::ChangeBook;
    let (tip_height, tip) = r.checkers.handoffs.honest_tip();
    let along = r.checkers.safety.model.changes_along(&tip).unwrap_or_default();
    spec.changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let submitted = r.metrics.change_submissions.get(&(i as u32));
            let tx = ChangeBook::tx_of(i);
            let found = along.iter().find(|d| d.tx == tx);
            let no_effect = found.and_then(|d| d.effect.err());
            let decided = found.map(|d| (d.decided_in, d.handoff + 1));
            let status = match (submitted, decided) {
                (_, Some(_)) if no_effect.is_some() => "no-effect",
                (_, Some((_, effective))) if effective <= tip_height => "effective",
                (_, Some(_)) => "decided",
                (Some(s), None) if s.lost => "lost",
                (Some(_), None) => "pending",
                (None, None) => "not-submitted",
            };
            ChangeRecord {
                index: i,
                change: crate::world::describe_change(spec, &c.change),
                status,
                submitted_ms: submitted.map(|s| s.time.as_ms_f64()),
                via: spec.node_name(submitted.map_or(c.origin, |s| s.node)).to_string(),
                decided_height: decided.map(|d| d.0),
                effective_height: decided.filter(|_| no_effect.is_none()).map(|d| d.1),
                no_effect,
            }
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct Liveness {
    pub status: LivenessStatus,
    pub stall: Option<Stall>,
    /// A liveness invariant violated without a diagnosed stall (a run L2 halted at a late
    /// hand-off, or one that reached its heights late), in the words the console prints
    /// ([`Report::liveness_violation`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<String>,
}

impl Liveness {
    /// The stall, if the run stalled. A diagnosis exists whenever a run missed a height
    /// target, also one stopped by its duration with liveness holding; only a run whose
    /// liveness fails has stalled.
    pub fn stalled(&self) -> Option<&Stall> {
        self.stall.as_ref().filter(|_| self.status != LivenessStatus::Holds)
    }
}

crate::names::named_enum! {
    /// Whether the run reached its height target.
    pub enum LivenessStatus {
        Holds = "holds",
        Stalls = "stalls",
    }
}

crate::names::named_enum! {
    /// What a run came to, most serious first.
    pub enum OutcomeKind {
        SafetyViolation = "safety-violation",
        Stall = "stall",
        LivenessViolation = "liveness-violation",
        Ok = "ok",
    }
}

/// The outcome, typed — and whether the scenario's expectations held.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub violated: Vec<InvariantId>,
    /// True when the run matched the scenario's `expect` block (or, without one, when it
    /// is `ok`).
    pub as_expected: bool,
    pub mismatches: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format: &'static str,
    /// The program and version that wrote this report.
    pub tool: Tool,
    pub scenario: String,
    pub seed: u64,
    pub digest: Hash32,
    pub outcome: Outcome,
    pub stop_reason: String,
    pub sim_time_ms: f64,
    pub events: u64,
    pub heights: Heights,
    pub latency: Latency,
    pub views: BTreeMap<String, u64>,
    pub per_height: Vec<HeightRecord>,
    /// Transaction confirmation latency at every whole percentile 0, 1, ..., 100 (nearest
    /// rank, milliseconds; empty without confirmed transactions): enough to draw its CDF.
    pub tx_confirm_quantiles_ms: Vec<f64>,
    /// Windows in which the run was disturbed (crashes, partitions, GST, hand-offs, ...).
    pub windows: Vec<windows::Window>,
    pub messages: BTreeMap<&'static str, KindCounts>,
    pub drops: BTreeMap<String, u64>,
    pub rejected: BTreeMap<String, u64>,
    pub invariants: Vec<InvariantResult>,
    pub accountability: Vec<Accountability>,
    pub liveness: Liveness,
    /// Every validator-set hand-off, in height order.
    pub handoffs: Vec<HandoffRecord>,
    /// What became of each scheduled validator-set change (absent without changes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeRecord>,
    /// Present when the run forked (S1) and has hand-offs or changes to report: they
    /// follow one branch, the chain honest nodes finalised first, and this says so (a
    /// change "never decided" there may be decided on another branch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub coverage: BTreeMap<&'static str, u64>,
    /// Every scripted rule with how many (message, recipient) pairs it matched and acted on.
    pub rules: Vec<crate::net::rules::RuleStats>,
    /// Plausible mistakes in the scenario that are not errors (see `lint`).
    pub lints: Vec<lint::Lint>,
    pub config: RunSpec,
    /// The scenario file as written (`run` records it): `dbft-sim run report.json` replays
    /// the run from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario_source: Option<serde_json::Value>,
}

impl Report {
    pub fn build(spec: &RunSpec, r: &RunResult) -> Report {
        let name = |i: usize| spec.nodes.get(i).map_or("?".to_string(), |n| n.name.clone());
        let m = &r.metrics;
        let mut per_height = Vec::new();
        let mut intervals = Vec::new();
        let mut consensus = Vec::new();
        let mut views: BTreeMap<String, u64> = BTreeMap::new();
        let mut prev = crate::engine::time::SimTime::ZERO;
        // Who proposed a height's block: the node seen proposing it; else (a proposal no
        // honest node noted, such as a Byzantine one) the block's primary index in the set
        // of that height: the new set of the last hand-off at or below it, else the
        // configured set (sorted by key, as node order is).
        let primary_of = |h: u32, f: &metrics::Final| -> String {
            if let Some(n) = f.proposer {
                return name(n.idx());
            }
            let key = match r.checkers.handoffs.list.iter().rev().find(|x| x.height <= h) {
                Some(x) => x.new.get(f.primary as usize).map(|k| k.0 as usize),
                None => ((f.primary as usize) < spec.validators).then_some(f.primary as usize),
            };
            key.map_or("?".to_string(), name)
        };
        for (i, (h, f)) in m.finals.iter().enumerate() {
            let interval = f.time.since(prev);
            prev = f.time;
            // The first height's time counts from the run's start: not a block interval.
            if i > 0 {
                intervals.push(interval);
            }
            let c = f.proposed.map(|p| f.time.since(p));
            if let Some(c) = c {
                consensus.push(c);
            }
            *views.entry(f.view.to_string()).or_insert(0) += 1;
            per_height.push(HeightRecord {
                height: *h,
                time_ms: f.time.as_ms_f64(),
                view: f.view,
                block: f.block,
                finalised_by: name(f.node.idx()),
                primary: primary_of(*h, f),
                interval_ms: interval as f64 / 1000.0,
                consensus_ms: c.map(|c| c as f64 / 1000.0),
                messages: m
                    .per_height_kinds
                    .get(h)
                    .map(|per| {
                        MsgKind::ALL
                            .iter()
                            .filter(|k| per[k.index()].0 > 0)
                            .map(|k| (k.name(), SentBytes { sent: per[k.index()].0, bytes: per[k.index()].1 }))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        let finalised = m.finals.keys().next_back().copied().unwrap_or(spec.start_height.saturating_sub(1));
        let running: Vec<usize> = (0..spec.nodes.len()).filter(|&i| r.honest[i] && r.up[i]).collect();
        let min_honest = running.iter().map(|&i| r.ledger_heights[i]).min().unwrap_or(0);
        let running_honest = running.len() as u32;
        let per_node = (0..spec.nodes.len()).map(|i| (name(i), r.ledger_heights[i])).collect();
        let messages = MsgKind::ALL
            .iter()
            .filter(|k| m.kind(**k).sent + m.kind(**k).delivered + m.kind(**k).dropped > 0)
            .map(|k| (k.name(), *m.kind(*k)))
            .collect();
        let invariants: Vec<InvariantResult> = InvariantId::ALL
            .iter()
            .map(|&id| InvariantResult {
                id,
                name: id.title(),
                status: r.checkers.status(id),
                violations: r.checkers.violations.iter().filter(|v| v.id == id).cloned().collect(),
            })
            .collect();
        let key_name = |k: &crate::protocol::crypto::KeyId| name(k.0 as usize);
        let handoffs: Vec<HandoffRecord> = r
            .checkers
            .handoffs
            .list
            .iter()
            .map(|h| HandoffRecord {
                height: h.height,
                old: h.old.iter().map(key_name).collect(),
                new: h.new.iter().map(key_name).collect(),
                joined: h.new.iter().filter(|k| !h.old.contains(k)).map(key_name).collect(),
                left: h.old.iter().filter(|k| !h.new.contains(k)).map(key_name).collect(),
                from_ms: h.from_ms,
                final_ms: h.final_ms,
                latency_ms: h.latency_ms,
            })
            .collect();
        let handoff_latency: Vec<u64> =
            handoffs.iter().filter_map(|h| h.latency_ms).map(|ms| (ms * 1000.0).round() as u64).collect();
        let violated: Vec<InvariantId> =
            invariants.iter().filter(|i| i.status == InvariantStatus::Violated).map(|i| i.id).collect();
        let kind = if violated.iter().any(|id| id.is_safety()) {
            OutcomeKind::SafetyViolation
        } else if !r.liveness_holds && (r.stall.is_some() || violated.is_empty()) {
            // A run that did not reach its target: a stall, unless no stall was diagnosed
            // and a liveness invariant was violated — a checker halted it (L2: a hand-off
            // finalised late) — which is a liveness violation, as a late run is.
            OutcomeKind::Stall
        } else if !violated.is_empty() {
            OutcomeKind::LivenessViolation
        } else {
            OutcomeKind::Ok
        };
        let windows = windows::of(spec, &handoffs);
        let mut report = Report {
            format: FORMAT,
            tool: TOOL,
            scenario: spec.name.clone(),
            seed: r.seed,
            digest: r.digest,
            outcome: Outcome { kind, violated, as_expected: true, mismatches: Vec::new() },
            stop_reason: match &r.stop {
                StopReason::Duration => "duration".into(),
                StopReason::Heights => "heights".into(),
                StopReason::Quiescent => "quiescent".into(),
                StopReason::Halted(why) => format!("halted: {why}"),
            },
            sim_time_ms: r.end.as_ms_f64(),
            events: m.events,
            heights: Heights { start: spec.start_height, finalised, min_honest, running_honest, per_node },
            latency: Latency {
                block_interval_ms: Summary::of_micros(intervals),
                consensus_ms: Summary::of_micros(consensus),
                handoff_ms: Summary::of_micros(handoff_latency),
                tx_confirm_ms: Summary::of_micros(m.tx_confirm_us.clone()),
            },
            views,
            per_height,
            tx_confirm_quantiles_ms: metrics::quantiles_ms(&m.tx_confirm_us),
            windows,
            messages,
            drops: m.drops.iter().map(|(k, v)| (k.name().to_string(), *v)).collect(),
            rejected: m.rejected.iter().map(|((k, why), v)| (format!("{}:{}", k.name(), why.name()), *v)).collect(),
            invariants,
            accountability: r.checkers.safety.accountability.clone(),
            liveness: Liveness {
                status: if r.liveness_holds { LivenessStatus::Holds } else { LivenessStatus::Stalls },
                stall: r.stall.clone(),
                violation: None,
            },
            handoffs,
            changes: change_records(spec, r),
            branch: None,
            coverage: r.marks.clone(),
            rules: r.rules.clone(),
            lints: lint::check(spec, &r.rules),
            config: spec.clone(),
            scenario_source: None,
        };
        let mut mismatches = expect::check(spec, &report);
        // A schedule that cannot be followed proves nothing, whatever the run shows up to
        // the step that failed.
        if let Some(e) = &r.schedule_error {
            mismatches.insert(0, format!("the schedule could not be followed: {e}"));
        }
        report.outcome.as_expected = mismatches.is_empty();
        report.outcome.mismatches = mismatches;
        report.liveness.violation = report.liveness_violation().map(|(headline, _)| headline);
        report.branch = report.branch_note(r);
        report
    }

    /// In a forked run, which branch the hand-offs and changes follow ([`Report::branch`]).
    fn branch_note(&self, r: &RunResult) -> Option<String> {
        let fork = self
            .invariants
            .iter()
            .filter(|i| i.id == InvariantId::S1)
            .flat_map(|i| i.violations.iter().map(|v| v.height))
            .min()?;
        if self.changes.is_empty() && self.handoffs.is_empty() {
            return None;
        }
        let (height, tip) = r.checkers.handoffs.honest_tip();
        Some(format!(
            "the run forked at height {fork}: the hand-offs and changes follow the branch honest nodes finalised first (height {height}, block {}); another branch may have decided differently",
            &tip.to_hex()[..8]
        ))
    }

    /// The liveness verdict in words when a liveness invariant was violated without a
    /// diagnosed stall (a run L2 halted at a late hand-off, or one that reached its
    /// heights late): a headline, then one line per violation, with how late an L2
    /// hand-off was against the bound. None otherwise.
    pub fn liveness_violation(&self) -> Option<(String, Vec<String>)> {
        if self.outcome.kind != OutcomeKind::LivenessViolation {
            return None;
        }
        let bound = self.config.liveness.bound.as_ms_f64();
        let lines = self
            .invariants
            .iter()
            .filter(|i| !i.id.is_safety())
            .flat_map(|i| i.violations.iter().map(move |v| (i, v)))
            .map(|(i, v)| {
                let late = self
                    .handoffs
                    .iter()
                    .filter(|_| i.id == InvariantId::L2)
                    .find(|h| h.height == v.height)
                    .and_then(|h| h.latency_ms)
                    .filter(|l| *l > bound)
                    .map(|l| format!(" ({:.0} ms late against the {bound:.0} ms bound)", l - bound))
                    .unwrap_or_default();
                format!("{} ({}) violated at height {}: {}{late}", i.id, i.name, v.height, v.detail)
            })
            .collect();
        let ids = InvariantId::join(
            &self.outcome.violated.iter().copied().filter(|id| !id.is_safety()).collect::<Vec<_>>(),
            ", ",
        );
        let headline = match self.liveness.status {
            LivenessStatus::Holds => format!("{ids} violated: the run reached its height target, late"),
            LivenessStatus::Stalls => format!("{ids} violated: the run was halted before its height target"),
        };
        Some((headline, lines))
    }

    /// Exit code of `run`: 0 if the run matched expectations, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.outcome.as_expected { 0 } else { 1 }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data cannot fail; fall back to an explicit error object.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn is_one(x: &u32) -> bool {
    *x == 1
}
