//! Scripted message rules: the adversary on the wire.
//!
//! A scenario lists rules; each has a match (sender, recipient, message type, height,
//! view, time window, nth occurrence) and an action (drop, delay, hold until a time or
//! until a node sends a given message type, duplicate, deliver now). For every (message,
//! recipient) the rules are tried in order and the first one that matches decides. This is
//! what makes published counterexamples replayable: "deliver the request to R0 and R2
//! only; hold R2's Commit until R3 has sent ChangeView".
//!
//! The network model still makes its draws for every message a rule touches, so a
//! scenario with rules and the same scenario without them differ only where the rules
//! matched (and in what follows from that).

use super::{DropReason, Fate};
use crate::engine::time::{Micros, SimTime};
use crate::protocol::{MsgKind, MsgMeta, NodeId};
use serde::Serialize;

/// Which (message, recipient) pairs a rule applies to. `None` matches anything.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MsgMatch {
    pub from: Option<Vec<NodeId>>,
    pub to: Option<Vec<NodeId>>,
    pub kinds: Option<Vec<MsgKind>>,
    pub height: Option<u32>,
    pub view: Option<u8>,
    /// Send time window `[from, until)`.
    pub window_from: SimTime,
    pub window_until: SimTime,
    /// Apply only to the nth matching (message, recipient) pair (1-based).
    pub nth: Option<u64>,
}

impl MsgMatch {
    fn matches(&self, now: SimTime, from: NodeId, to: NodeId, meta: &MsgMeta) -> bool {
        now >= self.window_from
            && now < self.window_until
            && self.from.as_ref().is_none_or(|v| v.contains(&from))
            && self.to.as_ref().is_none_or(|v| v.contains(&to))
            && self.kinds.as_ref().is_none_or(|v| v.contains(&meta.kind))
            && self.height.is_none_or(|h| h == meta.height)
            && self.view.is_none_or(|v| v == meta.view)
    }
}

/// What a matching rule does to the delivery.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum RuleAction {
    Drop,
    /// Deliver `by` microseconds later than the network would.
    Delay {
        by: Micros,
    },
    /// Deliver no earlier than `until`.
    HoldUntil {
        until: SimTime,
    },
    /// Deliver once `node` has sent a message of type `kind` (any type if None).
    HoldUntilSent {
        node: NodeId,
        kind: Option<MsgKind>,
    },
    /// Deliver a second copy at the same time.
    Duplicate,
    /// Deliver at once, bypassing loss, latency and partitions.
    DeliverNow,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: MsgMatch,
    pub action: RuleAction,
}

/// How often each rule matched and acted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RuleStats {
    pub name: String,
    /// (message, recipient) pairs that matched the rule's pattern.
    pub matched: u64,
    /// Pairs the action was applied to (differs from `matched` with `nth`).
    pub applied: u64,
}

/// The rule engine's decision for one (message, recipient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver (or drop) as this fate says.
    Now(Fate),
    /// Park the delivery until `node` sends a message of `kind`; deliver no earlier than
    /// `at` (the time the network would have delivered it).
    Held { node: NodeId, kind: Option<MsgKind>, at: SimTime },
}

