//! Time windows in which the run was deliberately disturbed — crashes, partitions, degraded
//! links, suppressed timers, GST and validator-set hand-offs — as the plots shade them.
//!
//! They are read from the resolved scenario (and the hand-offs the checkers saw), not from
//! the event stream, so a plot of several seeds of one scenario shades the same windows.

use super::HandoffRecord;
use crate::scenario::RunSpec;
use crate::scenario::spec::TimerSpec;
use serde::{Deserialize, Serialize};

crate::names::named_enum! {
    /// What a window is.
    pub enum WindowKind {
        Crash = "crash",
        Partition = "partition",
        Degraded = "degraded",
        TimerSuppressed = "timer-suppressed",
        AfterGst = "after-gst",
        Handoff = "handoff",
    }
}

/// One disturbance window, in milliseconds of virtual time. `until_ms: None` = to the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub kind: String,
    pub label: String,
    pub from_ms: f64,
    pub until_ms: Option<f64>,
}

fn window(kind: WindowKind, label: String, from_ms: f64, until_ms: Option<f64>) -> Window {
    Window { kind: kind.as_str().to_string(), label, from_ms, until_ms }
}

/// The windows of a run, in the order crash, partition, degraded, timer, GST, hand-off.
pub fn of(spec: &RunSpec, handoffs: &[HandoffRecord]) -> Vec<Window> {
    let name = |n: crate::protocol::NodeId| spec.node_name(n).to_string();
    let mut out = Vec::new();
    for c in &spec.crashes {
        let what = if c.amnesia { "down, restarts with amnesia" } else { "down" };
        let label = format!("{} {what}", name(c.node));
        out.push(window(WindowKind::Crash, label, c.at.as_ms_f64(), c.restart.map(|t| t.as_ms_f64())));
    }
    for p in &spec.network.partitions {
        let groups: Vec<String> =
            p.groups.iter().map(|g| g.iter().map(|&n| name(n)).collect::<Vec<_>>().join(",")).collect();
        let label = format!("partition {}", groups.join(" | "));
        out.push(window(WindowKind::Partition, label, p.from.as_ms_f64(), Some(p.until.as_ms_f64())));
    }
    for d in &spec.network.degradations {
        let nodes: Vec<String> = d.nodes.iter().map(|&n| name(n)).collect();
        let label = format!("degraded links of {}", nodes.join(","));
        out.push(window(WindowKind::Degraded, label, d.from.as_ms_f64(), Some(d.until.as_ms_f64())));
    }
    for t in &spec.timers {
        if let TimerSpec::Suppress { node, from, until } = t {
            let label = format!("{} timer suppressed", name(*node));
            out.push(window(WindowKind::TimerSuppressed, label, from.as_ms_f64(), Some(until.as_ms_f64())));
        }
    }
    if let Some(gst) = spec.liveness.gst {
        out.push(window(WindowKind::AfterGst, "after GST".to_string(), gst.as_ms_f64(), None));
    }
    for h in handoffs {
        let label = format!("hand-off to h{}", h.height);
        out.push(window(WindowKind::Handoff, label, h.from_ms, h.final_ms));
    }
    out
}
