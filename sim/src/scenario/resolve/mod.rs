//! From the file format to a resolved [`RunSpec`]: defaults, name resolution and every
//! check that needs more than a type. Each error names the JSON path it is about. One
//! submodule per section of the file; [`resolve`] calls them in the order a section's
//! references need (nodes first: everything else names them).

mod byzantine;
mod changes;
mod expect;
mod faults;
mod network;
mod nodes;
mod protocol;
mod run;
mod schedule;

use super::error::{Result, ScenarioError};
use super::schema::{self, NodeRef};
use super::spec::*;
use crate::engine::time::SimTime;
use crate::protocol::NodeId;

pub const DEFAULT_VALIDATORS: u32 = 4;
pub const DEFAULT_BLOCK_TIME_MS: f64 = 15_000.0;
pub const DEFAULT_HEIGHTS: u32 = 10;
const MAX_NODES: u32 = 1024;
/// The shortest period a periodic Byzantine behaviour may have (1 ms).
const MIN_BEHAVIOUR_PERIOD: SimTime = SimTime(1_000);
/// One year of simulated time.
const MAX_DURATION_MS: f64 = 3.15e10;

/// The longest list of seeds, tags, rules or validator-set changes a scenario may carry: far beyond any written
/// by hand, and a 1-million-entry list (2.6 GB of rules, a 660 MB report) is refused.
const MAX_LISTED: usize = 10_000;

/// The longest `schedule`: the explorer's counterexamples run to a few hundred steps
/// (shrunk ones to tens), so a hundred thousand leaves room for hand-extended and
/// generated ones, while a scheduled run stays linear in it (each step a lookup in what
/// is in flight: 100,000 steps in about 0.3 s). `shrink`, quadratic in the length, has
/// its own lower limit (`search::shrink::MAX_SHRINK_STEPS`).
const MAX_SCHEDULE: usize = 100_000;

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
        // A scenario lists the seeds it pins; a sweep over many is `check --seeds A..B`.
        Some(v) if v.len() > MAX_LISTED => {
            return err(
                "seeds",
                format!("lists {} seeds, at most {MAX_LISTED} (for a sweep: check --seeds A..B)", v.len()),
            );
        }
        Some(v) => {
            // Listed twice, a seed would run twice and be reported twice (two JUnit cases).
            if let Some(i) = (1..v.len()).find(|&i| v[..i].contains(&v[i])) {
                return err(format!("seeds[{i}]"), format!("seed {} is listed twice", v[i]));
            }
            v.clone()
        }
        None => vec![seed],
    };
    if let Some(t) = s.tags.as_ref().filter(|t| t.len() > MAX_LISTED) {
        return err("tags", format!("{} tags, at most {MAX_LISTED}", t.len()));
    }
    if let Some(r) = s.rules.as_ref().filter(|r| r.len() > MAX_LISTED) {
        return err("rules", format!("{} rules, at most {MAX_LISTED} (each is tried on every message)", r.len()));
    }
    if let Some(c) = s.changes.as_ref().filter(|c| c.len() > MAX_LISTED) {
        return err("changes", format!("{} changes, at most {MAX_LISTED}", c.len()));
    }

    let nodes::NodeTable { names, roles, validators, candidates } = nodes::resolve_nodes(s)?;
    let keyed = validators + candidates;
    let lookup = Names { names: names.clone() };
    let n_nodes = names.len();
    let protocol = protocol::resolve_protocol(s.protocol.clone().unwrap_or_default())?;
    let network = network::resolve_network(s.network.clone().unwrap_or_default(), &lookup, n_nodes)?;
    let (crashes, drift) = faults::resolve_faults(s.faults.clone().unwrap_or_default(), &lookup, n_nodes)?;
    let workload = run::resolve_workload(s.workload.clone().unwrap_or_default(), &lookup)?;
    let start_height = run::resolve_start_height(s.start_height)?;
    let stop = run::resolve_stop(s.stop.clone().unwrap_or_default(), protocol.block_time_us, start_height)?;
    let liveness = run::resolve_liveness(s.liveness.clone().unwrap_or_default(), protocol.block_time_us)?;
    let changes =
        changes::resolve_changes(s.changes.as_deref().unwrap_or(&[]), &lookup, validators, keyed, &stop, start_height)?;
    let mut expect = expect::resolve_expect(s.expect.clone().unwrap_or_default())?;
    // A height the run never decides cannot be final in any view.
    for &h in expect.views.keys() {
        if h < start_height {
            return err(
                format!("expect.views.{h}"),
                format!("below start_height ({start_height}): final before the run"),
            );
        }
        if let Some(target) = stop.heights
            && h > target
        {
            return err(format!("expect.views.{h}"), format!("above stop.heights ({target}): the run ends first"));
        }
    }
    if let Some(h) = expect.stall.as_ref().and_then(|s| s.height) {
        if h < start_height {
            return err("expect.stall.height", format!("below start_height ({start_height}): the run starts there"));
        }
        if let Some(target) = stop.heights
            && h > target
        {
            return err("expect.stall.height", format!("above stop.heights ({target}): the run ends first"));
        }
    }
    if let Some(h) = s.expect.as_ref().and_then(|e| e.handoffs.as_ref()) {
        expect.handoffs = Some(expect::resolve_expect_handoffs(h, &lookup, keyed, start_height)?);
    }
    let rules = network::resolve_rules(s.rules.as_deref().unwrap_or(&[]), &lookup)?;
    // Present at all without rules (even `false`) is a mistake: it names rules that do
    // not exist, perhaps left behind when they were removed.
    if s.expect.as_ref().is_some_and(|e| e.rules_applied.is_some()) && rules.is_empty() {
        return Err(ScenarioError::new("expect.rules_applied", "the scenario has no rules to act"));
    }
    let timers = faults::resolve_timers(s.timers.as_deref().unwrap_or(&[]), &lookup)?;
    let schedule = schedule::resolve_schedule(s, &lookup)?;
    let byzantine::Faulty { behaviours, byzantine_from, honest } =
        byzantine::resolve_byzantine(s, &names, &roles, &lookup)?;

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
        start_height,
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
        schedule,
    })
}
