// put, get, head and rm: the commands that address one key.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/escape.h"
#include "cli/open_store.h"
#include "cli/output.h"
#include "cli/stream_io.h"

namespace cairn::cli {
namespace {

Outcome KeyNotFound(std::string_view key) {
  return Outcome::NotFound(
      fmt::format("no such key \"{}\" (cairn ls lists the keys)", EscapeKey(key)));
}

// Makes the rename of `path` durable. EINVAL: the file system cannot sync directories, and
// there is nothing better to do about it.
Status SyncParentDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0 && errno != EINVAL)
    return Status::FromErrno(errno, "fsync directory " + dir);
  return fd.Close(dir);
}

// Streams the object into `path` by way of a temporary file, so that `path` either keeps its
// old content or gets the whole verified object: a reader that fails half-way (corruption, a
// full disk) never leaves a truncated file that looks like a good copy.
Status WriteObjectToFile(ObjectReader* reader, const std::string& path) {
  const std::string tmp = path + ".cairn-tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) return Status::FromErrno(errno, "cannot create " + tmp);
  Status s = CopyObject(reader, fd.get(), tmp);
  if (s.ok() && ::fsync(fd.get()) != 0) s = Status::FromErrno(errno, "fsync " + tmp);
  if (s.ok()) s = fd.Close(tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = Status::FromErrno(errno, "rename " + tmp + " to " + path);
  if (!s.ok()) {
    (void)fd.Close(tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncParentDir(path);
}

}  // namespace

Outcome RunPut(const Context& ctx, const std::string& key, const std::string& file) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  const bool from_stdin = file.empty() || file == "-";
  UniqueFd input;
  if (!from_stdin) {
    // Before the store is opened: a mistyped FILE must not create a store.
    Result<int> fd = OpenInputFile(file);
    if (!fd.ok()) return Failure(fd.status());
    input.Reset(*fd);
  }
  // The store is opened, and its lock taken, before stdin is read: a put waiting on a pipe
  // holds the store like any other writer.
  std::unique_ptr<Backend> store;
  if (Outcome o = OpenBackend(ctx, OpenMode::kCreate, &store); !o.ok()) return o;
  if (from_stdin && ::isatty(STDIN_FILENO))
    std::fputs("cairn: put: reading the value from the terminal; end it with Ctrl-D\n", stderr);
  FdSource src(from_stdin ? STDIN_FILENO : input.get(), from_stdin ? "stdin" : file);
  Result<ObjectInfo> info = store->Put(key, &src);
  if (!info.ok()) return Failure(info.status());
  if (ctx.json) {
    Json j = ObjectJson(*info, /*mtime_text=*/false);
    j.erase("mtime_us");
    PrintOut(fmt::format("{}\n", j.dump()));
  }
  return store->Close();
}

Outcome RunGet(const Context& ctx, const std::string& key, const std::string& out_file) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Backend> store;
  if (Outcome o = OpenBackend(ctx, OpenMode::kExisting, &store); !o.ok()) return o;
  // The reader is opened before any output file is created: a missing key leaves no file.
  Result<std::unique_ptr<ObjectReader>> reader = store->OpenReader(key);
  if (!reader.ok()) {
    if (reader.status().IsNotFound()) return KeyNotFound(key);
    return Failure(reader.status().WithContext("reading \"" + EscapeKey(key) + "\""));
  }
  Status s;
  if (out_file.empty() || out_file == "-") {
    s = CopyObject(reader->get(), STDOUT_FILENO, "stdout");
  } else {
    s = WriteObjectToFile(reader->get(), out_file);
  }
  if (s.IsCorruption())
    return Outcome::Error(fmt::format("object \"{}\" is damaged: {}; restore it from a copy",
                                      EscapeKey(key), s.message()));
  if (!s.ok()) return Failure(s);
  return store->Close();
}

Outcome RunHead(const Context& ctx, const std::string& key) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Backend> store;
  if (Outcome o = OpenBackend(ctx, OpenMode::kExisting, &store); !o.ok()) return o;
  Result<ObjectInfo> info = store->Head(key);
  if (!info.ok()) {
    if (info.status().IsNotFound()) return KeyNotFound(key);
    return Failure(info.status());
  }
  if (ctx.json) {
    PrintOut(fmt::format("{}\n", ObjectJson(*info, /*mtime_text=*/true).dump()));
  } else {
    PrintOut(fmt::format("key: {}\nsize: {}\ncrc32c: {}\nsequence: {}\nmtime: {}\n",
                         EscapeKey(info->key), info->size, Crc32cHex(info->crc32c), info->sequence,
                         FormatUtcMicros(info->mtime_us)));
  }
  return store->Close();
}

Outcome RunRm(const Context& ctx, const std::string& key) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Backend> store;
  if (Outcome o = OpenBackend(ctx, OpenMode::kExisting, &store); !o.ok()) return o;
  Status s = store->Delete(key);
  if (s.IsNotFound()) return KeyNotFound(key);
  if (!s.ok()) return Failure(s);
  return store->Close();
}

}  // namespace cairn::cli
