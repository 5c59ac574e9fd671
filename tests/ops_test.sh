#!/usr/bin/env bash
# The ops listener of a real cairnd (issue 14), from the outside, with the tools people use:
#   - curl: /healthz, /readyz, /metrics, /status.json; every method but GET and HEAD is 405;
#   - promtool check metrics accepts the exposition;
#   - a real Prometheus (started here on loopback, stopped by pid) scrapes the node, and its
#     HTTP API answers a query on a counter and one on a histogram;
#   - headless Chromium renders the status page with live data from the node (the DOM is
#     checked) and takes a screenshot, kept under the build dir (its path is printed);
#   - cairn status and cairn top read the node;
#   - a scrape while 1,000 connections are open on the listener answers in time;
#   - /readyz says not ready, with the reason, once the store is read-only (an fdatasync
#     failure injected by tests/faultshim).
# Parts whose package is missing are skipped with a message (scripts/deps installs them all);
# the test then exits 77, which ctest reports as skipped.
#
# Usage: ops_test.sh CAIRND CAIRN FAULTSHIM_SO ARTIFACT_DIR
set -euo pipefail
# Never `producer | grep -q`: with pipefail, grep's early exit kills the producer with SIGPIPE
# and the pipeline fails although it matched. Capture, then match.

CAIRND=$(realpath "${1:?usage: ops_test.sh CAIRND CAIRN FAULTSHIM_SO ARTIFACT_DIR}")
CAIRN=$(realpath "$2")
FAULTSHIM_SO=$(realpath "$3")
ARTIFACTS=$4
mkdir -p "$ARTIFACTS"
ARTIFACTS=$(realpath "$ARTIFACTS")

