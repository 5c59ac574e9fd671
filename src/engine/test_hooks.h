// StoreTestHooks: what a test may inject into a store, kept out of the public StoreOptions
// (issue 15, STYLE.md habit 25). Production code opens stores with Store::Open, which has none;
// tests pass hooks through OpenStoreForTesting (engine/store_testing.h, a testing library).
#pragma once

#include <functional>

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace cairn {

struct StoreTestHooks {
  // The RocksDB Env the key index uses (nullptr: RocksDB's default). The power-loss test passes
  // one whose files a CrashModel tracks (engine/crash_index_fs.h), so a simulated crash drops
  // the index's unsynced data too; unit tests pass rocksdb::NewMemEnv's, to stay off the disk.
  rocksdb::Env* index_env = nullptr;

  // Called at named points of the group commit, the index flush, volume creation and
  // reclamation ("commit:after-sync", "compact:mid-copy"...; docs/reliability.md lists them),
  // so a crash test can crash exactly there. It may run on any engine thread.
  std::function<void(const char* point)> test_point;
};

}  // namespace cairn
