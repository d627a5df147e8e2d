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

/// `text` (an error about a step, written with node ids: "no Commit from n2 to n3 …")
/// with each node id replaced by the scenario's name for it, so the error names nodes
/// as the schedule does ("R2"). An id is `n` and digits standing alone; hashes are hex
/// and never contain an `n`.
pub fn with_names(text: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev_word = false;
    while let Some(c) = rest.chars().next() {
        // `n` is one byte, so the digits after it start at byte 1.
        let digits = if c == 'n' { rest[1..].bytes().take_while(u8::is_ascii_digit).count() } else { 0 };
        let stands_alone = digits > 0 && !prev_word && !rest[1 + digits..].starts_with(char::is_alphanumeric);
        let id = stands_alone.then(|| rest[1..1 + digits].parse::<usize>().ok()).flatten().and_then(|i| names.get(i));
        match id {
            Some(name) => {
                out.push_str(name);
                rest = &rest[1 + digits..];
                prev_word = true;
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                prev_word = c.is_alphanumeric();
            }
        }
    }
    out
}

#[cfg(test)]
mod name_tests {
    use super::with_names;

    #[test]
    fn node_ids_in_an_error_become_names() {
        let names = ["R0".to_string(), "R1".into(), "R2".into(), "R3".into()];
        assert_eq!(
            with_names("no Commit from n2 to n3 with hash 0n1ab… is in flight; n9 and n1x and an1 stay", &names),
            "no Commit from R2 to R3 with hash 0n1ab… is in flight; n9 and n1x and an1 stay"
        );
        assert_eq!(with_names("n0 is down", &names), "R0 is down");
        assert_eq!(with_names("n", &names), "n");
        assert_eq!(with_names("é n1", &names), "é R1");
        assert_eq!(with_names("… is in flight", &names), "… is in flight");
        assert_eq!(with_names("n2…", &names), "R2…");
    }
}
