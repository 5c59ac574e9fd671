// cold_get_bench: how many device reads a cold GET costs (issue 16, item 3), through the engine
// in process and through cairnd, against fio's random reads (cold_get.sh drives it and fio).
//
//   --op build    a store of --objects random values of --size under --dir (built once, kept;
//                 --dir/BUILT records the count)
//   --op engine   opens that store in this process, reads its index once (--warm scan) or not
//                 (--warm none), drops the page cache, then reads --count keys, each once, in a
//                 random order, from --qd threads: --path get (Store::Get: one pread of the
//                 whole record, checksums verified) or --path pin (Store::PinObject, then the
//                 value's pages warmed as cairnd's pool path warms them, then read)
//   --op server   the same through a running cairnd (--server, --key-file): --qd GETs in
//                 flight, every body checked; --server-pid names cairnd for its /proc I/O count
//
// Each run prints one JSON line: GETs/s, latency, and per GET the device's read requests and
// sectors (/proc/diskstats of the device holding --dir: the whole device, so other tenants'
// reads count too), the bytes the reading process had fetched from storage (/proc/PID/io
// read_bytes: that process only) and, in process, RocksDB's block reads (perf context).
//
// Dropping the page cache needs root; it is the caller's job to serialise runs that drop it
// (cold_get.sh holds /tmp/cairn-dropcache.lock around each run). Every loop is bounded in count
// (--count, at most the objects) and time (--seconds).
#include <fcntl.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "cairn/client.h"
#include "cairn/store.h"
#include "net/send_file.h"
#include "util/histogram.h"

namespace cairn::bench {
namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string op;
  std::string dir = "build-bench/coldget";
  uint64_t objects = 2'000'000;
  std::string size_text = "4k";
  size_t size = 4096;
  uint64_t volume_mib = 1024;
  uint64_t seed = 42;
  uint64_t run_seed = 1;  // which keys, in which order
  int build_threads = 4;
  double build_seconds = 1200;
  std::string path = "get";
  std::string warm = "scan";
  int qd = 1;
  uint64_t count = 20000;
  // GETs of other keys after the drop, not measured: the drop also evicts the reader's own
  // code (RocksDB's, the server's), which the first GETs would fault back in from the disk.
  uint64_t settle = 200;
  double seconds = 30;
  uint64_t index_cache_mib = 64;
  bool drop_caches = true;
  std::string server;
  std::string key_file;
  int server_pid = 0;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "cold_get_bench: %s\n", msg.c_str());
  std::exit(1);
}

std::string StoreDir(const Flags& f) { return (fs::path(f.dir) / "store").string(); }

// The i-th key: "cold/" and 16 hex digits that look random, so key order is not write order.
std::string KeyName(uint64_t i, uint64_t seed) {
  char b[32];
  std::snprintf(b, sizeof(b), "cold/%016llx",
                static_cast<unsigned long long>(Mix64(i ^ (seed * 0x51ED27ULL))));
  return b;
}

// The value key i holds: bytes of a random pool at an offset derived from i.
std::string_view ValueFor(const std::vector<char>& pool, uint64_t i, size_t size) {
  return std::string_view(pool.data() + Mix64(i * 0x9E37ULL + 7) % (pool.size() - size + 1), size);
}

std::vector<char> MakePool(size_t size, uint64_t seed) {
  std::vector<char> p((size_t{64} << 20) + size);
  Rng r(seed);
  for (size_t i = 0; i + 8 <= p.size(); i += 8) {
    uint64_t v = r.Next();
    std::memcpy(&p[i], &v, 8);
  }
  return p;
}

// The objects of the kept store (0: none built), and checks it holds values of --size.
uint64_t Built(const Flags& f) {
  uint64_t n = 0, size = 0;
  std::ifstream(fs::path(f.dir) / "BUILT") >> n >> size;
  if (n != 0 && size != f.size)
    Die("the store in " + f.dir + " holds values of " + std::to_string(size) + " bytes, not --size");
  return n;
}

