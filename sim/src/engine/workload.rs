//! Transaction arrival: the workload model.
//!
//! Transactions are born at a Poisson rate at a random node and reach every other node's
//! mempool after a latency drawn from the network's latency distribution (the gossip
//! delay). A scenario can withhold chosen transactions from chosen nodes, which is how a
//! "transaction never arrives" schedule (TxNotFound, the crash lock) is built. All draws
//! come from the workload stream.
//!
//! Validator-set change transactions are submitted the same way — at a time, or when the
//! chain first reaches a height — at one origin node, and gossiped to the others with
//! delays from their own stream (`Stream::Changes`), so adding a change never moves a
//! workload draw.
//!
//! Deliberately left out: transaction validity, fees, sizes and on-demand fetching — a
//! withheld transaction never arrives at that node.

use super::rng::SimRng;
use super::time::{MICROS_PER_SEC, SimTime};
use crate::net::latency::{Latency, Sampler};
use crate::protocol::NodeId;
use crate::protocol::block::TxId;
use serde::Serialize;

/// Transactions `first..=last` do not reach `nodes` from the workload: never, or not before
/// `until` (a late arrival). With transaction fetching on (fetch.rs) a node may still get
/// them from a peer that holds them, so "never" means "nobody honest has it" only when
/// every honest node is listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Withhold {
    pub nodes: Vec<NodeId>,
    pub first: TxId,
    pub last: TxId,
    /// The end of the window: the transaction reaches the listed nodes then. None = never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<SimTime>,
}

/// Options of the workload model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadOptions {
    /// Mean transactions per second (Poisson arrivals); 0 = empty blocks.
    pub tx_rate_per_s: f64,
    /// Transactions present in every mempool at time 0 (ids 1..=initial_txs).
    pub initial_txs: u64,
    /// Withheld transactions.
    pub withhold: Vec<Withhold>,
    /// No transactions are born after this time.
    pub until: Option<SimTime>,
    /// Transactions chosen nodes' verifiers reject (the replicas act on it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<crate::protocol::dbft::validity::InvalidTxs>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions { tx_rate_per_s: 1.0, initial_txs: 0, withhold: Vec::new(), until: None, invalid: Vec::new() }
    }
}

impl WorkloadOptions {
    pub fn withheld(&self, tx: TxId, node: NodeId) -> bool {
        self.withheld_until(tx, node).is_some()
    }

    /// Until when `tx` is kept from `node`: `SimTime::MAX` for never, None if not withheld.
    /// With several matching entries the latest end wins.
    pub fn withheld_until(&self, tx: TxId, node: NodeId) -> Option<SimTime> {
        self.withhold
            .iter()
            .filter(|w| tx >= w.first && tx <= w.last && w.nodes.contains(&node))
            .map(|w| w.until.unwrap_or(SimTime::MAX))
            .max()
    }
}

/// A change transaction waiting to be submitted.
#[derive(Clone, Debug)]
pub struct ChangeTx {
    pub tx: TxId,
    pub origin: NodeId,
    /// Submitted at this time, or (if None) when `height` is first persisted.
    pub at: Option<SimTime>,
    pub height: u32,
    /// If set, only these nodes (and the origin) receive it.
    pub only: Option<Vec<NodeId>>,
    /// For the trace: what it does, in words.
    pub label: String,
}

impl ChangeTx {
    /// Whether `node` ever receives it: the origin does, and the `only` list (or
    /// everyone).
    pub fn reaches(&self, node: NodeId) -> bool {
        node == self.origin || self.only.as_ref().is_none_or(|l| l.contains(&node))
    }
}

/// The workload generator's state.
pub struct Workload {
    pub opts: WorkloadOptions,
    pub gossip: Latency,
    /// `gossip`, ready to draw from.
    gossip_sampler: Sampler,
    rng: SimRng,
    pub next_id: TxId,
    pub changes: Vec<ChangeTx>,
    change_rng: SimRng,
}

impl Workload {
    /// A workload drawing transactions from `rng` (the `Workload` stream) and the gossip
    /// of change transactions from `change_rng` (the `Changes` stream).
    pub fn new(opts: WorkloadOptions, gossip: Latency, rng: SimRng, change_rng: SimRng) -> Workload {
        let next_id = opts.initial_txs + 1;
        let gossip_sampler = Sampler::new(&gossip);
        Workload { opts, gossip, gossip_sampler, rng, next_id, changes: Vec::new(), change_rng }
    }

    /// Adds the run's change transactions.
    pub fn with_changes(mut self, changes: Vec<ChangeTx>) -> Workload {
        self.changes = changes;
        self
    }

    /// Per node, the delay after which change `i` reaches it (the origin at once; None:
    /// never).
    pub fn spread_change(&mut self, i: usize, n: usize) -> Vec<Option<u64>> {
        let c = &self.changes[i];
        let origin = c.origin.idx();
        let reaches: Vec<bool> = (0..n).map(|j| c.reaches(NodeId(j as u32))).collect();
        (0..n)
            .map(|j| match (j == origin, reaches[j]) {
                (true, _) => Some(0),
                (false, true) => Some(self.gossip_sampler.sample(&mut self.change_rng)),
                (false, false) => None,
            })
            .collect()
    }

    /// Delay until the next transaction is born, or None if the workload is off.
    pub fn next_gap(&mut self) -> Option<u64> {
        if self.opts.tx_rate_per_s <= 0.0 {
            return None;
        }
        let mean_us = MICROS_PER_SEC as f64 / self.opts.tx_rate_per_s;
        Some((self.rng.exponential(mean_us).round() as u64).max(1))
    }

    /// A new transaction born at `now`: its id and, per node, the delay after which it
    /// reaches that node (None = withheld for good; a windowed withhold delays it to the
    /// window's end). The origin node gets it at once.
    pub fn spawn(&mut self, n: usize, now: SimTime) -> (TxId, Vec<Option<u64>>) {
        let mut arrivals = Vec::with_capacity(n);
        let id = self.spawn_into(n, now, &mut arrivals);
        (id, arrivals)
    }

    /// [`spawn`](Self::spawn) with the delays written into `arrivals` (cleared first), so
    /// a caller that keeps the list allocates nothing per transaction.
    pub fn spawn_into(&mut self, n: usize, now: SimTime, arrivals: &mut Vec<Option<u64>>) -> TxId {
        let id = self.next_id;
        self.next_id += 1;
        let origin = self.rng.below(n as u64) as usize;
        arrivals.clear();
        arrivals.extend((0..n).map(|i| {
            let d = if i == origin { 0 } else { self.gossip_sampler.sample(&mut self.rng) };
            match self.opts.withheld_until(id, NodeId(i as u32)) {
                None => Some(d),
                Some(SimTime::MAX) => None,
                Some(until) => Some(d.max(until.since(now))),
            }
        }));
        id
    }
}
