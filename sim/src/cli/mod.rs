//! The `dbft-sim` command line.
//!
//! Exit codes, for every subcommand: 0 = ran and matched expectations; 1 = an invariant or
//! an expectation failed; 2 = bad input or usage (nothing is written).

pub mod progress;
pub mod run;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "dbft-sim",
    version,
    about = "Deterministic simulator for dBFT 2.0 consensus"
)]
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
    },
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
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            trace,
            quiet,
        } => run::run(&scenario, seed, out, trace, quiet),
    }
}