// ------------------------------------------------------------------ device counters
struct DiskCounters {
  uint64_t reads = 0;    // read requests completed
  uint64_t merged = 0;   // reads merged into others before they were issued
  uint64_t sectors = 0;  // 512-byte sectors read
};

// The /proc/diskstats line of the device holding `path` (its major:minor).
DiskCounters ReadDisk(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) Die("stat " + path);
  std::ifstream in("/proc/diskstats");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    unsigned maj = 0, min = 0;
    std::string name;
    DiskCounters c;
    s >> maj >> min >> name >> c.reads >> c.merged >> c.sectors;
    if (maj == major(st.st_dev) && min == minor(st.st_dev)) return c;
  }
  Die("no /proc/diskstats line for the device of " + path);
}

// read_bytes of /proc/PID/io: bytes this process caused to be fetched from storage.
uint64_t ProcReadBytes(int pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/io") : "/proc/" + std::to_string(pid) + "/io");
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == "read_bytes:") return v;
  return 0;
}

void DropPageCache() {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "3\n";
  out.flush();
  if (!out) Die("cannot write /proc/sys/vm/drop_caches (root needed)");
}

// The keys a run reads: `count` distinct indices in a random order.
std::vector<uint64_t> RunOrder(uint64_t built, uint64_t count, uint64_t seed) {
  std::vector<uint64_t> order(built);
  for (uint64_t i = 0; i < built; i++) order[i] = i;
  Rng r(seed * 31 + 5);
  count = std::min(count, built);
  for (uint64_t i = 0; i < count; i++) std::swap(order[i], order[i + r.Uniform(built - i)]);
  order.resize(count);
  return order;
}

// A run's keys: the first (at most half) are read unmeasured after the drop (--settle), the
// rest are measured; none is read twice.
struct RunKeys {
  std::vector<uint64_t> settle;
  std::vector<uint64_t> measured;
};
RunKeys MakeRunKeys(uint64_t built, const Flags& f) {
  std::vector<uint64_t> all = RunOrder(built, f.count + f.settle, f.run_seed);
  const auto split = static_cast<ptrdiff_t>(std::min<size_t>(f.settle, all.size() / 2));
  return RunKeys{std::vector<uint64_t>(all.begin(), all.begin() + split),
                 std::vector<uint64_t>(all.begin() + split, all.end())};
}

struct Measured {
  Histogram h;
  uint64_t errors = 0;
  std::string first_error;
  uint64_t seconds_ns = 0;
  DiskCounters d0, d1;
  uint64_t io0 = 0, io1 = 0;
};

JsonLine Report(const Flags& f, const char* path, const Measured& m) {
  const double gets = static_cast<double>(m.h.count());
  const double g = std::max(1.0, gets);
  const double secs = static_cast<double>(m.seconds_ns) / 1e9;
  JsonLine j;
  j.Str("op", "cold_get").Str("path", path).Int("qd", static_cast<uint64_t>(f.qd))
      .Str("warm", f.warm).Int("size", f.size).Int("gets", m.h.count()).Num("seconds", secs)
      .Num("gets_per_s", gets / secs)
      .Num("p50_us", static_cast<double>(m.h.Percentile(0.5)) / 1e3)
      .Num("p99_us", static_cast<double>(m.h.Percentile(0.99)) / 1e3)
      .Int("dev_reads", m.d1.reads - m.d0.reads)
      .Int("dev_sectors", m.d1.sectors - m.d0.sectors)
      .Num("reads_per_get", static_cast<double>(m.d1.reads - m.d0.reads) / g)
      .Num("kib_per_get", static_cast<double>(m.d1.sectors - m.d0.sectors) / 2.0 / g)
      .Num("proc_kib_per_get", static_cast<double>(m.io1 - m.io0) / 1024.0 / g)
      .Int("errors", m.errors);
  if (!m.first_error.empty()) j.Str("first_error", m.first_error);
  return j;
}

