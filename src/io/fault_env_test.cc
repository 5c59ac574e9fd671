#include "io/fault_env.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace cairn {

TEST(FaultEnv, InjectsAfterSkipForCount) {
  char tmpl[] = "/tmp/cairn-fenv-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  FaultEnv env(Env::Default());
  auto f = env.OpenFile(dir + "/vol", Env::OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  env.Inject(FaultEnv::Op::kSync, "vol", 1, 2, Status::IOError("EIO"));
  EXPECT_TRUE((*f)->DataSync().ok());
  EXPECT_TRUE((*f)->DataSync().IsIOError());
  EXPECT_TRUE((*f)->DataSync().IsIOError());
  EXPECT_TRUE((*f)->DataSync().ok());
  EXPECT_EQ(2u, env.injected(FaultEnv::Op::kSync));

  env.Inject(FaultEnv::Op::kWrite, "other", 0, FaultEnv::kForever, Status::NoSpace("ENOSPC"));
  EXPECT_TRUE((*f)->PWrite(0, "x").ok());  // path does not match
  env.Inject(FaultEnv::Op::kWrite, "vol", 0, 1, Status::NoSpace("ENOSPC"));
  EXPECT_TRUE((*f)->PWrite(0, "x").IsNoSpace());
  // A gathered write is a write (issue 16: large records use it).
  env.Inject(FaultEnv::Op::kWrite, "vol", 0, 1, Status::NoSpace("ENOSPC"));
  EXPECT_TRUE((*f)->PWriteV(0, {"x", "y"}).IsNoSpace());
  int hooked = 0;
  env.SetHook(FaultEnv::Op::kWrite, [&](const std::string&) { hooked++; });
  EXPECT_TRUE((*f)->PWrite(0, "x").ok());
  EXPECT_EQ(1, hooked);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace cairn
