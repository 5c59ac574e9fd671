#include "service/checks.h"

#include <algorithm>
#include <string>

#include "util/metadata_codec.h"

namespace cairn::service {

Status CheckWriteOptions(const WriteOptions& wo, size_t max_meta_bytes, bool is_delete) {
  switch (wo.condition) {
    case WriteCondition::kIfMatch:
      if (wo.version.none())
        return Status::InvalidArgument("if-match needs the version that must be current");
      break;
    case WriteCondition::kIfNewer:
      if (wo.version.none())
        return Status::InvalidArgument("if-newer needs the version to write");
      break;
    case WriteCondition::kNone:
    case WriteCondition::kIfNoneMatch:
      break;
    default:
      return Status::InvalidArgument("unknown write condition " +
                                     std::to_string(static_cast<int>(wo.condition)));
  }
  if (is_delete) return Status::OK();
  return CheckMetadata(wo.metadata, max_meta_bytes);
}

Status CheckListOptions(const ListOptions& lo, uint32_t max_list_limit, uint32_t* limit) {
  if (lo.limit > max_list_limit)
    return Status::LimitExceeded("max_list_limit: limit " + std::to_string(lo.limit) +
                                 " is over " + std::to_string(max_list_limit));
  auto bound = [](const char* what, const std::string& s) {
    if (s.size() <= kMaxKeyBytes) return Status::OK();
    return Status::LimitExceeded(std::string("max_key_bytes: ") + what + " is " +
                                 std::to_string(s.size()) + " bytes, limit " +
                                 std::to_string(kMaxKeyBytes));
  };
  CAIRN_RETURN_IF_ERROR(bound("prefix", lo.prefix));
  CAIRN_RETURN_IF_ERROR(bound("delimiter", lo.delimiter));
  CAIRN_RETURN_IF_ERROR(bound("start_after", lo.start_after));
  *limit = lo.limit == 0 ? std::min(kDefaultListLimit, max_list_limit) : lo.limit;
  return Status::OK();
}

}  // namespace cairn::service
