#!/usr/bin/env bash
# bench/s3/ab.sh: cairnd's CPU per presigned 10 KiB S3 GET, two builds side by side (A/B), runs
# interleaved A, B, B, A, ... so that drift of the shared machine falls on both alike (issue 13;
# the method of bench/server/ab.sh, the load of bench/s3/run.sh's wrk row).
#
# Each run starts the build's cairnd (pinned to CPU 0) with an S3 listener on an empty store in
# a temp dir on ephemeral ports, puts KEYS 10 KiB objects (boto3), warms it for 1 s with wrk
# (pinned to CPU 1) GETting them by presigned URLs (the signature is checked on every request),
# then measures DURATION seconds of the same load and reads cairnd's CPU time from
# /proc/PID/stat. It prints one line per run, then each build's median and range: server CPU µs
# per GET (what noise moves least) and GETs per second.
#
# Usage: bench/s3/ab.sh A B     (each a build dir holding src/server/cairnd, or a cairnd binary)
# Env:   ROUNDS=3 (runs of each build)  DURATION=5 (s measured per run)  CONNS=50  KEYS=1000
set -euo pipefail
cd "$(dirname "$0")/../.."
bin() { if [ -d "$1" ]; then realpath "$1/src/server/cairnd"; else realpath "$1"; fi; }
A=$(bin "$1")
B=$(bin "$2")
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
KEYS=${KEYS:-1000}
for x in "$A" "$B"; do [ -x "$x" ] || { echo "ab.sh: missing $x" >&2; exit 1; }; done
for x in wrk taskset python3; do
  command -v "$x" >/dev/null || { echo "ab.sh: missing $x (scripts/deps)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import boto3' || { echo "ab.sh: missing python3-boto3 (scripts/deps)" >&2; exit 1; }
. bench/lib/ab.sh s3ab

run_one() {  # CAIRND LABEL: prints "LABEL cpu_us_per_get gets_per_s"
  local b=$1 label=$2 sport out c0 c1 reqs rps
  rm -rf "$T/store" "$T/port" "$T/s3port"
  (umask 077 && printf 'ab:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
  (umask 077 && printf 'ABS3:%s\n' "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/s3key")
  taskset -c 0 "$b" --data "$T/store" --listen 127.0.0.1:0 --port-file "$T/port" \
    --log-file "$T/cairnd.log" --key-file "$T/key" --s3-listen 127.0.0.1:0 \
    --s3-key-file "$T/s3key" --s3-port-file "$T/s3port" >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -s "$T/s3port" ] && break; sleep 0.1; done
  [ -s "$T/s3port" ] || { echo "ab.sh: $label's cairnd did not start" >&2; exit 1; }
  sport=$(cat "$T/s3port")
  timeout 300 /usr/bin/python3 bench/s3/presigned_paths.py "http://127.0.0.1:$sport" \
    "$(cut -d: -f1 "$T/s3key")" "$(cut -d: -f2- "$T/s3key")" "$KEYS" "$T/presigned.lua"
  timeout 60 taskset -c 1 wrk -t1 -c"$CONNS" -d1s -s "$T/presigned.lua" \
    "http://127.0.0.1:$sport/" >/dev/null
  c0=$(cpu_ticks "$PID")
  out=$(timeout $((DURATION + 60)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    -s "$T/presigned.lua" "http://127.0.0.1:$sport/")
  c1=$(cpu_ticks "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  ! grep -q 'Non-2xx' <<<"$out" || { echo "ab.sh: $label's GETs failed: $out" >&2; exit 1; }
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  python3 -c '
import sys
label, ticks, tick, reqs, rps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
print("%s %.2f %.0f" % (label, ticks / tick * 1e6 / reqs, rps))' \
    "$label" $((c1 - c0)) "$TICK" "$reqs" "$rps"
}

ab_rounds "$A" "$B"
