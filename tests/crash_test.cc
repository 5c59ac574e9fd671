// SIGKILL crash tests of the sync-mode durability contract (docs/reliability.md).
//
// The contract, for Durability::kSync:
//   - a Put/Delete that returned OK (acknowledged) survives a crash of the writer bit-exact,
//     with the version it was acknowledged with and its metadata;
//   - an unacknowledged write may vanish or survive, but is never visible half-written;
//   - a read returns the exact value of some version that was written, or NotFound, never other
//     bytes and never an error; Head and the streaming reader agree with it (version, metadata);
//   - a deleted key stays deleted unless a later put of it was at least started; a write that
//     carries an older version (if-newer, ancient) never brings it back: the writer checks every
//     such write is refused, and every check probes every key with one after recovery;
//   - a conditional write refused (Conflict, NotFound) wrote nothing.
//
// How: tests/crash_writer.cc hammers a store with puts, overwrites and deletes from 8 threads and
// logs an intent line before and an ack line after every operation. This test starts it, kills
// it with SIGKILL after a random 20-400 ms, opens the store in-process and checks every key
// against a model built from the ack log of all rounds so far. Every round reuses the same store,
// so later rounds also recover stores that earlier recoveries produced.
//
// The model. Every line of the ack log has a position (its line number). An op has the position
// of its intent line and an end: its ack or failure line, or, if it never returned, the kill
// marker of its round (its process was gone by then). A key's state must be the outcome of one
// of its ops that is not superseded for sure:
//   op X is superseded for sure iff some acknowledged op Y on the same key has its intent after
//   X's end.
// Why that is sound: Y reserved its place in the log (and its sequence number) after its intent
// line, so after X returned or died; X's records all precede Y's in sequence order, and Y is
// durable because it was acknowledged. Why it is the best we can do: two ops whose
// intent..end intervals overlap may commit in either order, and an op cut off by the kill may or
// may not have reached the log, so each of them stays allowed. The initial absence of a key is an
// acknowledged delete before the first line. A delete that returned NotFound wrote nothing and is
// no op at all. A failed op counts as possibly applied (there should be none: count printed).
// Each successful check is recorded as an acknowledged op too (an observation at the check's
// line): once recovery has shown a value, no later recovery may roll it back.
//
// Replay: the base seed is printed at start; CAIRN_CRASH_SEED=<seed> CAIRN_CRASH_ROUNDS=<n>
// repeats the same op choices and sleep times (thread interleaving and kill points still vary).
// On failure the store directory and the ack log are kept for a post-mortem. Without
// CAIRN_CRASH_ROUNDS, CAIRN_TEST_ROUNDS (scripts/test --rounds) sets the rounds.
//
// Each test ends with one line for scripts/torture, printed whether it passed or not:
//   CRASH-SUMMARY test=<name> seed=<base> crashes=<processes killed> checks=<full checks>
//   acked_checked=<acknowledged writes checked> losses=<contract violations> failures=<n>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cairn/store.h"
#include "test_util.h"
#include "util/crc32c.h"

#ifndef CRASH_WRITER_PATH
#error "CRASH_WRITER_PATH must name the crash_writer executable"
#endif

namespace cairn {
namespace {

using test::TempDir;
using test::ValueFor;

// Shared with crash_writer through its command line.
constexpr int kKeys = 200;
constexpr int kThreads = 8;
constexpr uint64_t kVolumeMiB = 1;  // the smallest volumes: switches and chunking under the kill
constexpr uint64_t kUnfinishedMiB = 8;  // the minimum; a multi-chunk value fills a good part
// Values above this are chunked with kVolumeMiB volumes: (capacity - 4096-byte header) / 4.
constexpr uint64_t kChunkBytes = ((kVolumeMiB << 20) - 4096) / 4 / 8 * 8;

// Named bounds on every wait.
constexpr int kMinRunMs = 20;
constexpr int kMaxRunMs = 400;
constexpr int kMaxRecoveryRunMs = 50;
// The recovery test lets the writer run longer, so that replaying its log sometimes takes less
// and sometimes more than the window in which the recovery is killed.
constexpr int kMinRecoveryTestRunMs = 50;
constexpr int kMaxRecoveryTestRunMs = 700;
constexpr int kReapTimeoutMs = 10000;  // SIGKILL to waitpid
constexpr size_t kMaxFailuresShown = 20;

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t EnvU64(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  return std::strtoull(v, nullptr, 0);
}

std::string KeyName(int i) {
  char b[32];
  std::snprintf(b, sizeof(b), "key/%03d", i);
  return b;
}

StoreOptions CheckerOptions() {
  StoreOptions o;
  o.volume_capacity = kVolumeMiB << 20;
  o.max_unfinished_bytes = kUnfinishedMiB << 20;
  o.info_log = [](const std::string&) {};  // the report is printed from recovery_report()
  return o;
}

// The bytes of `path` from `offset` on; with `max`, only the last `max` of them.
std::string ReadFile(const std::string& path, size_t max = SIZE_MAX, uint64_t offset = 0) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > max)
    s = "[... " + std::to_string(s.size() - max) + " bytes]\n" + s.substr(s.size() - max);
  return s;
}

