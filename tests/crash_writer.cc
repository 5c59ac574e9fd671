// crash_writer: the process that tests/crash_test.cc kills with SIGKILL.
//
// It opens a store in sync mode and runs N threads that put, overwrite and delete keys of a
// small key space forever, recording every operation in an ack log that lives outside the
// store:
//
//   I <tid> <opid> P <key> <version> <size> <B|S>   intent to put (B: Store::Put, S: PutStream)
//   I <tid> <opid> D <key>                          intent to delete
//   A <tid> <opid> OK                               the op returned OK (acknowledged)
//   A <tid> <opid> NF                               a delete returned NotFound: nothing written
//   F <tid> <opid> <status>                         the op returned an error
//   O <pid> <recovery report, one line>             the store opened; writing starts
//
// Each line is one write(2) on an O_APPEND descriptor: no user-space buffer, so every line whose
// write returned is in the page cache and survives the kill. A line can still be cut short if the
// kill lands inside write(2); the checker drops a partial last line. The value of a put is
// test::ValueFor(key, version, size), so the checker can recompute it; versions are unique per
// key across rounds: ((round + 1) << 44) | (tid << 36) | opid.
//
// Usage:
//   crash_writer <dir> <ack_log> <seed> [--round R] [--threads N] [--keys K]
//                [--volume-mib M] [--unfinished-mib U] [--pause-us P]
//     Each thread pauses a random 0..P µs after each op (default 1000): nothing reclaims space,
//     so the pause bounds what a round writes without emptying the pipeline at the kill.
//   crash_writer --recover-only <dir> [--ready-fd F] [--volume-mib M] [--unfinished-mib U]
//     Opens the store (running recovery) and exits at once without closing it, as a crash right
//     after recovery would. Exit code 0 if the open succeeded. With --ready-fd, writes one byte
//     to descriptor F just before calling Store::Open, so the parent can time its kill from there.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

void WriterThread(Store* store, int fd, const Args& a, uint64_t tid) {
  std::mt19937_64 rng(a.seed * 0x9E3779B97F4A7C15ull + tid * 0xBF58476D1CE4E5B9ull + 1);
  const uint64_t version_base = ((a.round + 1) << 44) | (tid << 36);
  // The engine's chunk size (store_open.cc): a quarter of the data area, at most 4 MiB.
  const size_t chunk = std::min<size_t>(size_t{4} << 20, ((a.volume_mib << 20) - 4096) / 4 / 8 * 8);
  char key[32];
  for (uint64_t opid = 1;; opid++) {
    std::snprintf(key, sizeof(key), "key/%03d", static_cast<int>(rng() % a.keys));
    const std::string prefix = std::to_string(tid) + " " + std::to_string(opid);
    Status s;
    bool del = rng() % 100 < 25;
    if (del) {
      AppendLine(fd, "I " + prefix + " D " + key + "\n");
      s = store->Delete(key);
    } else {
      uint64_t version = version_base | opid;
      size_t size = PickSize(rng, chunk);
      bool stream = rng() % 100 < 30;
      std::string value = test::ValueFor(key, version, size);
      AppendLine(fd, "I " + prefix + " P " + key + " " + std::to_string(version) + " " +
                         std::to_string(size) + (stream ? " S\n" : " B\n"));
      if (stream) {
        PieceSource src(value, &rng);
        s = store->PutStream(key, &src);
      } else {
        s = store->Put(key, value);
      }
    }
    if (s.ok()) {
      AppendLine(fd, "A " + prefix + " OK\n");
    } else if (del && s.IsNotFound()) {
      AppendLine(fd, "A " + prefix + " NF\n");
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
