//! The world: a resolved scenario turned into an engine full of replicas, a network, a
//! fault schedule and the observers, and run to its end.
//!
//! This is the one place that knows how the parts fit together: keys are handed to the
//! nodes that hold them, crashes and partitions are scheduled, the digest, metrics,
//! invariant checkers and (optionally) a trace writer observe the run, and when it ends
//! the stall diagnosis reads the replicas' final state.

use crate::byzantine::{self, Node};
use crate::engine::clock::Clock;
use crate::engine::rng::{SimRng, Stream};
use crate::engine::time::SimTime;
use crate::engine::trace::{Digest, Halt, Marker, Observer, Rec};
use crate::engine::workload::{ChangeTx, Workload};
use crate::engine::{Engine, NodeSetup, StopCondition, StopReason};
use crate::invariants::custody_model::ScheduleSpec;
use crate::invariants::diagnosis::{self, ReplicaDiag, Stall, StallInput};
use crate::invariants::{CheckContext, Checkers};
use crate::net::Network;
use crate::net::rules::{RuleSet, RuleStats};
use crate::protocol::block::Block;
use crate::protocol::crypto::{KeyId, Keyring};
use crate::protocol::dbft::{DbftOptions, DbftReplica};
use crate::protocol::{NodeId, Replica};
use crate::report::metrics::Metrics;
use crate::scenario::RunSpec;
use crate::scenario::spec::{ChangeTrigger, TimerSpec};
use crate::validators::ValidatorSet;
use crate::validators::change::{ChangeBook, SetChange};
use std::rc::Rc;

/// Everything a run produced, before it is turned into a report.
pub struct RunResult {
    pub seed: u64,
    pub stop: StopReason,
    pub end: SimTime,
    pub digest: crate::protocol::crypto::Hash32,
    pub metrics: Metrics,
    pub checkers: Checkers,
    pub stall: Option<Stall>,
    pub liveness_holds: bool,
    pub marks: std::collections::BTreeMap<&'static str, u64>,
    /// Final ledger height per node.
    pub ledger_heights: Vec<u32>,
    pub honest: Vec<bool>,
    /// Whether each node was running at the end.
    pub up: Vec<bool>,
    /// How often each scripted rule matched.
    pub rules: Vec<RuleStats>,
    /// A scheduled run whose schedule named a step that was not possible (bad input).
    pub schedule_error: Option<String>,
}

/// A built, not yet run, simulation.
pub struct World {
    pub engine: Engine<Node>,
    pub honest: Vec<bool>,
    pub check: CheckContext,
}

/// The replicas of `spec` for `seed`, and what the checkers need to judge them: shared by
/// the seeded engine ([`build`]) and the scheduled runner and explorer (`explore`).
pub struct Parts {
    pub keys: Rc<Keyring>,
    pub genesis: Rc<Block>,
    pub honest: Vec<bool>,
    pub nodes: Vec<Node>,
    pub check: CheckContext,
}

/// The validator set the genesis block names: the keys of the first `validators` nodes.
pub fn genesis_set(spec: &RunSpec) -> ValidatorSet {
    ValidatorSet::new((0..spec.validators as u32).map(KeyId).collect())
}

/// Builds the replicas of `spec` for `seed` (keys, genesis, options, Byzantine wrappers).
pub fn parts(spec: &RunSpec, seed: u64) -> Parts {
    let keys = Rc::new(Keyring::generate(seed, spec.validators + spec.candidates));
    let genesis_set = Rc::new(genesis_set(spec));
    let book = Rc::new(ChangeBook::new(spec.changes.iter().map(|c| c.change.clone()).collect()));
    let schedule = ScheduleSpec { genesis: genesis_set.clone(), handoff: spec.protocol.handoff, book: book.clone() };
    let opts = Rc::new(DbftOptions {
        block_time_us: spec.protocol.block_time_us,
        semantics: spec.protocol.semantics,
        max_tx_per_block: spec.protocol.max_tx_per_block,
        handoff: spec.protocol.handoff,
        book,
        mutation: spec.protocol.mutation,
        fixes: spec.protocol.fixes.clone(),
        fetch_txs: spec.network.fetch_txs,
        invalid_txs: spec.workload.invalid.clone(),
        rejected_hashes: spec.protocol.rejected_hashes,
        recovery_reply: spec.protocol.recovery_reply,
    });
    let genesis = Rc::new(Block::genesis(genesis_set));
    let prefix = crate::protocol::prefix::chain_prefix(&genesis, &keys, spec.start_height);
    let honest: Vec<bool> = spec.nodes.iter().map(|n| n.honest).collect();
    let peers: Vec<NodeId> = (0..spec.nodes.len() as u32).map(NodeId).collect();
    let nodes = spec
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let key = n.role.key_index().and_then(|k| keys.keypair(KeyId(k as u32)));
            let r = DbftReplica::on_chain(NodeId(i as u32), key, opts.clone(), genesis.clone(), &prefix);
            byzantine::process(&spec.nodes, i, r, &peers, &keys)
        })
        .collect();
    let check = CheckContext {
        honest: honest.clone(),
        names: spec.nodes.iter().map(|n| n.name.clone()).collect(),
        keys: keys.clone(),
        schedule,
        genesis: genesis.hash,
        prefix,
        gst: spec.liveness.gst,
        bound: spec.liveness.bound,
        max_views: spec.liveness.max_views,
        halt_on_violation: spec.stop.on_violation,
    };
    Parts { keys, genesis, honest, nodes, check }
}

