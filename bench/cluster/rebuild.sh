#!/usr/bin/env bash
# The rebuild after a node is lost for good (issue 12, "what must hold": "time from 'out' to fully
# re-replicated, and the throughput of that rebuild against the disk's; client p99 during
# rebuild ... against healthy (target at most 1.2x)"; docs/cluster.md "Map transitions"):
#   1. the disk's sequential bandwidth (fio, O_DIRECT, 1 MiB, depth 8, as anti_entropy.sh),
#      measured in this run on the stores' file system: the rebuild rate's denominator;
#   2. a cluster of NODES (scripts/cluster, out_delay_ms = OUT_DELAY_MS) filled through node 1
#      with SMALL objects of 10 KiB and LARGE of 1 MiB; then the last node's cairnd is killed
#      (SIGKILL, by its pid) and the map's epoch in etcd is polled (every 100 ms, bounded; the
#      victim's state checked with `cairn cluster status` at each step) for the times kill ->
#      down (its lease expired) -> out (a map with it out and a transition,
#      `prev`) -> retired (every up node reported synced; the map without `prev`), cross-checked
#      with the controller's log (event=cluster_node_out, event=cluster_transition_retired);
#   3. the rebuild's volume and rate over out -> retired, on the survivors: the ae_bytes_pushed
#      and ae_keys_repaired counters, the device's bytes (/proc/diskstats), CPU (/proc/PID/stat); the
#      rate (bytes pushed / rebuild time) as a fraction of fio's write bandwidth;
#   4. client latency through node 1 throughout: back-to-back `cairn bench` windows of W seconds
#      (get=90,put=10 of 10 KiB on KEYS keys of the window's own prefix, which it first writes
#      once (not measured: a bench checks every GET against its own writes, so windows cannot share
#      keys), CONNS connections x INFLIGHT slots, an open loop offering RATE requests/s whose
#      latency counts from when each request was due (RATE=0: a closed loop, which saturates the
#      2 cores and so measures their queue)), HEALTHY_S seconds before the kill, then through
#      down, out and the rebuild, until 2 windows after the retire; each window labelled by the
#      phases it overlaps (the worst of rebuilding > down > after > healthy), and the ratios
#      max p99 over rebuilding windows / median p99 of healthy windows (and of down windows).
# The cluster is scripts/cluster's (etcd + NODES nodes on 127.0.0.1, in a temp dir on the stores'
# file system), stopped with SIGTERM by its pid; every loop is bounded. Load is noted (uptime) at
# every step: the machine is shared.
#
# Usage: bench/cluster/rebuild.sh   (needs build/release: cairnd cairn)
# Env: SMALL=50000 (10 KiB objects)  LARGE=64 (1 MiB objects)  NODES=4  OUT_DELAY_MS=5000
#      W=5 (seconds per latency window)  HEALTHY_S=30  KEYS=200 (the load's keys, per window)  CONNS=4
#      INFLIGHT=4  RATE=1000 (requests/s offered; 0: closed loop)  AE_MBPS=0 (the nodes'
#      anti_entropy_mbps: the rebuild's I/O budget; 0: none)  SLOW_MS=10 (requests slower than this
#      are listed in the windows' JSON, kept with the nodes' logs in bench/results/DATE-rebuild/,
#      and counted per second in the report)  REBUILD_TIMEOUT_S=300 (out -> retired, then the run gives up waiting)
#      FIO_SIZE=2G  FIO_S=10
#      BG_LATENCY=true (the nodes' background_latency_control: the one budget for background work
#      follows the foreground p99; false: a fixed budget, none unless BG_MBPS)  BG_MBPS=0
#      BG_MIN_MBPS=1  BG_TARGET_US=0 (0: 1.2x the p99 measured without background I/O)
# Output: a markdown report on stdout and in bench/results/DATE-rebuild.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SMALL=${SMALL:-50000}
LARGE=${LARGE:-64}
NODES=${NODES:-4}
OUT_DELAY_MS=${OUT_DELAY_MS:-5000}
W=${W:-5}
HEALTHY_S=${HEALTHY_S:-30}
KEYS=${KEYS:-200}
CONNS=${CONNS:-4}
INFLIGHT=${INFLIGHT:-4}
RATE=${RATE:-1000}
AE_MBPS=${AE_MBPS:-0}
BG_LATENCY=${BG_LATENCY:-true}
BG_MBPS=${BG_MBPS:-0}
BG_MIN_MBPS=${BG_MIN_MBPS:-1}
BG_TARGET_US=${BG_TARGET_US:-0}
SLOW_MS=${SLOW_MS:-10}
REBUILD_TIMEOUT_S=${REBUILD_TIMEOUT_S:-300}
FIO_SIZE=${FIO_SIZE:-2G}
FIO_S=${FIO_S:-10}
B=$ROOT/build/release
CAIRN=$B/src/cli/cairn
CAIRND=$B/src/server/cairnd
# Debian's python3 itself: a python3 earlier on PATH may be a shim (pyenv's is a bash script that
# runs several more), whose CPU would weigh on the 2 cores the measured cluster shares.
PY=$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
for f in "$CAIRN" "$CAIRND"; do [ -x "$f" ] || { echo "missing $f: ninja -C build/release cairn cairnd" >&2; exit 1; }; done
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$STAMP-rebuild.md
T=$(mktemp -d "$ROOT/bench/results/tmp-rebuild.XXXX")  # on the stores' file system
CPID=""
LPID=""
POLLPID=""
cleanup() {
  touch "$T/stop" 2>/dev/null || true
  if [ -n "$LPID" ]; then kill -TERM "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true; fi
  if [ -n "$POLLPID" ]; then kill -TERM "$POLLPID" 2>/dev/null || true; wait "$POLLPID" 2>/dev/null || true; fi
  if [ -s "$T/bench.pid" ]; then kill -TERM "$(cat "$T/bench.pid")" 2>/dev/null || true; fi
  if [ -n "$CPID" ]; then kill -TERM "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; fi
  # The windows' JSON (with their slow requests) and the nodes' logs stay beside the report.
  if [ -d "$T" ]; then
    mkdir -p "$ROOT/bench/results/$STAMP-rebuild"
    cp "$T"/win.*.json "$T/windows.txt" "$T/progress.txt" "$ROOT/bench/results/$STAMP-rebuild/" 2>/dev/null || true
    cp "$T"/cluster/node*.log "$ROOT/bench/results/$STAMP-rebuild/" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
REPORT=$T/report.md
source "$ROOT/bench/cluster/lib.sh"
now() { date +%s.%N; }

out "# Rebuild bench, $STAMP"
out
out "Command: \`bench/cluster/rebuild.sh\` (SMALL=$SMALL LARGE=$LARGE NODES=$NODES OUT_DELAY_MS=$OUT_DELAY_MS W=$W"
out "HEALTHY_S=$HEALTHY_S KEYS=$KEYS CONNS=$CONNS INFLIGHT=$INFLIGHT RATE=$RATE AE_MBPS=$AE_MBPS REBUILD_TIMEOUT_S=$REBUILD_TIMEOUT_S FIO_SIZE=$FIO_SIZE FIO_S=$FIO_S)"
out "at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (src/ or include/ modified in the tree)'); $(nproc) cores, load at start $(load1)."
out

# --- 1. The disk, in this run.
measure_disk
out "$(df -h --output=source,fstype "$T" | tail -1 | tr -s ' '): write $disk_w MB/s, read $disk_r MB/s (load after $(load1))."
out

# --- 2. The cluster: out_delay_ms is a top-level setting, before the [keys] table.
DIR=$T/cluster
mkdir -p "$DIR"
(umask 077 && printf 'out_delay_ms = %s\nanti_entropy_mbps = %s\nbackground_latency_control = %s\nbackground_mbps = %s\nbackground_min_mbps = %s\nbackground_p99_target_us = %s\n[keys]\ncluster = "%s"\n' \
  "$OUT_DELAY_MS" "$AE_MBPS" "$BG_LATENCY" "$BG_MBPS" "$BG_MIN_MBPS" "$BG_TARGET_US" \
  "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$DIR/cluster.toml")
cluster_up "$DIR"
N1=${NODE_ADDRS[0]}
VI=$((NODES - 1))  # the victim: the last node (never node 1, which takes the load)
VPID=${NODE_PIDS[$VI]}
VID=${NODE_IDS[$VI]}
SURV_PIDS=("${NODE_PIDS[@]:0:$VI}")
SURV_ADDRS=("${NODE_ADDRS[@]:0:$VI}")
log "cluster up (out_delay_ms=$OUT_DELAY_MS, anti_entropy_mbps=$AE_MBPS): etcd $ETCD, nodes ${NODE_ADDRS[*]}, ids ${NODE_IDS[*]}, pids ${NODE_PIDS[*]}"

# --- The fill, through node 1 (`--count 1` with a read in the mix writes every key once first).
log "loading $SMALL x 10 KiB and $LARGE x 1 MiB through node 1 (load $(load1))"
t0=$(date +%s%N)
timeout 1200 "$CAIRN" --server "$N1" --json bench --size 10K --keys "$SMALL" --key-prefix fill/ \
  --mix get=100 --count 1 --connections 16 --inflight 4 >/dev/null
timeout 600 "$CAIRN" --server "$N1" --json bench --size 1M --keys "$LARGE" --key-prefix large/ \
  --mix get=100 --count 1 --connections 4 --inflight 1 >/dev/null
fill_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
FILL_BYTES=$(( SMALL * 10240 + LARGE * 1048576 ))
log "loaded in ${fill_ms} ms (load $(load1))"
out "## Cluster and data"
out
out "$NODES nodes (scripts/cluster: etcd and the nodes on 127.0.0.1, one zone each, R = 3), \`out_delay_ms = $OUT_DELAY_MS\`, \`anti_entropy_mbps = $AE_MBPS\` (0: no budget),"
out "the one budget for background work: \`background_latency_control = $BG_LATENCY\`, \`background_mbps = $BG_MBPS\`, \`background_min_mbps = $BG_MIN_MBPS\`, \`background_p99_target_us = $BG_TARGET_US\`."
out "Loaded through node 1 (\`cairn bench --count 1\`, which writes every key once first): $SMALL x 10 KiB (fill/)"
out "and $LARGE x 1 MiB (large/): $FILL_BYTES bytes of values"
out "($("$PY" -c "print(f'{$FILL_BYTES / 2**20:.0f}')") MiB, x3 replicas), in $("$PY" -c "print(f'{$fill_ms / 1000:.1f}')") s (load after $(load1))."
out
# Each node's objects and bytes as its `stat` reports them (the store's keys).
store_line() {  # ADDR
  "$CAIRN" --server "$1" --json stat 2>/dev/null | "$PY" -c '
import json, sys
j = json.load(sys.stdin); s = j.get("store", j)
keys = [k for k in ("objects", "logical_bytes", "live_bytes") if k in s]
print(", ".join(f"{k} {s[k]}" for k in keys) or "?")' || echo "?"
}

# --- The load windows, in the background until $T/stop (bounded in count too).
MAXWIN=$(( (HEALTHY_S + 60 + OUT_DELAY_MS / 1000 + 60 + REBUILD_TIMEOUT_S + 60) / W + 10 ))
: >"$T/windows.txt"
load_loop() {
  local n=0 s e bp
  while [ "$n" -lt "$MAXWIN" ] && [ ! -e "$T/stop" ]; do
    n=$((n + 1))
    s=$(now)
    # A prefix of its own per window, preloaded by it (a new bench checks every GET against the
    # versions it wrote itself: another run's newer write of the same key is an error to it).
    timeout $((W * 4 + 60)) "$CAIRN" --server "$N1" --json bench --duration "$W" --mix get=90,put=10 \
      --size 10K --keys "$KEYS" --key-prefix "load/$n/" --connections "$CONNS" \
      --inflight "$INFLIGHT" --rate "$RATE" --slow-ms "$SLOW_MS" >"$T/win.$n.json" 2>"$T/win.$n.err" &
    bp=$!
    echo "$bp" >"$T/bench.pid"
    wait "$bp" || true
    : >"$T/bench.pid"
    e=$(now)
    echo "$n $s $e $(load1)" >>"$T/windows.txt"
  done
}
# A window's start time (the Nth line's), and the count of windows started after TIME that ended.
windows_done_after() { awk -v t="$1" '$2 >= t { c++ } END { print c + 0 }' "$T/windows.txt"; }

# The survivors' counters (their /proc and their cluster counters), one line of JSON each, read
# in parallel so that a snapshot is one moment even on a loaded machine; and in FILE.dev the
# bytes the device holding the stores read and wrote (/proc/diskstats: the whole device).
# Not /proc/PID/io write_bytes: on this machine's kernel it charges a process about 512 KiB per
# fdatasync (20 synced puts of 12 KiB: a node's write_bytes rose 10.5 MB while the device
# wrote 1.3 MB in all), so it measured the syncs, not the bytes.
snap_all() {  # FILE
  "$PY" - "$CAIRN" "${SURV_PIDS[*]}" "${SURV_ADDRS[*]}" "$T" "$1.dev" >"$1" <<'EOF'
import json, os, subprocess, sys, concurrent.futures as cf
cairn, pids, addrs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
dev = os.stat(sys.argv[4]).st_dev
for l in open('/proc/diskstats'):
    f = l.split()
    if (int(f[0]), int(f[1])) == (os.major(dev), os.minor(dev)):
        json.dump({'r': int(f[5]) * 512, 'w': int(f[9]) * 512, 'name': f[2]}, open(sys.argv[5], 'w'))
READ_COUNTERS = ('coordinated', 'routed', 'hedged', 'read_repairs')
def snap(pid, addr):
    r = subprocess.run([cairn, '--server', addr, '--json', 'stat'], capture_output=True, text=True, timeout=20)
    st = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    s = json.loads(r.stdout)['server'] if r.returncode == 0 else {}
    return json.dumps({'ticks': int(st[11]) + int(st[12]),
                       **{k[len('cluster.'):]: v for k, v in s.items()
                          if k.startswith('cluster.ae_') or k[len('cluster.'):] in READ_COUNTERS},
                       **{k: v for k, v in s.items() if k.startswith('background.')}})
with cf.ThreadPoolExecutor(len(pids)) as ex:
    for line in ex.map(snap, pids, addrs): print(line)
EOF
}
# The map's epoch, every 100 ms from before the healthy windows until the run stops (bounded in
# count), by one long-lived process that asks etcd for map/epoch (an HTTP request to its JSON
# gateway, in-process) and appends "TIME EPOCH" to $PROG. After the kill, the victim's state is
# checked with `cairn cluster status` once at each new epoch, until it is down, then out (the
# transition's map), then the transition retired (poll_until). The poll must cost
# next to nothing, and the same in every phase. Two earlier ways skewed the measured p99: a
# `cairn cluster status --json` plus a python3 (a pyenv shim here: several bash processes) per
# poll, from the kill on only, took a quarter of the 2 cores during the rebuild and none before
# it (perf, 2026-12-04); the same status call every 200 ms in every phase raised the healthy p99
# from 1.3 to 3.8 ms (the CLI reads the whole map and cluster view from etcd).
PROG=$T/progress.txt
: >"$PROG"
MAXPOLL=$(( (HEALTHY_S + 60 + OUT_DELAY_MS / 1000 + 60 + REBUILD_TIMEOUT_S + 60 + W * 4 + 100) * 10 ))
start_poller() {
  "$PY" - "$ETCD" "$PROG" "$T/stop" "$MAXPOLL" <<'EOF' &
import base64, json, os, sys, time, urllib.request
etcd, prog, stop, maxn = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
body = json.dumps({'key': base64.b64encode(b'/cairn/default/map/epoch').decode()}).encode()
with open(prog, 'a', buffering=1) as f:
    for _ in range(maxn):
        if os.path.exists(stop):
            break
        t0 = time.time()
        epoch = '-'
        try:
            req = urllib.request.Request(f'http://{etcd}/v3/kv/range', data=body, method='POST')
            with urllib.request.urlopen(req, timeout=2) as r:
                kvs = json.load(r).get('kvs', [])
                if kvs:
                    epoch = base64.b64decode(kvs[0]['value']).decode()
        except Exception:
            pass
        f.write(f'{time.time():.6f} {epoch}\n')
        time.sleep(max(0.0, 0.1 - (time.time() - t0)))
EOF
  POLLPID=$!
}
# The victim's state and the transition, once (one line: STATE TRANSITION(0|1) MOVING).
cstatus() {
  timeout 10 "$CAIRN" --cluster "$ETCD" --no-map-cache --json cluster status 2>/dev/null |
    "$PY" -c '
import json, sys
vid = int(sys.argv[1])
j = json.load(sys.stdin)
st = next((n["state"] for n in j["nodes"] if int(n["id"]) == vid), "?")
t = j.get("transition")
print(st, 1 if t else 0, t.get("moving_partitions") if t else "-")' "$VID" || echo "? 0 -"
}
log "load windows: ${W}s each, get=90,put=10 of 10 KiB on $KEYS keys, $CONNS x $INFLIGHT, rate $RATE/s (0: closed), through node 1 (at most $MAXWIN)"
start_poller
load_loop &
LPID=$!
L_HEALTHY=$(load1)
T_HEALTHY=$(now)
snap_all "$T/snap.healthy"
sleep "$HEALTHY_S"

# --- The kill, then down, out, retired (the epoch polled every 100 ms, each phase bounded).
L_KILL=$(load1)
snap_all "$T/snap.kill"
log "killing node $NODES (id $VID, pid $VPID) with SIGKILL (load $L_KILL)"
E_KILL=$(awk '$2 ~ /^[0-9]+$/ { e = $2 } END { print e }' "$PROG")
[[ "$E_KILL" =~ ^[0-9]+$ ]] || { log "no map epoch from etcd before the kill"; exit 1; }
T_KILL=$(now)
kill -KILL "$VPID"
T_DOWN="" T_OUT="" T_RETIRED="" E_DOWN="" E_OUT="" E_RETIRED="" L_DOWN="" L_OUT="" L_RETIRED="" MOVING=""
E_SEEN=""  # the newest epoch poll_until has looked at
poll_until() {  # PHASE TIMEOUT_S: wait until the map shows the phase; sets T_/E_/L_
  # At each new epoch after the kill, the victim's state is checked once (`cairn cluster
  # status`): the phase is the first epoch that shows it, so a map change of another kind (a
  # survivor's lease lapsing under load) is passed over, not taken for a step.
  local phase=$1 limit=$2 t0 line t ep st tr mv
  t0=$(date +%s)
  for _ in $(seq $((limit * 10 + 10))); do
    line=$(awk -v k="$T_KILL" -v e="${E_SEEN:-$E_KILL}" \
      '$1 > k && $2 ~ /^[0-9]+$/ && $2 + 0 > e + 0 { print $1, $2; exit }' "$PROG")
    if [ -n "$line" ]; then
      read -r t ep <<<"$line"
      E_SEEN=$ep
      read -r st tr mv < <(cstatus)
      case $phase in
        down) if [ "$st" = down ] || [ "$st" = out ]; then T_DOWN=$t; E_DOWN=$ep; L_DOWN=$(load1); return 0; fi ;;
        out) if [ "$st" = out ]; then
               T_OUT=$t; E_OUT=$ep; L_OUT=$(load1); MOVING=$mv
               [ "$tr" = 1 ] || { log "out seen with no transition in flight (already retired?)"; T_RETIRED=$T_OUT; E_RETIRED=$E_OUT; L_RETIRED=$L_OUT; }
               return 0
             fi ;;
        retired) if [ "$st" = out ] && [ "$tr" = 0 ]; then T_RETIRED=$t; E_RETIRED=$ep; L_RETIRED=$(load1); return 0; fi ;;
      esac
      log "epoch $ep: the victim is $st (transition: $tr), not yet $phase"
      continue
    fi
    [ $(( $(date +%s) - t0 )) -ge "$limit" ] && return 1
    sleep 0.1
  done
  return 1
}
if poll_until down 60; then
  log "down after $("$PY" -c "print(f'{$T_DOWN - $T_KILL:.1f}')") s (epoch $E_DOWN, load $L_DOWN)"
  snap_all "$T/snap.down"
  if poll_until out $((OUT_DELAY_MS / 1000 + 60)); then
    log "out after $("$PY" -c "print(f'{$T_OUT - $T_DOWN:.1f}')") s more (epoch $E_OUT, $MOVING partitions moving, load $L_OUT)"
    if [ -n "$T_RETIRED" ] || poll_until retired "$REBUILD_TIMEOUT_S"; then
      snap_all "$T/snap.retired"
      log "retired after $("$PY" -c "print(f'{$T_RETIRED - $T_OUT:.1f}')") s (epoch $E_RETIRED, load $L_RETIRED)"
    else
      snap_all "$T/snap.retired"
      log "the transition did not retire within ${REBUILD_TIMEOUT_S}s"
    fi
  else
    log "node $NODES not out within $((OUT_DELAY_MS / 1000 + 60))s"
  fi
