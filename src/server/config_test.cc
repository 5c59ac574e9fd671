#include "server/config.h"

#include <gtest/gtest.h>

namespace cairn::server {
namespace {

TEST(ServerConfig, DefaultsMatchProtocolDoc) {
  Result<ServerConfig> c = ParseConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->limits.max_meta_bytes, 65536u);
  EXPECT_EQ(c->limits.max_key_bytes, 1024u);
  EXPECT_EQ(c->limits.max_inflight_per_connection, 64u);
  EXPECT_EQ(c->limits.max_connections, 4096u);
  EXPECT_EQ(c->limits.max_buffered_body_bytes, 1u << 20);
  EXPECT_EQ(c->limits.header_timeout_ms, 10000u);
  EXPECT_EQ(c->limits.idle_timeout_ms, 300000u);
  EXPECT_EQ(c->data, "./cairn-data");
}

TEST(ServerConfig, TomlThenFlagsWin) {
  Result<ServerConfig> c = ParseConfig(
      "data = \"/srv/cairn\"\nlisten = \"0.0.0.0:9000\"\nmax_key_bytes = 100\n"
      "max_buffered_body_bytes = \"2M\"\ndurability = \"interval=50\"\n",
      {{"listen", "127.0.0.1:0"}, {"max_key_bytes", "200"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data, "/srv/cairn");
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->limits.max_key_bytes, 200u);
  EXPECT_EQ(c->limits.max_buffered_body_bytes, 2u << 20);
  EXPECT_EQ(c->durability, Durability::kInterval);
  EXPECT_EQ(c->sync_interval_ms, 50u);
}

TEST(ServerConfig, ErrorsNameTheKey) {
  auto bad = [](std::string_view text, std::vector<std::pair<std::string, std::string>> o,
                std::string_view want) {
    Result<ServerConfig> c = ParseConfig(text, o);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find(want), std::string::npos) << c.status().message();
  };
  bad("nosuchkey = 1", {}, "unknown key 'nosuchkey'");
  bad("max_key_bytes = 5000", {}, "max_key_bytes");
  bad("max_key_bytes = -1", {}, "max_key_bytes");
  bad("max_key_bytes = \"abc\"", {}, "max_key_bytes");
  bad("listen = 7", {}, "listen");
  bad("listen = \"nohostport\"", {}, "listen");
  bad("durability = \"sometimes\"", {}, "durability");
  bad("data = ", {}, "line 1");
  bad("", {{"threads", "x"}}, "threads");
  bad("", {{"bogus", "1"}}, "--bogus");
}

TEST(ServerConfig, SplitHostPort) {
  std::string h;
  uint16_t p = 1;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:0", &h, &p).ok());
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 0);
  ASSERT_TRUE(SplitHostPort("[::1]:7700", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 7700);
  EXPECT_FALSE(SplitHostPort("host:70000", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort(":80", &h, &p).ok());
}

}  // namespace
}  // namespace cairn::server
