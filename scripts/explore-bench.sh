#!/usr/bin/env bash
# Benchmark of `dbft-sim explore`: explored states/s and the search tables' bytes per
# visited state, on fixed bounded searches (release build). One command:
#   scripts/explore-bench.sh            # our explorer only (seconds to 2 minutes)
#   STATERIGHT=1 scripts/explore-bench.sh   # also stateright 0.31's 2pc and paxos examples
#                                          # (downloads the crate; needs network access)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/dbft-sim
out=$(mktemp -d)
dir=""
trap 'rm -rf "$out" ${dir:+"$dir"}' EXIT
run() { echo "\$ dbft-sim explore $*"; /usr/bin/time -f "  wall %e s, peak RSS %M KB" "$bin" explore "$@" --out "$out" 2>&1 | grep -v "^dbft-sim explore:" || true; }
# Throughput: BFS with a state budget (BFS keeps the frontier's full states: memory-bound).
run scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --max-states 100000
# Throughput: DFS (the frontier is a stack: tables dominate memory).
run scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --dfs --max-states 100000
run scripts/explore/n4-go.json --max-view 1 --crashes 1 --dfs --max-states 100000
# Counterexamples (seconds or less).
run scripts/explore/quorum-off-by-one-4.json --max-view 1 --crashes 1 --dfs
run scripts/explore/no-commit-phase-4.json --max-view 1 --crashes 1 --dfs
run scripts/explore/no-commit-lock-4.json --max-view 1 --walks 1000
# What dropping dead messages saves: the same DFS budget with them kept in flight.
run scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --dfs --max-states 100000 --no-prune
if [ "${STATERIGHT:-0}" = 1 ]; then
  dir=$(mktemp -d)
  (cd "$dir" && cargo new -q sr && cd sr && cargo add -q stateright@0.31.0 >/dev/null)
  src=$(ls -d ~/.cargo/registry/src/*/stateright-0.31.0 | head -1)
  cp -r "$src" "$dir/stateright"
  (cd "$dir/stateright" && cargo build -q --release --example 2pc --example paxos)
  echo "\$ stateright 2pc check 7"; /usr/bin/time -f "  wall %e s, user %U s, peak RSS %M KB" "$dir/stateright/target/release/examples/2pc" check 7 2>&1 | grep -E "Done|wall"
  echo "\$ stateright paxos check 3"; /usr/bin/time -f "  wall %e s, user %U s, peak RSS %M KB" "$dir/stateright/target/release/examples/paxos" check 3 2>&1 | grep -E "Done|wall"
fi
