#pragma once
// The options of `serve` and `lambda`, filled by the command-line parser (cli/app.cpp) and run by
// serve.cpp / lambda_mode.cpp. (`simulate-bedrock` takes the simulator's options: cli/simulate.hpp.)
#include <cstdint>
#include <string>
#include <vector>

#include "bedrock/model_id.hpp"
#include "ratelimit/config.hpp"

#ifndef BA_VERSION
#define BA_VERSION "0.1.0"
#endif

namespace ba::cli {

inline constexpr const char* kDefaultModelId = bedrock::kDefaultModelId;

struct ServeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string model_id = kDefaultModelId;
  // --model-alias NAME=MODEL_ID (repeatable; BEDROCK_AGENT_MODEL_ALIASES: comma-separated): names the
  // compatible APIs (/v1/chat/completions, /v1/messages) accept for a model. The agent calls --model-id
  // and these targets, nothing else.
  std::vector<std::string> model_aliases;
  std::string region;   // empty: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
  std::string profile;  // empty: AWS_PROFILE, else "default"
  // Empty: resolve_history (app_context.hpp) decides: CONVERSATION_TABLE, else sqlite:./data/history.db,
  // or sqlite:/tmp/history.db in Lambda.
  std::string history;
  // Empty: FILES_BUCKET as s3://<bucket>, else ./data/files (/tmp/files in Lambda). PATH or s3://BUCKET[/PREFIX].
  std::string files;
  std::uint64_t max_file_bytes = 20ull * 1024 * 1024;
  int retention_days = 90;      // DynamoDB history TTL (0: none)
  // Empty: BUDGET_TABLE as dynamodb:<table> in Lambda mode, else a per-process budget. dynamodb:TABLE
  // shares the RPM/TPM/daily budgets with every instance configured with the same table.
  std::string shared_budget;
  bool create_missing = false;  // create the DynamoDB table / S3 bucket when absent (dynalite, s3rver, LocalStack)
  std::string api = "converse";
  // --prompt-cache (BEDROCK_AGENT_PROMPT_CACHE): /chat puts prompt-cache points after the system prompt and
  // the history, for models that cache (agent::ChatConfig::prompt_cache). Needs --api converse.
  bool prompt_cache = false;
  // --guardrail ID:VERSION (BEDROCK_AGENT_GUARDRAIL): a Bedrock guardrail on every model call; ID may be an
  // ARN, VERSION is DRAFT or a number. --guardrail-trace (BEDROCK_AGENT_GUARDRAIL_TRACE): enabled,
  // disabled or enabled_full (empty: not sent).
  std::string guardrail;
  std::string guardrail_trace;
  std::string api_keys_file;
  bool allow_anonymous = false;
  bool simulate = false;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_input_chars = 100'000;
  std::size_t history_turns = 20;
  // The default deadline of a /chat call: admission wait + retries + model call (504/429 after). Also the
  // rate limiter's default_deadline (one value). 25 s fits under API Gateway's 29 s.
  int request_timeout_s = 25;
  // On SIGTERM/SIGINT: stop accepting, let chats and streams in flight finish for up to this long, then
  // close their connections and exit (sooner once none is left). Default: the deadline plus 5 s.
  int drain_timeout_s = 30;
  // --idle-timeout (serve): seconds a keep-alive connection may sit idle before the server closes it,
  // announced in `Keep-Alive: timeout=N`. Above a load balancer's own idle timeout (an ALB's is 60 s by
  // default), so that the balancer, which opens connections, is also the one that closes them.
  int idle_timeout_s = 75;
  std::vector<std::string> cors_origins;  // --cors-origin: browser origins allowed to call the API ("*": any)
  // --threads N (BEDROCK_AGENT_THREADS), serve only: io threads, each running its own io_context; a
  // connection stays on one (docs/architecture.md, "Threads"). 0: the number of cores. Lambda: always 1.
  unsigned threads = 0;

  // Rate limiting (docs/rate-limiting.md), per model id + region.
  double max_rpm = 50;                   // --max-rpm, MAX_REQUESTS_PER_MINUTE
  double max_tpm = 0;                    // --max-tpm, MAX_TOKENS_PER_MINUTE (0: unlimited)
  bool max_rpm_auto = false;             // --max-rpm auto[:N]: the applied quota (max_rpm: the fallback)
  bool max_tpm_auto = false;             // --max-tpm auto[:N]
  int quota_refresh_s = 900;             // with auto: how often the quotas are read again
  std::int64_t max_tokens_per_day = 0;   // --max-tokens-per-day, MAX_TOKENS_PER_DAY (0: unlimited)
  double burndown = 0;                   // --burndown (0: the model table's factor)
  int default_max_tokens = 0;            // --default-max-tokens (0: the model table's default)
  int max_tokens_clamp = 0;              // --max-tokens-clamp (0: the model table's maximum)
  int retry_max_attempts = 3;            // including the first try
  int retry_base_ms = 100;
  int retry_throttle_base_ms = 1000;
  int retry_cap_ms = 20'000;
  bool no_adaptive = false;

  // Targets (docs/configuration.md, "Targets"): --target SPEC (repeatable) or --targets-file PATH, one
  // target per line, in the format of ratelimit/targets.hpp. None: one target, --model-id in the region
  // with --max-rpm/--max-tpm (the single-target path, no router).
  std::vector<std::string> targets;
  std::string targets_file;
  int spill_after_ms = 250;             // a target that cannot send within this passes the call on
  int circuit_failures = 5;             // consecutive throttles/5xx that open a target's circuit
  int circuit_cool_down_ms = 30'000;    // open -> a half-open probe after this
};

// The rate-limit configuration the flags describe (overrides keyed by the model id).
ratelimit::RateLimitConfig make_rate_limit_config(const ServeOptions& options);

// The io threads `serve` runs: --threads, else std::thread::hardware_concurrency() (at least 1).
unsigned io_threads(const ServeOptions& options);

// Runs `serve` until SIGINT/SIGTERM. Exit codes: 0 clean shutdown, 1 runtime failure (cannot listen),
// 2 invalid configuration (message on stderr).
int run_serve(const ServeOptions& options);

// Runs the Lambda custom runtime (`lambda`, or no subcommand with AWS_LAMBDA_RUNTIME_API set): builds the
// same app as serve, then the Runtime API loop. A start-up failure is posted as an init error. Exit
// codes: 1 the Runtime API failed or start-up failed, 2 AWS_LAMBDA_RUNTIME_API unset.
int run_lambda(const ServeOptions& options);

}  // namespace ba::cli
