#!/usr/bin/env bash
# End-to-end tests of `cairn verify [--repair]` (src/cli/verify_command.cc) on healthy stores and
# on stores damaged on purpose: a flipped byte, a deleted index, a truncated volume, a locked
# store. Checks exit codes (0 clean, 1 problems or error), that each problem line names the
# volume file and offset, and that --repair leaves a store that verifies clean.
#
# Usage: verify_cli_test.sh /path/to/cairn
set -euo pipefail

CLI_TEST_NAME=verify_cli_test.sh
source "$(dirname "$0")/cli_lib.sh" "$@"

# run ARGS...: runs cairn; it must succeed and print nothing to stderr.
run() {
  local rc=0
  timeout "$LIMIT" "$CAIRN" "$@" >"$T/run.out" 2>"$T/run.err" || rc=$?
  [[ $rc == 0 ]] || fail "cairn $* exited $rc: $(cat "$T/run.err")"
  [[ ! -s $T/run.err ]] || fail "cairn $* wrote to stderr: $(cat "$T/run.err")"
}

# expect CODE ARGS...: cairn ARGS must exit with CODE; stdout in $T/out. On failure its stderr
# must be exactly one line starting with "cairn: ".
expect() {
  local want=$1 rc=0
  shift
  timeout "$LIMIT" "$CAIRN" "$@" >"$T/out" 2>"$T/err" || rc=$?
  [[ $rc == "$want" ]] || fail "cairn $* exited $rc, want $want; stderr: $(cat "$T/err")"
  if [[ $want != 0 ]]; then
    [[ $(wc -l <"$T/err") == 1 ]] || fail "cairn $*: stderr is not one line: $(cat -A "$T/err")"
    [[ $(head -c7 "$T/err") == "cairn: " ]] || fail "cairn $*: stderr does not start with 'cairn: '"
  else
    [[ ! -s $T/err ]] || fail "cairn $* wrote to stderr: $(cat "$T/err")"
  fi
}

out_has() { grep -qE -- "$1" "$T/out" || fail "stdout lacks /$1/: $(cat "$T/out")"; }


