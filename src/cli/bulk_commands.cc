// import and export: many files in, many objects out, in disk order (issue 3).
//
// The rules (ordering, concurrency, what "finished" means for resume, what an interruption or a
// crash can cost) are in docs/design.md, "Bulk import and export". In short:
//   import: walk DIR, skip files already stored (same size, object not older than the file),
//           sort the rest by the disk position of their first extent, read them (O_DIRECT) and
//           Put them on --jobs threads with durability none, Store::Sync every
//           kCheckpointBytes and at the end; volumes it creates are allocated, not zeroed.
//   export: list the objects in volume order (Store::IteratePhysical), skip files already
//           written (same size, mtime equal to the object's), write the rest on --jobs threads
//           through a temporary name: write, check the CRC-32C, set the mtime, fdatasync,
//           rename.
// A file or object that fails is reported by name and skipped; the command goes on and exits 1
// at the end. Only the main thread writes to stdout and stderr.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cli/bulk_paths.h"
#include "cli/commands.h"
#include "util/escape.h"
#include "cli/fiemap.h"
#include "cli/open_store.h"
#include "cli/ordered_pool.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/signals.h"
#include "cli/stream_io.h"
#include "cli/tree_walk.h"
#include "util/crc32c.h"

namespace cairn::cli {
namespace {

// Named bound: files up to this size are read whole and stored with one Put (one record: the
// engine's chunk size); larger ones are streamed with PutStream, one chunk in memory.
constexpr uint64_t kWholeFileMaxBytes = uint64_t{4} << 20;
// Named bound: file bytes held in memory by all workers together (whole files being stored,
// or the chunk of a streamed one).
constexpr uint64_t kMaxBytesInFlight = uint64_t{64} << 20;
// Named bound: import bytes stored between two Store::Sync checkpoints; what a machine crash
// can make an import redo, beyond what was in flight.
constexpr uint64_t kCheckpointBytes = uint64_t{256} << 20;
// Buffer and length alignment for O_DIRECT reads (the page size; a multiple of every block
// size in use).
constexpr size_t kDirectIoAlign = 4096;
// Named bound: bytes per read(2)/write(2) when streaming one file or object.
constexpr size_t kCopyBufferBytes = size_t{1} << 20;

// Test hook (tests/bulk_test.sh): after this many files are finished, the command sends itself
// SIGINT, so interruption and resume are tested at a known point instead of by timing.
constexpr char kInterruptAfterEnv[] = "CAIRN_TEST_INTERRUPT_AFTER_FILES";

using Clock = std::chrono::steady_clock;

// One file or object that failed, for the report.
struct FileFailure {
  std::string name;  // relative path (import) or key (export)
  std::string reason;
};

// What workers share with the main thread while a bulk command runs.
class BulkState {
 public:
  explicit BulkState(std::string command) : command_(std::move(command)) {
    if (const char* v = std::getenv(kInterruptAfterEnv); v != nullptr)
      interrupt_after_ = std::strtoull(v, nullptr, 10);
  }

  void Fail(std::string name, std::string reason) {
    std::lock_guard<std::mutex> l(mu_);
    failures_.push_back({std::move(name), std::move(reason)});
  }
  // A file or object is done (stored, or written and renamed).
  void Done(uint64_t bytes) {
    bytes_done_ += bytes;
    files_seen_++;
    const uint64_t n = ++files_done_;
    if (interrupt_after_ != 0 && n == interrupt_after_) ::raise(SIGINT);
  }
  void Skip() { files_seen_++; }  // failed or abandoned: counts towards progress only
  void AddBytes(uint64_t n) { bytes_moved_ += n; }

  // Prints failures not printed yet, one line each, to stderr. Main thread only.
  void PrintNewFailures(ProgressReporter* progress, bool by_key) {
    std::lock_guard<std::mutex> l(mu_);
    if (printed_ == failures_.size()) return;
    progress->Finish();
    for (; printed_ < failures_.size(); printed_++) {
      const FileFailure& f = failures_[printed_];
      std::string name = by_key ? "\"" + EscapeKey(f.name) + "\"" : OneLine(f.name);
      std::fprintf(stderr, "cairn: %s: %s: %s; skipped\n", command_.c_str(), name.c_str(),
                   OneLine(f.reason).c_str());
    }
    std::fflush(stderr);
  }

