#!/usr/bin/env bash
# cairnd over loopback, measured with `cairn bench` / `cairn get` beside Redis and nginx in the
# same run (issue 4, "Benchmarks"; targets in ARCHITECTURE.md). Server pinned to CPU 0, load
# generator to CPU 1 (PEERS.md). Every server lives in a temp dir on an ephemeral port and is
# stopped by this script; every loop and wait is bounded.
#
# Usage: bench/server/run.sh [BUILD_DIR]      (default build/release; needs cairn and cairnd)
# Env:   DURATION=10 (s per cairn bench)  N=100000 (redis-benchmark requests)  BIG=1G (GET size)
# Output: a markdown table on stdout and in bench/results/DATE-server.md, raw JSON lines in
#         bench/results/DATE-server.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$(realpath "${1:-build/release}")
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
DURATION=${DURATION:-10}
N=${N:-100000}
BIG=${BIG:-1G}
for x in "$CAIRN" "$CAIRND"; do [[ -x $x ]] || { echo "missing $x (build it first)" >&2; exit 1; }; done
for x in redis-server redis-benchmark redis-cli nginx curl taskset python3; do
  command -v "$x" >/dev/null || { echo "missing $x (scripts/deps)" >&2; exit 1; }
done

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/$STAMP-server
mkdir -p "$ROOT/bench/results"
T=$(mktemp -d "$ROOT/bench/results/tmp-server.XXXX")  # on the store's file system, not tmpfs
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for CMD...: retries CMD for up to 30 s.
wait_for() {
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2
  return 1
}
log() { echo "[$(date +%T)] $*" >&2; }
record() { echo "$1" >>"$OUT.jsonl"; }

# ---- cairnd ----
start_cairnd() {
  rm -rf "$T/cairn" "$T/port"
  taskset -c 0 "$CAIRND" --data "$T/cairn" --listen 127.0.0.1:0 --port-file "$T/port" \
    --log-file "$T/cairnd.log" >/dev/null 2>&1 &
  CAIRND_PID=$!
  PIDS+=("$CAIRND_PID")
  wait_for test -s "$T/port"
  CPORT=$(cat "$T/port")
}
stop_cairnd() { kill "$CAIRND_PID"; wait "$CAIRND_PID" || true; }

cairn_bench() {  # NAME ARGS...: one JSON line from cairn bench, recorded under NAME
  local name=$1
  shift
  local j
  j=$(timeout $((DURATION + 120)) taskset -c 1 "$CAIRN" --server "127.0.0.1:$CPORT" --json bench \
    --duration "$DURATION" "$@") || { echo "cairn bench $name failed: $j" >&2; return 1; }
  record "{\"name\":\"$name\",\"tool\":\"cairn bench\",\"result\":$j}"
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["errors"]==0, j; print(j["ops_per_sec"])' "$j"
}

log "cairnd: GET 10 KiB, 50 connections x 1 in flight, then x 8"
start_cairnd
C_GET=$(cairn_bench get_10k --connections 50 --inflight 1 --size 10K --mix get=100 --keys 1000)
C_GET8=$(cairn_bench get_10k_inflight8 --connections 50 --inflight 8 --size 10K --mix get=100 --keys 1000)
log "cairnd: durable PUT 10 KiB (sync), 50 x 1"
C_PUT_SYNC=$(cairn_bench put_10k_sync --connections 50 --inflight 1 --size 10K --mix put=100 --keys 100000 --durability sync)
log "cairnd: non-durable PUT 10 KiB (none), 50 x 1"
C_PUT_NONE=$(cairn_bench put_10k_none --connections 50 --inflight 1 --size 10K --mix put=100 --keys 100000 --durability none)

log "cairnd: GET of a $BIG object with cairn get > /dev/null (3 runs, median)"
head -c "$BIG" /dev/urandom >"$T/big"
BIG_BYTES=$(stat -c %s "$T/big")
timeout 600 "$CAIRN" --server "127.0.0.1:$CPORT" put big "$T/big"
C_BIG=()
for i in 1 2 3; do
  s=$(date +%s.%N)
  timeout 600 taskset -c 1 "$CAIRN" --server "127.0.0.1:$CPORT" get big >/dev/null
  e=$(date +%s.%N)
  C_BIG+=("$(python3 -c "print($BIG_BYTES/($e-$s)/1e9)")")
done
C_BIG_MED=$(printf '%s\n' "${C_BIG[@]}" | sort -g | sed -n 2p)
record "{\"name\":\"get_big\",\"tool\":\"cairn get\",\"bytes\":$BIG_BYTES,\"gb_per_sec\":[$(IFS=,; echo "${C_BIG[*]}")]}"
stop_cairnd

