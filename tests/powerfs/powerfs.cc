// powerfs: a FUSE passthrough file system that can "cut the power" (issue 5, item 3), in the
// spirit of Jepsen's LazyFS. It sits on a backing directory and keeps everything a power loss
// could take away out of it until it is made durable:
//
//  - File data and sizes: a write goes to an in-memory page cache (4 KiB pages) and reaches the
//    backing file only when the file is fsync'ed or fdatasync'ed (any descriptor of the inode,
//    as in Linux). Truncation, fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE) and
//    lseek(SEEK_DATA/SEEK_HOLE) are modelled over that cache, so the engine's hole punching and
//    its punched-record detection work on it.
//  - Names: create, mkdir, unlink, rmdir and rename are applied to the backing directory at
//    once, but journalled; an entry becomes durable only once every directory it changed has
//    been fsync'ed after it (strict POSIX: an fsync of the file alone does not make its name
//    durable). Unlinked files and replaced rename targets are kept in BACKING/.powerfs-trash
//    until then.
//
// Writing "cut" to MOUNT/.powerfs-ctl cuts the power: every unsynced page and size change is
// dropped, the journal is undone newest first, and from then on every operation fails with EIO
// until the file system is unmounted. Mounting the backing directory again shows exactly what
// a machine would find after the power came back. "sync" makes everything durable (what a
// clean shutdown does; unmounting does it too), and reading the file returns counters.
//
// What is not modelled: torn pages (a page is either written or not), reordering inside one
// fsync, hard links, xattrs, mmap of dirty pages (FUSE serves shared mmap through the same
// write path), and O_DIRECT (the kernel turns it into ordinary writes here). Single-threaded:
// requests are served one at a time, so the cut is atomic with respect to every operation.
//
// Usage: powerfs [--debug] [--lying-fsync] BACKING MOUNTPOINT   (foreground until unmounted)
//   --lying-fsync  fsync and fsyncdir report success and make nothing durable: a disk that
//                  lies. A power-loss test run on it must fail; that shows it can see losses.
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <fuse3/fuse.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
constexpr const char* kCtl = "/.powerfs-ctl";
constexpr const char* kTrash = ".powerfs-trash";
constexpr uint64_t kCtlFh = ~uint64_t{0};

std::string g_backing;  // absolute, no trailing slash
bool g_dead = false;
bool g_lying = false;  // --lying-fsync: fsync succeeds and does nothing (a disk that lies)
uint64_t g_trash_seq = 0;

struct Counters {
  uint64_t cuts = 0, pages_dropped = 0, names_undone = 0, syncs = 0, dir_syncs = 0;
} g_count;

std::string B(const char* path) { return g_backing + path; }

std::string Parent(const std::string& p) {
  size_t s = p.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : p.substr(0, s);
}

// Unsynced state of one inode (keyed by the backing file's inode number).
struct Page {
  bool hole = false;  // punched: reads as zeros, and as a hole for SEEK_DATA
  std::unique_ptr<char[]> data;
};
struct Inode {
  int fd = -1;             // our own O_RDWR descriptor of the backing file
  uint64_t size = 0;       // logical size
  uint64_t floor = 0;      // smallest size since the last sync: backing bytes past it are gone
  std::map<uint64_t, Page> pages;  // by page index
};
std::unordered_map<ino_t, Inode> g_inodes;

// Name changes not yet made durable by a directory fsync.
struct Undo {
  enum Kind { kCreate, kMkdir, kUnlink, kRmdir, kRename } kind;
  std::string path, path2;  // kRename: from, to
  std::string trash;        // kUnlink: where the file is kept; kRename: the replaced target
  std::set<std::string> dirs;  // directories still to be fsync'ed
};
std::vector<Undo> g_journal;

std::string NewTrash() { return g_backing + "/" + kTrash + "/" + std::to_string(++g_trash_seq); }

Inode* StateFor(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
  auto it = g_inodes.find(st.st_ino);
  if (it != g_inodes.end()) return &it->second;
  Inode& n = g_inodes[st.st_ino];
  n.fd = ::dup(fd);
  n.size = n.floor = static_cast<uint64_t>(st.st_size);
  return &n;
}

Inode* FindState(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return nullptr;
  auto it = g_inodes.find(st.st_ino);
  return it == g_inodes.end() ? nullptr : &it->second;
}

