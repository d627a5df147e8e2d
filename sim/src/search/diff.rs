//! Where two runs part ways.
//!
//! When a pinned digest changes, or a scenario and its variant (a rule more, a seed other)
//! behave differently, the question is *where*: the first event at which the two streams
//! differ, with what came just before. A and B are scenario files (each run in-process
//! with `--seed` (B: `--seed-b`) or its own seed) or trace files written by `run --trace`
//! (`.jsonl`).
//!
//! Scenario runs are compared without holding either stream: the first pass keeps one
//! 64-bit fingerprint per event of A and stops B at its first mismatch; a second pass
//! replays both, deterministically, and keeps only the lines around that event.

use crate::engine::trace::{Halt, Observer, Rec};
use crate::report::narrate::Narrator;
use crate::scenario::RunSpec;
use crate::world;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Where two event streams part ways.
#[derive(Debug, PartialEq)]
pub struct Divergence {
    /// Index of the first differing event (equal to the shorter length if one stream is a
    /// prefix of the other).
    pub at: usize,
    /// Up to `context` events before it, common to both.
    pub before: Vec<String>,
    /// From the first difference on, up to `context` + 1 events of each.
    pub a: Vec<String>,
    pub b: Vec<String>,
}

/// Compares two streams of lines (trace files): None if identical.
pub fn first_difference(a: &[String], b: &[String], context: usize) -> Option<Divergence> {
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    if at == a.len() && at == b.len() {
        return None;
    }
    let window = |s: &[String]| s[at..s.len().min(at.saturating_add(context).saturating_add(1))].to_vec();
    Some(Divergence { at, before: a[at.saturating_sub(context)..at].to_vec(), a: window(a), b: window(b) })
}

/// One trace line as a reader wants it: `#step time event field=value ...`, the time in
/// seconds, the message content (`run --trace --content`) left out (the differences
/// below name it when it differs). A line that is not a JSON object is shown as it is.
pub fn trace_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let mut out = String::new();
    if let Some(step) = m.get("step").and_then(serde_json::Value::as_u64) {
        out.push_str(&format!("#{step} "));
    }
    if let Some(t) = m.get("time").and_then(serde_json::Value::as_u64) {
        out.push_str(&format!("{}.{:06}s ", t / 1_000_000, t % 1_000_000));
    }
    if let Some(ev) = m.get("ev").and_then(serde_json::Value::as_str) {
        out.push_str(ev);
    }
    for (k, v) in &m {
        if matches!(k.as_str(), "step" | "time" | "ev" | "content") || v.is_null() {
            continue;
        }
        let v = match v {
            serde_json::Value::String(s) if k == "hash" || k == "prev" => s.chars().take(8).collect(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" {k}={v}"));
    }
    out
}

/// The fields in which two trace lines differ, as `path: A → B` (JSON paths such as
/// `content.body.timestamp_ms`), at most `limit` of them and then a count of the rest;
/// empty if the lines are equal. Lines that are not JSON are compared as text.
pub fn line_differences(a: &str, b: &str, limit: usize) -> Vec<String> {
    let (Ok(x), Ok(y)) = (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b))
    else {
        return if a == b { Vec::new() } else { vec![format!("(text) {a} → {b}")] };
    };
    let mut found = Vec::new();
    value_differences("", &x, &y, &mut found);
    if found.len() > limit {
        let more = found.len() - limit;
        found.truncate(limit);
        found.push(format!("… and {more} more"));
    }
    found
}

fn value_differences(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            // In key order, whatever order the lines wrote them in.
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => value_differences(&at(k), p, q, out),
                    (Some(p), None) => out.push(format!("{}: {} → (absent)", at(k), short(p))),
                    (None, Some(q)) => out.push(format!("{}: (absent) → {}", at(k), short(q))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                value_differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => {
            out.push(format!("{}: {} → {}", if path.is_empty() { "(line)" } else { path }, short(a), short(b)))
        }
        _ => {}
    }
}

