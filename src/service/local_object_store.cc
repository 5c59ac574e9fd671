// LocalObjectStore (cairn/local_object_store.h): the ObjectStore vocabulary over the engine's
// Store.
#include "cairn/local_object_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "service/checks.h"
#include "service/list_rollup.h"
#include "util/crc32c.h"

namespace cairn {
namespace {

Status RangePastEnd(uint64_t offset, uint64_t size) {
  return Status::InvalidArgument("range starts past the end (offset " + std::to_string(offset) +
                                 ", size " + std::to_string(size) + ")");
}

// Reads [offset, offset + n) of a pinned value from its extents into out.
Status ReadPinned(const PinnedObject& pin, uint64_t offset, uint64_t n, char* out) {
  uint64_t pos = 0;  // value offset of the current extent
  for (const ValueExtent& e : pin.extents()) {
    if (n == 0) break;
    if (offset < pos + e.length) {
      uint64_t from = offset - pos;
      uint64_t take = std::min(n, e.length - from);
      uint64_t done = 0;
      while (done < take) {
        ssize_t r = ::pread(e.fd, out + done, take - done, static_cast<off_t>(e.offset + from + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return Status::FromErrno(errno, "pread of a pinned value");
        if (r == 0) return Status::Corruption("a pinned value ends before its extent");
        done += static_cast<uint64_t>(r);
      }
      out += take;
      offset += take;
      n -= take;
    }
    pos += e.length;
  }
  if (n != 0) return Status::Corruption("a pinned value is shorter than its size");
  return Status::OK();
}

// A reader of [offset, offset + length) of another reader: it reads (and so verifies) the bytes
// before the range and drops them.
class RangeReader final : public ObjectReader {
 public:
  RangeReader(std::unique_ptr<ObjectReader> inner, uint64_t skip, uint64_t length)
      : inner_(std::move(inner)), skip_(skip), left_(length) {}
  const ObjectInfo& info() const override { return inner_->info(); }
  Result<size_t> Read(char* buf, size_t n) override {
    while (skip_ > 0) {
      std::string scratch(static_cast<size_t>(std::min<uint64_t>(skip_, 1 << 20)), '\0');
      CAIRN_ASSIGN_OR_RETURN(size_t got, inner_->Read(scratch.data(), scratch.size()));
      if (got == 0) return Status::Corruption("the object ended before the range");
      skip_ -= got;
    }
    if (left_ == 0 || n == 0) return size_t{0};
    CAIRN_ASSIGN_OR_RETURN(size_t got,
                           inner_->Read(buf, static_cast<size_t>(std::min<uint64_t>(n, left_))));
    if (got == 0) return Status::Corruption("the object ended before the end of the range");
    left_ -= got;
    return got;
  }

 private:
  std::unique_ptr<ObjectReader> inner_;
  uint64_t skip_;
  uint64_t left_;
};

class LocalObjectStoreImpl final : public LocalObjectStore {
 public:
  LocalObjectStoreImpl(std::unique_ptr<Store> owned, Store* store)
      : owned_(std::move(owned)), store_(store) {}

  Store* store() override { return store_; }
  Status Close() override { return owned_ ? owned_->Close() : Status::OK(); }

  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions& wo) override {
    CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/false));
    WriteResult r;
    WriteOptions w = wo;
    w.result_out = &r;
    CAIRN_RETURN_IF_ERROR(store_->Put(key, value, w));
    Report(wo, r);
    return r;
  }

  Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                const WriteOptions& wo) override {
    CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/false));
    WriteResult r;
    WriteOptions w = wo;
    w.result_out = &r;
    CAIRN_RETURN_IF_ERROR(store_->PutStream(key, src, w));
    Report(wo, r);
    return r;
  }

  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  WriteDone done) override {
    CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/false));
    // The engine's callback type differs from ObjectStore's; this adapter is the only
    // allocation the local path adds (the server saves one on each reply head: replies.cc).
    return store_->PutAsync(key, value, wo,
                            [done = std::move(done)](Status s, const WriteResult& result) {
                              if (!s.ok()) return done(std::move(s));
                              done(result);
                            });
  }

  void StartCommit() override { store_->StartCommit(); }

  Result<GetResult> Get(std::string_view key, const ByteRange& range) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<PinnedObject> pin, store_->PinObject(key));
    GetResult g;
    g.info = pin->info();
    const uint64_t size = g.info.size;
    if (range.offset > size) return RangePastEnd(range.offset, size);
    const uint64_t n = std::min(range.length, size - range.offset);
    g.range_offset = range.offset;
    if (n == 0) return g;
    // The bytes cannot move while pinned; they are checked against the stored CRC of the whole
    // object, or, for a range, against the CRC of the records that hold it (RangeCrc reads
    // and verifies them).
    uint32_t want = g.info.crc32c;
    if (n != size) {
      CAIRN_ASSIGN_OR_RETURN(want, pin->RangeCrc(range.offset, n));
    }
    g.data.resize(static_cast<size_t>(n));
    CAIRN_RETURN_IF_ERROR(ReadPinned(*pin, range.offset, n, g.data.data()));
    if (crc32c::Value(g.data) != want)
      return Status::Corruption("value checksum mismatch reading \"" + std::string(key) + "\"");
    return g;
  }

  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key,
                                                   const ByteRange& range) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> r, store_->OpenReader(key));
    const uint64_t size = r->info().size;
    if (range.offset > size) return RangePastEnd(range.offset, size);
    const uint64_t n = std::min(range.length, size - range.offset);
    if (range.offset == 0 && n == size) return r;
    return std::unique_ptr<ObjectReader>(new RangeReader(std::move(r), range.offset, n));
  }

  Result<ObjectInfo> Head(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    return store_->Head(key);
  }
  Result<ObjectInfo> HeadVersion(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    return store_->HeadVersion(key);
  }

  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo) override {
    CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/true));
    WriteResult r;
    WriteOptions w = wo;
    w.result_out = &r;
    CAIRN_RETURN_IF_ERROR(store_->Delete(key, w));
    Report(wo, r);
    return r;
  }

  Result<ListResult> List(const ListOptions& lo) override {
    uint32_t limit = 0;
    CAIRN_RETURN_IF_ERROR(service::CheckListOptions(lo, kMaxListLimit, &limit));
    return service::ListWithDelimiter(
        lo, limit,
        [this](std::string_view prefix, std::string_view after,
               size_t n) -> Result<service::ScanPage> {
          CAIRN_ASSIGN_OR_RETURN(ScanResult s, store_->Scan(prefix, after, n));
          return service::ScanPage{std::move(s.objects), s.truncated};
        });
  }

  Result<StoreStats> Stats() override { return store_->Stats(); }

  Result<std::unique_ptr<PinnedObject>> Pin(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    return store_->PinObject(key);
  }
  Result<std::unique_ptr<PinnedObject>> TryPin(std::string_view key) override {
    return store_->TryPinObject(key);
  }
  Result<ListResult> ListVersions(std::string_view start_after, uint32_t limit) override {
    if (limit == 0 || limit > kMaxListLimit)
      return Status::LimitExceeded("max_list_limit: a versions listing of " +
                                   std::to_string(limit) + " keys, limit 1.." +
                                   std::to_string(kMaxListLimit));
    CAIRN_ASSIGN_OR_RETURN(ScanResult s, store_->ScanVersions(start_after, limit));
    ListResult r;
    r.objects = std::move(s.objects);
    r.truncated = s.truncated;
    if (!r.objects.empty()) r.next_start_after = r.objects.back().key;
    return r;
  }
  Result<LogBatch> IterateLog(LogPosition from, size_t limit) override {
    return store_->IterateLog(from, limit);
  }

 private:
  // The structural checks; the engine enforces max_meta_bytes (StoreOptions) itself.
  static Status CheckWrite(std::string_view key, const WriteOptions& wo, bool is_delete) {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    return service::CheckWriteOptions(wo, SIZE_MAX, is_delete);
  }
  // The caller's own result_out and sequence_out, which the copy of its options replaced.
  static void Report(const WriteOptions& wo, const WriteResult& r) {
    if (wo.result_out != nullptr) *wo.result_out = r;
    if (wo.sequence_out != nullptr) *wo.sequence_out = r.sequence;
  }

  std::unique_ptr<Store> owned_;
  Store* store_;
};

}  // namespace

Result<std::unique_ptr<LocalObjectStore>> LocalObjectStore::Open(const std::string& dir,
                                                                 const StoreOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(dir, options));
  Store* s = store.get();
  return std::unique_ptr<LocalObjectStore>(new LocalObjectStoreImpl(std::move(store), s));
}

std::unique_ptr<LocalObjectStore> LocalObjectStore::Borrow(Store* store) {
  return std::unique_ptr<LocalObjectStore>(new LocalObjectStoreImpl(nullptr, store));
}

}  // namespace cairn
