//! From the file format to a resolved [`RunSpec`]: defaults, name resolution and every
//! check that needs more than a type. Each error names the JSON path it is about.

use super::error::{Result, ScenarioError};
use super::schema::{self, NodeRef};
use super::spec::*;
use crate::byzantine::Behaviour;
use crate::engine::time::SimTime;
use crate::engine::workload::{Withhold, WorkloadOptions};
use crate::net::latency::Latency;
use crate::net::rules::{MsgMatch, Rule, RuleAction};
use crate::net::topology::TopologySpec;
use crate::net::{Degradation, NetworkOptions, Partition};
use crate::protocol::crypto::{Hash32, KeyId};
use crate::protocol::dbft::Mutation;
use crate::protocol::dbft::semantics::Semantics;
use crate::protocol::{MsgKind, NodeId};
use crate::validators::change::SetChange;
use crate::validators::handoff::{HandoffOptions, HandoffRule};
use std::collections::BTreeMap;

/// Stall classifications a scenario may expect.
/// `undiagnosed` is not among them: an expectation names a reason.
pub const STALL_CLASSES: [&str; 6] =
    ["commit-lock", "partitioned", "too-many-faulty", "still-progressing", "timer-starved", "view-split"];

pub const DEFAULT_VALIDATORS: u32 = 4;
pub const DEFAULT_BLOCK_TIME_MS: f64 = 15_000.0;
pub const DEFAULT_HEIGHTS: u32 = 10;
const MAX_NODES: u32 = 1024;
/// The shortest period a periodic Byzantine behaviour may have (1 ms).
const MIN_BEHAVIOUR_PERIOD: SimTime = SimTime(1_000);
/// One year of simulated time.
const MAX_DURATION_MS: f64 = 3.15e10;

fn err<T>(path: impl Into<String>, reason: impl Into<String>) -> Result<T> {
    Err(ScenarioError::new(path, reason))
}

/// A time in milliseconds: finite and ≥ 0.
fn time_ms(path: &str, ms: f64) -> Result<SimTime> {
    if !ms.is_finite() || ms < 0.0 {
        return err(path, "must be a finite number ≥ 0 (milliseconds)");
    }
    Ok(SimTime::from_ms_f64(ms))
}

/// Adds the name of a twin or attacker node, which must not clash with any other node
/// (a second twin of one validator, two attackers holding the same keys, or a validator
/// that happens to be called "R1.twin").
fn push_unique(names: &mut Vec<String>, name: String, path: &str) -> Result<()> {
    if names.contains(&name) {
        return err(path, format!("would create a second node named \"{name}\""));
    }
    names.push(name);
    Ok(())
}

fn positive(path: &str, x: f64) -> Result<f64> {
    if !x.is_finite() || x <= 0.0 {
        return err(path, "must be > 0");
    }
    Ok(x)
}

fn non_negative(path: &str, x: f64) -> Result<f64> {
    if !x.is_finite() || x < 0.0 {
        return err(path, "must be ≥ 0");
    }
    Ok(x)
}

fn probability(path: &str, p: f64) -> Result<f64> {
    if !p.is_finite() || !(0.0..=1.0).contains(&p) {
        return err(path, "must be a probability in [0, 1]");
    }
    Ok(p)
}

/// Names of every node, for resolving references.
struct Names {
    names: Vec<String>,
}

impl Names {
    fn node(&self, path: &str, r: &NodeRef) -> Result<NodeId> {
        match r {
            NodeRef::Index(i) if (*i as usize) < self.names.len() => Ok(NodeId(*i)),
            NodeRef::Index(i) => {
                err(path, format!("node index {i} out of range (there are {} nodes)", self.names.len()))
            }
            NodeRef::Name(n) => match self.names.iter().position(|x| x == n) {
                Some(i) => Ok(NodeId(i as u32)),
                None => err(path, format!("unknown node \"{n}\" (known: {})", self.names.join(", "))),
            },
        }
    }

