#!/usr/bin/env bash
# Nightly: the whole scenario suite including long variants, the false-alarm sweep, and a
# swarm of random configurations (any safety violation is written to reports/swarm/).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
cargo build --release --quiet
./target/release/dbft-sim check scenarios --long --jobs "$jobs" --junit reports/nightly-junit.xml
scripts/sweep.sh 1..2000 "$jobs"
./target/release/dbft-sim swarm --seeds "${SWARM_SEEDS:-1..20000}" --jobs "$jobs" --out reports/swarm \
  --failures-only --json reports/swarm.jsonl
# Honest validator churn under every safe rule: safety and liveness must both hold.
./target/release/dbft-sim swarm --honest-churn --seeds "${CHURN_SEEDS:-1..20000}" --heights 8 --jobs "$jobs" --out reports/churn \
  --failures-only --json reports/churn.jsonl
# Every hand-off rule against every validator-set attack (reports/handoffs/).
./target/release/dbft-sim handoff-table --seeds 1..10 --jobs "$jobs"
# The explorer's complete N = 4 searches and its proven locks (docs/explore.md §4.3).
scripts/explore/complete-n4.sh
