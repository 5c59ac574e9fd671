#include "bench_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "bench_util.h"

namespace cairn::bench {
namespace {

using nlohmann::json;

double Pct(const json& lat, const char* key) {
  if (!lat.contains("percentile")) return 0;
  const json& p = lat["percentile"];
  return p.contains(key) ? p[key].get<double>() : 0;
}

std::string SizeName(uint64_t s) {
  if (s >= (1 << 20) && s % (1 << 20) == 0) return std::to_string(s >> 20) + " MiB";
  if (s >= 1024 && s % 1024 == 0) return std::to_string(s >> 10) + " KiB";
  return std::to_string(s) + " B";
}

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

std::string Rate(double v) {
  if (v >= 1e6) return Fmt("%.2fM", v / 1e6);
  if (v >= 1e4) return Fmt("%.1fk", v / 1e3);
  if (v >= 1e3) return Fmt("%.2fk", v / 1e3);
  return Fmt("%.0f", v);
}

std::string Us(double v) {
  if (v >= 1e4) return Fmt("%.0f", v);
  if (v >= 100) return Fmt("%.0f", v);
  if (v >= 10) return Fmt("%.1f", v);
  return Fmt("%.2f", v);
}

std::string Ratio(double v) { return Fmt("%.2f×", v); }

// One workload's identity.
using Key = std::tuple<std::string, std::string, uint64_t, std::string, uint64_t, std::string>;

Key KeyOf(const json& j) {
  return {j.value("engine", ""), j.value("op", ""), j.value("size", uint64_t{0}),
          j.value("mode", ""), j.value("threads", uint64_t{0}), j.value("pattern", "")};
}

class Results {
 public:
  void Add(const json& j) { runs_[KeyOf(j)].push_back(j); }
  // The median run by ops/s, or nullptr.
  const json* Find(const std::string& engine, const std::string& op, uint64_t size,
                   const std::string& mode, uint64_t threads,
                   const std::string& pattern = "") const {
    // pattern "*" matches any pattern.
    std::vector<const json*> v;
    for (const auto& [k, runs] : runs_) {
      if (std::get<0>(k) != engine || std::get<1>(k) != op || std::get<2>(k) != size ||
          std::get<3>(k) != mode || std::get<4>(k) != threads ||
          (pattern != "*" && std::get<5>(k) != pattern))
        continue;
      for (const json& j : runs) v.push_back(&j);
    }
    if (v.empty()) return nullptr;
    std::sort(v.begin(), v.end(), [](const json* a, const json* b) {
      return a->value("ops_per_s", 0.0) < b->value("ops_per_s", 0.0);
    });
    return v[(v.size() - 1) / 2];
  }
  // Every run of a workload, in the order they were run.
  std::vector<const json*> All(const std::string& engine, const std::string& op, uint64_t size,
                               const std::string& mode, uint64_t threads,
                               const std::string& pattern = "") const {
    std::vector<const json*> v;
    for (const auto& [k, runs] : runs_) {
      if (std::get<0>(k) != engine || std::get<1>(k) != op || std::get<2>(k) != size ||
          std::get<3>(k) != mode || std::get<4>(k) != threads ||
          (pattern != "*" && std::get<5>(k) != pattern))
        continue;
      for (const json& j : runs) v.push_back(&j);
    }
    return v;
  }
  const std::map<Key, std::vector<json>>& all() const { return runs_; }

