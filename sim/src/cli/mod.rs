//! The `dbft-sim` command line.
//!
//! Exit codes, for every subcommand: 0 = ran and matched expectations; 1 = an invariant or
//! an expectation failed; 2 = bad input or usage (nothing is written).

/// `println!` for command output, minus the panic: a reader who closed the pipe (`| head`)
/// ends the printing, not the command — files are still written and the exit code still
/// tells the outcome. Any other write error is reported once on stderr.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say_line(format_args!($($arg)*))
    };
}

/// `eprintln!` for errors, warnings and progress, minus the panic: with stderr closed
/// (`dbft-sim … 2>&1 | head`) the command still runs to its end and exits with its own
/// code, not a panic's 101.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::cli::tell_line(format_args!($($arg)*))
    };
}

pub mod check;
pub mod diff;
pub mod explore;
pub mod handoffs;
pub mod list;
pub mod merge;
pub mod parallel;
pub mod pins;
pub mod plot;
pub mod progress;
pub mod records;
pub mod run;
pub mod seeds;
pub mod shard;
pub mod shrink;
pub mod swarm;
pub mod sweep;

use crate::protocol::dbft::Mutation;
use clap::{Parser, Subcommand};
use seeds::SeedList;
use shard::Shard;
use std::path::PathBuf;

/// The options of every sweep over seeds (`check`, `swarm`).
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Worker threads, 1–1024 (default: every core); the output does not depend on it.
    #[arg(long, short, value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Write one JSON record per work item to this file (JSON Lines), flushed as results
    /// come in; with --shard, the shard's output for `dbft-sim merge`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only shard I of N (0 ≤ I < N): every N-th work item, starting with item I.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Continue the --json file of an interrupted run of the same arguments: finished
    /// items are not run again, a torn last line is dropped.
    #[arg(long, requires = "json")]
    resume: bool,
    /// Print only failed items (and the summary).
    #[arg(long)]
    failures_only: bool,
    /// Stop at the first failed item.
    #[arg(long)]
    fail_fast: bool,
    /// Also write a self-contained HTML page of the whole batch (failures first) here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

impl SweepArgs {
    fn options(&self) -> sweep::SweepOptions {
        sweep::SweepOptions {
            jobs: self.jobs.map_or_else(sweep::default_jobs, |j| j as usize).max(1),
            shard: self.shard.unwrap_or(Shard::WHOLE),
            json: self.json.clone(),
            resume: self.resume,
            failures_only: self.failures_only,
            fail_fast: self.fail_fast,
            html: self.html.clone(),
            unreadable: Vec::new(),
        }
    }
}

