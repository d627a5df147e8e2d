//! Exhaustive bounded exploration of the real replica code (`dbft-sim explore`), and the
//! explicit schedules its counterexamples replay as (docs/explore.md).
//!
//! - `step.rs` — one nondeterministic choice as data (deliver, drop, timer, crash,
//!   restart), as a scenario's `schedule` lists it;
//! - `fingerprint.rs` — 64-bit state fingerprints (a bulk hash of what `Hash` writes);
//! - `graph.rs` — the search graph's edges, grouped by source, for the stuck-state analysis;
//! - `model.rs` — the untimed system the steps act on (replicas, messages in flight,
//!   armed timers, crashed nodes), `Hash` for state fingerprints;
//! - `bag.rs` — the messages in flight, a sorted list (copied at every step too);
//! - `row.rs` — per-node values stored inline (the system is copied at every step);
//! - `schedule.rs` — `run` of a scenario with a `schedule`;
//! - `search.rs` — BFS / DFS over the reachable states, S1–S4 on every step, stuck states.

pub mod bag;
#[cfg(test)]
mod byzantine_tests;
pub mod fingerprint;
pub mod graph;
pub mod model;
pub mod row;
pub mod schedule;
pub mod search;
pub mod step;
#[cfg(test)]
mod tests;
