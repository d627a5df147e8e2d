//! The scenario file format, version 1, exactly as written in JSON.
//!
//! Every struct rejects unknown fields; every field is optional unless its absence makes
//! the file meaningless. Defaults and cross-field checks live in `resolve.rs`, which turns
//! this into a fully resolved run description. The format is documented field by field in
//! `scenarios/README.md`; keep the two in step.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A JSON object read as a map that rejects a key written twice. serde_json (like most
/// JSON readers) lets the last duplicate win, which would silently drop a pinned digest or
/// an expected mark that a user wrote; a scenario says each thing once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UniqueMap<V>(pub BTreeMap<String, V>);

/// In the schema a unique map is an ordinary JSON object (JSON Schema cannot say "no
/// repeated key"; the parser does).
impl<V: JsonSchema> JsonSchema for UniqueMap<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<String, V>>::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<String, V>>::json_schema(generator)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(UniqueVisitor(PhantomData))
    }
}

/// A node reference: its name ("R2", "W0", or a custom name) or its index.
#[derive(Clone, Debug, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum NodeRef {
    Index(u32),
    Name(String),
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The JSON Schema this file follows, for editors (docs/scenario.schema.json); ignored.
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    /// Format version; only 1 exists.
    pub version: Option<u32>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The seed of a single run (`run` without --seed).
    pub seed: Option<u64>,
    /// The seeds `check` runs.
    pub seeds: Option<Vec<u64>>,
    pub validators: Option<Validators>,
    /// The first height the run decides; heights below it are final before the run.
    pub start_height: Option<u32>,
    pub protocol: Option<Protocol>,
    pub network: Option<Network>,
    pub faults: Option<Faults>,
    pub workload: Option<Workload>,
    pub stop: Option<Stop>,
    pub liveness: Option<Liveness>,
    pub expect: Option<Expect>,
    /// Scripted message rules, tried in order for every (message, recipient).
    pub rules: Option<Vec<MessageRule>>,
    /// Scripted timer control.
    pub timers: Option<Vec<TimerControl>>,
    /// Byzantine behaviours of chosen nodes.
    pub byzantine: Option<Vec<ByzantineNode>>,
    /// Twins: a second process with a validator's key, delivering to its own subset.
    pub twins: Option<Vec<Twin>>,
    /// Attacker processes holding a copy of an honest validator's key.
    pub compromised_keys: Option<Vec<CompromisedKey>>,
    /// Validator-set change transactions, submitted at a time or when a height is reached.
    pub changes: Option<Vec<ChangeSpec>>,
    /// Free-form labels for `check` (e.g. "long" to run only in the nightly script).
    pub tags: Option<Vec<String>>,
    /// An explicit schedule: the run takes exactly these steps, in order, instead of the
    /// seeded network (what `dbft-sim explore` writes).
    pub schedule: Option<Vec<ScheduleStep>>,
}

/// One step of an explicit schedule.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ScheduleStep {
    /// Deliver the pending message `from` → `to` of type `kind` whose content hash starts
    /// with the hex digits `msg`.
    Deliver {
        from: NodeRef,
        to: NodeRef,
        kind: String,
        msg: String,
    },
    /// Lose that message.
    Drop {
        from: NodeRef,
        to: NodeRef,
        kind: String,
        msg: String,
    },
    /// Fire the node's armed timer.
    Timer {
        node: NodeRef,
    },
    /// Fire a Byzantine node's own (adversary) timer: one period of its periodic
    /// behaviours.
    AdversaryTimer {
        node: NodeRef,
    },
    Crash {
        node: NodeRef,
    },
    Restart {
        node: NodeRef,
        amnesia: Option<bool>,
    },
}

/// `7`, `["alice", "bob", ...]`, or `{"count": 7, "watchers": 2}`.
// Read by hand (below), as `HandoffSpec` is: an untagged enum would report a wrong field
// inside the object (`validators.candidates`, a repeated key) only as "no variant fits".
#[derive(Clone, Debug, JsonSchema)]
#[serde(untagged)]
pub enum Validators {
    Count(u32),
    Names(Vec<String>),
    Spec(ValidatorSpec),
}

impl<'de> Deserialize<'de> for Validators {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Validators;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a count, a list of names, or {\"count\"|\"names\", \"watchers\", \"candidates\"}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Validators, E> {
                count(v, &self).map(Validators::Count)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Validators, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Validators::Names)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Validators, A::Error> {
                ValidatorSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Validators::Spec)
            }
        }
        d.deserialize_any(Either)
    }
}

