//! What `check` and `swarm` share: running a sweep of work items on worker threads (one
//! shard of it, resumed if asked), printing each result as it completes in the run's
//! order, writing the records file, stopping at the first failure on request.
//!
//! On a terminal, a progress bar on stderr shows the count, the ETA and an item in
//! progress; without one (CI), there is no bar, and every result line is printed — and
//! flushed — as soon as it and all before it are done, so the log of a killed job ends
//! at its last finished item.

use super::records::{Header, Record, RecordFile};
use super::shard::Shard;
use crate::report::files::{check_output_file, write_atomic};
use crate::report::html::{BatchRow, BatchTotals, batch_page};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The sweep options every sweeping command takes.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub jobs: usize,
    pub shard: Shard,
    /// Where the records go (JSON Lines).
    pub json: Option<PathBuf>,
    /// Continue the records file instead of starting it afresh.
    pub resume: bool,
    /// Print only the items that failed (and the summary).
    pub failures_only: bool,
    /// Stop at the first item that fails.
    pub fail_fast: bool,
    /// Where the batch's HTML page goes.
    pub html: Option<PathBuf>,
    /// Scenario files of the batch that could not be read (listed on the HTML page).
    pub unreadable: Vec<crate::report::html::Unreadable>,
}

/// The default `--jobs`: every core this process may use.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How a sweep ended.
pub struct Ended {
    /// Records read back from the file by `--resume`.
    pub resumed: u64,
    /// Items run by this process.
    pub ran: u64,
    /// `--fail-fast` stopped the sweep before its last item.
    pub stopped: bool,
}

