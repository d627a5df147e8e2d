//! `protocol`: block time, C# or Go semantics, a deliberate mutation, the hand-off rule.

use super::{DEFAULT_BLOCK_TIME_MS, err, positive};
use crate::engine::time::SimTime;
use crate::protocol::dbft::semantics::Semantics;
use crate::protocol::dbft::{Fix, Mutation, RecoveryReply};
use crate::scenario::error::{Result, ScenarioError};
use crate::scenario::schema;
use crate::scenario::spec::ProtocolSpec;
use crate::validators::handoff::{HandoffOptions, HandoffRule};

/// The most transactions a block may be configured to hold.
pub const MAX_TX_PER_BLOCK: u32 = 65_535;

pub(super) fn resolve_protocol(p: schema::Protocol) -> Result<ProtocolSpec> {
    let block_time_ms = positive("protocol.block_time_ms", p.block_time_ms.unwrap_or(DEFAULT_BLOCK_TIME_MS))?;
    if block_time_ms > 86_400_000.0 {
        return err("protocol.block_time_ms", "must be at most one day");
    }
    // Timers are microseconds, and a view's timeout is the block time shifted by the view:
    // below a millisecond the run is rounding, not a protocol (0.0004 became 1 µs and a
    // 30 µs run of ChangeViews).
    if block_time_ms < 1.0 {
        return err("protocol.block_time_ms", "must be at least 1 ms");
    }
    let semantics = match p.semantics.as_deref() {
        None => Semantics::CSharp,
        Some(x) => Semantics::parse(x).ok_or_else(|| {
            ScenarioError::new(
                "protocol.semantics",
                format!("unknown semantics \"{x}\" (expected one of {})", Semantics::expected()),
            )
        })?,
    };
    let mutation = match p.mutation.as_deref() {
        None => None,
        Some(x) => Some(Mutation::parse(x).ok_or_else(|| {
            ScenarioError::new(
                "protocol.mutation",
                format!("unknown mutation \"{x}\" (expected one of {})", Mutation::expected()),
            )
        })?),
    };
    let mut fixes = Vec::new();
    for (i, f) in p.fixes.as_deref().unwrap_or(&[]).iter().enumerate() {
        let path = format!("protocol.fixes[{i}]");
        let Some(fix) = Fix::parse(f) else {
            return err(path, format!("unknown fix \"{f}\" (expected one of {})", Fix::expected()));
        };
        if fixes.contains(&fix) {
            return err(path, format!("{fix} is listed twice"));
        }
        fixes.push(fix);
    }
    let rejected_hashes = p.rejected_hashes.unwrap_or(false);
    if rejected_hashes && semantics != Semantics::CSharp {
        return err(
            "protocol.rejected_hashes",
            "only C# has it (neo-node since #984); neo-go and the dbft library do not carry rejected hashes",
        );
    }
    let recovery_reply = match p.recovery_reply.as_deref() {
        None => RecoveryReply::Broadcast,
        Some(r) => RecoveryReply::parse(r).ok_or_else(|| {
            ScenarioError::new(
                "protocol.recovery_reply",
                format!("unknown recovery reply \"{r}\" (expected \"broadcast\" or \"requester\")"),
            )
        })?,
    };
    // Neo's default is 512; a bound keeps a proposal's size (and what a primary copies
    // out of its mempool) within reason.
    if p.max_tx_per_block.is_some_and(|n| n > MAX_TX_PER_BLOCK) {
        return err("protocol.max_tx_per_block", format!("must be at most {MAX_TX_PER_BLOCK}"));
    }
    Ok(ProtocolSpec {
        recovery_reply,
        rejected_hashes,
        fixes,
        block_time_us: SimTime::from_ms_f64(block_time_ms).0.max(1),
        semantics,
        max_tx_per_block: p.max_tx_per_block.unwrap_or(512) as usize,
        mutation,
        handoff: resolve_handoff(p.handoff.as_ref())?,
    })
}

fn resolve_handoff(h: Option<&schema::HandoffSpec>) -> Result<HandoffOptions> {
    let (rule, period, churn_limit, base) = match h {
        None => return Ok(HandoffOptions::default()),
        Some(schema::HandoffSpec::Rule(r)) => (r.as_str(), None, None, "protocol.handoff"),
        Some(schema::HandoffSpec::Spec(o)) => (o.rule.as_str(), o.period, o.churn_limit, "protocol.handoff.rule"),
    };
    let rule = match (rule, period) {
        ("next-block", None) => HandoffRule::NextBlock,
        ("delay-2", None) => HandoffRule::Delay2,
        ("dual-quorum", None) => HandoffRule::DualQuorum,
        ("apply-on-propose", None) => HandoffRule::ApplyOnPropose,
        ("refresh-period", Some(0)) => return err("protocol.handoff.period", "must be at least 1"),
        ("refresh-period", Some(k)) => HandoffRule::RefreshPeriod { period: k },
        ("refresh-period", None) => {
            return err(base, "refresh-period needs a period: {\"rule\": \"refresh-period\", \"period\": 21}");
        }
        (r, Some(_)) if HandoffRule::NAMES.contains(&r) => {
            return err("protocol.handoff.period", format!("only refresh-period has a period, not {r}"));
        }
        (r, _) => {
            return err(base, format!("unknown hand-off rule \"{r}\" (known: {})", HandoffRule::NAMES.join(", ")));
        }
    };
    if churn_limit == Some(0) {
        return err("protocol.handoff.churn_limit", "must be at least 1");
    }
    Ok(HandoffOptions { rule, churn_limit })
}
