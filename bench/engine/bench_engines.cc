#include "bench_engines.h"

#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/version.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "cairn/store.h"

namespace cairn::bench {

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kSync: return "sync";
    case Mode::kInterval: return "interval";
    case Mode::kNone: return "none";
  }
  return "?";
}

bool ParseMode(std::string_view s, Mode* m) {
  if (s == "sync") *m = Mode::kSync;
  else if (s == "interval") *m = Mode::kInterval;
  else if (s == "none") *m = Mode::kNone;
  else return false;
  return true;
}

namespace {

// Calls `fn` every `ms` milliseconds until destroyed. Used for the peers' interval mode.
class Ticker {
 public:
  Ticker(uint32_t ms, std::function<void()> fn) : thread_([this, ms, fn] {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      cv_.wait_for(l, std::chrono::milliseconds(ms));
      if (stop_) break;
      l.unlock();
      fn();
      l.lock();
    }
  }) {}
  ~Ticker() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------- Cairn
class CairnEngine final : public BenchEngine {
 public:
  bool Init(const EngineConfig& c, std::string* err) {
    cfg_ = c;
    StoreOptions o;
    o.volume_capacity = c.cairn_volume_capacity;
    o.durability = c.mode == Mode::kSync       ? Durability::kSync
                   : c.mode == Mode::kInterval ? Durability::kInterval
                                               : Durability::kNone;
    o.sync_interval_ms = c.interval_ms;
    auto s = Store::Open(c.dir, o);
    if (!s.ok()) {
      *err = s.status().ToString();
      return false;
    }
    store_ = std::move(*s);
    return true;
  }
  bool Put(std::string_view k, std::string_view v, std::string* err) override {
    Status s = preload_ ? store_->Put(k, v, WriteOptions{Durability::kNone}) : store_->Put(k, v);
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  bool Get(std::string_view k, std::string* v, std::string* err) override {
    Result<std::string> r = store_->Get(k);
    if (!r.ok()) {
      *err = r.status().ToString();
      return false;
    }
    *v = std::move(*r);
    return true;
  }
  void BeginPreload() override { preload_ = true; }
  bool EndPreload(std::string* err) override {
    preload_ = false;
    Status s = store_->Sync();
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  void WaitSteady() override {
    // The first put of a session takes the first volume and durably clears the clean flag
    // (an index write and flush): a one-time cost, kept out of the measurement. Later volumes
    // are pre-written in the background once the active one is half full; that cost is part
    // of the steady state and is measured.
    (void)store_->Put("bench-warmup-key", "x");
  }
  std::string ExtraJson() override {
    auto st = store_->Stats();
    if (!st.ok()) return "";
    uint64_t sealed = 0;
    for (const auto& v : st->volume_list) sealed += v.state == "sealed";
    return "\"cairn_volumes\":" + std::to_string(st->volumes) +
           ",\"cairn_sealed_volumes\":" + std::to_string(sealed) +
           ",\"cairn_live_bytes\":" + std::to_string(st->live_bytes) +
           ",\"cairn_dead_bytes\":" + std::to_string(st->dead_bytes) +
           ",\"cairn_allocated_bytes\":" + std::to_string(st->allocated_bytes);
  }
  void Abort() override { (void)store_->Close(); }
  std::string Describe() const override {
    return std::string("cairn durability=") + ModeName(cfg_.mode) +
           (cfg_.mode == Mode::kInterval ? " sync_interval_ms=" + std::to_string(cfg_.interval_ms)
                                         : "") +
           " volume_capacity=" + std::to_string(cfg_.cairn_volume_capacity >> 20) + "MiB";
  }

 private:
  EngineConfig cfg_;
  std::unique_ptr<Store> store_;
  std::atomic<bool> preload_{false};
};

// ---------------------------------------------------------------- RocksDB with BlobDB
class RocksEngine final : public BenchEngine {
 public:
  ~RocksEngine() override {
    ticker_.reset();
    if (db_) (void)db_->Close();
  }
  bool Init(const EngineConfig& c, std::string* err) {
    cfg_ = c;
    rocksdb::Options o;
    o.create_if_missing = true;
    // Integrated BlobDB: every value (min_blob_size = 0) goes to blob files at flush, the
    // LSM keeps only keys and blob references. This is RocksDB's answer to large values.
    o.enable_blob_files = true;
    o.min_blob_size = 0;
    o.max_background_jobs = 2;  // the machine has 2 cores
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, c.dir, &db);
    if (!s.ok()) {
      *err = s.ToString();
      return false;
    }
    db_.reset(db);
    wo_.sync = c.mode == Mode::kSync;
    if (c.mode == Mode::kInterval)
      ticker_ = std::make_unique<Ticker>(c.interval_ms, [this] { (void)db_->SyncWAL(); });
    return true;
  }
  bool Put(std::string_view k, std::string_view v, std::string* err) override {
    rocksdb::Status s = db_->Put(preload_ ? nosync_ : wo_, rocksdb::Slice(k.data(), k.size()),
                                 rocksdb::Slice(v.data(), v.size()));
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  bool Get(std::string_view k, std::string* v, std::string* err) override {
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(k.data(), k.size()), v);
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  void BeginPreload() override { preload_ = true; }
  bool EndPreload(std::string* err) override {
    preload_ = false;
    rocksdb::Status s = db_->Flush(rocksdb::FlushOptions());
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  std::string Describe() const override {
    std::string d = "rocksdb-" + rocksdb::GetRocksVersionAsString() +
                    " enable_blob_files=1 min_blob_size=0 WAL=on";
    if (cfg_.mode == Mode::kSync) d += " sync=true";
    if (cfg_.mode == Mode::kInterval)
      d += " sync=false SyncWAL_every_ms=" + std::to_string(cfg_.interval_ms);
    if (cfg_.mode == Mode::kNone) d += " sync=false";
    return d;
  }

 private:
  EngineConfig cfg_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions wo_, nosync_;
  std::unique_ptr<Ticker> ticker_;
  std::atomic<bool> preload_{false};
};

// ---------------------------------------------------------------- LMDB
thread_local MDB_txn* tls_read_txn = nullptr;

class LmdbEngine final : public BenchEngine {
 public:
  ~LmdbEngine() override {
    ticker_.reset();
    if (env_ != nullptr) mdb_env_close(env_);
  }
  bool Init(const EngineConfig& c, std::string* err) {
    cfg_ = c;
    flags_ = c.mode == Mode::kSync       ? 0u
             : c.mode == Mode::kInterval ? unsigned{MDB_NOSYNC}
                                         : unsigned{MDB_NOSYNC | MDB_NOMETASYNC};
    int rc = mdb_env_create(&env_);
    if (rc == 0) rc = mdb_env_set_mapsize(env_, c.lmdb_map_bytes);
    if (rc == 0) rc = mdb_env_set_maxreaders(env_, 512);
    if (rc == 0) rc = mdb_env_open(env_, c.dir.c_str(), flags_, 0644);
    MDB_txn* txn = nullptr;
    if (rc == 0) rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
    if (rc == 0) rc = mdb_txn_commit(txn);
    if (rc != 0) {
      *err = std::string("lmdb open: ") + mdb_strerror(rc);
      return false;
    }
    if (c.mode == Mode::kInterval)
      ticker_ = std::make_unique<Ticker>(c.interval_ms, [this] { (void)mdb_env_sync(env_, 1); });
    return true;
  }
  bool Put(std::string_view k, std::string_view v, std::string* err) override {
    // One write transaction per put: LMDB admits one writer at a time (its real behaviour).
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == 0) {
      MDB_val key{k.size(), const_cast<char*>(k.data())};
      MDB_val val{v.size(), const_cast<char*>(v.data())};
      rc = mdb_put(txn, dbi_, &key, &val, 0);
      if (rc == 0) {
        rc = mdb_txn_commit(txn);
      } else {
        mdb_txn_abort(txn);
      }
    }
    if (rc != 0) *err = std::string("lmdb put: ") + mdb_strerror(rc);
    return rc == 0;
  }
  bool Get(std::string_view k, std::string* v, std::string* err) override {
    int rc = tls_read_txn == nullptr ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &tls_read_txn)
                                     : mdb_txn_renew(tls_read_txn);
    if (rc == 0) {
      MDB_val key{k.size(), const_cast<char*>(k.data())};
      MDB_val val;
      rc = mdb_get(tls_read_txn, dbi_, &key, &val);
      if (rc == 0) v->assign(static_cast<const char*>(val.mv_data), val.mv_size);
      mdb_txn_reset(tls_read_txn);
    }
    if (rc != 0) *err = std::string("lmdb get: ") + mdb_strerror(rc);
    return rc == 0;
  }
  void ThreadDone() override {
    if (tls_read_txn != nullptr) mdb_txn_abort(tls_read_txn);
    tls_read_txn = nullptr;
  }
  void BeginPreload() override { (void)mdb_env_set_flags(env_, MDB_NOSYNC, 1); }
  bool EndPreload(std::string* err) override {
    int rc = mdb_env_sync(env_, 1);
    if (rc == 0 && !(flags_ & MDB_NOSYNC)) rc = mdb_env_set_flags(env_, MDB_NOSYNC, 0);
    if (rc != 0) *err = std::string("lmdb sync: ") + mdb_strerror(rc);
    return rc == 0;
  }
  std::string Describe() const override {
    std::string d = "lmdb-" + std::to_string(MDB_VERSION_MAJOR) + "." +
                    std::to_string(MDB_VERSION_MINOR) + "." + std::to_string(MDB_VERSION_PATCH) +
                    " one txn per put";
    if (cfg_.mode == Mode::kSync) d += " flags=default(sync)";
    if (cfg_.mode == Mode::kInterval)
      d += " flags=MDB_NOSYNC mdb_env_sync_every_ms=" + std::to_string(cfg_.interval_ms);
    if (cfg_.mode == Mode::kNone) d += " flags=MDB_NOSYNC|MDB_NOMETASYNC";
    return d;
  }

 private:
  EngineConfig cfg_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  unsigned flags_ = 0;
  std::unique_ptr<Ticker> ticker_;
};

}  // namespace

std::unique_ptr<BenchEngine> BenchEngine::Open(const std::string& name, const EngineConfig& cfg,
                                               std::string* err) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.dir, ec);
  if (ec) {
    *err = "cannot create " + cfg.dir + ": " + ec.message();
    return nullptr;
  }
  if (name == "cairn") {
    auto e = std::make_unique<CairnEngine>();
    if (e->Init(cfg, err)) return e;
  } else if (name == "rocksdb") {
    auto e = std::make_unique<RocksEngine>();
    if (e->Init(cfg, err)) return e;
  } else if (name == "lmdb") {
    auto e = std::make_unique<LmdbEngine>();
    if (e->Init(cfg, err)) return e;
  } else {
    *err = "unknown engine " + name + " (cairn, rocksdb or lmdb)";
  }
  return nullptr;
}

}  // namespace cairn::bench
