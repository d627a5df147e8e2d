//! `expect`: the outcome a scenario claims (safety, liveness, stall, views, marks, digests,
//! hand-offs), checked by `check`.

use super::*;
use crate::invariants::diagnosis::StallClass;
use crate::invariants::{InvariantId, InvariantStatus};
use crate::protocol::crypto::Hash32;
use crate::report::LivenessStatus;
use std::collections::BTreeMap;

pub(super) fn resolve_expect_handoffs(
    h: &schema::ExpectHandoffs,
    names: &Names,
    keyed: usize,
    start_height: u32,
) -> Result<ExpectHandoffs> {
    const P: &str = "expect.handoffs";
    let final_set = match &h.final_set {
        None => None,
        // A validator set is never empty (a change that would empty it is refused), so an
        // empty expectation could never hold.
        Some(list) if list.is_empty() => return err(format!("{P}.final_set"), "a validator set is never empty"),
        Some(list) => {
            let mut keys = Vec::new();
            for (i, r) in list.iter().enumerate() {
                let n = names.node(&format!("{P}.final_set[{i}]"), r)?;
                if n.idx() >= keyed {
                    return err(format!("{P}.final_set[{i}]"), "holds no validator key");
                }
                if keys.contains(&n.idx()) {
                    return err(format!("{P}.final_set[{i}]"), format!("{} is named twice", names.names[n.idx()]));
                }
                keys.push(n.idx());
            }
            keys.sort_unstable();
            Some(keys.into_iter().map(|k| names.names[k].clone()).collect())
        }
    };
    if let Some(v) = &h.heights {
        if v.windows(2).any(|w| w[0] >= w[1]) {
            return err(format!("{P}.heights"), "must be increasing");
        }
        // The first height a hand-off can reach: a change final in block `start_height`
        // takes effect from the height after it at the earliest.
        if let Some((i, &low)) = v.iter().enumerate().find(|&(_, &x)| x <= start_height) {
            return err(
                format!("{P}.heights[{i}]"),
                format!(
                    "{low} cannot be a hand-off height: the first block the run decides is {start_height}, so a new set works from {} at the earliest",
                    start_height + 1
                ),
            );
        }
    }
    let min_latency_ms = h.min_latency_ms.map(|x| non_negative(&format!("{P}.min_latency_ms"), x)).transpose()?;
    let max_latency_ms = h.max_latency_ms.map(|x| positive(&format!("{P}.max_latency_ms"), x)).transpose()?;
    if let (Some(lo), Some(hi)) = (min_latency_ms, max_latency_ms)
        && lo > hi
    {
        return err(
            format!("{P}.min_latency_ms"),
            format!("{lo} is above max_latency_ms {hi}: no hand-off could pass"),
        );
    }
    Ok(ExpectHandoffs { count: h.count, heights: h.heights.clone(), final_set, min_latency_ms, max_latency_ms })
}

