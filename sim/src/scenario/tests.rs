//! Scenario parsing: defaults, name resolution, GST cuts, and the table of malformed inputs
//! whose errors must name the field path.

use super::*;

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
    (r#"{"protocol": {"block_time_ms": "fast"}}"#, "protocol.block_time_ms", "invalid type"),
    (r#"{"protocol": {"semantics": "rust"}}"#, "protocol.semantics", "unknown semantics"),
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
    (r#"{"expect": {"violations": ["S9"]}}"#, "expect.violations[0]", "unknown invariant"),
    (r#"{"expect": {"digests": {"1": "xyz"}}}"#, "expect.digests.1", "hex"),
    (r#"{"validators": ["a", "a"]}"#, "validators", "duplicate"),
    (r#"{"name": "has space"}"#, "name", "letters"),
    (r#"{"version": 2}"#, "version", "unsupported"),
    (r#"[1, 2]"#, "", "JSON object"),
    (r#"{"seed": 1"#, "", "EOF"),
    (r#"{"workload": {"initial_txs": 100000000000}}"#, "workload.initial_txs", "at most"),
    (r#"{"stop": {"duration_ms": 1e300}}"#, "stop.duration_ms", "at most"),
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
fn gst_ends_partitions_degradations_and_rules() {
    let spec = parse(
        r#"{"network": {"partitions": [{"groups": [["R0"]], "from_ms": 10, "until_ms": 900},
                                      {"groups": [["R1"]], "from_ms": 600}],
                        "degradations": [{"from_ms": 0, "until_ms": 800, "loss": 0.5}]},
            "rules": [{"match": {"from_ms": 0}, "action": {"do": "drop"}},
                      {"match": {"from_ms": 700}, "action": {"do": "drop"}}],
            "timers": [{"do": "suppress", "node": "R2", "from_ms": 100, "until_ms": 5000}],
            "liveness": {"gst_ms": 500}}"#,
        "x",
    )
    .unwrap();
    let gst = crate::engine::time::SimTime::from_ms(500);
    assert_eq!(spec.network.partitions.len(), 1, "the partition starting after GST is gone");
    assert_eq!(spec.network.partitions[0].until, gst);
    assert_eq!(spec.network.degradations[0].until, gst);
    assert_eq!(spec.rules[0].matcher.window_until, gst);
    let r1 = &spec.rules[1].matcher;
    assert_eq!(r1.window_until, r1.window_from, "a rule starting after GST never matches");
    assert!(matches!(spec.timers[0], spec::TimerSpec::Suppress { until, .. } if until == gst));
}
