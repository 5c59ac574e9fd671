// AwsChunkedDecoder: the framing of every streaming form, the chunk signatures of the signed
// one (the S3 API reference's chunked upload example), trailers, and broken bodies.
#include "gateway/aws_chunked.h"

#include <gtest/gtest.h>

#include <random>

namespace cairn::gateway {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

AwsChunkedDecoder::Options Signed() {
  AwsChunkedDecoder::Options o;
  o.signed_chunks = true;
  o.signing_key = SigningKey(kSecret, "20130524", "us-east-1", "s3");
  o.amz_date = "20130524T000000Z";
  o.scope = SigningScope("20130524", "us-east-1", "s3");
  o.seed_signature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
  return o;
}

std::string ExampleBody() {
  return "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" +
         std::string(65536, 'a') +
         "\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" +
         std::string(1024, 'a') +
         "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n";
}

TEST(AwsChunked, SignedExampleInAnySplit) {
  const std::string body = ExampleBody();
  EXPECT_EQ(body.size(), 66824u);  // the example's Content-Length
  std::mt19937 rng(7);
  for (int round = 0; round < 20; round++) {
    AwsChunkedDecoder d(Signed());
    std::string out;
    size_t at = 0;
    while (at < body.size()) {
      size_t n = std::min<size_t>(body.size() - at, 1 + rng() % 9000);
      ASSERT_TRUE(d.Feed(std::string_view(body).substr(at, n), &out).ok());
      at += n;
    }
    ASSERT_TRUE(d.Finish().ok());
    EXPECT_EQ(out, std::string(66560, 'a'));
  }
}

TEST(AwsChunked, AFlippedByteOrSignatureIsRefused) {
  std::string body = ExampleBody();
  body[200] = 'b';  // data of chunk 1
  AwsChunkedDecoder d(Signed());
  std::string out;
  Status s = d.Feed(body, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.IsPermissionDenied());
  EXPECT_NE(s.message().find("SignatureDoesNotMatch"), std::string::npos);
  // A chunk without its signature.
  AwsChunkedDecoder d2(Signed());
  EXPECT_FALSE(d2.Feed("5\r\nhello\r\n", &out).ok());
}

TEST(AwsChunked, UnsignedTrailer) {
  AwsChunkedDecoder::Options o;
  o.trailer = true;
  AwsChunkedDecoder d(o);
  std::string out;
  ASSERT_TRUE(d.Feed("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n", &out).ok());
  ASSERT_TRUE(d.Finish().ok());
  EXPECT_EQ(out, "hello");
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0].first, "x-amz-checksum-crc32");
  EXPECT_EQ(d.trailers()[0].second, "NhCmhg==");
}

TEST(AwsChunked, FramingErrorsAreNamed) {
  struct Case {
    const char* body;
    const char* says;
  } cases[] = {
      {"zz\r\nhello\r\n0\r\n\r\n", "hex"},
      {"5\r\nhelloX\r\n0\r\n\r\n", "longer than its size"},
      {"5\nhello\r\n0\r\n\r\n", "CRLF"},
      {"5\r\nhello\r\n0\r\n\r\nextra", "after the final chunk"},
      {"5;foo=bar\r\nhello\r\n0\r\n\r\n", "extension"},
      {"0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n", "not announced"},
  };
  for (const Case& c : cases) {
    AwsChunkedDecoder d(AwsChunkedDecoder::Options{});
    std::string out;
    Status s = d.Feed(c.body, &out);
    ASSERT_FALSE(s.ok()) << c.body;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
  }
  // Cut short: Finish says so.
  AwsChunkedDecoder d(AwsChunkedDecoder::Options{});
  std::string out;
  ASSERT_TRUE(d.Feed("5\r\nhel", &out).ok());
  Status f = d.Finish();
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("IncompleteBody"), std::string::npos);
  // A chunk over the limit, and a line over kMaxChunkLineBytes.
  AwsChunkedDecoder::Options small;
  small.max_chunk_bytes = 4;
  AwsChunkedDecoder d2(small);
  Status l = d2.Feed("5\r\nhello\r\n", &out);
  EXPECT_TRUE(l.IsLimitExceeded());
  AwsChunkedDecoder d3(AwsChunkedDecoder::Options{});
  EXPECT_FALSE(d3.Feed(std::string(5000, '1'), &out).ok());
}

}  // namespace
}  // namespace cairn::gateway
