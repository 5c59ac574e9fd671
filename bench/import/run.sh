#!/usr/bin/env bash
# bench/import/run.sh: `cairn import` and `cairn export` of many small files, cold cache, beside
# the tools a user would compare them with, in one run (issue 3, item 8).
#
# Makes FILES files of SIZE bytes (default 10,000 x 500 KB = 5 GB), each written in 4 KiB writes,
# in 100 directories, then times, each after `sync; echo 3 > /proc/sys/vm/drop_caches`:
#   cp -r SRC DST                       (and the same plus `sync`, for what it leaves unwritten)
#   tar cf - SRC | cat > /dev/null      (tar skips reading when it sees /dev/null itself)
#   fio sequential read of one file of the same total size (1 MiB blocks, O_DIRECT, QD 16):
#                                        the device's read bandwidth, the ceiling for any reader
#   fio reading that file while writing as much to another (O_DIRECT, then fsync): the floor for
#                                        any tool that reads the set and writes it durably
#   cairn import SRC into a new store   (includes creating the store and pre-writing its
#                                        volumes, and the final Store::Sync: it ends durable)
#   cairn export of that store          (each file fdatasync'ed before its rename, then syncfs)
# and prints a Markdown table with MB/s and each time as a ratio to cp -r. The target is
# import at least 2x faster than cp -r. Everything lives under --dir (on the disk under test),
# is checked for free space first, and is removed at the end (also on failure or Ctrl-C).
#
# Usage: bench/import/run.sh [--small] [--files N] [--size BYTES] [--jobs N] [--dir DIR]
#                            [--cairn PATH] [--keep] [--reuse] [--steps "cp tar fio import export"]
#   --small   1,000 files x 500 KB (a one-minute smoke run)
#   --dir     work directory (default bench/results/import-work, gitignored)
#   --cairn   the cairn binary (default build/release/src/cli/cairn)
#   --keep    leave the work directory in place
#   --reuse   use the source files a --keep run left (same --files and --size)
#   --steps   measure only these (the ratio needs cp)
# Must run as root to drop the page cache; otherwise it says so and measures warm-cache times.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FILES=10000
SIZE=500000
JOBS=16
WORK=$ROOT/bench/results/import-work
CAIRN=$ROOT/build/release/src/cli/cairn
KEEP=0
REUSE=0
STEPS="cp tar fio import export"
while [[ $# -gt 0 ]]; do
  case $1 in
    --small) FILES=1000 ;;
    --files) FILES=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --dir) WORK=$2; shift ;;
    --cairn) CAIRN=$2; shift ;;
    --keep) KEEP=1 ;;
    --reuse) REUSE=1; KEEP=1 ;;
    --steps) STEPS=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $CAIRN ]] || { echo "run.sh: no cairn binary at $CAIRN (build first)" >&2; exit 1; }
command -v fio >/dev/null || { echo "run.sh: fio is not installed" >&2; exit 1; }
((FILES >= 1 && FILES <= 1000000 && SIZE >= 4096)) || { echo "run.sh: bad --files/--size" >&2; exit 2; }

TOTAL=$((FILES * SIZE))
# Source, cp copy, store (data plus up to 2 prepared volumes), export, fio files: at most
# about 4 copies at once (the cp copy and the fio file are removed before the next step).
NEED_KIB=$((TOTAL * 4 / 1024 + (3 << 20)))
mkdir -p "$WORK"
AVAIL_KIB=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if ((AVAIL_KIB < NEED_KIB)); then
  echo "run.sh: $WORK has $((AVAIL_KIB >> 20)) GiB free; this run needs $((NEED_KIB >> 20)) GiB" >&2
  exit 1
fi
if [[ $KEEP == 0 ]]; then trap 'rm -rf "$WORK"' EXIT; fi

COLD=1
drop_caches() {
  sync
  if [[ $COLD == 1 ]] && ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    echo "run.sh: cannot drop caches (not root?): the times below are WARM-cache times" >&2
    COLD=0
  fi
}
# timed LABEL CMD...: runs CMD after dropping caches, records its wall time in SECS[LABEL].
declare -A SECS
timed() {
  local label=$1
  shift
  drop_caches
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  SECS[$label]=$(echo "$t1 - $t0" | bc -l)
  printf '  %-28s %8.2f s\n' "$label" "${SECS[$label]}" >&2
}

SRC=$WORK/src
rm -rf "$WORK"/{cp,store,export,fio.dat}
if [[ $REUSE == 1 && $(find "$SRC" -type f -size "${SIZE}c" 2>/dev/null | wc -l) == "$FILES" ]]; then
  echo "reusing the $FILES files under $SRC" >&2
