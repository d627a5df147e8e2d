//! `dbft-sim merge PATHS...`: the records files of a sharded run (`--shard i/n --json F`)
//! combined into one summary — counts by outcome, violated invariant and stall class, the
//! failing items, latency across seeds — printed and, with `--json`, written as JSON; with
//! `--records`, every record in the unsharded run's order, as one records file.
//!
//! Before anything is merged, every shard 0..n of the run must be there exactly once and
//! complete (its end line written, one record per item); otherwise merge names each
//! missing or incomplete shard and exits 1, writing nothing. The summary holds nothing
//! about how the run was split, so a sharded and an unsharded run of the same arguments
//! merge to the same JSON and the same records file.

use super::records::{FORMAT, Header, Line, Record};
use super::shard::Shard;
use crate::report::files::write_atomic;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Failing items and stalled seeds listed by name (the counts are complete).
const LISTED: usize = 1000;
const LISTED_STALLS: usize = 20;
/// Failing items printed (the JSON summary lists up to LISTED).
const PRINTED: usize = 20;

#[derive(Serialize, Default)]
struct Spread {
    seeds: usize,
    min: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

impl Spread {
    /// Nearest-rank percentiles of `xs` (one value per seed).
    fn of(mut xs: Vec<f64>) -> Spread {
        xs.sort_by(f64::total_cmp);
        let pick = |p: f64| {
            let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len().max(1));
            xs.get(rank - 1).copied()
        };
        Spread {
            seeds: xs.len(),
            min: xs.first().copied(),
            p50: pick(0.5),
            p90: pick(0.9),
            p99: pick(0.99),
            max: xs.last().copied(),
        }
    }

    fn describe(&self) -> String {
        match (self.min, self.p50, self.p90, self.p99, self.max) {
            (Some(a), Some(b), Some(c), Some(d), Some(e)) => {
                format!("min {a} / p50 {b} / p90 {c} / p99 {d} / max {e} ms over {} runs", self.seeds)
            }
            _ => "no values".to_string(),
        }
    }
}

#[derive(Serialize)]
struct Failing {
    scenario: String,
    seed: u64,
    outcome: String,
    violated: Vec<String>,
    stall: Option<String>,
    failure: Option<String>,
}

/// A stalled run: printed "seed 4" for `swarm`, "scenario seed 4" for `check`.
#[derive(Serialize)]
struct StalledRun {
    scenario: String,
    seed: u64,
}

#[derive(Serialize)]
struct Summary {
    /// v2: `stalled_runs` (class → `{scenario, seed}`) replaced v1's `stalled_seeds`.
    format: &'static str,
    command: String,
    args: String,
    run: String,
    records: u64,
    passed: u64,
    failed: u64,
    outcomes: BTreeMap<String, u64>,
    /// Records violating each invariant.
    invariants: BTreeMap<String, u64>,
    stall_classes: BTreeMap<String, u64>,
    /// The first stalled runs of each class, each with its scenario: `check`'s records of
    /// many scenarios share seeds, so a bare seed would not say which run stalled.
    stalled_runs: BTreeMap<String, Vec<StalledRun>>,
    /// The failing items (the first LISTED of them).
    failing: Vec<Failing>,
    /// Per-seed medians, spread across seeds.
    consensus_p50_ms: Spread,
    block_interval_p50_ms: Spread,
}

