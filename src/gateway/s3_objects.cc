// Objects: PutObject, GetObject/HeadObject (ranges, conditions, partNumber), DeleteObject,
// DeleteObjects, CopyObject; and the body paths they share (docs/s3.md, "Objects").
#include <fmt/format.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "gateway/put_body.h"
#include "gateway/s3_internal.h"
#include "gateway/sigv4.h"
#include "util/crc32c.h"

namespace cairn::gateway {
namespace {

// The byte range a Range header asks for, resolved against the object's size.
struct RangeAsk {
  bool present = false;       // a single bytes= range was asked for
  bool satisfiable = true;
  uint64_t offset = 0, length = 0;
};

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// RFC 7233 byte ranges. A header that does not parse, or asks for several ranges, is ignored
// (the whole object is sent), as S3 does.
RangeAsk ParseRange(std::string_view h, uint64_t size) {
  RangeAsk a;
  if (!h.starts_with("bytes=")) return a;
  std::string_view spec = h.substr(6);
  while (!spec.empty() && spec.front() == ' ') spec.remove_prefix(1);
  if (spec.find(',') != std::string_view::npos) return a;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return a;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  uint64_t f = 0, l = 0;
  if (first.empty()) {
    if (!ParseU64(last, &l)) return a;
    a.present = true;
    if (l == 0 || size == 0) {
      a.satisfiable = false;
      return a;
    }
    l = std::min(l, size);
    a.offset = size - l;
    a.length = l;
    return a;
  }
  if (!ParseU64(first, &f)) return a;
  if (!last.empty() && (!ParseU64(last, &l) || l < f)) return a;
  a.present = true;
  if (f >= size) {
    a.satisfiable = false;
    return a;
  }
  a.offset = f;
  a.length = (last.empty() ? size - 1 : std::min(l, size - 1)) - f + 1;
  return a;
}

bool ETagMatches(std::string_view header, const std::string& etag) {
  // A comma-separated list of quoted ETags, or "*".
  size_t start = 0;
  while (start <= header.size()) {
    size_t comma = header.find(',', start);
    if (comma == std::string_view::npos) comma = header.size();
    std::string one = UnquoteETag(header.substr(start, comma - start));
    if (one.starts_with("W/")) one = UnquoteETag(one.substr(2));
    if (one == "*" || one == etag) return true;
    start = comma + 1;
  }
  return false;
}

// GetObject/HeadObject conditions (RFC 7232 as S3 applies them). 0: go on; else the status.
unsigned EvaluateConditions(const http::fields& h, const ObjectInfo& info,
                            std::string_view prefix) {
  const int64_t modified = static_cast<int64_t>(info.mtime_us / 1000000);
  // Most GETs carry no condition: no name strings built and no ETag formatted for them.
  auto hv = [&](std::string_view name) {
    return prefix.empty() ? HeaderOr(h, name)
                          : HeaderOr(h, std::string(prefix) + std::string(name));
  };
  std::string_view im = hv("if-match"), inm = hv("if-none-match");
  std::string_view ims = hv("if-modified-since"), ius = hv("if-unmodified-since");
  const std::string etag = im.empty() && inm.empty() ? std::string() : ETagOf(info);
  int64_t t = 0;
  if (!im.empty()) {
    if (!ETagMatches(im, etag)) return 412;
  } else if (!ius.empty() && ParseHttpDate(ius, &t) && modified > t) {
    return 412;
  }
  if (!inm.empty()) {
    if (ETagMatches(inm, etag)) return prefix.empty() ? 304 : 412;
  } else if (!ims.empty() && ParseHttpDate(ims, &t) && modified <= t) {
    return prefix.empty() ? 304 : 412;
  }
  return 0;
}

// A response body read from an ObjectReader on the blocking pool, one piece at a time.
class ReaderSource final : public net::HttpBodySource {
 public:
  ReaderSource(ObjectReader* r, net::asio::thread_pool* pool) : r_(r), pool_(pool) {}
  awaitable<Result<size_t>> Read(char* buf, size_t cap) override {
    ObjectReader* r = r_;
    co_return co_await net::RunBlocking(*pool_, [r, buf, cap] { return r->Read(buf, cap); });
  }

