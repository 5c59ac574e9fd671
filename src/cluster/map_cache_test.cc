#include "cluster/map_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace cairn::cluster {
namespace {

ClusterMap Map(uint64_t epoch) {
  ClusterMap m;
  m.epoch = epoch;
  std::vector<NodeSpec> specs;
  for (NodeId id = 1; id <= 3; id++) {
    m.nodes.push_back(MapNode{id, NodeState::kUp, 1, "127.0.0.1:1", "z" + std::to_string(id)});
    specs.push_back({id, m.nodes.back().zone, 1});
  }
  m.placement = *BuildPlacement(specs, 3, 64);
  return m;
}

class MapCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-shm.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    o_.dir = tmpl;
    o_.ttl_ms = 1000;
  }
  void TearDown() override { std::filesystem::remove_all(o_.dir); }
  MapCacheOptions o_;
};

TEST_F(MapCacheTest, WriteThenReadWithinTheTtl) {
  const std::string name = MapCacheName("prod", "127.0.0.1:2379");
  EXPECT_TRUE(ReadCachedMap(o_, name, 1'000'000).status().IsNotFound());
  ASSERT_TRUE(WriteCachedMap(o_, name, Map(5), 1'000'000).ok());
  Result<ClusterMap> m = ReadCachedMap(o_, name, 1'500'000);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->epoch, 5u);
  EXPECT_TRUE(ReadCachedMap(o_, name, 2'500'000).status().IsNotFound());  // past the TTL
  EXPECT_NE(MapCacheName("prod", "a:1"), MapCacheName("prod", "b:1"));
}

TEST_F(MapCacheTest, NeverGoesBackToAnOlderEpoch) {
  const std::string name = MapCacheName("c", "e");
  ASSERT_TRUE(WriteCachedMap(o_, name, Map(9), 1'000'000).ok());
  ASSERT_TRUE(WriteCachedMap(o_, name, Map(4), 1'000'100).ok());
  EXPECT_EQ(ReadCachedMap(o_, name, 1'000'200)->epoch, 9u);
  InvalidateCachedMap(o_, name);
  EXPECT_TRUE(ReadCachedMap(o_, name, 1'000'200).status().IsNotFound());
}

// Issue 12: the cache holds the map's own encoding, so a map in transition (format 2, with its
// previous table) comes back whole, and a damaged one is a miss.
TEST_F(MapCacheTest, Issue12AMapInTransitionKeepsItsPreviousTable) {
  const std::string name = MapCacheName("t", "e");
  ClusterMap m = Map(6);
  m.nodes.push_back(MapNode{4, NodeState::kUp, 1, "127.0.0.1:4", "z1"});
  m.prev = m.placement;
  m.nodes[0].state = NodeState::kOut;
  m.placement = *RebalancePlacement(m.prev, m.PlacementNodes());
  ASSERT_TRUE(m.in_transition());
  ASSERT_TRUE(WriteCachedMap(o_, name, m, 1'000'000).ok());
  Result<ClusterMap> back = ReadCachedMap(o_, name, 1'000'001);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->prev.table, m.prev.table);
  EXPECT_EQ(back->placement.table, m.placement.table);
  EXPECT_EQ(back->MovingCount(), m.MovingCount());
  EXPECT_GT(back->MovingCount(), 0u);
  // A flipped byte in the previous table: a miss.
  const std::string path = o_.dir + "/" + name;
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  bytes[bytes.size() - 10] ^= 1;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(ReadCachedMap(o_, name, 1'000'002).status().IsNotFound());
}

TEST_F(MapCacheTest, DamageIsAMissNeverAnError) {
  const std::string name = MapCacheName("c", "e");
  ASSERT_TRUE(WriteCachedMap(o_, name, Map(3), 1'000'000).ok());
  const std::string path = o_.dir + "/" + name;
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  for (size_t i = 0; i < bytes.size(); i += 17) {
    std::string bad = bytes;
    bad[i] ^= 1;
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bad.data(), static_cast<std::streamsize>(bad.size()));
    EXPECT_TRUE(ReadCachedMap(o_, name, 1'000'001).status().IsNotFound()) << i;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), 20);
  EXPECT_TRUE(ReadCachedMap(o_, name, 1'000'001).status().IsNotFound());
}

}  // namespace
}  // namespace cairn::cluster
