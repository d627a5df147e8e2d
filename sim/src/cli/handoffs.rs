//! `dbft-sim handoff-table`: every hand-off rule against every validator-set attack.
//!
//! Each row is an attack scenario of `scenarios/validators/`, each column a hand-off rule.
//! The scenario runs unchanged except for `protocol.handoff` (and without its `expect`
//! block, whose heights belong to its own rule) for every seed, and the cell says whether
//! safety held in all of them (else which invariants failed, in how many seeds), how many
//! seeds reached their height target, and the hand-off latency — from the old set's last
//! final height to the new set's first — at p50 and p99 over every hand-off of every seed.
//! The result is written as Markdown (the table in `docs/validator-sets.md`) and JSON.

use super::parallel;
use crate::invariants::InvariantId;
use crate::report::LivenessStatus;
use crate::report::Report;
use crate::report::files::write_atomic;
use crate::report::metrics::Summary;
use crate::scenario::{self, RunSpec};
use crate::validators::handoff::{HandoffOptions, HandoffRule};
use crate::world;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

pub struct TableOptions {
    pub seeds: Vec<u64>,
    pub jobs: usize,
    pub out: PathBuf,
}

/// The attacks: (what, scenario file). Rows of the table, in this order.
pub const ATTACKS: [(&str, &str); 12] = [
    ("honest: disjoint hand-off 7 → 7", "scenarios/validators/disjoint-handoff-7-next-block.json"),
    ("honest: rolling replacement, 10 % loss", "scenarios/validators/rolling-replacement-7.json"),
    ("hand-off height needs a view change", "scenarios/validators/handoff-view-change-4.json"),
    ("joiners start late and must sync", "scenarios/validators/slow-joiners-4.json"),
    ("private change + view change, no Byzantine node", "scenarios/validators/private-change-view-change-4.json"),
    ("twin primary splits a private change", "scenarios/validators/apply-on-propose-breaks-4.json"),
    ("two branches to disjoint sets, ≤ F faulty", "scenarios/validators/two-branch-dual-quorum-4.json"),
    ("two branches to disjoint sets, F + 1 colluders", "scenarios/validators/two-branch-beyond-f-4.json"),
    ("retired keys (M of the old set) sign a stale branch", "scenarios/validators/stale-set-branch-4.json"),
    ("ejected key keeps signing", "scenarios/validators/self-ejection-4.json"),
    ("commit lock at the hand-off height", "scenarios/validators/handoff-commit-lock-4.json"),
    ("an ejection and a crash leave the old set short of M", "scenarios/validators/dual-quorum-ejection-crash-4.json"),
];

/// The columns.
pub const RULES: [HandoffRule; 5] = [
    HandoffRule::NextBlock,
    HandoffRule::RefreshPeriod { period: 3 },
    HandoffRule::Delay2,
    HandoffRule::DualQuorum,
    HandoffRule::ApplyOnPropose,
];

fn rule_label(r: HandoffRule) -> String {
    match r {
        HandoffRule::RefreshPeriod { period } => format!("refresh-period {period}"),
        other => other.name().to_string(),
    }
}

#[derive(Debug, Serialize)]
struct CellResult {
    attack: &'static str,
    scenario: &'static str,
    rule: String,
    seeds: usize,
    /// Seeds in which some safety invariant failed.
    unsafe_seeds: usize,
    violated: BTreeSet<InvariantId>,
    /// Seeds that reached their height target.
    live_seeds: usize,
    handoffs: usize,
    latency_ms: Summary,
}

/// One run's outcome.
struct RunOutcome {
    violated: Vec<InvariantId>,
    live: bool,
    latencies: Vec<u64>,
}

fn variant(base: &RunSpec, rule: HandoffRule) -> RunSpec {
    let mut s = base.clone();
    s.protocol.handoff = HandoffOptions { rule, churn_limit: base.protocol.handoff.churn_limit };
    s.expect = Default::default();
    s
}

