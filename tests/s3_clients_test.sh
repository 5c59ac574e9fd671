#!/usr/bin/env bash
# The S3 gateway with the real clients Debian ships (issue 13; label `s3`): awscli
# (/usr/bin/aws), s3cmd, rclone and python3-boto3 against `cairnd --s3-listen`, then the same
# session through the stand-alone `cairn-s3` in front of that cairnd. Each client: its bucket
# life cycle; put and get of 0 B, 1 B, 1 MiB and 300 MiB (through its own multipart path),
# compared byte for byte; listings with prefixes, delimiters, paging and awkward keys; copy;
# ranges; metadata; delete and batch delete; presigned GET and PUT with curl. Then each client
# over HTTPS (a second cairnd with a self-signed certificate), and, when the machine has one
# besides Debian's, a newer botocore (its aws-chunked bodies with trailing checksums).
#
#   tests/s3_clients_test.sh CAIRND CAIRN_S3
# Env: CAIRN_S3_BIG_MIB (default 300): the large object's size (scripts/test's ASan stage uses a
# smaller one; the multipart paths are the same).
set -euo pipefail
CAIRND=$1
CAIRN_S3=$2
AWS=/usr/bin/aws  # a pyenv copy may shadow Debian's on PATH
for tool in "$AWS" s3cmd rclone curl python3; do
  command -v "$tool" >/dev/null || { echo "s3_clients_test: $tool is missing (scripts/deps installs it)"; exit 1; }
done
/usr/bin/python3 -c 'import boto3' || { echo "s3_clients_test: python3-boto3 is missing"; exit 1; }

. "$(cd "$(dirname "$0")" && pwd)/s3_lib.sh" s3_clients AKCAIRNTEST
fails=0
passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() {  # check DESCRIPTION CMD...
  local what=$1; shift
  if "$@" >/dev/null 2>>"$work/errors"; then ok; else fail "$what"; tail -5 "$work/errors"; fi
}
same() { cmp -s "$1" "$2"; }

"$CAIRND" --data "$work/data" --listen 127.0.0.1:0 --port-file nport --key-file nkey \
  --volume-size 512M --s3-listen 127.0.0.1:0 --s3-key-file s3key --s3-port-file s3port \
  --http-listen 127.0.0.1:0 --http-port-file hport >cairnd.log 2>&1 &
pids+=($!)
wait_port s3port
wait_port nport
wait_port hport

# Files every client puts and gets back.
: > f0
printf 'x' > f1
head -c $((1 << 20)) /dev/urandom > f1m
BIG_MIB=${CAIRN_S3_BIG_MIB:-300}
head -c $((BIG_MIB << 20)) /dev/urandom > fbig
head -c $((40 << 20)) /dev/urandom > f40m