/// A value for a one-line difference: strings without quotes, long ones cut.
fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s }
}

/// A fingerprint of one event: everything but its step number (equal prefixes have equal
/// steps anyway).
fn fingerprint(rec: &Rec) -> u64 {
    let mut h = DefaultHasher::new();
    rec.time.0.hash(&mut h);
    serde_json::to_string(&rec.ev).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Pass 1 for A: every event's fingerprint.
struct Record(Vec<u64>);
impl Observer for Record {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        self.0.push(fingerprint(rec));
        None
    }
}

/// Pass 1 for B: stops at the first event that differs from A's.
struct Compare<'a> {
    a: &'a [u64],
    seen: usize,
    differs_at: Option<usize>,
}
impl Observer for Compare<'_> {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        if self.a.get(self.seen) != Some(&fingerprint(rec)) {
            self.differs_at = Some(self.seen);
            return Some(Halt("diverged".into()));
        }
        self.seen += 1;
        None
    }
}

/// Pass 2: the narrated lines of events `from..until`, then stop.
struct Window {
    narrator: Narrator<std::io::Sink>,
    from: usize,
    until: usize,
    seen: usize,
    lines: Vec<String>,
}
impl Observer for Window {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let i = self.seen;
        self.seen += 1;
        if i >= self.from && i < self.until {
            self.lines.push(format!("#{i} {}", self.narrator.line_of_any(rec).trim_start()));
        } else if i < self.from && matches!(rec.ev, crate::engine::trace::Ev::Persist { .. }) {
            // Blocks persisted before the window tell the narrator which set each node's
            // chain names, so a block in the window is called a hand-off only if it is one.
            let _ = self.narrator.line_of_any(rec);
        }
        (self.seen >= self.until).then(|| Halt("window done".into()))
    }
}

fn window(spec: &RunSpec, seed: u64, from: usize, until: usize) -> Vec<String> {
    let names = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let narrator = Narrator::new(std::io::sink(), names)
        .starting_from(world::genesis_set(spec).hash())
        .holding(spec.nodes.iter().map(|n| n.role.keys()).collect());
    let mut w = Window { narrator, from, until, seen: 0, lines: Vec::new() };
    world::run(spec, seed, Some(&mut w), false);
    w.lines
}

/// Compares the runs of two scenarios: None if their event streams are identical.
pub fn diverge_runs(a: (&RunSpec, u64), b: (&RunSpec, u64), context: usize) -> Option<Divergence> {
    let mut rec = Record(Vec::new());
    world::run(a.0, a.1, Some(&mut rec), false);
    let mut cmp = Compare { a: &rec.0, seen: 0, differs_at: None };
    world::run(b.0, b.1, Some(&mut cmp), false);
    let at = match cmp.differs_at {
        Some(at) => at,
        None if cmp.seen < rec.0.len() => cmp.seen,
        None => return None,
    };
    let from = at.saturating_sub(context);
    let until = at.saturating_add(context).saturating_add(1);
    let a_lines = window(a.0, a.1, from, until);
    let b_lines = window(b.0, b.1, at, until);
    let split = (at - from).min(a_lines.len());
    Some(Divergence { at, before: a_lines[..split].to_vec(), a: a_lines[split..].to_vec(), b: b_lines })
}

