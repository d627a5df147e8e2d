//! `dbft-sim run <scenario> [--seed N] [--out DIR] [--trace FILE]`.

use super::progress::Progress;
use crate::engine::trace::{Observer, Observers};
use crate::report::files::{AtomicFile, check_output_file, write_atomic};
use crate::report::narrate::Narrator;
use crate::report::trace_file::TraceWriter;
use crate::report::{Report, summary};
use crate::scenario;
use crate::world;
use std::io::{BufWriter, ErrorKind, Write};
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
    // Every output path is checked before the run, so a bad one costs nothing.
    let mut targets = vec![out.join("report.json"), out.join("heights.svg")];
    targets.extend(trace.clone());
    if let Err(e) = targets.iter().try_for_each(|p| check_output_file(p)) {
        eprintln!("error: cannot write the run's output: {e}");
        return 2;
    }
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
    // Narration goes to the terminal the bar would draw on; it shows progress itself.
    let mut progress = if narrate { Progress::hidden() } else { Progress::new(spec.stop.duration, &spec.name) };
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let mut narrator = narrate.then(|| Narrator::new(BufWriter::new(std::io::stdout().lock()), names));
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
    if let Some(e) = &result.schedule_error {
        eprintln!("error: {}: {e}", path.display());
        return 2;
    }
    // A reader who closed the pipe early (`--narrate | head`) still gets the report files;
    // only the printing stops.
    let stdout_open = match narrator.map(Narrator::finish) {
        Some(Err(e)) if e.kind() == ErrorKind::BrokenPipe => false,
        Some(Err(e)) => {
            eprintln!("error: cannot write the narration: {e}");
            return 2;
        }
        _ => true,
    };
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
    let text = if quiet {
        format!(
            "{} seed {}: {} ({})",
            report.scenario,
            seed,
            report.outcome.kind,
            if report.outcome.as_expected { "as expected" } else { "NOT AS EXPECTED" }
        )
    } else {
        summary::render(&report, Some(&shown))
    };
    if stdout_open
        && let Err(e) = writeln!(std::io::stdout(), "{text}")
        && e.kind() != ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the summary: {e}");
        return 2;
    }
    report.exit_code()
}