run_session() {  # run_session ENDPOINT_URL LABEL BIG_FILE AWS_PARTS S3CMD_PARTS
  local EP=$1 L=$2 BIG=$3 AWS_PARTS=$4 S3CMD_PARTS=$5
  local HP=${EP#http://}

  # ---- awscli
  export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=$work/none AWS_SHARED_CREDENTIALS_FILE=$work/none AWS_PAGER=""
  # Wrappers as files, so that `bash -c` checks can call them too.
  printf '#!/bin/sh\nexec %s --endpoint-url %s "$@"\n' "$AWS" "$EP" > "$work/awsx"
  printf '#!/bin/sh\nexec s3cmd -c %s/s3cfg --no-progress "$@"\n' "$work" > "$work/s3c"
  printf '#!/bin/sh\nexec env -u AWS_CA_BUNDLE rclone --config %s/rclone.conf -q "$@"\n' "$work" > "$work/rc"
  chmod 700 "$work/awsx" "$work/s3c" "$work/rc"
  local A=("$work/awsx")
  local b=aws-$L
  check "$L awscli mb" "${A[@]}" s3 mb "s3://$b"
  for f in f0 f1 f1m $BIG; do
    check "$L awscli put $f" "${A[@]}" s3 cp "$f" "s3://$b/dir/$f"
    check "$L awscli get $f" "${A[@]}" s3 cp "s3://$b/dir/$f" "got.$f"
    check "$L awscli bytes $f" same "$f" "got.$f"
    rm -f "got.$f"
  done
  check "$L awscli $BIG is multipart" bash -c "$work/awsx s3api head-object --bucket $b --key dir/$BIG --query ETag --output text | grep -q -- '-$AWS_PARTS\"\$'"
  check "$L awscli range" bash -c "$work/awsx s3api get-object --bucket $b --key dir/f1m --range bytes=100-199 r.out >/dev/null && cmp r.out <(tail -c +101 f1m | head -c 100)"
  check "$L awscli metadata" "${A[@]}" s3api put-object --bucket $b --key meta --body f1 --metadata color=blue,shape=round --content-type text/x-test --cache-control no-cache
  check "$L awscli metadata back" bash -c "$work/awsx s3api head-object --bucket $b --key meta | tr -d ' \n' | grep -q '\"ContentType\":\"text/x-test\".*\"Metadata\":{\"color\":\"blue\",\"shape\":\"round\"}'"
  check "$L awscli copy" "${A[@]}" s3 cp "s3://$b/dir/f1m" "s3://$b/copy/f1m"
  check "$L awscli copy bytes" bash -c "$work/awsx s3 cp s3://$b/copy/f1m - | cmp - f1m"
  for k in "sp ace" "plus+sign" "pct%41" "uni-é-日本" "trail/" "a/b/c"; do
    check "$L awscli awkward put '$k'" "${A[@]}" s3api put-object --bucket $b --key "odd/$k" --body f1
  done
  check "$L awscli list v2 paged" bash -c "$work/awsx s3api list-objects-v2 --bucket $b --prefix odd/ --page-size 2 --query 'Contents[].Key' --output text | tr '\t' '\n' | sort > keys.txt && printf '%s\n' 'odd/a/b/c' 'odd/pct%41' 'odd/plus+sign' 'odd/sp ace' 'odd/trail/' 'odd/uni-é-日本' | sort | diff - keys.txt"
  check "$L awscli ls delimiter" bash -c "$work/awsx s3 ls s3://$b/odd/ | grep -q 'PRE a/' && $work/awsx s3 ls s3://$b/odd/ | grep -q 'plus+sign'"
  check "$L awscli presign get" bash -c "curl -sf \"\$($work/awsx s3 presign s3://$b/dir/f1m --expires-in 60)\" | cmp - f1m"
  check "$L awscli rm" "${A[@]}" s3 rm "s3://$b/dir/$BIG"
  check "$L awscli batch delete" "${A[@]}" s3api delete-objects --bucket $b --delete '{"Objects":[{"Key":"dir/f0"},{"Key":"dir/f1"},{"Key":"nope"}]}'
  check "$L awscli deleted" bash -c "! $work/awsx s3api head-object --bucket $b --key dir/f0"
  check "$L awscli rb --force" "${A[@]}" s3 rb --force "s3://$b"
  check "$L awscli bucket gone" bash -c "! $work/awsx s3api head-bucket --bucket $b"

  # ---- s3cmd
  cat > s3cfg <<EOF
[default]
access_key = $AK
secret_key = $SECRET
host_base = $HP
host_bucket = $HP
use_https = False
signature_v2 = False
EOF
  local S=("$work/s3c")
  b=s3cmd-$L
  check "$L s3cmd mb" "${S[@]}" mb "s3://$b"
  for f in f0 f1 f1m $BIG; do
    check "$L s3cmd put $f" "${S[@]}" put "$f" "s3://$b/d/$f"
    check "$L s3cmd get $f" "${S[@]}" get --force "s3://$b/d/$f" "got.$f"
    check "$L s3cmd bytes $f" same "$f" "got.$f"
    rm -f "got.$f"
  done
  check "$L s3cmd $BIG is multipart" bash -c "$work/awsx s3api head-object --bucket $b --key d/$BIG --query ETag --output text | grep -q -- '-$S3CMD_PARTS\"\$'"
  check "$L s3cmd metadata" "${S[@]}" put --add-header=x-amz-meta-color:green f1 "s3://$b/meta"
  check "$L s3cmd metadata back" bash -c "$work/s3c info s3://$b/meta | grep -qi 'x-amz-meta-color: green'"
  check "$L s3cmd info" bash -c "$work/s3c info s3://$b | grep -q 'Location:'"
  for k in "sp ace" "plus+sign" "pct%41" "uni-é-日本"; do
    check "$L s3cmd awkward '$k'" "${S[@]}" put f1 "s3://$b/odd/$k"
  done
  check "$L s3cmd ls delimiter" bash -c "$work/s3c ls s3://$b/ | grep -q 'DIR.*s3://$b/odd/'"
  check "$L s3cmd ls keys" bash -c "[ \$($work/s3c ls s3://$b/odd/ | wc -l) = 4 ] && $work/s3c ls s3://$b/odd/ | grep -q 'odd/plus+sign' && $work/s3c ls s3://$b/odd/ | grep -q 'odd/pct%41'"
  check "$L s3cmd cp" "${S[@]}" cp "s3://$b/d/f1m" "s3://$b/copy"
  check "$L s3cmd cp bytes" bash -c "$work/s3c get s3://$b/copy - | cmp - f1m"
  check "$L s3cmd del" "${S[@]}" del "s3://$b/d/$BIG"
  check "$L s3cmd rb" "${S[@]}" rb --recursive --force "s3://$b"

  # ---- rclone (AWS_CA_BUNDLE unset: rclone would try to read it)
  cat > rclone.conf <<EOF
[c]
type = s3
provider = Other
access_key_id = $AK
secret_access_key = $SECRET
endpoint = $EP
EOF
  local R=("$work/rc")
  b=rclone-$L
  check "$L rclone mkdir" "${R[@]}" mkdir "c:$b"
  for f in f0 f1 f1m $BIG; do
    check "$L rclone put $f" "${R[@]}" copyto "$f" "c:$b/d/$f"
    check "$L rclone get $f" "${R[@]}" copyto "c:$b/d/$f" "got.$f"
    check "$L rclone bytes $f" same "$f" "got.$f"
    rm -f "got.$f"
  done
  # rclone's own multipart path: above its 200 MiB upload cutoff, 5 MiB parts.
  local big_bytes
  big_bytes=$(stat -c %s "$BIG")
  if [ "$big_bytes" -gt $((200 << 20)) ]; then
    check "$L rclone $BIG is multipart" bash -c "$work/awsx s3api head-object --bucket $b --key d/$BIG --query ETag --output text | grep -q -- '-$(((big_bytes + (5 << 20) - 1) / (5 << 20)))\"\$'"
  fi
  for k in "sp ace" "plus+sign" "pct%41" "uni-é-日本"; do
    check "$L rclone awkward '$k'" "${R[@]}" copyto f1 "c:$b/odd/$k"
  done
  check "$L rclone ls paged" bash -c "$work/rc --s3-list-chunk 2 lsf c:$b/odd/ | sort > rk.txt && printf '%s\n' 'pct%41' 'plus+sign' 'sp ace' 'uni-é-日本' | sort | diff - rk.txt"
  check "$L rclone cat range" bash -c "$work/rc cat --offset 1000 --count 10 c:$b/d/f1m | cmp - <(tail -c +1001 f1m | head -c 10)"
  check "$L rclone copy" "${R[@]}" copyto "c:$b/d/f1m" "c:$b/copy"
  check "$L rclone copy bytes" bash -c "$work/rc cat c:$b/copy | cmp - f1m"
  check "$L rclone deletefile" "${R[@]}" deletefile "c:$b/d/$BIG"
  check "$L rclone purge" "${R[@]}" purge "c:$b"

  # ---- boto3
  check "$L boto3" /usr/bin/python3 - "$EP" "$AK" "$SECRET" "$L" "$BIG" "$AWS_PARTS" <<'EOF'
import sys, hashlib, urllib.request, subprocess
import boto3, botocore
from botocore.config import Config
ep, ak, secret, label, big, parts = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=secret,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
b = "boto3-" + label
s3.create_bucket(Bucket=b)
s3.create_bucket(Bucket=b + "-loc", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
assert s3.get_bucket_location(Bucket=b + "-loc")["LocationConstraint"] == "eu-west-1"
s3.delete_bucket(Bucket=b + "-loc")
for f in ["f0", "f1", "f1m", big]:
    s3.upload_file(f, b, "d/" + f)  # multipart above 8 MiB
    s3.download_file(b, "d/" + f, "got." + f)
    assert open(f, "rb").read() == open("got." + f, "rb").read(), f
head = s3.head_object(Bucket=b, Key="d/" + big)
assert head["ETag"].endswith('-%s"' % parts), head["ETag"]
assert s3.get_object(Bucket=b, Key="d/" + big, PartNumber=2)["ContentLength"] == 8 << 20
s3.put_object(Bucket=b, Key="m", Body=b"hello", Metadata={"k": "v"}, ContentType="text/plain",
              ContentDisposition="attachment")
r = s3.get_object(Bucket=b, Key="m", Range="bytes=-3")
assert r["Body"].read() == b"llo" and r["Metadata"] == {"k": "v"}
assert r["ContentDisposition"] == "attachment"
s3.copy_object(Bucket=b, Key="m2", CopySource={"Bucket": b, "Key": "m"},
               MetadataDirective="REPLACE", Metadata={"new": "1"})
assert s3.head_object(Bucket=b, Key="m2")["Metadata"] == {"new": "1"}
keys = ["odd/sp ace", "odd/plus+sign", "odd/pct%41", "odd/uni-é-日本", "odd/trail/", "odd/x/y"]
for k in keys:
    s3.put_object(Bucket=b, Key=k, Body=b"1")
got = []
for page in s3.get_paginator("list_objects").paginate(Bucket=b, Prefix="odd/", PaginationConfig={"PageSize": 2}):
    got += [o["Key"] for o in page.get("Contents", [])]
assert got == sorted(keys), got
got = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix="odd/", Delimiter="/", PaginationConfig={"PageSize": 2}):
    got += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
assert sorted(got) == sorted([k for k in keys if k != "odd/x/y"] + ["odd/x/"]), got
vers = s3.list_object_versions(Bucket=b, Prefix="odd/")
assert all(v["VersionId"] == "null" for v in vers["Versions"]) and len(vers["Versions"]) == 6
try:
    s3.put_object(Bucket=b, Key="m", Body=b"no", IfNoneMatch="*")
    raise SystemExit("conditional put overwrote")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
except botocore.exceptions.ParamValidationError:
    pass  # this boto3 (Debian's 1.26) predates IfNoneMatch; s3_gateway_test covers it
# Presigned PUT and GET with curl.
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "pre"}, ExpiresIn=60)
subprocess.run(["curl", "-sf", "-X", "PUT", "--data-binary", "@f1m", put_url], check=True)
get_url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "pre"}, ExpiresIn=60)
data = subprocess.run(["curl", "-sf", get_url], check=True, capture_output=True).stdout
assert data == open("f1m", "rb").read()
out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys + ["m", "m2", "pre"]]})
assert len(out["Deleted"]) == len(keys) + 3
s3.abort_multipart_upload  # exists
up = s3.create_multipart_upload(Bucket=b, Key="abandoned")["UploadId"]
s3.upload_part(Bucket=b, Key="abandoned", UploadId=up, PartNumber=1, Body=b"x" * 100)
assert s3.list_multipart_uploads(Bucket=b)["Uploads"][0]["UploadId"] == up
assert s3.list_parts(Bucket=b, Key="abandoned", UploadId=up)["Parts"][0]["Size"] == 100
s3.abort_multipart_upload(Bucket=b, Key="abandoned", UploadId=up)
for f in ["f0", "f1", "f1m", big]:
    s3.delete_object(Bucket=b, Key="d/" + f)
