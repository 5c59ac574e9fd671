# The A/B machinery of the bench/*/ab.sh scripts (sourced, not run, from the repository's root):
#   . bench/lib/ab.sh NAME   makes T, a temporary directory under bench/results (the stores'
#                            file system, not tmpfs), removed at exit with the process PID the
#                            script's run_one sets (stopped by its pid); TICK; cpu_ticks PID.
#   ab_rounds A B            calls the script's run_one BUILD LABEL (which prints "LABEL
#                            cpu_us_per_op ops_per_s") for A and B, ROUNDS times each,
#                            interleaved A B, B A, ... so that drift of the shared machine falls
#                            on both alike; prints each line, then each build's median and range
#                            and the ratios B / A. Needs ROUNDS and DURATION set.
TICK=$(getconf CLK_TCK)
mkdir -p bench/results
T=$(mktemp -d "$PWD/bench/results/tmp-${1:?usage: . bench/lib/ab.sh NAME}.XXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

ab_rounds() {
  local a=$1 b=$2 r x line results=() order
  echo "build cpu_us_per_op ops_per_s   (A=$a B=$b, $ROUNDS rounds of ${DURATION}s)"
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order=(A B); else order=(B A); fi
    for x in "${order[@]}"; do
      if [ "$x" = A ]; then line=$(run_one "$a" A); else line=$(run_one "$b" B); fi
      echo "$line"
      results+=("$line")
    done
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
med = {}
for b in ("A", "B"):
    cpu = [float(r[1]) for r in rows if r[0] == b]
    ops = [float(r[2]) for r in rows if r[0] == b]
    med[b] = (statistics.median(cpu), statistics.median(ops))
    print(f"median {b}: {med[b][0]:.2f} µs CPU per op ({min(cpu):.2f}-{max(cpu):.2f}), "
          f"{med[b][1]:.0f} ops/s ({min(ops):.0f}-{max(ops):.0f})")
print("B / A: CPU per op %.2f, ops/s %.2f" % (med["B"][0] / med["A"][0], med["B"][1] / med["A"][1]))'
}
