#include "proto/messages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::proto {

namespace {

void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
void PutU16(std::string* out, uint16_t v) {
  char b[2];
  EncodeFixed16(b, v);
  out->append(b, 2);
}
void PutString(std::string* out, std::string_view s) {
  CAIRN_CHECK(s.size() <= 0xFFFF);
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
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
  bool Info(ObjectMeta* m) {
    return U64(&m->size, "size") && U32(&m->crc32c, "crc32c") && U64(&m->sequence, "sequence") &&
           U64(&m->mtime_us, "mtime_us");
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

bool CheckDurability(uint8_t d, WireError* err) {
  if (d > kMaxDurability) {
    return FailWith(err, WireStatus::kProtocolError, fmt::format("unknown durability {}", d));
  }
  return true;
}

}  // namespace

void EncodeMeta(const PingReply& m, std::string* out) {
  PutU8(out, m.max_version);
  PutString(out, m.server);
}
void EncodeMeta(const PutRequest& m, std::string* out) {
  PutU8(out, m.durability);
  PutString(out, m.key);
}
void EncodeMeta(const PutReply& m, std::string* out) {
  PutFixed64(out, m.sequence);
  PutFixed64(out, m.size);
  PutFixed32(out, m.crc32c);
}
void EncodeMeta(const GetRequest& m, std::string* out) {
  PutString(out, m.key);
  PutFixed64(out, m.offset);
  PutFixed64(out, m.length);
}
void EncodeMeta(const ObjectMeta& m, std::string* out) {
  PutFixed64(out, m.size);
  PutFixed32(out, m.crc32c);
  PutFixed64(out, m.sequence);
  PutFixed64(out, m.mtime_us);
}
void EncodeMeta(const GetReply& m, std::string* out) {
  EncodeMeta(m.info, out);
  PutFixed64(out, m.range_offset);
}
void EncodeMeta(const KeyRequest& m, std::string* out) { PutString(out, m.key); }
void EncodeMeta(const DeleteRequest& m, std::string* out) {
  PutU8(out, m.durability);
  PutString(out, m.key);
}
void EncodeMeta(const ListRequest& m, std::string* out) {
  PutString(out, m.prefix);
  PutString(out, m.start_after);
  PutFixed32(out, m.limit);
}
void EncodeMeta(const ListReply& m, std::string* out) {
  PutU8(out, m.truncated ? 1 : 0);
  PutFixed32(out, m.count);
}
void EncodeMeta(const ErrorReply& m, std::string* out) {
  // A message never decides anything; cut it rather than fail on an absurd one.
  PutString(out, std::string_view(m.message).substr(0, 4096));
}
void EncodeListEntry(const ListEntry& e, std::string* out) {
  PutString(out, e.key);
  EncodeMeta(e.info, out);
}

bool DecodeMeta(std::string_view in, PingReply* m, WireError* err) {
  Reader r(in, "PING reply");
  r.U8(&m->max_version, "max_version") && r.String(&m->server, "server");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, PutRequest* m, WireError* err) {
  Reader r(in, "PUT request");
  r.U8(&m->durability, "durability") && r.String(&m->key, "key");
  return r.End(err) && CheckDurability(m->durability, err);
}
bool DecodeMeta(std::string_view in, PutReply* m, WireError* err) {
  Reader r(in, "PUT reply");
  r.U64(&m->sequence, "sequence") && r.U64(&m->size, "size") && r.U32(&m->crc32c, "crc32c");
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
bool DecodeMeta(std::string_view in, ObjectMeta* m, WireError* err) {
  Reader r(in, "HEAD reply");
  r.Info(m);
  return r.End(err);
}
bool DecodeMeta(std::string_view in, DeleteRequest* m, WireError* err) {
  Reader r(in, "DELETE request");
  r.U8(&m->durability, "durability") && r.String(&m->key, "key");
  return r.End(err) && CheckDurability(m->durability, err);
}
bool DecodeMeta(std::string_view in, ListRequest* m, WireError* err) {
  Reader r(in, "LIST request");
  r.String(&m->prefix, "prefix") && r.String(&m->start_after, "start_after") &&
      r.U32(&m->limit, "limit");
  return r.End(err);
}
bool DecodeMeta(std::string_view in, ListReply* m, WireError* err) {
  Reader r(in, "LIST reply");
  uint8_t t = 0;
  r.U8(&t, "truncated") && r.U32(&m->count, "count");
  if (!r.End(err)) return false;
  if (t > 1) return FailWith(err, WireStatus::kProtocolError, fmt::format("truncated = {}", t));
  m->truncated = t == 1;
  return true;
}
bool DecodeMeta(std::string_view in, ErrorReply* m, WireError* err) {
  Reader r(in, "error reply");
  r.String(&m->message, "message");
  return r.End(err);
}

bool DecodeListBody(std::string_view body, uint32_t count, std::vector<ListEntry>* out,
                    WireError* err) {
  out->clear();
  // Each entry takes at least 2 + kObjectInfoSize bytes: refuse a count the body can't hold
  // before reserving for it.
  if (count > body.size() / (2 + kObjectInfoSize)) {
    return FailWith(err, WireStatus::kProtocolError,
                    fmt::format("LIST body: count {} does not fit in {} bytes", count,
                                body.size()));
  }
  out->reserve(count);
  Reader r(body, "LIST body");
  for (uint32_t i = 0; i < count; i++) {
    ListEntry e;
    if (!(r.String(&e.key, "key") && r.Info(&e.info))) break;
    out->push_back(std::move(e));
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
