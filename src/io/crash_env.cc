#include "io/crash_env.h"
#include "io/holes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "util/check.h"

namespace cairn {
namespace {

constexpr uint64_t kSector = 512;     // torn-write granularity
constexpr uint64_t kBlock = 4096;     // originals are saved, and punches torn, per block

std::pair<std::string, std::string> SplitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

Status Frozen() { return Status::IOError("crash env: frozen (simulated power loss)"); }

Status Errno(const std::string& what) { return Status::FromErrno(errno, what); }

}  // namespace

void CrashStats::Add(const CrashStats& o) {
  crashes += o.crashes;
  writes_applied += o.writes_applied;
  writes_dropped += o.writes_dropped;
  writes_torn += o.writes_torn;
  punches_applied += o.punches_applied;
  punches_dropped += o.punches_dropped;
  punches_torn += o.punches_torn;
  truncates_applied += o.truncates_applied;
  truncates_dropped += o.truncates_dropped;
  dir_ops_applied += o.dir_ops_applied;
  dir_ops_dropped += o.dir_ops_dropped;
}

CrashModel::CrashModel(std::string trash_dir) : trash_(std::move(trash_dir)) {
  std::error_code ec;
  std::filesystem::create_directories(trash_, ec);
}

CrashModel::~CrashModel() {
  for (auto& [id, f] : files_)
    if (f.rfd >= 0) ::close(f.rfd);
}

void CrashModel::Freeze() { frozen_ = true; }

void CrashModel::FreezeAfter(uint64_t ops) {
  std::lock_guard<std::mutex> l(mu_);
  freeze_after_ = static_cast<int64_t>(ops);
}

Status CrashModel::Mutating() {
  ops_++;
  if (frozen_) return Frozen();
  if (freeze_after_ == 0) {
    frozen_ = true;
    freeze_after_ = -1;
    return Frozen();
  }
  if (freeze_after_ > 0) freeze_after_--;
  return Status::OK();
}

Status CrashModel::CheckRead() { return frozen_ ? Frozen() : Status::OK(); }

std::string CrashModel::TrashPath(FileId id) const { return trash_ + "/" + std::to_string(id); }

CrashModel::FileId CrashModel::NewFile(const std::string& path, uint64_t size) {
  FileId id = next_id_++;
  FileState& f = files_[id];
  f.path = path;
  f.synced_size = size;
  f.size = size;
  return id;
}

CrashModel::FileState& CrashModel::File(FileId id) {
  auto it = files_.find(id);
  CAIRN_CHECK(it != files_.end());
  return it->second;
}

CrashModel::DirState& CrashModel::Dir(const std::string& dir) {
  auto it = dirs_.find(dir);
  if (it != dirs_.end()) return it->second;
  DirState& d = dirs_[dir];
  // First use: what is on disk now is durable (the state a previous crash left, or never
  // touched by a model).
  if (DIR* dp = ::opendir(dir.c_str())) {
    while (struct dirent* de = ::readdir(dp)) {
      std::string name = de->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::lstat((dir + "/" + name).c_str(), &st) != 0) continue;
      Entry e;
      if (S_ISDIR(st.st_mode)) {
        e.is_dir = true;
      } else {
        e.id = NewFile(dir + "/" + name, static_cast<uint64_t>(st.st_size));
      }
      d.durable[name] = e;
    }
    ::closedir(dp);
  }
  d.current = d.durable;
  return d;
}

bool CrashModel::Adopt(DirState& d, const std::string& path, const std::string& name) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return false;
  Entry e;
  e.id = NewFile(path, static_cast<uint64_t>(st.st_size));
  d.durable[name] = e;
  d.current[name] = e;
  return true;
}

Status CrashModel::SaveOriginals(FileState& f, uint64_t begin, uint64_t end) {
  // Whole blocks: a write just past the durable size still shares its first block (and
  // sector) with durable bytes, which the crash must be able to put back.
  const uint64_t synced_end = std::min(end, f.synced_size);
  for (uint64_t b = begin / kBlock; b * kBlock < synced_end; b++) {
    if (f.originals.count(b) > 0) continue;
    if (f.rfd < 0) {
      f.rfd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (f.rfd < 0) return Errno("crash env: open " + f.path);
    }
    Block blk;
    blk.bytes.assign(kBlock, '\0');
    const uint64_t off = b * kBlock;
    const uint64_t want = std::min(kBlock, f.synced_size - off);
    ssize_t n = ::pread(f.rfd, blk.bytes.data(), want, static_cast<off_t>(off));
    if (n < 0) return Errno("crash env: pread " + f.path);
    // A hole as the engine defines it (FIEMAP: no extent): an allocated, unwritten block (a
    // volume prepared by fallocate) is put back as zeros that are no hole, so a torn record
    // there cannot pass for a punched one. (SEEK_DATA's answer for such a block depends on
    // whether its page is cached, here by the pread above.)
    CAIRN_ASSIGN_OR_RETURN(blk.hole, FdInHole(f.rfd, off, f.path));
    f.originals.emplace(b, std::move(blk));
  }
  return Status::OK();
}

