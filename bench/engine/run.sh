#!/usr/bin/env bash
# bench/engine/run.sh: the engine benchmark, with its peers, in one run.
#
# Runs, on the filesystem under test (the store's data directory):
#   1. fio: the same write patterns (write + fdatasync of each value size into an already-written
#      file, 1 and 64 jobs; the buffered write without sync; a fallocated file) and the device's
#      sequential write bandwidth (O_DIRECT, 1 MiB, iodepth 8), as PEERS.md measured them;
#   2. the matrix engine x op x size x mode x threads, with engine_bench, for Cairn, RocksDB
#      (BlobDB) and LMDB at equal durability (bench/engine/bench_engines.h says how);
#   3. the non-durable append cost, the prewrite experiment and the open time of a store of
#      10M objects (built once under the data directory and reused);
# then prints the Markdown tables (bench/engine/RESULTS.md shows them) and keeps everything in
# bench/results/ (gitignored): RUN.jsonl (one JSON line per measurement), RUN.md, RUN.log.
#
# Every figure should be read as a ratio against a peer from the same run: the machine is
# shared and noisy. Nothing is pinned. To pin, wrap the script, e.g. `taskset -c 1 run.sh`
# (everything on CPU 1), or pin just the benchmark with BENCH_PREFIX="taskset -c 1".
#
# Usage: bench/engine/run.sh [--quick | --full] [options]
#   (default)     3 s per cell, all sizes, modes and both thread counts, open time at 10M
#                 objects (~20 min; building the 10M-object store once adds ~1-2 min)
#   --quick       2 s per cell, 4 KiB and 10 KiB, sync and none, no open time (~3-4 min)
#   --full        5 s per cell, every cell 3 times interleaved (the median is reported)
#   --seconds S   seconds per cell          --repeat N    runs of each cell
#   --engines "cairn rocksdb lmdb"          --sizes "100 4k 10k 1m"
#   --modes "sync interval none"            --threads "1 64"
#   --get-sizes "..."                       --ops "put get"
#   --open-objects N   (0 skips open_time)  --no-fio  --no-matrix  --no-extras
#   --data DIR    data directory (default build-bench/bench-data; must not be a tmpfs)
#   --build DIR   build directory holding bench/engine/engine_bench (default build-bench)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build-bench
DATA=
OUT=$ROOT/bench/results
SECS=3
REPEAT=1
ENGINES="cairn rocksdb lmdb"
SIZES="100 4k 10k 1m"
GET_SIZES=
MODES="sync interval none"
THREADS="1 64"
OPS="put get"
OPEN_OBJECTS=10000000
DO_FIO=1
DO_MATRIX=1
DO_EXTRAS=1
PROFILE=default
BENCH_PREFIX=${BENCH_PREFIX:-}
MIN_FREE_GIB=10

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) PROFILE=quick; SECS=2; SIZES="4k 10k"; GET_SIZES="10k"; MODES="sync none"
             OPEN_OBJECTS=0 ;;
    --full) PROFILE=full; SECS=5; REPEAT=3 ;;
    --seconds) SECS=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --repeat) REPEAT=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --engines) ENGINES=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --sizes) SIZES=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --get-sizes) GET_SIZES=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --modes) MODES=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --threads) THREADS=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --ops) OPS=$2; shift; PROFILE=${PROFILE/#default/custom} ;;
    --open-objects) OPEN_OBJECTS=$2; shift ;;
    --no-fio) DO_FIO=0 ;;
    --no-matrix) DO_MATRIX=0 ;;
    --no-extras) DO_EXTRAS=0 ;;
    --data) DATA=$2; shift ;;
    --build) BUILD=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
GET_SIZES=${GET_SIZES:-$SIZES}
DATA=${DATA:-$BUILD/bench-data}
BIN=$BUILD/bench/engine/engine_bench

if [[ ! -x $BIN ]]; then
  echo "run.sh: $BIN not found. Build it first:" >&2
  echo "  cmake -S $ROOT -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $BUILD engine_bench" >&2
  exit 1