# ---- Redis (PEERS.md config) ----
redis_run() {  # NAME TEST EXTRA_CONFIG...: prints requests/s of redis-benchmark -t TEST
  local name=$1 test=$2
  shift 2
  local port dir
  port=$(free_port)
  dir=$T/redis-$name
  mkdir -p "$dir"
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --io-threads 1 \
    --dir "$dir" --daemonize no --logfile "$dir/log" "$@" &
  local pid=$!
  PIDS+=("$pid")
  wait_for redis-cli -p "$port" ping
  local csv
  csv=$(timeout 600 taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -d 10240 -c 50 \
    -P 1 -n "$N" -r 100000 --csv)
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  local rps
  rps=$(python3 -c 'import csv,sys; rows=[r for r in csv.reader(sys.stdin.read().splitlines()) if r and r[0] not in ("test",)]; print(rows[-1][1])' <<<"$csv")
  record "{\"name\":\"$name\",\"tool\":\"redis-benchmark\",\"rps\":$rps}"
  echo "$rps"
}
log "redis: GET 10 KiB (no persistence)"
R_GET=$(redis_run get_10k set,get --appendonly no)
log "redis: SET 10 KiB, appendfsync always"
R_SET_ALWAYS=$(redis_run set_10k_always set --appendonly yes --appendfsync always)
log "redis: SET 10 KiB, no persistence"
R_SET_NONE=$(redis_run set_10k_none set --appendonly no)
# Equal durability to cairn's `none`: Redis writes its AOF to the page cache and never fsyncs,
# so, like `none`, it survives a crash of the process but not of the machine. "No
# persistence" (the issue's peer) loses everything at a process crash.
log "redis: SET 10 KiB, appendonly yes, appendfsync no"
R_SET_AOFNO=$(redis_run set_10k_aof_no set --appendonly yes --appendfsync no)

# ---- nginx, sendfile on (PEERS.md config) ----
log "nginx: GET of the same $BIG bytes with curl (3 runs, median)"
NPORT=$(free_port)
mkdir -p "$T/nginx/www" "$T/nginx/tmp"
mv "$T/big" "$T/nginx/www/big"
# nginx's worker drops root for an unprivileged user: it must be able to read the file.
chmod 755 "$T" "$T/nginx" "$T/nginx/www"
chmod 644 "$T/nginx/www/big"
cat >"$T/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  open_file_cache max=2000;
  keepalive_requests 10000000;
  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;
  fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
  server { listen 127.0.0.1:$NPORT; root $T/nginx/www; }
}
CONF
taskset -c 0 nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>/dev/null &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NPORT/big"
N_BIG=()
for i in 1 2 3; do
  bps=$(timeout 600 taskset -c 1 curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$NPORT/big")
  N_BIG+=("$(python3 -c "print($bps/1e9)")")
done
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
N_BIG_MED=$(printf '%s\n' "${N_BIG[@]}" | sort -g | sed -n 2p)
record "{\"name\":\"get_big\",\"tool\":\"nginx+curl\",\"bytes\":$BIG_BYTES,\"gb_per_sec\":[$(IFS=,; echo "${N_BIG[*]}")]}"

# ---- table ----
python3 - "$C_GET" "$C_GET8" "$R_GET" "$C_PUT_SYNC" "$R_SET_ALWAYS" "$C_PUT_NONE" "$R_SET_NONE" \
  "$C_BIG_MED" "$N_BIG_MED" "$BIG" "$R_SET_AOFNO" >"$OUT.md" <<'PY'
import sys
cg, cg8, rg, cps, rsa, cpn, rsn, cb, nb, big, rsaof = sys.argv[1:]
f = lambda x: float(x)
rows = [
  ("GET 10 KiB, 50 conns, 1 in flight each", f"{f(cg):,.0f}/s", f"{f(rg):,.0f}/s (redis GET)", f(cg)/f(rg), "> 1"),
  ("GET 10 KiB, 50 conns, 8 in flight each", f"{f(cg8):,.0f}/s", f"{f(rg):,.0f}/s (redis GET, -P 1)", f(cg8)/f(rg), "(info)"),
  ("durable PUT 10 KiB (sync / appendfsync always)", f"{f(cps):,.0f}/s", f"{f(rsa):,.0f}/s", f(cps)/f(rsa), "> 1"),
  ("non-durable PUT 10 KiB (none / no persistence)", f"{f(cpn):,.0f}/s", f"{f(rsn):,.0f}/s", f(cpn)/f(rsn), "> 1"),
  ("non-durable PUT 10 KiB (none / AOF, appendfsync no: equal durability)", f"{f(cpn):,.0f}/s", f"{f(rsaof):,.0f}/s", f(cpn)/f(rsaof), "> 1"),
  (f"GET of a {big} object (cairn get / nginx sendfile + curl)", f"{f(cb):.2f} GB/s", f"{f(nb):.2f} GB/s", f(cb)/f(nb), ">= 0.9"),
]
print("| load | cairnd | peer | ratio | target |")
print("|---|---:|---:|---:|---|")
for name, c, p, r, t in rows:
    ok = "" if t == "(info)" else (" ✓" if (r >= 0.9 if t.startswith(">=") else r > 1) else " ✗")
    print(f"| {name} | {c} | {p} | {r:.2f}{ok} | {t} |")
PY
cat "$OUT.md"
log "results: $OUT.md, $OUT.jsonl"
