// EtcdClient against a real etcd started by the test (tests/cluster/etcd_fixture.h).
#include "cluster/etcd_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "cluster/etcd_fixture.h"

namespace cairn::cluster {
namespace {

using cairn::testing::EtcdFixture;

#define REQUIRE_ETCD(f) \
  if (!(f).ok()) GTEST_SKIP() << (f).why()

std::unique_ptr<EtcdClient> Client(const std::vector<std::string>& endpoints, std::string user = "",
                                   std::string password = "") {
  EtcdOptions o;
  o.endpoints = endpoints;
  o.timeout_ms = 2000;
  o.user = std::move(user);
  o.password = std::move(password);
  auto c = EtcdClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(*c);
}

TEST(EtcdClient, EndpointsParse) {
  std::vector<std::string> v;
  ASSERT_TRUE(ParseEtcdEndpoints("127.0.0.1:2379,http://h:1/", &v).ok());
  EXPECT_EQ(v, (std::vector<std::string>{"127.0.0.1:2379", "h:1"}));
  EXPECT_TRUE(ParseEtcdEndpoints("", &v).IsInvalidArgument());
  EXPECT_TRUE(ParseEtcdEndpoints("nohost", &v).IsInvalidArgument());
  EXPECT_TRUE(ParseEtcdEndpoints("h:70000", &v).IsInvalidArgument());
  EXPECT_EQ(EtcdPrefixEnd("a/"), "a0");
  EXPECT_EQ(EtcdPrefixEnd(std::string("a\xff", 2)), "b");
}

TEST(EtcdClient, PutGetDeleteAndBinaryKeys) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  const std::string key("k\0\xff/1", 5), value("v\0alue\n", 7);
  Result<int64_t> rev = c->Put(key, value);
  ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  Result<EtcdRange> r = c->Get(key);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, key);
  EXPECT_EQ(r->kvs[0].value, value);
  EXPECT_EQ(r->kvs[0].mod_revision, *rev);
  ASSERT_TRUE(c->Put("p/a", "1").ok());
  ASSERT_TRUE(c->Put("p/b", "2").ok());
  ASSERT_TRUE(c->Put("q", "3").ok());
  Result<EtcdRange> p = c->GetPrefix("p/");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->kvs.size(), 2u);
  EXPECT_EQ(p->kvs[1].value, "2");
  ASSERT_TRUE(c->Delete("p/", EtcdPrefixEnd("p/")).ok());
  EXPECT_TRUE(c->GetPrefix("p/")->kvs.empty());
  EXPECT_TRUE(c->Get("missing")->kvs.empty());
}

TEST(EtcdClient, CompareAndSwapOnlyOneWins) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  EtcdCompare absent{"epoch", EtcdCompare::Target::kVersion, EtcdCompare::Result::kEqual, 0, ""};
  EtcdOp put{EtcdOp::Kind::kPut, "epoch", "1", "", 0};
  EtcdOp read{EtcdOp::Kind::kRange, "epoch", "", "", 0};
  Result<EtcdTxnResult> a = c->Txn({absent}, {put}, {read});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->succeeded);
  Result<EtcdTxnResult> b = c->Txn({absent}, {put}, {read});
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->succeeded);
  ASSERT_EQ(b->ranges.size(), 1u);
  EXPECT_EQ(b->ranges[0].kvs.at(0).value, "1");
  EtcdCompare is1{"epoch", EtcdCompare::Target::kValue, EtcdCompare::Result::kEqual, 0, "1"};
  EtcdOp put2{EtcdOp::Kind::kPut, "epoch", "2", "", 0};
  EXPECT_TRUE(c->Txn({is1}, {put2})->succeeded);
  EXPECT_FALSE(c->Txn({is1}, {put2})->succeeded);
}

