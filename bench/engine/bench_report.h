// The reporting half of engine_bench: turns fio's JSON into result lines, and result lines
// (JSON, one per run) into the Markdown tables and target verdicts of RESULTS.md.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace cairn::bench {

// Reads fio --output-format=json output from `path` (one job, or group_reporting) and builds a
// result line for it in *line. Returns an error message, or "" on success.
std::string FioSummary(const std::string& path, const std::string& op, size_t size,
                       const std::string& mode, const std::string& pattern, int threads,
                       std::string* line);

// Reads result lines from `files` and prints Markdown to `out`. Where one workload was run
// more than once, the run with the median ops/s stands for it.
std::string Report(const std::vector<std::string>& files, FILE* out);

}  // namespace cairn::bench
