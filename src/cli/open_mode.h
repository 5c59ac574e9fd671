// OpenMode: whether a command may create the local store it opens.
#pragma once

namespace cairn::cli {

// kCreate for commands that write a new object (the default store appears on first use);
// kExisting for the others, so a typo in --store is reported instead of leaving an empty store.
enum class OpenMode { kCreate, kExisting };

}  // namespace cairn::cli
