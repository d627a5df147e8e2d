//! One nondeterministic choice, as data: what a schedule lists and what the explorer
//! enumerates. A message is named by what a reader can check in a trace — sender,
//! recipient, type and a prefix of its content hash — never by an id that depends on the
//! order things happened in.

use crate::protocol::{MsgKind, NodeId};
use serde_json::{Value, json};

/// A message in flight: `from` → `to`, of type `kind`, whose content hash in hex starts
/// with `msg`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub kind: MsgKind,
    pub msg: String,
}

/// One step of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum Step {
    /// The message arrives and its recipient handles it.
    Deliver(Envelope),
    /// The message is lost.
    Drop(Envelope),
    /// The node's armed protocol timer fires (whatever its deadline: time is not modelled).
    Timer {
        node: NodeId,
    },
    /// The Byzantine node's own (adversary) timer fires: one period of its periodic
    /// behaviours elapses (a flood, a replay, a garbage Commit, ...).
    AdversaryTimer {
        node: NodeId,
    },
    Crash {
        node: NodeId,
    },
    Restart {
        node: NodeId,
        amnesia: bool,
    },
}

impl Step {
    /// The step as a scenario writes it (`schedule` entries), with node names.
    pub fn to_json(&self, names: &[String]) -> Value {
        let name = |n: &NodeId| names.get(n.idx()).cloned().unwrap_or_else(|| n.to_string());
        let env = |what: &str, e: &Envelope| json!({"do": what, "from": name(&e.from), "to": name(&e.to), "kind": e.kind.name(), "msg": e.msg});
        match self {
            Step::Deliver(e) => env("deliver", e),
            Step::Drop(e) => env("drop", e),
            Step::Timer { node: n } => json!({"do": "timer", "node": name(n)}),
            Step::AdversaryTimer { node: n } => json!({"do": "adversary-timer", "node": name(n)}),
            Step::Crash { node: n } => json!({"do": "crash", "node": name(n)}),
            Step::Restart { node, amnesia } => json!({"do": "restart", "node": name(node), "amnesia": amnesia}),
        }
    }

    /// One line for humans: `deliver R1 -> R2 PrepareRequest #ab12cd34`.
    pub fn describe(&self, names: &[String]) -> String {
        let name = |n: &NodeId| names.get(n.idx()).cloned().unwrap_or_else(|| n.to_string());
        match self {
            Step::Deliver(e) => format!("deliver {} -> {} {} #{}", name(&e.from), name(&e.to), e.kind.name(), e.msg),
            Step::Drop(e) => format!("drop {} -> {} {} #{}", name(&e.from), name(&e.to), e.kind.name(), e.msg),
            Step::Timer { node: n } => format!("timer {}", name(n)),
            Step::AdversaryTimer { node: n } => format!("adversary timer {}", name(n)),
            Step::Crash { node: n } => format!("crash {}", name(n)),
            Step::Restart { node, amnesia } => {
                format!("restart {}{}", name(node), if *amnesia { " (amnesia)" } else { "" })
            }
        }
    }
}
