// The shared vocabulary of cairn/object_store.h: keys, versions, log positions, metadata.
#include <cinttypes>
#include <cstdio>

#include "cairn/object_store.h"
#include "util/coding.h"
#include "util/metadata_codec.h"

namespace cairn {

Status ValidateKey(std::string_view key, size_t max_key_bytes) {
  if (key.empty())
    return Status::InvalidArgument("key is empty; keys are 1 to " + std::to_string(max_key_bytes) +
                                   " bytes");
  if (key.size() > max_key_bytes)
    return Status::LimitExceeded("max_key_bytes: key is " + std::to_string(key.size()) +
                                 " bytes, limit " + std::to_string(max_key_bytes));
  return Status::OK();
}

namespace {

bool ParseHex(std::string_view s, uint64_t* out) {
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

bool ParseDecimal(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

std::string Version::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "%08" PRIx32, hlc, writer);
  return buf;
}

bool Version::Parse(std::string_view text, Version* out) {
  if (text.size() != 24) return false;
  uint64_t hlc = 0, writer = 0;
  if (!ParseHex(text.substr(0, 16), &hlc) || !ParseHex(text.substr(16), &writer)) return false;
  *out = Version{hlc, static_cast<uint32_t>(writer)};
  return true;
}

std::string LogPosition::ToString() const {
  return std::to_string(volume_) + ":" + std::to_string(offset_);
}

bool LogPosition::Parse(std::string_view text, LogPosition* out) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  uint64_t v = 0, o = 0;
  if (!ParseDecimal(text.substr(0, colon), UINT32_MAX, &v) ||
      !ParseDecimal(text.substr(colon + 1), UINT64_MAX, &o))
    return false;
  *out = LogPosition(static_cast<uint32_t>(v), o);
  return true;
}

// ---- Metadata codec (util/metadata_codec.h) --------------------------------------------------

namespace {

enum MetaKind : uint8_t { kContentType = 1, kMd5 = 2, kUser = 3, kSystem = 4 };
constexpr size_t kEntryHead = 4;  // kind, name_len, value_len

void AppendEntry(uint8_t kind, std::string_view name, std::string_view value, std::string* out) {
  char h[kEntryHead];
  h[0] = static_cast<char>(kind);
  h[1] = static_cast<char>(name.size());
  EncodeFixed16(h + 2, static_cast<uint16_t>(value.size()));
  out->append(h, kEntryHead);
  out->append(name);
  out->append(value);
}

Status CheckPairs(const std::map<std::string, std::string>& pairs, const char* what) {
  for (const auto& [k, v] : pairs) {
    if (k.empty() || k.size() > kMaxMetaNameBytes)
      return Status::InvalidArgument(std::string(what) + " metadata name is " +
                                     std::to_string(k.size()) + " bytes; names are 1 to 255 bytes");
    if (v.size() > kMaxMetaValueBytes)
      return Status::InvalidArgument(std::string(what) + " metadata value of \"" + k + "\" is " +
                                     std::to_string(v.size()) + " bytes; the limit is 65535");
  }
  return Status::OK();
}

}  // namespace

size_t ObjectMetadata::EncodedSize() const {
  if (empty()) return 0;
  size_t n = 1;
  if (!content_type.empty()) n += kEntryHead + content_type.size();
  if (!md5.empty()) n += kEntryHead + md5.size();
  for (const auto& [k, v] : user) n += kEntryHead + k.size() + v.size();
  for (const auto& [k, v] : system) n += kEntryHead + k.size() + v.size();
  return n;
}

Status CheckMetadata(const ObjectMetadata& m, size_t max_meta_bytes) {
  if (m.content_type.size() > kMaxMetaValueBytes)
    return Status::InvalidArgument("content type is longer than 65535 bytes");
  if (!m.md5.empty() && m.md5.size() != 16)
    return Status::InvalidArgument("md5 metadata must be 16 bytes, not " +
                                   std::to_string(m.md5.size()));
  CAIRN_RETURN_IF_ERROR(CheckPairs(m.user, "user"));
  CAIRN_RETURN_IF_ERROR(CheckPairs(m.system, "system"));
  const size_t n = m.EncodedSize();
  if (n > max_meta_bytes)
    return Status::LimitExceeded("max_meta_bytes: metadata is " + std::to_string(n) +
                                 " bytes encoded, limit " + std::to_string(max_meta_bytes));
  return Status::OK();
}

void AppendMetadata(const ObjectMetadata& m, std::string* out) {
  if (m.empty()) return;
  out->push_back(static_cast<char>(kMetadataFormat));
  if (!m.content_type.empty()) AppendEntry(kContentType, "", m.content_type, out);
  if (!m.md5.empty()) AppendEntry(kMd5, "", m.md5, out);
  for (const auto& [k, v] : m.user) AppendEntry(kUser, k, v, out);
  for (const auto& [k, v] : m.system) AppendEntry(kSystem, k, v, out);
}

std::string EncodeMetadata(const ObjectMetadata& m) {
  std::string out;
  out.reserve(m.EncodedSize());
  AppendMetadata(m, &out);
  return out;
}

Status DecodeMetadata(std::string_view in, ObjectMetadata* m) {
  *m = ObjectMetadata();
  if (in.empty()) return Status::OK();
  if (static_cast<uint8_t>(in[0]) != kMetadataFormat)
    return Status::Corruption("metadata format " + std::to_string(static_cast<uint8_t>(in[0])) +
                              " is unknown");
  in.remove_prefix(1);
  if (in.empty()) return Status::Corruption("metadata has a format byte and no entries");
  uint8_t last_kind = 0;
  std::string_view last_name;
  while (!in.empty()) {
    if (in.size() < kEntryHead) return Status::Corruption("metadata entry cut short");
    const uint8_t kind = static_cast<uint8_t>(in[0]);
    const size_t name_len = static_cast<uint8_t>(in[1]);
    const size_t value_len = DecodeFixed16(in.data() + 2);
    if (in.size() < kEntryHead + name_len + value_len)
      return Status::Corruption("metadata entry cut short");
    std::string_view name = in.substr(kEntryHead, name_len);
    std::string_view value = in.substr(kEntryHead + name_len, value_len);
    in.remove_prefix(kEntryHead + name_len + value_len);
    if (kind < last_kind || kind < kContentType || kind > kSystem)
      return Status::Corruption("metadata entries out of order or of an unknown kind");
    switch (kind) {
      case kContentType:
      case kMd5:
        if (kind == last_kind || !name.empty() || value.empty())
          return Status::Corruption("metadata content-type or md5 entry is malformed");
        if (kind == kMd5 && value.size() != 16)
          return Status::Corruption("metadata md5 is not 16 bytes");
        (kind == kContentType ? m->content_type : m->md5).assign(value);
        break;
      default: {
        if (name.empty()) return Status::Corruption("metadata pair with an empty name");
        if (kind == last_kind && name <= last_name)
          return Status::Corruption("metadata pair names are not strictly increasing");
        auto& pairs = kind == kUser ? m->user : m->system;
        pairs.emplace(std::string(name), std::string(value));
        break;
      }
    }
    last_kind = kind;
    last_name = name;
  }
  return Status::OK();
}

}  // namespace cairn
