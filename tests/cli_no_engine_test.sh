#!/usr/bin/env bash
# Issue 11, item 7: `cairn` against a server or a cluster does not load the engine (RocksDB) or
# libssl, so a short call starts fast; for a local store it runs cairn-local, which does
# (src/cli/local_backend.h). Checks:
#   1. cairn's NEEDED libraries hold no librocksdb or libssl, and cairn-local's do
#      hold librocksdb (so the check can fail);
#   2. a live remote call (cairn --server, waiting on a server that accepts and never answers)
#      has none of them mapped (/proc/PID/maps), and has not become cairn-local;
#   3. local mode through cairn works (put, get, head, ls, reclaim), in the same process
#      (exec: the pid a shell sees is the one that ran the command), and the exit codes are
#      the tool's (3 for a missing key, 2 for a usage error);
#   4. cairn found through a symbolic link elsewhere still finds cairn-local; a copy of cairn
#      alone says where it looked for cairn-local (exit 1), while --version and usage errors,
#      which need no store, still work.
#
# Usage: cli_no_engine_test.sh /path/to/cairn
set -euo pipefail

CAIRN=$(realpath "${1:?usage: cli_no_engine_test.sh CAIRN}")
LOCAL=$(dirname "$CAIRN")/cairn-local
T=$(mktemp -d)
HOLD_PID=""
CLI_PID=""
cleanup() {
  for p in $CLI_PID $HOLD_PID; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT
unset CAIRN_STORE CAIRN_SERVER CAIRN_CLUSTER CAIRN_KEY CAIRN_KEY_FILE
export LC_ALL=C HOME=$T/home XDG_CONFIG_HOME=
mkdir -p "$HOME"
cd "$T"
fail() { echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2; exit 1; }
HEAVY='librocksdb|libssl'

# 1. The binaries' NEEDED lists.
[ -x "$LOCAL" ] || fail "no cairn-local beside $CAIRN"
needed=$(readelf -d "$CAIRN" | grep NEEDED)
! grep -qE "$HEAVY" <<<"$needed" || fail "cairn needs: $(grep -E "$HEAVY" <<<"$needed")"
readelf -d "$LOCAL" | grep NEEDED | grep -q librocksdb || fail "cairn-local does not need librocksdb"
echo "ok: cairn needs no librocksdb or libssl; cairn-local needs librocksdb"

# 2. A remote call in flight: a listener that accepts and never answers keeps it waiting.
python3 - "$T/port" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
for _ in range(600):  # at most a minute; the test kills it sooner
    s.settimeout(0.1)
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass
EOF
HOLD_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || fail "the listener did not start"
echo "k:0123456789abcdef0123456789abcdef" >"$T/key"
chmod 600 "$T/key"
"$CAIRN" --server "127.0.0.1:$(cat "$T/port")" --key-file "$T/key" head k >/dev/null 2>&1 &
CLI_PID=$!
maps=""
for _ in $(seq 100); do  # until the connection is up (libstdc++ mapped is not enough)
  if [ -r "/proc/$CLI_PID/maps" ] && ss -tn 2>/dev/null | grep -q ":$(cat "$T/port") "; then
    maps=$(cat "/proc/$CLI_PID/maps")
    break
  fi
  sleep 0.05
done
[ -n "$maps" ] || fail "the remote call never connected"
comm=$(cat "/proc/$CLI_PID/comm")
[ "$comm" = cairn ] || fail "the remote call runs as '$comm', not cairn"
! grep -qE "$HEAVY" <<<"$maps" || fail "a remote cairn has mapped: $(grep -oE "[^ /]*($HEAVY)[^ ]*" <<<"$maps" | sort -u | tr '\n' ' ')"
kill "$CLI_PID"
wait "$CLI_PID" 2>/dev/null || true
CLI_PID=""
echo "ok: a remote call in flight has mapped none of librocksdb, libssl"

# 3. Local mode through cairn (it execs cairn-local: same pid).
echo hello >in.txt
"$CAIRN" --store s put greeting in.txt
[ "$("$CAIRN" --store s get greeting)" = hello ] || fail "get after put"
"$CAIRN" --store s head greeting | grep -q '^size: 6$' || fail "head"
[ "$("$CAIRN" --store s ls)" = greeting ] || fail "ls"
"$CAIRN" --store s reclaim --dry-run >/dev/null || fail "reclaim --dry-run"
rc=0; "$CAIRN" --store s get nothing-here >/dev/null 2>err.txt || rc=$?
[ $rc -eq 3 ] || fail "get of a missing key: exit $rc, expected 3"
grep -q '^cairn: get: no such key "nothing-here"' err.txt || fail "message: $(cat err.txt)"
rc=0; "$CAIRN" --store s --durability bogus put k in.txt 2>err.txt || rc=$?
[ $rc -eq 2 ] || fail "bad --durability: exit $rc, expected 2"
sh -c 'echo $$ >pid.txt; exec "$0" --store s get greeting >/dev/null' "$CAIRN" &
wait $! || fail "local get through a shell"
# The pid the shell started is gone only when the command is done, and it is the one that ran
# it: nothing is left behind (a fork would have left cairn waiting on its child).
[ ! -e "/proc/$(cat pid.txt)" ] || fail "pid $(cat pid.txt) still runs"
echo "ok: local mode through cairn (put, get, head, ls, reclaim, exit codes 3 and 2)"

# 4. Found through a link; a copy alone.
mkdir bin alone
ln -s "$CAIRN" bin/cairn
[ "$(bin/cairn --store s get greeting)" = hello ] || fail "cairn through a symbolic link"
cp "$CAIRN" alone/cairn
rc=0; alone/cairn --store s get greeting >/dev/null 2>err.txt || rc=$?
[ $rc -eq 1 ] || fail "cairn without cairn-local: exit $rc, expected 1"
grep -q "^cairn: get: cannot run $T/alone/cairn-local (the local store's tool" err.txt ||
  fail "message: $(cat err.txt)"
alone/cairn --version | grep -q '^cairn ' || fail "--version without cairn-local"
rc=0; alone/cairn frobnicate 2>err.txt || rc=$?
[ $rc -eq 2 ] || fail "unknown command without cairn-local: exit $rc, expected 2"
echo "ok: cairn through a link finds cairn-local; alone it says where it looked"
echo "cli_no_engine_test: ok"