/// Records files under `paths`: files as given, directories searched for `*.jsonl`.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out)?;
            } else if e.extension().is_some_and(|x| x == "jsonl") {
                // A FIFO or device would block the read or never end it.
                if !e.is_file() {
                    return Err(std::io::Error::other(format!("{}: not a regular file", e.display())));
                }
                out.push(e);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.is_file() {
            out.push(p.clone());
        } else if p.exists() {
            return Err(format!("{}: not a regular file or directory", p.display()));
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// A records file read line by line.
struct Reader {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line_no: usize,
}

impl Reader {
    fn open(path: &Path) -> Result<(Reader, Header), String> {
        let f = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut r = Reader { path: path.to_path_buf(), lines: std::io::BufReader::new(f).lines(), line_no: 0 };
        match r.next()? {
            Some(Line::Header(h)) if h.format == FORMAT => Ok((r, h)),
            _ => Err(format!("{} is not a records file (dbft-sim check/swarm --json)", path.display())),
        }
    }

    /// The next line; a torn last line (a killed writer) reads as the end of the file.
    fn next(&mut self) -> Result<Option<Line>, String> {
        let Some(line) = self.lines.next() else { return Ok(None) };
        self.line_no += 1;
        let line = line.map_err(|e| format!("{}:{}: {e}", self.path.display(), self.line_no))?;
        match Line::parse(&line) {
            Ok(l) => Ok(Some(l)),
            Err(e) if self.line_no > 1 => {
                // Only a last line may be torn; anything after it is damage.
                match self.lines.next() {
                    None => Ok(None),
                    Some(_) => Err(format!("{}:{}: {e}", self.path.display(), self.line_no)),
                }
            }
            Err(e) => Err(format!("{}:{}: {e}", self.path.display(), self.line_no)),
        }
    }
}

/// Whole-file check of one shard: Ok(()) if complete, else what is wrong with it.
fn completeness(path: &Path, h: &Header) -> Result<Result<(), String>, String> {
    let (mut r, _) = Reader::open(path)?;
    let mut records = 0u64;
    let shard = h.shard();
    loop {
        match r.next()? {
            None => {
                return Ok(Err(format!(
                    "shard {shard} ({}): incomplete, {records} of {} records and no end line (the task did not finish; \
                     rerun it with --resume)",
                    path.display(),
                    h.items
                )));
            }
            Some(Line::Record(rec)) => {
                let due = shard.index + records * shard.count;
                if rec.index != due {
                    return Err(format!("{}: record of item {} where item {due} was due", path.display(), rec.index));
                }
                records += 1;
            }
            Some(Line::End(k)) if k == records && records == h.items => {
                // The end line is the last: anything after it (a record appended by hand,
                // a file concatenated onto itself) is damage, not part of the shard.
                return match r.lines.next() {
                    None => Ok(Ok(())),
                    Some(_) => Err(format!("{}:{}: a line after the end line", path.display(), r.line_no + 1)),
                };
            }
            Some(Line::End(k)) => {
                return Ok(Err(format!(
                    "shard {shard} ({}): its end line says {k} records, it holds {records} of {}",
                    path.display(),
                    h.items
                )));
            }
            Some(Line::Header(_)) => return Err(format!("{}: a second header", path.display())),
        }
    }
}

pub fn merge(paths: &[PathBuf], json: Option<&Path>, records_out: Option<&Path>) -> i32 {
    match merge_inner(paths, json, records_out) {
        Ok(code) => code,
        Err((code, msg)) => {
            tell!("error: {msg}");
            code
        }
    }
}

fn merge_inner(paths: &[PathBuf], json: Option<&Path>, records_out: Option<&Path>) -> Result<i32, (i32, String)> {
    let bad = |e: String| (2, e);
    let found = files(paths).map_err(bad)?;
    if found.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err((1, format!("no records files (*.jsonl) under {}: every shard is missing", shown.join(", "))));
    }
    // An output must not be one of the files being merged: it would be replaced by the
    // merge's result and the shard lost. Nor a records file inside a directory being
    // merged: the next merge of that directory would read it as a shard.
    crate::report::files::distinct_outputs(&[("--json", json), ("--records", records_out)]).map_err(bad)?;
    let dirs: Vec<PathBuf> =
        paths.iter().filter(|p| p.is_dir()).filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    for (flag, out) in [("--json", json), ("--records", records_out)] {
        let Some(out) = out else { continue };
        let Some(id) = crate::report::files::output_identity(out) else { continue };
        if let Some(p) = found.iter().find(|p| std::fs::canonicalize(p).is_ok_and(|c| c == id)) {
            return Err(bad(format!(
                "{flag} {} is one of the files being merged ({}); write it elsewhere",
                out.display(),
                p.display()
            )));
        }
        let read_later = id.extension().is_some_and(|x| x == "jsonl");
        if let Some(d) = dirs.iter().find(|d| read_later && id.starts_with(d)) {
            return Err(bad(format!(
                "{flag} {} is inside {}, which is being merged: the next merge of it would take this file for a \
                 shard; write it elsewhere",
                out.display(),
                d.display()
            )));
        }
    }
    let mut headers = Vec::new();
    for p in &found {
        headers.push((p.clone(), Reader::open(p).map_err(bad)?.1));
    }
    // A header is data too: one that contradicts itself (written by hand, or damaged)
    // must not make merge expect 2^64 shards.
    for (p, h) in &headers {
        let (index, count) = (h.shard.index, h.shard.count);
        let owned = if index >= h.total { 0 } else { (h.total - index - 1) / count.max(1) + 1 };
        if count == 0 || count > super::shard::MAX_SHARDS || index >= count || h.items != owned {
            return Err(bad(format!(
                "{}: its header is not one dbft-sim writes (shard {index} of {count}, {} of {} items)",
                p.display(),
                h.items,
                h.total
            )));
        }
    }
    let first = headers[0].1.clone();
    for (p, h) in &headers {
        if h.run != first.run || h.shard.count != first.shard.count {
            return Err(bad(format!(
                "{} and {} are not shards of one run: {}",
                headers[0].0.display(),
                p.display(),
                super::records::how_runs_differ(&first, h)
            )));
        }
    }
    let n = first.shard.count;
    let mut by_shard: BTreeMap<u64, (PathBuf, Header)> = BTreeMap::new();
    for (p, h) in headers {
        if let Some((other, _)) = by_shard.get(&h.shard.index) {
            return Err(bad(format!("shard {} is in two files: {} and {}", h.shard(), other.display(), p.display())));
        }
        by_shard.insert(h.shard.index, (p, h));
    }
    let mut problems = Vec::new();
    for index in 0..n {
        let shard = Shard { index, count: n };
        match by_shard.get(&index) {
            None => problems.push(format!("shard {shard}: missing (no records file holds it)")),
            Some((p, h)) => {
                if let Err(e) = completeness(p, h).map_err(bad)? {
                    problems.push(e);
                }
            }
        }
    }
    if !problems.is_empty() {
        const LISTED: usize = 50;
        for p in problems.iter().take(LISTED) {
            tell!("error: {p}");
        }
        if problems.len() > LISTED {
            tell!("error: … and {} more", problems.len() - LISTED);
        }
        tell!(
            "error: {} of {n} shards of `{} {}` missing or incomplete; nothing merged",
            problems.len(),
            first.command,
            first.args
        );
        return Ok(1);
    }

    let mut readers = Vec::new();
    for index in 0..n {
        let (p, _) = &by_shard[&index];
        readers.push(Reader::open(p).map_err(bad)?.0);
    }
    let mut out = match records_out {
        Some(path) => Some(RecordsOut::create(path, &first).map_err(bad)?),
        None => None,
    };
    let mut s = Summary {
        format: "dbft-sim/merge/v2",
        command: first.command.clone(),
        args: first.args.clone(),
        run: first.run.clone(),
        records: 0,
        passed: 0,
        failed: 0,
        outcomes: BTreeMap::new(),
        invariants: BTreeMap::new(),
        stall_classes: BTreeMap::new(),
        stalled_runs: BTreeMap::new(),
        failing: Vec::new(),
        consensus_p50_ms: Spread::default(),
        block_interval_p50_ms: Spread::default(),
    };
    let (mut consensus, mut interval) = (Vec::new(), Vec::new());
    for k in 0..first.total {
        let r = match readers[(k % n) as usize].next().map_err(bad)? {
            Some(Line::Record(r)) => r,
            _ => return Err(bad(format!("item {k}: its shard's file ended early"))),
        };
        if let Some(o) = &mut out {
            o.record(&r).map_err(bad)?;
        }
        tally(&mut s, r, &mut consensus, &mut interval);
    }
    s.consensus_p50_ms = Spread::of(consensus);
    s.block_interval_p50_ms = Spread::of(interval);
    if let Some(o) = out {
        o.finish(s.records).map_err(bad)?;
    }
    if let Some(path) = json {
        let mut text = serde_json::to_string_pretty(&s).map_err(|e| bad(e.to_string()))?;
        text.push('\n');
        write_atomic(path, text.as_bytes()).map_err(|e| bad(format!("cannot write {}: {e}", path.display())))?;
    }
    print(&s, n);
    Ok(if s.failed > 0 { 1 } else { 0 })
}

fn tally(s: &mut Summary, r: Record, consensus: &mut Vec<f64>, interval: &mut Vec<f64>) {
    s.records += 1;
    if r.pass {
        s.passed += 1;
    } else {
        s.failed += 1;
    }
    *s.outcomes.entry(r.outcome.clone()).or_insert(0) += 1;
    for v in &r.violated {
        *s.invariants.entry(v.clone()).or_insert(0) += 1;
    }
    // Counted as `swarm` counts them: a diagnosed stall by its class, a run halted by a
    // liveness checker or one that reached its heights late by what it violated ("L2
    // halted", "late: L1"), so a sharded sweep's merge says what the unsharded one did.
    if r.safety_violated().is_empty() && (r.stall.is_some() || r.outcome != "ok") {
        let label = r.stall_label();
        *s.stall_classes.entry(label.clone()).or_insert(0) += 1;
        let runs = s.stalled_runs.entry(label).or_default();
        if runs.len() < LISTED_STALLS {
            runs.push(StalledRun { scenario: r.scenario.clone(), seed: r.seed });
        }
    }
    consensus.extend(r.consensus_p50_ms);
    interval.extend(r.block_interval_p50_ms);
    if !r.pass && s.failing.len() < LISTED {
        s.failing.push(Failing {
            stall: r.stall.map(|st| format!("{} at height {}, view {}", st.class, st.height, st.view)),
            scenario: r.scenario,
            seed: r.seed,
            outcome: r.outcome,
            violated: r.violated,
            failure: r.failure,
        });
    }
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        "none".to_string()
    } else {
        m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    }
}

