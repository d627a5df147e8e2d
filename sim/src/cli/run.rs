//! `dbft-sim run <scenario> [--seed N] [--out DIR] [--trace FILE]`.

use super::progress::Progress;
use crate::engine::trace::{Observer, Observers};
use crate::report::files::{AtomicFile, check_output_file, write_atomic};
use crate::report::narrate::Narrator;
use crate::report::plot::sequence::Recorder;
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

/// Parses `--sequence-heights`: "5" or "3..6" (inclusive, heights from 1).
pub fn parse_heights(s: &str) -> Result<(u32, u32), String> {
    let num = |t: &str| t.trim().parse::<u32>().ok().filter(|h| *h >= 1);
    let bad = || format!("\"{s}\": expected a height (\"5\") or a range (\"3..6\") of heights ≥ 1");
    match s.split_once("..") {
        None => num(s).map(|h| (h, h)).ok_or_else(bad),
        Some((a, b)) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a <= b => Ok((a, b)),
            (Some(a), Some(b)) => Err(format!("\"{s}\": the range is reversed (did you mean \"{b}..{a}\"?)")),
            _ => Err(bad()),
        },
    }
}

/// What `run` was given: a scenario file, or a report whose recorded scenario it replays.
struct Input {
    spec: crate::scenario::RunSpec,
    /// The scenario document, recorded in the new report.
    source: Option<serde_json::Value>,
    /// For a report: its seed and digest, which the replay must reproduce.
    replay: Option<(u64, String, String)>,
}

fn load_input(path: &Path) -> Result<Input, String> {
    let text = scenario::read_text(path, scenario::MAX_INPUT_BYTES).map_err(|e| format!("cannot read: {e}"))?;
    let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let is_report =
        value.as_ref().and_then(|v| v.get("format")).and_then(|f| f.as_str()) == Some(crate::report::FORMAT);
    if !is_report {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        let spec = scenario::parse(&text, stem).map_err(|e| e.to_string())?;
        return Ok(Input { spec, source: value, replay: None });
    }
    let v = value.unwrap_or_default();
    let source = v.get("scenario_source").cloned().ok_or_else(|| {
        "scenario_source: missing — this report does not record its scenario file (written by a `check`, or by a dbft-sim before 0.1.0); run its scenario file instead".to_string()
    })?;
    let name = v.get("scenario").and_then(|s| s.as_str()).unwrap_or("scenario").to_string();
    let spec = scenario::parse(&source.to_string(), &name).map_err(|e| format!("scenario_source.{e}"))?;
    let seed = v.get("seed").and_then(|s| s.as_u64()).ok_or("seed: missing or not a number")?;
    let digest = v.get("digest").and_then(|s| s.as_str()).unwrap_or_default().to_string();
    let version = v.pointer("/tool/version").and_then(|s| s.as_str()).unwrap_or("an unknown version").to_string();
    Ok(Input { spec, source: Some(source), replay: Some((seed, digest, version)) })
}

/// The options of `dbft-sim run`.
pub struct RunOptions {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub quiet: bool,
    pub narrate: bool,
    /// The heights of the message-sequence chart (default: see `pages`).
    pub sequence_heights: Option<(u32, u32)>,
}

/// Above this many validators `run` warns about the cost of the cold start's broadcast
/// recovery answers.
const LARGE_N: usize = 300;