/// The scenario's validator-set change transactions, as the workload submits them.
pub fn change_txs(spec: &RunSpec) -> Vec<ChangeTx> {
    spec.changes
        .iter()
        .enumerate()
        .map(|(i, c)| ChangeTx {
            tx: ChangeBook::tx_of(i),
            origin: c.origin,
            at: match c.when {
                ChangeTrigger::At(t) => Some(t),
                ChangeTrigger::Height(_) => None,
            },
            height: match c.when {
                ChangeTrigger::Height(h) => h,
                ChangeTrigger::At(_) => 0,
            },
            only: c.only.clone(),
            label: describe_change(spec, &c.change),
        })
        .collect()
}

/// Builds the world for `spec` as given (`run` applies the liveness phase first).
pub fn build(spec: &RunSpec, seed: u64) -> World {
    let Parts { keys, honest, nodes, check, .. } = parts(spec, seed);
    let replicas = nodes
        .into_iter()
        .zip(&spec.nodes)
        .enumerate()
        .map(|(i, (node, n))| (node, NodeSetup { honest: honest[i], clock: Clock { drift_ppm: n.clock_drift_ppm } }))
        .collect();
    let mut topo_rng = SimRng::derive(seed, Stream::Topology);
    let network =
        Network::new(spec.network.clone(), spec.nodes.len(), SimRng::derive(seed, Stream::Network), &mut topo_rng);
    let changes = change_txs(spec);
    let workload = Workload::new(
        spec.workload.clone(),
        spec.network.latency.clone(),
        SimRng::derive(seed, Stream::Workload),
        SimRng::derive(seed, Stream::Changes),
    )
    .with_changes(changes);
    let stop = StopCondition { until: spec.stop.duration, heights: spec.stop.heights };
    let mut engine = Engine::new(replicas, network, keys.clone(), Some(workload), stop);
    for c in &spec.crashes {
        engine.schedule_crash(c.node, c.at);
        if let Some(r) = c.restart {
            engine.schedule_restart(c.node, r, c.amnesia);
        }
    }
    for (i, p) in spec.network.partitions.iter().enumerate() {
        let names = |g: &Vec<NodeId>| g.iter().map(|n| spec.node_name(*n)).collect::<Vec<_>>().join(",");
        let groups: Vec<String> = p.groups.iter().map(|g| format!("[{}]", names(g))).collect();
        let partition = i as u32;
        let text = format!("partition {i} starts: {} | rest", groups.join(" "));
        engine.schedule_marker(p.from, Marker::PartitionStarts { partition }, &text);
        if p.until != SimTime::MAX {
            engine.schedule_marker(p.until, Marker::PartitionHeals { partition }, &format!("partition {i} heals"));
        }
    }
    engine.set_rules(RuleSet::new(spec.rules.clone()));
    engine.set_names(spec.nodes.iter().map(|n| n.name.clone()).collect());
    for t in &spec.timers {
        match *t {
            TimerSpec::Fire { node, at } => engine.schedule_forced_timer(node, at),
            TimerSpec::Suppress { node, from, until } => engine.suppress_timers(node, from, until),
        }
    }
    if let Some(g) = spec.liveness.gst {
        engine.schedule_marker(g, Marker::Gst, "GST: the network is synchronous from here on");
        engine.schedule_release_held(g);
    }
    World { engine, honest, check }
}

/// A change in words, with node names: "rotate R1 -> C1".
pub fn describe_change(spec: &RunSpec, c: &SetChange) -> String {
    let name = |k: &KeyId| spec.node_name(NodeId(k.0)).to_string();
    match c {
        SetChange::Join { key } => format!("join {}", name(key)),
        SetChange::Leave { key } => format!("leave {}", name(key)),
        SetChange::Eject { key } => format!("eject {}", name(key)),
        SetChange::Rotate { from, to } => format!("rotate {} -> {}", name(from), name(to)),
        SetChange::Replace { keys } => format!("replace by [{}]", keys.iter().map(name).collect::<Vec<_>>().join(", ")),
    }
}