TEST(EtcdClient, LeasesKeepKeysAliveAndExpire) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  Result<int64_t> lease = c->LeaseGrant(2);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(c->Put("alive/1", "x", *lease).ok());
  for (int i = 0; i < 4; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    Result<int64_t> ttl = c->LeaseKeepAlive(*lease);
    ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
    EXPECT_GT(*ttl, 0);
  }
  EXPECT_EQ(c->Get("alive/1")->kvs.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_TRUE(c->Get("alive/1")->kvs.empty());
  EXPECT_TRUE(c->LeaseKeepAlive(*lease).status().IsNotFound());
  Result<int64_t> l2 = c->LeaseGrant(30);
  ASSERT_TRUE(l2.ok());
  ASSERT_TRUE(c->Put("alive/2", "y", *l2).ok());
  ASSERT_TRUE(c->LeaseRevoke(*l2).ok());
  EXPECT_TRUE(c->Get("alive/2")->kvs.empty());
}

TEST(EtcdClient, WatchDeliversEventsInOrderAndCancels) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  auto w = Client(etcd.endpoints());
  std::vector<std::string> seen;
  std::mutex mu;
  int64_t compact = 0;
  Status ws;
  std::thread t([&] {
    ws = w->Watch("map/", EtcdPrefixEnd("map/"), 0,
                  [&](const std::vector<EtcdEvent>& evs, int64_t) {
                    std::lock_guard<std::mutex> l(mu);
                    for (const auto& e : evs) seen.push_back((e.deleted ? "-" : "+") + e.kv.key + "=" + e.kv.value);
                    return true;
                  },
                  &compact);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(c->Put("map/a", "1").ok());
  ASSERT_TRUE(c->Put("other", "x").ok());
  ASSERT_TRUE(c->Put("map/b", "2").ok());
  ASSERT_TRUE(c->Delete("map/a").ok());
  for (int i = 0; i < 50; i++) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (seen.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  w->CancelWatch();
  t.join();
  EXPECT_TRUE(ws.ok()) << ws.ToString();
  EXPECT_EQ(seen, (std::vector<std::string>{"+map/a=1", "+map/b=2", "-map/a="}));
}

TEST(EtcdClient, AWatchFromACompactedRevisionSaysSo) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  int64_t first = *c->Put("map/x", "1");
  for (int i = 0; i < 5; i++) ASSERT_TRUE(c->Put("map/x", std::to_string(i)).ok());
  int64_t last = *c->Put("map/x", "last");
  ASSERT_EQ(etcd.Ctl("compact " + std::to_string(last)), 0);
  int64_t compact = 0;
  Status s = c->Watch("map/", EtcdPrefixEnd("map/"), first,
                      [](const std::vector<EtcdEvent>&, int64_t) { return true; }, &compact);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(compact, last);
}

TEST(EtcdClient, FailsOverToALiveEndpointAndReportsUnavailable) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  const std::string dead = "127.0.0.1:" + std::to_string(cairn::testing::FreePort());
  auto c = Client({dead, etcd.endpoints()[0]});
  EXPECT_TRUE(c->Put("k", "v").ok());
  auto none = Client({dead});
  Status s = none->Put("k", "v").status();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

TEST(EtcdClient, AuthenticatesWithItsOwnCredentials) {
  EtcdFixture etcd;
  REQUIRE_ETCD(etcd);
  ASSERT_EQ(etcd.Ctl("user add root:rootpw"), 0);
  ASSERT_EQ(etcd.Ctl("auth enable"), 0);
  auto anon = Client(etcd.endpoints());
  EXPECT_TRUE(anon->Put("k", "v").status().IsPermissionDenied()) << anon->Put("k", "v").status().ToString();
  auto wrong = Client(etcd.endpoints(), "root", "nope");
  EXPECT_TRUE(wrong->Put("k", "v").status().IsPermissionDenied());
  auto right = Client(etcd.endpoints(), "root", "rootpw");
  EXPECT_TRUE(right->Put("k", "v").ok());
  EXPECT_EQ(right->Get("k")->kvs.at(0).value, "v");
}

TEST(EtcdClient, ThreeMembersSurviveOneDown) {
  EtcdFixture etcd(3);
  REQUIRE_ETCD(etcd);
  auto c = Client(etcd.endpoints());
  ASSERT_TRUE(c->Put("k", "1").ok());
  etcd.Kill(0);
  Result<int64_t> r = c->Put("k", "2");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(c->Get("k")->kvs.at(0).value, "2");
}

}  // namespace
}  // namespace cairn::cluster