  const std::vector<FileFailure>& failures() const { return failures_; }  // after the workers
  uint64_t files_done() const { return files_done_.load(); }
  uint64_t files_seen() const { return files_seen_.load(); }
  uint64_t bytes_done() const { return bytes_done_.load(); }
  uint64_t bytes_moved() const { return bytes_moved_.load(); }
  std::atomic<bool>* stop() { return &stop_; }
  // Checked by a worker before it starts an item: a signal stops new work at once, not at the
  // next tick.
  bool Stopping() {
    if (PendingSignal() != 0) stop_ = true;
    return stop_.load();
  }

 private:
  const std::string command_;
  uint64_t interrupt_after_ = 0;
  std::mutex mu_;
  std::vector<FileFailure> failures_;
  size_t printed_ = 0;
  std::atomic<uint64_t> files_done_{0};   // finished
  std::atomic<uint64_t> files_seen_{0};   // finished, failed or abandoned
  std::atomic<uint64_t> bytes_done_{0};   // bytes of finished files
  std::atomic<uint64_t> bytes_moved_{0};  // bytes read or written so far, for the rate
  std::atomic<bool> stop_{false};
};

// The numbers a summary reports.
struct Summary {
  const char* verb;    // "imported", "exported"
  const char* noun;    // "files", "objects"
  uint64_t found = 0;  // files or objects considered
  uint64_t done = 0;   // stored or written by this run
  uint64_t bytes = 0;
  uint64_t skipped = 0;  // already done by an earlier run: not read again
  uint64_t skipped_bytes = 0;
  double seconds = 0;
  bool interrupted = false;
};

void PrintSummary(const Context& ctx, const Summary& s, const std::vector<FileFailure>& failures,
                  bool by_key) {
  const double mbps = s.seconds > 0 ? static_cast<double>(s.bytes) / 1e6 / s.seconds : 0;
  if (ctx.json) {
    Json j;
    j["files"] = s.found;
    j[s.verb] = s.done;
    j["bytes"] = s.bytes;
    j["already_done"] = s.skipped;
    j["already_done_bytes"] = s.skipped_bytes;
    j["failed"] = failures.size();
    j["seconds"] = s.seconds;
    j["mb_per_s"] = mbps;
    j["interrupted"] = s.interrupted;
    Json list = Json::array();
    for (const FileFailure& f : failures)
      list.push_back(
          {{by_key ? "key" : "path", EscapeKeyForJson(f.name)}, {"error", OneLine(f.reason)}});
    j["failures"] = std::move(list);
    PrintOut(fmt::format("{}\n", j.dump()));
    return;
  }
  PrintOut(
      fmt::format("{} {} of {} {} ({}) in {:.1f} s, {:.1f} MB/s; {} already done; {} "
                  "failed{}\n",
                  s.verb, s.done, s.found, s.noun, HumanBytes(s.bytes), s.seconds, mbps, s.skipped,
                  failures.size(), s.interrupted ? "; interrupted" : ""));
}

// How the command ends: interrupted (main() then dies of the signal), failures, or success.
Outcome Ending(const Summary& s, size_t failures) {
  if (s.interrupted)
    return Outcome::Error(fmt::format("interrupted; rerun the same command to resume"));
  if (failures > 0)
    return Outcome::Error(fmt::format("{} of {} {} failed (reported above); the others were {}",
                                      failures, s.found, s.noun, s.verb));
  return Outcome::Ok();
}

// Checks signals, prints progress and new failures: RunOrdered's tick, on the main thread.
void Tick(BulkState* state, ProgressReporter* progress, const ProgressCounts& totals, bool by_key) {
  if (PendingSignal() != 0) state->stop()->store(true);
  state->PrintNewFailures(progress, by_key);
  ProgressCounts c = totals;
  c.files_done = state->files_seen();
  c.bytes_done = state->bytes_moved();
  progress->Tick(c, Clock::now());
}

Outcome CheckBulkArgs(const BulkArgs& args) {
  if (args.dir.empty()) return Outcome::Usage("the directory is empty; pass DIR");
  if (args.prefix.size() > kMaxKeyBytes)
    return Outcome::Usage(fmt::format("--prefix is {} bytes; the limit max_key_bytes is {}",
                                      args.prefix.size(), kMaxKeyBytes));
  if (args.jobs < 1 || args.jobs > kMaxJobs)
    return Outcome::Usage(fmt::format("--jobs {} is outside 1..{}", args.jobs, kMaxJobs));
  return Outcome::Ok();
}

// read(2) until `n` bytes or the end of the file; returns the count read.
Result<size_t> ReadFull(int fd, char* buf, size_t n, const std::string& name) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + name);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Status WriteFull(int fd, const char* buf, size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + name);
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// import

struct ImportFile {
  WalkedFile file;
  std::string key;
};

// Opens a file to import. O_NOATIME spares an inode write per file where allowed (the owner,
// or root); O_NONBLOCK keeps a file swapped for a FIFO since the walk from blocking the open.
int OpenForImport(int root_fd, const std::string& path) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  int fd = ::openat(root_fd, path.c_str(), flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(root_fd, path.c_str(), flags);
  return fd;
}

bool SameVersion(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ino == b.st_ino;
}

// Streams a large file into PutStream, checksumming what it hands out. At the end of the file
// it checks that the file did not change while it was read; if it did, it fails the stream,
// so the object never becomes visible.
class ImportSource final : public ValueSource {
 public:
  ImportSource(int fd, const struct stat& before, std::string name, BulkState* state)
      : fd_(fd), before_(before), name_(std::move(name)), state_(state) {}