fi
command -v fio >/dev/null || { [[ $DO_FIO == 0 ]] || { echo "run.sh: fio is not installed (or pass --no-fio)" >&2; exit 1; }; }
mkdir -p "$DATA" "$OUT"
FSTYPE=$(stat -f -c %T "$DATA")
if [[ $FSTYPE == tmpfs || $FSTYPE == ramfs ]]; then
  echo "run.sh: $DATA is on $FSTYPE; benchmark the disk instead (--data DIR)" >&2
  exit 1
fi
AVAIL=$(df -B1 --output=avail "$DATA" | tail -1 | tr -d ' ')
if (( AVAIL < MIN_FREE_GIB * 1024 * 1024 * 1024 )); then
  echo "run.sh: only $((AVAIL / 1024 / 1024 / 1024)) GiB free under $DATA; refusing to run" \
       "with less than $MIN_FREE_GIB GiB (runs write up to 4 GiB each, plus 2 GiB of fio files" \
       "and ~3 GiB for the 10M-object store)" >&2
  exit 1
fi

RUN=$(date +%Y%m%d-%H%M%S)-$PROFILE
RES=$OUT/$RUN.jsonl
LOG=$OUT/$RUN.log
MD=$OUT/$RUN.md
FIODIR=$DATA/fio-$$
: > "$RES"
cleanup() { rm -rf "$FIODIR"; }
trap cleanup EXIT

say() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
# Bound every engine_bench process in time, whatever happens inside it.
LIMIT=$(( SECS * 20 + 600 ))
bench() {
  if ! $BENCH_PREFIX timeout "${LIMIT}s" "$BIN" --dir "$DATA" "$@" >> "$RES" 2>> "$LOG"; then
    say "FAILED (see $LOG): engine_bench $*"
  fi
}

fio_bytes() {  # 4k -> 4096
  case $1 in *k) echo $(( ${1%k} * 1024 ));; *m) echo $(( ${1%m} * 1048576 ));; *) echo "$1";; esac
}
# fio_run OP SIZE MODE THREADS PATTERN -- fio args...
fio_run() {
  local op=$1 size=$2 mode=$3 threads=$4 pattern=$5; shift 6
  local js=$FIODIR/out.json
  if ! $BENCH_PREFIX timeout "$LIMIT" fio --output-format=json --percentile_list=50:99:99.9 \
       --output="$js" "$@" >> "$LOG" 2>&1; then
    say "FAILED: fio $*"; return
  fi
  "$BIN" --op fio_summary --fio-json "$js" --label-op "$op" --size "$size" --mode "$mode" \
         --threads "$threads" --pattern "$pattern" >> "$RES" 2>> "$LOG" || say "FAILED: fio_summary $pattern"
}

# fio_cell SIZE MODE THREADS: fio's figure for the same write pattern as one put cell, run just
# before the engines so that it sees the same disk. interval has no fio equivalent: the
# buffered unsynced write (mode none) stands for it.
fio_cell() {
  local s=$1 m=$2 t=$3 b files
  b=$(fio_bytes "$s")
  [[ $DO_FIO == 1 && $m != interval ]] || return 0
  if [[ $t == 1 ]]; then
    files=(--name=one --filename="$FIODIR/fio.dat" --size=1G)
  elif [[ $t == 64 ]]; then
    files=(--name=w64 --directory="$FIODIR" --size=16M --numjobs=64 --group_reporting)
  else
    return 0
  fi
  say "fio $s $m x$t"
  # --invalidate=0 keeps the file's pages cached, as a pre-written volume's are: with fio's
  # default (drop the cache first), every write of a partial page (100 B, 10 KiB) would first
  # read that page from the disk (+45 us at 10 KiB), which no Cairn put does.
  if [[ $m == sync ]]; then
    fio_run put "$b" sync "$t" "write+fdatasync, written file" -- "${files[@]}" \
      --rw=write --bs="$b" --ioengine=psync --fdatasync=1 --invalidate=0 --runtime="$SECS" \
      --time_based
  else
    fio_run put "$b" none "$t" "buffered write, no sync" -- "${files[@]}" \
      --rw=write --bs="$b" --ioengine=psync --invalidate=0 --runtime="$SECS" --time_based
  fi
}
fio_seqwrite() {
  [[ $DO_FIO == 1 ]] || return 0
  say "fio: device sequential write (O_DIRECT, 1 MiB, iodepth 8)"
  fio_run seqwrite 1048576 direct 1 "sequential write, O_DIRECT, iodepth 8" -- --name=seq \
    --filename="$FIODIR/fio.dat" --size=1G --rw=write --bs=1M --direct=1 --ioengine=libaio \
    --iodepth=8 --runtime="$SECS" --time_based
}