s3.delete_bucket(Bucket=b)
try:
    s3.head_bucket(Bucket=b)
    raise SystemExit("bucket still there")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "404"
EOF
  rm -f got.* r.out keys.txt rk.txt
}

# 300 MiB: 38 parts of 8 MiB (awscli, boto3), 20 of 15 MiB (s3cmd), 5 MiB parts (rclone, above
# 200 MiB).
run_session "http://127.0.0.1:$(cat s3port)" node fbig $(((BIG_MIB + 7) / 8)) $(((BIG_MIB + 14) / 15))

# Issue 14: the S3 requests of that session in /metrics, by S3 operation and error code, with
# their latency histograms; an unsigned GET is refused (AccessDenied) and counted so.
# metric_at_least URL LINE_PREFIX N: a sample of /metrics at URL starting so is at least N.
metric_at_least() {
  curl -sS -f -m 10 "$1/metrics" | python3 -c '
import sys
prefix, n = sys.argv[1], float(sys.argv[2])
vals = [float(l[len(prefix):].split()[-1]) for l in sys.stdin if l.startswith(prefix + " ") or l.startswith(prefix + "{")]
sys.exit(0 if vals and max(vals) >= n else 1)' "$2" "$3"
}
curl -s -o /dev/null "http://127.0.0.1:$(cat s3port)/awsbucket/nothing-here" || true
H="http://127.0.0.1:$(cat hport)"
check "node /metrics: PutObject requests counted" metric_at_least "$H" 'cairn_s3_requests_total{op="PutObject"}' 4
check "node /metrics: multipart uploads counted" metric_at_least "$H" 'cairn_s3_requests_total{op="UploadPart"}' 3
check "node /metrics: GetObject latency histogram" metric_at_least "$H" 'cairn_s3_request_duration_seconds_count{op="GetObject"}' 4
check "node /metrics: the unsigned GET counted as AccessDenied" \
  metric_at_least "$H" 'cairn_s3_request_errors_total{op="GetObject",code="AccessDenied"}' 1
