#!/usr/bin/env bash
# The S3 gateway over loopback beside its peers, in one run (issue 13, "What must hold"; the
# method of bench/server/run.sh: server pinned to CPU 0, load generators to CPU 1, ROUNDS rounds,
# medians with every round's ratio beside them, server CPU per request from /proc/PID/stat):
#   - signed 10 KiB GET (`cairn bench --s3`) against nginx serving the same bytes as static
#     files (wrk, the same connections, random keys among the same count); target >= 0.8;
#   - the same GETs presigned and driven by wrk, as nginx's (the load generator is then the same
#     program on both sides; `cairn bench --s3` signs every request on the one client core);
#   - 10 KiB durable PUT through S3 (`cairn bench --s3`, sync) against the native protocol's
#     durable PUT on the same node (`cairn bench --server --durability sync`);
#   - a BIG (1 GiB) GET through S3 (curl on a presigned URL: sendfile from the pinned records)
#     against nginx sendfile (curl).
# Every server lives in a temp dir on an ephemeral port and is stopped by this script; every
# loop and wait is bounded.
#
# Usage: bench/s3/run.sh [BUILD_DIR]     (default build/release; needs cairn and cairnd)
# Env:   ROUNDS=3  DURATION=5 (s per load)  CONNS=50  KEYS=1000  BIG=1G
# Output: a markdown table on stdout and in bench/results/DATE-s3.md, raw JSON lines in
#         bench/results/DATE-s3.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$(realpath "${1:-build/release}")
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
KEYS=${KEYS:-1000}
BIG=${BIG:-1G}
for x in "$CAIRN" "$CAIRND"; do [[ -x $x ]] || { echo "missing $x (build it first)" >&2; exit 1; }; done
for x in nginx wrk curl taskset python3; do
  command -v "$x" >/dev/null || { echo "missing $x (scripts/deps)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import boto3' || { echo "missing python3-boto3 (scripts/deps)" >&2; exit 1; }

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/$STAMP-s3
mkdir -p "$ROOT/bench/results"
T=$(mktemp -d "$ROOT/bench/results/tmp-s3.XXXX")  # on the store's file system, not tmpfs
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2
  return 1
}
log() { echo "[$(date +%T)] $*" >&2; }
record() { echo "{\"name\":\"$1\",\"round\":$2,\"result\":$3}" >>"$OUT.jsonl"; }
# cpu_ticks PID: user + system clock ticks of the process and its children (nginx serves from a
# worker process under its master).
cpu_ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
TICK=$(getconf CLK_TCK)

head -c "$BIG" /dev/urandom >"$T/big"
BIG_BYTES=$(stat -c %s "$T/big")
(umask 077 && printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
(umask 077 && printf 'BENCHS3:%s\n' "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/s3key")
export CAIRN_KEY_FILE=$T/key
S3AK=$(cut -d: -f1 "$T/s3key")
S3SK=$(cut -d: -f2- "$T/s3key")

start_cairnd() {
  rm -rf "$T/cairn" "$T/port" "$T/s3port"
  taskset -c 0 "$CAIRND" --data "$T/cairn" --listen 127.0.0.1:0 --port-file "$T/port" \
    --log-file "$T/cairnd.log" --key-file "$T/key" --s3-listen 127.0.0.1:0 \
    --s3-key-file "$T/s3key" --s3-port-file "$T/s3port" >/dev/null 2>&1 &
  CAIRND_PID=$!
  PIDS+=("$CAIRND_PID")
  wait_for test -s "$T/port"
  wait_for test -s "$T/s3port"
  CPORT=$(cat "$T/port")
  SPORT=$(cat "$T/s3port")
}
stop_cairnd() { kill "$CAIRND_PID"; wait "$CAIRND_PID" || true; }

bench() {  # NAME ROUND TARGET_ARGS... -- BENCH_ARGS...: cairn bench JSON plus server CPU
  local name=$1 round=$2
  shift 2
  local j c0 c1
  c0=$(cpu_ticks "$CAIRND_PID")
  j=$(timeout $((DURATION + 300)) taskset -c 1 "$CAIRN" --json "$@" --duration "$DURATION") ||
    { echo "cairn bench $name failed: $j" >&2; return 1; }
  c1=$(cpu_ticks "$CAIRND_PID")
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["errors"]==0, j' "$j"
  record "$name" "$round" "{\"tool\":\"cairn bench\",\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)"),\"bench\":$j}"
}

