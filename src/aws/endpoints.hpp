#pragma once
// Endpoint and region resolution with the SDKs' conventions:
// AWS_ENDPOINT_URL_<SERVICE> (service id upper-cased, spaces/dashes to '_'), then AWS_ENDPOINT_URL,
// then https://{prefix}.{region}.amazonaws.com. Region: explicit, AWS_REGION, AWS_DEFAULT_REGION,
// then the profile's `region` in the shared config file.
#include <optional>
#include <string>
#include <string_view>

#include "aws/env.hpp"

namespace ba::aws {

// service_id as in the SDKs, e.g. "Bedrock Runtime" -> AWS_ENDPOINT_URL_BEDROCK_RUNTIME, "DynamoDB", "S3".
std::string resolve_endpoint(std::string_view service_id, std::string_view endpoint_prefix, std::string_view region,
                             const GetEnv& env = process_env());

// S3: an override (AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL) means an S3-compatible server
// (s3rver, MinIO, LocalStack): path-style addressing (http://host:port/BUCKET/KEY). Without one, AWS:
// https://s3.{region}.amazonaws.com with virtual-hosted addressing (https://BUCKET.s3.{region}...).
struct S3Endpoint {
  std::string url;  // no trailing '/'
  bool path_style = false;
};
S3Endpoint resolve_s3_endpoint(std::string_view region, const GetEnv& env = process_env());

// Empty string when no region is configured anywhere.
std::string resolve_region(std::string_view explicit_region, std::string_view profile, const GetEnv& env = process_env());

}  // namespace ba::aws
