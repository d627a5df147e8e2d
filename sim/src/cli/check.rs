//! `dbft-sim check [PATHS...]`: the regression suite.
//!
//! Runs every scenario under the given paths (default `scenarios/`) for each of its seeds,
//! compares the outcome with its `expect` block and prints one line per scenario × seed,
//! then `N passed, N failed`. The output does not depend on `--jobs`: results are printed
//! in a fixed order (path, then seed) whatever order the workers finish in.

use crate::report::Report;
use crate::report::files::write_atomic;
use crate::scenario::{self, RunSpec};
use crate::world;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub struct CheckOptions {
    pub paths: Vec<PathBuf>,
    pub jobs: usize,
    pub junit: Option<PathBuf>,
    pub update_digests: bool,
    /// Overrides every scenario's seed list.
    pub seeds: Option<Vec<u64>>,
    /// Also run scenarios tagged "long".
    pub long: bool,
}

/// One scenario file of the suite.
struct Entry {
    path: PathBuf,
    shown: String,
    spec: Result<RunSpec, String>,
}

/// The result of one scenario × seed.
struct Outcome {
    pass: bool,
    line: String,
    failure: Option<String>,
    digest: String,
}

/// Lists scenario files under `paths`: `*.json`, recursively, in sorted order.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        }
    }
    Ok(())
}

/// Parses `--seeds` values: `1,2,3`, `1..100` (inclusive) or a mix.
/// A `--seeds` argument, parsed (and rejected with a clear message, exit 2) by clap.
#[derive(Clone, Debug)]
pub struct SeedList(pub Vec<u64>);

impl std::str::FromStr for SeedList {
    type Err = String;
    fn from_str(s: &str) -> Result<SeedList, String> {
        parse_seeds(s).map(SeedList)
    }
}

pub fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b): (u64, u64) = (
                a.trim().parse().map_err(|_| format!("bad seed range {part}"))?,
                b.trim().parse().map_err(|_| format!("bad seed range {part}"))?,
            );
            if b < a || b - a > 1_000_000 {
                return Err(format!("bad seed range {part}"));
            }
            out.extend(a..=b);
        } else {
            out.push(part.trim().parse().map_err(|_| format!("bad seed {part}"))?);
        }
    }
    if out.is_empty() {
        return Err("no seeds".into());
    }
    Ok(out)
}

fn describe(r: &Report) -> String {
    let mut s = r.outcome.kind.to_string();
    if !r.outcome.violated.is_empty() {
        let _ = write!(s, " [{}]", r.outcome.violated.join(" "));
    }
    match &r.liveness.stall {
        Some(st) if r.liveness.status != "holds" => {
            let _ = write!(s, " ({} at height {}, view {})", st.class, st.height, st.view);
        }
        _ => {
            let _ = write!(s, " ({} heights)", r.heights.finalised);
        }
    }
    s
}

fn run_one(spec: &RunSpec, seed: u64, shown: &str, update: bool) -> Outcome {
    let mut spec = spec.clone();
    if update {
        spec.expect.digests.clear();
    }
    let result = world::run(&spec, seed, None, false);
    let report = Report::build(&spec, &result);
    let pass = report.outcome.as_expected;
    let digest = report.digest.to_hex();
    let mark = if pass { "PASS" } else { "FAIL" };
    let mut line = format!("{mark}  {shown} seed {seed}  {}  digest {}", describe(&report), &digest[..8]);
    for m in &report.outcome.mismatches {
        let _ = write!(line, "\n        mismatch: {m}");
    }
    let failure = (!pass).then(|| report.outcome.mismatches.join("; "));
    Outcome { pass, line, failure, digest }
}

