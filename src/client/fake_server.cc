#include "client/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "proto/messages.h"
#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::client {
namespace {

bool RecvAll(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// The bytes of generated object "gen/N": a 64 KiB block repeated.
const std::string& GenBlock() {
  static const std::string block = [] {
    std::string b(64 << 10, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (char& c : b) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    return b;
  }();
  return block;
}

std::string Reply(proto::Op op, uint64_t id, proto::WireStatus st, std::string_view meta,
                  std::string_view body) {
  proto::FrameHeader h;
  h.op = op;
  h.reply = true;
  h.status = st;
  h.request_id = id;
  h.meta_len = static_cast<uint32_t>(meta.size());
  h.body_len = body.size();
  h.body_crc = body.empty() ? 0 : crc32c::Value(body);
  std::string out = proto::EncodeFrame(h, meta);
  out.append(body);
  return out;
}

std::string ErrorReply(proto::Op op, uint64_t id, proto::WireStatus st, std::string msg) {
  proto::ErrorReply e{std::move(msg)};
  std::string meta;
  proto::EncodeMeta(e, &meta);
  return Reply(op, id, st, meta, {});
}

}  // namespace

FakeServer::FakeServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CAIRN_CHECK(listen_fd_ >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAIRN_CHECK(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  CAIRN_CHECK(::listen(listen_fd_, 64) == 0);
  socklen_t len = sizeof(a);
  CAIRN_CHECK(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  port_ = ntohs(a.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeServer::~FakeServer() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  ::close(listen_fd_);
  DropAll();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void FakeServer::SetStatBody(std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  stat_body_ = std::move(body);
}

void FakeServer::Set(const std::string& key, std::string value) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[key] = {std::move(value), next_seq_++};
}

bool FakeServer::Lookup(const std::string& key, std::string* value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return false;
  *value = it->second.first;
  return true;
}

void FakeServer::DropAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

void FakeServer::AcceptLoop() {
  while (!stop_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    connections++;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeServer::Serve(int fd) {
  std::vector<std::string> held;  // replies held back for reverse_batch
  auto send = [&](std::string reply) {
    const int batch = reverse_batch.load();
    if (batch > 1) {
      held.push_back(std::move(reply));
      if (static_cast<int>(held.size()) < batch) return true;
      std::reverse(held.begin(), held.end());
      for (const std::string& r : held)
        if (!SendAll(fd, r.data(), r.size())) return false;
      held.clear();
      return true;
    }
    return SendAll(fd, reply.data(), reply.size());
  };
  for (;;) {
    char head[proto::kHeaderSize];
    if (!RecvAll(fd, head, sizeof(head))) break;
    proto::FrameHeader h;
    proto::WireError err;
    if (!proto::DecodeHeader(head, proto::kDefaultMaxFrameMetaBytes, &h, &err)) {
      std::string r = ErrorReply(proto::Op::kPing, h.request_id, err.status, err.message);
      SendAll(fd, r.data(), r.size());
      break;
    }
    std::string meta(h.meta_len, '\0');
    if (!RecvAll(fd, meta.data(), meta.size())) break;
    if (!proto::CheckHeaderCrc(head, meta, &err)) break;
    std::string body;
    if (h.chunked()) {
      // Exact reads of each u32 length and chunk: never past the end of the body.
      bool bad = false;
      uint32_t crc = 0;
      for (;;) {
        char w[4];
        if (!RecvAll(fd, w, 4)) {
          bad = true;
          break;
        }
        const uint32_t n = DecodeFixed32(w);
        if (n == 0) {
          bad = !RecvAll(fd, w, 4) || DecodeFixed32(w) != crc;
          break;
        }
        const size_t old = body.size();
        body.resize(old + n);
        if (n > proto::kMaxChunkBytes || !RecvAll(fd, body.data() + old, n)) {
          bad = true;
          break;
        }
        crc = crc32c::Extend(crc, body.data() + old, n);
      }
      if (bad) break;
      chunked_puts++;
    } else {
      body.resize(h.body_len);
      if (!RecvAll(fd, body.data(), body.size())) break;
      if (!body.empty() && crc32c::Value(body) != h.body_crc) {
        if (!send(ErrorReply(h.op, h.request_id, proto::WireStatus::kChecksumMismatch,
                             "body_crc does not match the body")))
          break;
        continue;
      }
    }
    requests++;
    if (h.op == proto::Op::kPut) puts++;
    const bool drop = drop_requests.load() > 0 && drop_requests.fetch_sub(1) > 0;
    if (drop && !drop_after_apply) break;
    if (fail_requests.load() > 0 && fail_requests.fetch_sub(1) > 0) {
      if (!send(ErrorReply(h.op, h.request_id, static_cast<proto::WireStatus>(fail_status.load()),
                           "injected failure")))
        break;
      continue;
    }

    std::string rmeta;
    std::string rbody;
    proto::WireStatus st = proto::WireStatus::kOk;
    std::string error;
    bool generated = false;
    uint64_t gen_size = 0;
    switch (h.op) {
      case proto::Op::kPing: proto::EncodeMeta(proto::PingReply{proto::kVersion, "fake"}, &rmeta); break;
      case proto::Op::kPut: {
        proto::PutRequest req;
        CAIRN_CHECK(proto::DecodeMeta(meta, &req, &err));
        const uint32_t crc = crc32c::Value(body);
        const uint64_t size = body.size();
        std::lock_guard<std::mutex> lock(mu_);
        const uint64_t seq = next_seq_++;
        objects_[req.key] = {std::move(body), seq};
        WriteResult w;
        w.version = Version::Make(1700000000000 + seq, 0, 1);
        w.sequence = seq;
        w.size = size;
        w.crc32c = crc;
        proto::EncodeMeta(w, &rmeta);
        break;
      }
      case proto::Op::kGet:
      case proto::Op::kHead: {
        std::string key;
        proto::GetRequest g;
        if (h.op == proto::Op::kGet) {
          CAIRN_CHECK(proto::DecodeMeta(meta, &g, &err));
          key = g.key;
        } else {
          proto::KeyRequest k;
          CAIRN_CHECK(proto::DecodeMeta(meta, &k, &err));
          key = k.key;
        }
        ObjectInfo info;
        std::string value;
        if (key.starts_with("gen/")) {
          generated = true;
          gen_size = std::stoull(key.substr(4));
          info.size = gen_size;
          const std::string& b = GenBlock();
          for (uint64_t done = 0; done < gen_size;) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(b.size(), gen_size - done));
            info.crc32c = crc32c::Extend(info.crc32c, b.data(), n);
            done += n;
          }
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = objects_.find(key);
          if (it == objects_.end()) {
            st = proto::WireStatus::kNotFound;
            error = "no such key";
            break;
          }
          value = it->second.first;
          info.size = value.size();
          info.crc32c = crc32c::Value(value);
          info.sequence = it->second.second;
          info.mtime_us = 1700000000000000ull;
        }
        if (h.op == proto::Op::kHead) {
          proto::EncodeMeta(info, &rmeta);
          generated = false;
          break;
        }
        if (g.offset > info.size) {
          st = proto::WireStatus::kInvalidArgument;
          error = "range starts past the end";
          generated = false;
          break;
        }
        const uint64_t len = std::min(g.length, info.size - g.offset);
        if (generated) {
          CAIRN_CHECK(g.offset == 0 && len == info.size);  // whole generated objects only
        } else {
          rbody = value.substr(static_cast<size_t>(g.offset), static_cast<size_t>(len));
        }
        proto::EncodeGetReply(info, g.offset, &rmeta);
        break;
      }
      case proto::Op::kDelete: {
        proto::DeleteRequest req;
        CAIRN_CHECK(proto::DecodeMeta(meta, &req, &err));
        std::lock_guard<std::mutex> lock(mu_);
        if (objects_.erase(req.key) == 0) {
          st = proto::WireStatus::kNotFound;
          error = "no such key";
          break;
        }
        WriteResult w;
        w.sequence = next_seq_++;
        proto::EncodeMeta(w, &rmeta);
        break;
      }
      case proto::Op::kList: {
        proto::ListRequest req;
        CAIRN_CHECK(proto::DecodeMeta(meta, &req, &err));
        const uint32_t limit = req.limit == 0 ? cairn::kDefaultListLimit : req.limit;
        proto::ListReply lr;
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = objects_.upper_bound(req.start_after); it != objects_.end(); ++it) {
          if (!it->first.starts_with(req.prefix)) {
            if (it->first > req.prefix) break;
            continue;
          }
          if (lr.count == limit) {
            lr.truncated = true;
            break;
          }
          ObjectInfo e;
          e.key = it->first;
          e.size = it->second.first.size();
          e.crc32c = crc32c::Value(it->second.first);
          e.sequence = it->second.second;
          proto::EncodeListEntry(e, &rbody);
          lr.count++;
          lr.next_start_after = it->first;
        }
        proto::EncodeMeta(lr, &rmeta);
        break;
      }
      case proto::Op::kStat: {
        std::lock_guard<std::mutex> lock(mu_);
        rbody = !stat_body_.empty()
                    ? stat_body_
                    : "{\"objects\":" + std::to_string(objects_.size()) + ",\"server\":{}}";
        break;
      }
      case proto::Op::kHello:
      case proto::Op::kAuth:
        // The fake server takes clients without keys only.
        st = proto::WireStatus::kPermissionDenied;
        error = "this fake server does not authenticate";
        break;
      case proto::Op::kDigest:
        st = proto::WireStatus::kNotSupported;
        error = "the fake server is not a cluster node";
        break;
    }
    if (drop) break;  // applied, never answered
    if (const int d = delay_ms.load(); d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    if (st != proto::WireStatus::kOk) {
      if (!send(ErrorReply(h.op, h.request_id, st, error))) break;
      continue;
    }
    if (generated) {
      // Streamed in 64 KiB pieces: the object is never in memory.
      proto::FrameHeader rh;
      proto::GetReply gr;
      proto::WireError e2;
      CAIRN_CHECK(proto::DecodeMeta(rmeta, &gr, &e2));
      rh.op = h.op;
      rh.reply = true;
      rh.request_id = h.request_id;
      rh.meta_len = static_cast<uint32_t>(rmeta.size());
      rh.body_len = gen_size;
      rh.body_crc = gr.info.crc32c;
      std::string out = proto::EncodeFrame(rh, rmeta);
      if (!SendAll(fd, out.data(), out.size())) break;
      const std::string& b = GenBlock();
      bool ok = true;
      for (uint64_t done = 0; ok && done < gen_size;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(b.size(), gen_size - done));
        ok = SendAll(fd, b.data(), n);
        done += n;
      }
      if (!ok) break;
      continue;
    }
    std::string reply = Reply(h.op, h.request_id, st, rmeta, rbody);
    if (!rbody.empty() && corrupt_bodies.load() > 0 && corrupt_bodies.fetch_sub(1) > 0)
      reply.back() ^= 0x01;  // body_crc was computed over the good bytes
    if (!send(std::move(reply))) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  }
  ::close(fd);
}

}  // namespace cairn::client
