//! Runs a scenario that carries an explicit `schedule`: the engine, driven by the
//! [`Schedule`] driver, takes exactly the listed steps in the untimed model of
//! [`model`](super::model), observed by the same digest, metrics, invariant checkers,
//! trace writer and narrator as a seeded run, so `run`, `--narrate`, `check`, `diff` and
//! the report take one path. The explorer itself steps [`Sys`] directly (cheaper to clone
//! and fingerprint); both produce the same records for the same steps (a test checks it).
//!
//! Every record carries time zero (the model has no time). A step that is not possible
//! when its turn comes (no such message in flight, no armed timer) ends the run with a
//! schedule error naming the step: the file is wrong, not the protocol.

use super::model::{self, Env, Sys};
use crate::byzantine::Node;
use crate::engine::clock::Clock;
use crate::engine::driver::Schedule;
use crate::engine::rng::{SimRng, Stream};
use crate::engine::time::SimTime;
use crate::engine::trace::{Digest, Observer, Observers};
use crate::engine::workload::Workload;
use crate::engine::{Engine, NodeSetup, StopCondition, StopReason};
use crate::invariants::Checkers;
use crate::invariants::diagnosis::{self, ReplicaDiag, Stall, StallInput};
use crate::net::Network;
use crate::protocol::dbft::DbftReplica;
use crate::protocol::{NodeId, Replica};
use crate::report::metrics::Metrics;
use crate::scenario::RunSpec;
use crate::world::{self, RunResult};

/// The processes of `spec` (honest replicas, and Byzantine wrappers whose behaviours the
/// untimed model can run: `model::untimed_behaviour`) and the fixed environment of its
/// untimed system.
pub fn setup(spec: &RunSpec, seed: u64, trace_content: bool) -> Result<(Env, Vec<Node>, world::Parts), String> {
    let mut parts = world::parts(spec, seed);
    for (i, n) in spec.nodes.iter().enumerate() {
        if n.byzantine_from != SimTime::ZERO {
            return Err(format!("node {}: a Byzantine start time (`from_ms`) is not modelled without time", n.name));
        }
        for b in &n.behaviours {
            model::untimed_behaviour(b).map_err(|e| format!("node {}: {e}", spec.nodes[i].name))?;
        }
    }
    let replicas = std::mem::take(&mut parts.nodes);
    let target = spec.stop.heights.unwrap_or(1);
    let env = Env {
        keys: parts.keys.clone(),
        honest: parts.honest.clone(),
        target,
        trace_content,
        recovery: true,
        deadlines: false,
        max_delay: 0,
    };
    Ok((env, replicas, parts))
}

/// The initial transactions each node's mempool holds (withheld ones never arrive: the
/// model has no time for a withholding window to end in), then the validator-set change
/// transactions submitted at time zero that reach it, in the scenario's order (no gossip
/// delay: the model has no time; changes at a later time or height are refused).
pub fn initial_txs(spec: &RunSpec) -> Vec<Vec<u64>> {
    let changes = world::change_txs(spec);
    (0..spec.nodes.len())
        .map(|i| {
            let node = NodeId(i as u32);
            let txs = (1..=spec.workload.initial_txs).filter(|&tx| !spec.workload.withheld(tx, node));
            let at_start = changes.iter().filter(|c| c.at == Some(SimTime::ZERO) && c.reaches(node)).map(|c| c.tx);
            txs.chain(at_start).collect()
        })
        .collect()
}

/// The stall diagnosis of an untimed state: no time has passed, so no timer counts as
/// starved and nothing as "still progressing"; what remains is the structural classes
/// (too-many-faulty, invalid-block, commit-lock, view-split).
pub fn stall(spec: &RunSpec, sys: &Sys, env: &Env) -> Stall {
    let replicas: Vec<&DbftReplica> = sys.replicas.iter().map(|n| n.replica()).collect();
    untimed_stall(spec, &replicas, &sys.up, &env.honest)
}

/// The stall diagnosis from the (inner) replicas of every node.
fn untimed_stall(spec: &RunSpec, replicas: &[&DbftReplica], up: &[bool], honest: &[bool]) -> Stall {
    let diags: Vec<ReplicaDiag> = (0..replicas.len())
        .map(|i| {
            let r: &DbftReplica = replicas[i];
            ReplicaDiag {
                name: spec.node_name(NodeId(i as u32)).to_string(),
                honest: honest[i],
                up: up[i],
                validator: r.status().is_some_and(|s| !s.watch_only),
                ledger_height: r.ledger_height(),
                last_timer: Some(SimTime::ZERO),
                status: r.status(),
            }
        })
        .collect();
    let m = (0..replicas.len())
        .filter(|&i| honest[i] && up[i])
        .filter_map(|i| replicas[i].status())
        .min_by_key(|s| s.height)
        .map_or(1, |s| s.m);
    diagnosis::diagnose(StallInput {
        replicas: diags,
        partitions: Vec::new(),
        last_progress: None,
        end: None,
        bound: spec.liveness.bound,
        block_time: spec.protocol.block_time_us,
        m,
    })
}

