#include "gateway/put_body.h"

#include <isa-l/crc.h>
#include <openssl/evp.h>

#include <boost/crc.hpp>

#include <future>

#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::gateway {

uint32_t Crc32Extend(uint32_t crc, const char* p, size_t n) {
  return crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(p), n);
}

namespace {

// CRC-64/NVME (S3's CRC64NVME): Boost.CRC, as Debian's ISA-L (2.30) has no such CRC-64.
using Crc64Nvme = boost::crc_optimal<64, 0xAD93D23594C93659, ~uint64_t{0}, ~uint64_t{0}, true, true>;

std::string Be32(uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  return std::string(b, 4);
}

std::string Be64(uint64_t v) { return Be32(static_cast<uint32_t>(v >> 32)) + Be32(static_cast<uint32_t>(v)); }

class Crc32Checksum final : public CrcChecksum {
 public:
  explicit Crc32Checksum(bool castagnoli) : castagnoli_(castagnoli) {}
  void Update(const char* p, size_t n) override {
    v_ = castagnoli_ ? crc32c::Extend(v_, p, n) : Crc32Extend(v_, p, n);
  }
  std::string Value() const override { return Be32(v_); }

 private:
  const bool castagnoli_;
  uint32_t v_ = 0;
};

class Crc64NvmeChecksum final : public CrcChecksum {
 public:
  void Update(const char* p, size_t n) override { c_.process_bytes(p, n); }
  std::string Value() const override { return Be64(c_.checksum()); }

 private:
  Crc64Nvme c_;
};

}  // namespace

std::unique_ptr<CrcChecksum> CrcChecksum::Make(std::string_view alg) {
  if (alg == "crc32") return std::make_unique<Crc32Checksum>(false);
  if (alg == "crc32c") return std::make_unique<Crc32Checksum>(true);
  if (alg == "crc64nvme") return std::make_unique<Crc64NvmeChecksum>();
  return nullptr;
}

namespace {

class Evp {
 public:
  explicit Evp(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    CAIRN_CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, md, nullptr) == 1);
  }
  ~Evp() { EVP_MD_CTX_free(ctx_); }
  void Update(const char* p, size_t n) { CAIRN_CHECK(EVP_DigestUpdate(ctx_, p, n) == 1); }
  std::string Final() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    CAIRN_CHECK(EVP_DigestFinal_ex(ctx_, md, &n) == 1);
    return std::string(reinterpret_cast<char*>(md), n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

// A body the HTTP server could not read, in S3's words: over the limit the gateway set
// (EntityTooLarge), stopped arriving (RequestTimeout), or cut short or badly framed
// (IncompleteBody). The message names the limit or the problem.
Status WireBodyError(const Status& s) {
  if (s.IsLimitExceeded()) return Status::InvalidArgument("EntityTooLarge: " + s.message());
  if (s.IsDeadlineExceeded()) return Status::InvalidArgument("RequestTimeout: " + s.message());
  return Status::InvalidArgument("IncompleteBody: " + s.message());
}

// The checksum algorithms S3 defines that the gateway checks.
constexpr std::string_view kAlgs[] = {"crc32", "crc32c", "sha1", "sha256", "crc64nvme"};
constexpr size_t kAlgBytes[] = {4, 4, 20, 32, 8};

}  // namespace

struct PutBody::Digests {
  Evp md5{EVP_md5()};
  std::unique_ptr<Evp> sha256;  // the payload hash (x-amz-content-sha256)
  std::unique_ptr<Evp> sha1;
  std::unique_ptr<Evp> checksum_sha256;
  std::unique_ptr<CrcChecksum> crc;  // crc32, crc32c or crc64nvme
  std::string content_md5;        // raw, if sent
  int alg = -1;                   // the x-amz-checksum-* algorithm (index in kAlgs)
  std::string checksum_expected;  // raw, from the header; empty: from the trailer
  bool checksum_in_trailer = false;

  void Update(const char* p, size_t n) {
    md5.Update(p, n);
    if (sha256) sha256->Update(p, n);
    if (sha1) sha1->Update(p, n);
    if (checksum_sha256) checksum_sha256->Update(p, n);
    if (crc) crc->Update(p, n);
  }
};

