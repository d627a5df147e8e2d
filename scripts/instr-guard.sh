#!/usr/bin/env bash
# Instruction-count guard: checks a reference scenario under valgrind's callgrind and fails if
# the whole process executes more than TOL percent (default 3) more instructions than the
# pinned count in scripts/instr-guard.pin. Instruction counts are deterministic (the run is),
# unlike wall time on a shared machine, so a few percent is a real change in work done.
#
# The count is of the debug binary `cargo test` already built (no extra release build in CI),
# so it moves with the compiler: the pin records the rustc version it was taken with, and
# under another version the script prints both figures and does not compare.
#
#   scripts/instr-guard.sh            check against the pin
#   scripts/instr-guard.sh --update   re-pin after a deliberate change (commit the pin)
set -euo pipefail
cd "$(dirname "$0")/.."

PIN=scripts/instr-guard.pin
SCENARIO=scenarios/happy-7.json
BIN=${BIN:-target/debug/dbft-sim}
TOL=${TOL:-3}

if ! command -v valgrind >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq valgrind
  else
    echo "instr-guard: valgrind not found and no apt-get to install it" >&2
    exit 1
  fi
fi
[ -x "$BIN" ] || cargo build --locked

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# `check` runs the scenario and its expectations without rendering report pages, so the
# count is the simulation's (engine, replicas, checkers, digest), not the plots'.
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$BIN" check --jobs 1 "$SCENARIO" \
  >"$work/stdout" 2>"$work/valgrind"
count=$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")
rustc_version=$(rustc --version)

if [ "${1:-}" = "--update" ]; then
  printf 'instructions %s\nrustc %s\nscenario %s\n' "$count" "$rustc_version" "$SCENARIO" >"$PIN"
  echo "instr-guard: pinned $count instructions ($SCENARIO, $rustc_version)"
  exit 0
fi

pinned=$(awk '$1 == "instructions" {print $2}' "$PIN")
pinned_rustc=$(sed -n 's/^rustc //p' "$PIN")
if [ "$pinned_rustc" != "$rustc_version" ]; then
  echo "instr-guard: $count instructions; the pin ($pinned) was taken with $pinned_rustc, this is $rustc_version: not compared (re-pin with --update on the project's toolchain)"
  exit 0
fi
limit=$((pinned + pinned * TOL / 100))
floor=$((pinned - pinned * TOL / 100))
echo "instr-guard: $count instructions ($SCENARIO), pinned $pinned, limit $limit (+$TOL %)"
if [ "$count" -gt "$limit" ]; then
  echo "instr-guard: FAIL: $(( (count - pinned) * 100 / pinned )) % more instructions than pinned; if deliberate, run scripts/instr-guard.sh --update and commit the pin" >&2
  exit 1
fi
if [ "$count" -lt "$floor" ]; then
  echo "instr-guard: well below the pin: consider scripts/instr-guard.sh --update so the guard keeps the gain"
fi