pub fn check(opts: CheckOptions) -> i32 {
    let files = match collect(&opts.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let base = std::env::current_dir().unwrap_or_default();
    let entries: Vec<Entry> = files
        .into_iter()
        .map(|path| {
            let shown = path.strip_prefix(&base).unwrap_or(&path).display().to_string();
            let spec = scenario::load(&path).map_err(|e| e.to_string());
            Entry { path, shown, spec }
        })
        .collect();
    // Work items: (entry, seed), in output order.
    let mut items: Vec<(usize, u64)> = Vec::new();
    let mut skipped = 0;
    for (i, e) in entries.iter().enumerate() {
        if let Ok(spec) = &e.spec {
            if spec.tags.iter().any(|t| t == "long") && !opts.long {
                skipped += 1;
                continue;
            }
            let seeds = opts.seeds.clone().unwrap_or_else(|| spec.seeds.clone());
            items.extend(seeds.into_iter().map(|s| (i, s)));
        }
    }
    let results: Vec<Outcome> = super::parallel::map("check", &items, opts.jobs, |&(i, seed)| {
        let e = &entries[i];
        match &e.spec {
            Ok(spec) => run_one(spec, seed, &e.shown, opts.update_digests),
            // Unreadable files have no work items.
            Err(_) => Outcome { pass: false, line: String::new(), failure: None, digest: String::new() },
        }
    });

    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    let mut junit_cases = String::new();
    let mut k = 0;
    for (i, e) in entries.iter().enumerate() {
        match &e.spec {
            Err(msg) => {
                errors += 1;
                say!("ERROR {}  {msg}", e.shown);
                let _ = write!(junit_cases, "{}", junit_case(&e.shown, "load", Some(("error", msg))));
            }
            Ok(_) => {
                while k < items.len() && items[k].0 == i {
                    let r = &results[k];
                    say!("{}", r.line);
                    if r.pass {
                        passed += 1;
                    } else {
                        failed += 1;
                    }
                    let name = format!("seed {}", items[k].1);
                    let fail = r.failure.as_deref().map(|f| ("failure", f));
                    let _ = write!(junit_cases, "{}", junit_case(&e.shown, &name, fail));
                    k += 1;
                }
            }
        }
    }
    if opts.update_digests {
        update_digests(&entries, &items, &results);
    }
    let mut summary = format!("{passed} passed, {failed} failed");
    if errors > 0 {
        let _ = write!(summary, ", {errors} unreadable");
    }
    if skipped > 0 {
        let _ = write!(summary, " ({skipped} long scenarios skipped; --long runs them)");
    }
    say!("{summary}");
    if let Some(path) = &opts.junit {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"dbft-sim check\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\">\n<testsuite name=\"scenarios\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\">\n{junit_cases}</testsuite>\n</testsuites>\n",
            passed + failed + errors,
            passed + failed + errors
        );
        if let Err(e) = write_atomic(path, xml.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return 2;
        }
    }
    if errors > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit_case(file: &str, name: &str, failure: Option<(&str, &str)>) -> String {
    let class = file.trim_end_matches(".json").replace(['/', '\\'], ".");
    let head = format!("  <testcase classname=\"{}\" name=\"{}\"", xml_escape(&class), xml_escape(name));
    match failure {
        None => format!("{head}/>\n"),
        Some((tag, msg)) => {
            format!("{head}>\n    <{tag} message=\"{}\">{}</{tag}>\n  </testcase>\n", xml_escape(msg), xml_escape(msg))
        }
    }
}

/// Rewrites the pinned digests of every scenario that pins any, for the seeds just run.
fn update_digests(entries: &[Entry], items: &[(usize, u64)], results: &[Outcome]) {
    for (i, e) in entries.iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(&e.path) else {
            continue;
        };
        let Ok(mut json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(pins) = json.get_mut("expect").and_then(|x| x.get_mut("digests")).and_then(|d| d.as_object_mut())
        else {
            continue;
        };
        let mut moved = Vec::new();
        for (k, &(j, seed)) in items.iter().enumerate() {
            if j != i {
                continue;
            }
            let key = seed.to_string();
            let new = serde_json::Value::String(results[k].digest.clone());
            if pins.get(&key) != Some(&new) {
                moved.push(key.clone());
                pins.insert(key, new);
            }
        }
        if moved.is_empty() {
            continue;
        }
        let Ok(mut out) = serde_json::to_string_pretty(&json) else {
            continue;
        };
        out.push('\n');
        match write_atomic(&e.path, out.as_bytes()) {
            Ok(()) => say!("updated digests: {} (seeds {})", e.shown, moved.join(", ")),
            Err(err) => eprintln!("error: cannot write {}: {err}", e.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("1,2,5").unwrap(), vec![1, 2, 5]);
        assert_eq!(parse_seeds("3..5,9").unwrap(), vec![3, 4, 5, 9]);
        assert!(parse_seeds("5..3").is_err());
        assert!(parse_seeds("x").is_err());
        assert!(parse_seeds("").is_err());
    }

    #[test]
    fn junit_escapes() {
        let c = junit_case("attacks/a.json", "seed 1", Some(("failure", "expected <stall> & \"x\"")));
        assert!(c.contains("classname=\"attacks.a\""));
        assert!(c.contains("&lt;stall&gt; &amp; &quot;x&quot;"));
    }
}
