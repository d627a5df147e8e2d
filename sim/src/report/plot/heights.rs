//! One run over virtual time: the height reached (top) and, per finalised height, the
//! block interval and consensus latency on a log scale (bottom). Both panels share the
//! time axis and shade the run's disturbance windows; forks are crosses, a stall is named
//! in the title and drawn as a dashed line at the height it stalled.

use super::{RunData, Swatch, e, fmt_num, legend, log_bounds, view_color, window_color};
use plotters::coord::Shift;
use plotters::prelude::*;

const FORK: RGBColor = RGBColor(214, 39, 40);
const INTERVAL: RGBColor = RGBColor(31, 119, 180);
const CONSENSUS: RGBColor = RGBColor(255, 127, 14);

/// Shades every window over the full height of a chart with x in seconds; GST, which
/// has no end, is a vertical line.
fn shade<X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    d: &RunData,
    end_s: f64,
    (y0, y1): (f64, f64),
) -> Result<(), String> {
    for w in &d.windows {
        let from = w.from_ms / 1000.0;
        let c = window_color(&w.kind);
        if w.kind == "after-gst" {
            if from <= end_s {
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(from, y0), (from, y1)], c.stroke_width(3))))
                    .map_err(e)?;
            }
            continue;
        }
        let until = w.until_ms.map_or(end_s, |u| u / 1000.0).min(end_s);
        if until <= from {
            continue;
        }
        let alpha = if w.until_ms.is_none() { 0.08 } else { 0.18 };
        chart
            .draw_series(std::iter::once(Rectangle::new([(from, y0), (until, y1)], c.mix(alpha).filled())))
            .map_err(e)?;
    }
    Ok(())
}

