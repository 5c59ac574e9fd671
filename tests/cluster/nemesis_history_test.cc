// Histories the nemesis harness (tests/cluster/nemesis.cc) recorded, kept as evidence and as
// regression data for the checker.
#include <gtest/gtest.h>

#include <fstream>

#include "cluster/history.h"

namespace cairn::testing {
namespace {

std::vector<Op> Load(const std::string& name) {
  std::ifstream f(std::string(CAIRN_TESTDATA_DIR) + "/" + name);
  std::vector<Op> ops;
  std::string line, error;
  while (std::getline(f, line)) {
    Op op;
    if (ParseHistoryLine(line, &op, &error)) ops.push_back(op);
    else ADD_FAILURE() << error << ": " << line;
  }
  return ops;
}

// Key r/14/2 of a 90 s run under the partition nemesis (docs/cluster.md, "Testing under
// faults"): a put acknowledged at 59.214 s after a failover, many newer acknowledged writes,
// and after healing the final read (by process 1000) returned that old put's value. The
// history up to the final read is linearizable; with it, it is not.
TEST(NemesisHistory, Issue11ALateRestampedWriteIsCaught) {
  std::vector<Op> ops = Load("issue11-late-write.jsonl");
  ASSERT_EQ(ops.size(), 678u);
  CheckResult with_final = CheckLinearizable(ops);
  EXPECT_FALSE(with_final.ok);
  ASSERT_EQ(with_final.violations.size(), 1u);
  EXPECT_EQ(with_final.violations[0].find("search bound"), std::string::npos) << with_final.violations[0];
  std::vector<Op> before;
  for (const Op& op : ops)
    if (op.process != 1000) before.push_back(op);
  EXPECT_TRUE(CheckLinearizable(before).ok);
}

}  // namespace
}  // namespace cairn::testing