#[derive(Parser, Debug)]
#[command(name = "dbft-sim", version, about = "Deterministic simulator for dBFT 2.0 consensus")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one scenario for one seed and write its report.
    Run {
        /// The scenario file (JSON).
        scenario: PathBuf,
        /// Seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (default: reports/<scenario-name>/<seed>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the event trace as JSON lines to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print only the verdict line.
        #[arg(long, short)]
        quiet: bool,
        /// Narrate the run on stdout, one line per event (before the summary).
        #[arg(long)]
        narrate: bool,
        /// Heights of the message-sequence chart: "5" or "3..6" (default: the height of the
        /// first violation, else of the stall, else the first height with a view change).
        #[arg(long, value_parser = run::parse_heights)]
        sequence_heights: Option<(u32, u32)>,
    },
    /// Run the regression suite: every scenario under PATHS for each of its seeds.
    Check {
        /// Scenario files or directories (searched recursively for *.json).
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        sweep: SweepArgs,
        /// Also write JUnit XML here (one test case per scenario × seed).
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Rewrite the pinned digests (`expect.digests`) of the scenarios that pin them.
        #[arg(long, conflicts_with_all = ["shard", "resume"])]
        update_digests: bool,
        /// Run these seeds instead of each scenario's own: "1,2,3" or "1..100".
        #[arg(long)]
        seeds: Option<SeedList>,
        /// Also run scenarios tagged "long".
        #[arg(long)]
        long: bool,
    },
    /// Plot runs. With INPUT (a scenario file, a directory of reports or a report.json):
    /// latency CDFs, height over time, views and messages per height of its runs. Without:
    /// the sweep of latency across network models, validator counts and crashed validators.
    Plot {
        /// A scenario file (run for --seeds, default its own seeds), a directory searched
        /// for report.json files, or one report.json.
        input: Option<PathBuf>,
        /// Output directory (default: reports/plots for the sweep, reports/<name>/plots
        /// for INPUT).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seeds: "1,2,3" or "1..5" (default: 1..3 per sweep cell; a scenario's own seeds).
        #[arg(long)]
        seeds: Option<SeedList>,
        /// Sweep: heights per run.
        #[arg(long, default_value_t = 8)]
        heights: u32,
        /// Sweep: block time T in milliseconds.
        #[arg(long, default_value_t = 15000)]
        block_time_ms: u64,
        /// Sweep: validator counts, comma-separated.
        #[arg(long, default_value = "4,7,10,21,50", value_delimiter = ',')]
        validators: Vec<u32>,
        /// Worker threads, 1–1024.
        #[arg(long, short, default_value_t = 1, value_parser = parse_jobs)]
        jobs: usize,
    },
    /// Overlay the latency CDFs of several scenarios or report directories (C# vs Go, LAN
    /// vs WAN, N = 4/7/21, a scenario and its attack variant): writes compare-cdf.svg.
    Compare {
        /// Scenario files, report directories or report.json files (two or more).
        #[arg(num_args = 2.., required = true)]
        inputs: Vec<PathBuf>,
        /// Seeds for every scenario input (default: each scenario's own).
        #[arg(long)]
        seeds: Option<SeedList>,
        #[arg(long, default_value = "reports/compare")]
        out: PathBuf,
        /// Worker threads, 1–1024.
        #[arg(long, short, default_value_t = 1, value_parser = parse_jobs)]
        jobs: usize,
    },
    /// List scenarios with their seeds, tags and descriptions (default: the bundled ones).
    List {
        /// Scenario files or directories (searched recursively for *.json).
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// Print whole descriptions, not only their first sentence.
        #[arg(long)]
        full: bool,
    },
    /// Print the JSON Schema of scenario files (also in docs/scenario.schema.json).
    Schema,
    /// Swarm testing: a random configuration per seed (≤ F faults); counterexamples to
    /// safety are written out as scenario files.
    Swarm {
        /// Seeds: "1,2,3" or "1..1000".
        #[arg(long, default_value = "1..200")]
        seeds: SeedList,
        #[command(flatten)]
        sweep: SweepArgs,
        /// Where counterexamples go.
        #[arg(long, default_value = "reports/swarm")]
        out: PathBuf,
        /// Heights per run, 1–100,000 (a swarm run is short by design; its drawn block
        /// times keep 100,000 heights well inside a scenario's one-year limit).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        heights: u32,
        /// Also write out runs that stalled.
        #[arg(long)]
        keep_stalls: bool,
        /// Run a broken protocol variant (no-commit-phase, no-commit-lock,
        /// quorum-off-by-one): a swarm that cannot find its violations could not find real ones.
        #[arg(long, value_parser = parse_mutation)]
        mutation: Option<Mutation>,
        /// Give every seed validator churn under this hand-off rule (e.g. apply-on-propose,
        /// the deliberately unsafe one); by default half the seeds churn under a safe rule.
        #[arg(long)]
        handoff: Option<String>,
        /// Honest runs with validator churn (no faults, every change gossiped): safety and
        /// liveness must both hold; a stall fails the sweep.
        #[arg(long, conflicts_with_all = ["mutation", "handoff"])]
        honest_churn: bool,
    },
    /// Every hand-off rule against every validator-set attack scenario: safety, liveness
    /// and hand-off latency p50/p99 (writes handoff-table.md and .json).
    HandoffTable {
        /// Seeds per cell.
        #[arg(long, default_value = "1..10")]
        seeds: SeedList,
        /// Worker threads, 1–1024.
        #[arg(long, short, default_value_t = 1, value_parser = parse_jobs)]
        jobs: usize,
        #[arg(long, default_value = "reports/handoffs")]
        out: PathBuf,
    },
    /// Where two runs part ways: the first differing event, with context. A and B are
    /// scenario files (run with --seed or their own seeds) or trace files (.jsonl).
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Seed for both scenarios (default: each scenario's own).
        #[arg(long)]
        seed: Option<u64>,
        /// Seed for B only, to compare two seeds of one scenario (default: --seed).
        #[arg(long)]
        seed_b: Option<u64>,
        /// Events shown before and after the first difference.
        #[arg(long, default_value_t = 8)]
        context: usize,
    },
    /// Exhaustive bounded model checking of the scenario's replicas: every order of
    /// deliveries, timer expiries and crash choices within the bounds; S1–S6 on every step;
    /// stuck states diagnosed. Counterexamples are written as scenarios with a `schedule`.
    Explore {
        /// The scenario file (JSON): validators, semantics, mutation, seed, initial txs.
        scenario: PathBuf,
        /// Heights every honest running validator must finalise.
        #[arg(long, default_value_t = 1)]
        heights: u32,
        /// The highest view a replica may enter.
        #[arg(long, default_value_t = 1)]
        max_view: u8,
        /// How many validators may crash (at any point; at most F).
        #[arg(long, default_value_t = 0)]
        crashes: u32,
        /// How many restarts of crashed honest validators are choices (needs --crashes):
        /// at any point after the crash, with the saved context (or, with --amnesia,
        /// without it).
        #[arg(long, default_value_t = 0)]
        restarts: u32,
        /// Restarts lose the saved context (the node knows only its chain): the checkers
        /// count such a node as faulty from its restart on.
        #[arg(long, requires = "restarts")]
        amnesia: bool,
        /// Messages may also be lost.
        #[arg(long)]
        loss: bool,
        /// Messages may be lost, at most this many on any path (implies --loss).
        #[arg(long, value_name = "K")]
        max_drops: Option<u32>,
        /// A Byzantine node may withhold any message it sends from any recipient: the
        /// search chooses which of its messages arrive where (not counted as losses).
        #[arg(long)]
        withhold: bool,
        /// Instead of the exhaustive search: every state within D steps, then the
        /// shallowest settled unfinished states, each searched on its own (within
        /// --walk-stuck-budget states) until one is proven stuck: the shortest stuck
        /// schedule within D steps, without a breadth-first frontier.
        #[arg(long, value_name = "D")]
        shortest_stuck: Option<u32>,
        /// With --shortest-stuck: check only settled states whose stall diagnosis is this
        /// class (e.g. commit-lock), so a shallower artefact of a bound does not end it.
        #[arg(long, value_name = "CLASS", requires = "shortest_stuck", value_parser = parse_explore_stall_class)]
        stuck_class: Option<crate::invariants::diagnosis::StallClass>,
        /// Timers fire only when nothing is in flight (message delays below every
        /// timeout); default: the asynchronous model, a timer may fire at any point.
        #[arg(long)]
        synchrony: bool,
        /// Timers fire in deadline order, each only when nothing is in flight: the
        /// bounded-delay model (every message arrives before the next timer expires).
        /// Implies --synchrony.
        #[arg(long)]
        deadlines: bool,
        /// With --deadlines: messages may take up to this many milliseconds, so a timer
        /// due sooner can fire while they are in flight (deliveries happen at the
        /// instants timers fire; docs/explore.md §4.5). Default 0: none in flight.
        #[arg(long, value_name = "MS", requires = "deadlines", conflicts_with = "synchrony")]
        max_delay_ms: Option<u64>,
        /// How many adversary-timer steps (one period of its periodic behaviours) each
        /// Byzantine node may take.
        #[arg(long, default_value_t = 2)]
        adversary_ticks: u32,
        /// Depth-first search (default: breadth-first, shortest counterexamples).
        #[arg(long)]
        dfs: bool,
        /// Stop after this many search nodes (the "states" of the progress line: a state counts once per reduction context, so the distinct states can be fewer).
        #[arg(long, default_value_t = 50_000_000)]
        max_states: u64,
        /// Stop after this many seconds.
        #[arg(long)]
        max_seconds: Option<f64>,
        /// Stop when resident memory exceeds this many MiB (default: three quarters of
        /// the machine's memory; 0: no limit).
        #[arg(long)]
        max_memory_mb: Option<u64>,
        /// When stderr is not a terminal (a log, CI, a batch job): print a progress line
        /// (states, states/s, depth, queue, memory) at most this often, in seconds.
        #[arg(long, default_value_t = 30.0, value_name = "SECS", allow_negative_numbers = true)]
        progress_every: f64,
        /// Where counterexample scenarios go (default: reports/explore/<scenario-name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print every found schedule step by step.
        #[arg(long)]
        show_schedules: bool,
        /// Start the search where the scenario's own `schedule` ends (its steps taken
        /// under these bounds) instead of at its initial state: e.g. whether a stuck state
        /// found with recovery off stays stuck with --recovery. Written schedules begin
        /// with the scenario's steps (less deliveries skipped as dead; --shrink may drop
        /// more).
        #[arg(long)]
        after_schedule: bool,
        /// Turn the partial-order reduction off (to measure what it saves).
        #[arg(long)]
        no_reduce: bool,
        /// Take the partial-order reduction (skip orders of independent steps). Off by
        /// default: measured since its re-send fix, its search nodes (state and context)
        /// outnumber the orders it skips (docs/explore.md §3); never where dead state is
        /// forgotten.
        #[arg(long)]
        por: bool,
        /// Accepted for older scripts: the partial-order reduction is off unless --por.
        #[arg(long, hide = true, conflicts_with = "por")]
        no_por: bool,
        /// Keep the whole state of every replica in its fingerprint (by default, with
        /// recovery off and only honest processes, a replica is fingerprinted by what a
        /// later step can still read of it: docs/explore.md §4.7).
        #[arg(long)]
        no_forget: bool,
        /// Keep messages their recipient ignores forever in flight (by default they are
        /// dropped: docs/explore.md §3).
        #[arg(long)]
        no_prune: bool,
        /// Deliver every message judged dead to a copy of its recipient before dropping
        /// it, and stop with an error unless that is a no-op (slower).
        #[arg(long, conflicts_with = "no_prune")]
        check_reductions: bool,
        /// Instead of the exhaustive search, take this many seeded random walks (each
        /// step uniform among the enabled ones) and stop at the first violation: reaches
        /// deep counterexamples fast, proves nothing.
        #[arg(long, conflicts_with_all = ["dfs", "shortest_stuck"])]
        walks: Option<u64>,
        /// The longest random walk, in steps.
        #[arg(long, default_value_t = 200)]
        walk_depth: u32,
        /// A walk that ends with nothing in flight and the height unfinished is searched
        /// exhaustively from there, within this many states: a complete search proves a
        /// stuck state (0: walks look for violations only).
        #[arg(long, default_value_t = 20_000)]
        walk_stuck_budget: u64,
        /// Also deliver RecoveryRequest and RecoveryMessage (by default they are sent but
        /// never delivered, as in the TLA+ models: the space is far larger with them).
        #[arg(long)]
        recovery: bool,
        /// Shrink each written schedule: drop steps one at a time while the replay shows
        /// the same violations or stall class (and stays settled).
        #[arg(long)]
        shrink: bool,
    },
    /// Combine the records files (--json) of a sharded run into one summary: counts by
    /// outcome, invariant and stall class, the failing seeds, latency across seeds. Exit 1
    /// if a shard is missing or incomplete (or an item failed).
    Merge {
        /// Records files, or directories holding them (*.jsonl, recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also write the summary as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also write every record, in the unsharded run's order, here (JSON Lines).
        #[arg(long, value_name = "FILE")]
        records: Option<PathBuf>,
    },
    /// Shrink a counterexample: remove faults, simplify the network and drop schedule steps
    /// while the run still violates the same safety invariants (or stalls the same way);
    /// write the smaller scenario.
    Shrink {
        /// The scenario file (JSON) whose run violates a safety invariant or stalls.
        scenario: PathBuf,
        /// Seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Where the shrunk scenario goes (default: reports/shrink/<scenario-name>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `--jobs` of the commands outside the sweeps (`plot`, `compare`, `handoff-table`):
/// 1–1024, as the sweeps' own (`SweepArgs`); 0 workers would run nothing.
fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("{s} is not a worker count in 1..=1024")),
    }
}