pub(super) fn resolve_expect(e: schema::Expect) -> Result<ExpectSpec> {
    let safety_holds = match e.safety.as_deref().map(|x| (x, InvariantStatus::parse(x))) {
        None => None,
        Some((_, Some(InvariantStatus::Holds))) => Some(true),
        Some((_, Some(InvariantStatus::Violated))) => Some(false),
        Some((x, _)) => {
            return err("expect.safety", format!("\"{x}\": expected \"holds\" or \"violated\""));
        }
    };
    let violations = match &e.violations {
        None => None,
        Some(v) => {
            let mut ids = Vec::new();
            for (i, id) in v.iter().enumerate() {
                let Some(id) = InvariantId::parse(id) else {
                    return err(
                        format!("expect.violations[{i}]"),
                        format!("unknown invariant \"{id}\" (known: {})", InvariantId::expected()),
                    );
                };
                if ids.contains(&id) {
                    return err(format!("expect.violations[{i}]"), format!("{id} is listed twice"));
                }
                ids.push(id);
            }
            if safety_holds == Some(true) && ids.iter().any(|id| id.is_safety()) {
                return err("expect.violations", "contradicts \"safety\": \"holds\"");
            }
            // `violations` lists every invariant that must fail: with no safety invariant
            // in it, safety must hold, which "violated" denies.
            if safety_holds == Some(false) && !ids.iter().any(|id| id.is_safety()) {
                return err(
                    "expect.violations",
                    "contradicts \"safety\": \"violated\" (it lists every invariant that must fail, and names no safety invariant)",
                );
            }
            Some(ids)
        }
    };
    let liveness_holds = match e.liveness.as_deref() {
        None => None,
        Some(x) => match LivenessStatus::parse(x) {
            Some(l) => Some(l == LivenessStatus::Holds),
            None => {
                return err("expect.liveness", format!("\"{x}\": expected one of {}", LivenessStatus::expected()));
            }
        },
    };
    let stall = match e.stall {
        None => None,
        Some(s) => {
            let class = match &s.class {
                None => None,
                Some(c) => match StallClass::parse(c).filter(|c| *c != StallClass::Undiagnosed) {
                    Some(c) => Some(c),
                    None => {
                        let known: Vec<&str> = StallClass::expectable().map(StallClass::as_str).collect();
                        return err(
                            "expect.stall.class",
                            format!("unknown class \"{c}\" (known: {})", known.join(", ")),
                        );
                    }
                },
            };
            if liveness_holds == Some(true) {
                return err("expect.stall", "contradicts \"liveness\": \"holds\"");
            }
            if s.height == Some(0) {
                return err("expect.stall.height", "heights start at 1: a run cannot stall at 0");
            }
            Some(ExpectStall { class, height: s.height, view: s.view })
        }
    };
    let latency_p99_ms = e.latency_p99_ms.map(|x| positive("expect.latency_p99_ms", x)).transpose()?;
    let mut digests = BTreeMap::new();
    for (k, v) in e.digests.unwrap_or_default().0 {
        let path = format!("expect.digests.{k}");
        // Written as the seed prints ("1", not "01"): `--update-digests` writes its pins
        // under that spelling, so another one would become a second key for one seed.
        let seed: u64 = Some(k.as_str())
            .filter(|k| k.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|k| k.parse().ok())
            .filter(|s: &u64| s.to_string() == k)
            .ok_or_else(|| {
                ScenarioError::new(
                    &path,
                    "key must be a seed written as a plain decimal integer (no sign, no leading zeros)",
                )
            })?;
        let h = Hash32::from_hex(&v).ok_or_else(|| ScenarioError::new(&path, "must be 64 hex digits"))?;
        if digests.insert(seed, h).is_some() {
            return err(path, format!("seed {seed} is pinned twice"));
        }
    }
    let mut views = BTreeMap::new();
    for (k, v) in e.views.unwrap_or_default().0 {
        let path = format!("expect.views.{k}");
        let h: u32 = Some(k.as_str())
            .filter(|k| k.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|k| k.parse().ok())
            .filter(|h: &u32| *h >= 1 && h.to_string() == k)
            .ok_or_else(|| {
                ScenarioError::new(&path, "key must be a height written as a plain integer ≥ 1 (no leading zeros)")
            })?;
        if views.insert(h, v).is_some() {
            return err(path, format!("height {h} is listed twice"));
        }
    }
    let marks = e.marks.unwrap_or_default().0;
    if let Some(m) = marks.keys().find(|m| !crate::marks::is_known(m)) {
        return err(
            format!("expect.marks.{m}"),
            "not a coverage mark this build counts (a run's report lists the marks it took under `coverage`)",
        );
    }
    let any_seed = match e.seeds.as_deref() {
        None | Some("listed") => false,
        Some("any") => true,
        Some(x) => return err("expect.seeds", format!("\"{x}\": expected \"listed\" or \"any\"")),
    };
    Ok(ExpectSpec {
        rules_applied: e.rules_applied.unwrap_or(false),
        any_seed,
        views,
        marks,
        handoffs: None,
        safety_holds,
        violations,
        liveness_holds,
        stall,
        min_heights: e.min_heights,
        max_view: e.max_view,
        latency_p99_ms,
        digests,
    })
}