    fn nodes(&self, path: &str, list: &[NodeRef]) -> Result<Vec<NodeId>> {
        list.iter().enumerate().map(|(i, r)| self.node(&format!("{path}[{i}]"), r)).collect()
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Resolves a parsed scenario. `default_name` is used when the file has no `name`.
pub fn resolve(s: &schema::Scenario, default_name: &str) -> Result<RunSpec> {
    if let Some(v) = s.version
        && v != 1
    {
        return err("version", format!("unsupported version {v} (this build reads version 1)"));
    }
    let name = s.name.clone().unwrap_or_else(|| default_name.to_string());
    if !valid_name(&name) || name.chars().all(|c| c == '.') {
        return err("name", "must be 1–64 characters of letters, digits, '.', '_' or '-', and not only dots");
    }
    let seed = s.seed.unwrap_or(1);
    let seeds = match &s.seeds {
        Some(v) if v.is_empty() => return err("seeds", "must list at least one seed"),
        Some(v) => v.clone(),
        None => vec![seed],
    };

    // Validators, candidates and watchers. Counts are checked before any name is built.
    let too_many = |n: u32| n > MAX_NODES;
    let limit_msg = format!("at most {MAX_NODES}");
    let (mut names, watchers, candidate_names) = match &s.validators {
        None => ((0..DEFAULT_VALIDATORS).map(|i| format!("R{i}")).collect::<Vec<_>>(), 0, Vec::new()),
        Some(schema::Validators::Count(n)) => {
            if *n == 0 {
                return err("validators", "must be at least 1");
            }
            if too_many(*n) {
                return err("validators", format!("{limit_msg} validators"));
            }
            ((0..*n).map(|i| format!("R{i}")).collect(), 0, Vec::new())
        }
        Some(schema::Validators::Names(list)) => (list.clone(), 0, Vec::new()),
        Some(schema::Validators::Spec(spec)) => {
            let names = match (&spec.count, &spec.names) {
                (Some(_), Some(_)) => {
                    return err("validators", "give either count or names, not both");
                }
                (Some(0), None) => return err("validators.count", "must be at least 1"),
                (Some(n), None) if too_many(*n) => return err("validators.count", format!("{limit_msg} validators")),
                (Some(n), None) => (0..*n).map(|i| format!("R{i}")).collect(),
                (None, Some(l)) => l.clone(),
                (None, None) => (0..DEFAULT_VALIDATORS).map(|i| format!("R{i}")).collect(),
            };
            let watchers = spec.watchers.unwrap_or(0);
            if too_many(watchers) {
                return err("validators.watchers", format!("{limit_msg} watchers"));
            }
            let candidates = match &spec.candidates {
                None => Vec::new(),
                Some(schema::CountOrNames::Count(n)) if too_many(*n) => {
                    return err("validators.candidates", format!("{limit_msg} candidates"));
                }
                Some(schema::CountOrNames::Count(n)) => (0..*n).map(|i| format!("C{i}")).collect(),
                Some(schema::CountOrNames::Names(l)) => l.clone(),
            };
            (names, watchers, candidates)
        }
    };
    if names.is_empty() {
        return err("validators", "must list at least one validator");
    }
    if names.len() as u32 > MAX_NODES || candidate_names.len() as u32 > MAX_NODES {
        return err("validators", format!("{limit_msg} validators and {limit_msg} candidates"));
    }
    let validators = names.len();
    let candidates = candidate_names.len();
    for (i, n) in names.iter().enumerate() {
        if !valid_name(n) {
            return err(format!("validators[{i}]"), "node names are 1–64 letters, digits, '.', '_' or '-'");
        }
    }
    for (i, n) in candidate_names.iter().enumerate() {
        if !valid_name(n) {
            return err(format!("validators.candidates[{i}]"), "node names are 1–64 letters, digits, '.', '_' or '-'");
        }
    }
    names.extend(candidate_names);
    names.extend((0..watchers).map(|i| format!("W{i}")));
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return err("validators", format!("duplicate node name \"{n}\""));
        }
    }
    let keyed = validators + candidates;
    // Identity-level Byzantine processes: twins and attackers with a leaked key. They are
    // extra nodes named after the keyed node whose key they hold.
    let mut roles: Vec<Role> = (0..names.len())
        .map(|i| match i {
            i if i < validators => Role::Validator { index: i },
            i if i < keyed => Role::Candidate { key: i },
            _ => Role::Watcher,
        })
        .collect();
    let keyed_names = Names { names: names[..keyed].to_vec() };
    for (i, t) in s.twins.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("twins[{i}].node");
        let of = keyed_names.node(&path, &t.node)?.idx();
        let name = format!("{}.twin", names[of]);
        push_unique(&mut names, name, &path)?;
        roles.push(Role::Twin { of });
    }
    for (i, c) in s.compromised_keys.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("compromised_keys[{i}].key_of");
        let list = c.key_of.list();
        if list.is_empty() {
            return err(path, "must name at least one validator or candidate");
        }
        let mut keys_of = Vec::new();
        for (j, r) in list.iter().enumerate() {
            let p = if matches!(c.key_of, schema::OneOrMany::One(_)) { path.clone() } else { format!("{path}[{j}]") };
            let k = keyed_names.node(&p, r)?.idx();
            if keys_of.contains(&k) {
                return err(p, format!("{} is named twice", names[k]));
            }
            keys_of.push(k);
        }
        let owner: Vec<&str> = keys_of.iter().map(|&k| names[k].as_str()).collect();
        let name = format!("{}.attacker", owner.join("_"));
        push_unique(&mut names, name, &path)?;
        roles.push(Role::Attacker { keys_of });
    }
    let lookup = Names { names: names.clone() };
    let n_nodes = names.len();

    // Protocol.
    let p = s.protocol.clone().unwrap_or_default();
    let block_time_ms = positive("protocol.block_time_ms", p.block_time_ms.unwrap_or(DEFAULT_BLOCK_TIME_MS))?;
    if block_time_ms > 86_400_000.0 {
        return err("protocol.block_time_ms", "must be at most one day");
    }
    let semantics = match p.semantics.as_deref() {
        None => Semantics::CSharp,
        Some(x) => Semantics::parse(x).ok_or_else(|| {
            ScenarioError::new(
                "protocol.semantics",
                format!("unknown semantics \"{x}\" (expected \"csharp\" or \"go\")"),
            )
        })?,
    };
    let mutation = match p.mutation.as_deref() {
        None => None,
        Some(x) => Some(Mutation::parse(x).ok_or_else(|| {
            ScenarioError::new(
                "protocol.mutation",
                format!("unknown mutation \"{x}\" (expected no-commit-phase, no-commit-lock or quorum-off-by-one)"),
            )
        })?),
    };
    let protocol = ProtocolSpec {
        block_time_us: SimTime::from_ms_f64(block_time_ms).0.max(1),
        semantics,
        max_tx_per_block: p.max_tx_per_block.unwrap_or(512) as usize,
        mutation,
        handoff: resolve_handoff(p.handoff.as_ref())?,
    };

    let network = resolve_network(s.network.clone().unwrap_or_default(), &lookup, n_nodes)?;

    // Faults.
    let faults = s.faults.clone().unwrap_or_default();
    let mut crashes = Vec::new();
    for (i, c) in faults.crashes.unwrap_or_default().iter().enumerate() {
        let path = format!("faults.crashes[{i}]");
        let node = lookup.node(&format!("{path}.node"), &c.node)?;
        let at = time_ms(&format!("{path}.at_ms"), c.at_ms)?;
        let restart = match c.restart_ms {
            None => None,
            Some(r) => {
                let t = time_ms(&format!("{path}.restart_ms"), r)?;
                if t <= at {
                    return err(format!("{path}.restart_ms"), "must be after at_ms");
                }
                Some(t)
            }
        };
        crashes.push(CrashSpec { node, at, restart, amnesia: c.amnesia.unwrap_or(false) });
    }
    let mut drift = vec![0i64; n_nodes];
    for (i, d) in faults.clock_drift.unwrap_or_default().iter().enumerate() {
        let path = format!("faults.clock_drift[{i}]");
        let node = lookup.node(&format!("{path}.node"), &d.node)?;
        if !(-500_000..=1_000_000).contains(&d.ppm) {
            return err(format!("{path}.ppm"), "must be in [-500000, 1000000] (parts per million)");
        }
        drift[node.idx()] = d.ppm;
    }

    // Workload.
    let w = s.workload.clone().unwrap_or_default();
    let tx_rate = non_negative("workload.tx_rate_per_s", w.tx_rate_per_s.unwrap_or(1.0))?;
    if tx_rate > 100_000.0 {
        return err("workload.tx_rate_per_s", "must be at most 100000");
    }
    let mut withhold = Vec::new();
    for (i, wh) in w.withhold.unwrap_or_default().iter().enumerate() {
        let path = format!("workload.withhold[{i}]");
        if wh.nodes.is_empty() {
            return err(format!("{path}.nodes"), "must list at least one node");
        }
        let nodes = lookup.nodes(&format!("{path}.nodes"), &wh.nodes)?;
        let (first, last) = wh.txs;
        if first == 0 || last < first {
            return err(format!("{path}.txs"), "must be [first, last] with 1 ≤ first ≤ last");
        }
        withhold.push(Withhold { nodes, first, last });
    }
    let initial_txs = w.initial_txs.unwrap_or(0);
    if initial_txs > 1_000_000 {
        return err("workload.initial_txs", "must be at most 1000000");
    }
    let workload = WorkloadOptions {
        tx_rate_per_s: tx_rate,
        initial_txs,
        withhold,
        until: w.until_ms.map(|u| time_ms("workload.until_ms", u)).transpose()?,
    };

    // Stop condition.
    let st = s.stop.clone().unwrap_or_default();
    if st.heights == Some(0) {
        return err("stop.heights", "must be at least 1");
    }
    let heights = match (st.heights, st.duration_ms) {
        (None, None) => Some(DEFAULT_HEIGHTS),
        (h, _) => h,
    };
    let duration = match st.duration_ms {
        Some(d) => {
            let d = positive("stop.duration_ms", d)?;
            if d > MAX_DURATION_MS {
                return err("stop.duration_ms", "must be at most 3.15e10 (one year of simulated time)");
            }
            SimTime::from_ms_f64(d)
        }
        None => SimTime(protocol.block_time_us.saturating_mul(10 * (heights.unwrap_or(DEFAULT_HEIGHTS) as u64 + 1))),
    };
    let stop = StopSpec { heights, duration, on_violation: st.on_violation.unwrap_or(true) };

    // Liveness.
    let l = s.liveness.clone().unwrap_or_default();
    let max_views = l.max_views.unwrap_or(3);
    let bound = match l.bound_ms {
        Some(b) => SimTime::from_ms_f64(positive("liveness.bound_ms", b)?),
        None => SimTime(protocol.block_time_us.saturating_mul(1u64 << (max_views as u32 + 2).min(40))),
    };
    let liveness = LivenessSpec { gst: l.gst_ms.map(|g| time_ms("liveness.gst_ms", g)).transpose()?, bound, max_views };

    let changes = resolve_changes(s.changes.as_deref().unwrap_or(&[]), &lookup, validators, keyed, &stop)?;
    let mut expect = resolve_expect(s.expect.clone().unwrap_or_default())?;
    if let Some(h) = s.expect.as_ref().and_then(|e| e.handoffs.as_ref()) {
        expect.handoffs = Some(resolve_expect_handoffs(h, &lookup, keyed)?);
    }
    let rules = resolve_rules(s.rules.as_deref().unwrap_or(&[]), &lookup)?;
    let mut timers = Vec::new();
    for (i, t) in s.timers.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("timers[{i}]");
        timers.push(match t {
            schema::TimerControl::Fire { node, at_ms } => TimerSpec::Fire {
                node: lookup.node(&format!("{path}.node"), node)?,
                at: time_ms(&format!("{path}.at_ms"), *at_ms)?,
            },
            schema::TimerControl::Suppress { node, from_ms, until_ms } => {
                let from = time_ms(&format!("{path}.from_ms"), *from_ms)?;
                let until = time_ms(&format!("{path}.until_ms"), *until_ms)?;
                if until <= from {
                    return err(format!("{path}.until_ms"), "must be after from_ms");
                }
                TimerSpec::Suppress { node: lookup.node(&format!("{path}.node"), node)?, from, until }
            }
        });
    }

    // Byzantine behaviours and who counts as honest.
    let mut behaviours: Vec<Vec<Behaviour>> = vec![Vec::new(); n_nodes];
    let mut byzantine_from = vec![SimTime::ZERO; n_nodes];
    let mut honest: Vec<bool> =
        roles.iter().map(|r| matches!(r, Role::Validator { .. } | Role::Candidate { .. } | Role::Watcher)).collect();
    for (i, b) in s.byzantine.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("byzantine[{i}]");
        let node = lookup.node(&format!("{path}.node"), &b.node)?.idx();
        if matches!(roles[node], Role::Twin { .. } | Role::Attacker { .. }) {
            return err(
                format!("{path}.node"),
                format!(
                    "{} is a twin or an attacker: its behaviours belong in `twins` or `compromised_keys`",
                    names[node]
                ),
            );
        }
        if !behaviours[node].is_empty() {
            return err(format!("{path}.node"), format!("{} already has behaviours", names[node]));
        }
        if b.behaviours.is_empty() {
            return err(format!("{path}.behaviours"), "must list at least one behaviour");
        }
        if let Some(f) = b.from_ms {
            byzantine_from[node] = time_ms(&format!("{path}.from_ms"), f)?;
        }
        behaviours[node] = resolve_behaviours(&format!("{path}.behaviours"), &b.behaviours, &lookup)?;
        honest[node] = false;
    }
    let twin_base =
        names.len() - s.twins.as_deref().map_or(0, |t| t.len()) - s.compromised_keys.as_deref().map_or(0, |c| c.len());
    for (i, t) in s.twins.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("twins[{i}]");
        let twin = twin_base + i;
        let Role::Twin { of } = roles[twin] else {
            continue;
        };
        let to = lookup.nodes(&format!("{path}.to"), &t.to)?;
        let twin_to = lookup.nodes(&format!("{path}.twin_to"), &t.twin_to)?;
        if !behaviours[of].is_empty() {
            return err(format!("{path}.node"), format!("{} already has behaviours", names[of]));
        }
        behaviours[of] = vec![Behaviour::SelectiveDelivery { to }];
        behaviours[twin] = vec![Behaviour::SelectiveDelivery { to: twin_to }];
        honest[of] = false;
    }
    let attacker_base = twin_base + s.twins.as_deref().map_or(0, |t| t.len());
    for (i, c) in s.compromised_keys.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("compromised_keys[{i}]");
        let node = attacker_base + i;
        behaviours[node] = resolve_behaviours(&format!("{path}.behaviours"), &c.behaviours, &lookup)?;
        if let Some(f) = c.from_ms {
            byzantine_from[node] = time_ms(&format!("{path}.from_ms"), f)?;
        }
    }

    let (mut network, mut rules, mut timers) = (network, rules, timers);
    if let Some(gst) = liveness.gst {
        end_faults_at_gst(gst, &mut network, &mut rules, &mut timers);
    }

    let nodes = names
        .iter()
        .enumerate()
        .map(|(i, name)| NodeSpec {
            name: name.clone(),
            role: roles[i].clone(),
            clock_drift_ppm: drift[i],
            behaviours: behaviours[i].clone(),
            byzantine_from: byzantine_from[i],
            honest: honest[i],
        })
        .collect();

    Ok(RunSpec {
        name,
        description: s.description.clone().unwrap_or_default(),
        seed,
        seeds,
        nodes,
        validators,
        candidates,
        changes,
        protocol,
        network,
        crashes,
        workload,
        stop,
        liveness,
        expect,
        rules,
        timers,
        tags: s.tags.clone().unwrap_or_default(),
    })
}

