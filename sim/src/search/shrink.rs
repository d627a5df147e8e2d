//! Shrinking: the smallest scenario that still fails the same way.
//!
//! A counterexample from a sweep or a swarm carries everything its seed drew: faults that
//! matter and faults that do not. Shrinking edits the scenario *document* — so the result
//! is an ordinary, readable scenario file — one simplification at a time, keeping each one
//! whose run still violates every safety invariant the original violated (or, for a run
//! that only stalls, still stalls with the same class and no violation), until no single
//! simplification keeps the failure (a 1-minimal scenario, as delta debugging calls it).
//! The simplifications, biggest first: drop a Byzantine node, twin, compromised key,
//! crash, partition, degradation, rule, timer control, withheld-transaction range or
//! validator-set change; drop the recipient restriction of a change; drop
//! one behaviour of several; make a restart a plain crash; zero the loss and duplication;
//! and make the network `ideal`; and for a scenario with an explicit `schedule` (what
//! `explore` writes), drop one step (a long schedule first drops runs of steps, halves
//! down to pairs, as delta debugging does). A shrunk schedule must still be followable, and a
//! stuck state must still be as settled as the original (nothing live left in flight, with
//! and without recovery delivered, judged as the explorer judges it), or its stall could
//! be just the schedule stopping early; a scheduled stall whose end is not settled at all
//! is not shrunk (every prefix of it would pass for the same stall).
//! The seed stays fixed, so every step is deterministic.

use crate::explore::search::Replay;
use crate::invariants::InvariantId;
use crate::invariants::diagnosis::StallClass;
use crate::report::Report;
use crate::scenario;
use crate::world;
use serde_json::Value;

/// Arrays whose elements may be removed one by one (any length, down to empty).
const REMOVABLE: [&str; 11] = [
    "/byzantine",
    "/twins",
    "/compromised_keys",
    "/faults/crashes",
    "/network/partitions",
    "/network/degradations",
    "/rules",
    "/timers",
    "/workload/withhold",
    "/changes",
    // A scheduled scenario's explicit steps (what `explore` writes): one at a time.
    "/schedule",
];

/// The longest schedule `dbft-sim shrink` takes. Each candidate removal is a replay of
/// the whole schedule, and a schedule that is already 1-minimal needs one per step, so the
/// cost grows with the square of its length (1,000 timer steps that could not go: 1,608
/// replays, 4.5 s in a release build; at this limit, some 25 times that).
/// Explorer counterexamples are far shorter (walks stop at 200 steps by default).
pub const MAX_SHRINK_STEPS: usize = 5_000;

/// Schedules of at least this many steps are shrunk in runs of steps before single steps
/// ([`shrink`]); explorer counterexamples are mostly shorter, and keep the single-step
/// result they always had.
const CHUNKED_FROM: usize = 64;

/// One simplification of the scenario document.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Remove element `index` of the array at the pointer.
    Remove(String, usize),
    /// Remove `len` elements of the array at the pointer from `start` on.
    RemoveRange(String, usize, usize),
    /// Remove `key` from the object at the pointer.
    RemoveKey(String, &'static str),
    /// Replace the value at the pointer.
    Set(String, Value),
}

impl Edit {
    /// What the edit does, in the document's own terms.
    pub fn describe(&self) -> String {
        match self {
            Edit::Remove(p, i) => format!("removed {}[{i}]", dotted(p)),
            Edit::RemoveRange(p, start, len) => format!("removed {}[{start}..{}]", dotted(p), start + len),
            Edit::RemoveKey(p, k) => format!("removed {}.{k}", dotted(p)),
            Edit::Set(p, v) => format!("set {} to {v}", dotted(p)),
        }
    }

