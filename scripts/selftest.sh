#!/usr/bin/env bash
# Self-test of the suite: would the tests notice if an attack stopped working?
#
# For each Byzantine behaviour (the names in sim/src/byzantine/behaviour.rs), for twins and
# for compromised keys, turns that one attack into a no-op (cargo feature `selftest`,
# variable DBFT_SIM_DISABLE, read only by sim/src/byzantine/selftest.rs) and runs every
# test (`cargo test`'s executables) and `dbft-sim check scenarios --long`. At least one test
# or scenario must fail for every switch. Prints a table switch → what caught it; exits 1
# if any attack went unnoticed, 2 if the suite is not green with nothing disabled.
#
#   scripts/selftest.sh                  # every switch
#   scripts/selftest.sh replay twins     # only these
#   MODE=effect scripts/selftest.sh      # stricter: the attack still runs and marks what it
#                                        # does, but sends what an honest node would
#   QUICK=1 scripts/selftest.sh          # skip the tests where a scenario already caught it
#
# One release build with the feature serves every run: the variable is read at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
quick="${QUICK:-0}"
mode="${MODE:-whole}"
case "$mode" in
  whole) suffix="" ;;
  effect) suffix=":effect" ;;
  *) echo "selftest: MODE must be whole or effect" >&2; exit 2 ;;
esac
out="${OUT:-reports/selftest}/$mode"
mkdir -p "$out"

# Every behaviour's name, as the code spells it, then the identity-level attacks.
mapfile -t all < <(sed -n '/fn name(&self)/,/^    }/p' sim/src/byzantine/behaviour.rs | grep -oE '=> "[a-z-]+"' | tr -d '=>" ')
if [ "${#all[@]}" -lt 10 ]; then
  echo "selftest: could not read the behaviour names from sim/src/byzantine/behaviour.rs" >&2
  exit 2
fi
all+=(twins compromised-keys)
if [ "$#" -gt 0 ]; then
  for s in "$@"; do
    if ! printf '%s\n' "${all[@]}" | grep -qx -- "$s"; then
      echo "selftest: unknown switch \"$s\" (known: ${all[*]})" >&2
      exit 2
    fi
  done
  switches=("$@")
else
  switches=("${all[@]}")
fi

features=(--release --features selftest)
echo "selftest: building once with the selftest feature" >&2
cargo build "${features[@]}" --quiet
# The test executables, run directly from then on (no rebuild, no cargo per run).
mapfile -t test_bins < <(cargo test "${features[@]}" --no-run --message-format=json 2>/dev/null |
  grep '"profile":{[^}]*"test":true' | grep -oE '"executable":"[^"]+"' | cut -d'"' -f4 | sort -u)
if [ "${#test_bins[@]}" -eq 0 ]; then
  echo "selftest: no test executables were built" >&2
  exit 2
fi
bin=./target/release/dbft-sim

# Failing tests, one "binary::test" per line, from the test executables' output.
failed_tests() {
  awk '/^== /{f = $2} /^test .* \.\.\. FAILED$/{print f "::" $2}' "$1"
}
# Failing scenarios, one "path seed N" per line, from `check` output.
failed_scenarios() {
  awk '/^FAIL /{print $2 " seed " $4}' "$1"
}

run_all() { # $1: switch or "" for none; $2: file prefix. Prints "<check exit> <tests exit>".
  local tag="$2" rc_check rc_test=0 t name
  set +e
  DBFT_SIM_DISABLE="$1" "$bin" check scenarios --long --jobs "$jobs" >"$out/$tag.check.txt" 2>&1
  rc_check=$?
  : >"$out/$tag.test.txt"
  if [ "$quick" = 1 ] && [ -n "$1" ] && [ "$rc_check" -ne 0 ]; then
    rc_test=skipped
  else
    for t in "${test_bins[@]}"; do
      name="$(basename "$t")"
      echo "== ${name%-*}" >>"$out/$tag.test.txt"
      # cargo runs tests from the package directory.
      (cd sim && DBFT_SIM_DISABLE="$1" "$t" --test-threads "$jobs") >>"$out/$tag.test.txt" 2>&1 || rc_test=1
    done
  fi
  set -e
  echo "$rc_check $rc_test"
}

echo "selftest: the suite with nothing disabled must pass" >&2
read -r c t < <(run_all "" baseline)
if [ "$c" -ne 0 ] || [ "$t" -ne 0 ]; then
  echo "selftest: the suite fails with nothing disabled (check exit $c, cargo test exit $t; see $out/baseline.*)" >&2
  failed_scenarios "$out/baseline.check.txt" >&2
  failed_tests "$out/baseline.test.txt" >&2
  exit 2
fi

unnoticed=()
rows=()
for s in "${switches[@]}"; do
  echo "selftest: disabling $s$suffix" >&2
  read -r c t < <(run_all "$s$suffix" "$s")
  mapfile -t scen < <(failed_scenarios "$out/$s.check.txt")
  mapfile -t tests < <(failed_tests "$out/$s.test.txt")
  # A test binary that did not build or crashed fails without a "FAILED" test line.
  if [ "$t" != skipped ] && [ "$t" -ne 0 ] && [ "${#tests[@]}" -eq 0 ]; then tests=("cargo test exit $t"); fi
  if [ "$c" -ne 0 ] && [ "${#scen[@]}" -eq 0 ]; then scen=("check exit $c"); fi
  caught=()
  [ "${#scen[@]}" -gt 0 ] && caught+=("scenarios (${#scen[@]}): $(printf '%s, ' "${scen[@]}" | sed 's/, $//')")
  [ "${#tests[@]}" -gt 0 ] && caught+=("tests (${#tests[@]}): $(printf '%s, ' "${tests[@]}" | sed 's/, $//')")
  if [ "${#caught[@]}" -eq 0 ]; then
    unnoticed+=("$s")
    rows+=("$s|NOT CAUGHT")
  else
    rows+=("$s|$(printf '%s; ' "${caught[@]}" | sed 's/; $//')")
  fi
done

echo
[ "$mode" = effect ] && echo "effect disabled, marks kept:"
printf '%-20s %s\n' "disabled" "what caught it"
printf '%-20s %s\n' "--------" "--------------"
for r in "${rows[@]}"; do
  printf '%-20s %s\n' "${r%%|*}" "${r#*|}"
done
if [ "${#unnoticed[@]}" -gt 0 ]; then
  echo
  echo "selftest: nothing noticed: ${unnoticed[*]}" >&2
  exit 1
fi
