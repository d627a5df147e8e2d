//! `dbft-sim check [PATHS...]`: the regression suite.
//!
//! Runs every scenario under the given paths (default `scenarios/`) for each of its seeds,
//! compares the outcome with its `expect` block and prints one line per scenario × seed,
//! then `N passed, N failed`. The output does not depend on `--jobs`: results are printed
//! in a fixed order (path, then seed) whatever order the workers finish in.

use super::records::{Header, Record};
use super::seeds::SeedList;
use super::sweep::{self, SweepOptions};
use crate::report::Report;
use crate::report::files::{check_output_file, write_atomic};
use crate::scenario::{self, RunSpec};
use crate::world;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub struct CheckOptions {
    pub paths: Vec<PathBuf>,
    pub junit: Option<PathBuf>,
    pub update_digests: bool,
    /// Overrides every scenario's seed list.
    pub seeds: Option<SeedList>,
    /// Also run scenarios tagged "long".
    pub long: bool,
    pub sweep: SweepOptions,
}

/// One scenario file of the suite.
struct Entry {
    path: PathBuf,
    shown: String,
    /// The file's name within the suite: relative to the directory argument it was found
    /// under (a file argument: its file name). Records and the run's identity use it, not
    /// `shown`, so shards run from other directories, or with the suite spelled another
    /// way (`scenarios`, `./scenarios`, an absolute path), are one run that merges.
    name: String,
    /// The file's bytes (hashed into its records and the run's identity).
    bytes: Vec<u8>,
    spec: Result<RunSpec, String>,
}

/// What a run gives besides its record: the printed line and, for `--update-digests`
/// and JUnit, its digest and wall-clock time.
struct Ran {
    line: String,
    seconds: f64,
}

