//! Whole runs of the dBFT 2.0 replica through the engine, with expectations derived from
//! the protocol (docs/dbft-2.0.md §1.13 happy path, §1.5 timers, §1.9 recovery).

use dbft_sim::protocol::MsgKind;
use dbft_sim::report::OutcomeKind;
use dbft_sim::report::Report;
use dbft_sim::scenario::{self, RunSpec};
use dbft_sim::world::{self, RunResult};

fn spec(json: &str) -> RunSpec {
    scenario::parse(json, "test").unwrap()
}

fn run(s: &RunSpec, seed: u64) -> (RunResult, Report) {
    let r = world::run(s, seed, None, false);
    let report = Report::build(s, &r);
    (r, report)
}

fn f_of(n: u64) -> u64 {
    (n - 1) / 3
}

#[test]
fn honest_networks_finalise_every_height_in_view_0_with_exact_message_counts() {
    const H: u64 = 6;
    for semantics in ["csharp", "go"] {
        for n in [1u64, 4, 7, 21] {
            // Constant 1 ms links: every node sees the same schedule, so every node makes
            // its own Commit before any block can reach it (exact counts).
            let s = spec(&format!(
                r#"{{"validators": {n}, "protocol": {{"semantics": "{semantics}", "block_time_ms": 1000}},
                    "network": {{"preset": "ideal"}}, "stop": {{"heights": {H}}}}}"#
            ));
            let (r, rep) = run(&s, 1);
            let tag = format!("{semantics} N={n}");
            assert_eq!(rep.outcome.kind, OutcomeKind::Ok, "{tag}: {:?}", rep.outcome);
            assert_eq!(rep.heights.finalised as u64, H, "{tag}");
            assert!(rep.per_height.iter().all(|h| h.view == 0), "{tag}: a height needed a view change");
            let m = &r.metrics;
            let sent = |k| m.kind(k).sent;
            // docs/dbft-2.0.md §1.13: per height 1 request + (N−1) responses + N commits, all broadcast.
            assert_eq!(sent(MsgKind::PrepareRequest), H, "{tag}");
            assert_eq!(sent(MsgKind::PrepareResponse), H * (n - 1), "{tag}");
            assert_eq!(sent(MsgKind::Commit), H * n, "{tag}");
            assert_eq!(sent(MsgKind::ChangeView), 0, "{tag}");
            // Start-up (§1.6): C# nodes ask for recovery once and the F+1 successors of each
            // answer. Go nodes do not ask at start, but at height 1 every Go timer is 0 (the
            // genesis quirk, §1.5), so each backup times out at once, has heard from nobody
            // (nc + nf > F) and sends a RecoveryRequest instead of a ChangeView.
            let (rr, rm) = match (semantics, n) {
                (_, 1) if semantics == "go" => (0, 0),
                (_, 1) => (1, 0), // the only successor of the lone validator is itself
                ("go", _) => (n - 1, (n - 1) * (f_of(n) + 1)),
                _ => (n, n * (f_of(n) + 1)),
            };
            assert_eq!(sent(MsgKind::RecoveryRequest), rr, "{tag}");
            assert_eq!(sent(MsgKind::RecoveryMessage), rm, "{tag}");
            assert_eq!(m.kind(MsgKind::Commit).dropped, 0, "{tag}");
        }
    }
}

#[test]
fn block_time_is_about_t_on_a_wan() {
    for semantics in ["csharp", "go"] {
        let s = spec(&format!(
            r#"{{"validators": 7, "protocol": {{"semantics": "{semantics}"}}, "network": {{"preset": "wan"}},
                "stop": {{"heights": 12}}}}"#
        ));
        let (_, rep) = run(&s, 3);
        assert_eq!(rep.outcome.kind, OutcomeKind::Ok);
        assert!(rep.per_height.iter().all(|h| h.view == 0));
        // After the first height, a block every T = 15 s plus at most one consensus round
        // (a few WAN round trips, well under 2 s) and never earlier than T minus a round.
        let p50 = rep.latency.block_interval_ms.p50;
        assert!((14_000.0..17_000.0).contains(&p50), "{semantics}: p50 interval {p50}");
        for h in rep.per_height.iter().skip(1) {
            assert!(
                (13_000.0..18_000.0).contains(&h.interval_ms),
                "{semantics}: height {} interval {}",
                h.height,
                h.interval_ms
            );
        }
    }
}

