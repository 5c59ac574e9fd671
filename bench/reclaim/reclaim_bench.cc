// reclaim_bench: foreground put/get latency while reclamation runs, against the same load on an
// idle store (issue 3, "Throttling": p99 within 1.5x of the idle figure).
//
// For each mode it builds the same starting state from --seed in a fresh store (64 MiB
// volumes, background_reclaim off): --fill-mib of 4 KiB and 64 KiB objects (half the bytes
// each), then --churn of them overwritten or deleted, so the sealed volumes hold dead 64 KiB
// records (hole punching) and dead 4 KiB records (compaction). It reopens the store and runs
// the same foreground load twice, --seconds each:
//   - one writer doing durable (kSync) 4 KiB puts to keys of its own,
//   - one reader doing Gets of random live keys of the starting state, checking every byte;
// first alone (the "idle" row), then with one more thread calling Store::Reclaim in a loop.
// The idle figure is taken on the same store just before, so that the machine's drift (it is
// shared) touches both rows of a pair alike. Modes:
//   budget      Reclaim{throttle=true}, reclaim_mbps=--reclaim-mbps (32: the default)
//   mbps0       Reclaim{throttle=true}, reclaim_mbps=0 (no I/O budget; still yields)
//   nothrottle  Reclaim{throttle=false} (neither budget nor yielding: on-demand runs)
// After the reclaim load, every live key (the starting state's and the writer's) is read back
// and checked, and deleted keys (a sample) must stay deleted: once with the store open (a pass
// may still be running), once after closing and reopening it.
//
// Latencies are per call (steady_clock). A reclaim mode's figures cover the calls that started
// while reclamation still had work: once a pass finds nothing to do, the window ends (the rest
// of the load would be an idle store). "MiB reclaimed" is the allocation (st_blocks) the
// starting state's sealed volume files lost by the end of the load: holes punched plus files of
// retired volumes removed. (Stats().reclaimed_bytes lags it: a round of up to 4096 punches is
// counted only when it commits; it goes to --json.) "MiB copied" is the live bytes that left
// those volumes by then (compaction's copies). Both are read at the deadline, before a pass
// still running is stopped by Close.
//
// Every loop is bounded by time and by count. Prints a Markdown table; --json appends one JSON
// line per mode.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_util.h"
#include "cairn/store.h"

namespace cairn::bench {
namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string dir = "bench/results/tmp";
  double seconds = 10;
  uint64_t fill_mib = 1024;
  double churn = 0.7;          // fraction of the starting objects overwritten or deleted
  double delete_share = 0.5;   // of those, the fraction deleted (the rest are overwritten)
  uint64_t volume_mib = 64;
  uint32_t reclaim_mbps = 32;
  std::vector<std::string> modes = {"budget", "mbps0", "nothrottle"};
  uint64_t seed = 42;
  uint64_t max_ops = 5'000'000;     // per foreground thread and load
  uint64_t max_passes = 100'000;    // Reclaim calls per load
  double grace_seconds = 120;       // watchdog: how long a load may overstay --seconds
  double build_seconds = 600;       // bound of building one starting state
  bool drop_caches = false;
  bool keep = false;
  std::string json;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "reclaim_bench: %s\n", msg.c_str());
  std::exit(1);
}

void Note(const std::string& msg) {
  std::fprintf(stderr, "[reclaim_bench] %s\n", msg.c_str());
  std::fflush(stderr);
}

constexpr size_t kSmall = 4096;
constexpr size_t kBig = 64 * 1024;
constexpr uint64_t kWriterBase = uint64_t{1} << 40;  // value ids of the writer's objects

// Incompressible values that can be recomputed from (object id, version) to check reads.
class Values {
 public:
  explicit Values(uint64_t seed) : data_((size_t{64} << 20) + kBig) {
    Rng r(seed);
    for (size_t i = 0; i + 8 <= data_.size(); i += 8) {
      uint64_t v = r.Next();
      std::memcpy(&data_[i], &v, 8);
    }
  }
  std::string_view Of(uint64_t id, uint32_t version, size_t size) const {
    uint64_t h = Mix64(id * 0x9E3779B97F4A7C15ULL + version);
    return std::string_view(&data_[h % (data_.size() - size + 1)], size);
  }

 private:
  std::vector<char> data_;
};