/// The observers of a run in their fixed order (digest, metrics, checkers, then the
/// caller's), called as [`Observers`](crate::engine::trace::Observers) calls them but
/// directly: the engine reports every event, and a list of `dyn Observer`s cost three
/// indirect calls per event that the compiler could not inline.
struct RunObservers<'a, 'x> {
    digest: &'a mut Digest,
    metrics: &'a mut Metrics,
    checkers: &'a mut Checkers,
    extra: Option<&'a mut (dyn Observer + 'x)>,
}

impl Observer for RunObservers<'_, '_> {
    #[inline]
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        // Every observer sees every record; the first halt wins.
        let mut halt = self.digest.observe(rec);
        if let Some(h) = self.metrics.observe(rec) {
            halt.get_or_insert(h);
        }
        if let Some(h) = self.checkers.observe(rec) {
            halt.get_or_insert(h);
        }
        if let Some(x) = self.extra.as_mut()
            && let Some(h) = x.observe(rec)
        {
            halt.get_or_insert(h);
        }
        halt
    }

    #[inline]
    fn mark(&mut self, time: SimTime, node: Option<NodeId>, name: &'static str) {
        if let Some(x) = self.extra.as_mut() {
            x.mark(time, node, name);
        }
    }
}

/// Runs `spec` with `seed`; `extra` observers (a trace writer, a progress bar) see every
/// event too.
pub fn run(spec: &RunSpec, seed: u64, extra: Option<&mut dyn Observer>, trace_content: bool) -> RunResult {
    if !spec.schedule.is_empty() {
        return crate::explore::schedule::run(spec, seed, extra, trace_content);
    }
    let phased = crate::phases::liveness_phase(spec);
    let spec: &RunSpec = &phased;
    let World { mut engine, honest, check } = build(spec, seed);
    engine.trace_content = trace_content;
    let mut digest = Digest::default();
    let mut metrics = Metrics::new(honest.clone());
    let mut checkers = Checkers::new(check);
    engine.keep_recent(checkers.share_window());
    let stop = {
        let mut obs = RunObservers { digest: &mut digest, metrics: &mut metrics, checkers: &mut checkers, extra };
        engine.run(&mut obs)
    };
    let end = engine.now();
    metrics.add_ignored(engine.ignored_deliveries());
    metrics.add_unrecorded_duplicate_drops(engine.unrecorded_duplicate_drops());
    checkers.finish(end, digest.events);
    let liveness_reached = match spec.stop.heights {
        Some(_) => stop == StopReason::Heights,
        None => false,
    };
    let stall = if liveness_reached || matches!(stop, StopReason::Halted(_)) {
        None
    } else {
        let replicas: Vec<ReplicaDiag> = (0..engine.node_count())
            .map(|i| {
                let node = NodeId(i as u32);
                let r = engine.replica(node);
                ReplicaDiag {
                    name: spec.node_name(node).to_string(),
                    honest: honest[i],
                    up: engine.is_up(node),
                    validator: r.status().is_some_and(|s| !s.watch_only),
                    ledger_height: r.ledger_height(),
                    last_timer: metrics.last_timer[i],
                    status: r.status(),
                }
            })
            .collect();
        let partitions = spec
            .network
            .partitions
            .iter()
            .filter(|p| p.from <= end && end < p.until)
            .map(|p| p.groups.as_slice())
            .collect();
        Some(diagnosis::diagnose(StallInput {
            replicas,
            partitions,
            last_progress: metrics.last_progress,
            end: Some(end),
            bound: spec.liveness.bound,
            block_time: spec.protocol.block_time_us,
            m: stalled_quorum(&engine),
        }))
    };
    // Without a height target, liveness holds if a height was finalised within the
    // liveness bound before the end — the run's start counting as the last progress
    // before the first block, so a run shorter than the bound violates nothing.
    let last_final = metrics.finals.values().next_back().map(|f| f.time);
    let liveness_holds = liveness_reached
        || (spec.stop.heights.is_none() && end.since(last_final.unwrap_or(SimTime::ZERO)) <= spec.liveness.bound.0);
    let ledger_heights = (0..engine.node_count()).map(|i| engine.replica(NodeId(i as u32)).ledger_height()).collect();
    let up = (0..engine.node_count()).map(|i| engine.is_up(NodeId(i as u32))).collect();
    RunResult {
        seed,
        stop,
        end,
        digest: digest.finish(),
        metrics,
        checkers,
        stall,
        liveness_holds,
        marks: engine.all_marks(),
        ledger_heights,
        honest,
        up,
        rules: engine.rule_stats().to_vec(),
        schedule_error: None,
    }
}

/// M of the set at the lowest height an honest running validator is working on (the set
/// its own chain assigns to it), for the stall diagnosis.
fn stalled_quorum(engine: &Engine<Node>) -> usize {
    (0..engine.node_count())
        .map(|i| NodeId(i as u32))
        .filter(|&n| engine.is_honest(n) && engine.is_up(n))
        .filter_map(|n| engine.replica(n).status())
        .min_by_key(|s| s.height)
        .map_or(1, |s| s.m)
}