check "node /metrics: S3 bytes sent" metric_at_least "$H" 'cairn_s3_sent_bytes_total' $((BIG_MIB << 20))
if command -v promtool >/dev/null; then
  check "node /metrics: promtool accepts it" bash -c "curl -sS -f -m 10 '$H/metrics' | promtool check metrics"
fi

# The same session through cairn-s3 in front of the node (a RemoteObjectStore: no pins, the
# parts of a multipart upload streamed into the object). Its s3_keepalive_ms is 1, so every
# Complete and copy answers the long way (the 200 first, spaces, then the answer: docs/s3.md,
# "Long answers"): each client must take that as S3 sends it.
(umask 077 && printf 's3_keepalive_ms = 1\n' > gw.toml)
"$CAIRN_S3" --server "127.0.0.1:$(cat nport)" --key-file nkey --s3-listen 127.0.0.1:0 \
  --s3-key-file s3key --s3-port-file gwport --http-listen 127.0.0.1:0 --http-port-file gwhport \
  --config gw.toml >cairn-s3.log 2>&1 &
pids+=($!)
wait_port gwport
wait_port gwhport
# 40 MiB here (multipart for awscli, boto3 and s3cmd; rclone puts it whole): the 300 MiB path
# is the same code, and the suite stays within a few minutes.
run_session "http://127.0.0.1:$(cat gwport)" gw f40m 5 3
# cairn-s3's own /metrics, /healthz and /readyz (--http-listen; no status page there).
GH="http://127.0.0.1:$(cat gwhport)"
check "cairn-s3 /metrics: PutObject requests counted" metric_at_least "$GH" 'cairn_s3_requests_total{op="PutObject"}' 4
check "cairn-s3 /metrics: GetObject latency histogram" metric_at_least "$GH" 'cairn_s3_request_duration_seconds_count{op="GetObject"}' 4
check "cairn-s3 /metrics: build_info" metric_at_least "$GH" 'cairn_build_info' 1
# At least the three 40 MiB Completes (awscli, s3cmd, boto3); a small copy may end within 1 ms.
check "cairn-s3 /metrics: Completes and copies answered the long way" \
  metric_at_least "$GH" 'cairn_s3_long_answers_total' 3
