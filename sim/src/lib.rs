//! dbft-sim: a deterministic discrete-event simulator for dBFT 2.0.
//!
//! The folders are the architecture: `engine` (virtual time, the event
//! queue, seeded streams, the run loop), `net` (what happens to a message in flight),
//! `protocol` (the replica interface and dBFT 2.0 itself), `byzantine` (behaviours that wrap
//! honest replicas), `validators` (who signs at which height), `invariants` (what must never
//! happen and the stall diagnosis), `phases` (the fault phase, then the liveness phase
//! after GST), `scenario` (the file format), `report` (metrics, JSON report, traces,
//! plots), `search` (swarm generation, shrinking, run divergence) and `cli` (the
//! `dbft-sim` subcommands: argument parsing and output).

mod names;

pub mod byzantine;
pub mod cli;
pub mod engine;
pub mod explore;
pub mod invariants;
pub mod marks;
pub mod net;
pub mod phases;
pub mod protocol;
pub mod report;
pub mod scenario;
pub mod search;
pub mod validators;
pub mod world;
