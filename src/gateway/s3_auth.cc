// SigV4 authentication of a request (docs/s3.md, "Authentication"): the Authorization header
// or a presigned query string, the clock-skew bound, the payload mode, and the access key.
#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "gateway/s3_internal.h"
#include "gateway/sigv4.h"

namespace cairn::gateway {
namespace {

Status Err(std::string_view code, std::string_view why) {
  return Status::PermissionDenied(std::string(code) + ": " + std::string(why));
}
Status Bad(std::string_view code, std::string_view why) {
  return Status::InvalidArgument(std::string(code) + ": " + std::string(why));
}

}  // namespace

Status Gateway::Impl::Authenticate(const HttpExchange& ex, Request* r) {
  const http::fields& h = ex.headers();
  const std::string_view authz = HeaderOr(h, "authorization");
  const std::string* q_alg = r->Q("X-Amz-Algorithm");
  SignedRequestAuth a;
  std::string amz_date;
  bool presigned = false;
  int64_t expires = 0;
  if (!authz.empty()) {
    if (q_alg != nullptr)
      return Bad("InvalidArgument",
                 "only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or "
                 "the Authorization header should be specified");
    if (authz.starts_with("AWS "))
      return Bad("InvalidRequest",
                 "AWS Signature Version 2 is not supported; please use AWS4-HMAC-SHA256");
    Status s = ParseAuthorizationHeader(authz, &a);
    if (!s.ok()) return Bad("AuthorizationHeaderMalformed", s.message());
    amz_date = std::string(HeaderOr(h, "x-amz-date"));
    if (amz_date.empty()) {
      // The Date header in HTTP form: turned into the ISO basic form the string to sign uses.
      const std::string_view d = HeaderOr(h, "date");
      int64_t t = 0;
      if (d.empty() || !ParseHttpDate(d, &t))
        return Err("AccessDenied",
                   "AWS authentication requires a valid Date or x-amz-date header");
      amz_date = FormatAmzDate(t);
    }
  } else if (q_alg != nullptr) {
    presigned = true;
    if (*q_alg != kSigV4Algorithm)
      return Bad("AuthorizationQueryParametersError",
                 "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
    const std::string* cred = r->Q("X-Amz-Credential");
    const std::string* date = r->Q("X-Amz-Date");
    const std::string* exp = r->Q("X-Amz-Expires");
    const std::string* sh = r->Q("X-Amz-SignedHeaders");
    const std::string* sig = r->Q("X-Amz-Signature");
    if (cred == nullptr || date == nullptr || exp == nullptr || sh == nullptr || sig == nullptr)
      return Bad("AuthorizationQueryParametersError",
                 "query-string authentication version 4 requires the X-Amz-Algorithm, "
                 "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                 "X-Amz-Expires parameters");
    Status s = ParseCredential(*cred, &a.credential);
    if (!s.ok()) return Bad("AuthorizationQueryParametersError", s.message());
    s = ParseSignedHeaders(*sh, &a.signed_headers);
    if (!s.ok()) return Bad("AuthorizationQueryParametersError", s.message());
    a.signature = *sig;
    amz_date = *date;
    if (exp->empty() || exp->size() > 7 ||
        !std::all_of(exp->begin(), exp->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return Bad("AuthorizationQueryParametersError",
                 "X-Amz-Expires should be a number of seconds");
    expires = std::stoll(*exp);
    if (expires > o_.max_presign_expires_s)
      return Bad("AuthorizationQueryParametersError",
                 "X-Amz-Expires must be less than a week (in seconds) that is; the maximum "
                 "expiration date of a presigned URL is 604800 seconds");
  } else {
    return Err("AccessDenied", "anonymous requests are not accepted: sign with AWS4-HMAC-SHA256");
  }

  int64_t t = 0;
  if (!ParseAmzDate(amz_date, &t))
    return Err("AccessDenied", "the request date is not in ISO 8601 basic form (YYYYMMDDTHHMMSSZ)");
  if (amz_date.substr(0, 8) != a.credential.date)
    return Err("SignatureDoesNotMatch", "the credential's date is not the request's date");
  if (presigned) {
    if (t > r->now_s + o_.max_clock_skew_s)
      return Err("AccessDenied", "request is not valid yet");
    if (r->now_s > t + expires) return Err("AccessDenied", "Request has expired");
  } else if (t > r->now_s + o_.max_clock_skew_s || t < r->now_s - o_.max_clock_skew_s) {
    return Err("RequestTimeTooSkewed",
               "The difference between the request time and the current time is too large "
               "(max_clock_skew_s: " + std::to_string(o_.max_clock_skew_s) + " s)");
  }

  auto key = o_.keys.find(a.credential.access_key);
  if (key == o_.keys.end()) {
    return Err("InvalidAccessKeyId",
               "The AWS Access Key Id you provided does not exist in our records");
  }

  // The payload mode.
  std::string_view payload = HeaderOr(h, "x-amz-content-sha256");
  if (presigned) {
    if (payload.empty()) payload = kUnsignedPayload;
  } else if (payload.empty()) {
    return Bad("InvalidRequest",
               "missing required header for this request: x-amz-content-sha256");
  }
  if (payload == kUnsignedPayload) {
    r->payload = PayloadMode::kUnsigned;
  } else if (payload == kStreamingPayload) {
    r->payload = PayloadMode::kStreamingSigned;
  } else if (payload == kStreamingPayloadTrailer) {
    r->payload = PayloadMode::kStreamingSignedTrailer;
  } else if (payload == kStreamingUnsignedTrailer) {
    r->payload = PayloadMode::kStreamingUnsignedTrailer;
  } else {
    std::string raw;
    if (payload.size() != 64 || !Unhex(payload, &raw))
      return Bad("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* "
                                    "value, or the hex SHA-256 of the payload");
    r->payload = PayloadMode::kSha256;
    r->payload_sha256 = Lower(payload);
  }
  if (presigned && r->streaming())
    return Bad("InvalidRequest", "a presigned request cannot carry a streaming payload");

  // The canonical request.
  CanonicalInput in;
  in.method = ex.method_string();
  in.path = r->path;
  if (presigned) {
    in.query.reserve(r->query.size());
    for (const auto& [n, v] : r->query)
      if (n != "X-Amz-Signature") in.query.emplace_back(n, v);
  } else {
    in.query = r->query;
  }
  if (std::find(a.signed_headers.begin(), a.signed_headers.end(), "host") ==
      a.signed_headers.end())
    return Err("AccessDenied", "the host header must be signed");
  for (const std::string& name : a.signed_headers) {
    bool found = false;
    for (const auto& f : h) {
      auto n = f.name_string();
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(), [](char x, char y) {
            return std::tolower(static_cast<unsigned char>(x)) == y;
          })) {
        auto v = f.value();
        in.headers.emplace_back(name, std::string(v.data(), v.size()));
        found = true;
      }
    }
    if (!found)
      return Err("SignatureDoesNotMatch", "the signed header '" + name.substr(0, 64) +
                                              "' is not in the request");
  }
  in.payload_hash = presigned ? std::string_view(kUnsignedPayload) : payload;
  if (presigned && !HeaderOr(h, "x-amz-content-sha256").empty())
    in.payload_hash = HeaderOr(h, "x-amz-content-sha256");
  const std::string canonical = CanonicalRequest(in);
  std::string scope = SigningScope(a.credential.date, a.credential.region, a.credential.service);
  const std::string sts = StringToSign(amz_date, scope, canonical);
  std::string skey = SigningKey(key->second.secret, a.credential.date, a.credential.region, "s3");
  std::string want = Signature(skey, sts);
  // Constant-time comparison: a signature is a secret-derived value.
  if (want.size() != a.signature.size() ||
      CRYPTO_memcmp(want.data(), a.signature.data(), want.size()) != 0)
    return Err("SignatureDoesNotMatch",
               "The request signature we calculated does not match the signature you provided. "
               "Check your key and signing method.");
  r->access_key = key->first;
  r->s3key = &key->second;
  r->signing_key = std::move(skey);
  r->amz_date = std::move(amz_date);
  r->scope = std::move(scope);
  r->signature = std::move(want);
  return Status::OK();
}

}  // namespace cairn::gateway