Result<CrashModel::FileId> CrashModel::Open(const std::string& path, bool create, bool truncate,
                                            const std::function<Status()>& real) {
  std::lock_guard<std::mutex> l(mu_);
  if (create) {
    CAIRN_RETURN_IF_ERROR(Mutating());
  } else {
    CAIRN_RETURN_IF_ERROR(CheckRead());
  }
  auto [dir, name] = SplitPath(path);
  DirState& d = Dir(dir);
  auto it = d.current.find(name);
  if (it == d.current.end() && Adopt(d, path, name)) it = d.current.find(name);
  if (it != d.current.end()) {
    if (it->second.is_dir) return Status::InvalidArgument("crash env: " + path + " is a directory");
    FileState& f = File(it->second.id);
    if (truncate && f.size > 0) CAIRN_RETURN_IF_ERROR(SaveOriginals(f, 0, f.size));
    CAIRN_RETURN_IF_ERROR(real());
    if (truncate && f.size > 0) {
      f.ops.push_back(Op{Op::kTruncate, 0, f.size, {}});
      f.size = 0;
    }
    return it->second.id;
  }
  CAIRN_RETURN_IF_ERROR(real());  // creates it, or fails (no such file)
  Entry e;
  e.id = NewFile(path, 0);
  d.current[name] = e;
  d.ops.push_back(DirOp{DirOp::kLink, name, {}, e});
  return e.id;
}

Status CrashModel::Write(FileId id, uint64_t offset, std::string_view data,
                         const std::function<Status()>& real) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  if (data.empty()) return real();
  FileState& f = File(id);
  CAIRN_RETURN_IF_ERROR(SaveOriginals(f, offset, offset + data.size()));
  CAIRN_RETURN_IF_ERROR(real());
  f.ops.push_back(Op{Op::kWrite, offset, data.size(), std::string(data)});
  f.size = std::max(f.size, offset + data.size());
  return Status::OK();
}

Status CrashModel::Punch(FileId id, uint64_t offset, uint64_t len,
                         const std::function<Status()>& real) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  FileState& f = File(id);
  len = offset < f.size ? std::min(len, f.size - offset) : 0;  // KEEP_SIZE
  if (len > 0) CAIRN_RETURN_IF_ERROR(SaveOriginals(f, offset, offset + len));
  CAIRN_RETURN_IF_ERROR(real());
  if (len > 0) f.ops.push_back(Op{Op::kPunch, offset, len, {}});
  return Status::OK();
}

Status CrashModel::Allocate(FileId id, uint64_t offset, uint64_t len,
                            const std::function<Status()>& real) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  if (len == 0) return real();
  FileState& f = File(id);
  CAIRN_RETURN_IF_ERROR(SaveOriginals(f, offset, offset + len));
  CAIRN_RETURN_IF_ERROR(real());  // NotSupported: nothing changed, nothing to model
  f.ops.push_back(Op{Op::kAllocate, offset, len, {}});
  f.size = std::max(f.size, offset + len);
  return Status::OK();
}

Status CrashModel::Truncate(FileId id, uint64_t size, const std::function<Status()>& real) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  FileState& f = File(id);
  if (size == f.size) return real();
  CAIRN_RETURN_IF_ERROR(SaveOriginals(f, std::min(size, f.size), std::max(size, f.size)));
  CAIRN_RETURN_IF_ERROR(real());
  f.ops.push_back(Op{Op::kTruncate, size, f.size, {}});
  f.size = size;
  return Status::OK();
}

Status CrashModel::Sync(FileId id) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  FileState& f = File(id);
  f.synced_size = f.size;
  f.originals.clear();
  f.ops.clear();
  return Status::OK();
}

uint64_t CrashModel::Size(FileId id) {
  std::lock_guard<std::mutex> l(mu_);
  return File(id).size;
}

