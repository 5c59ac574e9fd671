// AwsChunkedDecoder: strips the `aws-chunked` framing of an S3 request body (docs/s3.md,
// "Streaming bodies") as it arrives, checking every chunk signature of the signed form and
// collecting the trailing headers of the trailer forms:
//
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          <hex>;chunk-signature=<sig>\r\n<data>\r\n ...
//                                               0;chunk-signature=<sig>\r\n\r\n
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  ... 0;chunk-signature=<sig>\r\n
//                                               <name>:<value>\r\n ...
//                                               x-amz-trailer-signature:<sig>\r\n\r\n
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          <hex>\r\n<data>\r\n ... 0\r\n
//                                               <name>:<value>\r\n ... \r\n
//
// Each chunk's signature signs its data, so the data of a chunk is handed out before its
// signature is checked: the caller must not make anything visible before Finish() says OK
// (the gateway streams into PutStream, which commits only at the end of the value).
//
// Limits (named in the errors): kMaxChunkLineBytes for a chunk-size line or a trailer line,
// kMaxTrailerBytes for all trailers, and max_chunk_bytes for one chunk's data.
//
// Thread safety: one decoder per body, used by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "gateway/sigv4.h"

namespace cairn::gateway {

inline constexpr size_t kMaxChunkLineBytes = 4096;
inline constexpr size_t kMaxTrailerBytes = 16 << 10;

class AwsChunkedDecoder {
 public:
  struct Options {
    bool signed_chunks = false;  // chunk-signature on every chunk
    bool trailer = false;        // trailing headers after the last chunk
    uint64_t max_chunk_bytes = uint64_t{16} << 20;
    // For signed chunks: what each chunk's string to sign carries.
    std::string signing_key;
    std::string amz_date;
    std::string scope;
    std::string seed_signature;  // the request's own signature
  };

  explicit AwsChunkedDecoder(Options o);

  // Decodes `in` (any split of the wire body), appending payload bytes to *out. An error names
  // what is wrong (bad framing, a limit, a signature: SignatureDoesNotMatch is a
  // PermissionDenied); after an error every call returns it again.
  Status Feed(std::string_view in, std::string* out);
  // The wire body has ended: OK only if the last chunk (and the trailers) were complete.
  Status Finish() const;
  bool done() const { return state_ == State::kDone; }
  uint64_t decoded_bytes() const { return decoded_; }
  // The trailing headers (lowercase names), once done().
  const std::vector<std::pair<std::string, std::string>>& trailers() const { return trailers_; }

 private:
  enum class State { kSize, kData, kDataCr, kDataLf, kTrailer, kDone, kFailed };
  Status Fail(Status s);
  Status OnSizeLine(std::string_view line);
  Status OnTrailerLine(std::string_view line);
  Status CheckChunkSignature();

  Options o_;
  State state_ = State::kSize;
  Status error_;
  std::string line_;
  uint64_t left_ = 0;       // data bytes left in the current chunk
  std::string chunk_sig_;   // the signature the current chunk claims
  std::string prev_sig_;
  Sha256Stream chunk_hash_;
  uint64_t decoded_ = 0;
  size_t trailer_bytes_ = 0;
  std::string trailer_canonical_;  // "name:value\n" for each trailer, for its signature
  std::string trailer_sig_;
  std::vector<std::pair<std::string, std::string>> trailers_;
};

}  // namespace cairn::gateway