// ------------------------------------------------------------------ build
int RunBuild(const Flags& f) {
  if (Built(f) >= f.objects) {
    std::fprintf(stderr, "cold_get_bench: reusing %s (%llu objects)\n", StoreDir(f).c_str(),
                 static_cast<unsigned long long>(Built(f)));
    return 0;
  }
  std::error_code ec;
  fs::remove_all(f.dir, ec);
  fs::create_directories(f.dir, ec);
  if (ec) Die("cannot create " + f.dir + ": " + ec.message());
  StoreOptions o;
  o.volume_capacity = f.volume_mib << 20;
  o.durability = Durability::kNone;
  // Allocated volumes: the build writes each byte once (as cairn import does); reads do not
  // care how a volume was prepared.
  o.volume_preparation = VolumePreparation::kAllocate;
  o.background_reclaim = false;
  o.index_cache_bytes = size_t{256} << 20;
  o.info_log = [](const std::string& m) { std::fprintf(stderr, "cairn: %s\n", m.c_str()); };
  auto s = Store::Open(StoreDir(f), o);
  if (!s.ok()) Die(s.status().ToString());
  std::unique_ptr<Store> store = std::move(*s);
  const std::vector<char> pool = MakePool(f.size, f.seed);
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  const uint64_t deadline = NowNanos() + static_cast<uint64_t>(f.build_seconds * 1e9);
  constexpr uint64_t kClaim = 1000;
  std::vector<std::thread> ts;
  for (int t = 0; t < f.build_threads; t++) {
    ts.emplace_back([&] {
      while (!failed && NowNanos() < deadline) {
        const uint64_t base = next.fetch_add(kClaim);
        if (base >= f.objects) break;
        for (uint64_t i = base; i < std::min(f.objects, base + kClaim); i++) {
          Status st = store->Put(KeyName(i, f.seed), ValueFor(pool, i, f.size));
          if (!st.ok()) {
            std::fprintf(stderr, "cold_get_bench: put: %s\n", st.ToString().c_str());
            failed = true;
            return;
          }
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) Die("building the store failed");
  const uint64_t n = std::min(f.objects, next.load());  // claimed chunks all complete
  if (!store->Close().ok()) Die("close after build failed");
  std::ofstream(fs::path(f.dir) / "BUILT") << n << " " << f.size << "\n";
  std::fprintf(stderr, "cold_get_bench: built %llu objects in %s\n",
               static_cast<unsigned long long>(n), StoreDir(f).c_str());
  return 0;
}

// ------------------------------------------------------------------ engine
struct RocksCounts {
  uint64_t block_reads = 0, block_read_bytes = 0, index_reads = 0, filter_reads = 0;
};

int RunEngine(const Flags& f) {
  const uint64_t built = Built(f);
  if (built == 0) Die("no store in " + f.dir + ": run --op build first");
  if (f.path != "get" && f.path != "pin") Die("--path must be get or pin");
  StoreOptions o;
  o.create_if_missing = false;
  o.background_reclaim = false;
  o.volume_preparation = VolumePreparation::kAllocate;  // no volume of zeros written meanwhile
  o.index_cache_bytes = f.index_cache_mib << 20;
  o.info_log = [](const std::string& m) { std::fprintf(stderr, "cairn: %s\n", m.c_str()); };
  auto s = Store::Open(StoreDir(f), o);
  if (!s.ok()) Die(s.status().ToString());
  std::unique_ptr<Store> store = std::move(*s);
  if (f.warm == "scan") {  // every index entry read once: its blocks in the block cache
    std::string after;
    for (uint64_t seen = 0; seen <= built;) {
      auto r = store->Scan("cold/", after, 10000);
      if (!r.ok()) Die(r.status().ToString());
      seen += r->objects.size();
      if (!r->truncated || r->objects.empty()) break;
      after = r->objects.back().key;
    }
  } else if (f.warm != "none") {
    Die("--warm must be scan or none");
  }
  const std::vector<char> pool = MakePool(f.size, f.seed);
  const RunKeys keys = MakeRunKeys(built, f);
  const std::vector<uint64_t>& order = keys.measured;
  // One GET of `key` into *buf, by --path; an error message, or empty.
  auto get_one = [&](const std::string& key, std::string* buf) -> std::string {
    if (f.path == "get") {
      auto v = store->Get(key);
      if (!v.ok()) return key + ": " + v.status().ToString();
      *buf = std::move(*v);
      return "";
    }
    // cairnd's pool path (src/server/connection_requests.cc, WarmFirstSlice): the pin, then
    // the value's pages brought in if cachestat says they are not cached; here a pread stands
    // in for sendfile.
    auto p = store->PinObject(key);
    if (!p.ok()) return key + ": " + p.status().ToString();
    buf->clear();
    for (const ValueExtent& e : (*p)->extents()) {
      if (!net::RangeCached(e.fd, e.offset, e.length)) net::WarmFileRange(e.fd, e.offset, e.length);
      const size_t at = buf->size();
      buf->resize(at + e.length);
      if (::pread(e.fd, buf->data() + at, e.length, static_cast<off_t>(e.offset)) !=
          static_cast<ssize_t>(e.length))
        return key + ": short pread";
    }
    return "";
  };
  if (f.drop_caches) DropPageCache();
  {
    std::string buf;
    for (uint64_t k : keys.settle) (void)get_one(KeyName(k, f.seed), &buf);
  }

  Measured m;
  std::vector<Histogram> hs(static_cast<size_t>(f.qd));
  std::vector<RocksCounts> rc(static_cast<size_t>(f.qd));
  std::atomic<uint64_t> next{0}, errors{0};
  std::mutex err_mu;
  const uint64_t t0 = NowNanos();
  const uint64_t deadline = t0 + static_cast<uint64_t>(f.seconds * 1e9);
  m.d0 = ReadDisk(StoreDir(f));
  m.io0 = ProcReadBytes(0);
  std::vector<std::thread> ts;
  for (int t = 0; t < f.qd; t++) {
    ts.emplace_back([&, t] {
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
      rocksdb::get_perf_context()->Reset();
      std::string buf;
      auto fail = [&](const std::string& why) {
        if (errors.fetch_add(1) == 0) {
          std::lock_guard<std::mutex> l(err_mu);
          m.first_error = why;
        }
      };
      for (;;) {
        const uint64_t n = next.fetch_add(1);
        if (n >= order.size() || NowNanos() >= deadline) break;
        const uint64_t i = order[n];
        const std::string key = KeyName(i, f.seed);
        const uint64_t a = NowNanos();
        if (std::string err = get_one(key, &buf); !err.empty()) {
          fail(err);
          continue;
        }
        const uint64_t b = NowNanos();
        if (std::string_view(buf) != ValueFor(pool, i, f.size)) {
          fail(key + ": value mismatch");
          continue;
        }
        hs[static_cast<size_t>(t)].Add(b - a);
      }
      const rocksdb::PerfContext* pc = rocksdb::get_perf_context();
      rc[static_cast<size_t>(t)] = RocksCounts{pc->block_read_count, pc->block_read_byte,
                                               pc->index_block_read_count,
                                               pc->filter_block_read_count};
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    });
  }
  for (auto& t : ts) t.join();
  m.seconds_ns = NowNanos() - t0;
  m.d1 = ReadDisk(StoreDir(f));
  m.io1 = ProcReadBytes(0);
  m.errors = errors.load();
  RocksCounts sum;
  for (size_t t = 0; t < hs.size(); t++) {
    m.h.Merge(hs[t]);
    sum.block_reads += rc[t].block_reads;
    sum.block_read_bytes += rc[t].block_read_bytes;
    sum.index_reads += rc[t].index_reads;
    sum.filter_reads += rc[t].filter_reads;
  }
  auto st = store->Stats();
  const double g = std::max<double>(1, static_cast<double>(m.h.count()));
  JsonLine j = Report(f, f.path == "get" ? "engine get" : "engine pin", m);
  j.Int("settle", keys.settle.size()).Int("index_cache_mib", f.index_cache_mib)
      .Num("rocksdb_block_reads_per_get", static_cast<double>(sum.block_reads) / g)
      .Num("rocksdb_block_kib_per_get", static_cast<double>(sum.block_read_bytes) / 1024.0 / g)
      .Int("rocksdb_index_block_reads", sum.index_reads)
      .Int("rocksdb_filter_block_reads", sum.filter_reads)
      .Int("objects", built)
      .Int("index_memory_bytes", st.ok() ? st->index_memory_bytes : 0)
      .Int("index_allocated_bytes", st.ok() ? st->index_allocated_bytes : 0)
      .Int("rss_kib", ProcStatusKiB("VmRSS"));
  std::printf("%s\n", j.Done().c_str());
  store.reset();
  return m.errors == 0 ? 0 : 2;
}

// ------------------------------------------------------------------ server
int RunServer(const Flags& f) {
  const uint64_t built = Built(f);
  if (built == 0) Die("no store in " + f.dir + ": run --op build first");
  ClientOptions co;
  if (Status s = ParseServerAddress(f.server, &co.host, &co.port); !s.ok()) Die(s.ToString());
  auto key = ReadClientKeyFile(f.key_file);
  if (!key.ok()) Die(key.status().ToString());
  co.key = *key;
  co.connections = std::min(f.qd, 4);
  co.timeout_ms = 10000;
  auto c = Client::Create(co);
  if (!c.ok()) Die(c.status().ToString());
  std::unique_ptr<Client> client = std::move(*c);
  if (f.warm == "scan") {  // LIST every key: the server's index blocks in its block cache
    ListOptions lo;
    lo.prefix = "cold/";
    lo.limit = kMaxListLimit;
    for (uint64_t pages = 0; pages <= built / kMaxListLimit + 1; pages++) {
      auto r = client->List(lo);
      if (!r.ok()) Die("list: " + r.status().ToString());
      if (!r->truncated) break;
      lo.start_after = r->next_start_after;
    }
  } else if (f.warm != "none") {
    Die("--warm must be scan or none");
  }
  const std::vector<char> pool = MakePool(f.size, f.seed);
  const RunKeys keys = MakeRunKeys(built, f);
  const std::vector<uint64_t>& order = keys.measured;
  if (f.drop_caches) DropPageCache();
  for (uint64_t k : keys.settle) (void)client->Get(KeyName(k, f.seed));

  Measured m;
  std::mutex mu;  // guards m.h, m.errors, m.first_error, in_flight
  std::condition_variable cv;
  int in_flight = 0;
  std::atomic<uint64_t> next{0};
  const uint64_t t0 = NowNanos();
  const uint64_t deadline = t0 + static_cast<uint64_t>(f.seconds * 1e9);
  m.d0 = ReadDisk(f.dir);
  m.io0 = ProcReadBytes(f.server_pid);
  // Each completion starts the next GET (on the client's I/O thread), so --qd stay in flight.
  std::function<void()> issue = [&] {
    const uint64_t n = next.fetch_add(1);
    if (n >= order.size() || NowNanos() >= deadline) {
      std::lock_guard<std::mutex> l(mu);
      in_flight--;
      cv.notify_all();
      return;
    }
    const uint64_t i = order[n];
    const uint64_t a = NowNanos();
    client->GetAsync(KeyName(i, f.seed), ByteRange(), [&, i, a](Result<GetResult> r) {
      const uint64_t b = NowNanos();
      std::string why;
      if (!r.ok()) {
        why = r.status().ToString();
      } else if (std::string_view(r->data) != ValueFor(pool, i, f.size)) {
        why = "value mismatch";
      }
      {
        std::lock_guard<std::mutex> l(mu);
        if (why.empty()) {
          m.h.Add(b - a);
        } else if (m.errors++ == 0) {
          m.first_error = KeyName(i, f.seed) + ": " + why;
        }
      }
      issue();
    });
  };
  {
    std::lock_guard<std::mutex> l(mu);
    in_flight = f.qd;
  }
  for (int q = 0; q < f.qd; q++) issue();
  {
    std::unique_lock<std::mutex> l(mu);
    // Every GET has its own deadline (timeout_ms, retries included), so this wait ends.
    cv.wait(l, [&] { return in_flight == 0; });
  }
  m.seconds_ns = NowNanos() - t0;
  client.reset();  // joins the client's I/O thread, which may still be returning from issue()
  m.d1 = ReadDisk(f.dir);
  m.io1 = ProcReadBytes(f.server_pid);
  JsonLine j = Report(f, "cairnd get", m);
  j.Int("settle", keys.settle.size()).Int("objects", built).Int("server_pid", static_cast<uint64_t>(f.server_pid));
  std::printf("%s\n", j.Done().c_str());
  return m.errors == 0 ? 0 : 2;
}

bool ParseSize(const std::string& t, size_t* out) {
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  std::string suf(end);
  if (suf == "k" || suf == "K") v *= 1024;
  else if (suf == "m" || suf == "M") v *= 1024 * 1024;
  else if (!suf.empty()) return false;
  if (v < 1 || v > 16.0 * 1024 * 1024) return false;
  *out = static_cast<size_t>(v);
  return true;
}

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) {
  using namespace cairn::bench;
  Flags f;
  CLI::App app{"cold_get_bench: device reads per cold GET, in process and through cairnd"};
  app.add_option("--op", f.op, "build, engine or server")->required();
  app.add_option("--dir", f.dir, "where the store is built and kept");
  app.add_option("--objects", f.objects, "build: objects in the store");
  app.add_option("--size", f.size_text, "build: value size (4k)");
  app.add_option("--volume-mib", f.volume_mib, "build: volume capacity");
  app.add_option("--seed", f.seed, "the store's keys and values");
  app.add_option("--run-seed", f.run_seed, "which keys a run reads, in which order");
  app.add_option("--build-threads", f.build_threads);
  app.add_option("--build-seconds", f.build_seconds);
  app.add_option("--path", f.path, "engine: get or pin");
  app.add_option("--warm", f.warm, "scan (read the index once first) or none");
  app.add_option("--qd", f.qd, "GETs in flight")->check(CLI::Range(1, 256));
  app.add_option("--count", f.count, "GETs, each of a different key");
  app.add_option("--settle", f.settle, "unmeasured GETs of other keys after the drop");
  app.add_option("--seconds", f.seconds, "time bound of the measured GETs");
  app.add_option("--index-cache-mib", f.index_cache_mib,
                 "engine: StoreOptions::index_cache_bytes (0: sized to the index)");
  app.add_flag("!--no-drop-caches", f.drop_caches, "do not drop the page cache before measuring");
  app.add_option("--server", f.server, "server: HOST:PORT of cairnd");
  app.add_option("--key-file", f.key_file, "server: the key file cairnd was given");
  app.add_option("--server-pid", f.server_pid, "server: cairnd's pid (for /proc/PID/io)");
  CLI11_PARSE(app, argc, argv);
  if (!ParseSize(f.size_text, &f.size)) Die("bad --size " + f.size_text);
  if (f.seconds <= 0 || f.seconds > 600) Die("--seconds must be in (0, 600]");
  if (f.op == "build") return RunBuild(f);
  if (f.op == "engine") return RunEngine(f);
  if (f.op == "server") return RunServer(f);
  Die("unknown --op " + f.op);
}
