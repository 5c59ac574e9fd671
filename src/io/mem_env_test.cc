// MemEnv: the POSIX semantics the engine relies on, in memory (io/mem_env.h).
#include "io/mem_env.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace cairn {
namespace {

std::string Read(File* f, uint64_t offset, size_t n) {
  std::string buf(n, '?');
  size_t got = 0;
  EXPECT_TRUE(f->PRead(offset, n, buf.data(), &got).ok());
  buf.resize(got);
  return buf;
}

TEST(MemEnv, FilesNeedTheirDirectoryAndOpenModesAreHonoured) {
  MemEnv env;
  EXPECT_TRUE(env.OpenFile("/d/f", Env::OpenMode::kCreate).status().IsNotFound());
  ASSERT_TRUE(env.CreateDir("/d").ok());
  ASSERT_TRUE(env.CreateDir("/d").ok());  // already there: fine
  EXPECT_TRUE(env.CreateDir("/x/y").IsNotFound());
  EXPECT_TRUE(env.OpenFile("/d/f", Env::OpenMode::kExisting).status().IsNotFound());
  auto f = env.OpenFile("/d/f", Env::OpenMode::kCreateNew);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(env.OpenFile("/d/f", Env::OpenMode::kCreateNew).ok());
  ASSERT_TRUE((*f)->PWrite(0, "hello").ok());
  auto g = env.OpenFile("/d/f", Env::OpenMode::kExisting);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(Read(g->get(), 0, 100), "hello");
  auto h = env.OpenFile("/d/f", Env::OpenMode::kCreate);  // truncates
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*(*g)->Size(), 0u);
  EXPECT_EQ((*f)->fd(), -1);
  EXPECT_EQ((*f)->path(), "/d/f");
  EXPECT_FALSE(env.OpenFile("d/f", Env::OpenMode::kCreate).ok());   // relative
  EXPECT_FALSE(env.OpenFile("/d//f", Env::OpenMode::kCreate).ok());  // two spellings
}

TEST(MemEnv, WritesPastTheEndExtendWithZeros) {
  MemEnv env;
  auto f = env.OpenFile("/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->PWrite(10, "ab").ok());
  EXPECT_EQ(*(*f)->Size(), 12u);
  EXPECT_EQ(Read(f->get(), 0, 12), std::string(10, '\0') + "ab");
  EXPECT_EQ(Read(f->get(), 11, 10), "b");  // short read only at the end
  EXPECT_EQ(Read(f->get(), 50, 10), "");
}

TEST(MemEnv, PunchedBlocksAreHolesThatReadAsZerosAndAreNotAllocated) {
  MemEnv env;
  auto f = env.OpenFile("/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->PWrite(0, std::string(4 * 4096, 'x')).ok());
  EXPECT_EQ(*(*f)->AllocatedBytes(), 4u * 4096);
  // From the middle of block 0 to the middle of block 3: blocks 1 and 2 are released, the
  // partial ends are zeroed and stay allocated.
  ASSERT_TRUE((*f)->PunchHole(2048, 3 * 4096).ok());
  EXPECT_EQ(*(*f)->Size(), 4u * 4096);  // KEEP_SIZE
  EXPECT_EQ(*(*f)->AllocatedBytes(), 2u * 4096);
  EXPECT_EQ(Read(f->get(), 2048, 3 * 4096), std::string(3 * 4096, '\0'));
  EXPECT_EQ(Read(f->get(), 0, 2048), std::string(2048, 'x'));
  EXPECT_FALSE(*(*f)->InHole(0));
  EXPECT_TRUE(*(*f)->InHole(4096));
  EXPECT_TRUE(*(*f)->InHole(2 * 4096 + 100));
  EXPECT_FALSE(*(*f)->InHole(3 * 4096));
  // Writing into a hole allocates it again.
  ASSERT_TRUE((*f)->PWrite(4096 + 10, "y").ok());
  EXPECT_FALSE(*(*f)->InHole(4096));
  EXPECT_EQ(*(*f)->AllocatedBytes(), 3u * 4096);
  EXPECT_EQ(*env.AllocatedBytesUnder("/"), 3u * 4096);
}

TEST(MemEnv, AllocatedSpaceReadsZerosAndIsNotAHole) {
  MemEnv env;
  auto f = env.OpenFile("/f", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Allocate(0, 3 * 4096).ok());
  EXPECT_EQ(*(*f)->Size(), 3u * 4096);
  EXPECT_EQ(Read(f->get(), 0, 3 * 4096), std::string(3 * 4096, '\0'));
  EXPECT_FALSE(*(*f)->InHole(4096));
}

TEST(MemEnv, RenameAndRemoveChangeNamesNotOpenFiles) {
  MemEnv env;
  ASSERT_TRUE(env.CreateDir("/d").ok());
  auto f = env.OpenFile("/d/a.tmp", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->PWrite(0, "new").ok());
  auto old = env.OpenFile("/d/a", Env::OpenMode::kCreate);
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE((*old)->PWrite(0, "old").ok());
  ASSERT_TRUE(env.Rename("/d/a.tmp", "/d/a").ok());  // replaces the target
  EXPECT_FALSE(env.Exists("/d/a.tmp"));
  auto now = env.OpenFile("/d/a", Env::OpenMode::kExisting);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(Read(now->get(), 0, 10), "new");
  EXPECT_EQ(Read(old->get(), 0, 10), "old");  // still open: its own contents
  ASSERT_TRUE(env.RemoveFile("/d/a").ok());
  EXPECT_FALSE(env.Exists("/d/a"));
  EXPECT_EQ(Read(now->get(), 0, 10), "new");
  EXPECT_TRUE(env.RemoveFile("/d/a").IsNotFound());
  EXPECT_TRUE(env.Rename("/d/nothing", "/d/b").IsNotFound());
}

TEST(MemEnv, ListDirNamesOnlyDirectChildren) {
  MemEnv env;
  ASSERT_TRUE(env.CreateDir("/s").ok());
  ASSERT_TRUE(env.CreateDir("/s/volumes").ok());
  ASSERT_TRUE(env.OpenFile("/s/CAIRN", Env::OpenMode::kCreate).ok());
  ASSERT_TRUE(env.OpenFile("/s/volumes/00000001.vol", Env::OpenMode::kCreate).ok());
  auto names = env.ListDir("/s");
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"CAIRN", "volumes"}));
  EXPECT_TRUE(env.ListDir("/none").status().IsNotFound());
  EXPECT_TRUE(env.SyncDir("/s").ok());
  EXPECT_TRUE(env.SyncDir("/none").IsNotFound());
}

TEST(MemEnv, ALockIsExclusiveUntilReleased) {
  MemEnv env;
  ASSERT_TRUE(env.CreateDir("/s").ok());
  auto a = env.LockFile("/s/LOCK");
  ASSERT_TRUE(a.ok());
  auto b = env.LockFile("/s/LOCK");
  ASSERT_TRUE(b.status().IsBusy()) << b.status().ToString();
  EXPECT_NE(b.status().message().find("locked by process"), std::string::npos);
  a->reset();
  EXPECT_TRUE(env.LockFile("/s/LOCK").ok());
}

}  // namespace
}  // namespace cairn
