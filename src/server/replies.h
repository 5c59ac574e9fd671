// Replies: what the ObjectService answered, encoded as reply frames (docs/protocol.md sections
// 4 and 5), with the body to send after the head: in memory, from a pinned value's extents
// (sendfile), or from a reader. Every head is built in one string, header and meta together.
//
// Thread safety: free functions; a Reply is owned by one connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cairn/object_store.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "service/object_service.h"

namespace cairn::server {

struct Reply {
  uint64_t request_id = 0;
  proto::WireStatus status = proto::WireStatus::kOk;
  std::string head;  // encoded header + meta
  std::string body;  // an in-memory body, or:
  std::unique_ptr<PinnedObject> pin;  // a body sent from the pinned value's extents
  uint64_t pin_offset = 0;  // value offset of the first byte to send
  uint64_t pin_length = 0;
  bool pin_warm_first = false;  // the first slice was already brought into the page cache
  std::unique_ptr<ObjectReader> reader;  // or a body read from a reader (a store that cannot pin)
  uint64_t reader_length = 0;
};

// An error reply to `req` (its request id and op) carrying `message` (cut to 4000 bytes) and,
// for a Conflict, the version held.
Reply ErrorReply(const proto::FrameHeader& req, proto::WireStatus s, std::string_view message,
                 const Version& held = Version(), uint64_t epoch = 0);
// The reply for a Status that is not OK, through the status table. `held` travels with a
// Conflict, and with a NotFound (a replica's delete, docs/protocol.md section 9).
Reply StatusReply(const proto::FrameHeader& req, const Status& s,
                  const Version& held = Version());
// The UnsupportedVersion reply to a frame of another version: to a version 1 frame, encoded as
// version 1 (docs/protocol.md section 2), naming both versions.
Reply UnsupportedVersionReply(const proto::FrameHeader& req);

Reply PingReply(const proto::FrameHeader& req, std::string_view server_name);
// PUT and DELETE.
Reply WriteReply(const proto::FrameHeader& req, const WriteResult& r);
// A GET whose outcome is OK: the head, and the body from the outcome's pin, reader or bytes.
Reply GetReply(const proto::FrameHeader& req, service::GetOutcome o);
Reply HeadReply(const proto::FrameHeader& req, const ObjectInfo& info);
Reply ListReply(const proto::FrameHeader& req, const ListResult& r);
Reply StatReply(const proto::FrameHeader& req, const StoreStats& s);
// An OK reply whose body is `body` (DIGEST, section 10).
Reply BodyReply(const proto::FrameHeader& req, std::string body);
Reply HelloReply(const proto::FrameHeader& req, const proto::HelloReply& m);
Reply AuthOkReply(const proto::FrameHeader& req);

}  // namespace cairn::server
