#!/usr/bin/env bash
# End-to-end tests of the cairn command-line tool (src/cli): round trips, listings, stats,
# the default store, and every error with its exit code and its one-line message.
#
# Usage: cli_test.sh /path/to/cairn
# Exit codes under test (src/cli/main.cc): 0 ok, 1 error, 2 usage, 3 key not found.
set -euo pipefail

CLI_TEST_NAME=cli_test.sh
source "$(dirname "$0")/cli_lib.sh" "$@"

# run ARGS...: runs cairn; it must succeed and print nothing to stderr.
run() {
  local rc=0
  timeout "$LIMIT" "$CAIRN" "$@" 2>"$T/run.err" || rc=$?
  [[ $rc == 0 ]] || fail "cairn $* exited $rc: $(cat "$T/run.err")"
  [[ ! -s $T/run.err ]] || fail "cairn $* wrote to stderr: $(cat "$T/run.err")"
}

# expect CODE CMD...: CMD must exit with CODE. On failure its stderr must be exactly one line
# starting with "cairn: " (kept in $T/err for further checks); stdout goes to $OUT, by default
# $T/out.
expect() {
  local want=$1 rc=0
  shift
  timeout "$LIMIT" "$@" >"${OUT:-$T/out}" 2>"$T/err" || rc=$?
  [[ $rc == "$want" ]] || fail "$* exited $rc, want $want; stderr: $(cat "$T/err")"
  if [[ $want != 0 ]]; then
    [[ $(wc -l <"$T/err") == 1 && -z $(tail -c1 "$T/err") ]] ||
      fail "$*: stderr is not exactly one line: $(cat -A "$T/err")"
    [[ $(head -c7 "$T/err") == "cairn: " ]] || fail "$*: stderr does not start with 'cairn: '"
  fi
}


# check_json FILE: FILE holds exactly one JSON value, strictly UTF-8.
check_json() {
  python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))' <"$1" ||
    fail "invalid JSON in $1: $(head -c 300 "$1")"
}


# volumes STORE: id, state and end of each volume. A process that dies without closing the
# store makes the next open seal the active volume, which changes this.
volumes() {
  timeout "$LIMIT" "$CAIRN" --store "$1" --json stat >"$T/vol.json"
  jq_py "$T/vol.json" '[(v["id"], v["state"], v["end"]) for v in j["volume_list"]]'
}