PutBody::PutBody(HttpExchange& ex, const Request& r, const GatewayOptions& o, bool checksum_headers)
    : ex_(ex), r_(r), o_(o), checksum_headers_(checksum_headers), d_(std::make_unique<Digests>()) {}
PutBody::~PutBody() = default;

Status PutBody::Prepare() {
  const http::fields& h = ex_.headers();
  if (std::string_view cm = HeaderOr(h, "content-md5"); !cm.empty()) {
    if (!Unbase64(cm, &d_->content_md5) || d_->content_md5.size() != 16)
      return Status::InvalidArgument("InvalidDigest: the Content-MD5 you specified is not valid");
  }
  // Which checksum algorithm, from a header or an announced trailer.
  std::string_view trailer = HeaderOr(h, "x-amz-trailer");
  for (size_t i = 0; i < std::size(kAlgs); i++) {
    const std::string name = "x-amz-checksum-" + std::string(kAlgs[i]);
    std::string_view v = checksum_headers_ ? HeaderOr(h, name) : std::string_view();
    const bool in_trailer = Lower(trailer) == name;
    if (v.empty() && !in_trailer) continue;
    if (d_->alg >= 0)
      return Status::InvalidArgument(
          "InvalidRequest: expecting a single x-amz-checksum- header; multiple checksum types "
          "are not allowed");
    d_->alg = static_cast<int>(i);
    if (!v.empty()) {
      if (!Unbase64(v, &d_->checksum_expected) || d_->checksum_expected.size() != kAlgBytes[i])
        return Status::InvalidArgument("InvalidRequest: value for " + name +
                                       " header is invalid");
    } else {
      d_->checksum_in_trailer = true;
    }
  }
  if (!trailer.empty() && d_->alg < 0)
    return Status::InvalidArgument("InvalidRequest: the x-amz-trailer '" +
                                   std::string(trailer.substr(0, 64)) + "' is not supported");
  if (d_->checksum_in_trailer && r_.payload != PayloadMode::kStreamingUnsignedTrailer &&
      r_.payload != PayloadMode::kStreamingSignedTrailer)
    return Status::InvalidArgument(
        "InvalidRequest: a trailing checksum needs a STREAMING-*-TRAILER payload");
  switch (d_->alg) {
    case 2: d_->sha1 = std::make_unique<Evp>(EVP_sha1()); break;
    case 3: d_->checksum_sha256 = std::make_unique<Evp>(EVP_sha256()); break;
    default:
      if (d_->alg >= 0) d_->crc = CrcChecksum::Make(kAlgs[d_->alg]);
      break;
  }
  if (r_.payload == PayloadMode::kSha256) d_->sha256 = std::make_unique<Evp>(EVP_sha256());
  if (r_.streaming()) {
    AwsChunkedDecoder::Options co;
    co.signed_chunks = r_.payload != PayloadMode::kStreamingUnsignedTrailer;
    co.trailer = r_.payload != PayloadMode::kStreamingSigned;
    co.max_chunk_bytes = o_.max_aws_chunk_bytes;
    co.signing_key = r_.signing_key;
    co.amz_date = r_.amz_date;
    co.scope = r_.scope;
    co.seed_signature = r_.signature;
    chunked_ = std::make_unique<AwsChunkedDecoder>(std::move(co));
    std::string_view dl = HeaderOr(h, "x-amz-decoded-content-length");
    if (!dl.empty()) {
      uint64_t n = 0;
      if (dl.size() > 19 || !std::all_of(dl.begin(), dl.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return Status::InvalidArgument("InvalidArgument: x-amz-decoded-content-length is not a number");
      n = std::stoull(std::string(dl));
      length_ = n;
    } else if (r_.payload == PayloadMode::kStreamingSigned) {
      return Status::InvalidArgument(
          "MissingContentLength: a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body needs "
          "x-amz-decoded-content-length");
    }
  } else {
    length_ = ex_.content_length();
  }
  return Status::OK();
}

awaitable<Result<size_t>> PutBody::Read(char* buf, size_t cap) {
  if (cap == 0) co_return size_t{0};
  if (chunked_ == nullptr) {
    Result<size_t> n = co_await ex_.ReadBody(buf, cap);
    if (!n.ok()) co_return WireBodyError(n.status());
    d_->Update(buf, *n);
    size_ += *n;
    co_return n;
  }
  for (;;) {
    if (pending_at_ < pending_.size()) {
      const size_t k = std::min(cap, pending_.size() - pending_at_);
      std::memcpy(buf, pending_.data() + pending_at_, k);
      pending_at_ += k;
      d_->Update(buf, k);
      size_ += k;
      co_return k;
    }
    pending_.clear();
    pending_at_ = 0;
    if (wire_done_) {
      Status f = chunked_->Finish();
      if (!f.ok()) co_return f;
      co_return size_t{0};
    }
    raw_.resize(64 << 10);
    Result<size_t> n = co_await ex_.ReadBody(raw_.data(), raw_.size());
    if (!n.ok()) co_return WireBodyError(n.status());
    if (*n == 0) {
      wire_done_ = true;
      continue;
    }
    Status s = chunked_->Feed(std::string_view(raw_.data(), *n), &pending_);
    if (!s.ok()) co_return s;
  }
}

Status PutBody::Verify() {
  md5_ = d_->md5.Final();
  if (length_.has_value() && *length_ != size_)
    return Status::InvalidArgument("IncompleteBody: the body has " + std::to_string(size_) +
                                   " bytes, the request said " + std::to_string(*length_));
  if (d_->sha256 && Hex(d_->sha256->Final()) != r_.payload_sha256)
    return Status::InvalidArgument(
        "XAmzContentSHA256Mismatch: the provided x-amz-content-sha256 header does not match "
        "what was computed");
  if (!d_->content_md5.empty() && d_->content_md5 != md5_)
    return Status::InvalidArgument(
        "BadDigest: the Content-MD5 you specified did not match what we received");
  if (d_->alg >= 0) {
    std::string got;
    switch (d_->alg) {
      case 2: got = d_->sha1->Final(); break;
      case 3: got = d_->checksum_sha256->Final(); break;
      default: got = d_->crc->Value(); break;
    }
    const std::string name = "x-amz-checksum-" + std::string(kAlgs[d_->alg]);
    std::string expected = d_->checksum_expected;
    if (d_->checksum_in_trailer) {
      expected.clear();
      for (const auto& [n, v] : chunked_->trailers()) {
        if (n == name && (!Unbase64(v, &expected) || expected.size() != kAlgBytes[d_->alg]))
          return Status::InvalidArgument("InvalidRequest: value for " + name +
                                         " trailing header is invalid");
      }
      if (expected.empty())
        return Status::InvalidArgument("InvalidRequest: the announced trailer " + name +
                                       " did not arrive");
    }
    if (got != expected)
      return Status::InvalidArgument("BadDigest: the " + name +
                                     " you specified did not match the calculated checksum");
    echo_.set(name, Base64(got));
  }
  return Status::OK();
}

// ---- The bridge ----------------------------------------------------------------------------

namespace {

awaitable<void> ReadOnLoop(PutBody* body, char* buf, size_t n,
                           std::promise<Result<size_t>>* done) {
  Result<size_t> r = co_await body->Read(buf, n);
  done->set_value(std::move(r));
}

}  // namespace

LoopBridgeSource::LoopBridgeSource(PutBody* body, net::asio::any_io_executor loop,
                                   ObjectMetadata meta)
    : body_(body), loop_(std::move(loop)), meta_(std::move(meta)) {}

Result<size_t> LoopBridgeSource::Read(char* buf, size_t n) {
  if (verified_) return size_t{0};
  std::promise<Result<size_t>> done;
  std::future<Result<size_t>> f = done.get_future();
  net::asio::co_spawn(loop_, ReadOnLoop(body_, buf, n, &done), net::asio::detached);
  Result<size_t> r = f.get();
  if (!r.ok() || *r > 0) return r;
  CAIRN_RETURN_IF_ERROR(body_->Verify());
  meta_.md5 = body_->md5();
  verified_ = true;
  return size_t{0};
}

}  // namespace cairn::gateway
