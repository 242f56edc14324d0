#pragma once
// A Service Quotas client (JSON 1.1: POST / with X-Amz-Target: ServiceQuotasV20190624.<Op>, SigV4
// signing name "servicequotas", endpoint https://servicequotas.<region>.amazonaws.com or
// AWS_ENDPOINT_URL_SERVICE_QUOTAS / AWS_ENDPOINT_URL). Only what `--max-rpm auto` / `--max-tpm auto`
// need: the applied quota values of one service (ListServiceQuotas, every page). docs/configuration.md,
// "Quotas from the account".
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/endpoints.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::net {
class HttpClient;
}

namespace ba::aws {
class CredentialsProvider;
}

namespace ba::aws::service_quotas {

inline constexpr std::string_view kTargetPrefix = "ServiceQuotasV20190624.";
inline constexpr std::string_view kContentType = "application/x-amz-json-1.1";
inline constexpr std::string_view kSigningName = "servicequotas";

struct Quota {
  std::string code;  // QuotaCode, e.g. "L-1234ABCD"
  std::string name;  // QuotaName
  double value = 0;  // Value: the applied value (ListServiceQuotas / GetServiceQuota)
  std::string unit;  // Unit, e.g. "None"
};

std::string resolve_service_quotas_endpoint(std::string_view region, const GetEnv& env = process_env());

// The body of a ListServiceQuotas request, members in the order the official client writes them
// (the service model's: ServiceCode, NextToken, MaxResults).
std::string list_service_quotas_body(std::string_view service_code, std::optional<int> max_results,
                                     std::string_view next_token = {});

// One ListServiceQuotas page: quotas and NextToken (empty on the last page). Errors: upstream on a
// response that is not the documented shape.
struct Page {
  std::vector<Quota> quotas;
  std::string next_token;
};
Result<Page> parse_list_service_quotas(std::string_view body);

struct ClientConfig {
  std::string region;    // signing region (quotas are per region: the region whose quotas are read)
  std::string endpoint;  // base URL
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds read_timeout{10'000};
  int max_pages = 50;    // a safety stop for a NextToken that never ends
};

class Client {
 public:
  // Throws std::invalid_argument when region or endpoint is missing or not an http(s) URL.
  // `http`, `credentials` and `clock` must outlive the client.
  Client(net::HttpClient& http, CredentialsProvider& credentials, ClientConfig config, const Clock& clock = system_clock());

  // Every applied quota of `service_code` (all pages, 100 per page). No retries: the caller falls back.
  boost::asio::awaitable<Result<std::vector<Quota>>> list_service_quotas(std::string service_code);

  const ClientConfig& config() const { return config_; }

 private:
  boost::asio::awaitable<Result<std::string>> call(std::string_view operation, std::string body);

  net::HttpClient& http_;
  CredentialsProvider& credentials_;
  ClientConfig config_;
  const Clock& clock_;
};

}  // namespace ba::aws::service_quotas
