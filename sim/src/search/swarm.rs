//! `dbft-sim swarm`: random configurations, one per seed, hunting for counterexamples.
//!
//! Swarm testing (Groce et al., ISSTA 2012; TigerBeetle's `options_swarm`): each seed draws
//! its own configuration from the swarm stream — validator count, semantics, network
//! preset, loss, duplication, a partition that heals, and up to F faulty validators, each
//! crashing, restarting or running one Byzantine behaviour — so that every seed enables a
//! different subset of fault families. Safety must hold in every run (faults stay within
//! F). A run that breaks it is written out as an ordinary scenario file, replayable with
//! `dbft-sim run`; stalls are counted by class (liveness is not promised under Byzantine
//! behaviour), and written out too with `--keep-stalls`.
//!
//! Half the seeds also draw validator churn from a stream of their own (so a seed's other
//! draws are what they were without churn): standby candidates, a hand-off rule (one of
//! the safe ones, or the one `--handoff` names), maybe a churn limit, and up to four
//! changes — joins of candidates, rotations of honest validators to candidates, and leaves
//! that keep N ≥ 3·faulty + 1, so faults stay within F at every height — submitted when a
//! random height is reached, some of them privately to a few nodes.

use crate::engine::rng::{SimRng, Stream};
use crate::protocol::dbft::Mutation;

fn pick<'a, T>(rng: &mut SimRng, xs: &'a [T]) -> &'a T {
    &xs[rng.below(xs.len() as u64) as usize]
}

/// The safe hand-off rules the swarm draws from, as scenario JSON.
const SAFE_RULES: [&str; 6] = [
    r#""next-block""#,
    r#""next-block""#,
    r#""delay-2""#,
    r#"{"rule": "refresh-period", "period": 2}"#,
    r#"{"rule": "refresh-period", "period": 3}"#,
    r#""dual-quorum""#,
];

