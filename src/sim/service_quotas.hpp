#pragma once
// The simulator's Service Quotas API (JSON 1.1, X-Amz-Target: ServiceQuotasV20190624.<Op>, SigV4 signing
// name "servicequotas"), served on the same port as Bedrock Runtime (POST / with that header): what
// `--max-rpm auto` / `--max-tpm auto` read. ListServiceQuotas (paginated), GetServiceQuota and
// ListAWSDefaultServiceQuotas for ServiceCode "bedrock"; other service codes have no quotas.
// docs/simulator.md, "Service Quotas".
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.hpp"

namespace ba::sim {

struct ServiceQuota {
  std::string code;   // "L-..."
  std::string name;   // e.g. "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Haiku"
  double value = 0;   // applied
  double default_value = -1;  // ListAWSDefaultServiceQuotas; < 0: the applied value
};

// The catalogue a simulator serves when none is configured: for a few models (Claude 3 Haiku, 3.5 Haiku,
// Sonnet 4, Amazon Nova Pro), the On-demand, Cross-Region and Global cross-Region requests and tokens per
// minute quotas, valued `rpm` / `tpm` (when > 0, else 200 and 200,000). Codes are stable per name.
std::vector<ServiceQuota> default_service_quotas(std::int64_t rpm, std::int64_t tpm);

// "L-" and 8 hex digits derived from the name (stable).
std::string quota_code_for(std::string_view name);

// Answers one Service Quotas call (authentication already checked). `region` fills the quota ARNs.
net::ServerResponse serve_service_quotas(const net::ServerRequest& request, std::string_view operation,
                                         const std::vector<ServiceQuota>& quotas, std::string_view region,
                                         const std::string& request_id);

}  // namespace ba::sim
