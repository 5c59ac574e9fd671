// The ObjectStore suite (object_store_suite.h) run against every implementation there is:
// LocalObjectStore on a store directory, and RemoteObjectStore (the client library) against a
// real cairnd on 127.0.0.1, authenticated with a key.
#include "cairn/client.h"
#include "cairn/local_object_store.h"
#include "object_store_suite.h"
#include "server_test_util.h"
#include "test_util.h"

namespace cairn::test {
namespace {

StoreOptions SmallStore() {
  StoreOptions so;
  so.volume_capacity = 16 << 20;  // 4 MiB chunks, as in production
  so.background_reclaim = false;
  return so;
}

class LocalUnderTest final : public StoreUnderTest {
 public:
  LocalUnderTest() {
    Result<std::unique_ptr<LocalObjectStore>> s = LocalObjectStore::Open(dir_.sub("store"), SmallStore());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) store_ = std::move(*s);
  }
  ObjectStore* store() override { return store_.get(); }

 private:
  TempDir dir_;
  std::unique_ptr<LocalObjectStore> store_;
};

class RemoteUnderTest final : public StoreUnderTest {
 public:
  bool Start() {
    if (!server_.Start(dir_.sub("store"), {"--volume-size", "16M", "--durability", "sync"}))
      return false;
    ClientOptions o;
    o.port = server_.port();
    o.key = ClientKey{kTestKeyId, kTestSecret};
    Result<std::unique_ptr<Client>> c = Client::Create(o);
    if (!c.ok()) return false;
    client_ = std::move(*c);
    return true;
  }
  ~RemoteUnderTest() override {
    client_.reset();
    server_.Stop(SIGTERM);
  }
  ObjectStore* store() override { return client_.get(); }

 private:
  TempDir dir_;
  ServerProcess server_;
  std::unique_ptr<Client> client_;
};

ObjectStoreImpl Local() {
  return {"Local", []() -> std::unique_ptr<StoreUnderTest> {
            auto s = std::make_unique<LocalUnderTest>();
            if (s->store() == nullptr) return nullptr;
            return s;
          }};
}

ObjectStoreImpl Remote() {
  return {"Remote", []() -> std::unique_ptr<StoreUnderTest> {
            auto s = std::make_unique<RemoteUnderTest>();
            if (!s->Start()) return nullptr;
            return s;
          }};
}

INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreSuite, ::testing::Values(Local()), ObjectStoreImplName);
INSTANTIATE_TEST_SUITE_P(Remote, ObjectStoreSuite, ::testing::Values(Remote()),
                         ObjectStoreImplName);

}  // namespace
}  // namespace cairn::test
