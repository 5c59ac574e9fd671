#include "cli/local_backend.h"

#include "cairn/local_object_store.h"
#include "cli/open_store.h"
#include "cli/session.h"

namespace cairn::cli {
namespace {

class EngineBackend final : public LocalBackend {
 public:
  Outcome OpenSession(const Context& ctx, OpenMode mode,
                      std::unique_ptr<Session>* out) const override {
    std::unique_ptr<Store> store;
    if (Outcome o = OpenStore(ctx, mode, &store); !o.ok()) return o;
    std::shared_ptr<Store> owned = std::move(store);
    Store* s = owned.get();
    *out = Session::Local(ctx, LocalObjectStore::Borrow(s),
                          [&ctx, s] { return CloseStore(ctx, s); }, std::move(owned));
    return Outcome::Ok();
  }
  Outcome Reclaim(const Context& ctx, bool dry_run) const override {
    return RunReclaim(ctx, dry_run);
  }
  Outcome Verify(const Context& ctx, bool repair) const override { return RunVerify(ctx, repair); }
  Outcome Import(const Context& ctx, const BulkArgs& args) const override {
    return RunImport(ctx, args);
  }
  Outcome Export(const Context& ctx, const BulkArgs& args) const override {
    return RunExport(ctx, args);
  }
  Outcome Bench(const Context& ctx, const BenchArgs& args) const override {
    return RunBench(ctx, args);
  }
};

}  // namespace

const LocalBackend& LocalStoreBackend() {
  static const EngineBackend backend;
  return backend;
}

}  // namespace cairn::cli
