// Outcome: how a cairn command ends, as an exit code plus, on failure, the one-line message
// main() prints as "cairn: <command>: <message>".
//
// The exit codes are part of the tool's interface (scripts branch on them); the table is at the
// top of main.cc. Thread safety: a value type.
#pragma once

#include <string>
#include <utility>

namespace cairn::cli {

enum class ExitCode : int {
  kOk = 0,
  kError = 1,     // I/O, corruption, locked store, not a store, read-only
  kUsage = 2,     // bad flags or arguments: fix the command line
  kNotFound = 3,  // get/head/rm of a key that has no live version
};

class [[nodiscard]] Outcome {
 public:
  static Outcome Ok() { return Outcome(ExitCode::kOk, ""); }
  static Outcome Error(std::string msg) { return Outcome(ExitCode::kError, std::move(msg)); }
  static Outcome Usage(std::string msg) { return Outcome(ExitCode::kUsage, std::move(msg)); }
  static Outcome NotFound(std::string msg) { return Outcome(ExitCode::kNotFound, std::move(msg)); }

  bool ok() const { return code_ == ExitCode::kOk; }
  ExitCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Outcome(ExitCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  ExitCode code_;
  std::string message_;
};

}  // namespace cairn::cli