else
rm -rf "$SRC"
echo "making $FILES files of $SIZE bytes in 4 KiB writes under $SRC ..." >&2
python3 - "$SRC" "$FILES" "$SIZE" <<'PY'
import os, random, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
pool = rng.randbytes(1 << 20)
for i in range(files):           # bounded: exactly `files` files
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.bin" % i), "wb", buffering=0) as f:
        off = 0
        while off < size:         # bounded: size / 4096 records
            n = min(4096, size - off)
            start = rng.randrange(0, len(pool) - 4096)
            rec = (b"%08d:%08d:" % (i, off // 4096) + pool[start:start + 4096])[:n]
            f.write(rec)
            off += n
PY
fi
sync
want() { [[ " $STEPS " == *" $1 "* ]]; }

echo "measuring (cold cache: each step after sync + drop_caches):" >&2
if want cp; then
  timed "cp -r" cp -r "$SRC" "$WORK/cp"
  rm -rf "$WORK/cp"
  timed "cp -r + sync" bash -c 'cp -r "$0" "$1" && sync' "$SRC" "$WORK/cp"
  rm -rf "$WORK/cp"
fi
if want tar; then
  timed "tar cf - \| cat >/dev/null" bash -c 'tar cf - -C "$0" . | cat >/dev/null' "$SRC"
fi
if want fio; then
# fio's file is laid out first (not timed), then read with O_DIRECT.
fio --name=layout --filename="$WORK/fio.dat" --rw=write --bs=1M --size="$TOTAL" \
  --ioengine=psync --end_fsync=1 >/dev/null
drop_caches
FIO_MBPS=$(fio --name=seqread --filename="$WORK/fio.dat" --rw=read --bs=1M --size="$TOTAL" \
  --direct=1 --ioengine=libaio --iodepth=16 --output-format=json |
  python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["jobs"][0]["read"]["bw_bytes"] / 1e6))')
SECS["fio seq read (1 MiB, QD16)"]=$(echo "$TOTAL / ($FIO_MBPS * 1000000)" | bc -l)
printf '  %-28s %8.2f s\n' "fio seq read" "${SECS["fio seq read (1 MiB, QD16)"]}" >&2
# The floor for any tool that reads the set and writes it durably: read the same bytes and
# write as many, at once, O_DIRECT (cp -r, tar and cairn import all do both on one device).
timed "fio read + write at once" fio --name=rd --filename="$WORK/fio.dat" --rw=read --bs=1M \
  --size="$TOTAL" --direct=1 --ioengine=libaio --iodepth=16 \
  --name=wr --filename="$WORK/fio.wr" --rw=write --bs=1M --size="$TOTAL" --direct=1 \
  --ioengine=libaio --iodepth=8 --end_fsync=1 >/dev/null
rm -f "$WORK/fio.dat" "$WORK/fio.wr"
fi
want import && timed "cairn import" "$CAIRN" --store "$WORK/store" import "$SRC" --jobs "$JOBS"
want export && timed "cairn export" "$CAIRN" --store "$WORK/store" export "$WORK/export" --jobs "$JOBS"

# Spot check: every 97th file compared byte for byte (the tools verify CRC-32C themselves).
i=0
want export &&
while IFS= read -r f; do
  i=$((i + 1))
  ((i % 97 == 0)) || continue
  cmp "$SRC/$f" "$WORK/export/$f" || { echo "run.sh: $f differs after the round trip" >&2; exit 1; }
done < <(cd "$SRC" && find . -type f | head -n "$FILES")

CP=${SECS["cp -r"]:-0}
echo
echo "$FILES files x $SIZE bytes ($(echo "$TOTAL / 1000000" | bc) MB), $( ((COLD)) && echo cold || echo WARM) cache, jobs $JOBS, $(date -u +%F)"
echo
echo "| what | seconds | MB/s | speed vs cp -r |"
echo "|---|---:|---:|---:|"
for label in "cp -r" "cp -r + sync" "tar cf - \| cat >/dev/null" "fio seq read (1 MiB, QD16)" \
  "fio read + write at once" "cairn import" "cairn export"; do
  s=${SECS[$label]:-}
  [[ -n $s ]] || continue
  ratio=-
  [[ $CP == 0 ]] || ratio=$(printf '%.2fx' "$(echo "$CP / $s" | bc -l)")
  printf '| %s | %.2f | %.0f | %s |\n' "$label" "$s" "$(echo "$TOTAL / $s / 1000000" | bc -l)" "$ratio"
done
if [[ -n ${SECS["cairn import"]:-} && $CP != 0 ]]; then
  echo
  printf 'import / cp -r: %.2fx (target: at least 2x)\n' "$(echo "$CP / ${SECS["cairn import"]}" | bc -l)"
fi
