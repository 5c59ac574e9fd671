// cairn verify [--repair]: the offline integrity check of a store (VerifyStore), and the index
// rebuild that repairs what it can (RepairStore). docs/design.md, "Verify and repair".
//
// Output (stdout): with --repair, one "repair: ..." line per action and per line of the
// rebuild's report; then one "problem: ..." line per problem, in disk order; then "note: ..."
// lines (a store that needs recovery, a torn tail, an index that could not be checked) and one
// summary line. --json prints one object instead: the verify report's fields, plus "repair".
// Finding problems is a failure (exit 1, one line on stderr); after --repair, the exit code is that
// of the verify that follows it.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "cairn/verify.h"
#include "cli/commands.h"
#include "util/escape.h"
#include "cli/open_store.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/stream_io.h"

namespace cairn::cli {
namespace {

double Seconds(uint64_t micros) { return static_cast<double>(micros) / 1e6; }

// Throughput of the scan in MiB/s; 0 for a scan too short to time.
double MibPerSecond(uint64_t bytes, uint64_t micros) {
  if (micros == 0) return 0;
  return static_cast<double>(bytes) / (1 << 20) / Seconds(micros);
}

Json ProblemJson(const VerifyProblem& p) {
  Json j;
  j["kind"] = p.kind;
  if (p.volume != 0) {
    j["volume"] = p.volume;
    j["file"] = fmt::format("volumes/{:08x}.vol", p.volume);
    j["offset"] = p.offset;
  }
  j["length"] = p.length;
  if (!p.key.empty()) j["key"] = EscapeKeyForJson(p.key);
  j["detail"] = OneLine(p.detail);
  return j;
}

Json RepairJson(const RepairReport& r) {
  Json j;
  Json actions = Json::array();
  for (const std::string& a : r.actions) actions.push_back(OneLine(a));
  j["actions"] = std::move(actions);
  j["index_moved_to"] = OneLine(r.index_moved_to);
  j["objects"] = r.objects;
  j["records_replayed"] = r.rebuild.records_replayed;
  j["bad_regions"] = r.rebuild.bad_regions.size();
  j["torn_tail_bytes"] = r.rebuild.torn_tail_bytes;
  j["seconds"] = Seconds(r.rebuild.micros);
  return j;
}

Json VerifyJson(const VerifyReport& r) {
  Json j;
  j["ok"] = r.ok();
  j["volumes"] = r.volumes;
  j["records"] = r.records;
  j["punched_records"] = r.punched_records;
  j["index_entries"] = r.index_entries;
  j["index_checked"] = r.index_checked;
  j["bytes_scanned"] = r.bytes_scanned;
  j["seconds"] = Seconds(r.micros);
  j["needs_recovery"] = r.needs_recovery;
  j["unreplayed_records"] = r.unreplayed_records;
  j["torn_tail_bytes"] = r.torn_tail_bytes;
  Json problems = Json::array();
  for (const VerifyProblem& p : r.problems) problems.push_back(ProblemJson(p));
  j["problems"] = std::move(problems);
  j["problems_omitted"] = r.problems_omitted;
  return j;
}

void PrintRepair(const RepairReport& r) {
  for (const std::string& a : r.actions) PrintOut(fmt::format("repair: {}\n", OneLine(a)));
  // The rebuild's report: one line, then one per bad region it met.
  const std::string report = r.rebuild.ToString();
  std::string_view text = report;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    PrintOut(fmt::format("repair: rebuild: {}\n", OneLine(line)));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

void PrintVerify(const VerifyReport& r) {
  for (const VerifyProblem& p : r.problems)
    PrintOut(fmt::format("problem: {}\n", OneLine(p.ToString())));
  if (r.problems_omitted > 0)
    PrintOut(fmt::format("note: {} more problems were found and not listed\n", r.problems_omitted));
  if (!r.index_checked)
    PrintOut("note: the index could not be read, so only the volumes were checked\n");
  if (r.needs_recovery)
    PrintOut(
        fmt::format("note: the store was not closed cleanly: {} records after the index "
                    "checkpoint are not indexed yet; the next open replays them\n",
                    r.unreplayed_records));
  if (r.torn_tail_bytes > 0)
    PrintOut(
        fmt::format("note: {} torn bytes after the last record; the next open truncates "
                    "them\n",
                    r.torn_tail_bytes));
  const uint64_t problems = r.problems.size() + r.problems_omitted;
  PrintOut(fmt::format(
      "verified {} volumes, {} records ({} punched), {} index entries, {} "
      "scanned in {:.2f} s ({:.1f} MiB/s): {} {}\n",
      r.volumes, r.records, r.punched_records, r.index_entries, ExactAndHuman(r.bytes_scanned),
      Seconds(r.micros), MibPerSecond(r.bytes_scanned, r.micros), problems,
      problems == 1 ? "problem" : "problems"));
}

// The bytes of the volume files: at most what verify reads (it stops at each volume's end when
// the store was closed cleanly), so the progress total is an upper bound.
uint64_t VolumeFileBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(dir) / "volumes", ec)) {
    if (e.path().extension() != ".vol") continue;
    std::error_code fec;
    const uint64_t n = e.file_size(fec);
    if (!fec) total += n;
  }
  return total;
}

