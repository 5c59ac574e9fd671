// engine_bench: measures one engine workload and prints one JSON line. run.sh drives the whole
// matrix with the peers; RESULTS.md explains the method and shows the results.
//
//   --op put|get        a timed load on cairn, rocksdb (BlobDB) or lmdb at equal durability
//   --op append_cost    the in-process cost of one non-durable Cairn put call
//   --op open_time      open time of a store of --objects objects (built once and kept),
//                       clean, cold and after SIGKILL, plus index memory and RSS
//   --op prewrite       4 KiB write+fdatasync into written vs fallocated vs extended files
//   --op fio_summary    turns one fio JSON output into a result line
//   --op report         turns result lines into the Markdown tables of RESULTS.md
//
// Every load loop is bounded by time (--seconds) and by count (--max-ops, --max-bytes).
// Latencies are per call, measured with steady_clock, kept in cairn::Histogram (ns).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <thread>
#include <vector>

#include "bench_engines.h"
#include "bench_report.h"
#include "bench_util.h"
#include "cairn/store.h"
#include "util/histogram.h"

namespace cairn::bench {
namespace {

namespace fs = std::filesystem;

char** g_argv = nullptr;  // for re-running this process (open_time)

struct Flags {
  std::string engine = "cairn";
  std::string op = "put";
  std::string size_text = "4k";
  size_t size = 4096;
  std::string mode_text = "sync";
  Mode mode = Mode::kSync;
  int threads = 1;
  double seconds = 3;
  uint64_t max_ops = 2'000'000;
  uint64_t max_bytes = uint64_t{4} << 30;
  std::string dir = "build-bench/bench-data";
  bool keep = false;
  uint64_t seed = 42;
  uint64_t preload = 0;  // 0: min(100k, 256 MiB / size)
  double preload_seconds = 120;
  double grace_seconds = 30;  // watchdog: how long a run may overstay --seconds
  uint64_t min_free_gib = 8;  // watchdog: abort below this much free disk
  uint64_t volume_mib = 1024;
  uint32_t interval_ms = 100;
  uint64_t calls = 200'000;  // append_cost
  // open_time
  uint64_t objects = 10'000'000;
  int build_threads = 16;
  double build_seconds = 1200;
  uint64_t index_cache_mib = 64;
  // The build's index cache. Large on purpose: with the default (64 MiB in 64 shards of 1 MiB)
  // every index lookup re-reads whole ~1.8 MB filter blocks (RESULTS.md), and a 10M build
  // would take most of an hour. Only the opens are measured, with --index-cache-mib.
  uint64_t build_index_cache_mib = 1024;
  uint64_t heads = 1'000'000;
  // Puts before the SIGKILL. The index persists its checkpoint with each memtable flush: a
  // 32 MiB memtable holds about 130k puts of 100 B (entry, checkpoint and volume account, ~250
  // bytes each), so 125k puts after an open is about the most a crash can leave to replay.
  uint64_t crash_ops = 125'000;
  // StoreOptions::checkpoint_records (0: the default), the crash writer's too. Twice the default
  // with --crash-ops 4 * default - 1 leaves 2 * default - 1 records to replay: the most a crash
  // can leave with the default bound.
  uint64_t checkpoint_records = 0;
  // The crash writer's background reclaimer flushes the index when it lists dead records, which
  // shortens the replay at random: off, the replay is what the checkpoint bounds leave.
  bool no_crash_reclaim = false;
  bool no_crash = false;
  // The open after the SIGKILL starts with the store's files out of the page cache (as after a
  // reboot or memory pressure): the replay's index lookups then read the disk.
  bool unclean_cold = false;
  bool rebuild = false;
  // prewrite
  uint64_t file_mib = 64;
  int rounds = 3;
  // fio_summary / report
  std::string fio_json;
  std::string label_op = "put";
  std::string pattern;
  std::vector<std::string> results;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "engine_bench: %s\n", msg.c_str());
  std::exit(1);
}

bool ParseSize(const std::string& t, size_t* out) {
  if (t.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  std::string suf(end);
  for (char& c : suf) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (suf == "" || suf == "b") {
  } else if (suf == "k" || suf == "kib" || suf == "kb") {
    v *= 1024;
  } else if (suf == "m" || suf == "mib" || suf == "mb") {
    v *= 1024 * 1024;
  } else {
    return false;
  }
  if (v < 1 || v > 64.0 * 1024 * 1024) return false;
  *out = static_cast<size_t>(v);
  return true;
}

double Us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

JsonLine& AddLatency(JsonLine& j, const Histogram& h) {
  return j.Num("p50_us", Us(h.Percentile(0.50)))
      .Num("p99_us", Us(h.Percentile(0.99)))
      .Num("p999_us", Us(h.Percentile(0.999)))
      .Num("max_us", Us(h.max()))
      .Num("mean_us", h.mean() / 1000.0);
}

void Emit(const JsonLine& j) {
  std::printf("%s\n", j.Done().c_str());
  std::fflush(stdout);
}

// A directory this run creates and (unless --keep) removes.
std::string RunDir(const Flags& f, const std::string& what) {
  fs::path p = fs::path(f.dir) / (what + "-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove_all(p, ec);
  fs::create_directories(p, ec);
  if (ec) Die("cannot create " + p.string() + ": " + ec.message());
  return p.string();
}

void RemoveRunDir(const Flags& f, const std::string& d) {
  if (f.keep) return;
  std::error_code ec;
  fs::remove_all(d, ec);
}

// Bytes allocated on the device under `dir` (st_blocks), following no symlinks.
uint64_t AllocatedBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    struct stat st;
    if (::lstat(entry.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// ------------------------------------------------------------------ put / get
int RunLoad(const Flags& f) {
  const bool is_get = f.op == "get";
  const ValuePool pool((64 << 20) + f.size, f.seed);
  uint64_t max_ops = f.max_ops;
  uint64_t preload = 0;
  if (is_get) {
    preload = f.preload != 0 ? f.preload
                             : std::max<uint64_t>(1, std::min<uint64_t>(100'000, (256 << 20) / f.size));
  } else {
    max_ops = std::min<uint64_t>(max_ops, std::max<uint64_t>(1, f.max_bytes / f.size));
  }
  EngineConfig cfg;
  cfg.dir = RunDir(f, f.engine + "-" + f.op);
  cfg.mode = f.mode;
  cfg.cairn_volume_capacity = f.volume_mib << 20;
  cfg.interval_ms = f.interval_ms;
  // LMDB's map must hold everything this run can write; overflow pages round values up.
  uint64_t data = is_get ? preload * (f.size + 4096) : max_ops * (f.size + 4096);
  cfg.lmdb_map_bytes = std::max<uint64_t>(uint64_t{4} << 30, data * 2 + (uint64_t{1} << 30));
  std::string err;
  std::unique_ptr<BenchEngine> e = BenchEngine::Open(f.engine, cfg, &err);
  if (e == nullptr) Die("open " + f.engine + ": " + err);

  if (is_get) {
    // Preload with 4 threads, bounded in time; the claimed indices 0..n-1 all complete.
    e->BeginPreload();
    std::atomic<uint64_t> next{0};
    std::atomic<uint64_t> failed{0};
    const uint64_t deadline = NowNanos() + static_cast<uint64_t>(f.preload_seconds * 1e9);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) {
      ts.emplace_back([&] {
        std::string perr;
        while (NowNanos() < deadline) {
          uint64_t i = next.fetch_add(1);
          if (i >= preload) break;
          std::string k = KeyFor(i, f.seed);
          if (!e->Put(k, pool.For(k, f.size), &perr)) failed++;
        }
        e->ThreadDone();
      });
    }
    for (auto& t : ts) t.join();
    preload = std::min(preload, next.load());
    if (failed > 0) Die("preload: " + std::to_string(failed.load()) + " puts failed");
    if (!e->EndPreload(&err)) Die("preload: " + err);
  }
  e->WaitSteady();

  struct alignas(64) PerThread {
    std::atomic<uint64_t> done{0};  // calls finished; read by the watchdog
    Histogram h;
    uint64_t errors = 0;
    uint64_t mismatches = 0;
    std::string first_error;
  };
  std::vector<PerThread> per(static_cast<size_t>(f.threads));
  std::atomic<uint64_t> issued{0};
  std::atomic<uint64_t> start_ns{0};
  std::latch go(f.threads + 1);
  const uint64_t run_ns = static_cast<uint64_t>(f.seconds * 1e9);
  std::vector<std::thread> ts;
  for (int t = 0; t < f.threads; t++) {
    ts.emplace_back([&, t] {
      PerThread& me = per[static_cast<size_t>(t)];
      Rng rng(f.seed * 7919 + static_cast<uint64_t>(t) + 1);
      std::string out, err1;
      char keybuf[kKeyBytes];
      go.arrive_and_wait();
      const uint64_t deadline = start_ns.load() + run_ns;
      for (;;) {
        if (issued.fetch_add(1, std::memory_order_relaxed) >= max_ops) break;
        bool ok;
        uint64_t t0, t1;
        if (is_get) {
          std::string k = KeyFor(rng.Uniform(preload), f.seed);
          t0 = NowNanos();
          ok = e->Get(k, &out, &err1);
          t1 = NowNanos();
          // Every engine's bytes are checked, so all do the same work.
          if (ok && std::string_view(out) != pool.For(k, f.size)) {
            ok = false;
            me.mismatches++;
            err1 = "value mismatch";
          }
        } else {
          RandomKey(&rng, keybuf);
          std::string_view v = pool.Random(&rng, f.size);
          t0 = NowNanos();
          ok = e->Put(std::string_view(keybuf, kKeyBytes), v, &err1);
          t1 = NowNanos();
        }
        me.done.store(me.done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (ok) {
          me.h.Add(t1 - t0);
        } else {
          if (me.errors++ == 0) me.first_error = err1;
          if (me.errors >= 1000) break;  // a broken engine must not spin
        }
        if (t1 >= deadline) break;
      }
      e->ThreadDone();
    });
  }
  // Watchdog: a run that overstays its time bound by --grace-seconds (a call blocked inside
  // the engine), or that leaves less than --min-free-gib on the disk, is aborted.
  std::atomic<bool> finished{false};
  std::string abort_reason;
  start_ns = NowNanos();
  const uint64_t limit = start_ns.load() + run_ns + static_cast<uint64_t>(f.grace_seconds * 1e9);
  // The most disk a run may take: what it writes, plus three volumes, plus 1 GiB.
  const uint64_t max_dir_bytes = std::max(max_ops * f.size, preload * f.size) +
                                 3 * cfg.cairn_volume_capacity + (uint64_t{1} << 30);
  std::thread watchdog([&] {
    int ticks = 0;
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      struct statvfs sv;
      uint64_t free_bytes = statvfs(cfg.dir.c_str(), &sv) == 0
                                ? static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize
                                : UINT64_MAX;
      std::string why;
      if (NowNanos() > limit) why = "run exceeded its time bound by more than --grace-seconds";
      if (free_bytes < (f.min_free_gib << 30)) why = "free disk space fell below --min-free-gib";
      if (++ticks % 5 == 0 && AllocatedBytes(cfg.dir) > max_dir_bytes)
        why = "the engine's files outgrew the data this run can write (" +
              std::to_string(max_dir_bytes >> 30) + " GiB)";
      if (!why.empty()) {
        abort_reason = why;
        std::fprintf(stderr, "engine_bench: aborting: %s\n", why.c_str());
        e->Abort();
        // If calls are still blocked inside the engine 10 s after Abort(), report what is
        // known, remove the data and leave: the run must stay bounded.
        for (int i = 0; i < 100 && !finished; i++)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (finished) return;
        uint64_t done = 0;
        for (const PerThread& p : per) done += p.done.load(std::memory_order_relaxed);
        const double secs = static_cast<double>(NowNanos() - start_ns.load()) / 1e9;
        JsonLine j;
        j.Str("engine", f.engine).Str("op", f.op).Int("size", f.size)
            .Str("mode", ModeName(f.mode)).Int("threads", static_cast<uint64_t>(f.threads))
            .Int("ops", done).Num("seconds", secs).Num("ops_per_s", static_cast<double>(done) / secs)
            .Num("mb_per_s", static_cast<double>(done) * static_cast<double>(f.size) / secs / 1e6)
            .Str("aborted", why + "; calls were still blocked inside the engine 10 s after "
                                  "Abort(), so latencies are unknown");
        Emit(j);
        std::fprintf(stderr, "engine_bench: %s\n", j.Done().c_str());
        RemoveRunDir(f, cfg.dir);
        _exit(3);
      }
    }
  });
  go.arrive_and_wait();
  for (auto& t : ts) t.join();
  const uint64_t wall = NowNanos() - start_ns.load();
  finished = true;
  watchdog.join();
  Histogram all;
  uint64_t errors = 0, mismatches = 0;
  std::string first_error;
  for (const PerThread& p : per) {
    all.Merge(p.h);
    errors += p.errors;
    mismatches += p.mismatches;
    if (first_error.empty()) first_error = p.first_error;
  }
  const std::string config = e->Describe();
  const std::string extra = abort_reason.empty() ? e->ExtraJson() : "";
  e.reset();
  RemoveRunDir(f, cfg.dir);
  const double secs = static_cast<double>(wall) / 1e9;
  const double ops = static_cast<double>(all.count());
  JsonLine j;
  j.Str("engine", f.engine).Str("op", f.op).Int("size", f.size).Str("mode", ModeName(f.mode))
      .Int("threads", static_cast<uint64_t>(f.threads)).Int("ops", all.count()).Num("seconds", secs)
      .Num("ops_per_s", ops / secs).Num("mb_per_s", ops * static_cast<double>(f.size) / secs / 1e6);
  AddLatency(j, all).Int("errors", errors).Int("mismatches", mismatches);
  if (is_get) j.Int("preload", preload);
  if (!first_error.empty()) j.Str("first_error", first_error);
  if (!abort_reason.empty()) j.Str("aborted", abort_reason);
  j.Raw(extra).Str("config", config);
  Emit(j);
  return errors == 0 ? 0 : 2;
}

StoreOptions QuietOptions(const Flags& f, Durability d) {
  StoreOptions o;
  o.volume_capacity = f.volume_mib << 20;
  o.durability = d;
  o.index_cache_bytes = f.index_cache_mib << 20;
  if (f.checkpoint_records != 0) o.checkpoint_records = f.checkpoint_records;
  o.info_log = [](const std::string& m) { std::fprintf(stderr, "cairn: %s\n", m.c_str()); };
  return o;
}

// ------------------------------------------------------------------ append_cost
// The in-process cost of one non-durable put: 100-byte values, one thread, kNone. Also
// measures the two floors under it: reading the clock, and one pwrite of a record-sized
// buffer into an already-written file (the one system call a put cannot avoid).
int RunAppendCost(const Flags& f) {
  const std::string d = RunDir(f, "append-cost");
  const size_t size = f.size;
  const ValuePool pool((16 << 20) + size, f.seed);
  Histogram h, clock_h, pw_h;
  {
    auto s = Store::Open(d + "/store", QuietOptions(f, Durability::kNone));
    if (!s.ok()) Die(s.status().ToString());
    std::unique_ptr<Store> store = std::move(*s);
    Rng rng(f.seed);
    char key[kKeyBytes];
    (void)store->Put("bench-warmup-key", "x");  // the session's first write: one-time cost
    for (int i = 0; i < 10000; i++) {  // warm caches and allocators
      RandomKey(&rng, key);
      if (!store->Put(std::string_view(key, kKeyBytes), pool.Random(&rng, size)).ok())
        Die("warm-up put failed");
    }
    const uint64_t n = f.calls;
    const uint64_t deadline = NowNanos() + static_cast<uint64_t>(f.seconds * 1e9);
    for (uint64_t i = 0; i < n; i++) {
      RandomKey(&rng, key);
      std::string_view v = pool.Random(&rng, size);
      uint64_t t0 = NowNanos();
      Status st = store->Put(std::string_view(key, kKeyBytes), v);
      uint64_t t1 = NowNanos();
      if (!st.ok()) Die(st.ToString());
      h.Add(t1 - t0);
      if (t1 >= deadline) break;
    }
    if (!store->Close().ok()) Die("close failed");
  }
  for (int i = 0; i < 1'000'000; i++) {
    uint64_t t0 = NowNanos();
    uint64_t t1 = NowNanos();
    clock_h.Add(t1 - t0);
  }
  {
    // A record of a 16-byte key and a 100-byte value is 40 + 16 + 100 rounded up to 8: 160.
    const size_t rec = (40 + kKeyBytes + size + 7) / 8 * 8;
    const std::string path = d + "/pwrite.dat";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) Die("open " + path);
    std::string zeros(1 << 20, '\0');
    const uint64_t bytes = 64 << 20;
    for (uint64_t off = 0; off < bytes; off += zeros.size())
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) < 0) Die("pwrite");
    (void)::fdatasync(fd);
    std::string buf(rec, 'r');
    for (uint64_t off = 0; off + rec <= bytes && pw_h.count() < 200'000; off += rec) {
      uint64_t t0 = NowNanos();
      if (::pwrite(fd, buf.data(), rec, static_cast<off_t>(off)) != static_cast<ssize_t>(rec))
        Die("pwrite");
      pw_h.Add(NowNanos() - t0);
    }
    ::close(fd);
  }
  RemoveRunDir(f, d);
  JsonLine j;
  j.Str("engine", "cairn").Str("op", "append_cost").Int("size", size).Str("mode", "none")
      .Int("threads", 1).Int("ops", h.count());
  AddLatency(j, h)
      .Num("clock_p50_ns", static_cast<double>(clock_h.Percentile(0.5)))
      .Num("pwrite_rec_p50_us", Us(pw_h.Percentile(0.5)))
      .Num("pwrite_rec_p99_us", Us(pw_h.Percentile(0.99)));
  Emit(j);
  return 0;
}

// ------------------------------------------------------------------ open_time
// Evicts the store's files from the page cache (clean pages only; nothing else on the machine
// is touched), for a cold open.
void EvictFromCache(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    (void)::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

uint64_t BuildStore(const Flags& f, const std::string& sd) {
  std::error_code ec;
  fs::remove_all(sd, ec);
  StoreOptions o = QuietOptions(f, Durability::kNone);
  o.index_cache_bytes = f.build_index_cache_mib << 20;
  auto s = Store::Open(sd, o);
  if (!s.ok()) Die(s.status().ToString());
  std::unique_ptr<Store> store = std::move(*s);
  const ValuePool pool((16 << 20) + 100, f.seed);
  std::atomic<uint64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  const uint64_t t_start = NowNanos();
  const uint64_t deadline = t_start + static_cast<uint64_t>(f.build_seconds * 1e9);
  constexpr uint64_t kClaim = 1000;
  std::vector<std::thread> ts;
  for (int t = 0; t < f.build_threads; t++) {
    ts.emplace_back([&, t] {
      Rng rng(f.seed + 17 + static_cast<uint64_t>(t));
      while (!failed && NowNanos() < deadline) {
        uint64_t base = next.fetch_add(kClaim);
        if (base >= f.objects) break;
        uint64_t end = std::min(f.objects, base + kClaim);
        for (uint64_t i = base; i < end; i++) {
          Status st = store->Put(KeyFor(i, f.seed), pool.Random(&rng, 100));
          if (!st.ok()) {
            std::fprintf(stderr, "engine_bench: build put: %s\n", st.ToString().c_str());
            failed = true;
            return;
          }
        }
        done += end - base;
      }
    });
  }
  uint64_t last = t_start;
  while (done < f.objects && !failed && NowNanos() < deadline + 1'000'000'000ull) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (NowNanos() - last > 5'000'000'000ull) {
      last = NowNanos();
      std::fprintf(stderr, "engine_bench: built %" PRIu64 " of %" PRIu64 " objects (%.0f s)\n",
                   done.load(), f.objects, static_cast<double>(last - t_start) / 1e9);
    }
  }
  for (auto& t : ts) t.join();
  if (failed) Die("building the store failed");
  // Claimed chunks always complete, so the keys 0..n-1 all exist.
  const uint64_t n = std::min(f.objects, next.load());
  const double secs = static_cast<double>(NowNanos() - t_start) / 1e9;
  std::fprintf(stderr, "engine_bench: built %" PRIu64 " objects in %.1f s (%.0f puts/s); closing\n",
               n, secs, static_cast<double>(n) / secs);
  if (!store->Close().ok()) Die("close after build failed");
  std::ofstream(sd + "/BUILT") << n << "\n";
  return n;
}

// Child of open_time: opens the store, overwrites random keys, says "ready" and waits to be
// SIGKILLed, so the parent can time an open after an unclean shutdown.
int RunCrashWriter(const Flags& f) {
  StoreOptions o = QuietOptions(f, Durability::kNone);
  o.index_cache_bytes = f.build_index_cache_mib << 20;  // not measured: see BuildStore
  if (f.no_crash_reclaim) o.background_reclaim = false;
  auto s = Store::Open(f.dir, o);
  if (!s.ok()) Die(s.status().ToString());
  std::unique_ptr<Store> store = std::move(*s);
  const ValuePool pool((16 << 20) + 100, f.seed + 1);
  std::atomic<uint64_t> next{0};
  const uint64_t deadline = NowNanos() + 120'000'000'000ull;
  // One writer: concurrent writers would also exercise the volume-switch cascade
  // (RESULTS.md), which grows the kept store by a volume per waiting writer.
  Rng rng(f.seed + 991);
  while (next.fetch_add(1) < f.crash_ops && NowNanos() < deadline)
    (void)store->Put(KeyFor(rng.Uniform(f.objects), f.seed), pool.Random(&rng, 100));
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

int RunOpenTime(const Flags& f) {
  const std::string sd = (fs::path(f.dir) / ("open-" + std::to_string(f.objects))).string();
  uint64_t built = 0;
  if (!f.rebuild) std::ifstream(sd + "/BUILT") >> built;
  // Every unclean open seals a volume and starts a new one: rebuild a store that has grown
  // past 8 GiB rather than let it fill the disk.
  if (built != 0 && AllocatedBytes(sd) > (uint64_t{8} << 30)) {
    std::fprintf(stderr, "engine_bench: %s has grown past 8 GiB; rebuilding it\n", sd.c_str());
    built = 0;
  }
  if (built == 0) {
    std::fprintf(stderr, "engine_bench: building a store of %" PRIu64 " objects in %s\n",
                 f.objects, sd.c_str());
    built = BuildStore(f, sd);
    // Measure in a fresh process: the build's freed memory would otherwise stay in this
    // process's RSS (malloc keeps it) and pollute the memory figures.
    std::fprintf(stderr, "engine_bench: re-running in a fresh process to measure\n");
    std::fflush(stdout);
    std::vector<char*> args;
    for (char** a = g_argv; *a != nullptr; a++)
      if (std::string_view(*a) != "--rebuild") args.push_back(*a);
    args.push_back(nullptr);
    execv("/proc/self/exe", args.data());
    Die("execv /proc/self/exe failed");
  } else {
    std::fprintf(stderr, "engine_bench: reusing %s (%" PRIu64 " objects)\n", sd.c_str(), built);
  }
  const StoreOptions o = QuietOptions(f, Durability::kSync);
  // Clean opens, warm page cache: median of 3.
  std::vector<double> warm_ms;
  std::unique_ptr<Store> store;
  for (int r = 0; r < 3; r++) {
    store.reset();
    uint64_t t0 = NowNanos();
    auto s = Store::Open(sd, o);
    uint64_t t1 = NowNanos();
    if (!s.ok()) Die(s.status().ToString());
    store = std::move(*s);
    warm_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    if (r < 2 && !store->Close().ok()) Die("close failed");
  }
  std::sort(warm_ms.begin(), warm_ms.end());
  auto st = store->Stats();
  if (!st.ok()) Die(st.status().ToString());
  const uint64_t objects = st->objects;
  const uint64_t rss_open = ProcStatusKiB("VmRSS");
  const uint64_t idx_open = st->index_memory_bytes;
  // 1M random Heads (bounded at 120 s).
  Histogram hh;
  uint64_t missing = 0;
  {
    Rng rng(f.seed + 5);
    const uint64_t deadline = NowNanos() + 120'000'000'000ull;
    for (uint64_t i = 0; i < f.heads; i++) {
      std::string k = KeyFor(rng.Uniform(built), f.seed);
      uint64_t t0 = NowNanos();
      auto h = store->Head(k);
      uint64_t t1 = NowNanos();
      if (!h.ok()) missing++;
      hh.Add(t1 - t0);
      if (t1 >= deadline) break;
    }
  }
  st = store->Stats();
  if (!st.ok()) Die(st.status().ToString());
  const uint64_t rss_heads = ProcStatusKiB("VmRSS");
  const uint64_t idx_heads = st->index_memory_bytes;
  const uint64_t allocated = st->allocated_bytes;
  const uint64_t index_allocated = st->index_allocated_bytes;
  if (!store->Close().ok()) Die("close failed");
  store.reset();

  // Cold: the store's own files dropped from the page cache.
  EvictFromCache(sd);
  double cold_ms;
  {
    uint64_t t0 = NowNanos();
    auto s = Store::Open(sd, o);
    cold_ms = static_cast<double>(NowNanos() - t0) / 1e6;
    if (!s.ok()) Die(s.status().ToString());
    if (!(*s)->Close().ok()) Die("close failed");
  }

  // Unclean: a child process writes and is SIGKILLed; then time the open that recovers.
  double unclean_ms = -1;
  RecoveryReport rep;
  if (!f.no_crash) {
    int pfd[2];
    if (pipe(pfd) != 0) Die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
      dup2(pfd[1], 1);
      close(pfd[0]);
      std::vector<std::string> args = {"engine_bench", "--op", "crash_writer", "--dir", sd,
                                       "--objects", std::to_string(built), "--crash-ops",
                                       std::to_string(f.crash_ops), "--seed",
                                       std::to_string(f.seed), "--build-threads",
                                       std::to_string(f.build_threads), "--checkpoint-records",
                                       std::to_string(f.checkpoint_records)};
      if (f.no_crash_reclaim) args.push_back("--no-crash-reclaim");
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(pfd[1]);
    char buf[16] = {0};
    ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);  // blocks until "ready" or the child dies
    close(pfd[0]);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n <= 0) Die("crash writer failed before it was ready");
    if (f.unclean_cold) EvictFromCache(sd);
    uint64_t t0 = NowNanos();
    auto s = Store::Open(sd, o);
    unclean_ms = static_cast<double>(NowNanos() - t0) / 1e6;
    if (!s.ok()) Die(s.status().ToString());
    rep = (*s)->recovery_report();
    if (!(*s)->Close().ok()) Die("close failed");
  }
  const uint64_t bound = (f.index_cache_mib << 20) + 2 * (uint64_t{32} << 20);
  JsonLine j;
  j.Str("engine", "cairn").Str("op", "open_time").Int("objects", objects)
      .Num("open_ms", warm_ms[1]).Num("open_ms_min", warm_ms[0]).Num("open_ms_max", warm_ms[2])
      .Num("cold_open_ms", cold_ms).Num("unclean_open_ms", unclean_ms)
      .Int("crash_ops", f.crash_ops).Int("crash_checkpoint_records", f.checkpoint_records)
      .Int("replayed_records", rep.records_replayed).Int("replayed_bytes", rep.bytes_replayed)
      .Num("recovery_ms", static_cast<double>(rep.micros) / 1000.0)
      .Bool("unclean_cold", f.unclean_cold)
      .Num("recovery_index_open_ms", static_cast<double>(rep.timings.index_open) / 1000.0)
      .Num("recovery_scan_ms", static_cast<double>(rep.timings.scan) / 1000.0)
      .Num("recovery_sync_ms", static_cast<double>(rep.timings.sync) / 1000.0)
      .Num("recovery_lookup_ms", static_cast<double>(rep.timings.lookup) / 1000.0)
      .Num("recovery_apply_ms", static_cast<double>(rep.timings.apply) / 1000.0)
      .Num("recovery_index_write_ms", static_cast<double>(rep.timings.index_write) / 1000.0)
      .Num("recovery_index_flush_ms", static_cast<double>(rep.timings.index_flush) / 1000.0)
      .Int("index_cache_bytes", f.index_cache_mib << 20).Int("index_memory_bound", bound)
      .Int("index_memory_after_open", idx_open).Int("index_memory_after_heads", idx_heads)
      .Int("rss_kib_after_open", rss_open).Int("rss_kib_after_heads", rss_heads)
      .Int("hwm_kib", ProcStatusKiB("VmHWM")).Int("heads", hh.count()).Int("heads_missing", missing)
      .Num("head_p50_us", Us(hh.Percentile(0.5))).Num("head_p99_us", Us(hh.Percentile(0.99)))
      .Int("allocated_bytes", allocated).Int("index_allocated_bytes", index_allocated);
  Emit(j);
  return missing == 0 ? 0 : 2;
}

// ------------------------------------------------------------------ prewrite
// 4 KiB pwrite + fdatasync, appending through a file that is (a) already written, (b) only
// fallocated (unwritten extents: every sync also converts an extent), (c) extended by each
// write (every sync also logs a new size and block). Rounds interleave the three.
int RunPrewrite(const Flags& f) {
  const std::string d = RunDir(f, "prewrite");
  const size_t block = f.size;
  const uint64_t file_bytes = f.file_mib << 20;
  const uint64_t per_round = std::min<uint64_t>(f.max_ops, file_bytes / block);
  const uint64_t round_ns = static_cast<uint64_t>(f.seconds * 1e9 / 3.0);
  const char* names[3] = {"written", "fallocated", "extending"};
  Histogram total[3], sync_only[3];
  uint64_t busy_ns[3] = {0, 0, 0};
  std::string buf(block, '\0');
  Rng rng(f.seed);
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    uint64_t v = rng.Next();
    std::memcpy(&buf[i], &v, 8);
  }
  const std::string written = d + "/written.dat";
  {
    int fd = ::open(written.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) Die("open " + written);
    std::string zeros(1 << 20, '\0');
    for (uint64_t off = 0; off < file_bytes; off += zeros.size())
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) < 0) Die("pwrite");
    if (::fdatasync(fd) != 0) Die("fdatasync");
    ::close(fd);
  }
  for (int r = 0; r < f.rounds; r++) {
    for (int p = 0; p < 3; p++) {
      int fd;
      if (p == 0) {
        fd = ::open(written.c_str(), O_RDWR);
      } else {
        const std::string path = d + "/" + names[p] + ".dat";
        ::unlink(path.c_str());
        fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0 && p == 1 && ::fallocate(fd, 0, 0, static_cast<off_t>(file_bytes)) != 0)
          Die("fallocate");
        if (fd >= 0) (void)::fsync(fd);
      }
      if (fd < 0) Die("open");
      const uint64_t t_start = NowNanos();
      for (uint64_t i = 0; i < per_round; i++) {
        uint64_t t0 = NowNanos();
        if (::pwrite(fd, buf.data(), block, static_cast<off_t>(i * block)) !=
            static_cast<ssize_t>(block))
          Die("pwrite");
        uint64_t t1 = NowNanos();
        if (::fdatasync(fd) != 0) Die("fdatasync");
        uint64_t t2 = NowNanos();
        total[p].Add(t2 - t0);
        sync_only[p].Add(t2 - t1);
        if (t2 - t_start >= round_ns) break;
      }
      busy_ns[p] += NowNanos() - t_start;
      ::close(fd);
    }
  }
  RemoveRunDir(f, d);
  for (int p = 0; p < 3; p++) {
    JsonLine j;
    j.Str("engine", "file").Str("op", "prewrite").Str("pattern", names[p]).Int("size", block)
        .Int("threads", 1).Int("ops", total[p].count())
        .Num("ops_per_s", static_cast<double>(total[p].count()) * 1e9 /
                              static_cast<double>(std::max<uint64_t>(1, busy_ns[p])));
    AddLatency(j, total[p]).Num("sync_p50_us", Us(sync_only[p].Percentile(0.5)));
    Emit(j);
  }
  return 0;
}

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) {
  using namespace cairn::bench;
  Flags f;
  CLI::App app{"engine_bench: one Cairn engine workload, or a peer doing the same, as JSON"};
  app.add_option("--engine", f.engine, "cairn, rocksdb or lmdb");
  app.add_option("--op", f.op,
                 "put, get, append_cost, open_time, prewrite, fio_summary, report");
  CLI::Option* size_opt =
      app.add_option("--size", f.size_text, "value (or block) size: 100, 4k, 10k, 1m");
  app.add_option("--mode", f.mode_text, "sync, interval or none");
  app.add_option("--threads", f.threads, "concurrent callers")->check(CLI::Range(1, 1024));
  app.add_option("--seconds", f.seconds, "time bound of the measured loop");
  app.add_option("--max-ops", f.max_ops, "count bound of the measured loop");
  app.add_option("--max-bytes", f.max_bytes, "bytes a put run may write (bounds --max-ops)");
  app.add_option("--dir", f.dir, "where data goes (the filesystem under test)");
  app.add_flag("--keep", f.keep, "keep the run's data directory");
  app.add_option("--seed", f.seed);
  app.add_option("--preload", f.preload, "objects loaded before a get run");
  app.add_option("--preload-seconds", f.preload_seconds);
  app.add_option("--grace-seconds", f.grace_seconds,
                 "abort a run that overstays --seconds by this much (a blocked call)");
  app.add_option("--min-free-gib", f.min_free_gib, "abort a run below this much free disk");
  app.add_option("--volume-mib", f.volume_mib, "Cairn volume capacity");
  app.add_option("--interval-ms", f.interval_ms, "sync interval of the interval mode");
  app.add_option("--calls", f.calls, "append_cost: timed calls");
  app.add_option("--objects", f.objects, "open_time: objects in the store");
  app.add_option("--build-threads", f.build_threads);
  app.add_option("--build-seconds", f.build_seconds);
  app.add_option("--index-cache-mib", f.index_cache_mib);
  app.add_option("--build-index-cache-mib", f.build_index_cache_mib);
  app.add_option("--heads", f.heads);
  app.add_option("--crash-ops", f.crash_ops, "open_time: puts before the SIGKILL");
  app.add_option("--checkpoint-records", f.checkpoint_records,
                 "StoreOptions::checkpoint_records of the stores this run opens (0: the default)");
  app.add_flag("--no-crash-reclaim", f.no_crash_reclaim,
               "open_time: the crash writer runs without the background reclaimer");
  app.add_flag("--no-crash", f.no_crash);
  app.add_flag("--unclean-cold", f.unclean_cold,
               "open_time: drop the store's files from the page cache before the open that "
               "recovers from the SIGKILL");
  app.add_flag("--rebuild", f.rebuild);
  app.add_option("--file-mib", f.file_mib, "prewrite: file size");
  app.add_option("--rounds", f.rounds, "prewrite: interleaved rounds");
  app.add_option("--fio-json", f.fio_json, "fio_summary: fio --output-format=json output");
  app.add_option("--label-op", f.label_op, "fio_summary: op to file the figure under");
  app.add_option("--pattern", f.pattern, "fio_summary: pattern label");
  app.add_option("--results", f.results, "report: JSON-lines files");
  CLI11_PARSE(app, argc, argv);
  g_argv = argv;
  if (f.op == "append_cost" && size_opt->count() == 0) f.size_text = "100";
  if (!ParseSize(f.size_text, &f.size)) Die("bad --size " + f.size_text);
  if ((f.op == "put" || f.op == "get") && !ParseMode(f.mode_text, &f.mode))
    Die("bad --mode " + f.mode_text);
  if (f.seconds <= 0 || f.seconds > 3600) Die("--seconds must be in (0, 3600]");

  if (f.op == "put" || f.op == "get") return RunLoad(f);
  if (f.op == "append_cost") return RunAppendCost(f);
  if (f.op == "open_time") return RunOpenTime(f);
  if (f.op == "crash_writer") return RunCrashWriter(f);
  if (f.op == "prewrite") return RunPrewrite(f);
  if (f.op == "fio_summary") {
    std::string line;
    std::string err = FioSummary(f.fio_json, f.label_op, f.size, f.mode_text, f.pattern, f.threads, &line);
    if (!err.empty()) Die(err);
    std::printf("%s\n", line.c_str());
    return 0;
  }
  if (f.op == "report") {
    std::string err = Report(f.results, stdout);
    if (!err.empty()) Die(err);
    return 0;
  }
  Die("unknown --op " + f.op);
}