else
  log "node $NODES not down within 60s"
fi

# Two full windows after the retire (or after giving up), then the load stops.
T_END=$(now)
for _ in $(seq $(( (W * 3 + 40) * 5 * 2 ))); do
  [ "$(windows_done_after "$T_END")" -ge 2 ] && break
  kill -0 "$LPID" 2>/dev/null || break
  sleep 0.2
done
touch "$T/stop"
wait "$LPID" 2>/dev/null || true
LPID=""
L_END=$(load1)
log "load stopped (load $L_END)"

# The controller's log: when it marked the node out and retired the transition (its own clock).
LOGT=$("$PY" - "$DIR" "$NODES" <<'EOF'
import re, sys, datetime, json
d, n = sys.argv[1], int(sys.argv[2])
res = {}
for i in range(1, n + 1):
    try: lines = open(f'{d}/node{i}.log', errors='replace').read().split('\n')
    except OSError: continue
    for l in lines:
        m = re.match(r'\[?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)', l)
        if not m: continue
        for ev in ('cluster_node_out', 'cluster_transition_retired'):
            if f'event={ev}' in l and ev not in res:
                res[ev] = datetime.datetime.fromisoformat(m.group(1).replace(' ', 'T')).timestamp()
                res[ev + '_node'] = i
print(json.dumps(res))
EOF
)