 private:
  ObjectReader* r_;
  net::asio::thread_pool* pool_;
};

class EmptySource final : public net::HttpBodySource {
 public:
  awaitable<Result<size_t>> Read(char*, size_t) override { co_return size_t{0}; }
};

// Awaits a PutOnLoop: Busy at once when the store would have to wait (then Put on the pool).
awaitable<Result<WriteResult>> PutOnLoopAwait(service::ObjectService& svc, std::string_view key,
                                              std::string_view value, const WriteOptions& wo,
                                              net::asio::any_io_executor loop) {
  std::optional<Result<WriteResult>> out;
  Status started;
  co_await net::asio::async_initiate<const net::asio::use_awaitable_t<>&, void()>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        started = svc.PutOnLoop(key, value, wo, [h, &out](Result<WriteResult> r) {
          out.emplace(std::move(r));
          auto ex = net::asio::get_associated_executor(*h);
          net::asio::dispatch(ex, std::move(*h));
        });
        if (!started.ok()) {
          // Nothing was started: resume at once.
          net::asio::post(net::asio::get_associated_executor(*h), std::move(*h));
          return;
        }
        // One group commit per loop turn, as cairnd's binary protocol does.
        thread_local bool kick_posted = false;
        if (!kick_posted) {
          kick_posted = true;
          net::asio::post(loop, [&svc] {
            kick_posted = false;
            svc.EndOfTurn();
          });
        }
      },
      net::asio::use_awaitable);
  if (!started.ok()) co_return started;
  co_return std::move(*out);
}

}  // namespace

// ---- Bodies --------------------------------------------------------------------------------

awaitable<Result<std::string>> Gateway::Impl::ReadSmallBody(HttpExchange& ex, const Request& r,
                                                            uint64_t limit,
                                                            std::string_view limit_name,
                                                            bool checksum_headers) {
  PutBody body(ex, r, o_, checksum_headers);
  CAIRN_CO_RETURN_IF_ERROR(body.Prepare());
  if (body.length().has_value() && *body.length() > limit)
    co_return Status::InvalidArgument("MaxMessageLengthExceeded: " + std::string(limit_name) +
                                      ": the body is over " + std::to_string(limit) + " bytes");
  std::string out;
  char piece[16 << 10];
  for (;;) {
    Result<size_t> n = co_await body.Read(piece, sizeof(piece));
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    if (out.size() + *n > limit)
      co_return Status::InvalidArgument("MaxMessageLengthExceeded: " + std::string(limit_name) +
                                        ": the body is over " + std::to_string(limit) + " bytes");
    out.append(piece, *n);
  }
  CAIRN_CO_RETURN_IF_ERROR(body.Verify());
  co_return out;
}

