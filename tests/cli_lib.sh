# Shared set-up of the CLI shell tests (sourced, not run): cli_lib.sh NAME "$@".
# Sets CAIRN (the binary, first argument), T (a temporary directory, the working directory,
# removed at exit with any background process BG_PID), LIMIT (seconds per command: a hang fails
# the test instead of reaching the ctest timeout), PASSED, and the helpers below.
CAIRN=$(realpath "${1:?usage: $CLI_TEST_NAME /path/to/cairn}")
T=$(mktemp -d)
BG_PID=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [[ -n $BG_PID ]]; then kill "$BG_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
unset CAIRN_STORE
export LC_ALL=C
cd "$T"

LIMIT=60
PASSED=0

fail() {
  echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2
  exit 1
}
ok() { PASSED=$((PASSED + 1)); }

# err_has TEXT: the last command's stderr ($T/err) contains TEXT.
err_has() { grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"; }

# jq_py FILE EXPR: evaluates a Python expression over the JSON document `j` in FILE.
jq_py() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1],encoding="utf-8")); print(eval(sys.argv[2]))' "$1" "$2"
}
