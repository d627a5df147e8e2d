//! The `dbft-sim` binary: everything lives in the library (`dbft_sim::cli`).

fn main() {
    std::process::exit(dbft_sim::cli::main());
}