awaitable<Result<Gateway::Impl::Stored>> Gateway::Impl::StoreBody(
    HttpExchange& ex, const Request& r, const std::string& store_key, WriteOptions wo,
    uint64_t max_bytes, std::string_view max_name) {
  PutBody body(ex, r, o_);
  CAIRN_CO_RETURN_IF_ERROR(body.Prepare());
  const std::optional<uint64_t> len = body.length();
  if (!len.has_value() && !ex.chunked() && !r.streaming())
    co_return Status::InvalidArgument("MissingContentLength: the body needs a Content-Length");
  if (len.has_value() && *len > max_bytes)
    co_return Status::InvalidArgument("EntityTooLarge: " + std::string(max_name) + ": the body is " +
                                      std::to_string(*len) + " bytes, limit " +
                                      std::to_string(max_bytes));
  ex.SetBodyLimit(r.streaming() ? max_bytes + max_bytes / 8 + (1 << 20) : max_bytes, max_name);
  // The MD5 is known only at the end: a placeholder of its size makes the early metadata check
  // count it.
  wo.metadata.md5.assign(16, '\0');
  CAIRN_CO_RETURN_IF_ERROR(svc_.CheckPut(store_key, wo, len));
  Version held;
  wo.held_version_out = &held;
  Stored st;
  if (len.has_value() && svc_.ChoosePutPath(len) == service::PutPath::kLoop) {
    std::string value;
    value.resize(static_cast<size_t>(*len));
    size_t got = 0;
    while (got < value.size()) {
      Result<size_t> n = co_await body.Read(value.data() + got, value.size() - got);
      if (!n.ok()) co_return n.status();
      if (*n == 0) break;  // shorter than announced: Verify says so
      got += *n;
    }
    // Reach the end of the body (and of any aws-chunked framing).
    char extra;
    Result<size_t> e = co_await body.Read(&extra, 1);
    if (!e.ok()) co_return e.status();
    if (*e != 0) co_return Status::InvalidArgument("IncompleteBody: the body is longer than announced");
    value.resize(got);
    CAIRN_CO_RETURN_IF_ERROR(body.Verify());
    wo.metadata.md5 = body.md5();
    Result<WriteResult> w = co_await PutOnLoopAwait(svc_, store_key, value, wo, ex.executor());
    if (!w.ok() && w.status().IsBusy())
      w = co_await Blocking(ex, [&] { return svc_.Put(store_key, value, wo); });
    if (!w.ok()) co_return w.status();
    st.w = *w;
  } else if (!o_.spool_dir.empty()) {
    // Spool, then store with the MD5 known up front (a store that takes metadata first).
    Result<int> fd = co_await Blocking(ex, [&]() -> Result<int> {
      int f = ::open(o_.spool_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
      if (f < 0) return Status::FromErrno(errno, "spool file in " + o_.spool_dir);
      return f;
    });
    if (!fd.ok()) co_return fd.status();
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{*fd};
    std::string piece(256 << 10, '\0');
    uint64_t at = 0;
    for (;;) {
      Result<size_t> n = co_await body.Read(piece.data(), piece.size());
      if (!n.ok()) co_return n.status();
      if (*n == 0) break;
      const size_t k = *n;
      Status ws = co_await Blocking(ex, [&]() -> Status {
        size_t done = 0;
        while (done < k) {
          ssize_t w = ::pwrite(*fd, piece.data() + done, k - done, static_cast<off_t>(at + done));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return Status::FromErrno(errno, "writing the spool file");
          done += static_cast<size_t>(w);
        }
        return Status::OK();
      });
      if (!ws.ok()) co_return ws;
      at += k;
    }
    CAIRN_CO_RETURN_IF_ERROR(body.Verify());
    wo.metadata.md5 = body.md5();
    class FileSource final : public ValueSource {
     public:
      FileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
      Result<size_t> Read(char* buf, size_t n) override {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
        if (k == 0) return size_t{0};
        ssize_t r = ::pread(fd_, buf, k, static_cast<off_t>(pos_));
        if (r <= 0) return Status::IOError("reading the spool file failed");
        pos_ += static_cast<uint64_t>(r);
        return static_cast<size_t>(r);
      }

     private:
      int fd_;
      uint64_t size_, pos_ = 0;
    } src(*fd, at);
    Result<WriteResult> w =
        co_await Blocking(ex, [&] { return svc_.PutStream(store_key, &src, wo); });
    if (!w.ok()) co_return w.status();
    st.w = *w;
  } else {
    ObjectMetadata meta = wo.metadata;
    LoopBridgeSource src(&body, ex.executor(), meta);
    Result<WriteResult> w =
        co_await Blocking(ex, [&] { return svc_.PutStream(store_key, &src, wo); });
    if (!w.ok()) co_return w.status();
    if (!src.verified()) co_return Status::Corruption("the body was not verified before the commit");
    st.w = *w;
  }
  counters_.bytes_in.fetch_add(body.size(), std::memory_order_relaxed);
  st.etag = Hex(body.md5());
  st.size = body.size();
  st.echo = body.echo();
  co_return st;
}

// ---- PutObject -----------------------------------------------------------------------------

awaitable<Outcome> Gateway::Impl::PutObject(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  if (Outcome h = CheckObjectWriteHeaders(ex.headers()); h) co_return h;
  if (r.key.size() > MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes))
    co_return S3Error::Make("KeyTooLongError",
                            fmt::format("max_key_bytes: in bucket '{}' keys are at most {} bytes",
                                        r.bucket, MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes)));
  const std::string sk = ObjectStoreKey(r.bucket, r.key);
  WriteOptions wo;
  if (Status s = MetadataFromHeaders(ex.headers(), &wo.metadata); !s.ok()) co_return FromStatus(s);
  // Conditional PUT: If-None-Match: * (create only), If-Match: ETag (replace that one only).
  std::string_view inm = HeaderOr(ex.headers(), "if-none-match");
  std::string_view im = HeaderOr(ex.headers(), "if-match");
  if (!inm.empty()) {
    if (UnquoteETag(inm) != "*")
      co_return S3Error::Make("NotImplemented", "If-None-Match on PUT takes only *");
    wo.condition = WriteCondition::kIfNoneMatch;
  } else if (!im.empty()) {
    Result<ObjectInfo> cur = co_await Blocking(ex, [&] { return svc_.Head(sk); });
    if (!cur.ok()) co_return FromStatus(cur.status());
    if (!ETagMatches(im, ETagOf(*cur))) co_return S3Error::Make("PreconditionFailed");
    wo.condition = WriteCondition::kIfMatch;
    wo.version = cur->version;
  }
  Result<Stored> st = co_await StoreBody(ex, r, sk, wo, o_.max_put_bytes, "max_put_bytes");
  if (!st.ok()) {
    if (st.status().IsConflict()) co_return S3Error::Make("PreconditionFailed");
    co_return FromStatus(st.status());
  }
  http::fields h = st->echo;
  h.set(http::field::etag, "\"" + st->etag + "\"");
  co_await SendEmpty(ex, r, 200, std::move(h));
  co_return std::nullopt;
}