/// Validator churn for a swarm seed: (candidates, protocol.handoff JSON, changes JSON), or
/// None for a seed without churn. `faulty` lists the genesis validators that crash or run
/// a Byzantine behaviour; they are never rotated out, and leaves keep N ≥ 3·faulty + 1.
fn churn(
    seed: u64,
    n: u32,
    faulty: &[usize],
    heights: u32,
    handoff: Option<&str>,
    always: bool,
) -> Option<(u32, String, Vec<String>)> {
    let mut rng = SimRng::derive(seed, Stream::SwarmChurn);
    if handoff.is_none() && rng.chance(0.5) && !always {
        return None;
    }
    let candidates = 1 + rng.below(n as u64) as u32;
    let rule = match handoff {
        Some("refresh-period") => r#"{"rule": "refresh-period", "period": 3}"#.to_string(),
        Some(r) => format!(r#""{r}""#),
        None => pick(&mut rng, &SAFE_RULES).to_string(),
    };
    let rule = if rng.chance(0.25) {
        let limit = 1 + rng.below(2);
        match rule.strip_prefix('{') {
            Some(obj) => format!(r#"{{"churn_limit": {limit}, {obj}"#),
            None => format!(r#"{{"rule": {rule}, "churn_limit": {limit}}}"#),
        }
    } else {
        rule
    };
    // Changes may take effect in any subset and order (a private change may never be
    // proposed), so each must be safe on its own: rotations and leaves touch only honest
    // genesis validators, each at most once, and leaves stop while n − leaves ≥ 3·faulty + 1.
    let mut genesis_honest: Vec<String> =
        (0..n as usize).filter(|i| !faulty.contains(i)).map(|i| format!("R{i}")).collect();
    let mut outside: Vec<String> = (0..candidates).map(|i| format!("C{i}")).collect();
    let all: Vec<String> = (0..n).map(|i| format!("R{i}")).chain(outside.iter().cloned()).collect();
    let mut leaves = 0usize;
    let mut changes = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let at = 1 + rng.below(heights.saturating_sub(1).max(1) as u64);
        let change = match rng.below(3) {
            0 if !outside.is_empty() => {
                let who = outside.remove(rng.below(outside.len() as u64) as usize);
                format!(r#""do": "join", "node": "{who}""#)
            }
            1 if !outside.is_empty() && !genesis_honest.is_empty() => {
                let from = genesis_honest.remove(rng.below(genesis_honest.len() as u64) as usize);
                let to = outside.remove(rng.below(outside.len() as u64) as usize);
                format!(r#""do": "rotate", "from": "{from}", "to": "{to}""#)
            }
            _ if n as usize - leaves > 3 * faulty.len() + 1 && !genesis_honest.is_empty() => {
                let who = genesis_honest.remove(rng.below(genesis_honest.len() as u64) as usize);
                leaves += 1;
                format!(r#""do": "leave", "node": "{who}""#)
            }
            _ => continue,
        };
        let private = if rng.chance(0.3) && !always {
            let k = 1 + rng.below(all.len() as u64) as usize;
            let only: Vec<String> =
                rng.sample_indices(all.len(), k).into_iter().map(|i| format!("\"{}\"", all[i])).collect();
            format!(r#", "only": [{}]"#, only.join(", "))
        } else {
            String::new()
        };
        changes.push(format!(r#"{{{change}, "at_height": {at}{private}}}"#));
    }
    Some((candidates, rule, changes))
}

/// The scenario (JSON text) of swarm seed `seed`, optionally with a protocol mutation.
pub fn generate(seed: u64, heights: u32, mutation: Option<Mutation>) -> String {
    generate_with(seed, heights, mutation, None)
}

/// The scenario of swarm seed `seed`, with the hand-off rule forced to `handoff` if given.
pub fn generate_with(seed: u64, heights: u32, mutation: Option<Mutation>, handoff: Option<&str>) -> String {
    let mut rng = SimRng::derive(seed, Stream::Swarm);
    let n = *pick(&mut rng, &[4u32, 4, 7, 7, 10]);
    let f = (n - 1) / 3;
    let semantics = pick(&mut rng, &["csharp", "go"]);
    let preset = pick(&mut rng, &["lan", "wan", "wan", "heavy-tail"]);
    let loss = pick(&mut rng, &[0.0, 0.0, 0.01, 0.05, 0.1]);
    let duplicate = pick(&mut rng, &[0.0, 0.0, 0.05]);
    let t = 1000u64;
    let mut partitions = Vec::new();
    if rng.chance(0.3) {
        let size = 1 + rng.below((n / 2) as u64) as usize;
        let group: Vec<String> =
            rng.sample_indices(n as usize, size).into_iter().map(|i| format!("\"R{i}\"")).collect();
        let from = rng.range_inclusive(0, 20 * t);
        let until = from + rng.range_inclusive(2 * t, 30 * t);
        partitions.push(format!(r#"{{"groups": [[{}]], "from_ms": {from}, "until_ms": {until}}}"#, group.join(", ")));
    }
    // Up to F faulty validators, each with one fault family.
    let faulty = rng.below(f as u64 + 1) as usize;
    let (mut crashes, mut byzantine) = (Vec::new(), Vec::new());
    let faulty_nodes = rng.sample_indices(n as usize, faulty);
    for &v in &faulty_nodes {
        let node = format!("\"R{v}\"");
        let other = format!("\"R{}\"", (v + 1) % n as usize);
        match rng.below(11) {
            0 => crashes.push(format!(r#"{{"node": {node}, "at_ms": {}}}"#, rng.range_inclusive(0, 20 * t))),
            1 => {
                let at = rng.range_inclusive(0, 20 * t);
                let amnesia = rng.chance(0.3);
                crashes.push(format!(
                    r#"{{"node": {node}, "at_ms": {at}, "restart_ms": {}, "amnesia": {amnesia}}}"#,
                    at + rng.range_inclusive(t, 20 * t)
                ));
            }
            k => {
                let b = match k {
                    2 => r#"{"kind": "silent"}"#.to_string(),
                    3 => format!(r#"{{"kind": "equivocate", "b_to": [{other}]}}"#),
                    4 => r#"{"kind": "double-sign"}"#.to_string(),
                    5 => format!(
                        r#"{{"kind": "withhold-commits", "delay_ms": {}, "to": [{other}]}}"#,
                        rng.range_inclusive(t, 10 * t)
                    ),
                    6 => format!(
                        r#"{{"kind": "change-view-flood", "period_ms": {}, "forged_view": 9, "stale": true}}"#,
                        rng.range_inclusive(t / 10, t)
                    ),
                    7 => format!(r#"{{"kind": "replay", "period_ms": {}}}"#, rng.range_inclusive(t / 10, t)),
                    8 => format!(r#"{{"kind": "forge", "period_ms": {}}}"#, rng.range_inclusive(t / 10, t)),
                    9 => {
                        format!(r#"{{"kind": "garbage-commits", "period_ms": {}}}"#, rng.range_inclusive(t / 10, 5 * t))
                    }
                    _ => match rng.below(4) {
                        0 => format!(r#"{{"kind": "selective-delivery", "to": [{other}]}}"#),
                        1 => {
                            format!(r#"{{"kind": "forge-recovery", "period_ms": {}}}"#, rng.range_inclusive(t / 10, t))
                        }
                        2 => format!(
                            r#"{{"kind": "non-primary-request", "period_ms": {}}}"#,
                            rng.range_inclusive(t / 10, t)
                        ),
                        _ => format!(r#"{{"kind": "primary-response", "to": [{other}]}}"#),
                    },
                };
                byzantine.push(format!(
                    r#"{{"node": {node}, "from_ms": {}, "behaviours": [{b}]}}"#,
                    rng.range_inclusive(0, 10 * t)
                ));
            }
        }
    }
    let churn = churn(seed, n, &faulty_nodes, heights, handoff, false);
    let (validators, handoff, changes, churn_note) = match &churn {
        None => (n.to_string(), String::new(), String::new(), String::new()),
        Some((c, rule, changes)) => (
            format!(r#"{{"count": {n}, "candidates": {c}}}"#),
            format!(r#", "handoff": {rule}"#),
            format!(",\n  \"changes\": [{}]", changes.join(", ")),
            format!("; {c} candidate(s), {} change(s)", changes.len()),
        ),
    };
    format!(
        r#"{{
  "name": "swarm-{seed}",
  "description": "Swarm seed {seed}: N={n}, {semantics} semantics, {preset} network, loss {loss}, duplication {duplicate}; {faulty} faulty validator(s) of at most F={f}{churn_note}. Safety must hold.",
  "seed": {seed},
  "validators": {validators},
  "protocol": {{"block_time_ms": {t}, "semantics": "{semantics}"{}{handoff}}},
  "network": {{"preset": "{preset}", "loss": {loss}, "duplicate": {duplicate}, "partitions": [{}]}},
  "faults": {{"crashes": [{}]}},
  "byzantine": [{}],
  "stop": {{"heights": {heights}, "duration_ms": {}}},
  "expect": {{"safety": "holds"}}{changes}
}}
"#,
        mutation.map_or(String::new(), |m| format!(r#", "mutation": "{m}""#)),
        partitions.join(", "),
        crashes.join(", "),
        byzantine.join(", "),
        600 * t
    )
}

/// An honest run with validator churn: N ∈ {4, 7}, a LAN or WAN without loss, every
/// change gossiped to everyone (private changes leave proposals with transactions that
/// backups cannot get, and so change views; see FINDINGS.md), a safe rule drawn per seed.
/// Safety and liveness must both hold.
pub fn generate_honest_churn(seed: u64, heights: u32) -> String {
    let mut rng = SimRng::derive(seed, Stream::Swarm);
    let n = *pick(&mut rng, &[4u32, 7]);
    let semantics = pick(&mut rng, &["csharp", "go"]);
    let preset = pick(&mut rng, &["lan", "wan"]);
    let (candidates, rule, changes) = churn(seed, n, &[], heights, None, true).unwrap_or_default();
    format!(
        r#"{{
  "name": "honest-churn-{seed}",
  "description": "Honest churn seed {seed}: N={n}, {semantics}, {preset}, {candidates} candidate(s), {} change(s) under the rule below. Safety and liveness must hold.",
  "seed": {seed},
  "validators": {{"count": {n}, "candidates": {candidates}}},
  "protocol": {{"block_time_ms": 1000, "semantics": "{semantics}", "handoff": {rule}}},
  "network": {{"preset": "{preset}"}},
  "changes": [{}],
  "stop": {{"heights": {heights}, "duration_ms": 600000}},
  "expect": {{"safety": "holds", "liveness": "holds"}}
}}
"#,
        changes.len(),
        changes.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn generated_scenarios_are_valid_deterministic_and_varied() {
        let mut sizes = std::collections::BTreeSet::new();
        let mut faulty = 0;
        for seed in 0..200 {
            let text = generate(seed, 4, None);
            assert_eq!(text, generate(seed, 4, None), "a seed always gives the same configuration");
            let spec = scenario::parse(&text, "x").unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            sizes.insert(spec.validators);
            let f = crate::validators::f_of(spec.validators);
            let bad = spec.nodes.iter().filter(|n| !n.behaviours.is_empty()).count() + spec.crashes.len();
            assert!(bad <= f, "seed {seed}: {bad} faulty > F = {f}");
            faulty += bad;
        }
        assert_eq!(sizes.len(), 3);
        assert!(faulty > 50, "the swarm exercises faults: {faulty}");
    }
}
