//! The oracles can fail (mutations), do not fail on honest runs (no false alarms), and
//! explain stalls.

mod common;

use common::{load, report};
use dbft_sim::invariants::diagnosis::StallClass;
use dbft_sim::invariants::{InvariantId, InvariantStatus};
use dbft_sim::report::LivenessStatus;
use dbft_sim::report::Report;
use dbft_sim::scenario;

fn safety_violations(r: &Report) -> Vec<InvariantId> {
    r.outcome.violated.iter().copied().filter(|id| id.is_safety()).collect()
}

#[test]
fn mutations_trip_their_invariants_and_the_honest_protocol_passes_the_same_schedule() {
    for (file, expected) in [
        ("scenarios/attacks/spork-no-commit-phase-4.json", vec![InvariantId::S1, InvariantId::S3, InvariantId::S4]),
        ("scenarios/attacks/no-commit-lock-4.json", vec![InvariantId::S1, InvariantId::S3, InvariantId::S4]),
        ("scenarios/attacks/quorum-off-by-one-4.json", vec![InvariantId::S3, InvariantId::S5]),
    ] {
        let mutated = load(file);
        assert!(mutated.protocol.mutation.is_some());
        let r = report(&mutated, mutated.seed);
        assert_eq!(r.outcome.violated, expected, "{file}");
        assert!(r.outcome.as_expected, "{file}: {:?}", r.outcome.mismatches);
        // The same schedule, the honest protocol.
        let mut honest = mutated.clone();
        honest.protocol.mutation = None;
        let r = report(&honest, honest.seed);
        assert_eq!(safety_violations(&r), Vec::<InvariantId>::new(), "{file} without the mutation");
        assert_eq!(
            r.liveness.status,
            LivenessStatus::Holds,
            "{file} without the mutation: {:?}",
            r.liveness.stall.map(|s| s.reason)
        );
    }
}

#[test]
fn spork_fork_is_accountable_and_the_report_explains_it() {
    let s = load("scenarios/attacks/spork-no-commit-phase-4.json");
    let r = report(&s, s.seed);
    let s1 = &r.invariants.iter().find(|i| i.id == InvariantId::S1).unwrap().violations[0];
    assert_eq!(s1.height, 1);
    // The speaker R1 persisted A first; a backup (the first to assemble B) came second.
    assert_eq!(s1.node_names[0], "R1");
    assert!(["R0", "R2", "R3"].contains(&s1.node_names[1].as_str()), "{:?}", s1.node_names);
    assert_eq!(s1.blocks.len(), 2);
    assert_ne!(s1.blocks[0], s1.blocks[1]);
    assert!(!s1.window.is_empty() && s1.window.len() <= dbft_sim::invariants::WINDOW);
    // The window ends with the persist that broke S1.
    assert!(matches!(s1.window.last().unwrap().ev, dbft_sim::engine::trace::Ev::Persist { .. }));
    assert_eq!(r.accountability.len(), 1);
    let a = &r.accountability[0];
    assert!(a.accountable && a.double_signers.len() > a.f, "{a:?}");
}

