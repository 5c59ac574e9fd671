// Request handlers: one wire request in, one reply out. Engine calls run on the server's I/O
// pool; the coroutine resumes on the connection's loop. TryGetFast runs on the loop itself.
#pragma once

#include <optional>
#include <string>

#include "net/asio.h"
#include "server/connection.h"

namespace cairn::server {

class Server;

// REQUIRES: meta passed ValidateRequestMeta for h.op. `body` is a PUT's whole, CRC-checked body.
net::asio::awaitable<Connection::Reply> HandleRequest(Server* server, proto::FrameHeader h,
                                                      std::string meta, std::string body);

// A GET served on the event loop without blocking: a whole object whose index entry is in
// memory and whose first slice is in the page cache (or a certain NotFound). Nothing when the
// pool path (HandleRequest) is needed. REQUIRES: meta passed ValidateRequestMeta for kGet.
std::optional<Connection::Reply> TryGetFast(Server* server, const proto::FrameHeader& h,
                                            const std::string& meta);

// WriteOptions for a wire durability byte (0 = the server's default).
WriteOptions WriteOptionsFor(uint8_t durability);

Connection::Reply PutOkReply(const proto::FrameHeader& req, uint64_t sequence, uint64_t size,
                             uint32_t crc);

// An error reply to `req` (its request id and op) carrying `message`, cut to 4000 bytes.
Connection::Reply ErrorReply(const proto::FrameHeader& req, proto::WireStatus s,
                             std::string message);

}  // namespace cairn::server
