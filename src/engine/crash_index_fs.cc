#include "engine/crash_index_fs.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/system_clock.h>

#include "io/crash_env.h"

namespace cairn {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

IOStatus ToRocks(const Status& s) {
  if (s.ok()) return IOStatus::OK();
  if (s.IsNotFound()) return IOStatus::NotFound(s.ToString());
  if (s.IsNotSupported()) return IOStatus::NotSupported(s.ToString());
  return IOStatus::IOError(s.ToString());
}

Status FromRocks(const IOStatus& s) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(s.ToString());
  return Status::IOError(s.ToString());
}

class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

class TrackedWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedWritableFile(CrashModel* m, CrashModel::FileId id, uint64_t size,
                      std::unique_ptr<rocksdb::FSWritableFile> t)
      : FSWritableFileOwnerWrapper(std::move(t)), m_(m), id_(id), size_(size) {}

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus r;
    Status s = m_->Write(id_, size_, std::string_view(data.data(), data.size()), [&] {
      r = target()->Append(data, o, dbg);
      return FromRocks(r);
    });
    if (s.ok()) size_ += data.size();
    return ToRocks(s);
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& o,
                  const rocksdb::DataVerificationInfo&, IODebugContext* dbg) override {
    return Append(data, o, dbg);
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& o,
                            IODebugContext* dbg) override {
    Status s = m_->Write(id_, offset, std::string_view(data.data(), data.size()), [&] {
      return FromRocks(target()->PositionedAppend(data, offset, o, dbg));
    });
    if (s.ok()) size_ = std::max<uint64_t>(size_, offset + data.size());
    return ToRocks(s);
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo&, IODebugContext* dbg) override {
    return PositionedAppend(data, offset, o, dbg);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    Status s = m_->Truncate(id_, size, [&] { return FromRocks(target()->Truncate(size, o, dbg)); });
    if (s.ok()) size_ = size;
    return ToRocks(s);
  }
  // Durability is the model's business: no real fsync.
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus f = target()->Flush(o, dbg);
    if (!f.ok()) return f;
    return ToRocks(m_->Sync(id_));
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override { return Sync(o, dbg); }
  IOStatus RangeSync(uint64_t, uint64_t, const IOOptions&, IODebugContext*) override {
    return ToRocks(m_->CheckRead());  // sync_file_range promises nothing after a power loss
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* dbg) override {
    if (m_->frozen()) return ToRocks(m_->CheckRead());
    return target()->Flush(o, dbg);
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& o,
                    IODebugContext* dbg) override {
    if (m_->frozen()) return ToRocks(m_->CheckRead());
    return target()->Allocate(offset, len, o, dbg);  // KEEP_SIZE: nothing visible changes
  }
  bool IsSyncThreadSafe() const override { return true; }

 private:
  CrashModel* const m_;
  const CrashModel::FileId id_;
  uint64_t size_;
};

class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(CrashModel* m, std::string path, std::unique_ptr<rocksdb::FSDirectory> t)
      : FSDirectoryWrapper(std::move(t)), m_(m), path_(std::move(path)) {}
  IOStatus Fsync(const IOOptions&, IODebugContext*) override {
    return ToRocks(m_->SyncDir(path_));
  }
  IOStatus FsyncWithDirOptions(const IOOptions&, IODebugContext*,
                               const rocksdb::DirFsyncOptions&) override {
    return ToRocks(m_->SyncDir(path_));
  }

 private:
  CrashModel* const m_;
  const std::string path_;
};