  Result<size_t> Read(char* buf, size_t n) override {
    // A long file is abandoned on a signal: nothing of it becomes visible, and a rerun redoes it.
    if (state_->stop()->load()) return Status::IOError("interrupted");
    CAIRN_ASSIGN_OR_RETURN(size_t got, ReadFull(fd_, buf, n, name_));
    if (got == 0) {
      struct stat after;
      if (::fstat(fd_, &after) != 0) return Status::FromErrno(errno, "fstat " + name_);
      if (!SameVersion(before_, after) || total_ != static_cast<uint64_t>(before_.st_size))
        return Status::InvalidArgument("the file changed while it was read; rerun to store it");
    }
    crc_ = crc32c::Extend(crc_, buf, got);
    total_ += got;
    state_->AddBytes(got);
    return got;
  }
  uint32_t crc() const { return crc_; }

 private:
  int fd_;
  struct stat before_;
  std::string name_;
  BulkState* state_;
  uint32_t crc_ = 0;
  uint64_t total_ = 0;
};

class Importer {
 public:
  Importer(Store* store, int root_fd, BulkState* state)
      : store_(store), root_fd_(root_fd), state_(state), budget_(kMaxBytesInFlight) {}

  // Stores one file; on failure records it by path. Runs on a worker.
  void Run(const ImportFile& f) {
    Result<uint64_t> r = StoreFile(f);
    if (r.ok()) {
      state_->Done(*r);
    } else {
      if (!(state_->stop()->load() && r.status().message() == "interrupted"))
        state_->Fail(f.file.path, r.status().message());
      state_->Skip();
    }
  }

 private:
  Result<uint64_t> StoreFile(const ImportFile& f) {
    UniqueFd fd(OpenForImport(root_fd_, f.file.path));
    if (fd.get() < 0) return Status::FromErrno(errno, errno == ENOENT ? "vanished" : "cannot open");
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat");
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("is no longer a regular file");
    const auto size = static_cast<uint64_t>(st.st_size);
    uint32_t crc = 0;
    WriteOptions wo;
    wo.durability = Durability::kNone;  // made durable by the checkpoints' Store::Sync
    if (size <= kWholeFileMaxBytes) {
      CAIRN_ASSIGN_OR_RETURN(crc, StoreWhole(fd.get(), st, f, wo));
    } else {
      budget_.Acquire(kWholeFileMaxBytes);
      ImportSource src(fd.get(), st, f.file.path, state_);
      Status s = store_->PutStream(f.key, &src, wo);
      budget_.Release(kWholeFileMaxBytes);
      CAIRN_RETURN_IF_ERROR(s);
      crc = src.crc();
    }
    // End to end: the object's checksum, computed by the engine, is that of the bytes read.
    CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, store_->Head(f.key));
    if (info.size != size || info.crc32c != crc)
      return Status::Corruption(fmt::format(
          "stored object has size {} and CRC-32C {}, but the file read has size {} and CRC-32C {}",
          info.size, Crc32cHex(info.crc32c), size, Crc32cHex(crc)));
    return size;
  }