void AppendLine(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(static_cast<ssize_t>(line.size()), ::write(fd, line.data(), line.size()));
  ::close(fd);
}

// A kill inside write(2) can leave a partial last line: drop it. Its op never started (intent)
// or is treated as in flight (ack), which the model allows either way. Returns bytes dropped.
size_t DropTornLine(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || st.st_size == 0) return 0;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t from = size > 4096 ? size - 4096 : 0;  // lines are far shorter
  std::string tail = ReadFile(path, SIZE_MAX, from);
  if (!tail.empty() && tail.back() == '\n') return 0;
  size_t nl = tail.rfind('\n');
  uint64_t keep = nl == std::string::npos ? from : from + nl + 1;
  EXPECT_EQ(0, ::truncate(path.c_str(), static_cast<off_t>(keep)));
  return size - keep;
}

// ---------------------------------------------------------------------------------------------
// The model of what each key may hold, built from the ack log.

struct Outcome {
  bool present = false;
  uint64_t version = 0;
  uint64_t size = 0;
  bool operator==(const Outcome& o) const {
    return present == o.present && (!present || (version == o.version && size == o.size));
  }
};

struct Op {
  enum class State { kPending, kAcked, kFailed, kInFlight, kObserved };
  State state = State::kPending;
  Outcome outcome;
  char cond = 'N';        // the write's condition (crash_writer.cc)
  Version given;          // W and A: the version the write carried
  bool has_version = false;
  Version version;        // acknowledged: the version written
  int64_t intent = 0;       // line number of the intent
  int64_t end = LLONG_MAX;  // ack/fail line, or the kill marker if it never returned
  uint64_t round = 0;
  uint64_t tid = 0, opid = 0;
  int key = -1;
  std::string fail_status;

  std::string Describe() const {
    std::string s = outcome.present ? "put v" + std::to_string(outcome.version) + " size " +
                                          std::to_string(outcome.size)
                                    : std::string("absent");
    switch (state) {
      case State::kObserved:
        s += intent < 0 ? " (initial)"
                        : " (observed by the check at line " + std::to_string(intent) + ")";
        return s;
      case State::kAcked:
        s += " (acked";
        break;
      case State::kFailed:
        s += " (FAILED: " + fail_status;
        break;
      case State::kInFlight:
        s += " (in flight at the kill";
        break;
      case State::kPending:
        s += " (pending";
        break;
    }
    return s + "; round " + std::to_string(round) + " tid " + std::to_string(tid) + " op " +
           std::to_string(opid) + ", intent line " + std::to_string(intent) + ", end line " +
           std::to_string(end) + ")";
  }
};

class AckModel {
 public:
  explicit AckModel(int keys) : keys_(keys) {
    for (int i = 0; i < keys; i++) {
      key_index_[KeyName(i)] = i;
      auto init = std::make_shared<Op>();
      init->state = Op::State::kObserved;
      init->intent = -1;
      init->end = -1;
      keys_[i].ops.push_back(init);
    }
  }

  // Parses the lines appended to `path` since the last call. Returns "" or what is malformed.
  std::string Consume(const std::string& path) {
    std::string s = ReadFile(path, SIZE_MAX, offset_);
    size_t pos = 0;
    while (pos < s.size()) {
      size_t nl = s.find('\n', pos);
      if (nl == std::string::npos) break;  // partial: wait for DropTornLine or more
      std::string err = Line(std::string_view(s).substr(pos, nl - pos), line_);
      if (!err.empty()) return "ack log line " + std::to_string(line_) + ": " + err;
      line_++;
      pos = nl + 1;
    }
    offset_ += pos;
    return "";
  }

  int64_t next_line() const { return line_; }

  // Ops on key i that are not superseded for sure.
  std::vector<const Op*> Allowed(int i) const {
    std::vector<const Op*> out;
    const Key& k = keys_[i];
    for (const auto& op : k.ops)
      if (!(k.max_ack_intent > op->end)) out.push_back(op.get());
    return out;
  }

