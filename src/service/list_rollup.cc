#include "service/list_rollup.h"

#include <algorithm>

#include "util/check.h"

namespace cairn::service {
namespace {

// Named bound: objects asked of one scan.
constexpr size_t kMaxScanPage = 1000;
// Named bounds: the first scan page of a listing with a delimiter, and the page right after a
// common prefix was listed. Keys under one common prefix come together, so a short page reads
// at most this many of them before the next seek; pages double while they roll nothing up.
constexpr size_t kFirstPageWithDelimiter = 64;
constexpr size_t kPageAfterRollup = 16;

}  // namespace

std::string PastEveryKeyWithPrefix(std::string_view prefix) {
  CAIRN_CHECK(prefix.size() <= kMaxKeyBytes);
  std::string s(prefix);
  s.resize(kMaxKeyBytes, '\xff');
  return s;
}

Result<ListResult> ListWithDelimiter(const ListOptions& lo, uint32_t limit, const ScanFn& scan) {
  CAIRN_CHECK(limit >= 1);
  ListResult out;
  const std::string_view prefix = lo.prefix;
  const std::string_view delim = lo.delimiter;
  std::string cursor = lo.start_after;
  if (delim.empty()) {
    CAIRN_ASSIGN_OR_RETURN(ScanPage page, scan(prefix, cursor, limit));
    out.objects = std::move(page.objects);
    out.truncated = page.truncated;
    if (!out.objects.empty()) out.next_start_after = out.objects.back().key;
    return out;
  }
  // The group of start_after, if it is in one, was listed before: skip all of it.
  if (cursor.size() >= prefix.size() && std::string_view(cursor).starts_with(prefix)) {
    const size_t at = cursor.find(delim, prefix.size());
    if (at != std::string::npos)
      cursor = std::max(cursor, PastEveryKeyWithPrefix(cursor.substr(0, at + delim.size())));
  }
  size_t emitted = 0;
  size_t cap = kFirstPageWithDelimiter;
  for (;;) {
    // One more than is left to emit: enough to know whether the listing is truncated.
    const size_t want = std::min(limit - emitted + 1, cap);
    CAIRN_ASSIGN_OR_RETURN(ScanPage page, scan(prefix, cursor, want));
    bool seeked = false;
    for (ObjectInfo& o : page.objects) {
      const size_t at = o.key.find(delim, prefix.size());
      if (emitted == limit) {
        out.truncated = true;
        return out;
      }
      emitted++;
      if (at == std::string::npos) {
        cursor = o.key;
        out.next_start_after = o.key;
        out.objects.push_back(std::move(o));
        continue;
      }
      std::string common = o.key.substr(0, at + delim.size());
      cursor = PastEveryKeyWithPrefix(common);
      out.next_start_after = common;
      out.common_prefixes.push_back(std::move(common));
      seeked = true;
      break;
    }
    if (seeked) {
      cap = kPageAfterRollup;
      continue;
    }
    if (!page.truncated) return out;
    cap = std::min(cap * 2, kMaxScanPage);
  }
}

}  // namespace cairn::service
