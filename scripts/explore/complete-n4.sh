#!/usr/bin/env bash
# The explorer's headline results, re-checked (release build; about four minutes on two
# cores since dead replica state is forgotten, docs/explore.md §4.7):
# - N = 4, one height, max view 0, no fault: the search must complete, S1–S6 must hold
#   in every reachable state, and no settled state may be stuck (C# and Go); the same
#   with one crash as a choice (under C# the one stuck state is the primary crashing
#   before it proposes, with view 1 beyond the bound);
# - N = 3, max view 1, asynchronous (C#): complete, S1–S6 hold, and the commit lock of
#   F = 0 without recovery is among the stuck states;
# - N = 4, max view 1, one crash, under the synchrony bound (C#, breadth-first): complete,
#   S1–S6 hold, and the shortest commit lock is 17 steps, a state where a node asks for
#   recovery that is never answered (docs/explore.md §4.8; about 30 s); Go with one lost
#   message: complete, with commit-lock stuck states (about 30 s);
# - N = 4, max view 0, one crash and one restart as choices, synchrony bound (C#, with the
#   saved context and with amnesia): complete, S1–S6 hold (docs/explore.md §4.9; about 30 s);
#   the same at max view 1 with the saved context (about two minutes);
# - random walks with stuck-state proofs must prove the four-node commit lock (Go; C#
#   with recovery delivered) and FINDINGS.md #9's Go halt from one garbage-commit node;
# - under bounded delays (timers in deadline order) with one crash and one lost message,
#   the shortest commit lock must be proven to be 12 steps under C# (about 5 more
#   minutes; docs/explore.md §4.4);
# - with messages taking up to 4T/M = 20 s, recovery delivered and nothing lost, walks
#   must prove the C# four-node commit lock (docs/explore.md §4.5; under a minute).
# Exit 1 if any result differs. Used by scripts/nightly.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -q
bin=target/release/dbft-sim
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
expect() { # expect <label> <pattern...> -- <explore args...>
  local label=$1; shift
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  local log="$out/$label.log"
  "$bin" explore "$@" --out "$out/$label" >"$log" 2>&1 || true
  for p in "${patterns[@]}"; do
    if ! grep -q -- "$p" "$log"; then
      echo "FAIL  $label: no line with \"$p\""; sed 's/^/      /' "$log" | head -20; fail=1; return
    fi
  done
  echo "ok    $label: $(grep -m1 -F -- "${patterns[0]}" "$log" | sed 's/^ *//' | cut -c1-150)"
}
complete=("complete:" "S1–S6 hold in every reachable state" "no settled stuck state")
expect csharp-max-view-0 "${complete[@]}" -- scripts/explore/n4-csharp.json --max-view 0 --dfs
expect go-max-view-0 "${complete[@]}" -- scripts/explore/n4-go.json --max-view 0 --dfs
expect go-max-view-0-one-crash "${complete[@]}" -- scripts/explore/n4-go.json --max-view 0 --crashes 1 --dfs
expect csharp-max-view-0-one-crash "complete:" "S1–S6 hold in every reachable state" "stuck (undiagnosed): 1 settled states (from every one a step past max view 0 can be reached" "shortest: 1 steps" -- \
  scripts/explore/n4-csharp.json --max-view 0 --crashes 1 --dfs
expect n3-csharp-max-view-1 "complete:" "S1–S6 hold in every reachable state" "stuck (commit-lock)" -- \
  scripts/explore/n3-csharp.json --max-view 1 --dfs
expect csharp-max-view-1-one-crash-synchrony "complete:" "S1–S6 hold in every reachable state" \
  "stuck (commit-lock): 45 settled states (all can reach a step where a node asks for recovery" "shortest: 17 steps" -- \
  scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --synchrony
expect go-max-view-1-one-crash-one-loss-synchrony "complete:" "S1–S6 hold in every reachable state" "stuck (commit-lock)" -- \
  scripts/explore/n4-go.json --max-view 1 --crashes 1 --synchrony --max-drops 1 --dfs
expect csharp-max-view-0-crash-restart-synchrony "complete:" "S1–S6 hold in every reachable state" "restarts ≤ 1" -- \
  scripts/explore/n4-csharp.json --max-view 0 --crashes 1 --restarts 1 --synchrony --dfs
expect csharp-max-view-1-crash-restart-synchrony "complete:" "S1–S6 hold in every reachable state" "restarts ≤ 1" -- \
  scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --restarts 1 --synchrony --dfs
expect csharp-max-view-0-crash-amnesia-synchrony "complete:" "S1–S6 hold in every reachable state" "(amnesia)" -- \
  scripts/explore/n4-csharp.json --max-view 0 --crashes 1 --restarts 1 --amnesia --synchrony --dfs
expect go-commit-lock "stuck (commit-lock)" -- scripts/explore/n4-go.json --max-view 1 --crashes 1 --walks 2000
expect csharp-commit-lock-recovery "stuck (commit-lock)" -- \
  scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --walks 2000 --recovery
expect go-garbage-commit-halt "stuck (invalid-block)" -- \
  scripts/explore/garbage-commit-4-go.json --max-view 1 --walks 2000 --recovery
expect csharp-deadlines-shortest-lock \
  "shortest commit-lock stuck state: 12 steps" "none undecided, so no shorter stuck schedule exists" -- \
  scripts/explore/n4-csharp.json --max-view 1 --crashes 1 --deadlines --max-drops 1 \
  --shortest-stuck 12 --stuck-class commit-lock
expect csharp-delay-commit-lock "stuck (commit-lock)" -- \
  scripts/explore/n4-csharp.json --max-view 2 --crashes 1 --deadlines --max-delay-ms 20000 --recovery --walks 20000
exit $fail
