#!/usr/bin/env bash
# Cold GETs (issue 16, item 3): how many device reads one GET of a 4 KiB object costs when its
# bytes are not in the page cache, through the engine in process and through cairnd, and how
# many GETs/s that gives against fio's random 4 KiB reads of the same volume files at the same
# queue depth. Needs root (it drops the page cache) and fio.
#
#   1. Builds (once; kept in DATA and reused) a store of OBJECTS random values of SIZE.
#   2. Every reader (cold_get_bench, cairnd, fio) runs in a memory cgroup of MEMORY bytes
#      (cgroup v2 memory.max, else v1 memory.limit_in_bytes), a small share of the store, so its
#      page cache cannot hold the store.
#   3. Each cell: the reader opens the store and reads its index once (WARM=scan; the blocks stay
#      in RocksDB's block cache as far as INDEX_CACHE lets them), the page cache is dropped, then
#      COUNT keys are read, each once, in a random order, QD at a time, bounded by CELL_SECONDS. The
#      drop and the measurement hold /tmp/cairn-dropcache.lock, so runs that drop caches never
#      overlap.
#
# Usage: bench/engine/cold_get.sh [BUILD_DIR]     (default build/release; needs cold_get_bench,
#                                                  cairnd)
# Env:   DATA=build-bench/coldget  OBJECTS=2000000  SIZE=4k  MEMORY=1G  QDS="1 32"
#        COUNT=20000 (GETs per cell, at most)  CELL_SECONDS=20 (per cell)  WARM=scan (or none)
#        INDEX_CACHE=auto (MiB, or auto: sized to the index, the default since issue 16;
#        StoreOptions::index_cache_bytes in process, cairnd's index_cache)
#        PATHS="engine-get engine-pin cairnd fio-direct fio-buffered"
# Output: a markdown table on stdout and in bench/results/DATE-cold-get.md, raw JSON lines in
#         bench/results/DATE-cold-get.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$(realpath "${1:-build/release}")
TOOL=$B/bench/engine/cold_get_bench
CAIRND=$B/src/server/cairnd
DATA=${DATA:-$ROOT/build-bench/coldget}
OBJECTS=${OBJECTS:-2000000}
SIZE=${SIZE:-4k}
MEMORY=${MEMORY:-1G}
QDS=${QDS:-"1 32"}
COUNT=${COUNT:-20000}
# Not $SECONDS: bash's own (the seconds since the shell started) was 0 here, so every cell got
# --seconds 0 and failed.
SECONDS_PER_CELL=${CELL_SECONDS:-20}
WARM=${WARM:-scan}
INDEX_CACHE=${INDEX_CACHE:-auto}
ENGINE_CACHE_MIB=$INDEX_CACHE  # cold_get_bench --index-cache-mib: 0 is auto
[ "$INDEX_CACHE" = auto ] && ENGINE_CACHE_MIB=0
PATHS=${PATHS:-"engine-get engine-pin cairnd fio-direct fio-buffered"}
LOCK=/tmp/cairn-dropcache.lock
for x in "$TOOL" "$CAIRND"; do [[ -x $x ]] || { echo "missing $x (build it first)" >&2; exit 1; }; done
command -v fio >/dev/null || { echo "missing fio (scripts/deps)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "needs root: it drops the page cache" >&2; exit 1; }

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/$STAMP-cold-get
mkdir -p "$ROOT/bench/results" "$DATA"
T=$(mktemp -d "$ROOT/bench/results/tmp-coldget.XXXX")
CAIRND_PID=""
CG=""
cleanup() {
  if [[ -n $CAIRND_PID ]]; then kill "$CAIRND_PID" 2>/dev/null || true; wait "$CAIRND_PID" 2>/dev/null || true; fi
  [[ -n $CG ]] && rmdir "$CG" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
wait_for() {  # retries CMD for up to 60 s
  for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2
  return 1
}
bytes() { numfmt --from=iec "$1"; }

# ---- the memory cgroup every reader runs in
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  CG=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)/cairn-coldget-$$
  mkdir "$CG"
  bytes "$MEMORY" >"$CG/memory.max"
else
  CG=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)/cairn-coldget-$$
  mkdir "$CG"
  bytes "$MEMORY" >"$CG/memory.limit_in_bytes"
