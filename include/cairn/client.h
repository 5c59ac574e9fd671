// Client: the RemoteObjectStore. It talks to one cairnd over the wire protocol
// (docs/protocol.md) and answers the ObjectStore interface (cairn/object_store.h) like every
// other implementation: the same results, error codes and limits (tests/object_store_suite).
// It never links the engine.
//
// A Client owns a pool of TCP connections to one server and one internal I/O thread that runs
// them (Boost.Asio). Calls come in three shapes:
//   - synchronous: the ObjectStore calls (Put, Get, Head, Delete, List, Stats) and Ping block
//     the calling thread until the reply (or the last retry) is in;
//   - asynchronous: PutAsync and the *Async methods return at once; their callback runs later
//     on the client's I/O thread, exactly once. A callback must not block and must not make a
//     synchronous call on the same Client (that would wait on the thread that has to serve it:
//     it is caught by a CAIRN_CHECK). It may start further asynchronous calls.
//   - streaming: PutStream (a source of unknown length, sent as a chunked body) and OpenReader
//     (a bounded-memory reader of any size). These run on the calling thread over a connection
//     of their own (kept in a small idle pool between calls), because a long body would hold up
//     every pipelined reply behind it: the server never interleaves bodies.
//
// Authentication (docs/protocol.md section 8): with ClientOptions::key set, every connection
// runs the handshake before its first request, and checks that the server proves it holds the
// same key before sending it anything. FindClientKey says where a program finds its key.
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
// all with exponential backoff from backoff_ms, when the failure is a reply of
// ChecksumMismatch, ShuttingDown or Busy (the server did nothing), or a lost connection or a
// timeout for a call that is safe to repeat:
//   - PING, GET, HEAD, LIST, STAT read only: always safe.
//   - an unconditional or if-newer PUT: safe. The request carries the whole value and replaces
//     the key (or is idempotent), so repeating it stores the same bytes again. The client keeps
//     the value until the call completes so that it can resend it. An if-match or
//     if-none-match PUT or DELETE is not repeated: it would fail its own condition.
//   - an unconditional DELETE: safe; NotFound on a retry means an earlier attempt did delete
//     it, and is reported as success (a write result with version none).
//   - PutStream: retried only while the whole value still fits in the first buffer (it is then
//     sent as a plain PUT); a chunked body cannot be rewound, so it is never resent.
//   - OpenReader: the request is retried until the reply header arrives; once bytes have been
//     handed out, a failure is returned to the caller.
// InvalidArgument, LimitExceeded, Conflict, PermissionDenied, ProtocolError,
// UnsupportedVersion, NotFound and client-side checksum mismatches (Corruption) are never
// retried.
//
// Status codes (docs/protocol.md section 5): a call returns the code the server sent (for a
// Conflict of a synchronous write, *WriteOptions::held_version_out receives the version the
// server holds). What the client sees itself maps to what the caller should do next: a
// connection that cannot be made, is lost or is closed by the server is Unavailable (try again
// or elsewhere); no whole reply within timeout_ms (after the retries) is DeadlineExceeded (the
// outcome is unknown: read, then decide); a reply body over max_reply_body_bytes is
// LimitExceeded naming it; a server that refuses the key, or cannot prove it holds it, is
// PermissionDenied.
//
// Thread safety: every method may be called from any thread at the same time, except as noted
// for callbacks above. An ObjectReader from OpenReader is used by one thread at a time and must
// not outlive the Client.
//
// Ownership: destroying the Client completes every outstanding asynchronous call with
// Unavailable ("client closed") before it returns, then joins the I/O thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/object_store.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

// An authentication key (docs/protocol.md section 8): an id (1 to 64 bytes of A-Z a-z 0-9 . _
// -; not secret) and a secret (16 to 1,024 bytes; never sent, never logged).
struct ClientKey {
  std::string id;
  std::string secret;
};