presign() {  # METHOD KEY: a presigned URL for bucket "big"
  /usr/bin/python3 - "$1" "$2" "http://127.0.0.1:$SPORT" "$S3AK" "$S3SK" <<'PY'
import sys, boto3
from botocore.config import Config
m, key, ep, ak, sk = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
print(s3.generate_presigned_url({"GET": "get_object", "PUT": "put_object"}[m],
                                Params={"Bucket": "big", "Key": key}, ExpiresIn=3600))
PY
}

presigned_paths() {  # OUT.lua: KEYS 10 KiB objects in bucket "wrk", a wrk script GETting them presigned
  /usr/bin/python3 bench/s3/presigned_paths.py "http://127.0.0.1:$SPORT" "$S3AK" "$S3SK" "$KEYS" "$1"
}

# ---- nginx: the same 10 KiB values as static files, and the BIG file, sendfile on ----
NPORT=$(free_port)
mkdir -p "$T/nginx/www/small" "$T/nginx/tmp"
chmod 755 "$T" "$T/nginx" "$T/nginx/www" "$T/nginx/www/small"
python3 - "$T/nginx/www/small" "$KEYS" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
pool = os.urandom(10240 + 4096)
for i in range(n):
    off = (i * 2654435761) % 4096
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(pool[off:off + 10240])
PY
chmod 644 "$T/nginx/www/small"/*
cp "$T/big" "$T/nginx/www/big"
chmod 644 "$T/nginx/www/big"
cat >"$T/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  open_file_cache max=20000;
  keepalive_requests 10000000;
  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;
  fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
  server { listen 127.0.0.1:$NPORT; root $T/nginx/www; }
}
CONF
cat >"$T/random.lua" <<LUA
math.randomseed(os.time())
request = function() return wrk.format("GET", "/small/" .. math.random(0, $KEYS - 1)) end
LUA
sync

for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS: cairnd S3 (signed GET 10 KiB, PUT 10 KiB sync), native PUT 10 KiB sync, GET $BIG"
  start_cairnd
  bench s3_get_10k "$round" bench --s3 "http://127.0.0.1:$SPORT" --s3-key-file "$T/s3key" \
    --connections "$CONNS" --inflight 1 --size 10K --mix get=100 --keys "$KEYS"
  # The same GETs driven by wrk, as nginx's are: presigned URLs (the signature is checked on
  # every request, from the query instead of the headers), so both servers face the same load
  # generator. `cairn bench --s3` signs each request itself, on the one client core: in the
  # first runs here it, not cairnd, set the rate of the row above.
  presigned_paths "$T/presigned.lua"
  c0=$(cpu_ticks "$CAIRND_PID")
  wrk_out=$(timeout $((DURATION + 60)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    -s "$T/presigned.lua" "http://127.0.0.1:$SPORT/")
  c1=$(cpu_ticks "$CAIRND_PID")
  ! grep -q 'Non-2xx' <<<"$wrk_out" || { echo "presigned GETs failed: $wrk_out" >&2; exit 1; }
  reqs=$(awk '/requests in/ {print $1}' <<<"$wrk_out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out")
  record get_10k "$round" "{\"tool\":\"cairn S3+wrk\",\"rps\":$rps,\"ops\":$reqs,\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)")}"
  bench s3_put_10k_sync "$round" bench --s3 "http://127.0.0.1:$SPORT" --s3-key-file "$T/s3key" \
    --connections "$CONNS" --inflight 1 --size 10K --mix put=100 --keys 100000
  bench native_put_10k_sync "$round" --server "127.0.0.1:$CPORT" bench --connections "$CONNS" \
    --inflight 1 --size 10K --mix put=100 --keys 100000 --durability sync
  # The BIG object: created, uploaded with a presigned PUT (one streamed body), then GET.
  /usr/bin/python3 - "http://127.0.0.1:$SPORT" "$S3AK" "$S3SK" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
s3.create_bucket(Bucket="big")
PY
  timeout 600 curl -sf -o /dev/null -T "$T/big" "$(presign PUT big)"
  url=$(presign GET big)
  c0=$(cpu_ticks "$CAIRND_PID")
  bps=$(timeout 600 taskset -c 1 curl -sf -o /dev/null -w '%{speed_download}' "$url")
  c1=$(cpu_ticks "$CAIRND_PID")
  record get_big "$round" "{\"tool\":\"cairn S3+curl\",\"gb_per_sec\":$(python3 -c "print($bps/1e9)"),\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)")}"
  stop_cairnd

  log "round $round/$ROUNDS: nginx (GET 10 KiB static files with wrk; GET $BIG with curl)"
  taskset -c 0 nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>/dev/null &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_for curl -sf -o /dev/null "http://127.0.0.1:$NPORT/small/0"
  c0=$(cpu_ticks "$NGINX_PID")
  wrk_out=$(timeout $((DURATION + 60)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    -s "$T/random.lua" "http://127.0.0.1:$NPORT/")
  c1=$(cpu_ticks "$NGINX_PID")
  reqs=$(awk '/requests in/ {print $1}' <<<"$wrk_out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out")
  record get_10k "$round" "{\"tool\":\"nginx+wrk\",\"rps\":$rps,\"ops\":$reqs,\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)")}"
  c0=$(cpu_ticks "$NGINX_PID")
  bps=$(timeout 600 taskset -c 1 curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$NPORT/big")
  c1=$(cpu_ticks "$NGINX_PID")
  record get_big "$round" "{\"tool\":\"nginx+curl\",\"gb_per_sec\":$(python3 -c "print($bps/1e9)"),\"server_cpu_s\":$(python3 -c "print(($c1-$c0)/$TICK)")}"
  kill "$NGINX_PID"
  wait "$NGINX_PID" 2>/dev/null || true
done

python3 - "$OUT.jsonl" "$BIG" "$BIG_BYTES" >"$OUT.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
big, big_bytes = sys.argv[2], int(sys.argv[3])
def get(name, tool_prefix):
    return {r["round"]: r["result"] for r in rows
            if r["name"] == name and r["result"]["tool"].startswith(tool_prefix)}
def rate(res):
    return res["bench"]["ops_per_sec"] if "bench" in res else float(res["rps"])
def cpu_us(res):
    ops = res["bench"]["ops"] if "bench" in res else res["ops"]
    return res["server_cpu_s"] * 1e6 / max(ops, 1)
def row(label, c, p, target):
    rounds = sorted(set(c) & set(p))
    ratios = [rate(c[k]) / rate(p[k]) for k in rounds]
    med = statistics.median(ratios)
    print(f"| {label} | {statistics.median(rate(c[k]) for k in rounds):,.0f}/s | "
          f"{statistics.median(rate(p[k]) for k in rounds):,.0f}/s | **{med:.2f}** "
          f"({', '.join(f'{r:.2f}' for r in ratios)}) | {target} | "
          f"{statistics.median(cpu_us(c[k]) for k in rounds):.1f} / "
          f"{statistics.median(cpu_us(p[k]) for k in rounds):.1f} |")
print("| load | cairn S3 (median) | peer (median) | ratio: median (each round) | target | server CPU µs/op, S3 / peer |")
print("|---|---:|---:|---|---|---:|")
row("signed GET 10 KiB, 1 in flight per conn (peer: nginx static files, wrk)",
    get("s3_get_10k", "cairn"), get("get_10k", "nginx"), ">= 0.8")
row("presigned GET 10 KiB, wrk on both sides (peer: nginx static files, wrk)",
    get("get_10k", "cairn S3+wrk"), get("get_10k", "nginx"), ">= 0.8")
row("durable PUT 10 KiB (peer: the native protocol's durable PUT, same node)",
    get("s3_put_10k_sync", "cairn"), get("native_put_10k_sync", "cairn"), "(info)")
c, n = get("get_big", "cairn"), get("get_big", "nginx")
rounds = sorted(set(c) & set(n))
ratios = [c[k]["gb_per_sec"] / n[k]["gb_per_sec"] for k in rounds]
print(f"| GET of a {big} object (presigned, curl; peer: nginx sendfile, curl) | "
      f"{statistics.median(c[k]['gb_per_sec'] for k in rounds):.2f} GB/s | "
      f"{statistics.median(n[k]['gb_per_sec'] for k in rounds):.2f} GB/s | "
      f"**{statistics.median(ratios):.2f}** ({', '.join(f'{r:.2f}' for r in ratios)}) | (info) | "
      f"{statistics.median(c[k]['server_cpu_s'] for k in rounds) * 1e3:.0f} ms / "
      f"{statistics.median(n[k]['server_cpu_s'] for k in rounds) * 1e3:.0f} ms per GET |")
PY
cat "$OUT.md"
log "results: $OUT.md, $OUT.jsonl"