fi
# in_cgroup CMD...: runs CMD inside the cgroup.
in_cgroup() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }

# ---- the store, built once
"$TOOL" --op build --dir "$DATA" --objects "$OBJECTS" --size "$SIZE"
BUILT=$(awk '{print $1}' "$DATA/BUILT")
STORE_BYTES=$(du -sb "$DATA/store/volumes" | awk '{print $1}')
INDEX_BYTES=$(du -sb "$DATA/store/index" | awk '{print $1}')
log "store: $BUILT objects, volumes $((STORE_BYTES >> 20)) MiB, index $((INDEX_BYTES >> 20)) MiB; memory $MEMORY"

# ---- device counters around a command (fio): reads and sectors of the store's device
read -r DEV_MAJ DEV_MIN < <(stat -c '%Hd %Ld' "$DATA")
disk() { awk -v a="$DEV_MAJ" -v b="$DEV_MIN" '$1 == a && $2 == b {print $4, $6}' /proc/diskstats; }

# fio_cell KIND QD: random 4 KiB reads of the store's full volumes (the last two are left out:
# the active volume's allocated tail, and a volume prepared ahead, read as zeros without
# touching the device).
fio_cell() {
  local kind=$1 qd=$2 direct=0 files r0 r1
  [[ $kind == fio-direct ]] && direct=1
  files=$(ls "$DATA"/store/volumes/*.vol | sort | head -n -2 | paste -sd:)
  r0=$(disk)
  # --invalidate=1 drops the files' pages before the buffered run, as the cache drop does.
  in_cgroup fio --name=cold --filename="$files" --readonly --rw=randread --bs=4k \
    --direct=$direct --invalidate=1 --ioengine=psync --numjobs="$qd" --thread --group_reporting \
    --runtime="$SECONDS_PER_CELL" --number_ios=$(( (COUNT + qd - 1) / qd )) \
    --output-format=json >"$T/fio.json"
  r1=$(disk)
  python3 - "$kind" "$qd" "$T/fio.json" $r0 $r1 <<'PY'
import json, sys
kind, qd, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r0, s0, r1, s1 = map(int, sys.argv[4:8])
j = json.load(open(path))["jobs"][0]["read"]
n = max(1, j["total_ios"])
pct = j["clat_ns"]["percentile"]
print(json.dumps({"op": "cold_get", "path": kind, "qd": qd, "gets": j["total_ios"],
                  "seconds": j["runtime"] / 1000, "gets_per_s": j["iops"],
                  "p50_us": pct["50.000000"] / 1000, "p99_us": pct["99.000000"] / 1000,
                  "reads_per_get": (r1 - r0) / n, "kib_per_get": (s1 - s0) / 2 / n, "errors": 0}))
PY
}

# cairnd's index cache, where this build has the setting (older builds: the default).
CACHE_FLAG=()
# (The help is read whole first: grep -q would close the pipe early, and under pipefail the
# SIGPIPE cairnd then gets would make the test fail at random.)
HELP=$("$CAIRND" --help 2>&1 || true)
if [[ $HELP == *--index-cache* ]]; then
  if [ "$INDEX_CACHE" = auto ]; then CACHE_FLAG=(--index-cache auto); else CACHE_FLAG=(--index-cache "${INDEX_CACHE}M"); fi
fi
log "cairnd: ${CACHE_FLAG[*]:-no index_cache setting (the default of this build)}"
start_cairnd() {
  rm -f "$T/port"
  (umask 077 && printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
  # Not through in_cgroup: a function run in the background is a subshell, and $! would be
  # its pid, not cairnd's. sh execs cairnd, so $! is cairnd.
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$CAIRND" --data "$DATA/store" \
    --listen 127.0.0.1:0 --port-file "$T/port" "${CACHE_FLAG[@]}" --log-file "$T/cairnd.log" \
    --key-file "$T/key" >/dev/null 2>&1 &
  CAIRND_PID=$!
  wait_for test -s "$T/port"
}
stop_cairnd() { kill "$CAIRND_PID"; wait "$CAIRND_PID" || true; CAIRND_PID=""; }

# locked CMD...: runs CMD holding the lock that keeps page-cache drops and measurements apart.
locked() { ( flock 9; "$@" ) 9>"$LOCK"; }
common=(--dir "$DATA" --size "$SIZE" --warm "$WARM" --count "$COUNT" --seconds "$SECONDS_PER_CELL")
run=0
for qd in $QDS; do
  for p in $PATHS; do
    run=$((run + 1))
    log "$p, queue depth $qd"
    case $p in
      engine-get|engine-pin)
        locked in_cgroup "$TOOL" --op engine --path "${p#engine-}" --qd "$qd" --run-seed "$run" \
          --index-cache-mib "$ENGINE_CACHE_MIB" "${common[@]}" >>"$OUT.jsonl" || log "$p failed (see its row)" ;;
      cairnd)
        start_cairnd
        locked "$TOOL" --op server --server "127.0.0.1:$(cat "$T/port")" --key-file "$T/key" \
          --server-pid "$CAIRND_PID" --qd "$qd" --run-seed "$run" "${common[@]}" >>"$OUT.jsonl" ||
          log "$p failed (see its row)"
        stop_cairnd ;;
      fio-direct|fio-buffered) locked fio_cell "$p" "$qd" >>"$OUT.jsonl" ;;
      *) echo "unknown path $p" >&2; exit 1 ;;
    esac
  done
done

python3 - "$OUT.jsonl" "$BUILT" "$SIZE" "$STORE_BYTES" "$INDEX_BYTES" "$MEMORY" "$INDEX_CACHE" "$WARM" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)" <<'PY' | tee "$OUT.md"
import json, sys
path, built, size, store, index, mem, cache, warm, rev = sys.argv[1:10]
rows = [json.loads(l) for l in open(path) if l.strip()]
print(f"# Cold GETs, git {rev}\n")
print(f"{built} objects of {size} ({int(store) >> 20} MiB of volumes, index {int(index) >> 20} MiB); "
      f"readers in a memory cgroup of {mem}; index cache {cache}{'' if cache == 'auto' else ' MiB'}; warm: {warm}. "
      "Produced by `bench/engine/cold_get.sh`.\n")
print("| path | QD | GETs | GETs/s | vs fio direct | p50 µs | p99 µs | device reads/GET | device KiB/GET | KiB fetched/GET | RocksDB block reads/GET | errors |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
fio = {r["qd"]: r["gets_per_s"] for r in rows if r["path"] == "fio-direct"}
for r in rows:
    base = fio.get(r["qd"])
    vs = f"{r['gets_per_s'] / base:.2f}" if base else ""
    rb = r.get("rocksdb_block_reads_per_get")
    own = r.get("proc_kib_per_get")
    print(f"| {r['path']} | {r['qd']} | {r['gets']} | {r['gets_per_s']:.0f} | {vs} | {r['p50_us']:.0f} | "
          f"{r['p99_us']:.0f} | {r['reads_per_get']:.2f} | {r['kib_per_get']:.1f} | "
          f"{'' if own is None else f'{own:.1f}'} | {'' if rb is None else f'{rb:.2f}'} | {r['errors']} |")
print("\nDevice columns count the whole device (/proc/diskstats: other processes' reads too); "
      "KiB fetched is the reader's own read_bytes (/proc/PID/io).")
PY
