// PutBody: the body of an S3 PUT (PutObject, UploadPart) or of a small XML request, as the
// store should see it: aws-chunked framing stripped (chunk signatures checked), and every digest
// the request promised checked at the end (docs/s3.md, "Integrity"):
//   - x-amz-content-sha256 with a hex SHA-256 (XAmzContentSHA256Mismatch);
//   - Content-MD5 (BadDigest; InvalidDigest when malformed);
//   - x-amz-checksum-crc32 / -crc32c / -sha1 / -sha256, in a header or an announced trailer
//     (BadDigest; InvalidRequest when malformed);
//   - x-amz-decoded-content-length (IncompleteBody when the body has a different length).
// The MD5 of the body (the ETag) is always computed.
//
// Thread safety: Read runs on the connection's loop; Verify and the getters after the last
// Read, from any one thread (the bridge to PutStream orders them with a future).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gateway/aws_chunked.h"
#include "gateway/s3_internal.h"

namespace cairn::gateway {

class PutBody {
 public:
  // `checksum_headers`: whether x-amz-checksum-* headers are checksums of this body (false for
  // CompleteMultipartUpload, where they are the object's).
  PutBody(HttpExchange& ex, const Request& r, const GatewayOptions& o, bool checksum_headers = true);
  ~PutBody();

  // Parses the digests and lengths the headers promise. An error names the bad header.
  Status Prepare();
  // The body's length once decoded, when known before it is read.
  std::optional<uint64_t> length() const { return length_; }
  // Up to `cap` decoded bytes; 0 at the end.
  awaitable<Result<size_t>> Read(char* buf, size_t cap);
  // After Read returned 0: every promised digest and length against what arrived.
  Status Verify();
  const std::string& md5() const { return md5_; }  // raw, after Verify
  uint64_t size() const { return size_; }
  // The checksum headers to return (x-amz-checksum-*), after Verify.
  const http::fields& echo() const { return echo_; }

 private:
  struct Digests;
  HttpExchange& ex_;
  const Request& r_;
  const GatewayOptions& o_;
  const bool checksum_headers_;
  std::optional<uint64_t> length_;
  std::unique_ptr<AwsChunkedDecoder> chunked_;
  std::unique_ptr<Digests> d_;
  std::string raw_;      // wire bytes read, for the decoder
  std::string pending_;  // decoded bytes not handed out yet
  size_t pending_at_ = 0;
  bool wire_done_ = false;
  uint64_t size_ = 0;
  std::string md5_;
  http::fields echo_;
};

// The ValueSource of a body streamed into ObjectStore::PutStream on a thread that may block:
// each Read runs PutBody::Read on the connection's loop and waits for it. At the end it
// verifies the body (a failure is returned by the Read that would have reported the end, so the
// store commits nothing) and offers the metadata with the body's MD5 (FinalMetadata).
class LoopBridgeSource final : public ValueSource {
 public:
  LoopBridgeSource(PutBody* body, net::asio::any_io_executor loop, ObjectMetadata meta);
  Result<size_t> Read(char* buf, size_t n) override;
  const ObjectMetadata* FinalMetadata() override { return verified_ ? &meta_ : nullptr; }
  bool verified() const { return verified_; }

 private:
  PutBody* body_;
  net::asio::any_io_executor loop_;
  ObjectMetadata meta_;
  bool verified_ = false;
};

// CRC-32 (IEEE, as gzip and S3's x-amz-checksum-crc32) of more bytes.
uint32_t Crc32Extend(uint32_t crc, const char* p, size_t n);

// One of S3's CRC checksums (x-amz-checksum-crc32, -crc32c, -crc64nvme) over bytes given piece
// by piece.
class CrcChecksum {
 public:
  // The checksum named `alg` ("crc32", "crc32c", "crc64nvme"), or nullptr for another name.
  static std::unique_ptr<CrcChecksum> Make(std::string_view alg);
  virtual ~CrcChecksum() = default;
  virtual void Update(const char* p, size_t n) = 0;
  // The checksum's big-endian bytes (4 or 8), as S3 sends them base64-encoded.
  virtual std::string Value() const = 0;
};

}  // namespace cairn::gateway
