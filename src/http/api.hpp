#pragma once
// The HTTP API as a net::Handler: the same handler serves `bedrock-agent serve` and Lambda mode.
//
//   POST   /chat                 one chat turn (JSON, or Server-Sent Events with "stream": true)
//   POST   /v1/chat/completions  OpenAI's Chat Completions API (stateless; errors in OpenAI's shape)
//   POST   /v1/messages          Anthropic's Messages API (stateless; errors in Anthropic's shape)
//   GET    /conversations/{id}   the conversation's turns, oldest first
//   DELETE /conversations/{id}   removes the conversation (204)
//   /files, /files/{id}, /files/presign   the Files API (http/files_api.hpp)
//   GET    /health               readiness: history store and whether AWS credentials were found
//   GET    /metrics              Prometheus text format
//
// Every response carries x-request-id; every error is {"error": {"type", "message"}} (the compatible
// routes: their API's own shape); one JSON log
// line per request (no message content, no keys, no credentials). See docs/api.md.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/chat_service.hpp"
#include "http/auth.hpp"
#include "net/http_server.hpp"
#include "ratelimit/config.hpp"
#include "store/files.hpp"
#include "store/history.hpp"
#include "util/clock.hpp"

namespace ba::metrics {
class Registry;
}

namespace ba::http {

struct ApiConfig {
  std::size_t body_limit = 1024 * 1024;              // larger request bodies get 413
  // The body limit of the Files API routes (POST /files carries base64: 4/3 of the file). The server's
  // own limit (net::ServerOptions::body_limit) must be at least max(body_limit, files_body_limit).
  std::size_t files_body_limit = 28 * 1024 * 1024;
  std::chrono::seconds presign_expiry{900};          // POST /files/presign URLs
  // The default deadline of a /chat call (admission wait + retries + the model call). Keep it the same
  // value as ratelimit::RateLimitConfig::default_deadline (serve sets both from --request-timeout) and
  // under API Gateway's 29 s. A caller may shorten it with `X-Request-Timeout-Ms: N`.
  std::chrono::milliseconds request_timeout{25'000};
  // Reported by /health (and nothing else):
  std::string version;
  std::string model_id;
  std::string region;
  std::string api = "converse";
  std::string history = "sqlite";       // backend description, e.g. "sqlite:./data/history.db"
  std::string budget = "per_process";   // where the rate-limit budget lives: per_process or dynamodb:TABLE
  std::string credentials_source;       // where AWS credentials were found at start-up; empty: none found
  std::string credentials_hint;         // shown by /health when none were found
  // Lambda mode: honour `x-ba-deadline-ms` (absolute Unix ms, set by our Lambda adapter from the
  // invocation's deadline). Never set this when callers can send that header themselves.
  bool trust_lambda_headers = false;
  // Browser origins (scheme://host[:port], exact match; "*": any) whose pages may call the API: their
  // requests get Access-Control-Allow-Origin and their preflights (OPTIONS) a 204. Empty: no CORS at all.
  std::vector<std::string> cors_origins;
  // The rate-limit configuration, shown by /health when set (budgets, retries, max_tokens policy).
  std::optional<ratelimit::RateLimitConfig> rate_limit;
};

// One routing target as GET /health shows it (--target / --targets-file; docs/operations.md).
struct TargetHealth {
  std::string model_id, region;
  std::string circuit;       // "closed", "open" or "half_open"
  bool in_rotation = true;   // false: its model was reported missing in its region
  double rpm = 0, tpm = 0;   // the budgets in force
  std::string rpm_source, tpm_source;  // with auto budgets: "quota L-..." or "fallback"; else empty
  double weight = 1;
};

struct ApiContext {
  agent::ChatService& chat;
  store::HistoryStore& history;
  const ApiKeys& keys;  // empty: no authentication, every caller is "anonymous"
  ApiConfig config;
  metrics::Registry* metrics = nullptr;  // nullptr: GET /metrics renders nothing
  // Receives one JSON object per request (no trailing newline); nullptr: a line on stderr.
  std::function<void(std::string_view)> log;
  Clock* clock = nullptr;  // nullptr: system_clock()
  // The Files API's store (also the ChatService's, for "files" on /chat); nullptr: /files answers 501.
  // (No idempotency store here: Idempotency-Key is the chat use case's, given to the ChatService.)
  store::FileStore* files = nullptr;
  // The routing targets' state for /health; empty: no targets (one model in one region).
  std::function<std::vector<TargetHealth>()> targets;
};

// `context` must outlive the handler.
net::Handler make_api_handler(ApiContext& context);

// The JSON error body for limits the server enforces itself (ServerOptions::error_response).
net::ServerResponse server_error_response(int status, std::string_view type, std::string_view message);

// Writes a JSON log line to stderr (the default sink).
void log_to_stderr(std::string_view line);

}  // namespace ba::http
