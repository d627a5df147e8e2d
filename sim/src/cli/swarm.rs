//! `dbft-sim swarm`: runs the configurations `search::swarm` draws, one per seed, counts
//! outcomes, and writes every counterexample (and, on request, every stall) out as a
//! replayable scenario file. With `--json`, one record per seed (see `records`); with
//! `--shard i/n`, only every n-th seed, for `merge` to combine.

use super::records::{Header, Record};
use super::seeds::SeedList;
use super::sweep::{self, SweepOptions};
use crate::protocol::dbft::Mutation;
use crate::report::Report;
use crate::report::files::write_atomic;
use crate::scenario;
use crate::search::swarm::{generate_honest_churn, generate_with};
use crate::world;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct SwarmOptions {
    pub seeds: SeedList,
    pub out: PathBuf,
    pub heights: u32,
    pub keep_stalls: bool,
    /// A broken protocol variant to run instead of dBFT 2.0 (a test of the swarm itself).
    pub mutation: Option<Mutation>,
    /// Force this hand-off rule on every seed with churn (and give every seed churn).
    pub handoff: Option<String>,
    /// Honest runs with validator churn instead (no faults): a stall fails the sweep too.
    pub honest_churn: bool,
    pub sweep: SweepOptions,
}

/// The most stalled seeds the summary names (the records file has them all).
const NAMED_STALLS: usize = 20;

impl SwarmOptions {
    /// The arguments that fix the seeds' results, for the records header.
    fn args(&self) -> String {
        let mut a = format!("--seeds {} --heights {}", self.seeds, self.heights);
        if let Some(m) = self.mutation {
            a += &format!(" --mutation {m}");
        }
        if let Some(h) = &self.handoff {
            a += &format!(" --handoff {h}");
        }
        if self.honest_churn {
            a += " --honest-churn";
        }
        a
    }
}

