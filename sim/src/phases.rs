//! A run's two phases. Until GST (`liveness.gst_ms`) the scenario's faults act as written:
//! partitions, degradations, scripted message rules and timer suppressions. From GST on
//! the network is declared synchronous, so those end; crashes within F and Byzantine
//! nodes stay as they are, and the remaining honest quorum must finalise on its own within
//! the liveness bound. (FoundationDB's simulator and TigerBeetle's VOPR split runs the same
//! way: a fault phase that looks for safety bugs, then a quiet phase that checks the
//! system recovers.)
//!
//! The scenario file keeps the windows as the user wrote them; the run applies the phase
//! cut here, so the parser only reads and checks.

use crate::engine::time::SimTime;
use crate::scenario::RunSpec;
use crate::scenario::spec::TimerSpec;

/// The spec the run executes: `spec` with every fault window that the network model ends
/// at GST cut there. Without GST, `spec` unchanged.
pub fn liveness_phase(spec: &RunSpec) -> std::borrow::Cow<'_, RunSpec> {
    let Some(gst) = spec.liveness.gst else {
        return std::borrow::Cow::Borrowed(spec);
    };
    let mut s = spec.clone();
    end_faults_at(gst, &mut s);
    std::borrow::Cow::Owned(s)
}

fn end_faults_at(gst: SimTime, s: &mut RunSpec) {
    let net = &mut s.network;
    net.partitions.retain(|p| p.from < gst);
    for p in &mut net.partitions {
        p.until = p.until.min(gst);
    }
    net.degradations.retain(|d| d.from < gst);
    for d in &mut net.degradations {
        d.until = d.until.min(gst);
    }
    for r in s.rules.iter_mut() {
        r.matcher.window_until = r.matcher.window_until.min(gst).max(r.matcher.window_from);
    }
    s.timers.retain(|t| !matches!(t, TimerSpec::Suppress { from, .. } if *from >= gst));
    for t in s.timers.iter_mut() {
        if let TimerSpec::Suppress { until, .. } = t {
            *until = (*until).min(gst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    #[test]
    fn gst_ends_partitions_degradations_rules_and_suppressions() {
        let written = parse(
            r#"{"network": {"partitions": [{"groups": [["R0"]], "from_ms": 10, "until_ms": 900},
                                          {"groups": [["R1"]], "from_ms": 600}],
                            "degradations": [{"from_ms": 0, "until_ms": 800, "loss": 0.5}]},
                "rules": [{"match": {"from_ms": 0}, "action": {"do": "drop"}},
                          {"match": {"from_ms": 700}, "action": {"do": "drop"}}],
                "timers": [{"do": "suppress", "node": "R2", "from_ms": 100, "until_ms": 5000},
                           {"do": "suppress", "node": "R2", "from_ms": 600, "until_ms": 5000}],
                "liveness": {"gst_ms": 500}}"#,
            "x",
        )
        .unwrap();
        assert_eq!(written.network.partitions.len(), 2, "the parser keeps the windows as written");
        let spec = liveness_phase(&written);
        let gst = SimTime::from_ms(500);
        assert_eq!(spec.network.partitions.len(), 1, "the partition starting after GST is gone");
        assert_eq!(spec.network.partitions[0].until, gst);
        assert_eq!(spec.network.degradations[0].until, gst);
        assert_eq!(spec.rules[0].matcher.window_until, gst);
        let r1 = &spec.rules[1].matcher;
        assert_eq!(r1.window_until, r1.window_from, "a rule starting after GST never matches");
        assert_eq!(spec.timers.len(), 1, "a suppression starting after GST is gone");
        assert!(matches!(spec.timers[0], TimerSpec::Suppress { until, .. } if until == gst));
        let no_gst = parse(r#"{"network": {"partitions": [{"groups": [["R0"]], "from_ms": 10}]}}"#, "x").unwrap();
        assert!(matches!(liveness_phase(&no_gst), std::borrow::Cow::Borrowed(_)));
    }
}
