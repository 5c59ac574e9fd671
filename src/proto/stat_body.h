// The STAT reply body (docs/protocol.md section 4): StoreStats as a JSON object, with the
// server's counters in its "server" member. The server encodes it; the client library decodes
// it back into StoreStats (the counters into StoreStats::server).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "cairn/object_store.h"

namespace cairn::proto {

// Every StoreStats field; "server" holds stats.server (a counter per name).
std::string EncodeStatBody(const StoreStats& stats);
// Missing members stay zero; a member of the wrong type, or text that is not a JSON object, is
// an IOError naming it (the server sent something it should not have).
Result<StoreStats> DecodeStatBody(std::string_view body);

}  // namespace cairn::proto
