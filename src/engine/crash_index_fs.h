// A RocksDB Env whose file system is tracked by a CrashModel (io/crash_env.h), so that a
// simulated power loss also hits the key index: RocksDB runs with its WAL off and is made durable
// by flushes, and what it loses between them is exactly what the engine must survive.
//
// Every file RocksDB writes (SST, MANIFEST, CURRENT, OPTIONS, IDENTITY, the empty WAL) goes
// through the model: appends are tracked writes, Sync/Fsync mark them durable, directory fsyncs
// (FSDirectory) make entries durable, renames and deletions are directory operations. The info
// log is discarded (it would be written behind the model's back). File systems calls RocksDB does
// not use with these options (random read-write files, links, reused WAL files) fail with
// NotSupported rather than go untracked.
//
// Pass the result as StoreTestHooks::index_env (engine/store_testing.h). Tests only. Thread
// safety: as CrashModel.
#pragma once

#include <memory>

namespace rocksdb {
class Env;
}

namespace cairn {

class CrashModel;

// REQUIRES: `model` outlives the returned Env and every DB opened with it.
std::unique_ptr<rocksdb::Env> NewCrashIndexEnv(CrashModel* model);

}  // namespace cairn
