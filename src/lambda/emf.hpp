#pragma once
// CloudWatch embedded metric format (EMF) for the Lambda mode: the API's request log line, with the
// `_aws` metadata and the metric members added, becomes one log line that CloudWatch Logs turns into
// metrics (namespace BedrockAgent, dimension Model). Names and units: docs/lambda.md.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"

namespace ba::lambda {

inline constexpr std::string_view kEmfNamespace = "BedrockAgent";

struct EmfOptions {
  std::string metric_namespace = std::string(kEmfNamespace);
  std::string model_id;  // the Model dimension when the log line names no model
};

// The request log line (one JSON object, as http::ApiContext::log receives it) with EMF metadata and
// metrics added: Latency (Milliseconds), InputTokens, OutputTokens, Throttles, Retries, QueuedMs
// (Milliseconds), BackoffMs (Milliseconds), RateLimited (1 for a 429), Errors (1 for a 5xx), Requests
// (always 1), all dimensioned by Model. nullopt for lines that carry no metrics: not a JSON object,
// not a request line, or the /health and /metrics routes.
std::optional<std::string> emf_from_request_log(std::string_view request_log_line, const EmfOptions& options,
                                                std::int64_t timestamp_ms);

// A sink for http::ApiContext::log: writes each request line as its EMF line (or unchanged when it
// carries no metrics) to `write` (one line, no trailing newline). `clock` nullptr: system_clock().
std::function<void(std::string_view)> make_emf_log_sink(EmfOptions options,
                                                        std::function<void(std::string_view)> write,
                                                        const Clock* clock = nullptr);

}  // namespace ba::lambda