/// A count that must fit in 32 bits (the resolver checks the real limit and names it).
fn count<E: serde::de::Error>(v: u64, expected: &dyn serde::de::Expected) -> Result<u32, E> {
    u32::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), expected))
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSpec {
    pub count: Option<u32>,
    pub names: Option<Vec<String>>,
    /// Watch-only nodes that follow the chain (named W0, W1, ...).
    pub watchers: Option<u32>,
    /// Keyed nodes outside the genesis set (standby candidates): a count (named C0, C1,
    /// ...) or a list of names.
    pub candidates: Option<CountOrNames>,
}

#[derive(Clone, Debug, JsonSchema)]
#[serde(untagged)]
pub enum CountOrNames {
    Count(u32),
    Names(Vec<String>),
}

impl<'de> Deserialize<'de> for CountOrNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = CountOrNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a count or a list of names")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CountOrNames, E> {
                count(v, &self).map(CountOrNames::Count)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<CountOrNames, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(CountOrNames::Names)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// T, the dBFT block time, in milliseconds: 1 ms to one day (default 15000).
    #[schemars(range(min = 1, max = 86400000))]
    pub block_time_ms: Option<f64>,
    pub semantics: Option<String>,
    /// MaxTransactionsPerBlock (default 512, at most 65535).
    #[schemars(range(max = 65535))]
    pub max_tx_per_block: Option<u32>,
    pub mutation: Option<String>,
    /// Proposed protocol fixes, by name (e.g. ["verify-stored-commits"]).
    pub fixes: Option<Vec<String>>,
    /// The hand-off rule: a name, or {"rule", "period", "churn_limit"}.
    pub handoff: Option<HandoffSpec>,
    /// neo-node's RejectedHashes rule (C# only; off by default).
    pub rejected_hashes: Option<bool>,
    /// "broadcast" (default, as both implementations) or "requester".
    pub recovery_reply: Option<String>,
}

/// A hand-off rule: its name, or an object with the rule and its parameters.
// Read by hand (below), not derived as an untagged enum: serde tries an untagged enum's
// variants on a buffered copy and, when none fits, says only that none did; reading the
// object straight from the file keeps its errors and their paths
// (`protocol.handoff.churn_limit`, an unknown or repeated field).
#[derive(Clone, Debug, JsonSchema)]
#[serde(untagged)]
pub enum HandoffSpec {
    Rule(String),
    Spec(HandoffObject),
}

