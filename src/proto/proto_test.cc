#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "proto/stat_body.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

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
  const unsigned char want[] = {0x43, 0x41, 0x52, 0x4E, 2, 1, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(0, memcmp(f.data(), want, sizeof(want)));
  EXPECT_EQ(DecodeFixed32(f.data() + 36), crc32c::Value(f.data(), 36));
}

TEST(Frame, RoundTrip) {
  PutRequest put{.durability = 1, .key = "a/b"};
  put.condition = WriteCondition::kIfMatch;
  put.version = Version::Make(1700000000000, 3, 77);
  put.metadata.content_type = "text/plain";
  put.metadata.user["owner"] = "ada";
  std::string meta;
  EncodeMeta(put, &meta);
  std::string f = Frame(Op::kPut, 42, meta, 5, crc32c::Value("hello"));
  FrameHeader h;
  WireError err;
  ASSERT_TRUE(DecodeHeader(f.data(), kDefaultMaxFrameMetaBytes, &h, &err)) << err.message;
  EXPECT_EQ(h.version, kVersion);
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
  EXPECT_EQ(got.condition, WriteCondition::kIfMatch);
  EXPECT_EQ(got.version, put.version);
  EXPECT_EQ(got.metadata, put.metadata);
}

TEST(Messages, PutMetaMatchesTheWorkedExampleInProtocolMd) {
  PutRequest put{.durability = 0, .key = "a/b"};
  put.condition = WriteCondition::kIfNoneMatch;
  put.metadata.content_type = "text/plain";
  std::string m;
  EncodeMeta(put, &m);
  const std::string want =
      std::string("\x00\x03\x00" "a/b" "\x02", 7) + std::string(12, '\0') +
      std::string("\x0f\x00\x00\x00\x01\x01\x00\x0a\x00", 9) + "text/plain";
  EXPECT_EQ(m.size(), 38u);
  EXPECT_EQ(m, want);
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
  f[kOffVersion] = 1;
  expect(f, WireStatus::kUnsupportedVersion, "protocol version 1 is not supported");
  EXPECT_EQ(h.request_id, 9u);  // named in the error reply
  EXPECT_EQ(h.version, 1);      // and answered in version 1
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
  expect(f, WireStatus::kLimitExceeded, "max_frame_meta_bytes");
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
  GetReply gr;
  gr.info.size = 100;
  gr.info.crc32c = 5;
  gr.info.sequence = 6;
  gr.info.mtime_us = 7;
  gr.info.version = Version{0x1234, 9};
  gr.info.metadata.md5 = std::string(16, '\x5a');
  gr.info.metadata.system["etag"] = "\"abc-2\"";
  gr.range_offset = 10;
  EncodeMeta(gr, &m);
  GetReply gr2;
  ASSERT_TRUE(DecodeMeta(m, &gr2, &err)) << err.message;
  EXPECT_EQ(gr2.info.size, 100u);
  EXPECT_EQ(gr2.info.crc32c, 5u);
  EXPECT_EQ(gr2.info.sequence, 6u);
  EXPECT_EQ(gr2.info.mtime_us, 7u);
  EXPECT_EQ(gr2.info.version, gr.info.version);
  EXPECT_EQ(gr2.info.metadata, gr.info.metadata);
  EXPECT_EQ(gr2.range_offset, 10u);

  m.clear();
  WriteResult w{.version = Version{77, 1}, .sequence = 5, .size = 6, .crc32c = 7};
  EncodeMeta(w, &m);
  EXPECT_EQ(m.size(), kWriteResultSize);
  WriteResult w2;
  ASSERT_TRUE(DecodeMeta(m, &w2, &err));
  EXPECT_EQ(w2.version, w.version);
  EXPECT_EQ(w2.sequence, 5u);
  EXPECT_EQ(w2.size, 6u);
  EXPECT_EQ(w2.crc32c, 7u);

  m.clear();
  DeleteRequest d{.durability = 3, .key = "k", .condition = WriteCondition::kIfNewer,
                  .version = Version{5, 6}};
  EncodeMeta(d, &m);
  DeleteRequest d2;
  ASSERT_TRUE(DecodeMeta(m, &d2, &err));
  EXPECT_EQ(d2.durability, 3);
  EXPECT_EQ(d2.condition, WriteCondition::kIfNewer);
  EXPECT_EQ(d2.version, (Version{5, 6}));

  m.clear();
  ListRequest l{.prefix = "p/", .delimiter = "/", .start_after = "p/a", .limit = 3};
  EncodeMeta(l, &m);
  ListRequest l2;
  ASSERT_TRUE(DecodeMeta(m, &l2, &err));
  EXPECT_EQ(l2.prefix, "p/");
  EXPECT_EQ(l2.delimiter, "/");
  EXPECT_EQ(l2.start_after, "p/a");
  EXPECT_EQ(l2.limit, 3u);

  m.clear();
  ListReply lr{.truncated = true, .count = 2, .prefix_count = 1, .next_start_after = "p/d/"};
  EncodeMeta(lr, &m);
  ListReply lr2;
  ASSERT_TRUE(DecodeMeta(m, &lr2, &err));
  EXPECT_TRUE(lr2.truncated);
  EXPECT_EQ(lr2.prefix_count, 1u);
  EXPECT_EQ(lr2.next_start_after, "p/d/");

  std::string body;
  ObjectInfo b, c;
  b.key = "p/b";
  b.size = 1;
  c.key = "p/c";
  c.size = 2;
  c.metadata.user["x"] = "y";
  EncodeListEntry(b, &body);
  EncodeListEntry(c, &body);
  EncodeListPrefix("p/d/", &body);
  std::vector<ObjectInfo> entries;
  std::vector<std::string> prefixes;
  ASSERT_TRUE(DecodeListBody(body, 2, 1, &entries, &prefixes, &err)) << err.message;
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].key, "p/c");
  EXPECT_EQ(entries[1].size, 2u);
  EXPECT_EQ(entries[1].metadata.user.at("x"), "y");
  EXPECT_EQ(prefixes, std::vector<std::string>{"p/d/"});
  EXPECT_FALSE(DecodeListBody(body, 3, 1, &entries, &prefixes, &err));
  EXPECT_FALSE(DecodeListBody(body, 2, 0, &entries, &prefixes, &err));  // trailing bytes
  EXPECT_FALSE(DecodeListBody(body, 0xFFFFFFFF, 0, &entries, &prefixes, &err));
  EXPECT_FALSE(DecodeListBody(body, 0, 0xFFFFFFFF, &entries, &prefixes, &err));

  m.clear();
  EncodeMeta(ErrorReply{.message = "if-match failed", .held = Version{9, 9}}, &m);
  ErrorReply e;
  ASSERT_TRUE(DecodeMeta(m, &e, &err));
  EXPECT_EQ(e.message, "if-match failed");
  EXPECT_EQ(e.held, (Version{9, 9}));

  m.clear();
  HelloRequest hello;
  hello.key_id = "local";
  hello.client_nonce[0] = 1;
  EncodeMeta(hello, &m);
  HelloRequest hello2;
  ASSERT_TRUE(DecodeMeta(m, &hello2, &err));
  EXPECT_EQ(hello2.key_id, "local");
  EXPECT_EQ(hello2.client_nonce, hello.client_nonce);
}

