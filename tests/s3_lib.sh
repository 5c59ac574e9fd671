# Shared set-up of the S3 shell tests (sourced, not run): s3_lib.sh NAME ACCESS_KEY.
# Makes a working directory (removed at exit, with every process whose pid the test adds to
# `pids`, each stopped by its pid) and enters it with umask 077; writes `s3key` (ACCESS_KEY and a
# fresh SECRET) and `nkey` (a native key); defines wait_port FILE.
S3_TEST_NAME=${1:?usage: . s3_lib.sh NAME ACCESS_KEY}
AK=${2:?usage: . s3_lib.sh NAME ACCESS_KEY}
work=$(mktemp -d "/tmp/cairn_$S3_TEST_NAME.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
umask 077
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s:%s\n' "$AK" "$SECRET" > s3key
printf 'native:%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > nkey
wait_port() {  # wait_port FILE: until a listener wrote its port there (20 s), else fail
  for _ in $(seq 400); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "$S3_TEST_NAME: no port file $1"; cat "$work"/*.log; exit 1
}
