#include "cli/node_status.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <chrono>
#include <thread>
#include <vector>

#include "util/escape.h"
#include "cli/http_get.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/signals.h"
#include "cli/stream_io.h"

namespace cairn::cli {

using nlohmann::json;

namespace {

// Reads a number whatever its JSON type; 0 when missing.
double Num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<double>();
}
uint64_t U64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<uint64_t>();
}
std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return OneLine(it->get<std::string>());
}
const json& Obj(const json& j, const char* key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

// A node's partitions, "before -> after" while its share moves in a transition.
std::string Partitions(const json& n) {
  const uint64_t now = U64(n, "partitions");
  auto b = n.find("partitions_before");
  if (b == n.end() || !b->is_number() || b->get<uint64_t>() == now) return std::to_string(now);
  return fmt::format("{} -> {}", b->get<uint64_t>(), now);
}

std::string Rate(double r) {
  if (r >= 100) return fmt::format("{:.0f}", r);
  if (r >= 10) return fmt::format("{:.1f}", r);
  return fmt::format("{:.2f}", r);
}

std::string Millis(double ms) {
  if (ms <= 0) return "-";
  if (ms >= 100) return fmt::format("{:.0f} ms", ms);
  if (ms >= 1) return fmt::format("{:.2f} ms", ms);
  return fmt::format("{:.0f} us", ms * 1000);
}

// Columns: the first left-aligned, the rest right-aligned.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); c++) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); c++) {
      if (c == 0) {
        line += fmt::format("{:<{}}", r[c], width[c]);
      } else {
        line += fmt::format("  {:>{}}", r[c], width[c]);
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// "2026-12-03 07:31:05 UTC" for milliseconds since the Unix epoch.
std::string FormatUtcTime(uint64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Headline(const json& s) {
  const json& n = Obj(s, "node");
  const json& r = Obj(s, "ready");
  const bool ready = r.value("ready", false);
  return fmt::format("node {} (ops {}), cairnd {}, pid {}, up {}: {}{}\n", Str(n, "listen"),
                     Str(n, "http_listen"), Str(n, "version"), U64(n, "pid"),
                     FormatDuration(Num(n, "uptime_seconds")), ready ? "ready" : "NOT READY",
                     ready ? "" : " (" + Str(r, "reason") + ")");
}

}  // namespace

std::string FormatNodeStatus(const json& s) {
  const json& n = Obj(s, "node");
  const json& d = Obj(s, "disk");
  const json& st = Obj(s, "store");
  const json& sv = Obj(s, "server");
  const json& rates = Obj(s, "rates");
  std::string out = Headline(s);
  std::vector<std::vector<std::string>> kv;
  kv.push_back({"data", fmt::format("{} (durability {})", Str(n, "data"), Str(n, "durability"))});
  const uint64_t total = U64(d, "total_bytes"), free = U64(d, "free_bytes");
  if (total > 0) {
    kv.push_back({"disk", fmt::format("{} used of {} ({:.0f}%), {} free", HumanBytes(total - std::min(total, free)),
                                      HumanBytes(total), 100.0 * static_cast<double>(total - std::min(total, free)) / static_cast<double>(total),
                                      HumanBytes(free))});
  }
  if (st.contains("error")) {
    kv.push_back({"store", "statistics unavailable: " + Str(st, "error")});
  } else {
    kv.push_back({"store", fmt::format("{} objects, {} logical; live {}, dead {}, reclaimable {}",
                                       U64(st, "objects"), HumanBytes(U64(st, "logical_bytes")),
                                       HumanBytes(U64(st, "live_bytes")),
                                       HumanBytes(U64(st, "dead_bytes")),
                                       HumanBytes(U64(st, "reclaimable_bytes")))});
    kv.push_back({"volumes", fmt::format("{} of {}; reclaimed {}; index memory {}{}",
                                         U64(st, "volumes"), HumanBytes(U64(st, "volume_capacity")),
                                         HumanBytes(U64(st, "reclaimed_bytes")),
                                         HumanBytes(U64(st, "index_memory_bytes")),
                                         st.value("read_only", false)
                                             ? "; READ-ONLY: " + Str(st, "read_only_reason")
                                             : "")});
  }
  kv.push_back({"connections", fmt::format("{} of {}; {} requests in flight; {} refused",
                                           U64(sv, "connections"), U64(sv, "max_connections"),
                                           U64(sv, "inflight"), U64(sv, "connections_refused"))});
  kv.push_back({"traffic", fmt::format("{} req/s, in {}/s, out {}/s (last {:.0f} s); {} requests",
                                       Rate(Num(rates, "requests_per_s")),
                                       HumanBytes(static_cast<uint64_t>(Num(rates, "bytes_in_per_s"))),
                                       HumanBytes(static_cast<uint64_t>(Num(rates, "bytes_out_per_s"))),
                                       Num(s, "window_seconds"), U64(sv, "requests_total"))});
  std::string block;
  for (const auto& r : kv) block += fmt::format("  {:<12} {}\n", r[0], r[1]);
  out += block;

  std::vector<std::vector<std::string>> ops = {
      {"op", "req/s", "p50", "p99", "err/s", "requests", "errors"}};
  if (auto it = s.find("ops"); it != s.end() && it->is_array()) {
    for (const json& o : *it) {
      ops.push_back({Str(o, "op"), Rate(Num(o, "rate_per_s")), Millis(Num(o, "p50_ms")),
                     Millis(Num(o, "p99_ms")), Rate(Num(o, "errors_per_s")),
                     std::to_string(U64(o, "requests_total")), std::to_string(U64(o, "errors_total"))});
    }
  }
  out += "\n" + Table(ops);

  // A cluster node: the cluster as a table, nodes by zone.
  if (auto it = s.find("cluster"); it != s.end() && it->is_object()) {
    const json& c = *it;
    const json& hints = Obj(c, "hints");
    const json& ctr = Obj(c, "counters");
    out += fmt::format("\ncluster: map epoch {}, this node {}{}, etcd {}, write policy {} (R = {})\n",
                       U64(c, "epoch"), U64(c, "self"),
                       c.value("controller", false) ? " (controller)" : "",
                       c.value("etcd_reachable", false) ? "reachable" : "unreachable (serving on its map)",
                       Str(c, "write_policy"), U64(c, "replicas"));
    out += fmt::format("hints waiting {} bytes (written {}, replayed {}); read repairs {}, failovers {}, hedged {}\n",
                       U64(hints, "queue_bytes"), U64(hints, "written"), U64(hints, "replayed"),
                       U64(ctr, "read_repairs"), U64(ctr, "failovers"), U64(ctr, "hedged"));
    if (auto t = c.find("transition"); t != c.end() && t->is_object()) {
      out += fmt::format("transition to epoch {}: {} of {} moving partitions synced ({} nodes reported)\n",
                         U64(*t, "epoch"), U64(*t, "partitions_synced"), U64(*t, "moving_partitions"),
                         U64(*t, "nodes_reported"));
    }
    std::vector<const json*> nodes;
    if (auto n = c.find("nodes"); n != c.end() && n->is_array())
      for (const json& x : *n) nodes.push_back(&x);
    std::sort(nodes.begin(), nodes.end(), [](const json* a, const json* b) {
      return std::make_pair(Str(*a, "zone"), U64(*a, "id")) < std::make_pair(Str(*b, "zone"), U64(*b, "id"));
    });
    // Each node's disk, rates and p99s: the node's own, its peers' as its poller last saw them.
    std::vector<std::vector<std::string>> rows = {{"zone", "node", "address", "state", "partitions", "weight",
                                                   "disk used", "disk free", "GET/s", "PUT/s", "p99 GET", "p99 PUT"}};
    std::string silent;
    for (const json* n : nodes) {
      std::vector<std::string> r = {Str(*n, "zone"), std::to_string(U64(*n, "id")), Str(*n, "address"),
                                    Str(*n, "state"), Partitions(*n),
                                    std::to_string(U64(*n, "weight"))};
      auto st = n->find("stats");
      if (st == n->end() || !st->is_object()) {
        r.insert(r.end(), {"-", "-", "-", "-", "-", "-"});
      } else if (!st->value("answering", false)) {
        const uint64_t since = U64(*st, "no_answer_since_unix_ms");
        const std::string when = since == 0 ? "-" : FormatUtcTime(since);
        r.insert(r.end(), {"no answer", "-", "-", "-", "-", "-"});  // why: below the table
        silent += fmt::format("  node {}: no answer since {}: {}\n", U64(*n, "id"), when, Str(*st, "error"));
      } else {
        const uint64_t total = U64(*st, "disk_total_bytes");
        r.push_back(total == 0 ? "-" : HumanBytes(U64(*st, "disk_used_bytes")));
        r.push_back(total == 0 ? "-" : HumanBytes(U64(*st, "disk_free_bytes")));
        r.push_back(Rate(Num(*st, "get_per_s")));
        r.push_back(Rate(Num(*st, "put_per_s")));
        r.push_back(Millis(Num(*st, "get_p99_ms")));
        r.push_back(Millis(Num(*st, "put_p99_ms")));
      }
      rows.push_back(std::move(r));
    }
    out += Table(rows);
    out += silent;
  }

  const json& logs = Obj(s, "logs");
  out += fmt::format("\nwarnings {}, errors {} since start", U64(logs, "warnings_total"),
                     U64(logs, "errors_total"));
  if (auto it = logs.find("recent"); it != logs.end() && it->is_array() && !it->empty()) {
    out += "; the latest:\n";
    const size_t n = it->size();
    for (size_t i = n > 5 ? n - 5 : 0; i < n; i++) {
      const json& l = (*it)[i];
      out += fmt::format("  {} {}\n", Str(l, "level"), Str(l, "text"));
    }
  } else {
    out += "\n";
  }
  return out;
}

std::string FormatTopFrame(const json& cur, const json* prev, double elapsed_s) {
  const json& sv = Obj(cur, "server");
  const bool diff = prev != nullptr && elapsed_s > 0;
  auto per_s = [&](double now, double before) {
    return now >= before ? (now - before) / elapsed_s : 0.0;
  };
  const json& psv = diff ? Obj(*prev, "server") : sv;
  double in = diff ? per_s(Num(sv, "bytes_in_total"), Num(psv, "bytes_in_total"))
                   : Num(Obj(cur, "rates"), "bytes_in_per_s");
  double out_rate = diff ? per_s(Num(sv, "bytes_out_total"), Num(psv, "bytes_out_total"))
                         : Num(Obj(cur, "rates"), "bytes_out_per_s");
  std::string out = Headline(cur);
  out += fmt::format("connections {}/{}  in flight {}  in {}/s  out {}/s  rates over {:.1f} s\n\n",
                     U64(sv, "connections"), U64(sv, "max_connections"), U64(sv, "inflight"),
                     HumanBytes(static_cast<uint64_t>(in)), HumanBytes(static_cast<uint64_t>(out_rate)),
                     diff ? elapsed_s : Num(cur, "window_seconds"));
  std::vector<std::vector<std::string>> rows = {{"op", "req/s", "err/s", "p50", "p99"}};
  double total = 0;
  auto it = cur.find("ops");
  if (it != cur.end() && it->is_array()) {
    for (const json& o : *it) {
      double r = Num(o, "rate_per_s"), e = Num(o, "errors_per_s");
      if (diff) {
        if (auto pit = prev->find("ops"); pit != prev->end() && pit->is_array()) {
          for (const json& p : *pit) {
            if (Str(p, "op") != Str(o, "op")) continue;
            r = per_s(Num(o, "requests_total"), Num(p, "requests_total"));
            e = per_s(Num(o, "errors_total"), Num(p, "errors_total"));
          }
        }
      }
      total += r;
      rows.push_back({Str(o, "op"), Rate(r), Rate(e), Millis(Num(o, "p50_ms")), Millis(Num(o, "p99_ms"))});
    }
  }
  rows.push_back({"all", Rate(total), "", "", ""});
  out += Table(rows);
  return out;
}

namespace {

Result<json> FetchStatus(const NodeArgs& node) {
  Result<std::string> body = HttpGet(node.http, "/status.json", node.timeout_ms);
  if (!body.ok()) return body.status();
  json j = json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::Corruption("the node's /status.json is not a JSON object");
  return j;
}

Outcome CheckNode(const NodeArgs& node) {
  if (node.http.empty())
    return Outcome::Usage(
        "no node to ask: pass --http HOST:PORT (the address of cairnd --http-listen) or set "
        "CAIRN_HTTP");
  return Outcome::Ok();
}

}  // namespace

Outcome RunStatus(const NodeArgs& node, bool as_json) {
  if (Outcome o = CheckNode(node); !o.ok()) return o;
  Result<json> s = FetchStatus(node);
  if (!s.ok()) return Outcome::Error(s.status().message());
  if (as_json) {
    PrintOut(s->dump() + "\n");
  } else {
    PrintOut(FormatNodeStatus(*s));
  }
  return Outcome::Ok();
}

Outcome RunTop(const NodeArgs& node, const TopArgs& top, bool as_json) {
  if (Outcome o = CheckNode(node); !o.ok()) return o;
  if (!(top.interval_s >= 0.1 && top.interval_s <= 3600))
    return Outcome::Usage(fmt::format("bad --interval {}; use 0.1 to 3600 seconds", top.interval_s));
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && !as_json;
  using Clock = std::chrono::steady_clock;
  std::optional<json> prev;
  Clock::time_point prev_at;
  for (uint64_t frame = 0; top.count == 0 || frame < top.count; frame++) {
    if (frame > 0) {
      // Sleep in short steps so Ctrl-C ends at once.
      const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(top.interval_s));
      while (Clock::now() < until && PendingSignal() == 0)
        std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(),
                                                              std::chrono::milliseconds(50)));
      if (PendingSignal() != 0) break;
    }
    Result<json> s = FetchStatus(node);
    const Clock::time_point at = Clock::now();
    if (!s.ok()) return Outcome::Error(s.status().message());
    if (as_json) {
      PrintOut(s->dump() + "\n");
    } else {
      const double elapsed = prev ? std::chrono::duration<double>(at - prev_at).count() : 0;
      std::string text = FormatTopFrame(*s, prev ? &*prev : nullptr, elapsed);
      if (tty) {
        PrintOut("\033[H\033[2J" + text);  // home, clear: redraw in place
      } else {
        PrintOut((frame > 0 ? "\n" : "") + text);
      }
    }
    FlushStdout();
    prev = std::move(*s);
    prev_at = at;
  }
  return Outcome::Ok();
}

}  // namespace cairn::cli
