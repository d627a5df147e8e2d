#!/usr/bin/env bash
# False-alarm sweep: honest scenarios (happy, lossy, crash) over many seeds; no invariant
# may fail. Usage: scripts/sweep.sh [SEEDS] [JOBS]   (default 1..1000, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-1..1000}"
jobs="${2:-$(nproc)}"
cargo build --release --quiet
exec ./target/release/dbft-sim check scripts/sweep --seeds "$seeds" --jobs "$jobs" --junit reports/sweep-junit.xml