fn resolve_handoff(h: Option<&schema::HandoffSpec>) -> Result<HandoffOptions> {
    let (rule, period, churn_limit, base) = match h {
        None => return Ok(HandoffOptions::default()),
        Some(schema::HandoffSpec::Rule(r)) => (r.as_str(), None, None, "protocol.handoff"),
        Some(schema::HandoffSpec::Spec(o)) => (o.rule.as_str(), o.period, o.churn_limit, "protocol.handoff.rule"),
    };
    let rule = match (rule, period) {
        ("next-block", None) => HandoffRule::NextBlock,
        ("delay-2", None) => HandoffRule::Delay2,
        ("dual-quorum", None) => HandoffRule::DualQuorum,
        ("apply-on-propose", None) => HandoffRule::ApplyOnPropose,
        ("refresh-period", Some(0)) => return err("protocol.handoff.period", "must be at least 1"),
        ("refresh-period", Some(k)) => HandoffRule::RefreshPeriod { period: k },
        ("refresh-period", None) => {
            return err(base, "refresh-period needs a period: {\"rule\": \"refresh-period\", \"period\": 21}");
        }
        (r, Some(_)) if HandoffRule::NAMES.contains(&r) => {
            return err("protocol.handoff.period", format!("only refresh-period has a period, not {r}"));
        }
        (r, _) => {
            return err(base, format!("unknown hand-off rule \"{r}\" (known: {})", HandoffRule::NAMES.join(", ")));
        }
    };
    if churn_limit == Some(0) {
        return err("protocol.handoff.churn_limit", "must be at least 1");
    }
    Ok(HandoffOptions { rule, churn_limit })
}

