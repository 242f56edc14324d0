#pragma once
// AWS Signature Version 4: header (Authorization) and presigned-query forms.
#include <chrono>
#include <string>

#include "aws/credentials.hpp"
#include "net/http_message.hpp"
#include "util/clock.hpp"

namespace ba::aws {

struct SigningParams {
  std::string region;
  std::string service;          // signing name, e.g. "bedrock", "dynamodb", "s3"
  WallTime time;
  bool double_encode_path = true;  // false for S3
  bool normalize_path = true;      // false for S3
  bool sign_body = false;          // add x-amz-content-sha256 (S3)
  std::string payload_hash;        // override (e.g. "UNSIGNED-PAYLOAD"); empty: sha256 of the body
};

struct SigningDetails {  // intermediate values, for tests and debugging
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// Adds X-Amz-Date, X-Amz-Security-Token (if any), Host (if absent) and Authorization to `request`.
SigningDetails sign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params);

// Rewrites request.url with the X-Amz-* query parameters of a presigned URL valid for `expires`.
SigningDetails presign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params,
                               std::chrono::seconds expires);

}  // namespace ba::aws