T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
export LC_ALL=C
unset CAIRN_STORE CAIRN_SERVER CAIRN_HTTP
SKIPPED=()
CASE=""
fail() {
  echo "FAIL ($CASE): $*" >&2
  exit 1
}
skip() {
  echo "SKIP ($CASE): $*"
  SKIPPED+=("$CASE")
}
have() { command -v "$1" >/dev/null 2>&1; }
# get PATH [curl args...]: the body of http://127.0.0.1:$H/PATH (exits non-zero on HTTP >= 400).
get() {
  local path=$1
  shift
  curl -sS -f -m 10 "$@" "http://127.0.0.1:$H$path"
}
# wait_for FILE: until FILE holds a port (cairnd writes it once listening), at most 20 s.
wait_for() {
  for _ in $(seq 1 400); do
    [[ -s $1 ]] && return 0
    sleep 0.05
  done
  fail "no port in $1: $(cat "$T"/cairnd.err 2>/dev/null)"
}
# The data port authenticates (docs/protocol.md section 8): cairnd and the CLI share a key.
(umask 077 && printf 'ops:%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
export CAIRN_KEY_FILE=$T/key
# start_cairnd [env...]: starts cairnd on the store $T/data with the ops listener on.
start_cairnd() {
  rm -f "$T/port" "$T/hport"
  env "$@" "$CAIRND" --data "$T/data" --listen 127.0.0.1:0 --port-file "$T/port" \
    --http-listen 127.0.0.1:0 --http-port-file "$T/hport" --volume-size 16M \
    --key-file "$T/key" --log-level warn >"$T/cairnd.out" 2>"$T/cairnd.err" &
  CAIRND_PID=$!
  PIDS+=("$CAIRND_PID")
  wait_for "$T/port"
  wait_for "$T/hport"
  P=$(cat "$T/port")
  H=$(cat "$T/hport")
}
stop_cairnd() {
  kill -TERM "$CAIRND_PID"
  wait "$CAIRND_PID" || fail "cairnd exited $? on SIGTERM: $(cat "$T/cairnd.err")"
}

have curl || { echo "SKIP: curl is not installed (scripts/deps installs it)"; exit 77; }

# ---------------------------------------------------------------------------------------------
CASE="endpoints"
start_cairnd
seq 1 1000 >"$T/value"
for i in $(seq 1 20); do "$CAIRN" --server "127.0.0.1:$P" put "k$i" "$T/value"; done
for i in $(seq 1 5); do "$CAIRN" --server "127.0.0.1:$P" get "k$i" >/dev/null; done
"$CAIRN" --server "127.0.0.1:$P" get missing >/dev/null 2>&1 && fail "get missing succeeded"
[[ $(get /healthz) == ok ]] || fail "/healthz"
[[ $(get /readyz) == ready ]] || fail "/readyz: $(get /readyz)"
get /metrics >"$T/metrics"
grep -q '^cairn_requests_total{op="PUT"} 20$' "$T/metrics" || fail "PUT count: $(grep requests_total "$T/metrics")"
grep -q '^cairn_request_errors_total{op="GET",code="NotFound"} 1$' "$T/metrics" ||
  fail "GET NotFound count"
grep -q '^cairn_request_duration_seconds_count{op="GET"} 6$' "$T/metrics" || fail "GET histogram"
grep -q '^cairn_store_objects 20$' "$T/metrics" || fail "objects"
grep -q '^# TYPE cairn_request_duration_seconds histogram$' "$T/metrics" || fail "histogram TYPE"
# The engine's own: every one of the 20 sync puts committed and synced (at least one group and
# one fdatasync each, sequential clients), and the 5 GETs of keys just written were hot hits.
metric() { awk -v m="$1" '$1 == m {print $2}' "$T/metrics"; }
[[ $(metric cairn_store_group_commit_writes_count) -ge 20 ]] || fail "group commits: $(metric cairn_store_group_commit_writes_count)"
[[ $(metric cairn_store_group_commit_writes_sum) -ge 20 ]] || fail "group commit writes"
[[ $(metric cairn_store_fdatasync_duration_seconds_count) -ge 20 ]] || fail "fdatasyncs: $(metric cairn_store_fdatasync_duration_seconds_count)"
grep -q '^cairn_store_fdatasync_duration_seconds_bucket{le="+Inf"} ' "$T/metrics" || fail "fdatasync buckets"
[[ $(metric cairn_store_fdatasync_errors_total) == 0 ]] || fail "fdatasync errors"
[[ $(metric cairn_store_index_hot_hits_total) -ge 5 ]] || fail "hot hits: $(metric cairn_store_index_hot_hits_total)"
[[ -n $(metric cairn_store_index_hot_misses_total) ]] || fail "hot misses"
grep -q '"objects":20' <<<"$(get /status.json)" || fail "status.json"
[[ $(get / | grep -c 'status.json') -ge 1 ]] || fail "status page"
# Only GET and HEAD: the listener serves no writes.
for m in POST PUT DELETE PATCH; do
  code=$(curl -s -o "$T/405" -D "$T/405.h" -w '%{http_code}' -m 10 -X "$m" --data x \
    "http://127.0.0.1:$H/metrics")
  [[ $code == 405 ]] || fail "$m answered $code"
  grep -qi '^Allow: GET, HEAD' "$T/405.h" || fail "$m: no Allow header"
done
grep -q '^Content-Length: ' <<<"$(curl -sS -f -I -m 10 "http://127.0.0.1:$H/metrics")" || fail "HEAD"
echo "ok: endpoints"

# ---------------------------------------------------------------------------------------------
CASE="promtool"
if have promtool; then
  promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$T/promtool.out")"
  echo "ok: promtool check metrics"
else
  skip "promtool is not installed (Debian package prometheus; scripts/deps installs it)"
fi

# ---------------------------------------------------------------------------------------------
CASE="prometheus"
if have prometheus; then
  # Prometheus' own listener needs a port named in advance. Pick one below the kernel's
  # ephemeral range (32768 up: where every port-0 listener and outgoing connection of the
  # other tests running alongside lands), and if it is taken anyway by the time Prometheus
  # binds it, start again on another: a taken port is the machine's state, not a failure.
  cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: cairn
    static_configs:
      - targets: ['127.0.0.1:$H']
EOF
  PP="" PROM_PID=""
  for attempt in 1 2 3 4 5 6 7 8; do
    c=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$c") 2>/dev/null && continue  # someone listens there
    rm -rf "$T/prom"
    prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
      --web.listen-address="127.0.0.1:$c" --log.level=warn >"$T/prom.log" 2>&1 &
    PROM_PID=$!
    PIDS+=("$PROM_PID")
    for _ in $(seq 1 600); do  # at most 60 s until it answers (it, not another) or exits
      kill -0 "$PROM_PID" 2>/dev/null || break
      if curl -sSf -m 2 -o /dev/null "http://127.0.0.1:$c/-/ready" 2>/dev/null &&
        kill -0 "$PROM_PID" 2>/dev/null; then
        PP=$c
        break
      fi
      sleep 0.1
    done
    [[ -n $PP ]] && break
    kill "$PROM_PID" 2>/dev/null || true
    wait "$PROM_PID" 2>/dev/null || true
    grep -q "address already in use" "$T/prom.log" ||
      fail "prometheus did not start (attempt $attempt, port $c): $(tail -5 "$T/prom.log")"
    echo "note: prometheus port $c was taken; trying another"
  done
  [[ -n $PP ]] || fail "prometheus: no free port below the ephemeral range in 8 attempts"
  q() { curl -sS -m 5 --data-urlencode "query=$1" "http://127.0.0.1:$PP/api/v1/query" 2>/dev/null || true; }
  counter="" hist=""
  for _ in $(seq 1 300); do  # at most 30 s: start, first scrapes
    counter=$(q 'cairn_requests_total{op="PUT"}')
    hist=$(q 'histogram_quantile(0.99, sum by (le) (cairn_request_duration_seconds_bucket{op="PUT"}))')
    if [[ $counter == *'"value":['*',"20"]'* && $hist == *'"value":['* ]]; then break; fi
    sleep 0.1
  done
  [[ $counter == *'"value":['*',"20"]'* ]] ||
    fail "prometheus: counter query answered: $counter; log: $(tail -5 "$T/prom.log")"
  # The 99th percentile of 20 PUTs: a positive number of seconds, below a minute.
  p99=$(sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p' <<<"$hist")
  awk -v v="$p99" 'BEGIN { exit !(v > 0 && v < 60) }' || fail "prometheus: histogram query answered: $hist"
  up=$(q 'up{job="cairn"}')
  [[ $up == *'"value":['*',"1"]'* ]] || fail "prometheus: target not up: $up"
  kill "$PROM_PID"
  wait "$PROM_PID" 2>/dev/null || true
  echo "ok: prometheus scraped the node: PUT count 20, PUT p99 ${p99}s"
else
  skip "prometheus is not installed (Debian package prometheus; scripts/deps installs it)"
fi

# ---------------------------------------------------------------------------------------------
CASE="chromium"
CHROMIUM=""
for c in chromium chromium-browser; do have "$c" && CHROMIUM=$c && break; done
if [[ -n $CHROMIUM ]]; then
  chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --disable-dev-shm-usage --user-data-dir="$T/chromium.$1" --virtual-time-budget=4000 \
      --window-size=1280,1000 "${@:2}" "http://127.0.0.1:$H/" 2>>"$T/chromium.log"
  }
  chrome dom --dump-dom >"$T/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$T/chromium.log")"
  # Live data from this node, rendered by the page's script (the HTML as served has none).
  grep -q 'id="objects">20<' "$T/dom.html" || fail "page: objects: $(grep -o 'id="objects">[^<]*<' "$T/dom.html")"
  grep -q 'id="ready" class="badge ok">ready<' "$T/dom.html" || fail "page: ready badge"
  grep -q "id=\"addr\" class=\"muted\">127.0.0.1:$P" "$T/dom.html" || fail "page: node address"
  grep -q '<td>PUT</td>' "$T/dom.html" || fail "page: the PUT row"
  grep -q '<td>00000001</td><td>active</td>' "$T/dom.html" || fail "page: volume 1"
  SHOT="$ARTIFACTS/status-page.png"
  rm -f "$SHOT"
  chrome shot --screenshot="$SHOT" >/dev/null || fail "chromium --screenshot failed"
  [[ -s $SHOT ]] || fail "no screenshot at $SHOT"
  echo "ok: the status page renders live data; screenshot (CI artifact): $SHOT"
