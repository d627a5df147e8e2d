//! The drivers: a scheduled run through the engine takes the same steps, with the same
//! records, as the untimed model the explorer steps; a schedule that names an impossible
//! step ends the run with an error naming it.

use crate::engine::trace::{Observer, Rec};
use crate::explore::model::Sys;
use crate::explore::schedule;
use std::collections::BTreeMap;

/// The scenarios `explore` wrote (its counterexamples): every file in
/// `scenarios/explore/`, read when the test runs so that a new one is covered too.
fn written() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/explore");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/explore")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "scenarios/explore/ holds the written scenarios ({})", files.len());
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("readable"))).collect()
}

/// Every record, in order, as text (debug form: every field, times included).
#[derive(Default)]
struct Log(Vec<String>);

impl Observer for Log {
    fn observe(&mut self, r: &Rec) -> Option<crate::engine::trace::Halt> {
        self.0.push(format!("{r:?}"));
        None
    }
}

/// The records of stepping the untimed model directly through `spec.schedule`.
fn model_records(spec: &crate::scenario::RunSpec) -> (Vec<String>, BTreeMap<&'static str, u64>) {
    let (env, replicas, _) = schedule::setup(spec, spec.seed, false).expect("setup");
    let mut log = Log::default();
    let mut marks = BTreeMap::new();
    let (mut sys, _) = Sys::start(&env, replicas, &schedule::initial_txs(spec), &mut log, Some(&mut marks));
    for step in &spec.schedule {
        let act = sys.resolve(step).expect("every written step is possible");
        sys.apply(&env, act, &mut log, Some(&mut marks));
    }
    (log.0, marks)
}

#[test]
fn a_scheduled_run_through_the_engine_records_what_the_model_records() {
    for (path, json) in written() {
        let spec = crate::scenario::parse(&json, &path).expect("parses");
        let (want, want_marks) = model_records(&spec);
        let mut got = Log::default();
        let result = crate::world::run(&spec, spec.seed, Some(&mut got), false);
        assert_eq!(result.schedule_error, None, "{}", spec.name);
        assert!(want.len() > spec.schedule.len(), "{}: the steps did something", spec.name);
        assert_eq!(got.0, want, "{}: the engine's records differ from the model's", spec.name);
        assert_eq!(result.marks, want_marks, "{}", spec.name);
    }
}

#[test]
fn an_impossible_step_is_an_error_naming_it_and_ends_the_run() {
    // A node that is down cannot crash again; the step after the bad one must not run.
    let s = crate::scenario::parse(
        r#"{"validators": 4, "stop": {"heights": 1}, "schedule": [
            {"do": "crash", "node": "R2"}, {"do": "crash", "node": "R2"}, {"do": "timer", "node": "R1"}]}"#,
        "t",
    )
    .expect("parses");
    let mut log = Log::default();
    let result = crate::world::run(&s, 1, Some(&mut log), false);
    let e = result.schedule_error.clone().expect("an error");
    assert!(e.starts_with("schedule[1] (crash R2)") && e.contains("already down"), "{e}");
    // Nothing after the bad step ran: R1's timer never fired.
    assert!(!log.0.iter().any(|r| r.contains("Timer")), "{:?}", log.0);
    // `check` must not pass it: a stall is what this scenario's (default) expectation
    // rules out anyway, so expect the stall and see the schedule error alone fail it.
    let mut stalls = s.clone();
    stalls.expect.liveness_holds = Some(false);
    let report = crate::report::Report::build(&stalls, &result);
    assert!(!report.outcome.as_expected);
    assert_eq!(report.outcome.mismatches.len(), 1, "{:?}", report.outcome.mismatches);
    assert!(report.outcome.mismatches[0].starts_with("the schedule could not be followed"));
}

/// The entries of the engine's in-flight sets that a scheduled run's lookups visit
/// (`Engine::in_flight_visits`), and the records it made.
fn visits(json: &str) -> (u64, usize) {
    let spec = crate::scenario::parse(json, "t").expect("parses");
    let (_, replicas, parts) = schedule::setup(&spec, spec.seed, false).expect("setup");
    let mut engine = schedule::engine(&spec, spec.seed, replicas, &parts, spec.schedule.clone());
    let mut log = Log::default();
    engine.run(&mut log);
    assert_eq!(engine.driver().error, None, "every step was possible");
    (engine.in_flight_visits(), log.0.len())
}

/// A forging node's adversary timer, fired `k` times.
fn forge_ticks(k: usize) -> String {
    let step = r#"{"do": "adversary-timer", "node": "R3"}"#;
    format!(
        r#"{{"validators": 4, "stop": {{"heights": 1}},
            "byzantine": [{{"node": "R3", "behaviours": [{{"kind": "forge", "period_ms": 1}}]}}],
            "schedule": [{}]}}"#,
        vec![step; k].join(",")
    )
}

/// Each adversary-timer step adds forgeries to what is in flight, and used to cost a walk
/// of all of it (every send looked for rule holds to release, every copy for an identical
/// one): 2,000 steps took 5 s, 5,000 over 20 s. Twice the steps must now cost about
/// twice the lookups, not four times.
#[test]
fn adversary_timer_steps_cost_what_they_send_not_what_is_in_flight() {
    let (small, small_records) = visits(&forge_ticks(500));
    let (large, large_records) = visits(&forge_ticks(1_000));
    assert!(large_records > 2 * small_records - 100, "the steps sent something: {small_records} {large_records}");
    assert!(small > 500, "the lookups are counted: {small}");
    assert!(large <= 2 * small + small / 10, "{small} lookups for 500 steps, {large} for 1,000: not linear");
}

/// A scheduled run starts with every node's start-up broadcast in flight, N (N − 1)
/// copies; each used to walk all copies before it (N⁴: N = 250 took 9.5 s, 1,024 never
/// ended). Twice the nodes must now cost about four times the lookups (the copies), not
/// sixteen.
#[test]
fn a_scheduled_runs_lookups_grow_with_the_copies_in_flight() {
    let run = |n: u32| visits(&format!(r#"{{"validators": {n}, "schedule": [{{"do": "crash", "node": "R0"}}]}}"#)).0;
    let (small, large) = (run(30), run(60));
    assert!(small >= 30 * 29, "every start-up copy is counted once: {small}");
    assert!(large <= 5 * small, "{small} lookups at N = 30, {large} at N = 60: not quadratic");
}
