#!/usr/bin/env bash
# The ops listener of a cluster node (issues 11 and 14), from the outside: a 3-node cluster from
# scripts/cluster, one node killed with SIGKILL, then on a surviving node:
#   - /status.json's cluster part shows 3 nodes, the killed one down, a newer map epoch;
#   - /metrics carries the cluster gauges and counters, and promtool accepts it;
#   - /readyz is ready (it holds the current map) and cairn status prints the cluster table;
#   - every node's disk, request rates and p99s (issue 14): after PUTs through node 1, its
#     /status.json, `cairn status --json` and the page show node 2's disk and a PUT rate above
#     zero (polled from node 2 with STAT), and the killed node as not answering;
#   - S3 through node 1 into the cluster (awscli): a bucket and an object written before the
#     kill read back after it, and a write after it succeeds;
#   - headless Chromium renders the status page's cluster section (2 of 3 up, the killed node's
#     row marked down) and takes a screenshot, kept under the build dir (its path is printed);
#   - a transition's progress (issue 14), on a second cluster of 4 nodes (data needs a node to
#     move to): `cairn cluster drain --wait` drains one while another is stopped (SIGSTOP), so
#     the transition cannot sync and stays in flight: /status.json, /metrics, `cairn status` and
#     the page show the moving partitions and each node's partitions before and after (a second
#     screenshot); once the stopped node is continued, the transition retires, the page shows
#     none, and the waiting command ends with "done" after printing its progress lines.
# Exit 77 (skipped) when etcd or chromium is missing (scripts/deps installs them).
#
# Usage: cluster_ops_test.sh BUILD_DIR SOURCE_DIR ARTIFACT_DIR
set -euo pipefail
B=$(realpath "$1")
SRC=$(realpath "$2")
ARTIFACTS=$3
mkdir -p "$ARTIFACTS"
ARTIFACTS=$(realpath "$ARTIFACTS")
CAIRN=$B/src/cli/cairn
have() { command -v "$1" >/dev/null 2>&1; }
have etcd || { echo "SKIP: etcd is not installed (scripts/deps)"; exit 77; }
CHROMIUM=""
for c in chromium chromium-browser; do have "$c" && CHROMIUM=$c && break; done
[[ -n $CHROMIUM ]] || { echo "SKIP: chromium is not installed (scripts/deps)"; exit 77; }

