#include "engine/store_format.h"

#include <gtest/gtest.h>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::format {

TEST(StoreFormat, MarkerRoundTripAndDamage) {
  StoreMarker m;
  m.store_id = 0x1122334455667788ull;
  m.volume_capacity = uint64_t{1} << 30;
  m.created_us = 123;
  m.writer_id = 0xCAFEF00D;
  std::string b = EncodeMarker(m);
  ASSERT_EQ(kMarkerSize, b.size());
  StoreMarker d;
  ASSERT_TRUE(DecodeMarker(b, &d).ok());
  EXPECT_EQ(m.store_id, d.store_id);
  EXPECT_EQ(m.volume_capacity, d.volume_capacity);
  EXPECT_EQ(2u, d.format_version);
  EXPECT_EQ(0xCAFEF00Du, d.writer_id);
  b[20] ^= 1;
  EXPECT_TRUE(DecodeMarker(b, &d).IsCorruption());
  EXPECT_TRUE(DecodeMarker("hello", &d).IsInvalidArgument());
}

// Issue 15: a format-1 marker (writer id field 0) is read, so the store can be upgraded; an
// unknown format is refused, naming the versions this build reads.
TEST(StoreFormat, Issue15MarkerFormat1IsReadAndUnknownFormatsAreRefused) {
  StoreMarker m;
  m.store_id = 7;
  m.volume_capacity = 1 << 20;
  m.writer_id = 0;
  std::string b = EncodeMarker(m);
  EncodeFixed32(b.data() + 8, 1);
  EncodeFixed32(b.data() + 44, crc32c::Value(b.data(), 44));
  StoreMarker d;
  ASSERT_TRUE(DecodeMarker(b, &d).ok());
  EXPECT_EQ(1u, d.format_version);
  EXPECT_EQ(0u, d.writer_id);
  EncodeFixed32(b.data() + 8, 3);
  EncodeFixed32(b.data() + 44, crc32c::Value(b.data(), 44));
  Status s = DecodeMarker(b, &d);
  EXPECT_TRUE(s.IsNotSupported());
  EXPECT_NE(std::string::npos, s.message().find("store format version 3")) << s.ToString();
  // A format-2 marker must carry a writer id.
  m.writer_id = 0;
  EXPECT_TRUE(DecodeMarker(EncodeMarker(m), &d).IsCorruption());
}

TEST(StoreFormat, VolumeHeaderRoundTripAndDamage) {
  VolumeHeader h;
  h.volume_id = 7;
  h.capacity = 1 << 20;
  h.salt = 99;
  h.store_id = 5;
  std::string b = EncodeVolumeHeader(h);
  ASSERT_EQ(kVolumeHeaderSize, b.size());
  VolumeHeader d;
  ASSERT_TRUE(DecodeVolumeHeader(b, &d).ok());
  EXPECT_EQ(7u, d.volume_id);
  EXPECT_EQ(99u, d.salt);
  for (size_t i = 0; i < 56; i++) {
    std::string bad = b;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeVolumeHeader(bad, &d).ok()) << i;
  }
}

