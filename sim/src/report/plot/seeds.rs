//! Plots of several runs: the seeds of one scenario, a directory of reports, or several
//! scenarios side by side (`compare`).
//!
//! - [`cdf_svg`]: latency CDFs — block interval, consensus, transaction confirmation — one
//!   line per group, with p50/p90/p99 marked on every line;
//! - [`progress_svg`]: height against virtual time, one line per run, windows shaded;
//! - [`views_svg`]: per height, how many runs finalised it in each view;
//! - [`messages_svg`]: per height, messages sent and bytes by type (mean over runs).

use super::heights::window_entries;
use super::{RunData, Swatch, color, e, fmt_num, legend, log_bounds, view_color, window_color};
use plotters::prelude::*;
use std::collections::BTreeMap;

/// A weighted sample: a value and how much of the distribution it stands for.
type Sample = (f64, f64);

/// Which latency a CDF panel shows.
#[derive(Clone, Copy)]
pub enum Metric {
    BlockInterval,
    Consensus,
    TxConfirm,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::BlockInterval, Metric::Consensus, Metric::TxConfirm];

    fn caption(self) -> &'static str {
        match self {
            Metric::BlockInterval => "block interval (between finalisations)",
            Metric::Consensus => "consensus (winning proposal → final)",
            Metric::TxConfirm => "transaction confirmation (arrival → final)",
        }
    }

    /// The samples of one run, in seconds. Heights weigh one each; a run's transactions
    /// come as its 101 percentiles, each weighing a 101st of its confirmed transactions.
    fn samples(self, d: &RunData) -> Vec<Sample> {
        match self {
            // The first height counts from the run's start, not from a block: left out.
            Metric::BlockInterval => d.per_height.iter().skip(1).map(|h| (h.interval_ms / 1000.0, 1.0)).collect(),
            Metric::Consensus => {
                d.per_height.iter().filter_map(|h| h.consensus_ms).map(|c| (c / 1000.0, 1.0)).collect()
            }
            Metric::TxConfirm => {
                let w = d.latency.tx_confirm_ms.map_or(0, |c| c.count) as f64
                    / d.tx_confirm_quantiles_ms.len().max(1) as f64;
                d.tx_confirm_quantiles_ms.iter().map(|q| (q / 1000.0, w)).collect()
            }
        }
    }
}

/// The empirical CDF of weighted samples: (value, cumulative fraction) steps.
pub fn cdf(mut xs: Vec<Sample>) -> Vec<(f64, f64)> {
    xs.retain(|s| s.0.is_finite() && s.0 > 0.0 && s.1 > 0.0);
    xs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = xs.iter().map(|s| s.1).sum();
    let mut acc = 0.0;
    xs.iter()
        .map(|&(v, w)| {
            acc += w;
            (v, acc / total)
        })
        .collect()
}

/// The smallest value whose cumulative fraction reaches `p` (nearest rank).
pub fn quantile(cdf: &[(f64, f64)], p: f64) -> Option<f64> {
    cdf.iter().find(|(_, f)| *f >= p - 1e-12).map(|(v, _)| *v)
}

const PCTS: [(f64, &str); 3] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")];