#[test]
fn crashed_primary_costs_exactly_its_heights_one_view_change() {
    for semantics in ["csharp", "go"] {
        let mut s = scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/primary-crash-7.json"
        )))
        .unwrap();
        s.protocol.semantics = scenario::parse(&format!(r#"{{"protocol": {{"semantics": "{semantics}"}}}}"#), "x")
            .unwrap()
            .protocol
            .semantics;
        let (_, rep) = run(&s, 1);
        assert_eq!(rep.outcome.kind, OutcomeKind::Ok, "{semantics}: {:?}", rep.outcome);
        // R1 is the view-0 primary of heights h ≡ 1 (mod 7): 1 and 8 among 1..=10.
        for h in &rep.per_height {
            let want = if h.height % 7 == 1 { 1 } else { 0 };
            assert_eq!(h.view, want, "{semantics}: height {} finalised in view {}", h.height, h.view);
            assert_ne!(h.finalised_by, "R1");
        }
        // The view-1 primary of heights 1 and 8 is (h − 1) mod 7 = R0; every other height
        // was proposed by its view-0 primary h mod 7.
        for h in &rep.per_height {
            let want = if h.height % 7 == 1 { "R0".to_string() } else { format!("R{}", h.height % 7) };
            assert_eq!(h.primary, want, "{semantics}: height {}", h.height);
        }
    }
}

#[test]
fn lossy_network_keeps_finalising_and_stays_safe_over_many_seeds() {
    // 10% loss per message. Recovery (timeouts, ChangeView, RecoveryMessage with commits,
    // block relay and GetBlocks) must keep every height coming. The full sweep is in
    // scripts/sweep.sh; this runs 200 seeds of a short run for each semantics.
    for semantics in ["csharp", "go"] {
        let s = spec(&format!(
            r#"{{"validators": 7, "protocol": {{"semantics": "{semantics}", "block_time_ms": 2000}},
                "network": {{"preset": "wan", "loss": 0.1}}, "stop": {{"heights": 4}}}}"#
        ));
        let (mut lost_commits, mut recovery_resends) = (0, 0);
        for seed in 0..200 {
            let (r, rep) = run(&s, seed);
            assert!(
                rep.outcome.violated.is_empty(),
                "{semantics} seed {seed}: {:?}",
                rep.invariants.iter().flat_map(|i| i.violations.iter().map(|v| v.detail.clone())).collect::<Vec<_>>()
            );
            assert_eq!(
                rep.outcome.kind,
                OutcomeKind::Ok,
                "{semantics} seed {seed}: {:?}",
                rep.liveness.stall.as_ref().map(|s| &s.reason)
            );
            lost_commits += r.metrics.kind(MsgKind::Commit).dropped;
            recovery_resends += r.marks.get("timeout while committed: RecoveryMessage").copied().unwrap_or(0);
        }
        // The sweep really exercised loss and the committed-node recovery path.
        assert!(lost_commits > 100, "{semantics}: only {lost_commits} commits lost");
        assert!(recovery_resends > 0, "{semantics}: no committed node ever re-sent its commit");
    }
}

#[test]
fn same_seed_same_digest_in_one_process() {
    let s = spec(r#"{"validators": 7, "network": {"preset": "lossy"}, "stop": {"heights": 5}}"#);
    let (a, ra) = run(&s, 9);
    let (b, rb) = run(&s, 9);
    assert_eq!(a.digest, b.digest);
    assert_eq!(ra.to_json(), rb.to_json());
    let (c, _) = run(&s, 10);
    assert_ne!(a.digest, c.digest);
}

/// Transactions pooled before consensus starts are proposed in block 1 under both
/// semantics. The Go primary of height 1 proposes the moment it starts (nspcc-dev/dbft
/// `Start` → `sendPrepareRequest` → `Fill`, which takes whatever the mempool holds), so the
/// transactions must be in its mempool before its start event, not just at the same time.
#[test]
fn initial_transactions_are_in_block_one_under_both_semantics() {
    use dbft_sim::engine::trace::{Ev, Halt, Observer, Rec};
    struct FirstBlock(Option<usize>);
    impl Observer for FirstBlock {
        fn observe(&mut self, rec: &Rec) -> Option<Halt> {
            if let Ev::Persist { block, .. } = &rec.ev
                && block.height() == 1
                && self.0.is_none()
            {
                self.0 = Some(block.txs.len());
            }
            None
        }
    }
    for semantics in ["csharp", "go"] {
        let s = spec(&format!(
            r#"{{"validators": 4, "protocol": {{"semantics": "{semantics}", "block_time_ms": 1000}},
                "network": {{"preset": "ideal"}}, "workload": {{"initial_txs": 5, "tx_rate_per_s": 0}},
                "stop": {{"heights": 1}}}}"#
        ));
        let mut first = FirstBlock(None);
        world::run(&s, 1, Some(&mut first), false);
        assert_eq!(first.0, Some(5), "{semantics}: block 1 holds the five pooled transactions");
    }
}

