// Opening a store with test hooks (a crash-tracked index Env, named crash points). Test
// machinery: in the testing library cairn_engine_testing, which cairnd and cairn never link
// (src/layers.txt).
#pragma once

#include <memory>
#include <string>

#include "cairn/store.h"
#include "engine/test_hooks.h"

namespace cairn {

// Store::Open with `hooks` (engine/test_hooks.h).
Result<std::unique_ptr<Store>> OpenStoreForTesting(const std::string& dir,
                                                   const StoreOptions& options,
                                                   StoreTestHooks hooks);

}  // namespace cairn
