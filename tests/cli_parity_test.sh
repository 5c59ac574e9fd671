#!/usr/bin/env bash
# CLI parity (issue 4, item 8; issue 15): one session of object commands runs in local mode
# (--store) and in remote mode (--server, against a real cairnd, authenticated with a key); the
# exit codes, stdout and stderr of every command must be the same in both, apart from what names
# the store or server, the times, and the values of versions (two stores stamp different
# versions: only their shape, 24 hex digits, is compared). Then the remote-only checks: cairn
# bench, the key, and the errors of remote mode.
#
# Usage: cli_parity_test.sh /path/to/cairn /path/to/cairnd
set -euo pipefail

CAIRN=$(realpath "${1:?usage: cli_parity_test.sh CAIRN CAIRND}")
CAIRND=$(realpath "${2:?usage: cli_parity_test.sh CAIRN CAIRND}")
T=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
unset CAIRN_STORE CAIRN_SERVER CAIRN_KEY CAIRN_KEY_FILE
export LC_ALL=C
# Never the developer's own key: the default key file is looked up under $HOME.
export HOME=$T/home XDG_CONFIG_HOME=
mkdir -p "$HOME"
cd "$T"
# The key the server and the CLI share (docs/protocol.md section 8).
(umask 077 && printf 'parity:%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/key")
export CAIRN_KEY_FILE=$T/key
LIMIT=60  # every command is bounded

fail() {
  echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2
  exit 1
}

start_server() {
  rm -f "$T/port"
  "$CAIRND" --data "$T/server-data" --listen 127.0.0.1:0 --port-file "$T/port" \
    --log-file "$T/cairnd.log" --volume-size 64M --key-file "$T/key" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    [[ -s $T/port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "cairnd exited: $(tail -5 "$T/cairnd.log")"
    sleep 0.1
  done
  [[ -s $T/port ]] || fail "cairnd did not write its port within 30 s"
  PORT=$(cat "$T/port")
}

# Test inputs.
head -c 10240 /dev/urandom >ten_k
: >empty
printf x >one
head -c 1048576 /dev/urandom >one_mib
head -c 3000000 /dev/urandom >three_mb  # longer than one 1 MiB buffer: a chunked remote PUT

# session MODE_ARGS...: runs the commands, logging "$ cmd", the exit code, stdout and stderr.
session() {
  local log=$T/session.$1
  shift
  local -a mode=("$@")
  : >"$log"
  c() {
    local rc=0
    printf '$ cairn %s\n' "$*" >>"$log"
    timeout "$LIMIT" "$CAIRN" "${mode[@]}" "$@" >"$T/o" 2>"$T/e" </dev/null || rc=$?
    { echo "rc=$rc"; cat "$T/o" "$T/e"; } >>"$log"
  }
  c_in() {  # like c, with stdin from a file
    local in=$1 rc=0
    shift
    printf '$ cairn %s < %s\n' "$*" "$in" >>"$log"
    timeout "$LIMIT" "$CAIRN" "${mode[@]}" "$@" <"$in" >"$T/o" 2>"$T/e" || rc=$?
    { echo "rc=$rc"; cat "$T/o" "$T/e"; } >>"$log"
  }
  # (No command before the first put: a local store that does not exist yet is its own error.)
  c put photos/a ten_k
  c get photos/missing
  c head photos/missing
  c --json put photos/empty empty
  c put photos/one one
  c_in one_mib put docs/mib
  c_in three_mb --json put docs/three
  c put 'odd key with spaces' one
  c get photos/a -o got_a
  cmp -s got_a ten_k || echo "get -o differs" >>"$log"
  for k in photos/a photos/empty photos/one docs/mib docs/three; do
    timeout "$LIMIT" "$CAIRN" "${mode[@]}" get "$k" >"$T/got" || echo "get $k failed" >>"$log"
    sha256sum <"$T/got" >>"$log"
  done
  c head photos/a
  c --json head photos/one
  c ls
  c --json ls
  c ls --prefix photos/
  c ls --prefix photos/ --limit 1
  c ls --start-after photos/a
  c ls --limit x
  c --json ls --prefix nothing/
  # Issue 15: metadata, versions, listings with a delimiter.
  c put --meta owner=ada --meta team=storage --content-type text/plain photos/meta one
  c head photos/meta
  c --json head photos/meta
  c --json put --content-type application/x-bin docs/typed one
  c put --meta novalue photos/bad one
  c put --meta a=1 --meta a=2 photos/bad one
  c ls --delimiter /
  c --json ls --delimiter /
  c ls --delimiter / --limit 2
  c ls --prefix photos/ --delimiter /
  c ls --delimiter / --start-after docs/
  c rm photos/one
  c rm photos/one
  c get photos/one
  c head photos/one
  c put '' one
  c put "$(printf 'k%.0s' $(seq 1025))" one
  c put photos/b missing-file
  c get
  c --json stat
}

normalize() {
  # Times and the first line of stat name when and where, not what.
  sed -E -e 's/"mtime_us":[0-9]+/"mtime_us":T/g' -e 's/"mtime":"[^"]*"/"mtime":"T"/g' \
    -e 's/^mtime: .*/mtime: T/' -e 's/"version":"[0-9a-f]{24}"/"version":"V"/g' \
    -e 's/^version: [0-9a-f]{24}$/version: V/' "$1" |
    python3 -c '
import json, sys
out = []
for line in sys.stdin:
    # stat --json: keep the counts that depend only on the session, not on volume layout.
    if line.startswith("{\"objects\":") and "\"logical_bytes\"" in line:
        j = json.loads(line)
        line = json.dumps({"objects": j["objects"], "logical_bytes": j["logical_bytes"]}) + "\n"
    out.append(line)
sys.stdout.write("".join(out))'
}

session local --store "$T/local-store"
start_server
session remote --server "127.0.0.1:$PORT"
normalize "$T/session.local" >"$T/local.norm"
normalize "$T/session.remote" >"$T/remote.norm"
if ! diff -u "$T/local.norm" "$T/remote.norm" >"$T/diff"; then
  cat "$T/diff" >&2
  fail "local and remote sessions differ (above)"
fi
grep -q 'rc=3' "$T/local.norm" || fail "the session never hit a missing key"
echo "parity: $(grep -c '^\$ cairn' "$T/local.norm") commands identical in both modes"

# CAIRN_SERVER works like --server.
CAIRN_SERVER=127.0.0.1:$PORT timeout "$LIMIT" "$CAIRN" head photos/a >/dev/null ||
  fail "CAIRN_SERVER was not used"

# Remote-only: bench checks what it reads and reports errors separately.
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" --json bench --count 3000 --size 4K \
  --mix get=60,put=30,delete=10 --keys 50 --connections 4 --inflight 4 >"$T/bench.json" ||
  fail "bench failed: $(cat "$T/bench.json")"
python3 - "$T/bench.json" <<'PY' || fail "bad bench JSON: $(cat "$T/bench.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["errors"] == 0 and j["ops"] == 3000, j
for k in ("ops_per_sec", "mb_per_sec", "latency_us", "per_op"):
    assert k in j, k
for q in ("p50", "p99", "p999", "max"):
    assert q in j["latency_us"], q
PY
rc=0
timeout "$LIMIT" "$CAIRN" --store "$T/local-store" bench --count 10 2>"$T/e" || rc=$?
[[ $rc == 2 ]] || fail "bench without a server exited $rc, want 2"
rc=0
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" verify 2>"$T/e" || rc=$?
[[ $rc == 2 ]] || fail "verify with --server exited $rc, want 2"
rc=0
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" bench --count 10 --mix get=1,bogus=2 2>"$T/e" || rc=$?
[[ $rc == 2 ]] || fail "a bad --mix exited $rc, want 2"
# An open loop (--rate) keeps to its schedule; --slow-ms lists the requests over its bound
# (1 us: all of them), each as [seconds, ms, op, key]; bad values are usage errors that say so.
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" --json bench --count 20 --rate 100 \
  --slow-ms 0.001 --keys 5 --key-prefix rate/ >"$T/rate.json" || fail "bench --rate failed: $(cat "$T/rate.json")"
python3 - "$T/rate.json" <<'PY' || fail "bad bench --rate JSON: $(cat "$T/rate.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["errors"] == 0 and j["ops"] == 20 and j["rate"] == 100, j
assert j["seconds"] >= 0.185, j["seconds"]  # the 20th request is due at 0.19 s
assert len(j["slow"]) == 20, j["slow"]
for at, ms, op, key in j["slow"]:
    assert 0 <= at < 1 and ms > 0 and op == "get" and key.startswith("rate/"), (at, ms, op, key)
PY
for bad in "--rate 0.5" "--rate 20000000" "--slow-ms -1" "--rate 10 --s3 http://127.0.0.1:1"; do
  rc=0
  # shellcheck disable=SC2086
  timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" bench --count 10 $bad 2>"$T/e" || rc=$?
  flag=${bad%% *}
  [[ $rc == 2 ]] && grep -q -- "${flag}" "$T/e" || fail "bench $bad exited $rc: $(cat "$T/e")"
done

# Issue 15: the key. From $CAIRN_KEY too; a wrong one is refused (exit 1, one line that says
# so); a key file others may read is refused before anything is sent.
CAIRN_KEY_FILE= CAIRN_KEY=$(cat "$T/key") timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" \
  head photos/a >/dev/null || fail "CAIRN_KEY was not used"
rc=0
CAIRN_KEY_FILE= CAIRN_KEY=parity:0000000000000000000000000000 timeout "$LIMIT" "$CAIRN" \
  --server "127.0.0.1:$PORT" head photos/a >/dev/null 2>"$T/e" || rc=$?
[[ $rc == 1 && $(wc -l <"$T/e") == 1 ]] || fail "a wrong key exited $rc: $(cat "$T/e")"
grep -q "could not prove it holds key 'parity'" "$T/e" || fail "wrong key: $(cat "$T/e")"
rc=0
CAIRN_KEY_FILE= timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" head photos/a >/dev/null \
  2>"$T/e" || rc=$?
[[ $rc == 1 ]] && grep -q "authentication required" "$T/e" || fail "no key: rc $rc $(cat "$T/e")"
cp "$T/key" "$T/key-open" && chmod 644 "$T/key-open"
rc=0
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" --key-file "$T/key-open" head photos/a \
  >/dev/null 2>"$T/e" || rc=$?
[[ $rc == 1 ]] && grep -q "group or others" "$T/e" || fail "open key file: rc $rc $(cat "$T/e")"
# The default key file (~/.config/cairn/key) is found with nothing set.
mkdir -p "$HOME/.config/cairn" && cp "$T/key" "$HOME/.config/cairn/key"
CAIRN_KEY_FILE= timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" head photos/a >/dev/null ||
  fail "the default key file was not used"
grep -q "event=auth_failed" "$T/cairnd.log" || fail "auth failures are not logged"
if grep -q "$(cut -d: -f2 "$T/key")" "$T/cairnd.log"; then fail "the secret is in the log"; fi

# A server that is gone: exit 1, one line that names the address.
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""
rc=0
timeout "$LIMIT" "$CAIRN" --server "127.0.0.1:$PORT" get photos/a >/dev/null 2>"$T/e" || rc=$?
[[ $rc == 1 ]] || fail "get from a stopped server exited $rc, want 1"
[[ $(wc -l <"$T/e") == 1 ]] && grep -q "cannot connect to 127.0.0.1:$PORT" "$T/e" ||
  fail "unexpected message: $(cat "$T/e")"
echo "PASS"
