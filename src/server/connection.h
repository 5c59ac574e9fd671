// Connection: one client connection, served by three coroutines on the connection's loop:
//   - the reader parses request frames, runs the authentication handshake (docs/protocol.md
//     section 8) before anything else, and starts each request; it never waits for a reply to
//     be sent, only for an in-flight slot (max_inflight_per_connection, back-pressure);
//   - the writer sends replies as they complete (out of order, matched by request id), body
//     bytes of GETs straight from the volume file with sendfile;
//   - the watchdog enforces header_timeout_ms (slow-loris), idle_timeout_ms and
//     auth_timeout_ms.
// What a request does is the ObjectService's business (src/service/object_service.h): this
// class only frames, moves bytes and decides on which thread a service call runs. Calls that
// may block run on the server's I/O pool (RunBlocking), so the loop never waits on a disk; a
// GET of a cached object (TryGetOnLoop) and a buffered PUT (PutOnLoop, acknowledged from the
// commit's callback) run on the loop without waiting. connection.cc holds the framing and the
// I/O; connection_requests.cc the dispatch of each request to the service; connection_auth.cc
// the handshake.
//
// Thread safety: every member is touched only on the connection's loop thread, except while
// the reader is suspended in a streamed PUT: then the pool thread running it owns the input
// buffer and the socket's read side (and nothing on the loop touches them).
// Ownership: kept alive by its coroutines (shared_from_this); the Server holds a weak_ptr.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "net/asio.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "server/replies.h"
#include "service/object_service.h"