pub fn table(o: TableOptions) -> i32 {
    let mut bases = Vec::new();
    for (label, path) in ATTACKS {
        match scenario::load(std::path::Path::new(path)) {
            Ok(s) => bases.push((label, path, s)),
            Err(e) => {
                tell!("error: {path}: {e}");
                return 2;
            }
        }
    }
    let mut items = Vec::new();
    for (a, _) in ATTACKS.iter().enumerate() {
        for (r, _) in RULES.iter().enumerate() {
            for &seed in &o.seeds {
                items.push((a, r, seed));
            }
        }
    }
    let results = parallel::map("handoff-table", &items, o.jobs, |&(a, r, seed)| {
        let spec = variant(&bases[a].2, RULES[r]);
        let rep = Report::build(&spec, &world::run(&spec, seed, None, false));
        RunOutcome {
            violated: rep.outcome.violated.iter().copied().filter(|id| id.is_safety()).collect(),
            live: rep.liveness.status == LivenessStatus::Holds,
            latencies: rep
                .handoffs
                .iter()
                .filter_map(|h| h.latency_ms)
                .map(|ms| (ms * 1000.0).round() as u64)
                .collect(),
        }
    });
    let mut cells = Vec::new();
    for (a, (label, path, _)) in bases.iter().enumerate() {
        for (r, rule) in RULES.iter().enumerate() {
            let runs: Vec<&RunOutcome> =
                items.iter().zip(&results).filter(|((ia, ir, _), _)| *ia == a && *ir == r).map(|(_, x)| x).collect();
            let latencies: Vec<u64> = runs.iter().flat_map(|x| x.latencies.iter().copied()).collect();
            cells.push(CellResult {
                attack: label,
                scenario: path,
                rule: rule_label(*rule),
                seeds: runs.len(),
                unsafe_seeds: runs.iter().filter(|x| !x.violated.is_empty()).count(),
                violated: runs.iter().flat_map(|x| x.violated.iter().copied()).collect(),
                live_seeds: runs.iter().filter(|x| x.live).count(),
                handoffs: latencies.len(),
                latency_ms: Summary::of_micros(latencies),
            });
        }
    }
    let md = markdown(&cells, &o.seeds);
    let json = serde_json::to_string_pretty(&cells).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(&o.out)
        .and_then(|_| write_atomic(&o.out.join("handoff-table.md"), md.as_bytes()))
        .and_then(|_| write_atomic(&o.out.join("handoff-table.json"), json.as_bytes()))
    {
        tell!("error: cannot write to {}: {e}", o.out.display());
        return 2;
    }
    say!("{md}");
    say!("wrote {} and handoff-table.json", o.out.join("handoff-table.md").display());
    0
}

fn seconds(ms: f64) -> String {
    if ms >= 10_000.0 { format!("{:.0} s", ms / 1000.0) } else { format!("{:.1} s", ms / 1000.0) }
}

fn markdown(cells: &[CellResult], seeds: &[u64]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Each cell: safety over {} seeds (\"safe\", or the invariants that failed and in how many seeds), \
         seeds that reached their height target, and hand-off latency p50 / p99 over every completed hand-off.\n",
        seeds.len()
    );
    let _ = write!(s, "| attack |");
    for r in RULES {
        let _ = write!(s, " {} |", rule_label(r));
    }
    let _ = write!(s, "\n|---|");
    for _ in RULES {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for chunk in cells.chunks(RULES.len()) {
        let _ = write!(s, "| {} |", chunk[0].attack);
        for c in chunk {
            let safety = if c.unsafe_seeds == 0 {
                "safe".to_string()
            } else {
                let ids: Vec<&str> = c.violated.iter().map(|id| id.as_str()).collect();
                format!("**{}** ({}/{})", ids.join(" "), c.unsafe_seeds, c.seeds)
            };
            let latency = if c.handoffs == 0 {
                "no hand-off".to_string()
            } else {
                format!("{} / {}", seconds(c.latency_ms.p50), seconds(c.latency_ms.p99))
            };
            let _ = write!(s, " {safety}; live {}/{}; {latency} |", c.live_seeds, c.seeds);
        }
        s.push('\n');
    }
    s
}