T=$(mktemp -d)
CPID=""
SPID=""   # a node stopped with SIGSTOP: continued first, so it can stop
WPID=""   # a cairn cluster ... --wait in the background
cleanup() {
  [[ -n $SPID ]] && kill -CONT "$SPID" 2>/dev/null || true
  [[ -n $WPID ]] && kill -TERM "$WPID" 2>/dev/null || true
  if [[ -n $CPID ]]; then
    kill -TERM "$CPID" 2>/dev/null || true
    wait "$CPID" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
export LC_ALL=C
unset CAIRN_STORE CAIRN_SERVER CAIRN_HTTP CAIRN_CLUSTER
fail() {
  echo "FAIL: $*" >&2
  [[ -f $T/cluster.out ]] && tail -20 "$T/cluster.out" >&2
  exit 1
}

XDG_CONFIG_HOME=$T/xdg CAIRN_BUILD_DIR=$B "$SRC/scripts/cluster" -n 3 --s3 --dir "$T/c" >"$T/cluster.out" 2>&1 &
CPID=$!
for _ in $(seq 600); do grep -q "Ctrl-C stops" "$T/cluster.out" && break; sleep 0.1; done
grep -q "Ctrl-C stops" "$T/cluster.out" || fail "scripts/cluster did not come up"
mapfile -t PIDS < <(sed -n 's/.*node [0-9]*: .* pid \([0-9]*\),.*/\1/p' "$T/cluster.out")
mapfile -t HTTP < <(sed -n 's/.*status page \(http:[^,]*\),.*/\1/p' "$T/cluster.out")
[[ ${#PIDS[@]} -eq 3 && ${#HTTP[@]} -eq 3 ]] || fail "could not read the nodes' pids and pages"
H=${HTTP[0]}
json() { curl -sS -f -m 10 "${H}status.json"; }
field() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

before=$(json | field 'j["cluster"]["epoch"]')
[[ $(json | field 'len(j["cluster"]["nodes"])') == 3 ]] || fail "status.json: not 3 nodes"
[[ $(json | field 'sum(1 for n in j["cluster"]["nodes"] if n["state"]=="up")') == 3 ]] || fail "status.json: not 3 up"

AWS=""
[[ -x /usr/bin/aws ]] && AWS=/usr/bin/aws   # Debian's awscli (a pyenv copy may shadow it)
s3() {
  AWS_ACCESS_KEY_ID=$(cut -d: -f1 "$T/c/s3key") AWS_SECRET_ACCESS_KEY=$(cut -d: -f2 "$T/c/s3key") \
    AWS_CA_BUNDLE= timeout 60 "$AWS" --region us-east-1 \
    --endpoint-url "http://127.0.0.1:$(cat "$T/c/node1.s3-port")" s3 "$@"
}
if [[ -n $AWS ]]; then
  head -c 3000000 /dev/urandom >"$T/obj"
  s3 mb s3://clusterbucket >/dev/null || fail "aws s3 mb"
  s3 cp "$T/obj" s3://clusterbucket/before >/dev/null || fail "aws s3 cp (before the kill)"
fi

# Issue 14: node 1 shows node 2's disk and PUT rate, polled from node 2 (R = 3: every PUT
# through node 1 is also a replica PUT on node 2). Bounded: up to 30 rounds of 5 PUTs.
ADDR2="127.0.0.1:$(cat "$T/c/node2.port")"
ADDR3="127.0.0.1:$(cat "$T/c/node3.port")"
DATA1="127.0.0.1:$(cat "$T/c/node1.port")"
put_some() {
  head -c 4096 /dev/urandom >"$T/small"
  for k in 1 2 3 4 5; do
    XDG_CONFIG_HOME=$T/xdg "$CAIRN" --server "$DATA1" put "peers/$RANDOM$k" "$T/small" >/dev/null ||
      fail "cairn put through node 1"
  done
}
node_stat() {  # node_stat ADDR EXPR: EXPR over that node's "stats" (n) in the document on stdin
  python3 -c "import json,sys; j=json.load(sys.stdin); n=[x for x in j['cluster']['nodes'] if x['address']=='$1'][0].get('stats',{}); print($2)"
}
ok=0
for _ in $(seq 30); do
  put_some
  s=$(json)
  if [[ $(node_stat "$ADDR2" 'n.get("answering") and n.get("disk_total_bytes",0)>0 and n.get("put_per_s",0)>0' <<<"$s") == True ]]; then
    ok=1
    break
  fi
  sleep 0.2
done
[[ $ok == 1 ]] || fail "status.json on node 1 never showed node 2's disk and PUT rate: $s"
put_some
HP=${H#http://}
ok=0
for _ in $(seq 30); do
  "$CAIRN" status --json --http "${HP%/}" >"$T/status.json" 2>&1 || fail "cairn status --json: $(cat "$T/status.json")"
  if [[ $(node_stat "$ADDR2" 'n.get("disk_used_bytes",0)>0 and n.get("disk_free_bytes",0)>0 and n.get("put_per_s",0)>0 and n.get("put_p99_ms",0)>0' <"$T/status.json") == True ]]; then
    ok=1
    break
  fi
  put_some
done
[[ $ok == 1 ]] || fail "cairn status --json never showed node 2's disk, PUT rate and p99: $(cat "$T/status.json")"
echo "ok: node 1's status.json and cairn status --json show node 2's disk, PUT rate and p99 (polled with STAT)"

kill -KILL "${PIDS[2]}"
for _ in $(seq 300); do   # the lease (5 s) expires, the controller marks it down
  [[ $(json | field 'sum(1 for n in j["cluster"]["nodes"] if n["state"]=="down")') == 1 ]] && break
  sleep 0.1
done
s=$(json)
[[ $(field 'sum(1 for n in j["cluster"]["nodes"] if n["state"]=="down")' <<<"$s") == 1 ]] || fail "no node down after 30 s: $s"
[[ $(field 'j["cluster"]["epoch"]' <<<"$s") -gt $before ]] || fail "the epoch did not move on"
[[ $(field 'j["ready"]["ready"]' <<<"$s") == True ]] || fail "the survivor is not ready: $s"
echo "ok: status.json shows the killed node down at a newer epoch; the survivor is ready"
for _ in $(seq 100); do
  [[ $(json | node_stat "$ADDR3" 'n.get("answering") is False and n.get("no_answer_since_unix_ms",0)>0') == True ]] && break
  sleep 0.1
done
s=$(json)
[[ $(node_stat "$ADDR3" 'n.get("answering") is False and n.get("no_answer_since_unix_ms",0)>0' <<<"$s") == True ]] ||
  fail "status.json does not show the killed node as not answering: $s"
echo "ok: status.json shows the killed node as not answering since its last answer ($(node_stat "$ADDR3" 'n["error"]' <<<"$s"))"

if [[ -n $AWS ]]; then
  s3 cp s3://clusterbucket/before "$T/back" >/dev/null || fail "aws s3 cp back (after the kill)"
  cmp "$T/obj" "$T/back" || fail "S3 read after the kill differs"
  s3 cp "$T/obj" s3://clusterbucket/after >/dev/null || fail "aws s3 cp (after the kill)"
  s3 ls s3://clusterbucket/ >"$T/ls" || fail "aws s3 ls"
  [[ $(grep -c -E ' (before|after)$' "$T/ls") == 2 ]] || fail "S3 listing: $(cat "$T/ls")"
  echo "ok: S3 through node 1 into the cluster, before and after a node was killed"
else
  echo "SKIP (S3 part): /usr/bin/aws is not installed (scripts/deps installs awscli)"
fi

curl -sS -f -m 10 "${H}readyz" >/dev/null || fail "/readyz is not 200"
curl -sS -f -m 10 "${H}metrics" >"$T/metrics" || fail "/metrics"
for m in cairn_cluster_map_epoch cairn_cluster_partitions_held 'cairn_cluster_nodes{state="down"} 1' \
  cairn_cluster_hint_queue_bytes cairn_cluster_etcd_reachable cairn_cluster_ae_rounds_total \
  cairn_cluster_ae_keys_repaired_total; do
  grep -qF "$m" "$T/metrics" || fail "/metrics lacks $m"
done
if have promtool; then
  promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
  echo "ok: /metrics has the cluster metrics; promtool accepts them"
fi

"$CAIRN" status --http "${HP%/}" >"$T/status.txt" 2>&1 || fail "cairn status: $(cat "$T/status.txt")"
grep -q "down" "$T/status.txt" || fail "cairn status shows no node down: $(cat "$T/status.txt")"
grep -q "no answer since" "$T/status.txt" || fail "cairn status shows no silent node: $(cat "$T/status.txt")"
echo "ok: cairn status prints the cluster"

chrome() {
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$T/chromium.$1" --virtual-time-budget=4000 \
    --window-size=1280,1200 "${@:2}" "$H" 2>>"$T/chromium.log"
}
# The page's node table: node 2's disk and a PUT rate above zero (PUTs just before, so its 10 s
# window holds some; bounded: 5 tries), the killed node not answering.
node_id() { json | python3 -c "import json,sys; print([x['id'] for x in json.load(sys.stdin)['cluster']['nodes'] if x['address']=='$1'][0])"; }
ID2=$(node_id "$ADDR2")
ID3=$(node_id "$ADDR3")
row() {  # row ID CLASS: the text of that cell of node ID's row in dom.html ("" if none)
  python3 - "$T/dom.html" "$1" "$2" <<'PY'
import re, sys
dom = open(sys.argv[1]).read()
m = re.search(r'<tr[^>]*id="node-%s"[^>]*>(.*?)</tr>' % sys.argv[2], dom, re.S)
if not m: print(""); sys.exit()
if sys.argv[3] == "answer":
    a = re.search(r'data-answer="([a-z]*)"', m.group(0)); print(a.group(1) if a else ""); sys.exit()
c = re.search(r'<td class="[^"]*%s[^"]*"[^>]*>([^<]*)<' % sys.argv[3], m.group(1))
print(c.group(1) if c else "")
PY
}
ok=0
for _ in $(seq 5); do
  put_some
  chrome dom --dump-dom >"$T/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$T/chromium.log")"
  rate2=$(row "$ID2" n-put-rate)
  if [[ $(row "$ID2" answer) == yes && -n $(row "$ID2" n-disk-used) && $(row "$ID2" n-disk-used) != - &&
        -n $rate2 && $rate2 != 0.00 ]]; then
    ok=1
    break
  fi
done
[[ $ok == 1 ]] || fail "page: node $ID2's row lacks its disk or PUT rate: $(grep -o "<tr[^>]*node-$ID2.*" "$T/dom.html" | head -c 1500)"
[[ $(row "$ID3" answer) == no ]] || fail "page: the killed node $ID3 is not shown as not answering"
[[ $(row "$ID3" n-no-answer) == "no answer since"* ]] || fail "page: the killed node's row: $(row "$ID3" n-no-answer)"
echo "ok: the page shows node $ID2's disk ($(row "$ID2" n-disk-used)) and PUT rate ($rate2/s), node $ID3 not answering"
grep -q 'id="cl-up">2 / 3<' "$T/dom.html" || fail "page: nodes up: $(grep -o 'id="cl-up">[^<]*<' "$T/dom.html")"
grep -q 'data-state="down"' "$T/dom.html" || fail "page: no row marked down"
grep -q 'id="cluster" style="display: block' "$T/dom.html" || fail "page: the cluster section is hidden"
SHOT="$ARTIFACTS/cluster-status-page.png"
rm -f "$SHOT"
chrome shot --screenshot="$SHOT" >/dev/null || fail "chromium --screenshot failed"
[[ -s $SHOT ]] || fail "no screenshot at $SHOT"
echo "ok: the status page shows the cluster with one node down; screenshot (CI artifact): $SHOT"

# ---- A second cluster, of 4 nodes, for a transition.
kill -TERM "$CPID" 2>/dev/null || true
wait "$CPID" 2>/dev/null || true
XDG_CONFIG_HOME=$T/xdg CAIRN_BUILD_DIR=$B "$SRC/scripts/cluster" -n 4 --dir "$T/c4" >"$T/cluster4.out" 2>&1 &
CPID=$!
for _ in $(seq 600); do grep -q "Ctrl-C stops" "$T/cluster4.out" && break; sleep 0.1; done
grep -q "Ctrl-C stops" "$T/cluster4.out" || fail "scripts/cluster -n 4 did not come up: $(tail -5 "$T/cluster4.out")"
mapfile -t PIDS < <(sed -n 's/.*node [0-9]*: .* pid \([0-9]*\),.*/\1/p' "$T/cluster4.out")
mapfile -t HTTP < <(sed -n 's/.*status page \(http:[^,]*\),.*/\1/p' "$T/cluster4.out")
[[ ${#PIDS[@]} -eq 4 && ${#HTTP[@]} -eq 4 ]] || fail "could not read the 4 nodes' pids and pages"
H=${HTTP[0]}
HP=${H#http://}
ID2=$(node_id "127.0.0.1:$(cat "$T/c4/node2.port")")

# Issue 14: a transition's progress. Node 4 is drained: its slots move to nodes 1-3, so every
# new row holds all three. One of nodes 2 and 3 (not node 1, whose page is read, nor the
# controller) is stopped first: no moving partition can sync without it, so the transition stays
# in flight while it is looked at.
ETCD=$(sed -n 's/.*etcd at \([^,]*\),.*/\1/p' "$T/cluster4.out")
[[ -n $ETCD ]] || fail "could not read etcd's endpoint"
cluster_cmd() { XDG_CONFIG_HOME=$T/xdg "$CAIRN" --cluster "$ETCD" cluster "$@"; }
ID4=$(node_id "127.0.0.1:$(cat "$T/c4/node4.port")")
ctl=$(cluster_cmd status --json | field 'j["controller"]')
if [[ $ctl == "$ID2" ]]; then SPID=${PIDS[2]}; else SPID=${PIDS[1]}; fi
partitions_of() {  # partitions_of ID: that node's partitions in the document on stdin
  python3 -c "import json,sys; print([n['partitions'] for n in json.load(sys.stdin)['cluster']['nodes'] if n['id']==$1][0])"
}
moved=$(json | partitions_of "$ID4")
[[ $moved -gt 0 ]] || fail "node $ID4 holds no partitions before the drain"
kill -STOP "$SPID"
cluster_cmd drain "$ID4" --wait --timeout 180 >"$T/wait.out" 2>"$T/wait.err" &
WPID=$!
t_wait=$SECONDS
for _ in $(seq 300); do
  [[ $(json | field 'j["cluster"]["transition"] is not None') == True ]] && break
  sleep 0.1
done
s=$(json)
[[ $(field 'j["cluster"]["transition"] is not None and j["cluster"]["transition"]["moving_partitions"]>0' <<<"$s") == True ]] ||
  fail "status.json shows no transition after the drain: $s"
[[ $(python3 -c "import json,sys; n=[x for x in json.load(sys.stdin)['cluster']['nodes'] if x['id']==$ID4][0]; print(n['partitions']==0 and n['partitions_before']==$moved)" <<<"$s") == True ]] ||
  fail "status.json: the drained node's partitions are not $moved -> 0: $s"
echo "ok: status.json shows the transition ($(field 'j["cluster"]["transition"]' <<<"$s")) and node $ID4's $moved partitions moving to 0"
curl -sS -f -m 10 "${H}metrics" >"$T/metrics2" || fail "/metrics during the transition"
grep -qE '^cairn_cluster_moving_partitions [1-9]' "$T/metrics2" || fail "/metrics: $(grep moving "$T/metrics2")"
grep -qF 'cairn_cluster_sync_partitions{state="led"}' "$T/metrics2" || fail "/metrics lacks cairn_cluster_sync_partitions"
"$CAIRN" status --http "${HP%/}" >"$T/status2.txt" 2>&1 || fail "cairn status: $(cat "$T/status2.txt")"
grep -q "^transition to epoch [0-9]*: [0-9]* of [1-9][0-9]* moving partitions synced" "$T/status2.txt" ||
  fail "cairn status shows no transition: $(cat "$T/status2.txt")"
grep -qE " $moved -> 0 " "$T/status2.txt" || fail "cairn status: node $ID4 not $moved -> 0: $(cat "$T/status2.txt")"
echo "ok: /metrics and cairn status show the transition"
moving_attr() {  # moving_attr NAME: that data- attribute of the page's transition box
  python3 - "$T/dom.html" "$1" <<'PY'
import re, sys
m = re.search(r'<div id="cl-moving"[^>]*>', open(sys.argv[1]).read())
a = re.search(r'data-%s="([0-9]*)"' % sys.argv[2], m.group(0)) if m else None
print(a.group(1) if a else "")
PY
}
chrome dom2 --dump-dom >"$T/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$T/chromium.log")"
[[ $(moving_attr moving) -gt 0 ]] || fail "page: no transition shown: $(grep -o '<div id="cl-moving"[^>]*>.\{0,300\}' "$T/dom.html")"
grep -q 'id="cl-moving-text">Transition to epoch [0-9]*: [0-9]* of [1-9][0-9]* moving partitions synced' "$T/dom.html" ||
  fail "page: the transition's text: $(grep -o 'id="cl-moving-text">[^<]*' "$T/dom.html")"
[[ $(row "$ID4" n-partitions) == "$moved → 0" ]] || fail "page: node $ID4's partitions: $(row "$ID4" n-partitions)"
SHOT2="$ARTIFACTS/cluster-transition-page.png"
rm -f "$SHOT2"
chrome shot2 --screenshot="$SHOT2" >/dev/null || fail "chromium --screenshot failed"
[[ -s $SHOT2 ]] || fail "no screenshot at $SHOT2"
echo "ok: the page shows the transition ($(grep -o 'id="cl-moving-text">[^<]*' "$T/dom.html" | cut -d'>' -f2)) and node $ID4's partitions $(row "$ID4" n-partitions); screenshot: $SHOT2"
# Long enough stopped for the waiting command's plain progress line (every 2 s off a terminal).
while (( SECONDS - t_wait < 3 )); do sleep 0.2; done
kill -CONT "$SPID"
SPID=""
rc=0
wait "$WPID" || rc=$?
WPID=""
[[ $rc == 0 ]] || fail "cluster drain --wait: exit $rc: $(cat "$T/wait.out" "$T/wait.err")"
grep -q "^node $ID4: drain (intent drain) done: map epoch [0-9]*, the node holds 0 slots" "$T/wait.out" ||
  fail "cluster drain --wait said: $(cat "$T/wait.out") $(cat "$T/wait.err")"
grep -q "^drain node $ID4: transition to epoch [0-9]*: [0-9]*/[1-9][0-9]* moving partitions synced" "$T/wait.err" ||
  fail "cluster drain --wait printed no progress line: $(cat "$T/wait.err")"
echo "ok: cairn cluster drain --wait followed the transition ($(grep -c . "$T/wait.err") progress lines) and ended: $(cat "$T/wait.out")"
for _ in $(seq 50); do   # node 1 installs the retiring map (etcd's watch)
  [[ $(json | field 'j["cluster"]["transition"] is None') == True ]] && break
  sleep 0.1
done
s=$(json)
[[ $(field 'j["cluster"]["transition"] is None' <<<"$s") == True ]] || fail "status.json: the transition is still shown after --wait returned: $s"
[[ $(partitions_of "$ID4" <<<"$s") == 0 ]] || fail "status.json: node $ID4 still holds partitions: $s"
for _ in $(seq 5); do   # the page polls every second
  chrome dom3 --dump-dom >"$T/dom.html" || fail "chromium --dump-dom failed"
  [[ $(moving_attr moving) == 0 ]] && break
done
[[ $(moving_attr moving) == 0 ]] || fail "page: a transition is still shown after it retired"
[[ $(row "$ID4" n-partitions) == 0 ]] || fail "page: the drained node's partitions: $(row "$ID4" n-partitions)"
echo "ok: the page shows no transition once it retired, and node $ID4 with no partitions"