// ---- GetObject / HeadObject ----------------------------------------------------------------

awaitable<Outcome> Gateway::Impl::GetObject(HttpExchange& ex, Request& r, bool head) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  auto no_such_key = [&](Status s) {
    S3Error e = FromStatus(s);
    if (s.IsNotFound()) {
      e = S3Error::Make("NoSuchKey");
      e.extra_xml = "<Key>" + XmlEscape(r.key) + "</Key>";
    }
    return e;
  };
  if (r.key.size() > MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes))
    co_return no_such_key(Status::NotFound(""));
  const std::string sk = ObjectStoreKey(r.bucket, r.key);
  service::GetOutcome o;
  if (head) {
    Result<ObjectInfo> info = co_await Blocking(ex, [&] { return svc_.Head(sk); });
    if (!info.ok()) co_return no_such_key(info.status());
    o.bytes = std::make_unique<GetResult>();
    o.bytes->info = std::move(*info);
  } else {
    std::optional<service::GetOutcome> t = svc_.TryGetOnLoop(sk, ByteRange());
    if (t.has_value()) {
      o = std::move(*t);
    } else {
      o = co_await Blocking(ex, [&] { return svc_.Get(sk, ByteRange()); });
    }
    if (!o.status.ok()) co_return no_such_key(o.status);
  }
  const ObjectInfo& info = o.info();
  const http::fields& rh = ex.headers();
  http::fields h;
  MetadataToHeaders(info, &h);
  h.set(http::field::accept_ranges, "bytes");
  // Response header overrides (presigned downloads use them).
  static constexpr std::pair<const char*, http::field> kOverrides[] = {
      {"response-content-type", http::field::content_type},
      {"response-content-language", http::field::content_language},
      {"response-expires", http::field::expires},
      {"response-cache-control", http::field::cache_control},
      {"response-content-disposition", http::field::content_disposition},
      {"response-content-encoding", http::field::content_encoding}};
  for (const auto& [q, f] : kOverrides)
    if (const std::string* v = r.Q(q); v != nullptr) h.set(f, *v);

  if (unsigned c = EvaluateConditions(rh, info, ""); c != 0) {
    if (c == 412) co_return S3Error::Make("PreconditionFailed");
    http::fields nm;
    nm.set(http::field::etag, h[http::field::etag]);
    nm.set(http::field::last_modified, h[http::field::last_modified]);
    co_await SendEmpty(ex, r, 304, std::move(nm));
    co_return std::nullopt;
  }

  // partNumber: the range of one part of a multipart object (the whole of a simple one, as 1).
  RangeAsk range;
  if (const std::string* pn = r.Q("partNumber"); pn != nullptr) {
    uint64_t n = 0;
    if (!ParseU64(*pn, &n) || n < 1 || n > o_.max_parts)
      co_return S3Error::Make("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
    if (!HeaderOr(rh, "range").empty())
      co_return S3Error::Make("InvalidRequest", "Cannot specify both Range header and partNumber query parameter");
    auto sizes = info.metadata.system.find("parts");
    std::vector<uint64_t> parts;
    if (sizes != info.metadata.system.end()) {
      // "SIZE*COUNT,SIZE*COUNT,..." (docs/s3.md, "Multipart uploads").
      std::string_view s = sizes->second;
      while (!s.empty()) {
        size_t comma = s.find(',');
        std::string_view run = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
        size_t star = run.find('*');
        uint64_t sz = 0, cnt = 1;
        if (!ParseU64(run.substr(0, star), &sz) ||
            (star != std::string_view::npos && !ParseU64(run.substr(star + 1), &cnt)))
          break;
        for (uint64_t i = 0; i < cnt && parts.size() <= o_.max_parts; i++) parts.push_back(sz);
      }
    } else {
      parts.push_back(info.size);
    }
    if (n > parts.size()) co_return S3Error::Make("InvalidPartNumber");
    range.present = true;
    for (uint64_t i = 0; i + 1 < n; i++) range.offset += parts[i];
    range.length = parts[n - 1];
    h.set("x-amz-mp-parts-count", std::to_string(parts.size()));
    if (range.length == 0) range.present = false;
  } else {
    range = ParseRange(HeaderOr(rh, "range"), info.size);
  }
  if (range.present && !range.satisfiable) {
    S3Error e = S3Error::Make("InvalidRange");
    e.extra_xml = "<RangeRequested>" + XmlEscape(HeaderOr(rh, "range")) +
                  "</RangeRequested><ActualObjectSize>" + std::to_string(info.size) +
                  "</ActualObjectSize>";
    if (!ex.responded()) {
      // The 416 carries Content-Range: bytes */SIZE.
      counters_.errors.fetch_add(1, std::memory_order_relaxed);
      r.answered_error = "InvalidRange";
      net::HttpResponse resp;
      resp.status = 416;
      resp.headers = BaseHeaders(r);
      resp.headers.set(http::field::content_type, "application/xml");
      resp.headers.set(http::field::content_range, fmt::format("bytes */{}", info.size));
      e.resource = r.path;
      resp.body = RenderS3Error(e, r.id);
      co_await ex.Send(std::move(resp));
    }
    co_return std::nullopt;
  }
  SetBaseHeaders(r, &h);
  unsigned status = 200;
  uint64_t off = 0, len = info.size;
  // Any satisfiable range is answered 206 with its Content-Range, one that covers the whole
  // object too (bytes=0-, a suffix longer than the object), as S3 does.
  if (range.present) {
    status = 206;
    off = range.offset;
    len = range.length;
    h.set(http::field::content_range,
          fmt::format("bytes {}-{}/{}", off, off + len - 1, info.size));
  } else if (HeaderOr(rh, "x-amz-checksum-mode") == "ENABLED" &&
             info.metadata.system.find("etag") == info.metadata.system.end()) {
    // The whole object's CRC-32C: a client that checks it verifies the bytes end to end (the
    // sendfile path sends them unread by this process).
    char b[4] = {static_cast<char>(info.crc32c >> 24), static_cast<char>(info.crc32c >> 16),
                 static_cast<char>(info.crc32c >> 8), static_cast<char>(info.crc32c)};
    h.set("x-amz-checksum-crc32c", Base64(std::string_view(b, 4)));
  }
  if (head) {
    EmptySource none;
    co_await ex.SendStream(status, std::move(h), &none, len);
    co_return std::nullopt;
  }
  if (o.pin != nullptr) {
    if (status == 206 && len > 0) {
      // Read and verify the records holding the range before sending them (sendfile then sends
      // them from the page cache).
      PinnedObject* pin = o.pin.get();
      Result<uint32_t> crc = co_await Blocking(ex, [&] { return pin->RangeCrc(off, len); });
      if (!crc.ok()) co_return FromStatus(crc.status());
    }
    co_await ex.SendFile(status, std::move(h),
                         net::HttpFileBody::FromPin(std::move(o.pin), off, len));
    co_return std::nullopt;
  }
  if (status == 206) {
    // A store that cannot pin: a reader (or bytes) of exactly the range, of the same version.
    const Version v = info.version;
    service::GetOutcome ro =
        co_await Blocking(ex, [&] { return svc_.Get(sk, ByteRange{off, len}); });
    if (!ro.status.ok()) co_return no_such_key(ro.status);
    if (ro.info().version != v)
      co_return S3Error::Make("InternalError", "the object changed while it was being read; retry");
    o = std::move(ro);
  }
  if (o.bytes != nullptr) {
    net::HttpResponse resp;
    resp.status = status;
    resp.headers = std::move(h);
    resp.body = std::move(o.bytes->data);
    co_await ex.Send(std::move(resp));
    co_return std::nullopt;
  }
  ReaderSource src(o.reader.get(), &ex.blocking_pool());
  co_await ex.SendStream(status, std::move(h), &src, len);
  co_return std::nullopt;
}

