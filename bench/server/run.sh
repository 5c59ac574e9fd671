#!/usr/bin/env bash
# cairnd over loopback, measured with `cairn bench` / `cairn get` beside Redis and nginx in the
# same run (issue 4, "Benchmarks"; targets in ARCHITECTURE.md). Server pinned to CPU 0, load
# generator to CPU 1 (PEERS.md). Every server lives in a temp dir on an ephemeral port and is
# stopped by this script; every loop and wait is bounded.
#
# The machine is shared and noisy: a peer's own rate moves 20-40% between runs minutes apart.
# So the whole set is measured ROUNDS times, each round measuring cairnd and then its peers
# back to back, and the table gives the median ratio with every round's ratio beside it. It
# also gives each server's CPU time per operation (from /proc/PID/stat), which noise from
# other tenants moves less than throughput.
#
# Usage: bench/server/run.sh [BUILD_DIR]      (default build/release; needs cairn and cairnd)
# Env:   ROUNDS=3  DURATION=5 (s per cairn bench)  N=100000 (redis-benchmark requests)
#        BIG=1G (GET size)
# Output: a markdown table on stdout and in bench/results/DATE-server.md, raw JSON lines in
#         bench/results/DATE-server.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$(realpath "${1:-build/release}")
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
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
# record NAME ROUND JSON: one raw result line.
record() { echo "{\"name\":\"$1\",\"round\":$2,\"result\":$3}" >>"$OUT.jsonl"; }
# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

head -c "$BIG" /dev/urandom >"$T/big"
BIG_BYTES=$(stat -c %s "$T/big")
# The key cairnd and cairn share (docs/protocol.md section 8; the handshake is once per
# connection, outside the measured requests).
(umask 077 && printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
export CAIRN_KEY_FILE=$T/key

# ---- cairnd ----
start_cairnd() {
  rm -rf "$T/cairn" "$T/port"
  taskset -c 0 "$CAIRND" --data "$T/cairn" --listen 127.0.0.1:0 --port-file "$T/port" \
    --log-file "$T/cairnd.log" --key-file "$T/key" >/dev/null 2>&1 &
  CAIRND_PID=$!
  PIDS+=("$CAIRND_PID")
  wait_for test -s "$T/port"
  CPORT=$(cat "$T/port")
}
stop_cairnd() { kill "$CAIRND_PID"; wait "$CAIRND_PID" || true; }

cairn_bench() {  # NAME ROUND ARGS...: records cairn bench's JSON plus the server's CPU per op
  local name=$1 round=$2
  shift 2
  local j c0 c1
  c0=$(cpu_ticks "$CAIRND_PID")
  j=$(timeout $((DURATION + 120)) taskset -c 1 "$CAIRN" --server "127.0.0.1:$CPORT" --json bench \
    --duration "$DURATION" "$@") || { echo "cairn bench $name failed: $j" >&2; return 1; }
  c1=$(cpu_ticks "$CAIRND_PID")
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["errors"]==0, j' "$j"
  record "$name" "$round" "{\"tool\":\"cairn bench\",\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)"),\"bench\":$j}"
}

# ---- Redis (PEERS.md config) ----
redis_run() {  # NAME ROUND TEST EXTRA_CONFIG...: records requests/s of redis-benchmark -t TEST
  local name=$1 round=$2 test=$3
  shift 3
  local port dir
  port=$(free_port)
  dir=$T/redis-$name
  rm -rf "$dir"
  mkdir -p "$dir"
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --io-threads 1 \
    --dir "$dir" --daemonize no --logfile "$dir/log" "$@" &
  local pid=$!
  PIDS+=("$pid")
  wait_for redis-cli -p "$port" ping
  if [[ $test == get ]]; then  # the values to get, written first and not measured
    timeout 600 taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -t set -d 10240 -c 50 \
      -P 1 -n "$N" -r 100000 -q >/dev/null
  fi
  local c0 c1 csv
  c0=$(cpu_ticks "$pid")
  csv=$(timeout 600 taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -d 10240 -c 50 \
    -P 1 -n "$N" -r 100000 --csv)
  c1=$(cpu_ticks "$pid")
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  local rps
  rps=$(python3 -c 'import csv,sys; rows=[r for r in csv.reader(sys.stdin.read().splitlines()) if r and r[0] not in ("test",)]; print(rows[-1][1])' <<<"$csv")
  record "$name" "$round" "{\"tool\":\"redis-benchmark\",\"rps\":$rps,\"ops\":$N,\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)")}"
}

# ---- nginx, sendfile on (PEERS.md config) ----
NPORT=$(free_port)
mkdir -p "$T/nginx/www" "$T/nginx/tmp"
# nginx's worker drops root for an unprivileged user: it must be able to read the file.
chmod 755 "$T" "$T/nginx" "$T/nginx/www"
cp "$T/big" "$T/nginx/www/big"
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
# The 2 GiB just written must not be written back during the measurements.
sync