std::string ObjKey(uint64_t id) {
  char b[32];
  std::snprintf(b, sizeof(b), "obj/%09" PRIu64, id);
  return b;
}
std::string WriterKey(uint64_t n) {
  char b[32];
  std::snprintf(b, sizeof(b), "fg/%010" PRIu64, n);
  return b;
}

// The starting state: what each object of the fill holds at the end of the churn.
struct State {
  std::vector<uint8_t> big;       // size class per object id
  std::vector<uint32_t> version;  // 0: deleted
  std::vector<uint64_t> live;     // ids with a live version
  uint64_t written_bytes = 0;
  uint64_t live_bytes = 0;
};

struct Mode {
  std::string name;
  bool reclaim = false;
  bool throttle = true;
  uint32_t mbps = 32;
};

Mode ModeFor(const std::string& name, const Flags& f) {
  if (name == "budget") return {"budget", true, true, f.reclaim_mbps};
  if (name == "mbps0") return {"mbps0", true, true, 0};
  if (name == "nothrottle") return {"nothrottle", true, false, f.reclaim_mbps};
  Die("unknown mode " + name + " (budget, mbps0, nothrottle)");
}

std::string ModeLabel(const Mode& m) {
  if (!m.reclaim) return "idle";  // the load alone, just before the reclaim row below it
  if (!m.throttle) return "reclaim, throttle=false";
  if (m.mbps == 0) return "reclaim, reclaim_mbps=0 (yield only)";
  return "reclaim, reclaim_mbps=" + std::to_string(m.mbps);
}

StoreOptions Options(const Flags& f, const Mode& m) {
  StoreOptions o;
  o.volume_capacity = f.volume_mib << 20;
  o.durability = Durability::kSync;
  o.background_reclaim = false;
  o.reclaim_mbps = m.mbps;
  o.info_log = [](const std::string& s) { std::fprintf(stderr, "cairn: %s\n", s.c_str()); };
  return o;
}