/// Resolves the change transactions. A change names keyed nodes (genesis validators or
/// candidates; node index = key), is submitted before the run ends, and — read in the
/// order listed, from the genesis set — never leaves the set empty.
fn resolve_changes(
    list: &[schema::ChangeSpec],
    names: &Names,
    validators: usize,
    keyed: usize,
    stop: &StopSpec,
) -> Result<Vec<ChangeSubmission>> {
    use schema::ChangeSpec as C;
    let key = |path: String, r: &NodeRef| -> Result<KeyId> {
        let n = names.node(&path, r)?;
        if n.idx() >= keyed {
            return err(
                path,
                format!("{} holds no validator key (name a validator or a candidate)", names.names[n.idx()]),
            );
        }
        Ok(KeyId(n.0))
    };
    let mut set: std::collections::BTreeSet<KeyId> = (0..validators as u32).map(KeyId).collect();
    let mut revoked = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let path = format!("changes[{i}]");
        let change = match c {
            C::Join { node, .. } => SetChange::Join { key: key(format!("{path}.node"), node)? },
            C::Leave { node, .. } => SetChange::Leave { key: key(format!("{path}.node"), node)? },
            C::Eject { node, .. } => SetChange::Eject { key: key(format!("{path}.node"), node)? },
            C::Rotate { from, to, .. } => {
                let (from, to) = (key(format!("{path}.from"), from)?, key(format!("{path}.to"), to)?);
                if from == to {
                    return err(format!("{path}.to"), "must differ from `from`");
                }
                SetChange::Rotate { from, to }
            }
            C::Replace { nodes, .. } => {
                if nodes.is_empty() {
                    return err(format!("{path}.nodes"), "the set would become empty");
                }
                let mut keys = Vec::new();
                for (j, r) in nodes.iter().enumerate() {
                    let k = key(format!("{path}.nodes[{j}]"), r)?;
                    if keys.contains(&k) {
                        return err(format!("{path}.nodes[{j}]"), "named twice");
                    }
                    keys.push(k);
                }
                SetChange::Replace { keys }
            }
        };
        // Read in listed order, the set must never be left empty.
        let empties = match &change {
            SetChange::Leave { key } | SetChange::Eject { key } => set.len() == 1 && set.contains(key),
            SetChange::Replace { keys } => keys.iter().all(|k| revoked.contains(k)),
            _ => false,
        };
        if empties {
            return err(path, "the set would become empty");
        }
        change.apply(&mut set, &mut revoked);
        let (at_ms, at_height, via, only) = c.when();
        let when = match (at_ms, at_height) {
            (Some(t), None) => {
                let t = time_ms(&format!("{path}.at_ms"), t)?;
                if t >= stop.duration {
                    return err(
                        format!("{path}.at_ms"),
                        format!("after the run ends (stop.duration_ms = {})", stop.duration.as_ms_f64()),
                    );
                }
                ChangeTrigger::At(t)
            }
            (None, Some(0)) => return err(format!("{path}.at_height"), "must be at least 1"),
            (None, Some(h)) => {
                if let Some(target) = stop.heights
                    && h >= target
                {
                    return err(format!("{path}.at_height"), format!("after the run ends (stop.heights = {target})"));
                }
                ChangeTrigger::Height(h)
            }
            _ => return err(path, "give exactly one of at_ms and at_height"),
        };
        let origin = match via {
            Some(r) => names.node(&format!("{path}.via"), r)?,
            None => NodeId(match &change {
                SetChange::Join { key } | SetChange::Leave { key } | SetChange::Eject { key } => key.0,
                SetChange::Rotate { from, .. } => from.0,
                SetChange::Replace { keys } => keys[0].0,
            }),
        };
        let only = only.map(|l| names.nodes(&format!("{path}.only"), l)).transpose()?;
        out.push(ChangeSubmission { change, when, origin, only });
    }
    Ok(out)
}

