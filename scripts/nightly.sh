#!/usr/bin/env bash
# Nightly: the whole scenario suite including long variants, then the false-alarm sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
cargo build --release --quiet
./target/release/dbft-sim check scenarios --long --jobs "$jobs" --junit reports/nightly-junit.xml
scripts/sweep.sh 1..2000 "$jobs"
