// crash_writer: the process that tests/crash_test.cc kills with SIGKILL.
//
// It opens a store in sync mode and runs N threads that put, overwrite and delete keys of a
// small key space forever, with every kind of write (issue 15): unconditional puts (buffered or
// streamed), if-none-match and if-match puts, if-newer puts and deletes carrying a replica's
// version (now, or ancient: those must always be refused), plain and if-newer deletes, and
// metadata on most puts. Every operation is recorded in an ack log outside the store:
//
//   I <tid> <opid> P <key> <testver> <size> <B|S> <cond> [<hlc> <writer>]   intent to put
//   I <tid> <opid> D <key> <cond> [<hlc> <writer>]                          intent to delete
//     cond: N none, C if-none-match, M if-match, W if-newer (the version follows), A if-newer
//     with an ancient version (the version follows; must be refused)
//   A <tid> <opid> OK <hlc> <writer>                the op returned OK: the version written
//   A <tid> <opid> NF                               NotFound: nothing written
//   A <tid> <opid> CF                               Conflict: nothing written
//   F <tid> <opid> <status>                         the op returned an error
//   V <tid> <opid> <what>                           a contract violation seen by the writer
//   O <pid> <recovery report, one line>             the store opened; writing starts
//
// Each line is one write(2) on an O_APPEND descriptor: no user-space buffer, so every line whose
// write returned is in the page cache and survives the kill. A line can still be cut short if the
// kill lands inside write(2); the checker drops a partial last line. The value of a put is
// test::ValueFor(key, testver, size) and its metadata test::MetaFor(key, testver), so the checker
// can recompute both; testvers are unique per key across rounds:
// ((round + 1) << 44) | (tid << 36) | opid.
//
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/store.h"
#include "test_util.h"

