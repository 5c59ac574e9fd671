#!/usr/bin/env bash
# End-to-end tests of `cairn import` and `cairn export` (issue 3; docs/design.md, "Bulk import
# and export"): round trips compared byte for byte, --prefix, files that cannot be imported,
# keys that cannot be exported, interruption and resume, and a damaged store.
#
# Usage: bulk_test.sh /path/to/cairn
# Interruptions happen at a known point through the test hook CAIRN_TEST_INTERRUPT_AFTER_FILES
# (the command sends itself SIGINT after that many files), so no check depends on timing.
set -euo pipefail

CAIRN=$(realpath "${1:?usage: bulk_test.sh /path/to/cairn}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset CAIRN_STORE CAIRN_TEST_INTERRUPT_AFTER_FILES
export LC_ALL=C
cd "$T"

LIMIT=60  # seconds per command: a hang fails the test instead of reaching the ctest timeout
PASSED=0
fail() {
  echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2
  exit 1
}
ok() { PASSED=$((PASSED + 1)); }

# bulk CODE ARGS...: runs cairn ARGS, which must exit with CODE; stdout in $T/cmd.out, stderr in
# $T/cmd.err.
bulk() {
  local want=$1 rc=0
  shift
  timeout "$LIMIT" "$CAIRN" "$@" >"$T/cmd.out" 2>"$T/cmd.err" || rc=$?
  [[ $rc == "$want" ]] || fail "cairn $* exited $rc, want $want; stderr: $(cat "$T/cmd.err")"
}
err_has() { grep -qF -- "$1" "$T/cmd.err" || fail "stderr lacks '$1': $(cat "$T/cmd.err")"; }
# j EXPR: a Python expression over the JSON summary `j` in $T/cmd.out.
j() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/cmd.out" "$1"; }

# A tree: nested directories, empty files, names with spaces, a 9 MiB file (streamed: larger
# than one 4 MiB whole-file read and than a chunk of an 8 MiB volume), 60 small files.
make_tree() {
  local d=$1
  mkdir -p "$d/a/b/c/d" "$d/with space" "$d/empty-dir-with-file"
  : >"$d/zero"
  : >"$d/a/b/c/d/also-empty"
  printf 'hello\n' >"$d/with space/hello world.txt"
  head -c 9M /dev/urandom >"$d/a/big.bin"
  for i in $(seq 1 60); do head -c $((i * 997)) /dev/urandom >"$d/a/b/small$i"; done
  head -c 4096 /dev/urandom >"$d/empty-dir-with-file/x"
}

echo "== round trip: import, export, byte for byte"
make_tree src
S=$T/store
bulk 0 --store "$S" --volume-size 8M --json import src
[[ $(j '(j["files"], j["imported"], j["already_done"], j["failed"], j["interrupted"])') == \
   "(65, 65, 0, 0, False)" ]] || fail "import summary: $(cat "$T/cmd.out")"
total=$(find src -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
[[ $(j 'j["bytes"]') == "$total" ]] || fail "import bytes, want $total: $(cat "$T/cmd.out")"
bulk 0 --store "$S" get "with space/hello world.txt"
[[ $(cat "$T/cmd.out") == hello ]] || fail "key of a nested file with spaces"
bulk 0 --store "$S" --json export out
[[ $(j '(j["files"], j["exported"], j["failed"])') == "(65, 65, 0)" ]] ||
  fail "export summary: $(cat "$T/cmd.out")"
diff -r src out || fail "exported tree differs"
[[ -z $(find out -name '*.cairn-tmp') ]] || fail "export left temporary files"
# The exported file's mtime is the object's: that is what a resumed export checks.
bulk 0 --store "$S" --json head a/big.bin
want=$(j 'j["mtime_us"]')
got=$(python3 -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns // 1000)' out/a/big.bin)
[[ $got == "$want" ]] || fail "exported mtime $got, object mtime $want"
bulk 0 --store "$S" import src  # plain summary on stdout
grep -qE '^imported 0 of 65 files .* 65 already done; 0 failed$' "$T/cmd.out" ||
  fail "plain summary: $(cat "$T/cmd.out")"
[[ ! -s $T/cmd.err ]] || fail "a clean import wrote to stderr: $(cat "$T/cmd.err")"
ok

echo "== --prefix"
P=$T/pstore
bulk 0 --store "$P" --volume-size 8M import src --prefix backup/
bulk 0 --store "$P" ls
[[ $(grep -vc '^backup/' "$T/cmd.out") == 0 && $(wc -l <"$T/cmd.out") == 65 ]] ||
  fail "keys outside the prefix: $(head "$T/cmd.out")"
bulk 0 --store "$P" put other/key src/zero
bulk 0 --store "$P" --json export pout --prefix backup/
[[ $(j 'j["files"]') == 65 ]] || fail "export --prefix took other keys: $(cat "$T/cmd.out")"
diff -r src pout || fail "export --prefix differs"
bulk 0 --store "$P" export pall  # no prefix: the keys' own paths
diff -r src pall/backup || fail "export without prefix differs"
[[ -f pall/other/key ]] || fail "export without prefix missed other/key"
ok

echo "== files that cannot be imported are reported, skipped, and the rest is stored"
mkdir -p bad/sub
printf 'keep me' >bad/sub/good
mkfifo bad/fifo
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' bad/sock
ln -s /etc/passwd bad/link
ln -s no-such-target bad/dangling
long=$(printf 'n%.0s' $(seq 1 200))
mkdir -p "bad/$long/$long/$long/$long/$long/$long"
echo deep >"bad/$long/$long/$long/$long/$long/$long/f"  # its key is over max_key_bytes
want_failed=5
if [[ $(id -u) != 0 ]]; then  # root reads a mode-000 file anyway
  printf 'secret' >bad/unreadable
  chmod 000 bad/unreadable
  want_failed=6
fi
B=$T/bstore
bulk 1 --store "$B" --volume-size 8M --json import bad
for name in fifo sock link dangling; do err_has "cairn: import: $name: "; done
err_has "max_key_bytes"
[[ $want_failed == 5 ]] || err_has "cairn: import: unreadable: "
err_has "cairn: import: $want_failed of $((want_failed + 1)) files failed"
[[ $(j '(j["imported"], j["failed"])') == "(1, $want_failed)" ]] ||
  fail "import with failures: $(cat "$T/cmd.out")"
[[ $(j 'sorted(f["path"] for f in j["failures"])[:3]') == "['dangling', 'fifo', 'link']" ]] ||
  fail "failures by name: $(cat "$T/cmd.out")"
bulk 0 --store "$B" get sub/good
[[ $(cat "$T/cmd.out") == 'keep me' ]] || fail "the readable file was not stored"
[[ $want_failed == 5 ]] || chmod 600 bad/unreadable
ok

echo "== import skips the store when it lies inside DIR"
mkdir -p inner
printf 'x' >inner/file
bulk 0 --store inner/cairn-data --volume-size 8M put seed src/zero
bulk 0 --store inner/cairn-data --json import inner
[[ $(j '(j["files"], j["imported"])') == "(1, 1)" ]] || fail "imported the store: $(cat "$T/cmd.out")"
ok

echo "== resume: finished files are not read again"
R=$T/rstore
cp -a src rsrc
bulk 0 --store "$R" --volume-size 8M import rsrc
# Same size, new content, an old mtime: a rerun must take it as finished without reading it.
printf 'HELLO\n' >"rsrc/with space/hello world.txt"
touch -d '2001-01-01' "rsrc/with space/hello world.txt"
bulk 0 --store "$R" --json import rsrc
[[ $(j '(j["imported"], j["already_done"])') == "(0, 65)" ]] || fail "rerun: $(cat "$T/cmd.out")"
bulk 0 --store "$R" get "with space/hello world.txt"
[[ $(cat "$T/cmd.out") == hello ]] || fail "a finished file was read again"
touch "rsrc/with space/hello world.txt"  # now newer than its object: imported again
bulk 0 --store "$R" --json import rsrc
[[ $(j '(j["imported"], j["already_done"])') == "(1, 64)" ]] || fail "touched file: $(cat "$T/cmd.out")"
bulk 0 --store "$R" get "with space/hello world.txt"
[[ $(cat "$T/cmd.out") == HELLO ]] || fail "the touched file was not imported again"
ok

echo "== interrupted import: SIGINT, a clean close, and a resume that redoes nothing"
mkdir many
for i in $(seq 1 120); do head -c $((1000 + i)) /dev/urandom >"many/f$i"; done
I=$T/istore
rc=0
CAIRN_TEST_INTERRUPT_AFTER_FILES=10 timeout "$LIMIT" "$CAIRN" --store "$I" --volume-size 8M \
  --json import many --jobs 4 >"$T/cmd.out" 2>"$T/cmd.err" || rc=$?
[[ $rc == 130 ]] || fail "interrupted import exited $rc, want 130 (SIGINT); $(cat "$T/cmd.err")"
[[ $(cat "$T/cmd.err") == "cairn: import: interrupted by SIGINT" ]] ||
  fail "interrupted import said: $(cat "$T/cmd.err")"
[[ $(j 'j["interrupted"]') == True ]] || fail "summary: $(cat "$T/cmd.out")"
first=$(j 'j["imported"]')
((first >= 10 && first < 120)) || fail "imported $first before stopping"
bulk 0 --store "$I" --json import many
[[ -z $(cat "$T/cmd.err") ]] || fail "the store was not closed cleanly: $(cat "$T/cmd.err")"
[[ $(j '(j["already_done"], j["imported"])') == "($first, $((120 - first)))" ]] ||
  fail "resume after $first: $(cat "$T/cmd.out")"
bulk 0 --store "$I" export iout
diff -r many iout || fail "resumed import differs"
ok

echo "== interrupted export: no partial file, and a resume that redoes nothing"
rc=0
CAIRN_TEST_INTERRUPT_AFTER_FILES=10 timeout "$LIMIT" "$CAIRN" --store "$I" --json export eout \
  --jobs 4 >"$T/cmd.out" 2>"$T/cmd.err" || rc=$?
[[ $rc == 130 ]] || fail "interrupted export exited $rc, want 130; $(cat "$T/cmd.err")"
first=$(j 'j["exported"]')
((first >= 10 && first < 120)) || fail "exported $first before stopping"
[[ $(find eout -type f | wc -l) == "$first" ]] || fail "files on disk != $first exported"
[[ -z $(find eout -name '*.cairn-tmp') ]] || fail "interrupted export left temporary files"
bulk 0 --store "$I" --json export eout
[[ $(j '(j["already_done"], j["exported"])') == "($first, $((120 - first)))" ]] ||
  fail "export resume after $first: $(cat "$T/cmd.out")"
diff -r many eout || fail "resumed export differs"
# A file changed since (another mtime) is written again; one of another size too.
echo changed >eout/f1
touch -d '2001-01-01' eout/f2
bulk 0 --store "$I" --json export eout
[[ $(j '(j["already_done"], j["exported"])') == "(118, 2)" ]] || fail "rewrite: $(cat "$T/cmd.out")"
diff -r many eout || fail "export did not repair changed files"
ok

echo "== export refuses keys that would leave DIR"
X=$T/xstore
for k in ../escape a//b /abs a/../../up . dir/ ok/file; do
  bulk 0 --store "$X" --volume-size 8M put -- "$k" src/zero
done
mkdir xout
bulk 1 --store "$X" --json export xout/inner
for k in ../escape a//b /abs a/../../up . dir/; do err_has "cairn: export: \"$k\": "; done
err_has "cairn: export: 6 of 7 objects failed"
[[ $(j '(j["exported"], j["failed"])') == "(1, 6)" ]] || fail "export of bad keys: $(cat "$T/cmd.out")"
[[ $(cd xout && find . | sort | tr '\n' ' ') == ". ./inner ./inner/ok ./inner/ok/file " ]] ||
  fail "export wrote outside its files: $(cd xout && find .)"
[[ ! -e escape && ! -e "$T/escape" && ! -e /abs ]] || fail "a key escaped DIR"
ok

echo "== export through a symbolic link is refused"
L=$T/lstore
bulk 0 --store "$L" --volume-size 8M put lnk/file src/zero
mkdir -p lout elsewhere
ln -s ../elsewhere lout/lnk
bulk 1 --store "$L" export lout
err_has "not a directory"
[[ -z $(ls elsewhere) ]] || fail "export followed a symbolic link"
ok

echo "== a damaged object is reported by key; the others are exported"
D=$T/dstore
mkdir dsrc
for i in 1 2 3; do head -c 20000 /dev/urandom >"dsrc/f$i"; done
{ head -c 1000 /dev/urandom; printf 'UNIQUE-MARKER-7f3a9c'; head -c 1000 /dev/urandom; } >dsrc/victim
bulk 0 --store "$D" --volume-size 8M import dsrc
vol=$(grep -la 'UNIQUE-MARKER-7f3a9c' "$D"/volumes/*.vol)
[[ $(wc -l <<<"$vol") == 1 ]] || fail "marker found in $(wc -l <<<"$vol") volumes"
off=$(grep -boa 'UNIQUE-MARKER-7f3a9c' "$vol" | head -1 | cut -d: -f1)
printf 'X' | dd of="$vol" bs=1 seek="$off" conv=notrunc status=none
bulk 1 --store "$D" --json export dout
err_has 'cairn: export: "victim": '
err_has "1 of 4 objects failed"
[[ $(j '(j["exported"], [f["key"] for f in j["failures"]])') == "(3, ['victim'])" ]] ||
  fail "damaged export: $(cat "$T/cmd.out")"
for i in 1 2 3; do cmp "dsrc/f$i" "dout/f$i" || fail "f$i differs"; done
[[ ! -e dout/victim && ! -e dout/victim.cairn-tmp ]] || fail "a damaged object left a file"
ok

echo "== usage and errors"
bulk 2 --store "$T/u" import
bulk 2 --store "$T/u" import src --jobs 0
err_has "--jobs"
bulk 2 --store "$T/u" import src --prefix "$(printf 'p%.0s' $(seq 1 1025))"
err_has "max_key_bytes"
bulk 1 --store "$T/u" import no-such-dir
err_has "no-such-dir"
[[ ! -e $T/u ]] || fail "an import of a missing directory created a store"
bulk 1 --store "$T/u" export uout
err_has "no store at"
bulk 2 --store "$S" export "$S/volumes/x"
err_has "inside the store"
ok

echo "PASS: $PASSED groups"