    /// The document with the edit applied, or None if it no longer applies.
    fn apply(&self, doc: &Value) -> Option<Value> {
        let mut d = doc.clone();
        match self {
            Edit::Remove(p, i) => {
                let a = d.pointer_mut(p)?.as_array_mut()?;
                (*i < a.len()).then(|| a.remove(*i))?;
                // A scenario without rules cannot expect them to act (it would not load).
                if p == "/rules"
                    && a.is_empty()
                    && let Some(e) = d.pointer_mut("/expect").and_then(Value::as_object_mut)
                {
                    e.remove("rules_applied");
                }
            }
            Edit::RemoveRange(p, start, len) => {
                let a = d.pointer_mut(p)?.as_array_mut()?;
                (*len > 0 && start + len <= a.len()).then(|| a.drain(*start..start + len))?;
            }
            Edit::RemoveKey(p, k) => {
                d.pointer_mut(p)?.as_object_mut()?.remove(*k)?;
            }
            Edit::Set(p, v) => *d.pointer_mut(p)? = v.clone(),
        }
        Some(d)
    }
}

/// `/network/partitions` → `network.partitions`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn len_at(doc: &Value, pointer: &str) -> usize {
    doc.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len)
}

/// Every simplification of `doc`, biggest first (the list is recomputed after every kept
/// edit, so indices are always those of the current document).
pub fn candidates(doc: &Value) -> Vec<Edit> {
    let mut out = Vec::new();
    for p in REMOVABLE {
        for i in (0..len_at(doc, p)).rev() {
            out.push(Edit::Remove(p.to_string(), i));
        }
    }
    for owner in ["/byzantine", "/compromised_keys"] {
        for i in 0..len_at(doc, owner) {
            let p = format!("{owner}/{i}/behaviours");
            // A node needs at least one behaviour; dropping the last is dropping the node.
            let n = len_at(doc, &p);
            if n > 1 {
                out.extend((0..n).rev().map(|j| Edit::Remove(p.clone(), j)));
            }
        }
    }
    for i in 0..len_at(doc, "/faults/crashes") {
        let p = format!("/faults/crashes/{i}");
        if doc.pointer(&format!("{p}/restart_ms")).is_some() {
            out.push(Edit::RemoveKey(p, "restart_ms"));
        }
    }
    for i in 0..len_at(doc, "/changes") {
        let p = format!("/changes/{i}");
        if doc.pointer(&format!("{p}/only")).is_some() {
            out.push(Edit::RemoveKey(p, "only"));
        }
    }
    for p in ["/network/loss", "/network/duplicate"] {
        if doc.pointer(p).and_then(Value::as_f64).is_some_and(|x| x != 0.0) {
            out.push(Edit::Set(p.to_string(), Value::from(0.0)));
        }
    }
    if doc.pointer("/network/preset").is_some_and(|v| v != "ideal") {
        out.push(Edit::Set("/network/preset".to_string(), Value::from("ideal")));
    }
    out
}

/// What a run of a counterexample shows: the safety invariants it violates, and the stall
/// it ends in (if it does not reach its heights).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub safety: Vec<InvariantId>,
    /// (class, height, view) of the stall.
    pub stall: Option<(StallClass, u32, u8)>,
    /// Every violated invariant, L1 included (for the written `expect`).
    pub violated: Vec<InvariantId>,
    /// For a scenario with a `schedule`: does its replay end settled (nothing in flight
    /// that a step could still deliver, dead messages aside), and does it fire timers only
    /// when settled (explore's `--synchrony`), without and with recovery delivered? None
    /// in an entry: the replay does not follow.
    pub settled: Option<[Option<Replay>; 2]>,
}

impl Failure {
    /// How the run behind `report` failed (if it did).
    pub fn of(report: &Report) -> Failure {
        let violated = report.outcome.violated.clone();
        let safety = violated.iter().copied().filter(|id| id.is_safety()).collect();
        // A diagnosis exists whenever the run did not reach a height target, also when it
        // has none and liveness holds; only a run whose liveness fails has stalled.
        let stall = report.liveness.stalled().map(|s| (s.class, s.height, s.view));
        Failure { safety, stall, violated, settled: None }
    }

