// ObjectStore: the one interface every layer answers (issue 15). Start here.
//
// One vocabulary and one interface for objects, whoever holds them:
//   - LocalObjectStore   a store directory on this machine, through the engine (cairn/store.h);
//   - RemoteObjectStore  one cairnd, through the binary protocol (cairn/client.h);
//   - the cluster        (later) a cluster of nodes placed by a partition map.
// The CLI prints what an ObjectStore answers; the server (ObjectService) and the S3 gateway
// serve an ObjectStore. One test suite (tests/object_store_suite) runs against every
// implementation and requires the same results, the same error codes and the same limits.
//
// Objects. An object is a value (0 bytes to about 1 TiB) under a key (1 to kMaxKeyBytes bytes
// of any value), with a version and a bounded metadata section. Every write of a key (put or
// delete) carries a Version: a hybrid logical clock plus the id of the writer that stamped it.
// Versions are totally ordered; a store keeps, per key, the highest version it has accepted,
// including deletes (tombstones), until a tombstone horizon allows it to forget a delete.
//
// Write conditions (WriteOptions::condition):
//   kNone        unconditional. The store stamps a version above every version it has seen.
//   kIfMatch     only if the key's current live version is `version`; Conflict if another
//                version is current, NotFound if the key has no live version. Nothing written.
//   kIfNoneMatch only if the key has no live version (create only); Conflict otherwise.
//   kIfNewer     a replica write, carrying its own `version` (required). The highest version
//                wins: above the key's current version (live or deleted) it is written; equal
//                is an idempotent retry that succeeds and writes nothing; below, it fails with
//                Conflict and WriteOptions::held_version_out receives the version held. A
//                version below the store's tombstone horizon is refused with Conflict (the
//                store may have forgotten a newer delete), so a deleted key never comes back.
// Deletes take the same conditions. A plain Delete of a key with no live version is NotFound
// and writes nothing; a kIfNewer delete of an unknown key writes a tombstone (a replica must
// remember a delete it had never seen the object of).
//
// Thread safety: every method of an ObjectStore may be called concurrently from any thread. An
// ObjectReader is used by one thread at a time and must not outlive its store.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

// ---- Limits (each is named in the error that reports it) ----------------------------------

inline constexpr size_t kMaxKeyBytes = 1024;          // max_key_bytes
inline constexpr size_t kDefaultMaxMetaBytes = 8192;  // max_meta_bytes: encoded ObjectMetadata
inline constexpr uint32_t kDefaultListLimit = 1000;   // List with limit 0
inline constexpr uint32_t kMaxListLimit = 10000;      // max_list_limit
inline constexpr uint64_t kToEnd = ~uint64_t{0};      // ByteRange::length: to the end

// The one key check: 1..max_key_bytes bytes, any value. InvalidArgument for an empty key,
// LimitExceeded naming max_key_bytes for a long one.
Status ValidateKey(std::string_view key, size_t max_key_bytes = kMaxKeyBytes);

// ---- Versions ----------------------------------------------------------------------------

// A version: a hybrid logical clock (48 bits of milliseconds since the Unix epoch, 16 bits of
// logical counter) and the 32-bit id of the writer that stamped it. Ordered by (hlc, writer).
// The all-zero version means "none" (a key that was never written).
struct Version {
  uint64_t hlc = 0;
  uint32_t writer = 0;

  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kMaxMillis = (uint64_t{1} << 48) - 1;
  static Version Make(uint64_t millis, uint16_t logical, uint32_t writer) {
    return Version{(millis << kLogicalBits) | logical, writer};
  }
  uint64_t millis() const { return hlc >> kLogicalBits; }
  uint16_t logical() const { return static_cast<uint16_t>(hlc & 0xFFFF); }
  bool none() const { return hlc == 0 && writer == 0; }
  friend auto operator<=>(const Version&, const Version&) = default;

  // 24 lowercase hex digits: the hlc (16) then the writer (8). Sorts like the versions.
  std::string ToString() const;
  // Parses exactly what ToString produces; false otherwise.
  static bool Parse(std::string_view text, Version* out);
};

// ---- Metadata ----------------------------------------------------------------------------

