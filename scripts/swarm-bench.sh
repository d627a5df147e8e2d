#!/usr/bin/env bash
# Swarm throughput and memory: seeds per second with 1 worker and with 2 (the speed-up a
# second core gives), and the peak memory of sweeps of growing length (it must not grow
# with the number of seeds: results stream to the records file, nothing is kept per seed).
#
#   scripts/swarm-bench.sh [SEEDS] [LONG]      # default 1..2000, then 1..2000/8000/32000
#
# Numbers depend on what else the machine runs; run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-1..2000}"
long="${2:-32000}"
cargo build --release --quiet
bin=./target/release/dbft-sim
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=$(( ${seeds#*..} - ${seeds%..*} + 1 ))
rate() { # jobs -> "seeds/s seeds-per-CPU-second"
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$bin" swarm --seeds "$seeds" --jobs "$1" --failures-only \
    --out "$tmp/cx" >/dev/null || [ $? -eq 1 ]
  awk -v n="$n" '{ printf "%.1f %.1f\n", n / $1, n / ($2 + $3) }' "$tmp/time"
}
read -r r1 c1 < <(rate 1)
read -r r2 c2 < <(rate 2)
echo "swarm --seeds $seeds: $r1 seeds/s with 1 job, $r2 seeds/s with 2 jobs: speed-up $(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%.2f", b / a }')x"
echo "  per CPU-second: $c1 seeds with 1 job, $c2 with 2 (equal = no parallel overhead; the speed-up is then what the idle cores allow)"
echo "  cores: $(nproc), load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$long" -gt 0 ] || exit 0
for k in $((long / 16)) $((long / 4)) "$long"; do
  /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" swarm --seeds "1..$k" --jobs 2 --failures-only \
    --json "$tmp/r.jsonl" --out "$tmp/cx" >/dev/null || [ $? -eq 1 ]
  echo "swarm --seeds 1..$k --jobs 2 --json: peak RSS $(cat "$tmp/rss") KiB"
done
