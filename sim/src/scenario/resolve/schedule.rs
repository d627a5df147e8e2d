//! `schedule`: an explicit list of steps (deliver, drop, timer, crash, restart) that a run
//! takes instead of the seeded network. What the schedule runner cannot model (scripted
//! rules and timers, timed crashes, partitions, Byzantine
//! behaviours that need time, flood relay, validator-set changes later than time zero or
//! at a height, a chain prefix) is refused here, by name.

use super::{MAX_SCHEDULE, Names, Result, err};
use crate::explore::step::{Envelope, Step};
use crate::protocol::MsgKind;
use crate::scenario::schema::{self, ScheduleStep};

pub(super) fn resolve_schedule(s: &schema::Scenario, lookup: &Names) -> Result<Vec<Step>> {
    let Some(list) = &s.schedule else { return Ok(Vec::new()) };
    if list.is_empty() {
        return err("schedule", "must list at least one step");
    }
    if list.len() > MAX_SCHEDULE {
        return err("schedule", format!("{} steps, at most {MAX_SCHEDULE}", list.len()));
    }
    let refuse = |field: &str, present: bool| -> Result<()> {
        if present {
            err(field, "cannot be combined with `schedule` (a scheduled run follows its steps only)")
        } else {
            Ok(())
        }
    };
    // Present at all, even empty, as `faults` and `network` are: one rule for every
    // section a scheduled run does not read.
    refuse("rules", s.rules.is_some())?;
    refuse("timers", s.timers.is_some())?;
    untimed_fields(s)?;
    untimed_byzantine(s, lookup)?;
    for (i, c) in s.changes.as_deref().unwrap_or(&[]).iter().enumerate() {
        let (at_ms, at_height, _, _) = c.when();
        if at_height.is_some() {
            return err(
                format!("changes[{i}].at_height"),
                "a change submitted at a height is not modelled in a scheduled run (no time); submit it with at_ms 0",
            );
        }
        if at_ms.is_some_and(|t| t != 0.0) {
            return err(
                format!("changes[{i}].at_ms"),
                "must be 0 in a scheduled run (no time): the change is in its recipients' mempools at the start",
            );
        }
    }
    refuse("faults", s.faults.is_some())?;
    refuse("network", s.network.is_some())?;
    refuse("start_height", s.start_height.is_some_and(|h| h != 1))?;
    let mut steps = Vec::with_capacity(list.len());
    for (i, st) in list.iter().enumerate() {
        let path = format!("schedule[{i}]");
        let envelope = |from, to, kind: &String, msg: &String| -> Result<Envelope> {
            let from = lookup.node(&format!("{path}.from"), from)?;
            let to = lookup.node(&format!("{path}.to"), to)?;
            let Some(kind) = MsgKind::parse(kind) else {
                let known: Vec<&str> = MsgKind::ALL.iter().map(|k| k.name()).collect();
                return err(
                    format!("{path}.kind"),
                    format!("unknown message type \"{kind}\" (known: {})", known.join(", ")),
                );
            };
            let hex_ok = (8..=64).contains(&msg.len()) && msg.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex_ok {
                return err(format!("{path}.msg"), "must be 8 to 64 hex digits of the message's content hash");
            }
            Ok(Envelope { from, to, kind, msg: msg.to_ascii_lowercase() })
        };
        steps.push(match st {
            ScheduleStep::Deliver { from, to, kind, msg } => Step::Deliver(envelope(from, to, kind, msg)?),
            ScheduleStep::Drop { from, to, kind, msg } => Step::Drop(envelope(from, to, kind, msg)?),
            ScheduleStep::Timer { node } => Step::Timer { node: lookup.node(&format!("{path}.node"), node)? },
            ScheduleStep::AdversaryTimer { node } => {
                Step::AdversaryTimer { node: lookup.node(&format!("{path}.node"), node)? }
            }
            ScheduleStep::Crash { node } => Step::Crash { node: lookup.node(&format!("{path}.node"), node)? },
            ScheduleStep::Restart { node, amnesia } => {
                Step::Restart { node: lookup.node(&format!("{path}.node"), node)?, amnesia: amnesia.unwrap_or(false) }
            }
        });
    }
    Ok(steps)
}

