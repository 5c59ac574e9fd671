#!/usr/bin/env bash
# bench/peers/rgw.sh: Ceph's RGW (Debian's `radosgw`, the reference S3 implementation) beside
# Cairn (issue 13): tests/s3_conformance.py against a real RGW, and optionally its rate for
# presigned 10 KiB GETs by the method of bench/s3/run.sh.
#
# It starts, entirely inside a temp directory, a one-node Ceph cluster: one ceph-mon, one
# ceph-osd on memstore (in memory, at most MEMSTORE bytes), pools of size 1, cephx with keyrings
# made in the temp dir, and one radosgw listening on 127.0.0.1 only. Every daemon reads the
# temp dir's ceph.conf (`-c`) and keeps its data, run dir, admin socket and log there; nothing
# is read from or written to /etc/ceph or /var/lib/ceph. It creates two RGW users (the main key
# and a second one for the `--alt` checks), runs the checks with the same arguments as
# tests/s3_conformance_test.sh (less `--known`: no failure of RGW's is excused) and prints
# their output and the summary line. It exits 0 when the run was made, whatever RGW failed.
# Then it stops every daemon by its pid and removes the temp dir. Every wait is bounded.
#
# Usage: bench/peers/rgw.sh
# Env:   GETS=1 also measures presigned 10 KiB GETs with wrk (rgw, osd and mon pinned to CPU 0,
#        wrk to CPU 1, as bench/s3/run.sh pins cairnd): DURATION=10 (s)  CONNS=50  KEYS=1000
#        SERVER_CPUS=0 LOAD_CPUS=1 (taskset lists: the daemons', wrk's)
#        CHECKS=0 skips the conformance checks (with GETS=1: the GETs alone)
#        MEMSTORE=2147483648 (bytes of the OSD's in-memory store)
# Needs: Debian's radosgw, ceph-mon, ceph-osd, ceph-common (`scripts/deps rgw`); python3-boto3;
#        wrk for GETS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GETS=${GETS:-0}
CHECKS=${CHECKS:-1}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
KEYS=${KEYS:-1000}
MEMSTORE=${MEMSTORE:-2147483648}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
for x in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl taskset python3; do
  command -v "$x" >/dev/null || {
    echo "rgw.sh: missing $x (scripts/deps rgw)" >&2; exit 1; }
done
[ "$GETS" = 0 ] || command -v wrk >/dev/null || { echo "rgw.sh: missing wrk (scripts/deps)" >&2; exit 1; }
/usr/bin/python3 -c 'import boto3' || { echo "rgw.sh: missing python3-boto3 (scripts/deps)" >&2; exit 1; }

# A short path: the daemons' admin sockets live here (a unix socket path is at most 107 bytes).
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-rgw.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    # A daemon has 20 s to stop on SIGTERM, then it is killed (memstore saves itself on umount).
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # SECONDS WHAT CMD...: until CMD succeeds, else print the daemons' log tails and fail
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "rgw.sh: timed out after ${secs}s waiting for $what" >&2
  for f in "$T"/log/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
  return 1
}
ceph_() { timeout 60 ceph -c "$T/ceph.conf" --connect-timeout 20 "$@"; }
rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

MON_V2=$(free_port)
MON_V1=$(free_port)
RGW_PORT=$(free_port)
FSID=$(python3 -c 'import uuid; print(uuid.uuid4())')
OSD_UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')
mkdir -p "$T/mon" "$T/osd/ceph-0" "$T/run" "$T/log" "$T/crash" "$T/rgw"
cat >"$T/ceph.conf" <<CONF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $T/keyring.\$name
run dir = $T/run
admin socket = $T/run/\$cluster-\$name.asok
log file = $T/log/\$name.log
crash dir = $T/crash
log to syslog = false
err to syslog = false
log to journald = false
mon cluster log file = $T/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
[mon]
mon data = $T/mon/\$cluster-\$id
mon data avail warn = 1
mon data avail crit = 1
[osd]
osd data = $T/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE
[client.rgw.a]
# tcp_nodelay=1: without it (Beast's default) each GET waited on a delayed ACK, about 40 ms, and
# RGW served 1,088 presigned GETs/s instead of 1,437 (GETS=1, 2026-12-05).
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $T/rgw
# RGW implements the bucket website sub-resource but answers it 405 MethodNotAllowed unless
# this is on (its default is off): on, so that what is compared is what RGW implements.
rgw enable static website = true
CONF

log "keyrings, monmap, mon --mkfs"
ceph-authtool --create-keyring "$T/keyring.mon.a" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$T/keyring.client.admin" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool --create-keyring "$T/keyring.osd.0" --gen-key -n osd.0 \
  --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
ceph-authtool --create-keyring "$T/keyring.client.rgw.a" --gen-key -n client.rgw.a \
  --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
# The mon's keyring at --mkfs seeds its auth database with every key in it.
for k in client.admin osd.0 client.rgw.a; do
  ceph-authtool "$T/keyring.mon.a" --import-keyring "$T/keyring.$k" >/dev/null