{
  echo "# engine bench $RUN"
  echo "host: $(uname -srm), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "filesystem: $(df -h --output=source,fstype,size "$DATA" | tail -1 | tr -s ' ')"
  echo "fio: $(fio --version 2>/dev/null || echo none); git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "profile: $PROFILE, $SECS s per cell, repeat $REPEAT"
} > "$MD"
cat "$MD" >&2
T0=$SECONDS

if [[ $DO_FIO == 1 ]]; then
  mkdir -p "$FIODIR"
  say "fio: laying out 1 GiB + 64 x 16 MiB of already-written files"
  fio --name=prefill --filename="$FIODIR/fio.dat" --size=1G --rw=write --bs=1M \
      --ioengine=psync --end_fsync=1 >> "$LOG" 2>&1
  if [[ " $THREADS " == *" 64 "* ]]; then
    fio --name=w64 --directory="$FIODIR" --size=16M --numjobs=64 --rw=write --bs=1M \
        --ioengine=psync --end_fsync=1 >> "$LOG" 2>&1
  fi
  if [[ $DO_MATRIX == 0 || " $OPS " != *" put "* || " $SIZES " != *" 4k "* || " $MODES " != *" sync "* ||
        " $THREADS " != *" 64 "* ]]; then
    fio_seqwrite
  fi
fi

if [[ $DO_EXTRAS == 1 ]]; then
  say "append_cost (200k non-durable 100 B puts, one thread)"
  bench --op append_cost --seconds 30
  say "prewrite (4 KiB write+fdatasync: written vs fallocated vs extending)"
  bench --op prewrite --seconds "$SECS"
  if [[ $DO_FIO == 1 ]]; then
    say "fio: 4 KiB write+fdatasync into fresh fallocated space (cross-checks prewrite)"
    fio_run put 4096 sync_fallocated 1 "write+fdatasync, fallocated file" -- --name=falloc \
      --filename="$FIODIR/falloc.dat" --size=1G --fallocate=native --rw=write --bs=4k \
      --ioengine=psync --fdatasync=1 --runtime="$SECS"
    rm -f "$FIODIR/falloc.dat"
  fi
fi

if [[ $DO_MATRIX == 1 ]]; then
  # The engines run back to back for each cell, and repeats go round the whole matrix, so
  # drift in the machine's load touches all three alike.
  for r in $(seq 1 "$REPEAT"); do
    for op in $OPS; do
      if [[ $op == get ]]; then sizes=$GET_SIZES; modes=none; else sizes=$SIZES; modes=$MODES; fi
      for s in $sizes; do
        for m in $modes; do
          for t in $THREADS; do
            if [[ $op == put ]]; then
              fio_cell "$s" "$m" "$t"
              if [[ $s == 4k && $m == sync && $t == 64 ]]; then fio_seqwrite; fi
            fi
            for e in $ENGINES; do
              say "[$r/$REPEAT] $e $op $s $m x$t"
              bench --engine "$e" --op "$op" --size "$s" --mode "$m" --threads "$t" \
                    --seconds "$SECS"
            done
          done
        done
      done
    done
  done
fi

if [[ $DO_EXTRAS == 1 && $OPEN_OBJECTS -gt 0 ]]; then
  say "open_time with $OPEN_OBJECTS objects (the store is built once and kept in $DATA)"
  bench --op open_time --objects "$OPEN_OBJECTS"
  say "open_time again with a 16 MiB index cache (index memory follows the configuration)"
  bench --op open_time --objects "$OPEN_OBJECTS" --index-cache-mib 16 --no-crash
fi

echo "elapsed: $(( SECONDS - T0 )) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$MD"
echo >> "$MD"
"$BIN" --op report --results "$RES" >> "$MD"
say "done in $(( SECONDS - T0 )) s: $MD, $RES"
cat "$MD"