# --- The report.
out "## Times"
out
"$PY" - "$T_KILL" "$T_DOWN" "$T_OUT" "$T_RETIRED" "$E_DOWN" "$E_OUT" "$E_RETIRED" "$MOVING" "$LOGT" \
  "$L_HEALTHY" "$L_KILL" "$L_DOWN" "$L_OUT" "$L_RETIRED" "$L_END" "$NODES" "$VID" "$REBUILD_TIMEOUT_S" <<'EOF' >>"$REPORT"
import json, sys
a = sys.argv[1:]
tk, td, to, tr = [float(x) if x else None for x in a[0:4]]
ed, eo, er, moving, logt = a[4], a[5], a[6], a[7], json.loads(a[8])
lh, lk, ld, lo, lr, le = a[9:15]
nodes, vid, rto = a[15], a[16], a[17]
f = lambda x, y: f"{y - x:.1f} s" if x is not None and y is not None else "not reached"
print(f"Node {nodes} (id {vid}) killed with SIGKILL; the map's epoch in etcd polled every 100 ms (each time is to")
print("within about 0.1 s; the victim's state checked with `cairn cluster status` at each step).")
print()
print("| step | time | map epoch | load (1, 5, 15 min) |")
print("|---|--:|--:|---|")
print(f"| healthy (load started) | | | {lh} |")
print(f"| kill | 0 | | {lk} |")
print(f"| kill -> down (lease expired, controller noticed) | {f(tk, td)} | {ed or '-'} | {ld or '-'} |")
print(f"| down -> out (out_delay_ms; a map with `prev`, {moving or '?'} partitions moving) | {f(td, to)} | {eo or '-'} | {lo or '-'} |")
print(f"| **out -> retired (the rebuild)** | **{f(to, tr)}** | {er or '-'} | {lr or '-'} |")
print(f"| kill -> retired | {f(tk, tr)} | | |")
print(f"| end (2 windows after) | | | {le} |")
print()
o, r = logt.get('cluster_node_out'), logt.get('cluster_transition_retired')
if o and r:
    print(f"The controller's log (node {logt.get('cluster_node_out_node')}): event=cluster_node_out -> event=cluster_transition_retired {r - o:.2f} s.")
