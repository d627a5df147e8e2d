//! `faults` (crashes with or without amnesia, clock drift) and `timers` (forced expiries
//! and suppressed timers at chosen nodes).

use super::{Names, err, time_ms};
use crate::scenario::error::Result;
use crate::scenario::schema;
use crate::scenario::spec::{CrashSpec, TimerSpec};

/// Crashes and each node's clock drift in parts per million.
pub(super) fn resolve_faults(
    faults: schema::Faults,
    lookup: &Names,
    n_nodes: usize,
) -> Result<(Vec<CrashSpec>, Vec<i64>)> {
    let mut crashes = Vec::new();
    for (i, c) in faults.crashes.unwrap_or_default().iter().enumerate() {
        let path = format!("faults.crashes[{i}]");
        let node = lookup.node(&format!("{path}.node"), &c.node)?;
        let at = time_ms(&format!("{path}.at_ms"), c.at_ms)?;
        let restart = match c.restart_ms {
            None => None,
            Some(r) => {
                let t = time_ms(&format!("{path}.restart_ms"), r)?;
                if t <= at {
                    return err(format!("{path}.restart_ms"), "must be after at_ms");
                }
                Some(t)
            }
        };
        crashes.push(CrashSpec { node, at, restart, amnesia: c.amnesia.unwrap_or(false) });
    }
    let mut drift = vec![0i64; n_nodes];
    for (i, d) in faults.clock_drift.unwrap_or_default().iter().enumerate() {
        let path = format!("faults.clock_drift[{i}]");
        let node = lookup.node(&format!("{path}.node"), &d.node)?;
        if !(-500_000..=1_000_000).contains(&d.ppm) {
            return err(format!("{path}.ppm"), "must be in [-500000, 1000000] (parts per million)");
        }
        drift[node.idx()] = d.ppm;
    }
    Ok((crashes, drift))
}

pub(super) fn resolve_timers(list: &[schema::TimerControl], lookup: &Names) -> Result<Vec<TimerSpec>> {
    let mut timers = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let path = format!("timers[{i}]");
        timers.push(match t {
            schema::TimerControl::Fire { node, at_ms } => TimerSpec::Fire {
                node: lookup.node(&format!("{path}.node"), node)?,
                at: time_ms(&format!("{path}.at_ms"), *at_ms)?,
            },
            schema::TimerControl::Suppress { node, from_ms, until_ms } => {
                let from = time_ms(&format!("{path}.from_ms"), *from_ms)?;
                let until = time_ms(&format!("{path}.until_ms"), *until_ms)?;
                if until <= from {
                    return err(format!("{path}.until_ms"), "must be after from_ms");
                }
                TimerSpec::Suppress { node: lookup.node(&format!("{path}.node"), node)?, from, until }
            }
        });
    }
    Ok(timers)
}
