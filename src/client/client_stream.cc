// PutStream and OpenReader: bodies of any size, moved by the calling thread over a connection
// of their own, with bounded memory (one 1 MiB buffer for a put; the caller's buffer for a get).
#include <fmt/format.h>

#include <thread>

#include "client/client_impl.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

namespace cairn::client {
namespace {

// Named bound: bytes read from a ValueSource per chunk. A value that ends within the first
// buffer is sent as a plain (retryable) PUT; a longer one as chunks of this size.
constexpr size_t kStreamChunkBytes = size_t{1} << 20;
static_assert(kStreamChunkBytes <= proto::kMaxChunkBytes);

// Fills buf from src until it is full or the source ends.
Result<size_t> FillFrom(ValueSource* src, char* buf, size_t n) {
  size_t have = 0;
  while (have < n) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, src->Read(buf + have, n - have));
    if (got == 0) break;
    have += got;
  }
  return have;
}

// Reads one reply frame's header and meta. The body (if any) is left on the socket.
Status ReadReplyHead(BlockingSocket* s, int timeout_ms, proto::FrameHeader* h, std::string* meta) {
  char head[proto::kHeaderSize];
  CAIRN_RETURN_IF_ERROR(s->ReadExact(head, sizeof(head), timeout_ms));
  proto::WireError err;
  if (!proto::DecodeHeader(head, proto::kMaxFrameMetaBytesLimit, h, &err) || !h->reply ||
      h->chunked()) {
    if (err.status == proto::WireStatus::kUnsupportedVersion)
      return Status::NotSupported(
          fmt::format("the server {} speaks protocol version {}; this client speaks version {}",
                      s->name(), h->version, proto::kVersion));
    return Status::IOError("protocol error from the server: " +
                           (err.message.empty() ? std::string("not a reply frame") : err.message));
  }
  meta->resize(h->meta_len);
  CAIRN_RETURN_IF_ERROR(s->ReadExact(meta->data(), meta->size(), timeout_ms));
  if (!proto::CheckHeaderCrc(head, *meta, &err))
    return Status::IOError("protocol error from the server: " + err.message);
  return Status::OK();
}

bool RetryableWire(proto::WireStatus s) {
  return s == proto::WireStatus::kChecksumMismatch || s == proto::WireStatus::kShuttingDown ||
         s == proto::WireStatus::kBusy;
}

class RemoteReader final : public ObjectReader {
 public:
  RemoteReader(ClientImpl* client, std::unique_ptr<BlockingSocket> sock, ObjectInfo info,
               uint64_t body_len, uint32_t body_crc)
      : client_(client),
        sock_(std::move(sock)),
        info_(std::move(info)),
        remaining_(body_len),
        want_crc_(body_crc) {}

  const ObjectInfo& info() const override { return info_; }

  Result<size_t> Read(char* buf, size_t n) override {
    if (!error_.ok()) return error_;
    if (remaining_ == 0 || n == 0) return size_t{0};
    const size_t ask = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
    Result<size_t> got = sock_->ReadSome(buf, ask, static_cast<int>(client_->options().timeout_ms));
    if (!got.ok()) return error_ = got.status();
    if (*got == 0)
      return error_ = Status::IOError(fmt::format(
                 "the server {} closed the connection with {} bytes of the body still to come",
                 sock_->name(), remaining_));
    crc_ = crc32c::Extend(crc_, buf, *got);
    remaining_ -= *got;
    if (remaining_ == 0) {
      if (crc_ != want_crc_)
        return error_ = Status::Corruption(fmt::format(
                   "body checksum mismatch on \"{}\": received bytes have CRC-32C {:08x}, the "
                   "server sent {:08x}",
                   info_.key, crc_, want_crc_));
      client_->ReturnStreamSocket(std::move(sock_));  // the connection is clean: reuse it
    }
    return *got;
  }

 private:
  ClientImpl* client_;
  std::unique_ptr<BlockingSocket> sock_;
  ObjectInfo info_;
  uint64_t remaining_;
  uint32_t want_crc_;
  uint32_t crc_ = 0;
  Status error_;
};

}  // namespace

