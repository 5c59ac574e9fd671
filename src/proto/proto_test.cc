#include <gtest/gtest.h>

#include <random>

#include "proto/frame.h"
#include "proto/messages.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::proto {
namespace {

std::string Frame(Op op, uint64_t id, std::string_view meta, uint64_t body_len = 0,
                  uint32_t body_crc = 0) {
  FrameHeader h;
  h.op = op;
  h.request_id = id;
  h.body_len = body_len;
  h.body_crc = body_crc;
  return EncodeFrame(h, meta);
}

TEST(Frame, PingMatchesTheWorkedExampleInProtocolMd) {
  std::string f = Frame(Op::kPing, 7, "");
  ASSERT_EQ(f.size(), kHeaderSize);
  const unsigned char want[] = {0x43, 0x41, 0x52, 0x4E, 1, 1, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(0, memcmp(f.data(), want, sizeof(want)));
  EXPECT_EQ(DecodeFixed32(f.data() + 36), crc32c::Value(f.data(), 36));
}

TEST(Frame, RoundTrip) {
  PutRequest put{.durability = 1, .key = "a/b"};
  std::string meta;
  EncodeMeta(put, &meta);
  std::string f = Frame(Op::kPut, 42, meta, 5, crc32c::Value("hello"));
  FrameHeader h;
  WireError err;
  ASSERT_TRUE(DecodeHeader(f.data(), kDefaultMaxMetaBytes, &h, &err)) << err.message;
  EXPECT_EQ(h.op, Op::kPut);
  EXPECT_FALSE(h.reply);
  EXPECT_EQ(h.request_id, 42u);
  EXPECT_EQ(h.meta_len, meta.size());
  EXPECT_EQ(h.body_len, 5u);
  EXPECT_EQ(h.body_crc, crc32c::Value("hello"));
  std::string_view m(f.data() + kHeaderSize, h.meta_len);
  ASSERT_TRUE(CheckHeaderCrc(f.data(), m, &err));
  PutRequest got;
  ASSERT_TRUE(DecodeMeta(m, &got, &err));
  EXPECT_EQ(got.key, "a/b");
  EXPECT_EQ(got.durability, 1);
}

TEST(Frame, EachHeaderCheckNamesItsProblem) {
  std::string good = Frame(Op::kHead, 9, std::string("\x01\x00k", 3));
  FrameHeader h;
  WireError err;
  auto expect = [&](std::string f, WireStatus st, std::string_view words) {
    EXPECT_FALSE(DecodeHeader(f.data(), 100, &h, &err));
    EXPECT_EQ(err.status, st) << err.message;
    EXPECT_NE(err.message.find(words), std::string::npos) << err.message;
  };
  std::string f = good;
  f[0] = 'X';
  expect(f, WireStatus::kProtocolError, "bad magic");
  f = good;
  f[kOffVersion] = 2;
  expect(f, WireStatus::kUnsupportedVersion, "version 2");
  EXPECT_EQ(h.request_id, 9u);  // named in the error reply
  f = good;
  f[kOffKind] = 0x55;
  expect(f, WireStatus::kProtocolError, "unknown kind");
  f = good;
  f[kOffStatus] = 3;
  expect(f, WireStatus::kProtocolError, "status 3 in a request");
  f = good;
  f[kOffFlags] = 0x10;
  expect(f, WireStatus::kProtocolError, "unknown flags");
  f = good;
  EncodeFixed32(f.data() + kOffMetaLen, 101);
  expect(f, WireStatus::kLimitExceeded, "max_meta_bytes");
  f = good;
  f[kOffFlags] = 1;
  expect(f, WireStatus::kProtocolError, "CHUNKED");
  f = good;
  EncodeFixed64(f.data() + kOffBodyLen, kChunkedBodyLen);
  expect(f, WireStatus::kProtocolError, "without CHUNKED");

  f = good;
  f[kHeaderSize + 2] = 'j';  // meta changed: header_crc must catch it
  ASSERT_TRUE(DecodeHeader(f.data(), 100, &h, &err));
  EXPECT_FALSE(CheckHeaderCrc(f.data(), std::string_view(f).substr(kHeaderSize), &err));
  EXPECT_NE(err.message.find("header_crc"), std::string::npos);
}

TEST(Messages, AllRoundTrip) {
  WireError err;
  std::string m;
  GetRequest g{.key = "k", .offset = 10, .length = kToEnd};
  EncodeMeta(g, &m);
  GetRequest g2;
  ASSERT_TRUE(DecodeMeta(m, &g2, &err));
  EXPECT_EQ(g2.key, "k");
  EXPECT_EQ(g2.offset, 10u);
  EXPECT_EQ(g2.length, kToEnd);

  m.clear();
  GetReply gr{.info = {.size = 100, .crc32c = 5, .sequence = 6, .mtime_us = 7}, .range_offset = 10};
  EncodeMeta(gr, &m);
  GetReply gr2;
  ASSERT_TRUE(DecodeMeta(m, &gr2, &err));
  EXPECT_EQ(gr2.info.size, 100u);
  EXPECT_EQ(gr2.info.crc32c, 5u);
  EXPECT_EQ(gr2.info.sequence, 6u);
  EXPECT_EQ(gr2.info.mtime_us, 7u);
  EXPECT_EQ(gr2.range_offset, 10u);

  m.clear();
  ListRequest l{.prefix = "p/", .start_after = "p/a", .limit = 3};
  EncodeMeta(l, &m);
  ListRequest l2;
  ASSERT_TRUE(DecodeMeta(m, &l2, &err));
  EXPECT_EQ(l2.prefix, "p/");
  EXPECT_EQ(l2.start_after, "p/a");
  EXPECT_EQ(l2.limit, 3u);

  std::string body;
  EncodeListEntry({.key = "p/b", .info = {.size = 1}}, &body);
  EncodeListEntry({.key = "p/c", .info = {.size = 2}}, &body);
  std::vector<ListEntry> entries;
  ASSERT_TRUE(DecodeListBody(body, 2, &entries, &err)) << err.message;
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].key, "p/c");
  EXPECT_EQ(entries[1].info.size, 2u);
  EXPECT_FALSE(DecodeListBody(body, 3, &entries, &err));
  EXPECT_FALSE(DecodeListBody(body, 1, &entries, &err));  // trailing bytes
  EXPECT_FALSE(DecodeListBody(body, 0xFFFFFFFF, &entries, &err));

