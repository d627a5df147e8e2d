//! Byzantine nodes in the explorer and in scheduled runs: the wrappers act, their sends are
//! explored like any message, and what the untimed model cannot run is refused by field.

use super::model::Prune;
use super::search::{Bounds, Ending, Explorer};
use crate::cli::explore::scheduled_scenario;
use crate::invariants::InvariantId;
use serde_json::{Value, json};

/// Observes nothing (steps taken on the untimed model directly).
struct Null;

impl crate::engine::trace::Observer for Null {
    fn observe(&mut self, _: &crate::engine::trace::Rec) -> Option<crate::engine::trace::Halt> {
        None
    }
}

const EQUIVOCATE: &str = "byzantine: equivocating PrepareRequest";
const DOUBLE_SIGN: &str = "byzantine: double-signed a proposal";

/// N = 4; R1 (view 0's primary at height 1) proposes block A to R0 and R2 and block B to
/// R0 and R3, and signs both; with `colluder`, R0 signs every proposal it sees too.
fn scenario(colluder: bool) -> Value {
    let mut byz = vec![json!({"node": "R1", "behaviours": [
        {"kind": "equivocate", "a_to": ["R0", "R2"], "b_to": ["R0", "R3"]},
        {"kind": "double-sign"}
    ]})];
    if colluder {
        byz.push(json!({"node": "R0", "behaviours": [{"kind": "double-sign"}]}));
    }
    json!({"validators": 4, "seed": 1, "stop": {"heights": 1}, "byzantine": byz})
}

fn bounds(max_states: u64, walks: Option<u64>, prune: Prune) -> Bounds {
    Bounds { max_view: 0, max_states, prune, walks, walk_stuck_budget: 0, ..Bounds::default() }
}

/// F + 1 = 2 colluders out of 4 (beyond what dBFT tolerates): R2 can gather A's request,
/// R0's response and its own (M = 3 preparations), then Commits from R1, R0 and itself;
/// R3 the same for B. Two honest nodes persist different blocks at height 1 (S1), unless
/// one hears of the other's block first — so some schedules fork and a random walk finds
/// one. The schedule, written as a scenario, must replay to S1 with `run`, and the
/// behaviours' coverage marks show both acted.
#[test]
fn two_colluders_fork_height_one_and_the_schedule_replays() {
    let original = scenario(true);
    let s = crate::scenario::parse(&original.to_string(), "t").expect("scenario");
    let out = Explorer::new(&s, bounds(1_000_000, Some(2_000), Prune::On)).expect("explorer").run(&mut |_| {});
    assert_eq!(out.ending, Ending::Violation);
    let v = out.violation.as_ref().expect("violation");
    assert_eq!(v.ids, [InvariantId::S1, InvariantId::S3], "{}", v.detail);
    assert!(out.marks.get(EQUIVOCATE).is_some_and(|&n| n > 0) && out.marks.get(DOUBLE_SIGN).is_some_and(|&n| n > 0));
    // A fork is also a branching block tree (S3); nothing else may fail.
    let expect = json!({"violations": ["S1", "S3"], "marks": {EQUIVOCATE: 1, DOUBLE_SIGN: 1}});
    let doc = scheduled_scenario(&original, &s, "cx", "test", 1, &v.steps, expect);
    assert!(doc.get("byzantine").is_some(), "the written scenario keeps the Byzantine nodes");
    let (result, report) = super::tests::replay_doc(&doc);
    assert!(result.checkers.violations.iter().any(|x| x.id == InvariantId::S1));
    assert!(report.outcome.as_expected, "{:?}", report.outcome);
}

/// One equivocating, double-signing validator (F = 1): an honest node commits a block
/// only with M = 3 Commits, at least two of them honest, and an honest node signs one
/// block per height, so two honest quorums for different blocks would need an honest
/// node in both. No schedule breaks safety; a bounded BFS (with every dropped dead
/// message checked to be a no-op) and complete random walks find none, and the marks
/// show the behaviours acted in them.
#[test]
fn one_byzantine_validator_breaks_no_safety_property_in_a_bounded_search() {
    let s = crate::scenario::parse(&scenario(false).to_string(), "t").expect("scenario");
    let bfs = Explorer::new(&s, bounds(1_500, None, Prune::Check)).expect("explorer").run(&mut |_| {});
    assert_eq!(bfs.ending, Ending::StateBudget);
    let walks = Explorer::new(&s, bounds(1_000_000, Some(300), Prune::On)).expect("explorer").run(&mut |_| {});
    assert_eq!(walks.ending, Ending::WalksDone);
    assert!(walks.finished > 0, "some walks finish the height");
    for out in [&bfs, &walks] {
        assert!(out.violation.is_none(), "{:?}", out.violation);
        for mark in [EQUIVOCATE, DOUBLE_SIGN] {
            assert!(out.marks.get(mark).is_some_and(|&n| n > 0), "{mark}: {:?}", out.marks);
        }
    }
}