/// `byzantine` and `compromised_keys` entries a scheduled run can model: no start time
/// (`from_ms` other than 0) and only behaviours that need no clock
/// (`explore::model::untimed_behaviour`).
pub(super) fn untimed_byzantine(s: &schema::Scenario, lookup: &Names) -> Result<()> {
    let byzantine = s.byzantine.as_deref().unwrap_or(&[]).iter().map(|b| (&b.behaviours, b.from_ms));
    let attackers = s.compromised_keys.as_deref().unwrap_or(&[]).iter().map(|c| (&c.behaviours, c.from_ms));
    let entries = byzantine
        .enumerate()
        .map(|(i, e)| (format!("byzantine[{i}]"), e))
        .chain(attackers.enumerate().map(|(i, e)| (format!("compromised_keys[{i}]"), e)));
    for (path, (behaviours, from_ms)) in entries {
        if from_ms.is_some_and(|f| f != 0.0) {
            return err(
                format!("{path}.from_ms"),
                "a Byzantine start time is not modelled in a scheduled run (no time)",
            );
        }
        let resolved = super::byzantine::resolve_behaviours(&format!("{path}.behaviours"), behaviours, lookup)?;
        for (j, beh) in resolved.iter().enumerate() {
            if let Err(why) = crate::explore::model::untimed_behaviour(beh) {
                return err(format!("{path}.behaviours[{j}]"), why);
            }
        }
    }
    Ok(())
}

/// The time fields a scheduled run would silently ignore, refused by path: it has no
/// time, so it stops when its steps run out (not at `stop.duration_ms`), takes no
/// transactions but the initial ones (a `workload.tx_rate_per_s` above 0 and a
/// `workload.until_ms` mean nothing; a rate of 0 says just that, and explored scenarios
/// carry it), has no GST (`liveness.gst_ms`) and no latencies (`expect.latency_p99_ms`).
/// The rest of `workload` (initial, withheld and invalid transactions) is used.
fn untimed_fields(s: &schema::Scenario) -> Result<()> {
    let workload = s.workload.as_ref();
    let ignored = [
        (
            "stop.duration_ms",
            s.stop.as_ref().is_some_and(|x| x.duration_ms.is_some()),
            "a scheduled run ends when its steps do",
        ),
        (
            "workload.tx_rate_per_s",
            workload.and_then(|w| w.tx_rate_per_s).is_some_and(|r| r != 0.0),
            "a scheduled run has no time for transactions to arrive at a rate; it has only `initial_txs` (a rate of 0 is accepted)",
        ),
        ("workload.until_ms", workload.is_some_and(|w| w.until_ms.is_some()), "a scheduled run has no time"),
        (
            "liveness.gst_ms",
            s.liveness.as_ref().is_some_and(|l| l.gst_ms.is_some()),
            "a scheduled run has no time, so no GST",
        ),
        (
            "expect.latency_p99_ms",
            s.expect.as_ref().is_some_and(|e| e.latency_p99_ms.is_some()),
            "a scheduled run has no time, so no latencies",
        ),
    ];
    if let Some((path, _, why)) = ignored.into_iter().find(|(_, present, _)| *present) {
        return err(path, format!("cannot be combined with `schedule`: {why}"));
    }
    // Withheld transactions are modelled (they never arrive), but not a time they would.
    let withheld = workload.and_then(|w| w.withhold.as_deref()).unwrap_or(&[]);
    match withheld.iter().position(|w| w.until_ms.is_some()) {
        Some(i) => err(
            format!("workload.withhold[{i}].until_ms"),
            "cannot be combined with `schedule`: a scheduled run has no time, so withheld transactions never arrive",
        ),
        None => Ok(()),
    }
}
