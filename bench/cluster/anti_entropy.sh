#!/usr/bin/env bash
# Anti-entropy's numbers (issue 12, "what must hold"; docs/cluster.md "Anti-entropy", "Measured"):
#   1. the disk's sequential bandwidth (fio, O_DIRECT, 1 MiB, depth 8, as ../shared/PEERS.md),
#      measured in this run on the stores' file system: the 1% budget's denominator;
#   2. the steady cost of anti-entropy when nothing differs, per node, over several rounds at
#      the default interval (60 s), at a short one (SHORT_MS), and with rounds off (0) as the
#      baseline (leases, map watch, the reclaimer's wake-ups): disk read/write bytes and read
#      syscalls (/proc/PID/io), CPU (/proc/PID/stat), loopback bytes between nodes (ss's
#      per-socket counters), and the ae_* counters;
#   3. the time until a replica holds writes it missed with no hint (written straight into the
#      two other replicas' stores with the member key, as AntiEntropyClusterTest does), at the
#      DEFAULT interval, RUNS times with MISSED keys, each after a random pause of 0..JITTER_S
#      seconds (so the writes fall anywhere in the round's cycle, not just after the previous
#      run's repair), then once with MISSED_BIG keys (more than one round's anti_entropy_max_keys
#      per leading node: each node leads about 1/NODES of the partitions and has its own budget);
#   4. start-up: every node's restart (log: listening -> cluster_joined, where the digest is
#      rebuilt), and offline, on one node's store, the store's open against the digest rebuild
#      (ae_bench rebuild); with FILL > 0 also on a store of FILL objects filled locally.
# The cluster is scripts/cluster's (etcd + NODES nodes on 127.0.0.1, in a temp dir), restarted
# by its pid between parts (stopped with SIGTERM); every loop is bounded. Load is noted (uptime)
# at every step: the machine is shared.
#
# Usage: bench/cluster/anti_entropy.sh   (needs build/release: cairnd cairn ae_bench)
# Env: SMALL=100000 (1 KiB objects)  LARGE=16 (8 MiB objects)  NODES=4  RUNS=4  MISSED=100
#      JITTER_S=60  MISSED_BIG=60000  IDLE_S=180 (window at the default interval; 0 skips it)
#      SHORT_MS=5000  SHORT_S=60  OFF_S=60 (0 and 0 skip the restarted windows)  FILL=0
#      FIO_SIZE=2G  FIO_S=10
# Output: a markdown report on stdout and in bench/results/DATE-anti-entropy.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SMALL=${SMALL:-100000}
LARGE=${LARGE:-16}
NODES=${NODES:-4}
RUNS=${RUNS:-4}
MISSED=${MISSED:-100}
JITTER_S=${JITTER_S:-60}
MISSED_BIG=${MISSED_BIG:-60000}
IDLE_S=${IDLE_S:-180}
SHORT_MS=${SHORT_MS:-5000}
SHORT_S=${SHORT_S:-60}
OFF_S=${OFF_S:-60}
FILL=${FILL:-0}
FIO_SIZE=${FIO_SIZE:-2G}
FIO_S=${FIO_S:-10}
B=$ROOT/build/release
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
AEB=$B/bench/cluster/ae_bench
for f in "$CAIRN" "$CAIRND" "$AEB"; do [ -x "$f" ] || { echo "missing $f: ninja -C build/release cairn cairnd ae_bench" >&2; exit 1; }; done
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$STAMP-anti-entropy.md
T=$(mktemp -d "$ROOT/bench/results/tmp-ae.XXXX")  # on the stores' file system
CPID=""
cleanup() {
  if [ -n "$CPID" ]; then kill -TERM "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
REPORT=$T/report.md
source "$ROOT/bench/cluster/lib.sh"

out "# Anti-entropy bench, $STAMP"
out
out "Command: \`bench/cluster/anti_entropy.sh\` (SMALL=$SMALL LARGE=$LARGE NODES=$NODES RUNS=$RUNS MISSED=$MISSED JITTER_S=$JITTER_S"
out "MISSED_BIG=$MISSED_BIG IDLE_S=$IDLE_S SHORT_MS=$SHORT_MS SHORT_S=$SHORT_S OFF_S=$OFF_S FILL=$FILL) at $(git rev-parse --short HEAD);"
out "$(nproc) cores, load at start $(load1)."
out

# --- 1. The disk, in this run.
measure_disk
out "write $disk_w MB/s, read $disk_r MB/s (load $(load1)); 1% of the smaller: $(python3 -c "print(round(min($disk_w,$disk_r)*10))") kB/s."
out

# --- The cluster.
DIR=$T/cluster
start_cluster() {  # INTERVAL_MS
  mkdir -p "$DIR"
  if [ -e "$DIR/cluster.toml" ]; then   # a top-level setting goes before the [keys] table
    grep -v '^anti_entropy_interval_ms' "$DIR/cluster.toml" >"$DIR/c.tmp"
    { echo "anti_entropy_interval_ms = $1"; cat "$DIR/c.tmp"; } >"$DIR/cluster.toml"
    rm -f "$DIR/c.tmp"
  fi
  cluster_up "$DIR"
  log "cluster up (anti_entropy_interval_ms=$1): etcd $ETCD, nodes ${NODE_ADDRS[*]}, ids ${NODE_IDS[*]}, pids ${NODE_PIDS[*]}"
}
stop_cluster() {
  kill -TERM "$CPID" 2>/dev/null || true
  wait "$CPID" 2>/dev/null || true
  CPID=""
}
if [ ! -e "$DIR/cluster.toml" ]; then
  mkdir -p "$DIR"
  (umask 077 && printf 'anti_entropy_interval_ms = 60000\n[keys]\ncluster = "%s"\n' \
    "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$DIR/cluster.toml")
fi
MEMBER_KEY=$T/member.key
(umask 077 && printf 'cluster:%s\n' "$(sed -n 's/^cluster = "\(.*\)"/\1/p' "$DIR/cluster.toml")" >"$MEMBER_KEY")
export CAIRN_KEY_FILE=$XDG_CONFIG_HOME/cairn/key

# A node's counters as one line of JSON (its /proc and its ae_* counters).
snap() {  # PID ADDR
  python3 - "$1" "$2" "$CAIRN" <<'EOF'
import json, subprocess, sys
pid, addr, cairn = sys.argv[1:4]
io = dict(l.split(': ') for l in open(f'/proc/{pid}/io').read().split('\n') if ': ' in l)
st = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
s = json.loads(subprocess.run([cairn, '--server', addr, '--json', 'stat'], capture_output=True, text=True, check=True).stdout)['server']
print(json.dumps({'read_bytes': int(io['read_bytes']), 'write_bytes': int(io['write_bytes']),
                  'syscr': int(io['syscr']), 'syscw': int(io['syscw']), 'rchar': int(io['rchar']), 'wchar': int(io['wchar']),
                  'ticks': int(st[11]) + int(st[12]),
                  **{k[len('cluster.'):]: v for k, v in s.items() if k.startswith('cluster.ae_')}}))
EOF
}
# Bytes each node process sent and received on TCP connections to the other nodes' data ports,
# by socket (ss -tinpe: bytes_acked/bytes_received, per inode), as JSON.
sockets() {
  python3 - "${NODE_PIDS[*]}" "${NODE_ADDRS[*]}" <<'EOF'
import json, re, subprocess, sys
pids = set(sys.argv[1].split()); addrs = set(sys.argv[2].split())
out = subprocess.run(['ss', '-tinpeH', 'state', 'established'], capture_output=True, text=True).stdout
res = {}; cur = None
for line in out.split('\n'):
    if not line.strip(): continue
    if not line.startswith((' ', '\t')):
        f = line.split(); cur = None
        local, peer = f[2], f[3]
        m = re.search(r'pid=(\d+)', line); ino = re.search(r'ino:(\d+)', line)
        if m and m.group(1) in pids and ino and (peer in addrs or local in addrs):
            cur = (m.group(1), ino.group(1))
        continue
    if cur:
        a = re.search(r'bytes_acked:(\d+)', line); r = re.search(r'bytes_received:(\d+)', line)
        res[f'{cur[0]}/{cur[1]}'] = [int(a.group(1)) if a else 0, int(r.group(1)) if r else 0]
print(json.dumps(res))
EOF
}
window() {  # LABEL SECONDS: per node deltas over SECONDS, as report rows
  local label=$1 secs=$2 i
  local before=() after=()
  local s0 s1
  s0=$(sockets)
  for i in $(seq 0 $((NODES - 1))); do before[$i]=$(snap "${NODE_PIDS[$i]}" "${NODE_ADDRS[$i]}"); done
  local l0; l0=$(load1)
  log "$label: measuring ${secs}s (load $l0)"
  sleep "$secs"
  for i in $(seq 0 $((NODES - 1))); do after[$i]=$(snap "${NODE_PIDS[$i]}" "${NODE_ADDRS[$i]}"); done
  s1=$(sockets)
  local l1; l1=$(load1)
  for i in $(seq 0 $((NODES - 1))); do
    python3 - "$label" "$((i + 1))" "$secs" "${before[$i]}" "${after[$i]}" "$TICK" "$disk_r" "$disk_w" "$s0" "$s1" "${NODE_PIDS[$i]}" "$l0 / $l1" <<'EOF' >>"$REPORT"
import json, sys
label, node, secs, b, a, tick, dr, dw, s0, s1, pid, load = sys.argv[1:13]
b, a, s0, s1 = json.loads(b), json.loads(a), json.loads(s0), json.loads(s1)
secs, tick, dr, dw = float(secs), int(tick), float(dr), float(dw)
d = {k: a[k] - b.get(k, 0) for k in a}
sent = sum(v[0] - s0.get(k, [0, 0])[0] for k, v in s1.items() if k.startswith(pid + '/'))
recv = sum(v[1] - s0.get(k, [0, 0])[1] for k, v in s1.items() if k.startswith(pid + '/'))
rd, wr = d['read_bytes'] / secs, d['write_bytes'] / secs
print(f"| {label} | {node} | {secs:.0f} | {d.get('ae_rounds', 0)} | {d.get('ae_partitions_compared', 0)} | "
      f"{d.get('ae_leaves_walked', 0)} | {d.get('ae_keys_repaired', 0)} | {rd/1e3:.1f} | {wr/1e3:.1f} | "
      f"{100 * (rd / (dr * 1e6) + wr / (dw * 1e6)):.4f} | {d['syscr'] / secs:.1f} | "
      f"{d['ticks'] / tick / secs * 100:.2f} | {sent / secs / 1e3:.1f} / {recv / secs / 1e3:.1f} | {load} |")
EOF
  done
}
window_header() {
  out "| setting | node | s | rounds | partitions compared | leaves walked | keys repaired | disk read kB/s | disk write kB/s | % of disk bw | read syscalls/s | CPU % of a core | to/from other nodes kB/s | load (1,5,15 min) before / after |"
  out "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
}
restart_times() {  # LABEL: per node, log lines of the last start: listening -> cluster_joined
  for i in $(seq 1 "$NODES"); do
    python3 - "$1" "$i" "$DIR/node$i.log" <<'EOF' >>"$REPORT"
import re, sys, datetime
label, node, path = sys.argv[1:4]
lines = open(path, errors='replace').read().split('\n')
def ts(l):
    m = re.match(r'\[?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)', l)
    return datetime.datetime.fromisoformat(m.group(1).replace(' ', 'T')) if m else None
# The last start: the last store_open line, and what follows it.
idx = max((i for i, l in enumerate(lines) if 'event=store_open' in l), default=None)
if idx is None: print(f'| {label} | {node} | ? | ? | ? |'); sys.exit()
t = {}
for l in lines[idx:]:
    for ev in ('store_open', 'listening', 'cluster_joined'):
        if f'event={ev}' in l and ev not in t: t[ev] = ts(l)
objs = re.search(r'objects=(\d+)', lines[idx])
def ms(a, b): return f"{(t[b] - t[a]).total_seconds() * 1000:.0f}" if a in t and b in t and t[a] and t[b] else '?'
print(f"| {label} | {node} | {ms('store_open', 'listening')} | {ms('listening', 'cluster_joined')} |")
EOF
  done
}

start_cluster 60000
log "loading $SMALL x 1 KiB and $LARGE x 8 MiB through node 1 (load $(load1))"
t0=$(date +%s%N)
timeout 1800 "$CAIRN" --server "${NODE_ADDRS[0]}" --json bench --size 1K --keys "$SMALL" --key-prefix small/ \
  --mix get=100 --count 1 --connections 16 --inflight 4 >/dev/null
timeout 1800 "$CAIRN" --server "${NODE_ADDRS[0]}" --json bench --size 8M --keys "$LARGE" --key-prefix large/ \
  --mix get=100 --count 1 --connections 4 --inflight 1 >/dev/null
load_s=$(( ($(date +%s%N) - t0) / 1000000000 ))
log "loaded in ${load_s}s (load $(load1))"
out "Loaded $SMALL objects of 1 KiB and $LARGE of 8 MiB through node 1 (\`cairn bench --count 1\`, which writes every key once first) in $load_s s."
out

# --- 2. Steady cost, nothing differing. The first round after the load may still find
# something (a write acknowledged by two replicas whose third was slow): let one round pass.
log "waiting 70s for a first full round at the default interval"
sleep 70
out "## Steady cost when nothing differs"
out
out "Per node, over the window; disk bytes are /proc/PID/io read_bytes/write_bytes (what reached the"
out "block layer), read syscalls are syscr (files and sockets), CPU is utime+stime, bytes between"
out "nodes are ss's bytes_acked/bytes_received on connections to other nodes' data ports."
out
window_header
if [ "$IDLE_S" -gt 0 ]; then window "default 60 s" "$IDLE_S"; fi

# --- 3. Missed writes, found at the default interval.
out
out "## Time until a replica holds writes it missed, no hint (default interval, 60 s)"
out
out "\`ae_bench miss --keys K --lagging ID\`: K keys whose rows hold node ID, written straight into the two"
out "other replicas (role replica, apply-if-newer, 16 writer threads); then node ID is polled (HeadVersion)"
out "every 250 ms (1 s for the large run). Seconds from the last write; a key a round repaired while the writes"
out "were still going on counts as 0. Each run of $MISSED keys starts after a random pause of 0-$JITTER_S s."
out "CPU: every node's, over the run, polling and the writes included."
out
out "| run | lagging node | keys | first | median | last | rounds (sum over nodes) | keys repaired | CPU s of the cluster | load before / after |"
out "|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
cluster_ae() {  # prints "ae_rounds ae_keys_repaired cpu_ticks" summed over nodes
  local r=0 k=0 c=0 i
  for i in $(seq 0 $((NODES - 1))); do
    read -r a b cc < <(snap "${NODE_PIDS[$i]}" "${NODE_ADDRS[$i]}" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("ae_rounds",0), j.get("ae_keys_repaired",0), j["ticks"])')
    r=$((r + a)); k=$((k + b)); c=$((c + cc))
  done
  echo "$r $k $c"
}
miss_run() {  # RUN KEYS TIMEOUT_S POLL_MS
  local run=$1 keys=$2 idx=$(( ($1 - 1) % NODES ))
  local lag=${NODE_IDS[$idx]}
  local l0 l1 j p
  if [ "$keys" = "$MISSED" ] && [ "$JITTER_S" -gt 0 ]; then
    p=$((RANDOM % JITTER_S)); log "miss run $run: pausing ${p}s"; sleep "$p"
  fi
  read -r r0 k0 c0 < <(cluster_ae)
  l0=$(load1)
  log "miss run $run: $keys keys, lagging node $lag (load $l0)"
  j=$("$AEB" miss --etcd "$ETCD" --member-key-file "$MEMBER_KEY" --lagging "$lag" --keys "$keys" \
      --prefix "miss$run-$STAMP/" --size 1024 --timeout-s "$3" --poll-ms "$4" || true)
  l1=$(load1)
  read -r r1 k1 c1 < <(cluster_ae)
  log "  $j"
  python3 - "$run" "$lag" "$j" "$((r1 - r0))" "$((k1 - k0))" "$(python3 -c "print(f'{($c1 - $c0) / $TICK:.1f}')")" "$l0 / $l1" <<'EOF' >>"$REPORT"
import json, sys
run, lag, j, r, k, cpu, load = sys.argv[1:8]
j = json.loads(j) if j.strip() else {}
f = lambda x: f"{x:.1f}" if isinstance(x, (int, float)) and x >= 0 else "not found"
print(f"| {run} | {lag} | {j.get('keys', '?')} | {f(j.get('first_s', -1))} | {f(j.get('p50_s', -1))} | {f(j.get('all_s', -1))} | {r} | {k} | {cpu} | {load} |")
EOF
}
for r in $(seq 1 "$RUNS"); do miss_run "$r" "$MISSED" 900 250; done
if [ "$MISSED_BIG" -gt 0 ]; then miss_run "$((RUNS + 1))" "$MISSED_BIG" 1200 1000; fi

# --- 2b. The same steady cost at a short interval, and with rounds off (the baseline); each
# restart of the cluster times every node's start.
out
RESTARTS=$T/restarts.md
: >"$RESTARTS"
stop_cluster
if [ "$SHORT_S" -gt 0 ] || [ "$OFF_S" -gt 0 ]; then
out "## Steady cost at a short interval and with anti-entropy off (restarted cluster)"
out
window_header
start_cluster "$SHORT_MS"
sleep $(( SHORT_MS / 1000 * 2 + 5 ))
window "short $((SHORT_MS / 1000)) s" "$SHORT_S"
stop_cluster
mv "$REPORT" "$REPORT.main"; restart_times "restart, interval $SHORT_MS ms"; mv "$REPORT" "$RESTARTS"; mv "$REPORT.main" "$REPORT"
start_cluster 0
sleep 5
window "off (0)" "$OFF_S"
stop_cluster
mv "$REPORT" "$REPORT.main"; restart_times "restart, interval 0"; cat "$REPORT" >>"$RESTARTS"; mv "$REPORT.main" "$REPORT"
fi

# --- 4. Start-up: the digest rebuild, offline on node 1's store.
out
out "## Start-up"
out
out "Every node's restart with the loaded store, from its log (ms; the digest is rebuilt between listening and cluster_joined, which also includes registering in etcd and reading the map):"
out
out "| restart | node | store_open -> listening | listening -> cluster_joined |"
out "|---|--:|--:|--:|"
cat "$RESTARTS" >>"$REPORT"
out
out "Offline, \`ae_bench rebuild --data DIR\` (open the store, then DigestedStore::Rebuild as ClusterNode::Create does), two runs each:"
out
out "| store | objects | partitions held | open s | open CPU s | rebuild s | rebuild CPU s | load |"
out "|---|--:|--:|--:|--:|--:|--:|---|"
rebuild_rows() {  # LABEL DIR
  for _ in 1 2; do
    local j; j=$("$AEB" rebuild --data "$2")
    python3 - "$1" "$j" "$(load1)" <<'EOF' >>"$REPORT"
import json, sys
label, j, load = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
print(f"| {label} | {j['objects']} | {j['partitions_held']} | {j['open_s']:.3f} | {j['open_cpu_s']:.3f} | {j['rebuild_s']:.3f} | {j['rebuild_cpu_s']:.3f} | {load} |")
EOF
  done
}
rebuild_rows "node 1 of the bench cluster" "$DIR/node1"
if [ "$FILL" -gt 0 ]; then
  log "filling a local store with $FILL objects (load $(load1))"
  fj=$("$AEB" fill --data "$T/fill" --count "$FILL" --size 100)
  log "  $fj"
  rebuild_rows "$FILL x 100 B, filled locally" "$T/fill"
  # And cairnd's own start on it, stand-alone (no cluster): store_open -> listening.
  for _ in 1 2; do
    rm -f "$T/fill.port"
    t0=$(date +%s%N)
    "$CAIRND" --data "$T/fill" --listen 127.0.0.1:0 --port-file "$T/fill.port" --key-file "$CAIRN_KEY_FILE" \
      --log-level warn >/dev/null 2>&1 &
    sp=$!
    for _ in $(seq 1200); do [ -s "$T/fill.port" ] && break; sleep 0.01; done
    t1=$(date +%s%N)
    kill -TERM "$sp"; wait "$sp" 2>/dev/null || true
    out "| $FILL x 100 B: stand-alone cairnd, start to port file | | | $(( (t1 - t0) / 1000000 )) ms | | | | $(load1) |"
  done
fi
out
out "Load at the end: $(load1)."
cat "$REPORT" | tee "$OUT"
