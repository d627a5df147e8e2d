//! `dbft-sim plot` and `dbft-sim compare`.
//!
//! - `plot` with no input: the sweep — a matrix of honest scenarios (every network preset
//!   × validator count, and every preset × crashed validators) for a few seeds each:
//!   `consensus-vs-validators.svg`, `interval-vs-crashed.svg` and `plot-data.json` with
//!   every seed's values.
//! - `plot <scenario.json> [--seeds 1..N]`, `plot <DIR>` (every `report.json` under it):
//!   the runs' latency CDFs, height against time, views per height, messages and bytes per
//!   height by type.
//! - `compare A B ...`: the latency CDFs of several scenarios or report directories
//!   overlaid, one line each.

use super::parallel;
use crate::report::Report;
use crate::report::files::write_atomic;
use crate::report::plot::matrix::{self, Panel};
use crate::report::plot::{RunData, seeds};
use crate::report::{FORMAT, OutcomeKind};
use crate::scenario;
use crate::world;
use serde::Serialize;
use std::path::{Path, PathBuf};

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

/// Writes every (file name, content) pair under `out`; exit code 2 on the first failure.
fn write_all(out: &Path, files: Vec<(&str, Result<String, String>)>) -> i32 {
    for (name, content) in files {
        let path = out.join(name);
        let written = content.and_then(|c| write_atomic(&path, c.as_bytes()).map_err(|e| e.to_string()));
        match written {
            Ok(()) => say!("wrote {}", path.display()),
            Err(e) => {
                tell!("error: {}: {e}", path.display());
                return 2;
            }
        }
    }
    0
}

/// The sweep.
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
                tell!("error: {e}");
                return 2;
            }
        }
    }
    // A run that did not finalise every height (a stall within the time limit) has no
    // comparable latency: it is left out, counted in the chart's note and listed below.
    let target = o.heights;
    let counts = |p: &&Point| p.heights >= target;
    let left_out = |f: &dyn Fn(&Point) -> bool| points.iter().filter(|p| f(p) && p.heights < target).count();
    let values = |f: &dyn Fn(&Point) -> bool, v: &dyn Fn(&Point) -> f64| -> Vec<f64> {
        points.iter().filter(|p| f(p)).filter(counts).map(v).collect()
    };
    let series: Vec<String> = NETWORKS.iter().map(|s| s.to_string()).collect();
    let vs_n = Panel {
        caption: "consensus latency, median over heights of each run".into(),
        y_desc: "ms (log scale)".into(),
        values: NETWORKS
            .iter()
            .map(|&net| {
                o.validators
                    .iter()
                    .map(|&n| {
                        values(&|p| p.cell.network == net && p.cell.crashed == 0 && p.cell.validators == n, &|p| {
                            p.consensus_p50_ms
                        })
                    })
                    .collect()
            })
            .collect(),
    };
    let crash_panel = |caption: &str, v: &dyn Fn(&Point) -> f64| Panel {
        caption: caption.into(),
        y_desc: "seconds (log scale)".into(),
        values: NETWORKS
            .iter()
            .map(|&net| {
                (0..=2u32)
                    .map(|k| values(&|p| p.cell.network == net && p.cell.validators == 7 && p.cell.crashed == k, v))
                    .collect()
            })
            .collect(),
    };
    let p50 = crash_panel("block interval p50 over heights", &|p| p.interval_p50_ms / 1000.0);
    let p99 = crash_panel("block interval p99 over heights", &|p| p.interval_p99_ms / 1000.0);
    let note = |runs: usize, out: usize| {
        let out = if out == 0 {
            "none left out".to_string()
        } else {
            format!("{out} left out: did not finalise {target} heights")
        };
        format!("{runs} runs ({} seeds per cell, {target} heights each); {out}", o.seeds.len())
    };
    let n_runs = o.validators.len() * NETWORKS.len() * o.seeds.len();
    let n_out = left_out(&|p| p.cell.crashed == 0);
    let c_runs = 3 * NETWORKS.len() * o.seeds.len();
    let c_out = left_out(&|p| p.cell.validators == 7);
    let categories_n: Vec<String> = o.validators.iter().map(|n| n.to_string()).collect();
    let categories_c: Vec<String> = (0..=2).map(|k: u32| k.to_string()).collect();
    let files = vec![
        (
            "consensus-vs-validators.svg",
            matrix::svg(
                "consensus latency (winning proposal → final) against validator count N",
                &note(n_runs, n_out),
                "validators N",
                &categories_n,
                &series,
                &[vs_n],
            ),
        ),
        (
            "interval-vs-crashed.svg",
            matrix::svg(
                "block interval against validators crashed at start, N = 7",
                &note(c_runs, c_out),
                "validators crashed at start",
                &categories_c,
                &series,
                &[p50, p99],
            ),
        ),
        ("plot-data.json", serde_json::to_string_pretty(&points).map_err(|e| e.to_string())),
    ];
    let code = write_all(&o.out, files);
    if code != 0 {
        return code;
    }
    for p in points.iter().filter(|p| p.outcome != OutcomeKind::Ok || p.heights < target) {
        say!(
            "note: {} N={} crashed={} seed {} ended {} after {} of {target} heights{}",
            p.cell.network,
            p.cell.validators,
            p.cell.crashed,
            p.cell.seed,
            p.outcome,
            p.heights,
            if p.heights < target { " (left out)" } else { "" }
        );
    }
    0
}

