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
  // Added: the session token is added to the request after signing and is not itself signed
  // (the test suite's omit_session_token; some services such as IoT expect this).
  bool omit_session_token = false;
};

struct SigningDetails {  // intermediate values, for tests and debugging
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// request.url holds the path percent-encoded once (as sent on the wire). For non-S3 services the canonical
// URI is that path normalized (dot segments and empty segments removed) and encoded a second time; for
// S3 it is the path as is. The canonical query percent-decodes then re-encodes every key and value.
// Headers that proxies change (user-agent, connection, transfer-encoding, expect, ...) are not signed.
//
// Adds X-Amz-Date, X-Amz-Security-Token (if any), Host (if absent) and Authorization to `request`.
SigningDetails sign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params);

// Rewrites request.url with the X-Amz-* query parameters of a presigned URL valid for `expires`.
// x-amz-* headers are moved into the query first (as the SDKs do); the body is not hashed into a header.
SigningDetails presign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params,
                               std::chrono::seconds expires);

}  // namespace ba::aws