/// A window's edge in seconds to the millisecond, as the narration and the page give it
/// ("15.05", not an axis label's three significant digits "15.1").
fn seconds(ms: f64) -> String {
    let s = format!("{:.3}", ms / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The legend entries for a run's windows (at most eight, then a count of the rest).
pub(crate) fn window_entries(d: &RunData) -> Vec<(String, Swatch)> {
    let mut out: Vec<(String, Swatch)> = d
        .windows
        .iter()
        .take(8)
        .map(|w| {
            let from = seconds(w.from_ms);
            if w.kind == "after-gst" {
                (format!("GST at {from} s"), Swatch::Line(window_color(&w.kind), 3))
            } else {
                let span = match w.until_ms {
                    Some(u) => format!("{from}–{} s", seconds(u)),
                    None => format!("{from} s–end"),
                };
                (format!("{} ({span})", w.label), Swatch::Shade(window_color(&w.kind)))
            }
        })
        .collect();
    if d.windows.len() > 8 {
        out.push((format!("… and {} more windows", d.windows.len() - 8), Swatch::Shade(RGBColor(200, 200, 200))));
    }
    out
}

/// The SVG of one run's heights over time.
pub fn svg(d: &RunData) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let title = format!("{} seed {} — heights over virtual time", d.scenario, d.seed);
        let root = root.titled(&title, (super::FONT, 20)).map_err(e)?;
        let (plots, side) = root.split_horizontally(860);
        let (top, bottom) = plots.split_vertically(360);
        draw_progress(&top, d)?;
        draw_latency(&bottom, d)?;
        let mut entries = vec![("height reached".to_string(), Swatch::Line(RGBColor(90, 90, 90), 2))];
        let mut views: Vec<u8> = d.per_height.iter().map(|h| h.view).collect();
        views.sort_unstable();
        views.dedup();
        entries.extend(views.iter().map(|&v| (format!("final in view {v}"), Swatch::Dot(view_color(v)))));
        if !d.fork_heights().is_empty() {
            entries.push(("fork (S1: two blocks final)".to_string(), Swatch::Cross(FORK)));
        }
        if d.stall_note().is_some() {
            entries.push(("stalled from here".to_string(), Swatch::Dash(FORK)));
        }
        entries.push(("block interval".to_string(), Swatch::Line(INTERVAL, 2)));
        entries.push(("consensus (proposal → final)".to_string(), Swatch::Line(CONSENSUS, 2)));
        entries.extend(window_entries(d));
        legend(&side, "legend", &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

fn end_s(d: &RunData) -> f64 {
    let last = d.per_height.last().map_or(0.0, |h| h.time_ms);
    // 3 % beyond the end, so a mark at the last instant (a fork that halted the run) shows.
    (d.sim_time_ms.max(last) / 1000.0 * 1.03).max(0.001)
}

fn draw_progress(area: &DrawingArea<SVGBackend, Shift>, d: &RunData) -> Result<(), String> {
    let end = end_s(d);
    let run_end = end / 1.03;
    let top_h = d.per_height.iter().map(|h| h.height).max().unwrap_or(0);
    let stalled_at = d.liveness.stall.as_ref().filter(|_| d.stall_note().is_some()).map_or(0, |s| s.height);
    let ymax = top_h.max(stalled_at).max(1) as f64 + 1.0;
    let caption = match d.stall_note() {
        Some(note) => format!("height reached — {note}"),
        None => "height reached (first finalisation by an honest node)".to_string(),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (super::FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..ymax)
        .map_err(e)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc("virtual time (s)")
        .y_desc("height")
        .x_label_formatter(&|v| fmt_num(*v))
        .y_labels((ymax as usize + 1).min(12))
        .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
        .draw()
        .map_err(e)?;
    shade(&mut chart, d, run_end, (0.0, ymax))?;
    let mut path = vec![(0.0, 0.0)];
    let mut prev = 0.0;
    for h in &d.per_height {
        let t = h.time_ms / 1000.0;
        path.push((t, prev));
        path.push((t, h.height as f64));
        prev = h.height as f64;
    }
    let last_t = d.per_height.last().map_or(0.0, |h| h.time_ms / 1000.0);
    if d.stall_note().is_some() {
        chart.draw_series(LineSeries::new(path, RGBColor(90, 90, 90).stroke_width(2))).map_err(e)?;
        // Dashes from the last finalisation to the end, at the height reached.
        let mut dashes = Vec::new();
        let step = (run_end - last_t) / 40.0;
        let mut t = last_t;
        while step > 0.0 && t < run_end {
            dashes.push(PathElement::new(vec![(t, prev), ((t + step * 0.6).min(run_end), prev)], FORK.stroke_width(2)));
            t += step;
        }
        chart.draw_series(dashes).map_err(e)?;
    } else {
        path.push((run_end, prev));
        chart.draw_series(LineSeries::new(path, RGBColor(90, 90, 90).stroke_width(2))).map_err(e)?;
    }
    chart
        .draw_series(
            d.per_height
                .iter()
                .map(|h| Circle::new((h.time_ms / 1000.0, h.height as f64), 4, view_color(h.view).filled())),
        )
        .map_err(e)?;
    let forks: Vec<(f64, f64)> = d
        .invariants
        .iter()
        .filter(|i| i.id == "S1")
        .flat_map(|i| i.violations.iter().map(|v| (v.time / 1000.0, v.height as f64)))
        .collect();
    chart.draw_series(forks.into_iter().map(|p| Cross::new(p, 7, FORK.stroke_width(3)))).map_err(e)?;
    Ok(())
}

fn draw_latency(area: &DrawingArea<SVGBackend, Shift>, d: &RunData) -> Result<(), String> {
    let end = end_s(d);
    let run_end = end / 1.03;
    // The first height's interval counts from the run's start, not from a block: it is
    // not drawn as a block interval.
    let intervals = || d.per_height.iter().skip(1).map(|h| (h.time_ms / 1000.0, h.interval_ms / 1000.0));
    let values =
        intervals().map(|p| p.1).chain(d.per_height.iter().filter_map(|h| h.consensus_ms).map(|ms| ms / 1000.0));
    let (caption, (lo, hi)) = match log_bounds(values) {
        Some(b) => ("per finalised height: block interval and consensus latency (log scale)", b),
        None => ("per finalised height: no height was finalised", (0.1, 10.0)),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (super::FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, super::LogAxis::new((lo, hi)))
        .map_err(e)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc("virtual time of finalisation (s)")
        .y_desc("latency (s, log)")
        .y_labels(10)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .draw()
        .map_err(e)?;
    shade(&mut chart, d, run_end, (lo, hi))?;
    let interval: Vec<(f64, f64)> = intervals().collect();
    let consensus: Vec<(f64, f64)> =
        d.per_height.iter().filter_map(|h| h.consensus_ms.map(|c| (h.time_ms / 1000.0, c / 1000.0))).collect();
    let positive = |v: &Vec<(f64, f64)>| v.iter().copied().filter(|p| p.1 > 0.0).collect::<Vec<_>>();
    let (interval, consensus) = (positive(&interval), positive(&consensus));
    chart.draw_series(LineSeries::new(interval.clone(), INTERVAL.stroke_width(1))).map_err(e)?;
    chart.draw_series(interval.iter().map(|&p| Circle::new(p, 3, INTERVAL.filled()))).map_err(e)?;
    chart.draw_series(LineSeries::new(consensus.clone(), CONSENSUS.stroke_width(1))).map_err(e)?;
    chart.draw_series(consensus.iter().map(|&p| TriangleMarker::new(p, 4, CONSENSUS.filled()))).map_err(e)?;
    Ok(())
}