impl<'de> Deserialize<'de> for HandoffSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = HandoffSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a rule name or {\"rule\", \"period\", \"churn_limit\"}")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HandoffSpec, E> {
                Ok(HandoffSpec::Rule(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<HandoffSpec, A::Error> {
                HandoffObject::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(HandoffSpec::Spec)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffObject {
    pub rule: String,
    /// refresh-period only: K, the set is recomputed at heights divisible by K.
    #[schemars(range(min = 1))]
    pub period: Option<u32>,
    /// At most this many change transactions take effect per hand-off.
    #[schemars(range(min = 1))]
    pub churn_limit: Option<u32>,
}

/// One validator-set change transaction. Exactly one of `at_ms` and `at_height` says when
/// it is submitted; `via` is the node whose mempool receives it first; `only`, if given,
/// restricts which nodes ever receive it (a transaction sent privately to a few nodes).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChangeSpec {
    Join {
        node: NodeRef,
        at_ms: Option<f64>,
        #[schemars(range(min = 1))]
        at_height: Option<u32>,
        via: Option<NodeRef>,
        only: Option<Vec<NodeRef>>,
    },
    Leave {
        node: NodeRef,
        at_ms: Option<f64>,
        #[schemars(range(min = 1))]
        at_height: Option<u32>,
        via: Option<NodeRef>,
        only: Option<Vec<NodeRef>>,
    },
    Rotate {
        from: NodeRef,
        to: NodeRef,
        at_ms: Option<f64>,
        #[schemars(range(min = 1))]
        at_height: Option<u32>,
        via: Option<NodeRef>,
        only: Option<Vec<NodeRef>>,
    },
    Replace {
        nodes: Vec<NodeRef>,
        at_ms: Option<f64>,
        #[schemars(range(min = 1))]
        at_height: Option<u32>,
        via: Option<NodeRef>,
        only: Option<Vec<NodeRef>>,
    },
    Eject {
        node: NodeRef,
        at_ms: Option<f64>,
        #[schemars(range(min = 1))]
        at_height: Option<u32>,
        via: Option<NodeRef>,
        only: Option<Vec<NodeRef>>,
    },
}

/// When and where a change is submitted: (at_ms, at_height, via, only).
pub type ChangeWhen<'a> = (Option<f64>, Option<u32>, Option<&'a NodeRef>, Option<&'a Vec<NodeRef>>);

impl ChangeSpec {
    pub fn when(&self) -> ChangeWhen<'_> {
        match self {
            ChangeSpec::Join { at_ms, at_height, via, only, .. }
            | ChangeSpec::Leave { at_ms, at_height, via, only, .. }
            | ChangeSpec::Rotate { at_ms, at_height, via, only, .. }
            | ChangeSpec::Replace { at_ms, at_height, via, only, .. }
            | ChangeSpec::Eject { at_ms, at_height, via, only, .. } => {
                (*at_ms, *at_height, via.as_ref(), only.as_ref())
            }
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub preset: Option<String>,
    pub latency: Option<crate::net::latency::Latency>,
    pub loss: Option<f64>,
    pub duplicate: Option<f64>,
    pub bandwidth_mbps: Option<f64>,
    pub topology: Option<Topology>,
    pub partitions: Option<Vec<Partition>>,
    pub degradations: Option<Vec<Degradation>>,
    /// "direct" (default) or "flood" (docs/network.md).
    pub relay: Option<String>,
    /// Backups fetch missing transactions from peers; default: true under flood.
    pub fetch_txs: Option<bool>,
    /// Flood only: neo-go's resendDispatcher base interval (ms); absent = off.
    pub resend_ms: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Topology {
    // Empty struct variants, not unit variants: serde's deny_unknown_fields checks the
    // fields of a struct variant only, so `{"kind": "ring", "zzz": 1}` is an error.
    Mesh {},
    Ring {},
    Star { hub: NodeRef },
    RandomRegular { degree: u32 },
    Edges { edges: Vec<(NodeRef, NodeRef)> },
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub groups: Vec<Vec<NodeRef>>,
    pub from_ms: f64,
    pub until_ms: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Degradation {
    pub nodes: Option<Vec<NodeRef>>,
    pub from_ms: f64,
    pub until_ms: f64,
    pub loss: Option<f64>,
    pub latency_factor: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    pub crashes: Option<Vec<Crash>>,
    pub clock_drift: Option<Vec<ClockDrift>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub node: NodeRef,
    pub at_ms: f64,
    pub restart_ms: Option<f64>,
    pub amnesia: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockDrift {
    pub node: NodeRef,
    pub ppm: i64,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub tx_rate_per_s: Option<f64>,
    pub initial_txs: Option<u64>,
    pub until_ms: Option<f64>,
    pub withhold: Option<Vec<Withhold>>,
    pub invalid: Option<Vec<Invalid>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Invalid {
    /// Transaction ids the verifiers reject: [first, last] inclusive.
    pub txs: (u64, u64),
    /// Whose verifiers reject them; absent: every node's.
    pub nodes: Option<Vec<NodeRef>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Withhold {
    pub nodes: Vec<NodeRef>,
    /// Transaction ids withheld: [first, last] inclusive.
    pub txs: (u64, u64),
    /// Withheld until this time (then they arrive); absent: never.
    pub until_ms: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    pub heights: Option<u32>,
    pub duration_ms: Option<f64>,
    pub on_violation: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// Global stabilisation time: from here on the network is declared synchronous.
    pub gst_ms: Option<f64>,
    /// L1 bound: a height must be final within this long after GST or the previous height.
    pub bound_ms: Option<f64>,
    /// L1 bound in views: a height must be final by this view.
    pub max_views: Option<u8>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// "holds" or "violated".
    pub safety: Option<String>,
    /// Invariant ids that must fail (e.g. ["S1", "S6"]); the others must hold.
    pub violations: Option<Vec<String>>,
    /// "holds" or "stalls".
    pub liveness: Option<String>,
    pub stall: Option<ExpectStall>,
    pub min_heights: Option<u32>,
    pub max_view: Option<u8>,
    pub latency_p99_ms: Option<f64>,
    /// Pinned trace digests by seed (decimal string keys, as JSON requires).
    pub digests: Option<UniqueMap<String>>,
    /// The exact view each listed height must be final in (height → view).
    pub views: Option<UniqueMap<u8>>,
    /// Coverage marks the run must reach at least this often (name → minimum count).
    pub marks: Option<UniqueMap<u64>>,
    /// Validator-set hand-offs the run must make.
    pub handoffs: Option<ExpectHandoffs>,
    /// true: every scripted message rule (`rules`) must act at least once, so a scripted
    /// adversary that never fires fails the scenario.
    pub rules_applied: Option<bool>,
    /// Which seeds the expectations are claimed for: "listed" (the default: the
    /// scenario's own seeds; other seeds, from `check --seeds`, are checked for safety
    /// only) or "any".
    pub seeds: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectHandoffs {
    /// How many hand-offs completed (their first height final).
    pub count: Option<u32>,
    /// The first heights of the new sets, in order (completed or not).
    pub heights: Option<Vec<u32>>,
    /// The set after the last completed hand-off, by node name.
    pub final_set: Option<Vec<NodeRef>>,
    /// Every completed hand-off took at least / at most this long.
    pub min_latency_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStall {
    pub class: Option<String>,
    pub height: Option<u32>,
    pub view: Option<u8>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRule {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matcher: Option<RuleMatch>,
    pub action: RuleAction,
}

#[derive(Clone, Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    pub from: Option<Vec<NodeRef>>,
    pub to: Option<Vec<NodeRef>>,
    /// Message types: ChangeView, PrepareRequest, PrepareResponse, Commit,
    /// RecoveryRequest, RecoveryMessage, Block, GetBlocks.
    pub types: Option<Vec<String>>,
    pub height: Option<u32>,
    pub view: Option<u8>,
    pub from_ms: Option<f64>,
    pub until_ms: Option<f64>,
    pub nth: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RuleAction {
    Drop {},
    Delay { ms: f64 },
    Hold { until_ms: Option<f64>, until_sent: Option<SentCondition> },
    Duplicate {},
    DeliverNow {},
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentCondition {
    pub node: NodeRef,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TimerControl {
    /// Fire the node's armed timer at `at_ms` (as if it expired then).
    Fire { node: NodeRef, at_ms: f64 },
    /// Postpone the node's timer expiries during `[from_ms, until_ms)` to `until_ms`.
    Suppress { node: NodeRef, from_ms: f64, until_ms: f64 },
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByzantineNode {
    pub node: NodeRef,
    /// The node is honest until this time.
    pub from_ms: Option<f64>,
    pub behaviours: Vec<BehaviourSpec>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BehaviourSpec {
    Silent {},
    Equivocate {
        a_to: Option<Vec<NodeRef>>,
        b_to: Vec<NodeRef>,
    },
    DoubleSign {},
    WithholdCommits {
        delay_ms: f64,
        to: Option<Vec<NodeRef>>,
    },
    ChangeViewFlood {
        period_ms: f64,
        forged_view: Option<u8>,
        stale: Option<bool>,
    },
    Replay {
        period_ms: f64,
    },
    Forge {
        period_ms: f64,
    },
    SelectiveDelivery {
        to: Vec<NodeRef>,
    },
    GarbageCommits {
        period_ms: f64,
    },
    StaleSigner {
        period_ms: f64,
    },
    StaleChain {
        period_ms: f64,
        from_height: u32,
    },
    ForgeRecovery {
        period_ms: f64,
    },
    NonPrimaryRequest {
        period_ms: f64,
    },
    PrimaryResponse {
        to: Vec<NodeRef>,
    },
    /// As primary, propose blocks stamped `timestamp_ms` (default 2^64 − 1, the end of time).
    FutureTimestamp {
        timestamp_ms: Option<u64>,
    },
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Twin {
    /// The validator whose identity is duplicated (it keeps running too).
    pub node: NodeRef,
    /// Who the original delivers to.
    pub to: Vec<NodeRef>,
    /// Who the twin (named "<node>.twin") delivers to.
    pub twin_to: Vec<NodeRef>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompromisedKey {
    /// The honest validator (or candidate) whose key leaked, or a list of them: one
    /// attacker process then holds all those keys.
    pub key_of: OneOrMany,
    /// What the attacker (named "<node>.attacker") does with it.
    pub behaviours: Vec<BehaviourSpec>,
    pub from_ms: Option<f64>,
}

/// One node reference or a list of them.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(NodeRef),
    Many(Vec<NodeRef>),
}

impl OneOrMany {
    pub fn list(&self) -> Vec<NodeRef> {
        match self {
            OneOrMany::One(r) => vec![r.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}