  // Reads the whole file, checks it did not change meanwhile, and Puts it. Returns its CRC.
  Result<uint32_t> StoreWhole(int fd, const struct stat& before, const ImportFile& f,
                              const WriteOptions& wo) {
    const auto size = static_cast<size_t>(before.st_size);
    // Room for one byte more than the file, so a file that grew is noticed; whole blocks, so
    // the read can bypass the page cache.
    const size_t cap = (size + kDirectIoAlign) / kDirectIoAlign * kDirectIoAlign;
    budget_.Acquire(cap);
    std::unique_ptr<char, decltype(&std::free)> buf(
        static_cast<char*>(std::aligned_alloc(kDirectIoAlign, cap)), &std::free);
    Result<size_t> got = ReadWhole(fd, buf.get(), cap, size, f.file.path);
    Status s = got.status();
    struct stat after;
    if (s.ok() && ::fstat(fd, &after) != 0) s = Status::FromErrno(errno, "fstat");
    if (s.ok() && (*got != size || !SameVersion(before, after)))
      s = Status::InvalidArgument("the file changed while it was read; rerun to store it");
    uint32_t crc = 0;
    if (s.ok()) {
      state_->AddBytes(size);
      crc = crc32c::Value(buf.get(), size);
      s = store_->Put(f.key, std::string_view(buf.get(), size), wo);
    }
    buf.reset();
    budget_.Release(cap);
    if (!s.ok()) return s;
    return crc;
  }

  // Reads up to `cap` bytes (size + 1 or more) of the file from its start; returns the count.
  // First with O_DIRECT: the bytes go straight from the device into `buf`, which saves the
  // kernel a copy and the page cache 5 GB of pages it will not need again (measured in
  // docs/design.md). Where O_DIRECT is refused (tmpfs), or a read comes back short of the
  // file's size, the rest is read through the page cache.
  Result<size_t> ReadWhole(int fd, char* buf, size_t cap, size_t size, const std::string& name) {
    size_t got = 0;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && size > 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) {
      ssize_t r;
      do {
        r = ::read(fd, buf, cap);
      } while (r < 0 && errno == EINTR);
      if (r < 0 && errno != EINVAL) return Status::FromErrno(errno, "read " + name);
      if (r > 0) got = static_cast<size_t>(r);
      if (r >= 0 && got >= size) return got;  // the whole file, and its end or more
      (void)::fcntl(fd, F_SETFL, flags);
      if (::lseek(fd, static_cast<off_t>(got), SEEK_SET) < 0)
        return Status::FromErrno(errno, "lseek " + name);
    }
    CAIRN_ASSIGN_OR_RETURN(size_t rest, ReadFull(fd, buf + got, size + 1 - got, name));
    return got + rest;
  }

  Store* store_;
  int root_fd_;
  BulkState* state_;
  ByteBudget budget_;
};

// Device and inode of the store directory, so the walk can leave it out.
std::optional<std::pair<dev_t, ino_t>> StoreDirId(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return std::nullopt;
  return std::make_pair(st.st_dev, st.st_ino);
}

// Puts `files` in the order of their first extent on disk. Files that cannot be opened now are
// reported and dropped.
std::vector<ImportFile> OrderByDisk(int root_fd, std::vector<ImportFile> files, BulkState* state) {
  std::vector<PlacementKey> keys;
  std::vector<ImportFile> kept;
  keys.reserve(files.size());
  kept.reserve(files.size());
  for (ImportFile& f : files) {
    PlacementKey k;
    k.inode = f.file.inode;
    if (f.file.size > 0) {  // an empty file has no extent, and nothing to read
      UniqueFd fd(OpenForImport(root_fd, f.file.path));
      if (fd.get() < 0) {
        state->Fail(f.file.path, std::string(errno == ENOENT ? "vanished: " : "cannot open: ") +
                                     std::strerror(errno));
        continue;
      }
      k.physical = FirstExtentOffset(fd.get());
    }
    keys.push_back(k);
    kept.push_back(std::move(f));
  }
  std::vector<ImportFile> ordered;
  ordered.reserve(kept.size());
  for (size_t i : PhysicalReadOrder(keys)) ordered.push_back(std::move(kept[i]));
  return ordered;
}

// ---------------------------------------------------------------------------------------------
// export

struct ExportItem {
  ObjectInfo info;
  std::string path;  // relative to DIR
};