/// The liveness phase: from GST on the network is declared
/// synchronous, so partitions heal, degradations end and scripted rules and timer
/// suppressions stop. Crashes within F and Byzantine nodes stay as they are: the remaining
/// honest quorum must finalise on its own.
fn end_faults_at_gst(gst: SimTime, net: &mut NetworkOptions, rules: &mut [Rule], timers: &mut Vec<TimerSpec>) {
    net.partitions.retain(|p| p.from < gst);
    for p in &mut net.partitions {
        p.until = p.until.min(gst);
    }
    net.degradations.retain(|d| d.from < gst);
    for d in &mut net.degradations {
        d.until = d.until.min(gst);
    }
    for r in rules.iter_mut() {
        r.matcher.window_until = r.matcher.window_until.min(gst).max(r.matcher.window_from);
    }
    timers.retain(|t| !matches!(t, TimerSpec::Suppress { from, .. } if *from >= gst));
    for t in timers.iter_mut() {
        if let TimerSpec::Suppress { until, .. } = t {
            *until = (*until).min(gst);
        }
    }
}

fn resolve_behaviours(path: &str, list: &[schema::BehaviourSpec], names: &Names) -> Result<Vec<Behaviour>> {
    use schema::BehaviourSpec as B;
    let mut out = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let period = |ms: f64| -> Result<u64> {
            let t = time_ms(&format!("{p}.period_ms"), ms)?;
            // A floor keeps the work per simulated second bounded: a sub-millisecond period
            // would schedule millions of actions before the run's first block.
            if t.0 < MIN_BEHAVIOUR_PERIOD.0 {
                return err(format!("{p}.period_ms"), "must be at least 1 ms");
            }
            Ok(t.0)
        };
        out.push(match b {
            B::Silent {} => Behaviour::Silent,
            B::DoubleSign {} => Behaviour::DoubleSign,
            B::Equivocate { a_to, b_to } => Behaviour::Equivocate {
                a_to: names.nodes(&format!("{p}.a_to"), a_to.as_deref().unwrap_or(&[]))?,
                b_to: names.nodes(&format!("{p}.b_to"), b_to)?,
            },
            B::WithholdCommits { delay_ms, to } => Behaviour::WithholdCommits {
                delay: time_ms(&format!("{p}.delay_ms"), *delay_ms)?.0,
                to: to.as_ref().map(|t| names.nodes(&format!("{p}.to"), t)).transpose()?,
            },
            B::ChangeViewFlood { period_ms, forged_view, stale } => Behaviour::ChangeViewFlood {
                period: period(*period_ms)?,
                forged_view: *forged_view,
                stale: stale.unwrap_or(false),
            },
            B::Replay { period_ms } => Behaviour::Replay { period: period(*period_ms)? },
            B::Forge { period_ms } => Behaviour::Forge { period: period(*period_ms)? },
            B::SelectiveDelivery { to } => Behaviour::SelectiveDelivery { to: names.nodes(&format!("{p}.to"), to)? },
            B::GarbageCommits { period_ms } => Behaviour::GarbageCommits { period: period(*period_ms)? },
            B::StaleSigner { period_ms } => Behaviour::StaleSigner { period: period(*period_ms)? },
            B::StaleChain { period_ms, from_height } => {
                if *from_height == 0 {
                    return err(format!("{p}.from_height"), "must be at least 1 (genesis cannot be forked)");
                }
                Behaviour::StaleChain { period: period(*period_ms)?, from_height: *from_height }
            }
        });
    }
    Ok(out)
}

