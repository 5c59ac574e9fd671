// libFuzzer target: the S3 gateway's parsers (src/gateway: sigv4.h, aws_chunked.h, s3_xml.h).
// The first byte picks the parser, the rest is its input:
//   0  ParseXml; an accepted document's text, written again with XmlWriter, parses back;
//   1  AwsChunkedDecoder, unsigned with trailers, fed in pieces whose sizes the input picks: the
//      decoded bytes never exceed the input, and Finish() is OK only after the final chunk;
//   2  the same with chunk signatures (the signature check must refuse, never crash);
//   3  ParseAuthorizationHeader, ParseCredential, ParseSignedHeaders;
//   4  ParseQuery, UriDecode/UriEncode (decode(encode(x)) == x), the date parsers, Unbase64.
// Nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/aws_chunked.h"
#include "gateway/s3_xml.h"
#include "gateway/sigv4.h"

using namespace cairn::gateway;

namespace {

void Xml(std::string_view in) {
  auto doc = ParseXml(in);
  if (!doc.ok()) return;
  XmlWriter w("R");
  w.Leaf("T", (*doc)->text);
  auto back = ParseXml(w.Finish());
  if (!back.ok() || (*back)->Child("T") == nullptr) std::abort();
}

void Chunked(std::string_view in, bool signed_chunks) {
  AwsChunkedDecoder::Options o;
  o.signed_chunks = signed_chunks;
  o.trailer = true;
  o.max_chunk_bytes = 1 << 16;
  o.signing_key = std::string(32, 'k');
  o.amz_date = "20130524T000000Z";
  o.scope = "20130524/us-east-1/s3/aws4_request";
  o.seed_signature = std::string(64, '0');
  AwsChunkedDecoder d(o);
  std::string out;
  size_t at = 0;
  uint8_t step = in.empty() ? 1 : static_cast<uint8_t>(in[0]);
  while (at < in.size()) {
    size_t n = std::min<size_t>(in.size() - at, 1 + step % 64);
    step = static_cast<uint8_t>(step * 31 + 7);
    if (!d.Feed(in.substr(at, n), &out).ok()) break;
    at += n;
  }
  if (out.size() > in.size()) std::abort();
  if (d.Finish().ok() && !d.done()) std::abort();
}

void Auth(std::string_view in) {
  SignedRequestAuth a;
  if (ParseAuthorizationHeader(in, &a).ok()) {
    if (a.signature.size() != 64 || a.credential.access_key.empty() || a.signed_headers.empty())
      std::abort();
  }
  Credential c;
  (void)ParseCredential(in, &c);
  std::vector<std::string> h;
  (void)ParseSignedHeaders(in, &h);
}

void Misc(std::string_view in) {
  std::vector<std::pair<std::string, std::string>> q;
  (void)ParseQuery(in, &q);
  std::string d;
  if (!UriDecode(UriEncode(in, true), &d) || d != in) std::abort();
  (void)UriDecode(in, &d);
  int64_t t = 0;
  (void)ParseAmzDate(in, &t);
  (void)ParseHttpDate(in, &t);
  std::string raw;
  if (Unbase64(in, &raw) && raw.size() > in.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: Xml(in); break;
    case 1: Chunked(in, false); break;
    case 2: Chunked(in, true); break;
    case 3: Auth(in); break;
    case 4: Misc(in); break;
  }
  return 0;
}
