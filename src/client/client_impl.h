// ClientImpl: the Client of include/cairn/client.h. client.cc holds the pooled, pipelined calls
// and their retry policy; client_stream.cc holds PutStream and OpenReader.
//
// Thread safety: public methods from any thread. Everything that touches conns_, waiting_,
// timers_ or closing_ runs on the I/O thread (posted there).
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cairn/client.h"
#include "client/blocking_socket.h"
#include "client/connection.h"
#include "proto/messages.h"

namespace cairn::client {

// Whether a reply (or a failure) may be retried under docs/protocol.md section 7: a reply that
// says the server did nothing, or a lost connection or timeout for a call that is safe to
// repeat (`idempotent`).
bool IsRetryable(const Reply& r, bool idempotent);
// The Status of a reply: a transport failure, or the server's error (status + error meta; for
// a Conflict, *held receives the version held).
Status ReplyStatus(const Reply& r, Version* held = nullptr);
// Appends the routing prefix of `r` (docs/protocol.md section 9) with its epoch as of now.
void AppendRouting(const ClientRouting& r, std::string* out);
// Whether a write with these options may be repeated (section 7).
bool IdempotentWrite(const WriteOptions& wo);
// A reply's outcome, then its meta decoded into *m: the reply's error, an IOError naming a
// meta the server should never have sent, or OK.
Status MetaError(const proto::WireError& err);
template <typename M>
Status DecodeReply(const Reply& r, M* m) {
  CAIRN_RETURN_IF_ERROR(ReplyStatus(r));
  proto::WireError err;
  if (!proto::DecodeMeta(r.meta, m, &err)) return MetaError(err);
  return Status::OK();
}

// One pooled call, kept until it completes so that it can be resent.
struct Call {
  proto::Op op = proto::Op::kPing;
  std::string meta;
  std::string body;  // a PUT's value
  uint32_t body_crc = 0;
  bool idempotent = true;  // may be resent after a lost connection or a timeout
  int attempt = 0;
  // Turns the final reply (or failure) into the caller's result and calls back.
  std::function<void(Reply&, int attempt)> finish;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(const ClientOptions& options, boost::asio::ip::tcp::endpoint endpoint);
  ~ClientImpl() override;

  Result<std::string> Ping() override;
  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions& wo) override;
  Result<GetResult> Get(std::string_view key, const ByteRange& range) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  // A HEAD that reports a delete (the reply NotFound with the delete's version): what a
  // cluster's replica answers to a routed request of role kReplica.
  Result<ObjectInfo> HeadVersion(std::string_view key) override;
  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo) override;
  Result<ListResult> List(const ListOptions& lo) override;
  Result<StoreStats> Stats() override;

  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  WriteDone done) override;
  void GetAsync(std::string key, const ByteRange& range, Callback<GetResult> done) override;
  void HeadAsync(std::string key, Callback<ObjectInfo> done) override;
  void HeadVersionAsync(std::string key, Callback<ObjectInfo> done) override;
  void DeleteAsync(std::string key, const WriteOptions& wo, Callback<WriteResult> done) override;
  void ListAsync(const ListOptions& lo, Callback<ListResult> done) override;
  void PingAsync(Callback<std::string> done);
  void StatAsync(Callback<StoreStats> done);
  Result<std::string> Digest(std::string_view request) override;

  Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                const WriteOptions& wo) override;
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key,
                                                   const ByteRange& range) override;

  const ClientOptions& options() const override { return options_; }

  // Streaming connections: an idle one, or a new one (handshake made).
  Result<std::unique_ptr<BlockingSocket>> TakeStreamSocket();
  void ReturnStreamSocket(std::unique_ptr<BlockingSocket> s);
  std::string ServerName() const;

 private:
  // A PUT or DELETE call with the options' condition; `held` (may be null) receives the version
  // of a Conflict before `done` runs.
  void WriteCall(proto::Op op, std::string key, std::string value, const WriteOptions& wo,
                 Version* held, Callback<WriteResult> done);
  // False (nothing started) past max_pending_calls.
  bool TryStart(std::shared_ptr<Call> call);
  void Start(std::shared_ptr<Call> call);
  void Dispatch(std::shared_ptr<Call> call);
  void Send(Connection* conn, std::shared_ptr<Call> call);
  void OnReply(const std::shared_ptr<Call>& call, Reply& r);
  // Dispatches `call` again after `ms`; with `epoch` > 0, not before the routing epoch reaches
  // it (checked every `ms`) or `until` passes.
  void RetryAfter(std::shared_ptr<Call> call, uint32_t ms, uint64_t epoch,
                  std::chrono::steady_clock::time_point until);
  void DrainWaiting();
  void Shutdown();
  void CheckNotIoThread() const;

  ClientOptions options_;
  boost::asio::ip::tcp::endpoint endpoint_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::deque<std::shared_ptr<Call>> waiting_;
  std::set<std::shared_ptr<boost::asio::steady_timer>> timers_;  // retries waiting out a backoff
  bool closing_ = false;
  std::atomic<size_t> pending_{0};  // calls started and not finished (bounded)
  std::thread thread_;
  std::thread::id io_thread_id_;

  std::mutex idle_mu_;
  std::vector<std::unique_ptr<BlockingSocket>> idle_streams_;
};

}  // namespace cairn::client