Status CrashModel::CreateDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  auto [dir, name] = SplitPath(path);
  DirState& d = Dir(dir);
  auto it = d.current.find(name);
  if (it != d.current.end()) {
    if (it->second.is_dir) return Status::OK();
    return Status::IOError("mkdir " + path + ": a file has that name");
  }
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno != EEXIST) return Errno("mkdir " + path);
    Dir(path);  // made behind our back: durable
    return Status::OK();
  }
  Entry e;
  e.is_dir = true;
  d.current[name] = e;
  d.ops.push_back(DirOp{DirOp::kLink, name, {}, e});
  dirs_[path];  // a new, empty directory: nothing in it is durable
  return Status::OK();
}

Status CrashModel::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  auto [fdir, fname] = SplitPath(from);
  auto [tdir, tname] = SplitPath(to);
  DirState& fd = Dir(fdir);
  auto it = fd.current.find(fname);
  if (it == fd.current.end() && Adopt(fd, from, fname)) it = fd.current.find(fname);
  if (it == fd.current.end()) {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename " + from + " -> " + to);
    return Status::NotSupported("crash env: rename of an untracked file " + from);
  }
  const Entry e = it->second;
  if (e.is_dir) return Status::NotSupported("crash env: renaming a directory: " + from);
  DirState& td = Dir(tdir);
  auto old = td.current.find(tname);
  if (old != td.current.end()) {
    if (old->second.is_dir) return Status::IOError("rename onto a directory: " + to);
    // The replaced file lives on in the trash until the crash decides whether it is replaced.
    if (::rename(to.c_str(), TrashPath(old->second.id).c_str()) != 0)
      return Errno("crash env: rename " + to + " to the trash");
    File(old->second.id).path = TrashPath(old->second.id);
  }
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename " + from + " -> " + to);
  File(e.id).path = to;
  fd.current.erase(fname);
  td.current[tname] = e;
  if (&fd == &td) {
    fd.ops.push_back(DirOp{DirOp::kRename, fname, tname, e});
  } else {
    fd.ops.push_back(DirOp{DirOp::kUnlink, fname, {}, e});
    td.ops.push_back(DirOp{DirOp::kLink, tname, {}, e});
  }
  return Status::OK();
}

Status CrashModel::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  auto [dir, name] = SplitPath(path);
  DirState& d = Dir(dir);
  auto it = d.current.find(name);
  if (it == d.current.end() && Adopt(d, path, name)) it = d.current.find(name);
  if (it == d.current.end()) return Status::NotFound("unlink " + path + ": no such file");
  if (it->second.is_dir) return Status::NotSupported("crash env: removing a directory: " + path);
  const Entry e = it->second;
  // Kept in the trash: if the crash drops the removal, the file comes back.
  if (::rename(path.c_str(), TrashPath(e.id).c_str()) != 0) return Errno("unlink " + path);
  File(e.id).path = TrashPath(e.id);
  d.current.erase(it);
  d.ops.push_back(DirOp{DirOp::kUnlink, name, {}, e});
  return Status::OK();
}

Status CrashModel::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_RETURN_IF_ERROR(Mutating());
  DirState& d = Dir(dir);
  d.durable = d.current;
  d.ops.clear();
  return Status::OK();
}

