// The bodies of the cairn commands. Each opens the store, does one thing, closes the store, and
// returns an Outcome; main() prints the failure line and turns it into the exit code.
//
// Output goes to stdout (values as raw bytes, everything else as text or one JSON document per
// command); nothing but the failure line goes to stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/context.h"
#include "cli/outcome.h"

namespace cairn::cli {

// What `put` stores with the value.
struct PutArgs {
  std::vector<std::string> meta;  // --meta NAME=VALUE, repeatable: user metadata pairs
  std::string content_type;       // --content-type
};
// Value from `file`; from stdin if `file` is empty or "-". Streams, never loads it whole.
Outcome RunPut(const Context& ctx, const std::string& key, const std::string& file,
               const PutArgs& args);

// Value to stdout, or to `out_file` (written as out_file.cairn-tmp, renamed when complete).
Outcome RunGet(const Context& ctx, const std::string& key, const std::string& out_file);

Outcome RunHead(const Context& ctx, const std::string& key);

Outcome RunRm(const Context& ctx, const std::string& key);

struct ListArgs {
  std::string prefix;
  std::string delimiter;  // --delimiter: keys that hold it after the prefix roll up
  std::string start_after;
  std::optional<uint64_t> limit;  // nullopt: list everything
};
Outcome RunLs(const Context& ctx, const ListArgs& args);

Outcome RunStat(const Context& ctx);

// Runs one reclamation pass now, unthrottled (with dry_run: only reports what it would do).
Outcome RunReclaim(const Context& ctx, bool dry_run);

// Checks the store offline (it need not open: no recovery runs); with `repair`, first rebuilds
// its index from the volumes. Problems are printed to stdout, and found problems are an Error
// (exit 1): after a repair, those the verify that follows it still finds.
Outcome RunVerify(const Context& ctx, bool repair);

// import and export (src/cli/bulk_commands.cc; rules in docs/design.md, "Bulk import and
// export"). Each file or object that fails is reported on its own stderr line and skipped; the
// outcome is an error if any failed. Progress goes to stderr, the summary to stdout.
struct BulkArgs {
  std::string dir;
  std::string prefix;
  int jobs = 16;  // worker threads, 1..kMaxJobs (ordered_pool.h)
};
// Stores every regular file under args.dir as prefix + relative path.
Outcome RunImport(const Context& ctx, const BulkArgs& args);
// Writes every object whose key starts with args.prefix to args.dir / (key without prefix).
Outcome RunExport(const Context& ctx, const BulkArgs& args);

}  // namespace cairn::cli
