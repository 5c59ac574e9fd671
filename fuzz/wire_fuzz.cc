// libFuzzer target: the wire frame decoder (docs/protocol.md). Feeds arbitrary bytes through
// everything a server or client does with a received frame: header, header CRC (bypassed when
// the first input byte is odd, so the fuzzer gets past it), the op's meta, reply metas, a LIST
// body and a chunked body. Nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proto/frame.h"
#include "proto/messages.h"

using namespace cairn::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool bypass_crc = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  while (in.size() >= kHeaderSize) {
    FrameHeader h;
    WireError err;
    if (!DecodeHeader(in.data(), kDefaultMaxMetaBytes, &h, &err)) return 0;
    if (in.size() - kHeaderSize < h.meta_len) return 0;
    std::string_view meta = in.substr(kHeaderSize, h.meta_len);
    if (!bypass_crc && !CheckHeaderCrc(in.data(), meta, &err)) return 0;
    in.remove_prefix(kHeaderSize + h.meta_len);
    if (!h.reply) {
      if (!ValidateRequestMeta(h.op, meta, &err)) continue;
    } else if (h.status != WireStatus::kOk) {
      ErrorReply e;
      (void)DecodeMeta(meta, &e, &err);
    } else {
      switch (h.op) {
        case Op::kPing: { PingReply m; (void)DecodeMeta(meta, &m, &err); break; }
        case Op::kPut: { PutReply m; (void)DecodeMeta(meta, &m, &err); break; }
        case Op::kGet: { GetReply m; (void)DecodeMeta(meta, &m, &err); break; }
        case Op::kHead: { ObjectMeta m; (void)DecodeMeta(meta, &m, &err); break; }
        case Op::kList: {
          ListReply m;
          if (DecodeMeta(meta, &m, &err)) {
            std::vector<ListEntry> entries;
            size_t n = std::min<uint64_t>(h.body_len, in.size());
            (void)DecodeListBody(in.substr(0, n), m.count, &entries, &err);
          }
          break;
        }
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
      in.remove_prefix(std::min<uint64_t>(h.body_len, in.size()));
    }
  }
  return 0;
}
