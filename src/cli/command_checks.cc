#include "cli/command_checks.h"

#include "cairn/object_store.h"

namespace cairn::cli {

Outcome CheckKey(std::string_view key) {
  Status s = ValidateKey(key);
  if (s.ok()) return Outcome::Ok();
  return Outcome::Usage(s.message());
}

Outcome Failure(const Status& s) { return Outcome::Error(s.message()); }

}  // namespace cairn::cli