else
  skip "chromium is not installed (Debian package chromium; scripts/deps installs it)"
fi

# ---------------------------------------------------------------------------------------------
CASE="cli"
out=$("$CAIRN" status --http "127.0.0.1:$H")
grep -q "^node 127.0.0.1:$P (ops 127.0.0.1:$H), cairnd .*: ready$" <<<"$out" || fail "status: $out"
grep -q "20 objects" <<<"$out" || fail "status objects: $out"
grep -q '^PUT ' <<<"$out" || fail "status PUT row: $out"
grep -q '"objects":20' <<<"$(CAIRN_HTTP="127.0.0.1:$H" "$CAIRN" status --json)" || fail "status --json"
out=$("$CAIRN" top --http "127.0.0.1:$H" --count 2 --interval 0.2)
[[ $(grep -c '^node ' <<<"$out") == 2 ]] || fail "top: two frames expected: $out"
rc=0
"$CAIRN" status 2>"$T/err" || rc=$?
[[ $rc == 2 ]] && grep -q 'pass --http HOST:PORT' "$T/err" || fail "status without --http: $rc $(cat "$T/err")"
rc=0
"$CAIRN" status --http 127.0.0.1:1 2>"$T/err" || rc=$?
[[ $rc == 1 ]] && grep -q 'http://127.0.0.1:1/status.json' "$T/err" || fail "status, no node: $rc $(cat "$T/err")"
echo "ok: cairn status and cairn top"

