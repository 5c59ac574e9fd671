// Writes the seed corpora of record_fuzz and scanner_fuzz: small valid inputs (and a few
// near-valid ones) built with the real encoders, so that the fuzzer starts past the checksums.
// Usage: make_fuzz_seeds <fuzz/corpus dir>. The output is committed; run this again only when
// the formats change (fuzz/README.md).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include "engine/record.h"
#include "engine/store_format.h"
#include "fuzz_util.h"
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <fuzz/corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  RecordSeeds(root + "/record");
  ScannerSeeds(root + "/scanner");
  return 0;
}