  // Records what a check read, as an acknowledged op at line `line` (the check's own marker).
  void Observe(int i, const Outcome& o, const Version& v, int64_t line) {
    auto op = std::make_shared<Op>();
    op->state = Op::State::kObserved;
    op->outcome = o;
    op->version = v;
    op->intent = op->end = line;
    keys_[i].ops.push_back(op);
    keys_[i].max_ack_intent = std::max(keys_[i].max_ack_intent, line);
  }

  // Forgets ops that are superseded for sure: nothing can make them allowed again.
  void Prune() {
    for (Key& k : keys_) {
      std::erase_if(k.ops,
                    [&](const std::shared_ptr<Op>& op) { return k.max_ack_intent > op->end; });
    }
  }

  // Every put ever started on key i, to tell a stale value from garbage in a failure report.
  const std::vector<Outcome>& History(int i) const { return keys_[i].history; }

  uint64_t acked = 0, failed = 0, in_flight = 0, in_flight_chunked = 0, noop_deletes = 0,
           writer_opens = 0, conflicts = 0, conditional = 0, ancient = 0;
  std::string last_failure;
  std::vector<std::string> violations;  // V lines: what the writer saw go wrong

 private:
  struct Key {
    std::vector<std::shared_ptr<Op>> ops;
    int64_t max_ack_intent = -1;
    std::vector<Outcome> history;
  };

  static std::vector<std::string_view> Split(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
      size_t sp = s.find(' ');
      if (sp != 0) out.push_back(s.substr(0, sp));
      if (sp == std::string_view::npos) break;
      s.remove_prefix(sp + 1);
    }
    return out;
  }
  static bool U64(std::string_view t, uint64_t* v) {
    if (t.empty() || t.size() > 20) return false;
    *v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      *v = *v * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
  }

  std::string Line(std::string_view line, int64_t no) {
    std::vector<std::string_view> t = Split(line);
    if (t.empty()) return "empty line";
    const std::string_view kind = t[0];
    if (kind == "R") {  // a writer round starts
      if (t.size() < 2 || !U64(t[1], &round_)) return "bad round marker";
      if (!pending_.empty()) return "ops pending at a round start";
      return "";
    }
    if (kind == "K") {  // the writer was killed: whatever did not return is in flight
      for (auto& [id, op] : pending_) {
        op->state = Op::State::kInFlight;
        op->end = no;
        in_flight++;
        if (op->outcome.size > kChunkBytes) in_flight_chunked++;
      }
      pending_.clear();
      return "";
    }
    if (kind == "C" || kind == "X") return "";  // a check / a killed recovery
    if (kind == "O") {
      writer_opens++;
      return "";
    }
    uint64_t tid, opid;
    if (t.size() < 3 || !U64(t[1], &tid) || !U64(t[2], &opid)) return "bad op id";
    const std::pair<uint64_t, uint64_t> id(tid, opid);
    if (kind == "V") {
      violations.push_back(std::string(line));
      return "";
    }
    if (kind == "I") {
      if (t.size() < 5) return "short intent";
      auto ki = key_index_.find(std::string(t[4]));
      if (ki == key_index_.end()) return "unknown key";
      auto op = std::make_shared<Op>();
      op->intent = no;
      op->round = round_;
      op->tid = tid;
      op->opid = opid;
      op->key = ki->second;
      size_t c = 0;  // where the condition is
      if (t[3] == "P") {
        if (t.size() < 7 || !U64(t[5], &op->outcome.version) || !U64(t[6], &op->outcome.size))
          return "bad put intent";
        op->outcome.present = true;
        keys_[op->key].history.push_back(op->outcome);
        c = 8;
      } else if (t[3] == "D") {
        c = 5;
      } else {
        return "bad op kind";
      }
      if (t.size() > c) {
        if (t[c].size() != 1 || std::string_view("NCMWA").find(t[c][0]) == std::string_view::npos)
          return "bad condition";
        op->cond = t[c][0];
        if (op->cond == 'W' || op->cond == 'A') {
          uint64_t hlc = 0, writer = 0;
          if (t.size() < c + 3 || !U64(t[c + 1], &hlc) || !U64(t[c + 2], &writer))
            return "bad if-newer version";
          op->given = Version{hlc, static_cast<uint32_t>(writer)};
        }
        if (op->cond != 'N') conditional++;
        if (op->cond == 'A') ancient++;
      }
      if (!pending_.emplace(id, op).second) return "duplicate op id";
      keys_[op->key].ops.push_back(op);
      return "";
    }
    auto it = pending_.find(id);
    if (it == pending_.end()) return "result of an op without intent";
    std::shared_ptr<Op> op = it->second;
    pending_.erase(it);
    Key& k = keys_[op->key];
    if (kind == "A") {
      if (t.size() < 4) return "bad ack";
      if (t[3] == "NF" || t[3] == "CF") {
        // NotFound (a delete of a missing key, an if-match of one) and Conflict: "nothing
        // written" (store.h).
        if (t[3] == "NF" && op->outcome.present && op->cond != 'M') return "NotFound ack of a put";
        std::erase(k.ops, op);
        (t[3] == "NF" ? noop_deletes : conflicts)++;
        return "";
      }
      if (t[3] != "OK") return "bad ack";
      if (op->cond == 'A') return "an ancient if-newer write was acknowledged";
      if (t.size() == 6) {
        uint64_t hlc = 0, writer = 0;
        if (!U64(t[4], &hlc) || !U64(t[5], &writer)) return "bad ack version";
        op->has_version = true;
        op->version = Version{hlc, static_cast<uint32_t>(writer)};
        if ((op->cond == 'W') && op->version != op->given)
          return "an if-newer write was acknowledged with another version";
      }
      op->state = Op::State::kAcked;
      op->end = no;
      k.max_ack_intent = std::max(k.max_ack_intent, op->intent);
      acked++;
      return "";
    }
    if (kind == "F") {
      op->state = Op::State::kFailed;
      op->end = no;
      const size_t rest = static_cast<size_t>(t[2].data() + t[2].size() - line.data()) + 1;
      op->fail_status = std::string(line.substr(std::min(line.size(), rest)));
      last_failure = op->fail_status;
      failed++;
      return "";
    }
    return "unknown line kind";
  }

  std::vector<Key> keys_;
  std::unordered_map<std::string, int> key_index_;
  std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<Op>> pending_;
  uint64_t round_ = 0;
  int64_t line_ = 0;
  size_t offset_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Processes.

