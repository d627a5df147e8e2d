//! Warnings about plausible mistakes in a scenario that are not errors: the run is valid,
//! but probably not the run its author meant.
//!
//! - a scripted rule that never matched a message (a typo in a type name, a height the
//!   run never reached, a window that closed before anything was sent);
//! - times that look like seconds written as milliseconds: a crash, a restart or GST
//!   within the first second, a partition or degraded window shorter than a round trip,
//!   a run shorter than one block time;
//! - a crash, partition, degradation, timer control or GST scheduled after the run's end
//!   (it never happens; a change so scheduled is an error), and a network that loses
//!   every message;
//! - an equivocating node whose two target lists share an honest node (it gets both
//!   proposals, which is rarely the schedule intended).
//!
//! They are listed in `report.json` (`lints`) and printed with the summary.

use crate::engine::time::SimTime;
use crate::net::latency::Latency;
use crate::net::rules::RuleStats;
use crate::scenario::RunSpec;
use crate::scenario::spec::TimerSpec;
use serde::Serialize;

/// One warning: the scenario field it is about and what looks wrong.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lint {
    pub field: String,
    pub warning: String,
}

fn lint(field: impl Into<String>, warning: impl Into<String>) -> Lint {
    Lint { field: field.into(), warning: warning.into() }
}

/// A typical one-hop latency of a distribution, in milliseconds.
fn typical_ms(l: &Latency) -> f64 {
    match *l {
        Latency::Constant { ms } => ms,
        Latency::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
        Latency::Normal { mean_ms, .. } | Latency::LogNormal { mean_ms, .. } => mean_ms,
        Latency::Pareto { scale_ms, .. } => scale_ms,
    }
}

/// A time in (0, 1000) ms where whole seconds are the usual scale.
fn looks_like_seconds(ms: f64) -> bool {
    ms > 0.0 && ms < 1000.0
}

