// SigV4 against the worked examples of the S3 API reference ("Signature Calculations for the
// Authorization Header", "Authenticating Requests: Using Query Parameters", "Transferring
// Payload in Multiple Chunks"): the example credentials, dates and the signatures AWS publishes.
#include "gateway/sigv4.h"

#include <gtest/gtest.h>

#include <ctime>

namespace cairn::gateway {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kDate = "20130524T000000Z";

std::string Sign(const CanonicalInput& in) {
  const std::string scope = SigningScope("20130524", "us-east-1", "s3");
  return Signature(SigningKey(kSecret, "20130524", "us-east-1", "s3"),
                   StringToSign(kDate, scope, CanonicalRequest(in)));
}

TEST(SigV4, GetObjectExample) {
  CanonicalInput in;
  in.method = "GET";
  in.path = "/test.txt";
  in.headers = {{"host", "examplebucket.s3.amazonaws.com"},
                {"range", "bytes=0-9"},
                {"x-amz-content-sha256", std::string(kEmptySha256)},
                {"x-amz-date", std::string(kDate)}};
  in.payload_hash = kEmptySha256;
  EXPECT_EQ(CanonicalRequest(in),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256(CanonicalRequest(in))),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(Sign(in), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObjectExample) {
  CanonicalInput in;
  in.method = "PUT";
  in.path = "/test$file.text";  // encoded as /test%24file.text
  const std::string sha = Hex(Sha256("Welcome to Amazon S3."));
  EXPECT_EQ(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  in.headers = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-content-sha256", sha},
                {"x-amz-date", std::string(kDate)},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  in.payload_hash = sha;
  EXPECT_NE(CanonicalRequest(in).find("\n/test%24file.text\n"), std::string::npos);
  EXPECT_EQ(Sign(in), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, GetBucketLifecycleExample) {
  CanonicalInput in;
  in.method = "GET";
  in.path = "/";
  in.query = {{"lifecycle", ""}};
  in.headers = {{"host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-content-sha256", std::string(kEmptySha256)},
                {"x-amz-date", std::string(kDate)}};
  in.payload_hash = kEmptySha256;
  EXPECT_EQ(Sign(in), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, ListObjectsExample) {
  CanonicalInput in;
  in.method = "GET";
  in.path = "/";
  in.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the canonicalization
  in.headers = {{"host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-content-sha256", std::string(kEmptySha256)},
                {"x-amz-date", std::string(kDate)}};
  in.payload_hash = kEmptySha256;
  EXPECT_NE(CanonicalRequest(in).find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(Sign(in), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, PresignedGetExample) {
  CanonicalInput in;
  in.method = "GET";
  in.path = "/test.txt";
  in.query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
              {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
              {"X-Amz-Date", std::string(kDate)},
              {"X-Amz-Expires", "86400"},
              {"X-Amz-SignedHeaders", "host"}};
  in.headers = {{"host", "examplebucket.s3.amazonaws.com"}};
  in.payload_hash = kUnsignedPayload;
  EXPECT_EQ(Sign(in), "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, StreamingSeedAndChunkSignatures) {
  // The chunked upload example: 66560 bytes of 'a' in a 65536-byte chunk and a 1024-byte chunk.
  CanonicalInput in;
  in.method = "PUT";
  in.path = "/examplebucket/chunkObject.txt";
  in.headers = {{"content-encoding", "aws-chunked"},
                {"content-length", "66824"},
                {"host", "s3.amazonaws.com"},
                {"x-amz-content-sha256", std::string(kStreamingPayload)},
                {"x-amz-date", std::string(kDate)},
                {"x-amz-decoded-content-length", "66560"},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  in.payload_hash = kStreamingPayload;
  const std::string seed = Sign(in);
  EXPECT_EQ(seed, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
  const std::string key = SigningKey(kSecret, "20130524", "us-east-1", "s3");
  const std::string scope = SigningScope("20130524", "us-east-1", "s3");
  const std::string c1 = Signature(
      key, ChunkStringToSign(kDate, scope, seed, Hex(Sha256(std::string(65536, 'a')))));
  EXPECT_EQ(c1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
  const std::string c2 =
      Signature(key, ChunkStringToSign(kDate, scope, c1, Hex(Sha256(std::string(1024, 'a')))));
  EXPECT_EQ(c2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
  const std::string c3 = Signature(key, ChunkStringToSign(kDate, scope, c2, std::string(kEmptySha256)));
  EXPECT_EQ(c3, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
}

// Issue 13: signing keys are cached per thread. The cache must never hand out a key for another
// secret, date, region or service, also once it is full and replaces entries.
TEST(SigV4, Issue13CachedSigningKeysAreThoseOfTheirInputs) {
  auto uncached = [](const std::string& secret, const std::string& date,
                     const std::string& region, const std::string& service) {
    std::string k = HmacSha256("AWS4" + secret, date);
    k = HmacSha256(k, region);
    k = HmacSha256(k, service);
    return HmacSha256(k, "aws4_request");
  };
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 20; i++) {
      const std::string secret = std::string(kSecret) + std::to_string(i % 5);
      const std::string date = "201305" + std::to_string(10 + i % 7);
      const std::string region = i % 2 == 0 ? "us-east-1" : "eu-west-1";
      const std::string service = i % 3 == 0 ? "s3" : "sts";
      EXPECT_EQ(SigningKey(secret, date, region, service), uncached(secret, date, region, service))
          << round << " " << i;
    }
  }
  EXPECT_NE(SigningKey("a", "20130524", "us-east-1", "s3"),
            SigningKey("b", "20130524", "us-east-1", "s3"));
}

// Issue 13: each thread reuses one HMAC context and only resets it when the key repeats. The
// results must be those of RFC 4231 whatever the order of keys (the same key twice, keys
// alternating, a key that is a prefix of the previous one), and likewise SHA-256 repeated.
TEST(SigV4, Issue13ReusedContextsGiveTheStandardResults) {
  const std::string key1(20, '\x0b');  // RFC 4231 test case 1
  const std::string data1 = "Hi There";
  const std::string mac1 = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  const std::string key2 = "Jefe";  // test case 2
  const std::string data2 = "what do ya want for nothing?";
  const std::string mac2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(Hex(HmacSha256(key1, data1)), mac1) << i;
    EXPECT_EQ(Hex(HmacSha256(key1, data1)), mac1) << i;
    EXPECT_EQ(Hex(HmacSha256(key2, data2)), mac2) << i;
    EXPECT_EQ(Hex(HmacSha256(key1, data1)), mac1) << i;
    EXPECT_NE(Hex(HmacSha256(key2.substr(0, 3), data2)), mac2) << i;
    EXPECT_EQ(Hex(HmacSha256(key2, data2)), mac2) << i;
    EXPECT_EQ(Hex(Sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        << i;
    EXPECT_EQ(Hex(Sha256("")), kEmptySha256) << i;
  }
}

TEST(SigV4, UriEncode) {
  EXPECT_EQ(UriEncode("a b+c%/d~e", true), "a%20b%2Bc%25/d~e");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("\xC3\xA9", true), "%C3%A9");
  std::string out;
  EXPECT_TRUE(UriDecode("a%20b+c", &out));
  EXPECT_EQ(out, "a b+c");
  EXPECT_FALSE(UriDecode("a%2", &out));
  EXPECT_FALSE(UriDecode("a%zz", &out));
}

TEST(SigV4, ParseAuthorizationHeader) {
  SignedRequestAuth a;
  ASSERT_TRUE(ParseAuthorizationHeader(
                  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                  "aws4_request, SignedHeaders=host;range;x-amz-date, "
                  "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
                  &a)
                  .ok());
  EXPECT_EQ(a.credential.access_key, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(a.credential.region, "us-east-1");
  EXPECT_EQ(a.signed_headers.size(), 3u);
  // Malformed ones, each named.
  EXPECT_FALSE(ParseAuthorizationHeader("AWS4-HMAC-SHA256 Credential=x", &a).ok());
  EXPECT_FALSE(ParseAuthorizationHeader("AWS AKID:sig", &a).ok());
  EXPECT_FALSE(ParseAuthorizationHeader(
                   "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request,"
                   "SignedHeaders=x-amz-date;host,Signature=" + std::string(64, 'a'), &a)
                   .ok());  // not sorted
  EXPECT_FALSE(ParseAuthorizationHeader(
                   "AWS4-HMAC-SHA256 Credential=A/2013052/us-east-1/s3/aws4_request,"
                   "SignedHeaders=host,Signature=" + std::string(64, 'a'), &a)
                   .ok());  // bad date
  EXPECT_FALSE(ParseAuthorizationHeader(
                   "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/ec2/aws4_request,"
                   "SignedHeaders=host,Signature=" + std::string(64, 'a'), &a)
                   .ok());  // not s3
}

TEST(SigV4, Dates) {
  int64_t t = 0;
  ASSERT_TRUE(ParseAmzDate("20130524T000000Z", &t));
  EXPECT_EQ(t, 1369353600);
  EXPECT_FALSE(ParseAmzDate("20130524T000000", &t));
  ASSERT_TRUE(ParseHttpDate("Fri, 24 May 2013 00:00:00 GMT", &t));
  EXPECT_EQ(t, 1369353600);
  ASSERT_TRUE(ParseHttpDate("Friday, 24-May-13 00:00:00 GMT", &t));
  EXPECT_EQ(t, 1369353600);
  ASSERT_TRUE(ParseHttpDate("Fri May 24 00:00:00 2013", &t));
  EXPECT_EQ(t, 1369353600);
  EXPECT_EQ(FormatHttpDate(1369353600), "Fri, 24 May 2013 00:00:00 GMT");
  // Issue 13: formatted by hand; the same as strftime's over days, leap years and centuries.
  auto same_as_strftime = [](int64_t s) {
    time_t tt = static_cast<time_t>(s);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char want[64];
    strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    EXPECT_EQ(FormatHttpDate(s), want) << s;
  };
  for (int64_t s : {int64_t{0}, int64_t{59}, int64_t{86399}, int64_t{951782400} /* 2000-02-29 */,
                    int64_t{4107542399} /* 2100-02-28 23:59:59 */, int64_t{253402300799}})
    same_as_strftime(s);
  for (int64_t s = 0; s < int64_t{4102444800}; s += 7777777) same_as_strftime(s);
  EXPECT_EQ(FormatIso8601(int64_t{1369353600} * 1000000 + 5000), "2013-05-24T00:00:00.005Z");
  EXPECT_EQ(FormatAmzDate(1369353600), "20130524T000000Z");
  // Issue 13: parsed without timegm, normalised as timegm does (an overlong day, second 60).
  for (const char* d : {"19700101T000000Z", "20000229T235959Z", "20130231T000000Z",
                        "21000229T120000Z", "20161231T235960Z", "99991231T235959Z"}) {
    const std::string_view v(d);
    struct tm tm {};
    tm.tm_year = std::stoi(std::string(v.substr(0, 4))) - 1900;
    tm.tm_mon = std::stoi(std::string(v.substr(4, 2))) - 1;
    tm.tm_mday = std::stoi(std::string(v.substr(6, 2)));
    tm.tm_hour = std::stoi(std::string(v.substr(9, 2)));
    tm.tm_min = std::stoi(std::string(v.substr(11, 2)));
    tm.tm_sec = std::stoi(std::string(v.substr(13, 2)));
    ASSERT_TRUE(ParseAmzDate(v, &t)) << d;
    EXPECT_EQ(t, static_cast<int64_t>(timegm(&tm))) << d;
  }
}

TEST(SigV4, Base64) {
  std::string raw;
  ASSERT_TRUE(Unbase64("NhCmhg==", &raw));
  EXPECT_EQ(Hex(raw), "3610a686");
  EXPECT_EQ(Base64(raw), "NhCmhg==");
  EXPECT_FALSE(Unbase64("NhCmhg=", &raw));
  EXPECT_FALSE(Unbase64("Nh=mhg==", &raw));
  ASSERT_TRUE(Unbase64("", &raw));
  EXPECT_TRUE(raw.empty());
}

}  // namespace
}  // namespace cairn::gateway
