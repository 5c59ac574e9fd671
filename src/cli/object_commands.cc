// put, get, head and rm: the commands that address one key.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "util/escape.h"
#include "cli/command_checks.h"
#include "cli/output.h"
#include "cli/session.h"
#include "cli/stream_io.h"
#include "util/metadata_codec.h"

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

Outcome RunPut(const Context& ctx, const std::string& key, const std::string& file,
               const PutArgs& args) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  WriteOptions wo;
  wo.durability = ctx.remote_durability;
  wo.metadata.content_type = args.content_type;
  for (const std::string& kv : args.meta) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Outcome::Usage(fmt::format("bad --meta '{}'; use NAME=VALUE", OneLine(kv)));
    const std::string name = kv.substr(0, eq);
    if (!wo.metadata.user.emplace(name, kv.substr(eq + 1)).second)
      return Outcome::Usage(fmt::format("--meta {} is given twice", OneLine(name)));
  }
  // Checked (bounds and the default max_meta_bytes) before the store is opened; a server with
  // another limit answers for itself.
  if (Status s = CheckMetadata(wo.metadata, SIZE_MAX); !s.ok())
    return Outcome::Usage(s.message());
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
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kCreate, &session); !o.ok()) return o;
  if (from_stdin && ::isatty(STDIN_FILENO))
    std::fputs("cairn: put: reading the value from the terminal; end it with Ctrl-D\n", stderr);
  FdSource src(from_stdin ? STDIN_FILENO : input.get(), from_stdin ? "stdin" : file);
  Result<WriteResult> w = session->store().PutStream(key, &src, wo);
  if (!w.ok()) return session->Fail(w.status());
  if (ctx.json) {
    ObjectInfo info;
    info.key = key;
    info.size = w->size;
    info.crc32c = w->crc32c;
    info.sequence = w->sequence;
    info.version = w->version;
    Json j = ObjectJson(info, /*mtime_text=*/false);
    j.erase("mtime_us");
    PrintOut(fmt::format("{}\n", j.dump()));
  }
  return session->Close();
}

Outcome RunGet(const Context& ctx, const std::string& key, const std::string& out_file) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kExisting, &session); !o.ok()) return o;
  // The reader is opened before any output file is created: a missing key leaves no file.
  Result<std::unique_ptr<ObjectReader>> reader = session->store().OpenReader(key);
  if (!reader.ok()) {
    if (reader.status().IsNotFound()) return KeyNotFound(key);
    return session->Fail(reader.status().WithContext("reading \"" + EscapeKey(key) + "\""));
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
  if (!s.ok()) return session->Fail(s);
  reader->reset();
  return session->Close();
}

Outcome RunHead(const Context& ctx, const std::string& key) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kExisting, &session); !o.ok()) return o;
  Result<ObjectInfo> info = session->store().Head(key);
  if (!info.ok()) {
    if (info.status().IsNotFound()) return KeyNotFound(key);
    return session->Fail(info.status());
  }
  if (ctx.json) {
    PrintOut(fmt::format("{}\n", ObjectJson(*info, /*mtime_text=*/true).dump()));
  } else {
    PrintOut(fmt::format("key: {}\nsize: {}\ncrc32c: {}\nsequence: {}\nmtime: {}\nversion: {}\n",
                         EscapeKey(info->key), info->size, Crc32cHex(info->crc32c), info->sequence,
                         FormatUtcMicros(info->mtime_us), info->version.ToString()));
    const ObjectMetadata& m = info->metadata;
    if (!m.content_type.empty()) PrintOut(fmt::format("content-type: {}\n", EscapeKey(m.content_type)));
    if (!m.md5.empty()) PrintOut(fmt::format("md5: {}\n", HexBytes(m.md5)));
    for (const auto& [k, v] : m.user) PrintOut(fmt::format("meta: {}={}\n", EscapeKey(k), EscapeKey(v)));
    for (const auto& [k, v] : m.system)
      PrintOut(fmt::format("system-meta: {}={}\n", EscapeKey(k), EscapeKey(v)));
  }
  return session->Close();
}

Outcome RunRm(const Context& ctx, const std::string& key) {
  if (Outcome o = CheckKey(key); !o.ok()) return o;
  std::unique_ptr<Session> session;
  if (Outcome o = Session::Open(ctx, OpenMode::kExisting, &session); !o.ok()) return o;
  WriteOptions wo;
  wo.durability = ctx.remote_durability;
  Result<WriteResult> w = session->store().Delete(key, wo);
  if (w.status().IsNotFound()) return KeyNotFound(key);
  if (!w.ok()) return session->Fail(w.status());
  return session->Close();
}

}  // namespace cairn::cli