// ---- Deletes -------------------------------------------------------------------------------

awaitable<Outcome> Gateway::Impl::DeleteObject(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  if (r.key.size() <= MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes)) {
    const std::string sk = ObjectStoreKey(r.bucket, r.key);
    Result<WriteResult> d = co_await Blocking(ex, [&] { return svc_.Delete(sk, WriteOptions()); });
    // Deleting a key that does not exist succeeds (S3 deletes are idempotent).
    if (!d.ok() && !d.status().IsNotFound()) co_return FromStatus(d.status());
  }
  co_await SendEmpty(ex, r, 204);
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::DeleteObjects(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  Result<std::string> body = co_await ReadSmallBody(ex, r, o_.max_xml_body_bytes, "max_xml_body_bytes");
  if (!body.ok()) co_return FromStatus(body.status());
  Result<std::unique_ptr<XmlNode>> doc = ParseXml(*body);
  if (!doc.ok()) co_return FromStatus(doc.status());
  if ((*doc)->name != "Delete") co_return S3Error::Make("MalformedXML", "the body is not a Delete");
  const bool quiet = (*doc)->Child("Quiet") != nullptr && (*doc)->Child("Quiet")->text == "true";
  std::vector<const XmlNode*> objs = (*doc)->Children("Object");
  if (objs.empty() || objs.size() > o_.max_delete_keys)
    co_return S3Error::Make("MalformedXML", fmt::format("max_delete_keys: a Delete names 1 to {} "
                                                        "objects", o_.max_delete_keys));
  struct One {
    std::string key;
    std::string version;
    Status status;
  };
  std::vector<One> all;
  for (const XmlNode* o : objs) {
    const XmlNode* k = o->Child("Key");
    if (k == nullptr) co_return S3Error::Make("MalformedXML", "an Object without a Key");
    One one;
    one.key = k->text;
    if (const XmlNode* v = o->Child("VersionId"); v != nullptr) one.version = v->text;
    all.push_back(std::move(one));
  }
  const size_t max_key = MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes);
  co_await Blocking(ex, [&] {
    for (One& one : all) {
      if (!one.version.empty() && one.version != "null") {
        one.status = Status::NotFound("NoSuchVersion: the specified version does not exist");
        continue;
      }
      if (one.key.empty()) {
        one.status = Status::InvalidArgument("InvalidArgument: the key is empty");
        continue;
      }
      if (one.key.size() > max_key) continue;  // cannot exist: deleted
      Result<WriteResult> d = svc_.Delete(ObjectStoreKey(r.bucket, one.key), WriteOptions());
      if (!d.ok() && !d.status().IsNotFound()) one.status = d.status();
    }
    return 0;
  });
  XmlWriter w("DeleteResult");
  for (const One& one : all) {
    if (one.status.ok()) {
      if (quiet) continue;
      w.Open("Deleted");
      w.Leaf("Key", one.key);
      if (!one.version.empty()) w.Leaf("VersionId", one.version);
      w.Close();
    } else {
      S3Error e = FromStatus(one.status);
      w.Open("Error");
      w.Leaf("Key", one.key);
      if (!one.version.empty()) w.Leaf("VersionId", one.version);
      w.Leaf("Code", e.code);
      w.Leaf("Message", e.message);
      w.Close();
    }
  }
  co_await SendXml(ex, r, 200, w.Finish());
  co_return std::nullopt;
}

