//! `dbft-sim diff A B`: runs `search::diff` on two scenario runs or two trace files and
//! prints the first difference with its context.

use crate::scenario::{self, RunSpec};
use crate::search::diff::{check_trace, diverge_runs, first_difference, line_differences, trace_line};
use std::path::Path;

pub struct DiffOptions {
    pub seed: Option<u64>,
    /// B's seed, when it differs from A's (two seeds of one scenario).
    pub seed_b: Option<u64>,
    /// Events shown before (and after) the first difference.
    pub context: usize,
}

fn load(path: &Path, seed: Option<u64>) -> Result<Input, String> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        // A trace may be large (no size limit), but it must be a file.
        let text = crate::scenario::read_text(path, u64::MAX - 1).map_err(|e| format!("{}: {e}", path.display()))?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        check_trace(&lines).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Input::Trace(lines));
    }
    let spec = scenario::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed = seed.unwrap_or(spec.seed);
    // A schedule that cannot be followed is bad input, as in `run`: a diff of the part
    // before the failing step would compare a run the scenario does not describe.
    if !spec.schedule.is_empty()
        && let Some(e) = crate::world::run(&spec, seed, None, false).schedule_error
    {
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(Input::Scenario(Box::new(spec), seed))
}

enum Input {
    Scenario(Box<RunSpec>, u64),
    Trace(Vec<String>),
}

pub fn run(a: &Path, b: &Path, o: DiffOptions) -> i32 {
    let (ia, ib) = match (load(a, o.seed), load(b, o.seed_b.or(o.seed))) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            tell!("error: {e}");
            return 2;
        }
    };
    if matches!((&ia, &ib), (Input::Trace(_), Input::Trace(_))) && (o.seed.is_some() || o.seed_b.is_some()) {
        tell!("error: --seed and --seed-b choose the runs of scenario files; a trace file is one run already");
        return 2;
    }
    // Each side named by its file and, for a scenario, the seed it ran (two seeds of one
    // scenario would otherwise read alike).
    let label = |path: &Path, input: &Input| match input {
        Input::Scenario(_, seed) => format!("{} (seed {seed})", path.display()),
        Input::Trace(_) => path.display().to_string(),
    };
    let (label_a, label_b) = (label(a, &ia), label(b, &ib));
    // For trace files: the lines shown compactly, and what differs in the first pair.
    let mut fields = Vec::new();
    let d = match (&ia, &ib) {
        (Input::Scenario(sa, xa), Input::Scenario(sb, xb)) => diverge_runs((sa, *xa), (sb, *xb), o.context),
        (Input::Trace(la), Input::Trace(lb)) => first_difference(la, lb, o.context).map(|d| {
            if let (Some(x), Some(y)) = (d.a.first(), d.b.first()) {
                fields = line_differences(x, y, 8);
            }
            let compact = |v: Vec<String>| v.iter().map(|l| trace_line(l)).collect();
            crate::search::diff::Divergence { at: d.at, before: compact(d.before), a: compact(d.a), b: compact(d.b) }
        }),
        _ => {
            tell!("error: compare two scenarios or two trace files (.jsonl), not one of each");
            return 2;
        }
    };
    let Some(d) = d else {
        say!("identical: {label_a} and {label_b} give the same event stream");
        return 0;
    };
    say!("first difference at event #{}", d.at);
    for l in &d.before {
        say!("    {l}");
    }
    let side = |tag: &str, name: &str, lines: &[String]| {
        say!("  {tag} {name}:");
        if lines.is_empty() {
            say!("    (ends here)");
        }
        for l in lines {
            say!("    {l}");
        }
    };
    side("A", &label_a, &d.a);
    side("B", &label_b, &d.b);
    if !fields.is_empty() {
        say!("  the first differing lines differ in:");
        for f in &fields {
            say!("    {f}");
        }
    }
    1
}
