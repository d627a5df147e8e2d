//! Charts of a sweep: a value measured per (series, category, seed), e.g. consensus
//! latency per (network model, validator count, seed). The x axis is categorical — only
//! the measured categories appear — and series sit side by side within a category so none
//! hides another. Every seed is a dot; the line joins the medians over seeds. The y axis is
//! logarithmic, because the values of different series differ by decades (LAN against WAN).

use super::{Swatch, color, e, fmt_num, legend, log_bounds};
use plotters::prelude::*;

/// One panel: per series, per category, the values of the seeds that counted.
pub struct Panel {
    pub caption: String,
    pub y_desc: String,
    pub values: Vec<Vec<Vec<f64>>>,
}

/// The median of a sample (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Panels side by side sharing the categories and series; `note` goes under the title.
pub fn svg(
    title: &str,
    note: &str,
    x_desc: &str,
    categories: &[String],
    series: &[String],
    panels: &[Panel],
) -> Result<String, String> {
    let mut out = String::new();
    {
        let width = 200 + 560 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut out, (width, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, (super::FONT, 20)).map_err(e)?;
        let (note_area, root) = root.split_vertically(24);
        note_area.draw(&Text::new(note.to_string(), (20, 2), (super::FONT, 13).into_font())).map_err(e)?;
        let (plots, side) = root.split_horizontally(width - 200);
        let areas = plots.split_evenly((1, panels.len().max(1)));
        let k = categories.len().max(1);
        let dodge = |s: usize| {
            let n = series.len().max(1) as f64;
            (s as f64 - (n - 1.0) / 2.0) * (0.6 / n)
        };
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let all = panel.values.iter().flatten().flatten().copied();
            let (lo, hi) = log_bounds(all).unwrap_or((0.1, 10.0));
            let mut chart = ChartBuilder::on(area)
                .caption(panel.caption.clone(), (super::FONT, 16))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.5f64..k as f64 - 0.5, super::LogAxis::new((lo, hi)))
                .map_err(e)?;
            let label = |v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    categories.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .max_light_lines(0)
                .disable_x_mesh()
                .x_desc(x_desc)
                .y_desc(panel.y_desc.as_str())
                .x_labels(k + 1)
                .x_label_formatter(&label)
                .y_labels(10)
                .y_label_formatter(&|v| fmt_num(*v))
                .draw()
                .map_err(e)?;
            for (s, per_cat) in panel.values.iter().enumerate() {
                let c = color(s);
                let dx = dodge(s);
                let mut medians = Vec::new();
                for (i, seeds) in per_cat.iter().enumerate() {
                    let x = i as f64 + dx;
                    chart
                        .draw_series(
                            seeds.iter().filter(|v| **v > 0.0).map(|&v| Circle::new((x, v), 4, c.stroke_width(1))),
                        )
                        .map_err(e)?;
                    if let Some(m) = median(seeds).filter(|m| *m > 0.0) {
                        medians.push((x, m));
                    }
                }
                chart.draw_series(LineSeries::new(medians.clone(), c.stroke_width(2))).map_err(e)?;
                chart.draw_series(medians.iter().map(|&p| Circle::new(p, 5, c.filled()))).map_err(e)?;
            }
        }
        let mut entries: Vec<(String, Swatch)> =
            series.iter().enumerate().map(|(i, s)| (s.clone(), Swatch::Line(color(i), 2))).collect();
        entries.push(("ring: one seed".to_string(), Swatch::Ring(RGBColor(150, 150, 150))));
        entries.push(("dot and line: median of seeds".to_string(), Swatch::Dot(RGBColor(150, 150, 150))));
        legend(&side, "network", &entries)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_middle_value() {
        assert_eq!(median(&[129.0, 571.0, 200.0]), Some(200.0));
        assert_eq!(median(&[129.0, 571.0]), Some(350.0));
        assert_eq!(median(&[]), None);
    }
}