check "cairn-s3 /healthz" curl -sS -f -m 10 "$GH/healthz"
check "cairn-s3 /readyz: ready while its cairnd answers" curl -sS -f -m 10 "$GH/readyz"
check "cairn-s3 has no status page: 404" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$GH/')\" = 404 ]"
check "cairn-s3 /metrics refuses POST (405)" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST '$GH/metrics')\" = 405 ]"
if command -v promtool >/dev/null; then
  check "cairn-s3 /metrics: promtool accepts it" bash -c "curl -sS -f -m 10 '$GH/metrics' | promtool check metrics"
fi

# ---- TLS (s3_tls_cert_file): a second cairnd serving S3 over HTTPS with a self-signed
# certificate for 127.0.0.1. Over HTTPS awscli and boto3 send UNSIGNED-PAYLOAD, and GETs cannot
# use sendfile (the bytes are encrypted in this process).
openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
"$CAIRND" --data "$work/tdata" --listen 127.0.0.1:0 --port-file tnport --key-file nkey \
  --volume-size 256M --s3-listen 127.0.0.1:0 --s3-key-file s3key --s3-port-file ts3port \
  --s3-tls-cert-file tls.crt --s3-tls-key-file tls.key >cairnd-tls.log 2>&1 &
pids+=($!)
wait_port ts3port
TEP="https://127.0.0.1:$(cat ts3port)"
printf '#!/bin/sh\nexec %s --endpoint-url %s --ca-bundle %s/tls.crt "$@"\n' "$AWS" "$TEP" "$work" > "$work/awst"
chmod 700 "$work/awst"
check "tls: plain HTTP is not served" bash -c "! curl -sf --max-time 5 http://127.0.0.1:$(cat ts3port)/"
check "tls: anonymous gets AccessDenied" bash -c "curl -s --cacert tls.crt $TEP/ | grep -q AccessDenied"
check "tls awscli mb" "$work/awst" s3 mb s3://tls
check "tls awscli put 40 MiB (multipart)" "$work/awst" s3 cp f40m s3://tls/big
check "tls awscli get 40 MiB (ranges)" bash -c "$work/awst s3 cp s3://tls/big - | cmp - f40m"
check "tls awscli multipart ETag" bash -c "$work/awst s3api head-object --bucket tls --key big --query ETag --output text | grep -q -- '-5\"\$'"
check "tls presigned get" bash -c "curl -sf --cacert tls.crt \"\$($work/awst s3 presign s3://tls/big --expires-in 60)\" | cmp - f40m"
cat > s3cfg-tls <<EOF
[default]
access_key = $AK
secret_key = $SECRET
host_base = 127.0.0.1:$(cat ts3port)
host_bucket = 127.0.0.1:$(cat ts3port)
use_https = True
check_ssl_certificate = True
ca_certs_file = $work/tls.crt
signature_v2 = False
EOF
check "tls s3cmd put" s3cmd -c s3cfg-tls --no-progress put f1m s3://tls/s3cmd
check "tls s3cmd get" bash -c "s3cmd -c s3cfg-tls --no-progress get s3://tls/s3cmd - | cmp - f1m"
cat > rclone-tls.conf <<EOF
[t]
type = s3
provider = Other
access_key_id = $AK
secret_access_key = $SECRET
endpoint = $TEP
EOF
check "tls rclone put" env -u AWS_CA_BUNDLE rclone --config rclone-tls.conf --ca-cert tls.crt -q copyto f1m t:tls/rclone
check "tls rclone get" bash -c "env -u AWS_CA_BUNDLE rclone --config rclone-tls.conf --ca-cert tls.crt -q cat t:tls/rclone | cmp - f1m"
check "tls boto3" /usr/bin/python3 - "$TEP" "$AK" "$SECRET" <<'PY'
import sys, boto3
from botocore.config import Config
ep, ak, secret = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=secret,
                  region_name="us-east-1", verify="tls.crt",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
