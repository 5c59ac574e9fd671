// Client: the library that talks to cairnd over the wire protocol (docs/protocol.md).
//
// A Client owns a pool of TCP connections to one server and one internal I/O thread that runs
// them (Boost.Asio). Calls come in three shapes:
//   - synchronous: Put, Get, Head, Delete, List, Stat, Ping block the calling thread until the
//     reply (or the last retry) is in;
//   - asynchronous: the *Async methods return at once; their callback runs later on the
//     client's I/O thread, exactly once. A callback must not block and must not make a
//     synchronous call on the same Client (that would wait on the thread that has to serve it:
//     it is caught by a CAIRN_CHECK). It may start further *Async calls.
//   - streaming: PutStream (a source of unknown length, sent as a chunked body) and OpenReader
//     (a bounded-memory reader of any size). These run on the calling thread over a connection
//     of their own (kept in a small idle pool between calls), because a long body would hold up
//     every pipelined reply behind it: the server never interleaves bodies.
//
// Pipelining: each pooled connection carries up to max_inflight_per_connection requests at
// once; replies may come back in any order and are matched by request id. A call goes to the
// least-loaded open connection; when all are full it waits in the client's queue, bounded by
// max_pending_calls (beyond that a call fails at once with Busy).
//
// End-to-end checksums: every PUT carries the CRC-32C of its body (body_crc, or the trailer of
// a chunked body), which the server checks before it commits. Every body received is checked
// against the CRC-32C the server sent with it; a mismatch is Corruption and the bytes are never
// returned. For a streamed GET (OpenReader) the CRC covers the whole body, so it can only be
// checked at the end: the Read that reaches the end returns Corruption instead of 0 if it
// fails, and a caller that must not expose unverified bytes writes to a temporary place first
// (as `cairn get -o FILE` does).
//
// Timeouts and retries (docs/protocol.md section 7). timeout_ms bounds each attempt, from
// sending the request to the whole reply. A failed attempt is retried, up to max_attempts in
// all with exponential backoff from backoff_ms, when the failure is a lost connection, a
// timeout, or a reply of ChecksumMismatch, ShuttingDown or Busy, and the call is safe to
// repeat:
//   - PING, GET, HEAD, LIST, STAT read only: always safe.
//   - PUT: safe. The request carries the whole value and replaces the key, so repeating it
//     stores the same bytes again (under a new sequence number). The client keeps the value
//     until the call completes so that it can resend it.
//   - DELETE: safe; NotFound on a retry means an earlier attempt did delete it, and is
//     reported as success.
//   - PutStream: retried only while the whole value still fits in the first buffer (it is then
//     sent as a plain PUT); a chunked body cannot be rewound, so it is never resent.
//   - OpenReader: the request is retried until the reply header arrives; once bytes have been
//     handed out, a failure is returned to the caller.
// InvalidArgument, LimitExceeded, ProtocolError, UnsupportedVersion, NotFound and client-side
// checksum mismatches (Corruption) are never retried.
//
// Thread safety: every method may be called from any thread at the same time, except as noted
// for callbacks above. An ObjectReader from OpenReader is used by one thread at a time and must
// not outlive the Client.
//
// Ownership: destroying the Client completes every outstanding asynchronous call with IOError
// ("client closed") before it returns, then joins the I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/object_store.h"
#include "cairn/store.h"  // ScanResult (types only)

namespace cairn {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Pooled connections for the synchronous and asynchronous calls (named bound).
  int connections = 2;
  // Requests in flight per connection; the server's default limit is 64 (docs/protocol.md 6).
  uint32_t max_inflight_per_connection = 64;
  // Calls waiting for a free slot on a connection (named bound); beyond it, Busy.
  size_t max_pending_calls = 65536;
  // Each attempt: from sending the request to receiving the whole reply. For OpenReader and
  // PutStream: the longest wait for any progress on the socket.
  uint32_t timeout_ms = 30000;
  uint32_t connect_timeout_ms = 5000;
  // Attempts per call, the first included (1: no retries).
  int max_attempts = 3;
  // Pause before the first retry; doubled for each further one.
  uint32_t backoff_ms = 20;
  // Largest reply body a pooled call holds in memory (Get, List, Stat); a larger object is
  // refused with InvalidArgument naming this bound: read it with OpenReader.
  uint64_t max_reply_body_bytes = uint64_t{256} << 20;
  // Idle streaming connections kept for the next PutStream/OpenReader (named bound).
  int max_idle_stream_connections = 2;
};

// Parses "HOST:PORT" (HOST may be a name, an IPv4 address or a bracketed IPv6 address).
Status ParseServerAddress(std::string_view text, std::string* host, uint16_t* port);

struct PutResult {
  uint64_t sequence = 0;
  uint64_t size = 0;
  uint32_t crc32c = 0;
};

// The byte range of a read (cairn/object_store.h).
using ReadRange = ByteRange;

class Client {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;
  using StatusCallback = std::function<void(Status)>;

  // Resolves the address and starts the I/O thread. Connections are opened on first use (and
  // reopened after a loss), so a server that is down shows up as the first call's error.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  virtual ~Client() = default;

  // Synchronous calls. REQUIRES: not called on the client's I/O thread (from a callback).
  virtual Result<std::string> Ping() = 0;  // the server's name, e.g. "cairnd 0.1.0"
  virtual Result<PutResult> Put(std::string_view key, std::string_view value,
                                const WriteOptions& wo = WriteOptions()) = 0;
  virtual Result<GetResult> Get(std::string_view key, const ReadRange& range = ReadRange()) = 0;
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  virtual Status Delete(std::string_view key, const WriteOptions& wo = WriteOptions()) = 0;
  virtual Result<ScanResult> List(const ListOptions& lo) = 0;
  // The server's statistics: a JSON object (docs/protocol.md, STAT).
  virtual Result<std::string> Stat() = 0;

  // Asynchronous calls: the callback runs once, on the client's I/O thread.
  virtual void PutAsync(std::string key, std::string value, const WriteOptions& wo,
                        Callback<PutResult> done) = 0;
  virtual void GetAsync(std::string key, const ReadRange& range, Callback<GetResult> done) = 0;
  virtual void HeadAsync(std::string key, Callback<ObjectInfo> done) = 0;
  virtual void DeleteAsync(std::string key, const WriteOptions& wo, StatusCallback done) = 0;
  virtual void ListAsync(const ListOptions& lo, Callback<ScanResult> done) = 0;

  // Streaming put: reads `src` to its end. Up to one buffer (1 MiB) is sent as a plain PUT;
  // anything longer goes as a chunked body of 1 MiB chunks with the CRC in its trailer.
  virtual Result<PutResult> PutStream(std::string_view key, ValueSource* src,
                                      const WriteOptions& wo = WriteOptions()) = 0;
  // Streaming get: memory is bounded by the caller's buffer; see the checksum note above.
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(
      std::string_view key, const ReadRange& range = ReadRange()) = 0;

  virtual const ClientOptions& options() const = 0;
};

}  // namespace cairn
