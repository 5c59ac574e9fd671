#!/usr/bin/env bash
# bench/server/ab.sh: cairnd's CPU per hot GET, two builds side by side (A/B), rounds
# interleaved A, B, B, A, ... so that drift of the shared machine falls on both alike.
#
# Each run starts the build's own cairnd (pinned to CPU 0) on an empty store in a temp dir on
# an ephemeral port, warms it with `cairn bench` (its own cairn, pinned to CPU 1: 10 KiB values,
# 1,000 keys, 50 connections, 1 request in flight each), then measures DURATION seconds of the
# same load and reads cairnd's CPU time from /proc/PID/stat. It prints one line per run and the
# median of each build: server CPU µs per GET (what noise moves least) and GETs per second.
# Builds from before protocol v2 (no --key-file) run without a key.
#
# Usage: bench/server/ab.sh BUILD_A BUILD_B      (build dirs holding src/server/cairnd and
#                                                  src/cli/cairn)
# Env:   ROUNDS=3 (runs of each build)  DURATION=5 (s measured per run)
# The request histograms' own cost: B = the same tree configured with
#   -DCMAKE_CXX_FLAGS=-DCAIRN_BENCH_NO_OP_HISTOGRAMS (server/connection.cc leaves out the hook)
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
. bench/lib/ab.sh ab

run_one() {  # BUILD LABEL: prints "LABEL cpu_us_per_get gets_per_s"
  local b=$1 label=$2 args=() port j c0 c1
  rm -rf "$T/store" "$T/port"
  unset CAIRN_KEY_FILE
  if "$b/src/server/cairnd" --help 2>&1 | grep -q -- --key-file; then
    (umask 077 && printf 'ab:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
    export CAIRN_KEY_FILE=$T/key
    args=(--key-file "$T/key")
  fi
  taskset -c 0 "$b/src/server/cairnd" --data "$T/store" --listen 127.0.0.1:0 \
    --port-file "$T/port" --log-file "$T/cairnd.log" "${args[@]}" >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
  [ -s "$T/port" ] || { echo "ab.sh: $label's cairnd did not start" >&2; exit 1; }
  port=$(cat "$T/port")
  local load=(--connections 50 --inflight 1 --size 10K --mix get=100 --keys 1000)
  timeout 60 taskset -c 1 "$b/src/cli/cairn" --server "127.0.0.1:$port" --json bench \
    --duration 2 "${load[@]}" >/dev/null
  c0=$(cpu_ticks "$PID")
  j=$(timeout $((DURATION + 60)) taskset -c 1 "$b/src/cli/cairn" --server "127.0.0.1:$port" \
    --json bench --duration "$DURATION" "${load[@]}")
  c1=$(cpu_ticks "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  python3 -c '
import json, sys
j = json.loads(sys.argv[1]); label, ticks, tick = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
assert j["errors"] == 0, j
print("%s %.2f %.0f" % (label, ticks / tick * 1e6 / j["ops"], j["ops_per_sec"]))' \
    "$j" "$label" $((c1 - c0)) "$TICK"
}

ab_rounds "$A" "$B"