s3.put_object(Bucket="tls", Key="b", Body=b"over tls", Metadata={"m": "1"})
r = s3.get_object(Bucket="tls", Key="b")
assert r["Body"].read() == b"over tls" and r["Metadata"] == {"m": "1"}
tail = s3.get_object(Bucket="tls", Key="big", Range="bytes=-5")["Body"].read()
assert tail == open("f40m", "rb").read()[-5:]
PY

# ---- A newer botocore, when this machine has one besides Debian's (not a Debian package, so
# optional: CI skips it). Over HTTPS it sends STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies
# (aws-chunked with a trailing x-amz-checksum-crc32), over HTTP x-amz-checksum-crc32 headers
# and no Content-MD5; it asks for checksums on GET.
NEWPY=$(command -v python3 || true)
if [ -n "$NEWPY" ] && [ "$NEWPY" != /usr/bin/python3 ] &&
   "$NEWPY" -c 'import sys, botocore; v = tuple(int(x) for x in botocore.__version__.split(".")[:2]); sys.exit(0 if v >= (1, 36) else 1)' 2>/dev/null; then
  for ep in "$TEP" "http://127.0.0.1:$(cat s3port)"; do
    check "newer botocore at $ep" "$NEWPY" - "$ep" "$AK" "$SECRET" <<'PY'
