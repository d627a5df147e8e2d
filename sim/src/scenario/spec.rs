//! The resolved run description: a scenario with every default filled in, every name
//! resolved to a node, every time in microseconds. Reports embed it, so a report alone
//! says exactly what ran.

use crate::engine::time::SimTime;
use crate::engine::workload::WorkloadOptions;
use crate::net::NetworkOptions;
use crate::protocol::NodeId;
use crate::protocol::crypto::Hash32;
use crate::protocol::dbft::Mutation;
use crate::protocol::dbft::semantics::Semantics;
use crate::validators::change::SetChange;
use crate::validators::handoff::HandoffOptions;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Holds the key of validator `index` of the genesis set.
    Validator { index: usize },
    /// Holds key `key`, outside the genesis set: a standby candidate that follows the
    /// chain and validates once its chain says so.
    Candidate { key: usize },
    /// Follows the chain; never sends consensus messages.
    Watcher,
    /// A second process holding validator `of`'s key (Twins).
    Twin { of: usize },
    /// An attacker process holding copies of the keys of the keyed nodes `keys_of`.
    Attacker { keys_of: Vec<usize> },
}

impl Role {
    /// The (first) key this process holds, if any. Keyed nodes — validators, then
    /// candidates — come first in the node list, so a key's index is its owner's index.
    pub fn key_index(&self) -> Option<usize> {
        match self {
            Role::Validator { index } => Some(*index),
            Role::Candidate { key } => Some(*key),
            Role::Twin { of } => Some(*of),
            Role::Attacker { keys_of } => keys_of.first().copied(),
            Role::Watcher => None,
        }
    }