/// Where runs come from: a scenario file run for some seeds, or the reports under a
/// directory (or one report file).
pub fn load_runs(input: &Path, seeds: Option<&[u64]>, jobs: usize) -> Result<(String, Vec<RunData>), String> {
    if input.is_dir() {
        let mut files = Vec::new();
        find_reports(input, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(format!("{}: no report.json under this directory", input.display()));
        }
        let runs = files.iter().map(|f| read_report(f)).collect::<Result<Vec<_>, _>>()?;
        let name = runs.first().map_or(String::new(), |r| r.scenario.clone());
        let same = runs.iter().all(|r| r.scenario == name);
        let label = if same { name } else { input.display().to_string() };
        return Ok((label, runs));
    }
    let text = crate::scenario::read_text(input, crate::scenario::MAX_INPUT_BYTES)
        .map_err(|e| format!("{}: cannot read: {e}", input.display()))?;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v.get("format").and_then(|f| f.as_str()) == Some(FORMAT)
    {
        let r = RunData::from_value(v).map_err(|e| format!("{}: {e}", input.display()))?;
        return Ok((r.scenario.clone(), vec![r]));
    }
    let spec = scenario::load(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let seeds: Vec<u64> = seeds.map_or_else(|| spec.seeds.clone(), |s| s.to_vec());
    let seeds = if seeds.is_empty() { vec![spec.seed] } else { seeds };
    let runs = parallel::map(&spec.name, &seeds, jobs, |&seed| {
        let result = world::run(&spec, seed, None, false);
        // Bad input, as in `run`: a plot of the steps before the failing one would show a
        // run the scenario does not describe.
        if let Some(e) = &result.schedule_error {
            return Err(format!("{}: {e}", input.display()));
        }
        RunData::of(&Report::build(&spec, &result))
    });
    Ok((spec.name.clone(), runs.into_iter().collect::<Result<Vec<_>, _>>()?))
}

fn find_reports(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            find_reports(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "report.json") {
            out.push(path);
        }
    }
    Ok(())
}

fn read_report(path: &Path) -> Result<RunData, String> {
    let text = crate::scenario::read_text(path, crate::scenario::MAX_INPUT_BYTES)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(format!("{}: format: not a dbft-sim report ({FORMAT})", path.display()));
    }
    RunData::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
}

/// The plots of one set of runs, as (file name, SVG).
pub fn run_plots(label: &str, runs: &[RunData]) -> Vec<(&'static str, Result<String, String>)> {
    let refs: Vec<&RunData> = runs.iter().collect();
    let seeds = match runs {
        [one] => format!("seed {}", one.seed),
        _ => format!("{} runs", runs.len()),
    };
    vec![
        (
            "latency-cdf.svg",
            seeds::cdf_svg(&format!("{label} ({seeds}) — latency CDFs"), &[(label.to_string(), refs.clone())]),
        ),
        ("heights-over-time.svg", seeds::progress_svg(&format!("{label} ({seeds}) — height over virtual time"), &refs)),
        ("views-per-height.svg", seeds::views_svg(&format!("{label} ({seeds}) — final view per height"), &refs)),
        (
            "messages-per-height.svg",
            seeds::messages_svg(&format!("{label} ({seeds}) — messages and bytes per height"), &refs),
        ),
    ]
}

/// `plot <scenario|DIR|report.json>`.
pub fn plot_runs(input: &Path, seeds: Option<&[u64]>, out: Option<PathBuf>, jobs: usize) -> i32 {
    let (label, runs) = match load_runs(input, seeds, jobs) {
        Ok(x) => x,
        Err(e) => {
            tell!("error: {e}");
            return 2;
        }
    };
    // A label made of a folder path (reports of several scenarios) becomes one name.
    let name: String = label.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join(name).join("plots"));
    let code = write_all(&out, run_plots(&label, &runs));
    note_stalls(runs.iter());
    code
}

/// A console note per stalled run: its plots show it as lines that stop, or nothing.
fn note_stalls<'a>(runs: impl Iterator<Item = &'a RunData>) {
    for r in runs {
        if let Some(note) = r.stall_note() {
            say!("note: {} seed {} {note}", r.scenario, r.seed);
        }
    }
}

/// `compare A B ...`: one CDF line per input.
pub fn compare(inputs: &[PathBuf], seeds: Option<&[u64]>, out: &Path, jobs: usize) -> i32 {
    let mut groups = Vec::new();
    for input in inputs {
        match load_runs(input, seeds, jobs) {
            Ok(g) => groups.push(g),
            Err(e) => {
                tell!("error: {e}");
                return 2;
            }
        }
    }
    let names: Vec<&str> = groups.iter().map(|g| g.0.as_str()).collect();
    let refs: Vec<(String, Vec<&RunData>)> = groups.iter().map(|(l, r)| (l.clone(), r.iter().collect())).collect();
    let svg = seeds::cdf_svg(&format!("latency CDFs: {}", names.join(" vs ")), &refs);
    let code = write_all(out, vec![("compare-cdf.svg", svg)]);
    note_stalls(groups.iter().flat_map(|g| g.1.iter()));
    code
}