fn print(s: &Summary, shards: u64) {
    say!("merged {shards} shard(s) of `{} {}`: {} records", s.command, s.args, s.records);
    say!("  passed {}, failed {}", s.passed, s.failed);
    say!("  outcomes: {}", counts(&s.outcomes));
    say!("  invariants violated: {}", counts(&s.invariants));
    say!("  stall classes: {}", counts(&s.stall_classes));
    for (class, runs) in &s.stalled_runs {
        let total = s.stall_classes.get(class).copied().unwrap_or(0);
        let more =
            if total > runs.len() as u64 { format!(" (first {} of {total})", runs.len()) } else { String::new() };
        let named: Vec<String> = runs
            .iter()
            .map(|r| {
                if s.command == "check" {
                    format!("{} seed {}", r.scenario, r.seed)
                } else {
                    format!("seed {}", r.seed)
                }
            })
            .collect();
        say!("    {class}: {}{more}", named.join(", "));
    }
    for f in s.failing.iter().take(PRINTED) {
        let what = f.failure.clone().unwrap_or_else(|| f.outcome.clone());
        say!("  FAIL {} seed {}: {what}", f.scenario, f.seed);
    }
    if s.failed > PRINTED as u64 {
        say!(
            "  ... {} more failing items (--json lists {LISTED}; the counts above are complete)",
            s.failed - PRINTED as u64
        );
    }
    say!("  consensus latency p50 across runs: {}", s.consensus_p50_ms.describe());
    say!("  block interval p50 across runs: {}", s.block_interval_p50_ms.describe());
}