fn message_kind(path: &str, name: &str) -> Result<MsgKind> {
    MsgKind::parse(name).filter(|k| *k != MsgKind::Other).ok_or_else(|| {
        let known: Vec<&str> = MsgKind::ALL.iter().filter(|k| **k != MsgKind::Other).map(|k| k.name()).collect();
        ScenarioError::new(path, format!("unknown message type \"{name}\" (known: {})", known.join(", ")))
    })
}

fn resolve_rules(rules: &[schema::MessageRule], names: &Names) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        let m = r.matcher.clone().unwrap_or_default();
        let mp = format!("{path}.match");
        let from = m.from.as_ref().map(|v| names.nodes(&format!("{mp}.from"), v)).transpose()?;
        let to = m.to.as_ref().map(|v| names.nodes(&format!("{mp}.to"), v)).transpose()?;
        let kinds = match &m.types {
            None => None,
            Some(v) => Some(
                v.iter()
                    .enumerate()
                    .map(|(j, t)| message_kind(&format!("{mp}.types[{j}]"), t))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let window_from = m.from_ms.map(|x| time_ms(&format!("{mp}.from_ms"), x)).transpose()?.unwrap_or(SimTime::ZERO);
        let window_until =
            m.until_ms.map(|x| time_ms(&format!("{mp}.until_ms"), x)).transpose()?.unwrap_or(SimTime::MAX);
        if window_until <= window_from {
            return err(format!("{mp}.until_ms"), "must be after from_ms");
        }
        if m.nth == Some(0) {
            return err(format!("{mp}.nth"), "counts from 1");
        }
        let ap = format!("{path}.action");
        let action = match &r.action {
            schema::RuleAction::Drop {} => RuleAction::Drop,
            schema::RuleAction::Duplicate {} => RuleAction::Duplicate,
            schema::RuleAction::DeliverNow {} => RuleAction::DeliverNow,
            schema::RuleAction::Delay { ms } => RuleAction::Delay { by: time_ms(&format!("{ap}.ms"), *ms)?.0 },
            schema::RuleAction::Hold { until_ms: Some(t), until_sent: None } => {
                RuleAction::HoldUntil { until: time_ms(&format!("{ap}.until_ms"), *t)? }
            }
            schema::RuleAction::Hold { until_ms: None, until_sent: Some(c) } => RuleAction::HoldUntilSent {
                node: names.node(&format!("{ap}.until_sent.node"), &c.node)?,
                kind: c.kind.as_deref().map(|k| message_kind(&format!("{ap}.until_sent.type"), k)).transpose()?,
            },
            schema::RuleAction::Hold { .. } => {
                return err(ap, "hold needs exactly one of until_ms or until_sent");
            }
        };
        out.push(Rule {
            name: r.name.clone().unwrap_or_else(|| format!("rule {i}")),
            matcher: MsgMatch {
                from,
                to,
                kinds,
                height: m.height,
                view: m.view,
                window_from,
                window_until,
                nth: m.nth,
            },
            action,
        });
    }
    Ok(out)
}

