#!/usr/bin/env bash
# Issue 15, item 9: scripts/check-layers (the CI step that enforces src/layers.txt) fails on each
# kind of violation, and names it. Each case copies the tree's src/, include/ and the script into
# a scratch directory, breaks one rule, and expects exit 1 with the rule's message; a clean copy,
# with the real cairnd, cairn-local and cairn, must pass (so the failures are the violations'
# doing). Issue 11: a cairn that links the engine again (its symbols, or librocksdb) fails.
#
# Usage: check_layers_test.sh SOURCE_DIR /path/to/cairnd /path/to/cairn [/path/to/cairn-local]
# (cairn-local defaults to the one beside cairn)
set -euo pipefail
SRC=$(realpath "${1:?usage: check_layers_test.sh SOURCE_DIR cairnd cairn}")
CAIRND=$(realpath "${2:?usage: check_layers_test.sh SOURCE_DIR cairnd cairn}")
CAIRN=$(realpath "${3:?usage: check_layers_test.sh SOURCE_DIR cairnd cairn}")
CAIRN_LOCAL=$(realpath "${4:-$(dirname "$CAIRN")/cairn-local}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
fail() { echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2; exit 1; }

# fresh NAME: a scratch copy of the tree at $T/NAME, with a build directory holding (links to)
# the real shipped binaries.
fresh() {
  local d=$T/$1
  mkdir -p "$d/scripts" "$d/build/src/server" "$d/build/src/cli"
  cp -r "$SRC/src" "$SRC/include" "$d/"
  cp "$SRC/scripts/check-layers" "$d/scripts/"
  ln -s "$CAIRND" "$d/build/src/server/cairnd"
  ln -s "$CAIRN" "$d/build/src/cli/cairn"
  ln -s "$CAIRN_LOCAL" "$d/build/src/cli/cairn-local"
  echo "$d"
}
# expect_violation DIR PATTERN [BUILD]: check-layers on DIR (with the build dir BUILD: the
# binary checks too) fails, saying PATTERN. The source cases leave the binaries out: nm on the
# real ones takes seconds.
expect_violation() {
  local d=$1 want=$2 out rc=0
  out=$("$d/scripts/check-layers" ${3:+"$3"} 2>&1) || rc=$?
  [ $rc -eq 1 ] || fail "$(basename "$d"): exit $rc, expected 1; output: $out"
  grep -qF -- "$want" <<<"$out" || fail "$(basename "$d"): no \"$want\" in: $out"
  echo "ok: $(basename "$d"): $(grep -m1 -F -- "$want" <<<"$out")"
}

# The clean tree passes, binaries included.
d=$(fresh clean)
out=$("$d/scripts/check-layers" "$d/build" 2>&1) || fail "the clean tree fails: $out"
grep -q "3 binaries checked" <<<"$out" || fail "clean tree: $out"
echo "ok: clean: $out"

# The server includes the CLI (what issue 15 found).
d=$(fresh server_includes_cli)
printf '#include "cli/output.h"\n' >"$d/src/server/violation.cc"
expect_violation "$d" \
  "src/server/violation.cc:1: #include \"cli/output.h\": server/ may include only"

# The CLI reaches into the client's internals.
d=$(fresh cli_includes_client)
printf '// x\n#include "client/connection.h"\n' >"$d/src/cli/violation.cc"
expect_violation "$d" \
  "src/cli/violation.cc:2: #include \"client/connection.h\": cli/ may include only"

# A library that may use io/ includes io's test machinery.
d=$(fresh engine_includes_fault_env)
printf '#include "io/fault_env.h"\n' >"$d/src/engine/violation.cc"
expect_violation "$d" "#include \"io/fault_env.h\": test machinery"

# A lower layer includes a higher one.
d=$(fresh util_includes_engine)
printf '  #  include "engine/store_impl.h"\n' >"$d/src/util/violation.h"
expect_violation "$d" \
  "src/util/violation.h:1: #include \"engine/store_impl.h\": util/ may include only"

# A public header depends on src/.
d=$(fresh public_includes_src)
printf '#include "util/mutex.h"\n' >"$d/include/cairn/violation.h"
expect_violation "$d" \
  "include/cairn/violation.h:1: #include \"util/mutex.h\": a public header includes only cairn/"

# A new folder with no line in the table.
d=$(fresh folder_without_line)
mkdir "$d/src/unlisted"
printf '#include "engine/store_impl.h"\n' >"$d/src/unlisted/g.cc"
expect_violation "$d" "src/unlisted/ has no line in src/layers.txt"

# Shipped binaries are stand-ins from here on (small: nm is quick): fake_ok has the engine's
# entry point only, fake_bad FaultEnv's symbols too; fake_cli has the tool's entry point and no
# engine (what cairn must be), fake_cli_engine the engine's entry point too, fake_cli_rocksdb a
# NEEDED librocksdb.
cat >"$T/fake.cc" <<'EOF'
namespace cairn {
struct Store { static void Open(); };
void Store::Open() {}
#ifdef WITH_FAULT_ENV
struct FaultEnv { void ClearFaults(); };
void FaultEnv::ClearFaults() {}
#endif
}  // namespace cairn
int main() { cairn::Store::Open(); }
EOF
c++ -O0 -o "$T/fake_ok" "$T/fake.cc"
c++ -O0 -DWITH_FAULT_ENV -o "$T/fake_bad" "$T/fake.cc"
strip -o "$T/fake_stripped" "$T/fake_ok"
cat >"$T/fake_cli.cc" <<'EOF'
namespace cairn {
#ifdef WITH_ENGINE
struct Store { static void Open(); };
void Store::Open() {}
#endif
namespace cli {
int CairnMain() { return 0; }
}  // namespace cli
}  // namespace cairn
int main() { return cairn::cli::CairnMain(); }
EOF
c++ -O0 -o "$T/fake_cli" "$T/fake_cli.cc"
c++ -O0 -DWITH_ENGINE -o "$T/fake_cli_engine" "$T/fake_cli.cc"
# librocksdb is installed wherever the engine builds.
c++ -O0 -o "$T/fake_cli_rocksdb" "$T/fake_cli.cc" -Wl,--no-as-needed -lrocksdb

# A shipped binary that links test machinery.
d=$(fresh cairnd_links_fault_env)
ln -sf "$T/fake_bad" "$d/build/src/server/cairnd"
ln -sf "$T/fake_ok" "$d/build/src/cli/cairn-local"
ln -sf "$T/fake_cli" "$d/build/src/cli/cairn"
expect_violation "$d" "cairnd contains test machinery: cairn::FaultEnv" "$d/build"

# Issue 11: cairn links the engine again (then every call against a server or a cluster pays for
# loading RocksDB at process start), by its symbols or by a NEEDED librocksdb.
d=$(fresh cairn_links_engine)
ln -sf "$T/fake_ok" "$d/build/src/server/cairnd"
ln -sf "$T/fake_ok" "$d/build/src/cli/cairn-local"
ln -sf "$T/fake_cli_engine" "$d/build/src/cli/cairn"
expect_violation "$d" "cairn contains the engine (\"cairn::Store::Open" "$d/build"
d=$(fresh cairn_needs_librocksdb)
ln -sf "$T/fake_ok" "$d/build/src/server/cairnd"
ln -sf "$T/fake_ok" "$d/build/src/cli/cairn-local"
ln -sf "$T/fake_cli_rocksdb" "$d/build/src/cli/cairn"
expect_violation "$d" "cairn needs librocksdb (librocksdb.so" "$d/build"

# A stripped binary cannot be checked, and saying nothing would pass it.
d=$(fresh stripped_binary)
ln -sf "$T/fake_ok" "$d/build/src/server/cairnd"
ln -sf "$T/fake_stripped" "$d/build/src/cli/cairn-local"
ln -sf "$T/fake_cli" "$d/build/src/cli/cairn"
expect_violation "$d" "nm finds no cairn::Store::Open (stripped?)" "$d/build"
d=$(fresh stripped_cairn)
ln -sf "$T/fake_ok" "$d/build/src/server/cairnd"
ln -sf "$T/fake_ok" "$d/build/src/cli/cairn-local"
ln -sf "$T/fake_stripped" "$d/build/src/cli/cairn"
expect_violation "$d" "nm finds no cairn::cli::CairnMain (stripped?)" "$d/build"

echo "check_layers_test: ok"
