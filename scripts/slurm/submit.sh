#!/usr/bin/env bash
# Submits a sharded dbft-sim sweep to Slurm: a job array of N shards and the merge as a
# job that starts once every shard succeeded. Prints the two job ids.
#
#   scripts/slurm/submit.sh OUT N swarm --seeds 1..1000000
#   scripts/slurm/submit.sh OUT N check scenarios --long --seeds 1..100
#
# Environment: DBFT_SIM, the binary every node runs (default: dbft-sim on PATH);
# SBATCH_ARGS, extra sbatch options for both jobs (partition, account, time limit...);
# CPUS, CPUs per shard (default 1).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 OUT N <check|swarm> [ARGS...]" >&2
  exit 2
fi
# Refused here, before anything is queued (each shard would refuse them too, after the
# array had been scheduled and the merge killed).
case "$2" in
  '' | *[!0-9]* | 0)
    echo "N must be a shard count (1 or more), got '$2'" >&2
    exit 2
    ;;
esac
for a in "${@:3}"; do
  if [ "$a" = --fail-fast ]; then
    echo "--fail-fast does not fit a sharded sweep (a stopped shard never completes); leave it out" >&2
    exit 2
  fi
done
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
n="$2"
shift 2
mkdir -p "$out/logs"
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((n - 1))" --cpus-per-task="${CPUS:-1}" \
  --output="$out/logs/shard-%a.log" "$here/sweep.sbatch" "$out" "$n" "$@")
array="${array%%;*}"
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --output="$out/logs/merge.log" "$here/merge.sbatch" "$out")
merge="${merge%%;*}"
echo "$array $merge"