Result<std::unique_ptr<BlockingSocket>> ClientImpl::TakeStreamSocket() {
  {
    std::lock_guard<std::mutex> lock(idle_mu_);
    if (!idle_streams_.empty()) {
      std::unique_ptr<BlockingSocket> s = std::move(idle_streams_.back());
      idle_streams_.pop_back();
      return s;
    }
  }
  const int timeout = static_cast<int>(options_.connect_timeout_ms);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<BlockingSocket> s,
                         BlockingSocket::Connect(endpoint_.data(),
                                                 static_cast<socklen_t>(endpoint_.size()),
                                                 ServerName(), timeout));
  if (!options_.key.has_value()) return s;
  // The handshake, one step at a time: nothing is sent before the server proved its key.
  Handshake hs(*options_.key, ServerName());
  const std::string hello = hs.HelloFrame();
  CAIRN_RETURN_IF_ERROR(s->WriteAll(hello.data(), hello.size(), timeout));
  proto::FrameHeader h;
  std::string meta;
  CAIRN_RETURN_IF_ERROR(ReadReplyHead(s.get(), timeout, &h, &meta));
  std::string auth;
  CAIRN_RETURN_IF_ERROR(hs.OnHelloReply(h, meta, &auth));
  CAIRN_RETURN_IF_ERROR(s->WriteAll(auth.data(), auth.size(), timeout));
  CAIRN_RETURN_IF_ERROR(ReadReplyHead(s.get(), timeout, &h, &meta));
  CAIRN_RETURN_IF_ERROR(hs.OnAuthReply(h, meta));
  return s;
}

void ClientImpl::ReturnStreamSocket(std::unique_ptr<BlockingSocket> s) {
  std::lock_guard<std::mutex> lock(idle_mu_);
  if (static_cast<int>(idle_streams_.size()) < options_.max_idle_stream_connections)
    idle_streams_.push_back(std::move(s));
}

Result<WriteResult> ClientImpl::PutStream(std::string_view key, ValueSource* src,
                                          const WriteOptions& wo) {
  CheckNotIoThread();
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  CAIRN_RETURN_IF_ERROR(CheckMetadata(wo.metadata, SIZE_MAX));
  std::string buf(kStreamChunkBytes, '\0');
  CAIRN_ASSIGN_OR_RETURN(size_t have, FillFrom(src, buf.data(), buf.size()));
  if (have < buf.size()) {
    buf.resize(have);
    return Put(key, buf, wo);  // all of it is in hand: a plain PUT, which may be retried
  }
  // Chunked: the source cannot be rewound, so this is one attempt (client.h).
  const int timeout = static_cast<int>(options_.timeout_ms);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<BlockingSocket> sock, TakeStreamSocket());
  proto::PutRequest req;
  req.durability = proto::WireDurability(wo.durability);
  req.key.assign(key);
  req.condition = wo.condition;
  if (wo.condition == WriteCondition::kIfMatch || wo.condition == WriteCondition::kIfNewer)
    req.version = wo.version;
  req.metadata = wo.metadata;
  std::string meta;
  if (options_.routing.has_value()) AppendRouting(*options_.routing, &meta);
  proto::EncodeMeta(req, &meta);
  proto::FrameHeader h;
  h.op = proto::Op::kPut;
  h.request_id = 1;
  h.meta_len = static_cast<uint32_t>(meta.size());
  h.flags = proto::kFlagChunked | (options_.routing.has_value() ? proto::kFlagRouted : 0);
  h.body_len = proto::kChunkedBodyLen;
  std::string head = proto::EncodeFrame(h, meta);

  uint32_t crc = 0;
  Status send = sock->WriteAll(head.data(), head.size(), timeout);
  while (send.ok() && have > 0) {
    crc = crc32c::Extend(crc, buf.data(), have);
    char len[4];
    EncodeFixed32(len, static_cast<uint32_t>(have));
    iovec iov[2] = {{len, 4}, {buf.data(), have}};
    send = sock->WriteV(iov, 2, timeout);
    if (!send.ok()) break;
    Result<size_t> next = FillFrom(src, buf.data(), buf.size());
    if (!next.ok()) {
      // The body is left unfinished and the connection dropped: the server stores nothing.
      return next.status().WithContext("reading the value");
    }
    have = *next;
  }
  if (send.ok()) {
    std::string trailer;
    proto::AppendChunkTrailer(crc, &trailer);
    send = sock->WriteAll(trailer.data(), trailer.size(), timeout);
  }
  // Even when sending failed, the server may have replied first (say, LimitExceeded) and
  // closed: its reason is a better error than a broken pipe.
  proto::FrameHeader rh;
  std::string rmeta;
  Status got = ReadReplyHead(sock.get(), send.ok() ? timeout : 1000, &rh, &rmeta);
  if (!got.ok()) return send.ok() ? got : send;
  if (rh.request_id != 1 || rh.body_len != 0)
    return Status::IOError("protocol error from the server: unexpected reply to a streamed PUT");
  Version held;
  if (Status s = ReplyStatus(rh, rmeta, &held); !s.ok()) {
    if (s.IsConflict() && wo.held_version_out != nullptr) *wo.held_version_out = held;
    if (send.ok() && !proto::ClosesConnection(rh.status)) ReturnStreamSocket(std::move(sock));
    return s;
  }
  WriteResult m;
  proto::WireError err;
  if (!proto::DecodeMeta(rmeta, &m, &err))
    return Status::IOError("protocol error from the server: " + err.message);
  if (send.ok()) ReturnStreamSocket(std::move(sock));
  return m;
}

