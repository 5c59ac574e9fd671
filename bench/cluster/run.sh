#!/usr/bin/env bash
# The cluster's numbers (issue 11, "Measured in bench/"), each beside its own baseline measured
# in the same run on the same machine:
#   1. replicated durable 10 KiB PUT ops/s through a cluster node (R = 3, W = 2) against one
#      stand-alone cairnd's, with the servers' CPU per operation (all nodes summed);
#   2. read p99 with one replica killed against healthy (10 KiB GETs through a node);
#   3. time from kill -9 to "down" in the map, and until every live node has that map;
#   4. CLI calls per second with the map cached in /dev/shm against fetching it each call;
#   5. the placement simulator at 1,000 nodes.
# The cluster is scripts/cluster's (etcd + 4 nodes on 127.0.0.1, in a temp dir), stopped by its
# pid at the end; every loop is bounded.
#
# Usage: bench/cluster/run.sh            (uses build/release, built by scripts/cluster)
# Env:   DURATION=5 (s per cairn bench)  CALLS=100 (CLI calls per way)
# Output: a markdown table on stdout and in bench/results/DATE-cluster.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-5}
CALLS=${CALLS:-100}
B=$ROOT/build/release
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$STAMP-cluster.md
T=$(mktemp -d "$ROOT/bench/results/tmp-cluster.XXXX")  # on the stores' file system
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
TICK=$(getconf CLK_TCK)
cpu_ticks() { local s=0; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
json() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"; }

# --- the baseline: one stand-alone cairnd with the same key and volume size.
KEYFILE="$T/client.key"
(umask 077 && printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$KEYFILE")
export CAIRN_KEY_FILE="$KEYFILE"
"$CAIRND" --data "$T/single" --listen 127.0.0.1:0 --port-file "$T/single.port" --key-file "$KEYFILE" \
  --volume-size 64M --log-level warn >/dev/null &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 300); do [ -s "$T/single.port" ] && break; sleep 0.05; done
SINGLE=127.0.0.1:$(cat "$T/single.port")

bench() {  # SERVER PIDS ARGS...: prints "ops_per_sec p99_us cpu_us_per_op"
  local srv=$1 pids=$2
  shift 2
  local c0 c1 j
  c0=$(cpu_ticks $pids)
  j=$(timeout $((DURATION + 120)) "$CAIRN" --server "$srv" --json bench --duration "$DURATION" "$@")
  c1=$(cpu_ticks $pids)
  python3 - "$j" "$c0" "$c1" "$TICK" <<'EOF'
import json, sys
j = json.loads(sys.argv[1]); c0, c1, tick = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert j["errors"] == 0, j
print(f'{j["ops_per_sec"]:.0f} {j["latency_us"]["p99"]:.0f} {(c1 - c0) / tick / j["ops"] * 1e6:.0f}')
EOF
}
PUT_ARGS=(--size 10K --mix put=100 --keys 100000 --connections 16 --inflight 1 --durability sync)
GET_ARGS=(--size 10K --mix get=100 --keys 1000 --connections 16 --inflight 1)

log "baseline: one cairnd"
read -r s_put s_put_p99 s_put_cpu < <(bench "$SINGLE" "$SPID" "${PUT_ARGS[@]}")

# --- the cluster.
log "starting scripts/cluster (etcd + 4 nodes)"
XDG_CONFIG_HOME="$T/xdg" setsid scripts/cluster --dir "$T/cluster" -n 4 >"$T/cluster.out" 2>&1 &
CPID=$!
PIDS+=("$CPID")
for _ in $(seq 600); do grep -q "Ctrl-C stops" "$T/cluster.out" && break; sleep 0.1; done
grep -q "Ctrl-C stops" "$T/cluster.out" || { cat "$T/cluster.out" >&2; exit 1; }
export CAIRN_KEY_FILE="$T/xdg/cairn/key"
ETCD=$(sed -n 's/.*etcd at \([0-9.:]*\),.*/\1/p' "$T/cluster.out")
mapfile -t NODE_PIDS < <(sed -n 's/.*node [0-9]*: .* pid \([0-9]*\),.*/\1/p' "$T/cluster.out")
mapfile -t NODE_ADDRS < <(sed -n 's/.*node [0-9]*: \([0-9.:]*\) .*/\1/p' "$T/cluster.out")
log "cluster: etcd $ETCD, nodes ${NODE_ADDRS[*]}"

log "replicated PUT through node 1"
read -r c_put c_put_p99 c_put_cpu < <(bench "${NODE_ADDRS[0]}" "${NODE_PIDS[*]}" "${PUT_ARGS[@]}")
log "GET healthy"
read -r g_ok g_ok_p99 g_ok_cpu < <(bench "${NODE_ADDRS[0]}" "${NODE_PIDS[*]}" "${GET_ARGS[@]}")

# --- kill node 4; time to down, and to every live node holding that map.
epoch_of() { "$CAIRN" --server "$1" --json stat 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["cluster.epoch"])'; }
before=$(epoch_of "${NODE_ADDRS[0]}")
kill -KILL "${NODE_PIDS[3]}"
t0=$(date +%s%N)
t_down=""
t_all=""
for _ in $(seq 3000); do   # at most ~60 s
  now=$(date +%s%N)
  seen=0
  for i in 0 1 2; do
    e=$(epoch_of "${NODE_ADDRS[$i]}" || echo 0)
    [ "$e" -gt "$before" ] && seen=$((seen + 1))
  done
  [ -z "$t_down" ] && [ "$seen" -ge 1 ] && t_down=$(( (now - t0) / 1000000 ))
  if [ "$seen" -eq 3 ]; then t_all=$(( (now - t0) / 1000000 )); break; fi
  sleep 0.02
done
log "down after ${t_down} ms, every node after ${t_all} ms"
log "GET with node 4 killed"
read -r g_dn g_dn_p99 g_dn_cpu < <(bench "${NODE_ADDRS[0]}" "${NODE_PIDS[0]} ${NODE_PIDS[1]} ${NODE_PIDS[2]}" "${GET_ARGS[@]}")

# --- the CLI: cached map against a fetch per call.
unset CAIRN_SERVER
echo hello | CAIRN_CLUSTER=$ETCD "$CAIRN" put bench/cli-key
calls() {  # ARGS...: calls per second over CALLS calls of `cairn ARGS head bench/cli-key`
  local s e
  s=$(date +%s%N)
  for _ in $(seq "$CALLS"); do CAIRN_CLUSTER=$ETCD "$CAIRN" "$@" head bench/cli-key >/dev/null; done
  e=$(date +%s%N)
  python3 -c "print(f'{$CALLS / (($e - $s) / 1e9):.1f}')"
}
cli_cached=$(calls)
cli_fetch=$(calls --no-map-cache)
cli_version=$(s=$(date +%s%N); for _ in $(seq "$CALLS"); do "$CAIRN" --version >/dev/null; done; e=$(date +%s%N); python3 -c "print(f'{$CALLS / (($e - $s) / 1e9):.1f}')")

log "placement simulator, 1000 nodes"
sim=$("$B/tools/placement_sim" --nodes 1000 --zones 10 2>&1 | tail -n 20)

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
{
  echo "# Cluster bench, $STAMP"
  echo
  echo "Command: \`bench/cluster/run.sh\` (DURATION=$DURATION, CALLS=$CALLS); etcd + 4 nodes on loopback,"
  echo "R = 3, W = 2, each node and the baseline with durability sync; 16 connections, 1 in flight."
  echo
  echo "| what | cluster | baseline | ratio |"
  echo "|---|---|---|---|"
  echo "| durable 10 KiB PUT ops/s (node 1 vs one cairnd) | $c_put | $s_put | $(ratio "$c_put" "$s_put") |"
  echo "| PUT p99 µs | $c_put_p99 | $s_put_p99 | |"
  echo "| server CPU µs per PUT (all nodes vs one) | $c_put_cpu | $s_put_cpu | $(ratio "$c_put_cpu" "$s_put_cpu") |"
  echo "| 10 KiB GET p99 µs, one replica killed vs healthy | $g_dn_p99 | $g_ok_p99 | +$(( (g_dn_p99 - g_ok_p99) / 1000 )) ms |"
  echo "| GET ops/s, one killed vs healthy | $g_dn | $g_ok | $(ratio "$g_dn" "$g_ok") |"
  echo "| kill -9 to \"down\" in a node's map (ms) | $t_down | | |"
  echo "| kill -9 to every live node holding that map (ms) | $t_all | | |"
  echo "| CLI calls/s, map cached vs fetched each call | $cli_cached | $cli_fetch | $(ratio "$cli_cached" "$cli_fetch") |"
  echo "| CLI \`--version\` calls/s (process start alone) | $cli_version | | |"
  echo
  echo "Placement simulator (\`tools/placement_sim --nodes 1000 --zones 10\`):"
  echo
  echo '```'
  echo "$sim"
  echo '```'
} | tee "$OUT"
