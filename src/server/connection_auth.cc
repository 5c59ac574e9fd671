// Connection, part 3: the server's side of the authentication handshake (docs/protocol.md
// section 8). Nothing but HELLO and AUTH is served until it completes, unless the server
// allows unauthenticated clients on loopback and this one is. Failures are logged with the key
// id and the peer's address, never a secret or a proof, and count toward the peer's
// max_auth_failures_per_second.
#include <spdlog/spdlog.h>

#include "proto/auth.h"
#include "server/connection.h"
#include "server/server.h"

namespace cairn::server {

using namespace cairn::proto;

namespace {

// The key id as it may be logged: only an id of the allowed characters is shown.
std::string LoggableKeyId(std::string_view id) {
  if (CheckKeyId(id).ok()) return std::string(id);
  return "(invalid, " + std::to_string(id.size()) + " bytes)";
}

}  // namespace

void Connection::RefuseAuth(const FrameHeader& h, const std::string& reason, bool count_failure) {
  uint32_t failures = 0;
  if (count_failure) failures = server_->authenticator().RecordFailure(peer_);
  spdlog::warn("event=auth_failed peer={} key_id={} reason=\"{}\" failures_this_second={}", peer_,
               key_id_.empty() ? "(none)" : key_id_, reason, failures);
  FinalError(h.request_id, h.op, WireStatus::kPermissionDenied, reason);
}

bool Connection::OnHello(const Request& r) {
  const FrameHeader& h = r.h;
  if (auth_ != AuthState::kNeedHello) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError, "a second HELLO");
    return false;
  }
  HelloRequest m;
  WireError err;
  if (!DecodeMeta(r.meta, &m, &err)) {
    FinalError(h.request_id, h.op, err.status, err.message);
    return false;
  }
  Authenticator& a = server_->authenticator();
  key_id_ = LoggableKeyId(m.key_id);
  uint32_t failures = 0;
  if (!a.Allowed(peer_, &failures)) {
    // Over the bound: refused without looking at the key (and not counted again, so the
    // window ends on time).
    RefuseAuth(h,
               "max_auth_failures_per_second: " + std::to_string(failures) +
                   " failed handshakes from " + peer_ + " this second (limit " +
                   std::to_string(a.max_failures_per_second()) + "); try again later",
               /*count_failure=*/false);
    return false;
  }
  secret_ = CheckKeyId(m.key_id).ok() ? a.Secret(m.key_id) : nullptr;
  if (secret_ == nullptr) {
    RefuseAuth(h, "unknown key id " + key_id_ + ": this server has no such key",
               /*count_failure=*/true);
    return false;
  }
  client_nonce_ = m.client_nonce;
  server_nonce_ = RandomNonce();
  proto::HelloReply rep;
  rep.server_nonce = server_nonce_;
  rep.server_proof = ComputeProof(AuthRole::kServer, *secret_, m.key_id, client_nonce_,
                                  server_nonce_);
  auth_ = AuthState::kNeedAuth;
  Enqueue(server::HelloReply(h, rep));
  return true;
}

bool Connection::OnAuth(const Request& r) {
  const FrameHeader& h = r.h;
  if (auth_ != AuthState::kNeedAuth) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError, "AUTH without a HELLO");
    return false;
  }
  AuthRequest m;
  WireError err;
  if (!DecodeMeta(r.meta, &m, &err)) {
    FinalError(h.request_id, h.op, err.status, err.message);
    return false;
  }
  const Proof want =
      ComputeProof(AuthRole::kClient, *secret_, key_id_, client_nonce_, server_nonce_);
  if (!ProofsEqual(want, m.client_proof)) {
    RefuseAuth(h, "wrong key: the proof for key id " + key_id_ + " does not match",
               /*count_failure=*/true);
    return false;
  }
  auth_ = AuthState::kOpen;
  spdlog::debug("event=auth_ok peer={} key_id={}", peer_, key_id_);
  Enqueue(AuthOkReply(h));
  return true;
}

bool Connection::AdmitUnauthenticated(const Request& r) {
  if (auth_ == AuthState::kNeedHello && loopback_peer_ &&
      server_->config().auth.allow_unauthenticated_loopback) {
    auth_ = AuthState::kOpen;
    return true;
  }
  RefuseAuth(r.h,
             auth_ == AuthState::kNeedAuth
                 ? "authentication required: AUTH must follow HELLO before any request"
                 : "authentication required: this server serves only clients that prove they "
                   "hold a key (HELLO, then AUTH; docs/protocol.md section 8)",
             /*count_failure=*/true);
  return false;
}

}  // namespace cairn::server
