#include "proto/messages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

namespace cairn::proto {

namespace {

void PutString(std::string* out, std::string_view s) {
  CAIRN_CHECK(s.size() <= 0xFFFF);
  PutFixed16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}
void PutVersion(std::string* out, const Version& v) {
  char b[kVersionSize];
  EncodeFixed64(b, v.hlc);
  EncodeFixed32(b + 8, v.writer);
  out->append(b, sizeof(b));
}
// A metadata blob: u32 length, then the encoding (nothing for empty metadata).
// REQUIRES: CheckMetadata's bounds hold (the encoder's precondition).
void PutMetadata(std::string* out, const ObjectMetadata& m) {
  const size_t at = out->size();
  PutFixed32(out, 0);
  AppendMetadata(m, out);
  EncodeFixed32(out->data() + at, static_cast<uint32_t>(out->size() - at - 4));
}
void PutInfo(std::string* out, const ObjectInfo& m) {
  char b[8 + 4 + 8 + 8];
  EncodeFixed64(b, m.size);
  EncodeFixed32(b + 8, m.crc32c);
  EncodeFixed64(b + 12, m.sequence);
  EncodeFixed64(b + 20, m.mtime_us);
  out->append(b, sizeof(b));
  PutVersion(out, m.version);
  PutMetadata(out, m.metadata);
}
template <size_t N>
void PutBytes(std::string* out, const std::array<uint8_t, N>& a) {
  out->append(reinterpret_cast<const char*>(a.data()), N);
}

// Bounds-checked cursor over a meta section. The first failure sticks and names the field.
class Reader {
 public:
  Reader(std::string_view in, const char* what) : in_(in), what_(what) {}