/// Lists scenario files under `paths`: `*.json`, recursively, in sorted order. Each file
/// is listed once however it is reached: a symbolic link to a directory already walked (a
/// loop, or two links to one folder) adds nothing, and neither does a file named twice.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut walk = Walk::default();
    for p in paths {
        if p.is_dir() {
            walk.dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.is_file() {
            walk.file(p.clone());
        } else if p.exists() {
            return Err(format!("{}: not a regular file", p.display()));
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(walk.out)
}

#[derive(Default)]
struct Walk {
    out: Vec<PathBuf>,
    /// Canonical paths of the directories walked and files listed.
    seen: std::collections::BTreeSet<PathBuf>,
}

impl Walk {
    fn first_visit(&mut self, p: &Path) -> bool {
        // A path that cannot be resolved is listed as written; reading it reports the error.
        self.seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
    }

    fn file(&mut self, p: PathBuf) {
        if self.first_visit(&p) {
            self.out.push(p);
        }
    }

    fn dir(&mut self, dir: &Path) -> std::io::Result<()> {
        if !self.first_visit(dir) {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            if e.is_dir() {
                self.dir(&e)?;
            } else if e.extension().is_some_and(|x| x == "json") {
                self.file(e);
            }
        }
        Ok(())
    }
}

/// `path`'s name within the suite the arguments name: relative to the first directory
/// argument that holds it, or the file name of a file argument ('/'-separated).
fn suite_name(path: &Path, args: &[PathBuf]) -> Option<String> {
    args.iter().find_map(|a| {
        let rel = if a == path { Path::new(path.file_name()?) } else { path.strip_prefix(a).ok()? };
        let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    })
}

fn describe(r: &Report) -> String {
    let mut s = r.outcome.kind.to_string();
    if !r.outcome.violated.is_empty() {
        let _ = write!(s, " [{}]", crate::invariants::InvariantId::join(&r.outcome.violated, " "));
    }
    match r.liveness.stalled() {
        Some(st) => {
            let _ = write!(s, " ({} at height {}, view {})", st.class, st.height, st.view);
        }
        _ => {
            let _ = write!(s, " ({} heights)", r.heights.finalised);
        }
    }
    s
}

fn run_one(index: u64, e: &Entry, spec: &RunSpec, seed: u64, update: bool) -> (Record, Ran) {
    let started = std::time::Instant::now();
    let mut spec = spec.clone();
    if update {
        spec.expect.digests.clear();
    }
    // A seed the scenario was not written for (from --seeds) is held only to what its
    // expectations claim for any seed (see `ExpectSpec::for_unlisted_seed`). A schedule
    // names messages by hashes that depend on the seed (the keys are drawn from it), so a
    // scheduled scenario claims nothing at another seed.
    let listed = spec.expect.any_seed || spec.seeds.contains(&seed);
    let mut note = "";
    let mut claims_nothing = false;
    if !listed {
        match spec.expect.for_unlisted_seed() {
            Some(_) if !spec.schedule.is_empty() => {
                claims_nothing = true;
                note = "  (not one of the scenario's seeds, whose messages its schedule names: nothing claimed)";
            }
            Some(e) => {
                spec.expect = e;
                note = "  (not one of the scenario's seeds: safety checked)";
            }
            None => {
                claims_nothing = true;
                note = "  (not one of the scenario's seeds: nothing claimed)";
            }
        }
    }
    let result = world::run(&spec, seed, None, false);
    let mut report = Report::build(&spec, &result);
    if claims_nothing {
        report.outcome.as_expected = true;
        report.outcome.mismatches.clear();
    }
    let pass = report.outcome.as_expected;
    let digest = report.digest.to_hex();
    let mark = if pass { "PASS" } else { "FAIL" };
    // At a seed its schedule was not written for, a scheduled run usually breaks off where
    // a named message is not in flight: what it "shows" is a run cut short, not an outcome.
    let shown = match &result.schedule_error {
        Some(err) if claims_nothing => format!("schedule not followable at this seed: {err}"),
        _ => describe(&report),
    };
    let mut line = format!("{mark}  {} seed {seed}  {shown}  digest {}{note}", e.shown, &digest[..8]);
    for m in &report.outcome.mismatches {
        let _ = write!(line, "\n        mismatch: {m}");
    }
    let failure = (!pass).then(|| report.outcome.mismatches.join("; "));
    let record = Record::of(index, &e.name, &e.bytes, &report, pass, failure);
    (record, Ran { line, seconds: started.elapsed().as_secs_f64() })
}

/// The most scenario × seed runs one `check` makes (its results and JUnit cases are kept
/// for the summary; sweeps larger than this are what `swarm` is for).
pub const MAX_CHECK_RUNS: u64 = 1_000_000;

impl CheckOptions {
    /// The arguments that fix the items and their results, for the records header.
    fn args(&self, entries: &[Entry]) -> String {
        let mut a: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        if self.long {
            a.push("--long".into());
        }
        if let Some(s) = &self.seeds {
            a.push(format!("--seeds {s}"));
        }
        a.join(" ")
    }
}

pub fn check(opts: CheckOptions) -> i32 {
    let files = match collect(&opts.paths) {
        Ok(f) => f,
        Err(e) => {
            tell!("error: {e}");
            return 2;
        }
    };
    // A suite directory with nothing in it is most likely a typo (of it, or of the
    // directory meant): passing without it would hide that, also next to a good path.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let held: Vec<PathBuf> = files.iter().map(|f| canonical(f)).collect();
    if let Some(empty) = opts.paths.iter().find(|p| p.is_dir() && !held.iter().any(|f| f.starts_with(canonical(p)))) {
        tell!("error: no scenario files (*.json) under {}", empty.display());
        return 2;
    }
    let base = std::env::current_dir().unwrap_or_default();
    let mut entries: Vec<Entry> = files
        .into_iter()
        .map(|path| {
            let shown = path.strip_prefix(&base).unwrap_or(&path).display().to_string();
            let name = suite_name(&path, &opts.paths).unwrap_or_else(|| shown.clone());
            // Guarded as `load` is: a FIFO named `x.json` would block a plain read for ever.
            let bytes =
                scenario::read_text(&path, scenario::MAX_INPUT_BYTES).map(String::into_bytes).unwrap_or_default();
            let spec = scenario::load(&path).map_err(|e| e.to_string());
            Entry { path, shown, name, bytes, spec }
        })
        .collect();
    // Two files of one name within their arguments (`check a/x.json b/x.json`) would be
    // told apart by nothing: then every record names its file by the path typed.
    let mut names = std::collections::BTreeSet::new();
    if !entries.iter().all(|e| names.insert(e.name.clone())) {
        for e in &mut entries {
            e.name = e.shown.clone();
        }
    }
    let outputs = [
        ("--json", opts.sweep.json.as_deref()),
        ("--html", opts.sweep.html.as_deref()),
        ("--junit", opts.junit.as_deref()),
    ];
    if let Err(e) = crate::report::files::distinct_outputs(&outputs) {
        tell!("error: {e}");
        return 2;
    }
    let inputs: Vec<&Path> = entries.iter().map(|e| e.path.as_path()).collect();
    if let Err(e) = crate::report::files::outputs_not_inputs(&outputs, &inputs) {
        tell!("error: {e}");
        return 2;
    }
    // Records hold one line per run, and an unreadable file has no runs: a records file
    // (or a shard's part of one) would leave it out, and `merge` would count the suite as
    // passing. So a run that keeps records refuses the suite before writing anything.
    if (opts.sweep.json.is_some() || opts.sweep.shard.count > 1)
        && let Some((e, msg)) = entries.iter().find_map(|e| e.spec.as_ref().err().map(|m| (e, m)))
    {
        tell!(
            "error: {}: {msg} (with --json or --shard an unreadable scenario stops the run: its records would leave it out, and a merge would pass without it)",
            e.shown
        );
        return 2;
    }
    if let Some(path) = &opts.junit
        && let Err(e) = check_output_file(path)
    {
        tell!("error: --junit: {e}");
        return 2;
    }
    // Work items: (entry, seed), in output order; a run is a few bytes until it runs.
    let mut items: Vec<(usize, u64)> = Vec::new();
    let mut skipped = 0;
    for (i, e) in entries.iter().enumerate() {
        if let Ok(spec) = &e.spec {
            if spec.tags.iter().any(|t| t == "long") && !opts.long {
                skipped += 1;
                continue;
            }
            let count = opts.seeds.as_ref().map_or(spec.seeds.len() as u64, SeedList::len);
            if items.len() as u64 + count > MAX_CHECK_RUNS {
                tell!(
                    "error: more than {MAX_CHECK_RUNS} scenario × seed runs; check is a regression suite, \
                     use swarm for sweeps of that size"
                );
                return 2;
            }
            match &opts.seeds {
                Some(list) => items.extend(list.iter().map(|s| (i, s))),
                None => items.extend(spec.seeds.iter().map(|&s| (i, s))),
            }
        }
    }
    let mut contents = Vec::new();
    for e in &entries {
        contents.extend_from_slice(blake3::hash(&e.bytes).as_bytes());
    }
    let header = Header::new("check", opts.args(&entries), &contents, opts.sweep.shard, items.len() as u64);

    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    let mut junit_cases = String::new();
    // Per run: its digest, and whether it met the scenario's other expectations.
    let mut digests: Vec<(String, bool)> = Vec::new();
    // Results print in a fixed order (path, then seed) as each finishes; unreadable files
    // print at their place in that order.
    let mut reported = 0;
    let mut unreadable_before = |upto: usize, lines: &mut Vec<String>, junit_cases: &mut String| {
        for entry in &entries[reported..upto.max(reported)] {
            if let Err(msg) = &entry.spec {
                errors += 1;
                lines.push(format!("ERROR {}  {msg}", entry.shown));
                let _ = write!(junit_cases, "{}", junit_case(&entry.shown, "load", None, Some(("error", msg))));
            }
        }
        reported = upto.max(reported);
    };
    let on = |r: &Record, ran: Option<(&(usize, u64), Ran)>| -> Result<Vec<String>, i32> {
        let mut lines = Vec::new();
        if r.pass {
            passed += 1;
        } else {
            failed += 1;
        }
        let fail = r.failure.as_deref().map(|f| ("failure", f));
        let case = CaseInfo { seed: r.seed, digest: &r.digest, seconds: ran.as_ref().map(|(_, x)| x.seconds) };
        let Some((&(i, _), ran)) = ran else {
            // Resumed from the records file: counted, not printed again; named as a run
            // now would name it.
            let shown = items.get(r.index as usize).map_or(r.scenario.as_str(), |&(i, _)| entries[i].shown.as_str());
            let _ = write!(junit_cases, "{}", junit_case(shown, &format!("seed {}", r.seed), Some(case), fail));
            return Ok(lines);
        };
        unreadable_before(i, &mut lines, &mut junit_cases);
        if !(opts.sweep.failures_only && r.pass) {
            lines.push(ran.line);
        }
        let _ = write!(junit_cases, "{}", junit_case(&entries[i].shown, &format!("seed {}", r.seed), Some(case), fail));
        if opts.update_digests {
            digests.push((r.digest.clone(), r.pass));
        }
        Ok(lines)
    };
    let mut sweep_opts = opts.sweep.clone();
    sweep_opts.unreadable =
        entries.iter().filter_map(|e| e.spec.as_ref().err().map(|m| (e.shown.clone(), m.clone()))).collect();
    let ended = sweep::run(
        "check",
        &header,
        items.iter().copied(),
        &sweep_opts,
        |&(i, seed)| format!("{} seed {seed}", entries[i].shown),
        |k, &(i, seed)| match &entries[i].spec {
            Ok(spec) => run_one(k, &entries[i], spec, seed, opts.update_digests),
            // Unreadable files have no work items, so no worker ever runs one.
            Err(_) => (Record::unrun(k, seed), Ran { line: String::new(), seconds: 0.0 }),
        },
        on,
    );
    if let Err(code) = ended {
        return code;
    }
    // Every unreadable file is reported, also after `--fail-fast` stopped: it was known
    // before anything ran, so whether it counts (exit 2, a JUnit error) must not depend on
    // where its name sorts.
    let mut lines = Vec::new();
    unreadable_before(entries.len(), &mut lines, &mut junit_cases);
    lines.iter().for_each(|l| say!("{l}"));
    // A pin that should have moved and could not be written is an error: exit 2.
    let unwritten = opts.update_digests && !update_digests(&entries, &items, &digests);
    let mut summary = format!("{passed} passed, {failed} failed");
    if errors > 0 {
        let _ = write!(summary, ", {errors} unreadable");
    }
    if skipped > 0 {
        let _ = write!(summary, " ({skipped} long scenarios skipped; --long runs them)");
    }
    if opts.sweep.shard.count > 1 {
        let _ = write!(summary, " (shard {} of {} items)", opts.sweep.shard, items.len());
    }
    say!("{summary}");
    if let Some(path) = &opts.junit {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"dbft-sim check\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\">\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\">\n{junit_cases}</testsuite>\n</testsuites>\n",
            passed + failed + errors,
            xml_escape(&junit_suite_name(&opts.paths)),
            passed + failed + errors
        );
        if let Err(e) = write_atomic(path, xml.as_bytes()) {
            tell!("error: cannot write {}: {e}", path.display());
            return 2;
        }
    }
    if errors > 0 || unwritten {
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

/// What a JUnit test case records of a run besides its verdict.
struct CaseInfo<'a> {
    seed: u64,
    digest: &'a str,
    /// Wall-clock seconds (None: the result was read back by `--resume`).
    seconds: Option<f64>,
}

/// The JUnit suite's name: the paths `check` was given, as given ("scenarios",
/// "scenarios/attacks scenarios/faults"), so suites of separate CI steps differ.
fn junit_suite_name(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
}

fn junit_case(file: &str, name: &str, info: Option<CaseInfo>, failure: Option<(&str, &str)>) -> String {
    let class = file.trim_end_matches(".json").replace(['/', '\\'], ".");
    let mut head = format!("  <testcase classname=\"{}\" name=\"{}\"", xml_escape(&class), xml_escape(name));
    let mut body = String::new();
    if let Some(info) = &info {
        if let Some(s) = info.seconds {
            let _ = write!(head, " time=\"{s:.3}\"");
        }
        let _ = write!(
            body,
            "    <properties>\n      <property name=\"seed\" value=\"{}\"/>\n      <property name=\"digest\" value=\"{}\"/>\n    </properties>\n",
            info.seed,
            xml_escape(info.digest)
        );
    }
    if let Some((tag, msg)) = failure {
        let _ = writeln!(body, "    <{tag} message=\"{}\">{}</{tag}>", xml_escape(msg), xml_escape(msg));
    }
    if body.is_empty() { format!("{head}/>\n") } else { format!("{head}>\n{body}  </testcase>\n") }
}

/// Rewrites the pinned digests of every scenario that pins any, for the seeds just run,
/// in the file's own text (see `pins`): only the pinned values change. False if a file
/// that needed new pins could not be rewritten.
fn update_digests(entries: &[Entry], items: &[(usize, u64)], digests: &[(String, bool)]) -> bool {
    let mut all = true;
    for (i, e) in entries.iter().enumerate() {
        let Ok(spec) = &e.spec else { continue };
        if spec.expect.digests.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&e.bytes) else { continue };
        let mut moved: Vec<(u64, String)> = Vec::new();
        let mut unlisted: Vec<String> = Vec::new();
        let mut failing: Vec<String> = Vec::new();
        for (&(j, seed), (digest, pass)) in items.iter().zip(digests) {
            if j != i || spec.expect.digests.get(&seed).map(|d| d.to_hex()).as_ref() == Some(digest) {
                continue;
            }
            // A pin is checked only at the scenario's own seeds (another seed is held to
            // its safety claim alone), so a pin for another seed would never be read.
            if !(spec.expect.any_seed || spec.seeds.contains(&seed)) {
                unlisted.push(seed.to_string());
                continue;
            }
            // A pin says "still the run a maintainer accepted": a run that fails the
            // scenario's other expectations is not one to accept (scenarios/README §7).
            if !pass {
                failing.push(seed.to_string());
                continue;
            }
            moved.retain(|(s, _)| *s != seed);
            moved.push((seed, digest.clone()));
        }
        if !failing.is_empty() {
            say!(
                "not pinned: {} seeds {} (the run fails the scenario's other expectations: fix those first)",
                e.shown,
                failing.join(", ")
            );
        }
        if !unlisted.is_empty() {
            say!("not pinned: {} seeds {} (not among its seeds, where pins are checked)", e.shown, unlisted.join(", "));
        }
        if moved.is_empty() {
            continue;
        }
        let Some(out) = super::pins::rewrite(text, &moved) else {
            tell!("error: {}: cannot find expect.digests in the file's text; not updated", e.shown);
            all = false;
            continue;
        };
        let seeds: Vec<String> = moved.iter().map(|(s, _)| s.to_string()).collect();
        match write_atomic(&e.path, out.as_bytes()) {
            Ok(()) => say!("updated digests: {} (seeds {})", e.shown, seeds.join(", ")),
            Err(err) => {
                tell!("error: cannot write {}: {err}", e.path.display());
                all = false;
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes() {
        let info = CaseInfo { seed: 7, digest: "ab12", seconds: Some(0.25) };
        let c = junit_case("attacks/a.json", "seed 1", Some(info), Some(("failure", "expected <stall> & \"x\"")));
        assert!(c.contains("time=\"0.250\"") && c.contains("name=\"seed\" value=\"7\""), "{c}");
        assert!(c.contains("classname=\"attacks.a\""));
        assert!(c.contains("&lt;stall&gt; &amp; &quot;x&quot;"));
    }
}