class CrashIndexFs : public rocksdb::FileSystemWrapper {
 public:
  explicit CrashIndexFs(CrashModel* m)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), m_(m) {}
  const char* Name() const override { return "CairnCrashIndexFs"; }

  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& fo,
                           std::unique_ptr<rocksdb::FSWritableFile>* r,
                           IODebugContext* dbg) override {
    return OpenWritable(f, fo, r, dbg, /*truncate=*/true);
  }
  IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& fo,
                              std::unique_ptr<rocksdb::FSWritableFile>* r,
                              IODebugContext* dbg) override {
    return OpenWritable(f, fo, r, dbg, /*truncate=*/false);
  }
  IOStatus ReuseWritableFile(const std::string&, const std::string&, const rocksdb::FileOptions&,
                             std::unique_ptr<rocksdb::FSWritableFile>*,
                             IODebugContext*) override {
    return IOStatus::NotSupported("crash index fs: reused WAL files");
  }
  IOStatus NewRandomRWFile(const std::string&, const rocksdb::FileOptions&,
                           std::unique_ptr<rocksdb::FSRandomRWFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("crash index fs: random read-write files");
  }
  IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& fo,
                             std::unique_ptr<rocksdb::FSSequentialFile>* r,
                             IODebugContext* dbg) override {
    if (m_->frozen()) return ToRocks(m_->CheckRead());
    return target()->NewSequentialFile(f, fo, r, dbg);
  }
  IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& fo,
                               std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                               IODebugContext* dbg) override {
    if (m_->frozen()) return ToRocks(m_->CheckRead());
    return target()->NewRandomAccessFile(f, fo, r, dbg);
  }
  IOStatus NewDirectory(const std::string& name, const IOOptions& o,
                        std::unique_ptr<rocksdb::FSDirectory>* r, IODebugContext* dbg) override {
    if (m_->frozen()) return ToRocks(m_->CheckRead());
    std::unique_ptr<rocksdb::FSDirectory> d;
    IOStatus s = target()->NewDirectory(name, o, &d, dbg);
    if (!s.ok()) return s;
    r->reset(new TrackedDirectory(m_, Trim(name), std::move(d)));
    return s;
  }
  IOStatus DeleteFile(const std::string& f, const IOOptions&, IODebugContext*) override {
    return ToRocks(m_->Remove(f));
  }
  IOStatus RenameFile(const std::string& s, const std::string& t, const IOOptions&,
                      IODebugContext*) override {
    return ToRocks(m_->Rename(s, t));
  }
  IOStatus LinkFile(const std::string&, const std::string&, const IOOptions&,
                    IODebugContext*) override {
    return IOStatus::NotSupported("crash index fs: hard links");
  }
  IOStatus CreateDir(const std::string& d, const IOOptions&, IODebugContext*) override {
    return ToRocks(m_->CreateDir(Trim(d)));
  }
  IOStatus CreateDirIfMissing(const std::string& d, const IOOptions&, IODebugContext*) override {
    return ToRocks(m_->CreateDir(Trim(d)));
  }
  IOStatus Truncate(const std::string& f, size_t size, const IOOptions& o,
                    IODebugContext* dbg) override {
    Result<CrashModel::FileId> id = m_->Open(f, false, false, [] { return Status::OK(); });
    if (!id.ok()) return ToRocks(id.status());
    return ToRocks(m_->Truncate(*id, size, [&] {
      return FromRocks(target()->Truncate(f, size, o, dbg));
    }));
  }
  IOStatus LockFile(const std::string& f, const IOOptions& o, rocksdb::FileLock** l,
                    IODebugContext* dbg) override {
    return ToRocks(m_->Open(f, /*create=*/true, /*truncate=*/false, [&] {
                        return FromRocks(target()->LockFile(f, o, l, dbg));
                      }).status());
  }
  IOStatus NewLogger(const std::string&, const IOOptions&, std::shared_ptr<rocksdb::Logger>* r,
                     IODebugContext*) override {
    *r = std::make_shared<NullLogger>();
    return IOStatus::OK();
  }

 private:
  static std::string Trim(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }
  IOStatus OpenWritable(const std::string& f, const rocksdb::FileOptions& fo,
                        std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg,
                        bool truncate) {
    std::unique_ptr<rocksdb::FSWritableFile> base;
    Result<CrashModel::FileId> id = m_->Open(f, /*create=*/true, truncate, [&] {
      return FromRocks(truncate ? target()->NewWritableFile(f, fo, &base, dbg)
                                : target()->ReopenWritableFile(f, fo, &base, dbg));
    });
    if (!id.ok()) return ToRocks(id.status());
    r->reset(new TrackedWritableFile(m_, *id, m_->Size(*id), std::move(base)));
    return IOStatus::OK();
  }

  CrashModel* const m_;
};

// RocksDB sleeps a second after a failed background flush before it reports back; once the
// model is frozen every flush fails, and those seconds would dominate a crash test's run time.
class FrozenFastClock : public rocksdb::SystemClockWrapper {
 public:
  explicit FrozenFastClock(CrashModel* m)
      : SystemClockWrapper(rocksdb::SystemClock::Default()), m_(m) {}
  const char* Name() const override { return "CairnFrozenFastClock"; }
  void SleepForMicroseconds(int micros) override {
    if (m_->frozen()) micros = std::min(micros, 1000);
    target_->SleepForMicroseconds(micros);
  }

 private:
  CrashModel* const m_;
};

class CrashIndexEnv : public rocksdb::EnvWrapper {
 public:
  CrashIndexEnv(CrashModel* m, std::shared_ptr<rocksdb::FileSystem> fs)
      : EnvWrapper(rocksdb::NewCompositeEnv(fs)), m_(m) {
    file_system_ = std::move(fs);
    system_clock_ = std::make_shared<FrozenFastClock>(m);
  }
  const char* Name() const override { return "CairnCrashIndexEnv"; }
  void SleepForMicroseconds(int micros) override {
    if (m_->frozen()) micros = std::min(micros, 1000);
    EnvWrapper::SleepForMicroseconds(micros);
  }

 private:
  CrashModel* const m_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewCrashIndexEnv(CrashModel* model) {
  return std::make_unique<CrashIndexEnv>(model, std::make_shared<CrashIndexFs>(model));
}

}  // namespace cairn