// The bounded metadata of an object, stored with it, returned by Head, Get and List. Its
// encoded size (docs/format.md, "Metadata") is limited by max_meta_bytes (8 KiB by default):
// a larger one is refused with LimitExceeded and nothing is written.
struct ObjectMetadata {
  std::string content_type;  // empty: unset
  std::string md5;           // the MD5 of the value (16 raw bytes), or empty: the S3 ETag
  // User pairs (S3 x-amz-meta-*, `cairn put --meta k=v`). Keys 1..255 bytes, values < 64 KiB.
  std::map<std::string, std::string> user;
  // Pairs for the layers above (standard HTTP headers kept by the S3 gateway such as
  // "content-encoding" or "cache-control", a multipart ETag...). Same bounds as user pairs.
  std::map<std::string, std::string> system;

  bool empty() const { return content_type.empty() && md5.empty() && user.empty() && system.empty(); }
  // Bytes of the encoded form (what max_meta_bytes limits; 0 for empty metadata).
  size_t EncodedSize() const;
  friend bool operator==(const ObjectMetadata&, const ObjectMetadata&) = default;
};

// ---- Objects -----------------------------------------------------------------------------

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;       // bytes
  uint32_t crc32c = 0;     // CRC-32C of the whole object
  uint64_t sequence = 0;   // the holding store's log sequence (0 where not known)
  uint64_t mtime_us = 0;   // µs since the Unix epoch when it was written
  Version version;
  ObjectMetadata metadata;
  // Set only by HeadVersion, for a key whose current version is a delete (a tombstone): then
  // `version` is the delete's and every other field is empty.
  bool deleted = false;
};

// A byte range of an object; the default is the whole object. A range is clipped at the end;
// an offset past the end is InvalidArgument ("range starts past the end").
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = kToEnd;
};

struct GetResult {
  ObjectInfo info;            // of the whole object
  uint64_t range_offset = 0;  // where `data` starts in the object
  std::string data;           // verified against its checksum
};

// What a write did.
struct WriteResult {
  // The version written; for an idempotent kIfNewer retry, the version already held.
  Version version;
  uint64_t sequence = 0;  // the holding store's log sequence (0 where not known)
  uint64_t size = 0;      // value bytes (0 for a delete)
  uint32_t crc32c = 0;    // CRC-32C of the value
  // A local store's judged writes (any condition other than kNone, and every delete) report
  // the key's write they replaced: its version (live or a delete), none() if the key held
  // nothing; for an idempotent kIfNewer retry, the version itself. Anti-entropy's digest
  // (issue 12) updates itself from it, atomically with the write's place in the log. Unknown
  // (replaced_known false) for an unconditional put, which is not judged, and not on the wire.
  Version replaced;
  bool replaced_known = false;
};

// How one write is made (Put, PutStream, PutAsync, Delete). The conditions are described at
// the top of this file.
enum class WriteCondition : uint8_t {
  kNone = 0,
  kIfMatch = 1,
  kIfNoneMatch = 2,
  kIfNewer = 3,
};

struct WriteOptions {
  // When unset, the store's default durability applies.
  std::optional<Durability> durability;
  WriteCondition condition = WriteCondition::kNone;
  // kIfMatch: the version that must be current. kIfNewer: the version to write (required).
  // Ignored for kNone and kIfNoneMatch (the store stamps the version).
  Version version;
  // Put only: stored with the value (max_meta_bytes).
  ObjectMetadata metadata;
  // On Conflict, receives the version the store holds for the key (none() if it holds none).
  Version* held_version_out = nullptr;
  // The engine's Store (which returns Status) reports what a write did through these.
  WriteResult* result_out = nullptr;
  uint64_t* sequence_out = nullptr;
};

struct ListOptions {
  std::string prefix;
  // When set, keys that contain it after the prefix are rolled up into common prefixes (the
  // prefix, up to and including the first delimiter after it), each listed once.
  std::string delimiter;
  std::string start_after;  // exclusive
  uint32_t limit = 0;       // 0: kDefaultListLimit; above kMaxListLimit: LimitExceeded
};

struct ListResult {
  std::vector<ObjectInfo> objects;           // in key order
  std::vector<std::string> common_prefixes;  // in order; each counts toward the limit
  bool truncated = false;                    // more match: continue with next_start_after
  std::string next_start_after;              // the last key or common prefix returned
};