  m.clear();
  EncodeMeta(ErrorReply{.message = "max_key_bytes: key is 2000 bytes, limit 1024"}, &m);
  ErrorReply e;
  ASSERT_TRUE(DecodeMeta(m, &e, &err));
  EXPECT_EQ(e.message, "max_key_bytes: key is 2000 bytes, limit 1024");
}

TEST(Messages, TruncatedAndTrailingBytesAreRefusedByName) {
  std::string m;
  EncodeMeta(PutRequest{.durability = 0, .key = "key"}, &m);
  WireError err;
  PutRequest p;
  for (size_t n = 0; n < m.size(); n++) {
    EXPECT_FALSE(DecodeMeta(std::string_view(m).substr(0, n), &p, &err)) << n;
    EXPECT_EQ(err.status, WireStatus::kProtocolError);
    EXPECT_NE(err.message.find("truncated"), std::string::npos) << err.message;
  }
  EXPECT_FALSE(DecodeMeta(m + "x", &p, &err));
  EXPECT_NE(err.message.find("trailing"), std::string::npos);
  m[0] = 9;
  EXPECT_FALSE(DecodeMeta(m, &p, &err));
  EXPECT_NE(err.message.find("durability"), std::string::npos);
  EXPECT_FALSE(ValidateRequestMeta(Op::kPing, "x", &err));
  EXPECT_TRUE(ValidateRequestMeta(Op::kStat, "", &err));
}

std::string DecodeChunked(const std::string& wire, size_t step, WireError* err, bool* done) {
  ChunkedBodyDecoder d(16);
  std::string out;
  size_t pos = 0;
  while (pos < wire.size() && !d.done()) {
    std::string_view piece;
    size_t n = d.Consume(wire.data() + pos, std::min(step, wire.size() - pos), &piece, err);
    if (n == 0) break;
    out.append(piece);
    pos += n;
  }
  *done = d.done();
  return out;
}

TEST(Chunked, DecodesAtEveryFeedGranularity) {
  std::string wire;
  AppendChunk("hello ", &wire);
  AppendChunk("chunked world", &wire);
  AppendChunkTrailer(crc32c::Value("hello chunked world"), &wire);
  for (size_t step = 1; step <= wire.size(); step++) {
    WireError err;
    bool done = false;
    EXPECT_EQ(DecodeChunked(wire, step, &err, &done), "hello chunked world") << step;
    EXPECT_TRUE(done) << step << " " << err.message;
  }
}

TEST(Chunked, BadTrailerAndOversizedChunkAreNamed) {
  std::string wire;
  AppendChunk("abc", &wire);
  AppendChunkTrailer(crc32c::Value("abd"), &wire);
  WireError err;
  bool done = true;
  DecodeChunked(wire, 3, &err, &done);
  EXPECT_FALSE(done);
  EXPECT_EQ(err.status, WireStatus::kChecksumMismatch);

  std::string big;
  PutFixed32(&big, 17);
  big.append(17, 'x');
  DecodeChunked(big, 100, &err, &done);
  EXPECT_FALSE(done);
  EXPECT_EQ(err.status, WireStatus::kLimitExceeded);
  EXPECT_NE(err.message.find("max_chunk_bytes"), std::string::npos);
}

TEST(Status, MapsBothWays) {
  EXPECT_EQ(ToWireStatus(Status::NotFound("x")), WireStatus::kNotFound);
  EXPECT_EQ(ToWireStatus(Status::ReadOnly("x")), WireStatus::kReadOnly);
  EXPECT_TRUE(FromWireStatus(WireStatus::kChecksumMismatch, "m").IsCorruption());
  EXPECT_TRUE(FromWireStatus(WireStatus::kShuttingDown, "m").IsBusy());
  EXPECT_TRUE(FromWireStatus(WireStatus::kLimitExceeded, "max_key_bytes").IsInvalidArgument());
  EXPECT_TRUE(ClosesConnection(WireStatus::kProtocolError));
  EXPECT_FALSE(ClosesConnection(WireStatus::kChecksumMismatch));
}

// Random garbage never crashes a decoder (the fuzzer goes much further: fuzz/wire_fuzz.cc).
TEST(Frame, RandomBytesNeverCrash) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; i++) {
    std::string b(kHeaderSize + rng() % 64, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    if (i % 2) EncodeFixed32(b.data(), kMagic), b[kOffVersion] = 1;
    FrameHeader h;
    WireError err;
    if (DecodeHeader(b.data(), 64, &h, &err)) {
      std::string_view meta = std::string_view(b).substr(kHeaderSize);
      meta = meta.substr(0, std::min<size_t>(meta.size(), h.meta_len));
      (void)ValidateRequestMeta(h.op, meta, &err);
    }
  }
}

}  // namespace
}  // namespace cairn::proto