else:
    print(f"The controller's log: {'no cluster_node_out' if not o else ''} {'no cluster_transition_retired' if not r else ''} line found.")
if tr is None and to is not None:
    print(f"**The transition did not retire within {rto} s**; the volume below is over out -> the give-up.")
print()
EOF

out "## Rebuild volume and rate (the survivors)"
out
if [ -e "$T/snap.down" ] && [ -e "$T/snap.retired" ]; then
  "$PY" - "$T" "$T_HEALTHY" "$T_KILL" "$T_DOWN" "$T_OUT" "$T_RETIRED" "$(now)" "$TICK" "$disk_w" "$disk_r" "$LOGT" <<'EOF' >>"$REPORT"
import json, sys
d = sys.argv[1]
th, tk, td, to, tr, tnow = [float(x) if x else None for x in sys.argv[2:8]]
tick, dw, dr = int(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10])
logt = json.loads(sys.argv[11])
retired = tr is not None
tr = tr if retired else tnow
# The rebuild's duration: the controller's own log when it has both lines, else the polls.
lo, lr = logt.get('cluster_node_out'), logt.get('cluster_transition_retired')
secs = (lr - lo) if (lo and lr and retired) else (tr - to)
src = "the controller's log" if (lo and lr and retired) else "the polls"
rd = lambda name: [json.loads(l) for l in open(f'{d}/snap.{name}') if l.strip()]
S = {n: rd(n) for n in ('healthy', 'kill', 'down', 'retired')}
D = {n: json.load(open(f'{d}/snap.{n}.dev')) for n in S}
def tot(a, b):
    t = {'k': 0, 'p': 0, 'c': 0.0, 'w': D[b]['w'] - D[a]['w'], 'r': D[b]['r'] - D[a]['r']}
    for x, y in zip(S[a], S[b]):
        t['k'] += y.get('ae_keys_repaired', 0) - x.get('ae_keys_repaired', 0)
        t['p'] += y.get('ae_bytes_pushed', 0) - x.get('ae_bytes_pushed', 0)
        t['c'] += (y['ticks'] - x['ticks']) / tick
    return t