fn parse_mutation(s: &str) -> Result<Mutation, String> {
    Mutation::parse(s).ok_or_else(|| format!("unknown mutation \"{s}\" (expected one of {})", Mutation::expected()))
}

/// Parses arguments and runs; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let code = dispatch(cli.command);
    finish(code)
}

fn dispatch(command: Command) -> i32 {
    match command {
        Command::Run { scenario, seed, out, trace, quiet, narrate, sequence_heights } => {
            run::run(&scenario, run::RunOptions { seed, out, trace, quiet, narrate, sequence_heights })
        }
        Command::Check { paths, sweep, junit, update_digests, seeds, long } => {
            check::check(check::CheckOptions { paths, junit, update_digests, seeds, long, sweep: sweep.options() })
        }
        Command::Plot { input, out, seeds, heights, block_time_ms, validators, jobs } => {
            if let Some(code) = out.as_deref().and_then(bad_out_dir) {
                return code;
            }
            let seeds = match seeds.map(|s| s.to_vec(10_000)).transpose() {
                Ok(s) => s,
                Err(e) => {
                    tell!("error: --seeds: {e}");
                    return 2;
                }
            };
            if let Some(input) = input {
                return plot::plot_runs(&input, seeds.as_deref(), out, jobs);
            }
            if heights == 0 || block_time_ms == 0 || validators.iter().any(|&n| n == 0 || n > 1024) {
                tell!("error: --heights and --block-time-ms must be > 0, --validators in 1..=1024");
                return 2;
            }
            let seeds = seeds.unwrap_or_else(|| vec![1, 2, 3]);
            let out = out.unwrap_or_else(|| PathBuf::from("reports/plots"));
            plot::plot(plot::PlotOptions { out, seeds, heights, block_time_ms, validators, jobs })
        }
        Command::List { paths, full } => list::list(&paths, full),
        Command::Schema => {
            say!("{}", crate::scenario::json_schema().trim_end());
            0
        }
        Command::Compare { inputs, seeds, out, jobs } => {
            let seeds = match seeds.map(|s| s.to_vec(10_000)).transpose() {
                Ok(s) => s,
                Err(e) => {
                    tell!("error: --seeds: {e}");
                    return 2;
                }
            };
            if let Some(code) = bad_out_dir(&out) {
                return code;
            }
            plot::compare(&inputs, seeds.as_deref(), &out, jobs)
        }
        Command::Swarm { seeds, sweep, out, heights, keep_stalls, mutation, handoff, honest_churn } => {
            if let Some(h) = &handoff
                && !crate::validators::handoff::HandoffRule::NAMES.contains(&h.as_str())
            {
                let known = crate::validators::handoff::HandoffRule::NAMES.join(", ");
                tell!("error: --handoff: unknown rule \"{h}\" (expected one of {known})");
                return 2;
            }
            swarm::swarm(swarm::SwarmOptions {
                seeds,
                sweep: sweep.options(),
                out,
                heights,
                keep_stalls,
                mutation,
                handoff,
                honest_churn,
            })
        }
        Command::HandoffTable { seeds, jobs, out } => {
            if let Some(code) = bad_out_dir(&out) {
                return code;
            }
            let seeds = match seeds.to_vec(10_000) {
                Ok(s) => s,
                Err(e) => {
                    tell!("error: {e}");
                    return 2;
                }
            };
            handoffs::table(handoffs::TableOptions { seeds, jobs, out })
        }
        Command::Diff { a, b, seed, seed_b, context } => diff::run(&a, &b, diff::DiffOptions { seed, seed_b, context }),
        Command::Explore {
            scenario,
            heights,
            max_view,
            crashes,
            restarts,
            amnesia,
            loss,
            max_drops,
            withhold,
            shortest_stuck,
            stuck_class,
            synchrony,
            deadlines,
            max_delay_ms,
            adversary_ticks,
            dfs,
            max_states,
            max_seconds,
            max_memory_mb,
            progress_every,
            out,
            show_schedules,
            after_schedule,
            no_reduce,
            por,
            no_por: _,
            no_forget,
            no_prune,
            check_reductions,
            walks,
            walk_depth,
            walk_stuck_budget,
            recovery,
            shrink,
        } => {
            // A year at most: `Duration` cannot hold NaN, infinity or a negative time.
            if let Some(s) = max_seconds.filter(|s| !(*s > 0.0 && *s <= 3.2e7)) {
                tell!("error: --max-seconds {s}: expected a number of seconds in (0, 3.2e7]");
                return 2;
            }
            explore::run(
                &scenario,
                explore::ExploreOptions {
                    bounds: crate::explore::search::Bounds {
                        heights,
                        max_view,
                        crashes,
                        restarts,
                        amnesia,
                        loss: loss || max_drops.is_some(),
                        max_drops,
                        withhold,
                        shortest_stuck,
                        stuck_class,
                        stop_at_finish: false,
                        synchrony: (synchrony || deadlines) && max_delay_ms.is_none_or(|d| d == 0),
                        deadlines,
                        max_delay: max_delay_ms.map(|ms| ms.saturating_mul(1000)),
                        adversary_ticks,
                        dfs,
                        max_states,
                        max_time: max_seconds.map(std::time::Duration::from_secs_f64),
                        max_memory: explore::memory_budget(max_memory_mb),
                        reduce: !no_reduce,
                        por,
                        forget: !no_forget,
                        recovery,
                        prune: match (no_prune, check_reductions) {
                            (true, _) => crate::explore::model::Prune::Off,
                            (false, true) => crate::explore::model::Prune::Check,
                            (false, false) => crate::explore::model::Prune::On,
                        },
                        walks,
                        walk_depth,
                        walk_stuck_budget,
                    },
                    out,
                    show_schedules,
                    shrink,
                    progress_every,
                    after_schedule,
                },
            )
        }
        Command::Merge { paths, json, records } => merge::merge(&paths, json.as_deref(), records.as_deref()),
        Command::Shrink { scenario, seed, out } => shrink::run(&scenario, shrink::ShrinkOptions { seed, out }),
    }
}

