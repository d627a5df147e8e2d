//! The search tools: drawing random configurations (swarm testing), shrinking a failing
//! scenario to a minimal one, and finding where two runs part ways. Each works on
//! scenarios and runs as data; the `cli` commands of the same names only parse
//! arguments, print and write files.

pub mod diff;
pub mod shrink;
pub mod swarm;
