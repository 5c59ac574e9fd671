#!/usr/bin/env bash
# bench/reclaim/run.sh: foreground latency during reclamation (docs/design.md, "Measured:
# foreground latency during reclamation"), in one run.
#
# Runs reclaim_bench: for each mode (reclaim at reclaim_mbps=32, at reclaim_mbps=0, and with
# throttle=false) it builds the same ~1 GiB starting state (64 MiB volumes, 70% of the objects
# overwritten or deleted) in a store under bench/results/tmp (same disk as the tree; removed
# afterwards), runs one durable 4 KiB writer and one checking reader for --seconds alone (the
# idle row), then again with Store::Reclaim looping alongside, and reads every live key back. Prints the Markdown table
# and keeps RUN.md (table + context), RUN.log (stderr) and RUN.jsonl in bench/results/
# (gitignored).
#
# The machine is shared and noisy; read the reclaim rows against the idle row of the same run.
#
# Usage: bench/reclaim/run.sh [--drop-caches] [reclaim_bench options...]
#   --seconds S (10)   --fill-mib N (1024)   --churn F (0.7)   --reclaim-mbps N (32)
#   --modes budget,mbps0,nothrottle           --drop-caches (root only: cold reads)
#   --build DIR   build directory holding bench/reclaim/reclaim_bench (default build-bench)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build-bench
OUT=$ROOT/bench/results
TMP=$OUT/tmp
ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
BIN=$BUILD/bench/reclaim/reclaim_bench
if [[ ! -x $BIN ]]; then
  echo "run.sh: $BIN not found. Build it first:" >&2
  echo "  cmake -S $ROOT -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $BUILD -j2 reclaim_bench" >&2
  exit 1
fi
mkdir -p "$TMP"
FSTYPE=$(stat -f -c %T "$TMP")
if [[ $FSTYPE == tmpfs || $FSTYPE == ramfs ]]; then
  echo "run.sh: $TMP is on $FSTYPE; benchmark a disk" >&2
  exit 1
fi
AVAIL=$(df -B1 --output=avail "$TMP" | tail -1 | tr -d ' ')
if (( AVAIL < 8 * 1024 * 1024 * 1024 )); then
  echo "run.sh: less than 8 GiB free under $TMP; refusing to run" >&2
  exit 1
fi
RUN=$(date +%Y%m%d-%H%M%S)-reclaim
MD=$OUT/$RUN.md
cleanup() { rm -rf "$TMP"/reclaim-*; rmdir "$TMP" 2>/dev/null || true; }
trap cleanup EXIT
{
  echo "# reclaim bench $RUN"
  echo "host: $(uname -srm), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "filesystem: $(df -h --output=source,fstype,size "$TMP" | tail -1 | tr -s ' ')"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: $BIN --dir $TMP --json $OUT/$RUN.jsonl ${ARGS[*]:-}"
  echo
} > "$MD"
T0=$SECONDS
# Bounded whatever happens inside: 3 modes of building (<= 600 s each) and two loads.
rc=0
timeout 3600 "$BIN" --dir "$TMP" --json "$OUT/$RUN.jsonl" "${ARGS[@]}" >> "$MD" \
  2> >(tee "$OUT/$RUN.log" >&2) || rc=$?
echo >> "$MD"
(( rc == 0 )) || echo "reclaim_bench FAILED with status $rc (see $OUT/$RUN.log)" >> "$MD"
echo "elapsed: $(( SECONDS - T0 )) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$MD"
cat "$MD"
exit "$rc"
