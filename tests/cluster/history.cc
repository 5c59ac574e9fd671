#include "cluster/history.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

namespace cairn::testing {
namespace {

constexpr uint64_t kNever = ~uint64_t{0};

struct KeyOp {
  Op::Kind kind;
  int value;  // put: value id; get: value id read, or -1 for "not found"
  uint64_t inv, ret;
  size_t index;  // in the original history, for messages
};

// The search over one key's operations. State: the register's value id (-1 absent).
class KeySearch {
 public:
  KeySearch(std::vector<KeyOp> ops, uint64_t max_states)
      : ops_(std::move(ops)), max_states_(max_states), words_((ops_.size() + 63) / 64) {
    for (const KeyOp& o : ops_) completed_ += o.ret != kNever;
  }

  // True if linearizable; *exhausted when the state bound was hit first.
  bool Run(bool* exhausted) {
    std::vector<uint64_t> done(words_, 0);
    bool ok = Search(&done, -1, 0);
    *exhausted = exhausted_;
    return ok;
  }
  uint64_t states() const { return states_; }

 private:
  bool Search(std::vector<uint64_t>* done, int state, size_t done_completed) {
    if (done_completed == completed_) return true;
    if (++states_ > max_states_) {
      exhausted_ = true;
      return false;
    }
    std::string memo(reinterpret_cast<const char*>(done->data()), words_ * 8);
    memo.append(reinterpret_cast<const char*>(&state), sizeof(state));
    if (seen_.count(memo)) return false;
    // An op can go next only if no op still to place completed before it was invoked.
    uint64_t min_ret = kNever;
    for (size_t i = 0; i < ops_.size(); i++)
      if (!Done(*done, i)) min_ret = std::min(min_ret, ops_[i].ret);
    for (size_t i = 0; i < ops_.size(); i++) {
      if (Done(*done, i) || ops_[i].inv > min_ret) continue;
      const KeyOp& o = ops_[i];
      int next = state;
      switch (o.kind) {
        case Op::Kind::kPut: next = o.value; break;
        case Op::Kind::kDelete: next = -1; break;
        case Op::Kind::kGet:
          if (o.value != state) continue;
          break;
      }
      Set(done, i, true);
      bool ok = Search(done, next, done_completed + (o.ret != kNever));
      Set(done, i, false);
      if (ok) return true;
      if (exhausted_) return false;
    }
    seen_.insert(std::move(memo));
    return false;
  }
  static bool Done(const std::vector<uint64_t>& d, size_t i) { return (d[i / 64] >> (i % 64)) & 1; }
  static void Set(std::vector<uint64_t>* d, size_t i, bool on) {
    if (on) {
      (*d)[i / 64] |= uint64_t{1} << (i % 64);
    } else {
      (*d)[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
  }

  std::vector<KeyOp> ops_;
  uint64_t max_states_;
  size_t words_;
  size_t completed_ = 0;
  uint64_t states_ = 0;
  bool exhausted_ = false;
  std::unordered_set<std::string> seen_;
};

const char* KindName(Op::Kind k) {
  switch (k) {
    case Op::Kind::kPut: return "put";
    case Op::Kind::kGet: return "get";
    case Op::Kind::kDelete: return "delete";
  }
  return "?";
}

const char* OutcomeName(Op::Outcome o) {
  switch (o) {
    case Op::Outcome::kOk: return "ok";
    case Op::Outcome::kFail: return "fail";
    case Op::Outcome::kUnknown: return "unknown";
  }
  return "?";
}

}  // namespace

CheckResult CheckLinearizable(const std::vector<Op>& history, uint64_t max_states) {
  CheckResult r;
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); i++) by_key[history[i].key].push_back(i);
  r.keys = by_key.size();
  for (const auto& [key, idx] : by_key) {
    std::map<std::string, int> value_ids;
    std::vector<KeyOp> ops;
    for (size_t i : idx) {
      const Op& o = history[i];
      if (o.outcome == Op::Outcome::kFail) continue;  // certainly had no effect
      if (o.kind == Op::Kind::kGet && o.outcome == Op::Outcome::kUnknown) continue;
      KeyOp k{o.kind, -1, o.invoke_ns, o.outcome == Op::Outcome::kUnknown ? kNever : o.complete_ns, i};
      if (o.kind == Op::Kind::kPut || (o.kind == Op::Kind::kGet && o.found)) {
        auto [it, fresh] = value_ids.emplace(o.value, static_cast<int>(value_ids.size()));
        (void)fresh;
        k.value = it->second;
      }
      ops.push_back(k);
    }
    r.ops += ops.size();
    std::stable_sort(ops.begin(), ops.end(), [](const KeyOp& a, const KeyOp& b) { return a.inv < b.inv; });
    KeySearch search(std::move(ops), max_states);
    bool exhausted = false;
    bool ok = search.Run(&exhausted);
    r.states_explored += search.states();
    if (ok) continue;
    r.ok = false;
    r.violations.push_back(exhausted ? "key \"" + key + "\": search bound of " +
                                           std::to_string(max_states) + " states reached (undecided)"
                                     : "key \"" + key + "\": no linearization of its " +
                                           std::to_string(idx.size()) + " operations");
  }
  return r;
}

std::vector<std::string> CheckNoLostWrites(
    const std::vector<Op>& history, const std::vector<std::pair<std::string, std::string>>& final_reads) {
  std::map<std::string, std::vector<std::string>> written;  // key -> values acknowledged
  std::map<std::string, bool> touched_later;                // a delete or unknown op exists
  for (const Op& o : history) {
    if (o.kind == Op::Kind::kPut && o.outcome == Op::Outcome::kOk) written[o.key].push_back(o.value);
    if (o.kind == Op::Kind::kDelete && o.outcome != Op::Outcome::kFail) touched_later[o.key] = true;
  }
  std::map<std::string, std::string> final(final_reads.begin(), final_reads.end());
  std::vector<std::string> lost;
  for (const auto& [key, values] : written) {
    if (touched_later[key]) continue;
    auto it = final.find(key);
    if (it == final.end()) {
      lost.push_back("acknowledged write of \"" + key + "\" is missing");
    } else if (std::find(values.begin(), values.end(), it->second) == values.end()) {
      lost.push_back("\"" + key + "\" holds a value that was never acknowledged");
    }
  }
  return lost;
}

bool ParseHistoryLine(const std::string& line, Op* op, std::string* error) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  try {
    const std::string k = j.at("k"), o = j.at("o");
    if (k == "put") op->kind = Op::Kind::kPut;
    else if (k == "get") op->kind = Op::Kind::kGet;
    else if (k == "delete") op->kind = Op::Kind::kDelete;
    else throw std::runtime_error("unknown kind " + k);
    if (o == "ok") op->outcome = Op::Outcome::kOk;
    else if (o == "fail") op->outcome = Op::Outcome::kFail;
    else if (o == "unknown") op->outcome = Op::Outcome::kUnknown;
    else throw std::runtime_error("unknown outcome " + o);
    op->key = j.at("key").get<std::string>();
    op->value = j.value("value", std::string());
    op->found = j.value("found", false);
    op->process = j.value("p", 0);
    op->invoke_ns = j.at("i").get<uint64_t>();
    op->complete_ns = j.value("c", uint64_t{0});
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  return true;
}

std::string FormatHistoryLine(const Op& op) {
  nlohmann::json j;
  j["k"] = KindName(op.kind);
  j["o"] = OutcomeName(op.outcome);
  j["key"] = op.key;
  if (!op.value.empty()) j["value"] = op.value;
  if (op.found) j["found"] = true;
  j["p"] = op.process;
  j["i"] = op.invoke_ns;
  j["c"] = op.complete_ns;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace cairn::testing