done
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" \
  "$T/monmap" >/dev/null
ceph-mon -c "$T/ceph.conf" --mkfs -i a --monmap "$T/monmap" --keyring "$T/keyring.mon.a"

taskset -c "$SERVER_CPUS" ceph-mon -c "$T/ceph.conf" -i a -f >"$T/log/mon.stdout" 2>&1 &
PIDS+=($!)
MON_PID=$!
wait_for 60 "the mon" ceph_ mon stat

log "osd: new, --mkfs (memstore, $MEMSTORE bytes), start"
id=$(ceph_ osd new "$OSD_UUID")
[ "$id" = 0 ] || { echo "rgw.sh: osd new answered $id" >&2; exit 1; }
timeout 120 ceph-osd -c "$T/ceph.conf" -i 0 --mkfs --osd-uuid "$OSD_UUID" \
  >"$T/log/osd-mkfs.stdout" 2>&1 || { cat "$T/log/osd-mkfs.stdout" >&2; exit 1; }
taskset -c "$SERVER_CPUS" ceph-osd -c "$T/ceph.conf" -i 0 -f >"$T/log/osd.stdout" 2>&1 &
PIDS+=($!)
OSD_PID=$!
osd_up() { ceph_ osd dump --format json | python3 -c '
import json, sys
o = json.load(sys.stdin)["osds"]
sys.exit(0 if o and o[0]["up"] == 1 and o[0]["in"] == 1 else 1)'; }
wait_for 90 "osd.0 up and in" osd_up

log "radosgw on 127.0.0.1:$RGW_PORT"
taskset -c "$SERVER_CPUS" radosgw -c "$T/ceph.conf" -n client.rgw.a -f >"$T/log/rgw.stdout" 2>&1 &
PIDS+=($!)
RGW_PID=$!
EP=http://127.0.0.1:$RGW_PORT
# RGW creates its pools and default zone before it listens; the first start takes a while.
wait_for 180 "radosgw to answer HTTP" curl -s -o /dev/null --max-time 5 "$EP/"
VERSION=$(radosgw --version | head -1)

AK=AKCONFORMANCE$(rand_hex 4 | tr a-f A-F)
SECRET=$(rand_hex 24)
ALT_AK=AKCONFALT$(rand_hex 4 | tr a-f A-F)
ALT_SECRET=$(rand_hex 24)
admin() { timeout 120 radosgw-admin -c "$T/ceph.conf" -n client.admin "$@"; }
admin user create --uid conformance --display-name conformance --access-key "$AK" \
  --secret-key "$SECRET" >/dev/null
admin user create --uid conformance-alt --display-name conformance-alt --access-key "$ALT_AK" \
  --secret-key "$ALT_SECRET" >/dev/null

summary=
if [ "$CHECKS" != 0 ]; then
  log "tests/s3_conformance.py against RGW ($VERSION)"
  set +e
  timeout 900 /usr/bin/python3 "$ROOT/tests/s3_conformance.py" "$EP" "$AK" "$SECRET" \
    --alt "$ALT_AK:$ALT_SECRET" >"$T/conformance.out" 2>&1
  rc=$?
  set -e
  cat "$T/conformance.out"
  summary=$(grep '^S3-CONFORMANCE ' "$T/conformance.out" || true)
  [ -n "$summary" ] || { echo "rgw.sh: the checks did not finish (exit $rc)" >&2; exit 1; }
fi

if [ "$GETS" != 0 ]; then
  log "presigned 10 KiB GETs: $KEYS keys, wrk -c$CONNS for ${DURATION}s (daemons on CPUs $SERVER_CPUS, wrk on CPUs $LOAD_CPUS)"
  timeout 600 /usr/bin/python3 bench/s3/presigned_paths.py "$EP" "$AK" "$SECRET" "$KEYS" \
    "$T/presigned.lua"
  timeout 60 taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d1s -s "$T/presigned.lua" "$EP/" >/dev/null
  c0=$(( $(cpu_ticks "$RGW_PID") + $(cpu_ticks "$OSD_PID") + $(cpu_ticks "$MON_PID") ))
  out=$(timeout $((DURATION + 60)) taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    -s "$T/presigned.lua" "$EP/")
  c1=$(( $(cpu_ticks "$RGW_PID") + $(cpu_ticks "$OSD_PID") + $(cpu_ticks "$MON_PID") ))
  echo "$out"
  ! grep -q 'Non-2xx' <<<"$out" || { echo "rgw.sh: GETs failed" >&2; exit 1; }
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  python3 -c '
import sys
ticks, tick, reqs, rps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print("RGW presigned GET 10 KiB: %.0f GETs/s, %.1f µs server CPU per GET (rgw+osd+mon)" % (
    rps, ticks / tick * 1e6 / reqs))' $((c1 - c0)) "$(getconf CLK_TCK)" "$reqs" "$rps"
fi
echo "RGW: $VERSION (memstore, one OSD, one mon, beast on 127.0.0.1)"
[ -z "$summary" ] || echo "$summary"
