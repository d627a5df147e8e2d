//! Result records of `check` and `swarm` as JSON Lines (`--json FILE`): the file CI reads
//! while a sweep runs, the output of one shard, and what `--resume` continues and `merge`
//! combines.
//!
//! A file is append-only: a header line `{"header": {...}}` naming the run (its command,
//! the arguments that fix its results, and a hash of both that every shard of the run
//! shares) and the shard; one line per finished work item, in the run's order; and, once
//! every item of the shard is done, an end line `{"end": {"records": N}}`. Lines are
//! flushed as results come in, so a killed run keeps everything it finished. A process
//! killed in the middle of a write leaves at most one torn last line (no newline); resuming
//! cuts it off and runs that item again, so the finished file has exactly one record per
//! item. Records hold no wall-clock time and no output paths: the same item gives the same
//! record whatever the number of workers or shards.

use super::shard::Shard;
use crate::report::Report;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "dbft-sim/records/v1";

/// The first line of a records file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    /// `check` or `swarm`.
    pub command: String,
    /// The arguments that fix the run's items and results, in words (not `--jobs`,
    /// `--shard` or output paths).
    pub args: String,
    /// BLAKE3 of the command, the arguments and (for `check`) the scenario files'
    /// contents: every shard of one run carries the same value.
    pub run: String,
    pub shard: ShardField,
    /// Work items of this shard.
    pub items: u64,
    /// Work items of the unsharded run.
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardField {
    pub index: u64,
    pub count: u64,
}

impl From<Shard> for ShardField {
    fn from(s: Shard) -> ShardField {
        ShardField { index: s.index, count: s.count }
    }
}

impl Header {
    pub fn new(command: &str, args: String, contents: &[u8], shard: Shard, total: u64) -> Header {
        let mut h = blake3::Hasher::new();
        for part in [FORMAT.as_bytes(), command.as_bytes(), args.as_bytes(), contents] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        Header {
            format: FORMAT.to_string(),
            command: command.to_string(),
            args,
            run: h.finalize().to_hex().to_string(),
            shard: shard.into(),
            items: shard.len_of(total),
            total,
        }
    }

    pub fn shard(&self) -> Shard {
        Shard { index: self.shard.index, count: self.shard.count }
    }
}

/// Where a run stalled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StallField {
    pub class: String,
    pub height: u32,
    pub view: u8,
}

/// One work item's result: a scenario × seed of `check`, or a seed of `swarm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the unsharded run (the merge order).
    pub index: u64,
    /// `check`: the scenario file as given; `swarm`: the drawn scenario's name.
    pub scenario: String,
    pub seed: u64,
    /// BLAKE3 of the scenario text that ran (for `swarm`, the drawn configuration).
    pub config: String,
    /// Whether the item passed: `check`, its expectations held; `swarm`, no safety
    /// violation (and, for honest churn, no stall).
    pub pass: bool,
    /// ok, stall, liveness-violation or safety-violation.
    pub outcome: String,
    pub violated: Vec<String>,
    pub stall: Option<StallField>,
    /// Whether the run reached its height target (liveness `holds`). A liveness violation
    /// that did not is a run a checker halted (L2), one that did reached its heights late.
    /// Records written before this field read as true: their `liveness-violation` runs
    /// were late ones (a halted run was a `stall` then).
    #[serde(default = "reached_by_default")]
    pub reached: bool,
    /// The trace digest.
    pub digest: String,
    /// Highest height finalised.
    pub heights: u32,
    /// Validator-set hand-offs whose new set finalised its first height (0 without
    /// changes; records written before this field read as 0).
    #[serde(default)]
    pub handoffs: u32,
    pub events: u64,
    pub sim_time_ms: f64,
    pub block_interval_p50_ms: Option<f64>,
    pub block_interval_p99_ms: Option<f64>,
    pub consensus_p50_ms: Option<f64>,
    pub consensus_p99_ms: Option<f64>,
    /// Why the item failed, in words (None when it passed).
    pub failure: Option<String>,
}

