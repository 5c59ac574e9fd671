# Helpers to run any binary (cairn today, cairnd later) under faultshim. Source this file with
# FAULTSHIM_SO set to the library's path (tests/faultshim/CMakeLists.txt builds it).
#
#   shim_run RULES LOG CMD...   runs CMD with the shim preloaded, FAULTSHIM=RULES and each
#                               injection logged to LOG; returns CMD's exit status
#   shim_count LOG [CALL]       how many faults LOG records (of CALL, if given)
#
# RULES is faultshim.c's syntax, e.g. 'call=fdatasync,errno=EIO,path=*/volumes/*.vol,after=1'.

shim_run() {
  local rules=$1 log=$2
  shift 2
  [[ -n ${FAULTSHIM_SO:-} && -f $FAULTSHIM_SO ]] || {
    echo "shim_run: FAULTSHIM_SO is not set to the faultshim library" >&2
    return 98
  }
  # ASan wants its runtime first in the library list; the shim has no instrumentation.
  FAULTSHIM="$rules" FAULTSHIM_LOG="$log" LD_PRELOAD="$FAULTSHIM_SO${LD_PRELOAD:+:$LD_PRELOAD}" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}

shim_count() {
  local log=$1 call=${2:-}
  [[ -f $log ]] || { echo 0; return; }
  if [[ -n $call ]]; then
    grep -c "^faultshim $call " "$log" || true
  else
    grep -c '^faultshim ' "$log" || true
  fi
}
