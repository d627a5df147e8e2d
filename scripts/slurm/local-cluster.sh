#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, used to test the sharded sweep end to
# end: installs Slurm and MUNGE (Debian packages) if missing, starts munged, slurmctld and
# slurmd with their state, spool, sockets and logs under a temporary directory, submits a
# sharded swarm as a job array plus the merge as a dependent job (scripts/slurm/submit.sh),
# waits for both, and checks that the merged result equals an unsharded run of the same
# seeds. The daemons are stopped by their PIDs on exit, whatever happens. Needs root.
#
#   scripts/slurm/local-cluster.sh            # 4 shards of swarm --seeds 1..4000
#   SHARDS=8 SEEDS=1..20000 scripts/slurm/local-cluster.sh
#
# Environment: DBFT_SIM (default target/release/dbft-sim, built if missing), SHARDS (4),
# SEEDS (1..4000), KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
shards="${SHARDS:-4}"
seeds="${SEEDS:-1..4000}"
log() { echo "local-cluster: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "local-cluster: needs root (it installs packages and runs the Slurm daemons)" >&2
  exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
bin="${DBFT_SIM:-$repo/target/release/dbft-sim}"
if [ ! -x "$bin" ]; then
  log "building $bin"
  cargo build --release --locked --quiet
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

tmp="$(mktemp -d /tmp/dbft-slurm.XXXXXX)"
chmod 755 "$tmp"
pids=()
stop() {
  local code=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # Not children of this shell when daemonised: poll until gone (at most ~10 s).
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$code" -ne 0 ]; then
    for f in "$tmp"/log/*.log "$tmp"/out/logs/*.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
    done
  fi
  if [ "${KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$code"
}
trap stop EXIT
mkdir -p "$tmp"/{munge,state,spool,log,run,out}
chmod 700 "$tmp/munge"

# MUNGE, the authentication Slurm uses, with a key and socket of its own.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" >>"$tmp/log/munged.out.log" 2>&1 &
pids+=($!)

host="$(hostname -s)"
cpus="$(nproc)"
# Two free TCP ports for the controller and the node daemon (nothing answers on them).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=dbftsim
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
for _ in $(seq 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out.log" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >>"$tmp/log/slurmd.out.log" 2>&1 &
pids+=($!)
log "slurmctld, slurmd and munged up (PIDs ${pids[*]}), node $host with $cpus CPUs, state in $tmp"
for _ in $(seq 100); do
  state="$(sinfo -h -n "$host" -o %t 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.3
done
if [ "$state" != idle ]; then
  echo "local-cluster: the node did not come up (state: '${state}')" >&2
  exit 1
fi

start=$(date +%s)
read -r array merge < <(DBFT_SIM="$bin" scripts/slurm/submit.sh "$tmp/out" "$shards" swarm --seeds "$seeds")
log "submitted array job $array ($shards shards of swarm --seeds $seeds) and merge job $merge (afterok)"
for _ in $(seq 1200); do
  [ -z "$(squeue -h -j "$array,$merge" -o %i 2>/dev/null)" ] && break
  sleep 0.5
done
if [ -n "$(squeue -h -j "$array,$merge" -o %i 2>/dev/null)" ]; then
  echo "local-cluster: jobs still queued or running after 10 minutes" >&2
  squeue >&2
  exit 1
fi
log "array and merge jobs done in $(($(date +%s) - start)) s"
for i in $(seq 0 $((shards - 1))); do
  grep -q "^shard $i/$shards on " "$tmp/out/logs/shard-$i.log" || {
    echo "local-cluster: shard $i left no log" >&2
    exit 1
  }
done
cat "$tmp/out/logs/merge.log"
if [ ! -f "$tmp/out/summary.json" ] || [ ! -f "$tmp/out/merged.jsonl" ]; then
  echo "local-cluster: the merge job wrote no summary (did a shard fail?)" >&2
  exit 1
fi

log "unsharded run of the same seeds for comparison"
start=$(date +%s)
set +e
"$bin" swarm --seeds "$seeds" --jobs "$cpus" --json "$tmp/whole.jsonl" --failures-only --out "$tmp/whole-cx" >/dev/null
code=$?
set -e
[ "$code" -le 1 ] || exit 1
"$bin" merge "$tmp/whole.jsonl" --json "$tmp/whole-summary.json" --records "$tmp/whole-merged.jsonl" >/dev/null || [ $? -eq 1 ]
log "unsharded run done in $(($(date +%s) - start)) s"
cmp "$tmp/out/merged.jsonl" "$tmp/whole-merged.jsonl"
cmp "$tmp/out/summary.json" "$tmp/whole-summary.json"
records=$(($(wc -l <"$tmp/out/merged.jsonl") - 2))
log "OK: the merge of $shards Slurm array tasks equals the unsharded run ($records records, same summary)"
