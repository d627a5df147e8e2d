#!/usr/bin/env bash
# Regenerates reports/examples/: the example outputs the README shows. Every file there
# comes from one of the commands below, and sim/tests/examples.rs runs the same commands
# and fails if a committed example differs from what the program writes now — so after a
# change that moves a plot, run this script and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/dbft-sim
out=reports/examples
rm -rf "$out"
mkdir -p "$out"
# A stalled run (the four-node commit lock) and a run with a crash, a partition and GST.
"$bin" run scenarios/attacks/crash-lock-4.json --out "$out/crash-lock-4" --quiet
"$bin" run scenarios/faults/crash-and-partition-7.json --out "$out/crash-and-partition-7" --quiet
# One scenario over three seeds.
"$bin" plot scenarios/faults/crash-and-partition-7.json --seeds 1..3 --out "$out/crash-and-partition-7-seeds"
# C# against Go semantics, and a lossy network, one CDF line each.
"$bin" compare scenarios/happy-7.json scenarios/baseline/happy-go-7.json scenarios/lossy-7.json --seeds 1..2 --out "$out/compare"
# A small sweep.
"$bin" plot --validators 4,7,21 --seeds 1..3 --heights 6 --out "$out/sweep"