fn reached_by_default() -> bool {
    true
}

impl Record {
    /// The record of `report` (whose scenario text was `text`); `pass` and `failure` are
    /// the command's verdict.
    pub fn of(index: u64, scenario: &str, text: &[u8], report: &Report, pass: bool, failure: Option<String>) -> Record {
        let stall = report.liveness.stalled().map(|s| StallField {
            class: s.class.to_string(),
            height: s.height,
            view: s.view,
        });
        let some = |s: &crate::report::metrics::Summary, x: f64| (s.count > 0).then_some(x);
        let l = &report.latency;
        Record {
            index,
            scenario: scenario.to_string(),
            seed: report.seed,
            config: blake3::hash(text).to_hex().to_string(),
            pass,
            outcome: report.outcome.kind.to_string(),
            violated: report.outcome.violated.iter().map(|v| v.to_string()).collect(),
            stall,
            reached: report.liveness.status == crate::report::LivenessStatus::Holds,
            digest: report.digest.to_hex(),
            heights: report.heights.finalised,
            handoffs: report.handoffs.iter().filter(|h| h.final_ms.is_some()).count() as u32,
            events: report.events,
            sim_time_ms: report.sim_time_ms,
            block_interval_p50_ms: some(&l.block_interval_ms, l.block_interval_ms.p50),
            block_interval_p99_ms: some(&l.block_interval_ms, l.block_interval_ms.p99),
            consensus_p50_ms: some(&l.consensus_ms, l.consensus_ms.p50),
            consensus_p99_ms: some(&l.consensus_ms, l.consensus_ms.p99),
            failure,
        }
    }
}

impl Record {
    /// How a run that is neither ok nor a safety violation is counted: its stall class;
    /// for a run that stopped without one, the liveness invariants it violated ("L2
    /// halted"); for one that reached its heights late, "late: L1".
    pub fn stall_label(&self) -> String {
        if let Some(st) = &self.stall {
            return st.class.clone();
        }
        let ids: Vec<&str> = self.violated.iter().filter(|v| !v.starts_with('S')).map(String::as_str).collect();
        let ids = if ids.is_empty() { "unclassified".to_string() } else { ids.join("+") };
        if self.reached && self.outcome == "liveness-violation" {
            format!("late: {ids}")
        } else {
            format!("{ids} halted")
        }
    }

    /// The safety invariants the record violates.
    pub fn safety_violated(&self) -> Vec<&str> {
        self.violated.iter().filter(|v| v.starts_with('S')).map(String::as_str).collect()
    }

    /// What the run came to beyond its outcome, as the console says it: the violated
    /// safety invariants, the stall (class, height, view) or the liveness label ("L2
    /// halted after 3 heights", "late: L1"). Empty for an ok run.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let safety = self.safety_violated();
        if !safety.is_empty() {
            parts.push(format!("safety violated: {}", safety.join(" ")));
        }
        if let Some(s) = &self.stall {
            parts.push(format!("{} at h{} v{}", s.class, s.height, s.view));
        } else if self.violated.iter().any(|v| !v.starts_with('S')) || self.outcome == "stall" {
            let label = self.stall_label();
            parts.push(if label.ends_with("halted") {
                format!("{label} after {} heights", self.heights)
            } else {
                label
            });
        }
        parts.join("; ")
    }

    /// A placeholder for an item that could not run (never written: the sweep stops with
    /// an error first).
    pub fn unrun(index: u64, seed: u64) -> Record {
        Record {
            index,
            scenario: String::new(),
            seed,
            config: String::new(),
            pass: false,
            outcome: String::new(),
            violated: vec![],
            stall: None,
            reached: true,
            digest: String::new(),
            heights: 0,
            handoffs: 0,
            events: 0,
            sim_time_ms: 0.0,
            block_interval_p50_ms: None,
            block_interval_p99_ms: None,
            consensus_p50_ms: None,
            consensus_p99_ms: None,
            failure: None,
        }
    }
}