fn resolve_latency(l: &Latency) -> Result<Latency> {
    const P: &str = "network.latency";
    Ok(match *l {
        Latency::Constant { ms } => Latency::Constant { ms: non_negative(&format!("{P}.ms"), ms)? },
        Latency::Uniform { min_ms, max_ms } => {
            let min_ms = non_negative(&format!("{P}.min_ms"), min_ms)?;
            let max_ms = non_negative(&format!("{P}.max_ms"), max_ms)?;
            if max_ms < min_ms {
                return err(format!("{P}.max_ms"), "must be ≥ min_ms");
            }
            Latency::Uniform { min_ms, max_ms }
        }
        Latency::Normal { mean_ms, stddev_ms } => Latency::Normal {
            mean_ms: positive(&format!("{P}.mean_ms"), mean_ms)?,
            stddev_ms: non_negative(&format!("{P}.stddev_ms"), stddev_ms)?,
        },
        Latency::LogNormal { mean_ms, sigma } => Latency::LogNormal {
            mean_ms: positive(&format!("{P}.mean_ms"), mean_ms)?,
            sigma: non_negative(&format!("{P}.sigma"), sigma)?,
        },
        Latency::Pareto { scale_ms, shape, cap_ms } => {
            let scale_ms = positive(&format!("{P}.scale_ms"), scale_ms)?;
            let shape = positive(&format!("{P}.shape"), shape)?;
            if let Some(c) = cap_ms
                && (!c.is_finite() || c < scale_ms)
            {
                return err(format!("{P}.cap_ms"), "must be ≥ scale_ms");
            }
            Latency::Pareto { scale_ms, shape, cap_ms }
        }
    })
}

fn resolve_network(n: schema::Network, names: &Names, n_nodes: usize) -> Result<NetworkOptions> {
    let preset = n.preset.as_deref().unwrap_or("wan");
    let mut opts = NetworkOptions::preset(preset).ok_or_else(|| {
        ScenarioError::new(
            "network.preset",
            format!("unknown preset \"{preset}\" (known: {})", NetworkOptions::PRESETS.join(", ")),
        )
    })?;
    if let Some(l) = &n.latency {
        opts.latency = resolve_latency(l)?;
    }
    if let Some(p) = n.loss {
        opts.loss = probability("network.loss", p)?;
    }
    if let Some(p) = n.duplicate {
        opts.duplicate = probability("network.duplicate", p)?;
    }
    if let Some(b) = n.bandwidth_mbps {
        let b = positive("network.bandwidth_mbps", b)?;
        opts.bandwidth_bytes_per_s = Some(((b * 1_000_000.0 / 8.0).round() as u64).max(1));
    }
    if let Some(t) = &n.topology {
        opts.topology = match t {
            schema::Topology::Mesh {} => TopologySpec::Mesh,
            schema::Topology::Ring {} => TopologySpec::Ring,
            schema::Topology::Star { hub } => TopologySpec::Star { hub: names.node("network.topology.hub", hub)?.0 },
            schema::Topology::RandomRegular { degree } => {
                if *degree == 0 || *degree as usize >= n_nodes.max(2) {
                    return err("network.topology.degree", format!("must be in 1..{}", n_nodes.max(2)));
                }
                TopologySpec::RandomRegular { degree: *degree }
            }
            schema::Topology::Edges { edges } => {
                let mut out = Vec::new();
                for (i, (a, b)) in edges.iter().enumerate() {
                    let path = format!("network.topology.edges[{i}]");
                    out.push((names.node(&path, a)?.0, names.node(&path, b)?.0));
                }
                TopologySpec::Edges { edges: out }
            }
        };
    }
    for (i, p) in n.partitions.unwrap_or_default().iter().enumerate() {
        let path = format!("network.partitions[{i}]");
        if p.groups.is_empty() {
            return err(format!("{path}.groups"), "must list at least one group");
        }
        let mut groups = Vec::new();
        for (g, group) in p.groups.iter().enumerate() {
            if group.is_empty() {
                return err(format!("{path}.groups[{g}]"), "a group must name at least one node");
            }
            let ids = names.nodes(&format!("{path}.groups[{g}]"), group)?;
            for id in &ids {
                if groups.iter().any(|x: &Vec<NodeId>| x.contains(id)) {
                    return err(
                        format!("{path}.groups[{g}]"),
                        format!("node {} is in two groups", names.names[id.idx()]),
                    );
                }
            }
            groups.push(ids);
        }
        let from = time_ms(&format!("{path}.from_ms"), p.from_ms)?;
        let until = match p.until_ms {
            None => SimTime::MAX,
            Some(u) => time_ms(&format!("{path}.until_ms"), u)?,
        };
        if until <= from {
            return err(format!("{path}.until_ms"), "must be after from_ms");
        }
        opts.partitions.push(Partition { groups, from, until });
    }
    for (i, d) in n.degradations.unwrap_or_default().iter().enumerate() {
        let path = format!("network.degradations[{i}]");
        let nodes = names.nodes(&format!("{path}.nodes"), d.nodes.as_deref().unwrap_or(&[]))?;
        let from = time_ms(&format!("{path}.from_ms"), d.from_ms)?;
        let until = time_ms(&format!("{path}.until_ms"), d.until_ms)?;
        if until <= from {
            return err(format!("{path}.until_ms"), "must be after from_ms");
        }
        opts.degradations.push(Degradation {
            nodes,
            from,
            until,
            loss: probability(&format!("{path}.loss"), d.loss.unwrap_or(0.0))?,
            latency_factor: positive(&format!("{path}.latency_factor"), d.latency_factor.unwrap_or(1.0))?,
        });
    }
    Ok(opts)
}