/// The merged records file: the header of the unsharded run, every record, the end line;
/// written to a temporary file and renamed into place once complete.
/// (The project's atomic writer: a link is followed, a device or FIFO written in place,
/// the temporary file synced before the rename and removed if the merge fails.)
struct RecordsOut {
    out: crate::report::files::AtomicFile,
    path: PathBuf,
}

impl RecordsOut {
    fn create(path: &Path, h: &Header) -> Result<RecordsOut, String> {
        let out = crate::report::files::AtomicFile::create(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut o = RecordsOut { out, path: path.to_path_buf() };
        let whole = Header { shard: Shard::WHOLE.into(), items: h.total, ..h.clone() };
        o.line(&serde_json::json!({ "header": whole }))?;
        Ok(o)
    }

    fn line(&mut self, v: &impl Serialize) -> Result<(), String> {
        let text = serde_json::to_string(v).map_err(|e| e.to_string())?;
        let Some(w) = self.out.writer() else { return Err(format!("cannot write {}", self.path.display())) };
        writeln!(w, "{text}").map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    fn record(&mut self, r: &Record) -> Result<(), String> {
        self.line(r)
    }

    fn finish(mut self, records: u64) -> Result<(), String> {
        self.line(&serde_json::json!({ "end": { "records": records } }))?;
        self.out.commit().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}
