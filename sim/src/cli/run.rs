//! `dbft-sim run <scenario> [--seed N] [--out DIR] [--trace FILE]`.

use super::progress::Progress;
use crate::engine::trace::{Observer, Observers};
use crate::report::files::{AtomicFile, write_atomic};
use crate::report::narrate::Narrator;
use crate::report::trace_file::TraceWriter;
use crate::report::{Report, summary};
use crate::scenario;
use crate::world;
use std::path::{Path, PathBuf};

/// The default output directory of a run.
pub fn default_out(name: &str, seed: u64) -> PathBuf {
    Path::new("reports").join(name).join(seed.to_string())
}

/// The options of `dbft-sim run`.
pub struct RunOptions {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub quiet: bool,
    pub narrate: bool,
}

pub fn run(path: &Path, opts: RunOptions) -> i32 {
    let RunOptions { seed, out, trace, quiet, narrate } = opts;
    let spec = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let seed = seed.unwrap_or(spec.seed);
    let out = out.unwrap_or_else(|| default_out(&spec.name, seed));
    let mut trace_writer = match &trace {
        None => None,
        Some(p) => match AtomicFile::create(p) {
            Ok(f) => Some(TraceWriter::new(f, spec.nodes.iter().map(|n| n.name.clone()).collect())),
            Err(e) => {
                eprintln!("error: cannot create trace file {}: {e}", p.display());
                return 2;
            }
        },
    };
    let mut progress = Progress::new(spec.stop.duration, &spec.name);
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let mut narrator = narrate.then(|| Narrator::new(std::io::stdout().lock(), names));
    let result = {
        let mut extra: Vec<&mut dyn Observer> = vec![&mut progress];
        if let Some(n) = narrator.as_mut() {
            extra.push(n);
        }
        if let Some(t) = trace_writer.as_mut() {
            extra.push(t);
        }
        let mut tee = Observers { list: extra };
        world::run(&spec, seed, Some(&mut tee), trace.is_some())
    };
    progress.finish();
    let report = Report::build(&spec, &result);
    let report_path = out.join("report.json");
    if let Err(e) = write_atomic(&report_path, report.to_json().as_bytes()) {
        eprintln!("error: cannot write {}: {e}", report_path.display());
        return 2;
    }
    match crate::report::plot::heights_svg(&report) {
        Ok(svg) => {
            let p = out.join("heights.svg");
            if let Err(e) = write_atomic(&p, svg.as_bytes()) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return 2;
            }
        }
        Err(e) => eprintln!("warning: no heights.svg: {e}"),
    }
    if let (Some(t), Some(p)) = (trace_writer, &trace)
        && let Err(e) = t.commit()
    {
        eprintln!("error: cannot write trace {}: {e}", p.display());
        return 2;
    }
    let shown = report_path.display().to_string();
    if quiet {
        println!(
            "{} seed {}: {} ({})",
            report.scenario,
            seed,
            report.outcome.kind,
            if report.outcome.as_expected { "as expected" } else { "NOT AS EXPECTED" }
        );
    } else {
        println!("{}", summary::render(&report, Some(&shown)));
    }
    report.exit_code()
}