fn resolve_expect_handoffs(h: &schema::ExpectHandoffs, names: &Names, keyed: usize) -> Result<ExpectHandoffs> {
    const P: &str = "expect.handoffs";
    let final_set = match &h.final_set {
        None => None,
        Some(list) => {
            let mut keys = Vec::new();
            for (i, r) in list.iter().enumerate() {
                let n = names.node(&format!("{P}.final_set[{i}]"), r)?;
                if n.idx() >= keyed {
                    return err(format!("{P}.final_set[{i}]"), "holds no validator key");
                }
                keys.push(n.idx());
            }
            keys.sort_unstable();
            keys.dedup();
            Some(keys.into_iter().map(|k| names.names[k].clone()).collect())
        }
    };
    if let Some(v) = &h.heights
        && v.windows(2).any(|w| w[0] >= w[1])
    {
        return err(format!("{P}.heights"), "must be increasing");
    }
    let min_latency_ms = h.min_latency_ms.map(|x| non_negative(&format!("{P}.min_latency_ms"), x)).transpose()?;
    let max_latency_ms = h.max_latency_ms.map(|x| positive(&format!("{P}.max_latency_ms"), x)).transpose()?;
    Ok(ExpectHandoffs { count: h.count, heights: h.heights.clone(), final_set, min_latency_ms, max_latency_ms })
}

fn resolve_expect(e: schema::Expect) -> Result<ExpectSpec> {
    let safety_holds = match e.safety.as_deref() {
        None => None,
        Some("holds") => Some(true),
        Some("violated") => Some(false),
        Some(x) => {
            return err("expect.safety", format!("\"{x}\": expected \"holds\" or \"violated\""));
        }
    };
    if let Some(v) = &e.violations {
        for (i, id) in v.iter().enumerate() {
            let ids: Vec<&str> = crate::invariants::INVARIANTS.iter().map(|(id, _)| *id).collect();
            if !ids.contains(&id.as_str()) {
                return err(
                    format!("expect.violations[{i}]"),
                    format!("unknown invariant \"{id}\" (known: {})", ids.join(", ")),
                );
            }
        }
        if safety_holds == Some(true) && v.iter().any(|id| id.starts_with('S')) {
            return err("expect.violations", "contradicts \"safety\": \"holds\"");
        }
    }
    let liveness_holds = match e.liveness.as_deref() {
        None => None,
        Some("holds") => Some(true),
        Some("stalls") => Some(false),
        Some(x) => {
            return err("expect.liveness", format!("\"{x}\": expected \"holds\" or \"stalls\""));
        }
    };
    let stall = match e.stall {
        None => None,
        Some(s) => {
            if let Some(c) = &s.class
                && !STALL_CLASSES.contains(&c.as_str())
            {
                return err(
                    "expect.stall.class",
                    format!("unknown class \"{c}\" (known: {})", STALL_CLASSES.join(", ")),
                );
            }
            if liveness_holds == Some(true) {
                return err("expect.stall", "contradicts \"liveness\": \"holds\"");
            }
            Some(ExpectStall { class: s.class, height: s.height, view: s.view })
        }
    };
    let latency_p99_ms = e.latency_p99_ms.map(|x| positive("expect.latency_p99_ms", x)).transpose()?;
    let mut digests = BTreeMap::new();
    for (k, v) in e.digests.unwrap_or_default().0 {
        let path = format!("expect.digests.{k}");
        let seed: u64 = k.parse().map_err(|_| ScenarioError::new(&path, "key must be a seed (a decimal integer)"))?;
        let h = Hash32::from_hex(&v).ok_or_else(|| ScenarioError::new(&path, "must be 64 hex digits"))?;
        if digests.insert(seed, h).is_some() {
            return err(path, format!("seed {seed} is pinned twice"));
        }
    }
    let mut views = BTreeMap::new();
    for (k, v) in e.views.unwrap_or_default().0 {
        let path = format!("expect.views.{k}");
        let h: u32 = k
            .parse()
            .ok()
            .filter(|h| *h >= 1)
            .ok_or_else(|| ScenarioError::new(&path, "key must be a height (an integer ≥ 1)"))?;
        if views.insert(h, v).is_some() {
            return err(path, format!("height {h} is listed twice"));
        }
    }
    let marks = e.marks.unwrap_or_default().0;
    Ok(ExpectSpec {
        views,
        marks,
        handoffs: None,
        safety_holds,
        violations: e.violations,
        liveness_holds,
        stall,
        min_heights: e.min_heights,
        max_view: e.max_view,
        latency_p99_ms,
        digests,
    })
}