TEST(StoreFormat, IndexValuesRoundTrip) {
  IndexEntry e;
  e.type = 4;
  e.volume = 3;
  e.offset = 4096;
  e.record_len = 48;
  e.sequence = 9;
  e.object_size = 1 << 30;
  e.object_crc = 0xdeadbeef;
  e.timestamp_us = 77;
  e.version = Version{0x1234567890ull, 42};
  e.meta = std::string("\x01\x01\x00\x02\x00hi", 7);
  IndexEntry de;
  std::string eb = EncodeIndexEntry(e);
  EXPECT_EQ(kIndexEntrySize + 7, eb.size());
  ASSERT_TRUE(DecodeIndexEntry(eb, &de).ok());
  EXPECT_EQ(e.object_size, de.object_size);
  EXPECT_EQ(4, de.type);
  EXPECT_EQ(2, de.record_format);
  EXPECT_EQ(e.version, de.version);
  EXPECT_EQ(e.meta, de.meta);
  EXPECT_EQ(77u, de.timestamp_us);
  EXPECT_TRUE(DecodeIndexEntry("short", &de).IsCorruption());

  Checkpoint c;
  c.clean = true;
  c.volume = 2;
  c.offset = 8192;
  c.next_sequence = 10;
  c.objects = 3;
  c.tombstones = 5;
  c.max_version = Version{99, 3};
  Checkpoint dc;
  std::string cb = EncodeCheckpoint(c);
  ASSERT_EQ(kCheckpointSize, cb.size());
  ASSERT_TRUE(DecodeCheckpoint(cb, &dc).ok());
  EXPECT_TRUE(dc.clean);
  EXPECT_EQ(8192u, dc.offset);
  EXPECT_EQ(5u, dc.tombstones);
  EXPECT_EQ(c.max_version, dc.max_version);
  EXPECT_EQ(2, dc.version);
  cb[9] ^= 1;
  EXPECT_TRUE(DecodeCheckpoint(cb, &dc).IsCorruption());

  VolumeAccount v;
  v.sealed = true;
  v.end = 100000;
  v.live_bytes = 500;
  VolumeAccount dv;
  ASSERT_TRUE(DecodeVolumeAccount(EncodeVolumeAccount(v), &dv).ok());
  EXPECT_TRUE(dv.sealed);
  EXPECT_EQ(500u, dv.live_bytes);

  Version h;
  std::string hb = EncodeHorizon(Version{12345, 6});
  ASSERT_TRUE(DecodeHorizon(hb, &h).ok());
  EXPECT_EQ((Version{12345, 6}), h);
  hb[3] ^= 1;
  EXPECT_TRUE(DecodeHorizon(hb, &h).IsCorruption());
}

// Issue 15: entries and checkpoints written by format 1 are still read.
TEST(StoreFormat, Issue15Version1EntriesAndCheckpointsAreRead) {
  std::string b(56, '\0');
  b[0] = 1;
  b[1] = 1;
  EncodeFixed32(b.data() + 4, 2);
  EncodeFixed64(b.data() + 8, 8192);
  EncodeFixed64(b.data() + 16, 48);
  EncodeFixed64(b.data() + 24, 17);
  EncodeFixed64(b.data() + 32, 5);
  EncodeFixed32(b.data() + 40, 0xabcd);
  EncodeFixed64(b.data() + 48, 1700000000123456ull);
  IndexEntry e;
  e.meta = "stale";
  ASSERT_TRUE(DecodeIndexEntry(b, &e).ok());
  EXPECT_EQ(1, e.record_format);
  EXPECT_EQ(17u, e.sequence);
  EXPECT_EQ(Version::Make(1700000000123ull, 0, 0), e.version);
  EXPECT_TRUE(e.meta.empty());
  EXPECT_EQ(40u + 3u, e.head_len(3));
  b[1] = 2;  // a rebuild's negative entry: now a tombstone entry
  ASSERT_TRUE(DecodeIndexEntry(b, &e).ok());
  EXPECT_TRUE(e.tombstone());

  std::string c(48, '\0');
  c[0] = 1;
  c[1] = 1;
  EncodeFixed32(c.data() + 4, 1);
  EncodeFixed64(c.data() + 8, 4096);
  EncodeFixed64(c.data() + 16, 12);
  EncodeFixed64(c.data() + 24, 6);
  EncodeFixed32(c.data() + 44, crc32c::Value(c.data(), 44));
  Checkpoint dc;
  ASSERT_TRUE(DecodeCheckpoint(c, &dc).ok());
  EXPECT_EQ(1, dc.version);
  EXPECT_TRUE(dc.clean);
  EXPECT_EQ(12u, dc.next_sequence);
  EXPECT_EQ(6u, dc.objects);
  EXPECT_TRUE(dc.max_version.none());
}

}  // namespace cairn::format
