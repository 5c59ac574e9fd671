// History checking for the cluster's nemesis tests (CLUSTER.md section 6): a per-key
// linearizability search over register operations (Wing & Gong, with Lowe's memoization of
// (linearized set, state)), plus the simple checks of the other workloads (lost acknowledged
// writes, deleted keys that came back).
//
// A history is what clients saw: each operation's invocation and completion times (a
// monotonic clock shared by all clients, in ns), its kind, and its outcome:
//   kOk       it took effect (a read: it returned `value` or, with found = false, nothing);
//   kFail     it certainly did not take effect (the store said so before doing anything);
//   kUnknown  it may or may not have taken effect (a timeout, a lost connection, an
//             indeterminate quorum write): a write may be linearized anywhere after its
//             invocation or not at all; an unknown read constrains nothing.
// Per-key histories are short, so the search is exact. Test machinery: never linked by cairnd.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::testing {

struct Op {
  enum class Kind : uint8_t { kPut, kGet, kDelete };
  enum class Outcome : uint8_t { kOk, kFail, kUnknown };
  Kind kind = Kind::kGet;
  Outcome outcome = Outcome::kOk;
  std::string key;
  std::string value;   // put: the value written; get (kOk, found): the value read
  bool found = false;  // get (kOk): whether a value was read
  int process = 0;     // the client that ran it (for messages)
  uint64_t invoke_ns = 0;
  uint64_t complete_ns = 0;  // ignored for kUnknown (treated as never completing)
};

struct CheckResult {
  bool ok = true;
  uint64_t keys = 0;
  uint64_t ops = 0;
  uint64_t states_explored = 0;
  std::vector<std::string> violations;  // one line per key that is not linearizable
};

// Checks that the single-key register operations of `history`, key by key, are linearizable
// from an initial state in which every key is absent. `max_states` bounds the search per key
// (a key that exceeds it is reported as a violation saying so, never silently passed).
CheckResult CheckLinearizable(const std::vector<Op>& history, uint64_t max_states = 5'000'000);

// Every key whose put was acknowledged (kOk) must be found, with one of the values written to
// it, in `final_reads` (key -> value, taken after the faults healed), unless an operation
// that may have deleted it or overwritten it came later. Used for the unique-keys workload,
// where each key is written once and never deleted: a missing key is a lost write.
std::vector<std::string> CheckNoLostWrites(const std::vector<Op>& history,
                                           const std::vector<std::pair<std::string, std::string>>& final_reads);

// Reads as JSON lines: {"k":"put|get|delete","o":"ok|fail|unknown","key":..,"value":..,
// "found":true,"p":1,"i":123,"c":456}. Values are base64 in "value64" when not UTF-8 safe.
bool ParseHistoryLine(const std::string& line, Op* op, std::string* error);
std::string FormatHistoryLine(const Op& op);

}  // namespace cairn::testing