Status CrashModel::CrashContent(FileState& f, std::mt19937_64& rng, int style) {
  const size_t n = f.ops.size();
  // The file's size after the crash is its size after a prefix ops[0..k) of its changes, and
  // every byte the file grew by up to that size holds that moment's data: file systems that
  // order data before metadata (ext4 data=ordered, XFS) expose a new size only once the data
  // under it is written. Overwrites inside the durable size are torn at sector granularity.
  const size_t k = style == 0 ? n : style == 1 ? 0 : static_cast<size_t>(rng() % (n + 1));
  uint64_t size = f.synced_size;
  for (size_t i = 0; i < k; i++) {
    const Op& op = f.ops[i];
    if (op.kind == Op::kWrite || op.kind == Op::kAllocate) size = std::max(size, op.offset + op.len);
    if (op.kind == Op::kTruncate) size = op.offset;
  }
  auto in_growth = [&](uint64_t s) { return s * kSector + kSector > f.synced_size; };
  // Decide each op: 0 applied, 1 dropped, 2 torn (its sectors, or a punch's blocks, persist
  // independently).
  std::vector<int> how(n);
  std::vector<std::vector<bool>> torn(n);
  for (size_t i = 0; i < n; i++) {
    const Op& op = f.ops[i];
    int h = style == 0 ? 0 : style == 1 ? 1 : static_cast<int>(rng() % 10 < 4 ? 0 : rng() % 2 + 1);
    if ((op.kind == Op::kTruncate || op.kind == Op::kAllocate) && h == 2)
      h = static_cast<int>(rng() % 2);
    how[i] = h;
    if (h == 2) {
      const uint64_t unit = op.kind == Op::kPunch ? kBlock : kSector;
      const uint64_t first = op.offset / unit, last = (op.offset + op.len - 1) / unit;
      torn[i].resize(last - first + 1);
      for (size_t j = 0; j < torn[i].size(); j++) torn[i][j] = rng() & 1;
    }
    // What is counted: appends by the prefix, everything else by its own decision.
    const bool append =
        (op.kind == Op::kWrite || op.kind == Op::kAllocate) && op.offset >= f.synced_size;
    const int counted = append ? (i < k ? 0 : 1) : h;
    uint64_t* counter[3][3] = {
        {&stats_.writes_applied, &stats_.writes_dropped, &stats_.writes_torn},
        {&stats_.punches_applied, &stats_.punches_dropped, &stats_.punches_torn},
        {&stats_.truncates_applied, &stats_.truncates_dropped, &stats_.truncates_dropped}};
    ++*counter[op.kind == Op::kAllocate ? Op::kWrite : op.kind][counted];
  }
  auto touches = [&](size_t i, uint64_t s) {
    const Op& op = f.ops[i];
    const uint64_t b = s * kSector, e = b + kSector;
    if (op.kind == Op::kTruncate)
      return std::max(op.offset, op.len) > b && std::min(op.offset, op.len) < e;
    return op.offset < e && op.offset + op.len > b;
  };
  auto persisted = [&](size_t i, uint64_t s) {
    if (in_growth(s)) return i < k;
    if (how[i] != 2) return how[i] == 0;
    const Op& op = f.ops[i];
    const uint64_t unit = op.kind == Op::kPunch ? kBlock : kSector;
    const uint64_t idx = (s * kSector) / unit;
    const uint64_t first = op.offset / unit;
    if (idx < first) return static_cast<bool>(torn[i][0]);
    return static_cast<bool>(torn[i][std::min<uint64_t>(idx - first, torn[i].size() - 1)]);
  };

  // Every sector some op touched.
  std::vector<uint64_t> sectors;
  for (const Op& op : f.ops) {
    uint64_t b = op.offset, e = op.offset + op.len;
    if (op.kind == Op::kTruncate) b = std::min(op.offset, op.len), e = std::max(op.offset, op.len);
    if (e <= b) continue;
    for (uint64_t s = b / kSector; s * kSector < e; s++) sectors.push_back(s);
  }
  std::sort(sectors.begin(), sectors.end());
  sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());

  struct Out {
    uint64_t sector;
    bool hole;
    std::string bytes;
  };
  std::vector<Out> out;
  for (uint64_t s : sectors) {
    if (s * kSector >= size) continue;
    // A sector persists with the page-cache state of the moment it was written back: every
    // change to it up to the last one that persisted.
    int64_t last_touch = -1, last_kept = -1;
    for (size_t i = 0; i < n; i++) {
      if (!touches(i, s)) continue;
      last_touch = static_cast<int64_t>(i);
      if (persisted(i, s)) last_kept = static_cast<int64_t>(i);
    }
    if (last_kept == last_touch) continue;  // the disk already holds this state
    Out o{s, false, std::string(kSector, '\0')};
    const uint64_t sb = s * kSector;
    auto ob = f.originals.find(sb / kBlock);
    if (ob != f.originals.end()) {
      o.bytes.assign(ob->second.bytes, sb % kBlock, kSector);
      o.hole = ob->second.hole;
    } else {
      o.hole = true;  // beyond the durable size
    }
    for (int64_t i = 0; i <= last_kept; i++) {
      if (!touches(static_cast<size_t>(i), s)) continue;
      const Op& op = f.ops[static_cast<size_t>(i)];
      const uint64_t b = std::max(op.offset, sb);
      if (op.kind == Op::kWrite) {
        const uint64_t e = std::min(op.offset + op.len, sb + kSector);
        std::memcpy(o.bytes.data() + (b - sb), op.data.data() + (b - op.offset), e - b);
        o.hole = false;
      } else if (op.kind == Op::kPunch) {
        const uint64_t e = std::min(op.offset + op.len, sb + kSector);
        std::memset(o.bytes.data() + (b - sb), 0, e - b);
        if (b == sb && e == sb + kSector) o.hole = true;
      } else if (op.kind == Op::kAllocate) {
        o.hole = false;  // allocated: the bytes stay as they are (zeros where never written)
      } else if (op.offset < sb + kSector) {  // truncation to op.offset
        const uint64_t z = std::max(op.offset, sb);
        std::memset(o.bytes.data() + (z - sb), 0, sb + kSector - z);
        if (op.offset <= sb) o.hole = true;
      }
    }
    out.push_back(std::move(o));
  }

  int fd = ::open(f.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Errno("crash env: open " + f.path);
  Status st;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) st = Errno("crash env: ftruncate " + f.path);
  for (size_t i = 0; st.ok() && i < out.size();) {
    // Runs of adjacent sectors of the same kind, clipped to the size.
    size_t j = i + 1;
    while (j < out.size() && out[j].sector == out[j - 1].sector + 1 && out[j].hole == out[i].hole)
      j++;
    const uint64_t b = out[i].sector * kSector;
    const uint64_t e = std::min(size, out[j - 1].sector * kSector + kSector);
    if (out[i].hole) {
      if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(b),
                      static_cast<off_t>(e - b)) != 0)
        st = Errno("crash env: punch " + f.path);
    } else {
      std::string buf;
      for (size_t k = i; k < j; k++) buf += out[k].bytes;
      buf.resize(e - b);
      if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(b)) !=
          static_cast<ssize_t>(buf.size()))
        st = Errno("crash env: pwrite " + f.path);
    }
    i = j;
  }
  ::close(fd);
  return st;
}