// ---- CopyObject ----------------------------------------------------------------------------

awaitable<Outcome> Gateway::Impl::ParseCopySource(HttpExchange& ex, const Request& r,
                                                  std::string* bucket, std::string* key) {
  std::string_view src = HeaderOr(ex.headers(), "x-amz-copy-source");
  std::string_view version;
  if (size_t q = src.find("?versionId="); q != std::string_view::npos) {
    version = src.substr(q + 11);
    src = src.substr(0, q);
  }
  std::string decoded;
  if (!UriDecode(src, &decoded))
    co_return S3Error::Make("InvalidArgument", "x-amz-copy-source has a malformed %-escape");
  std::string_view d = decoded;
  if (d.starts_with("/")) d.remove_prefix(1);
  size_t slash = d.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == d.size())
    co_return S3Error::Make("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
  *bucket = std::string(d.substr(0, slash));
  *key = std::string(d.substr(slash + 1));
  if (!version.empty() && version != "null") co_return S3Error::Make("NoSuchVersion");
  if (!ValidBucketName(*bucket)) co_return S3Error::Make("NoSuchBucket");
  co_return co_await Authorize(ex, r, *bucket);
}

namespace {

// A copy's value source: the source object's reader, with its MD5 computed as it passes when
// the source had none (an object written by `cairn put`).
class CopySource final : public ValueSource {
 public:
  CopySource(ObjectReader* r, ObjectMetadata meta, bool want_md5)
      : r_(r), meta_(std::move(meta)), want_md5_(want_md5), md5_(want_md5 ? EVP_MD_CTX_new() : nullptr) {
    if (md5_ != nullptr) EVP_DigestInit_ex(md5_, EVP_md5(), nullptr);
  }
  ~CopySource() override {
    if (md5_ != nullptr) EVP_MD_CTX_free(md5_);
  }
  Result<size_t> Read(char* buf, size_t n) override {
    Result<size_t> got = r_->Read(buf, n);
    if (got.ok() && md5_ != nullptr) {
      if (*got > 0) {
        EVP_DigestUpdate(md5_, buf, *got);
      } else if (!done_) {
        unsigned char md[16];
        unsigned int k = 0;
        EVP_DigestFinal_ex(md5_, md, &k);
        meta_.md5.assign(reinterpret_cast<char*>(md), 16);
        done_ = true;
      }
    }
    return got;
  }
  const ObjectMetadata* FinalMetadata() override { return want_md5_ && done_ ? &meta_ : nullptr; }