std::unique_ptr<Store> OpenStore(const std::string& dir, const StoreOptions& o) {
  auto s = Store::Open(dir, o);
  if (!s.ok()) Die("open " + dir + ": " + s.status().ToString());
  return std::move(*s);
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

// Fills and churns a new store in `dir`; the same seed gives the same state.
State Build(const Flags& f, const Mode& m, const Values& values, const std::string& dir) {
  const uint64_t t0 = NowNanos();
  const uint64_t deadline = t0 + static_cast<uint64_t>(f.build_seconds * 1e9);
  const uint64_t fill_bytes = f.fill_mib << 20;
  const uint64_t max_objects = fill_bytes / kSmall + 1;  // count bound of the fill
  std::unique_ptr<Store> store = OpenStore(dir, Options(f, m));
  WriteOptions fast;
  fast.durability = Durability::kNone;
  State st;
  Rng rng(f.seed);
  // Half the bytes in each size class: one object in 17 is big (64 KiB = 16 x 4 KiB).
  for (uint64_t id = 0; st.written_bytes < fill_bytes && id < max_objects; id++) {
    if (NowNanos() > deadline) Die("building the starting state exceeded --build-seconds");
    const bool big = rng.Uniform(17) == 0;
    const size_t size = big ? kBig : kSmall;
    Check(store->Put(ObjKey(id), values.Of(id, 1, size), fast), "fill put");
    st.big.push_back(big);
    st.version.push_back(1);
    st.written_bytes += size;
  }
  // Churn, in random order: delete or overwrite (same size class) a --churn fraction.
  std::vector<uint64_t> order(st.big.size());
  for (uint64_t i = 0; i < order.size(); i++) order[i] = i;
  for (uint64_t i = order.size(); i > 1; i--) std::swap(order[i - 1], order[rng.Uniform(i)]);
  const uint64_t churned = static_cast<uint64_t>(static_cast<double>(order.size()) * f.churn);
  for (uint64_t i = 0; i < churned; i++) {
    if (NowNanos() > deadline) Die("building the starting state exceeded --build-seconds");
    const uint64_t id = order[i];
    if (static_cast<double>(rng.Uniform(1'000'000)) < f.delete_share * 1e6) {
      Check(store->Delete(ObjKey(id), fast), "churn delete");
      st.version[id] = 0;
    } else {
      const size_t size = st.big[id] ? kBig : kSmall;
      Check(store->Put(ObjKey(id), values.Of(id, 2, size), fast), "churn put");
      st.version[id] = 2;
      st.written_bytes += size;
    }
  }
  for (uint64_t id = 0; id < st.version.size(); id++) {
    if (st.version[id] == 0) continue;
    st.live.push_back(id);
    st.live_bytes += st.big[id] ? kBig : kSmall;
  }
  Check(store->Sync(), "sync");
  Check(store->Close(), "close");
  Note("built " + std::to_string(st.big.size()) + " objects (" +
       std::to_string(st.written_bytes >> 20) + " MiB written, " + std::to_string(st.live.size()) +
       " live, " + std::to_string(st.live_bytes >> 20) + " MiB live) in " +
       std::to_string((NowNanos() - t0) / 1'000'000) + " ms");
  return st;
}

// Reads back every live key; returns the number of bad ones (first few printed).
uint64_t VerifyAll(Store* store, const State& st, const Values& values, uint64_t writer_puts,
                   const std::string& when) {
  uint64_t bad = 0;
  auto check = [&](const std::string& key, std::string_view want) {
    Result<std::string> got = store->Get(key);
    if (got.ok() && *got == want) return;
    if (bad++ < 5)
      Note("VERIFY FAILED (" + when + ") " + key + ": " +
           (got.ok() ? "wrong bytes (" + std::to_string(got->size()) + " bytes)"
                     : got.status().ToString()));
  };
  for (uint64_t id : st.live)
    check(ObjKey(id), values.Of(id, st.version[id], st.big[id] ? kBig : kSmall));
  for (uint64_t n = 0; n < writer_puts; n++)
    check(WriterKey(n), values.Of(kWriterBase + n, 1, kSmall));
  // Deleted keys must stay deleted (a sample: compaction drops or keeps their tombstones).
  uint64_t sampled = 0;
  for (uint64_t id = 0; id < st.version.size() && sampled < 20'000; id++) {
    if (st.version[id] != 0) continue;
    sampled++;
    Result<std::string> got = store->Get(ObjKey(id));
    if (!got.ok() && got.status().IsNotFound()) continue;
    if (bad++ < 5) Note("VERIFY FAILED (" + when + ") deleted " + ObjKey(id) + " came back");
  }
  return bad;
}

struct Lat {
  uint64_t n = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // µs
};

// Latencies of the calls that started before `until` (ns since the load started).
Lat Summarize(const std::vector<std::pair<uint64_t, uint64_t>>& ops, uint64_t until) {
  std::vector<uint64_t> v;
  v.reserve(ops.size());
  for (const auto& [start, lat] : ops)
    if (start < until) v.push_back(lat);
  Lat l;
  l.n = v.size();
  if (v.empty()) return l;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = static_cast<double>(v.back()) / 1000.0;
  return l;
}

struct PhaseResult {
  Mode mode;
  Lat put, get;
  double window_s = 0;     // the seconds the figures cover
  bool reclaim_finished = false;
  uint64_t passes = 0;
  uint64_t reclaimed_bytes = 0;   // Stats().reclaimed_bytes gained (committed rounds)
  uint64_t released_bytes = 0;    // allocation the starting state's sealed volumes lost
  uint64_t copied_bytes = 0;
  uint64_t compactions = 0;
  uint64_t reclaimable_before = 0, reclaimable_after = 0;
  uint64_t puts = 0, gets = 0, errors = 0, bad = 0;
  std::string first_error;
};

// Bytes the file system holds for the given volumes' files (st_blocks; a removed file: 0).
uint64_t AllocatedOf(const std::string& dir, const std::map<uint32_t, uint64_t>& volumes) {
  uint64_t total = 0;
  for (const auto& [id, live] : volumes) {
    char name[32];
    std::snprintf(name, sizeof(name), "%08u.vol", id);
    struct stat sb;
    if (::stat((fs::path(dir) / "volumes" / name).c_str(), &sb) == 0)
      total += static_cast<uint64_t>(sb.st_blocks) * 512;
  }
  return total;
}

uint64_t SealedLiveOf(const StoreStats& s, std::map<uint32_t, uint64_t>* out) {
  uint64_t total = 0;
  for (const VolumeStats& v : s.volume_list) {
    if (v.state != "sealed") continue;
    (*out)[v.id] = v.live_bytes;
    total += v.live_bytes;
  }
  return total;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void DropCaches() {
  ::sync();
  std::ofstream dc("/proc/sys/vm/drop_caches");
  dc << "3\n";
  dc.flush();
  if (!dc) Note("could not drop the page cache (needs root); it stays warm");
}

// Builds the mode's starting state, then runs the foreground load twice on it for --seconds
// each: first alone (the paired idle figure), then with Store::Reclaim looping alongside.
// Checks every live key after the load (store open) and after reopening.
struct ModeResult {
  PhaseResult idle, reclaim;
};

// One foreground load of --seconds on `store`; with `reclaim`, Reclaim loops alongside and the
// store is closed at the end (that stops a pass still running). Writer keys continue from
// *writer_next.
PhaseResult Load(const Flags& f, const Mode& m, bool reclaim, std::unique_ptr<Store>& store,
                 const std::string& dir, const State& st, const Values& values,
                 uint64_t* writer_next) {
  PhaseResult res;
  res.mode = m;
  res.mode.reclaim = reclaim;
  Result<StoreStats> before = store->Stats();
  if (!before.ok()) Die("stats: " + before.status().ToString());
  res.reclaimable_before = before->reclaimable_bytes;
  std::map<uint32_t, uint64_t> sealed_live_before;
  SealedLiveOf(*before, &sealed_live_before);
  const uint64_t reclaimed_before = before->reclaimed_bytes;
  const uint64_t allocated_before = AllocatedOf(dir, sealed_live_before);
  const uint64_t compactions_before = before->compactions;
  if (f.drop_caches) DropCaches();

  std::vector<std::pair<uint64_t, uint64_t>> put_ops, get_ops;  // (start, latency), ns
  put_ops.reserve(std::min<uint64_t>(f.max_ops, 200'000));
  get_ops.reserve(std::min<uint64_t>(f.max_ops, 2'000'000));
  const uint64_t first_key = *writer_next;
  std::atomic<uint64_t> writer_puts{0};
  std::atomic<uint64_t> errors{0};
  std::mutex err_mu;
  std::string first_error;
  auto fail = [&](const std::string& e) {
    std::lock_guard<std::mutex> l(err_mu);
    if (errors.fetch_add(1) == 0) first_error = e;
  };
  std::atomic<uint64_t> work_end{UINT64_MAX};  // ns since start: a pass found nothing to do
  std::atomic<uint64_t> passes{0};
  std::atomic<bool> finished{false};
  std::error_code ec;

  const uint64_t run_ns = static_cast<uint64_t>(f.seconds * 1e9);
  const uint64_t start = NowNanos();
  const uint64_t deadline = start + run_ns;

  std::thread watchdog([&] {
    const uint64_t limit = deadline + static_cast<uint64_t>(f.grace_seconds * 1e9);
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!finished && NowNanos() > limit) {
        std::fprintf(stderr, "reclaim_bench: aborting: a %s load overstayed --seconds by more "
                     "than --grace-seconds (a call blocked inside the store)\n", m.name.c_str());
        if (!f.keep) fs::remove_all(dir, ec);
        _exit(3);
      }
    }
  });
  std::thread writer([&] {
    for (uint64_t i = 0; i < f.max_ops; i++) {
      const uint64_t n = first_key + i;
      const std::string key = WriterKey(n);
      const uint64_t t0 = NowNanos();
      if (t0 >= deadline) break;
      Status s = store->Put(key, values.Of(kWriterBase + n, 1, kSmall));
      const uint64_t t1 = NowNanos();
      if (!s.ok()) {
        fail("put " + key + ": " + s.ToString());
        break;
      }
      writer_puts.store(i + 1);
      put_ops.emplace_back(t0 - start, t1 - t0);
    }
  });
  std::thread reader([&] {
    Rng rng(f.seed ^ 0xBEEF ^ first_key);
    for (uint64_t n = 0; n < f.max_ops; n++) {
      const uint64_t id = st.live[rng.Uniform(st.live.size())];
      const std::string key = ObjKey(id);
      const uint64_t t0 = NowNanos();
      if (t0 >= deadline) break;
      Result<std::string> got = store->Get(key);
      const uint64_t t1 = NowNanos();
      if (!got.ok()) {
        fail("get " + key + ": " + got.status().ToString());
        if (errors.load() >= 100) break;
        continue;
      }
      if (*got != values.Of(id, st.version[id], st.big[id] ? kBig : kSmall)) {
        fail("get " + key + ": wrong bytes");
        if (errors.load() >= 100) break;
        continue;
      }
      get_ops.emplace_back(t0 - start, t1 - t0);
    }
  });
  uint64_t copied_reported = 0;
  std::thread reclaimer;
  if (reclaim) {
    reclaimer = std::thread([&] {
      ReclaimOptions ro;
      ro.throttle = m.throttle;
      for (uint64_t i = 0; i < f.max_passes; i++) {
        const uint64_t t0 = NowNanos();
        if (t0 >= deadline) break;
        Result<ReclaimReport> r = store->Reclaim(ro);
        passes++;
        if (!r.ok()) {
          // After the deadline, Close stops a running pass; its copies may then be refused.
          if (NowNanos() < deadline) fail("reclaim: " + r.status().ToString());
          break;
        }
        copied_reported += r->copied_bytes;
        const bool idle = r->punched_bytes == 0 && r->compacted_volumes == 0 &&
                          r->retired_bytes == 0 && r->copied_bytes == 0;
        if (idle) {
          if (work_end.load() == UINT64_MAX) work_end = t0 - start;
          // Nothing left: look again as the background reclaimer would, not in a tight loop
          // (every pass flushes the index).
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } else {
          work_end = UINT64_MAX;
        }
      }
    });
  }
  writer.join();
  reader.join();
  const uint64_t end = NowNanos();
  // Reclamation's progress at the deadline, before Close stops a pass still running.
  Result<StoreStats> after = store->Stats();
  if (!after.ok()) Die("stats: " + after.status().ToString());
  res.reclaimable_after = after->reclaimable_bytes;
  res.reclaimed_bytes = after->reclaimed_bytes - reclaimed_before;
  res.compactions = after->compactions - compactions_before;
  const uint64_t allocated_after = AllocatedOf(dir, sealed_live_before);
  res.released_bytes = allocated_before - std::min(allocated_before, allocated_after);
  std::map<uint32_t, uint64_t> sealed_live_after;
  SealedLiveOf(*after, &sealed_live_after);
  for (const auto& [id, live] : sealed_live_before) {
    auto it = sealed_live_after.find(id);
    const uint64_t now = it == sealed_live_after.end() ? 0 : it->second;
    res.copied_bytes += live - std::min(live, now);
  }
  *writer_next = first_key + writer_puts.load();
  if (reclaim) {
    // Checked with the store open first: a pass may still be running (it stops at Close).
    res.bad = VerifyAll(store.get(), st, values, *writer_next, "after the load, store open");
    Check(store->Close(), "close");
    reclaimer.join();
    store.reset();
  }
  finished = true;
  watchdog.join();

  const uint64_t window = reclaim ? std::min(work_end.load(), end - start) : end - start;
  res.reclaim_finished = reclaim && work_end.load() != UINT64_MAX;
  res.window_s = static_cast<double>(window) / 1e9;
  res.put = Summarize(put_ops, window);
  res.get = Summarize(get_ops, window);
  res.puts = put_ops.size();
  res.gets = get_ops.size();
  res.passes = passes.load();
  res.errors = errors.load();
  res.first_error = first_error;
  Note(m.name + (reclaim ? ", reclaiming: " : ", idle: ") + std::to_string(res.puts) + " puts, " +
       std::to_string(res.gets) + " gets in " + std::to_string((end - start) / 1'000'000) +
       " ms; " + std::to_string(res.passes) + " reclaim passes (reports: " +
       std::to_string(copied_reported >> 20) + " MiB copied); " + std::to_string(res.compactions) +
       " volumes compacted; " + std::to_string(res.released_bytes >> 20) +
       " MiB released by the deadline (Stats().reclaimed_bytes +" +
       std::to_string(res.reclaimed_bytes >> 20) + " MiB); reclaimable " +
       std::to_string(res.reclaimable_before >> 20) + " -> " +
       std::to_string(res.reclaimable_after >> 20) + " MiB; load average " + LoadAvg());
  if (res.errors) Note("errors: " + std::to_string(res.errors) + ", first: " + res.first_error);
  return res;
}

ModeResult RunMode(const Flags& f, const Mode& m, const Values& values) {
  const std::string dir =
      (fs::path(f.dir) / ("reclaim-" + std::to_string(getpid()) + "-" + m.name)).string();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(fs::path(dir).parent_path(), ec);
  Note(m.name + ": building the starting state in " + dir);
  const State st = Build(f, m, values, dir);

  std::unique_ptr<Store> store = OpenStore(dir, Options(f, m));
  {
    Result<StoreStats> s = store->Stats();
    if (!s.ok()) Die("stats: " + s.status().ToString());
    if (s->reclaimable_bytes == 0) Die("the starting state has nothing to reclaim");
    ReclaimOptions dry;
    dry.dry_run = true;
    Result<ReclaimReport> plan = store->Reclaim(dry);
    if (!plan.ok()) Die("dry run: " + plan.status().ToString());
    uint64_t to_compact = 0;
    for (const auto& p : plan->volumes) to_compact += p.compact;
    Note("plan: " + std::to_string(s->volumes) + " volumes, " + std::to_string(to_compact) +
         " to compact (" + std::to_string(plan->copied_bytes >> 20) + " MiB to copy), " +
         std::to_string(plan->punched_bytes >> 20) + " MiB to punch; reclaimable " +
         std::to_string(s->reclaimable_bytes >> 20) + " MiB");
  }
  // Let the open settle before measuring: the preparer writes the next volume (64 MiB of zeros
  // and an fsync) right after an open, which the first durable puts would otherwise wait behind.
  for (int i = 0; i < 600; i++) {  // bounded: 60 s
    Result<StoreStats> s = store->Stats();
    if (!s.ok()) Die("stats: " + s.status().ToString());
    if (std::any_of(s->volume_list.begin(), s->volume_list.end(),
                    [](const VolumeStats& v) { return v.state == "prepared"; }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ModeResult r;
  uint64_t writer_next = 0;
  r.idle = Load(f, m, false, store, dir, st, values, &writer_next);
  r.reclaim = Load(f, m, true, store, dir, st, values, &writer_next);
  store = OpenStore(dir, Options(f, m));
  r.reclaim.bad += VerifyAll(store.get(), st, values, writer_next, "after reopening");
  Check(store->Close(), "close");
  store.reset();
  if (!f.keep) fs::remove_all(dir, ec);
  Note(m.name + ": verify: " +
       (r.reclaim.bad == 0 ? "every live key read back, open and after reopening"
                           : std::to_string(r.reclaim.bad) + " BAD"));
  return r;
}

double MiB(uint64_t b) { return static_cast<double>(b) / (1 << 20); }

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) {
  using namespace cairn::bench;
  Flags f;
  CLI::App app{"reclaim_bench: foreground p99 put/get latency with and without reclamation"};
  app.add_option("--dir", f.dir, "where the stores go (on the disk under test)");
  app.add_option("--seconds", f.seconds, "time bound of each foreground load");
  app.add_option("--fill-mib", f.fill_mib, "bytes of the starting fill");
  app.add_option("--churn", f.churn, "fraction of the fill overwritten or deleted")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--delete-share", f.delete_share, "of the churn, fraction deleted")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--volume-mib", f.volume_mib, "volume capacity");
  app.add_option("--reclaim-mbps", f.reclaim_mbps, "I/O budget of the budget mode");
  app.add_option("--modes", f.modes, "budget, mbps0, nothrottle (comma-separated)")->delimiter(',');
  app.add_option("--seed", f.seed);
  app.add_option("--max-ops", f.max_ops, "count bound per foreground thread and load");
  app.add_option("--max-passes", f.max_passes, "count bound of Reclaim calls per load");
  app.add_option("--grace-seconds", f.grace_seconds, "abort a load that overstays --seconds this much");
  app.add_option("--build-seconds", f.build_seconds, "bound of building one starting state");
  app.add_flag("--drop-caches", f.drop_caches, "drop the page cache before each load (root)");
  app.add_flag("--keep", f.keep, "keep the stores");
  app.add_option("--json", f.json, "append one JSON line per mode to this file");
  CLI11_PARSE(app, argc, argv);
  if (f.seconds <= 0 || f.seconds > 3600) Die("--seconds must be in (0, 3600]");
  if (f.modes.empty()) Die("--modes is empty");

  const Values values(f.seed);
  std::vector<ModeResult> results;
  for (const std::string& name : f.modes) results.push_back(RunMode(f, ModeFor(name, f), values));

  std::printf("fill %" PRIu64 " MiB (4 KiB + 64 KiB), churn %.0f%%, %" PRIu64
              " MiB volumes; %.0f s per load; load: 1 writer (kSync 4 KiB puts) + 1 reader "
              "(Gets of live keys, checked); each reclaim row follows its own idle row, on the "
              "same store%s\n\n",
              f.fill_mib, f.churn * 100, f.volume_mib, f.seconds,
              f.drop_caches ? "; page cache dropped before each load" : "");
  std::printf("| mode | put p50 µs | put p99 µs | get p50 µs | get p99 µs | p99 vs idle above "
              "(put / get) | MiB reclaimed | MiB copied | window s | puts | gets |\n");
  std::printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  auto row = [&](const PhaseResult& r, const PhaseResult* idle) {
    std::string ratio = "—";
    if (idle != nullptr) {
      char b[64];
      std::snprintf(b, sizeof(b), "%.2f× / %.2f×", r.put.p99 / idle->put.p99,
                    r.get.p99 / idle->get.p99);
      ratio = b;
    }
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %s | %.0f | %.0f | %.1f%s | %" PRIu64
                " | %" PRIu64 " |\n",
                ModeLabel(r.mode).c_str(), r.put.p50, r.put.p99, r.get.p50, r.get.p99,
                ratio.c_str(), MiB(r.released_bytes), MiB(r.copied_bytes), r.window_s,
                r.reclaim_finished ? " (done)" : "", r.put.n, r.get.n);
  };
  for (const ModeResult& r : results) {
    row(r.idle, nullptr);
    row(r.reclaim, &r.idle);
  }
  std::printf("\n");
  bool all_ok = true;
  for (const ModeResult& r : results) {
    all_ok = all_ok && r.reclaim.bad == 0 && r.reclaim.errors == 0 && r.idle.errors == 0;
    const Mode& m = r.reclaim.mode;
    const bool target = m.throttle && m.mbps != 0;
    for (const auto& [op, lat, base] : {std::tuple{"put", r.reclaim.put, r.idle.put},
                                        std::tuple{"get", r.reclaim.get, r.idle.get}}) {
      std::printf("%s%s p99 within 1.5x of idle (%s): %s (%.2f×; p999 %.0f vs %.0f µs, max %.0f "
                  "vs %.0f µs)\n",
                  target ? "target: " : "        ", op, ModeLabel(m).c_str(),
                  lat.p99 <= 1.5 * base.p99 ? "met" : "not met", lat.p99 / base.p99, lat.p999,
                  base.p999, lat.max, base.max);
    }
  }
  std::printf("verify: %s\n", all_ok ? "every live key read back correctly after every load, "
                                       "open and after reopening"
                                     : "FAILURES (see stderr)");
  if (!f.json.empty()) {
    std::ofstream out(f.json, std::ios::app);
    for (const ModeResult& mr : results) {
      for (const PhaseResult* rp : {&mr.idle, &mr.reclaim}) {
        const PhaseResult& r = *rp;
        JsonLine j;
        j.Str("bench", "reclaim").Str("mode", r.mode.name).Bool("reclaiming", r.mode.reclaim)
            .Bool("throttle", r.mode.throttle).Int("reclaim_mbps", r.mode.mbps)
            .Num("seconds", f.seconds).Num("window_s", r.window_s)
            .Bool("reclaim_finished", r.reclaim_finished).Int("puts", r.put.n)
            .Int("gets", r.get.n).Num("put_p50_us", r.put.p50).Num("put_p99_us", r.put.p99)
            .Num("put_p999_us", r.put.p999).Num("put_max_us", r.put.max)
            .Num("get_p50_us", r.get.p50).Num("get_p99_us", r.get.p99)
            .Num("get_p999_us", r.get.p999).Num("get_max_us", r.get.max)
            .Int("reclaimed_bytes", r.reclaimed_bytes).Int("released_bytes", r.released_bytes)
            .Int("copied_bytes", r.copied_bytes).Int("compactions", r.compactions)
            .Int("passes", r.passes).Int("reclaimable_before", r.reclaimable_before)
            .Int("reclaimable_after", r.reclaimable_after).Int("errors", r.errors)
            .Int("verify_failures", r.bad).Bool("drop_caches", f.drop_caches);
        out << j.Done() << "\n";
      }
    }
  }
  return all_ok ? 0 : 2;
}