namespace cairn::server {

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server* server, net::tcp::socket sock);
  ~Connection();

  // Spawns the coroutines. REQUIRES: called once, on any thread.
  void Start();
  // Graceful shutdown (posted to the connection's loop): stop reading new requests, finish
  // the in-flight ones, send their replies, close.
  void Drain();
  // Closes the socket at once (posted to the loop).
  void Abort();

 private:
  enum class ReadState { kIdle, kHeader, kBody, kBlocked };
  // The handshake (section 8): kNeedHello until a HELLO is answered, kNeedAuth until its AUTH
  // is checked, then kOpen. A loopback connection of a server that allows it may skip it.
  enum class AuthState { kNeedHello, kNeedAuth, kOpen };
  struct Request {
    proto::FrameHeader h;
    std::string meta;  // the op's meta (a routed request's prefix removed)
    // Who serves it: the server's service, or the cluster's for the request's role.
    service::ObjectService* svc = nullptr;
    proto::RoutingRole role = proto::RoutingRole::kAny;
    // Set when routing refuses the request (a stale epoch, a replica operation without the
    // member key): sent instead of serving it (a PUT's body is skipped first).
    std::optional<Reply> refusal;
    uint64_t epoch = 0;  // the routing prefix's map epoch (0: none, or not routed)
    // A replica PUT or DELETE: its place in the DIGEST fence, held until the write is done
    // (ClusterHooks::AdmitReplicaWrite).
    std::shared_ptr<const void> write_hold;
  };
  // Routing (docs/protocol.md section 9): strips a routed request's prefix, checks its epoch
  // and role, and chooses the service. False on a malformed prefix (the connection closes).
  bool Route(Request* r);
  // A replica PUT or DELETE takes its place in the DIGEST fence (ClusterHooks::
  // AdmitReplicaWrite; r->write_hold). False, with *refusal set to StaleEpoch, when its epoch is
  // older than the node's now. True for anything else (not a replica write, not a cluster node).
  bool AdmitReplicaWrite(Request* r, std::optional<Reply>* refusal);

  static net::asio::awaitable<void> ReadLoop(std::shared_ptr<Connection> self);
  static net::asio::awaitable<void> WriteLoop(std::shared_ptr<Connection> self);
  static net::asio::awaitable<void> Watchdog(std::shared_ptr<Connection> self);

  // ---- connection.cc: framing and I/O
  // Reads until at least n bytes are buffered. False on EOF, error or timeout.
  net::asio::awaitable<bool> Fill(size_t n);
  // Reads a fixed-length body of n bytes into *out (buffered bytes first).
  net::asio::awaitable<bool> ReadBody(uint64_t n, std::string* out);
  // Reads and drops n body bytes (a request refused before its body was read).
  net::asio::awaitable<bool> SkipBody(uint64_t n);
  // Handles one frame whose header is in the buffer; false ends the reader.
  net::asio::awaitable<bool> ReadOneRequest();
  // Sends a reply body read from a reader (a store that cannot pin), on the writer.
  net::asio::awaitable<Status> SendReaderBody(Reply& r);

  // ---- connection_requests.cc: one request, through the ObjectService
  // The handshake's gate: false ends the reader; *served when `r` was HELLO or AUTH.
  bool CheckAuth(const Request& r, bool* served);
  // Starts a request other than a PUT whose header and meta are read and checked; false ends
  // the reader. Never waits.
  bool Dispatch(Request r);
  // A PUT: checks it, then buffers or streams its body (ObjectService::ChoosePutPath).
  net::asio::awaitable<bool> DispatchPut(Request r);
  // A buffered PUT written on the loop; its reply is queued by the commit's callback. False
  // when the store would have to wait: use the pool instead. `hold` (a replica write's place in
  // the DIGEST fence, or null) is kept until the commit's callback has run.
  bool StartPutOnLoop(const proto::FrameHeader& h, const proto::PutRequest& m,
                      WriteOptions& wo, const std::string& body, service::ObjectService* svc,
                      std::shared_ptr<const void> hold);
  // A PUT body too large to buffer: streamed into the store on a pool thread.
  net::asio::awaitable<void> StreamPut(const proto::FrameHeader& h, proto::PutRequest m,
                                       WriteOptions wo, bool* fatal,
                                       service::ObjectService* svc);
  // Requests served on the pool, each its own coroutine.
  static net::asio::awaitable<void> PoolPut(std::shared_ptr<Connection> self,
                                            proto::FrameHeader h, proto::PutRequest m,
                                            WriteOptions wo, std::string body,
                                            service::ObjectService* svc,
                                            std::shared_ptr<const void> hold);
  static net::asio::awaitable<void> PoolGet(std::shared_ptr<Connection> self,
                                            proto::FrameHeader h, proto::GetRequest m,
                                            service::ObjectService* svc,
                                            proto::RoutingRole role);
  static net::asio::awaitable<void> PoolRequest(std::shared_ptr<Connection> self, Request r);

  // ---- connection_auth.cc: the handshake. Each returns false when the connection ends.
  bool OnHello(const Request& r);
  bool OnAuth(const Request& r);
  // A request before the handshake completed: allowed on a loopback connection of a server
  // that allows it (the connection is then open), else PermissionDenied and close.
  bool AdmitUnauthenticated(const Request& r);
  void RefuseAuth(const proto::FrameHeader& h, const std::string& reason, bool count_failure);

  size_t avail() const { return in_end_ - in_begin_; }
  const char* in_data() const { return in_.data() + in_begin_; }
  void Consume(size_t n) { in_begin_ += n; }

  // Takes an in-flight slot for a request (released by Completed, or by Abandon).
  void Admit(uint64_t request_id, proto::Op op);
  // Releases the slot of a request that ends without a normal reply.
  void Abandon(uint64_t request_id);
  // Sends r now if the writer is idle and the socket takes it all without waiting (the common
  // case of a small reply), else queues it (or its unsent rest) for the writer.
  void Enqueue(Reply r);
  // Non-blocking send of r's head, body and pinned bytes; true if all were sent. Otherwise r is
  // trimmed to what is left (the writer sends it). Never waits.
  bool TrySendNow(Reply* r);
  // A reply was sent: releases its request's slot.
  void Completed(const Reply& r);
  // Replies with an error and keeps the connection open.
  void ReplyError(const proto::FrameHeader& h, proto::WireStatus s, std::string_view message);
  // The connection is closed after this reply, once in-flight replies have been sent.
  void FinalError(uint64_t request_id, proto::Op op, proto::WireStatus s, std::string message);
  void FinalReply(Reply r);
  void WakeWriter();
  void WakeReader();
  void Touch();
  void ShutdownRead();

  Server* server_;
  net::tcp::socket sock_;
  net::asio::steady_timer writer_wake_;
  net::asio::steady_timer reader_wake_;
  net::asio::steady_timer watchdog_;
  std::string peer_;  // the peer's address, for logs and the auth failure bound

  // Input buffer: [in_begin_, in_end_) holds received, unparsed bytes.
  std::string in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;

  std::deque<Reply> replies_;
  struct InFlight {
    proto::Op op;
    uint64_t start_ns;  // ops::NowNs() when the request was read (for ServerCounters::ops)
  };
  std::unordered_map<uint64_t, InFlight> ids_;  // request ids in flight (reply not yet sent)
  uint32_t inflight_ = 0;
  std::optional<Reply> final_;  // sent last, then the connection closes
  ReadState state_ = ReadState::kIdle;
  std::chrono::steady_clock::time_point header_start_;
  std::chrono::steady_clock::time_point accepted_;
  std::atomic<int64_t> last_activity_ns_{0};  // touched by a streaming pool thread too
  uint64_t partial_id_ = 0;  // the id of a frame being read, for a Timeout reply
  bool reader_done_ = false;
  bool writer_done_ = false;
  bool writer_waiting_ = false;  // the writer is suspended on writer_wake_
  bool draining_ = false;
  bool timed_out_ = false;
  bool auth_timed_out_ = false;
  bool dead_ = false;  // the socket failed; nothing more is sent

  // The handshake.
  AuthState auth_ = AuthState::kNeedHello;
  bool loopback_peer_ = false;
  std::string key_id_;
  const std::string* secret_ = nullptr;  // owned by the Server's Authenticator
  proto::Nonce client_nonce_{};
  proto::Nonce server_nonce_{};
};

}  // namespace cairn::server