namespace cairn {
namespace {

struct Args {
  bool recover_only = false;
  std::string dir;
  std::string ack_log;
  uint64_t seed = 1;
  uint64_t round = 0;
  int threads = 8;
  int keys = 200;
  uint64_t volume_mib = 1;
  uint64_t unfinished_mib = 8;
  uint64_t pause_us = 1000;
  int ready_fd = -1;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "crash_writer: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

uint64_t ParseU64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') Die(std::string("bad ") + what + ": " + s);
  return v;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; i++) {
    std::string s = argv[i];
    auto next = [&](const char* what) -> uint64_t {
      if (i + 1 >= argc) Die(std::string("missing value for ") + what);
      return ParseU64(argv[++i], what);
    };
    if (s == "--recover-only") {
      a.recover_only = true;
    } else if (s == "--round") {
      a.round = next("--round");
    } else if (s == "--threads") {
      a.threads = static_cast<int>(next("--threads"));
    } else if (s == "--keys") {
      a.keys = static_cast<int>(next("--keys"));
    } else if (s == "--volume-mib") {
      a.volume_mib = next("--volume-mib");
    } else if (s == "--unfinished-mib") {
      a.unfinished_mib = next("--unfinished-mib");
    } else if (s == "--ready-fd") {
      a.ready_fd = static_cast<int>(next("--ready-fd"));
    } else if (s == "--pause-us") {
      a.pause_us = next("--pause-us");
    } else if (s.rfind("--", 0) == 0) {
      Die("unknown option " + s);
    } else {
      pos.push_back(s);
    }
  }
  if (a.recover_only) {
    if (pos.size() != 1) Die("usage: crash_writer --recover-only <dir> [options]");
    a.dir = pos[0];
    return a;
  }
  if (pos.size() != 3) Die("usage: crash_writer <dir> <ack_log> <seed> [options]");
  a.dir = pos[0];
  a.ack_log = pos[1];
  a.seed = ParseU64(pos[2].c_str(), "seed");
  if (a.threads < 1 || a.threads > 255) Die("--threads must be 1..255");
  if (a.keys < 1 || a.keys > 100000) Die("--keys must be 1..100000");
  return a;
}

// One line, one write(2): either the whole line reaches the page cache or the process died
// inside the call.
void AppendLine(int fd, const std::string& line) {
  ssize_t n = ::write(fd, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size()))
    Die("write to the ack log returned " + std::to_string(n) + ": " + std::strerror(errno));
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// Hands out a value in pieces of random size, as a network stream would.
class PieceSource : public ValueSource {
 public:
  PieceSource(const std::string& v, std::mt19937_64* rng) : v_(v), rng_(rng) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t piece = 1 + (*rng_)() % (96 << 10);
    size_t k = std::min({n, piece, v_.size() - pos_});
    std::memcpy(buf, v_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  const std::string& v_;
  std::mt19937_64* rng_;
  size_t pos_ = 0;
};

// Sizes cover: empty, tiny, a few KiB, tens of KiB, straddling the chunk size (a quarter of a
// volume's data area, 261120 bytes with 1 MiB volumes), and values of about 3 chunks that stream
// across volumes. Large values are rare because nothing reclaims space: a 100-round test writes
// about 100k values, and every byte stays on disk.
size_t PickSize(std::mt19937_64& rng, size_t chunk) {
  uint64_t r = rng() % 1000;
  if (r < 100) return 0;
  if (r < 550) return 1 + rng() % 256;
  if (r < 950) return 1024 + rng() % (3 << 10);
  if (r < 988) return (8 << 10) + rng() % (56 << 10);
  if (r < 995) return chunk - 4096 + rng() % 8192;
  return 2 * chunk + rng() % chunk;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string VersionText(const Version& v) {
  return std::to_string(v.hlc) + " " + std::to_string(v.writer);
}

void WriterThread(Store* store, int fd, const Args& a, uint64_t tid) {
  std::mt19937_64 rng(a.seed * 0x9E3779B97F4A7C15ull + tid * 0xBF58476D1CE4E5B9ull + 1);
  const uint64_t version_base = ((a.round + 1) << 44) | (tid << 36);
  // The engine's chunk size (store_open.cc): a quarter of the data area, at most 4 MiB.
  const size_t chunk = std::min<size_t>(size_t{4} << 20, ((a.volume_mib << 20) - 4096) / 4 / 8 * 8);
  // The versions this thread saw acknowledged, per key: what its if-match writes name.
  std::map<std::string, Version> seen;
  char key[32];
  for (uint64_t opid = 1;; opid++) {
    std::snprintf(key, sizeof(key), "key/%03d", static_cast<int>(rng() % a.keys));
    const std::string prefix = std::to_string(tid) + " " + std::to_string(opid);
    Status s;
    WriteOptions wo;
    WriteResult result;
    wo.result_out = &result;
    // The kind of write: conditions for a fifth of the puts and half of the deletes.
    const uint64_t c = rng() % 100;
    char cond = 'N';
    if (c < 6) {
      cond = 'W';  // a replica's version, of about now: newer, or refused
      wo.condition = WriteCondition::kIfNewer;
      wo.version = Version::Make(NowMs() + rng() % 3, static_cast<uint16_t>(opid),
                                 static_cast<uint32_t>(1000 + tid));
    } else if (c < 10) {
      cond = 'A';  // an ancient replica version: always refused (lower, or below the horizon)
      wo.condition = WriteCondition::kIfNewer;
      wo.version = Version::Make(1000 + rng() % 1000, 0, static_cast<uint32_t>(1000 + tid));
    } else if (c < 14) {
      cond = 'C';
      wo.condition = WriteCondition::kIfNoneMatch;
    } else if (c < 18) {
      cond = 'M';
      wo.condition = WriteCondition::kIfMatch;
      auto it = seen.find(key);
      wo.version = it != seen.end() ? it->second : Version::Make(NowMs(), 0, 1);
    }
    std::string cond_text(1, cond);
    if (cond == 'W' || cond == 'A') cond_text += " " + VersionText(wo.version);
    bool del = rng() % 100 < 25;
    if (del) {
      if (cond == 'C') cond = 'N', cond_text = "N", wo.condition = WriteCondition::kNone;
      AppendLine(fd, "I " + prefix + " D " + key + " " + cond_text + "\n");
      s = store->Delete(key, wo);
    } else {
      uint64_t version = version_base | opid;
      size_t size = PickSize(rng, chunk);
      bool stream = rng() % 100 < 30;
      std::string value = test::ValueFor(key, version, size);
      wo.metadata = test::MetaFor(key, version);
      AppendLine(fd, "I " + prefix + " P " + key + " " + std::to_string(version) + " " +
                         std::to_string(size) + (stream ? " S " : " B ") + cond_text + "\n");
      if (stream) {
        PieceSource src(value, &rng);
        s = store->PutStream(key, &src, wo);
      } else {
        s = store->Put(key, value, wo);
      }
    }
    if (cond == 'A' && !s.IsConflict()) {
      // An ancient version must never win: not over a live key, not over a tombstone, not as
      // the first write of a key (the tombstone horizon).
      AppendLine(fd, "V " + prefix + " an if-newer write of an ancient version returned " +
                         OneLine(s.ToString()) + "\n");
    }
    if (s.ok()) {
      seen[key] = result.version;
      AppendLine(fd, "A " + prefix + " OK " + VersionText(result.version) + "\n");
    } else if (s.IsNotFound() && cond != 'W' && cond != 'A') {
      AppendLine(fd, "A " + prefix + " NF\n");
    } else if (s.IsConflict()) {
      AppendLine(fd, "A " + prefix + " CF\n");
    } else {
      AppendLine(fd, "F " + prefix + " " + OneLine(s.ToString()) + "\n");
      // A failing store fails every write: don't flood the log.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (a.pause_us > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % (a.pause_us + 1)));
  }
}

StoreOptions Options(const Args& a) {
  StoreOptions o;
  o.durability = Durability::kSync;
  o.volume_capacity = a.volume_mib << 20;
  o.max_unfinished_bytes = a.unfinished_mib << 20;
  o.info_log = [](const std::string& m) { std::fprintf(stderr, "cairn: %s\n", m.c_str()); };
  return o;
}

int Main(int argc, char** argv) {
  Args a = ParseArgs(argc, argv);
  if (a.recover_only) {
    if (a.ready_fd >= 0 && ::write(a.ready_fd, "r", 1) != 1) Die("cannot signal --ready-fd");
    auto s = Store::Open(a.dir, Options(a));
    if (!s.ok()) Die("open: " + s.status().ToString());
    std::fflush(stderr);
    std::_Exit(0);  // no Close: as if the process crashed right after recovery
  }
  int fd = ::open(a.ack_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + a.ack_log + ": " + std::strerror(errno));
  auto opened = Store::Open(a.dir, Options(a));
  if (!opened.ok()) Die("open: " + opened.status().ToString());
  std::unique_ptr<Store> store = std::move(*opened);
  AppendLine(fd, "O " + std::to_string(::getpid()) + " " +
                     OneLine(store->recovery_report().ToString()) + "\n");
  std::vector<std::thread> ts;
  for (int t = 0; t < a.threads; t++)
    ts.emplace_back([&, t] { WriterThread(store.get(), fd, a, static_cast<uint64_t>(t)); });
  for (auto& t : ts) t.join();  // never: the threads loop until the process is killed
  return 0;
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) { return cairn::Main(argc, argv); }
