//! The compact human summary a run prints on stdout.

use super::Report;
use std::fmt::Write;

pub fn render(r: &Report, report_path: Option<&str>) -> String {
    let mut s = String::new();
    let verdict = if r.outcome.as_expected { "as expected" } else { "NOT AS EXPECTED" };
    let _ = writeln!(s, "dbft-sim: {} seed {} — {} ({verdict})", r.scenario, r.seed, r.outcome.kind);
    let nodes = r.config.nodes.len();
    let _ = writeln!(
        s,
        "  simulated {:.3} s, {} events, stopped by {}; heights: {}{} finalised, every running honest node ({} of {} nodes) at ≥ {}",
        r.sim_time_ms / 1000.0,
        r.events,
        r.stop_reason,
        if r.heights.start == 1 { String::new() } else { format!("{}..", r.heights.start) },
        r.heights.finalised,
        r.heights.running_honest,
        nodes,
        r.heights.min_honest
    );
    let b = &r.latency.block_interval_ms;
    let c = &r.latency.consensus_ms;
    let consensus =
        if c.count == 0 { "none".to_string() } else { format!("p50 {} p99 {} max {}", c.p50, c.p99, c.max) };
    let _ = writeln!(s, "  block interval ms {}; consensus ms {consensus}", b.describe());
    if !r.handoffs.is_empty() {
        let h: Vec<String> = r
            .handoffs
            .iter()
            .map(|h| {
                let change = match (h.joined.is_empty(), h.left.is_empty()) {
                    (false, false) => format!("+{} -{}", names(&h.joined), names(&h.left)),
                    (false, true) => format!("+{}", names(&h.joined)),
                    _ => format!("-{}", names(&h.left)),
                };
                let took = h.latency_ms.map_or("not final".to_string(), |l| format!("{l:.0} ms"));
                format!("h{} {change} (N {}→{}, {took})", h.height, h.old.len(), h.new.len())
            })
            .collect();
        let _ = writeln!(s, "  hand-offs: {}", h.join("; "));
    }
    if !r.changes.is_empty() {
        let c: Vec<String> = r
            .changes
            .iter()
            .map(|c| {
                let fate = match (c.status, c.decided_height, c.effective_height) {
                    ("effective", Some(d), Some(e)) => format!("decided in h{d}, in effect from h{e}"),
                    ("decided", Some(d), Some(e)) => format!("decided in h{d}, in effect from h{e} (not reached)"),
                    ("no-effect", Some(d), _) => {
                        format!("decided in h{d}, no effect ({})", c.no_effect.unwrap_or("changed nothing"))
                    }
                    ("lost", ..) => format!("lost ({} was down)", c.via),
                    ("pending", ..) if r.branch.is_some() => "submitted, not decided on this branch".to_string(),
                    ("pending", ..) => "submitted, never decided".to_string(),
                    (other, ..) => other.to_string(),
                };
                format!("#{} {}: {fate}", c.index, c.change)
            })
            .collect();
        let _ = writeln!(s, "  changes: {}", c.join("; "));
    }
    if let Some(b) = &r.branch {
        let _ = writeln!(s, "  branch: {b}");
    }
    let views: Vec<String> = r.views.iter().map(|(v, n)| format!("view {v}: {n}")).collect();
    let _ = writeln!(s, "  heights by final view: {}", if views.is_empty() { "none".into() } else { views.join(", ") });
    let msgs: Vec<String> = r
        .messages
        .iter()
        .map(|(k, c)| format!("{k} {}/{}/{}/{}", c.sent, c.delivered, c.dropped, c.duplicated))
        .collect();
    let _ = writeln!(s, "  messages sent/delivered/dropped/duplicated: {}", msgs.join(", "));
    if !r.rejected.is_empty() {
        let rej: Vec<String> = r.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "  rejected: {}", rej.join(", "));
    }
    let inv: Vec<String> = r.invariants.iter().map(|i| format!("{} {}", i.id, i.status)).collect();
    let _ = writeln!(s, "  invariants: {}", inv.join(", "));
    for i in &r.invariants {
        for v in &i.violations {
            let _ = writeln!(s, "    {} at {:.3} s (step {}): {}", v.id, v.time.as_ms_f64() / 1000.0, v.step, v.detail);
        }
    }
    if let Some(st) = &r.liveness.stall {
        let _ = writeln!(s, "  liveness: STALL at height {} view {} — {}: {}", st.height, st.view, st.class, st.reason);
        for d in &st.replicas {
            let state = match &d.status {
                Some(x) => format!(
                    "h{} v{} {:?} committed={} failed={} cv={:?}{}",
                    x.height,
                    x.view,
                    x.phase,
                    x.count_committed,
                    x.count_failed,
                    x.change_views,
                    x.committed_view.map(|v| format!(" (own commit in view {v})")).unwrap_or_default()
                ),
                None => "no status".into(),
            };
            let up = if d.up { "up" } else { "DOWN" };
            let who = if d.honest { "" } else { " byzantine" };
            let _ = writeln!(s, "    {:<6} {up}{who} ledger {}: {state}", d.name, d.ledger_height);
        }
    } else if let Some((headline, lines)) = r.liveness_violation() {
        let _ = writeln!(s, "  liveness: VIOLATED — {headline}");
        for l in lines {
            let _ = writeln!(s, "    {l}");
        }
    } else {
        let _ = writeln!(s, "  liveness: {}", r.liveness.status);
    }
    for l in &r.lints {
        let _ = writeln!(s, "  lint: {}: {}", l.field, l.warning);
    }
    for m in &r.outcome.mismatches {
        let _ = writeln!(s, "  mismatch: {m}");
    }
    let _ = write!(s, "  digest {}", r.digest.to_hex());
    if let Some(p) = report_path {
        let _ = write!(s, "\n  report {p}");
    }
    s
}

/// A list of node names, the first few of a long one: a hand-off that replaces hundreds
/// of validators stays one readable line (report.json has every name).
fn names(list: &[String]) -> String {
    const SHOWN: usize = 8;
    if list.len() <= SHOWN {
        return list.join(",");
    }
    format!("{},… ({} more)", list[..SHOWN - 2].join(","), list.len() - (SHOWN - 2))
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_long_name_list_is_cut_to_its_first_names_and_a_count() {
        let list: Vec<String> = (0..300).map(|i| format!("R{i}")).collect();
        assert_eq!(names(&list), "R0,R1,R2,R3,R4,R5,… (294 more)");
        assert_eq!(names(&list[..8]), "R0,R1,R2,R3,R4,R5,R6,R7");
    }
}
