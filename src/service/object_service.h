// ObjectService: the server's request handling, with no transport in it (issue 15, item 2).
// cairnd's binary protocol (src/server) serves an ObjectStore through it, and the S3 gateway's
// HTTP handlers will serve one through the same calls: it never mentions frames or sockets.
//
// What it decides, in one place:
//   - the checks of a request before its body is read (the key by cairn::ValidateKey, the
//     write options, metadata within max_meta_bytes, the body within max_object_bytes), so a
//     transport can refuse a request and skip its body;
//   - the PUT path (ChoosePutPath): a body of known length up to max_buffered_body_bytes is
//     buffered by the transport and written with PutOnLoop, which never blocks (the store's
//     PutAsync; a group commit per loop turn, started by EndOfTurn); where the store would have
//     to wait (Busy), Put on a thread that may block; a longer body, or one of unknown length,
//     streams into PutStream on such a thread, fed by the transport's ValueSource;
//   - the body of a GET: TryGetOnLoop pins a whole object without blocking (TryPin); Get, on a
//     thread that may block, pins it (Pin) or, for a store that cannot pin, opens a reader
//     (bounded memory) or reads a range into memory; ranges are checked, and a ranged body
//     comes with the CRC of exactly its bytes;
//   - errors: every call returns a Status whose code the transport maps through the one table
//     (util/status_table.h); a Conflict comes with the version held.
//
// Which calls may run on an event loop: CheckKey, CheckPut, CheckDelete, ChoosePutPath,
// PutOnLoop, EndOfTurn, TryGetOnLoop. The others may block on the disk (or the network, for a
// remote or cluster store): run them on a thread that may.
//
// Thread safety: every method from any thread; the service holds no state of its own beyond
// its limits. Ownership: borrows the ObjectStore, which must outlive it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/object_store.h"

namespace cairn::service {

struct ServiceLimits {
  uint32_t max_key_bytes = kMaxKeyBytes;
  uint32_t max_meta_bytes = kDefaultMaxMetaBytes;
  uint32_t max_list_limit = kMaxListLimit;
  uint64_t max_object_bytes = 0;  // 0: only the store's own limit
  // PUT bodies up to this are buffered by the transport (PutOnLoop/Put); longer ones stream.
  uint64_t max_buffered_body_bytes = uint64_t{1} << 20;
};

// What a GET sends: the object's info, the range of it, the CRC-32C of exactly those bytes, and
// where the bytes come from (one of pin, reader, bytes).
struct GetOutcome {
  Status status;  // not OK: nothing else is set
  // The value's extents, pinned, for sendfile. Not verified: the crc travels with them and the
  // receiver checks it (the whole object's stored CRC, or the range's, computed by RangeCrc).
  std::unique_ptr<PinnedObject> pin;
  // A store that cannot pin: a reader of exactly the range (read it with bounded memory).
  std::unique_ptr<ObjectReader> reader;
  // A range of a store that cannot pin, read into memory (at most max_buffered_body_bytes).
  std::unique_ptr<GetResult> bytes;
  uint64_t offset = 0;  // the range sent
  uint64_t length = 0;
  uint32_t crc = 0;

  // The whole object's info (of the pin, the reader or the bytes). REQUIRES: status.ok().
  const ObjectInfo& info() const;
};

enum class PutPath {
  kLoop,    // buffer the body; PutOnLoop (Put on a thread that may block if that is Busy)
  kStream,  // stream the body into PutStream on a thread that may block
};

class ObjectService {
 public:
  ObjectService(ObjectStore* store, const ServiceLimits& limits);

  ObjectStore* store() const { return store_; }
  const ServiceLimits& limits() const { return limits_; }

  // ---- Checks before a body is read (any thread, never block).
  Status CheckKey(std::string_view key) const;
  // The key, the write options, and a body of `body_len` bytes (nullopt: not known yet, as with
  // a chunked body) against max_object_bytes.
  Status CheckPut(std::string_view key, const WriteOptions& wo,
                  std::optional<uint64_t> body_len) const;
  Status CheckDelete(std::string_view key, const WriteOptions& wo) const;

  // ---- PUT. REQUIRES for each: the request passed CheckPut.
  PutPath ChoosePutPath(std::optional<uint64_t> body_len) const;
  // kLoop: starts the write without blocking. OK: `done` runs once, later, on a store thread,
  // with the outcome. Busy: nothing was done and `done` is dropped: call Put on a thread that
  // may block. Any other error (Conflict, whose held version goes to *wo.held_version_out,
  // NotFound, LimitExceeded...): nothing was done, `done` is dropped. Never blocks.
  Status PutOnLoop(std::string_view key, std::string_view value, const WriteOptions& wo,
                   ObjectStore::WriteDone done);
  // Once per event-loop turn in which PutOnLoop returned OK: starts their (group) commit.
  void EndOfTurn();
  // May block. On Conflict, *wo.held_version_out receives the version held.
  Result<WriteResult> Put(std::string_view key, std::string_view value, const WriteOptions& wo);
  Result<WriteResult> PutStream(std::string_view key, ValueSource* src, const WriteOptions& wo);

  // ---- GET
  // Never blocks: the outcome of a GET of a whole object whose pin was found without waiting
  // (the transport may still find its pages cold and call Get instead), or a certain NotFound,
  // or a request refused by its checks. nullopt: call Get on a thread that may block.
  std::optional<GetOutcome> TryGetOnLoop(std::string_view key, const ByteRange& range);
  // May block.
  GetOutcome Get(std::string_view key, const ByteRange& range);

  // ---- The rest (may block).
  Result<ObjectInfo> Head(std::string_view key);
  // On Conflict, *wo.held_version_out receives the version held.
  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo);
  Result<ListResult> List(const ListOptions& lo);
  Result<StoreStats> Stats();

 private:
  GetOutcome FromReader(std::string_view key, const ByteRange& range);

  ObjectStore* store_;
  ServiceLimits limits_;
};

}  // namespace cairn::service