/// An `--out` directory that cannot be one (a file, or under one), said before any
/// simulation runs: Some(exit code).
fn bad_out_dir(dir: &std::path::Path) -> Option<i32> {
    let e = crate::report::files::check_output_dir(dir).err()?;
    tell!("error: --out: {e}");
    Some(2)
}

/// [`tell!`]: one line on stderr; once stderr cannot be written, nothing more is tried.
pub fn tell_line(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if !CLOSED.load(Ordering::Relaxed) && writeln!(std::io::stderr(), "{args}").is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes one line of command output (see `say!`).
pub fn say_line(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = writeln!(std::io::stdout(), "{args}") {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tell!("error: cannot write to stdout: {e}");
            STDOUT_FAILED.store(true, Ordering::Relaxed);
        }
    }
}

/// Set when command output could not be written for a reason other than a closed pipe
/// (a full disk, `> /dev/full`): the command's result never reached its reader, so the
/// process must not exit 0.
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exit code, after flushing stdout: an output error turns success into exit 2.
fn finish(code: i32) -> i32 {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if let Err(e) = std::io::stdout().flush()
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !STDOUT_FAILED.load(Ordering::Relaxed)
    {
        tell!("error: cannot write to stdout: {e}");
        STDOUT_FAILED.store(true, Ordering::Relaxed);
    }
    if STDOUT_FAILED.load(Ordering::Relaxed) { code.max(2) } else { code }
}