Result<std::unique_ptr<ObjectReader>> ClientImpl::OpenReader(std::string_view key,
                                                             const ByteRange& range) {
  CheckNotIoThread();
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  const int timeout = static_cast<int>(options_.timeout_ms);
  proto::GetRequest req;
  req.key.assign(key);
  req.offset = range.offset;
  req.length = range.length;
  std::string meta;
  if (options_.routing.has_value()) AppendRouting(*options_.routing, &meta);
  proto::EncodeMeta(req, &meta);
  proto::FrameHeader h;
  h.op = proto::Op::kGet;
  h.request_id = 1;
  h.meta_len = static_cast<uint32_t>(meta.size());
  if (options_.routing.has_value()) h.flags = proto::kFlagRouted;
  const std::string request = proto::EncodeFrame(h, meta);

  Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; attempt++) {
    if (attempt > 1)
      std::this_thread::sleep_for(
          std::chrono::milliseconds(options_.backoff_ms << std::min(attempt - 2, 16)));
    Result<std::unique_ptr<BlockingSocket>> sock = TakeStreamSocket();
    if (!sock.ok()) {
      last = sock.status();
      // A refused handshake, or an old server, will not change: do not retry those.
      if (last.IsPermissionDenied() || last.IsNotSupported()) return last;
      continue;
    }
    proto::FrameHeader rh;
    std::string rmeta;
    last = (*sock)->WriteAll(request.data(), request.size(), timeout);
    if (last.ok()) last = ReadReplyHead(sock->get(), timeout, &rh, &rmeta);
    if (!last.ok()) continue;  // a lost connection or a timeout: safe to retry a read
    if (rh.request_id != 1)
      return Status::IOError("protocol error from the server: reply to an unknown request id");
    if (rh.status != proto::WireStatus::kOk) {
      last = ReplyStatus(rh, rmeta);
      if (RetryableWire(rh.status)) continue;
      if (!proto::ClosesConnection(rh.status)) ReturnStreamSocket(std::move(*sock));
      return last;
    }
    proto::GetReply m;
    proto::WireError err;
    if (!proto::DecodeMeta(rmeta, &m, &err))
      return Status::IOError("protocol error from the server: " + err.message);
    ObjectInfo info = std::move(m.info);
    info.key.assign(key);
    return std::unique_ptr<ObjectReader>(
        new RemoteReader(this, std::move(*sock), std::move(info), rh.body_len, rh.body_crc));
  }
  return last;
}

}  // namespace cairn::client
