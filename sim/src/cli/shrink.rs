//! `dbft-sim shrink <scenario>`: the smallest scenario that still breaks the same invariants.
//!
//! A counterexample from a sweep or a swarm carries everything its seed drew: faults that
//! matter and faults that do not. Shrinking edits the scenario *document* — so the result
//! is an ordinary, readable scenario file — one simplification at a time, keeping each one
//! whose run still violates every safety invariant the original violated, until no single
//! simplification keeps the violation (a 1-minimal scenario, as delta debugging calls it).
//! The simplifications, biggest first: drop a Byzantine node, twin, compromised key,
//! crash, partition, degradation, rule, timer control or withheld-transaction range; drop
//! one behaviour of several; make a restart a plain crash; zero the loss and duplication;
//! and make the network `ideal`. The seed stays fixed, so every step is deterministic.

use crate::report::Report;
use crate::report::files::write_atomic;
use crate::scenario;
use crate::world;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Arrays whose elements may be removed one by one (any length, down to empty).
const REMOVABLE: [&str; 9] = [
    "/byzantine",
    "/twins",
    "/compromised_keys",
    "/faults/crashes",
    "/network/partitions",
    "/network/degradations",
    "/rules",
    "/timers",
    "/workload/withhold",
];

/// One simplification of the scenario document.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Remove element `index` of the array at the pointer.
    Remove(String, usize),
    /// Remove `key` from the object at the pointer.
    RemoveKey(String, &'static str),
    /// Replace the value at the pointer.
    Set(String, Value),
}

impl Edit {
    /// What the edit does, in the document's own terms.
    pub fn describe(&self) -> String {
        match self {
            Edit::Remove(p, i) => format!("removed {}[{i}]", dotted(p)),
            Edit::RemoveKey(p, k) => format!("removed {}.{k}", dotted(p)),
            Edit::Set(p, v) => format!("set {} to {v}", dotted(p)),
        }
    }

    /// The document with the edit applied, or None if it no longer applies.
    fn apply(&self, doc: &Value) -> Option<Value> {
        let mut d = doc.clone();
        match self {
            Edit::Remove(p, i) => {
                let a = d.pointer_mut(p)?.as_array_mut()?;
                (*i < a.len()).then(|| a.remove(*i))?;
            }
            Edit::RemoveKey(p, k) => {
                d.pointer_mut(p)?.as_object_mut()?.remove(*k)?;
            }
            Edit::Set(p, v) => *d.pointer_mut(p)? = v.clone(),
        }
        Some(d)
    }
}

/// `/network/partitions` → `network.partitions`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn len_at(doc: &Value, pointer: &str) -> usize {
    doc.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len)
}

/// Every simplification of `doc`, biggest first. Removals go from the last element down so
/// that an accepted removal leaves the indices of the candidates still to try intact.
pub fn candidates(doc: &Value) -> Vec<Edit> {
    let mut out = Vec::new();
    for p in REMOVABLE {
        for i in (0..len_at(doc, p)).rev() {
            out.push(Edit::Remove(p.to_string(), i));
        }
    }
    for owner in ["/byzantine", "/compromised_keys"] {
        for i in 0..len_at(doc, owner) {
            let p = format!("{owner}/{i}/behaviours");
            // A node needs at least one behaviour; dropping the last is dropping the node.
            let n = len_at(doc, &p);
            if n > 1 {
                out.extend((0..n).rev().map(|j| Edit::Remove(p.clone(), j)));
            }
        }
    }
    for i in 0..len_at(doc, "/faults/crashes") {
        let p = format!("/faults/crashes/{i}");
        if doc.pointer(&format!("{p}/restart_ms")).is_some() {
            out.push(Edit::RemoveKey(p, "restart_ms"));
        }
    }
    for p in ["/network/loss", "/network/duplicate"] {
        if doc.pointer(p).and_then(Value::as_f64).is_some_and(|x| x != 0.0) {
            out.push(Edit::Set(p.to_string(), Value::from(0.0)));
        }
    }
    if doc.pointer("/network/preset").is_some_and(|v| v != "ideal") {
        out.push(Edit::Set("/network/preset".to_string(), Value::from("ideal")));
    }
    out
}

/// The safety invariants a run of `doc` with `seed` violates, or why it could not run.
fn violated(doc: &Value, seed: u64) -> Result<Vec<&'static str>, String> {
    let spec = scenario::parse(&doc.to_string(), "shrink").map_err(|e| e.to_string())?;
    let report = Report::build(&spec, &world::run(&spec, seed, None, false));
    Ok(report.outcome.violated.iter().copied().filter(|id| id.starts_with('S')).collect())
}

/// The outcome of shrinking: the smaller document and the edits that made it.
pub struct Shrunk {
    pub doc: Value,
    pub steps: Vec<Edit>,
    pub violated: Vec<&'static str>,
    pub runs: usize,
}