// Where the bytes of a value come from in a streaming put.
class ValueSource {
 public:
  virtual ~ValueSource() = default;
  // Fills up to n bytes; returns 0 at the end of the value.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // Metadata known only once the whole value has been read (the S3 gateway's ETag, the MD5 of
  // a streamed body), or nullptr. A store that writes the metadata after the value (a local
  // store: the last record of a stream carries it) asks once, after Read reported the end, and
  // stores it instead of WriteOptions::metadata (checked against max_meta_bytes alike). A store
  // that sends the metadata ahead of the value (RemoteObjectStore) never asks.
  virtual const ObjectMetadata* FinalMetadata() { return nullptr; }
};

// A streaming read of one object (or a range of it). Bytes are handed out only once verified
// against a checksum, except where the implementation documents otherwise (a remote reader
// verifies its whole body at the end: the Read that reaches the end returns Corruption instead
// of 0 if that fails).
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual const ObjectInfo& info() const = 0;
  // Reads up to n bytes; returns 0 at the end. Corruption if a checksum fails.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

// Where one piece of a committed value lies: `length` bytes at `offset` of the open file `fd`.
// For zero-copy sends (sendfile) by a server.
struct ValueExtent {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// A committed version of an object, pinned: while it exists, its bytes stay where extents()
// says, even if the key is overwritten or deleted meanwhile. Bytes read through the extents
// are NOT checksum-verified: the caller sends info().crc32c with them so the receiver verifies
// end to end, or calls RangeCrc, which reads and verifies.
//
// Thread safety: const methods from any thread; RangeCrc from one thread at a time. Release it
// promptly: a pin held for long delays reclamation.
class PinnedObject {
 public:
  virtual ~PinnedObject() = default;
  virtual const ObjectInfo& info() const = 0;
  // In value order; their lengths sum to info().size (empty for a 0-byte object).
  virtual const std::vector<ValueExtent>& extents() const = 0;
  // Reads the records holding [offset, offset + length) of the value, verifies each one's
  // checksum (Corruption if one fails), and returns the CRC-32C of exactly those bytes.
  // REQUIRES: offset + length <= info().size.
  virtual Result<uint32_t> RangeCrc(uint64_t offset, uint64_t length) = 0;
};

// ---- Statistics --------------------------------------------------------------------------

struct VolumeStats {
  uint32_t id = 0;
  // "active" (being appended), "sealed" (full, or retired by recovery or an error),
  // "prepared" (pre-written, not used yet) or "retired" (compacted, being removed).
  std::string state;
  uint64_t capacity = 0;
  uint64_t end = 0;          // offset past the last record
  uint64_t live_bytes = 0;
  uint64_t dead_bytes = 0;
  uint64_t live_records = 0;
  uint64_t reclaimed_bytes = 0;     // released to the file system by hole punching
  uint64_t reclaimable_bytes = 0;   // dead bytes hole punching would release now
};

struct StoreStats {
  uint64_t objects = 0;
  uint64_t logical_bytes = 0;   // sum of object sizes
  uint64_t live_bytes = 0;      // bytes of records the index references
  uint64_t dead_bytes = 0;      // superseded, deleted, abandoned or padding bytes
  uint64_t tombstones = 0;      // deletes remembered (until the tombstone horizon)
  uint64_t volumes = 0;
  uint64_t volume_capacity = 0;
  uint64_t allocated_bytes = 0;        // on the device, volumes + index
  uint64_t index_allocated_bytes = 0;
  uint64_t index_memory_bytes = 0;     // RocksDB memtables + block cache in use
  uint64_t index_cache_bytes = 0;      // the block cache's capacity (set, or sized to the index)
  // Lookups of the hot-entry cache in front of the index since the store opened: found there,
  // or gone to RocksDB (the hit ratio is hits / (hits + misses)).
  uint64_t index_hot_hits = 0;
  uint64_t index_hot_misses = 0;
  uint64_t next_sequence = 0;
  bool read_only = false;              // set after an fdatasync/pwrite error
  std::string read_only_reason;
  // Reclamation (docs/design.md, "Reclamation"). Bytes released so far by hole punching and by
  // retiring compacted volumes (kept across restarts), and dead bytes that hole punching and
  // compaction would release now.
  uint64_t reclaimed_bytes = 0;
  uint64_t reclaimable_bytes = 0;
  uint64_t compactions = 0;            // volumes compacted and retired, ever
  std::vector<VolumeStats> volume_list;
  // Counters of the process serving the store (a cairnd: connections, requests, errors by
  // code...), by name; empty for a store opened in this process.
  std::map<std::string, uint64_t> server;
};

// ---- The change feed ---------------------------------------------------------------------

// A place in a store's log: (volume id, offset), ordered by volume then offset. Positions are
// local to one store. LogPosition() is the start of the log.
class LogPosition {
 public:
  constexpr LogPosition() = default;
  constexpr LogPosition(uint32_t volume, uint64_t offset) : volume_(volume), offset_(offset) {}
  uint32_t volume() const { return volume_; }
  uint64_t offset() const { return offset_; }
  friend auto operator<=>(const LogPosition&, const LogPosition&) = default;
  std::string ToString() const;  // "VOLUME:OFFSET", decimal
  static bool Parse(std::string_view text, LogPosition* out);

