// ls and stat: the commands that look at the whole store (reclaim is in reclaim_command.cc).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "util/escape.h"
#include "cli/command_checks.h"
#include "cli/output.h"
#include "cli/session.h"
#include "cli/progress.h"
#include "cli/signals.h"
#include "cli/stream_io.h"
#include "util/check.h"

namespace cairn::cli {
namespace {

// Named bound: keys fetched per Scan, so a listing of any size needs memory for one page only.
constexpr size_t kListPageKeys = 1000;

Outcome CheckScanBound(std::string_view what, std::string_view value) {
  if (value.size() > kMaxKeyBytes)
    return Outcome::Usage(fmt::format("{} is {} bytes; the limit max_key_bytes is {}", what,
                                      value.size(), kMaxKeyBytes));
  return Outcome::Ok();
}

void PrintVolumeTable(const std::vector<VolumeStats>& volumes) {
  using Row = std::array<std::string, 5>;
  std::vector<Row> rows;
  rows.push_back({"volume", "state", "end", "live", "dead"});
  for (const VolumeStats& v : volumes)
    rows.push_back({std::to_string(v.id), v.state, ExactAndHuman(v.end),
                    ExactAndHuman(v.live_bytes), ExactAndHuman(v.dead_bytes)});
  Row::size_type ncols = rows[0].size();
  std::array<size_t, 5> width{};
  for (const Row& r : rows)
    for (size_t c = 0; c < ncols; c++) width[c] = std::max(width[c], r[c].size());
  for (const Row& r : rows) {
    // Numbers right-aligned, words left-aligned.
    PrintOut(fmt::format("  {:>{}}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", r[0], width[0], r[1],
                         width[1], r[2], width[2], r[3], width[3], r[4], width[4]));
  }
}

}  // namespace

Outcome RunLs(const Context& ctx, const ListArgs& args) {
  if (Outcome o = CheckScanBound("--prefix", args.prefix); !o.ok()) return o;
  if (Outcome o = CheckScanBound("--start-after", args.start_after); !o.ok()) return o;
  if (Outcome o = CheckScanBound("--delimiter", args.delimiter); !o.ok()) return o;
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kExisting, &session); !o.ok()) return o;
  // JSON is streamed too: the document is opened before the first page and closed after the
  // last, so it stays one object however many keys there are. Common prefixes (--delimiter)
  // are kept until the end, in a second array.
  if (ctx.json) PrintOut("{\"objects\":[");
  std::vector<std::string> prefixes;
  ListOptions lo;
  lo.prefix = args.prefix;
  lo.delimiter = args.delimiter;
  lo.start_after = args.start_after;
  uint64_t printed = 0;   // objects and common prefixes
  uint64_t objects = 0;
  bool truncated = false;
  for (;;) {
    // Stop early when nobody can see the rest: the reader went away, or we were told to stop.
    if (PendingSignal() != 0 || std::ferror(stdout)) break;
    uint64_t page = kListPageKeys;
    if (args.limit.has_value()) {
      page = std::min<uint64_t>(page, *args.limit - printed);
      if (page == 0) {
        // --limit 0: nothing is printed; truncated says whether anything matches.
        lo.limit = 1;
        Result<ListResult> r = session->store().List(lo);
        if (!r.ok()) return session->Fail(r.status().WithContext("listing keys"));
        truncated = !r->objects.empty() || !r->common_prefixes.empty();
        break;
      }
    }
    lo.limit = static_cast<uint32_t>(page);
    Result<ListResult> r = session->store().List(lo);
    if (!r.ok()) return session->Fail(r.status().WithContext("listing keys"));
    // Objects and common prefixes, merged in key order.
    size_t oi = 0, pi = 0;
    while (oi < r->objects.size() || pi < r->common_prefixes.size()) {
      const bool obj = pi == r->common_prefixes.size() ||
                       (oi < r->objects.size() && r->objects[oi].key < r->common_prefixes[pi]);
      if (obj) {
        const ObjectInfo& o = r->objects[oi++];
        if (ctx.json) {
          PrintOut(fmt::format("{}{}", objects == 0 ? "" : ",",
                               ObjectJson(o, /*mtime_text=*/false).dump()));
        } else {
          PrintOut(fmt::format("{}\n", EscapeKey(o.key)));
        }
        objects++;
      } else {
        const std::string& p = r->common_prefixes[pi++];
        if (ctx.json) {
          prefixes.push_back(p);
        } else {
          PrintOut(fmt::format("{}\n", EscapeKey(p)));
        }
      }
      printed++;
    }
    if (!r->truncated) break;
    if (args.limit.has_value() && printed == *args.limit) {
      truncated = true;  // more keys match, but the caller asked for no more
      break;
    }
    // Invariant: a truncated page of a non-zero size is not empty (else this would not end).
    CAIRN_CHECK(!r->next_start_after.empty());
    lo.start_after = r->next_start_after;
  }
  if (ctx.json) {
    if (!args.delimiter.empty()) {
      Json p = Json::array();
      for (const std::string& s : prefixes) p.push_back(EscapeKeyForJson(s));
      PrintOut(fmt::format("],\"common_prefixes\":{},\"truncated\":{}}}\n", p.dump(), truncated));
    } else {
      PrintOut(fmt::format("],\"truncated\":{}}}\n", truncated));
    }
  }
  return session->Close();
}

Outcome RunStat(const Context& ctx) {
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kExisting, &session); !o.ok()) return o;
  Result<StoreStats> r = session->store().Stats();
  if (!r.ok()) return session->Fail(r.status().WithContext("reading statistics"));
  const StoreStats& s = *r;
  if (ctx.json) {
    Json j = StatsJson(s);
    if (!s.server.empty()) {  // remote mode: the server's counters
      Json sv = Json::object();
      for (const auto& [name, n] : s.server) sv[name] = n;
      j["server"] = std::move(sv);
    }
    PrintOut(fmt::format("{}\n", j.dump()));
    return session->Close();
  }
  PrintOut(session->Where() + "\n");
  PrintOut(fmt::format("objects:         {}\n", s.objects));
  PrintOut(fmt::format("logical bytes:   {}\n", ExactAndHuman(s.logical_bytes)));
  PrintOut(fmt::format("live bytes:      {}\n", ExactAndHuman(s.live_bytes)));
  PrintOut(fmt::format("dead bytes:      {}\n", ExactAndHuman(s.dead_bytes)));
  PrintOut(
      fmt::format("volumes:         {} of {} each\n", s.volumes, ExactAndHuman(s.volume_capacity)));
  PrintOut(fmt::format("allocated bytes: {}, of which index {}\n", ExactAndHuman(s.allocated_bytes),
                       ExactAndHuman(s.index_allocated_bytes)));
  PrintOut(fmt::format("reclaimable:     {}\n", ExactAndHuman(s.reclaimable_bytes)));
  PrintOut(fmt::format("reclaimed:       {} ({} volumes compacted)\n",
                       ExactAndHuman(s.reclaimed_bytes), s.compactions));
  PrintOut(fmt::format("index memory:    {}\n", ExactAndHuman(s.index_memory_bytes)));
  PrintOut(fmt::format("next sequence:   {}\n", s.next_sequence));
  if (s.read_only) {
    PrintOut(fmt::format("read-only:       yes ({})\n", OneLine(s.read_only_reason)));
  } else {
    PrintOut("read-only:       no\n");
  }
  if (!s.volume_list.empty()) {
    PrintOut("\n");
    PrintVolumeTable(s.volume_list);
  }
  return session->Close();
}

}  // namespace cairn::cli