import sys, boto3
from botocore.config import Config
ep, ak, secret = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=secret,
                  region_name="us-east-1", verify="tls.crt",
                  config=Config(s3={"addressing_style": "path"}))
b = "newer-" + ("tls" if ep.startswith("https") else "plain")
s3.create_bucket(Bucket=b)
s3.put_object(Bucket=b, Key="k", Body=b"hello")
s3.upload_file("f40m", b, "big")  # multipart, a checksum with each part
r = s3.get_object(Bucket=b, Key="k", ChecksumMode="ENABLED")
assert r["Body"].read() == b"hello"
s3.download_file(b, "big", "got.newer")
assert open("got.newer", "rb").read() == open("f40m", "rb").read()
s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "k"}, {"Key": "big"}]})
s3.delete_bucket(Bucket=b)
PY
    rm -f got.newer
  done
else
  echo "s3_clients_test: no botocore >= 1.36 besides Debian's here: the newer-botocore checks are skipped"
fi

# cairn-s3's /readyz once the cairnd behind it is gone: 503 with the reason; /healthz still 200.
kill -TERM "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true
check "cairn-s3 /readyz: 503 naming its cairnd once that is gone" bash -c \
  "code=\$(curl -s -o readyz.out -w '%{http_code}' -m 30 '$GH/readyz'); [ \"\$code\" = 503 ] && grep -q 'does not answer' readyz.out"
check "cairn-s3 /healthz: still alive" curl -sS -f -m 10 "$GH/healthz"

# The secret is in no log (rule 6).
check "no secret in the logs" bash -c "! grep -q '$SECRET' cairnd.log cairn-s3.log cairnd-tls.log"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
