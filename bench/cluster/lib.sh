# Shared by the cluster benchmarks (bench/cluster/anti_entropy.sh, rebuild.sh; sourced, not run):
# the report's helpers, the disk's bandwidth measured in the run, and a scripts/cluster cluster
# started and found serving. The caller sets T (its temp dir), REPORT, B (the build), CAIRN,
# NODES, FIO_SIZE and FIO_S, then sources it.

TICK=$(getconf CLK_TCK)
export XDG_CONFIG_HOME=$T/xdg   # the key file scripts/cluster writes for the clients
export CAIRN_BUILD_DIR=$B       # scripts/cluster uses this build, and does not build

log() { echo "[$(date +%T)] $*" >&2; }
out() { echo "$*" >>"$REPORT"; }
load1() { cut -d' ' -f1-3 /proc/loadavg; }

# fio_bw RW SIZE SECONDS: MB/s (decimal) of O_DIRECT 1 MiB requests at depth 8 (as
# ../shared/PEERS.md) on a file in $T, the stores' file system.
fio_bw() {
  fio --name=cairn-bench --filename="$T/fio.file" --size="$2" --rw="$1" --bs=1M --direct=1 \
    --ioengine=libaio --iodepth=8 --runtime="$3" --time_based --output-format=json 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; print(round((j['read']['bw_bytes']+j['write']['bw_bytes'])/1e6))"
}

# measure_disk: sets disk_w and disk_r (MB/s, FIO_SIZE for FIO_S seconds each) and starts the
# report's "Disk" section; the caller adds its line.
measure_disk() {
  log "fio: sequential write and read, O_DIRECT 1 MiB depth 8, $FIO_SIZE, ${FIO_S}s each (load $(load1))"
  disk_w=$(fio_bw write "$FIO_SIZE" "$FIO_S")
  disk_r=$(fio_bw read "$FIO_SIZE" "$FIO_S")
  rm -f "$T/fio.file"
  log "disk: write $disk_w MB/s, read $disk_r MB/s"
  out "## Disk (fio in this run, \`--rw=write|read --bs=1M --direct=1 --ioengine=libaio --iodepth=8 --size=$FIO_SIZE --runtime=$FIO_S\`)"
  out
}

# cluster_up DIR: starts scripts/cluster with NODES nodes in DIR (its cluster.toml as the caller
# wrote it) and waits, bounded, until it is up and every node answers STAT. Sets CPID (stop it
# by that pid), ETCD, NODE_PIDS, NODE_ADDRS and NODE_IDS (node i at index i-1).
cluster_up() {
  local dir=$1 ok a i
  : >"$T/cluster.out"
  setsid scripts/cluster --dir "$dir" -n "$NODES" >"$T/cluster.out" 2>&1 &
  CPID=$!
  for _ in $(seq 1200); do grep -q "Ctrl-C stops" "$T/cluster.out" && break; sleep 0.1; done
  grep -q "Ctrl-C stops" "$T/cluster.out" || { cat "$T/cluster.out" >&2; exit 1; }
  ETCD=$(sed -n 's/.*etcd at \([0-9.:]*\),.*/\1/p' "$T/cluster.out")
  mapfile -t NODE_PIDS < <(sed -n 's/.*node [0-9]*: .* pid \([0-9]*\),.*/\1/p' "$T/cluster.out")
  mapfile -t NODE_ADDRS < <(sed -n 's/.*node [0-9]*: \([0-9.:]*\) .*/\1/p' "$T/cluster.out")
  [ "${#NODE_PIDS[@]}" = "$NODES" ] && [ "${#NODE_ADDRS[@]}" = "$NODES" ] || { cat "$T/cluster.out" >&2; exit 1; }
  NODE_IDS=()
  for i in $(seq 1 "$NODES"); do NODE_IDS+=("$(tr -dc 0-9 <"$dir/node$i/NODE_ID")"); done
  # Every node serving (joined, with a map).
  for _ in $(seq 300); do
    ok=1
    for a in "${NODE_ADDRS[@]}"; do "$CAIRN" --server "$a" --json stat >/dev/null 2>&1 || ok=0; done
    [ $ok = 1 ] && break
    sleep 0.1
  done
}
