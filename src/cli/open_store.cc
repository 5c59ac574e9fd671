#include "cli/open_store.h"

#include <fmt/format.h>

#include <filesystem>

#include "cluster/cluster_node.h"

#include "util/escape.h"

namespace cairn::cli {

StoreOptions StoreOptionsFor(const Context& ctx) {
  std::error_code ec;
  if (std::filesystem::exists(ctx.store_dir + "/NODE_ID", ec))
    return cluster::ClusterEngineOptions(ctx.options);
  return ctx.options;
}

void DropNodeDigestCheckpoint(const Context& ctx) {
  std::error_code ec;
  if (std::filesystem::exists(ctx.store_dir + "/NODE_ID", ec))
    std::filesystem::remove(ctx.store_dir + "/" + cluster::kDigestCheckpointFile, ec);
}

Outcome OpenStore(const Context& ctx, OpenMode mode, std::unique_ptr<Store>* store) {
  StoreOptions options = StoreOptionsFor(ctx);
  options.create_if_missing = mode == OpenMode::kCreate;
  Result<std::unique_ptr<Store>> r = Store::Open(ctx.store_dir, options);
  if (r.ok()) {
    *store = std::move(*r);
    DropNodeDigestCheckpoint(ctx);  // this command holds the stopped node's store now
    return Outcome::Ok();
  }
  const Status& s = r.status();
  const std::string dir = OneLine(ctx.store_dir);
  // With create_if_missing off, NotFound can only mean a missing or empty directory.
  if (s.IsNotFound() && mode == OpenMode::kExisting)
    return Outcome::Error(
        fmt::format("no store at {} (put an object first, or pass --store DIR)", dir));
  if (s.IsBusy()) return Outcome::Error(fmt::format("{}; retry when it has finished", s.message()));
  // The engine's other messages (not a store, damaged marker, bad index) name the directory
  // and say what to do already.
  if (s.IsInvalidArgument() || s.IsCorruption() || s.IsNotSupported())
    return Outcome::Error(s.message());
  return Outcome::Error(fmt::format("cannot open the store at {}: {}", dir, s.message()));
}

Outcome CloseStore(const Context& ctx, Store* store) {
  Status s = store->Close();
  if (s.ok()) return Outcome::Ok();
  return Outcome::Error(
      fmt::format("closing the store at {}: {}", OneLine(ctx.store_dir), s.message()));
}

}  // namespace cairn::cli