# snapshot DIR: names, sizes, modes, times and contents of everything under DIR.
snapshot() {
  (cd "$1" && find . -printf '%p %y %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort)
}

# ---------------------------------------------------------------------------------------------
echo "== round trips (8 MiB volumes: large values are chunked and span volumes)"
S=$T/s1
G=(--store "$S" --volume-size 8M)
: >empty
printf 'x' >one
printf 'hello' >hello
printf 'a\0b\0\0c\n\0' >nuls
head -c 300000 /dev/urandom >>nuls
head -c 20M /dev/urandom >big

for f in empty one hello nuls big; do
  run "${G[@]}" put "file/$f" "$f"
  timeout "$LIMIT" "$CAIRN" "${G[@]}" get "file/$f" >got
  cmp "$f" got || fail "get of file/$f differs"
  run "${G[@]}" put "stdin/$f" <"$f"
  run "${G[@]}" put "dash/$f" - <"$f"
  timeout "$LIMIT" "$CAIRN" --store "$S" get "stdin/$f" >got
  cmp "$f" got || fail "get of stdin/$f differs"
  timeout "$LIMIT" "$CAIRN" --store "$S" get "dash/$f" >got
  cmp "$f" got || fail "get of dash/$f differs"
  # stdin that is a pipe, not a file: reads come back short.
  cat "$f" | timeout "$LIMIT" "$CAIRN" --store "$S" put "pipe/$f"
  run --store "$S" get "pipe/$f" -o got
  cmp "$f" got || fail "get -o of pipe/$f differs"
  ok
done
[[ ! -e got.cairn-tmp ]] || fail "get -o left its temporary file"
expect 0 "$CAIRN" --store "$S" --json stat
check_json "$T/out"
[[ $(jq_py "$T/out" 'j["volumes"] > 2') == True ]] || fail "20 MiB did not span volumes"
[[ $(jq_py "$T/out" 'j["volume_capacity"]') == 8388608 ]] || fail "--volume-size 8M ignored"
ok

echo "== put and get stream: memory does not grow with the value"
cat >rss.py <<'PY'
import resource, subprocess, sys
with open(sys.argv[1], "rb") as f:
    rc = subprocess.run(sys.argv[2:], stdin=f, stdout=subprocess.DEVNULL).returncode
if rc != 0:
    sys.exit("exit %d" % rc)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB, peak of the child
PY
base=$(python3 rss.py empty "$CAIRN" --store "$S" stat)
putrss=$(python3 rss.py big "$CAIRN" --store "$S" put rss/big)
getrss=$(python3 rss.py empty "$CAIRN" --store "$S" get rss/big)
# Holding the 20 MiB value would add 20480 KiB; streaming adds a chunk and a buffer.
((putrss - base < 10240)) || fail "put of 20 MiB grew RSS from ${base} to ${putrss} KiB"
((getrss - base < 10240)) || fail "get of 20 MiB grew RSS from ${base} to ${getrss} KiB"
ok

echo "== get -o replaces the file whole, and leaves nothing behind on failure"
echo old >target
run --store "$S" get file/hello -o target
cmp hello target || fail "get -o did not replace the file"
expect 3 "$CAIRN" --store "$S" get no-such-key -o absent
[[ ! -e absent && ! -e absent.cairn-tmp ]] || fail "get -o of a missing key created a file"
expect 1 "$CAIRN" --store "$S" get file/hello -o "$T/no-such-dir/out"
err_has "no-such-dir"
# A damaged chunk in the middle of a large object: the first chunks were already written
# when the read fails, yet neither the target nor the temporary file may remain.
C=$T/corrupt
run --store "$C" --volume-size 8M put big big
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
  dd of="$C/volumes/00000002.vol" bs=1 seek=$((1 << 20)) conv=notrunc status=none
expect 1 "$CAIRN" --store "$C" get big -o partial
err_has "is damaged"
[[ ! -e partial && ! -e partial.cairn-tmp ]] || fail "a failed get -o left a partial file"
expect 1 "$CAIRN" --store "$C" get big
ok

echo "== head"
expect 0 "$CAIRN" --store "$S" head file/hello
grep -qx 'key: file/hello' "$T/out" || fail "head: key line: $(cat "$T/out")"
grep -qx 'size: 5' "$T/out" || fail "head: size line"
grep -qx 'crc32c: 9a71bb4c' "$T/out" || fail "head: crc32c line"  # CRC-32C of "hello"
grep -qE '^sequence: [0-9]+$' "$T/out" || fail "head: sequence line"
grep -qE '^mtime: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' "$T/out" ||
  fail "head: mtime line: $(cat "$T/out")"
grep -qE '^version: [0-9a-f]{24}$' "$T/out" || fail "head: version line: $(cat "$T/out")"
[[ $(wc -l <"$T/out") == 6 ]] || fail "head prints 6 lines (no metadata)"
expect 0 "$CAIRN" --store "$S" --json head file/hello
check_json "$T/out"
[[ $(jq_py "$T/out" 'list(j)') == "['key', 'size', 'crc32c', 'sequence', 'mtime_us', 'mtime', 'version']" ]] ||
  fail "head --json fields: $(cat "$T/out")"
[[ $(jq_py "$T/out" '(j["key"], j["size"], j["crc32c"])') == "('file/hello', 5, '9a71bb4c')" ]] ||
  fail "head --json values: $(cat "$T/out")"
# mtime is mtime_us rendered in UTC.
jq_py "$T/out" '__import__("datetime").datetime.fromtimestamp(j["mtime_us"]//10**6, __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (j["mtime_us"] % 10**6) == j["mtime"] or sys.exit("mtime mismatch")' >/dev/null
ok

echo "== put --json"
expect 0 "$CAIRN" --store "$S" --json put json/k hello
check_json "$T/out"
[[ $(jq_py "$T/out" 'list(j)') == "['key', 'size', 'crc32c', 'sequence', 'version']" ]] ||
  fail "put --json fields: $(cat "$T/out")"
[[ $(jq_py "$T/out" '(j["key"], j["size"], j["crc32c"])') == "('json/k', 5, '9a71bb4c')" ]] ||
  fail "put --json values: $(cat "$T/out")"
seq1=$(jq_py "$T/out" 'j["sequence"]')
expect 0 "$CAIRN" --store "$S" put json/k one --json  # global flags after the command too
[[ $(jq_py "$T/out" 'j["sequence"] > '"$seq1") == True ]] || fail "sequence did not grow"
ok

echo "== rm"
run --store "$S" rm file/one
expect 3 "$CAIRN" --store "$S" get file/one
err_has "no such key"
expect 3 "$CAIRN" --store "$S" head file/one
expect 3 "$CAIRN" --store "$S" rm file/one
[[ ! -s $T/out ]] || fail "a failed command wrote to stdout"
ok

echo "== ls: order, --prefix, --limit, --start-after, --json"
L=$T/ls
keys=(m b/2 a/1 b/1 c B b/3 b ~ 'sp ace' Z a)
for k in "${keys[@]}"; do run --store "$L" --volume-size 1M --durability none put "$k" one; done
printf '%s\n' "${keys[@]}" | sort >want
run --store "$L" ls >got
cmp want got || fail "ls is not in key order: $(cat got)"
timeout "$LIMIT" "$CAIRN" --store "$L" ls --prefix b/ >got
printf 'b/1\nb/2\nb/3\n' | cmp - got || fail "ls --prefix: $(cat got)"
timeout "$LIMIT" "$CAIRN" --store "$L" ls --prefix b/ --start-after b/1 >got
printf 'b/2\nb/3\n' | cmp - got || fail "ls --prefix --start-after: $(cat got)"
timeout "$LIMIT" "$CAIRN" --store "$L" ls --start-after b/3 --limit 3 >got
printf 'c\nm\nsp ace\n' | cmp - got || fail "ls --start-after --limit: $(cat got)"
timeout "$LIMIT" "$CAIRN" --store "$L" ls --limit 0 >got
[[ ! -s got ]] || fail "ls --limit 0 printed keys"
timeout "$LIMIT" "$CAIRN" --store "$L" ls --prefix nothing >got
[[ ! -s got ]] || fail "ls of an unused prefix printed keys"
expect 0 "$CAIRN" --store "$L" --json ls --prefix b/ --limit 2
check_json "$T/out"
[[ $(jq_py "$T/out" '([o["key"] for o in j["objects"]], j["truncated"])') == "(['b/1', 'b/2'], True)" ]] ||
  fail "ls --json --limit 2: $(cat "$T/out")"
[[ $(jq_py "$T/out" 'list(j["objects"][0])') == "['key', 'size', 'crc32c', 'sequence', 'mtime_us', 'version']" ]] ||
  fail "ls --json object fields: $(cat "$T/out")"
expect 0 "$CAIRN" --store "$L" --json ls --prefix b/ --limit 3  # exactly all of them
[[ $(jq_py "$T/out" '(len(j["objects"]), j["truncated"])') == "(3, False)" ]] ||
  fail "ls --json --limit 3: $(cat "$T/out")"
expect 0 "$CAIRN" --store "$L" --json ls
[[ $(jq_py "$T/out" '(len(j["objects"]), j["truncated"])') == "(${#keys[@]}, False)" ]] ||
  fail "ls --json: $(cat "$T/out")"
expect 0 "$CAIRN" --store "$L" --json ls --limit 0
[[ $(jq_py "$T/out" '(len(j["objects"]), j["truncated"])') == "(0, True)" ]] ||
  fail "ls --json --limit 0: $(cat "$T/out")"
ok

echo "== ls: odd key bytes print on one escaped line; JSON stays valid UTF-8"
E=$T/esc
run --store "$E" --volume-size 1M put $'multi\nline' one
run --store "$E" --volume-size 1M put $'tab\there' one
run --store "$E" --volume-size 1M put 'back\slash' one
run --store "$E" --volume-size 1M put $'bad\xff\xc3utf8' one
run --store "$E" --volume-size 1M put $'caf\xc3\xa9' one
run --store "$E" ls >got
printf '%s\n' 'back\\slash' 'bad\xff\xc3utf8' $'caf\xc3\xa9' 'multi\x0aline' 'tab\x09here' |
  cmp - got || fail "escaped ls: $(cat -A got)"
run --store "$E" head $'multi\nline' >got
[[ $(head -1 got) == 'key: multi\x0aline' ]] || fail "head escapes the key: $(cat -A got)"
expect 0 "$CAIRN" --store "$E" --json ls
check_json "$T/out"
[[ $(jq_py "$T/out" '[o["key"] for o in j["objects"]]') == \
   "['back\\\\\\\\slash', 'bad\\\\xff\\\\xc3utf8', 'café', 'multi\\nline', 'tab\\there']" ]] ||
  fail "ls --json keys: $(cat "$T/out")"
run --store "$E" get $'bad\xff\xc3utf8' >got  # the raw bytes still address the object
cmp one got || fail "get of a non-UTF-8 key"
ok

# Listings longer than one Scan page (1000 keys) are tested in-process, where thousands of
# keys cost a second instead of a process start each: src/cli/commands_test.cc.

echo "== stat"
ST=$T/stat
run --store "$ST" --volume-size 1M put a hello
run --store "$ST" put b nuls
expect 0 "$CAIRN" --store "$ST" --json stat
check_json "$T/out"
for f in objects logical_bytes live_bytes dead_bytes volumes volume_capacity allocated_bytes \
  index_allocated_bytes index_memory_bytes index_cache_bytes next_sequence read_only \
  read_only_reason volume_list reclaimable_bytes reclaimed_bytes compactions; do
  [[ $(jq_py "$T/out" "'$f' in j") == True ]] || fail "stat --json lacks $f"
done
# The index cache is sized to the index by default: a small store gets the floor, 64 MiB.
[[ $(jq_py "$T/out" 'j["index_cache_bytes"]') == $((64 << 20)) ]] ||
  fail "stat --json: index_cache_bytes of a small store: $(jq_py "$T/out" 'j["index_cache_bytes"]')"
[[ $(jq_py "$T/out" '(j["objects"], j["logical_bytes"], j["dead_bytes"], j["read_only"])') == \
   "(2, $((5 + $(stat -c %s nuls))), 0, False)" ]] || fail "stat --json before overwrite: $(cat "$T/out")"
[[ $(jq_py "$T/out" 'sorted(j["volume_list"][0])') == \
   "['capacity', 'dead_bytes', 'end', 'id', 'live_bytes', 'live_records', 'reclaimable_bytes', 'reclaimed_bytes', 'state']" ]] ||
  fail "stat --json volume fields: $(cat "$T/out")"
run --store "$ST" put a one  # overwrite: the first "a" becomes dead
expect 0 "$CAIRN" --store "$ST" --json stat
[[ $(jq_py "$T/out" '(j["objects"], j["dead_bytes"] > 0, j["live_bytes"] > 0)') == "(2, True, True)" ]] ||
  fail "stat --json after overwrite: $(cat "$T/out")"
expect 0 "$CAIRN" --store "$ST" stat
for label in 'objects:         2' 'logical bytes:' 'live bytes:' 'dead bytes:' \
  'volumes:' 'allocated bytes:' 'of which index' 'index memory:' 'read-only:       no'; do
  grep -qF "$label" "$T/out" || fail "stat lacks '$label': $(cat "$T/out")"
done
grep -qE '^volumes: +[0-9]+ of 1048576 \(1\.0 MiB\) each$' "$T/out" || fail "stat volumes line"
grep -qE '^dead bytes: +[1-9][0-9]* \([0-9.]+ (B|KiB|MiB)\)$' "$T/out" || fail "stat dead bytes"
grep -qE '^ +volume +state +end +live +dead$' "$T/out" || fail "stat volume table header"
grep -qE '^ +1 +(active|sealed) +[0-9]+ \(' "$T/out" || fail "stat volume table row"
ok

echo "== durability and volume-size flags"
run --store "$T/dur" --volume-size 1M --durability none put k one
run --store "$T/dur" --durability interval put k one
run --store "$T/dur" --durability interval=50 put k one
run --store "$T/dur" --durability sync put k one
run --store "$T/dur" --volume-size 1G put k2 one  # ignored: the store exists
expect 0 "$CAIRN" --store "$T/dur" --json stat
[[ $(jq_py "$T/out" 'j["volume_capacity"]') == 1048576 ]] || fail "--volume-size changed a store"
ok

echo "== default store ./cairn-data and CAIRN_STORE"
mkdir fresh && cd fresh
expect 1 "$CAIRN" ls
err_has "cairn: ls: no store at ./cairn-data (put an object first, or pass --store DIR)"
expect 1 "$CAIRN" get k
err_has "no store at ./cairn-data"
[[ ! -e cairn-data ]] || fail "a read command created the store"
run --volume-size 1M put k ../hello
[[ -f cairn-data/CAIRN ]] || fail "put did not create ./cairn-data"
run get k >../got
cmp ../hello ../got || fail "default store round trip"
export CAIRN_STORE=$T/envstore
run --volume-size 1M put envkey ../hello
[[ -f $T/envstore/CAIRN ]] || fail "CAIRN_STORE was not used"
run --store ./cairn-data ls >../got  # the flag beats the variable
[[ $(cat ../got) == k ]] || fail "--store did not override CAIRN_STORE"
unset CAIRN_STORE
cd "$T"
ok

echo "== errors: not a store"
mkdir -p foreign/sub
echo precious >foreign/file
echo more >foreign/sub/file2
before=$(snapshot foreign)
expect 1 "$CAIRN" --store foreign put k hello
err_has "not a Cairn store"
expect 1 "$CAIRN" --store foreign ls
err_has "not a Cairn store"
expect 1 "$CAIRN" --store foreign stat
[[ $(snapshot foreign) == "$before" ]] || fail "a non-store directory was modified"
ok

echo "== errors: keys"
mkdir keys && cd keys
expect 2 "$CAIRN" put "" ../hello
err_has "key is empty"
expect 2 "$CAIRN" get ""
expect 2 "$CAIRN" head ""
expect 2 "$CAIRN" rm ""
long=$(printf 'k%.0s' $(seq 1 1025))
expect 2 "$CAIRN" put "$long" ../hello
err_has "max_key_bytes"
[[ ! -e cairn-data ]] || fail "a put with a bad key created the store"
cd "$T"
expect 2 "$CAIRN" --store "$S" head "$long"
err_has "max_key_bytes"
expect 2 "$CAIRN" --store "$S" ls --prefix "$long"
err_has "max_key_bytes"
max=$(printf 'k%.0s' $(seq 1 1024))
run --store "$S" put "$max" one
run --store "$S" get "$max" >got
cmp one got || fail "1024-byte key"
ok

echo "== errors: input file"
expect 1 "$CAIRN" --store "$T/nofile" put k "$T/does-not-exist"
err_has "$T/does-not-exist"
[[ ! -e $T/nofile ]] || fail "a put of a missing file created the store"
expect 1 "$CAIRN" --store "$T/nofile" put k "$T/foreign"
err_has "$T/foreign"
ok

echo "== errors: usage"
expect 2 "$CAIRN" frobnicate
err_has "cairn: frobnicate: unknown command"
expect 2 "$CAIRN" --store "$S" frobnicate k
err_has "unknown command"
expect 2 "$CAIRN"
err_has "missing command"
expect 2 "$CAIRN" --store "$S" put
expect 2 "$CAIRN" --store "$S" ls extra-argument
expect 2 "$CAIRN" --store "$S" ls --no-such-flag
expect 2 "$CAIRN" --store "$S" --durability fast put k hello
err_has "--durability"
expect 2 "$CAIRN" --store "$S" put k hello --durability interval=0
expect 2 "$CAIRN" --store "$T/vs" --volume-size 8X put k hello
err_has "--volume-size"
expect 2 "$CAIRN" --store "$T/vs" --volume-size 512K put k hello
err_has "--volume-size"
expect 2 "$CAIRN" --store "$T/vs" --volume-size 65G put k hello
[[ ! -e $T/vs ]] || fail "a usage error created the store"
expect 2 "$CAIRN" --store "$S" ls --limit -1
err_has "--limit"
expect 2 "$CAIRN" --store "$S" ls --limit many
expect 0 "$CAIRN" --help
grep -q 'Usage' "$T/out" || fail "--help prints usage"
expect 0 "$CAIRN" put --help
expect 0 "$CAIRN" --version
grep -qE '^cairn [0-9]' "$T/out" || fail "--version"
ok

echo "== errors: writing stdout fails"
if [[ -w /dev/full ]]; then
  OUT=/dev/full expect 1 "$CAIRN" --store "$S" ls
  err_has "No space left"
  OUT=/dev/full expect 1 "$CAIRN" --store "$S" get file/big
  err_has "No space left"
fi
ok

echo "== errors: a locked store names the pid holding it"
K=$T/locked
run --store "$K" --volume-size 1M put seed one
mkfifo fifo
# Opened read-write, the FIFO has a writer at once, so the reader's open does not block; the
# put then holds the store while it waits for stdin.
exec 3<>fifo
"$CAIRN" --store "$K" put blocked <fifo 3>&- &
BG_PID=$!
for _ in $(seq 1 300); do
  [[ $(tr -d " \n" < "$K/LOCK" 2>/dev/null) == "$BG_PID" ]] && break
  sleep 0.05
done
[[ $(tr -d " \n" < "$K/LOCK") == "$BG_PID" ]] || fail "the blocked put never took the lock"
expect 1 "$CAIRN" --store "$K" ls
err_has "locked by process $BG_PID"
expect 1 "$CAIRN" --store "$K" put other one
err_has "$BG_PID"
printf 'through the fifo' >&3
exec 3>&-
for _ in $(seq 1 300); do
  kill -0 "$BG_PID" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$BG_PID" 2>/dev/null && fail "the blocked put did not finish after its input ended"
rc=0
wait "$BG_PID" || rc=$?
BG_PID=""
[[ $rc == 0 ]] || fail "the blocked put exited $rc"
run --store "$K" get blocked >got
[[ $(cat got) == 'through the fifo' ]] || fail "the blocked put stored: $(cat got)"
ok

echo "== signals: the store is closed cleanly before the process dies"
before=$(volumes "$S")
set +o pipefail
timeout "$LIMIT" "$CAIRN" --store "$S" get file/big 2>"$T/err" | head -c 10 >/dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[[ $rc == 141 ]] || fail "get into a closed pipe exited $rc, want 141 (SIGPIPE)"
[[ ! -s $T/err ]] || fail "a closed pipe is not worth a message: $(cat "$T/err")"
[[ $(volumes "$S") == "$before" ]] || fail "get killed by a closed pipe left the store unclean"
before=$(volumes "$K")
exec 3<>fifo
"$CAIRN" --store "$K" put interrupted <fifo 3>&- 2>"$T/bg.err" &
BG_PID=$!
for _ in $(seq 1 300); do
  [[ $(tr -d " \n" < "$K/LOCK" 2>/dev/null) == "$BG_PID" ]] && break
  sleep 0.05
done
kill -TERM "$BG_PID"
for _ in $(seq 1 300); do
  kill -0 "$BG_PID" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$BG_PID" 2>/dev/null && fail "a put blocked on stdin ignored SIGTERM"
rc=0
wait "$BG_PID" || rc=$?
BG_PID=""
exec 3>&-
[[ $rc == 143 ]] || fail "put stopped by SIGTERM exited $rc, want 143"
[[ $(cat "$T/bg.err") == "cairn: put: interrupted by SIGTERM" ]] ||
  fail "put stopped by SIGTERM said: $(cat "$T/bg.err")"
expect 3 "$CAIRN" --store "$K" head interrupted
[[ $(volumes "$K") == "$before" ]] || fail "put stopped by SIGTERM left the store unclean"
ok

echo "PASS: $PASSED groups"
