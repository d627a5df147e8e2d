//! Byzantine behaviours: safety with at most F of them, a caught fork at F+1, the replayed
//! lock scenarios, and scripted rules that change only what they match.

mod common;

use common::{load, report};
use dbft_sim::engine::trace::{Ev, Halt, Observer, Rec};
use dbft_sim::invariants::InvariantId;
use dbft_sim::invariants::diagnosis::StallClass;
use dbft_sim::report::{LivenessStatus, OutcomeKind};
use dbft_sim::scenario::{self, RunSpec};
use dbft_sim::world;

/// N=4 (F=1) with one Byzantine identity: R1, the first primary, misbehaves from the start.
fn one_byzantine(extra: &str) -> RunSpec {
    let text = format!(
        r#"{{"validators": 4, "protocol": {{"block_time_ms": 1000}}, "network": {{"preset": "wan", "loss": 0.02}},
            "stop": {{"heights": 4, "duration_ms": 60000}}, {extra}}}"#
    );
    scenario::parse(&text, "byz").unwrap()
}

#[test]
fn at_most_f_byzantine_keep_s1_to_s4_over_200_seeds_each() {
    let behaviours = [
        r#"{"kind": "silent"}"#,
        r#"{"kind": "equivocate", "b_to": ["R3"]}"#,
        r#"{"kind": "double-sign"}"#,
        r#"{"kind": "withhold-commits", "delay_ms": 3000, "to": ["R0"]}"#,
        r#"{"kind": "change-view-flood", "period_ms": 300, "forged_view": 9, "stale": true}"#,
        r#"{"kind": "replay", "period_ms": 250}"#,
        r#"{"kind": "forge", "period_ms": 400}"#,
        r#"{"kind": "selective-delivery", "to": ["R2"]}"#,
        r#"{"kind": "garbage-commits", "period_ms": 500}"#,
    ];
    let mut cases: Vec<(String, RunSpec)> = behaviours
        .iter()
        .map(|b| (b.to_string(), one_byzantine(&format!(r#""byzantine": [{{"node": "R1", "behaviours": [{b}]}}]"#))))
        .collect();
    cases.push(("twins".into(), one_byzantine(r#""twins": [{"node": "R1", "to": ["R0"], "twin_to": ["R2", "R3"]}]"#)));
    cases.push((
        "compromised key".into(),
        one_byzantine(r#""compromised_keys": [{"key_of": "R1", "behaviours": [{"kind": "equivocate", "b_to": ["R0"]}, {"kind": "double-sign"}]}]"#),
    ));
    for (what, s) in &cases {
        let mut rejected = 0u64;
        let mut stalls = 0u32;
        for seed in 0..200 {
            let r = report(s, seed);
            let safety: Vec<_> = r.outcome.violated.iter().filter(|id| id.is_safety()).collect();
            assert!(safety.is_empty(), "{what} seed {seed}: {safety:?} {:?}", r.invariants);
            rejected += r.rejected.values().sum::<u64>();
            stalls += (r.liveness.status != LivenessStatus::Holds) as u32;
        }
        if what.contains(r#""kind": "forge""#) || what.contains("garbage-commits") {
            assert!(rejected > 1000, "forgeries must be rejected and counted: {rejected}");
        }
        // Liveness is not promised: a selectively delivering node can desynchronise views
        // for a while, and even a silent node is the "one dead node" of the known dBFT 2.0
        // lock (docs/dbft-2.0.md §2), which loss can complete. Report it, do not assert it.
        eprintln!("{what}: {stalls} of 200 short runs did not reach 4 heights in 60 s");
    }
}

#[test]
fn f_plus_1_colluders_can_fork_and_the_fork_is_caught_and_accountable() {
    let s = load("scenarios/attacks/collusion-f-plus-1-4.json");
    let r = report(&s, s.seed);
    assert_eq!(r.outcome.violated, vec![InvariantId::S1, InvariantId::S3]);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
    let a = &r.accountability[0];
    assert!(a.accountable);
    assert_eq!(a.double_signers.len(), 2, "the two colluders' keys");
    // With only one of the two colluders, the same attack cannot fork.
    let mut one = s.clone();
    one.nodes[0].behaviours.clear();
    one.nodes[0].honest = true;
    let r = report(&one, one.seed);
    assert!(r.outcome.violated.iter().all(|id| !id.is_safety()), "{:?}", r.outcome.violated);
}

#[test]
fn crash_lock_stalls_as_commit_lock_and_four_good_nodes_recover() {
    let s = load("scenarios/attacks/crash-lock-4.json");
    let r = report(&s, s.seed);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
    let stall = r.liveness.stall.as_ref().unwrap();
    assert_eq!((stall.class, stall.height, stall.view), (StallClass::CommitLock, 1, 0));
    // The lock state of docs/dbft-2.0.md §2: one dead, one committed, two asking for view 1.
    let phase = |name: &str| {
        let d = stall.replicas.iter().find(|d| d.name == name).unwrap();
        (d.up, d.status.as_ref().map(|s| s.phase))
    };
    use dbft_sim::protocol::Phase;
    assert!(!phase("R1").0, "R1 is down");
    assert_eq!(phase("R2"), (true, Some(Phase::CommitSent)));
    assert_eq!(phase("R0"), (true, Some(Phase::ViewChanging)));
    assert_eq!(phase("R3"), (true, Some(Phase::ViewChanging)));
    assert_eq!(r.rules[0].applied, 1, "the held response");

    let s = load("scenarios/attacks/four-good-nodes-792.json");
    let r = report(&s, s.seed);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
    assert_eq!(r.per_height[0].view, 1, "height 1 is final in view 1");
    assert!(r.coverage.get("ChangeView replaced by RecoveryRequest").copied().unwrap_or(0) >= 2);
}

/// The finding behind `commit-extension-starvation-4`: a Commit of the current view extends
/// the receiver's timer before its block signature is checked, and a rejected Commit is not
/// stored, so one Byzantine validator sending garbage Commits keeps every honest timer from
/// firing. The same schedule without the attacker must recover by a view change, which is what
/// makes the stall the attacker's doing rather than the workload's.
#[test]
fn garbage_commits_starve_honest_timers_and_the_honest_schedule_recovers() {
    let path = common::repo().join("scenarios/attacks/commit-extension-starvation-4.json");
    let s = load("scenarios/attacks/commit-extension-starvation-4.json");
    let r = report(&s, s.seed);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
    let stall = r.liveness.stall.as_ref().unwrap();
    assert_eq!((stall.class, stall.height, stall.view), (StallClass::TimerStarved, 1, 0));
    assert!(r.rejected.get("Commit:bad-signature").copied().unwrap_or(0) >= 100, "{:?}", r.rejected);
    assert_eq!(r.heights.finalised, 0);

    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let obj = doc.as_object_mut().unwrap();
    obj.remove("byzantine");
    obj.remove("expect");
    let honest = scenario::parse(&doc.to_string(), "honest").unwrap();
    let r = report(&honest, s.seed);
    assert!(r.liveness.stall.is_none(), "{:?}", r.liveness.stall.map(|s| s.class));
    assert!(r.heights.finalised >= 3);
    assert_eq!(r.per_height[0].view, 1, "height 1 needs one view change without the attacker");
}

/// Collects every event except duplicate deliveries, without step numbers.
#[derive(Default)]
struct Events {
    lines: Vec<String>,
    dup_deliveries: u64,
}
impl Observer for Events {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        if let Ev::Deliver { dup: true, .. } = rec.ev {
            self.dup_deliveries += 1;
            return None;
        }
        let mut v = serde_json::to_value(rec).unwrap();
        v.as_object_mut().unwrap().remove("step");
        // Message ids are numbered in send order; both runs send the same messages.
        self.lines.push(v.to_string());
        None
    }
}

#[test]
fn a_rule_changes_only_what_it_matches() {
    // Duplicating every PrepareRequest: receivers ignore a request they already have, so
    // the run is the same event for event, plus one duplicate delivery per match.
    let base = load("scenarios/happy-7.json");
    let mut ruled = base.clone();
    ruled.rules = scenario::parse(
        r#"{"validators": 7, "rules": [{"name": "dup requests", "match": {"types": ["PrepareRequest"]}, "action": {"do": "duplicate"}}]}"#,
        "x",
    )
    .unwrap()
    .rules;
    let (mut a, mut b) = (Events::default(), Events::default());
    let ra = world::run(&base, 3, Some(&mut a), false);
    let rb = world::run(&ruled, 3, Some(&mut b), false);
    assert_eq!(a.dup_deliveries, 0);
    assert_eq!(rb.rules[0].matched, b.dup_deliveries, "every match is one duplicate delivery");
    assert_eq!(rb.rules[0].matched, 10 * 6, "10 requests, 6 recipients each");
    assert_eq!(a.lines, b.lines, "nothing else differs");
    assert_ne!(ra.digest, rb.digest, "the duplicates are in the digest");
    // A drop rule's effect is counted too.
    let mut dropped = base.clone();
    dropped.rules = scenario::parse(
        r#"{"validators": 7, "rules": [{"match": {"from": ["R3"], "types": ["Commit"], "height": 2}, "action": {"do": "drop"}}]}"#,
        "x",
    )
    .unwrap()
    .rules;
    let r = report(&dropped, 3);
    assert_eq!(r.rules[0].matched, 6);
    assert_eq!(r.drops.get("rule"), Some(&6));
    assert_eq!(r.outcome.kind, OutcomeKind::Ok, "one validator's lost commits do not matter");
}

#[test]
fn held_messages_never_vanish_unseen() {
    // R1's commits held until R9... there is no R9: until W0 (a watcher, which never sends
    // consensus messages) sends a ChangeView — which never happens.
    let text = |gst: &str| {
        format!(
            r#"{{"validators": {{"count": 4, "watchers": 1}}, "protocol": {{"block_time_ms": 1000}}, {gst}
                "rules": [{{"match": {{"from": ["R1"], "types": ["Commit"]}},
                            "action": {{"do": "hold", "until_sent": {{"node": "W0", "type": "ChangeView"}}}}}}],
                "stop": {{"heights": 3}}}}"#
        )
    };
    let s = scenario::parse(&text(""), "held").unwrap();
    let r = report(&s, 1);
    let held = r.rules[0].applied;
    assert!(held > 0);
    assert_eq!(r.drops.get("rule"), Some(&held), "every held delivery is recorded as dropped at the end");
    // With GST declared, the rule stops and the held deliveries go out at GST.
    let s = scenario::parse(&text(r#""liveness": {"gst_ms": 1500},"#), "held").unwrap();
    let r = report(&s, 1);
    assert!(r.rules[0].applied > 0);
    assert_eq!(r.drops.get("rule"), None, "released at GST, not dropped");
}
