//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

use dbft_sim::report::Report;
use dbft_sim::scenario::{self, RunSpec};
use dbft_sim::world;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root (scenarios/ lives there).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A fresh, empty temporary directory, unique per process and call.
pub fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "dbft-sim-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A bundled scenario, by path relative to the repository root.
pub fn load(rel: &str) -> RunSpec {
    scenario::load(&repo().join(rel)).unwrap()
}

/// Runs `spec` with `seed` and builds its report.
pub fn report(spec: &RunSpec, seed: u64) -> Report {
    Report::build(spec, &world::run(spec, seed, None, false))
}
