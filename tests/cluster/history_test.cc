// The checker is proven before it is trusted (CLUSTER.md section 6): it accepts every
// history generated from a correct register, and catches each deliberately broken one.
#include "cluster/history.h"

#include <gtest/gtest.h>

#include <random>

namespace cairn::testing {
namespace {

using K = Op::Kind;
using O = Op::Outcome;

Op Put(std::string key, std::string v, uint64_t i, uint64_t c, O o = O::kOk) {
  Op op;
  op.kind = K::kPut;
  op.key = std::move(key);
  op.value = std::move(v);
  op.invoke_ns = i;
  op.complete_ns = c;
  op.outcome = o;
  return op;
}
Op Get(std::string key, std::optional<std::string> v, uint64_t i, uint64_t c) {
  Op op;
  op.kind = K::kGet;
  op.key = std::move(key);
  op.found = v.has_value();
  op.value = v.value_or("");
  op.invoke_ns = i;
  op.complete_ns = c;
  return op;
}
Op Del(std::string key, uint64_t i, uint64_t c, O o = O::kOk) {
  Op op;
  op.kind = K::kDelete;
  op.key = std::move(key);
  op.invoke_ns = i;
  op.complete_ns = c;
  op.outcome = o;
  return op;
}

// Random concurrent histories of a correct register: each operation takes effect at a random
// point inside its interval, in the order of those points.
std::vector<Op> CorrectHistory(std::mt19937_64& rng, int keys, int ops_per_key, bool unknowns) {
  std::vector<Op> h;
  for (int k = 0; k < keys; k++) {
    const std::string key = "k" + std::to_string(k);
    struct Pending {
      Op op;
      uint64_t at;
    };
    std::vector<Pending> ps;
    for (int i = 0; i < ops_per_key; i++) {
      uint64_t inv = rng() % 1000, len = 1 + rng() % 200;
      Pending p{Op(), inv + rng() % len};
      int kind = static_cast<int>(rng() % 3);
      p.op = kind == 0 ? Put(key, "v" + std::to_string(i), inv, inv + len)
             : kind == 1 ? Get(key, std::nullopt, inv, inv + len)
                         : Del(key, inv, inv + len);
      if (unknowns && kind != 1 && rng() % 5 == 0) {
        p.op.outcome = O::kUnknown;
        if (rng() % 2) p.at = ~uint64_t{0};  // never took effect
      }
      ps.push_back(p);
    }
    std::stable_sort(ps.begin(), ps.end(), [](const Pending& a, const Pending& b) { return a.at < b.at; });
    std::optional<std::string> reg;
    for (Pending& p : ps) {
      if (p.at == ~uint64_t{0}) {
        h.push_back(p.op);
        continue;
      }
      if (p.op.kind == K::kPut) reg = p.op.value;
      if (p.op.kind == K::kDelete) reg.reset();
      if (p.op.kind == K::kGet) {
        p.op.found = reg.has_value();
        p.op.value = reg.value_or("");
      }
      h.push_back(p.op);
    }
  }
  return h;
}

TEST(History, AcceptsCorrectConcurrentHistories) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 50; round++) {
    std::vector<Op> h = CorrectHistory(rng, 5, 14, /*unknowns=*/round % 2 == 1);
    CheckResult r = CheckLinearizable(h);
    ASSERT_TRUE(r.ok) << "round " << round << ": " << (r.violations.empty() ? "" : r.violations[0]);
    EXPECT_EQ(r.keys, 5u);
  }
}

TEST(History, CatchesALostWrite) {
  // put a=1 acknowledged, then a read long after finds nothing.
  std::vector<Op> h = {Put("a", "1", 0, 10), Get("a", std::nullopt, 20, 30)};
  EXPECT_FALSE(CheckLinearizable(h).ok);
  // and the same history with the put unacknowledged (unknown) is fine.
  h[0].outcome = O::kUnknown;
  EXPECT_TRUE(CheckLinearizable(h).ok);
}