 private:
  ObjectReader* r_;
  ObjectMetadata meta_;
  bool want_md5_;
  EVP_MD_CTX* md5_;
  bool done_ = false;
};

}  // namespace

Result<std::string> Gateway::Impl::Md5Of(const std::string& store_key, const ByteRange& range,
                                         const Version& version) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> rd, store_->OpenReader(store_key, range));
  if (rd->info().version != version)
    return Status::Unavailable("the source changed while it was being copied; retry");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  std::string buf(1 << 20, '\0');
  Status st;
  for (;;) {
    Result<size_t> n = rd->Read(buf.data(), buf.size());
    if (!n.ok()) {
      st = n.status();
      break;
    }
    if (*n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), *n);
  }
  unsigned char md[16];
  unsigned int k = 0;
  EVP_DigestFinal_ex(ctx, md, &k);
  EVP_MD_CTX_free(ctx);
  if (!st.ok()) return st;
  return std::string(reinterpret_cast<char*>(md), 16);
}

awaitable<Outcome> Gateway::Impl::CopyObject(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  if (Outcome h = CheckObjectWriteHeaders(ex.headers()); h) co_return h;
  if (r.key.size() > MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes))
    co_return S3Error::Make("KeyTooLongError");
  std::string sb, skey;
  Outcome cs = co_await ParseCopySource(ex, r, &sb, &skey);
  if (cs) co_return cs;
  if (skey.size() > MaxS3KeyBytes(sb, o_.service.max_key_bytes)) co_return S3Error::Make("NoSuchKey");
  const std::string src_key = ObjectStoreKey(sb, skey);
  const std::string dst_key = ObjectStoreKey(r.bucket, r.key);
  std::string_view directive = HeaderOr(ex.headers(), "x-amz-metadata-directive", "COPY");
  if (directive != "COPY" && directive != "REPLACE")
    co_return S3Error::Make("InvalidArgument", "Unknown metadata directive.");
  Result<std::unique_ptr<ObjectReader>> reader =
      co_await Blocking(ex, [&] { return store_->OpenReader(src_key); });
  if (!reader.ok()) co_return FromStatus(reader.status());
  const ObjectInfo info = (*reader)->info();
  if (unsigned c = EvaluateConditions(ex.headers(), info, "x-amz-copy-source-"); c != 0)
    co_return S3Error::Make("PreconditionFailed");
  if (info.size > o_.max_put_bytes)
    co_return S3Error::Make("InvalidRequest", "the source is larger than the largest object "
                                              "CopyObject copies (max_put_bytes); use UploadPartCopy");
  WriteOptions wo;
  // A copy is made by one request: S3 gives it the MD5 of its bytes as its ETag and no parts,
  // whatever the source was. A multipart source's ETag and part sizes stay behind.
  const bool multipart_source = info.metadata.system.find("etag") != info.metadata.system.end();
  if (directive == "REPLACE") {
    if (Status s = MetadataFromHeaders(ex.headers(), &wo.metadata); !s.ok()) co_return FromStatus(s);
    if (!multipart_source) wo.metadata.md5 = info.metadata.md5;
  } else {
    if (src_key == dst_key)
      co_return S3Error::Make(
          "InvalidRequest",
          "This copy request is illegal because it is trying to copy an object to itself "
          "without changing the object's metadata, storage class, website redirect location or "
          "encryption attributes.");
    wo.metadata = info.metadata;
    if (multipart_source) {
      wo.metadata.system.erase("etag");
      wo.metadata.system.erase("parts");
      wo.metadata.md5.clear();
    }
  }
  // The copy can take minutes: AnswerWhenDone keeps the client's connection alive meanwhile.
  std::shared_ptr<ObjectReader> rd(std::move(*reader));
  // A named function: a temporary in the co_await below would be destroyed twice (g++ 12).
  LongWorkFn work =
      [this, rd, wo = std::move(wo), src_key, dst_key,
       version = info.version]() mutable -> std::variant<std::string, S3Error> {
        bool want_md5 = wo.metadata.md5.empty();
        if (want_md5 && !o_.spool_dir.empty()) {
          // A store that takes metadata first: the MD5 from a first pass over the source.
          Result<std::string> md5 = Md5Of(src_key, ByteRange(), version);
          if (!md5.ok()) return FromStatus(md5.status());
          wo.metadata.md5 = *md5;
          want_md5 = false;
        }
        if (want_md5) wo.metadata.md5.assign(16, '\0');
        CopySource src(rd.get(), wo.metadata, want_md5);
        Result<WriteResult> w = svc_.PutStream(dst_key, &src, wo);
        if (!w.ok()) return FromStatus(w.status());
        Result<ObjectInfo> now = svc_.Head(dst_key);
        if (!now.ok()) return FromStatus(now.status());
        XmlWriter x("CopyObjectResult");
        x.Leaf("LastModified", FormatIso8601(static_cast<int64_t>(now->mtime_us)));
        x.Leaf("ETag", "\"" + ETagOf(*now) + "\"");
        return x.Finish();
      };
  co_return co_await AnswerWhenDone(ex, r, std::move(work));
}

}  // namespace cairn::gateway
