#include "service/object_service.h"

#include <algorithm>

#include "service/checks.h"
#include "util/check.h"
#include "util/crc32c.h"

namespace cairn::service {
namespace {

GetOutcome Failed(Status s) {
  GetOutcome o;
  o.status = std::move(s);
  return o;
}

Status RangePastEnd(uint64_t offset, uint64_t size) {
  return Status::InvalidArgument("range starts past the end (offset " + std::to_string(offset) +
                                 ", size " + std::to_string(size) + ")");
}

// Named bound: the buffer of the first pass over a large range of a store that cannot pin.
constexpr size_t kRangePassBytes = 1 << 20;

// Reads a reader to its end, returning the CRC-32C of what it gave.
Result<uint32_t> CrcOfReader(ObjectReader* r) {
  std::string buf(kRangePassBytes, '\0');
  uint32_t crc = 0;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
    if (n == 0) return crc;
    crc = crc32c::Extend(crc, buf.data(), n);
  }
}

bool SameObject(const ObjectInfo& a, const ObjectInfo& b) {
  return a.version == b.version && a.size == b.size && a.crc32c == b.crc32c &&
         a.sequence == b.sequence;
}

}  // namespace

const ObjectInfo& GetOutcome::info() const {
  if (pin != nullptr) return pin->info();
  if (reader != nullptr) return reader->info();
  CAIRN_CHECK(bytes != nullptr);
  return bytes->info;
}

ObjectService::ObjectService(ObjectStore* store, const ServiceLimits& limits)
    : store_(store), limits_(limits) {}

Status ObjectService::CheckKey(std::string_view key) const {
  return ValidateKey(key, limits_.max_key_bytes);
}

Status ObjectService::CheckPut(std::string_view key, const WriteOptions& wo,
                               std::optional<uint64_t> body_len) const {
  CAIRN_RETURN_IF_ERROR(CheckKey(key));
  CAIRN_RETURN_IF_ERROR(CheckWriteOptions(wo, limits_.max_meta_bytes, /*is_delete=*/false));
  if (body_len.has_value() && limits_.max_object_bytes != 0 &&
      *body_len > limits_.max_object_bytes)
    return Status::LimitExceeded("max_object_bytes: body is " + std::to_string(*body_len) +
                                 " bytes, limit " + std::to_string(limits_.max_object_bytes));
  return Status::OK();
}

Status ObjectService::CheckDelete(std::string_view key, const WriteOptions& wo) const {
  CAIRN_RETURN_IF_ERROR(CheckKey(key));
  return CheckWriteOptions(wo, limits_.max_meta_bytes, /*is_delete=*/true);
}

PutPath ObjectService::ChoosePutPath(std::optional<uint64_t> body_len) const {
  return body_len.has_value() && *body_len <= limits_.max_buffered_body_bytes ? PutPath::kLoop
                                                                              : PutPath::kStream;
}

Status ObjectService::PutOnLoop(std::string_view key, std::string_view value,
                                const WriteOptions& wo, ObjectStore::WriteDone done) {
  return store_->PutAsync(key, value, wo, std::move(done));
}

void ObjectService::EndOfTurn() { store_->StartCommit(); }

Result<WriteResult> ObjectService::Put(std::string_view key, std::string_view value,
                                       const WriteOptions& wo) {
  return store_->Put(key, value, wo);
}

Result<WriteResult> ObjectService::PutStream(std::string_view key, ValueSource* src,
                                             const WriteOptions& wo) {
  return store_->PutStream(key, src, wo);
}

std::optional<GetOutcome> ObjectService::TryGetOnLoop(std::string_view key,
                                                      const ByteRange& range) {
  // A range needs its records read for a fresh CRC: Get does that.
  if (range.offset != 0) return std::nullopt;
  if (Status s = CheckKey(key); !s.ok()) return Failed(std::move(s));
  Result<std::unique_ptr<PinnedObject>> pin = store_->TryPin(key);
  if (!pin.ok()) {
    if (pin.status().IsNotFound()) return Failed(pin.status());
    return std::nullopt;  // Get reports other errors
  }
  if (*pin == nullptr) return std::nullopt;  // it would have to wait
  const ObjectInfo& info = (*pin)->info();
  if (range.length < info.size) return std::nullopt;
  std::optional<GetOutcome> o(std::in_place);
  o->length = info.size;
  o->crc = info.crc32c;
  o->pin = std::move(*pin);
  return o;
}

