#include "engine/store_testing.h"

#include "engine/store_impl.h"

namespace cairn {

Result<std::unique_ptr<Store>> OpenStoreForTesting(const std::string& dir,
                                                   const StoreOptions& options,
                                                   StoreTestHooks hooks) {
  return StoreImpl::Open(dir, options, std::move(hooks));
}

}  // namespace cairn
