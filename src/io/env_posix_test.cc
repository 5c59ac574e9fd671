#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cairn/env.h"

namespace cairn {

class EnvPosixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-env-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  Env* env_ = Env::Default();
  std::string dir_;
};

TEST_F(EnvPosixTest, WriteReadSync) {
  auto f = env_->OpenFile(dir_ + "/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->PWrite(10, "hello").ok());
  ASSERT_TRUE((*f)->DataSync().ok());
  char buf[32];
  size_t got = 0;
  ASSERT_TRUE((*f)->PRead(10, sizeof(buf), buf, &got).ok());
  EXPECT_EQ(5u, got);  // short read at end of file
  EXPECT_EQ("hello", std::string(buf, got));
  EXPECT_EQ(15u, *(*f)->Size());
}

// Issue 16: a gathered write lands as one write of the pieces' concatenation: empty pieces are
// skipped, more pieces than one pwritev takes fall back to one concatenated write.
TEST_F(EnvPosixTest, Issue16GatheredWriteEqualsTheConcatenation) {
  auto f = env_->OpenFile(dir_ + "/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const std::string big(3 << 20, 'v');
  ASSERT_TRUE((*f)->PWriteV(4, {"head", "", big, std::string_view("\0\0\0", 3)}).ok());
  std::vector<std::string> many;
  for (int i = 0; i < 40; i++) many.push_back(std::to_string(i) + ",");
  std::vector<std::string_view> views(many.begin(), many.end());
  const uint64_t at = 4 + 4 + big.size() + 3;
  ASSERT_TRUE((*f)->PWriteV(at, views).ok());
  std::string want = std::string(4, '\0') + "head" + big + std::string(3, '\0');
  for (const std::string& m : many) want += m;
  std::string got(want.size() + 16, 'x');
  size_t n = 0;
  ASSERT_TRUE((*f)->PRead(0, got.size(), got.data(), &n).ok());
  got.resize(n);
  EXPECT_TRUE(got == want);
}

// Issue 3: allocated-but-unwritten space (volumes prepared with kAllocate) reads as zeros and
// is not a hole; only PunchHole makes holes. Recovery tells punched records by their holes.
TEST_F(EnvPosixTest, AllocatedSpaceReadsZerosAndIsNotAHole) {
  auto f = env_->OpenFile(dir_ + "/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  Status a = (*f)->Allocate(0, 1 << 20);
  if (a.IsNotSupported()) GTEST_SKIP() << a.ToString();
  ASSERT_TRUE(a.ok()) << a.ToString();
  ASSERT_EQ(uint64_t{1} << 20, *(*f)->Size());
  EXPECT_GE(*(*f)->AllocatedBytes(), uint64_t{1} << 20);
  char buf[4096];
  size_t got = 0;
  ASSERT_TRUE((*f)->PRead(8192, sizeof(buf), buf, &got).ok());
  ASSERT_EQ(sizeof(buf), got);
  EXPECT_EQ(std::string(sizeof(buf), '\0'), std::string(buf, got));
  EXPECT_FALSE(*(*f)->InHole(8192)) << "unwritten is not a hole";
  ASSERT_TRUE((*f)->PunchHole(65536, 65536).ok());
  EXPECT_TRUE(*(*f)->InHole(65536));
  EXPECT_TRUE(*(*f)->InHole(65536 + 4096));
  EXPECT_FALSE(*(*f)->InHole(131072));
  ASSERT_TRUE((*f)->PWrite(200000, "data").ok());
  EXPECT_FALSE(*(*f)->InHole(200000));
}

TEST_F(EnvPosixTest, CreateNewRefusesExisting) {
  ASSERT_TRUE(env_->OpenFile(dir_ + "/f", Env::OpenMode::kCreate).ok());
  EXPECT_FALSE(env_->OpenFile(dir_ + "/f", Env::OpenMode::kCreateNew).ok());
  EXPECT_TRUE(env_->OpenFile(dir_ + "/missing", Env::OpenMode::kExisting).status().IsNotFound());
}

TEST_F(EnvPosixTest, LockNamesTheHolderPid) {
  auto lock = env_->LockFile(dir_ + "/LOCK");
  ASSERT_TRUE(lock.ok());
  // flock is per open file description, so a second process sees the lock; fork one.
  pid_t child = ::fork();
  if (child == 0) {
    auto again = Env::Default()->LockFile(dir_ + "/LOCK");
    bool ok = !again.ok() && again.status().IsBusy() &&
              again.status().message().find(std::to_string(::getppid())) != std::string::npos;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(EnvPosixTest, ListRenameRemove) {
  ASSERT_TRUE(env_->OpenFile(dir_ + "/a", Env::OpenMode::kCreate).ok());
  ASSERT_TRUE(env_->Rename(dir_ + "/a", dir_ + "/b").ok());
  ASSERT_TRUE(env_->SyncDir(dir_).ok());
  auto names = env_->ListDir(dir_);
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(1u, names->size());
  EXPECT_EQ("b", (*names)[0]);
  EXPECT_TRUE(env_->RemoveFile(dir_ + "/b").ok());
  EXPECT_FALSE(env_->Exists(dir_ + "/b"));
}

}  // namespace cairn