/// A behaviour that holds messages back for a delay, and a start time, are refused by
/// field path in a scheduled run (the untimed model has no clock); a periodic one is
/// accepted (its period is an adversary-timer step).
#[test]
fn timed_behaviours_are_refused_with_a_schedule() {
    let with = |byz: Value| {
        let doc = json!({"validators": 4, "byzantine": [byz],
            "schedule": [{"do": "timer", "node": "R1"}]});
        crate::scenario::parse(&doc.to_string(), "t").map(|_| ()).map_err(|e| e.to_string())
    };
    let withhold = with(
        json!({"node": "R2", "behaviours": [{"kind": "double-sign"}, {"kind": "withhold-commits", "delay_ms": 100}]}),
    );
    let e = withhold.expect_err("a withholding delay is refused");
    assert!(e.contains("byzantine[0].behaviours[1]") && e.contains("withhold-commits"), "{e}");
    with(json!({"node": "R2", "behaviours": [{"kind": "replay", "period_ms": 100}]}))
        .expect("a periodic behaviour is accepted");
    let late = with(json!({"node": "R2", "from_ms": 5, "behaviours": [{"kind": "double-sign"}]}));
    let e = late.expect_err("a start time is refused");
    assert!(e.contains("byzantine[0].from_ms"), "{e}");
    with(json!({"node": "R2", "behaviours": [{"kind": "double-sign"}]})).expect("a timer-free behaviour is accepted");
}

/// Dead-message pruning must not judge messages to a Byzantine node by its inner replica
/// (model.rs, `honest_recipient`): the wrapper reacts to what the inner replica ignores.
/// R0 double-signs. R1, view 0's primary, proposes and then times out; R0 enters view 1
/// (its own ChangeView and R2's and R3's: M = 3) and hears R1's ChangeView. R1's view-0
/// PrepareRequest is now dead to R0's inner replica (a lower view, and R0's record of R1
/// is already at view 0: ignored now and forever), yet the wrapper still double-signs it. So it must stay in flight under pruning, and delivering it must act.
/// If pruning asked the inner replica, the message would be gone and the test fails.
#[test]
fn pruning_keeps_what_a_byzantine_recipient_acts_on() {
    use super::model::{Act, Sys};
    use super::schedule;
    use crate::protocol::{MsgKind, NodeId};
    let doc = json!({"validators": 4, "seed": 1, "stop": {"heights": 1},
        "byzantine": [{"node": "R0", "behaviours": [{"kind": "double-sign"}]}]});
    let s = crate::scenario::parse(&doc.to_string(), "t").expect("scenario");
    let (env, replicas, _) = schedule::setup(&s, 1, false).expect("setup");
    let (mut sys, _) = Sys::start(&env, replicas, &schedule::initial_txs(&s), &mut Null, None);
    sys.set_prune(&env, Prune::On);
    let n = |i: u32| NodeId(i);
    for i in [0, 2, 3, 1, 1] {
        sys.apply(&env, Act::Timer(n(i)), &mut Null, None);
    }
    let to_r0 = |sys: &Sys, from: u32, kind: MsgKind| {
        sys.bag.iter().find(|(k, p)| k.0 == n(0) && k.1 == n(from) && p.kind == kind).map(|(k, _)| *k)
    };
    for from in [2, 3, 1] {
        let k = to_r0(&sys, from, MsgKind::ChangeView).expect("a ChangeView to R0");
        sys.apply(&env, Act::Deliver(k), &mut Null, None);
    }
    assert_eq!(sys.replicas[0].replica().ctx.view, 1, "R0 changed view");
    let k = to_r0(&sys, 1, MsgKind::PrepareRequest).expect("the view-0 proposal to R0 is still in flight");
    let msg = sys.bag[&k].msg.clone();
    assert!(sys.replicas[0].replica().ignores_forever(&msg), "dead to the inner replica");
    let mut marks = std::collections::BTreeMap::new();
    sys.apply(&env, Act::Deliver(k), &mut Null, Some(&mut marks));
    assert_eq!(marks.get(DOUBLE_SIGN), Some(&1), "{marks:?}");
    assert!(
        sys.bag.keys().any(|k| k.1 == n(0) && sys.bag[k].kind == MsgKind::Commit),
        "the double-signed Commit is in flight"
    );
}

const SELECTIVE: &str = "byzantine: delivered to a chosen subset";