Status CrashModel::Crash(uint64_t seed, Style how) {
  std::lock_guard<std::mutex> l(mu_);
  std::mt19937_64 rng(seed);
  // Mostly mixed; sometimes every unsynced change persists (like a process crash), sometimes
  // none does (the strictest power loss).
  const uint64_t r = rng() % 20;
  int style = r < 3 ? 0 : r < 6 ? 1 : 2;
  if (how == Style::kKeepAll) style = 0;
  if (how == Style::kDropAll) style = 1;
  stats_.crashes++;

  // 1. What each directory holds after the crash: its durable entries and a prefix of the
  //    operations since its last fsync.
  std::map<std::string, std::map<std::string, Entry>> finals;
  std::set<FileId> alive;
  for (auto& [path, d] : dirs_) {
    const size_t n = d.ops.size();
    size_t k = style == 0 ? n : style == 1 ? 0 : static_cast<size_t>(rng() % (n + 1));
    stats_.dir_ops_applied += k;
    stats_.dir_ops_dropped += n - k;
    auto& fin = finals[path];
    fin = d.durable;
    for (size_t i = 0; i < k; i++) {
      const DirOp& op = d.ops[i];
      if (op.kind == DirOp::kLink) {
        fin[op.name] = op.entry;
      } else if (op.kind == DirOp::kUnlink) {
        fin.erase(op.name);
      } else {
        fin.erase(op.name);
        fin[op.to] = op.entry;
      }
    }
    for (const auto& [name, e] : fin)
      if (!e.is_dir) alive.insert(e.id);
  }
  // 2. File contents, where the file is now.
  for (auto& [id, f] : files_) {
    if (f.rfd >= 0) {
      ::close(f.rfd);
      f.rfd = -1;
    }
    if (f.ops.empty() || alive.count(id) == 0) continue;
    CAIRN_RETURN_IF_ERROR(CrashContent(f, rng, style));
  }
  // 3. Directory entries: files whose entry changes go to the trash, then to their final names;
  //    directories whose creation did not persist go away with what is in them.
  std::vector<std::string> dropped_dirs;
  for (auto& [path, d] : dirs_) {
    const auto& fin = finals[path];
    if (fin == d.current) continue;
    for (const auto& [name, e] : d.current) {
      auto it = fin.find(name);
      if (e.is_dir) {
        if (it == fin.end()) dropped_dirs.push_back(path + "/" + name);
        continue;
      }
      if (it != fin.end() && it->second == e) continue;
      FileState& f = File(e.id);
      if (::rename(f.path.c_str(), TrashPath(e.id).c_str()) != 0)
        return Errno("crash env: rename " + f.path + " to the trash");
      f.path = TrashPath(e.id);
    }
  }
  for (auto& [path, d] : dirs_) {
    const auto& fin = finals[path];
    if (fin == d.current) continue;
    for (const auto& [name, e] : fin) {
      auto it = d.current.find(name);
      if (e.is_dir || (it != d.current.end() && it->second == e)) continue;
      FileState& f = File(e.id);
      const std::string dst = path + "/" + name;
      if (f.path == TrashPath(e.id)) {
        if (::rename(f.path.c_str(), dst.c_str()) != 0) return Errno("crash env: rename to " + dst);
        f.path = dst;
      } else if (::link(f.path.c_str(), dst.c_str()) != 0) {  // one file under two names
        return Errno("crash env: link to " + dst);
      }
    }
  }
  std::error_code ec;
  for (const std::string& p : dropped_dirs) std::filesystem::remove_all(p, ec);
  // 4. Forget everything: the disk now holds the durable state the next model starts from.
  files_.clear();
  dirs_.clear();
  std::filesystem::remove_all(trash_, ec);
  std::filesystem::create_directories(trash_, ec);
  frozen_ = false;
  freeze_after_ = -1;
  return Status::OK();
}