/// A stall class the explorer's diagnosis can give: it runs with zero elapsed time, so
/// only the structural classes occur (docs/explore.md §3; view-exhausted is one: every
/// node in view 255); asking for another would search for something that never matches.
fn parse_explore_stall_class(s: &str) -> Result<crate::invariants::diagnosis::StallClass, String> {
    use crate::invariants::diagnosis::StallClass;
    let possible = [
        StallClass::CommitLock,
        StallClass::ViewSplit,
        StallClass::InvalidBlock,
        StallClass::TooManyFaulty,
        StallClass::ViewExhausted,
        StallClass::Undiagnosed,
    ];
    let class = parse_stall_class(s)?;
    if possible.contains(&class) {
        Ok(class)
    } else {
        let names: Vec<String> = possible.iter().map(|c| format!("\"{c}\"")).collect();
        Err(format!(
            "stall class {s:?} cannot occur in explore (its diagnosis has no elapsed time); expected one of {}",
            names.join(", ")
        ))
    }
}

fn parse_stall_class(s: &str) -> Result<crate::invariants::diagnosis::StallClass, String> {
    crate::invariants::diagnosis::StallClass::parse(s).ok_or_else(|| {
        format!("unknown stall class {s:?}; expected one of {}", crate::invariants::diagnosis::StallClass::expected())
    })
}