GetOutcome ObjectService::Get(std::string_view key, const ByteRange& range) {
  if (Status s = CheckKey(key); !s.ok()) return Failed(std::move(s));
  Result<std::unique_ptr<PinnedObject>> pin = store_->Pin(key);
  if (!pin.ok()) {
    if (pin.status().IsNotSupported()) return FromReader(key, range);
    return Failed(pin.status());
  }
  const ObjectInfo& info = (*pin)->info();
  if (range.offset > info.size) return Failed(RangePastEnd(range.offset, info.size));
  GetOutcome o;
  o.offset = range.offset;
  o.length = std::min(range.length, info.size - range.offset);
  if (o.offset == 0 && o.length == info.size) {
    // A whole object: its stored CRC travels with it, the receiver verifies end to end.
    o.crc = info.crc32c;
  } else if (o.length > 0) {
    // A range: read and verify the records holding it; its fresh CRC travels with it.
    Result<uint32_t> crc = (*pin)->RangeCrc(o.offset, o.length);
    if (!crc.ok()) return Failed(crc.status());
    o.crc = *crc;
  }
  o.pin = std::move(*pin);
  return o;
}

GetOutcome ObjectService::FromReader(std::string_view key, const ByteRange& range) {
  // A store whose bytes are not in local files. A whole object streams from a reader with its
  // stored CRC. A range's CRC must be known before its first byte is sent: a small range is
  // read into memory; a larger one is read twice, first for its CRC, then to send, and the
  // object must not have changed in between.
  for (int attempt = 0; attempt < 2; attempt++) {
    Result<std::unique_ptr<ObjectReader>> r = store_->OpenReader(key, range);
    if (!r.ok()) return Failed(r.status());
    const ObjectInfo& info = (*r)->info();
    if (range.offset > info.size) return Failed(RangePastEnd(range.offset, info.size));
    GetOutcome o;
    o.offset = range.offset;
    o.length = std::min(range.length, info.size - range.offset);
    if (o.offset == 0 && o.length == info.size) {
      o.crc = info.crc32c;
      o.reader = std::move(*r);
      return o;
    }
    if (o.length <= limits_.max_buffered_body_bytes) {
      Result<GetResult> g = store_->Get(key, range);
      if (!g.ok()) return Failed(g.status());
      o.offset = g->range_offset;
      o.length = g->data.size();
      o.crc = crc32c::Value(g->data);
      o.bytes = std::make_unique<GetResult>(std::move(*g));
      return o;
    }
    Result<uint32_t> crc = CrcOfReader(r->get());
    if (!crc.ok()) return Failed(crc.status());
    Result<std::unique_ptr<ObjectReader>> again = store_->OpenReader(key, range);
    if (!again.ok()) return Failed(again.status());
    if (SameObject((*again)->info(), info)) {
      o.crc = *crc;
      o.reader = std::move(*again);
      return o;
    }
  }
  return Failed(Status::Unavailable("the object changed twice while its range was being read"));
}

Result<ObjectInfo> ObjectService::Head(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(CheckKey(key));
  return store_->Head(key);
}

Result<WriteResult> ObjectService::Delete(std::string_view key, const WriteOptions& wo) {
  CAIRN_RETURN_IF_ERROR(CheckDelete(key, wo));
  return store_->Delete(key, wo);
}

Result<ListResult> ObjectService::List(const ListOptions& lo) {
  uint32_t limit = 0;
  CAIRN_RETURN_IF_ERROR(CheckListOptions(lo, limits_.max_list_limit, &limit));
  if (limit == lo.limit) return store_->List(lo);
  ListOptions resolved = lo;
  resolved.limit = limit;
  return store_->List(resolved);
}

Result<StoreStats> ObjectService::Stats() { return store_->Stats(); }

}  // namespace cairn::service