/// Twins are processes of their own in the search: R2 runs twice with one key, the
/// original talking only to R0, the twin only to R1 and R3 (one faulty identity, within
/// F = 1, so no schedule may break safety: any two quorums of 3 share an honest node). A
/// bounded search with every dropped dead message checked finds no violation, and the
/// twins' split acted. A schedule the model takes with twins replays with `run` (the
/// engine's schedule driver) to the same end: every honest node persists height 1.
#[test]
fn twins_are_explored_and_their_schedules_replay() {
    use super::model::{Act, Sys};
    use super::schedule;
    let original = json!({"validators": 4, "seed": 1, "stop": {"heights": 1},
        "twins": [{"node": "R2", "to": ["R0"], "twin_to": ["R1", "R3"]}]});
    let s = crate::scenario::parse(&original.to_string(), "t").expect("scenario");
    let out = Explorer::new(&s, bounds(3_000, None, Prune::Check)).expect("explorer").run(&mut |_| {});
    assert_eq!(out.ending, Ending::StateBudget);
    assert!(out.violation.is_none(), "{:?}", out.violation);
    assert_eq!(out.local_states.len(), 5, "the twin is a fifth process");
    assert!(out.marks.get(SELECTIVE).is_some_and(|&n| n > 0), "{:?}", out.marks);

    // One schedule: R1 proposes, then every delivery in the pending set's order until
    // the height is finished.
    let (mut env, replicas, _) = schedule::setup(&s, 1, false).expect("setup");
    env.recovery = false;
    let (mut sys, _) = Sys::start(&env, replicas, &schedule::initial_txs(&s), &mut Null, None);
    let mut steps = Vec::new();
    let mut act = Act::Timer(crate::protocol::NodeId(1));
    for _ in 0..200 {
        steps.push(sys.describe(act));
        sys.apply(&env, act, &mut Null, None);
        if sys.finished(&env) {
            break;
        }
        let Some(k) = sys.bag.keys().next() else { break };
        act = Act::Deliver(*k);
    }
    assert!(sys.finished(&env), "the schedule finishes height 1");
    let doc = scheduled_scenario(&original, &s, "twins-replay", "test", 1, &steps, json!({}));
    let (result, report) = super::tests::replay_doc(&doc);
    assert!(result.checkers.violations.is_empty(), "{:?}", result.checkers.violations);
    assert_eq!(report.heights.min_honest, 1, "every honest node persisted height 1: {:?}", report.heights);
}

/// A periodic behaviour acts on its adversary timer, an explicit step. Under Go, one
/// Byzantine validator's garbage Commit that arrives before the PrepareRequest is stored,
/// never checked, and counted: a node that assembles from it has its block rejected and
/// waits forever (FINDINGS.md #9). So walks at N = 4 (R3 silent and sending garbage
/// Commits, max view 0) must prove an invalid-block stuck state, whose schedule takes an
/// adversary-timer step and replays with `run` to the same diagnosis with the attack's
/// mark. Each node takes at most `adversary_ticks` such steps.
#[test]
fn an_adversary_timer_step_drives_a_periodic_attack() {
    use crate::explore::step::Step;
    use crate::invariants::diagnosis::StallClass;
    let original = json!({"validators": 4, "seed": 1, "stop": {"heights": 1}, "protocol": {"semantics": "go"},
        "byzantine": [{"node": "R3", "behaviours": [{"kind": "silent"}, {"kind": "garbage-commits", "period_ms": 200}]}]});
    let s = crate::scenario::parse(&original.to_string(), "t").expect("scenario");
    let mut b = bounds(1_000_000, Some(500), Prune::On);
    b.walk_stuck_budget = 20_000;
    b.adversary_ticks = 1;
    let out = Explorer::new(&s, b).expect("explorer").run(&mut |_| {});
    assert!(out.violation.is_none(), "{:?}", out.violation);
    assert!(out.marks.get("byzantine: garbage commit").is_some_and(|&n| n > 0), "{:?}", out.marks);
    let wedge =
        out.stuck.iter().find(|st| st.class == StallClass::InvalidBlock).expect("an invalid-block state is proven");
    let ticks = wedge.steps.iter().filter(|st| matches!(st, Step::AdversaryTimer { .. })).count();
    assert_eq!(ticks, 1, "one garbage Commit, within the bound of one tick");
    let expect = json!({"safety": "holds", "liveness": "stalls", "stall": {"class": "invalid-block", "height": 1, "view": 0},
        "marks": {"byzantine: garbage commit": 1}});
    let doc = scheduled_scenario(&original, &s, "wedge", "test", 1, &wedge.steps, expect);
    let (_, report) = super::tests::replay_doc(&doc);
    assert!(report.outcome.as_expected, "{:?}", report.outcome);
}

