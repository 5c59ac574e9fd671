#!/usr/bin/env bash
# End-to-end test of `cairn reclaim` and the reclamation lines of `cairn stat`: a dry run
# changes nothing, a real run releases the dead space (seen by du and by stat), every object
# reads back intact, and a second run finds nothing to do.
#
# Usage: reclaim_cli_test.sh /path/to/cairn
set -euo pipefail
CAIRN=$(realpath "${1:?usage: reclaim_cli_test.sh /path/to/cairn}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export CAIRN_STORE=$T/store LC_ALL=C
fail() { echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2; exit 1; }
c() { timeout 60 "$CAIRN" "$@"; }
stat_field() { c --json stat | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
vol_kib() { du -sk "$CAIRN_STORE/volumes" | cut -f1; }

c --volume-size 4M put first /dev/null
for round in 1 2; do
  for i in $(seq 1 24); do
    head -c 60000 /dev/urandom >"$T/v$i"
    c put "k$i" "$T/v$i"
  done
done
c rm k1
c rm k2
reclaimable=$(stat_field reclaimable_bytes)
(( reclaimable > 24 * 50000 )) || fail "stat shows only $reclaimable reclaimable bytes"
before=$(vol_kib)

c reclaim --dry-run >"$T/dry"
grep -q "hole punching would release" "$T/dry" || fail "dry run said: $(cat "$T/dry")"
[[ $(stat_field reclaimable_bytes) == "$reclaimable" ]] || fail "a dry run changed the store"
[[ $(vol_kib) == "$before" ]] || fail "a dry run released space"

c reclaim >"$T/run"
grep -q "hole punching released" "$T/run" || fail "reclaim said: $(cat "$T/run")"
after=$(vol_kib)
(( before - after >= 24 * 48 )) || fail "du shows $before KiB before and $after KiB after"
[[ $(stat_field reclaimable_bytes) == 0 ]] || fail "still reclaimable after a run"
(( $(stat_field reclaimed_bytes) >= reclaimable )) || fail "stat does not count what was reclaimed"
for i in $(seq 3 24); do
  c get "k$i" >"$T/got"
  cmp -s "$T/got" "$T/v$i" || fail "k$i changed"
done
if c get k1 >/dev/null 2>&1; then fail "deleted k1 came back"; fi
c --json reclaim | python3 -c "import json,sys; j=json.load(sys.stdin); assert j['punched_records']==0, j"
rc=0; c reclaim --bogus >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "a bad flag exited $rc, want 2"
echo "PASS"
