// Issue 15, item 7: every Status code has a row in the one table (wire, HTTP, S3, retry).
#include "util/status_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cairn {
namespace {

TEST(StatusTable, Issue15EveryCodeHasARow) {
  std::set<uint16_t> wire;
  for (unsigned c = 0; c <= Status::kMaxCode; c++) {
    const auto code = static_cast<Status::Code>(c);
    SCOPED_TRACE(Status::CodeName(code));
    EXPECT_STRNE(Status::CodeName(code), "Unknown") << "code " << c << " has no name";
    const StatusRow* row = FindStatusRow(code);
    ASSERT_NE(row, nullptr) << "code " << c << " has no row in kStatusTable";
    EXPECT_EQ(row->code, code);
    // Wire statuses below 64 are Status codes one for one (docs/protocol.md section 5).
    EXPECT_EQ(row->wire, c);
    EXPECT_TRUE(wire.insert(row->wire).second);
    EXPECT_GE(row->http, 200);
    EXPECT_LT(row->http, 600);
    EXPECT_STRNE(RetryAdviceName(row->retry), "unknown");
    if (code == Status::Code::kOk) {
      EXPECT_EQ(row->http, 200);
      EXPECT_STREQ(row->s3, "");
    } else {
      EXPECT_NE(std::string(row->s3), "") << "no S3 error code";
      EXPECT_GE(row->http, 400) << "an error must not be a success status";
    }
    EXPECT_EQ(FindStatusRowByWire(row->wire), row);
  }
  EXPECT_EQ(FindStatusRow(static_cast<Status::Code>(Status::kMaxCode + 1)), nullptr);
}

TEST(StatusTable, Issue15TheNewCodesMapAsSpecified) {
  EXPECT_EQ(FindStatusRow(Status::Code::kConflict)->http, 412);
  EXPECT_EQ(FindStatusRow(Status::Code::kPermissionDenied)->http, 403);
  EXPECT_STREQ(FindStatusRow(Status::Code::kPermissionDenied)->s3, "AccessDenied");
  EXPECT_EQ(FindStatusRow(Status::Code::kUnavailable)->retry, RetryAdvice::kOtherReplica);
  EXPECT_EQ(FindStatusRow(Status::Code::kDeadlineExceeded)->retry, RetryAdvice::kReadThenDecide);
  EXPECT_EQ(FindStatusRow(Status::Code::kLimitExceeded)->retry, RetryAdvice::kFixInput);
  EXPECT_EQ(FindStatusRow(Status::Code::kNotFound)->http, 404);
  EXPECT_EQ(FindStatusRowByWire(64), nullptr);  // wire-only statuses have no row here
}

}  // namespace
}  // namespace cairn