/// Runs `spec` (which has a non-empty `schedule`) with `seed` (it fixes the keys): the
/// engine with the [`Schedule`] driver, which takes exactly the listed steps in the
/// untimed model (`engine/driver.rs`), observed like any run.
pub fn run(spec: &RunSpec, seed: u64, extra: Option<&mut dyn Observer>, trace_content: bool) -> RunResult {
    // Resolve refuses what the untimed model cannot run with a schedule; this is the belt
    // to its braces.
    let (replicas, parts, setup_error) = match setup(spec, seed, trace_content) {
        Ok((_, replicas, parts)) => (replicas, parts, None),
        Err(e) => (Vec::new(), world::parts(spec, seed), Some(e)),
    };
    let target = spec.stop.heights.unwrap_or(1);
    let steps = if setup_error.is_none() { spec.schedule.clone() } else { Vec::new() };
    let n = replicas.len();
    let mut engine = engine(spec, seed, replicas, &parts, steps);
    engine.trace_content = trace_content;
    let mut digest = Digest::default();
    let mut metrics = Metrics::new(parts.honest.clone());
    let mut checkers = Checkers::new(parts.check.clone());
    let reason = {
        let mut obs = Observers { list: vec![&mut digest, &mut metrics, &mut checkers] };
        if let Some(x) = extra {
            obs.list.push(x);
        }
        engine.run(&mut obs)
    };
    checkers.finish(SimTime::ZERO, digest.events);
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let error = setup_error.or_else(|| {
        engine.driver().error.as_ref().map(|(i, step, why)| {
            format!("schedule[{i}] ({}): {}", step.describe(&names), super::step::with_names(why, &names))
        })
    });
    let finals: Vec<&DbftReplica> = (0..n).map(|i| engine.replica(NodeId(i as u32)).replica()).collect();
    let up: Vec<bool> = (0..n).map(|i| engine.is_up(NodeId(i as u32))).collect();
    let finished = n > 0 && finished(&finals, &up, &parts.honest, target);
    let stop = match reason {
        StopReason::Halted(h) => StopReason::Halted(h),
        _ if finished => StopReason::Heights,
        _ => StopReason::Quiescent,
    };
    let halted = matches!(stop, StopReason::Halted(_));
    let stall: Option<Stall> =
        (!finished && !halted && n > 0).then(|| untimed_stall(spec, &finals, &up, &parts.honest));
    RunResult {
        seed,
        stop,
        end: SimTime::ZERO,
        digest: digest.finish(),
        metrics,
        checkers,
        stall,
        liveness_holds: finished,
        marks: engine.all_marks(),
        ledger_heights: finals.iter().map(|r| r.ledger_height()).collect(),
        honest: parts.honest,
        up,
        rules: Vec::new(),
        schedule_error: error,
    }
}

/// The engine of a scheduled run, not yet run: `replicas` (from [`setup`]) on a wire that
/// is never routed on, driven by the [`Schedule`] driver through `steps`.
pub fn engine(
    spec: &RunSpec,
    seed: u64,
    replicas: Vec<Node>,
    parts: &world::Parts,
    steps: Vec<crate::explore::step::Step>,
) -> Engine<Node, Schedule> {
    let target = spec.stop.heights.unwrap_or(1);
    let setups: Vec<(Node, NodeSetup)> = replicas
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, NodeSetup { honest: parts.honest[i], clock: Clock::default() }))
        .collect();
    let n = setups.len();
    // The wire is never routed on (the driver keeps every copy in flight until a step).
    let mut topo_rng = SimRng::derive(seed, Stream::Topology);
    let net = Network::new(spec.network.clone(), n, SimRng::derive(seed, Stream::Network), &mut topo_rng);
    let workload = Workload::new(
        spec.workload.clone(),
        spec.network.latency.clone(),
        SimRng::derive(seed, Stream::Workload),
        SimRng::derive(seed, Stream::Changes),
    )
    .with_changes(world::change_txs(spec));
    let stop = StopCondition { until: SimTime::MAX, heights: Some(target) };
    let mut engine =
        Engine::with_driver(setups, net, Schedule::new(steps, target), parts.keys.clone(), Some(workload), stop);
    engine.set_names(spec.nodes.iter().map(|n| n.name.clone()).collect());
    engine
}

/// Every honest, running validator has persisted `target` ([`Sys::finished`]).
fn finished(replicas: &[&DbftReplica], up: &[bool], honest: &[bool], target: u32) -> bool {
    (0..replicas.len()).all(|i| {
        let r = &replicas[i];
        !honest[i] || !up[i] || r.ledger_height() >= target || r.ctx.watch_only()
    })
}