 private:
  std::map<Key, std::vector<json>> runs_;
};

int ModeOrder(const std::string& m) {
  if (m == "sync") return 0;
  if (m == "interval") return 1;
  if (m == "none") return 2;
  return 3;
}

std::string Cell(const json* j) {
  if (j == nullptr) return "—";
  std::string s = Rate(j->value("ops_per_s", 0.0)) + "/s · p50 " + Us(j->value("p50_us", 0.0));
  uint64_t e = j->value("errors", uint64_t{0});
  if (e > 0) s += " (" + std::to_string(e) + " errors)";
  if (j->contains("aborted")) s += " (ABORTED)";
  return s;
}

std::string Verdict(bool met) { return met ? "**met**" : "**not met**"; }

// Ratios of runs made side by side (the i-th run of `a` with the i-th of `b`): repeats go
// round the whole matrix, so the i-th runs saw the same machine. Median and range.
struct Paired {
  size_t n = 0;
  double median = 0, lo = 0, hi = 0;
  std::string Text() const {
    if (n <= 1) return Fmt("%.2f×", median);
    return Fmt("%.2f×", median) + " (median of " + std::to_string(n) + " paired runs, " +
           Fmt("%.2f", lo) + "–" + Fmt("%.2f", hi) + ")";
  }
};
Paired PairedRatio(const std::vector<const json*>& a, const std::vector<const json*>& b,
                   const char* fa, const char* fb) {
  std::vector<double> r;
  for (size_t i = 0; i < std::min(a.size(), b.size()); i++) {
    if (a[i]->contains("aborted") || b[i]->contains("aborted")) continue;
    double den = b[i]->value(fb, 0.0);
    if (den > 0) r.push_back(a[i]->value(fa, 0.0) / den);
  }
  Paired p;
  if (r.empty()) return p;
  std::sort(r.begin(), r.end());
  p.n = r.size();
  p.median = r[(r.size() - 1) / 2];
  p.lo = r.front();
  p.hi = r.back();
  return p;
}

}  // namespace

std::string FioSummary(const std::string& path, const std::string& op, size_t size,
                       const std::string& mode, const std::string& pattern, int threads,
                       std::string* line) {
  std::ifstream in(path);
  if (!in) return "cannot read " + path;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t brace = text.find('{');  // fio may print warnings before the JSON
  if (brace == std::string::npos) return path + " holds no JSON";
  json d = json::parse(text.substr(brace), nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded() || !d.contains("jobs") || d["jobs"].empty())
    return path + ": not fio JSON output";
  const json& job = d["jobs"][0];
  const bool is_read = op == "seqread" || op == "randread";
  const json& io = job[is_read ? "read" : "write"];
  double iops = io.value("iops", 0.0);
  double bw = io.value("bw_bytes", 0.0);
  double c50 = Pct(io["clat_ns"], "50.000000"), c99 = Pct(io["clat_ns"], "99.000000"),
         c999 = Pct(io["clat_ns"], "99.900000");
  double s50 = 0, s99 = 0, s999 = 0;
  if (job.contains("sync") && job["sync"].contains("lat_ns")) {
    const json& sl = job["sync"]["lat_ns"];
    s50 = Pct(sl, "50.000000");
    s99 = Pct(sl, "99.000000");
    s999 = Pct(sl, "99.900000");
  }
  JsonLine j;
  // One operation of fio's = one write (+ its fdatasync): its latency is the sum of the two.
  // For p99 and p999 the sum is an upper bound.
  j.Str("engine", "fio").Str("op", op).Int("size", size).Str("mode", mode)
      .Int("threads", static_cast<uint64_t>(threads)).Str("pattern", pattern)
      .Num("ops_per_s", iops).Num("mb_per_s", bw / 1e6)
      .Num("p50_us", (c50 + s50) / 1000).Num("p99_us", (c99 + s99) / 1000)
      .Num("p999_us", (c999 + s999) / 1000).Num("write_p50_us", c50 / 1000)
      .Num("sync_p50_us", s50 / 1000).Str("config", d.value("fio version", "fio"));
  *line = j.Done();
  return "";
}

std::string Report(const std::vector<std::string>& files, FILE* out) {
  Results r;
  for (const std::string& f : files) {
    std::ifstream in(f);
    if (!in) return "cannot read " + f;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{') continue;
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) r.Add(j);
    }
  }
  auto P = [&](const std::string& s) { std::fputs(s.c_str(), out); };

