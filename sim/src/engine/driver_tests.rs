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