/// Shrinks `doc` while a run with `seed` still violates every id in `target`.
pub fn shrink(doc: &Value, seed: u64, target: &[&'static str], mut on_step: impl FnMut(&Edit)) -> Shrunk {
    let mut doc = doc.clone();
    let mut steps = Vec::new();
    let mut runs = 0;
    let keeps = |v: &[&str]| target.iter().all(|id| v.contains(id));
    'progress: loop {
        for edit in candidates(&doc) {
            let Some(next) = edit.apply(&doc) else { continue };
            runs += 1;
            // A document an edit made invalid (e.g. a rule naming a removed twin) is not
            // a simpler counterexample; skip it.
            if violated(&next, seed).is_ok_and(|v| keeps(&v)) {
                on_step(&edit);
                steps.push(edit);
                doc = next;
                continue 'progress;
            }
        }
        break;
    }
    let violated = violated(&doc, seed).unwrap_or_default();
    Shrunk { doc, steps, violated, runs }
}

pub struct ShrinkOptions {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
}

pub fn run(path: &Path, o: ShrinkOptions) -> i32 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    };
    // Parse for the clear error first; shrinking then works on the document.
    let spec = match scenario::parse(&text, &default_name(path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        eprintln!("error: {}: not JSON", path.display());
        return 2;
    };
    let seed = o.seed.unwrap_or(spec.seed);
    let target = match violated(&doc, seed) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => {
            eprintln!("error: {} seed {seed} violates no safety invariant: nothing to shrink", path.display());
            return 2;
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    };
    println!("{} seed {seed} violates {}; shrinking", path.display(), target.join(" "));
    let shrunk = shrink(&doc, seed, &target, |e| println!("  {} (still {})", e.describe(), target.join(" ")));
    let mut doc = shrunk.doc;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("name".into(), Value::from(format!("{}-shrunk", spec.name)));
        obj.insert(
            "description".into(),
            Value::from(format!(
                "Shrunk by `dbft-sim shrink` from {} (seed {seed}): {} edits. Explain from the protocol why it breaks {} before adding it to the suite.",
                path.display(),
                shrunk.steps.len(),
                target.join(" ")
            )),
        );
        obj.remove("seeds");
        obj.insert("seed".into(), Value::from(seed));
        obj.insert("expect".into(), serde_json::json!({"safety": "violated", "violations": shrunk.violated}));
    }
    let out = o.out.unwrap_or_else(|| Path::new("reports").join("shrink").join(format!("{}.json", spec.name)));
    let mut body = serde_json::to_string_pretty(&doc).unwrap_or_default();
    body.push('\n');
    if let Err(e) = write_atomic(&out, body.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return 2;
    }
    println!(
        "{} edits kept of {} tried; wrote {} (replay: dbft-sim run {})",
        shrunk.steps.len(),
        shrunk.runs,
        out.display(),
        out.display()
    );
    0
}

fn default_name(path: &Path) -> String {
    path.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn candidates_cover_the_fault_lists_and_apply_cleanly() {
        let doc = json!({
            "validators": 4,
            "network": {"preset": "wan", "loss": 0.1, "partitions": [{"groups": [["R0"]], "from_ms": 0}]},
            "faults": {"crashes": [{"node": "R1", "at_ms": 5, "restart_ms": 9}]},
            "byzantine": [{"node": "R2", "behaviours": [{"kind": "silent"}, {"kind": "double-sign"}]}]
        });
        let c = candidates(&doc);
        let described: Vec<String> = c.iter().map(Edit::describe).collect();
        assert_eq!(
            described,
            [
                "removed byzantine[0]",
                "removed faults.crashes[0]",
                "removed network.partitions[0]",
                "removed byzantine.0.behaviours[1]",
                "removed byzantine.0.behaviours[0]",
                "removed faults.crashes.0.restart_ms",
                "set network.loss to 0.0",
                "set network.preset to \"ideal\"",
            ]
        );
        let d = c[5].apply(&doc).unwrap();
        assert_eq!(d["faults"]["crashes"][0], json!({"node": "R1", "at_ms": 5}));
        let d = c[3].apply(&doc).unwrap();
        assert_eq!(d["byzantine"][0]["behaviours"], json!([{"kind": "silent"}]));
        assert!(Edit::Remove("/rules".into(), 0).apply(&doc).is_none(), "nothing there to remove");
        // Fully simplified: nothing left to try.
        let bare = json!({"validators": 4, "network": {"preset": "ideal", "loss": 0.0}});
        assert!(candidates(&bare).is_empty());
    }

    /// Shrinking a swarm counterexample of the `no-commit-lock` variant keeps the violation
    /// and ends 1-minimal: every single simplification still possible loses it.
    #[test]
    fn a_shrunk_counterexample_still_fails_and_is_one_minimal() {
        let doc: Value = serde_json::from_str(&super::super::swarm::generate(17, 6, Some("no-commit-lock"))).unwrap();
        let target = violated(&doc, 17).unwrap();
        assert!(target.contains(&"S4"), "{target:?}");
        let mut logged = 0;
        let shrunk = shrink(&doc, 17, &target, |_| logged += 1);
        assert_eq!(logged, shrunk.steps.len());
        let after = violated(&shrunk.doc, 17).unwrap();
        assert!(target.iter().all(|id| after.contains(id)), "{after:?}");
        assert_eq!(shrunk.violated, after);
        for edit in candidates(&shrunk.doc) {
            let next = edit.apply(&shrunk.doc).unwrap();
            let v = violated(&next, 17).unwrap_or_default();
            assert!(!target.iter().all(|id| v.contains(id)), "{} would still fail: not minimal", edit.describe());
        }
    }
}