void DropState(ino_t ino) {
  auto it = g_inodes.find(ino);
  if (it == g_inodes.end()) return;
  ::close(it->second.fd);
  g_inodes.erase(it);
}

// Reads durable bytes [off, off+n) of a page-aligned region from the backing file; zeros past
// the floor.
void ReadBacking(const Inode& n, uint64_t off, size_t len, char* out) {
  std::memset(out, 0, len);
  if (off >= n.floor) return;
  size_t want = static_cast<size_t>(std::min<uint64_t>(len, n.floor - off));
  size_t done = 0;
  while (done < want) {
    ssize_t r = ::pread(n.fd, out + done, want - done, static_cast<off_t>(off + done));
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
}

Page& LoadPage(Inode& n, uint64_t idx) {
  auto it = n.pages.find(idx);
  if (it != n.pages.end()) {
    if (it->second.hole) {
      it->second.hole = false;
      it->second.data.reset(new char[kPage]());
    }
    return it->second;
  }
  Page& p = n.pages[idx];
  p.data.reset(new char[kPage]);
  ReadBacking(n, idx * kPage, kPage, p.data.get());
  return p;
}

void ZeroRange(Inode& n, uint64_t off, uint64_t end, bool punch) {
  for (uint64_t idx = off / kPage; idx * kPage < end; idx++) {
    uint64_t ps = idx * kPage, pe = ps + kPage;
    if (off <= ps && pe <= end) {
      Page& p = n.pages[idx];
      if (punch) {
        p.hole = true;
        p.data.reset();
      } else {
        p.hole = false;
        p.data.reset(new char[kPage]());
      }
    } else {
      Page& p = LoadPage(n, idx);
      uint64_t a = std::max(off, ps), b = std::min(end, pe);
      std::memset(p.data.get() + (a - ps), 0, b - a);
    }
  }
}

void Truncate(Inode& n, uint64_t size) {
  if (size < n.size) {
    n.pages.erase(n.pages.lower_bound((size + kPage - 1) / kPage), n.pages.end());
    if (size % kPage != 0) {
      Page& p = LoadPage(n, size / kPage);
      std::memset(p.data.get() + size % kPage, 0, kPage - size % kPage);
    }
    n.floor = std::min(n.floor, size);
  }
  n.size = size;
}

// Makes an inode's state durable: the backing file becomes what the cache shows.
int Flush(Inode& n) {
  if (::ftruncate(n.fd, static_cast<off_t>(n.floor)) != 0) return -errno;
  for (auto& [idx, p] : n.pages) {
    uint64_t off = idx * kPage;
    if (off >= n.size) break;
    size_t len = static_cast<size_t>(std::min<uint64_t>(kPage, n.size - off));
    if (p.hole) {
      if (off < n.floor &&
          ::fallocate(n.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                      static_cast<off_t>(len)) != 0)
        return -errno;
      continue;
    }
    if (::pwrite(n.fd, p.data.get(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
      return -EIO;
  }
  if (::ftruncate(n.fd, static_cast<off_t>(n.size)) != 0) return -errno;
  n.pages.clear();
  n.floor = n.size;
  return 0;
}

void SyncAll() {
  for (auto& [ino, n] : g_inodes) (void)Flush(n);
  for (auto it = g_inodes.begin(); it != g_inodes.end();) {
    ::close(it->second.fd);
    it = g_inodes.erase(it);
  }
  g_journal.clear();
  std::string cmd = "rm -rf '" + g_backing + "/" + kTrash + "'";
  (void)!std::system(cmd.c_str());
  ::mkdir((g_backing + "/" + kTrash).c_str(), 0700);
}

void UnlinkBackingFile(const std::string& full) {
  struct stat st;
  if (::lstat(full.c_str(), &st) == 0) DropState(st.st_ino);
  ::unlink(full.c_str());
}

int RemoveEntry(const char* path, const struct stat*, int type, FTW*) {
  return type == FTW_DP ? ::rmdir(path) : ::unlink(path);
}

// A directory whose creation was never made durable is gone after a power loss, and with it
// everything below it, however durable inside.
int RemoveTree(const std::string& full) {
  return ::nftw(full.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

void Cut() {
  g_count.cuts++;
  for (auto& [ino, n] : g_inodes) {
    g_count.pages_dropped += n.pages.size();
    ::close(n.fd);
  }
  g_inodes.clear();
  for (auto it = g_journal.rbegin(); it != g_journal.rend(); ++it) {
    const Undo& u = *it;
    int rc = 0;
    switch (u.kind) {
      case Undo::kCreate: UnlinkBackingFile(B(u.path.c_str())); break;
      case Undo::kMkdir: rc = RemoveTree(B(u.path.c_str())); break;
      case Undo::kRmdir: rc = ::mkdir(B(u.path.c_str()).c_str(), 0755); break;
      case Undo::kUnlink: rc = ::rename(u.trash.c_str(), B(u.path.c_str()).c_str()); break;
      case Undo::kRename:
        rc = ::rename(B(u.path2.c_str()).c_str(), B(u.path.c_str()).c_str());
        if (rc == 0 && !u.trash.empty()) rc = ::rename(u.trash.c_str(), B(u.path2.c_str()).c_str());
        break;
    }
    if (rc != 0)
      std::fprintf(stderr, "powerfs: undoing a change of %s failed: %s\n", u.path.c_str(),
                   std::strerror(errno));
    g_count.names_undone++;
  }
  g_journal.clear();
  g_dead = true;
  std::fprintf(stderr, "powerfs: power cut\n");
}

void Journal(Undo u) {
  if (u.dirs.empty()) return;
  g_journal.push_back(std::move(u));
}

bool IsCtl(const char* path) { return std::strcmp(path, kCtl) == 0; }

#define DEAD_CHECK() \
  if (g_dead) return -EIO

int FsGetattr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (IsCtl(path)) {
    std::memset(st, 0, sizeof(*st));
    st->st_mode = S_IFREG | 0666;
    st->st_nlink = 1;
    st->st_size = 0;
    return 0;
  }
  // The root stays visible after a cut, so the control file can still be reached.
  if (g_dead && std::strcmp(path, "/") != 0) return -EIO;
  int rc = fi != nullptr && fi->fh != kCtlFh ? ::fstat(static_cast<int>(fi->fh), st)
                                             : ::lstat(B(path).c_str(), st);
  if (rc != 0) return -errno;
  if (S_ISREG(st->st_mode)) {
    auto it = g_inodes.find(st->st_ino);
    if (it != g_inodes.end()) st->st_size = static_cast<off_t>(it->second.size);
  }
  return 0;
}

int FsAccess(const char* path, int) {
  if (IsCtl(path)) return 0;
  DEAD_CHECK();
  return ::access(B(path).c_str(), F_OK) == 0 ? 0 : -errno;
}

int FsReaddir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
              fuse_readdir_flags) {
  DEAD_CHECK();
  DIR* d = ::opendir(B(path).c_str());
  if (d == nullptr) return -errno;
  bool root = std::strcmp(path, "/") == 0;
  while (dirent* e = ::readdir(d)) {
    if (root && std::strcmp(e->d_name, kTrash) == 0) continue;
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
  }
  ::closedir(d);
  return 0;
}

int FsMkdir(const char* path, mode_t mode) {
  DEAD_CHECK();
  if (::mkdir(B(path).c_str(), mode) != 0) return -errno;
  Journal({Undo::kMkdir, path, "", "", {Parent(path)}});
  return 0;
}

int FsRmdir(const char* path) {
  DEAD_CHECK();
  if (::rmdir(B(path).c_str()) != 0) return -errno;
  Journal({Undo::kRmdir, path, "", "", {Parent(path)}});
  return 0;
}

int FsUnlink(const char* path) {
  DEAD_CHECK();
  std::string trash = NewTrash();
  if (::rename(B(path).c_str(), trash.c_str()) != 0) return -errno;
  Journal({Undo::kUnlink, path, "", trash, {Parent(path)}});
  return 0;
}

int FsRename(const char* from, const char* to, unsigned int flags) {
  DEAD_CHECK();
  if (flags != 0) return -EINVAL;
  std::string trash;
  struct stat st;
  if (::lstat(B(to).c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return -EISDIR;  // not needed by Cairn or RocksDB
    trash = NewTrash();
    if (::rename(B(to).c_str(), trash.c_str()) != 0) return -errno;
  }
  if (::rename(B(from).c_str(), B(to).c_str()) != 0) {
    int e = errno;
    if (!trash.empty()) (void)::rename(trash.c_str(), B(to).c_str());
    return -e;
  }
  Journal({Undo::kRename, from, to, trash, {Parent(from), Parent(to)}});
  return 0;
}

int FsChmod(const char* path, mode_t mode, fuse_file_info*) {
  DEAD_CHECK();
  return ::chmod(B(path).c_str(), mode) == 0 ? 0 : -errno;
}

int FsChown(const char* path, uid_t uid, gid_t gid, fuse_file_info*) {
  DEAD_CHECK();
  return ::lchown(B(path).c_str(), uid, gid) == 0 ? 0 : -errno;
}

int FsUtimens(const char* path, const struct timespec tv[2], fuse_file_info*) {
  if (IsCtl(path)) return 0;
  DEAD_CHECK();
  return ::utimensat(AT_FDCWD, B(path).c_str(), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int FsTruncate(const char* path, off_t size, fuse_file_info* fi) {
  if (IsCtl(path)) return 0;
  DEAD_CHECK();
  int fd = fi != nullptr ? static_cast<int>(fi->fh) : ::open(B(path).c_str(), O_RDWR);
  if (fd < 0) return -errno;
  Inode* n = StateFor(fd);
  if (fi == nullptr) ::close(fd);
  if (n == nullptr) return -EINVAL;
  Truncate(*n, static_cast<uint64_t>(size));
  return 0;
}

int OpenBacking(const char* path, int flags, mode_t mode, fuse_file_info* fi) {
  // Always read-write, so a sync through a read-only descriptor can write the inode out; never
  // O_APPEND (the kernel gives us the offsets) nor O_TRUNC (that is a change to the cache).
  int bflags = (flags & ~(O_ACCMODE | O_APPEND | O_TRUNC | O_DIRECT)) | O_RDWR | O_CLOEXEC;
  int fd = ::open(B(path).c_str(), bflags, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  if (flags & O_TRUNC) {
    Inode* n = StateFor(fd);
    if (n != nullptr) Truncate(*n, 0);
  }
  return 0;
}

int FsOpen(const char* path, fuse_file_info* fi) {
  if (IsCtl(path)) {
    fi->fh = kCtlFh;
    fi->direct_io = 1;
    return 0;
  }
  DEAD_CHECK();
  return OpenBacking(path, fi->flags, 0, fi);
}

int FsCreate(const char* path, mode_t mode, fuse_file_info* fi) {
  DEAD_CHECK();
  bool existed = ::access(B(path).c_str(), F_OK) == 0;
  int rc = OpenBacking(path, fi->flags | O_CREAT, mode, fi);
  if (rc == 0 && !existed) Journal({Undo::kCreate, path, "", "", {Parent(path)}});
  return rc;
}

std::string CtlText() {
  uint64_t pages = 0;
  for (const auto& [ino, n] : g_inodes) pages += n.pages.size();
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "dead=%d unsynced_files=%zu unsynced_pages=%llu journal=%zu cuts=%llu "
                "pages_dropped=%llu names_undone=%llu syncs=%llu dir_syncs=%llu\n",
                g_dead ? 1 : 0, g_inodes.size(), static_cast<unsigned long long>(pages),
                g_journal.size(), static_cast<unsigned long long>(g_count.cuts),
                static_cast<unsigned long long>(g_count.pages_dropped),
                static_cast<unsigned long long>(g_count.names_undone),
                static_cast<unsigned long long>(g_count.syncs),
                static_cast<unsigned long long>(g_count.dir_syncs));
  return buf;
}

int FsRead(const char*, char* buf, size_t len, off_t off, fuse_file_info* fi) {
  if (fi->fh == kCtlFh) {
    std::string t = CtlText();
    if (static_cast<size_t>(off) >= t.size()) return 0;
    size_t n = std::min(len, t.size() - static_cast<size_t>(off));
    std::memcpy(buf, t.data() + off, n);
    return static_cast<int>(n);
  }
  DEAD_CHECK();
  const int fd = static_cast<int>(fi->fh);
  Inode* n = FindState(fd);
  if (n == nullptr) {
    ssize_t r = ::pread(fd, buf, len, off);
    return r < 0 ? -errno : static_cast<int>(r);
  }
  uint64_t o = static_cast<uint64_t>(off);
  if (o >= n->size) return 0;
  uint64_t end = std::min<uint64_t>(o + len, n->size);
  for (uint64_t pos = o; pos < end;) {
    uint64_t idx = pos / kPage, in = pos % kPage;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(kPage - in, end - pos));
    auto it = n->pages.find(idx);
    if (it == n->pages.end()) {
      // Consecutive uncached pages come from the backing file in one read.
      uint64_t stop = end;
      auto next = n->pages.lower_bound(idx);
      if (next != n->pages.end()) stop = std::min(stop, next->first * kPage);
      ReadBacking(*n, pos, static_cast<size_t>(stop - pos), buf + (pos - o));
      pos = stop;
      continue;
    }
    if (it->second.hole) {
      std::memset(buf + (pos - o), 0, chunk);
    } else {
      std::memcpy(buf + (pos - o), it->second.data.get() + in, chunk);
    }
    pos += chunk;
  }
  return static_cast<int>(end - o);
}

int FsWrite(const char*, const char* buf, size_t len, off_t off, fuse_file_info* fi) {
  if (fi->fh == kCtlFh) {
    std::string cmd(buf, len);
    while (!cmd.empty() && (cmd.back() == '\n' || cmd.back() == ' ')) cmd.pop_back();
    if (cmd == "cut") {
      if (!g_dead) Cut();
    } else if (cmd == "sync") {
      if (g_dead) return -EIO;
      SyncAll();
    } else {
      return -EINVAL;
    }
    return static_cast<int>(len);
  }
  DEAD_CHECK();
  Inode* n = StateFor(static_cast<int>(fi->fh));
  if (n == nullptr) return -EINVAL;
  uint64_t o = static_cast<uint64_t>(off);
  for (uint64_t pos = o; pos < o + len;) {
    uint64_t idx = pos / kPage, in = pos % kPage;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(kPage - in, o + len - pos));
    auto it = n->pages.find(idx);
    if (chunk == kPage && (it == n->pages.end() || it->second.hole)) {
      Page& p = n->pages[idx];
      p.hole = false;
      p.data.reset(new char[kPage]);
      std::memcpy(p.data.get(), buf + (pos - o), kPage);
    } else {
      Page& p = LoadPage(*n, idx);
      std::memcpy(p.data.get() + in, buf + (pos - o), chunk);
    }
    pos += chunk;
  }
  n->size = std::max(n->size, o + len);
  return static_cast<int>(len);
}

int FsFsync(const char*, int, fuse_file_info* fi) {
  if (fi->fh == kCtlFh) return 0;
  DEAD_CHECK();
  g_count.syncs++;
  if (g_lying) return 0;
  Inode* n = FindState(static_cast<int>(fi->fh));
  if (n == nullptr) return 0;
  struct stat st;
  if (::fstat(n->fd, &st) != 0) return -errno;
  int rc = Flush(*n);
  if (rc == 0) DropState(st.st_ino);
  return rc;
}

int FsFsyncdir(const char* path, int, fuse_file_info*) {
  DEAD_CHECK();
  g_count.dir_syncs++;
  if (g_lying) return 0;
  std::string dir = path;
  std::vector<Undo> keep;
  for (Undo& u : g_journal) {
    u.dirs.erase(dir);
    if (!u.dirs.empty()) {
      keep.push_back(std::move(u));
      continue;
    }
    // Durable now: what the trash held for this change is gone for good.
    if (!u.trash.empty()) UnlinkBackingFile(u.trash);
  }
  g_journal = std::move(keep);
  return 0;
}

int FsFlush(const char*, fuse_file_info* fi) { return g_dead && fi->fh != kCtlFh ? -EIO : 0; }

int FsRelease(const char*, fuse_file_info* fi) {
  if (fi->fh != kCtlFh) ::close(static_cast<int>(fi->fh));
  return 0;
}

int FsFallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  DEAD_CHECK();
  Inode* n = StateFor(static_cast<int>(fi->fh));
  if (n == nullptr) return -EINVAL;
  uint64_t o = static_cast<uint64_t>(off), end = o + static_cast<uint64_t>(len);
  if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
    ZeroRange(*n, o, std::min(end, n->size), /*punch=*/true);
    return 0;
  }
  if (mode == FALLOC_FL_KEEP_SIZE) return 0;  // preallocation: nothing visible changes
  if (mode == 0) {
    if (end > n->size) n->size = end;
    return 0;
  }
  return -EOPNOTSUPP;
}

// Whether page `idx` holds data (for SEEK_DATA / SEEK_HOLE).
bool PageHasData(Inode& n, uint64_t idx) {
  auto it = n.pages.find(idx);
  if (it != n.pages.end()) return !it->second.hole;
  uint64_t off = idx * kPage;
  if (off >= n.floor) return false;
  off_t d = ::lseek(n.fd, static_cast<off_t>(off), SEEK_DATA);
  return d >= 0 && static_cast<uint64_t>(d) < off + kPage;
}

off_t FsLseek(const char*, off_t off, int whence, fuse_file_info* fi) {
  DEAD_CHECK();
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return -EINVAL;
  Inode* n = StateFor(static_cast<int>(fi->fh));
  if (n == nullptr) return -EINVAL;
  uint64_t o = static_cast<uint64_t>(off);
  if (o >= n->size) return -ENXIO;
  for (uint64_t idx = o / kPage; idx * kPage < n->size; idx++) {
    bool data = PageHasData(*n, idx);
    if (data == (whence == SEEK_DATA)) return static_cast<off_t>(std::max(o, idx * kPage));
  }
  return whence == SEEK_DATA ? -ENXIO : static_cast<off_t>(n->size);
}

int FsStatfs(const char*, struct statvfs* st) {
  DEAD_CHECK();
  return ::statvfs(g_backing.c_str(), st) == 0 ? 0 : -errno;
}

void* FsInit(fuse_conn_info*, fuse_config* cfg) {
  // No attribute or name caching in the kernel: sizes live here, and change at a cut.
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->hard_remove = 1;  // unlink is journalled here, not hidden by the library
  cfg->use_ino = 1;
  return nullptr;
}

void FsDestroy(void*) {
  // An orderly unmount is a clean shutdown: everything reaches the backing directory.
  if (!g_dead) SyncAll();
}

}  // namespace

int main(int argc, char** argv) {
  bool debug = false;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--debug") == 0) {
      debug = true;
    } else if (std::strcmp(argv[i], "--lying-fsync") == 0) {
      g_lying = true;
    } else {
      pos.push_back(argv[i]);
    }
  }
  if (pos.size() != 2) {
    std::fprintf(stderr, "usage: powerfs [--debug] [--lying-fsync] BACKING MOUNTPOINT\n");
    return 2;
  }
  char* real = ::realpath(pos[0].c_str(), nullptr);
  if (real == nullptr) {
    std::fprintf(stderr, "powerfs: %s: %s\n", pos[0].c_str(), std::strerror(errno));
    return 1;
  }
  g_backing = real;
  std::free(real);
  if (g_backing == "/") g_backing.clear();
  // A trash directory left by an earlier mount holds only changes that were undone or are
  // durable deletions: empty it.
  SyncAll();

  fuse_operations ops{};
  ops.getattr = FsGetattr;
  ops.access = FsAccess;
  ops.readdir = FsReaddir;
  ops.mkdir = FsMkdir;
  ops.rmdir = FsRmdir;
  ops.unlink = FsUnlink;
  ops.rename = FsRename;
  ops.chmod = FsChmod;
  ops.chown = FsChown;
  ops.utimens = FsUtimens;
  ops.truncate = FsTruncate;
  ops.open = FsOpen;
  ops.create = FsCreate;
  ops.read = FsRead;
  ops.write = FsWrite;
  ops.fsync = FsFsync;
  ops.fsyncdir = FsFsyncdir;
  ops.flush = FsFlush;
  ops.release = FsRelease;
  ops.fallocate = FsFallocate;
  ops.lseek = FsLseek;
  ops.statfs = FsStatfs;
  ops.init = FsInit;
  ops.destroy = FsDestroy;

  std::vector<std::string> args = {argv[0], "-o", "fsname=powerfs,subtype=powerfs"};
  if (debug) args.push_back("-d");
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  fuse_args fa = FUSE_ARGS_INIT(static_cast<int>(cargs.size()), cargs.data());
  fuse* f = fuse_new(&fa, &ops, sizeof(ops), nullptr);
  if (f == nullptr) return 1;
  if (fuse_mount(f, pos[1].c_str()) != 0) {
    fuse_destroy(f);
    return 1;
  }
  fuse_set_signal_handlers(fuse_get_session(f));
  int rc = fuse_loop(f);  // one request at a time: see the header comment
  fuse_remove_signal_handlers(fuse_get_session(f));
  fuse_unmount(f);
  fuse_destroy(f);
  fuse_opt_free_args(&fa);
  return rc == 0 ? 0 : 1;
}