pub fn run(path: &Path, opts: RunOptions) -> i32 {
    let RunOptions { seed, out, trace, quiet, narrate, sequence_heights } = opts;
    let Input { spec, source, replay } = match load_input(path) {
        Ok(i) => i,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let seed = seed.or(replay.as_ref().map(|r| r.0)).unwrap_or(spec.seed);
    if spec.validators > LARGE_N && spec.protocol.recovery_reply == crate::protocol::dbft::RecoveryReply::Broadcast {
        tell!(
            "warning: N = {}: a cold start makes about N³/3 RecoveryMessage deliveries (every node asks, about N/3 answer by broadcast): minutes and GBs from N ≈ 400 on; \"protocol\": {{\"recovery_reply\": \"requester\"}} avoids it (docs/performance.md)",
            spec.validators
        );
    }
    let out = out.unwrap_or_else(|| default_out(&spec.name, seed));
    // Every output path is checked before the run, so a bad one costs nothing.
    let mut targets: Vec<PathBuf> = ["report.json", "heights.svg", "timeline.svg", "sequence.svg", "index.html"]
        .iter()
        .map(|f| out.join(f))
        .collect();
    // Compared as the files they end up as, however they are spelled (an absolute path,
    // `o/../o/report.json`, a link): the two writers would share a temporary file.
    let own: Vec<_> = targets.iter().filter_map(|p| crate::report::files::output_identity(p)).collect();
    if let Some(t) =
        trace.as_ref().filter(|t| crate::report::files::output_identity(t).is_some_and(|id| own.contains(&id)))
    {
        tell!("error: --trace {}: that is one of the run's own output files", t.display());
        return 2;
    }
    targets.extend(trace.clone());
    // No output may be the file read (`run s.json --trace s.json`, `--out` onto a folder
    // whose `index.html` is the scenario), except a replayed report's own `report.json`
    // at the report's own seed: that seed's report, written again by this build.
    let rewrites_itself = replay.as_ref().is_some_and(|r| r.0 == seed);
    let outputs: Vec<(&str, Option<&Path>)> = targets
        .iter()
        .filter(|t| {
            !(rewrites_itself && t.file_name().is_some_and(|f| f == "report.json") && Some(*t) != trace.as_ref())
        })
        .map(|t| (if Some(t) == trace.as_ref() { "--trace" } else { "--out" }, Some(t.as_path())))
        .collect();
    if let Err(e) = crate::report::files::outputs_not_inputs(&outputs, &[path]) {
        tell!("error: {e}");
        return 2;
    }
    if let Err(e) = targets.iter().try_for_each(|p| check_output_file(p)) {
        tell!("error: cannot write the run's output: {e}");
        return 2;
    }
    // The output directory is made now, so a place where none can be made (`/proc/x`)
    // fails before the run, not after it. What is made is noted, to be removed if the
    // run turns out to be bad input after all.
    let mut made = crate::report::files::missing_dirs(&out);
    if let Some(dir) = trace.as_deref().and_then(Path::parent) {
        made.extend(crate::report::files::missing_dirs(dir));
    }
    if let Err(e) = std::fs::create_dir_all(&out)
        .map_err(|e| e.to_string())
        .and_then(|()| check_output_file(&out.join("report.json")))
    {
        tell!("error: cannot write the run's output to {}: {e}", out.display());
        return 2;
    }
    let mut trace_writer = match &trace {
        None => None,
        Some(p) => match AtomicFile::create(p) {
            Ok(f) => Some(TraceWriter::new(f, spec.nodes.iter().map(|n| n.name.clone()).collect())),
            Err(e) => {
                tell!("error: cannot create trace file {}: {e}", p.display());
                return 2;
            }
        },
    };
    // Narration goes to the terminal the bar would draw on; it shows progress itself.
    let mut progress = if narrate { Progress::hidden() } else { Progress::new(spec.stop.duration, &spec.name) };
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let start = crate::world::genesis_set(&spec).hash();
    let mut narrator = narrate.then(|| {
        Narrator::new(BufWriter::new(std::io::stdout().lock()), names)
            .starting_from(start)
            .holding(spec.nodes.iter().map(|n| n.role.keys()).collect())
    });
    let mut recorder = Recorder::new(sequence_heights);
    let result = {
        let mut extra: Vec<&mut dyn Observer> = vec![&mut progress, &mut recorder];
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
        // The narration up to the bad step is told whole (a mark line is held back until
        // the next line: write it).
        if let Some(n) = narrator.take() {
            let _ = n.finish();
        }
        tell!("error: {}: {e}", path.display());
        // Bad input writes nothing: the trace's temporary file goes with its writer.
        drop(trace_writer);
        crate::report::files::remove_empty_dirs(&made);
        return 2;
    }
    // A reader who closed the pipe early (`--narrate | head`) still gets the report files;
    // only the printing stops.
    let unrecorded: u64 = result.metrics.kinds.iter().map(|k| k.ignored).sum();
    let unrecorded_drops: u64 = result.metrics.kinds.iter().map(|k| k.unrecorded_drops).sum();
    let stdout_open = match narrator.map(|mut n| {
        n.unrecorded(unrecorded, unrecorded_drops);
        n.finish()
    }) {
        Some(Err(e)) if e.kind() == ErrorKind::BrokenPipe => false,
        Some(Err(e)) => {
            tell!("error: cannot write the narration: {e}");
            return 2;
        }
        _ => true,
    };
    let mut report = Report::build(&spec, &result);
    // The checkers' and metrics' records are in the report now: free them before the pages.
    drop(result);
    report.scenario_source = source;
    let report_path = out.join("report.json");
    if let Some((old_seed, digest, version)) = &replay
        && *old_seed == seed
        && *digest != report.digest.to_hex()
    {
        tell!(
            "warning: the replay's digest differs from the report's (written by dbft-sim {version}): this build behaves differently"
        );
        // The report replayed is the evidence of the run it records: a replay that does
        // not reproduce it must not write over it.
        let same = |p: &Path| crate::report::files::output_identity(p);
        if same(&report_path).is_some() && same(&report_path) == same(path) {
            tell!(
                "error: not overwriting {}: it records a run this build does not reproduce; replay it with --out DIR to keep both",
                report_path.display()
            );
            drop(trace_writer);
            crate::report::files::remove_empty_dirs(&made);
            return 1;
        }
    }
    if let Err(e) = write_atomic(&report_path, report.to_json().as_bytes()) {
        tell!("error: cannot write {}: {e}", report_path.display());
        return 2;
    }
    // The last height an honest node worked on: a window beyond it would chart nothing
    // of the heights asked for (it spanned the whole run, titled "height 50").
    let finalised = report.heights.finalised;
    let last = finalised.saturating_add(1);
    let sequence_heights = match sequence_heights {
        Some((a, _)) if a > last => {
            tell!(
                "warning: --sequence-heights: the run finalised up to height {finalised} (height {last} was still open); the sequence chart shows its default heights instead"
            );
            None
        }
        Some((a, b)) if b > last => {
            tell!(
                "warning: --sequence-heights: the run finalised up to height {finalised}; the chart ends at height {last}, the one still open at the end"
            );
            Some((a, last))
        }
        other => other,
    };
    match crate::report::pages::run_files(&report, recorder, sequence_heights) {
        Ok(files) => {
            for (name, content) in files {
                let p = out.join(name);
                if let Err(e) = write_atomic(&p, content.as_bytes()) {
                    tell!("error: cannot write {}: {e}", p.display());
                    return 2;
                }
            }
        }
        Err(e) => tell!("warning: no figures or index.html: {e}"),
    }
    if let (Some(t), Some(p)) = (trace_writer, &trace)
        && let Err(e) = t.commit()
    {
        tell!("error: cannot write trace {}: {e}", p.display());
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
        tell!("error: cannot write the summary: {e}");
        return 2;
    }
    report.exit_code()
}
