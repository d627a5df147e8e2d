//! `workload` (transactions and who is denied them), `stop` (when a run ends) and
//! `liveness` (GST, the bound after it, how many views count as progress).

use super::{DEFAULT_HEIGHTS, MAX_DURATION_MS, Names, err, non_negative, positive, time_ms};
use crate::engine::time::SimTime;
use crate::engine::workload::{Withhold, WorkloadOptions};
use crate::scenario::error::Result;
use crate::scenario::schema;
use crate::scenario::spec::{LivenessSpec, StopSpec};

pub(super) fn resolve_workload(w: schema::Workload, lookup: &Names) -> Result<WorkloadOptions> {
    let tx_rate = non_negative("workload.tx_rate_per_s", w.tx_rate_per_s.unwrap_or(1.0))?;
    if tx_rate > 100_000.0 {
        return err("workload.tx_rate_per_s", "must be at most 100000");
    }
    let mut withhold = Vec::new();
    for (i, wh) in w.withhold.unwrap_or_default().iter().enumerate() {
        let path = format!("workload.withhold[{i}]");
        if wh.nodes.is_empty() {
            return err(format!("{path}.nodes"), "must list at least one node");
        }
        let nodes = lookup.nodes(&format!("{path}.nodes"), &wh.nodes)?;
        let (first, last) = wh.txs;
        if first == 0 || last < first {
            return err(format!("{path}.txs"), "must be [first, last] with 1 ≤ first ≤ last");
        }
        let until = wh.until_ms.map(|u| time_ms(&format!("{path}.until_ms"), u)).transpose()?;
        withhold.push(Withhold { nodes, first, last, until });
    }
    let mut invalid = Vec::new();
    for (i, inv) in w.invalid.unwrap_or_default().iter().enumerate() {
        let path = format!("workload.invalid[{i}]");
        let (first, last) = inv.txs;
        if first == 0 || last < first {
            return err(format!("{path}.txs"), "must be [first, last] with 1 ≤ first ≤ last");
        }
        let nodes = match &inv.nodes {
            Some(n) if n.is_empty() => return err(format!("{path}.nodes"), "must list at least one node"),
            Some(n) => Some(lookup.nodes(&format!("{path}.nodes"), n)?),
            None => None,
        };
        invalid.push(crate::protocol::dbft::validity::InvalidTxs { nodes, first, last });
    }
    let initial_txs = w.initial_txs.unwrap_or(0);
    if initial_txs > 1_000_000 {
        return err("workload.initial_txs", "must be at most 1000000");
    }
    Ok(WorkloadOptions {
        tx_rate_per_s: tx_rate,
        initial_txs,
        withhold,
        until: w.until_ms.map(|u| time_ms("workload.until_ms", u)).transpose()?,
        invalid,
    })
}

/// `start_height`: 1 … MAX_START_HEIGHT, 1 by default.
pub(super) fn resolve_start_height(h: Option<u32>) -> Result<u32> {
    use crate::protocol::prefix::MAX_START_HEIGHT;
    match h.unwrap_or(1) {
        0 => err("start_height", "must be at least 1 (height 0 is the genesis block)"),
        h if h > MAX_START_HEIGHT => err("start_height", format!("must be at most {MAX_START_HEIGHT}")),
        h => Ok(h),
    }
}

/// `stop.heights` is a height, not a count: the run starting at `start_height` ends once
/// that height is final, so it must not lie below `start_height` (default: ten heights
/// from the start).
pub(super) fn resolve_stop(st: schema::Stop, block_time_us: u64, start_height: u32) -> Result<StopSpec> {
    if st.heights == Some(0) {
        return err("stop.heights", "must be at least 1");
    }
    if let Some(h) = st.heights
        && h < start_height
    {
        return err(
            "stop.heights",
            format!("must be at least start_height ({start_height}): heights below it are final before the run"),
        );
    }
    let before = start_height - 1;
    let heights = match (st.heights, st.duration_ms) {
        (None, None) => Some(before + DEFAULT_HEIGHTS),
        (h, _) => h,
    };
    // Every height takes at least a block time: a target no run within the one-year
    // limit can reach is refused here, not simulated until memory runs out.
    let to_decide = (heights.unwrap_or(before + DEFAULT_HEIGHTS) - before) as u64;
    let max_us = (MAX_DURATION_MS * 1000.0) as u64;
    if to_decide.saturating_mul(block_time_us) > max_us {
        return err(
            "stop.heights",
            format!(
                "{to_decide} heights of at least {} ms each need more than one year of simulated time (the limit; at most {} heights at this block time)",
                block_time_us / 1000,
                max_us / block_time_us.max(1)
            ),
        );
    }
    let duration = match st.duration_ms {
        Some(d) => {
            let d = positive("stop.duration_ms", d)?;
            if d > MAX_DURATION_MS {
                return err("stop.duration_ms", "must be at most 3.15e10 (one year of simulated time)");
            }
            let t = SimTime::from_ms_f64(d);
            if t == SimTime::ZERO {
                return err("stop.duration_ms", "must be > 0 (it rounds to 0 µs)");
            }
            t
        }
        // Ten block times per height (view changes included), within the year.
        None => SimTime(block_time_us.saturating_mul(10 * (to_decide + 1)).min(max_us)),
    };
    Ok(StopSpec { heights, duration, on_violation: st.on_violation.unwrap_or(true) })
}

pub(super) fn resolve_liveness(l: schema::Liveness, block_time_us: u64) -> Result<LivenessSpec> {
    let max_views = l.max_views.unwrap_or(3);
    let bound = match l.bound_ms {
        Some(b) => match SimTime::from_ms_f64(positive("liveness.bound_ms", b)?) {
            SimTime::ZERO => return err("liveness.bound_ms", "must be > 0 (it rounds to 0 µs)"),
            t => t,
        },
        None => SimTime(block_time_us.saturating_mul(1u64 << (max_views as u32 + 2).min(40))),
    };
    Ok(LivenessSpec { gst: l.gst_ms.map(|g| time_ms("liveness.gst_ms", g)).transpose()?, bound, max_views })
}