/// Runs shard `opts.shard` of the sweep whose items (in the unsharded run's order) are
/// `items`. `work(k, item)` runs item k and gives its record and whatever else the command
/// needs; `on(record, Some((item, extra)))` is called for each result in order, and
/// `on(record, None)` for each record a resumed file already held; it returns the lines
/// to print for the result (or an exit code to stop with), leaving out what
/// `--failures-only` hides. `name` labels an item on the
/// progress bar. Errors (unwritable records file, a file of another run) are reported
/// here and come back as exit code 2.
pub fn run<T: Send, X: Send>(
    label: &str,
    header: &Header,
    items: impl Iterator<Item = T> + Send,
    opts: &SweepOptions,
    name: impl Fn(&T) -> String + Sync,
    work: impl Fn(u64, &T) -> (Record, X) + Sync,
    mut on: impl FnMut(&Record, Option<(&T, X)>) -> Result<Vec<String>, i32>,
) -> Result<Ended, i32> {
    if let Some(path) = &opts.html
        && let Err(e) = check_output_file(path)
    {
        tell!("error: --html: {e}");
        return Err(2);
    }
    if let Err(e) =
        crate::report::files::distinct_outputs(&[("--json", opts.json.as_deref()), ("--html", opts.html.as_deref())])
    {
        tell!("error: {e}");
        return Err(2);
    }
    let mut page = BatchPage::default();
    let mut file = None;
    let mut done = 0;
    if let Some(path) = &opts.json {
        let mut failed = None;
        let opened = RecordFile::open(path, header, opts.resume, |r| {
            page.add(&r);
            if failed.is_none()
                && let Err(code) = on(&r, None)
            {
                failed = Some(code);
            }
        });
        let r = match opened {
            Ok(r) => r,
            Err(e) => {
                tell!("error: --json: {e}");
                return Err(2);
            }
        };
        if let Some(code) = failed {
            return Err(code);
        }
        if r.done > 0 {
            let rest = if r.complete { "nothing left to run" } else { "running the rest" };
            say!("resumed {}: {} of {} records already there, {rest}", path.display(), r.done, header.items);
        }
        done = r.done;
        file = Some(r.file);
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::new(header.items);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{label} [{{bar:30}}] {{pos}}/{{len}} ({{elapsed}}, ETA {{eta}}) {{msg}}"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(done);
    let shard = opts.shard;
    let mine = items.enumerate().map(|(k, t)| (k as u64, t)).filter(move |&(k, _)| shard.owns(k)).skip(done as usize);
    let (mut ran, mut stopped, mut error) = (0, false, None);
    super::parallel::stream(
        mine,
        opts.jobs,
        |(k, t)| {
            if terminal {
                bar.set_message(name(t));
            }
            work(*k, t)
        },
        |(_, t), (record, extra)| {
            ran += 1;
            bar.inc(1);
            page.add(&record);
            let lines = match on(&record, Some((&t, extra))) {
                Ok(lines) => lines,
                Err(code) => {
                    error = Some(code);
                    return false;
                }
            };
            if !lines.is_empty() {
                let print = || lines.iter().for_each(|l| say!("{l}"));
                if terminal { bar.suspend(print) } else { print() }
            }
            if let Some(f) = &mut file
                && let Err(e) = f.record(&record).and_then(|()| f.flush())
            {
                tell!("error: --json: {e}");
                error = Some(2);
                return false;
            }
            if opts.fail_fast && !record.pass {
                stopped = true;
                return false;
            }
            true
        },
    );
    bar.finish_and_clear();
    if let Some(f) = file
        && let Err(e) = f.finish()
    {
        tell!("error: --json: {e}");
        return Err(2);
    }
    if let Some(code) = error {
        return Err(code);
    }
    if let Some(path) = &opts.html
        && let Err(e) = write_atomic(path, page.render(label, &opts.unreadable).as_bytes())
    {
        tell!("error: --html {}: {e}", path.display());
        return Err(2);
    }
    if stopped && done + ran < header.items {
        say!("stopped at the first failure (--fail-fast): {} of {} items run", done + ran, header.items);
    }
    Ok(Ended { resumed: done, ran, stopped })
}

/// The batch's HTML page, kept bounded however long the sweep: every failed item up to
/// [`BatchPage::MAX_ROWS`], then passed items while room is left; the totals count all.
#[derive(Default)]
struct BatchPage {
    failed: Vec<BatchRow>,
    passed: Vec<BatchRow>,
    total: u64,
    total_failed: u64,
    outcomes: std::collections::BTreeMap<String, u64>,
}

impl BatchPage {
    const MAX_ROWS: usize = 10_000;

    fn add(&mut self, r: &Record) {
        self.total += 1;
        if !r.pass {
            self.total_failed += 1;
        }
        *self.outcomes.entry(r.outcome.clone()).or_insert(0) += 1;
        if self.failed.len() + self.passed.len() >= Self::MAX_ROWS {
            // A failure, or a passed run that did not end ok (the amber rows the page's
            // outcome counts point to), displaces an ok row — the last one listed; a
            // failure displaces any passed row if no ok row is left.
            if r.pass && r.outcome == "ok" {
                return;
            }
            match self.passed.iter().rposition(|row| row.outcome == "ok") {
                Some(i) => {
                    self.passed.remove(i);
                }
                None if !r.pass && !self.passed.is_empty() => {
                    self.passed.pop();
                }
                None => return,
            }
        }
        // As the console says it: why it failed, else what the run came to (violated
        // invariants, the stall, the liveness checker that halted it).
        let detail = match &r.failure {
            Some(f) => f.clone(),
            None => r.describe(),
        };
        let row = BatchRow {
            scenario: r.scenario.clone(),
            seed: r.seed,
            outcome: r.outcome.clone(),
            as_expected: r.pass,
            digest: r.digest.clone(),
            detail,
            link: None,
        };
        if r.pass { self.passed.push(row) } else { self.failed.push(row) }
    }

    fn render(&self, label: &str, unreadable: &[crate::report::html::Unreadable]) -> String {
        let rows: Vec<&BatchRow> = self.failed.iter().chain(&self.passed).collect();
        let totals = BatchTotals { runs: self.total, failed: self.total_failed, outcomes: self.outcomes.clone() };
        batch_page(&format!("dbft-sim {label}"), &rows, totals, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, pass: bool, outcome: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "index": i, "scenario": "s", "seed": i, "config": "c", "pass": pass, "outcome": outcome,
            "violated": [], "stall": null, "digest": "d", "heights": 0, "events": 0, "sim_time_ms": 0.0,
            "block_interval_p50_ms": null, "block_interval_p99_ms": null, "consensus_p50_ms": null,
            "consensus_p99_ms": null, "failure": if pass { None } else { Some("f") }
        }))
        .expect("a record")
    }

    /// A full page (10,000 rows of ok runs) still lists a failure and a passed run that
    /// stalled — what its outcome counts point to — in place of ok rows, and keeps no
    /// further ok run; the totals count everything.
    #[test]
    fn a_full_page_lists_failures_and_stalls_before_ok_runs() {
        let mut page = BatchPage::default();
        let max = BatchPage::MAX_ROWS as u64;
        for i in 0..max {
            page.add(&record(i, true, "ok"));
        }
        page.add(&record(max, true, "stall"));
        page.add(&record(max + 1, false, "safety-violation"));
        page.add(&record(max + 2, true, "ok"));
        assert_eq!((page.total, page.total_failed), (max + 3, 1));
        assert_eq!(page.outcomes.get("ok"), Some(&(max + 1)));
        assert_eq!(page.failed.len() + page.passed.len(), BatchPage::MAX_ROWS);
        assert_eq!(page.failed.iter().map(|r| r.seed).collect::<Vec<_>>(), [max + 1]);
        assert!(page.passed.iter().any(|r| r.seed == max && r.outcome == "stall"));
        assert!(!page.passed.iter().any(|r| r.seed == max + 2), "a new ok run displaces nothing");
    }
}