for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS: cairnd (GET 10 KiB x1 and x8 in flight, PUT sync, PUT none, GET $BIG)"
  start_cairnd
  cairn_bench get_10k "$round" --connections 50 --inflight 1 --size 10K --mix get=100 --keys 1000
  cairn_bench get_10k_inflight8 "$round" --connections 50 --inflight 8 --size 10K --mix get=100 --keys 1000
  cairn_bench put_10k_sync "$round" --connections 50 --inflight 1 --size 10K --mix put=100 --keys 100000 --durability sync
  cairn_bench put_10k_none "$round" --connections 50 --inflight 1 --size 10K --mix put=100 --keys 100000 --durability none
  timeout 600 "$CAIRN" --server "127.0.0.1:$CPORT" put big "$T/big"
  s=$(date +%s.%N)
  timeout 600 taskset -c 1 "$CAIRN" --server "127.0.0.1:$CPORT" get big >/dev/null
  e=$(date +%s.%N)
  record get_big "$round" "{\"tool\":\"cairn get\",\"gb_per_sec\":$(python3 -c "print($BIG_BYTES/($e-$s)/1e9)")}"
  stop_cairnd

  log "round $round/$ROUNDS: redis (GET; SET always, no persistence, AOF appendfsync no)"
  redis_run get_10k "$round" get --appendonly no
  redis_run put_10k_sync "$round" set --appendonly yes --appendfsync always
  redis_run put_10k_none "$round" set --appendonly no
  # Equal durability to cairn's `none`: Redis writes its AOF to the page cache and never
  # fsyncs, so, like `none`, it survives a crash of the process but not of the machine. "No
  # persistence" (the issue's peer) loses everything at a process crash.
  redis_run put_10k_aof_no "$round" set --appendonly yes --appendfsync no

  log "round $round/$ROUNDS: nginx (GET of the same $BIG bytes with curl)"
  taskset -c 0 nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>/dev/null &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_for curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NPORT/big"
  bps=$(timeout 600 taskset -c 1 curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$NPORT/big")
  record get_big "$round" "{\"tool\":\"nginx+curl\",\"gb_per_sec\":$(python3 -c "print($bps/1e9)")}"
  kill "$NGINX_PID"
  wait "$NGINX_PID" 2>/dev/null || true
done

# ---- table ----
python3 - "$OUT.jsonl" "$BIG" >"$OUT.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
big = sys.argv[2]
def get(name, tool_prefix):
    return {r["round"]: r["result"] for r in rows
            if r["name"] == name and r["result"]["tool"].startswith(tool_prefix)}
def rate(res):
    return res["bench"]["ops_per_sec"] if "bench" in res else float(res["rps"])
def cpu_us(res):
    ops = res["bench"]["ops"] if "bench" in res else res["ops"]
    return res["server_cpu_s"] * 1e6 / ops
def row(label, cname, pname, target, pred=None, peer_label=""):
    c, p = get(cname, "cairn"), get(pname, pred or "redis")
    rounds = sorted(set(c) & set(p))
    ratios = [rate(c[k]) / rate(p[k]) for k in rounds]
    med = statistics.median(ratios)
    ok = "" if target == "(info)" else (" ✓" if med > 1 else " ✗")
    cc = statistics.median(cpu_us(c[k]) for k in rounds)
    pc = statistics.median(cpu_us(p[k]) for k in rounds)
    print(f"| {label} | {statistics.median(rate(c[k]) for k in rounds):,.0f}/s | "
          f"{statistics.median(rate(p[k]) for k in rounds):,.0f}/s{peer_label} | "
          f"**{med:.2f}**{ok} ({', '.join(f'{r:.2f}' for r in ratios)}) | {target} | "
          f"{cc:.1f} / {pc:.1f} |")
print("| load | cairnd (median) | peer (median) | ratio: median (each round) | target | server CPU µs/op, cairnd / peer |")
print("|---|---:|---:|---|---|---:|")
row("GET 10 KiB, 50 conns, 1 in flight each", "get_10k", "get_10k", "> 1", peer_label=" redis GET")
row("GET 10 KiB, 50 conns, 8 in flight each", "get_10k_inflight8", "get_10k", "(info)", peer_label=" redis GET, -P 1")
row("durable PUT 10 KiB (sync / appendfsync always)", "put_10k_sync", "put_10k_sync", "> 1")
row("non-durable PUT 10 KiB (none / AOF, appendfsync no: equal durability)", "put_10k_none", "put_10k_aof_no", "> 1")
row("non-durable PUT 10 KiB (none / no persistence)", "put_10k_none", "put_10k_none", "(info)")
c, n = get("get_big", "cairn"), get("get_big", "nginx")
rounds = sorted(set(c) & set(n))
ratios = [c[k]["gb_per_sec"] / n[k]["gb_per_sec"] for k in rounds]
med = statistics.median(ratios)
print(f"| GET of a {big} object (cairn get / nginx sendfile + curl) | "
      f"{statistics.median(c[k]['gb_per_sec'] for k in rounds):.2f} GB/s | "
      f"{statistics.median(n[k]['gb_per_sec'] for k in rounds):.2f} GB/s | "
      f"**{med:.2f}**{' ✓' if med >= 0.9 else ' ✗'} ({', '.join(f'{r:.2f}' for r in ratios)}) | >= 0.9 | |")
PY
cat "$OUT.md"
log "results: $OUT.md, $OUT.jsonl"
