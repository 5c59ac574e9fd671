// libFuzzer target: the wire frame decoder (docs/protocol.md, version 2). Feeds arbitrary bytes
// through everything a server or client does with a received frame: header, header CRC
// (bypassed when the first input byte is odd, so the fuzzer gets past it), the op's meta
// (including the handshake's HELLO and AUTH, conditions, versions and metadata), reply metas
// (write results, object infos, Conflict error metas), a LIST body with common prefixes, a STAT
// body, a chunked body, and the cluster's DIGEST requests and replies (issue 12; their codec is
// cluster/anti_entropy_wire.h, in cairn_cluster_wire). Nothing may crash, hang or read out of bounds, and what decodes must
// encode back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cluster/anti_entropy_wire.h"
#include "fuzz_util.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "proto/stat_body.h"

using namespace cairn::proto;

namespace {

// A decoded meta re-encodes to the bytes it came from (one canonical form).
template <typename M>
void RoundTrip(std::string_view meta) {
  M m;
  WireError err;
  if (!DecodeMeta(meta, &m, &err)) return;
  std::string again;
  EncodeMeta(m, &again);
  FUZZ_CHECK(again == meta);
}

// DIGEST (docs/protocol.md section 10): a request that decodes re-encodes to its bytes; a reply
// body is tried as each of the three replies.
void DigestRequestRoundTrip(std::string_view meta) {
  cairn::cluster::DigestRequest r;
  if (!cairn::cluster::DecodeDigestRequest(meta, &r).ok()) return;
  FUZZ_CHECK(cairn::cluster::EncodeDigestRequest(r) == meta);
}
void DigestReplies(std::string_view body) {
  namespace cl = cairn::cluster;
  std::vector<uint64_t> roots;
  if (body.size() >= 2) (void)cl::DecodeRootsReply(body, static_cast<uint8_t>(body[0]), &roots);
  std::vector<cl::Leaves> leaves;
  if (body.size() >= 2) (void)cl::DecodeLeavesReply(body, static_cast<uint8_t>(body[0]), &leaves);
  cl::KeyPage page;
  if (cl::DecodeKeysReply(body, cl::kMaxKeysPerReply, &page).ok())
    FUZZ_CHECK(cl::EncodeKeysReply(page) == body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool bypass_crc = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  while (in.size() >= kHeaderSize) {
    FrameHeader h;
    WireError err;
    if (!DecodeHeader(in.data(), kDefaultMaxFrameMetaBytes, &h, &err)) return 0;
    if (in.size() - kHeaderSize < h.meta_len) return 0;
    std::string_view meta = in.substr(kHeaderSize, h.meta_len);
    if (!bypass_crc && !CheckHeaderCrc(in.data(), meta, &err)) return 0;
    in.remove_prefix(kHeaderSize + h.meta_len);
    const std::string_view body = in.substr(0, std::min<uint64_t>(h.body_len, in.size()));
    if (!h.reply) {
      if (!ValidateRequestMeta(h.op, meta, &err)) continue;
      switch (h.op) {
        case Op::kPut: RoundTrip<PutRequest>(meta); break;
        case Op::kDelete: RoundTrip<DeleteRequest>(meta); break;
        case Op::kList: RoundTrip<ListRequest>(meta); break;
        case Op::kHello: RoundTrip<HelloRequest>(meta); break;
        case Op::kAuth: RoundTrip<AuthRequest>(meta); break;
        case Op::kDigest: DigestRequestRoundTrip(meta); break;
        default: break;
      }
    } else if (h.status != WireStatus::kOk) {
      ErrorReply e;
      // The encoder cuts a message at 4096 bytes (it never decides anything); shorter ones must
      // come back byte for byte.
      if (DecodeMeta(meta, &e, &err) && e.message.size() <= 4096) RoundTrip<ErrorReply>(meta);
    } else {
      switch (h.op) {
        case Op::kPing: { PingReply m; (void)DecodeMeta(meta, &m, &err); break; }
        case Op::kPut:
        case Op::kDelete: RoundTrip<cairn::WriteResult>(meta); break;
        case Op::kGet: RoundTrip<GetReply>(meta); break;
        case Op::kHead: RoundTrip<cairn::ObjectInfo>(meta); break;
        case Op::kHello: RoundTrip<HelloReply>(meta); break;
        case Op::kList: {
          ListReply m;
          if (DecodeMeta(meta, &m, &err)) {
            std::vector<cairn::ObjectInfo> objects;
            std::vector<std::string> prefixes;
            (void)DecodeListBody(body, m.count, m.prefix_count, &objects, &prefixes, &err);
          }
          break;
        }
        case Op::kStat: (void)DecodeStatBody(body); break;
        case Op::kDigest: DigestReplies(body); break;
        default: break;
      }
    }
    if (h.chunked()) {
      ChunkedBodyDecoder d(1024);
      while (!in.empty() && !d.done() && !d.failed()) {
        std::string_view piece;
        size_t n = d.Consume(in.data(), in.size(), &piece, &err);
        if (n == 0) break;
        in.remove_prefix(n);
      }
    } else {
      in.remove_prefix(body.size());
    }
  }
  return 0;
}
