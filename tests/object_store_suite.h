// The ObjectStore suite (issue 15): one set of tests, written once, that every implementation of
// cairn/object_store.h must pass alike: the same results, the same error codes, the same limits.
// tests/object_store_test.cc runs it against LocalObjectStore and RemoteObjectStore (a real
// cairnd on 127.0.0.1, authenticated); the cluster will be one more instantiation:
//
//   ObjectStoreImpl ClusterImpl() { return {"Cluster", [] { return StartClusterForTest(); }}; }
//   INSTANTIATE_TEST_SUITE_P(Cluster, ObjectStoreSuite, ::testing::Values(ClusterImpl()),
//                            ObjectStoreImplName);
//
// Each test gets a fresh, empty store from the implementation's `make`.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "cairn/object_store.h"

namespace cairn::test {

// A store under test and whatever keeps it running (a directory, a server process).
class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual ObjectStore* store() = 0;
};

struct ObjectStoreImpl {
  std::string name;
  // A fresh, empty store; nullptr (and a test failure) if it cannot be made.
  std::function<std::unique_ptr<StoreUnderTest>()> make;
};

std::string ObjectStoreImplName(const ::testing::TestParamInfo<ObjectStoreImpl>& info);

class ObjectStoreSuite : public ::testing::TestWithParam<ObjectStoreImpl> {
 protected:
  void SetUp() override;
  ObjectStore& s() { return *under_->store(); }

  std::unique_ptr<StoreUnderTest> under_;
};

}  // namespace cairn::test
