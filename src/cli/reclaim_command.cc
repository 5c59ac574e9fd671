// reclaim: release dead space now (local store only; part of the local backend).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/open_store.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/stream_io.h"

namespace cairn::cli {

Outcome RunReclaim(const Context& ctx, bool dry_run) {
  std::unique_ptr<Store> store;
  if (Outcome o = OpenStore(ctx, OpenMode::kExisting, &store); !o.ok()) return o;
  ReclaimOptions ro;
  ro.dry_run = dry_run;
  ro.throttle = false;  // asked for now: run at full speed
  Store* s = store.get();
  auto run = [&]() -> Result<ReclaimReport> {
    if (dry_run) return s->Reclaim(ro);
    // Progress: the plan (a dry run, which only reads the accounts) gives the bytes to punch
    // and to copy; while the pass runs, the store's reclaimed bytes and this process's I/O
    // (compaction reads and writes each copied byte once) say how far it has come.
    ReclaimOptions plan_opts = ro;
    plan_opts.dry_run = true;
    Result<ReclaimReport> plan = s->Reclaim(plan_opts);
    if (!plan.ok()) return plan.status();
    const uint64_t copy_io = 2 * plan->copied_bytes;
    const uint64_t total = plan->punched_bytes + copy_io;
    Result<StoreStats> before = s->Stats();
    const uint64_t reclaimed0 = before.ok() ? before->reclaimed_bytes : 0;
    const ProcessIo io0 = ReadProcessIo();
    ProgressReporter progress("reclaim", stderr, ::isatty(STDERR_FILENO) != 0,
                              ProgressReporter::Clock::now());
    return RunWithByteProgress(
        &progress, "released or copied",
        [&]() -> std::pair<uint64_t, uint64_t> {
          Result<StoreStats> now = s->Stats();
          const uint64_t released =
              now.ok() && now->reclaimed_bytes > reclaimed0 ? now->reclaimed_bytes - reclaimed0 : 0;
          const ProcessIo io = ReadProcessIo();
          const uint64_t moved = (io.read_bytes - io0.read_bytes) +
                                 (io.written_bytes - io0.written_bytes);
          return {std::min(released, plan->punched_bytes) + std::min(moved, copy_io), total};
        },
        [&] { return s->Reclaim(ro); });
  };
  Result<ReclaimReport> r = run();
  if (!r.ok()) return Failure(r.status().WithContext("reclaiming space"));
  const ReclaimReport& rep = *r;
  if (ctx.json) {
    Json j;
    j["dry_run"] = dry_run;
    j["punched_records"] = rep.punched_records;
    j["punched_bytes"] = rep.punched_bytes;
    j["compacted_volumes"] = rep.compacted_volumes;
    j["copied_records"] = rep.copied_records;
    j["copied_bytes"] = rep.copied_bytes;
    j["retired_bytes"] = rep.retired_bytes;
    j["tombstones_dropped"] = rep.tombstones_dropped;
    j["tombstones_kept"] = rep.tombstones_kept;
    j["micros"] = rep.micros;
    Json vols = Json::array();
    for (const auto& v : rep.volumes) {
      Json jv;
      jv["id"] = v.id;
      jv["live_bytes"] = v.live_bytes;
      jv["dead_bytes"] = v.dead_bytes;
      jv["punchable_bytes"] = v.punchable_bytes;
      jv["compact"] = v.compact;
      jv["reason"] = v.reason;
      vols.push_back(std::move(jv));
    }
    j["volumes"] = std::move(vols);
    PrintOut(fmt::format("{}\n", j.dump()));
    return CloseStore(ctx, store.get());
  }
  for (const auto& v : rep.volumes)
    PrintOut(fmt::format("volume {:08x}: live {}, dead {}, punchable {}: {}{}\n", v.id,
                         ExactAndHuman(v.live_bytes), ExactAndHuman(v.dead_bytes),
                         ExactAndHuman(v.punchable_bytes), v.compact ? "compact, " : "",
                         v.reason));
  if (dry_run) {
    PrintOut(fmt::format("hole punching would release {}\n", ExactAndHuman(rep.punched_bytes)));
    PrintOut(fmt::format("compaction would copy {} live bytes out of {} volumes\n",
                         ExactAndHuman(rep.copied_bytes), rep.compacted_volumes));
  } else {
    PrintOut(fmt::format("hole punching released {} in {} dead records\n",
                         ExactAndHuman(rep.punched_bytes), rep.punched_records));
    PrintOut(fmt::format(
        "compaction copied {} records ({}) out of {} volumes and removed {} of volume files; "
        "tombstones: {} dropped, {} kept\n",
        rep.copied_records, ExactAndHuman(rep.copied_bytes), rep.compacted_volumes,
        ExactAndHuman(rep.retired_bytes), rep.tombstones_dropped, rep.tombstones_kept));
  }
  PrintOut(fmt::format("took {:.3f} s\n", static_cast<double>(rep.micros) / 1e6));
  return CloseStore(ctx, store.get());
}

}  // namespace cairn::cli
