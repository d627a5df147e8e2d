//! `dbft-sim swarm`: runs the configurations `search::swarm` draws, one per seed, counts
//! outcomes, and writes every counterexample (and, on request, every stall) out as a
//! replayable scenario file.

use super::parallel;
use super::seeds::SeedList;
use crate::invariants::InvariantId;
use crate::protocol::dbft::Mutation;
use crate::report::Report;
use crate::report::files::write_atomic;
use crate::scenario;
use crate::search::shrink::Failure;
use crate::search::swarm::{generate_honest_churn, generate_with};
use crate::world;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct SwarmOptions {
    pub seeds: SeedList,
    pub jobs: usize,
    pub out: PathBuf,
    pub heights: u32,
    pub keep_stalls: bool,
    /// A broken protocol variant to run instead of dBFT 2.0 (a test of the swarm itself).
    pub mutation: Option<Mutation>,
    /// Force this hand-off rule on every seed with churn (and give every seed churn).
    pub handoff: Option<String>,
    /// Honest runs with validator churn instead (no faults): a stall fails the sweep too.
    pub honest_churn: bool,
}

/// What a worker sends back (reports hold `Rc`s and stay on their thread).
struct Outcome {
    text: String,
    result: Result<Failure, String>,
}

pub fn swarm(o: SwarmOptions) -> i32 {
    let run_seed = |&seed: &u64| {
        let text = if o.honest_churn {
            generate_honest_churn(seed, o.heights)
        } else {
            generate_with(seed, o.heights, o.mutation, o.handoff.as_deref())
        };
        let result = scenario::parse(&text, "swarm")
            .map(|spec| Failure::of(&Report::build(&spec, &world::run(&spec, seed, None, false))))
            .map_err(|e| e.to_string());
        Outcome { text, result }
    };
    let (mut violations, mut stalls_by_class) = (0, BTreeMap::<&str, u64>::new());
    let mut ok = 0;
    // Seeds stream through in chunks: memory stays flat however many seeds there are, and
    // results print in seed order whatever the number of workers.
    let bar = parallel::bar("swarm", o.seeds.len());
    let mut seeds = o.seeds.iter();
    loop {
        let chunk: Vec<u64> = seeds.by_ref().take(parallel::chunk_size(o.jobs)).collect();
        if chunk.is_empty() {
            break;
        }
        let results = parallel::map_on(&bar, &chunk, o.jobs, run_seed);
        for (seed, r) in chunk.iter().zip(&results) {
            let summary = match &r.result {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: swarm seed {seed} generated a bad scenario: {e}");
                    return 2;
                }
            };
            let keep = if !summary.safety.is_empty() {
                violations += 1;
                say!("VIOLATION seed {seed}: {}", InvariantId::join(&summary.safety, " "));
                true
            } else if let Some((class, ..)) = summary.stall {
                *stalls_by_class.entry(class.as_str()).or_insert(0) += 1;
                if o.honest_churn {
                    say!("STALL seed {seed}: {class} (an honest run must not stall)");
                }
                o.keep_stalls || o.honest_churn
            } else {
                ok += 1;
                false
            };
            if keep {
                let path = o.out.join(format!("swarm-{seed}.json"));
                match write_atomic(&path, r.text.as_bytes()) {
                    Ok(()) => say!("  wrote {} (replay: dbft-sim run {})", path.display(), path.display()),
                    Err(e) => {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        return 2;
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    let stalls: Vec<String> = stalls_by_class.iter().map(|(c, k)| format!("{k} {c}")).collect();
    say!(
        "{} runs: {ok} reached their heights, {violations} safety violations, stalls: {}",
        o.seeds.len(),
        if stalls.is_empty() { "none".to_string() } else { stalls.join(", ") }
    );
    let stalled = o.honest_churn && !stalls_by_class.is_empty();
    if violations > 0 || stalled { 1 } else { 0 }
}
