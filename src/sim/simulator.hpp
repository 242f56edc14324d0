#pragma once
// `bedrock-agent simulate-bedrock`: a local server speaking Bedrock Runtime's wire protocol
// (Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream) with deterministic synthetic
// replies, configurable latency, Bedrock-style quotas and injected faults. See docs/simulator.md.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_server.hpp"
#include "sim/service_quotas.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::sim {

enum class FaultKind {
  none,
  throttle,          // 429 ThrottlingException "Too many requests, ..."
  throttle_tokens,   // 429 ThrottlingException "Too many tokens, ..."
  throttle_daily,    // 429 ThrottlingException "Too many tokens per day, ..."
  internal,          // 500 InternalServerException
  unavailable,       // 503 ServiceUnavailableException
  model_timeout,     // 408 ModelTimeoutException (after SimulatorOptions::timeout_fault_delay)
  model_not_ready,   // 429 ModelNotReadyException
  model_error,       // 424 ModelErrorException
  access_denied,     // 403 AccessDeniedException
  not_found,         // 404 ResourceNotFoundException
  service_quota,     // 400 ServiceQuotaExceededException
  validation,        // 400 ValidationException
  drop,              // the connection is closed without a response
  drop_mid_stream,   // streaming operations: the connection is cut half-way (mid-frame)
  stream_exception,  // streaming operations: an exception frame half-way (Fault::exception_type)
};

struct Fault {
  FaultKind kind = FaultKind::none;
  std::string exception_type;  // stream_exception: lowerCamel, e.g. "modelStreamErrorException"
  bool operator==(const Fault&) const = default;
};

// Parses the names used by the x-sim-fault header, the script and the CLI:
// throttle | throttle-tokens | throttle-daily | 500 | 503 | timeout | model-not-ready | model-error |
// access-denied | not-found | service-quota | validation | drop | drop-mid-stream |
// stream-exception:<lowerCamelType>.
std::optional<Fault> parse_fault(std::string_view text);
std::string to_string(const Fault& fault);

struct SimulatorOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: ephemeral
  std::size_t body_limit = 25'000'000;  // Bedrock's InvokeModel body limit

  // Replies.
  std::uint64_t seed = 1;
  std::int64_t reply_tokens = 20;          // output tokens when the request asks for none ("[[tokens=N]]")
  std::int64_t default_max_tokens = 4096;  // Converse without inferenceConfig.maxTokens (Bedrock: the model max)
  bool echo = true;                        // "echo:<text>" in the last user message replies <text>

  // Latency (timers, never a blocked thread). Reported latencyMs = ttft + tokens x per_token.
  std::chrono::milliseconds ttft{0};
  std::chrono::milliseconds per_token{0};
  std::chrono::milliseconds timeout_fault_delay{0};  // wait before a ModelTimeoutException fault

  // When not empty, the only model ids this simulator (this "region") serves; any other gets Bedrock's
  // 400 ValidationException "The provided model identifier is invalid.", as a model not offered in a
  // region does.
  std::vector<std::string> models;

  // Quotas per model id (0: none); see sim/quota.hpp for the charging rule.
  std::int64_t rpm = 0;
  std::int64_t tpm = 0;
  std::int64_t tokens_per_day = 0;
  double burndown = 1.0;
  double burst_seconds = 60;  // RPM/TPM bucket capacity in seconds of the rate (> 0; Bedrock's are shorter)

  // Faults: a probability per fault, a script consumed in order ("the next N requests get X"), and the
  // per-request header `x-sim-fault` (a simulator-only test hook).
  std::vector<std::pair<Fault, double>> fault_rates;
  std::vector<std::pair<Fault, int>> fault_script;
  bool fault_header = true;

  // Authentication: SigV4 is verified when both are set; otherwise any well-formed Authorization passes.
  std::string access_key_id;
  std::string secret_access_key;
  std::string api_key;  // when set, the accepted Bedrock API key (Authorization: Bearer ...)
  std::string region;   // when set, the credential scope must name it

  // Guardrails: a request that names one (Converse guardrailConfig, InvokeModel's
  // X-Amzn-Bedrock-GuardrailIdentifier/-GuardrailVersion headers) and whose last user message contains
  // guardrail_trigger (case-insensitive) is blocked as Bedrock blocks it: the text is guardrail_message,
  // no output tokens, Converse stopReason guardrail_intervened (InvokeModel: "amazon-bedrock-guardrailAction":
  // "INTERVENED"), and with trace enabled a trace.guardrail assessment naming the word.
  std::string guardrail_trigger = "forbidden";
  std::string guardrail_message = "Sorry, the model cannot answer this question.";
  // The Service Quotas API on the same port (sim/service_quotas.hpp): the bedrock quotas it lists; empty:
  // default_service_quotas(rpm, tpm).
  std::vector<ServiceQuota> service_quotas;

  // Time for quotas and signature expiry; nullptr: the system clock. Must outlive the simulator.
  const Clock* clock = nullptr;
};

struct SimStats {
  std::map<std::string, std::uint64_t> requests;  // by operation: Converse, ConverseStream, InvokeModel, ...
  std::uint64_t requests_total = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t throttled = 0;                     // quota throttles and throttle faults
  std::map<std::string, std::uint64_t> faults;     // injected, by fault name
  std::uint64_t auth_failures = 0;
  std::uint64_t validation_errors = 0;             // malformed requests (not injected)
  std::int64_t input_tokens = 0;                   // settled usage of admitted requests
  std::int64_t output_tokens = 0;
  std::int64_t in_flight = 0;
  std::int64_t peak_in_flight = 0;
  std::map<std::string, std::uint64_t> content_blocks;  // Converse blocks other than text received, by kind
  std::uint64_t guardrail_interventions = 0;           // requests a guardrail blocked
  // Authenticated requests by scheme: "sigv4" or "bearer" (a Bedrock API key).
  std::map<std::string, std::uint64_t> auth_schemes;
  // Bearer requests that also carried a SigV4 header (X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256):
  // a client using an API key should send none.
  std::uint64_t bearer_with_sigv4_headers = 0;
  std::uint64_t service_quotas_calls = 0;  // Service Quotas API calls (not in requests_total)
};
std::string to_json(const SimStats& stats);

class Simulator {
 public:
  virtual ~Simulator() = default;
  // Binds (SimulatorOptions host/port) and serves on the io_context; returns the bound port.
  virtual Result<std::uint16_t> start() = 0;
  virtual void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{2000}) = 0;
  virtual std::uint16_t port() const = 0;

  virtual SimStats stats() const = 0;
  // Clears stats, quota buckets and the fault script (also POST /sim/reset).
  virtual void reset() = 0;
  // The next `count` requests to the model API get `fault` (also POST /sim/fault?kind=..&count=..).
  virtual void script_fault(Fault fault, int count) = 0;

  // Replaces the Service Quotas catalogue (also POST /sim/service-quota?code=L-..&value=N for one value).
  virtual void set_service_quotas(std::vector<ServiceQuota> quotas) = 0;
  // The next `count` Service Quotas calls answer 403 AccessDeniedException.
  virtual void fail_service_quotas(int count) = 0;

  // The net::Handler the server runs (exposed for in-process tests).
  virtual boost::asio::awaitable<net::ServerResponse> handle(net::ServerRequest& request) = 0;
};

std::unique_ptr<Simulator> make_simulator(boost::asio::io_context& io, SimulatorOptions options);

}  // namespace ba::sim