#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub stats: Vec<RuleStats>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let stats = rules.iter().map(|r| RuleStats { name: r.name.clone(), ..Default::default() }).collect();
        RuleSet { rules, stats }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True if some rule's pattern fits this (message, recipient) pair. Counts nothing: a
    /// pair no rule fits gets the network's fate untouched from [`decide`](Self::decide)
    /// and counts for no rule.
    pub fn any_matches(&self, now: SimTime, from: NodeId, to: NodeId, meta: &MsgMeta) -> bool {
        self.rules.iter().any(|r| r.matcher.matches(now, from, to, meta))
    }

    /// Applies the first matching rule to the network's `fate` for this delivery.
    pub fn decide(&mut self, now: SimTime, from: NodeId, to: NodeId, meta: &MsgMeta, fate: Fate) -> Verdict {
        for (rule, stats) in self.rules.iter().zip(self.stats.iter_mut()) {
            if !rule.matcher.matches(now, from, to, meta) {
                continue;
            }
            stats.matched += 1;
            if rule.matcher.nth.is_some_and(|n| n != stats.matched) {
                continue;
            }
            stats.applied += 1;
            let arrival = match fate {
                Fate::Arrives { at, dup } => Some((at, dup)),
                Fate::Dropped(_) => None,
            };
            // A rule that moves a delivery in time moves the network's duplicate with it;
            // `deliver-now` and `hold until_sent` script one exact delivery.
            return match (&rule.action, arrival) {
                (RuleAction::Drop, _) => Verdict::Now(Fate::Dropped(DropReason::Rule)),
                (RuleAction::DeliverNow, _) => Verdict::Now(Fate::Arrives { at: now, dup: None }),
                (_, None) => Verdict::Now(fate),
                (RuleAction::Delay { by }, Some((at, dup))) => {
                    Verdict::Now(Fate::Arrives { at: at.plus(*by), dup: dup.map(|d| d.plus(*by)) })
                }
                (RuleAction::HoldUntil { until }, Some((at, dup))) => {
                    Verdict::Now(Fate::Arrives { at: at.max(*until), dup: dup.map(|d| d.max(*until)) })
                }
                (RuleAction::HoldUntilSent { node, kind }, Some((at, _))) => {
                    Verdict::Held { node: *node, kind: *kind, at }
                }
                (RuleAction::Duplicate, Some((at, _))) => Verdict::Now(Fate::Arrives { at, dup: Some(at) }),
            };
        }
        Verdict::Now(fate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::Hash32;

    fn meta(kind: MsgKind, height: u32, view: u8) -> MsgMeta {
        MsgMeta { kind, height, view, validator: 0, hash: Hash32::ZERO, size: 10 }
    }

    fn any() -> MsgMatch {
        MsgMatch {
            from: None,
            to: None,
            kinds: None,
            height: None,
            view: None,
            window_from: SimTime::ZERO,
            window_until: SimTime::MAX,
            nth: None,
        }
    }

    #[test]
    fn first_matching_rule_decides_and_nth_counts_matches() {
        let arrives = Fate::Arrives { at: SimTime(100), dup: None };
        let mut rs = RuleSet::new(vec![
            Rule {
                name: "second commit to n2 is dropped".into(),
                matcher: MsgMatch {
                    to: Some(vec![NodeId(2)]),
                    kinds: Some(vec![MsgKind::Commit]),
                    nth: Some(2),
                    ..any()
                },
                action: RuleAction::Drop,
            },
            Rule {
                name: "commits are delayed".into(),
                matcher: MsgMatch { kinds: Some(vec![MsgKind::Commit]), ..any() },
                action: RuleAction::Delay { by: 50 },
            },
        ]);
        let c = meta(MsgKind::Commit, 1, 0);
        let now = SimTime(10);
        assert_eq!(
            rs.decide(now, NodeId(0), NodeId(2), &c, arrives),
            Verdict::Now(Fate::Arrives { at: SimTime(150), dup: None })
        );
        assert_eq!(rs.decide(now, NodeId(1), NodeId(2), &c, arrives), Verdict::Now(Fate::Dropped(DropReason::Rule)));
        assert_eq!(
            rs.decide(now, NodeId(3), NodeId(2), &c, arrives),
            Verdict::Now(Fate::Arrives { at: SimTime(150), dup: None })
        );
        // The network's duplicate is delayed with its original, not lost.
        let twice = Fate::Arrives { at: SimTime(100), dup: Some(SimTime(130)) };
        assert_eq!(
            rs.decide(now, NodeId(3), NodeId(2), &c, twice),
            Verdict::Now(Fate::Arrives { at: SimTime(150), dup: Some(SimTime(180)) })
        );
        let cv = meta(MsgKind::ChangeView, 1, 0);
        assert_eq!(rs.decide(now, NodeId(3), NodeId(2), &cv, arrives), Verdict::Now(arrives));
        assert_eq!((rs.stats[0].matched, rs.stats[0].applied), (4, 1));
        assert_eq!((rs.stats[1].matched, rs.stats[1].applied), (3, 3));
    }

    #[test]
    fn windows_heights_views_and_holds() {
        let arrives = Fate::Arrives { at: SimTime(100), dup: None };
        let mut rs = RuleSet::new(vec![
            Rule {
                name: "hold view 1 of height 2 until 500".into(),
                matcher: MsgMatch {
                    height: Some(2),
                    view: Some(1),
                    window_from: SimTime(10),
                    window_until: SimTime(20),
                    ..any()
                },
                action: RuleAction::HoldUntil { until: SimTime(500) },
            },
            Rule {
                name: "n0's requests wait for n3's ChangeView".into(),
                matcher: MsgMatch { from: Some(vec![NodeId(0)]), kinds: Some(vec![MsgKind::PrepareRequest]), ..any() },
                action: RuleAction::HoldUntilSent { node: NodeId(3), kind: Some(MsgKind::ChangeView) },
            },
        ]);
        let m = meta(MsgKind::Commit, 2, 1);
        assert_eq!(
            rs.decide(SimTime(5), NodeId(1), NodeId(2), &m, arrives),
            Verdict::Now(arrives),
            "before the window"
        );
        assert_eq!(
            rs.decide(SimTime(15), NodeId(1), NodeId(2), &m, arrives),
            Verdict::Now(Fate::Arrives { at: SimTime(500), dup: None })
        );
        assert_eq!(
            rs.decide(
                SimTime(15),
                NodeId(1),
                NodeId(2),
                &m,
                Fate::Arrives { at: SimTime(100), dup: Some(SimTime(600)) }
            ),
            Verdict::Now(Fate::Arrives { at: SimTime(500), dup: Some(SimTime(600)) }),
            "a duplicate is held too, and one already later stays later"
        );
        assert_eq!(
            rs.decide(SimTime(20), NodeId(1), NodeId(2), &m, arrives),
            Verdict::Now(arrives),
            "window is half-open"
        );
        let req = meta(MsgKind::PrepareRequest, 1, 0);
        assert_eq!(
            rs.decide(SimTime(30), NodeId(0), NodeId(1), &req, arrives),
            Verdict::Held { node: NodeId(3), kind: Some(MsgKind::ChangeView), at: SimTime(100) }
        );
        // A message the network lost stays lost under a hold.
        let lost = Fate::Dropped(DropReason::Loss);
        assert_eq!(rs.decide(SimTime(30), NodeId(0), NodeId(1), &req, lost), Verdict::Now(lost));
    }
}
