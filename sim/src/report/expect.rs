//! Comparing a run with its scenario's `expect` block.
//!
//! Without an `expect` block the default expectation is "every invariant holds and the
//! height target is reached". Each mismatch is one human-readable line.

use super::{LivenessStatus, Report};
use crate::invariants::InvariantId;
use crate::scenario::RunSpec;

/// One expectation of the scenario (or of the default), in words, with the ways the run
/// missed it (none: it was met). The run page lists them; `check` reports the misses.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub what: String,
    pub mismatches: Vec<String>,
}

/// Every mismatch between the run and its expectations, one line each.
pub fn check(spec: &RunSpec, r: &Report) -> Vec<String> {
    items(spec, r).into_iter().flat_map(|i| i.mismatches).collect()
}

/// Every expectation the run is held to, in the order `check` reports misses.
pub fn items(spec: &RunSpec, r: &Report) -> Vec<Item> {
    let e = &spec.expect;
    let mut items: Vec<Item> = Vec::new();
    let mut item = |what: String, out: Vec<String>| items.push(Item { what, mismatches: out });
    let violated = &r.outcome.violated;
    let safety_violated: Vec<InvariantId> = violated.iter().copied().filter(|id| id.is_safety()).collect();
    let default = e.is_empty() || (e.safety_holds.is_none() && e.violations.is_none() && e.liveness_holds.is_none());
    let by_default = |what: &str| if default { format!("{what} (by default)") } else { what.to_string() };
    let safety_holds = e.safety_holds.or(if default { Some(true) } else { None });
    match safety_holds {
        Some(true) => item(
            by_default("safety holds"),
            (!safety_violated.is_empty())
                .then(|| format!("expected safety to hold, but {} violated", InvariantId::join(&safety_violated, ", ")))
                .into_iter()
                .collect(),
        ),
        Some(false) => item(
            "safety is violated".into(),
            safety_violated
                .is_empty()
                .then(|| "expected a safety violation, but safety held".to_string())
                .into_iter()
                .collect(),
        ),
        None => {}
    }
    if let Some(ids) = &e.violations {
        let mut out = Vec::new();
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
        let what = if ids.is_empty() {
            "no invariant violated".to_string()
        } else {
            format!("exactly {} violated", InvariantId::join(ids, ", "))
        };
        item(what, out);
    } else if default {
        let out = violated.iter().filter(|id| !id.is_safety()).map(|id| format!("{id} violated")).collect();
        item(by_default("no liveness invariant violated"), out);
    }
    let liveness_holds = e.liveness_holds.or(if default && e.stall.is_none() { Some(true) } else { None });
    let holds = r.liveness.status == LivenessStatus::Holds;
    match liveness_holds {
        Some(true) => item(
            by_default("liveness holds (the height target is reached)"),
            (!holds)
                .then(|| match &r.liveness.stall {
                    Some(s) => format!(
                        "expected liveness, but stalled at height {} in view {} ({})",
                        s.height, s.view, s.class
                    ),
                    None => "expected liveness, but the run stopped early".into(),
                })
                .into_iter()
                .collect(),
        ),
        Some(false) => item(
            "the run stalls".into(),
            holds.then(|| "expected a stall, but the run reached its target".to_string()).into_iter().collect(),
        ),
        None => {}
    }
    if let Some(want) = &e.stall {
        let mut out = Vec::new();
        let mut what = vec!["a stall".to_string()];
        if let Some(c) = want.class {
            what.push(format!("of class {c}"));
        }
        if let Some(h) = want.height {
            what.push(format!("at height {h}"));
        }
        if let Some(v) = want.view {
            what.push(format!("in view {v}"));
        }
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
        item(what.join(" "), out);
    }
    if e.rules_applied {
        let out = r
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.applied == 0)
            .map(|(i, rule)| {
                format!("expected rule {i} ({}) to act, but it never did ({} matched)", rule.name, rule.matched)
            })
            .collect();
        item("every scripted rule acted".to_string(), out);
    }
    if let Some(min) = e.min_heights {
        let out = (r.heights.finalised < min)
            .then(|| format!("expected at least {min} heights, got {}", r.heights.finalised))
            .into_iter()
            .collect();
        item(format!("at least {min} heights finalised"), out);
    }
    if let Some(max) = e.max_view {
        let out = r
            .per_height
            .iter()
            .map(|h| h.view)
            .max()
            .filter(|&worst| worst > max)
            .map(|worst| format!("expected every height final by view {max}, got view {worst}"))
            .into_iter()
            .collect();
        item(format!("every height final by view {max}"), out);
    }
    if let Some(p99) = e.latency_p99_ms {
        let got = &r.latency.block_interval_ms;
        // No interval measured (fewer than two heights finalised) is no evidence of a fast
        // chain: the limit fails rather than reading an empty distribution as 0.
        let out = if got.count == 0 {
            vec![format!(
                "expected block interval p99 ≤ {p99} ms, but no block interval was measured (fewer than two heights finalised)"
            )]
        } else {
            (got.p99 > p99)
                .then(|| format!("expected block interval p99 ≤ {p99} ms, got {}", got.p99))
                .into_iter()
                .collect()
        };
        item(format!("block interval p99 ≤ {p99} ms"), out);
    }
    for (&h, &v) in &e.views {
        let out = match r.per_height.iter().find(|x| x.height == h) {
            Some(x) if x.view != v => vec![format!("expected height {h} final in view {v}, got view {}", x.view)],
            Some(_) => vec![],
            None => vec![format!("expected height {h} final in view {v}, but it was not finalised")],
        };
        item(format!("height {h} final in view {v}"), out);
    }
    for (name, &min) in &e.marks {
        let got = r.coverage.get(name.as_str()).copied().unwrap_or(0);
        let out = (got < min)
            .then(|| format!("expected coverage mark \"{name}\" at least {min} times, got {got}"))
            .into_iter()
            .collect();
        item(format!("coverage mark \"{name}\" at least {min} times"), out);
    }
    if let Some(want) = &e.handoffs {
        let done: Vec<&crate::report::HandoffRecord> = r.handoffs.iter().filter(|h| h.final_ms.is_some()).collect();
        if let Some(c) = want.count {
            let out = (done.len() != c as usize)
                .then(|| format!("expected {c} completed hand-offs, got {}", done.len()))
                .into_iter()
                .collect();
            item(format!("{c} completed hand-offs"), out);
        }
        if let Some(hs) = &want.heights {
            let got: Vec<u32> = r.handoffs.iter().map(|h| h.height).collect();
            let out = (*hs != got)
                .then(|| format!("expected hand-offs at heights {hs:?}, got {got:?}"))
                .into_iter()
                .collect();
            item(format!("hand-offs at heights {hs:?}"), out);
        }
        if let Some(set) = &want.final_set {
            let got = done
                .last()
                .map(|h| h.new.clone())
                .unwrap_or_else(|| (0..spec.validators).map(|i| spec.nodes[i].name.clone()).collect());
            let out =
                (*set != got).then(|| format!("expected the final set {set:?}, got {got:?}")).into_iter().collect();
            item(format!("final validator set {set:?}"), out);
        }
        if want.min_latency_ms.is_some() || want.max_latency_ms.is_some() {
            let (lo, hi) =
                (want.min_latency_ms.unwrap_or(0.0), want.max_latency_ms.map_or("∞".to_string(), |m| m.to_string()));
            let mut out = Vec::new();
            // A bound over no hand-off at all would hold whatever happened: like
            // latency_p99_ms without blocks, it fails.
            if done.is_empty() {
                out.push(format!("no hand-off completed, so none was measured against [{lo}, {hi}] ms"));
            }
            for h in &done {
                let l = h.latency_ms.unwrap_or(0.0);
                if want.min_latency_ms.is_some_and(|m| l < m) || want.max_latency_ms.is_some_and(|m| l > m) {
                    out.push(format!("hand-off at height {} took {l} ms, outside [{lo}, {hi}] ms", h.height));
                }
            }
            item(format!("every completed hand-off within [{lo}, {hi}] ms"), out);
        }
    }
    if let Some(d) = e.digests.get(&r.seed) {
        let out = (*d != r.digest)
            .then(|| format!("digest changed: pinned {}, got {}", d.to_hex(), r.digest.to_hex()))
            .into_iter()
            .collect();
        item(format!("trace digest of seed {} is {}", r.seed, d.to_hex()), out);
    }
    items
}
