// The meta sections of each operation and the bodies with a structure (LIST, chunked PUT),
// per docs/protocol.md section 4. Pure encode/decode; decoders accept arbitrary bytes, are
// strict (trailing bytes are an error) and fail with a WireError naming the field. Objects,
// versions, metadata and write results travel as the types of cairn/object_store.h; metadata is
// encoded with util/metadata_codec.h, the same bytes as on disk.
//
// Thread safety: free functions; ChunkedBodyDecoder is used by one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/object_store.h"
#include "proto/frame.h"

namespace cairn::proto {

// 0 = the server's default; otherwise cairn::Durability + 1 (1 sync, 2 interval, 3 none).
inline constexpr uint8_t kDurabilityDefault = 0;
inline constexpr uint8_t kMaxDurability = 3;

// Authentication (section 8): nonces and proofs (kNonceBytes, kProofBytes in wire_format.h).
using Nonce = std::array<uint8_t, kNonceBytes>;
using Proof = std::array<uint8_t, kProofBytes>;

struct PingReply {
  uint8_t max_version = kVersion;
  std::string server;
};
struct PutRequest {
  uint8_t durability = kDurabilityDefault;
  std::string key;
  WriteCondition condition = WriteCondition::kNone;
  Version version;  // condition_version
  ObjectMetadata metadata;
};
// PUT and DELETE replies: a cairn::WriteResult.
struct GetRequest {
  std::string key;
  uint64_t offset = 0;
  uint64_t length = kToEnd;
};
struct GetReply {
  ObjectInfo info;  // key not on the wire
  uint64_t range_offset = 0;
};
struct KeyRequest {  // HEAD
  std::string key;
};
// HEAD reply: a cairn::ObjectInfo (key not on the wire).
struct DeleteRequest {
  uint8_t durability = kDurabilityDefault;
  std::string key;
  WriteCondition condition = WriteCondition::kNone;
  Version version;
};
struct ListRequest {
  std::string prefix;
  std::string delimiter;
  std::string start_after;
  uint32_t limit = 0;  // 0: the server's default
};
struct ListReply {
  bool truncated = false;
  uint32_t count = 0;         // entries (objects) in the body
  uint32_t prefix_count = 0;  // common prefixes after them
  std::string next_start_after;
};
struct ErrorReply {
  std::string message;
  // Conflict: the version the server holds; NotFound of a replica read (section 9): the
  // version of the delete the replica holds; else none.
  Version held;
  uint64_t epoch = 0;  // StaleEpoch: the node's map epoch; else 0
};

// The routing prefix of a routed request (flag ROUTED, docs/protocol.md section 9).
enum class RoutingRole : uint8_t {
  kAny = 0,         // serve it as the cluster does: coordinate if a replica, else forward
  kCoordinate = 1,  // this node was chosen to coordinate: do it here, never forward again
  kReplica = 2,     // a coordinator's replica operation: the local store only (member key)
};
inline constexpr uint8_t kMaxRoutingRole = 2;
struct Routing {
  uint64_t epoch = 0;   // the sender's map epoch; 0: it has none
  uint16_t sender = 0;  // the sending node's id; 0: a client
  RoutingRole role = RoutingRole::kAny;
};
// Appends the prefix (kRoutingPrefixSize bytes).
void AppendRouting(const Routing& r, std::string* out);
// Splits a routed request's meta into the prefix and the op's meta.
bool DecodeRouting(std::string_view meta, Routing* r, std::string_view* rest, WireError* err);
struct HelloRequest {
  std::string key_id;
  Nonce client_nonce{};
};
struct HelloReply {
  Nonce server_nonce{};
  Proof server_proof{};
};
struct AuthRequest {
  Proof client_proof{};
};

// Encoders append to *out.
void EncodeMeta(const PingReply& m, std::string* out);
void EncodeMeta(const PutRequest& m, std::string* out);
void EncodeMeta(const WriteResult& m, std::string* out);  // PUT and DELETE replies
void EncodeMeta(const GetRequest& m, std::string* out);
void EncodeMeta(const GetReply& m, std::string* out);
// The GET reply meta from an object's info, without copying it into a GetReply.
void EncodeGetReply(const ObjectInfo& info, uint64_t range_offset, std::string* out);
void EncodeMeta(const KeyRequest& m, std::string* out);
void EncodeMeta(const ObjectInfo& m, std::string* out);  // HEAD reply (the key is not sent)
void EncodeMeta(const DeleteRequest& m, std::string* out);
void EncodeMeta(const ListRequest& m, std::string* out);
void EncodeMeta(const ListReply& m, std::string* out);
void EncodeMeta(const ErrorReply& m, std::string* out);
void EncodeMeta(const HelloRequest& m, std::string* out);
void EncodeMeta(const HelloReply& m, std::string* out);
void EncodeMeta(const AuthRequest& m, std::string* out);
// The error meta of a version 1 frame (a string only), for the UnsupportedVersion reply to a
// version 1 client (section 2).
void EncodeErrorMetaV1(std::string_view message, std::string* out);
// One LIST body entry (key, then object info), and one common prefix.
void EncodeListEntry(const ObjectInfo& e, std::string* out);
void EncodeListPrefix(std::string_view prefix, std::string* out);

bool DecodeMeta(std::string_view in, PingReply* m, WireError* err);
bool DecodeMeta(std::string_view in, PutRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, WriteResult* m, WireError* err);
bool DecodeMeta(std::string_view in, GetRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, GetReply* m, WireError* err);
bool DecodeMeta(std::string_view in, KeyRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, ObjectInfo* m, WireError* err);
bool DecodeMeta(std::string_view in, DeleteRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, ListRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, ListReply* m, WireError* err);
bool DecodeMeta(std::string_view in, ErrorReply* m, WireError* err);
bool DecodeMeta(std::string_view in, HelloRequest* m, WireError* err);
bool DecodeMeta(std::string_view in, HelloReply* m, WireError* err);
bool DecodeMeta(std::string_view in, AuthRequest* m, WireError* err);
// Decodes exactly `count` entries then `prefix_count` common prefixes filling the whole body.
bool DecodeListBody(std::string_view body, uint32_t count, uint32_t prefix_count,
                    std::vector<ObjectInfo>* objects, std::vector<std::string>* prefixes,
                    WireError* err);

// Checks a request's meta for its op without keeping it (used to reject a malformed request
// before its body is read). Empty meta for PING and STAT.
bool ValidateRequestMeta(Op op, std::string_view meta, WireError* err);

// The wire byte of a WriteOptions' durability (0 when unset), and back.
uint8_t WireDurability(const std::optional<Durability>& d);
std::optional<Durability> DurabilityFromWire(uint8_t d);

// Frames a chunk of a chunked body: appends the u32 length then the bytes. REQUIRES:
// 1 <= data.size() <= kMaxChunkBytes.
void AppendChunk(std::string_view data, std::string* out);
// Appends the end of a chunked body: a zero length and the CRC-32C of all chunk bytes.
void AppendChunkTrailer(uint32_t crc, std::string* out);

// Incremental decoder of a chunked body (docs/protocol.md section 3). Feed it bytes as they
// arrive; it hands back the body bytes and checks lengths and the trailing CRC.
class ChunkedBodyDecoder {
 public:
  explicit ChunkedBodyDecoder(uint32_t max_chunk_bytes = kMaxChunkBytes)
      : max_chunk_(max_chunk_bytes) {}

  // Consumes a prefix of in[0..n) and returns its length (> 0 unless n == 0 or done()). Body
  // bytes found in it are returned through *data (at most one contiguous piece per call;
  // empty if the call consumed framing only). Returns 0 and fills *err on a bad length
  // (LimitExceeded naming max_chunk_bytes), or on a CRC mismatch at the end
  // (ChecksumMismatch).
  size_t Consume(const char* in, size_t n, std::string_view* data, WireError* err);

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  uint64_t body_bytes() const { return total_; }
  uint32_t crc() const { return crc_; }

 private:
  enum class State { kLength, kData, kTrailer, kDone, kFailed };
  State state_ = State::kLength;
  uint32_t max_chunk_;
  char word_[4] = {};
  size_t word_have_ = 0;
  uint32_t remaining_ = 0;
  uint64_t total_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace cairn::proto