/// A trace written by `run --trace`: one JSON object per line, each with its step number
/// and time. Anything else is bad input (exit 2), not a run that "differs".
pub fn check_trace(lines: &[String]) -> Result<(), String> {
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not a trace record: {e}", i + 1))?;
        let step = v.get("step").and_then(serde_json::Value::as_u64);
        if step.is_none() || v.get("time").and_then(serde_json::Value::as_u64).is_none() {
            return Err(format!("line {}: not a trace record (a trace line has \"step\" and \"time\")", i + 1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn lines(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_trace_line_is_shown_compactly_and_its_differences_by_field() {
        let a = r#"{"step":5,"time":15200000,"ev":"send","id":0,"from":"R0","to":null,"kind":"Commit","hash":"6dabb9ee0011","content":{"body":{"type":"Commit","sig":"20b7"},"height":1}}"#;
        let b = r#"{"step":5,"time":15200000,"ev":"send","id":0,"from":"R0","to":null,"kind":"Commit","hash":"01d5c2070011","content":{"body":{"type":"Commit","sig":"17f1"},"height":1}}"#;
        assert_eq!(trace_line(a), "#5 15.200000s send id=0 from=R0 kind=Commit hash=6dabb9ee");
        assert_eq!(
            line_differences(a, b, 8),
            vec!["content.body.sig: 20b7 → 17f1", "hash: 6dabb9ee0011 → 01d5c2070011"]
        );
        assert!(line_differences(a, a, 8).is_empty());
        // A field only one side has, an array element, a cap with a count of the rest.
        let c = r#"{"step":5,"time":1,"ev":"x","xs":[1,2,3],"only":true}"#;
        let d = r#"{"step":6,"time":2,"ev":"x","xs":[1,9,3]}"#;
        assert_eq!(
            line_differences(c, d, 8),
            vec!["only: true → (absent)", "step: 5 → 6", "time: 1 → 2", "xs[1]: 2 → 9"]
        );
        assert_eq!(line_differences(c, d, 2), vec!["only: true → (absent)", "step: 5 → 6", "… and 2 more"]);
        // Not JSON: shown and compared as text.
        assert_eq!(trace_line("garbage"), "garbage");
        assert_eq!(line_differences("x", "y", 8), vec!["(text) x → y"]);
    }

    #[test]
    fn a_trace_is_json_records_with_step_and_time() {
        assert_eq!(check_trace(&lines(&[r#"{"step": 0, "time": 0, "kind": "start"}"#])), Ok(()));
        assert_eq!(check_trace(&[]), Ok(()));
        let e = check_trace(&lines(&[r#"{"step": 0, "time": 0}"#, "garbage"])).unwrap_err();
        assert!(e.starts_with("line 2: not a trace record"), "{e}");
        let e = check_trace(&lines(&[r#"{"time": 0}"#])).unwrap_err();
        assert!(e.contains("\"step\""), "{e}");
    }

    #[test]
    fn first_difference_of_lines() {
        let a = lines(&["1", "2", "3", "4", "5"]);
        assert_eq!(first_difference(&a, &a, 2), None);
        let b = lines(&["1", "2", "3", "x", "5"]);
        let d = first_difference(&a, &b, 2).unwrap();
        assert_eq!((d.at, d.before, d.a, d.b), (3, lines(&["2", "3"]), lines(&["4", "5"]), lines(&["x", "5"])));
        // A prefix differs where the shorter one ends.
        let d = first_difference(&a, &a[..2], 1).unwrap();
        assert_eq!((d.at, d.before, d.a, d.b), (2, lines(&["2"]), lines(&["3", "4"]), vec![]));
    }

    /// A run cut short is a prefix of the full run: they part where the short one ends.
    #[test]
    fn a_shorter_run_is_a_prefix() {
        let text = |ms: u32| format!(r#"{{"validators": 4, "stop": {{"heights": 50, "duration_ms": {ms}}}}}"#);
        let long = scenario::parse(&text(60_000), "long").unwrap();
        let short = scenario::parse(&text(20_000), "short").unwrap();
        assert_eq!(diverge_runs((&long, 1), (&long, 1), 3), None);
        let events = world::run(&short, 1, None, false).metrics.events as usize;
        let d = diverge_runs((&long, 1), (&short, 1), 3).unwrap();
        assert_eq!((d.at, d.b.len(), d.a.len(), d.before.len()), (events, 0, 4, 3));
        assert!(d.a[0].starts_with(&format!("#{events} ")), "{:?}", d.a);
    }
}
