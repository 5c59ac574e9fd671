// `cairn status` and `cairn top`: a node's state as its ops listener reports it
// (GET /status.json on cairnd's --http-listen; ops/ops_handler.h), as a table or as live rates.
//
// The formatting is pure (JSON in, text out) so it is tested without a node.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/outcome.h"

namespace cairn::cli {

struct NodeArgs {
  std::string http;  // HOST:PORT of the node's ops listener (--http, else $CAIRN_HTTP)
  int timeout_ms = 5000;
};

struct TopArgs {
  double interval_s = 1.0;  // 0.1 .. 3600
  uint64_t count = 0;       // frames to print; 0: until interrupted
};

// One node's state as a table; with `json`, the status document as the node sent it.
Outcome RunStatus(const NodeArgs& node, bool json);
// Live rates, refreshed every interval: redrawn in place on a terminal, one block per frame
// otherwise. With `json`, one status document per line per frame.
Outcome RunTop(const NodeArgs& node, const TopArgs& top, bool json);

// The `cairn status` table for a status document.
std::string FormatNodeStatus(const nlohmann::json& s);
// One `cairn top` frame. Rates come from the difference with `prev` over `elapsed_s` when
// given, else from the node's own window; percentiles always from the node's window.
std::string FormatTopFrame(const nlohmann::json& cur, const nlohmann::json* prev,
                           double elapsed_s);

}  // namespace cairn::cli