#[test]
fn a_run_starting_at_height_5_finalises_5_onwards_with_the_usual_primaries() {
    // Heights 1..4 are final before the run; the run decides 5..10. Per height the happy
    // path is the same as from genesis (1 request, N−1 responses, N commits), and the
    // view-0 primary of height h is h mod N. What differs from a start at height 1 is Go's
    // zero timer: it applies only at height 1 (initializeConsensus), so a Go network
    // starting at 5 sends no RecoveryRequest at all, while C# nodes ask once at start
    // whatever the height (OnStart).
    const FIRST: u64 = 5;
    const LAST: u64 = 10;
    for semantics in ["csharp", "go"] {
        let n = 4u64;
        let s = spec(&format!(
            r#"{{"validators": {n}, "start_height": {FIRST}, "protocol": {{"semantics": "{semantics}", "block_time_ms": 1000}},
                "network": {{"preset": "ideal"}}, "stop": {{"heights": {LAST}}}}}"#
        ));
        let (r, rep) = run(&s, 1);
        let tag = semantics;
        assert_eq!(rep.outcome.kind, OutcomeKind::Ok, "{tag}: {:?}", rep.outcome);
        assert_eq!((rep.heights.start as u64, rep.heights.finalised as u64), (FIRST, LAST), "{tag}");
        let heights: Vec<u64> = rep.per_height.iter().map(|h| h.height as u64).collect();
        assert_eq!(heights, (FIRST..=LAST).collect::<Vec<_>>(), "{tag}: the report names the run's heights");
        for h in &rep.per_height {
            assert_eq!(h.view, 0, "{tag}: height {} needed a view change", h.height);
            assert_eq!(h.primary, format!("R{}", h.height as u64 % n), "{tag}: height {}", h.height);
        }
        let m = &r.metrics;
        let sent = |k| m.kind(k).sent;
        let count = LAST - FIRST + 1;
        assert_eq!(sent(MsgKind::PrepareRequest), count, "{tag}");
        assert_eq!(sent(MsgKind::PrepareResponse), count * (n - 1), "{tag}");
        assert_eq!(sent(MsgKind::Commit), count * n, "{tag}");
        assert_eq!(sent(MsgKind::ChangeView), 0, "{tag}");
        let (rr, rm) = if semantics == "go" { (0, 0) } else { (n, n * (f_of(n) + 1)) };
        assert_eq!(sent(MsgKind::RecoveryRequest), rr, "{tag}");
        assert_eq!(sent(MsgKind::RecoveryMessage), rm, "{tag}");
        assert!(r.checkers.violations.is_empty(), "{tag}: {:?}", r.checkers.violations);
    }
}

#[test]
fn start_height_is_validated_with_its_field_path() {
    let bad = |json: &str, path: &str| {
        let e = scenario::parse(json, "test").expect_err(json);
        assert!(e.to_string().contains(path), "{json}: {e}");
    };
    bad(r#"{"start_height": 0}"#, "start_height");
    bad(r#"{"start_height": 1000000}"#, "start_height");
    bad(r#"{"start_height": 5, "stop": {"heights": 4}}"#, "stop.heights");
    bad(
        r#"{"validators": {"count": 4, "candidates": 1}, "start_height": 5,
            "changes": [{"do": "join", "node": "C0", "at_height": 3}]}"#,
        "changes[0].at_height",
    );
    // Default stop: ten heights from the start.
    let s = spec(r#"{"start_height": 5}"#);
    assert_eq!((s.start_height, s.stop.heights), (5, Some(14)));
}

#[test]
fn rejected_hashes_is_a_csharp_option() {
    let e = scenario::parse(r#"{"protocol": {"semantics": "go", "rejected_hashes": true}}"#, "test").unwrap_err();
    assert!(e.to_string().contains("protocol.rejected_hashes"), "{e}");
    assert!(spec(r#"{"protocol": {"rejected_hashes": true}}"#).protocol.rejected_hashes);
    assert!(!spec("{}").protocol.rejected_hashes);
}