#[test]
fn no_false_alarms_on_honest_runs() {
    // The full count (≥ 1,000 seeds) runs in scripts/sweep.sh; here a debug-sized sample.
    // Each sample must also have met the adversity it is there for, or it proves nothing.
    let scenarios = [
        (r#"{"validators": 4, "protocol": {"block_time_ms": 1000}, "stop": {"heights": 5}}"#, 5, "quiet"),
        (
            r#"{"validators": 7, "protocol": {"block_time_ms": 1000, "semantics": "go"}, "network": {"preset": "lossy"}, "stop": {"heights": 5}}"#,
            5,
            "loss",
        ),
        (
            r#"{"validators": 7, "protocol": {"block_time_ms": 1000}, "network": {"preset": "heavy-tail", "duplicate": 0.05},
            "faults": {"crashes": [{"node": "R2", "at_ms": 1500, "restart_ms": 9000}, {"node": "R5", "at_ms": 4000, "restart_ms": 5000, "amnesia": true}]},
            "stop": {"heights": 6}}"#,
            6,
            "crashes",
        ),
    ];
    for (text, heights, adversity) in scenarios {
        let s = scenario::parse(text, "sample").unwrap();
        for seed in 0..60 {
            let r = report(&s, seed);
            assert!(r.outcome.violated.is_empty(), "seed {seed} {text}: {:?}", r.outcome.violated);
            assert!(r.outcome.as_expected, "seed {seed} {text}: {:?}", r.outcome.mismatches);
            // Every invariant was checked and holds (L1 has no GST to check from).
            for i in &r.invariants {
                let expected =
                    if i.id == InvariantId::L1 { InvariantStatus::NotChecked } else { InvariantStatus::Holds };
                assert_eq!(i.status, expected, "seed {seed} {text}: {}", i.id);
            }
            assert_eq!(r.liveness.status, LivenessStatus::Holds, "seed {seed} {text}");
            assert!(r.heights.min_honest >= heights, "seed {seed} {text}: {:?}", r.heights.per_node);
            let sent: u64 = r.messages.values().map(|k| k.sent).sum();
            let duplicated: u64 = r.messages.values().map(|k| k.duplicated).sum();
            match adversity {
                "quiet" => assert!(r.drops.is_empty(), "seed {seed}: {:?}", r.drops),
                "loss" => assert!(r.drops.get("loss").copied().unwrap_or(0) > sent / 50, "seed {seed}: {:?}", r.drops),
                _ => {
                    assert!(duplicated > 0, "seed {seed}: nothing duplicated");
                    assert!(r.drops.get("recipient-down").copied().unwrap_or(0) > 0, "seed {seed}: {:?}", r.drops);
                }
            }
        }
    }
}

#[test]
fn stall_is_classified_with_per_replica_state() {
    let s = load("scenarios/faults/partition-2-2-4.json");
    let r = report(&s, s.seed);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
    let stall = r.liveness.stall.as_ref().unwrap();
    assert_eq!((stall.class, stall.height, stall.view), (StallClass::Partitioned, 2, 0));
    assert_eq!(stall.replicas.len(), 4);
    for d in &stall.replicas {
        let st = d.status.as_ref().unwrap();
        assert_eq!((st.height, st.view, st.count_committed), (2, 0, 0), "{}", d.name);
    }
    // And in the JSON report and the summary.
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["liveness"]["stall"]["class"], "partitioned");
    assert_eq!(json["liveness"]["stall"]["replicas"][0]["phase"], "view-changing");
    let text = dbft_sim::report::summary::render(&r, None);
    assert!(text.contains("STALL at height 2 view 0 — partitioned"), "{text}");
    assert!(text.contains("R3     up ledger 1: h2 v0 ViewChanging"), "{text}");
}

/// A run without a height target that ends before the first block time made no block
/// and changed no view, yet violated nothing: it was cut short (`still-progressing`),
/// liveness holds. (It was diagnosed `timer-starved`, "timers have not fired for over
/// 480000 ms", after 14 s.)
#[test]
fn a_run_shorter_than_the_first_block_is_cut_short_not_stalled() {
    let spec = dbft_sim::scenario::parse(r#"{"validators": 4, "stop": {"duration_ms": 14000}}"#, "short").unwrap();
    let r = common::report(&spec, 1);
    assert_eq!(r.liveness.status, dbft_sim::report::LivenessStatus::Holds);
    let stall = r.liveness.stall.as_ref().expect("a run short of any height is diagnosed");
    assert_eq!(stall.class, dbft_sim::invariants::diagnosis::StallClass::StillProgressing, "{}", stall.reason);
    assert!(r.outcome.as_expected, "{:?}", r.outcome.mismatches);
}
