//! One nondeterministic choice, as data: what a schedule lists and what the explorer
//! enumerates. A message is named by what a reader can check in a trace — sender,
//! recipient, type and a prefix of its content hash — never by an id that depends on the
//! order things happened in.

use crate::protocol::crypto::Hash32;
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

impl Envelope {
    /// The content hashes whose hex form starts with `msg`, as the inclusive range
    /// [lowest, highest] they fill in hash order (the prefix padded with `0`s, then with
    /// `f`s); None if `msg` is not 1 to 64 hex digits (it names no hash). A lookup by
    /// prefix is then a range of a map sorted by hash, not a walk of every message in
    /// flight that formats each hash as text (what made each step of a long schedule cost
    /// as much as everything in flight).
    pub fn hash_range(&self) -> Option<(Hash32, Hash32)> {
        let digits = self.msg.as_bytes();
        if digits.is_empty() || digits.len() > 64 {
            return None;
        }
        let (mut lo, mut hi) = ([0u8; 32], [0xffu8; 32]);
        for (i, d) in digits.iter().enumerate() {
            let v = (*d as char).to_digit(16)? as u8;
            let (byte, shift) = (i / 2, if i % 2 == 0 { 4 } else { 0 });
            let mask = 0x0f << shift;
            lo[byte] = (lo[byte] & !mask) | (v << shift);
            hi[byte] = (hi[byte] & !mask) | (v << shift);
        }
        Some((Hash32(lo), Hash32(hi)))
    }
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

#[cfg(test)]
mod hash_range_tests {
    use super::Envelope;
    use crate::protocol::crypto::Hash32;
    use crate::protocol::{MsgKind, NodeId};

    /// A hash lies in a prefix's range exactly when its hex form starts with the prefix,
    /// for prefixes of odd and even length; a prefix that is not hex names no hash.
    #[test]
    fn a_prefix_range_holds_exactly_the_hashes_that_start_with_it() {
        let env = |msg: &str| Envelope { from: NodeId(0), to: NodeId(1), kind: MsgKind::Commit, msg: msg.into() };
        let mut x: u64 = 11;
        for _ in 0..2_000 {
            let mut h = Hash32::ZERO;
            for b in h.0.iter_mut() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Few distinct leading digits, so prefixes often match.
                *b = (x >> 60) as u8 * 17;
            }
            let hex = h.to_hex();
            for len in [1, 2, 3, 8, 9, 16, 63, 64] {
                for prefix in [&hex[..len], "0f0f0f0f0", "ffffffff"] {
                    let (lo, hi) = env(prefix).hash_range().expect("hex");
                    assert_eq!(lo <= h && h <= hi, hex.starts_with(prefix), "{hex} {prefix}");
                }
            }
        }
        assert_eq!(env("0x12abcd").hash_range(), None);
        assert_eq!(env("").hash_range(), None);
    }
}
