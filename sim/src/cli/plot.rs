//! `dbft-sim plot`: latency across network models, validator counts and fault loads.
//!
//! Runs a matrix of honest scenarios — every network preset × validator count, and every
//! preset × number of crashed validators — for a few seeds each, and writes:
//! - `consensus-vs-validators.svg`: median consensus latency (winning proposal → final)
//!   against N, one line per network model;
//! - `interval-vs-crashed.svg`: block interval (p50 and p99 over heights) against how many
//!   of N=7 validators crashed at start, one line per network model and percentile;
//! - `plot-data.json`: every point with the seeds' individual values.

use super::parallel;
use crate::report::OutcomeKind;
use crate::report::Report;
use crate::report::files::write_atomic;
use crate::report::plot::{Line, lines_svg};
use crate::scenario;
use crate::world;
use serde::Serialize;
use std::path::PathBuf;

pub struct PlotOptions {
    pub out: PathBuf,
    pub seeds: Vec<u64>,
    pub heights: u32,
    pub block_time_ms: u64,
    pub validators: Vec<u32>,
    pub jobs: usize,
}

const NETWORKS: [&str; 4] = ["lan", "wan", "lossy", "heavy-tail"];

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
struct Cell {
    network: &'static str,
    validators: u32,
    crashed: u32,
    seed: u64,
}

#[derive(Debug, Serialize)]
struct Point {
    #[serde(flatten)]
    cell: Cell,
    consensus_p50_ms: f64,
    interval_p50_ms: f64,
    interval_p99_ms: f64,
    max_view: u8,
    heights: u32,
    outcome: OutcomeKind,
}

fn scenario_text(c: &Cell, heights: u32, block_time_ms: u64) -> String {
    // Crash the validators after R0 and R1 at start (the first primaries keep running),
    // so crashed primaries cost view changes at their turns.
    let crashes: Vec<String> = (0..c.crashed).map(|i| format!(r#"{{"node": "R{}", "at_ms": 0}}"#, 2 + i * 2)).collect();
    format!(
        r#"{{"name": "plot", "validators": {}, "protocol": {{"block_time_ms": {block_time_ms}}},
            "network": {{"preset": "{}"}}, "faults": {{"crashes": [{}]}},
            "stop": {{"heights": {heights}, "duration_ms": {}}}}}"#,
        c.validators,
        c.network,
        crashes.join(", "),
        block_time_ms * 400
    )
}

fn measure(c: &Cell, heights: u32, block_time_ms: u64) -> Result<Point, String> {
    let spec = scenario::parse(&scenario_text(c, heights, block_time_ms), "plot").map_err(|e| e.to_string())?;
    let r = Report::build(&spec, &world::run(&spec, c.seed, None, false));
    Ok(Point {
        cell: c.clone(),
        consensus_p50_ms: r.latency.consensus_ms.p50,
        interval_p50_ms: r.latency.block_interval_ms.p50,
        interval_p99_ms: r.latency.block_interval_ms.p99,
        max_view: r.per_height.iter().map(|h| h.view).max().unwrap_or(0),
        heights: r.heights.finalised,
        outcome: r.outcome.kind,
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn plot(o: PlotOptions) -> i32 {
    let mut cells = Vec::new();
    for net in NETWORKS {
        for &n in &o.validators {
            for &seed in &o.seeds {
                cells.push(Cell { network: net, validators: n, crashed: 0, seed });
            }
        }
        for crashed in 1..=2 {
            for &seed in &o.seeds {
                cells.push(Cell { network: net, validators: 7, crashed, seed });
            }
        }
    }
    let results = parallel::map("plot", &cells, o.jobs, |c| measure(c, o.heights, o.block_time_ms));
    let mut points = Vec::new();
    for r in results {
        match r {
            Ok(p) => points.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    // Runs that did not finalise every height (a stall within the time limit) are left out
    // of the means and listed below.
    let target = o.heights;
    let by = |net: &str, f: &dyn Fn(&Point) -> bool| -> Vec<&Point> {
        points.iter().filter(|p| p.cell.network == net && p.heights >= target && f(p)).collect()
    };
    let mut vs_n = Vec::new();
    let mut vs_crashed = Vec::new();
    for (color, net) in NETWORKS.into_iter().enumerate() {
        let pts = o
            .validators
            .iter()
            .filter_map(|&n| {
                let cell = by(net, &|p| p.cell.crashed == 0 && p.cell.validators == n);
                mean(cell.iter().map(|p| p.consensus_p50_ms)).map(|m| (n as f64, m))
            })
            .collect();
        vs_n.push(Line { label: net.to_string(), points: pts, color, hollow: false });
        for (pct, pick) in [("p50", 0), ("p99", 1)] {
            let pts = (0..=2u32)
                .filter_map(|k| {
                    let cell = by(net, &|p| p.cell.validators == 7 && p.cell.crashed == k);
                    let v = cell.iter().map(|p| if pick == 0 { p.interval_p50_ms } else { p.interval_p99_ms });
                    mean(v).map(|m| (k as f64, m / 1000.0))
                })
                .collect();
            vs_crashed.push(Line { label: format!("{net} {pct}"), points: pts, color, hollow: pick == 1 });
        }
    }
    let seeds = format!("{} seed(s)", o.seeds.len());
    let files = [
        (
            "consensus-vs-validators.svg",
            lines_svg(
                &format!("consensus latency (median over heights, mean of {seeds}) vs validators"),
                "validators N",
                "milliseconds",
                &vs_n,
            ),
        ),
        (
            "interval-vs-crashed.svg",
            lines_svg(
                &format!("block interval vs validators crashed at start, N = 7 (mean of {seeds})"),
                "crashed validators",
                "seconds",
                &vs_crashed,
            ),
        ),
        ("plot-data.json", serde_json::to_string_pretty(&points).map_err(|e| e.to_string())),
    ];
    for (name, content) in files {
        let path = o.out.join(name);
        let written = content.and_then(|c| write_atomic(&path, c.as_bytes()).map_err(|e| e.to_string()));
        match written {
            Ok(()) => say!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return 2;
            }
        }
    }
    for p in points.iter().filter(|p| p.outcome != OutcomeKind::Ok || p.heights < target) {
        say!(
            "note: {} N={} crashed={} seed {} ended {} after {} of {target} heights (left out of the means)",
            p.cell.network,
            p.cell.validators,
            p.cell.crashed,
            p.cell.seed,
            p.outcome,
            p.heights
        );
    }
    0
}