// Runs `work` (which reads the volumes) with a progress line on stderr: bytes this process has
// read since it started, against the volume files' size. The engine reports nothing while it
// works, so the process's own read counter (/proc/self/io) measures it.
template <typename Work>
auto WithReadProgress(const Context& ctx, std::string verb, Work work) -> decltype(work()) {
  ProgressReporter progress(std::move(verb), stderr, ::isatty(STDERR_FILENO) != 0,
                            ProgressReporter::Clock::now());
  const uint64_t total = VolumeFileBytes(ctx.store_dir);
  const uint64_t start = ReadProcessIo().read_bytes;
  return RunWithByteProgress(
      &progress, "read",
      [&] { return std::pair<uint64_t, uint64_t>{ReadProcessIo().read_bytes - start, total}; },
      std::move(work));
}

Outcome StoreFailure(const Context& ctx, const Status& s, std::string_view doing) {
  const std::string dir = OneLine(ctx.store_dir);
  if (s.IsNotFound() && s.message().starts_with("no store at"))
    return Outcome::Error(fmt::format("no store at {} (pass --store DIR)", dir));
  if (s.IsBusy()) return Outcome::Error(fmt::format("{}; retry when it has finished", s.message()));
  return Outcome::Error(fmt::format("{} {}: {}", doing, dir, s.message()));
}

}  // namespace

Outcome RunVerify(const Context& ctx, bool repair) {
  StoreOptions options = StoreOptionsFor(ctx);
  options.create_if_missing = false;
  Json repair_json;
  if (repair) {
    // A repair may fall back to an older version of a key without moving what a cluster node's
    // digest checkpoint is checked against: the node's next start must scan.
    DropNodeDigestCheckpoint(ctx);
    // What the rebuild finds is printed below from its report, not logged to stderr.
    options.info_log = [](const std::string&) {};
    Result<RepairReport> r =
        WithReadProgress(ctx, "repair", [&] { return RepairStore(ctx.store_dir, options); });
    if (!r.ok()) return StoreFailure(ctx, r.status(), "repairing");
    if (ctx.json) {
      repair_json = RepairJson(*r);
    } else {
      PrintRepair(*r);
    }
  }
  Result<VerifyReport> v =
      WithReadProgress(ctx, "verify", [&] { return VerifyStore(ctx.store_dir, options); });
  if (!v.ok()) return StoreFailure(ctx, v.status(), "verifying");
  if (ctx.json) {
    Json out = VerifyJson(*v);
    if (repair) out["repair"] = std::move(repair_json);
    PrintOut(fmt::format("{}\n", out.dump()));
  } else {
    PrintVerify(*v);
  }
  if (v->ok()) return Outcome::Ok();
  const uint64_t problems = v->problems.size() + v->problems_omitted;
  return Outcome::Error(fmt::format(
      "{} {} in {}{}", problems, problems == 1 ? "problem" : "problems", OneLine(ctx.store_dir),
      repair ? " remain after the repair (damaged bytes stay on disk; see docs/design.md)"
             : "; cairn verify --repair rebuilds the index from the volumes"));
}

}  // namespace cairn::cli
