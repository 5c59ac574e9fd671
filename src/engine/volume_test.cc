// Volume (engine/volume.h) on an in-memory Env: creation whole or not at all, the header checks
// of Open, re-salting, and the file names.
#include "engine/volume.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "engine/record.h"
#include "io/fault_env.h"
#include "io/mem_env.h"

namespace cairn {
namespace {

constexpr uint64_t kCap = 1u << 20;
constexpr uint64_t kStore = 77;

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.CreateDir("/v").ok()); }
  std::string Bytes(uint64_t offset, size_t n) {
    auto f = env_.OpenFile("/v/" + Volume::FileName(1), Env::OpenMode::kExisting);
    EXPECT_TRUE(f.ok());
    std::string b(n, '?');
    size_t got = 0;
    EXPECT_TRUE((*f)->PRead(offset, n, b.data(), &got).ok());
    b.resize(got);
    return b;
  }
  MemEnv env_;
};

TEST(VolumeName, FileNamesRoundTripAndOthersAreRefused) {
  EXPECT_EQ(Volume::FileName(1), "00000001.vol");
  EXPECT_EQ(Volume::FileName(0xabcdef12), "abcdef12.vol");
  uint32_t id = 0;
  bool tmp = true;
  ASSERT_TRUE(Volume::ParseFileName("0000002a.vol", &id, &tmp));
  EXPECT_EQ(id, 42u);
  EXPECT_FALSE(tmp);
  ASSERT_TRUE(Volume::ParseFileName("0000002a.vol.tmp", &id, &tmp));
  EXPECT_TRUE(tmp);
  for (const char* bad : {"2a.vol", "0000002A.vol", "0000002a.vol.bak", "0000002a.dat", "LOCK"})
    EXPECT_FALSE(Volume::ParseFileName(bad, &id, &tmp)) << bad;
}

TEST_F(VolumeTest, CreateWritesTheWholeVolumeAndRenamesItIntoPlace) {
  for (VolumePreparation prep : {VolumePreparation::kWriteZeros, VolumePreparation::kAllocate}) {
    MemEnv env;
    ASSERT_TRUE(env.CreateDir("/v").ok());
    const uint64_t syncs = env.syncs();
    auto v = Volume::Create(&env, "/v", 1, kCap, kStore, prep);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ((*v)->id(), 1u);
    EXPECT_EQ((*v)->capacity(), kCap);
    EXPECT_EQ((*v)->data_offset(), format::kVolumeHeaderSize);
    EXPECT_NE((*v)->salt(), 0u);
    EXPECT_EQ(*(*v)->file()->Size(), kCap);  // appends never extend it
    EXPECT_FALSE(*(*v)->file()->InHole(kCap - 1));
    EXPECT_TRUE(env.Exists("/v/00000001.vol"));
    EXPECT_FALSE(env.Exists("/v/00000001.vol.tmp"));
    EXPECT_GE(env.syncs(), syncs + 2);  // the file, then the directory
  }
}

TEST_F(VolumeTest, CreateCallsItsTestPointsInOrder) {
  std::string seen;
  std::function<void(const char*)> point = [&](const char* p) { seen += std::string(p) + ";"; };
  ASSERT_TRUE(Volume::Create(&env_, "/v", 1, kCap, kStore, VolumePreparation::kWriteZeros,
                             nullptr, &point)
                  .ok());
  EXPECT_EQ(seen, "volume:create-begin;volume:before-rename;volume:before-dir-sync;");
}

TEST_F(VolumeTest, ACancelledOrFailedCreateLeavesNoFile) {
  std::atomic<bool> cancel{true};
  auto v = Volume::Create(&env_, "/v", 1, kCap, kStore, VolumePreparation::kWriteZeros, &cancel);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("closing"), std::string::npos) << v.status().ToString();
  EXPECT_TRUE(env_.ListDir("/v")->empty());

  FaultEnv faults(&env_);
  faults.Inject(FaultEnv::Op::kSync, ".vol.tmp", 0, 1, Status::IOError("injected EIO"));
  v = Volume::Create(&faults, "/v", 1, kCap, kStore, VolumePreparation::kWriteZeros);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("injected EIO"), std::string::npos);
  EXPECT_TRUE(env_.ListDir("/v")->empty());
}

TEST_F(VolumeTest, OpenChecksTheHeaderAgainstItsIdStoreAndSize) {
  ASSERT_TRUE(Volume::Create(&env_, "/v", 1, kCap, kStore, VolumePreparation::kWriteZeros).ok());
  EXPECT_TRUE(Volume::Open(&env_, "/v", 1, kStore).ok());
  auto other = Volume::Open(&env_, "/v", 1, kStore + 1);
  ASSERT_TRUE(other.status().IsCorruption());
  EXPECT_NE(other.status().message().find("another store"), std::string::npos);
  ASSERT_TRUE(env_.Rename("/v/00000001.vol", "/v/00000002.vol").ok());
  auto renamed = Volume::Open(&env_, "/v", 2, kStore);
  ASSERT_TRUE(renamed.status().IsCorruption());
  EXPECT_NE(renamed.status().message().find("header says volume 1"), std::string::npos);
  ASSERT_TRUE(env_.Rename("/v/00000002.vol", "/v/00000001.vol").ok());
  {
    auto f = env_.OpenFile("/v/00000001.vol", Env::OpenMode::kExisting);
    ASSERT_TRUE((*f)->PWrite(kCap, "x").ok());  // one byte too long
  }
  EXPECT_TRUE(Volume::Open(&env_, "/v", 1, kStore).status().IsCorruption());
  {
    auto f = env_.OpenFile("/v/00000001.vol", Env::OpenMode::kExisting);
    ASSERT_TRUE((*f)->PWrite(8, "\xff").ok());  // a flipped header byte
  }
  EXPECT_TRUE(Volume::Open(&env_, "/v", 1, kStore).status().IsCorruption());
  EXPECT_TRUE(Volume::Open(&env_, "/v", 9, kStore).status().IsNotFound());
}

TEST_F(VolumeTest, ResaltMakesEveryRecordWrittenBeforeItInvalid) {
  auto v = Volume::Create(&env_, "/v", 1, kCap, kStore, VolumePreparation::kWriteZeros);
  ASSERT_TRUE(v.ok());
  RecordHeader h;
  h.sequence = 1;
  h.version = Version{1 << 16, 1};
  std::string rec;
  const uint64_t at = (*v)->data_offset();
  AppendRecord(h, "k", "", "value", (*v)->salt(), at, &rec);
  ASSERT_TRUE((*v)->file()->PWrite(at, rec).ok());
  RecordHeader got;
  std::string_view key, meta, value;
  ASSERT_TRUE(ParseRecord(Bytes(at, rec.size()), (*v)->salt(), at, &got, &key, &meta, &value).ok());
  const uint64_t old_salt = (*v)->salt();
  ASSERT_TRUE((*v)->Resalt().ok());
  EXPECT_NE((*v)->salt(), old_salt);
  EXPECT_FALSE(
      ParseRecord(Bytes(at, rec.size()), (*v)->salt(), at, &got, &key, &meta, &value).ok());
  auto reopened = Volume::Open(&env_, "/v", 1, kStore);  // the new salt is durable in the header
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->salt(), (*v)->salt());
}

}  // namespace
}  // namespace cairn