print(f"All survivors together (sums); device bytes are what {D['healthy']['name']} (the stores' device) read and wrote")
print("(/proc/diskstats: the whole device, the client load's writes and anything else on it included), CPU utime+stime.")
print("The rebuild's baseline is the snapshot when the node is seen down, out_delay_ms before the out (the transition's")
print("first rounds start at once after the map changes, before a poll can see it); nothing differs among the")
print("survivors meanwhile, so what anti-entropy pushes from there is the rebuild.")
print()
print("| interval | s | keys repaired | MB pushed | device write MB (MB/s) | device read MB (MB/s) | CPU s (% of a core) |")
print("|---|--:|--:|--:|--:|--:|--:|")
for name, a, b, s in (('healthy, under the load', 'healthy', 'kill', tk - th), ('kill -> down', 'kill', 'down', td - tk),
                      (f"**down -> {'retired' if retired else 'gave up'}** (out_delay_ms, then the rebuild)", 'down', 'retired', tr - td)):
    t = tot(a, b); s = max(s, 1e-3)
    print(f"| {name} | {s:.1f} | {t['k']} | {t['p'] / 1e6:.1f} | {t['w'] / 1e6:.1f} ({t['w'] / s / 1e6:.1f}) | "
          f"{t['r'] / 1e6:.1f} ({t['r'] / s / 1e6:.1f}) | {t['c']:.1f} ({100 * t['c'] / s:.0f}) |")
