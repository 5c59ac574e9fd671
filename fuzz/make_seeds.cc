// Writes the seed corpora of record_fuzz, scanner_fuzz and wire_fuzz: small valid inputs (and a
// few near-valid ones) built with the real encoders, so that the fuzzer starts past the
// checksums.
// Usage: make_fuzz_seeds <fuzz/corpus dir>. The output is committed; run this again only when
// the formats change (fuzz/README.md).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include "engine/record.h"
#include "engine/store_format.h"
#include "fuzz_util.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "proto/stat_body.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

using namespace cairn;

namespace {

void Write(const std::string& dir, const std::string& name, uint8_t mode, const std::string& body) {
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fputc(mode, f);
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
}

std::string SomeMeta() {
  ObjectMetadata m;
  m.content_type = "image/jpeg";
  m.md5 = std::string(16, '\x5a');
  m.user["owner"] = "fuzz";
  m.system["cache-control"] = "no-cache";
  return EncodeMetadata(m);
}

// A record of `format` (format 2 by default: version stamped from the sequence, none for a
// chunk; metadata only on values and manifests).
std::string Rec(RecordType type, const std::string& key, const std::string& value, uint64_t seq,
                uint64_t offset, bool relocated = false, uint8_t fmt = format::kRecordFormat,
                const std::string& meta = "") {
  RecordHeader h;
  h.format = fmt;
  h.type = type;
  h.sequence = seq;
  h.timestamp_us = 1700000000000000ull + seq;
  h.relocated = relocated;
  if (type != RecordType::kChunk) h.version = Version::Make(1700000000000ull + seq, 1, 0xA1);
  std::string out;
  AppendRecord(h, key, meta, value, fuzz::kSalt, offset, &out);
  return out;
}

std::string ManifestValue() {
  Manifest m;
  m.object_size = 300;
  m.object_crc = 0x12345678;
  m.chunks = {{1, 100, 4096}, {2, 200, 8192}};
  return EncodeManifest(m);
}

void RecordSeeds(const std::string& dir) {
  const uint64_t off = fuzz::kRecordOffset;
  const uint8_t v1 = format::kRecordFormat1;
  Write(dir, "value", 0, Rec(RecordType::kValue, "k1", "hello", 7, off));
  Write(dir, "value_meta", 0, Rec(RecordType::kValue, "k1", "hello", 7, off, false,
                                  format::kRecordFormat, SomeMeta()));
  Write(dir, "empty_value", 0, Rec(RecordType::kValue, "k", "", 1, off));
  Write(dir, "tombstone", 0, Rec(RecordType::kTombstone, "photos/cat.jpg", "", 9, off));
  Write(dir, "chunk_relocated", 0,
        Rec(RecordType::kChunk, "big", std::string(100, 'c'), 3, off, true));
  Write(dir, "manifest", 0, Rec(RecordType::kManifest, "big", ManifestValue(), 4, off, false,
                                format::kRecordFormat, SomeMeta()));
  // Format 1, as stores written before issue 15 hold.
  Write(dir, "v1_value", 0, Rec(RecordType::kValue, "k1", "hello", 7, off, false, v1));
  Write(dir, "v1_tombstone", 0, Rec(RecordType::kTombstone, "gone", "", 8, off, false, v1));
  Write(dir, "v1_manifest", 0, Rec(RecordType::kManifest, "big", ManifestValue(), 4, off, true, v1));
  std::string bad_hcrc = Rec(RecordType::kValue, "k1", "hello", 7, off);
  bad_hcrc[format::kOffHeaderCrc] ^= 1;
  Write(dir, "bypass_header_crc", fuzz::kBypassHeaderCrc, bad_hcrc);
  std::string bad_vcrc = Rec(RecordType::kManifest, "big", ManifestValue(), 4, off);
  bad_vcrc[format::kRecordHeaderSizeV2 + 3 + 4] ^= 0x40;  // object_crc of the manifest value
  Write(dir, "bypass_value_crc", fuzz::kBypassValueCrc, bad_vcrc);
  Write(dir, "bypass_both", fuzz::kBypassHeaderCrc | fuzz::kBypassValueCrc,
        Rec(RecordType::kValue, std::string(1024, 'K'), "v", 1, 0, false, format::kRecordFormat,
            SomeMeta()));
}

// A data region (what follows the volume header) holding `recs` back to back.
struct Region {
  std::string bytes;
  uint64_t seq = 0;
  uint8_t fmt = format::kRecordFormat;
  std::string meta;  // for values and manifests of format 2
  void Add(RecordType type, const std::string& key, const std::string& value) {
    const bool with_meta = fmt == format::kRecordFormat2 &&
                           (type == RecordType::kValue || type == RecordType::kManifest);
    bytes += Rec(type, key, value, ++seq, format::kVolumeHeaderSize + bytes.size(), false, fmt,
                 with_meta ? meta : std::string());
  }
};

void ScannerSeeds(const std::string& dir) {
  Region r;
  r.Add(RecordType::kValue, "a", "1");
  r.Add(RecordType::kValue, "b", std::string(300, 'x'));
  r.Add(RecordType::kTombstone, "a", "");
  r.Add(RecordType::kChunk, "big", std::string(100, 'c'));
  r.Add(RecordType::kManifest, "big", ManifestValue());
  Write(dir, "records", 0, r.bytes);
  Write(dir, "records_gap", 4 | (2 << 4), r.bytes + std::string(2048, '\0') + r.bytes);
  Write(dir, "records_skip_chunks", 16, r.bytes);

  // Format-1 records, then format-2 ones with metadata: an upgraded store's volume.
  Region mixed;
  mixed.fmt = format::kRecordFormat1;
  mixed.Add(RecordType::kValue, "old", "format 1");
  mixed.Add(RecordType::kTombstone, "old", "");
  mixed.Add(RecordType::kChunk, "big1", std::string(64, 'o'));
  mixed.fmt = format::kRecordFormat;
  mixed.meta = SomeMeta();
  mixed.Add(RecordType::kValue, "new", "format 2");
  mixed.Add(RecordType::kManifest, "big", ManifestValue());
  Write(dir, "mixed_formats", 0, mixed.bytes);

  // A corrupt record in the middle: the scanner reports it and resynchronises.
  Region m;
  m.Add(RecordType::kValue, "a", "first");
  size_t mid = m.bytes.size();
  m.Add(RecordType::kValue, "b", "second");
  m.Add(RecordType::kValue, "c", "third");
  std::string corrupt = m.bytes;
  corrupt[mid + format::kRecordHeaderSizeV2 + 2] ^= 0xFF;
  Write(dir, "corrupt_middle", 0, corrupt);

  // A torn tail: half a header after the last record.
  Write(dir, "torn_tail", 0, r.bytes + std::string("\xc3\xa1\x52\x4e\x02\x01\x01\x00\x09", 9));
  Write(dir, "truncated", 8, r.bytes.substr(0, r.bytes.size() - 20));

  // A punched dead record: its head (header, key, metadata) kept, its whole body blocks zero
  // (read as holes).
  Region p;
  p.meta = SomeMeta();
  p.Add(RecordType::kValue, "dead", std::string(3 * 4096, 'd'));
  PunchRange pr = PunchableRange(format::kVolumeHeaderSize,
                                 format::kRecordHeaderSizeV2 + 4 + p.meta.size(), p.bytes.size());
  for (uint64_t i = pr.begin; i < pr.end; i++) p.bytes[i - format::kVolumeHeaderSize] = 0;
  p.Add(RecordType::kValue, "live", "after the punched one");
  Write(dir, "punched", 0, p.bytes);

  // Records whose checksums are wrong, for the bypass modes.
  std::string b = r.bytes;
  b[format::kOffHeaderCrc] ^= 1;
  b[format::kRecordHeaderSizeV2 + 1] ^= 1;
  Write(dir, "bypass", fuzz::kBypassHeaderCrc | fuzz::kBypassValueCrc, b);
}

// One frame: header, meta, then the body.
std::string WireFrame(proto::Op op, bool reply, uint64_t id, const std::string& meta,
                      const std::string& body = "",
                      proto::WireStatus status = proto::WireStatus::kOk) {
  proto::FrameHeader h;
  h.op = op;
  h.reply = reply;
  h.status = status;
  h.request_id = id;
  h.body_len = body.size();
  h.body_crc = body.empty() ? 0 : crc32c::Value(body);
  return proto::EncodeFrame(h, meta) + body;
}

template <typename M>
std::string Meta(const M& m) {
  std::string out;
  proto::EncodeMeta(m, &out);
  return out;
}

ObjectInfo SampleInfo(const std::string& key) {
  ObjectInfo i;
  i.key = key;
  i.size = 5;
  i.crc32c = crc32c::Value("hello");
  i.sequence = 7;
  i.mtime_us = 1700000000000000ull;
  i.version = Version::Make(1700000000000, 1, 0xCA1Eu);
  i.metadata.content_type = "text/plain";
  i.metadata.md5 = std::string(16, '\x11');
  i.metadata.user["owner"] = "ada";
  i.metadata.system["etag"] = "\"abc\"";
  return i;
}

// Every input starts with the bypass byte (0: header CRCs are checked).
void WireSeeds(const std::string& dir) {
  using proto::Op;
  proto::PutRequest put{.durability = 1, .key = "some/key"};
  put.condition = WriteCondition::kIfMatch;
  put.version = Version::Make(1700000000000, 2, 9);
  put.metadata = SampleInfo("k").metadata;
  Write(dir, "ping", 0, WireFrame(Op::kPing, false, 1, ""));
  Write(dir, "put", 0, WireFrame(Op::kPut, false, 2, Meta(put), "hello"));
  {
    proto::FrameHeader h;
    h.op = Op::kPut;
    h.request_id = 3;
    h.flags = proto::kFlagChunked;
    h.body_len = proto::kChunkedBodyLen;
    std::string f = proto::EncodeFrame(h, Meta(proto::PutRequest{.durability = 0, .key = "big"}));
    proto::AppendChunk("hello ", &f);
    proto::AppendChunk("world", &f);
    proto::AppendChunkTrailer(crc32c::Value("hello world"), &f);
    Write(dir, "put_chunked", 0, f);
  }
  Write(dir, "get_range", 0, WireFrame(Op::kGet, false, 4, Meta(proto::GetRequest{"k", 1, 3})));
  Write(dir, "delete_if_newer", 0,
        WireFrame(Op::kDelete, false, 5,
                  Meta(proto::DeleteRequest{.durability = 3, .key = "k",
                                            .condition = WriteCondition::kIfNewer,
                                            .version = Version{99, 3}})));
  Write(dir, "list", 0,
        WireFrame(Op::kList, false, 6, Meta(proto::ListRequest{"p/", "/", "p/a", 100})));
  proto::HelloRequest hello;
  hello.key_id = "local";
  for (size_t i = 0; i < hello.client_nonce.size(); i++) hello.client_nonce[i] = uint8_t(i);
  proto::AuthRequest auth;
  auth.client_proof[0] = 0xAB;
  Write(dir, "handshake", 0,
        WireFrame(Op::kHello, false, 0, Meta(hello)) + WireFrame(Op::kAuth, false, 0, Meta(auth)));
  // Replies.
  WriteResult w{.version = put.version, .sequence = 7, .size = 5, .crc32c = crc32c::Value("hello")};
  Write(dir, "put_reply", 0, WireFrame(Op::kPut, true, 2, Meta(w)));
  std::string gm;
  proto::EncodeGetReply(SampleInfo("k"), 1, &gm);
  Write(dir, "get_reply", 0, WireFrame(Op::kGet, true, 4, gm, "ell"));
  Write(dir, "head_reply", 0, WireFrame(Op::kHead, true, 8, Meta(SampleInfo("k"))));
  std::string lb;
  proto::EncodeListEntry(SampleInfo("p/a"), &lb);
  proto::EncodeListEntry(SampleInfo("p/b"), &lb);
  proto::EncodeListPrefix("p/c/", &lb);
  Write(dir, "list_reply", 0,
        WireFrame(Op::kList, true, 6,
                  Meta(proto::ListReply{.truncated = true, .count = 2, .prefix_count = 1,
                                        .next_start_after = "p/c/"}),
                  lb));
  StoreStats st;
  st.objects = 2;
  st.volume_list.push_back(VolumeStats{.id = 1, .state = "active"});
  st.server["connections"] = 1;
  Write(dir, "stat_reply", 0, WireFrame(Op::kStat, true, 9, "", proto::EncodeStatBody(st)));
  proto::HelloReply hr;
  hr.server_nonce[5] = 5;
  Write(dir, "hello_reply", 0, WireFrame(Op::kHello, true, 0, Meta(hr)));
  Write(dir, "error_reply", 0,
        WireFrame(Op::kPut, true, 2,
                  Meta(proto::ErrorReply{.message = "if-match: another version is current",
                                         .held = Version{42, 1}}),
                  "", proto::WireStatus::kConflict));
  // A frame of version 1, as an old client sends it.
  std::string v1 = WireFrame(Op::kPing, false, 1, "");
  v1[proto::kOffVersion] = 1;
  Write(dir, "version1", 1, v1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <fuzz/corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  RecordSeeds(root + "/record");
  ScannerSeeds(root + "/scanner");
  WireSeeds(root + "/wire");
  return 0;
}