    /// The same failure, as far as shrinking is concerned: every safety invariant of the
    /// target still violated; or, for a stall-only target, no safety violation and a stall
    /// of the same class.
    /// A schedule that fired timers only when settled stays so: a counterexample found
    /// under the synchrony bound must still be one under it; one whose timers fired in
    /// deadline order stays in that order.
    fn keeps(&self, target: &Failure) -> bool {
        if target.safety.is_empty() && target.stall.is_none() {
            // A liveness invariant failed without a diagnosed stall (L2 halted a late
            // hand-off): every one of them still fails, and safety still holds.
            self.safety.is_empty()
                && self.stall.is_none()
                && target.violated.iter().all(|id| self.violated.contains(id))
                && self.settled == target.settled
                && target.settles()
        } else if target.safety.is_empty() {
            self.safety.is_empty()
                && self.stall.map(|s| s.0) == target.stall.map(|s| s.0)
                && self.settled == target.settled
                && target.settles()
        } else {
            let synchronous = |f: &Failure, i: usize| f.settled.is_some_and(|r| r[i].is_some_and(|r| r.synchronous));
            let timely = |f: &Failure, i: usize| f.settled.is_some_and(|r| r[i].is_some_and(|r| r.timely));
            target.safety.iter().all(|id| self.safety.contains(id))
                && (0..2).all(|i| !synchronous(target, i) || synchronous(self, i))
                && (0..2).all(|i| !timely(target, i) || timely(self, i))
        }
    }

    /// Can a stall of this failure be told from a schedule that merely stops early? Yes
    /// without a schedule (the run stops by itself), and for a schedule whose replay ends
    /// settled with or without recovery delivered. A scheduled stall that ends with live
    /// messages in flight is not shrunk: any prefix of it "stalls" the same way.
    pub fn settles(&self) -> bool {
        self.settled.is_none_or(|r| r.iter().any(|x| x.is_some_and(|x| x.settled)))
    }

    /// Is there anything to shrink: a safety violation, a stall, or a liveness invariant
    /// that failed (L2 halts a run whose hand-off is late; `swarm` counts it a stall).
    pub fn is_failure(&self) -> bool {
        !self.safety.is_empty() || self.stall.is_some() || !self.violated.is_empty()
    }

    /// The failure in a few words: "S4", "a commit-lock stall", or "L2".
    pub fn describe(&self) -> String {
        match (self.safety.is_empty(), self.stall) {
            (false, _) => InvariantId::join(&self.safety, " "),
            (true, Some((class, ..))) => format!("a {class} stall"),
            (true, None) if !self.violated.is_empty() => InvariantId::join(&self.violated, " "),
            (true, None) => "nothing".to_string(),
        }
    }

    /// The `expect` block a scenario showing this failure carries.
    pub fn expect(&self) -> Value {
        match (self.safety.is_empty(), self.stall) {
            // "undiagnosed" says no class matched; a scenario cannot expect it (a later
            // diagnosis that names the stall is not a regression), so only where it stalls.
            (true, Some((StallClass::Undiagnosed, height, view))) => serde_json::json!({
                "safety": "holds", "liveness": "stalls", "stall": {"height": height, "view": view}
            }),
            (true, Some((class, height, view))) => serde_json::json!({
                "safety": "holds", "liveness": "stalls", "stall": {"class": class.as_str(), "height": height, "view": view}
            }),
            (true, None) if !self.violated.is_empty() => {
                serde_json::json!({"safety": "holds", "violations": self.violated})
            }
            _ => serde_json::json!({"safety": "violated", "violations": self.violated}),
        }
    }
}

/// How a run of `doc` with `seed` fails, or why it could not run.
pub fn failure(doc: &Value, seed: u64) -> Result<Failure, String> {
    let mut spec = scenario::parse(&doc.to_string(), "shrink").map_err(|e| e.to_string())?;
    let result = world::run(&spec, seed, None, false);
    // A schedule that cannot be followed shows nothing.
    if let Some(e) = result.schedule_error {
        return Err(e);
    }
    let mut f = Failure::of(&Report::build(&spec, &result));
    if !spec.schedule.is_empty() {
        use crate::explore::{model::Prune, search::replay_with};
        spec.seed = seed;
        f.settled = Some([
            replay_with(&spec, false, Prune::On, true, 0, None),
            replay_with(&spec, true, Prune::On, true, 0, None),
        ]);
    }
    Ok(f)
}

