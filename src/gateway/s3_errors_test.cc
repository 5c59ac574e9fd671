// Every S3 error code the gateway can send: its HTTP status, and XML that parses back.
#include "gateway/s3_errors.h"

#include <gtest/gtest.h>

#include "gateway/s3_xml.h"
#include "util/status_table.h"

namespace cairn::gateway {
namespace {

TEST(S3Errors, EveryCodeRendersAndParses) {
  for (const S3ErrorCode& c : AllS3ErrorCodes()) {
    S3Error e = S3Error::Make(c.code);
    EXPECT_EQ(e.http, c.http);
    EXPECT_GE(e.http, 400u) << c.code;
    e.resource = "/b/k";
    auto doc = ParseXml(RenderS3Error(e, "REQ123"));
    ASSERT_TRUE(doc.ok()) << c.code;
    EXPECT_EQ((*doc)->name, "Error");
    EXPECT_EQ((*doc)->Child("Code")->text, c.code);
    EXPECT_EQ((*doc)->Child("RequestId")->text, "REQ123");
    EXPECT_EQ((*doc)->Child("Resource")->text, "/b/k");
  }
}

TEST(S3Errors, EveryStatusCodeHasAnS3Code) {
  // The one Status table's default S3 code of every Status code is one the gateway knows.
  for (uint8_t c = 1; c <= Status::kMaxCode; c++) {
    const StatusRow* row = FindStatusRow(static_cast<Status::Code>(c));
    ASSERT_NE(row, nullptr);
    const S3ErrorCode* s3 = FindS3ErrorCode(row->s3);
    ASSERT_NE(s3, nullptr) << row->s3;
    S3Error e = FromStatus(Status::FromCode(static_cast<Status::Code>(c), "why"));
    EXPECT_FALSE(e.code.empty());
  }
}

TEST(S3Errors, Refinements) {
  EXPECT_EQ(FromStatus(Status::NotFound("x")).code, "NoSuchKey");
  EXPECT_EQ(FromStatus(Status::NotFound("x"), "NoSuchBucket").code, "NoSuchBucket");
  EXPECT_EQ(FromStatus(Status::LimitExceeded("max_key_bytes: key is 2000 bytes")).code,
            "KeyTooLongError");
  EXPECT_EQ(FromStatus(Status::LimitExceeded("max_meta_bytes: metadata is 9000 bytes")).code,
            "MetadataTooLarge");
  EXPECT_EQ(FromStatus(Status::InvalidArgument("BadDigest: the md5")).code, "BadDigest");
  EXPECT_EQ(FromStatus(Status::InvalidArgument("BadDigest: the md5")).message, "the md5");
  EXPECT_EQ(FromStatus(Status::Conflict("x")).http, 412u);
  EXPECT_EQ(FromStatus(Status::InvalidArgument("NotACode: x")).code, "InvalidArgument");
}

}  // namespace
}  // namespace cairn::gateway