// Opens the directory that is to hold `path` (relative to `root_fd`), creating directories as
// needed, and sets *base to the file's name in it. A component that exists but is not a
// directory (or is a symbolic link, which would lead outside DIR) is an error.
Result<int> OpenParent(int root_fd, const std::string& path, std::string* base) {
  int cur = root_fd;
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    if (slash == std::string::npos) break;
    const std::string comp = path.substr(start, slash - start);
    int next = ::openat(cur, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (::mkdirat(cur, comp.c_str(), 0777) != 0 && errno != EEXIST) {
        const int err = errno;
        if (cur != root_fd) ::close(cur);
        return Status::FromErrno(err, "cannot create directory " + path.substr(0, slash));
      }
      next = ::openat(cur, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    const int err = errno;
    if (cur != root_fd) ::close(cur);
    if (next < 0) {
      if (err == ENOTDIR || err == ELOOP)
        return Status::InvalidArgument(path.substr(0, slash) +
                                       " exists and is not a directory (links are not followed)");
      return Status::FromErrno(err, "cannot open directory " + path.substr(0, slash));
    }
    cur = next;
    start = slash + 1;
  }
  *base = path.substr(start);
  return cur;
}

// A file counts as already exported if it is a regular file with the object's size and mtime.
bool AlreadyExported(int root_fd, const ExportItem& item) {
  struct stat st;
  if (::fstatat(root_fd, item.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == item.info.size &&
         st.st_mtim.tv_sec == static_cast<time_t>(item.info.mtime_us / 1000000) &&
         st.st_mtim.tv_nsec == static_cast<long>(item.info.mtime_us % 1000000 * 1000);
}

class Exporter {
 public:
  Exporter(Store* store, int root_fd, BulkState* state)
      : store_(store), root_fd_(root_fd), state_(state) {}

  // Writes one object to its file; on failure records it by key. Runs on a worker.
  void Run(const ExportItem& item) {
    std::string base;
    Result<int> parent = OpenParent(root_fd_, item.path, &base);
    Status s = parent.status();
    if (s.ok()) {
      UniqueFd dir(*parent == root_fd_ ? -1 : *parent);
      s = Write(item, *parent, base);
    }
    if (s.ok()) {
      state_->Done(item.info.size);
    } else {
      if (s.IsCorruption()) {
        state_->Fail(item.info.key,
                     "the object is damaged (" + s.message() + "); restore it from a copy");
      } else if (!(state_->stop()->load() && s.message() == "interrupted")) {
        state_->Fail(item.info.key, s.message());
      }
      state_->Skip();
    }
  }

 private:
  // Writes the object as base.cairn-tmp in `dir_fd`, then renames it: the final name only ever
  // holds a complete, verified, durable copy with the object's mtime (what resume checks).
  Status Write(const ExportItem& item, int dir_fd, const std::string& base) {
    Result<std::unique_ptr<ObjectReader>> reader = store_->OpenReader(item.info.key);
    if (!reader.ok()) {
      if (reader.status().IsNotFound()) return Status::NotFound("deleted since the export began");
      return reader.status();
    }
    const std::string tmp = base + ".cairn-tmp";
    UniqueFd fd(
        ::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (fd.get() < 0) return Status::FromErrno(errno, "cannot create " + item.path + ".cairn-tmp");
    Status s = Copy(reader->get(), fd.get(), item);
    if (s.ok()) {
      const auto us = static_cast<int64_t>(item.info.mtime_us);
      struct timespec times[2] = {{us / 1000000, us % 1000000 * 1000},
                                  {us / 1000000, us % 1000000 * 1000}};
      if (::futimens(fd.get(), times) != 0) s = Status::FromErrno(errno, "futimens");
    }
    if (s.ok() && ::fdatasync(fd.get()) != 0) s = Status::FromErrno(errno, "fdatasync");
    if (s.ok()) s = fd.Close(tmp);
    if (s.ok() && ::renameat(dir_fd, tmp.c_str(), dir_fd, base.c_str()) != 0)
      s = Status::FromErrno(errno, "rename to " + item.path);
    if (!s.ok()) ::unlinkat(dir_fd, tmp.c_str(), 0);
    return s;
  }

  // Copies the object into `fd`, checking its length and CRC-32C against the index's.
  Status Copy(ObjectReader* reader, int fd, const ExportItem& item) {
    thread_local std::unique_ptr<char[]> buf(new char[kCopyBufferBytes]);
    uint64_t total = 0;
    uint32_t crc = 0;
    for (;;) {
      if (state_->stop()->load() && item.info.size > kCopyBufferBytes)
        return Status::IOError("interrupted");  // a long object is abandoned, and redone
      CAIRN_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.get(), kCopyBufferBytes));
      if (n == 0) break;
      crc = crc32c::Extend(crc, buf.get(), n);
      CAIRN_RETURN_IF_ERROR(WriteFull(fd, buf.get(), n, item.path));
      total += n;
      state_->AddBytes(n);
    }
    if (total != item.info.size || crc != item.info.crc32c)
      return Status::Corruption(
          fmt::format("wrote {} bytes with CRC-32C {}, but the object has {} bytes and CRC-32C {}",
                      total, Crc32cHex(crc), item.info.size, Crc32cHex(item.info.crc32c)));
    return Status::OK();
  }

  Store* store_;
  int root_fd_;
  BulkState* state_;
};

// True if `dir` is the store directory or lies inside it.
bool InsideStore(const std::string& dir, const std::string& store_dir) {
  std::unique_ptr<char, decltype(&std::free)> d(::realpath(dir.c_str(), nullptr), &std::free);
  std::unique_ptr<char, decltype(&std::free)> s(::realpath(store_dir.c_str(), nullptr), &std::free);
  if (d == nullptr || s == nullptr) return false;
  const std::string_view dv(d.get()), sv(s.get());
  return dv == sv || (dv.starts_with(sv) && dv.size() > sv.size() && dv[sv.size()] == '/');
}

}  // namespace

Outcome RunImport(const Context& ctx, const BulkArgs& args) {
  if (Outcome o = CheckBulkArgs(args); !o.ok()) return o;
  // The directory is checked before the store is opened: a typo must not create a store.
  UniqueFd root(::open(args.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0)
    return Failure(Status::FromErrno(errno, "cannot open directory " + OneLine(args.dir)));
  // Volumes this import creates are allocated, not written with zeros first: the zeros doubled
  // the bytes an import writes, and its puts sync every 256 MiB, where the extent conversion
  // costs nothing measurable (docs/design.md, "Preparing volumes").
  Context import_ctx = ctx;
  import_ctx.options.volume_preparation = VolumePreparation::kAllocate;
  std::unique_ptr<Store> store;
  if (Outcome o = OpenStore(import_ctx, OpenMode::kCreate, &store); !o.ok()) return o;
  const Clock::time_point start = Clock::now();
  BulkState state("import");
  ProgressReporter progress("import", stderr, ::isatty(STDERR_FILENO) != 0, start);

  WalkOptions wopt;
  wopt.exclude_dir = StoreDirId(ctx.store_dir);
  wopt.stop = [] { return PendingSignal() != 0; };
  Result<WalkResult> walk = WalkTree(args.dir, wopt);
  if (!walk.ok()) return Failure(walk.status());
  for (WalkProblem& p : walk->problems)
    state.Fail(p.path.empty() ? "." : std::move(p.path), std::move(p.reason));

  // Resume: a file whose object exists with its size and is not older than it is finished.
  Summary sum{"imported", "files"};
  sum.found = walk->files.size() + walk->problems.size();
  std::vector<ImportFile> todo;
  ProgressCounts totals;
  for (WalkedFile& f : walk->files) {
    Result<std::string> key = ImportKey(args.prefix, f.path);
    if (!key.ok()) {
      state.Fail(f.path, key.status().message());
      continue;
    }
    Result<ObjectInfo> info = store->Head(*key);
    if (info.ok() && info->size == f.size &&
        static_cast<int64_t>(info->mtime_us) >= f.mtime_ns / 1000) {
      sum.skipped++;
      sum.skipped_bytes += f.size;
      continue;
    }
    totals.files_total++;
    totals.bytes_total += f.size;
    todo.push_back({std::move(f), std::move(*key)});
  }
  walk->files.clear();
  todo = OrderByDisk(root.get(), std::move(todo), &state);

  Importer importer(store.get(), root.get(), &state);
  uint64_t synced_bytes = 0;
  Status sync_status;
  auto tick = [&] {
    Tick(&state, &progress, totals, /*by_key=*/false);
    // Checkpoint: everything stored so far becomes durable, bounding what a crash costs.
    if (sync_status.ok() && state.bytes_done() - synced_bytes >= kCheckpointBytes) {
      synced_bytes = state.bytes_done();
      sync_status = store->Sync();
      if (!sync_status.ok()) state.stop()->store(true);
    }
  };
  RunOrdered(
      todo.size(), args.jobs,
      [&](size_t i) {
        if (!state.Stopping()) importer.Run(todo[i]);
      },
      tick, state.stop());
  if (sync_status.ok()) sync_status = store->Sync();
  progress.Finish();
  state.PrintNewFailures(&progress, /*by_key=*/false);
  if (!sync_status.ok())
    return Failure(sync_status.WithContext("making the import durable failed; rerun it"));
  sum.done = state.files_done();
  sum.bytes = state.bytes_done();
  sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sum.interrupted = PendingSignal() != 0;
  PrintSummary(ctx, sum, state.failures(), /*by_key=*/false);
  if (Outcome o = CloseStore(ctx, store.get()); !o.ok()) return o;
  return Ending(sum, state.failures().size());
}

Outcome RunExport(const Context& ctx, const BulkArgs& args) {
  if (Outcome o = CheckBulkArgs(args); !o.ok()) return o;
  std::unique_ptr<Store> store;
  if (Outcome o = OpenStore(ctx, OpenMode::kExisting, &store); !o.ok()) return o;
  std::error_code ec;
  std::filesystem::create_directories(args.dir, ec);
  if (ec)
    return Outcome::Error(
        fmt::format("cannot create directory {}: {}", OneLine(args.dir), ec.message()));
  if (InsideStore(args.dir, ctx.store_dir))
    return Outcome::Usage(fmt::format("{} is inside the store {}; export somewhere else",
                                      OneLine(args.dir), OneLine(ctx.store_dir)));
  UniqueFd root(::open(args.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0)
    return Failure(Status::FromErrno(errno, "cannot open directory " + OneLine(args.dir)));
  const Clock::time_point start = Clock::now();
  BulkState state("export");
  ProgressReporter progress("export", stderr, ::isatty(STDERR_FILENO) != 0, start);

  // Volume order: the store is read front to back while files are written.
  Result<std::unique_ptr<PhysicalIterator>> it = store->IteratePhysical(args.prefix);
  if (!it.ok()) return Failure(it.status().WithContext("listing the objects"));
  Summary sum{"exported", "objects"};
  sum.found = (*it)->size();
  std::vector<ExportItem> todo;
  ProgressCounts totals;
  PhysicalEntry e;
  for (;;) {
    Result<bool> more = (*it)->Next(&e);
    if (!more.ok()) return Failure(more.status().WithContext("listing the objects"));
    if (!*more) break;
    Result<std::string> path = ExportPath(args.prefix, e.info.key);
    if (!path.ok()) {
      state.Fail(e.info.key, path.status().message());
      continue;
    }
    ExportItem item{std::move(e.info), std::move(*path)};
    if (AlreadyExported(root.get(), item)) {
      sum.skipped++;
      sum.skipped_bytes += item.info.size;
      continue;
    }
    totals.files_total++;
    totals.bytes_total += item.info.size;
    todo.push_back(std::move(item));
  }
  it->reset();

  Exporter exporter(store.get(), root.get(), &state);
  RunOrdered(
      todo.size(), args.jobs,
      [&](size_t i) {
        if (!state.Stopping()) exporter.Run(todo[i]);
      },
      [&] { Tick(&state, &progress, totals, /*by_key=*/true); }, state.stop());
  // Each file was synced before its rename; this makes the renames and new directories durable.
  Status sync_status;
  if (::syncfs(root.get()) != 0)
    sync_status = Status::FromErrno(errno, "syncfs " + OneLine(args.dir));
  progress.Finish();
  state.PrintNewFailures(&progress, /*by_key=*/true);
  if (!sync_status.ok()) return Failure(sync_status);
  sum.done = state.files_done();
  sum.bytes = state.bytes_done();
  sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sum.interrupted = PendingSignal() != 0;
  PrintSummary(ctx, sum, state.failures(), /*by_key=*/true);
  if (Outcome o = CloseStore(ctx, store.get()); !o.ok()) return o;
  return Ending(sum, state.failures().size());
}

}  // namespace cairn::cli