  bool U8(uint8_t* v, const char* field) {
    if (!Need(1, field)) return false;
    *v = static_cast<uint8_t>(in_[pos_]);
    pos_ += 1;
    return true;
  }
  bool U32(uint32_t* v, const char* field) {
    if (!Need(4, field)) return false;
    *v = DecodeFixed32(in_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v, const char* field) {
    if (!Need(8, field)) return false;
    *v = DecodeFixed64(in_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool String(std::string* v, const char* field) {
    if (!Need(2, field)) return false;
    uint16_t n = DecodeFixed16(in_.data() + pos_);
    pos_ += 2;
    if (!Need(n, field)) return false;
    v->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Ver(Version* v, const char* field) {
    if (!Need(kVersionSize, field)) return false;
    v->hlc = DecodeFixed64(in_.data() + pos_);
    v->writer = DecodeFixed32(in_.data() + pos_ + 8);
    pos_ += kVersionSize;
    return true;
  }
  bool Metadata(ObjectMetadata* m) {
    uint32_t n = 0;
    if (!U32(&n, "metadata length") || !Need(n, "metadata")) return false;
    Status s = DecodeMetadata(in_.substr(pos_, n), m);
    if (!s.ok()) return Bad(fmt::format("metadata: {}", s.message()));
    pos_ += n;
    return true;
  }
  bool Condition(WriteCondition* c) {
    uint8_t v = 0;
    if (!U8(&v, "condition")) return false;
    if (v > kMaxCondition) return Bad(fmt::format("unknown condition {}", v));
    *c = static_cast<WriteCondition>(v);
    return true;
  }
  bool Durability(uint8_t* d) {
    if (!U8(d, "durability")) return false;
    if (*d > kMaxDurability) return Bad(fmt::format("unknown durability {}", *d));
    return true;
  }
  template <size_t N>
  bool Bytes(std::array<uint8_t, N>* a, const char* field) {
    if (!Need(N, field)) return false;
    std::memcpy(a->data(), in_.data() + pos_, N);
    pos_ += N;
    return true;
  }
  bool Info(ObjectInfo* m) {
    return U64(&m->size, "size") && U32(&m->crc32c, "crc32c") && U64(&m->sequence, "sequence") &&
           U64(&m->mtime_us, "mtime_us") && Ver(&m->version, "version") &&
           Metadata(&m->metadata);
  }
  bool Result(WriteResult* m) {
    return Ver(&m->version, "version") && U64(&m->sequence, "sequence") &&
           U64(&m->size, "size") && U32(&m->crc32c, "crc32c");
  }
  // Strict: every byte must have been used.
  bool End(WireError* err) {
    if (!error_.empty()) return Fail(err, error_);
    if (pos_ != in_.size()) {
      return Fail(err, fmt::format("{}: {} trailing bytes", what_, in_.size() - pos_));
    }
    return true;
  }
  bool Done() const { return pos_ == in_.size(); }

 private:
  bool Need(size_t n, const char* field) {
    if (!error_.empty()) return false;
    if (in_.size() - pos_ < n) {
      error_ = fmt::format("{}: truncated at field {} (need {} bytes, {} left)", what_, field, n,
                           in_.size() - pos_);
      return false;
    }
    return true;
  }
  bool Bad(std::string why) {
    if (error_.empty()) error_ = fmt::format("{}: {}", what_, why);
    return false;
  }
  static bool Fail(WireError* err, std::string msg) {
    err->status = WireStatus::kProtocolError;
    err->message = std::move(msg);
    return false;
  }

  std::string_view in_;
  const char* what_;
  size_t pos_ = 0;
  std::string error_;
};

bool FailWith(WireError* err, WireStatus st, std::string msg) {
  err->status = st;
  err->message = std::move(msg);
  return false;
}

}  // namespace

uint8_t WireDurability(const std::optional<Durability>& d) {
  if (!d.has_value()) return kDurabilityDefault;
  return static_cast<uint8_t>(static_cast<uint8_t>(*d) + 1);
}

std::optional<Durability> DurabilityFromWire(uint8_t d) {
  if (d == kDurabilityDefault || d > kMaxDurability) return std::nullopt;
  return static_cast<Durability>(d - 1);
}

void EncodeMeta(const PingReply& m, std::string* out) {
  PutFixed8(out, m.max_version);
  PutString(out, m.server);
}
void EncodeMeta(const PutRequest& m, std::string* out) {
  PutFixed8(out, m.durability);
  PutString(out, m.key);
  PutFixed8(out, static_cast<uint8_t>(m.condition));
  PutVersion(out, m.version);
  PutMetadata(out, m.metadata);
}
void EncodeMeta(const WriteResult& m, std::string* out) {
  PutVersion(out, m.version);
  PutFixed64(out, m.sequence);
  PutFixed64(out, m.size);
  PutFixed32(out, m.crc32c);
}
void EncodeMeta(const GetRequest& m, std::string* out) {
  PutString(out, m.key);
  PutFixed64(out, m.offset);
  PutFixed64(out, m.length);
}
void EncodeMeta(const ObjectInfo& m, std::string* out) { PutInfo(out, m); }
void EncodeGetReply(const ObjectInfo& info, uint64_t range_offset, std::string* out) {
  PutInfo(out, info);
  PutFixed64(out, range_offset);
}
void EncodeMeta(const GetReply& m, std::string* out) {
  EncodeGetReply(m.info, m.range_offset, out);
}
void EncodeMeta(const KeyRequest& m, std::string* out) { PutString(out, m.key); }
void EncodeMeta(const DeleteRequest& m, std::string* out) {
  PutFixed8(out, m.durability);
  PutString(out, m.key);
  PutFixed8(out, static_cast<uint8_t>(m.condition));
  PutVersion(out, m.version);
}
void EncodeMeta(const ListRequest& m, std::string* out) {
  PutString(out, m.prefix);
  PutString(out, m.delimiter);
  PutString(out, m.start_after);
  PutFixed32(out, m.limit);
}
void EncodeMeta(const ListReply& m, std::string* out) {
  PutFixed8(out, m.truncated ? 1 : 0);
  PutFixed32(out, m.count);
  PutFixed32(out, m.prefix_count);
  PutString(out, m.next_start_after);
}
void EncodeMeta(const ErrorReply& m, std::string* out) {
  // A message never decides anything; cut it rather than fail on an absurd one.
  PutString(out, std::string_view(m.message).substr(0, 4096));
  PutVersion(out, m.held);
  PutFixed64(out, m.epoch);
}
void AppendRouting(const Routing& r, std::string* out) {
  PutFixed64(out, r.epoch);
  char b[2];
  EncodeFixed16(b, r.sender);
  out->append(b, 2);
  PutFixed8(out, static_cast<uint8_t>(r.role));
}
bool DecodeRouting(std::string_view meta, Routing* r, std::string_view* rest, WireError* err) {
  if (meta.size() < kRoutingPrefixSize)
    return FailWith(err, WireStatus::kProtocolError, "routing prefix cut short");
  r->epoch = DecodeFixed64(meta.data());
  r->sender = DecodeFixed16(meta.data() + 8);
  const uint8_t role = static_cast<uint8_t>(meta[10]);
  if (role > kMaxRoutingRole)
    return FailWith(err, WireStatus::kProtocolError, fmt::format("routing role = {}", role));
  r->role = static_cast<RoutingRole>(role);
  *rest = meta.substr(kRoutingPrefixSize);
  return true;
}
void EncodeErrorMetaV1(std::string_view message, std::string* out) {
  PutString(out, message.substr(0, 4096));
}
void EncodeMeta(const HelloRequest& m, std::string* out) {
  PutString(out, m.key_id);
  PutBytes(out, m.client_nonce);
}
void EncodeMeta(const HelloReply& m, std::string* out) {
  PutBytes(out, m.server_nonce);
  PutBytes(out, m.server_proof);
}
void EncodeMeta(const AuthRequest& m, std::string* out) { PutBytes(out, m.client_proof); }
void EncodeListEntry(const ObjectInfo& e, std::string* out) {
  PutString(out, e.key);
  PutInfo(out, e);
}
void EncodeListPrefix(std::string_view prefix, std::string* out) { PutString(out, prefix); }

bool DecodeMeta(std::string_view in, PingReply* m, WireError* err) {
  Reader r(in, "PING reply");
  r.U8(&m->max_version, "max_version") && r.String(&m->server, "server");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, PutRequest* m, WireError* err) {
  Reader r(in, "PUT request");
  r.Durability(&m->durability) && r.String(&m->key, "key") && r.Condition(&m->condition) &&
      r.Ver(&m->version, "condition_version") && r.Metadata(&m->metadata);
  return r.End(err);
}
bool DecodeMeta(std::string_view in, WriteResult* m, WireError* err) {
  Reader r(in, "write result");
  r.Result(m);
  return r.End(err);
}
bool DecodeMeta(std::string_view in, GetRequest* m, WireError* err) {
  Reader r(in, "GET request");
  r.String(&m->key, "key") && r.U64(&m->offset, "offset") && r.U64(&m->length, "length");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, GetReply* m, WireError* err) {
  Reader r(in, "GET reply");
  r.Info(&m->info) && r.U64(&m->range_offset, "range_offset");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, KeyRequest* m, WireError* err) {
  Reader r(in, "HEAD request");
  r.String(&m->key, "key");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, ObjectInfo* m, WireError* err) {
  Reader r(in, "HEAD reply");
  r.Info(m);
  return r.End(err);
}
bool DecodeMeta(std::string_view in, DeleteRequest* m, WireError* err) {
  Reader r(in, "DELETE request");
  r.Durability(&m->durability) && r.String(&m->key, "key") && r.Condition(&m->condition) &&
      r.Ver(&m->version, "condition_version");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, ListRequest* m, WireError* err) {
  Reader r(in, "LIST request");
  r.String(&m->prefix, "prefix") && r.String(&m->delimiter, "delimiter") &&
      r.String(&m->start_after, "start_after") && r.U32(&m->limit, "limit");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, ListReply* m, WireError* err) {
  Reader r(in, "LIST reply");
  uint8_t t = 0;
  r.U8(&t, "truncated") && r.U32(&m->count, "count") &&
      r.U32(&m->prefix_count, "prefix_count") &&
      r.String(&m->next_start_after, "next_start_after");
  if (!r.End(err)) return false;
  if (t > 1) return FailWith(err, WireStatus::kProtocolError, fmt::format("truncated = {}", t));
  m->truncated = t == 1;
  return true;
}
bool DecodeMeta(std::string_view in, ErrorReply* m, WireError* err) {
  Reader r(in, "error reply");
  r.String(&m->message, "message") && r.Ver(&m->held, "held") && r.U64(&m->epoch, "epoch");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, HelloRequest* m, WireError* err) {
  Reader r(in, "HELLO request");
  r.String(&m->key_id, "key_id") && r.Bytes(&m->client_nonce, "client_nonce");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, HelloReply* m, WireError* err) {
  Reader r(in, "HELLO reply");
  r.Bytes(&m->server_nonce, "server_nonce") && r.Bytes(&m->server_proof, "server_proof");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, AuthRequest* m, WireError* err) {
  Reader r(in, "AUTH request");
  r.Bytes(&m->client_proof, "client_proof");
  return r.End(err);
}

bool DecodeListBody(std::string_view body, uint32_t count, uint32_t prefix_count,
                    std::vector<ObjectInfo>* objects, std::vector<std::string>* prefixes,
                    WireError* err) {
  objects->clear();
  prefixes->clear();
  // Each entry takes at least 2 + kObjectInfoSize bytes and each prefix 2: refuse counts the
  // body cannot hold before reserving for them.
  const uint64_t least = uint64_t{count} * (2 + kObjectInfoSize) + uint64_t{prefix_count} * 2;
  if (least > body.size()) {
    return FailWith(err, WireStatus::kProtocolError,
                    fmt::format("LIST body: {} entries and {} prefixes do not fit in {} bytes",
                                count, prefix_count, body.size()));
  }
  objects->reserve(count);
  prefixes->reserve(prefix_count);
  Reader r(body, "LIST body");
  for (uint32_t i = 0; i < count; i++) {
    ObjectInfo e;
    if (!(r.String(&e.key, "key") && r.Info(&e))) break;
    objects->push_back(std::move(e));
  }
  for (uint32_t i = 0; i < prefix_count; i++) {
    std::string p;
    if (!r.String(&p, "common prefix")) break;
    prefixes->push_back(std::move(p));
  }
  return r.End(err);
}

bool ValidateRequestMeta(Op op, std::string_view meta, WireError* err) {
  switch (op) {
    case Op::kPing:
    case Op::kStat:
      if (!meta.empty()) {
        return FailWith(err, WireStatus::kProtocolError,
                        fmt::format("{} request: meta must be empty, got {} bytes", OpName(op),
                                    meta.size()));
      }
      return true;
    case Op::kPut: {
      PutRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kGet: {
      GetRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kHead: {
      KeyRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kDelete: {
      DeleteRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kList: {
      ListRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kHello: {
      HelloRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kAuth: {
      AuthRequest m;
      return DecodeMeta(meta, &m, err);
    }
    case Op::kDigest:
      // Its fields belong to the cluster, which decodes them and answers InvalidArgument
      // (section 10); here only that there is a request kind.
      if (meta.empty())
        return FailWith(err, WireStatus::kProtocolError, "DIGEST request: empty meta");
      return true;
  }
  return FailWith(err, WireStatus::kProtocolError, "unknown op");
}

void AppendChunk(std::string_view data, std::string* out) {
  CAIRN_CHECK(!data.empty() && data.size() <= kMaxChunkBytes);
  PutFixed32(out, static_cast<uint32_t>(data.size()));
  out->append(data);
}

void AppendChunkTrailer(uint32_t crc, std::string* out) {
  PutFixed32(out, 0);
  PutFixed32(out, crc);
}

size_t ChunkedBodyDecoder::Consume(const char* in, size_t n, std::string_view* data,
                                   WireError* err) {
  *data = std::string_view();
  if (state_ == State::kDone || state_ == State::kFailed || n == 0) return 0;
  if (state_ == State::kData) {
    size_t take = std::min<size_t>(n, remaining_);
    *data = std::string_view(in, take);
    crc_ = crc32c::Extend(crc_, in, take);
    total_ += take;
    remaining_ -= static_cast<uint32_t>(take);
    if (remaining_ == 0) state_ = State::kLength;
    return take;
  }
  // kLength or kTrailer: gather a 4-byte word.
  size_t take = std::min(n, sizeof(word_) - word_have_);
  std::memcpy(word_ + word_have_, in, take);
  word_have_ += take;
  if (word_have_ < sizeof(word_)) return take;
  word_have_ = 0;
  uint32_t v = DecodeFixed32(word_);
  if (state_ == State::kTrailer) {
    if (v != crc_) {
      state_ = State::kFailed;
      FailWith(err, WireStatus::kChecksumMismatch,
               fmt::format("chunked body: trailer CRC 0x{:08x}, computed 0x{:08x} over {} bytes",
                           v, crc_, total_));
      return 0;
    }
    state_ = State::kDone;
    return take;
  }
  if (v == 0) {
    state_ = State::kTrailer;
  } else if (v > max_chunk_) {
    state_ = State::kFailed;
    FailWith(err, WireStatus::kLimitExceeded,
             fmt::format("max_chunk_bytes: chunk of {} bytes, limit {}", v, max_chunk_));
    return 0;
  } else {
    remaining_ = v;
    state_ = State::kData;
  }
  return take;
}

}  // namespace cairn::proto