/// One line of a records file.
pub enum Line {
    Header(Header),
    Record(Record),
    End(u64),
}

impl Line {
    pub fn parse(text: &str) -> Result<Line, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if let Some(h) = v.get("header") {
            return Header::deserialize(h).map(Line::Header).map_err(|e| format!("header: {e}"));
        }
        if let Some(e) = v.get("end") {
            return e.get("records").and_then(|r| r.as_u64()).map(Line::End).ok_or("end: no record count".into());
        }
        Record::deserialize(&v).map(Line::Record).map_err(|e| format!("record: {e}"))
    }
}

/// A records file being written.
pub struct RecordFile {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    written: u64,
    items: u64,
    /// The file already has its end line (a finished run resumed): none is added.
    ended: bool,
}

/// What an existing file already holds, for `--resume`.
pub struct Resumed {
    pub file: RecordFile,
    /// Records already in the file (the shard's first `done` items).
    pub done: u64,
    /// The file already has its end line: nothing is left to run.
    pub complete: bool,
}

impl RecordFile {
    /// Opens `path` for `header`'s run. Without `resume` the file starts afresh. With it, a
    /// file of the same run and shard is continued: each record already there is handed
    /// to `seen` in order, a torn last line (a write cut short by a kill) is cut off, and
    /// writing continues after the last whole record; a file of another run is refused.
    pub fn open(path: &Path, header: &Header, resume: bool, mut seen: impl FnMut(Record)) -> Result<Resumed, String> {
        let shown = path.display();
        if resume && path.exists() {
            // Resuming reads the file to its end: a FIFO or device has none.
            if !path.is_file() {
                return Err(format!("cannot resume from {shown}: not a regular file"));
            }
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| format!("cannot open {shown}: {e}"))?;
            let (keep, done, complete) = scan(&mut f, path, header, &mut seen)?;
            if keep > 0 {
                f.set_len(keep).map_err(|e| format!("cannot truncate {shown}: {e}"))?;
                f.seek(std::io::SeekFrom::End(0)).map_err(|e| format!("{shown}: {e}"))?;
                let file = RecordFile {
                    out: std::io::BufWriter::new(f),
                    path: path.to_path_buf(),
                    written: done,
                    items: header.items,
                    ended: complete,
                };
                return Ok(Resumed { file, done, complete });
            }
        }
        let f = crate::report::files::create_streamed(path).map_err(|e| format!("cannot create {shown}: {e}"))?;
        let mut file = RecordFile {
            out: std::io::BufWriter::new(f),
            path: path.to_path_buf(),
            written: 0,
            items: header.items,
            ended: false,
        };
        file.line(&serde_json::json!({ "header": header }))?;
        file.flush()?;
        Ok(Resumed { file, done: 0, complete: false })
    }

    fn line(&mut self, v: &impl Serialize) -> Result<(), String> {
        let text = serde_json::to_string(v).map_err(|e| e.to_string())?;
        writeln!(self.out, "{text}").map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    pub fn record(&mut self, r: &Record) -> Result<(), String> {
        self.line(r)?;
        self.written += 1;
        Ok(())
    }

    /// Pushes what was written to the file (called after every batch of results).
    pub fn flush(&mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    /// Writes the end line if every item of the shard has its record (and the file does
    /// not have it already: resuming a finished run leaves the file as it was).
    pub fn finish(mut self) -> Result<(), String> {
        if self.written == self.items && !self.ended {
            self.line(&serde_json::json!({ "end": { "records": self.written } }))?;
        }
        self.flush()?;
        // A device (`--json /dev/null`) cannot be synced, and need not be.
        if self.out.get_ref().metadata().is_ok_and(|m| !m.is_file()) {
            return Ok(());
        }
        self.out.get_ref().sync_all().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// What tells the runs of two headers apart, for an error message: the command and
/// arguments when they differ (shortened: a `check` of a whole suite lists every file),
/// else the shard count, else the inputs (same command line, but a scenario file's
/// contents or the program's version changed since).
pub fn how_runs_differ(a: &Header, b: &Header) -> String {
    fn short(s: &str) -> String {
        const MAX: usize = 160;
        match s.char_indices().nth(MAX) {
            Some((at, _)) => format!("{}… ({} characters)", &s[..at], s.chars().count()),
            None => s.to_string(),
        }
    }
    if a.command != b.command || a.args != b.args {
        format!("`{} {}` against `{} {}`", a.command, short(&a.args), b.command, short(&b.args))
    } else if a.shard.count != b.shard.count {
        format!("{} shards against {}", a.shard.count, b.shard.count)
    } else {
        format!(
            "the same command line (`{} {}`), but other inputs: a scenario file's contents or the program's version \
             changed in between (run {} against {})",
            a.command,
            short(&a.args),
            &a.run[..a.run.len().min(12)],
            &b.run[..b.run.len().min(12)]
        )
    }
}

/// Reads an existing file for `--resume`: (bytes to keep, records, has its end line). Zero
/// bytes to keep means the file holds not even a whole header (start it afresh).
fn scan(
    f: &mut std::fs::File,
    path: &Path,
    header: &Header,
    seen: &mut impl FnMut(Record),
) -> Result<(u64, u64, bool), String> {
    let shown = path.display();
    let mut reader = std::io::BufReader::new(&mut *f);
    let (mut offset, mut done, mut complete) = (0u64, 0u64, false);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            // A torn first line must be the start of this run's header (a kill during the
            // first write); any other one-line file is not ours to overwrite.
            if line_no == 0 && n > 0 {
                let ours = serde_json::to_string(&serde_json::json!({ "header": header })).unwrap_or_default();
                if !ours.as_bytes().starts_with(&buf) {
                    return Err(format!(
                        "{shown} is not a records file of this run (its one line is not the start of this run's header); \
                         remove it or write elsewhere"
                    ));
                }
            }
            // End of file, or a torn last line: keep what came before it.
            return Ok((offset, done, complete));
        }
        line_no += 1;
        let at = |msg: String| format!("{shown}:{line_no}: {msg}");
        let text = std::str::from_utf8(&buf).map_err(|_| at("not UTF-8".into()))?;
        if complete {
            return Err(at("a line after the end line".into()));
        }
        let parsed = Line::parse(text.trim_end());
        if line_no == 1 && !matches!(parsed, Ok(Line::Header(_))) {
            return Err(at("the first line is not a records header (not a dbft-sim check/swarm --json file)".into()));
        }
        match parsed.map_err(at)? {
            Line::Header(h) if line_no == 1 => {
                if h != *header {
                    let why = if h.run == header.run && h.shard != header.shard {
                        format!("shard {} against this run's shard {}", h.shard(), header.shard())
                    } else {
                        how_runs_differ(&h, header)
                    };
                    return Err(format!(
                        "{shown} holds records of another run or shard ({why}); remove it or write elsewhere"
                    ));
                }
            }
            _ if line_no == 1 => return Err(at("the first line is not a records header".into())),
            Line::Header(_) => return Err(at("a second header".into())),
            Line::Record(r) => {
                let expected = header.shard.index + done * header.shard.count;
                if r.index != expected {
                    return Err(at(format!("record of item {} where item {expected} was due", r.index)));
                }
                seen(r);
                done += 1;
            }
            Line::End(k) => {
                if k != done || done != header.items {
                    return Err(at(format!("end line says {k} records; the file holds {done} of {}", header.items)));
                }
                complete = true;
            }
        }
        offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::new("swarm", "--seeds 1..5".into(), b"", Shard { index: 1, count: 2 }, 5)
    }

    fn record(index: u64) -> Record {
        Record {
            scenario: format!("swarm-{index}"),
            pass: true,
            outcome: "ok".into(),
            heights: 3,
            handoffs: 0,
            block_interval_p50_ms: Some(1.0),
            ..Record::unrun(index, index)
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dbft-records-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A run a liveness checker halted (it did not reach its heights) is "L2 halted",
    /// one that reached them late "late: L1", whatever the outcome is called; records
    /// written before `reached` existed (a halted run was a "stall" then) read the same.
    #[test]
    fn halted_and_late_runs_are_told_apart_and_described() {
        let rec = |outcome: &str, violated: &[&str], reached: bool| Record {
            outcome: outcome.into(),
            violated: violated.iter().map(|v| v.to_string()).collect(),
            reached,
            heights: 3,
            ..record(1)
        };
        let halted = rec("liveness-violation", &["L2"], false);
        assert_eq!((halted.stall_label(), halted.describe()), ("L2 halted".into(), "L2 halted after 3 heights".into()));
        let late = rec("liveness-violation", &["L1"], true);
        assert_eq!((late.stall_label(), late.describe()), ("late: L1".into(), "late: L1".into()));
        let fork = rec("safety-violation", &["S1", "S6"], true);
        assert_eq!(fork.describe(), "safety violated: S1 S6");
        assert_eq!(record(1).describe(), "", "an ok run has nothing to add");
        // An old record of a halted run: outcome "stall", no `reached` field.
        let mut old = serde_json::to_value(rec("stall", &["L2"], true)).unwrap();
        old.as_object_mut().unwrap().remove("reached");
        let old: Record = serde_json::from_value(old).unwrap();
        assert_eq!(old.stall_label(), "L2 halted");
    }

    /// A write cut short by a kill leaves a last line without its newline: resuming keeps
    /// the whole records before it, drops it, and continues after them; the finished file
    /// has one record per item and its end line.
    #[test]
    fn resume_drops_a_torn_last_line_and_continues() {
        let path = dir("torn").join("r.jsonl");
        let h = header();
        assert_eq!(h.items, 2, "items 1 and 3 of 0..5");
        let mut f = RecordFile::open(&path, &h, false, |_| {}).unwrap().file;
        f.record(&record(1)).unwrap();
        f.flush().unwrap();
        drop(f);
        let whole = std::fs::read_to_string(&path).unwrap();
        let torn = serde_json::to_string(&record(3)).unwrap();
        std::fs::write(&path, format!("{whole}{}", &torn[..torn.len() / 2])).unwrap();

        let mut seen = vec![];
        let r = RecordFile::open(&path, &h, true, |r| seen.push(r.index)).unwrap();
        assert_eq!((seen, r.done, r.complete), (vec![1], 1, false));
        let mut f = r.file;
        f.record(&record(3)).unwrap();
        f.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[3].starts_with(r#"{"end":{"records":2}"#), "{text}");
        let again = RecordFile::open(&path, &h, true, |_| {}).unwrap();
        assert!(again.complete && again.done == 2);
        // Resuming a finished file (a requeued task that had completed) changes nothing,
        // however often.
        again.file.finish().unwrap();
        let twice = RecordFile::open(&path, &h, true, |_| {}).unwrap();
        assert!(twice.complete && twice.done == 2);
        twice.file.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "still one end line");
    }

    #[test]
    fn resume_refuses_another_runs_file_and_out_of_order_records() {
        let path = dir("other").join("r.jsonl");
        RecordFile::open(&path, &header(), false, |_| {}).unwrap().file.finish().unwrap();
        let other = Header::new("swarm", "--seeds 1..6".into(), b"", Shard { index: 1, count: 2 }, 6);
        let e = RecordFile::open(&path, &other, true, |_| {}).err().unwrap();
        assert!(e.contains("another run") && e.contains("--seeds 1..5"), "{e}");

        let mut f = RecordFile::open(&path, &header(), false, |_| {}).unwrap().file;
        f.record(&record(3)).unwrap();
        f.flush().unwrap();
        let e = RecordFile::open(&path, &header(), true, |_| {}).err().unwrap();
        assert!(e.contains("item 3 where item 1 was due"), "{e}");
    }
}