/// The outcome of shrinking: the smaller document and the edits that made it.
pub struct Shrunk {
    pub doc: Value,
    pub steps: Vec<Edit>,
    pub failure: Failure,
    pub runs: usize,
}

/// Shrinks `doc` while a run with `seed` still shows the `target` failure.
pub fn shrink(doc: &Value, seed: u64, target: &Failure, mut on_step: impl FnMut(&Edit)) -> Shrunk {
    let mut s = Shrunk { doc: doc.clone(), steps: Vec::new(), failure: target.clone(), runs: 0 };
    // A scheduled stall that does not settle keeps no edit at all (`Failure::keeps`):
    // trying each would cost a replay per candidate for nothing.
    if target.safety.is_empty() && !target.settles() {
        return s;
    }
    // Tries `edit` on the current document and keeps it if the run still fails as
    // `target` does. A document an edit made invalid (e.g. a rule naming a removed twin)
    // is not a simpler counterexample: not kept.
    let mut keep = |s: &mut Shrunk, edit: Edit| -> bool {
        let Some(next) = edit.apply(&s.doc) else { return false };
        s.runs += 1;
        match failure(&next, seed) {
            Ok(f) if f.keeps(target) => {
                on_step(&edit);
                s.steps.push(edit);
                s.doc = next;
                s.failure = f;
                true
            }
            _ => false,
        }
    };
    // Long schedules first lose whole runs of steps, halves, then quarters, down to pairs
    // (delta debugging's coarse passes). Single steps alone cost a replay per remaining
    // step for every step kept out: quadratic in the length (300 idle adversary-timer
    // steps before an 11-step fork took 4,229 replays). The single-step pass below still
    // runs after, so the result is 1-minimal as before; short schedules skip this.
    let len = len_at(&s.doc, "/schedule");
    if len >= CHUNKED_FROM {
        let mut size = len / 2;
        while size >= 2 {
            let mut start = len_at(&s.doc, "/schedule").saturating_sub(size);
            loop {
                keep(&mut s, Edit::RemoveRange("/schedule".into(), start, size));
                if start == 0 {
                    break;
                }
                start = start.saturating_sub(size);
            }
            size /= 2;
        }
    }
    'progress: loop {
        for edit in candidates(&s.doc) {
            if keep(&mut s, edit) {
                continue 'progress;
            }
        }
        break;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn candidates_cover_the_fault_lists_and_apply_cleanly() {
        let doc = json!({
            "validators": 4,
            "network": {"preset": "wan", "loss": 0.1, "partitions": [{"groups": [["R0"]], "from_ms": 0}]},
            "faults": {"crashes": [{"node": "R1", "at_ms": 5, "restart_ms": 9}]},
            "byzantine": [{"node": "R2", "behaviours": [{"kind": "silent"}, {"kind": "double-sign"}]}]
        });
        let c = candidates(&doc);
        let described: Vec<String> = c.iter().map(Edit::describe).collect();
        assert_eq!(
            described,
            [
                "removed byzantine[0]",
                "removed faults.crashes[0]",
                "removed network.partitions[0]",
                "removed byzantine.0.behaviours[1]",
                "removed byzantine.0.behaviours[0]",
                "removed faults.crashes.0.restart_ms",
                "set network.loss to 0.0",
                "set network.preset to \"ideal\"",
            ]
        );
        let d = c[5].apply(&doc).unwrap();
        assert_eq!(d["faults"]["crashes"][0], json!({"node": "R1", "at_ms": 5}));
        let d = c[3].apply(&doc).unwrap();
        assert_eq!(d["byzantine"][0]["behaviours"], json!([{"kind": "silent"}]));
        assert!(Edit::Remove("/rules".into(), 0).apply(&doc).is_none(), "nothing there to remove");
        // Removing the last rule takes `expect.rules_applied` with it.
        let ruled = json!({"rules": [{"name": "r"}], "expect": {"rules_applied": true, "safety": "holds"}});
        let d = Edit::Remove("/rules".into(), 0).apply(&ruled).unwrap();
        assert_eq!(d, json!({"rules": [], "expect": {"safety": "holds"}}));
        // Fully simplified: nothing left to try.
        let bare = json!({"validators": 4, "network": {"preset": "ideal", "loss": 0.0}});
        assert!(candidates(&bare).is_empty());
    }

    /// Shrinking a swarm counterexample of the `no-commit-lock` variant keeps the violation
    /// and ends 1-minimal: every single simplification still possible loses it.
    #[test]
    fn a_shrunk_counterexample_still_fails_and_is_one_minimal() {
        let doc: Value = serde_json::from_str(&super::super::swarm::generate(
            17,
            6,
            Some(crate::protocol::dbft::Mutation::NoCommitLock),
        ))
        .unwrap();
        let target = failure(&doc, 17).unwrap();
        assert!(target.safety.contains(&InvariantId::S4), "{target:?}");
        assert_minimal(&doc, 17, &target);
    }

    /// Shrinks and checks the result: same failure, and no single edit left that keeps it.
    fn assert_minimal(doc: &Value, seed: u64, target: &Failure) -> Shrunk {
        let mut logged = 0;
        let shrunk = shrink(doc, seed, target, |_| logged += 1);
        assert_eq!(logged, shrunk.steps.len());
        let after = failure(&shrunk.doc, seed).unwrap();
        assert!(after.keeps(target), "{after:?} is not {target:?}");
        assert_eq!(shrunk.failure, after);
        for edit in candidates(&shrunk.doc) {
            let next = edit.apply(&shrunk.doc).unwrap();
            let kept = failure(&next, seed).is_ok_and(|f| f.keeps(target));
            assert!(!kept, "{} would still fail: not minimal", edit.describe());
        }
        shrunk
    }

    /// A run L2 halted (a hand-off finalised late; `swarm` keeps it as a stall) shrinks
    /// too, keeping L2 and safety. Swarm seed 4 of 400 drew a Byzantine ChangeView flood,
    /// a crash, a lossless WAN and three changes; what L2 needs is only the join and the
    /// private rotation: once C1 joins (N = 8, M = 6), the rotation reaches five of the
    /// eight validators, so every proposal carrying it fails (TxNotFound) until a primary
    /// without it proposes, four views later (the private-change lint looks at the genesis
    /// set only, where five of seven are a quorum).
    #[test]
    fn a_liveness_violation_without_a_stall_shrinks_keeping_it() {
        let doc = serde_json::json!({
            "name": "swarm-4", "seed": 4, "validators": {"count": 7, "candidates": 6},
            "protocol": {"block_time_ms": 1000, "semantics": "go", "handoff": {"rule": "next-block", "churn_limit": 1}},
            "network": {"preset": "wan", "loss": 0, "duplicate": 0},
            "faults": {"crashes": [{"node": "R2", "at_ms": 17252}]},
            "byzantine": [{"node": "R0", "from_ms": 4929, "behaviours": [{"kind": "change-view-flood", "period_ms": 260, "forged_view": 9, "stale": true}]}],
            "stop": {"heights": 6, "duration_ms": 600000},
            "changes": [
                {"do": "join", "node": "C1", "at_height": 1},
                {"do": "join", "node": "C5", "at_height": 5},
                {"do": "rotate", "from": "R3", "to": "C0", "at_height": 2,
                 "only": ["R2", "C2", "C5", "R0", "R3", "R6", "C3", "R1", "C0"]}
            ]
        });
        let target = failure(&doc, 4).unwrap();
        assert_eq!((target.safety.len(), target.stall, target.violated.clone()), (0, None, vec![InvariantId::L2]));
        assert!(target.is_failure());
        assert_eq!(target.describe(), "L2");
        let shrunk = assert_minimal(&doc, 4, &target);
        assert_eq!(shrunk.doc["byzantine"].as_array().map(Vec::len), Some(0), "{}", shrunk.doc);
        assert_eq!(shrunk.doc["changes"].as_array().map(Vec::len), Some(2), "{}", shrunk.doc);
        assert_eq!(shrunk.failure.expect(), serde_json::json!({"safety": "holds", "violations": ["L2"]}));
    }

    /// A stall shrinks too, keeping its class and no safety violation. The bundled
    /// timer-starvation scenario needs its attacker: removing it must lose the stall (the
    /// same schedule without it recovers, tests/byzantine.rs), so it stays.
    #[test]
    fn a_stall_shrinks_keeping_its_class() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/attacks/commit-extension-starvation-4.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let target = failure(&doc, 1).unwrap();
        assert_eq!((target.safety.len(), target.stall.map(|s| s.0)), (0, Some(StallClass::TimerStarved)));
        let shrunk = assert_minimal(&doc, 1, &target);
        assert_eq!(shrunk.doc["byzantine"].as_array().map(Vec::len), Some(1), "the attacker is essential");
        assert_eq!(shrunk.failure.expect()["stall"]["class"], "timer-starved");
    }

    /// An undiagnosed stall is written as where it stalls, not as a class no scenario may
    /// expect: the shrunk file must load (it did not, after the whole shrink).
    #[test]
    fn an_undiagnosed_stall_is_expected_by_height_and_view_only() {
        let f =
            Failure { safety: vec![], stall: Some((StallClass::Undiagnosed, 1, 1)), violated: vec![], settled: None };
        let expect = f.expect();
        assert_eq!(expect["stall"], json!({"height": 1, "view": 1}));
        let doc = json!({"validators": 4, "stop": {"heights": 1}, "expect": expect});
        scenario::parse(&doc.to_string(), "u").expect("loads");
    }

    /// A counterexample the explorer found by DFS (the first one it reaches, not a short
    /// one) shrinks step by step: the result still violates S4, is shorter, and no single
    /// step can go (checked by `assert_minimal` over every candidate, schedule steps
    /// included).
    #[test]
    fn an_explored_schedule_shrinks_to_a_minimal_one() {
        use crate::explore::search::{Bounds, Ending, Explorer};
        let original = json!({"validators": 4, "protocol": {"semantics": "csharp", "mutation": "no-commit-phase"}});
        let spec = scenario::parse(&original.to_string(), "t").unwrap();
        let bounds = Bounds { crashes: 1, dfs: true, max_states: 20_000, ..Bounds::default() };
        let out = Explorer::new(&spec, bounds).unwrap().run(&mut |_| {});
        assert_eq!(out.ending, Ending::Violation);
        let steps = out.violation.unwrap().steps;
        let doc = crate::cli::explore::scheduled_scenario(&original, &spec, "cx", "", 1, &steps, json!({}));
        let target = failure(&doc, spec.seed).unwrap();
        assert!(target.safety.contains(&InvariantId::S4), "{target:?}");
        let shrunk = assert_minimal(&doc, spec.seed, &target);
        let kept = len_at(&shrunk.doc, "/schedule");
        assert!(kept > 0 && kept < steps.len(), "{kept} of {} steps", steps.len());
    }

    /// A long schedule loses its idle steps in runs, not one replay per step per step
    /// kept out: 64 adversary-timer steps of a forging node in front of the 11-step fork
    /// go in a few hundred replays (one at a time, restarting after each, took about 13
    /// per step kept out: over 800), and the result is still 1-minimal.
    #[test]
    fn a_long_schedule_sheds_idle_steps_in_runs() {
        let mut doc = bundled_explore("explore-collusion-4-S1-S3");
        let fork = len_at(&doc, "/schedule");
        doc["byzantine"][0]["behaviours"].as_array_mut().unwrap().push(json!({"kind": "forge", "period_ms": 1000}));
        let idle = vec![json!({"do": "adversary-timer", "node": "R1"}); CHUNKED_FROM];
        let steps = doc["schedule"].as_array_mut().unwrap();
        steps.splice(0..0, idle);
        doc["expect"].as_object_mut().unwrap().remove("digests");
        let target = failure(&doc, 1).unwrap();
        assert_eq!(target.safety, vec![InvariantId::S1, InvariantId::S3]);
        let shrunk = assert_minimal(&doc, 1, &target);
        assert_eq!(len_at(&shrunk.doc, "/schedule"), fork, "only the fork's own steps stay");
        assert!(shrunk.steps.iter().any(|e| matches!(e, Edit::RemoveRange(..))), "{:?}", shrunk.steps);
        assert!(shrunk.runs < 400, "{} replays", shrunk.runs);
    }

    fn bundled_explore(name: &str) -> Value {
        let path = format!("{}/../scenarios/explore/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A stuck state shrinks only to states that are stuck too. The bundled C# lock was
    /// written before the explorer dropped dead messages (48 steps, 11 of them deliveries
    /// of messages the explorer now drops as dead). Shrunk, its end must still be settled
    /// as the explorer judges it, and a complete search from that end under the bounds it
    /// was found with must reach no state that finishes the height. (When settledness was
    /// judged without dropping what the explorer drops, the original did not replay as
    /// settled, the comparison compared nothing, and shrinks kept short prefixes with
    /// messages in flight from which the height finishes.)
    #[test]
    fn a_shrunk_stuck_state_is_still_stuck() {
        use crate::explore::search::{Bounds, Ending, Explorer};
        let doc = bundled_explore("explore-4-stuck-commit-lock");
        let before = len_at(&doc, "/schedule");
        let target = failure(&doc, 1).unwrap();
        assert_eq!(target.stall.map(|s| s.0), Some(StallClass::CommitLock));
        assert!(target.settles(), "the explorer found it with nothing in flight: {target:?}");
        let shrunk = shrink(&doc, 1, &target, |_| {});
        let after = len_at(&shrunk.doc, "/schedule");
        assert!(after < before, "{after} of {before} steps: the dead deliveries at least can go");
        let spec = scenario::parse(&shrunk.doc.to_string(), "shrunk").unwrap();
        let bounds = Bounds { max_view: 1, crashes: 1, stop_at_finish: true, ..Bounds::default() };
        let mut x = Explorer::new(&spec, bounds).unwrap();
        x.start_after_schedule().expect("the shrunk schedule is followable under its bounds");
        let out = x.run(&mut |_| {});
        assert_eq!((out.ending, out.finished), (Ending::Complete, 0), "no continuation finishes the height");
    }

    /// A scheduled stall that ends with live messages in flight cannot be told from a
    /// schedule that stops early, so no step of it is removed (any shorter prefix would
    /// "stall" as well).
    #[test]
    fn a_schedule_that_stops_early_is_not_shrunk() {
        let mut doc = bundled_explore("explore-4-robust-stuck-commit-lock");
        if let Some(steps) = doc["schedule"].as_array_mut() {
            steps.truncate(6);
        }
        let target = failure(&doc, 1).unwrap();
        assert!(target.stall.is_some() && target.safety.is_empty(), "{target:?}");
        assert!(!target.settles(), "six steps in, messages are in flight: {target:?}");
        assert!(!target.keeps(&target), "not even a schedule showing exactly the same is kept");
        let shrunk = shrink(&doc, 1, &target, |_| {});
        assert!(shrunk.steps.is_empty(), "{} edits kept", shrunk.steps.len());
        assert_eq!(shrunk.runs, 0, "nothing can be kept, so nothing is tried");
    }

    /// A counterexample whose timers fired only when nothing was in flight (found under
    /// explore's synchrony bound) keeps that property while it shrinks; one found without
    /// the bound need not.
    #[test]
    fn a_synchronous_counterexample_stays_synchronous() {
        let with = |synchronous: bool| Failure {
            safety: vec![InvariantId::S4],
            stall: None,
            violated: vec![InvariantId::S4],
            settled: Some([Some(Replay { settled: false, synchronous, timely: false }); 2]),
        };
        assert!(with(true).keeps(&with(true)));
        assert!(!with(false).keeps(&with(true)), "a shrink may not make timers race the network");
        assert!(with(true).keeps(&with(false)) && with(false).keeps(&with(false)));
    }
}