pub fn check(spec: &RunSpec, rules: &[RuleStats]) -> Vec<Lint> {
    let mut out = Vec::new();
    let name = |n: crate::protocol::NodeId| spec.node_name(n).to_string();
    for (i, r) in rules.iter().enumerate() {
        if r.matched == 0 {
            out.push(lint(format!("rules[{i}]"), format!("rule \"{}\" never matched a message", r.name)));
        }
    }
    let secs = "— times are in milliseconds; did you mean seconds?";
    for (i, c) in spec.crashes.iter().enumerate() {
        let at = c.at.as_ms_f64();
        if looks_like_seconds(at) {
            out.push(lint(format!("faults.crashes[{i}].at_ms"), format!("{} crashes at {at} ms {secs}", name(c.node))));
        }
        if let Some(r) = c.restart.map(|t| t.as_ms_f64())
            && looks_like_seconds(r - at)
        {
            out.push(lint(
                format!("faults.crashes[{i}].restart_ms"),
                format!("{} restarts {} ms after its crash {secs}", name(c.node), r - at),
            ));
        }
    }
    let round_trip = 2.0 * typical_ms(&spec.network.latency);
    for (i, p) in spec.network.partitions.iter().enumerate() {
        let len = p.until.as_ms_f64() - p.from.as_ms_f64();
        if len < round_trip {
            out.push(lint(
                format!("network.partitions[{i}]"),
                format!("lasts {len} ms, shorter than a round trip (~{round_trip} ms): it cuts almost nothing {secs}"),
            ));
        }
    }
    for (i, d) in spec.network.degradations.iter().enumerate() {
        let len = d.until.as_ms_f64() - d.from.as_ms_f64();
        if len < round_trip {
            out.push(lint(
                format!("network.degradations[{i}]"),
                format!("lasts {len} ms, shorter than a round trip (~{round_trip} ms) {secs}"),
            ));
        }
    }
    if let Some(g) = spec.liveness.gst.map(|t| t.as_ms_f64())
        && looks_like_seconds(g)
    {
        out.push(lint("liveness.gst_ms", format!("GST at {g} ms {secs}")));
    }
    let block_ms = spec.protocol.block_time_us as f64 / 1000.0;
    let duration = spec.stop.duration.as_ms_f64();
    if duration < block_ms {
        out.push(lint(
            "stop.duration_ms",
            format!(
                "the run lasts {duration} ms, less than one block time ({block_ms} ms): no block can be made {secs}"
            ),
        ));
    }
    // What is scheduled after the run's end never happens: a typo or a unit slip (an hour
    // in seconds read as milliseconds is fine; a timestamp in microseconds is not).
    let after = |t: SimTime| t > spec.stop.duration;
    let never = |what: String, t: SimTime| {
        format!("{what} at {} ms, after the run ends (stop.duration_ms = {duration}): it never happens", t.as_ms_f64())
    };
    for (i, c) in spec.crashes.iter().enumerate().filter(|(_, c)| after(c.at)) {
        out.push(lint(format!("faults.crashes[{i}].at_ms"), never(format!("{} crashes", name(c.node)), c.at)));
    }
    for (i, p) in spec.network.partitions.iter().enumerate().filter(|(_, p)| after(p.from)) {
        out.push(lint(format!("network.partitions[{i}].from_ms"), never("the partition starts".into(), p.from)));
    }
    for (i, d) in spec.network.degradations.iter().enumerate().filter(|(_, d)| after(d.from)) {
        out.push(lint(format!("network.degradations[{i}].from_ms"), never("the degradation starts".into(), d.from)));
    }
    for (i, t) in spec.timers.iter().enumerate() {
        let (field, what, at) = match t {
            TimerSpec::Fire { node, at } => ("at_ms", format!("{}'s timer fires", name(*node)), *at),
            TimerSpec::Suppress { node, from, .. } => {
                ("from_ms", format!("{}'s timer is suppressed", name(*node)), *from)
            }
        };
        if after(at) {
            out.push(lint(format!("timers[{i}].{field}"), never(what, at)));
        }
    }
    if let Some(g) = spec.liveness.gst.filter(|&g| after(g)) {
        out.push(lint("liveness.gst_ms", never("GST".into(), g)));
    }
    if spec.network.loss >= 1.0 {
        out.push(lint("network.loss", "every message is lost: no node hears from any other, so no block can be made"));
    }
    // A private change reaches only `only` and its origin; a primary proposes from its own
    // mempool, so if none of them holds a key of the genesis set, nothing proposes it
    // (unless one of them joins the set through another change first). Keys, not nodes:
    // a twin or an attacker signs with the key it holds.
    for (i, c) in spec.changes.iter().enumerate() {
        let Some(only) = &c.only else { continue };
        let mut holders: Vec<usize> = Vec::new();
        for n in only.iter().chain(std::iter::once(&c.origin)) {
            let keys: Vec<usize> = spec.nodes.get(n.idx()).map(|s| s.role.keys()).unwrap_or_default();
            holders.extend(keys.into_iter().filter(|&k| k < spec.validators));
        }
        holders.sort_unstable();
        holders.dedup();
        let m = crate::validators::m_of(spec.validators);
        if holders.is_empty() {
            out.push(lint(
                format!("changes[{i}].only"),
                "no validator of the genesis set receives this change, so no primary can propose it (unless a receiver joins the set through another change first)",
            ));
        } else if holders.len() < m && !spec.network.fetch_txs && spec.nodes.iter().all(|n| n.honest) {
            // An honest backup answers a proposal only once it holds every transaction in
            // it, and without fetching the others never get this one: a proposal carrying
            // it gathers at most `holders` PrepareResponses and ends in a view change
            // (TxNotFound) — at every turn of a primary that holds it. (A Byzantine node
            // may answer without it, so the prediction is made for honest runs only.)
            // The set is the genesis set until another change takes effect: alone, this
            // change is never decided; with others, one that shrinks the set or makes a
            // receiver a validator first can change the count.
            let fate = if spec.changes.len() == 1 {
                "every such proposal ends in a view change (TxNotFound) and the change is never decided".to_string()
            } else {
                "while the set is the genesis set every such proposal ends in a view change (TxNotFound), unless another change shrinks the set or makes a receiver a validator first".to_string()
            };
            out.push(lint(
                format!("changes[{i}].only"),
                format!(
                    "only {} of the {} genesis validators' keys are held by a node that receives this change and network.fetch_txs is off, so a proposal carrying it cannot gather the M = {m} responses it needs: {fate}; set network.fetch_txs to let the others fetch it from a holder",
                    holders.len(),
                    spec.validators
                ),
            ));
        }
    }
    for n in &spec.nodes {
        for b in &n.behaviours {
            if let crate::byzantine::Behaviour::Equivocate { a_to, b_to } = b {
                // Colluders in both lists are usually meant to see both proposals.
                let honest = |x: &&crate::protocol::NodeId| spec.nodes.get(x.idx()).is_some_and(|n| n.honest);
                let both: Vec<String> =
                    a_to.iter().filter(|x| b_to.contains(x)).filter(honest).map(|&x| name(x)).collect();
                if !both.is_empty() {
                    out.push(lint(
                        "byzantine[].behaviours[].a_to",
                        format!("{} equivocates to overlapping lists: {} get both proposals", n.name, both.join(", ")),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    fn lints_of(text: &str) -> Vec<Lint> {
        let spec = crate::scenario::parse(text, "lint").unwrap();
        Report::build(&spec, &crate::world::run(&spec, 1, None, false)).lints
    }

    #[test]
    fn each_plausible_mistake_is_named_with_its_field() {
        let text = r#"{"validators": 4, "network": {"preset": "lan",
            "partitions": [{"groups": [["R0"]], "from_ms": 20000, "until_ms": 20000.1}]},
            "faults": {"crashes": [{"node": "R3", "at_ms": 15}]},
            "liveness": {"gst_ms": 90},
            "rules": [{"name": "typo", "match": {"types": ["Commit"], "height": 99}, "action": {"do": "drop"}}],
            "byzantine": [{"node": "R0", "behaviours": [{"kind": "equivocate", "a_to": ["R1", "R2"], "b_to": ["R2"]}]}],
            "stop": {"duration_ms": 14000}}"#;
        let fields: Vec<String> = lints_of(text).into_iter().map(|l| l.field).collect();
        assert_eq!(
            fields,
            [
                "rules[0]",
                "faults.crashes[0].at_ms",
                "network.partitions[0]",
                "liveness.gst_ms",
                "stop.duration_ms",
                // Its partition starts at 20 s, after the 14 s run.
                "network.partitions[0].from_ms",
                "byzantine[].behaviours[].a_to"
            ]
        );
    }

    /// Everything scheduled after the run's end is named (it never happens), what is
    /// scheduled before it is not, and so is a network that loses everything.
    #[test]
    fn what_is_scheduled_after_the_end_is_named() {
        let text = r#"{"validators": {"count": 4, "candidates": 1}, "network": {"loss": 1.0,
            "partitions": [{"groups": [["R0"]], "from_ms": 5000, "until_ms": 9000},
                           {"groups": [["R1"]], "from_ms": 70000, "until_ms": 80000}],
            "degradations": [{"nodes": ["R2"], "from_ms": 61000, "until_ms": 62000, "latency_factor": 2}]},
            "faults": {"crashes": [{"node": "R3", "at_ms": 1e12}, {"node": "R2", "at_ms": 30000}]},
            "timers": [{"do": "fire", "node": "R0", "at_ms": 1e12}, {"do": "fire", "node": "R1", "at_ms": 2000},
                       {"do": "suppress", "node": "R1", "from_ms": 65000, "until_ms": 66000}],
            "changes": [{"do": "join", "node": "C0", "at_ms": 1000}],
            "liveness": {"gst_ms": 60001},
            "stop": {"duration_ms": 60000}}"#;
        let lints = lints_of(text);
        let fields: Vec<&str> = lints.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "faults.crashes[0].at_ms",
                "network.partitions[1].from_ms",
                "network.degradations[0].from_ms",
                "timers[0].at_ms",
                "timers[2].from_ms",
                "liveness.gst_ms",
                "network.loss"
            ]
        );
        assert!(lints[0].warning.contains("R3 crashes at 1000000000000 ms, after the run ends"), "{:?}", lints[0]);
    }

    /// A change sent privately to candidates only is never proposed: said before the run
    /// is read as "the hand-off did not happen".
    #[test]
    fn a_private_change_no_validator_receives_is_named() {
        let text = r#"{"validators": {"count": 4, "candidates": 2},
            "changes": [{"do": "join", "node": "C0", "at_height": 2, "only": ["C1"]},
                        {"do": "join", "node": "C1", "at_height": 2, "only": ["R0", "R1", "R2"]}],
            "stop": {"heights": 3}}"#;
        let lints = lints_of(text);
        assert_eq!(lints.iter().map(|l| l.field.as_str()).collect::<Vec<_>>(), ["changes[0].only"], "{lints:?}");
    }

    /// Fewer holders than a quorum and no fetching: never decided (the run behind this is
    /// `a_private_change_fewer_than_a_quorum_hold_is_never_decided` in tests/validators.rs).
    #[test]
    fn a_private_change_fewer_than_a_quorum_hold_is_named_unless_they_can_fetch() {
        let text = |only: &str, fetch: bool| {
            format!(
                r#"{{"validators": {{"count": 4, "candidates": 1}}, "network": {{"fetch_txs": {fetch}}},
                    "changes": [{{"do": "join", "node": "C0", "at_height": 2, "only": {only}}}],
                    "stop": {{"heights": 3}}}}"#
            )
        };
        let fields = |t: String| lints_of(&t).into_iter().map(|l| l.field).collect::<Vec<_>>();
        // M = 3 of 4: R0 and R1 are two holders (C0, the origin, is not a validator).
        assert_eq!(fields(text(r#"["R0", "R1"]"#, false)), ["changes[0].only"]);
        let warning = &lints_of(&text(r#"["R0", "R1"]"#, false))[0].warning;
        assert!(warning.contains("only 2 of the 4 genesis") && warning.contains("is never decided"), "{warning}");
        assert_eq!(fields(text(r#"["R0", "R1"]"#, true)), Vec::<String>::new());
        assert_eq!(fields(text(r#"["R0", "R1", "R2"]"#, false)), Vec::<String>::new());
        // A twin holds R0's key, so a change sent only to it reaches a genesis key (and
        // with a Byzantine node in the run, holders below M predict nothing).
        let twin = r#"{"validators": {"count": 4, "candidates": 1}, "twins": [{"node": "R0", "to": ["R1"], "twin_to": ["R2"]}],
            "changes": [{"do": "join", "node": "C0", "at_height": 2, "only": ["R0.twin"]}],
            "stop": {"heights": 3}}"#;
        assert_eq!(lints_of(twin).into_iter().map(|l| l.field).collect::<Vec<_>>(), Vec::<String>::new());
    }

    #[test]
    fn an_ordinary_scenario_has_none() {
        let text = r#"{"validators": 4, "faults": {"crashes": [{"node": "R3", "at_ms": 20000}]},
            "network": {"partitions": [{"groups": [["R0"]], "from_ms": 20000, "until_ms": 30000}]},
            "rules": [{"match": {"types": ["Commit"]}, "action": {"do": "delay", "ms": 1}}],
            "stop": {"heights": 2}}"#;
        assert_eq!(lints_of(text), []);
    }
}
