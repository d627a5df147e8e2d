//! Plots (SVG through plotters; SVG needs no fonts on the machine, so the output is the
//! same everywhere).
//!
//! - `heights_svg`: one run, height by height — the block interval and the consensus
//!   latency, each point coloured by the view the height was final in. `dbft-sim run`
//!   writes it next to the report.
//! - `lines_svg`: a family of lines (one per network model, say) over a numeric x axis;
//!   `dbft-sim plot` uses it for latency against validator count and against fault load.

use super::Report;
use plotters::prelude::*;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Point colours by final view: view 0 dark, then warmer as views grow.
const VIEW_COLORS: [RGBColor; 5] = [
    RGBColor(60, 60, 60),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn view_color(view: u8) -> RGBColor {
    VIEW_COLORS[(view as usize).min(VIEW_COLORS.len() - 1)]
}

/// Per-height block interval and consensus latency of one run, in seconds.
pub fn heights_svg(r: &Report) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = r.per_height.len().max(1) as u32;
        let ymax = r.per_height.iter().map(|h| h.interval_ms.max(h.consensus_ms.unwrap_or(0.0))).fold(1.0f64, f64::max)
            / 1000.0
            * 1.1;
        let caption = format!("{} seed {} — per height", r.scenario, r.seed);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0u32..n + 1, 0f64..ymax)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("height").y_desc("seconds").draw().map_err(|e| e.to_string())?;
        let interval: Vec<(u32, f64)> = r.per_height.iter().map(|h| (h.height, h.interval_ms / 1000.0)).collect();
        chart
            .draw_series(LineSeries::new(interval.clone(), COLORS[0].stroke_width(1)))
            .map_err(|e| e.to_string())?
            .label("block interval")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], COLORS[0]));
        let mut views: Vec<u8> = r.per_height.iter().map(|h| h.view).collect();
        views.sort_unstable();
        views.dedup();
        for v in views {
            let c = view_color(v);
            let points = r.per_height.iter().filter(|h| h.view == v);
            chart
                .draw_series(points.map(|h| Circle::new((h.height, h.interval_ms / 1000.0), 4, c.filled())))
                .map_err(|e| e.to_string())?
                .label(format!("final in view {v}"))
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        let consensus: Vec<(u32, f64)> =
            r.per_height.iter().filter_map(|h| h.consensus_ms.map(|c| (h.height, c / 1000.0))).collect();
        chart
            .draw_series(LineSeries::new(consensus, COLORS[1].stroke_width(1)))
            .map_err(|e| e.to_string())?
            .label("consensus (proposal → final)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], COLORS[1]));
        draw_legend(&mut chart)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One named line of a line chart. Lines that share `color` belong together (one network
/// model); `hollow` draws hollow triangles and a thin line (a second statistic of it).
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: usize,
    pub hollow: bool,
}

/// Lines over a numeric x axis.
pub fn lines_svg(title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let pts = lines.iter().flat_map(|l| l.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        let pad = ((x1 - x0) * 0.05).max(0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0 - pad..x1 + pad, 0f64..(y1 * 1.15).max(1.0))
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(|e| e.to_string())?;
        for l in lines {
            let c = COLORS[l.color % COLORS.len()];
            let width = if l.hollow { 1 } else { 2 };
            let hollow = l.hollow;
            chart
                .draw_series(LineSeries::new(l.points.clone(), c.stroke_width(width)))
                .map_err(|e| e.to_string())?
                .label(l.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(width)));
            if hollow {
                chart
                    .draw_series(l.points.iter().map(|&p| TriangleMarker::new(p, 5, c.stroke_width(1))))
                    .map_err(|e| e.to_string())?;
            } else {
                chart
                    .draw_series(l.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        draw_legend(&mut chart)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The legend box every chart here draws over its series.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())
}
