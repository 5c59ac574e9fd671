// Handshake: the client's side of the authentication handshake (docs/protocol.md section 8),
// shared by the pipelined connections and the streaming sockets: the HELLO frame, the check of
// the server's proof (a server that cannot prove it holds the key is never sent a request), the
// AUTH frame, and the reading of the AUTH reply. Request id 0 for both.
//
// Thread safety: one handshake, one thread.
#pragma once

#include <string>
#include <string_view>

#include "cairn/client.h"
#include "proto/frame.h"
#include "proto/messages.h"

namespace cairn::client {

class Handshake {
 public:
  // `server` names the server in errors ("HOST:PORT").
  Handshake(const ClientKey& key, std::string server);

  // The HELLO request frame (a fresh client nonce each time).
  std::string HelloFrame();
  // Checks the reply to HELLO: the server's refusal (PermissionDenied...), a malformed reply
  // (IOError), or a proof that does not match (PermissionDenied). On OK, *auth_frame is the
  // AUTH request to send.
  Status OnHelloReply(const proto::FrameHeader& h, std::string_view meta, std::string* auth_frame);
  // The reply to AUTH: OK, or the server's refusal.
  Status OnAuthReply(const proto::FrameHeader& h, std::string_view meta) const;

 private:
  ClientKey key_;
  std::string server_;
  proto::Nonce client_nonce_{};
};

// The status of a reply frame from its header and meta (the server's error meta when not OK;
// for a Conflict, *held receives the version held).
Status ReplyStatus(const proto::FrameHeader& h, std::string_view meta, Version* held = nullptr);

}  // namespace cairn::client
