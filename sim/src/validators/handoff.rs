//! Hand-off rules: from which height a change that is final in block d validates.
//!
//! Every safe rule pins "who validates height h" to something already final before h
//! starts; they differ in how long a decided change waits:
//!
//! | rule | a change final in block d validates from | after |
//! |---|---|---|
//! | `next-block` | d + 1 (block d names the new set) | NEO 2.x NextConsensus |
//! | `refresh-period` K | the first height after the next multiple of K (≥ d) | NEO N3 committee refresh (K = 21) |
//! | `delay-2` | d + 2 (block d + 1 names it) | CometBFT validator updates |
//! | `dual-quorum` | d + 1, and the first block of the new set also needs M signatures of the old set | Casper FFG's double quorum |
//! | `apply-on-propose` | as `next-block` on chain, but each replica already *works* with the new set as soon as it accepts a proposal that carries the change — final or not | the naive rule; unsafe on purpose |
//!
//! A churn limit k applies to any rule: at most k change transactions take effect per
//! hand-off, in the order they were decided; the rest wait for the next hand-off.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum HandoffRule {
    NextBlock,
    RefreshPeriod { period: u32 },
    Delay2,
    DualQuorum,
    ApplyOnPropose,
}

impl HandoffRule {
    pub const NAMES: [&'static str; 5] = ["next-block", "refresh-period", "delay-2", "dual-quorum", "apply-on-propose"];

    pub fn name(self) -> &'static str {
        match self {
            HandoffRule::NextBlock => "next-block",
            HandoffRule::RefreshPeriod { .. } => "refresh-period",
            HandoffRule::Delay2 => "delay-2",
            HandoffRule::DualQuorum => "dual-quorum",
            HandoffRule::ApplyOnPropose => "apply-on-propose",
        }
    }

    /// May a change decided in block `decided` take effect in the NextConsensus of block
    /// `block` (that is: validate height `block + 1`)? Monotone in `decided`, so the
    /// decided changes eligible at a block are a prefix of the queue.
    pub fn eligible(self, decided: u32, block: u32) -> bool {
        match self {
            HandoffRule::NextBlock | HandoffRule::DualQuorum | HandoffRule::ApplyOnPropose => decided <= block,
            HandoffRule::Delay2 => decided < block,
            // A period of 0 (refused in scenarios) reads as 1, as in the checkers' model.
            HandoffRule::RefreshPeriod { period } => block.is_multiple_of(period.max(1)) && decided <= block,
        }
    }

    /// Does the first block of a new set also need M signatures of the set before it?
    pub fn double_quorum(self) -> bool {
        self == HandoffRule::DualQuorum
    }

    /// Does a replica switch to a proposed set before the proposal is final (unsafe)?
    pub fn switches_on_proposal(self) -> bool {
        self == HandoffRule::ApplyOnPropose
    }
}

/// The validator-schedule model's options: the rule and the churn limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HandoffOptions {
    pub rule: HandoffRule,
    /// At most this many change transactions take effect per hand-off (None: no limit).
    pub churn_limit: Option<u32>,
}

impl Default for HandoffOptions {
    fn default() -> Self {
        HandoffOptions { rule: HandoffRule::NextBlock, churn_limit: None }
    }
}

impl HandoffOptions {
    /// Changes per hand-off; a limit of 0 (refused in scenarios) reads as 1.
    pub fn limit(&self) -> usize {
        self.churn_limit.map_or(usize::MAX, |k| k.max(1) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first height a change final in block `d` can validate, by brute force over
    /// `eligible` (the rule table in the module doc, checked row by row).
    fn first_height(rule: HandoffRule, d: u32) -> u32 {
        (d..d + 100).find(|&b| rule.eligible(d, b)).map(|b| b + 1).unwrap_or(0)
    }

    #[test]
    fn activation_height_of_each_rule() {
        for d in 1..40 {
            assert_eq!(first_height(HandoffRule::NextBlock, d), d + 1);
            assert_eq!(first_height(HandoffRule::DualQuorum, d), d + 1);
            assert_eq!(first_height(HandoffRule::ApplyOnPropose, d), d + 1);
            assert_eq!(first_height(HandoffRule::Delay2, d), d + 2);
            // N3 on mainnet: K = 21; decided at 5 → block 21 names it → validates 22.
            let k = 21;
            let boundary = d.div_ceil(k) * k;
            assert_eq!(first_height(HandoffRule::RefreshPeriod { period: k }, d), boundary + 1, "d = {d}");
        }
        assert_eq!(first_height(HandoffRule::RefreshPeriod { period: 21 }, 21), 22, "a refresh block's own changes");
        assert_eq!(first_height(HandoffRule::RefreshPeriod { period: 21 }, 22), 43);
    }

    #[test]
    fn eligibility_is_monotone_in_the_decided_height() {
        for rule in [
            HandoffRule::NextBlock,
            HandoffRule::Delay2,
            HandoffRule::DualQuorum,
            HandoffRule::RefreshPeriod { period: 4 },
        ] {
            for b in 0..30 {
                for d in 1..30 {
                    if rule.eligible(d + 1, b) {
                        assert!(rule.eligible(d, b), "{rule:?} at block {b}: decided {} but not {d}", d + 1);
                    }
                }
            }
        }
    }
}
