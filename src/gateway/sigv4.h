// AWS Signature Version 4 for the S3 gateway (docs/s3.md, "Authentication"): the pure parts.
// Canonical requests, strings to sign, signing keys, the Authorization header and presigned
// query parsers, and the chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies. No I/O;
// the gateway (s3_auth.h) decides which key, which clock and what to refuse.
//
// Written from the S3 API reference ("Authenticating Requests (AWS Signature Version 4)") and
// checked against its worked examples in sigv4_test.cc.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn::gateway {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingPayloadTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ---- Digests (OpenSSL EVP) -----------------------------------------------------------------

std::string Sha256(std::string_view data);  // 32 raw bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string Hex(std::string_view raw);  // lowercase
// Decodes hex (either case); false on odd length or a non-hex digit.
bool Unhex(std::string_view hex, std::string* raw);
std::string Base64(std::string_view raw);
// Strict: padding required, no whitespace; false otherwise.
bool Unbase64(std::string_view text, std::string* raw);

// An incremental SHA-256 (for a payload hash checked as the body streams).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(const char* p, size_t n);
  std::string Final();  // 32 raw bytes; the stream is then reset

 private:
  void* ctx_;
};

// ---- Encoding ------------------------------------------------------------------------------

// SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase); '/' is kept
// when `keep_slash` (the path), encoded otherwise (query names and values).
std::string UriEncode(std::string_view s, bool keep_slash);
// Percent-decoding of a path or a query component ('+' is kept as '+'; S3 clients encode a
// space as %20). False on a malformed escape.
bool UriDecode(std::string_view s, std::string* out);

// The query string split into (name, value) pairs, each decoded, in the order sent. A pair
// with no '=' has an empty value. False on a malformed escape.
bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out);

// ---- Canonical request ---------------------------------------------------------------------

struct CanonicalInput {
  std::string_view method;
  std::string_view path;  // decoded (e.g. "/bucket/my key"); encoded here
  // Decoded query pairs, any order; for a presigned request without X-Amz-Signature.
  std::vector<std::pair<std::string, std::string>> query;
  // The signed headers, lowercase names, values as received (trimmed and folded here).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload_hash;  // hex, or UNSIGNED-PAYLOAD, or a STREAMING-... value
};

std::string CanonicalRequest(const CanonicalInput& in);
std::string SigningScope(std::string_view date, std::string_view region, std::string_view service);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// HMAC chain from "AWS4" + secret over date, region, service and "aws4_request".
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
// Hex HMAC-SHA256 of the string to sign with the signing key.
std::string Signature(std::string_view signing_key, std::string_view string_to_sign);

// The string to sign of one chunk of a signed streaming body: "AWS4-HMAC-SHA256-PAYLOAD",
// the date, the scope, the previous signature, the SHA-256 of "" and of the chunk's data.
std::string ChunkStringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view previous_signature, std::string_view chunk_sha256_hex);
// The trailer's string to sign (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
std::string TrailerStringToSign(std::string_view amz_date, std::string_view scope,
                                std::string_view previous_signature,
                                std::string_view trailer_sha256_hex);

// ---- What a request carries ----------------------------------------------------------------

struct Credential {
  std::string access_key;
  std::string date;     // YYYYMMDD
  std::string region;
  std::string service;  // "s3"
  std::string terminal; // "aws4_request"
};

struct SignedRequestAuth {
  Credential credential;
  std::vector<std::string> signed_headers;  // lowercase, as listed
  std::string signature;                    // 64 lowercase hex digits
};

// "AKID/20130524/us-east-1/s3/aws4_request". InvalidArgument naming what is wrong.
Status ParseCredential(std::string_view text, Credential* out);
// The value of an Authorization header: "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." (comma, optional spaces). InvalidArgument naming what is wrong.
Status ParseAuthorizationHeader(std::string_view value, SignedRequestAuth* out);
// The SignedHeaders list: lowercase names separated by ';', sorted, no duplicates.
Status ParseSignedHeaders(std::string_view text, std::vector<std::string>* out);

// ---- Signing (the client side: tests, `cairn bench --s3`) ----------------------------------

struct SignerKey {
  std::string access_key;
  std::string secret;
  std::string region = "us-east-1";
};

// Adds x-amz-date and x-amz-content-sha256 (= payload_hash) to `headers` and returns the
// Authorization header's value for the request. `headers` must hold host; every header in it
// is signed.
std::string SignRequest(const SignerKey& key, int64_t now_s, std::string_view method,
                        std::string_view path, const std::vector<std::pair<std::string, std::string>>& query,
                        std::vector<std::pair<std::string, std::string>>* headers,
                        std::string_view payload_hash);
// A presigned URL's query string (encoded, with X-Amz-Signature) for `method path`, signing
// only the host header.
std::string PresignQuery(const SignerKey& key, int64_t now_s, int64_t expires_s,
                         std::string_view method, std::string_view path, std::string_view host);

// ISO 8601 basic "20130524T000000Z" to seconds since the epoch; false if malformed.
bool ParseAmzDate(std::string_view text, int64_t* seconds);
// An RFC 7231 date ("Fri, 24 May 2013 00:00:00 GMT", or the obsolete RFC 850 and asctime
// forms) to seconds since the epoch; false if malformed.
bool ParseHttpDate(std::string_view text, int64_t* seconds);
std::string FormatHttpDate(int64_t seconds);  // "Fri, 24 May 2013 00:00:00 GMT"
std::string FormatIso8601(int64_t micros);    // "2013-05-24T00:00:00.000Z"
std::string FormatAmzDate(int64_t seconds);   // "20130524T000000Z"

}  // namespace cairn::gateway
