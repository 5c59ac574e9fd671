#include "client/handshake.h"

#include <fmt/format.h>

#include "proto/auth.h"

namespace cairn::client {

Status ReplyStatus(const proto::FrameHeader& h, std::string_view meta, Version* held) {
  if (h.status == proto::WireStatus::kOk) return Status::OK();
  proto::ErrorReply e;
  proto::WireError err;
  if (!proto::DecodeMeta(meta, &e, &err)) e.message = "(unreadable error message)";
  // A Conflict's held version; a replica read's NotFound carries the delete's version.
  if (held != nullptr && (h.status == proto::WireStatus::kConflict ||
                          h.status == proto::WireStatus::kNotFound))
    *held = e.held;
  return proto::FromWireStatus(h.status, e.message);
}

Handshake::Handshake(const ClientKey& key, std::string server)
    : key_(key), server_(std::move(server)) {}

std::string Handshake::HelloFrame() {
  client_nonce_ = proto::RandomNonce();
  proto::HelloRequest m;
  m.key_id = key_.id;
  m.client_nonce = client_nonce_;
  std::string meta;
  proto::EncodeMeta(m, &meta);
  proto::FrameHeader h;
  h.op = proto::Op::kHello;
  h.request_id = 0;
  return proto::EncodeFrame(h, meta);
}

Status Handshake::OnHelloReply(const proto::FrameHeader& h, std::string_view meta,
                               std::string* auth_frame) {
  if (h.op != proto::Op::kHello || h.request_id != 0)
    return Status::IOError(fmt::format(
        "protocol error from the server {}: expected the reply to HELLO, got {} id {}", server_,
        proto::OpName(h.op), h.request_id));
  if (Status s = ReplyStatus(h, meta); !s.ok()) return s;
  proto::HelloReply m;
  proto::WireError err;
  if (!proto::DecodeMeta(meta, &m, &err))
    return Status::IOError("protocol error from the server " + server_ + ": " + err.message);
  const proto::Proof want = proto::ComputeProof(proto::AuthRole::kServer, key_.secret, key_.id,
                                                client_nonce_, m.server_nonce);
  if (!proto::ProofsEqual(want, m.server_proof))
    return Status::PermissionDenied(fmt::format(
        "the server {} could not prove it holds key '{}'; nothing was sent to it", server_,
        key_.id));
  proto::AuthRequest a;
  a.client_proof = proto::ComputeProof(proto::AuthRole::kClient, key_.secret, key_.id,
                                       client_nonce_, m.server_nonce);
  std::string am;
  proto::EncodeMeta(a, &am);
  proto::FrameHeader ah;
  ah.op = proto::Op::kAuth;
  ah.request_id = 0;
  *auth_frame = proto::EncodeFrame(ah, am);
  return Status::OK();
}

Status Handshake::OnAuthReply(const proto::FrameHeader& h, std::string_view meta) const {
  if (h.op != proto::Op::kAuth || h.request_id != 0)
    return Status::IOError(fmt::format(
        "protocol error from the server {}: expected the reply to AUTH, got {} id {}", server_,
        proto::OpName(h.op), h.request_id));
  if (Status s = ReplyStatus(h, meta); !s.ok()) return s;
  if (!meta.empty())
    return Status::IOError("protocol error from the server " + server_ + ": AUTH reply has meta");
  return Status::OK();
}

}  // namespace cairn::client