TEST(History, CatchesAStaleRead) {
  std::vector<Op> h = {Put("a", "1", 0, 10), Put("a", "2", 20, 30), Get("a", "1", 40, 50)};
  EXPECT_FALSE(CheckLinearizable(h).ok);
  // concurrent with the second put, reading the first value is fine
  h[2].invoke_ns = 25;
  EXPECT_TRUE(CheckLinearizable(h).ok);
}

TEST(History, CatchesAResurrectedDelete) {
  std::vector<Op> h = {Put("a", "1", 0, 10), Del("a", 20, 30), Get("a", std::nullopt, 40, 50),
                       Get("a", "1", 60, 70)};
  EXPECT_FALSE(CheckLinearizable(h).ok);
}

TEST(History, CatchesReadsThatGoBackInTime) {
  // Two sequential reads see 2 then 1 while the writes are done: not linearizable.
  std::vector<Op> h = {Put("a", "1", 0, 100), Put("a", "2", 0, 100), Get("a", "2", 110, 120),
                       Get("a", "1", 130, 140)};
  EXPECT_FALSE(CheckLinearizable(h).ok);
}

TEST(History, FailedOperationsHaveNoEffect) {
  std::vector<Op> h = {Put("a", "1", 0, 10, O::kFail), Get("a", "1", 20, 30)};
  EXPECT_FALSE(CheckLinearizable(h).ok);
  h[1] = Get("a", std::nullopt, 20, 30);
  EXPECT_TRUE(CheckLinearizable(h).ok);
}

TEST(History, KeysAreIndependent) {
  std::vector<Op> h = {Put("a", "1", 0, 10), Put("b", "1", 0, 10), Get("a", "1", 20, 30),
                       Get("b", std::nullopt, 20, 30)};
  CheckResult r = CheckLinearizable(h);
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_NE(r.violations[0].find("\"b\""), std::string::npos);
}

TEST(History, BrokenRandomHistoriesAreCaught) {
  // Take correct histories and break one read so it returns a value written only after it
  // completed (a read from the future): always a violation.
  std::mt19937_64 rng(7);
  int caught = 0, tried = 0;
  for (int round = 0; round < 40; round++) {
    std::vector<Op> h = CorrectHistory(rng, 1, 12, false);
    for (Op& g : h) {
      if (g.kind != K::kGet) continue;
      const Op* later = nullptr;
      for (const Op& p : h)
        if (p.kind == K::kPut && p.invoke_ns > g.complete_ns) later = &p;
      if (later == nullptr) continue;
      g.found = true;
      g.value = later->value + "-future";  // never written at all
      tried++;
      caught += !CheckLinearizable(h).ok;
      break;
    }
  }
  EXPECT_GT(tried, 10);
  EXPECT_EQ(caught, tried);
}

TEST(History, LostUniqueKeys) {
  std::vector<Op> h = {Put("u1", "x", 0, 1), Put("u2", "y", 0, 1), Put("u3", "z", 0, 1, O::kUnknown)};
  EXPECT_TRUE(CheckNoLostWrites(h, {{"u1", "x"}, {"u2", "y"}}).empty());
  std::vector<std::string> lost = CheckNoLostWrites(h, {{"u1", "x"}});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("u2"), std::string::npos);
  EXPECT_EQ(CheckNoLostWrites(h, {{"u1", "x"}, {"u2", "other"}}).size(), 1u);
}

TEST(History, LinesRoundTrip) {
  Op a = Put("key with \"quotes\"", "v", 5, 9, O::kUnknown);
  a.process = 3;
  Op b;
  std::string err;
  ASSERT_TRUE(ParseHistoryLine(FormatHistoryLine(a), &b, &err)) << err;
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(b.value, "v");
  EXPECT_EQ(b.outcome, O::kUnknown);
  EXPECT_EQ(b.process, 3);
  EXPECT_EQ(b.invoke_ns, 5u);
  EXPECT_FALSE(ParseHistoryLine("{\"k\":\"frob\"}", &b, &err));
  EXPECT_FALSE(ParseHistoryLine("nope", &b, &err));
}

}  // namespace
}  // namespace cairn::testing
