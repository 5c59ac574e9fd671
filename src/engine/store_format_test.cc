#include "engine/store_format.h"

#include <gtest/gtest.h>

namespace cairn::format {

TEST(StoreFormat, MarkerRoundTripAndDamage) {
  StoreMarker m{0x1122334455667788ull, uint64_t{1} << 30, 123};
  std::string b = EncodeMarker(m);
  ASSERT_EQ(kMarkerSize, b.size());
  StoreMarker d;
  ASSERT_TRUE(DecodeMarker(b, &d).ok());
  EXPECT_EQ(m.store_id, d.store_id);
  EXPECT_EQ(m.volume_capacity, d.volume_capacity);
  b[20] ^= 1;
  EXPECT_TRUE(DecodeMarker(b, &d).IsCorruption());
  EXPECT_TRUE(DecodeMarker("hello", &d).IsInvalidArgument());
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
  IndexEntry de;
  ASSERT_TRUE(DecodeIndexEntry(EncodeIndexEntry(e), &de).ok());
  EXPECT_EQ(e.object_size, de.object_size);
  EXPECT_EQ(4, de.type);
  EXPECT_TRUE(DecodeIndexEntry("short", &de).IsCorruption());

  Checkpoint c;
  c.clean = true;
  c.volume = 2;
  c.offset = 8192;
  c.next_sequence = 10;
  c.objects = 3;
  Checkpoint dc;
  std::string cb = EncodeCheckpoint(c);
  ASSERT_TRUE(DecodeCheckpoint(cb, &dc).ok());
  EXPECT_TRUE(dc.clean);
  EXPECT_EQ(8192u, dc.offset);
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
}

}  // namespace cairn::format