  // ---- The engine matrix.
  std::vector<Key> cells;
  for (const auto& [k, v] : r.all())
    if (std::get<0>(k) == "cairn" && (std::get<1>(k) == "put" || std::get<1>(k) == "get"))
      cells.push_back(k);
  std::sort(cells.begin(), cells.end(), [](const Key& a, const Key& b) {
    return std::make_tuple(std::get<1>(a) == "get", std::get<2>(a), ModeOrder(std::get<3>(a)),
                           std::get<4>(a)) <
           std::make_tuple(std::get<1>(b) == "get", std::get<2>(b), ModeOrder(std::get<3>(b)),
                           std::get<4>(b));
  });
  if (!cells.empty()) {
    P("### Engine: put and get (ops/s, latency per call in µs)\n\n");
    P("| workload | cairn ops/s | cairn MB/s | cairn p50 / p99 / p999 µs | fio, same pattern | "
      "RocksDB-BlobDB | LMDB | cairn / best peer |\n");
    P("|---|---|---|---|---|---|---|---|\n");
    for (const Key& k : cells) {
      const auto& [eng, op, size, mode, threads, pat] = k;
      const json* c = r.Find(eng, op, size, mode, threads);
      const json* rk = r.Find("rocksdb", op, size, mode, threads);
      const json* lm = r.Find("lmdb", op, size, mode, threads);
      const json* fio = nullptr;
      if (op == "put")
        fio = r.Find("fio", "put", size, mode == "interval" ? "none" : mode, threads, "*");
      std::string wl = op + " " + SizeName(size) + (op == "put" ? " " + mode : "") + " ×" +
                       std::to_string(threads);
      size_t n = r.All(eng, op, size, mode, threads).size();
      if (n > 1) wl += " (median of " + std::to_string(n) + ")";
      double best = 0;
      for (const json* p : {rk, lm})
        if (p != nullptr) best = std::max(best, p->value("ops_per_s", 0.0));
      std::string cs = Rate(c->value("ops_per_s", 0.0));
      if (c->value("errors", uint64_t{0}) > 0)
        cs += " (" + std::to_string(c->value("errors", uint64_t{0})) + " errors)";
      if (c->contains("aborted")) cs += " (ABORTED: " + c->value("aborted", "") + ")";
      P("| " + wl + " | " + cs + " | " + Fmt("%.1f", c->value("mb_per_s", 0.0)) + " | " +
        Us(c->value("p50_us", 0.0)) + " / " + Us(c->value("p99_us", 0.0)) + " / " +
        Us(c->value("p999_us", 0.0)) + " | " + Cell(fio) + " | " + Cell(rk) + " | " + Cell(lm) +
        " | " + (best > 0 ? Ratio(c->value("ops_per_s", 0.0) / best) : "—") + " |\n");
    }
    P("\nfio for `interval` rows is the buffered, unsynced write (fio has no timed sync). "
      "fio's p50 is write + fdatasync p50.\n\n");
  }