pub fn swarm(o: SwarmOptions) -> i32 {
    // Where counterexamples go is checked before the first seed runs, not when the first
    // one is found.
    if let Err(e) = crate::report::files::check_output_dir(&o.out) {
        tell!("error: --out: {e}");
        return 2;
    }
    let header = Header::new("swarm", o.args(), env!("CARGO_PKG_VERSION").as_bytes(), o.sweep.shard, o.seeds.len());
    let run_seed = |index: u64, &seed: &u64| {
        let text = if o.honest_churn {
            generate_honest_churn(seed, o.heights)
        } else {
            generate_with(seed, o.heights, o.mutation, o.handoff.as_deref())
        };
        let record = scenario::parse(&text, "swarm").map_err(|e| e.to_string()).map(|spec| {
            let report = Report::build(&spec, &world::run(&spec, seed, None, false));
            let mut r = Record::of(index, &spec.name, text.as_bytes(), &report, true, None);
            let violation = r.violated.iter().any(|v| v.starts_with('S'));
            // Any run that did not reach its heights (a diagnosed stall, or a run a
            // liveness checker halted, L2), or reached them late (L1, L2).
            let stalled_honest = o.honest_churn && r.outcome != "ok";
            if violation || stalled_honest {
                r.pass = false;
                r.failure = Some(if violation {
                    format!("safety violated: {}", safety_of(&r).join(" "))
                } else {
                    format!("an honest run ended in {}", stall_label(&r))
                });
            }
            r
        });
        match record {
            Ok(r) => (r, Ok(text)),
            // Never expected: the generator writes valid scenarios (a unit test checks).
            Err(e) => (Record::unrun(index, seed), Err(e)),
        }
    };
    let (mut violations, mut stalls_by_class, mut ok) = (0u64, BTreeMap::<String, u64>::new(), 0u64);
    // How much hand-off the sweep exercised: completed hand-offs, and the runs with one.
    let (mut handoffs, mut runs_with_handoff) = (0u64, 0u64);
    let mut stalled_seeds: Vec<u64> = Vec::new();
    let terminal = std::io::stderr().is_terminal();
    let on = |r: &Record, ran: Option<(&u64, Result<String, String>)>| -> Result<Vec<String>, i32> {
        let seed = r.seed;
        let text = match ran {
            Some((_, Err(e))) => {
                tell!("error: swarm seed {seed} generated a bad scenario: {e}");
                return Err(2);
            }
            Some((_, Ok(text))) => Some(text),
            None => None,
        };
        let mut lines = Vec::new();
        handoffs += u64::from(r.handoffs);
        runs_with_handoff += u64::from(r.handoffs > 0);
        let keep = if r.violated.iter().any(|v| v.starts_with('S')) {
            violations += 1;
            lines.push(format!("VIOLATION seed {seed}: {}", safety_of(r).join(" ")));
            true
        } else if r.outcome != "ok" {
            // A diagnosed stall by its class; a run halted by a liveness checker (L2: a
            // hand-off's new set did not finalise in time) or one that reached its heights
            // late (a liveness violation) by what it violated, never as "ok".
            let label = stall_label(r);
            *stalls_by_class.entry(label.clone()).or_insert(0) += 1;
            if stalled_seeds.len() < NAMED_STALLS {
                stalled_seeds.push(seed);
            }
            let note = if o.honest_churn { " (an honest run must not stall)" } else { "" };
            let at = match &r.stall {
                Some(st) => format!(" at height {}, view {}", st.height, st.view),
                None => format!(" after {} heights", r.heights),
            };
            // A run that did not reach its heights stalled, whatever stopped it.
            let what = if r.reached && r.outcome == "liveness-violation" { "LIVENESS" } else { "STALL" };
            lines.push(format!("{what} seed {seed}: {label}{at}{note}"));
            o.keep_stalls || o.honest_churn
        } else {
            ok += 1;
            if !terminal {
                lines.push(format!(
                    "ok seed {seed}: {} heights, digest {}",
                    r.heights,
                    &r.digest[..8.min(r.digest.len())]
                ));
            }
            false
        };
        if keep && let Some(text) = text {
            let path = o.out.join(format!("swarm-{seed}.json"));
            match write_atomic(&path, text.as_bytes()) {
                Ok(()) => lines.push(format!("  wrote {} (replay: dbft-sim run {})", path.display(), path.display())),
                Err(e) => {
                    tell!("error: cannot write {}: {e}", path.display());
                    return Err(2);
                }
            }
        }
        if o.sweep.failures_only && r.pass {
            lines.clear();
        }
        Ok(lines)
    };
    let ended =
        match sweep::run("swarm", &header, o.seeds.iter(), &o.sweep, |seed| format!("seed {seed}"), run_seed, on) {
            Ok(e) => e,
            Err(code) => return code,
        };
    let stalls: Vec<String> = stalls_by_class.iter().map(|(c, k)| format!("{k} {c}")).collect();
    let shard = if o.sweep.shard.count > 1 { format!(" (shard {})", o.sweep.shard) } else { String::new() };
    say!(
        "{} runs{shard}: {ok} ok, {violations} safety violations, stalls (by class, or by the liveness invariant that stopped the run): {}",
        ended.resumed + ended.ran,
        if stalls.is_empty() { "none".to_string() } else { stalls.join(", ") }
    );
    if handoffs > 0 {
        say!("hand-offs completed: {handoffs}, in {runs_with_handoff} of the runs");
    }
    let stalled: u64 = stalls_by_class.values().sum();
    if stalled > 0 {
        let named: Vec<String> = stalled_seeds.iter().map(u64::to_string).collect();
        let more =
            if stalled > named.len() as u64 { format!(" (first {} of {stalled})", named.len()) } else { String::new() };
        say!("stalled seeds: {}{more}", named.join(", "));
    }
    let failed = violations > 0 || (o.honest_churn && stalled > 0);
    if failed { 1 } else { 0 }
}

fn stall_label(r: &Record) -> String {
    r.stall_label()
}

fn safety_of(r: &Record) -> Vec<&str> {
    r.safety_violated()
}