TEST(Messages, BadConditionsAndMetadataAreProtocolErrors) {
  PutRequest put{.durability = 0, .key = "k"};
  put.metadata.content_type = "a";
  std::string m;
  EncodeMeta(put, &m);
  WireError err;
  PutRequest p;
  std::string bad = m;
  bad[1 + 2 + 1] = 4;  // the condition byte
  EXPECT_FALSE(DecodeMeta(bad, &p, &err));
  EXPECT_NE(err.message.find("condition"), std::string::npos) << err.message;
  bad = m;
  bad[1 + 2 + 1 + 1 + 12 + 4] = 7;  // the metadata format byte
  EXPECT_FALSE(DecodeMeta(bad, &p, &err));
  EXPECT_EQ(err.status, WireStatus::kProtocolError);
  EXPECT_NE(err.message.find("metadata"), std::string::npos) << err.message;
}

TEST(StatBody, RoundTripsStoreStatsAndTheServerCounters) {
  StoreStats s;
  s.objects = 3;
  s.logical_bytes = 1 << 20;
  s.tombstones = 2;
  s.read_only_reason = std::string("bad \xff byte");
  s.volume_list.push_back(VolumeStats{.id = 1, .state = "active", .capacity = 64});
  s.server["connections"] = 4;
  s.server["errors.NotFound"] = 2;
  Result<StoreStats> back = DecodeStatBody(EncodeStatBody(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->objects, 3u);
  EXPECT_EQ(back->logical_bytes, 1u << 20);
  EXPECT_EQ(back->tombstones, 2u);
  ASSERT_EQ(back->volume_list.size(), 1u);
  EXPECT_EQ(back->volume_list[0].state, "active");
  EXPECT_EQ(back->server, s.server);
  EXPECT_TRUE(DecodeStatBody("[1]").status().IsIOError());
  EXPECT_TRUE(DecodeStatBody("{\"objects\":\"x\"}").status().IsIOError());
  EXPECT_TRUE(DecodeStatBody("{\"server\":{\"n\":-1}}").status().IsIOError());
}

std::string Hex(const Proof& p) {
  std::string s;
  for (uint8_t b : p) s += fmt::format("{:02x}", b);
  return s;
}

TEST(Auth, WorkedExampleOfProtocolMd) {
  Nonce nc{}, ns{};
  for (int i = 0; i < 32; i++) {
    nc[i] = static_cast<uint8_t>(i);
    ns[i] = static_cast<uint8_t>(32 + i);
  }
  const std::string secret = "8d3f1c6a0b2e4f5a9c7d1e3b5a7f9c2d";
  EXPECT_EQ(Hex(ComputeProof(AuthRole::kServer, secret, "local", nc, ns)),
            "e8e30f44549820bee874918d67eb462c0f3eab6146fe459db3007033208434e0");
  EXPECT_EQ(Hex(ComputeProof(AuthRole::kClient, secret, "local", nc, ns)),
            "e125169ade93b9cd6f56a6634f13b9e8c196c23d076957bb3f6e8d573e586f28");
  // Another nonce, another key or another role: another proof.
  Nonce ns2 = ns;
  ns2[31] ^= 1;
  EXPECT_FALSE(ProofsEqual(ComputeProof(AuthRole::kClient, secret, "local", nc, ns),
                           ComputeProof(AuthRole::kClient, secret, "local", nc, ns2)));
  EXPECT_FALSE(ProofsEqual(ComputeProof(AuthRole::kClient, secret, "local", nc, ns),
                           ComputeProof(AuthRole::kClient, secret + "x", "local", nc, ns)));
  EXPECT_TRUE(ProofsEqual(ComputeProof(AuthRole::kServer, secret, "local", nc, ns),
                          ComputeProof(AuthRole::kServer, secret, "local", nc, ns)));
  EXPECT_NE(RandomNonce(), RandomNonce());
}

TEST(Messages, TruncatedAndTrailingBytesAreRefusedByName) {
  std::string m;
  PutRequest full{.durability = 0, .key = "key", .condition = WriteCondition::kIfMatch,
                  .version = Version{1, 2}};
  full.metadata.user["a"] = "b";
  EncodeMeta(full, &m);
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
  EXPECT_TRUE(FromWireStatus(WireStatus::kShuttingDown, "m").IsUnavailable());
  EXPECT_TRUE(FromWireStatus(WireStatus::kTimeout, "m").IsUnavailable());
  // Issue 15: the client keeps the codes the server sent.
  for (unsigned c = 1; c <= Status::kMaxCode; c++) {
    Status s = Status::FromCode(static_cast<Status::Code>(c), "msg");
    Status back = FromWireStatus(ToWireStatus(s), "msg");
    EXPECT_EQ(back.code(), s.code()) << s.ToString();
    EXPECT_EQ(back.message(), "msg");
  }
  EXPECT_TRUE(FromWireStatus(WireStatus::kLimitExceeded, "max_key_bytes").IsLimitExceeded());
  EXPECT_FALSE(IsKnownWireStatus(66));  // LimitExceeded in version 1, unused since
  EXPECT_TRUE(ClosesConnection(WireStatus::kProtocolError));
  EXPECT_TRUE(ClosesConnection(WireStatus::kPermissionDenied));
  EXPECT_FALSE(ClosesConnection(WireStatus::kChecksumMismatch));
}

// Random garbage never crashes a decoder (the fuzzer goes much further: fuzz/wire_fuzz.cc).
TEST(Frame, RandomBytesNeverCrash) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; i++) {
    std::string b(kHeaderSize + rng() % 64, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    if (i % 2) EncodeFixed32(b.data(), kMagic), b[kOffVersion] = kVersion;
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