print()
print("Per survivor over the rebuild:")
print()
print("| node | keys repaired | MB pushed | CPU s | requests coordinated | routed | reads hedged | read repairs | repair: MB admitted, s waited | rate halvings | p99 baseline, target, last (ms) |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for i, (x, y) in enumerate(zip(S['down'], S['retired'])):
    dc = lambda k: y.get(k, 0) - x.get(k, 0)
    ms = lambda k: f"{y.get(k, 0) / 1000:.1f}"
    print(f"| {i + 1} | {dc('ae_keys_repaired')} | {dc('ae_bytes_pushed') / 1e6:.1f} | "
          f"{dc('ticks') / tick:.1f} | {dc('coordinated')} | {dc('routed')} | "
          f"{dc('hedged')} | {dc('read_repairs')} | "
          f"{dc('background.repair.admitted_bytes') / 1e6:.1f}, {dc('background.repair.waited_us') / 1e6:.1f} | "
          f"{dc('background.decreases')} | {ms('background.baseline_p99_us')}, {ms('background.target_p99_us')}, "
          f"{ms('background.window_p99_us')} |")
print()
t = tot('down', 'retired')
rate = t['p'] / secs / 1e6
print(f"Rebuild time (out -> retired, from {src}): **{secs:.1f} s**. Pushed {t['k']} keys, {t['p'] / 1e6:.1f} MB of values: "
      f"**{rate:.1f} MB/s = {100 * rate / dw:.1f}% of the disk's sequential write ({dw:.0f} MB/s)**, {t['k'] / secs:.0f} keys/s.")
rb = tot('kill', 'down'); rbs = max(td - tk, 1e-3)
print(f"The device's whole write, down -> retired: {t['w'] / (tr - td) / 1e6:.1f} MB/s "
      f"({100 * t['w'] / (tr - td) / 1e6 / dw:.1f}% of the disk's), against {rb['w'] / rbs / 1e6:.1f} MB/s under the same client load"
      f" before (kill -> down); all nodes share one disk.")
print()
EOF
else
  out "Not measured: the node never went out."
  out
fi

out "## Client latency through node 1, windows of $W s"
out
out "\`cairn --server NODE1 --json bench --duration $W --mix get=90,put=10 --size 10K --keys $KEYS --key-prefix load/N/"
out "--connections $CONNS --inflight $INFLIGHT --rate $RATE\` back to back, window N on its own keys, which it writes once first (not measured);"
if [ "$RATE" = 0 ]; then
  out "a closed loop of $((CONNS * INFLIGHT)) requests in flight, so ops/s is what the cluster gave, not a fixed offered rate."
else
  out "an open loop offering $RATE requests/s on up to $((CONNS * INFLIGHT)) slots; latency counts from when a request was due."
fi
out "Start: seconds from the kill to the measured part. Label: the worst phase the measured part overlaps"
out "(rebuilding > down > after > healthy; down = killed, not out yet); spans lists every phase it overlaps. Latency in ms."
out
"$PY" - "$T" "$T_KILL" "$T_OUT" "$T_RETIRED" "$W" <<'EOF' >>"$REPORT"
import json, statistics, sys
d, tk, to, tr, w = sys.argv[1:6]
tk = float(tk); to = float(to) if to else float('inf'); tr = float(tr) if tr else float('inf')
phases = [('healthy', float('-inf'), tk), ('down', tk, to), ('rebuilding', to, tr), ('after', tr, float('inf'))]
prio = {'rebuilding': 3, 'down': 2, 'after': 1, 'healthy': 0}
op_p99 = lambda j, op: f"{j['per_op'][op]['latency_us']['p99'] / 1e3:.2f}" if op in j.get('per_op', {}) else ''
rows, by, slow = [], {}, {}
print("| # | start s | label | spans | ops/s | p50 | p99 | p999 | max | GET p99 | PUT p99 | errors | not found | load 1 min | first error |")
print("|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
for line in open(f'{d}/windows.txt'):
    f = line.split()
    n, s, e, l1 = int(f[0]), float(f[1]), float(f[2]), f[3]
    try:
        j = json.loads(open(f'{d}/win.{n}.json').read())
        s = e - j['seconds']  # the measured part: after the window's preload
    except Exception:
        j = None
    spans = [p for p, a, b in phases if s < b and e > a]
    label = max(spans, key=lambda p: prio[p]) if spans else '?'
    if j is None:
        err = open(f'{d}/win.{n}.err').read().strip().split('\n')[-1][:80]
        print(f"| {n} | {s - tk:.1f} | {label} | {'+'.join(spans)} | no result | | | | | | | | | {l1} | {err} |")
        continue
    lat = j['latency_us']
    by.setdefault(label, []).append(lat['p99'])
    for at, ms, op, key in j.get('slow', []):
        sec = int((s + at - tk) // 1)
        c = slow.setdefault(sec, [0, 0.0, 0])
        c[0] += 1; c[1] = max(c[1], ms); c[2] += op == 'put'
    fe = j.get('first_error', '')[:200].replace('|', '/')
    print(f"| {n} | {s - tk:.1f} | {label} | {'+'.join(spans)} | {j['ops_per_sec']:.0f} | {lat['p50'] / 1e3:.2f} | "
          f"{lat['p99'] / 1e3:.2f} | {lat['p999'] / 1e3:.2f} | {lat['max'] / 1e3:.1f} | {op_p99(j, 'get')} | {op_p99(j, 'put')} | "
          f"{j['errors']} | {j['not_found']} | {l1} | {fe} |")
print()
if slow:
    print(f"Requests slower than the listing bound (`--slow-ms`), per second from the kill: second: count (of which PUT), max ms.")
    print("Bunched seconds mean the server stalled as a whole; a spread tail means single slow requests.")
    print()
    print("; ".join(f"{k}: {v[0]} ({v[2]}), {v[1]:.0f}" for k, v in sorted(slow.items())))
    print()
print("## Summary: p99 against healthy (target: at most 1.2x)")
print()
h = by.get('healthy', [])
if not h:
    print("No healthy window."); sys.exit()
hm = statistics.median(h)
print(f"Median p99 of {len(h)} healthy windows: {hm / 1e3:.2f} ms.")
print()
print("| phase | windows | median p99 ms | max p99 ms | max p99 / healthy median | median p99 / healthy median |")
print("|---|--:|--:|--:|--:|--:|")
for p in ('down', 'rebuilding', 'after'):
    v = by.get(p, [])
    if v:
        print(f"| {p} | {len(v)} | {statistics.median(v) / 1e3:.2f} | {max(v) / 1e3:.2f} | **{max(v) / hm:.2f}x** | {statistics.median(v) / hm:.2f}x |")
    else:
        print(f"| {p} | 0 | | | | |")
print()
EOF
out "Survivors' stores at the end: $(for a in "${SURV_ADDRS[@]}"; do printf '%s: %s; ' "$a" "$(store_line "$a")"; done)"
out
out "Load at the end: $(load1)."
cat "$REPORT" | tee "$OUT"
