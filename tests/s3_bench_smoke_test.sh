#!/usr/bin/env bash
# `cairn bench --s3` against `cairnd --s3-listen` (issue 13 item 9; label `s3`): a bounded smoke
# (300 signed requests of a get/put/delete mix) that must finish with no errors. It checks that
# the load generator and the gateway agree; it measures nothing (bench/s3/run.sh does, when the
# lead schedules it).
#
#   tests/s3_bench_smoke_test.sh CAIRND CAIRN
set -euo pipefail
CAIRND=$1
CAIRN=$2
. "$(cd "$(dirname "$0")" && pwd)/s3_lib.sh" s3_bench AKBENCH
"$CAIRND" --data "$work/data" --listen 127.0.0.1:0 --port-file nport --key-file nkey \
  --volume-size 64M --s3-listen 127.0.0.1:0 --s3-key-file s3key --s3-port-file s3port \
  >cairnd.log 2>&1 &
pids+=($!)
wait_port s3port
out=$("$CAIRN" bench --s3 "http://127.0.0.1:$(cat s3port)" --s3-key-file s3key \
  --s3-bucket bench-smoke --mix get=70,put=20,delete=10 --keys 50 --size 10K --count 300 \
  --connections 4 --timeout-ms 60000 2>&1) || { echo "cairn bench --s3 failed:"; echo "$out"; exit 1; }
echo "$out" | head -3
echo "$out" | grep -q 'errors 0,' || { echo "cairn bench --s3 reported errors"; exit 1; }
# The objects it wrote are S3 objects of bucket bench-smoke, readable as plain store keys too.
"$CAIRN" --server "127.0.0.1:$(cat nport)" --key-file nkey ls --prefix bench-smoke/ >ls.out 2>&1 ||
  { echo "cairn ls failed"; cat ls.out; exit 1; }
grep -q 'bench-smoke/' ls.out || { echo "no bench-smoke/ keys in the store"; cat ls.out; exit 1; }
echo "s3_bench_smoke_test: ok"