 private:
  uint32_t volume_ = 0;
  uint64_t offset_ = 0;
};

enum class LogRecordKind : uint8_t { kPut = 1, kDelete = 2 };

// One committed object-level write as the log holds it (chunks of large objects are not
// listed; their object's manifest is, as a kPut).
struct LogRecord {
  std::string key;
  Version version;
  LogRecordKind kind = LogRecordKind::kPut;
  uint64_t size = 0;       // object bytes of a put
  LogPosition position;    // where the record starts
  // A copy made by compaction (the same key and version as a record that came earlier in the
  // log, possibly in a volume since removed). Consumers treat it as the same change again.
  bool relocated = false;
};

struct LogBatch {
  std::vector<LogRecord> records;  // in log order
  LogPosition next;                // resume from here (IterateLog(next, ...))
  bool end = false;                // no committed record after `next` (for now)
};

// ---- The interface -----------------------------------------------------------------------

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  using WriteDone = std::function<void(Result<WriteResult>)>;

  // Stores `value` under `key`, subject to wo.condition; the metadata is wo.metadata.
  virtual Result<WriteResult> Put(std::string_view key, std::string_view value,
                                  const WriteOptions& wo = WriteOptions()) = 0;
  // Stores a value read from `src` until it reports the end, with bounded memory. The object
  // becomes visible only once all of it is stored.
  virtual Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                        const WriteOptions& wo = WriteOptions()) = 0;
  // The object, or a range of it, in memory. Large objects: prefer OpenReader.
  virtual Result<GetResult> Get(std::string_view key, const ByteRange& range = ByteRange()) = 0;
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(
      std::string_view key, const ByteRange& range = ByteRange()) = 0;
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  // Writes a tombstone, subject to wo.condition (see the top of this file).
  virtual Result<WriteResult> Delete(std::string_view key,
                                     const WriteOptions& wo = WriteOptions()) = 0;
  virtual Result<ListResult> List(const ListOptions& lo) = 0;
  virtual Result<StoreStats> Stats() = 0;

  // ---- Optional capabilities: the defaults say "not here".

  // A put for a caller that must not block (an event loop): returns Busy at once, nothing
  // done and `done` never called, where the call would have to wait; the caller then uses Put
  // on a thread that may block. On OK, `done` runs exactly once, later, on a thread of the
  // store's, once the write is acknowledged (for sync durability: durable). Keep it short.
  // REQUIRES: StartCommit is called soon after every PutAsync that returned OK.
  virtual Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                          WriteDone done) {
    (void)key, (void)value, (void)wo, (void)done;
    return Status::Busy("PutAsync is not available here: use Put");
  }
  // Starts acknowledging the PutAsync writes made so far (one group commit for a local store).
  virtual void StartCommit() {}
  // Pins the key's current version for zero-copy sends. NotSupported where the bytes are not
  // in local files (a remote store, the cluster for keys held elsewhere).
  virtual Result<std::unique_ptr<PinnedObject>> Pin(std::string_view key) {
    (void)key;
    return Status::NotSupported("pinning: the object is not in local files");
  }
  // Pin that never blocks: a null pin (status OK) when it would have to wait or read the disk.
  // NotFound only when certain.
  virtual Result<std::unique_ptr<PinnedObject>> TryPin(std::string_view key) {
    (void)key;
    return std::unique_ptr<PinnedObject>();
  }
  // What this store holds for the key, deletes included: the live version's info, or (for a
  // key whose current version is a delete the store still remembers) an info with `deleted`
  // set and the delete's version. NotFound when it holds nothing for the key. A cluster's
  // replicas answer it so that a read can tell "deleted at V" from "never written".
  // NotSupported where the store cannot tell.
  virtual Result<ObjectInfo> HeadVersion(std::string_view key) {
    (void)key;
    return Status::NotSupported("this store does not report deletes");
  }
  // Makes `key` one object whose value is the values of `sources` (distinct keys, each other
  // than `key`), in that order, without copying their bytes: the sources' records become the
  // new object's and the sources are deleted, in one atomic step (durable as wo.durability
  // says). The metadata is wo.metadata; wo.condition applies to `key`. NotFound if a source
  // has no live version (nothing is done). NotSupported where the store cannot do this (the
  // default; the S3 gateway then streams the sources into a new object).
  virtual Result<WriteResult> Compose(std::string_view key, const std::vector<std::string>& sources,
                                      const WriteOptions& wo) {
    (void)key, (void)sources, (void)wo;
    return Status::NotSupported("compose: this store cannot make an object of other records");
  }
  // Keys with their current versions, deletes included (a kept tombstone: `deleted` set, as
  // HeadVersion), in key order after `start_after`, at most `limit` (1..kMaxListLimit);
  // `truncated` and `next_start_after` as List. What anti-entropy (issue 12) rebuilds its digest
  // and lists a leaf's keys from: an index scan, no value read. NotSupported elsewhere.
  virtual Result<ListResult> ListVersions(std::string_view start_after, uint32_t limit) {
    (void)start_after, (void)limit;
    return Status::NotSupported("listing versions with deletes: only a local store");
  }
  // The change feed: up to `limit` committed records at or after `from`, in log order.
  // Resumable across restarts and reclamation. NotSupported where there is no local log.
  virtual Result<LogBatch> IterateLog(LogPosition from, size_t limit) {
    (void)from, (void)limit;
    return Status::NotSupported("the change feed is only available on a local store");
  }
};

