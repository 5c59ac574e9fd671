#include "gateway/s3_errors.h"

#include <algorithm>
#include <array>

#include "gateway/s3_xml.h"
#include "util/check.h"
#include "util/status_table.h"

namespace cairn::gateway {
namespace {

// The S3 API reference's "List of error codes", those the gateway can send, plus the statuses
// the one Status table maps to (InsufficientStorage for NoSpace).
constexpr std::array<S3ErrorCode, 50> kCodes = {{
    {"AccessDenied", 403, "Access Denied"},
    {"AuthorizationHeaderMalformed", 400, "The authorization header is malformed"},
    {"AuthorizationQueryParametersError", 400, "The presigned query parameters are malformed"},
    {"BadDigest", 400, "The Content-MD5 or checksum you specified did not match what was received"},
    {"BucketAlreadyExists", 409, "The requested bucket name is not available"},
    {"BucketAlreadyOwnedByYou", 409, "The bucket you tried to create already exists, and you own it"},
    {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
    {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size"},
    {"EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size"},
    {"IllegalLocationConstraintException", 400, "The location constraint is not valid"},
    {"IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header"},
    {"InsufficientStorage", 507, "The store has no space left"},
    {"InternalError", 500, "We encountered an internal error. Please try again."},
    {"InvalidAccessKeyId", 403, "The AWS access key ID you provided does not exist in our records"},
    {"InvalidArgument", 400, "Invalid Argument"},
    {"InvalidBucketName", 400, "The specified bucket is not valid"},
    {"InvalidDigest", 400, "The Content-MD5 or checksum you specified is not valid"},
    {"InvalidPart", 400, "One or more of the specified parts could not be found"},
    {"InvalidPartNumber", 416, "The requested partnumber is not satisfiable"},
    {"InvalidPartOrder", 400, "The list of parts was not in ascending order"},
    {"InvalidRange", 416, "The requested range is not satisfiable"},
    {"InvalidRequest", 400, "Invalid Request"},
    {"InvalidStorageClass", 400, "The storage class you specified is not valid"},
    {"KeyTooLongError", 400, "Your key is too long"},
    {"MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema"},
    {"MaxMessageLengthExceeded", 400, "Your request was too big"},
    {"MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size"},
    {"MethodNotAllowed", 405, "The specified method is not allowed against this resource"},
    {"MissingContentLength", 411, "You must provide the Content-Length HTTP header"},
    {"MissingSecurityHeader", 400, "Your request is missing a required header"},
    {"NoSuchBucket", 404, "The specified bucket does not exist"},
    {"NoSuchBucketPolicy", 404, "The bucket policy does not exist"},
    {"NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"},
    {"NoSuchKey", 404, "The specified key does not exist"},
    {"NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist"},
    {"NoSuchTagSet", 404, "The TagSet does not exist"},
    {"NoSuchUpload", 404, "The specified multipart upload does not exist"},
    {"NoSuchVersion", 404, "The specified version does not exist"},
    {"NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration"},
    {"NotImplemented", 501, "A header or query you provided implies functionality that is not implemented"},
    {"ObjectLockConfigurationNotFoundError", 404, "Object Lock configuration does not exist for this bucket"},
    {"PreconditionFailed", 412, "At least one of the preconditions you specified did not hold"},
    {"RequestHeaderSectionTooLarge", 400, "Your request header section exceeds the maximum allowed size"},
    {"RequestTimeTooSkewed", 403, "The difference between the request time and the server's time is too large"},
    {"RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period"},
    {"ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found"},
    {"ServiceUnavailable", 503, "Please reduce your request rate"},
    {"SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided"},
    {"SlowDown", 503, "Please reduce your request rate"},
    {"XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed"},
}};

constexpr bool Sorted() {
  for (size_t i = 1; i < kCodes.size(); i++)
    if (!(std::string_view(kCodes[i - 1].code) < std::string_view(kCodes[i].code))) return false;
  return true;
}
static_assert(Sorted(), "kCodes must be in alphabetical order");

}  // namespace

std::span<const S3ErrorCode> AllS3ErrorCodes() { return kCodes; }

const S3ErrorCode* FindS3ErrorCode(std::string_view code) {
  auto it = std::lower_bound(kCodes.begin(), kCodes.end(), code,
                             [](const S3ErrorCode& r, std::string_view c) { return r.code < c; });
  return it != kCodes.end() && it->code == code ? &*it : nullptr;
}

size_t S3ErrorCodeIndex(std::string_view code) {
  const S3ErrorCode* row = FindS3ErrorCode(code);
  return row != nullptr ? static_cast<size_t>(row - kCodes.data()) + 1 : kCodes.size() + 1;
}

S3Error S3Error::Make(std::string_view code, std::string_view message) {
  const S3ErrorCode* row = FindS3ErrorCode(code);
  CAIRN_CHECK(row != nullptr);
  S3Error e;
  e.code = row->code;
  e.http = row->http;
  e.message = message.empty() ? std::string(row->description) : std::string(message);
  return e;
}

S3Error FromStatus(const Status& s, std::string_view not_found_code) {
  const std::string& m = s.message();
  // "<S3Code>: why" from the gateway's own parsers.
  if (size_t colon = m.find(": "); colon != std::string::npos && colon < 48) {
    if (FindS3ErrorCode(std::string_view(m).substr(0, colon)) != nullptr)
      return S3Error::Make(std::string_view(m).substr(0, colon), std::string_view(m).substr(colon + 2));
  }
  if (s.IsNotFound()) return S3Error::Make(not_found_code, m);
  if (s.IsLimitExceeded()) {
    if (m.starts_with("max_key_bytes")) return S3Error::Make("KeyTooLongError", m);
    if (m.starts_with("max_meta_bytes")) return S3Error::Make("MetadataTooLarge", m);
    if (m.starts_with("max_object_bytes") || m.find("max_object_bytes") != std::string::npos)
      return S3Error::Make("EntityTooLarge", m);
  }
  const StatusRow* row = FindStatusRow(s.code());
  if (row == nullptr || row->s3[0] == '\0') return S3Error::Make("InternalError", m);
  return S3Error::Make(row->s3, m);
}

std::string RenderS3Error(const S3Error& e, std::string_view request_id) {
  XmlWriter w("Error", /*with_namespace=*/false);
  w.Leaf("Code", e.code);
  w.Leaf("Message", e.message);
  if (!e.resource.empty()) w.Leaf("Resource", e.resource);
  w.Leaf("RequestId", request_id);
  w.Leaf("HostId", request_id);
  std::string doc = w.Finish();
  if (!e.extra_xml.empty()) doc.insert(doc.size() - std::string_view("</Error>").size(), e.extra_xml);
  return doc;
}

}  // namespace cairn::gateway