    /// Every key this process holds.
    pub fn keys(&self) -> Vec<usize> {
        match self {
            Role::Attacker { keys_of } => keys_of.clone(),
            other => other.key_index().into_iter().collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub role: Role,
    /// Clock drift in parts per million (positive = fast).
    pub clock_drift_ppm: i64,
    /// Byzantine behaviours (empty: runs the honest replica unchanged).
    pub behaviours: Vec<crate::byzantine::Behaviour>,
    /// When the behaviours start.
    pub byzantine_from: SimTime,
    /// Whether invariants speak for this process: no behaviours, not a twin or attacker,
    /// not one half of a twin pair. (A node that restarts with amnesia stops being honest
    /// at that restart; the checkers see it in the event stream.)
    pub honest: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProtocolSpec {
    pub block_time_us: u64,
    pub semantics: Semantics,
    pub max_tx_per_block: usize,
    pub mutation: Option<Mutation>,
    /// Proposed protocol fixes in force.
    pub fixes: Vec<crate::protocol::dbft::Fix>,
    /// How decided validator-set changes take effect.
    pub handoff: HandoffOptions,
    /// neo-node's RejectedHashes rule (`DbftOptions::rejected_hashes`).
    pub rejected_hashes: bool,
    /// Who answers a RecoveryRequest's sender (`DbftOptions::recovery_reply`); left out of
    /// the report at its default so existing reports read as before.
    #[serde(skip_serializing_if = "is_broadcast")]
    pub recovery_reply: crate::protocol::dbft::RecoveryReply,
}

fn is_broadcast(r: &crate::protocol::dbft::RecoveryReply) -> bool {
    *r == crate::protocol::dbft::RecoveryReply::Broadcast
}

/// When a change transaction is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeTrigger {
    At(SimTime),
    /// When an honest node first persists this height.
    Height(u32),
}

/// One validator-set change transaction of the scenario (its id is
/// `CHANGE_TX_BASE + its index`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChangeSubmission {
    pub change: SetChange,
    pub when: ChangeTrigger,
    /// The node whose mempool gets it first; the others after a gossip delay.
    pub origin: NodeId,
    /// If set, only these nodes (and the origin) ever receive it.
    pub only: Option<Vec<NodeId>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrashSpec {
    pub node: NodeId,
    pub at: SimTime,
    pub restart: Option<SimTime>,
    pub amnesia: bool,
}

/// Scripted timer control.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum TimerSpec {
    Fire { node: NodeId, at: SimTime },
    Suppress { node: NodeId, from: SimTime, until: SimTime },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StopSpec {
    /// Stop once every honest node that is up has this many blocks.
    pub heights: Option<u32>,
    pub duration: SimTime,
    /// Stop at the first invariant violation (otherwise record it and go on).
    pub on_violation: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LivenessSpec {
    /// Global stabilisation time; L1 is checked only when it is declared.
    pub gst: Option<SimTime>,
    /// A height must be final within this long after max(GST, previous height's time).
    pub bound: SimTime,
    /// ... and in a view no higher than this.
    pub max_views: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectStall {
    pub class: Option<crate::invariants::diagnosis::StallClass>,
    pub height: Option<u32>,
    pub view: Option<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpectSpec {
    /// Some(true): every safety invariant holds; Some(false): at least one fails.
    pub safety_holds: Option<bool>,
    /// Invariants that must fail (all others must hold).
    pub violations: Option<Vec<crate::invariants::InvariantId>>,
    /// Some(true): the run reaches its height target; Some(false): it stalls.
    pub liveness_holds: Option<bool>,
    pub stall: Option<ExpectStall>,
    pub min_heights: Option<u32>,
    pub max_view: Option<u8>,
    pub latency_p99_ms: Option<f64>,
    pub digests: BTreeMap<u64, Hash32>,
    /// Height → the view it must be final in.
    pub views: BTreeMap<u32, u8>,
    /// Coverage mark → minimum count.
    pub marks: BTreeMap<String, u64>,
    pub handoffs: Option<ExpectHandoffs>,
    /// Every scripted message rule must act at least once.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rules_applied: bool,
    /// The expectations hold for any seed (`"seeds": "any"`), not only the scenario's own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub any_seed: bool,
}

/// Expected validator-set hand-offs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpectHandoffs {
    pub count: Option<u32>,
    pub heights: Option<Vec<u32>>,
    /// Node names, sorted by key.
    pub final_set: Option<Vec<String>>,
    pub min_latency_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
}

impl ExpectSpec {
    pub fn is_empty(&self) -> bool {
        *self == ExpectSpec::default()
    }

    /// What the expectations claim for a seed they were not written for (not among the
    /// scenario's seeds, and not `"seeds": "any"`): that safety holds, if they claim that
    /// at all (explicitly or by default); None if they claim nothing for such a seed (an
    /// attack expected to break safety, or to stall, may do neither with another seed).
    pub fn for_unlisted_seed(&self) -> Option<ExpectSpec> {
        let default = self.safety_holds.is_none() && self.violations.is_none() && self.liveness_holds.is_none();
        let claims_safety = self.safety_holds == Some(true)
            || self.violations.as_ref().is_some_and(|v| !v.iter().any(|id| id.is_safety()))
            || default;
        claims_safety.then(|| ExpectSpec { safety_holds: Some(true), ..ExpectSpec::default() })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSpec {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub seeds: Vec<u64>,
    /// Genesis validators first (index = key), then candidates (index = key), watchers,
    /// twins and attackers.
    pub nodes: Vec<NodeSpec>,
    /// Size of the genesis set.
    pub validators: usize,
    /// Keyed nodes outside the genesis set.
    pub candidates: usize,
    /// Validator-set change transactions.
    pub changes: Vec<ChangeSubmission>,
    /// The first height the run decides: heights 1 … start_height − 1 are final and
    /// shared by every node before the run (`protocol::prefix`). 1 by default.
    pub start_height: u32,
    pub protocol: ProtocolSpec,
    pub network: NetworkOptions,
    pub crashes: Vec<CrashSpec>,
    pub workload: WorkloadOptions,
    pub stop: StopSpec,
    pub liveness: LivenessSpec,
    pub expect: ExpectSpec,
    pub rules: Vec<crate::net::rules::Rule>,
    pub timers: Vec<TimerSpec>,
    pub tags: Vec<String>,
    /// An explicit schedule (empty: the seeded network decides). See `explore::schedule`.
    pub schedule: Vec<crate::explore::step::Step>,
}

impl RunSpec {
    pub fn node_name(&self, n: NodeId) -> &str {
        self.nodes.get(n.idx()).map_or("?", |s| s.name.as_str())
    }
}
