#include "gateway/aws_chunked.h"

#include <algorithm>

namespace cairn::gateway {

AwsChunkedDecoder::AwsChunkedDecoder(Options o) : o_(std::move(o)), prev_sig_(o_.seed_signature) {}

Status AwsChunkedDecoder::Fail(Status s) {
  state_ = State::kFailed;
  error_ = s;
  return s;
}

Status AwsChunkedDecoder::Feed(std::string_view in, std::string* out) {
  while (!in.empty()) {
    switch (state_) {
      case State::kFailed:
        return error_;
      case State::kDone:
        return Fail(Status::InvalidArgument(
            "aws-chunked body: bytes after the final chunk and its trailers"));
      case State::kSize:
      case State::kTrailer: {
        size_t lf = in.find('\n');
        const size_t take = lf == std::string_view::npos ? in.size() : lf + 1;
        if (line_.size() + take > kMaxChunkLineBytes)
          return Fail(Status::InvalidArgument(
              "aws-chunked body: a chunk-size or trailer line is longer than "
              "kMaxChunkLineBytes (4096)"));
        line_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (lf == std::string_view::npos) break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r')
          return Fail(Status::InvalidArgument("aws-chunked body: a line does not end in CRLF"));
        std::string line = line_.substr(0, line_.size() - 2);
        line_.clear();
        Status s = state_ == State::kSize ? OnSizeLine(line) : OnTrailerLine(line);
        if (!s.ok()) return Fail(s);
        break;
      }
      case State::kData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size()));
        out->append(in.substr(0, n));
        if (o_.signed_chunks) chunk_hash_.Update(in.data(), n);
        decoded_ += n;
        left_ -= n;
        in.remove_prefix(n);
        if (left_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (in[0] != '\r')
          return Fail(Status::InvalidArgument(
              "aws-chunked body: a chunk's data is longer than its size says"));
        in.remove_prefix(1);
        state_ = State::kDataLf;
        break;
      case State::kDataLf: {
        if (in[0] != '\n')
          return Fail(Status::InvalidArgument("aws-chunked body: a chunk does not end in CRLF"));
        in.remove_prefix(1);
        if (o_.signed_chunks) {
          Status s = CheckChunkSignature();
          if (!s.ok()) return Fail(s);
        }
        state_ = State::kSize;
        break;
      }
    }
  }
  return state_ == State::kFailed ? error_ : Status::OK();
}

Status AwsChunkedDecoder::CheckChunkSignature() {
  const std::string sts =
      ChunkStringToSign(o_.amz_date, o_.scope, prev_sig_, Hex(chunk_hash_.Final()));
  const std::string want = Signature(o_.signing_key, sts);
  if (want != chunk_sig_)
    return Status::PermissionDenied(
        "SignatureDoesNotMatch: a chunk signature of the aws-chunked body does not match");
  prev_sig_ = want;
  return Status::OK();
}

Status AwsChunkedDecoder::OnSizeLine(std::string_view line) {
  size_t semi = line.find(';');
  std::string_view hex = line.substr(0, semi);
  if (hex.empty() || hex.size() > 16)
    return Status::InvalidArgument("aws-chunked body: a chunk size is not 1 to 16 hex digits");
  uint64_t n = 0;
  for (char c : hex) {
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (d < 0) return Status::InvalidArgument("aws-chunked body: a chunk size is not hex");
    n = n * 16 + static_cast<uint64_t>(d);
  }
  if (n > o_.max_chunk_bytes)
    return Status::LimitExceeded("max_aws_chunk_bytes: a chunk of " + std::to_string(n) +
                                 " bytes is over the limit of " +
                                 std::to_string(o_.max_chunk_bytes));
  chunk_sig_.clear();
  if (semi != std::string_view::npos) {
    std::string_view ext = line.substr(semi + 1);
    constexpr std::string_view kSig = "chunk-signature=";
    if (!ext.starts_with(kSig))
      return Status::InvalidArgument("aws-chunked body: unknown chunk extension");
    chunk_sig_ = std::string(ext.substr(kSig.size()));
  }
  if (o_.signed_chunks && chunk_sig_.empty())
    return Status::PermissionDenied(
        "SignatureDoesNotMatch: a chunk of the signed aws-chunked body has no chunk-signature");
  if (!o_.signed_chunks && !chunk_sig_.empty())
    return Status::InvalidArgument("aws-chunked body: a chunk-signature in an unsigned body");
  left_ = n;
  if (n > 0) {
    state_ = State::kData;
    return Status::OK();
  }
  // The final chunk.
  if (o_.signed_chunks) CAIRN_RETURN_IF_ERROR(CheckChunkSignature());
  // Trailers (if announced), then the empty line that ends the body.
  state_ = State::kTrailer;
  return Status::OK();
}

Status AwsChunkedDecoder::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    if (o_.signed_chunks && o_.trailer) {
      if (trailer_sig_.empty())
        return Status::PermissionDenied(
            "SignatureDoesNotMatch: the trailer of the signed body has no "
            "x-amz-trailer-signature");
      const std::string sts = TrailerStringToSign(o_.amz_date, o_.scope, prev_sig_,
                                                  Hex(Sha256(trailer_canonical_)));
      if (Signature(o_.signing_key, sts) != trailer_sig_)
        return Status::PermissionDenied(
            "SignatureDoesNotMatch: the trailer signature of the aws-chunked body does not match");
    }
    state_ = State::kDone;
    return Status::OK();
  }
  if (!o_.trailer)
    return Status::InvalidArgument(
        "aws-chunked body: trailing headers were not announced (x-amz-trailer)");
  trailer_bytes_ += line.size();
  if (trailer_bytes_ > kMaxTrailerBytes)
    return Status::LimitExceeded("kMaxTrailerBytes: the trailers are over 16384 bytes");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Status::InvalidArgument("aws-chunked body: a trailer line is not NAME:VALUE");
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (name == "x-amz-trailer-signature") {
    trailer_sig_ = std::string(value);
    return Status::OK();
  }
  trailer_canonical_ += name + ":" + std::string(value) + "\n";
  trailers_.emplace_back(std::move(name), std::string(value));
  return Status::OK();
}

Status AwsChunkedDecoder::Finish() const {
  if (state_ == State::kFailed) return error_;
  if (state_ != State::kDone)
    return Status::InvalidArgument(
        "IncompleteBody: the aws-chunked body ended before its final chunk");
  return Status::OK();
}

}  // namespace cairn::gateway