// ---- CrashEnv

namespace {

class TrackedFile final : public File {
 public:
  TrackedFile(CrashModel* m, CrashModel::FileId id, std::unique_ptr<File> base)
      : m_(m), id_(id), base_(std::move(base)) {}
  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    CAIRN_RETURN_IF_ERROR(m_->CheckRead());
    return base_->PRead(offset, n, buf, got);
  }
  Status PWrite(uint64_t offset, std::string_view data) override {
    return m_->Write(id_, offset, data, [&] { return base_->PWrite(offset, data); });
  }
  // No real fdatasync: the crash is simulated, and the model knows what was synced.
  Status DataSync() override { return m_->Sync(id_); }
  Result<uint64_t> Size() override {
    CAIRN_RETURN_IF_ERROR(m_->CheckRead());
    return base_->Size();
  }
  Result<uint64_t> AllocatedBytes() override {
    CAIRN_RETURN_IF_ERROR(m_->CheckRead());
    return base_->AllocatedBytes();
  }
  Result<bool> Unlinked() override { return base_->Unlinked(); }
  Status PunchHole(uint64_t offset, uint64_t len) override {
    return m_->Punch(id_, offset, len, [&] { return base_->PunchHole(offset, len); });
  }
  Status Allocate(uint64_t offset, uint64_t len) override {
    return m_->Allocate(id_, offset, len, [&] { return base_->Allocate(offset, len); });
  }
  Result<bool> InHole(uint64_t offset) override {
    CAIRN_RETURN_IF_ERROR(m_->CheckRead());
    return base_->InHole(offset);
  }
  int fd() const override { return base_->fd(); }
  const std::string& path() const override { return base_->path(); }

 private:
  CrashModel* const m_;
  const CrashModel::FileId id_;
  std::unique_ptr<File> base_;
};

}  // namespace

Result<std::unique_ptr<File>> CrashEnv::OpenFile(const std::string& path, OpenMode mode) {
  std::unique_ptr<File> f;
  CAIRN_ASSIGN_OR_RETURN(
      CrashModel::FileId id,
      model_->Open(path, mode != OpenMode::kExisting, mode == OpenMode::kCreate, [&]() -> Status {
        CAIRN_ASSIGN_OR_RETURN(f, base_->OpenFile(path, mode));
        return Status::OK();
      }));
  return std::unique_ptr<File>(new TrackedFile(model_, id, std::move(f)));
}

Result<std::vector<std::string>> CrashEnv::ListDir(const std::string& dir) {
  CAIRN_RETURN_IF_ERROR(model_->CheckRead());
  return base_->ListDir(dir);
}

Result<std::unique_ptr<FileLock>> CrashEnv::LockFile(const std::string& path) {
  std::unique_ptr<FileLock> lock;
  CAIRN_RETURN_IF_ERROR(model_->Open(path, /*create=*/true, /*truncate=*/false, [&]() -> Status {
                                 CAIRN_ASSIGN_OR_RETURN(lock, base_->LockFile(path));
                                 return Status::OK();
                               }).status());
  return lock;
}

Result<uint64_t> CrashEnv::AllocatedBytesUnder(const std::string& path) {
  CAIRN_RETURN_IF_ERROR(model_->CheckRead());
  return base_->AllocatedBytesUnder(path);
}

}  // namespace cairn
