//! Comparing a run with its scenario's `expect` block.
//!
//! Without an `expect` block the default expectation is "every invariant holds and the
//! height target is reached". Each mismatch is one human-readable line.

use super::{LivenessStatus, Report};
use crate::invariants::InvariantId;
use crate::scenario::RunSpec;

pub fn check(spec: &RunSpec, r: &Report) -> Vec<String> {
    let e = &spec.expect;
    let mut out = Vec::new();
    let violated = &r.outcome.violated;
    let safety_violated: Vec<InvariantId> = violated.iter().copied().filter(|id| id.is_safety()).collect();
    let default = e.is_empty() || (e.safety_holds.is_none() && e.violations.is_none() && e.liveness_holds.is_none());
    let safety_holds = e.safety_holds.or(if default { Some(true) } else { None });
    match safety_holds {
        Some(true) if !safety_violated.is_empty() => {
            out.push(format!("expected safety to hold, but {} violated", InvariantId::join(&safety_violated, ", ")))
        }
        Some(false) if safety_violated.is_empty() => out.push("expected a safety violation, but safety held".into()),
        _ => {}
    }
    if let Some(ids) = &e.violations {
        for id in ids {
            if !violated.contains(id) {
                out.push(format!("expected {id} to be violated, but it held"));
            }
        }
        for id in violated {
            if !ids.iter().any(|x| x == id) {
                out.push(format!("{id} violated, which the scenario does not expect"));
            }
        }
    } else if default {
        for id in violated.iter().filter(|id| !id.is_safety()) {
            out.push(format!("{id} violated"));
        }
    }
    let liveness_holds = e.liveness_holds.or(if default && e.stall.is_none() { Some(true) } else { None });
    let holds = r.liveness.status == LivenessStatus::Holds;
    match liveness_holds {
        Some(true) if !holds => out.push(match &r.liveness.stall {
            Some(s) => {
                format!("expected liveness, but stalled at height {} in view {} ({})", s.height, s.view, s.class)
            }
            None => "expected liveness, but the run stopped early".into(),
        }),
        Some(false) if holds => out.push("expected a stall, but the run reached its target".into()),
        _ => {}
    }
    if let Some(want) = &e.stall {
        match &r.liveness.stall {
            None => out.push("expected a stall, but there is none".into()),
            Some(s) => {
                if let Some(c) = want.class
                    && c != s.class
                {
                    out.push(format!("expected stall class {c}, got {}", s.class));
                }
                if let Some(h) = want.height
                    && h != s.height
                {
                    out.push(format!("expected the stall at height {h}, got {}", s.height));
                }
                if let Some(v) = want.view
                    && v != s.view
                {
                    out.push(format!("expected the stall in view {v}, got {}", s.view));
                }
            }
        }
    }
    if let Some(min) = e.min_heights
        && r.heights.finalised < min
    {
        out.push(format!("expected at least {min} heights, got {}", r.heights.finalised));
    }
    if let Some(max) = e.max_view
        && let Some(worst) = r.per_height.iter().map(|h| h.view).max()
        && worst > max
    {
        out.push(format!("expected every height final by view {max}, got view {worst}"));
    }
    if let Some(p99) = e.latency_p99_ms
        && r.latency.block_interval_ms.p99 > p99
    {
        out.push(format!("expected block interval p99 ≤ {p99} ms, got {}", r.latency.block_interval_ms.p99));
    }
    for (&h, &v) in &e.views {
        match r.per_height.iter().find(|x| x.height == h) {
            Some(x) if x.view != v => out.push(format!("expected height {h} final in view {v}, got view {}", x.view)),
            Some(_) => {}
            None => out.push(format!("expected height {h} final in view {v}, but it was not finalised")),
        }
    }
    for (name, &min) in &e.marks {
        let got = r.coverage.get(name.as_str()).copied().unwrap_or(0);
        if got < min {
            out.push(format!("expected coverage mark \"{name}\" at least {min} times, got {got}"));
        }
    }
    if let Some(want) = &e.handoffs {
        let done: Vec<&crate::report::HandoffRecord> = r.handoffs.iter().filter(|h| h.final_ms.is_some()).collect();
        if let Some(c) = want.count
            && done.len() != c as usize
        {
            out.push(format!("expected {c} completed hand-offs, got {}", done.len()));
        }
        if let Some(hs) = &want.heights {
            let got: Vec<u32> = r.handoffs.iter().map(|h| h.height).collect();
            if *hs != got {
                out.push(format!("expected hand-offs at heights {hs:?}, got {got:?}"));
            }
        }
        if let Some(set) = &want.final_set {
            let got = done
                .last()
                .map(|h| h.new.clone())
                .unwrap_or_else(|| (0..spec.validators).map(|i| spec.nodes[i].name.clone()).collect());
            if *set != got {
                out.push(format!("expected the final set {set:?}, got {got:?}"));
            }
        }
        for h in &done {
            let l = h.latency_ms.unwrap_or(0.0);
            if want.min_latency_ms.is_some_and(|m| l < m) || want.max_latency_ms.is_some_and(|m| l > m) {
                out.push(format!(
                    "hand-off at height {} took {l} ms, outside [{}, {}] ms",
                    h.height,
                    want.min_latency_ms.unwrap_or(0.0),
                    want.max_latency_ms.map_or("∞".to_string(), |m| m.to_string())
                ));
            }
        }
    }
    if let Some(d) = e.digests.get(&r.seed)
        && *d != r.digest
    {
        out.push(format!("digest changed: pinned {}, got {}", d.to_hex(), r.digest.to_hex()));
    }
    out
}