class Child {
 public:
  // fork + exec of crash_writer with `args`; its stdout and stderr go to `out_path`, and the
  // write end of a pipe is its descriptor 3 (for --ready-fd 3).
  Child(const std::vector<std::string>& args, const std::string& out_path) : out_(out_path) {
    std::vector<std::string> all = {CRASH_WRITER_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0) << out_path;
    int p[2];
    EXPECT_EQ(0, ::pipe2(p, O_CLOEXEC));
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec: the parent has threads.
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::dup2(p[1], 3);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    EXPECT_GT(pid_, 0) << "fork: " << std::strerror(errno);
    ::close(fd);
    ::close(p[1]);
    ready_fd_ = p[0];
  }
  ~Child() {
    ::close(ready_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st;
      Reap(&st);
    }
  }

  // True if the child has exited; *status is its wait status.
  bool Exited(int* status) {
    if (reaped_) {
      *status = status_;
      return true;
    }
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      *status = status_;
      return true;
    }
    return false;
  }

  // Waits up to timeout_ms for the child to write to descriptor 3. False if it did not (it
  // exited, or the time ran out).
  bool WaitReady(int timeout_ms) {
    pollfd pfd{ready_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) != 1) return false;
    char c;
    return ::read(ready_fd_, &c, 1) == 1;
  }

  // SIGKILL, then waitpid with a bounded wait. False if it did not die in time.
  bool Kill() {
    int st;
    if (Exited(&st)) return true;
    ::kill(pid_, SIGKILL);
    return Reap(&st);
  }

  std::string Output() const { return ReadFile(out_, 4000); }
  static std::string Describe(int st) {
    if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return std::string("killed by signal ") + strsignal(WTERMSIG(st));
    return "status " + std::to_string(st);
  }

 private:
  bool Reap(int* st) {
    for (int waited = 0; waited < kReapTimeoutMs; waited++) {
      if (Exited(st)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  int ready_fd_ = -1;
  std::string out_;
};

// ---------------------------------------------------------------------------------------------
// One store under test, its ack log and its model.

struct KeyState {
  bool found = false;           // Get returned bytes (matching an allowed state or not)
  Outcome outcome;              // the allowed state the bytes match
  bool from_in_flight = false;  // ... written by a put that was cut off by a kill
  ObjectInfo info;              // valid when outcome.present
};

class CrashHarness {
 public:
  CrashHarness(const char* test_name, uint64_t base_seed, uint64_t rounds)
      : test_name_(test_name),
        base_seed_(base_seed),
        rounds_(rounds),
        dir_(tmp_.sub("store")),
        log_(tmp_.sub("ack.log")),
        out_(tmp_.sub("writer.out")),
        model_(kKeys) {}

  // Starts the writer, lets it run min_ms..max_ms, kills it, and feeds its ack log to the model.
  // Returns false (with a failure recorded) if it could not.
  bool RunWriter(uint64_t round, std::mt19937_64& rng, int min_ms, int max_ms, int* ran_ms) {
    const uint64_t seed = rng();
    AppendLine(log_, "R " + std::to_string(round) + " " + std::to_string(seed) + "\n");
    const int sleep_ms = min_ms + static_cast<int>(rng() % (max_ms - min_ms + 1));
    *ran_ms = sleep_ms;
    Child c({dir_, log_, std::to_string(seed), "--round", std::to_string(round), "--threads",
             std::to_string(kThreads), "--keys", std::to_string(kKeys), "--volume-mib",
             std::to_string(kVolumeMiB), "--unfinished-mib", std::to_string(kUnfinishedMiB)},
            out_);
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    int st;
    if (c.Exited(&st)) {
      Fail("round " + std::to_string(round) + ": the writer " + Child::Describe(st) +
           " before it was killed; its output:\n" + c.Output());
      return false;
    }
    if (!c.Kill()) {
      Fail("round " + std::to_string(round) + ": the writer did not die within " +
           std::to_string(kReapTimeoutMs) + " ms of SIGKILL");
      return false;
    }
    crashes_++;
    if (DropTornLine(log_) > 0) torn_lines_++;
    AppendLine(log_, "K " + std::to_string(round) + "\n");
    std::string err = model_.Consume(log_);
    if (!err.empty()) {
      Fail("the model cannot parse the ack log: " + err);
      return false;
    }
    return true;
  }

  // Runs recovery in a child and kills it 0-50 ms after it called Store::Open (it may also
  // finish first, and must then exit 0).
  bool KillRecovery(std::mt19937_64& rng, bool* finished) {
    const int sleep_ms = static_cast<int>(rng() % (kMaxRecoveryRunMs + 1));
    Child c({"--recover-only", dir_, "--ready-fd", "3", "--volume-mib", std::to_string(kVolumeMiB),
             "--unfinished-mib", std::to_string(kUnfinishedMiB)},
            out_);
    // Process start-up takes some ms: count the window from the call to Open. If the signal
    // never comes, the child exited (checked below) or hangs (killed below).
    (void)c.WaitReady(kReapTimeoutMs);
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    int st;
    *finished = c.Exited(&st);
    if (*finished && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      Fail("a recovery " + Child::Describe(st) + "; its output:\n" + c.Output());
      return false;
    }
    if (!c.Kill()) {
      Fail("a recovery did not die within " + std::to_string(kReapTimeoutMs) + " ms of SIGKILL");
      return false;
    }
    if (!*finished) crashes_++;
    AppendLine(log_, std::string("X ") + (*finished ? "finished" : "killed") + " after " +
                         std::to_string(sleep_ms) + " ms\n");
    std::string err = model_.Consume(log_);
    if (!err.empty()) Fail("the model cannot parse the ack log: " + err);
    return err.empty();
  }

  // Opens the store in-process and checks every key against the model. *states gets what was
  // read; *report the recovery report. Returns false on any violation.
  bool OpenAndCheck(const std::string& what, std::vector<KeyState>* states, std::string* report) {
    auto opened = Store::Open(dir_, CheckerOptions());
    if (!opened.ok()) {
      Fail(what + ": opening the store failed: " + opened.status().ToString());
      return false;
    }
    std::unique_ptr<Store> store = std::move(*opened);
    *report = store->recovery_report().ToString();
    std::vector<std::string> bad;
    states->assign(kKeys, KeyState());
    std::set<std::string> present;
    for (int i = 0; i < kKeys; i++) {
      std::string e = CheckKey(store.get(), i, &(*states)[i]);
      if (!e.empty()) bad.push_back(e);
      if ((*states)[i].found) present.insert(KeyName(i));
    }
    auto scan = store->Scan("", "", 100000);
    if (!scan.ok()) {
      bad.push_back("Scan failed: " + scan.status().ToString());
    } else {
      std::set<std::string> listed;
      for (const ObjectInfo& o : scan->objects) {
        listed.insert(o.key);
        if (present.count(o.key) == 0) {
          bad.push_back("Scan lists " + o.key + " (size " + std::to_string(o.size) +
                        "), which Get does not find");
        } else {
          const KeyState& ks = (*states)[std::stoi(o.key.substr(4))];
          if (ks.outcome.present && (o.size != ks.info.size || o.sequence != ks.info.sequence ||
                                     o.crc32c != ks.info.crc32c))
            bad.push_back("Scan and Head disagree on " + o.key);
        }
      }
      for (const std::string& k : present)
        if (listed.count(k) == 0) bad.push_back("Scan does not list " + k + ", which Get finds");
      if (scan->truncated) bad.push_back("Scan of at most 100000 objects is truncated");
    }
    // A write carrying an ancient version is refused for every key, present or not: nothing
    // comes back, and nothing is written.
    for (int i = 0; i < kKeys; i++) {
      WriteOptions wo;
      wo.condition = WriteCondition::kIfNewer;
      wo.version = Version::Make(999, 0, 7);
      Status p = i % 2 ? store->Put(KeyName(i), "ancient", wo) : store->Delete(KeyName(i), wo);
      if (!p.IsConflict())
        bad.push_back(KeyName(i) + ": a write of an ancient version returned " + p.ToString());
    }
    for (const std::string& v : model_.violations) bad.push_back("the writer saw: " + v);
    auto stats = store->Stats();
    if (stats.ok())
      *report += "; store: " + std::to_string(stats->volumes) + " volumes, " +
                 std::to_string(stats->allocated_bytes >> 20) + " MiB, " +
                 std::to_string(stats->tombstones) + " tombstones";
    Status cs = store->Close();
    if (!cs.ok()) bad.push_back("Close failed: " + cs.ToString());
    checks_++;
    if (!bad.empty()) {
      violations_ += bad.size();
      std::string msg = what + ": " + std::to_string(bad.size()) + " violation(s):";
      for (size_t i = 0; i < bad.size() && i < kMaxFailuresShown; i++) msg += "\n  " + bad[i];
      msg += "\n  recovery: " + *report;
      Fail(msg);
      return false;
    }
    return true;
  }

  // After a successful check: every key now holds what was read, as if acknowledged.
  void RecordCheck(uint64_t round, const std::vector<KeyState>& states) {
    const int64_t line = model_.next_line();
    for (int i = 0; i < kKeys; i++) {
      model_.Observe(i, states[i].outcome, states[i].outcome.present ? states[i].info.version
                                                                        : Version(),
                     line);
      in_flight_seen_ += states[i].from_in_flight ? 1 : 0;
    }
    AppendLine(log_, "C " + std::to_string(round) + "\n");
    std::string err = model_.Consume(log_);
    if (!err.empty()) Fail("the model cannot parse the ack log: " + err);
    model_.Prune();
  }

  std::string Counts() const {
    char b[512];
    std::snprintf(b, sizeof(b),
                  "acked %" PRIu64 ", in flight at a kill %" PRIu64 " (%" PRIu64
                  " chunked; %" PRIu64 " puts seen applied), failed %" PRIu64
                  ", no-op deletes %" PRIu64 ", conditional %" PRIu64 " (%" PRIu64
                  " ancient) of which %" PRIu64 " refused, writer opens %" PRIu64
                  ", torn log lines %zu",
                  model_.acked, model_.in_flight, model_.in_flight_chunked, in_flight_seen_,
                  model_.failed, model_.noop_deletes, model_.conditional, model_.ancient,
                  model_.conflicts, model_.writer_opens, torn_lines_);
    return b;
  }
  const AckModel& model() const { return model_; }

  // The machine-readable summary (see the top of this file).
  void PrintSummary() const {
    std::printf("CRASH-SUMMARY test=%s seed=%" PRIu64 " crashes=%" PRIu64 " checks=%" PRIu64
                " acked_checked=%" PRIu64 " losses=%" PRIu64 " failures=%" PRIu64 "\n",
                test_name_, base_seed_, crashes_, checks_, model_.acked, violations_, failures_);
    std::fflush(stdout);
  }

  // Records a failure with everything needed to reproduce it; keeps the directory.
  void Fail(const std::string& msg) {
    failures_++;
    ::setenv("CAIRN_KEEP_TEST_DIRS", "1", 1);
    ADD_FAILURE() << msg << "\n\nbase seed " << base_seed_
                  << "; replay with:\n  CAIRN_CRASH_SEED=" << base_seed_
                  << " CAIRN_CRASH_ROUNDS=" << rounds_
                  << " ./tests/crash_test --gtest_filter=" << test_name_
                  << "\n(thread interleaving and kill points vary between runs)\nstore kept at "
                  << dir_ << "\nack log kept at " << log_ << "\nlast writer output:\n"
                  << ReadFile(out_, 2000);
  }

 private:
  std::string Allowed(int i) const {
    std::string s;
    for (const Op* op : model_.Allowed(i)) s += "\n      may be: " + op->Describe();
    return s;
  }

  // What a value that matches no allowed op is: a superseded version, or garbage.
  std::string Identify(int i, const std::string& v) const {
    for (const Outcome& o : model_.History(i))
      if (o.size == v.size() && ValueFor(KeyName(i), o.version, o.size) == v)
        return "the bytes are those of v" + std::to_string(o.version) +
               ", which is superseded for sure (lost acked write or rollback)";
    std::string hex;
    for (size_t j = 0; j < v.size() && j < 16; j++) {
      char b[4];
      std::snprintf(b, sizeof(b), "%02x", static_cast<unsigned char>(v[j]));
      hex += b;
    }
    return "the bytes match no version ever written (first bytes " + hex + ")";
  }

  std::string CheckKey(Store* store, int i, KeyState* st) {
    const std::string key = KeyName(i);
    std::vector<const Op*> allowed = model_.Allowed(i);
    Result<std::string> g = store->Get(key);
    Result<ObjectInfo> h = store->Head(key);
    if (!g.ok()) {
      if (!g.status().IsNotFound())
        return key + ": Get failed: " + g.status().ToString() + Allowed(i);
      if (!h.status().IsNotFound())
        return key + ": Get says NotFound, Head says " +
               (h.ok() ? "size " + std::to_string(h->size) : h.status().ToString());
      for (const Op* op : allowed)
        if (!op->outcome.present) return "";
      return key + ": NotFound (a lost acknowledged write?), but it must hold one of:" + Allowed(i);
    }
    const std::string& v = *g;
    st->found = true;
    if (!h.ok()) return key + ": Get finds it, Head says " + h.status().ToString();
    st->info = *h;
    if (h->size != v.size() || h->crc32c != crc32c::Value(v))
      return key + ": Head says size " + std::to_string(h->size) + " crc " +
             std::to_string(h->crc32c) + ", the value has " + std::to_string(v.size()) +
             " bytes, crc " + std::to_string(crc32c::Value(v));
    if (h->version.none()) return key + ": Head has no version";
    // The allowed op these bytes are: with the version and the metadata it was written with,
    // never another write's. Several ops can have the same bytes (every empty value, tiny
    // values by chance): the bytes, metadata and version must all be one op's.
    const Op* bytes_match = nullptr;
    const Op* match = nullptr;
    for (const Op* op : allowed) {
      if (!op->outcome.present || op->outcome.size != v.size() ||
          ValueFor(key, op->outcome.version, op->outcome.size) != v)
        continue;
      bytes_match = op;
      if (h->metadata != test::MetaFor(key, op->outcome.version)) continue;
      Version want_version;
      if (op->has_version) {
        want_version = op->version;
      } else if (op->cond == 'W') {
        want_version = op->given;
      } else if (op->state == Op::State::kObserved) {
        want_version = op->version;  // what the last check read
      }
      if (!want_version.none() && h->version != want_version) continue;
      match = op;
    }
    if (bytes_match == nullptr)
      return key + ": Get returned " + std::to_string(v.size()) + " bytes that are no allowed " +
             "state; " + Identify(i, v) + Allowed(i);
    if (match == nullptr)
      return key + ": the bytes are v" + std::to_string(bytes_match->outcome.version) +
             "'s, but Head's metadata (content type \"" + h->metadata.content_type +
             "\") or version " + h->version.ToString() + " is not the one written with them" +
             Allowed(i);
    st->outcome = match->outcome;
    st->from_in_flight = match->state == Op::State::kInFlight;
    // The streaming read path verifies chunk by chunk: it must agree.
    auto r = store->OpenReader(key);
    if (!r.ok()) return key + ": OpenReader failed: " + r.status().ToString();
    std::string streamed;
    std::string buf(200000, '\0');
    for (;;) {
      auto n = (*r)->Read(buf.data(), buf.size());
      if (!n.ok()) return key + ": ObjectReader::Read failed: " + n.status().ToString();
      if (*n == 0) break;
      streamed.append(buf.data(), *n);
    }
    if (streamed != v) return key + ": OpenReader returns other bytes than Get";
    if ((*r)->info().version != h->version || (*r)->info().metadata != h->metadata)
      return key + ": OpenReader's version or metadata differ from Head's";
    return "";
  }

  const char* test_name_;
  uint64_t base_seed_, rounds_;
  TempDir tmp_;
  std::string dir_, log_, out_;
  AckModel model_;
  uint64_t crashes_ = 0, checks_ = 0, violations_ = 0, failures_ = 0;
  size_t torn_lines_ = 0;
  uint64_t in_flight_seen_ = 0;
};

uint64_t BaseSeed() {
  uint64_t def =
      SplitMix(std::random_device()() ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) %
      1000000000;
  return EnvU64("CAIRN_CRASH_SEED", def);
}

uint64_t Rounds() { return EnvU64("CAIRN_CRASH_ROUNDS", EnvU64("CAIRN_TEST_ROUNDS", 100)); }

// Prints the harness's CRASH-SUMMARY line however the test ends.
struct SummaryAtExit {
  const CrashHarness& h;
  ~SummaryAtExit() { h.PrintSummary(); }
};

// Each round: run the writer, SIGKILL it, recover in-process, check every key.
TEST(CrashTest, SigkillWriter) {
  const uint64_t base = BaseSeed();
  const uint64_t rounds = Rounds();
  std::printf("CrashTest.SigkillWriter: base seed %" PRIu64 ", %" PRIu64
              " rounds (CAIRN_CRASH_SEED, CAIRN_CRASH_ROUNDS)\n",
              base, rounds);
  CrashHarness h("CrashTest.SigkillWriter", base, rounds);
  SummaryAtExit summary{h};
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t round = 1; round <= rounds; round++) {
    std::mt19937_64 rng(SplitMix(base * 1000003 + round));
    int ran_ms = 0;
    if (!h.RunWriter(round, rng, kMinRunMs, kMaxRunMs, &ran_ms)) return;
    std::vector<KeyState> states;
    std::string report;
    if (!h.OpenAndCheck("round " + std::to_string(round), &states, &report)) return;
    h.RecordCheck(round, states);
    int present = 0;
    for (const KeyState& s : states) present += s.outcome.present ? 1 : 0;
    std::printf("round %3" PRIu64
                ": writer killed after %3d ms; %s; checked %d keys (%d present)"
                "\n  recovery: %s\n",
                round, ran_ms, h.Counts().c_str(), kKeys, present, report.c_str());
    std::fflush(stdout);
    if (::testing::Test::HasFailure()) return;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%" PRIu64 " rounds in %.1f s; %s\n", rounds, secs, h.Counts().c_str());
  if (h.model().failed > 0)
    std::printf("WARNING: %" PRIu64 " writes failed in sync mode on a healthy disk; last: %s\n",
                h.model().failed, h.model().last_failure.c_str());
  EXPECT_GT(h.model().acked, 0u) << "the writer never acknowledged a write";
}

// Recovery itself is killed at random points; then open, close and open again must show the same
// state, which satisfies the contract.
TEST(CrashTest, SigkillDuringRecovery) {
  const uint64_t base = BaseSeed();
  const uint64_t cycles = std::max<uint64_t>(1, Rounds() / 10);
  constexpr int kKilledRecoveries = 6;
  std::printf("CrashTest.SigkillDuringRecovery: base seed %" PRIu64 ", %" PRIu64
              " cycles (CAIRN_CRASH_SEED, CAIRN_CRASH_ROUNDS / 10)\n",
              base, cycles);
  CrashHarness h("CrashTest.SigkillDuringRecovery", base, cycles * 10);
  SummaryAtExit summary{h};
  for (uint64_t cycle = 1; cycle <= cycles; cycle++) {
    std::mt19937_64 rng(SplitMix(SplitMix(base ^ 0x5EC0) + cycle));
    int ran_ms = 0;
    if (!h.RunWriter(cycle, rng, kMinRecoveryTestRunMs, kMaxRecoveryTestRunMs, &ran_ms)) return;
    int killed = 0;
    for (int j = 0; j < kKilledRecoveries; j++) {
      bool finished = false;
      if (!h.KillRecovery(rng, &finished)) return;
      killed += finished ? 0 : 1;
    }
    std::vector<KeyState> first, second;
    std::string r1, r2;
    if (!h.OpenAndCheck("cycle " + std::to_string(cycle) + " first open", &first, &r1)) return;
    if (!h.OpenAndCheck("cycle " + std::to_string(cycle) + " second open", &second, &r2)) return;
    if (r2.rfind("clean shutdown", 0) != 0) {
      h.Fail("cycle " + std::to_string(cycle) + ": the open after a clean close found: " + r2);
      return;
    }
    for (int i = 0; i < kKeys; i++) {
      const KeyState& a = first[i];
      const KeyState& b = second[i];
      bool same = a.outcome == b.outcome;
      if (same && a.outcome.present)
        same = a.info.size == b.info.size && a.info.crc32c == b.info.crc32c &&
               a.info.sequence == b.info.sequence && a.info.mtime_us == b.info.mtime_us;
      if (!same) {
        h.Fail("cycle " + std::to_string(cycle) + ": " + KeyName(i) +
               " differs between two opens in a row: " +
               (a.outcome.present ? "v" + std::to_string(a.outcome.version) + " seq " +
                                        std::to_string(a.info.sequence)
                                  : std::string("absent")) +
               " then " +
               (b.outcome.present ? "v" + std::to_string(b.outcome.version) + " seq " +
                                        std::to_string(b.info.sequence)
                                  : std::string("absent")));
        return;
      }
    }
    h.RecordCheck(cycle, second);
    std::printf("cycle %" PRIu64
                ": writer killed after %d ms, %d of %d recoveries killed; %s"
                "\n  recovery: %s\n",
                cycle, ran_ms, killed, kKilledRecoveries, h.Counts().c_str(), r1.c_str());
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace cairn
