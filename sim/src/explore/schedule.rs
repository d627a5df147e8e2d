//! Runs a scenario that carries an explicit `schedule`: the untimed system of
//! [`model`](super::model) takes exactly the listed steps, observed by the same digest,
//! metrics, invariant checkers, trace writer and narrator as a seeded run, so `run`,
//! `--narrate`, `check`, `diff` and the report work on it unchanged.
//!
//! Every record carries time zero (the model has no time). A step that is not possible
//! when its turn comes (no such message in flight, no armed timer) ends the run with a
//! schedule error naming the step: the file is wrong, not the protocol.

use super::model::{Env, Sys};
use crate::byzantine::Node;
use crate::engine::StopReason;
use crate::engine::time::SimTime;
use crate::engine::trace::{Digest, Observer, Observers};
use crate::invariants::Checkers;
use crate::invariants::diagnosis::{self, ReplicaDiag, Stall, StallInput};
use crate::protocol::dbft::DbftReplica;
use crate::protocol::{NodeId, Replica};
use crate::report::metrics::Metrics;
use crate::scenario::RunSpec;
use crate::world::{self, RunResult};
use std::collections::BTreeMap;

/// The honest replicas of `spec` and the fixed environment of its untimed system.
pub fn setup(spec: &RunSpec, seed: u64, trace_content: bool) -> Result<(Env, Vec<DbftReplica>, world::Parts), String> {
    let mut parts = world::parts(spec, seed);
    let mut replicas = Vec::with_capacity(parts.nodes.len());
    for (i, n) in std::mem::take(&mut parts.nodes).into_iter().enumerate() {
        match n {
            Node::Honest(r) => replicas.push(r),
            Node::Byzantine(_) => {
                return Err(format!(
                    "node {}: Byzantine behaviours are not modelled in scheduled runs",
                    spec.nodes[i].name
                ));
            }
        }
    }
    let target = spec.stop.heights.unwrap_or(1);
    let env = Env { keys: parts.keys.clone(), honest: parts.honest.clone(), target, trace_content, recovery: true };
    Ok((env, replicas, parts))
}

/// The initial transactions each node's mempool holds (withheld ones never arrive: the
/// model has no time for a withholding window to end in).
pub fn initial_txs(spec: &RunSpec) -> Vec<Vec<u64>> {
    (0..spec.nodes.len())
        .map(|i| (1..=spec.workload.initial_txs).filter(|&tx| !spec.workload.withheld(tx, NodeId(i as u32))).collect())
        .collect()
}

/// The stall diagnosis of an untimed state: no time has passed, so no timer counts as
/// starved and nothing as "still progressing"; what remains is the structural classes
/// (too-many-faulty, invalid-block, commit-lock, view-split).
pub fn stall(spec: &RunSpec, sys: &Sys, env: &Env) -> Stall {
    let replicas: Vec<ReplicaDiag> = (0..sys.replicas.len())
        .map(|i| {
            let r = &sys.replicas[i];
            ReplicaDiag {
                name: spec.node_name(NodeId(i as u32)).to_string(),
                honest: env.honest[i],
                up: sys.up[i],
                validator: r.status().is_some_and(|s| !s.watch_only),
                ledger_height: r.ledger_height(),
                last_timer: Some(SimTime::ZERO),
                status: r.status(),
            }
        })
        .collect();
    let m = (0..sys.replicas.len())
        .filter(|&i| env.honest[i] && sys.up[i])
        .filter_map(|i| sys.replicas[i].status())
        .min_by_key(|s| s.height)
        .map_or(1, |s| s.m);
    diagnosis::diagnose(StallInput {
        replicas,
        partitions: Vec::new(),
        last_progress: None,
        end: SimTime::ZERO,
        bound: spec.liveness.bound,
        block_time: spec.protocol.block_time_us,
        m,
    })
}

/// Runs `spec` (which has a non-empty `schedule`) with `seed` (it fixes the keys).
pub fn run(spec: &RunSpec, seed: u64, extra: Option<&mut dyn Observer>, trace_content: bool) -> RunResult {
    let (env, replicas, parts, setup_error) = match setup(spec, seed, trace_content) {
        Ok((env, replicas, parts)) => (env, replicas, parts, None),
        Err(e) => {
            // Resolve refuses Byzantine nodes with a schedule; this is the belt to its braces.
            let parts = world::parts(spec, seed);
            let env = Env {
                keys: parts.keys.clone(),
                honest: parts.honest.clone(),
                target: 1,
                trace_content,
                recovery: true,
            };
            (env, Vec::new(), parts, Some(e))
        }
    };
    let mut digest = Digest::default();
    let mut metrics = Metrics::new(parts.honest.clone());
    let mut checkers = Checkers::new(parts.check.clone());
    let mut marks = BTreeMap::new();
    let mut error = setup_error;
    let mut halted = None;
    let sys = {
        let mut obs = Observers { list: vec![&mut digest, &mut metrics, &mut checkers] };
        if let Some(x) = extra {
            obs.list.push(x);
        }
        let (mut sys, fx) = Sys::start(&env, replicas, &initial_txs(spec), &mut obs, Some(&mut marks));
        halted = halted.or(fx.halt);
        if error.is_none() {
            for (i, step) in spec.schedule.iter().enumerate() {
                if halted.is_some() {
                    break;
                }
                match sys.resolve(step) {
                    Ok(act) => {
                        let fx = sys.apply(&env, act, &mut obs, Some(&mut marks));
                        halted = halted.or(fx.halt);
                    }
                    Err(why) => {
                        let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
                        error = Some(format!("schedule[{i}] ({}): {why}", step.describe(&names)));
                        break;
                    }
                }
            }
        }
        sys
    };
    checkers.finish(SimTime::ZERO, digest.events);
    let finished = !sys.replicas.is_empty() && sys.finished(&env);
    let stop = match (&halted, finished) {
        (Some(h), _) => StopReason::Halted(h.0.clone()),
        (None, true) => StopReason::Heights,
        (None, false) => StopReason::Quiescent,
    };
    let stall: Option<Stall> =
        (!finished && halted.is_none() && !sys.replicas.is_empty()).then(|| stall(spec, &sys, &env));
    let n = sys.replicas.len();
    RunResult {
        seed,
        stop,
        end: SimTime::ZERO,
        digest: digest.finish(),
        metrics,
        checkers,
        stall,
        liveness_holds: finished,
        marks,
        ledger_heights: (0..n).map(|i| sys.replicas[i].ledger_height()).collect(),
        honest: parts.honest,
        up: sys.up.clone(),
        rules: Vec::new(),
        schedule_error: error,
    }
}

/// Replays `spec.schedule` on the untimed system alone (no checkers): true if every step
/// was possible and nothing is in flight at the end (a settled state). `recovery`: as the
/// explorer's bound (without, recovery messages never count as in flight).
pub fn settles(spec: &RunSpec, seed: u64, recovery: bool) -> bool {
    struct Null;
    impl Observer for Null {
        fn observe(&mut self, _: &crate::engine::trace::Rec) -> Option<crate::engine::trace::Halt> {
            None
        }
    }
    let Ok((mut env, replicas, _)) = setup(spec, seed, false) else { return false };
    env.recovery = recovery;
    let (mut sys, _) = Sys::start(&env, replicas, &initial_txs(spec), &mut Null, None);
    for step in &spec.schedule {
        match sys.resolve(step) {
            Ok(act) => {
                sys.apply(&env, act, &mut Null, None);
            }
            Err(_) => return false,
        }
    }
    sys.bag.is_empty()
}
