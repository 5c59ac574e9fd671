// The ObjectStore suite (object_store_suite.h) run against every implementation there is:
// LocalObjectStore on a store directory, RemoteObjectStore (the client library) against a
// real cairnd on 127.0.0.1, authenticated with a key, and a ForwardingObjectStore (the base
// of the store wrappers: a fence, a digest) over a local store.
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

// The least a wrapper defines: its three required writes, passed on.
class PassWrites final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;
  Result<WriteResult> Put(std::string_view k, std::string_view v, const WriteOptions& wo) override {
    return inner_->Put(k, v, wo);
  }
  Result<WriteResult> PutStream(std::string_view k, ValueSource* src, const WriteOptions& wo) override {
    return inner_->PutStream(k, src, wo);
  }
  Result<WriteResult> Delete(std::string_view k, const WriteOptions& wo) override {
    return inner_->Delete(k, wo);
  }
};

class ForwardingUnderTest final : public StoreUnderTest {
 public:
  ObjectStore* store() override { return local_.store() == nullptr ? nullptr : &wrapper_; }

 private:
  LocalUnderTest local_;
  PassWrites wrapper_{local_.store()};
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

ObjectStoreImpl Forwarding() {
  return {"Forwarding", []() -> std::unique_ptr<StoreUnderTest> {
            auto s = std::make_unique<ForwardingUnderTest>();
            if (s->store() == nullptr) return nullptr;
            return s;
          }};
}

INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreSuite, ::testing::Values(Local()), ObjectStoreImplName);
INSTANTIATE_TEST_SUITE_P(Remote, ObjectStoreSuite, ::testing::Values(Remote()),
                         ObjectStoreImplName);
INSTANTIATE_TEST_SUITE_P(Forwarding, ObjectStoreSuite, ::testing::Values(Forwarding()),
                         ObjectStoreImplName);

// A wrapper that must see every write cannot miss one by forgetting an override: the optional
// writes it does not define are refused, not passed around it, while reads (Pin included)
// reach the inner store.
TEST(ForwardingObjectStore, WritesAWrapperDoesNotDefineAreRefusedNotPassedAround) {
  LocalUnderTest local;
  ASSERT_NE(local.store(), nullptr);
  PassWrites wrapper(local.store());
  ObjectStore& w = wrapper;  // called as its users call it
  ASSERT_TRUE(w.Put("part1", "ab").ok());
  ASSERT_TRUE(w.Put("part2", "cd").ok());
  EXPECT_TRUE(w.Compose("whole", {"part1", "part2"}, WriteOptions()).status().IsNotSupported());
  EXPECT_TRUE(w.PutAsync("async", "v", WriteOptions(), [](Result<WriteResult>) {
                 ADD_FAILURE() << "a refused PutAsync must not call back";
               }).IsBusy());
  w.StartCommit();
  EXPECT_TRUE(local.store()->Head("whole").status().IsNotFound());
  EXPECT_TRUE(local.store()->Head("async").status().IsNotFound());
  EXPECT_TRUE(local.store()->Head("part1").ok());
  // Reads are the inner store's, the capabilities too.
  Result<GetResult> g = w.Get("part2");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->data, "cd");
  Result<std::unique_ptr<PinnedObject>> pin = w.Pin("part1");
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ((*pin)->info().size, 2u);
  ASSERT_TRUE(w.Delete("part1").ok());
  Result<ObjectInfo> hv = w.HeadVersion("part1");
  ASSERT_TRUE(hv.ok()) << hv.status().ToString();
  EXPECT_TRUE(hv->deleted);
  Result<ListResult> lv = w.ListVersions("", 10);
  ASSERT_TRUE(lv.ok()) << lv.status().ToString();
  EXPECT_EQ(lv->objects.size(), 2u);
  Result<LogBatch> log = w.IterateLog(LogPosition(), 10);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->records.size(), 3u);
}

}  // namespace
}  // namespace cairn::test
