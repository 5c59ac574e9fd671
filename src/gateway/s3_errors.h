// S3 errors: every error code the gateway can answer, with its HTTP status, and their XML
// (docs/s3.md, "Errors"). Store errors arrive as a cairn::Status and are mapped through the one
// table (util/status_table.h), refined where the gateway knows more: NotFound becomes NoSuchKey,
// NoSuchBucket or NoSuchUpload by where it was found; LimitExceeded naming max_key_bytes becomes
// KeyTooLongError, naming max_meta_bytes MetadataTooLarge, naming max_object_bytes
// EntityTooLarge. A Status whose message starts with a known S3 code and ": " (the gateway's own
// parsers write them so) keeps that code.
//
// Thread safety: constant data and pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::gateway {

struct S3ErrorCode {
  const char* code;
  unsigned http;
  const char* description;  // the default message
};

// Every code the gateway sends, in alphabetical order (s3_errors_test walks them all).
std::span<const S3ErrorCode> AllS3ErrorCodes();
// The row of `code`, or nullptr.
const S3ErrorCode* FindS3ErrorCode(std::string_view code);
// A code's number for counting (the request metrics): its row's index in AllS3ErrorCodes() + 1
// (0 is success), AllS3ErrorCodes().size() + 1 for a code not in the table.
size_t S3ErrorCodeIndex(std::string_view code);

struct S3Error {
  std::string code;     // e.g. "NoSuchKey"
  unsigned http = 500;
  std::string message;
  std::string resource;  // the request's path
  // Extra elements some errors carry (e.g. <BucketName>, <Key>, <UploadId>), already escaped.
  std::string extra_xml;

  // An error with the code's status. REQUIRES: FindS3ErrorCode(code) != nullptr.
  static S3Error Make(std::string_view code, std::string_view message = {});
};

// What a store Status becomes. `not_found_code` refines NotFound (NoSuchKey by default).
S3Error FromStatus(const Status& s, std::string_view not_found_code = "NoSuchKey");

// <Error><Code/><Message/><Resource/><RequestId/><HostId/></Error>
std::string RenderS3Error(const S3Error& e, std::string_view request_id);

}  // namespace cairn::gateway
