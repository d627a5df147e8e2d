//! Scenario parsing: defaults, name resolution, GST cuts, and the table of malformed inputs
//! whose errors must name the field path.

use super::*;
use crate::protocol::NodeId;

#[test]
fn a_three_line_scenario_runs_with_defaults() {
    let spec = parse(r#"{"name": "tiny", "validators": 4}"#, "x").unwrap();
    assert_eq!(spec.name, "tiny");
    assert_eq!(spec.validators, 4);
    assert_eq!(spec.nodes[3].name, "R3");
    assert_eq!(spec.protocol.block_time_us, 15_000_000);
    assert_eq!(spec.stop.heights, Some(10));
    let empty = parse("{}", "fallback").unwrap();
    assert_eq!(empty.name, "fallback");
    assert_eq!(empty.validators, 4);
}

#[test]
fn relay_defaults_to_direct_and_flood_turns_fetching_on() {
    let spec = parse(r#"{"validators": 4}"#, "x").unwrap();
    assert_eq!(spec.network.relay, crate::net::Relay::Direct);
    assert!(!spec.network.fetch_txs);
    let spec = parse(r#"{"network": {"relay": "flood"}}"#, "x").unwrap();
    assert_eq!(spec.network.relay, crate::net::Relay::Flood);
    assert!(spec.network.fetch_txs);
    let spec = parse(r#"{"network": {"relay": "flood", "fetch_txs": false}}"#, "x").unwrap();
    assert!(!spec.network.fetch_txs);
    let spec =
        parse(r#"{"workload": {"withhold": [{"nodes": ["R1"], "txs": [2, 3], "until_ms": 1500}]}}"#, "x").unwrap();
    let w = &spec.workload;
    assert_eq!(w.withheld_until(2, NodeId(1)), Some(crate::engine::time::SimTime::from_ms(1500)));
    assert_eq!(w.withheld_until(2, NodeId(0)), None);
    assert_eq!(w.withheld_until(4, NodeId(1)), None);
}

#[test]
fn names_and_watchers_resolve() {
    let spec = parse(
        r#"{"validators": {"names": ["a", "b", "c", "d"], "watchers": 2},
            "faults": {"crashes": [{"node": "b", "at_ms": 10}, {"node": 5, "at_ms": 20}]}}"#,
        "x",
    )
    .unwrap();
    assert_eq!(spec.nodes.len(), 6);
    assert_eq!(spec.nodes[5].name, "W1");
    assert_eq!(spec.crashes[0].node.0, 1);
    assert_eq!(spec.crashes[1].node.0, 5);
}

/// Every malformed input names the field path in its error.
pub const BAD: &[(&str, &str, &str)] = &[
    (r#"{"validators": "seven"}"#, "validators", "expected a count"),
    (r#"{"network": {"relay": "gossip"}}"#, "network.relay", "unknown relay"),
    (r#"{"network": {"resend_ms": 100}}"#, "network.resend_ms", "needs"),
    (r#"{"network": {"relay": "flood", "resend_ms": 0}}"#, "network.resend_ms", ""),
    (
        r#"{"workload": {"withhold": [{"nodes": ["R0"], "txs": [1, 1], "until_ms": -1}]}}"#,
        "workload.withhold[0].until_ms",
        "",
    ),
    (r#"{"workload": {"invalid": [{"txs": [0, 1]}]}}"#, "workload.invalid[0].txs", "1 ≤ first"),
    (r#"{"workload": {"invalid": [{"txs": [3, 2]}]}}"#, "workload.invalid[0].txs", "first ≤ last"),
    (r#"{"workload": {"invalid": [{"txs": [1, 1], "nodes": []}]}}"#, "workload.invalid[0].nodes", "at least one"),
    (
        r#"{"workload": {"invalid": [{"txs": [1, 1], "nodes": ["R9"]}]}}"#,
        "workload.invalid[0].nodes[0]",
        "unknown node",
    ),
    (r#"{"workload": {"invalid": [{"txs": [1, 1], "node": ["R0"]}]}}"#, "workload.invalid[0].node", "unknown field"),
    (
        r#"{"byzantine": [{"node": "R0", "behaviours": [{"kind": "primary-response"}]}]}"#,
        "byzantine[0].behaviours[0]",
        "to",
    ),
    (
        r#"{"byzantine": [{"node": "R0", "behaviours": [{"kind": "non-primary-request", "period_ms": 0.5}]}]}"#,
        "byzantine[0].behaviours[0].period_ms",
        "at least 1 ms",
    ),
    (r#"{"protocol": {"fixes": ["extend-after-commit-checks"]}}"#, "protocol.fixes[0]", "extend-after-commit-check"),
    (r#"{"validators": []}"#, "validators", "at least one"),
    (r#"{"validators": 0}"#, "validators", "at least 1"),
    (
        r#"{"network": {"latency": {"dist": "normal", "mean_ms": -5, "stddev_ms": 1}}}"#,
        "network.latency.mean_ms",
        "> 0",
    ),
    (r#"{"network": {"latency": {"dist": "constant", "ms": -1}}}"#, "network.latency.ms", "≥ 0"),
    (r#"{"network": {"loss": 1.5}}"#, "network.loss", "probability"),
    (r#"{"network": {"duplicate": -0.1}}"#, "network.duplicate", "probability"),
    (r#"{"network": {"latency": {"dist": "gaussian", "mean_ms": 5}}}"#, "network.latency.dist", "unknown variant"),
    (r#"{"netwrok": {}}"#, "netwrok", "unknown field `netwrok`"),
    (r#"{"network": {"loss": 0.1, "los": 0.2}}"#, "network.los", "unknown field `los`"),
    (
        r#"{"network": {"partitions": [{"groups": [["R0", "R9"]], "from_ms": 0}]}}"#,
        "network.partitions[0].groups[0][1]",
        "unknown node",
    ),
    (
        r#"{"network": {"partitions": [{"groups": [["R0"]], "from_ms": 50, "until_ms": 10}]}}"#,
        "network.partitions[0].until_ms",
        "after",
    ),
    (r#"{"protocol": {"block_time_ms": 0}}"#, "protocol.block_time_ms", "> 0"),
    (r#"{"protocol": {"block_time_ms": 0.0004}}"#, "protocol.block_time_ms", "at least 1 ms"),
    (r#"{"protocol": {"max_tx_per_block": 200000000}}"#, "protocol.max_tx_per_block", "at most 65535"),
    (r#"{"protocol": {"block_time_ms": "fast"}}"#, "protocol.block_time_ms", "invalid type"),
    (r#"{"protocol": {"semantics": "rust"}}"#, "protocol.semantics", "unknown semantics"),
    (r#"{"protocol": {"recovery_reply": "all"}}"#, "protocol.recovery_reply", "unknown recovery reply"),
    (
        r#"{"faults": {"crashes": [{"node": "R1", "at_ms": 100, "restart_ms": 50}]}}"#,
        "faults.crashes[0].restart_ms",
        "after",
    ),
    (r#"{"faults": {"crashes": [{"node": 17, "at_ms": 1}]}}"#, "faults.crashes[0].node", "out of range"),
    (r#"{"stop": {"heights": -3}}"#, "stop.heights", "invalid value"),
    (r#"{"stop": {"heights": 0}}"#, "stop.heights", "at least 1"),
    (r#"{"workload": {"tx_rate_per_s": -1}}"#, "workload.tx_rate_per_s", "≥ 0"),
    (r#"{"expect": {"safety": "fine"}}"#, "expect.safety", "expected"),
    (r#"{"expect": {"rules_applied": false}}"#, "expect.rules_applied", "no rules"),
    (
        r#"{"expect": {"handoffs": {"min_latency_ms": 10, "max_latency_ms": 5}}}"#,
        "expect.handoffs.min_latency_ms",
        "above max_latency_ms",
    ),
    (r#"{"expect": {"violations": ["S9"]}}"#, "expect.violations[0]", "unknown invariant"),
    (r#"{"expect": {"digests": {"1": "xyz"}}}"#, "expect.digests.1", "hex"),
    (r#"{"validators": ["a", "a"]}"#, "validators", "duplicate"),
    (r#"{"name": "has space"}"#, "name", "letters"),
    (r#"{"version": 2}"#, "version", "unsupported"),
    (r#"[1, 2]"#, "", "JSON object"),
    (r#"{"seed": 1"#, "", "EOF"),
    (r#"{"workload": {"initial_txs": 100000000000}}"#, "workload.initial_txs", "at most"),
    (r#"{"stop": {"duration_ms": 1e300}}"#, "stop.duration_ms", "at most"),
    (r#"{"stop": {"heights": 4294967295}}"#, "stop.heights", "more than one year"),
    (r#"{"expect": {"digests": {"+1": "00"}}}"#, "expect.digests.+1", "decimal integer"),
    (r#"{"expect": {"digests": {"01": "00"}}}"#, "expect.digests.01", "no leading zeros"),
    (r#"{"expect": {"views": {"02": 0}}}"#, "expect.views.02", "no leading zeros"),
    (r#"{"stop": {"heights": 5}, "expect": {"views": {"6": 0}}}"#, "expect.views.6", "above stop.heights (5)"),
    (r#"{"start_height": 4, "expect": {"views": {"3": 0}}}"#, "expect.views.3", "below start_height (4)"),
    (r#"{"seeds": [1, 2, 1]}"#, "seeds[2]", "seed 1 is listed twice"),
    (r#"{"expect": {"safety": "violated", "violations": []}}"#, "expect.violations", "names no safety invariant"),
    (r#"{"expect": {"safety": "violated", "violations": ["L2"]}}"#, "expect.violations", "names no safety invariant"),
    (r#"{"expect": {"liveness": "stalls", "stall": {"height": 0}}}"#, "expect.stall.height", "start at 1"),
    (
        r#"{"expect": {"marks": {"byzantine: garbage comit": 1}}}"#,
        "expect.marks.byzantine: garbage comit",
        "not a coverage mark",
    ),
    (
        r#"{"protocol": {"block_time_ms": 15000}, "stop": {"heights": 2200000}}"#,
        "stop.heights",
        "at most 2100000 heights",
    ),
    // Validator-set changes.
    (r#"{"validators": 4294967295}"#, "validators", "at most 1024"),
    (r#"{"validators": {"count": 200000000}}"#, "validators.count", "at most 1024"),
    (r#"{"validators": {"count": 4, "candidates": 5000}}"#, "validators.candidates", "at most 1024"),
    (
        r#"{"validators": {"count": 4, "candidates": "two"}}"#,
        "validators.candidates",
        "expected a count or a list of names",
    ),
    (
        r#"{"validators": {"count": 4, "candidates": -1}}"#,
        "validators.candidates",
        "expected a count or a list of names",
    ),
    (
        r#"{"validators": {"count": 4, "candidates": 2, "candidates": 3}}"#,
        "validators.candidates",
        "duplicate field `candidates`",
    ),
    (r#"{"validators": {"count": 4, "count": 5}}"#, "validators.count", "duplicate field `count`"),
    (r#"{"validators": {"count": 4, "zzz": 1}}"#, "validators.zzz", "unknown field `zzz`"),
    (r#"{"validators": 4294967296}"#, "validators", "expected a count, a list of names"),
    (r#"{"changes": ["join C0"]}"#, "changes[0]", "expected a change {\"do\": \"join\""),
    (r#"{"network": {"topology": "ring"}}"#, "network.topology", "expected a topology {\"kind\""),
    (r#"{"changes": [{"do": "join", "node": "C9", "at_ms": 10}]}"#, "changes[0].node", "unknown node"),
    (
        r#"{"validators": {"count": 4, "watchers": 1}, "changes": [{"do": "join", "node": "W0", "at_ms": 10}]}"#,
        "changes[0].node",
        "holds no validator key",
    ),
    (r#"{"validators": 1, "changes": [{"do": "leave", "node": "R0", "at_ms": 10}]}"#, "changes[0]", "empty"),
    (
        r#"{"validators": 2, "changes": [{"do": "leave", "node": "R0", "at_ms": 1}, {"do": "eject", "node": "R1", "at_ms": 2}]}"#,
        "changes[1]",
        "empty",
    ),
    (r#"{"changes": [{"do": "replace", "nodes": [], "at_ms": 10}]}"#, "changes[0].nodes", "empty"),
    (r#"{"changes": [{"do": "join", "node": "R1", "at_ms": 1e12}]}"#, "changes[0].at_ms", "after the run ends"),
    (
        r#"{"changes": [{"do": "leave", "node": "R1", "at_height": 10}]}"#,
        "changes[0].at_height",
        "must be below stop.heights (10)",
    ),
    (r#"{"changes": [{"do": "leave", "node": "R1"}]}"#, "changes[0]", "exactly one of at_ms and at_height"),
    (r#"{"changes": [{"do": "leave", "node": "R1", "at_ms": 1, "at_height": 2}]}"#, "changes[0]", "exactly one"),
    (r#"{"changes": [{"do": "rotate", "from": "R1", "to": "R1", "at_ms": 1}]}"#, "changes[0].to", "differ"),
    (r#"{"changes": [{"do": "promote", "node": "R1", "at_ms": 1}]}"#, "changes[0].do", "unknown variant"),
    (r#"{"changes": [{"do": "leave", "node": "R1", "at_ms": 1, "when": 3}]}"#, "changes[0]", "unknown field `when`"),
    (r#"{"protocol": {"handoff": "after-lunch"}}"#, "protocol.handoff", "unknown hand-off rule"),
    (r#"{"protocol": {"handoff": "refresh-period"}}"#, "protocol.handoff", "needs a period"),
    (r#"{"protocol": {"handoff": {"rule": "refresh-period", "period": 0}}}"#, "protocol.handoff.period", "at least 1"),
    (
        r#"{"protocol": {"handoff": {"rule": "delay-2", "period": 5}}}"#,
        "protocol.handoff.period",
        "only refresh-period",
    ),
    (
        r#"{"protocol": {"handoff": {"rule": "delay-2", "churn_limit": 0}}}"#,
        "protocol.handoff.churn_limit",
        "at least 1",
    ),
    (r#"{"protocol": {"handoff": {"rule": "delay-2", "limit": 1}}}"#, "protocol.handoff.limit", "unknown field"),
    (r#"{"protocol": {"handoff": {"rule": "delay-2", "rule": "next-block"}}}"#, "protocol.handoff.rule", "duplicate"),
    (
        r#"{"protocol": {"handoff": {"rule": "delay-2", "churn_limit": -1}}}"#,
        "protocol.handoff.churn_limit",
        "invalid value",
    ),
    (r#"{"protocol": {"handoff": 7}}"#, "protocol.handoff", "expected a rule name"),
    (
        r#"{"compromised_keys": [{"key_of": ["R0", "R0"], "behaviours": [{"kind": "silent"}]}]}"#,
        "compromised_keys[0].key_of[1]",
        "named twice",
    ),
    (
        r#"{"byzantine": [{"node": "R0", "behaviours": [{"kind": "stale-chain", "period_ms": 5, "from_height": 0}]}]}"#,
        "byzantine[0].behaviours[0].from_height",
        "at least 1",
    ),
    (r#"{"expect": {"handoffs": {"final_set": ["R0", "Q"]}}}"#, "expect.handoffs.final_set[1]", "unknown node"),
    (r#"{"expect": {"handoffs": {"final_set": ["R0", "R0"]}}}"#, "expect.handoffs.final_set[1]", "R0 is named twice"),
    (r#"{"expect": {"handoffs": {"final_set": []}}}"#, "expect.handoffs.final_set", "never empty"),
    // Review of 2026-12-02: values that round to 0 µs, an idle attacker, a watcher named
    // as a key holder, a random-regular overlay on one node.
    (r#"{"stop": {"duration_ms": 0.0001}}"#, "stop.duration_ms", "rounds to 0"),
    (r#"{"expect": {"violations": ["S1", "S1"]}}"#, "expect.violations[1]", "S1 is listed twice"),
    (r#"{"start_height": 5, "expect": {"stall": {"height": 3}}}"#, "expect.stall.height", "below start_height (5)"),
    (r#"{"expect": {"stall": {"height": 50}}}"#, "expect.stall.height", "above stop.heights (10)"),
    (r#"{"liveness": {"bound_ms": 0.0001}}"#, "liveness.bound_ms", "rounds to 0"),
    (r#"{"compromised_keys": [{"key_of": "R3", "behaviours": []}]}"#, "compromised_keys[0].behaviours", "at least one"),
    (
        r#"{"validators": {"count": 4, "watchers": 1}, "twins": [{"node": "W0", "to": ["R0"], "twin_to": ["R1"]}]}"#,
        "twins[0].node",
        "W0 holds no validator key",
    ),
    (
        r#"{"validators": 1, "network": {"topology": {"kind": "random-regular", "degree": 1}}}"#,
        "network.topology",
        "at least 2 nodes",
    ),
    (
        r#"{"validators": 4, "network": {"topology": {"kind": "random-regular", "degree": 4}}}"#,
        "network.topology.degree",
        "less than the number of nodes (4)",
    ),
    (r#"{"expect": {"handoffs": {"heights": [0]}}}"#, "expect.handoffs.heights[0]", "works from 2 at the earliest"),
    (
        r#"{"start_height": 5, "expect": {"handoffs": {"heights": [5, 9]}}}"#,
        "expect.handoffs.heights[0]",
        "works from 6",
    ),
    (
        r#"{"validators": {"count": 4, "candidates": 1}, "changes": [{"do": "join", "node": "C0", "at_ms": 1, "only": ["R0", "C0", "R0"]}]}"#,
        "changes[0].only[2]",
        "R0 is named twice",
    ),
    (r#"{"expect": {"violations": ["L3"]}}"#, "expect.violations[0]", "unknown invariant"),
    // Hostile input found by probing the binary.
    (r#"{"seed": 1} xyz"#, "", "text after the scenario object"),
    (r#"{"seed": 1}]]]"#, "", "text after the scenario object"),
    ("\u{feff}{\"seed\": 1}", "", "byte-order mark"),
    (r#"{"network": {"topology": {"kind": "ring", "zzz": 1}}}"#, "network.topology", "unknown field `zzz`"),
    (
        r#"{"byzantine": [{"node": "R0", "behaviours": [{"kind": "silent", "from_ms": 5000}]}]}"#,
        "byzantine[0].behaviours[0]",
        "unknown field `from_ms`",
    ),
    (r#"{"rules": [{"action": {"do": "drop", "ms": 100}}]}"#, "rules[0].action", "unknown field `ms`"),
    (
        r#"{"twins": [{"node": "R2", "to": ["R0"], "twin_to": ["R1"]}], "byzantine": [{"node": "R2.twin", "behaviours": [{"kind": "silent"}]}]}"#,
        "byzantine[0].node",
        "twin or an attacker",
    ),
    (r#"{"name": ".."}"#, "name", "not only dots"),
    // Inside tagged objects the error names the field, not only the object.
    (
        r#"{"validators": {"count": 4, "candidates": 1}, "changes": [{"do": "join", "node": "C0", "at_height": 2.5}]}"#,
        "changes[0].at_height",
        "invalid type",
    ),
    (r#"{"schedule": [{"do": "timer", "node": 1.0}]}"#, "schedule[0].node", "expected a node name"),
    (
        r#"{"schedule": [{"do": "deliver", "from": "R0", "to": "R1", "kind": 5, "msg": "abababab"}]}"#,
        "schedule[0].kind",
        "invalid type",
    ),
    (
        r#"{"schedule": [{"do": "crash", "node": "R1"}, {"do": "restart", "node": "R1", "amnesia": "yes"}]}"#,
        "schedule[1].amnesia",
        "invalid type",
    ),
    (
        r#"{"byzantine": [{"node": "R1", "behaviours": [{"kind": "forge", "period_ms": "x"}]}]}"#,
        "byzantine[0].behaviours[0].period_ms",
        "invalid type",
    ),
    (r#"{"rules": [{"action": {"do": "delay", "ms": true}}]}"#, "rules[0].action.ms", "invalid type"),
];

#[test]
fn malformed_scenarios_name_the_path() {
    assert!(BAD.len() >= 15);
    for (text, path, reason) in BAD {
        let e = parse(text, "x").expect_err(text);
        assert_eq!(e.path, *path, "{text}: {e}");
        assert!(e.reason.contains(reason), "{text}: reason was {e}");
    }
}

#[test]
fn candidates_changes_and_handoff_resolve() {
    use crate::validators::change::SetChange;
    use crate::validators::handoff::HandoffRule;
    let spec = parse(
        r#"{"validators": {"count": 4, "candidates": ["x", "y"], "watchers": 1},
            "protocol": {"handoff": {"rule": "refresh-period", "period": 21, "churn_limit": 2}},
            "changes": [{"do": "rotate", "from": "R1", "to": "x", "at_height": 3},
                        {"do": "join", "node": 5, "at_ms": 100, "via": "W0", "only": ["R0", "W0"]}],
            "compromised_keys": [{"key_of": ["R0", "x"], "behaviours": [{"kind": "stale-signer", "period_ms": 10}]}]}"#,
        "s",
    )
    .unwrap();
    // Validators, candidates (index = key), watchers, then attackers.
    let names: Vec<&str> = spec.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["R0", "R1", "R2", "R3", "x", "y", "W0", "R0_x.attacker"]);
    assert_eq!((spec.validators, spec.candidates), (4, 2));
    assert_eq!(spec.nodes[4].role, spec::Role::Candidate { key: 4 });
    assert_eq!(spec.nodes[7].role.keys(), vec![0, 4]);
    assert_eq!(spec.protocol.handoff.rule, HandoffRule::RefreshPeriod { period: 21 });
    assert_eq!(spec.protocol.handoff.churn_limit, Some(2));
    let key = crate::protocol::crypto::KeyId;
    assert_eq!(spec.changes[0].change, SetChange::Rotate { from: key(1), to: key(4) });
    assert_eq!(spec.changes[0].when, spec::ChangeTrigger::Height(3));
    assert_eq!(spec.changes[0].origin, NodeId(1), "a change starts at the node it is about");
    assert_eq!(spec.changes[1].change, SetChange::Join { key: key(5) });
    assert_eq!(spec.changes[1].origin, NodeId(6));
    assert_eq!(spec.changes[1].only, Some(vec![NodeId(0), NodeId(6)]));
    // The default rule is next-block, without a churn limit.
    let plain = parse(r#"{"protocol": {"handoff": "dual-quorum"}}"#, "p").unwrap();
    assert_eq!(plain.protocol.handoff.rule, HandoffRule::DualQuorum);
    assert_eq!(parse("{}", "e").unwrap().protocol.handoff.rule, HandoffRule::NextBlock);
}

/// Lists a scenario may carry are bounded: 10,001 seeds or rules is an error at their
/// path, not gigabytes of memory.
#[test]
fn long_lists_are_refused_at_their_path() {
    let seeds: Vec<String> = (1..=10_001).map(|s| s.to_string()).collect();
    let e = parse(&format!(r#"{{"seeds": [{}]}}"#, seeds.join(",")), "x").expect_err("too many seeds");
    assert!(e.to_string().starts_with("seeds: lists 10001 seeds, at most 10000"), "{e}");
    let rule = r#"{"match": {"types": ["Commit"]}, "action": {"do": "drop"}}"#;
    let rules = vec![rule; 10_001].join(",");
    let e = parse(&format!(r#"{{"rules": [{rules}]}}"#), "x").expect_err("too many rules");
    assert!(e.to_string().starts_with("rules: 10001 rules, at most 10000"), "{e}");
    let ok: Vec<String> = (1..=10_000).map(|s| s.to_string()).collect();
    assert!(parse(&format!(r#"{{"seeds": [{}]}}"#, ok.join(",")), "x").is_ok());
}

/// A schedule and a list of validator-set changes are bounded like the other lists: too
/// long is an error at their path. The schedule's bound admits the longest explored
/// counterexamples (a few thousand steps) with room to spare.
#[test]
fn long_schedules_and_change_lists_are_refused_at_their_path() {
    let step = r#"{"do": "timer", "node": "R1"}"#;
    let with_steps = |k: usize| format!(r#"{{"validators": 4, "schedule": [{}]}}"#, vec![step; k].join(","));
    let e = parse(&with_steps(100_001), "x").expect_err("too many steps");
    assert!(e.to_string().starts_with("schedule: 100001 steps, at most 100000"), "{e}");
    assert_eq!(parse(&with_steps(5_000), "x").expect("a long explored schedule").schedule.len(), 5_000);
    let change = r#"{"do": "join", "node": "C0", "at_ms": 0}"#;
    let changes = vec![change; 10_001].join(",");
    let e = parse(&format!(r#"{{"validators": {{"count": 4, "candidates": 1}}, "changes": [{changes}]}}"#), "x")
        .expect_err("too many changes");
    assert!(e.to_string().starts_with("changes: 10001 changes, at most 10000"), "{e}");
}

/// Next to a schedule, a time field it would ignore is an error at its path, and so is
/// a section it does not read even when empty (`rules: []`, `timers: []`, as
/// `faults: {}`); what it does read (initial and invalid transactions, a rate of 0) is
/// accepted.
#[test]
fn a_schedule_refuses_the_time_fields_it_would_ignore() {
    let with = |extra: &str| {
        parse(&format!(r#"{{"validators": 4, {extra}, "schedule": [{{"do": "timer", "node": "R1"}}]}}"#), "x")
    };
    for (extra, path) in [
        (r#""stop": {"heights": 1, "duration_ms": 1000}"#, "stop.duration_ms"),
        (r#""workload": {"tx_rate_per_s": 5}"#, "workload.tx_rate_per_s"),
        (r#""workload": {"initial_txs": 1, "until_ms": 10}"#, "workload.until_ms"),
        (r#""liveness": {"gst_ms": 100}"#, "liveness.gst_ms"),
        (r#""expect": {"latency_p99_ms": 20}"#, "expect.latency_p99_ms"),
        (r#""rules": []"#, "rules"),
        (r#""timers": []"#, "timers"),
        (r#""faults": {}"#, "faults"),
        (
            r#""workload": {"initial_txs": 4, "withhold": [{"nodes": ["R0"], "txs": [1, 1]}, {"nodes": ["R2"], "txs": [2, 2], "until_ms": 5}]}"#,
            "workload.withhold[1].until_ms",
        ),
    ] {
        let e = with(extra).expect_err(extra);
        assert!(e.to_string().starts_with(&format!("{path}: cannot be combined with `schedule`")), "{extra}: {e}");
    }
    let ok = with(r#""workload": {"tx_rate_per_s": 0, "initial_txs": 2, "invalid": [{"txs": [1, 1]}]}"#);
    assert_eq!(ok.expect("used fields").workload.initial_txs, 2);
    // The same fields without a schedule are fine.
    assert!(parse(r#"{"stop": {"duration_ms": 1000}, "liveness": {"gst_ms": 100}, "rules": []}"#, "x").is_ok());
}
