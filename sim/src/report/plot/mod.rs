//! Plots, as SVG through plotters (SVG needs no fonts on the machine, so a plot of a given
//! report is the same file everywhere).
//!
//! Every plot reads [`RunData`], the part of a `report.json` plots need, so a plot can be
//! drawn from a run just made or from report files on disk (`dbft-sim plot DIR`).
//!
//! - [`heights`]: one run over virtual time — height reached, and per height the block
//!   interval and consensus latency on a log scale — with the run's disturbance windows
//!   (crashes, partitions, GST, hand-offs) shaded, forks marked and a stall named.
//! - [`seeds`]: one scenario over several seeds (or any set of reports): latency CDFs with
//!   p50/p90/p99 marked, height against time, views per height, messages and bytes per
//!   height by type; `compare` overlays the CDFs of several scenarios.
//! - [`matrix`]: the `dbft-sim plot` sweep — latency against validator count and against
//!   crashed validators, every seed shown.
//! - [`sequence`]: a message-sequence chart of a height window and a per-node view/phase
//!   timeline, drawn as plain SVG.

pub mod heights;
pub mod matrix;
pub mod seeds;
pub mod sequence;

use crate::report::windows::Window;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the plots read from a report. Deserialised from `report.json` (so reports on
/// disk can be plotted) or from a report just built.
#[derive(Clone, Debug, Deserialize)]
pub struct RunData {
    pub scenario: String,
    pub seed: u64,
    pub sim_time_ms: f64,
    pub outcome: OutcomeData,
    pub per_height: Vec<HeightData>,
    #[serde(default)]
    pub tx_confirm_quantiles_ms: Vec<f64>,
    pub latency: LatencyData,
    #[serde(default)]
    pub windows: Vec<Window>,
    pub liveness: LivenessData,
    pub invariants: Vec<InvariantData>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OutcomeData {
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HeightData {
    pub height: u32,
    pub time_ms: f64,
    pub view: u8,
    pub interval_ms: f64,
    pub consensus_ms: Option<f64>,
    #[serde(default)]
    pub messages: BTreeMap<String, SentBytesData>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct SentBytesData {
    pub sent: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LatencyData {
    /// None: no transaction was confirmed (an empty distribution is `null`).
    #[serde(default)]
    pub tx_confirm_ms: Option<CountData>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct CountData {
    pub count: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LivenessData {
    pub status: String,
    pub stall: Option<StallData>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StallData {
    pub class: String,
    pub height: u32,
    pub view: u8,
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvariantData {
    pub id: String,
    pub violations: Vec<ViolationData>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ViolationData {
    pub height: u32,
    pub time: f64,
}

impl RunData {
    /// The plot data of a report just built.
    pub fn of(r: &super::Report) -> Result<RunData, String> {
        // Through the JSON text, not a `Value` tree: a long run's tree is tens of megabytes.
        let text = serde_json::to_string(r).map_err(|e| e.to_string())?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    /// The plot data of a parsed `report.json`.
    pub fn from_value(v: serde_json::Value) -> Result<RunData, String> {
        serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    /// The heights at which two blocks were finalised (S1 violations): forks.
    pub fn fork_heights(&self) -> Vec<u32> {
        let mut hs: Vec<u32> = self
            .invariants
            .iter()
            .filter(|i| i.id == "S1")
            .flat_map(|i| i.violations.iter().map(|v| v.height))
            .collect();
        hs.sort_unstable();
        hs.dedup();
        hs
    }

    /// "stalled at h1 v0: commit-lock" when the run stalled (its liveness failed: a run
    /// that reached its heights keeps the end-of-run diagnosis, which is not a stall).
    pub fn stall_note(&self) -> Option<String> {
        self.liveness
            .stall
            .as_ref()
            .filter(|_| self.liveness.status != "holds")
            .map(|s| format!("stalled at h{} v{}: {}", s.height, s.view, s.class))
    }
}

pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

pub(crate) fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Point colours by final view: view 0 dark grey, then distinct colours as views grow.
const VIEW_COLORS: [RGBColor; 5] = [
    RGBColor(60, 60, 60),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
];

pub(crate) fn view_color(view: u8) -> RGBColor {
    VIEW_COLORS[(view as usize).min(VIEW_COLORS.len() - 1)]
}

/// Shading of a disturbance window by its kind.
pub(crate) fn window_color(kind: &str) -> RGBColor {
    match kind {
        "crash" => RGBColor(214, 39, 40),
        "partition" => RGBColor(148, 103, 189),
        "degraded" => RGBColor(188, 189, 34),
        "timer-suppressed" => RGBColor(140, 86, 75),
        "after-gst" => RGBColor(0, 90, 0),
        _ => RGBColor(31, 119, 180),
    }
}

pub(crate) const FONT: &str = "sans-serif";

/// A number as a tick label: at most three significant digits, no trailing zeros
/// ("45", "0.25", "1.5", "1200").
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        let digits = (-a.log10().floor()) as usize + 2;
        format!("{v:.digits$}")
    };
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

pub(crate) fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub(crate) enum Swatch {
    Line(RGBColor, u32),
    Dot(RGBColor),
    Ring(RGBColor),
    Box(RGBColor),
    Cross(RGBColor),
    Shade(RGBColor),
    Dash(RGBColor),
}

/// Draws a legend into its own area (beside the plot, so it never covers data).
pub(crate) fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    entries: &[(String, Swatch)],
) -> Result<(), String> {
    let style = (FONT, 13).into_font();
    let mut y = 8;
    if !title.is_empty() {
        area.draw(&Text::new(title.to_string(), (6, y), (FONT, 13).into_font().style(FontStyle::Bold))).map_err(e)?;
        y += 20;
    }
    for (label, sw) in entries {
        let (x, cy) = (8, y + 7);
        match *sw {
            Swatch::Line(c, w) => {
                area.draw(&PathElement::new(vec![(x, cy), (x + 22, cy)], c.stroke_width(w))).map_err(e)?
            }
            Swatch::Dash(c) => {
                for k in 0..3 {
                    area.draw(&PathElement::new(vec![(x + k * 8, cy), (x + k * 8 + 5, cy)], c.stroke_width(2)))
                        .map_err(e)?
                }
            }
            Swatch::Dot(c) => area.draw(&Circle::new((x + 11, cy), 4, c.filled())).map_err(e)?,
            Swatch::Ring(c) => area.draw(&Circle::new((x + 11, cy), 4, c.stroke_width(1))).map_err(e)?,
            Swatch::Cross(c) => area.draw(&Cross::new((x + 11, cy), 6, c.stroke_width(3))).map_err(e)?,
            Swatch::Box(c) => area.draw(&Rectangle::new([(x, cy - 6), (x + 22, cy + 6)], c.filled())).map_err(e)?,
            Swatch::Shade(c) => {
                area.draw(&Rectangle::new([(x, cy - 6), (x + 22, cy + 6)], c.mix(0.25).filled())).map_err(e)?
            }
        }
        // Long labels wrap at spaces to the area's width (about 6.5 px per character at
        // this size), continuation lines indented, rather than run off the picture.
        let width = area.dim_in_pixel().0 as usize;
        let fits = width.saturating_sub(x as usize + 34) * 2 / 13;
        for (k, line) in wrap(label, fits.max(12)).iter().enumerate() {
            let indent = if k == 0 { 30 } else { 40 };
            area.draw(&Text::new(line.clone(), (x + indent, y), style.clone())).map_err(e)?;
            y += if k == 0 { 20 } else { 16 };
        }
        if label.is_empty() {
            y += 20;
        }
    }
    Ok(())
}

/// `text` cut into lines of at most `width` characters at spaces (a word longer than the
/// width stands alone). Leading spaces of the first line are kept (legend sub-entries
/// are indented with them).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let lead = text.len() - text.trim_start().len();
    let mut lines: Vec<String> = Vec::new();
    let mut cur = text[..lead].to_string();
    // Whether `cur` holds a word yet (a continuation line starts empty, the first with
    // the indent).
    let mut has_word = false;
    for word in text.split_whitespace() {
        let len = cur.chars().count();
        if has_word && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        } else if has_word {
            cur.push(' ');
        }
        cur.push_str(word);
        has_word = true;
    }
    if !cur.trim().is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A logarithmic axis whose ticks are 1, 2 and 5 times powers of ten (plotters' own log
/// axis labels only some powers of ten, leaving a range like 0.15–0.45 s unlabelled).
#[derive(Clone, Copy, Debug)]
pub struct LogAxis {
    lo: f64,
    hi: f64,
}

impl LogAxis {
    pub fn new((lo, hi): (f64, f64)) -> LogAxis {
        let lo = if lo > 0.0 && lo.is_finite() { lo } else { 1e-3 };
        let hi = if hi > lo && hi.is_finite() { hi } else { lo * 10.0 };
        LogAxis { lo, hi }
    }

    /// Candidate ticks with the given mantissas, inside the range.
    fn ticks(&self, mantissas: &[f64]) -> Vec<f64> {
        let (a, b) = (self.lo.log10().floor() as i32, self.hi.log10().ceil() as i32);
        let mut out = Vec::new();
        for k in a..=b {
            for m in mantissas {
                let v = m * 10f64.powi(k);
                // Round away binary noise so labels read "0.2", not "0.20000000000000004".
                let v = (v * 1e9).round() / 1e9;
                if v >= self.lo && v <= self.hi {
                    out.push(v);
                }
            }
        }
        out
    }
}

impl Ranged for LogAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.lo.ln(), self.hi.ln());
        let v = value.max(self.lo * 1e-6).ln();
        let f = (v - a) / (b - a);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points();
        // Finest first: within a decade 1.5 and 7 keep the data's own region labelled
        // (15 s block intervals on a 10–23 s axis had no tick below 20).
        for m in [&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0][..], &[1.0, 2.0, 3.0, 5.0], &[1.0, 2.0, 5.0], &[1.0, 3.0], &[1.0]] {
            let t = self.ticks(m);
            if t.len() <= max && t.len() >= 2 {
                return t;
            }
        }
        let t = self.ticks(&[1.0]);
        if t.len() > max && max > 0 {
            let step = t.len().div_ceil(max);
            return t.into_iter().step_by(step).collect();
        }
        if t.len() < 2 { vec![self.lo, self.hi] } else { t }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Log-scale bounds around positive values (a decade margin is too much; ×1.5 is enough).
pub(crate) fn log_bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (hi > 0.0).then(|| (lo / 1.5, hi * 1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_labels_wrap_at_spaces() {
        assert_eq!(
            wrap("crash-lock-4 seed 1: stalled at h1 v0: commit-lock", 28),
            ["crash-lock-4 seed 1: stalled", "at h1 v0: commit-lock"]
        );
        assert_eq!(wrap("  block: p50 1 s", 40), ["  block: p50 1 s"], "a sub-entry keeps its indent");
        assert_eq!(wrap("short", 40), ["short"]);
        assert_eq!(wrap("", 40), [""]);
        assert_eq!(wrap("averyveryverylongword x", 5), ["averyveryverylongword", "x"]);
        // Short words after a break keep their spaces (an indented entry wrapped).
        assert_eq!(wrap("  consensus: 1 s", 12), ["  consensus:", "1 s"]);
        assert_eq!(wrap("  ab cd e f", 5), ["  ab", "cd e", "f"]);
    }

    #[test]
    fn tick_labels_have_no_trailing_zeros() {
        assert_eq!(fmt_num(45.0), "45");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(1200.0), "1200");
        assert_eq!(fmt_num(0.001), "0.001");
        assert_eq!(fmt_num(12.5), "12.5");
        assert_eq!(fmt_num(0.0), "0");
    }

    #[test]
    fn log_axis_ticks_are_round_numbers() {
        use plotters::coord::ranged1d::Ranged;
        assert_eq!(LogAxis::new((0.15, 0.45)).key_points(10usize), vec![0.15, 0.2, 0.3]);
        // Within a decade: the data's region (15 s intervals) gets a tick, and no end of
        // the range stands in for one ("10, 22.7").
        assert_eq!(LogAxis::new((10.02, 22.7)).key_points(10usize), vec![15.0, 20.0]);
        assert_eq!(LogAxis::new((8.0, 250.0)).key_points(8usize), vec![10.0, 20.0, 30.0, 50.0, 100.0, 200.0]);
        assert_eq!(LogAxis::new((0.001, 1000.0)).key_points(8usize), vec![0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]);
        let axis = LogAxis::new((1.0, 100.0));
        assert_eq!((axis.map(&1.0, (0, 200)), axis.map(&10.0, (0, 200)), axis.map(&100.0, (0, 200))), (0, 100, 200));
    }
}