// Routing in a cluster (docs/protocol.md section 9): every request carries the sender's map
// epoch, its node id and a role; a node whose map is newer refuses the request (StaleEpoch),
// and the client reports the node's epoch to `on_stale_epoch` and sends the request again (it
// did nothing), up to max_attempts.
enum class RoutingRole : uint8_t {
  kAny = 0,         // the receiving node serves it as the cluster does (coordinates or forwards)
  kCoordinate = 1,  // the receiving node was chosen to coordinate it: no further forwarding
  kReplica = 2,     // a coordinator's replica operation on the node's own store (member key)
};
struct ClientRouting {
  // The map epoch each request carries, read when it is sent (and again for a retry). Must
  // outlive the client. nullptr: 0.
  const std::atomic<uint64_t>* epoch = nullptr;
  uint16_t sender = 0;  // the sending node's id; 0 for a client
  RoutingRole role = RoutingRole::kAny;
  // Called (on the client's I/O thread; keep it short, never block) with the node's newer
  // epoch when a node refused a request as stale.
  std::function<void(uint64_t node_epoch)> on_stale_epoch;
  // Named bound: after a StaleEpoch, the retry (if max_attempts allows one) waits until `epoch`
  // reaches the node's epoch (the owner fetches the newer map meanwhile), checking every
  // backoff_ms, at most this long; then it goes anyway. A retry sent at once would carry the
  // same stale epoch and be refused again.
  uint32_t stale_epoch_wait_ms = 250;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Without a key no handshake is made: only a server that allows unauthenticated loopback
  // clients serves such a client.
  std::optional<ClientKey> key;
  // Pooled connections for the synchronous and asynchronous calls (named bound).
  int connections = 2;
  // Requests in flight per connection; the server's default limit is 64 (docs/protocol.md 6).
  uint32_t max_inflight_per_connection = 64;
  // Calls waiting for a free slot on a connection (named bound); beyond it, Busy.
  size_t max_pending_calls = 65536;
  // Each attempt: from sending the request to receiving the whole reply. For OpenReader and
  // PutStream: the longest wait for any progress on the socket.
  uint32_t timeout_ms = 30000;
  // Connecting, and the authentication handshake.
  uint32_t connect_timeout_ms = 5000;
  // Attempts per call, the first included (1: no retries).
  int max_attempts = 3;
  // Pause before the first retry; doubled for each further one.
  uint32_t backoff_ms = 20;
  // Largest reply body a pooled call holds in memory (Get, List, Stats); a larger object is
  // refused with LimitExceeded naming this bound: read it with OpenReader.
  uint64_t max_reply_body_bytes = uint64_t{256} << 20;
  // Idle streaming connections kept for the next PutStream/OpenReader (named bound).
  int max_idle_stream_connections = 2;
  // Set by the cluster's nodes and clients; see ClientRouting.
  std::optional<ClientRouting> routing;
};

// Parses "HOST:PORT" (HOST may be a name, an IPv4 address or a bracketed IPv6 address).
Status ParseServerAddress(std::string_view text, std::string* host, uint16_t* port);

// Where a program finds its key, in this order: the file `key_file` if not empty; $CAIRN_KEY
// ("ID:SECRET"); the file $CAIRN_KEY_FILE; DefaultKeyFile() if it exists. nullopt when there is
// none. A key file holds one line "ID:SECRET" and is refused (PermissionDenied, saying how to
// fix it) when its group or others may read it.
Result<std::optional<ClientKey>> FindClientKey(const std::string& key_file);
// $XDG_CONFIG_HOME/cairn/key, else $HOME/.config/cairn/key (scripts/run creates it).
std::string DefaultKeyFile();
Result<ClientKey> ReadClientKeyFile(const std::string& path);

class Client : public ObjectStore {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  // Resolves the address and starts the I/O thread. Connections are opened on first use (and
  // reopened after a loss), so a server that is down shows up as the first call's error.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client() override = default;

  // ---- ObjectStore (synchronous; REQUIRES: not called on the client's I/O thread).
  // Stats decodes the server's STAT reply; StoreStats::server holds its counters.
  //
  // PutAsync never waits: it copies the key and value, returns OK and calls `done` on the I/O
  // thread with the outcome (Busy at once, `done` not called, past max_pending_calls).
  // StartCommit does nothing (the server commits). PutAsync and DeleteAsync report the held
  // version of a Conflict through wo.held_version_out like the synchronous calls, written
  // before `done` runs: the pointer must stay valid until then (the cluster's coordinator
  // restamps above it, issue 11).

  // The server's name, e.g. "cairnd 0.1.0".
  virtual Result<std::string> Ping() = 0;

  // Asynchronous calls: the callback runs once, on the client's I/O thread.
  virtual void GetAsync(std::string key, const ByteRange& range, Callback<GetResult> done) = 0;
  virtual void HeadAsync(std::string key, Callback<ObjectInfo> done) = 0;
  // HeadVersion's asynchronous form (a cluster's replica reads; ObjectStore::HeadVersion).
  virtual void HeadVersionAsync(std::string key, Callback<ObjectInfo> done) = 0;
  virtual void DeleteAsync(std::string key, const WriteOptions& wo,
                           Callback<WriteResult> done) = 0;
  virtual void ListAsync(const ListOptions& lo, Callback<ListResult> done) = 0;
  // A DIGEST request (anti-entropy between cluster nodes, issue 12; docs/protocol.md section
  // 10): `request` is the op's meta as the cluster encodes it (cluster/anti_entropy_wire.h);
  // the result is the reply body. Needs role kReplica (and so the member key).
  virtual Result<std::string> Digest(std::string_view request) = 0;

  virtual const ClientOptions& options() const = 0;
};

// The ObjectStore of a remote cairnd, by the name issue 15 gives it.
using RemoteObjectStore = Client;

}  // namespace cairn