// A base for a store that wraps another and changes some of its calls. Every read (Get,
// OpenReader, Head, HeadVersion, List, ListVersions, Stats, Pin, TryPin, IterateLog) and
// StartCommit go to `inner` unchanged. Writes do not: Put, PutStream and Delete stay for the
// wrapper to define, and PutAsync and Compose keep ObjectStore's refusals (Busy, NotSupported)
// unless it overrides them. So a wrapper that must see every write (a digest, a fence) cannot
// miss one by forgetting an override: a write it does not define is refused, never passed
// around it. `inner` must outlive the wrapper.
class ForwardingObjectStore : public ObjectStore {
 public:
  explicit ForwardingObjectStore(ObjectStore* inner) : inner_(inner) {}
  ObjectStore* inner() const { return inner_; }

  void StartCommit() override { inner_->StartCommit(); }
  Result<GetResult> Get(std::string_view key, const ByteRange& range = ByteRange()) override {
    return inner_->Get(key, range);
  }
  Result<std::unique_ptr<ObjectReader>> OpenReader(
      std::string_view key, const ByteRange& range = ByteRange()) override {
    return inner_->OpenReader(key, range);
  }
  Result<ObjectInfo> Head(std::string_view key) override { return inner_->Head(key); }
  Result<ObjectInfo> HeadVersion(std::string_view key) override { return inner_->HeadVersion(key); }
  Result<ListResult> List(const ListOptions& lo) override { return inner_->List(lo); }
  Result<ListResult> ListVersions(std::string_view start_after, uint32_t limit) override {
    return inner_->ListVersions(start_after, limit);
  }
  Result<StoreStats> Stats() override { return inner_->Stats(); }
  Result<std::unique_ptr<PinnedObject>> Pin(std::string_view key) override { return inner_->Pin(key); }
  Result<std::unique_ptr<PinnedObject>> TryPin(std::string_view key) override {
    return inner_->TryPin(key);
  }
  Result<LogBatch> IterateLog(LogPosition from, size_t limit) override {
    return inner_->IterateLog(from, limit);
  }

 protected:
  ObjectStore* const inner_;
};

}  // namespace cairn