# ---------------------------------------------------------------------------------------------
CASE="1000 connections"
ulimit -n 4096 2>/dev/null || true
if [[ $(ulimit -n) -lt 1100 ]]; then
  skip "RLIMIT_NOFILE is $(ulimit -n), below 1,100"
else
  fds=()
  for _ in $(seq 1 1000); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$H" || fail "connection refused after ${#fds[@]}"
    fds+=("$fd")
  done
  t0=$(date +%s%N)
  get /metrics -m 5 >"$T/metrics2" || fail "scrape with 1,000 connections open failed"
  ms=$((($(date +%s%N) - t0) / 1000000))
  grep -q '^cairn_ops_http_connections 100[0-9]$' "$T/metrics2" ||
    fail "the listener does not count 1,000 connections: $(grep ops_http "$T/metrics2")"
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  echo "ok: scrape with 1,000 connections open answered in ${ms} ms (timeout 5 s)"
fi
stop_cairnd

# ---------------------------------------------------------------------------------------------
CASE="readyz read-only"
# The store was closed cleanly above; reopened with every volume fdatasync failing, it opens
# (nothing to replay), then the first durable PUT fails and the store turns read-only.
# (An ASan build wants its runtime first in the library list; the shim has no instrumentation.)
start_cairnd LD_PRELOAD="$FAULTSHIM_SO${LD_PRELOAD:+:$LD_PRELOAD}" \
  FAULTSHIM='call=fdatasync,errno=EIO,path=*/volumes/*.vol,count=-1' FAULTSHIM_LOG="$T/shim.log" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
[[ $(get /readyz) == ready ]] || fail "ready before the fault"
"$CAIRN" --server "127.0.0.1:$P" put after "$T/value" 2>/dev/null && fail "put succeeded under the fault"
code=$(curl -s -o "$T/readyz" -w '%{http_code}' -m 10 "http://127.0.0.1:$H/readyz")
[[ $code == 503 ]] || fail "/readyz answered $code: $(cat "$T/readyz")"
grep -q '^not ready: the store is read-only: .*fdatasync' "$T/readyz" || fail "reason: $(cat "$T/readyz")"
get /metrics >"$T/metrics3"
grep -q '^cairn_ready 0$' "$T/metrics3" || fail "cairn_ready"
grep -q '^cairn_store_fdatasync_errors_total 1$' "$T/metrics3" ||
  fail "fdatasync errors: $(grep fdatasync_errors "$T/metrics3")"
grep -q '"level":"error","text":"event=engine' <<<"$(get /status.json)" ||
  fail "the error is not among the recent lines"
echo "ok: /readyz: $(cat "$T/readyz")"
kill -KILL "$CAIRND_PID"
wait "$CAIRND_PID" 2>/dev/null || true

if [[ ${#SKIPPED[@]} -gt 0 ]]; then
  echo "ops_test: skipped: ${SKIPPED[*]}"
  exit 77
fi
echo "ops_test: all passed"
