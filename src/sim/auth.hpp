#pragma once
// Request authentication as Bedrock Runtime answers it: SigV4 (verified when credentials are
// configured) or a Bedrock API key (Authorization: Bearer ...).
#include <chrono>
#include <optional>
#include <string>

#include "net/http_server.hpp"
#include "util/clock.hpp"

namespace ba::sim {

struct AuthConfig {
  // When both are set, SigV4 signatures are verified against them; otherwise any Authorization of the
  // right shape is accepted (but one is required).
  std::string access_key_id;
  std::string secret_access_key;
  std::string api_key;        // when set, "Bearer <api_key>" is the only accepted bearer token
  std::string region;         // when set, the credential scope's region must match
  std::string service = "bedrock";
  std::chrono::minutes max_skew{5};
};

// An AWS authentication failure: HTTP status, error type and message, as AWS's front end sends them.
struct AuthFailure {
  int status = 403;
  std::string type;  // e.g. InvalidSignatureException
  std::string message;
};

// The namespace AWS's front end puts after the error type in x-amzn-ErrorType for auth failures.
inline constexpr const char* kCoralServiceNamespace = "http://internal.amazon.com/coral/com.amazon.coral.service/";

// nullopt when the request is authenticated.
std::optional<AuthFailure> check_auth(const net::ServerRequest& request, const AuthConfig& config, WallTime now);

}  // namespace ba::sim