/// A compromised key is an attacker process of its own (R3.attacker holds R3's key and
/// double-signs every proposal), R3 itself staying honest. One faulty key is within
/// F = 1: a bounded search with every dropped dead message checked finds no violation,
/// and the attacker acted. A scheduled run accepts the entry and refuses, by its path,
/// a behaviour that needs a clock.
#[test]
fn a_compromised_key_is_explored_as_an_attacker_process() {
    let original = json!({"validators": 4, "seed": 1, "stop": {"heights": 1},
        "compromised_keys": [{"key_of": "R3", "behaviours": [{"kind": "double-sign"}]}]});
    let s = crate::scenario::parse(&original.to_string(), "t").expect("scenario");
    let out = Explorer::new(&s, bounds(2_000, None, Prune::Check)).expect("explorer").run(&mut |_| {});
    assert_eq!(out.ending, Ending::StateBudget);
    assert!(out.violation.is_none(), "{:?}", out.violation);
    assert_eq!(out.local_states.len(), 5, "the attacker is a fifth process");
    assert!(out.marks.get(DOUBLE_SIGN).is_some_and(|&n| n > 0), "{:?}", out.marks);
    let with = |behaviour: Value| {
        let doc = json!({"validators": 4, "compromised_keys": [{"key_of": "R3", "behaviours": [behaviour]}],
            "schedule": [{"do": "timer", "node": "R1"}]});
        crate::scenario::parse(&doc.to_string(), "t").map(|_| ()).map_err(|e| e.to_string())
    };
    with(json!({"kind": "double-sign"})).expect("a timer-free attacker is accepted");
    let e = with(json!({"kind": "withhold-commits", "delay_ms": 100})).expect_err("a delay is refused");
    assert!(e.contains("compromised_keys[0].behaviours[0]"), "{e}");
}

/// `--withhold`: a Byzantine node's choice of recipients. R1, view 0's primary, sends
/// both of two conflicting PrepareRequests to each other validator (its behaviour's
/// menu). Only with `withhold` may the search drop them, and only them (no honest
/// message is in flight yet); a drop is the node's choice, not a loss, so it does not
/// count against a drop budget and is marked. Written as a schedule that withholds both
/// from R2, `run` replays it with the same mark, and R2 never sees a proposal.
#[test]
fn a_withholding_node_chooses_its_recipients_and_the_replay_shows_it() {
    use super::model::{Act, Choices, Sys};
    use super::schedule;
    use crate::protocol::NodeId;
    let original = json!({"validators": 4, "seed": 1, "stop": {"heights": 1}, "byzantine": [
        {"node": "R1", "behaviours": [{"kind": "equivocate", "a_to": ["R0", "R2", "R3"], "b_to": ["R0", "R2", "R3"]}]}
    ]});
    let s = crate::scenario::parse(&original.to_string(), "t").expect("scenario");
    let (mut env, replicas, _) = schedule::setup(&s, 1, false).expect("setup");
    env.recovery = false;
    let (mut sys, _) = Sys::start(&env, replicas, &schedule::initial_txs(&s), &mut Null, None);
    let mut steps = vec![sys.describe(Act::Timer(NodeId(1)))];
    sys.apply(&env, Act::Timer(NodeId(1)), &mut Null, None);
    assert_eq!(sys.bag.len(), 6, "two proposals to each of three validators");
    assert!(sys.bag.keys().all(|k| k.1 == NodeId(1)));
    let drops = |sys: &Sys, withhold: bool| {
        let mut acts = Vec::new();
        sys.enabled(&env, Choices { withhold, ..Choices::default() }, &mut acts);
        acts.into_iter().filter(|a| matches!(a, Act::Drop(_))).count()
    };
    assert_eq!((drops(&sys, false), drops(&sys, true)), (0, 6));
    let to_r2: Vec<_> = sys.bag.keys().filter(|k| k.0 == NodeId(2)).copied().collect();
    assert_eq!(to_r2.len(), 2);
    let mut marks = std::collections::BTreeMap::new();
    for k in to_r2 {
        steps.push(sys.describe(Act::Drop(k)));
        sys.apply(&env, Act::Drop(k), &mut Null, Some(&mut marks));
    }
    assert_eq!(sys.drops, 0, "withholding is not a loss");
    assert_eq!(marks.get(crate::engine::WITHHELD_MARK), Some(&2));
    let doc = scheduled_scenario(
        &original,
        &s,
        "cx",
        "test",
        1,
        &steps,
        json!({"liveness": "stalls", "marks": {crate::engine::WITHHELD_MARK: 2, EQUIVOCATE: 1}}),
    );
    let (result, report) = super::tests::replay_doc(&doc);
    assert_eq!(result.marks.get(crate::engine::WITHHELD_MARK), Some(&2));
    assert!(report.outcome.as_expected, "{:?}", report.outcome);
}
