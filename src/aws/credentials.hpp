#pragma once
// AWS credentials resolved as the SDKs do: environment, shared config/credentials files with
// profiles (incl. credential_process), container credentials, EC2 IMDSv2. No network call at
// construction; results are cached and refreshed before expiry.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "aws/env.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::net {
class HttpClient;
}

namespace ba::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;         // empty if none
  std::optional<WallTime> expiration;  // nullopt: does not expire
  std::string source;                // "environment", "profile:NAME", "process", "container", "imds", "static"
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Returns cached credentials while they are valid (refreshing ahead of expiry); an Error of kind
  // unauthorized when no source has credentials.
  // Callable from several threads (each on its own executor): concurrent callers while a refresh is in
  // flight wait for that refresh instead of starting another.
  virtual boost::asio::awaitable<Result<Credentials>> get() = 0;
};

// Where settings come from; defaults read the process environment and the user's home.
struct ProviderSettings {
  std::string profile;  // empty: AWS_PROFILE, else "default"
  // Overrides for tests; empty means "read the environment".
  std::optional<std::string> home;
  std::function<std::optional<std::string>(std::string_view)> getenv;  // nullptr: std::getenv
};

std::unique_ptr<CredentialsProvider> make_static_provider(Credentials creds);

// A service's bearer token (API key), as the AWS SDKs read it: AWS_BEARER_TOKEN_<signing name> with the
// name upper-cased and every other character than A-Z 0-9 as '_' (Bedrock: AWS_BEARER_TOKEN_BEDROCK).
// nullopt when unset or empty. The SDKs then authenticate that service's calls with
// `Authorization: Bearer <token>` instead of SigV4; other services keep the credentials chain.
std::string bearer_token_env_name(std::string_view signing_name);
std::optional<std::string> bearer_token_from_env(const GetEnv& env, std::string_view signing_name);
// The default chain. `http` is used for the container and IMDS sources; `clock` for expiry.
std::unique_ptr<CredentialsProvider> make_default_chain(net::HttpClient& http, ProviderSettings settings = {},
                                                        Clock& clock = system_clock());

}  // namespace ba::aws
