fn main() {
    std::process::exit(dbft_sim::cli::main());
}