# flip FILE OFFSET: inverts the bits of one byte.
flip() {
  python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# fill STORE: values of several sizes (one chunked), overwrites and deletes, over many 1 MiB
# volumes. The first record of volume 1 (offset 4096) is the key "first".
head -c 700000 /dev/urandom >big
fill() {
  local s=$1
  printf 'first value' | run --store "$s" --volume-size 1M put first
  for i in $(seq 1 40); do
    head -c $((i * 3001)) /dev/urandom >"v$i"
    run --store "$s" --durability none put "k/$i" "v$i"
  done
  for i in 3 6 9; do
    head -c 5000 /dev/urandom >"v$i"
    run --store "$s" put "k/$i" "v$i"
  done
  run --store "$s" rm k/4
  run --store "$s" rm k/9
  run --store "$s" put big big
}

# check_contents STORE: every value reads back as written; deleted keys stay deleted.
check_contents() {
  local s=$1
  for i in $(seq 1 40); do
    [[ $i == 4 || $i == 9 ]] && continue
    run --store "$s" get "k/$i" -o got
    cmp "v$i" got || fail "k/$i differs after repair"
  done
  run --store "$s" get big -o got
  cmp big got || fail "big differs after repair"
  expect 3 --store "$s" get k/4
  expect 3 --store "$s" get k/9
}

echo "== a healthy store verifies clean"
S=$T/healthy
fill "$S"
expect 0 --store "$S" verify
out_has '^verified [0-9]+ volumes, [0-9]+ records \(0 punched\), 40 index entries, .* 0 problems$'
[[ $(grep -c '^problem: ' "$T/out" || true) == 0 ]] || fail "problems on a healthy store"
expect 0 --store "$S" --json verify
[[ $(jq_py "$T/out" '(j["ok"], j["index_entries"], len(j["problems"]), j["needs_recovery"])') == \
  "(True, 40, 0, False)" ]] || fail "verify --json: $(cat "$T/out")"
ok

echo "== a flipped byte is reported with its volume file, offset and key"
# A value byte of the first record: 56-byte header (format 2), 5-byte key "first", no metadata.
flip "$S/volumes/00000001.vol" $((4096 + 56 + 5 + 3))
expect 1 --store "$S" verify
out_has '^problem: volumes/00000001\.vol offset 4096: bad-region \([0-9]+ bytes\) key "first": .*value checksum'
out_has '^problem: volumes/00000001\.vol offset 4096: dangling-entry .* key "first"'
out_has ': 2 problems$'
err_has "2 problems"
expect 1 --store "$S" --json verify
[[ $(jq_py "$T/out" '[(p["kind"], p["file"], p["offset"], p["key"]) for p in j["problems"]]') == \
  "[('bad-region', 'volumes/00000001.vol', 4096, 'first'), ('dangling-entry', 'volumes/00000001.vol', 4096, 'first')]" ]] ||
  fail "verify --json problems: $(cat "$T/out")"
expect 1 --store "$S" get first  # the store refuses to hand out damaged bytes
err_has "checksum"
# Repair cannot mend the bytes: the key is gone (it had no older version), the rest is intact,
# and verify still reports the damaged region.
expect 1 --store "$S" verify --repair
out_has '^repair: moved the index aside to .*index\.broken-[0-9]+'
out_has '^problem: volumes/00000001\.vol offset 4096: bad-region'
err_has "remain after the repair"
expect 3 --store "$S" get first
check_contents "$S"
ok

echo "== a deleted index: reported, then rebuilt by --repair"
S=$T/noindex
fill "$S"
rm -rf "$S/index"
expect 1 --store "$S" verify
out_has '^problem: index: bad-index: .*index is missing'
out_has '^note: the index could not be read'
[[ ! -e $S/index ]] || fail "verify created an index"
expect 0 --store "$S" verify --repair
out_has '^repair: there was no index to set aside$'
out_has '^repair: rebuilt the index from the volumes: 40 objects$'
out_has '^repair: rebuild: unclean shutdown; replayed [0-9]+ records'
out_has ' 0 problems$'
expect 0 --store "$S" verify
check_contents "$S"
ok

echo "== a truncated volume: reported, then extended and rebuilt by --repair"
S=$T/truncated
fill "$S"
# Volume 2 holds only small values (the chunked object comes later): cut it in the middle.
last=00000002.vol
[[ -e $S/volumes/00000004.vol ]] || fail "the store does not span enough volumes"
size=$(stat -c %s "$S/volumes/$last")
truncate -s 600000 "$S/volumes/$last"
expect 1 --store "$S" verify
out_has "^problem: volumes/$last offset 600000: bad-volume \\([0-9]+ bytes\\): the file is truncated"
expect 1 --store "$S" get k/1  # the store refuses to open with a volume of the wrong size
expect 0 --store "$S" --json verify --repair
[[ $(jq_py "$T/out" '(j["ok"], j["repair"]["objects"] > 0)') == "(True, True)" ]] ||
  fail "verify --repair --json: $(cat "$T/out")"
[[ $(stat -c %s "$S/volumes/$last") == "$size" ]] || fail "repair did not restore the file size"
expect 0 --store "$S" verify
run --store "$S" get k/1 -o got
cmp v1 got || fail "k/1 (in volume 1) differs after repair"
ok

echo "== a store in use is not verified (exit 1, the pid named)"
S=$T/locked
fill "$S"
mkfifo fifo
exec 3<>fifo
"$CAIRN" --store "$S" put blocked <fifo 3>&- &
BG_PID=$!
for _ in $(seq 1 300); do
  [[ $(tr -d " \n" <"$S/LOCK" 2>/dev/null) == "$BG_PID" ]] && break
  sleep 0.05
done
expect 1 --store "$S" verify
err_has "locked by process $BG_PID"
expect 1 --store "$S" verify --repair
err_has "locked by process $BG_PID"
exec 3>&-
wait "$BG_PID" || fail "the blocked put failed"
BG_PID=""
expect 0 --store "$S" verify
ok

echo "== not a store, and usage"
mkdir empty
expect 1 --store empty verify
err_has "not a Cairn store"
[[ ! -e empty/LOCK ]] || fail "verify of a non-store left a LOCK file"
expect 1 --store "$T/missing" verify
err_has "no store at"
expect 2 --store "$S" verify --bogus
ok

echo "PASS: $PASSED groups"