  // ---- fio references.
  bool any = false;
  for (const auto& [k, v] : r.all()) {
    if (std::get<0>(k) != "fio") continue;
    if (!any) {
      P("### fio, same run, same filesystem\n\n| pattern | bs | jobs | ops/s | MB/s | p50 µs "
        "(write + fdatasync) | fdatasync p50 µs |\n|---|---|---|---|---|---|---|\n");
      any = true;
    }
    const json* j = r.Find(std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k),
                           std::get<4>(k), std::get<5>(k));
    P("| " + j->value("pattern", std::get<1>(k)) + " | " + SizeName(std::get<2>(k)) + " | " +
      std::to_string(std::get<4>(k)) + " | " + Rate(j->value("ops_per_s", 0.0)) + " | " +
      Fmt("%.1f", j->value("mb_per_s", 0.0)) + " | " + Us(j->value("p50_us", 0.0)) + " | " +
      Us(j->value("sync_p50_us", 0.0)) + " |\n");
  }
  if (any) P("\n");

  // ---- prewrite.
  const json* pw[3] = {nullptr, nullptr, nullptr};
  const char* names[3] = {"written", "fallocated", "extending"};
  for (const auto& [k, v] : r.all())
    for (int i = 0; i < 3; i++)
      if (std::get<1>(k) == "prewrite" && std::get<5>(k) == names[i])
        pw[i] = r.Find("file", "prewrite", std::get<2>(k), std::get<3>(k), std::get<4>(k),
                       names[i]);
  if (pw[0] != nullptr) {
    P("### Why volumes are pre-written: one 4 KiB pwrite + fdatasync, appending through a "
      "file\n\n| file | ops/s | p50 µs | p99 µs | fdatasync p50 µs | p50 vs written |\n"
      "|---|---|---|---|---|---|\n");
    double base = pw[0]->value("p50_us", 1.0);
    for (int i = 0; i < 3; i++) {
      if (pw[i] == nullptr) continue;
      P(std::string("| ") + names[i] + " | " + Rate(pw[i]->value("ops_per_s", 0.0)) + " | " +
        Us(pw[i]->value("p50_us", 0.0)) + " | " + Us(pw[i]->value("p99_us", 0.0)) + " | " +
        Us(pw[i]->value("sync_p50_us", 0.0)) + " | " +
        Ratio(pw[i]->value("p50_us", 0.0) / base) + " |\n");
    }
    P("\n");
  }

  // ---- Targets.
  P("### ARCHITECTURE.md targets (engine)\n\n| target | measured | verdict |\n|---|---|---|\n");
  {
    const json* c = r.Find("cairn", "put", 4096, "sync", 64);
    auto seqs = r.All("fio", "seqwrite", 1 << 20, "direct", 1, "*");
    const json* seq = r.Find("fio", "seqwrite", 1 << 20, "direct", 1, "*");
    if (c != nullptr && seq != nullptr) {
      Paired p = PairedRatio(r.All("cairn", "put", 4096, "sync", 64), seqs, "mb_per_s", "mb_per_s");
      P("| durable 4 KiB puts, 64 writers ≥ 50% of device sequential write | " +
        Fmt("%.1f", c->value("mb_per_s", 0.0)) + " MB/s vs fio " +
        Fmt("%.0f", seq->value("mb_per_s", 0.0)) + " MB/s: " + Fmt("%.1f%%", p.median * 100) +
        (p.n > 1 ? " (median of " + std::to_string(p.n) + " paired runs, " +
                       Fmt("%.1f", p.lo * 100) + "–" + Fmt("%.1f%%", p.hi * 100) + ")"
                 : "") +
        " | " + Verdict(p.n > 0 && p.median >= 0.5) + " |\n");
    }
  }
  for (uint64_t size : {uint64_t{100}, uint64_t{4096}, uint64_t{10240}, uint64_t{1} << 20}) {
    const json* c = r.Find("cairn", "put", size, "sync", 1);
    const json* fio = r.Find("fio", "put", size, "sync", 1, "*");
    if (c == nullptr || fio == nullptr) continue;
    Paired p = PairedRatio(r.All("cairn", "put", size, "sync", 1),
                           r.All("fio", "put", size, "sync", 1, "*"), "p50_us", "p50_us");
    P("| durable put p50 at low load ≤ 1.3× fio write+fdatasync, " + SizeName(size) + " | " +
      Us(c->value("p50_us", 0.0)) + " µs vs fio " + Us(fio->value("p50_us", 0.0)) + " µs: " +
      p.Text() + " | " + Verdict(p.n > 0 && p.median <= 1.3) + " |\n");
  }
  if (const json* a = r.Find("cairn", "append_cost", 100, "none", 1)) {
    double p50 = a->value("p50_us", 0.0);
    P("| non-durable append, in process: median ≤ 2 µs | p50 " + Us(p50) + " µs, p99 " +
      Us(a->value("p99_us", 0.0)) + " µs (clock " + Fmt("%.0f", a->value("clock_p50_ns", 0.0)) +
      " ns, bare pwrite of the record " + Us(a->value("pwrite_rec_p50_us", 0.0)) + " µs) | " +
      Verdict(p50 <= 2.0) + " |\n");
  }
  for (const auto& [k, v] : r.all()) {
    if (std::get<1>(k) != "open_time") continue;
    for (const json& o : v) {
      uint64_t n = o.value("objects", uint64_t{0});
      double w = o.value("open_ms", 0.0), c = o.value("cold_open_ms", 0.0),
             u = o.value("unclean_open_ms", -1.0);
      std::string m = Fmt("%.0f", w) + " ms warm (median of 3), " + Fmt("%.0f", c) + " ms cold";
      if (u >= 0)
        m += ", " + Fmt("%.0f", u) + " ms after SIGKILL (replayed " +
             std::to_string(o.value("replayed_records", uint64_t{0})) + " records, " +
             Fmt("%.1f", static_cast<double>(o.value("replayed_bytes", uint64_t{0})) / 1e6) +
             " MB)";
      bool met = w < 1000 && c < 1000 && (u < 0 || u < 1000);
      P("| restart with " + Rate(static_cast<double>(n)) + " objects < 1 s | " + m + " | " +
        Verdict(met && n >= 10'000'000) + (n < 10'000'000 ? " (fewer than 10M objects)" : "") +
        " |\n");
      uint64_t bound = o.value("index_memory_bound", uint64_t{0});
      uint64_t im = std::max(o.value("index_memory_after_open", uint64_t{0}),
                             o.value("index_memory_after_heads", uint64_t{0}));
      P("| index memory bounded by configuration (cache " +
        std::to_string(o.value("index_cache_bytes", uint64_t{0}) >> 20) +
        " MiB + 2 × 32 MiB memtables) | " + Fmt("%.1f", static_cast<double>(im) / 1048576.0) +
        " MiB after " + std::to_string(o.value("heads", uint64_t{0})) + " random Heads on " +
        Rate(static_cast<double>(n)) + " objects; process RSS " +
        Fmt("%.0f", static_cast<double>(o.value("rss_kib_after_heads", uint64_t{0})) / 1024) +
        " MiB | " + Verdict(im <= bound) + " |\n");
    }
  }
  for (const std::string& mode : {std::string("sync"), std::string("interval"), std::string("none")}) {
    for (uint64_t t : {uint64_t{1}, uint64_t{64}}) {
      const json* c = r.Find("cairn", "put", 10240, mode, t);
      if (c == nullptr) continue;
      const json* rk = r.Find("rocksdb", "put", 10240, mode, t);
      const json* lm = r.Find("lmdb", "put", 10240, mode, t);
      auto cs = r.All("cairn", "put", 10240, mode, t);
      Paired pr = PairedRatio(cs, r.All("rocksdb", "put", 10240, mode, t), "ops_per_s", "ops_per_s");
      Paired pl = PairedRatio(cs, r.All("lmdb", "put", 10240, mode, t), "ops_per_s", "ops_per_s");
      double co = c->value("ops_per_s", 0.0);
      double ro = rk ? rk->value("ops_per_s", 0.0) : 0, lo = lm ? lm->value("ops_per_s", 0.0) : 0;
      P("| 10 KiB put " + mode + " ×" + std::to_string(t) + " faster than RocksDB-BlobDB and LMDB | " +
        Rate(co) + "/s vs " + Rate(ro) + "/s (" + pr.Text() + "), " + Rate(lo) + "/s (" +
        pl.Text() + ") | " + Verdict(pr.n > 0 && pl.n > 0 && pr.median > 1 && pl.median > 1) +
        " |\n");
    }
  }
  for (uint64_t t : {uint64_t{1}, uint64_t{64}}) {
    for (const std::string& mode : {std::string("none"), std::string("sync")}) {
      const json* c = r.Find("cairn", "get", 10240, mode, t);
      if (c == nullptr) continue;
      const json* rk = r.Find("rocksdb", "get", 10240, mode, t);
      const json* lm = r.Find("lmdb", "get", 10240, mode, t);
      auto cs = r.All("cairn", "get", 10240, mode, t);
      Paired pr = PairedRatio(cs, r.All("rocksdb", "get", 10240, mode, t), "ops_per_s", "ops_per_s");
      Paired pl = PairedRatio(cs, r.All("lmdb", "get", 10240, mode, t), "ops_per_s", "ops_per_s");
      double co = c->value("ops_per_s", 0.0);
      double ro = rk ? rk->value("ops_per_s", 0.0) : 0, lo = lm ? lm->value("ops_per_s", 0.0) : 0;
      P("| 10 KiB get ×" + std::to_string(t) + " faster than RocksDB-BlobDB and LMDB | " +
        Rate(co) + "/s vs " + Rate(ro) + "/s (" + pr.Text() + "), " + Rate(lo) + "/s (" +
        pl.Text() + ") | " + Verdict(pr.n > 0 && pl.n > 0 && pr.median > 1 && pl.median > 1) +
        " |\n");
    }
  }
  P("\n");
  return "";
}

}  // namespace cairn::bench