/// Latency CDFs, one panel per metric, one line per group of runs.
pub fn cdf_svg(title: &str, groups: &[(String, Vec<&RunData>)]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1480, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, (super::FONT, 20)).map_err(e)?;
        let (plots, side) = root.split_horizontally(1160);
        let areas = plots.split_evenly((1, 3));
        let mut notes = Vec::new();
        for (metric, area) in Metric::ALL.iter().zip(areas.iter()) {
            let lines: Vec<Vec<(f64, f64)>> =
                groups.iter().map(|(_, runs)| cdf(runs.iter().flat_map(|d| metric.samples(d)).collect())).collect();
            let bounds = log_bounds(lines.iter().flatten().map(|p| p.0));
            let caption = if bounds.is_some() {
                metric.caption().to_string()
            } else {
                format!("{}: no samples", metric.caption())
            };
            let (lo, hi) = bounds.unwrap_or((0.1, 10.0));
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (super::FONT, 15))
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(50)
                .build_cartesian_2d(super::LogAxis::new((lo, hi)), 0f64..1.02)
                .map_err(e)?;
            chart
                .configure_mesh()
                .max_light_lines(0)
                .x_desc("latency (s, log)")
                .x_labels(10)
                .y_desc("fraction ≤ x")
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .draw()
                .map_err(e)?;
            for (p, name) in PCTS {
                let grey = RGBColor(170, 170, 170);
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(lo, p), (hi, p)], grey.stroke_width(1))))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        name.to_string(),
                        (lo * 1.05, p - 0.005),
                        (super::FONT, 11).into_font().color(&grey),
                    )))
                    .map_err(e)?;
            }
            for (g, line) in lines.iter().enumerate() {
                let c = color(g);
                let mut steps = Vec::new();
                let mut prev = 0.0;
                for &(v, f) in line {
                    steps.push((v, prev));
                    steps.push((v, f));
                    prev = f;
                }
                chart.draw_series(LineSeries::new(steps, c.stroke_width(2))).map_err(e)?;
                let marks: Vec<(f64, f64)> =
                    PCTS.iter().filter_map(|&(p, _)| quantile(line, p).map(|v| (v, p))).collect();
                chart.draw_series(marks.iter().map(|&m| Circle::new(m, 4, c.filled()))).map_err(e)?;
                let q: Vec<String> = PCTS
                    .iter()
                    .filter_map(|&(p, name)| quantile(line, p).map(|v| format!("{name} {}", fmt_num(v))))
                    .collect();
                if !q.is_empty() {
                    notes.push((g, metric.caption().split(' ').next().unwrap_or(""), q.join(" ")));
                }
            }
        }
        let mut entries: Vec<(String, Swatch)> = Vec::new();
        for (g, (name, runs)) in groups.iter().enumerate() {
            let runs = match runs.len() {
                1 => "1 run".to_string(),
                n => format!("{n} runs"),
            };
            entries.push((format!("{name} ({runs})"), Swatch::Line(color(g), 2)));
            let mut any = false;
            for (_, metric, q) in notes.iter().filter(|n| n.0 == g) {
                entries.push((format!("  {metric}: {q} s"), Swatch::Dot(color(g))));
                any = true;
            }
            if !any {
                // Nothing of this group is drawn: say why rather than show a colour that
                // appears nowhere.
                entries.push(("  no samples: no height finalised".to_string(), Swatch::Dot(color(g))));
            }
        }
        legend(&side, "runs (• = p50, p90, p99)", &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// Height against virtual time, one line per run; the first run's windows shaded.
pub fn progress_svg(title: &str, runs: &[&RunData]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, (super::FONT, 20)).map_err(e)?;
        let (plot, side) = root.split_horizontally(860);
        let end = runs.iter().map(|d| d.sim_time_ms / 1000.0).fold(0.001, f64::max) * 1.03;
        let top = runs.iter().flat_map(|d| d.per_height.iter().map(|h| h.height)).max().unwrap_or(0).max(1);
        let ymax = top as f64 + 1.0;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..end, 0f64..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_desc("virtual time (s)")
            .y_desc("height reached")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
            .draw()
            .map_err(e)?;
        if let Some(first) = runs.first() {
            for w in &first.windows {
                let from = w.from_ms / 1000.0;
                let c = window_color(&w.kind);
                if w.kind == "after-gst" {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(from, 0.0), (from, ymax)],
                            c.stroke_width(3),
                        )))
                        .map_err(e)?;
                    continue;
                }
                let until = w.until_ms.map_or(end / 1.03, |u| u / 1000.0).min(end / 1.03);
                if until > from {
                    let alpha = if w.until_ms.is_none() { 0.08 } else { 0.18 };
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(from, 0.0), (until, ymax)],
                            c.mix(alpha).filled(),
                        )))
                        .map_err(e)?;
                }
            }
        }
        let mut entries = Vec::new();
        for (i, d) in runs.iter().enumerate() {
            let c = color(i);
            let mut path = vec![(0.0, 0.0)];
            let mut prev = 0.0;
            for h in &d.per_height {
                path.push((h.time_ms / 1000.0, prev));
                path.push((h.time_ms / 1000.0, h.height as f64));
                prev = h.height as f64;
            }
            path.push((d.sim_time_ms / 1000.0, prev));
            chart.draw_series(LineSeries::new(path, c.stroke_width(2))).map_err(e)?;
            if d.stall_note().is_some() {
                chart
                    .draw_series(std::iter::once(Cross::new((d.sim_time_ms / 1000.0, prev), 6, c.stroke_width(3))))
                    .map_err(e)?;
            }
            if i < 12 {
                let what = d.stall_note().unwrap_or_else(|| d.outcome.kind.clone());
                entries.push((format!("{} seed {}: {what}", d.scenario, d.seed), Swatch::Line(c, 2)));
            }
        }
        if runs.len() > 12 {
            entries.push((format!("… and {} more runs", runs.len() - 12), Swatch::Line(RGBColor(200, 200, 200), 2)));
        }
        if runs.iter().any(|d| d.stall_note().is_some()) {
            entries.push(("× run ended stalled".to_string(), Swatch::Cross(RGBColor(90, 90, 90))));
        }
        if let Some(first) = runs.first() {
            entries.extend(window_entries(first));
        }
        legend(&side, "", &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// Per height, how many runs finalised it in each view (stacked bars).
pub fn views_svg(title: &str, runs: &[&RunData]) -> Result<String, String> {
    let mut counts: BTreeMap<u32, BTreeMap<u8, u32>> = BTreeMap::new();
    for d in runs {
        for h in &d.per_height {
            *counts.entry(h.height).or_default().entry(h.view).or_insert(0) += 1;
        }
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, (super::FONT, 20)).map_err(e)?;
        let (plot, side) = root.split_horizontally(860);
        let hmax = counts.keys().next_back().copied().unwrap_or(1);
        // Only finalised heights have a final view: a run that finalised none draws no bar.
        let caption = if counts.is_empty() { "no height finalised by any run" } else { "" };
        let mut chart = ChartBuilder::on(&plot)
            .caption(caption, (super::FONT, 15))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5f64..hmax as f64 + 0.5, 0f64..runs.len().max(1) as f64 * 1.05)
            .map_err(e)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .disable_x_mesh()
            .x_desc("height")
            .y_desc("runs")
            .x_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
            .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
            .draw()
            .map_err(e)?;
        let mut seen = std::collections::BTreeSet::new();
        for (&h, by_view) in &counts {
            let mut base = 0.0;
            for (&v, &n) in by_view {
                seen.insert(v);
                let x = h as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.4, base), (x + 0.4, base + n as f64)],
                        view_color(v).filled(),
                    )))
                    .map_err(e)?;
                base += n as f64;
            }
        }
        let entries: Vec<(String, Swatch)> =
            seen.iter().map(|&v| (format!("final in view {v}"), Swatch::Box(view_color(v)))).collect();
        legend(&side, &format!("{} runs", runs.len()), &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// Per height: messages sent and bytes by type, the mean over the runs that finalised
/// the height (stacked bars, two panels).
pub fn messages_svg(title: &str, runs: &[&RunData]) -> Result<String, String> {
    // height → type → (sum sent, sum bytes, runs)
    let mut sums: BTreeMap<u32, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    let mut runs_at: BTreeMap<u32, f64> = BTreeMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    for d in runs {
        for h in &d.per_height {
            *runs_at.entry(h.height).or_insert(0.0) += 1.0;
            for (k, c) in &h.messages {
                kinds.insert(k.clone());
                let s = sums.entry(h.height).or_default().entry(k.clone()).or_insert((0.0, 0.0));
                s.0 += c.sent as f64;
                s.1 += c.bytes as f64;
            }
        }
    }
    let kinds: Vec<String> = kinds.into_iter().collect();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, (super::FONT, 20)).map_err(e)?;
        let (plots, side) = root.split_horizontally(860);
        let (top, bottom) = plots.split_vertically(300);
        let hmax = sums.keys().next_back().copied().unwrap_or(1);
        for (panel, area) in [(0usize, &top), (1, &bottom)] {
            let total = |h: &u32| {
                let n = runs_at.get(h).copied().unwrap_or(1.0);
                sums[h].values().map(|s| if panel == 0 { s.0 } else { s.1 / 1024.0 }).sum::<f64>() / n
            };
            let ymax = sums.keys().map(total).fold(1.0, f64::max) * 1.08;
            let (caption, y_desc) = if panel == 0 {
                ("messages sent per height (a broadcast counts once; mean over runs)", "messages")
            } else {
                ("bytes sent per height (mean over runs)", "KiB")
            };
            // Heights are counted once finalised: a run that finalised none has no bars.
            let caption = if sums.is_empty() {
                format!("{caption}: no height finalised by any run")
            } else {
                caption.to_string()
            };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (super::FONT, 15))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.5f64..hmax as f64 + 0.5, 0f64..ymax)
                .map_err(e)?;
            chart
                .configure_mesh()
                .max_light_lines(0)
                .disable_x_mesh()
                .x_desc("height")
                .y_desc(y_desc)
                .x_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
                .y_label_formatter(&|v| fmt_num(*v))
                .draw()
                .map_err(e)?;
            for (&h, by_kind) in &sums {
                let n = runs_at.get(&h).copied().unwrap_or(1.0);
                let mut base = 0.0;
                for (i, k) in kinds.iter().enumerate() {
                    let Some(s) = by_kind.get(k) else { continue };
                    let v = if panel == 0 { s.0 } else { s.1 / 1024.0 } / n;
                    let x = h as f64;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x - 0.4, base), (x + 0.4, base + v)],
                            color(i).filled(),
                        )))
                        .map_err(e)?;
                    base += v;
                }
            }
        }
        let entries: Vec<(String, Swatch)> =
            kinds.iter().enumerate().map(|(i, k)| (k.clone(), Swatch::Box(color(i)))).collect();
        legend(&side, "message type", &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_cdf_and_quantiles() {
        let c = cdf(vec![(3.0, 1.0), (1.0, 1.0), (2.0, 2.0), (0.0, 5.0)]);
        // The zero is dropped (no log position); weights 1, 2, 1 of 4.
        assert_eq!(c, vec![(1.0, 0.25), (2.0, 0.75), (3.0, 1.0)]);
        assert_eq!(quantile(&c, 0.5), Some(2.0));
        assert_eq!(quantile(&c, 0.25), Some(1.0));
        assert_eq!(quantile(&c, 0.99), Some(3.0));
    }
}
