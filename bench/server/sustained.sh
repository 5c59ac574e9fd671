#!/usr/bin/env bash
# Sustained PUT load on one cairnd for minutes (issue 16, "No stall under sustained writes"):
# every cell runs `cairn bench --mix put=100` against a fresh cairnd long enough to fill several
# volumes, and reports what a client saw: requests that failed or timed out (the load's
# per-request deadline, --timeout-ms), the maximum latency and p99.9, and the volumes filled.
# A stall shows as timeouts and a maximum in seconds.
#
# Usage: bench/server/sustained.sh [BUILD_DIR]       (default build/release)
# Env:   SECONDS_PER_CELL=180  CELLS="10K:sync 10K:none 1M:sync 1M:none"  CONNECTIONS=50
#        VOLUME=256M (volume capacity: small, so that minutes fill many)  KEYS=20000
#        TIMEOUT_MS=5000  MIN_FREE_GIB=20 (a cell is not started below it)
# Overwrites of KEYS keys keep the live data small (KEYS x size); reclamation punches the
# rest, so the disk use stays bounded while the log moves through volume after volume.
# Output: a markdown table on stdout and in bench/results/DATE-sustained.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$(realpath "${1:-build/release}")
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
SECONDS_PER_CELL=${SECONDS_PER_CELL:-180}
CELLS=${CELLS:-"10K:sync 10K:none 1M:sync 1M:none"}
CONNECTIONS=${CONNECTIONS:-50}
VOLUME=${VOLUME:-256M}
KEYS=${KEYS:-20000}
TIMEOUT_MS=${TIMEOUT_MS:-5000}
MIN_FREE_GIB=${MIN_FREE_GIB:-20}
for x in "$CAIRN" "$CAIRND"; do [[ -x $x ]] || { echo "missing $x (build it first)" >&2; exit 1; }; done

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/$STAMP-sustained
mkdir -p "$ROOT/bench/results"
T=$(mktemp -d "$ROOT/bench/results/tmp-sustained.XXXX")  # on the store's file system
CAIRND_PID=""
cleanup() {
  if [[ -n $CAIRND_PID ]]; then kill "$CAIRND_PID" 2>/dev/null || true; wait "$CAIRND_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
wait_for() {  # retries CMD for up to 30 s
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2
  return 1
}
log() { echo "[$(date +%T)] $*" >&2; }
(umask 077 && printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
export CAIRN_KEY_FILE=$T/key

{
  echo "# cairnd under sustained PUT load, $STAMP"
  echo
  echo "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?); ${SECONDS_PER_CELL} s a cell;" \
       "$CONNECTIONS connections, 1 request in flight each; $KEYS keys overwritten; volumes of $VOLUME;" \
       "per-request deadline $TIMEOUT_MS ms. Produced by \`bench/server/sustained.sh\`."
  echo
  echo "| size | durability | PUT/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors (timeouts) | volumes filled |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
} >"$OUT.md"

for cell in $CELLS; do
  size=${cell%%:*}; mode=${cell#*:}
  free_gib=$(( $(df -P --block-size=1G "$T" | awk 'NR==2 {print $4}') ))
  if (( free_gib < MIN_FREE_GIB )); then
    log "skipping $size $mode: $free_gib GiB free, below MIN_FREE_GIB=$MIN_FREE_GIB"
    echo "| $size | $mode | skipped: $free_gib GiB free | | | | | | | |" >>"$OUT.md"
    continue
  fi
  rm -rf "$T/cairn" "$T/port" "$T/cairnd.log"
  "$CAIRND" --data "$T/cairn" --listen 127.0.0.1:0 --port-file "$T/port" --volume-size "$VOLUME" \
    --log-file "$T/cairnd.log" --key-file "$T/key" >/dev/null 2>&1 &
  CAIRND_PID=$!
  wait_for test -s "$T/port"
  port=$(cat "$T/port")
  log "$size $mode: ${SECONDS_PER_CELL} s of PUTs"
  # The load's own bound: its duration, plus a grace for the requests in flight.
  j=$(timeout $((SECONDS_PER_CELL + 120)) "$CAIRN" --server "127.0.0.1:$port" --json bench \
        --duration "$SECONDS_PER_CELL" --connections "$CONNECTIONS" --inflight 1 --size "$size" \
        --mix put=100 --keys "$KEYS" --durability "$mode" --timeout-ms "$TIMEOUT_MS" --no-preload \
        2>"$T/bench.err") || true
  [[ -s $T/bench.err ]] && log "cairn bench: $(tail -c 300 "$T/bench.err")"
  stat=$("$CAIRN" --server "127.0.0.1:$port" --json stat 2>/dev/null || echo '{}')
  kill "$CAIRND_PID"; wait "$CAIRND_PID" || true; CAIRND_PID=""
  python3 - "$j" "$stat" "$size" "$mode" >>"$OUT.md" <<'PY'
import json, sys
raw, stat_raw, size, mode = sys.argv[1:5]
try:
    j = json.loads(raw.strip().splitlines()[-1])
except Exception:
    print(f"| {size} | {mode} | the load failed: {raw.strip()[:120]!r} | | | | | | | | |")
    sys.exit(0)
try:
    st = json.loads(stat_raw)
    vols = st.get("volume_list") or []
    filled = sum(1 for v in vols if v.get("state") == "sealed") + int(st.get("compactions", 0))
except Exception:
    filled = "?"
p = j["per_op"]["put"]; l = p["latency_us"]
print(f"| {size} | {mode} | {p['ops_per_sec']:.0f} | {p['mb_per_sec']:.1f} | {l['p50']/1e3:.2f} | "
      f"{l['p99']/1e3:.1f} | {l['p999']/1e3:.1f} | {l['max']/1e3:.0f} | {j['errors']} | {filled} |")
PY
  tail -1 "$OUT.md" >&2
done
cat "$OUT.md"
