//! The files `run` writes next to `report.json`: `heights.svg`, `timeline.svg`,
//! `sequence.svg` and the page that shows them all, `index.html`.

use super::Report;
use super::plot::sequence::{self, NodeKind, Recorder};
use super::plot::{RunData, heights};
use crate::engine::time::SimTime;

/// The heights the sequence chart shows by default: what the run turns on — the first
/// violation's height, else the stall's — when the recorder kept that height's events;
/// else the first height with a view change, a violation or the stall; else height 1. (A
/// routine view change after a crash at height 1 used to win over a stall at height 5.)
pub fn default_sequence_heights(r: &Report, rec: &Recorder) -> (u32, u32) {
    let end = SimTime((r.sim_time_ms * 1000.0).round() as u64);
    let violation = r.invariants.iter().flat_map(|i| i.violations.iter().map(|v| v.height)).min();
    let stall = r.liveness.stalled().map(|s| s.height);
    if let Some(h) = violation.or(stall).filter(|&h| h >= 1)
        && rec.lane.covers(sequence::window_of(&rec.nodes, (h, h), end))
    {
        return (h, h);
    }
    let view_change =
        rec.nodes.iter().filter(|i| i.kind == NodeKind::ViewChanged && i.view > 0).map(|i| i.height).min();
    let h = [view_change, violation, stall].into_iter().flatten().min().unwrap_or(1).max(1);
    (h, h)
}

/// Every figure of one run and its page, as (file name, content). Takes the recorder to
/// free each part of it once its figure is drawn (a long run's pages are megabytes).
pub fn run_files(
    r: &Report,
    rec: Recorder,
    sequence_heights: Option<(u32, u32)>,
) -> Result<Vec<(&'static str, String)>, String> {
    let names: Vec<String> = r.config.nodes.iter().map(|n| n.name.clone()).collect();
    let end = SimTime((r.sim_time_ms * 1000.0).round() as u64);
    let heights_svg = heights::svg(&RunData::of(r)?)?;
    let (a, b) = sequence_heights.unwrap_or_else(|| default_sequence_heights(r, &rec));
    let window = sequence::window_of(&rec.nodes, (a, b), end);
    let which = if a == b { format!("height {a}") } else { format!("heights {a}–{b}") };
    // A long run keeps every event only around where the window may be (`Lane`).
    let partial = if rec.lane.covers(window) { "" } else { " (not all of its events were kept: a long run)" };
    let seq_title = format!("{} seed {} — messages of {which}{partial}", r.scenario, r.seed);
    let seq = sequence::sequence_svg(&seq_title, &names, rec.lane.items(), window);
    let Recorder { nodes, lane, .. } = rec;
    drop(lane);
    let title = format!("{} seed {} — view and phase of every node", r.scenario, r.seed);
    let timeline = sequence::timeline_svg(&title, &names, &nodes, end);
    drop(nodes);
    let heading = format!("Message-sequence chart of {which}");
    let figures =
        [("Heights over virtual time", heights_svg.as_str()), ("View and phase of every node", timeline.as_str())];
    let html = super::html::run_page(r, &figures, Some((&heading, &seq)));
    Ok(vec![("heights.svg", heights_svg), ("timeline.svg", timeline), ("sequence.svg", seq), ("index.html", html)])
}
