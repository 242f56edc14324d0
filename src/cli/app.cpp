#include "cli/app.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cli/options.hpp"
#include "cli/simulate.hpp"
#include "deploy/deploy.hpp"
#include "ratelimit/targets.hpp"

namespace ba::cli {
namespace {

// "NAME=VALUE" pairs for the simulator's fault options.
template <class V>
std::vector<std::pair<sim::Fault, V>> parse_fault_pairs(const std::vector<std::string>& items, const char* flag) {
  std::vector<std::pair<sim::Fault, V>> out;
  for (const auto& item : items) {
    auto eq = item.rfind('=');
    if (eq == std::string::npos) throw CLI::ValidationError(flag, "expected FAULT=VALUE, got '" + item + "'");
    auto fault = sim::parse_fault(item.substr(0, eq));
    if (!fault) throw CLI::ValidationError(flag, "unknown fault '" + item.substr(0, eq) + "'");
    V value{};
    try {
      if constexpr (std::is_same_v<V, double>) {
        value = std::stod(item.substr(eq + 1));
        if (value < 0 || value > 1) throw std::out_of_range("p");
      } else {
        value = std::stoi(item.substr(eq + 1));
        if (value < 1) throw std::out_of_range("n");
      }
    } catch (const std::exception&) {
      throw CLI::ValidationError(flag, std::string("bad value in '") + item + "'" +
                                           (std::is_same_v<V, double> ? " (a probability 0..1)" : " (a count >= 1)"));
    }
    out.emplace_back(*fault, value);
  }
  return out;
}

// `serve` and `lambda` share every option but the listening ones (Lambda has no port and API Gateway
// authenticates).
void add_serve(CLI::App& app, ServeOptions& o, bool lambda = false) {
  if (!lambda) {
    app.add_option("--host", o.host, "Address to listen on")->envname("BEDROCK_AGENT_HOST")->capture_default_str();
    app.add_option("--port", o.port, "Port to listen on (0: an ephemeral port, printed in the startup log line)")
        ->envname("BEDROCK_AGENT_PORT")
        ->capture_default_str();
  }
  app.add_option("--model-id", o.model_id, "Bedrock model: base id, cross-region inference profile id or ARN")
      ->envname("BEDROCK_MODEL_ID")
      ->capture_default_str();
  app.add_option("--model-alias", o.model_aliases,
                 "NAME=MODEL_ID: a model name the OpenAI- and Anthropic-compatible routes accept (repeatable); the "
                 "agent calls --model-id and these models only")
      ->envname("BEDROCK_AGENT_MODEL_ALIASES")
      ->delimiter(',');
  app.add_option("--region", o.region,
                 "AWS region (else AWS_DEFAULT_REGION, the profile's region, then us-east-1)")
      ->envname("AWS_REGION");
  app.add_option("--profile", o.profile, "AWS shared-config profile for credentials and region")
      ->envname("AWS_PROFILE");
  app.add_option("--history", o.history,
                 "Conversation history store: sqlite:PATH, dynamodb:TABLE or none (nothing stored; default: the "
                 "CONVERSATION_TABLE table when set, else sqlite:./data/history.db; in Lambda sqlite:/tmp/history.db)")
      ->envname("BEDROCK_AGENT_HISTORY");
  app.add_option("--files", o.files,
                 "File store: a folder or s3://BUCKET[/PREFIX] (default: s3://$FILES_BUCKET when set, else "
                 "./data/files; in Lambda /tmp/files)")
      ->envname("BEDROCK_AGENT_FILES");
  app.add_option("--max-file-bytes", o.max_file_bytes, "Largest file accepted by the Files API (413 above)")
      ->envname("BEDROCK_AGENT_MAX_FILE_BYTES")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{5} << 30))
      ->capture_default_str();
  app.add_option("--retention-days", o.retention_days, "DynamoDB history: days a turn is kept (TTL; 0: forever)")
      ->envname("RETENTION_DAYS")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
  app.add_option("--shared-budget", o.shared_budget,
                 "Share the rate-limit budgets with every instance using the same DynamoDB table: dynamodb:TABLE "
                 "(default: per process; in Lambda the BUDGET_TABLE table when set)")
      ->envname("BEDROCK_AGENT_SHARED_BUDGET");
  app.add_flag("--create-missing", o.create_missing,
               "Create the DynamoDB table and the S3 bucket when absent (dynalite, s3rver, LocalStack)")
      ->envname("BEDROCK_AGENT_CREATE_MISSING");
  app.add_option("--api", o.api, "Bedrock API: converse (any model) or invoke (Claude, Titan Text)")
      ->envname("BEDROCK_AGENT_API")
      ->check(CLI::IsMember({"converse", "invoke"}))
      ->capture_default_str();
  app.add_flag("--prompt-cache", o.prompt_cache,
               "/chat: prompt-cache points after the system prompt and the history (models that cache)")
      ->envname("BEDROCK_AGENT_PROMPT_CACHE");
  app.add_option("--guardrail", o.guardrail,
                 "ID:VERSION of a Bedrock guardrail applied to every model call (ID or ARN; VERSION: DRAFT or a number)")
      ->envname("BEDROCK_AGENT_GUARDRAIL");
  app.add_option("--guardrail-trace", o.guardrail_trace, "The guardrail's trace: enabled, disabled or enabled_full")
      ->envname("BEDROCK_AGENT_GUARDRAIL_TRACE")
      ->check(CLI::IsMember({"enabled", "disabled", "enabled_full"}));
  if (!lambda) {
    app.add_option("--api-keys-file", o.api_keys_file,
                   "File of API keys, one per line ('#' comments); callers then need Authorization: Bearer <key>")
        ->envname("BEDROCK_AGENT_API_KEYS_FILE");
    app.add_flag("--allow-anonymous", o.allow_anonymous,
                 "Allow listening on a non-loopback address without API keys")
        ->envname("BEDROCK_AGENT_ALLOW_ANONYMOUS");
  }
  app.add_flag("--simulate", o.simulate,
               "Run offline: start an in-process Bedrock simulator and use it with dummy credentials")
      ->envname("BEDROCK_AGENT_SIMULATE");
  app.add_option("--max-body-bytes", o.max_body_bytes, "Largest accepted request body (413 above)")
      ->envname("BEDROCK_AGENT_MAX_BODY_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--max-input-chars", o.max_input_chars, "Longest accepted chat input")
      ->envname("BEDROCK_AGENT_MAX_INPUT_CHARS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--history-turns", o.history_turns, "Earlier turns sent to the model with include_history")
      ->envname("BEDROCK_AGENT_HISTORY_TURNS")
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s,
                 "On SIGTERM/SIGINT, seconds to let chats and streams in flight finish before their connections "
                 "are closed (the process exits sooner once none is left); a second signal stops at once")
      ->envname("BEDROCK_AGENT_DRAIN_TIMEOUT")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  if (!lambda) {
    app.add_option("--idle-timeout", o.idle_timeout_s,
                   "Seconds a keep-alive connection may stay idle before it is closed (announced as Keep-Alive: "
                   "timeout=N); keep it above a load balancer's idle timeout (an ALB's: 60 s)")
        ->envname("BEDROCK_AGENT_IDLE_TIMEOUT")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    app.add_option("--threads", o.threads,
                   "io threads, each with its own event loop; a connection stays on one. 0: the number of cores")
        ->envname("BEDROCK_AGENT_THREADS")
        ->check(CLI::Range(0u, 256u))
        ->capture_default_str();
  }
  app.add_option("--cors-origin", o.cors_origins,
                 "ORIGIN: a browser origin (scheme://host[:port]) allowed to call the API from its pages, with CORS "
                 "preflight answered (repeatable or comma-separated; '*' allows any origin). Default: none, no CORS")
      ->envname("BEDROCK_AGENT_CORS_ORIGINS")
      ->delimiter(',');
  app.add_option("--request-timeout", o.request_timeout_s,
                 "Default deadline of a chat call in seconds (rate-limit wait + retries + model call); "
                 "keep it under API Gateway's 29 s. Callers may shorten it with X-Request-Timeout-Ms")
      ->envname("BEDROCK_AGENT_REQUEST_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  // Rate limiting, retries and max_tokens (docs/rate-limiting.md).
  // A number, `auto` or `auto:N`: the applied quota from Service Quotas (N, else the default, when it
  // cannot be read; ratelimit/auto_quotas.hpp).
  auto budget_option = [&app](const char* name, double& value, bool& automatic, bool positive, const char* help) {
    return app
        .add_option_function<std::string>(
            name,
            [&value, &automatic, name, positive](const std::string& text) {
              auto b = ratelimit::parse_budget_value(text);
              if (!b) throw CLI::ValidationError(name, b.error().message);
              if (positive && b->value && *b->value <= 0) throw CLI::ValidationError(name, "must be > 0");
              automatic = b->automatic;
              if (b->value) value = *b->value;
            },
            help)
        ->default_str(positive ? "50" : "0");
  };
  budget_option("--max-rpm", o.max_rpm, o.max_rpm_auto, true,
                "Requests per minute per model and region; auto (or auto:N): the account's applied quota, "
                "read from Service Quotas")
      ->envname("MAX_REQUESTS_PER_MINUTE");
  budget_option("--max-tpm", o.max_tpm, o.max_tpm_auto, false,
                "Tokens per minute per model and region, as Bedrock charges them (0: unlimited); auto (or "
                "auto:N): the account's applied quota, read from Service Quotas")
      ->envname("MAX_TOKENS_PER_MINUTE");
  app.add_option("--quota-refresh-s", o.quota_refresh_s,
                 "With auto budgets: how often the quotas are read again, seconds")
      ->envname("BEDROCK_AGENT_QUOTA_REFRESH_S")
      ->check(CLI::Range(60, 86'400))
      ->capture_default_str();
  app.add_option("--max-tokens-per-day", o.max_tokens_per_day,
                 "Tokens per UTC day per model and region (0: unlimited)")
      ->envname("MAX_TOKENS_PER_DAY")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--burndown", o.burndown,
                 "Output-token factor charged against the token budgets (0: the model's, 5 for Claude 4+)")
      ->envname("BEDROCK_AGENT_BURNDOWN")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--default-max-tokens", o.default_max_tokens,
                 "max_tokens when the caller gives none (0: the model's default, 1024 for Claude)")
      ->envname("BEDROCK_AGENT_DEFAULT_MAX_TOKENS")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-tokens-clamp,--max-tokens-limit", o.max_tokens_clamp,
                 "Larger max_tokens requests are clamped to this (0: the model's maximum output)")
      ->envname("BEDROCK_AGENT_MAX_TOKENS_CLAMP")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--retry-max-attempts", o.retry_max_attempts, "Calls to Bedrock per request, the first included")
      ->envname("BEDROCK_AGENT_RETRY_MAX_ATTEMPTS")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app.add_option("--retry-base-ms", o.retry_base_ms, "Backoff base for errors other than throttles, ms")
      ->envname("BEDROCK_AGENT_RETRY_BASE_MS")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  app.add_option("--retry-throttle-base-ms", o.retry_throttle_base_ms, "Backoff base after a throttle, ms")
      ->envname("BEDROCK_AGENT_RETRY_THROTTLE_BASE_MS")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  app.add_option("--retry-cap-ms", o.retry_cap_ms, "Largest backoff, ms")
      ->envname("BEDROCK_AGENT_RETRY_CAP_MS")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  app.add_flag("--no-adaptive", o.no_adaptive, "Turn off the adaptive budget (lower the rates after Bedrock throttles, recover on success)")
      ->envname("BEDROCK_AGENT_NO_ADAPTIVE");

  // Targets: quota-aware routing over regions, inference profiles and provisioned throughput.
  app.add_option("--target", o.targets,
                 "A target, 'model=ID region=R rpm=N tpm=N' (repeatable, in order of preference); see "
                 "docs/configuration.md")
      ->envname("BEDROCK_AGENT_TARGETS")
      ->delimiter(';');
  app.add_option("--targets-file", o.targets_file, "A file of targets, one per line (same format as --target)")
      ->envname("BEDROCK_AGENT_TARGETS_FILE");
  app.add_option("--spill-after-ms", o.spill_after_ms,
                 "With targets: a target that cannot send a request within this passes it to the next")
      ->envname("BEDROCK_AGENT_SPILL_AFTER_MS")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  app.add_option("--circuit-failures", o.circuit_failures,
                 "With targets: consecutive throttles or 5xx that open a target's circuit")
      ->envname("BEDROCK_AGENT_CIRCUIT_FAILURES")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--circuit-cool-down-ms", o.circuit_cool_down_ms,
                 "With targets: time an open circuit waits before a probe, ms")
      ->envname("BEDROCK_AGENT_CIRCUIT_COOL_DOWN_MS")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
}

struct SimFlags {
  sim::SimulatorOptions o;
  std::int64_t ttft_ms = 0, token_ms = 0, timeout_fault_delay_ms = 0;
  std::vector<std::string> fault_rates, fault_script;
  bool no_echo = false, no_fault_header = false;
};

void add_simulate(CLI::App& app, SimFlags& f) {
  auto& o = f.o;
  o.port = 4000;
  app.add_option("--host", o.host, "Address to listen on")->envname("BEDROCK_SIM_HOST")->capture_default_str();
  app.add_option("--port", o.port, "Port to listen on (0: ephemeral)")->envname("BEDROCK_SIM_PORT")->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the synthetic replies")->envname("BEDROCK_SIM_SEED")->capture_default_str();
  app.add_option("--reply-tokens", o.reply_tokens, "Output tokens of a reply when the request names none")
      ->envname("BEDROCK_SIM_REPLY_TOKENS")
      ->capture_default_str();
  app.add_option("--default-max-tokens", o.default_max_tokens, "Converse maxTokens when the request gives none")
      ->envname("BEDROCK_SIM_DEFAULT_MAX_TOKENS")
      ->capture_default_str();
  app.add_flag("--no-echo", f.no_echo, "Disable echo mode (\"echo:<text>\" replies <text>)")->envname("BEDROCK_SIM_NO_ECHO");
  app.add_option("--guardrail-trigger", o.guardrail_trigger,
                 "A word that makes a request naming a guardrail blocked (guardrail_intervened); empty: never")
      ->envname("BEDROCK_SIM_GUARDRAIL_TRIGGER")
      ->capture_default_str();
  app.add_option("--guardrail-message", o.guardrail_message, "The blocked answer's text")
      ->envname("BEDROCK_SIM_GUARDRAIL_MESSAGE")
      ->capture_default_str();
  app.add_option("--ttft-ms", f.ttft_ms, "Time to first token, ms")->envname("BEDROCK_SIM_TTFT_MS")->capture_default_str();
  app.add_option("--per-token-ms,--token-ms", f.token_ms, "Time per output token, ms")->envname("BEDROCK_SIM_PER_TOKEN_MS")->capture_default_str();
  app.add_option("--timeout-fault-ms", f.timeout_fault_delay_ms, "Wait before a 'timeout' fault answers, ms")
      ->envname("BEDROCK_SIM_TIMEOUT_FAULT_MS")
      ->capture_default_str();
  app.add_option("--rpm", o.rpm, "Requests per minute per model (0: unlimited)")->envname("BEDROCK_SIM_RPM")->capture_default_str();
  app.add_option("--tpm", o.tpm, "Tokens per minute per model (0: unlimited)")->envname("BEDROCK_SIM_TPM")->capture_default_str();
  app.add_option("--tokens-per-day", o.tokens_per_day, "Tokens per day per model (0: unlimited)")
      ->envname("BEDROCK_SIM_TOKENS_PER_DAY")
      ->capture_default_str();
  app.add_option("--burndown", o.burndown, "Output-token factor charged against --tpm")
      ->envname("BEDROCK_SIM_BURNDOWN")
      ->capture_default_str();
  app.add_option("--burst-seconds", o.burst_seconds,
                 "Size of the --rpm and --tpm buckets in seconds of the rate (60: one minute's quota)")
      ->envname("BEDROCK_SIM_BURST_SECONDS")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--fault,--fault-rate", f.fault_rates,
                 "FAULT=P: inject FAULT with probability P (repeatable). Faults: throttle, throttle-tokens, "
                 "throttle-daily, 500, 503, timeout, model-not-ready, model-error, access-denied, not-found, "
                 "service-quota, validation, drop, drop-mid-stream, stream-exception:<type>")
      ->envname("BEDROCK_SIM_FAULT_RATE");
  app.add_option("--fault-script", f.fault_script, "FAULT=N: the next N requests get FAULT (repeatable, in order)")
      ->envname("BEDROCK_SIM_FAULT_SCRIPT");
  app.add_flag("--no-fault-header", f.no_fault_header, "Ignore the x-sim-fault request header")
      ->envname("BEDROCK_SIM_NO_FAULT_HEADER");
  app.add_option("--access-key-id", o.access_key_id, "Verify SigV4 signatures made with this access key id")
      ->envname("BEDROCK_SIM_ACCESS_KEY_ID");
  app.add_option("--secret-access-key", o.secret_access_key, "Secret key used to verify SigV4 signatures")
      ->envname("BEDROCK_SIM_SECRET_ACCESS_KEY");
  app.add_option("--api-key", o.api_key, "Accept this Bedrock API key (Authorization: Bearer)")
      ->envname("BEDROCK_SIM_API_KEY");
  app.add_option("--region", o.region, "Require this region in the SigV4 credential scope")->envname("BEDROCK_SIM_REGION");
}

void add_deploy(CLI::App& app, deploy::DeployOptions& o) {
  app.add_option("--stack-name", o.stack_name, "CloudFormation stack name")->capture_default_str();
  app.add_option("--region", o.region, "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1)");
  app.add_option("--profile", o.profile, "AWS shared-config profile for credentials and region")->envname("AWS_PROFILE");
  app.add_option("--model-id", o.model_id, "Bedrock base model id (the function may invoke only this model)")
      ->capture_default_str();
  app.add_option("--max-rpm", o.max_rpm, "Requests per minute (MAX_REQUESTS_PER_MINUTE of the function)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-tpm", o.max_tpm, "Tokens per minute (MAX_TOKENS_PER_MINUTE; 0: unlimited)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-tokens-per-day", o.max_tokens_per_day, "Tokens per UTC day (MAX_TOKENS_PER_DAY; 0: unlimited)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--package", o.package_path,
                 std::string("Lambda package zip (default ") + deploy::kDefaultPackagePath + ", built by `make package`)");
  app.add_option("--template", o.template_path, std::string("CloudFormation template (default ") + deploy::kDefaultTemplatePath + ")");
  app.add_option("--artifact-bucket", o.artifact_bucket,
                 "S3 bucket for the package (default bedrock-agent-artifacts-<account>-<region>, created if missing)");
  app.add_option("--parameter", o.parameters,
                 "Another template parameter, Key=Value (repeatable), e.g. ThrottleRateLimit=10");
  app.add_flag("--delete", o.remove, "Delete the stack instead (the history table and files bucket are retained)");
  app.add_flag("--no-wait", o.no_wait, "Return once CloudFormation has started, without following the events");
  app.add_option_function<int>(
         "--timeout", [&o](const int& minutes) { o.timeout = std::chrono::minutes(minutes); },
         "Minutes to wait for the stack (default 60)")
      ->check(CLI::Range(1, 24 * 60));
}

}  // namespace

int run(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // Lambda starts `bootstrap` with no arguments and AWS_LAMBDA_RUNTIME_API set: that is the lambda mode.
  std::vector<char*> args(argv, argv + argc);
  static char lambda_arg[] = "lambda";
  if (argc == 1 && std::getenv("AWS_LAMBDA_RUNTIME_API")) args.push_back(lambda_arg);
  argc = static_cast<int>(args.size());
  argv = args.data();
  CLI::App app{"bedrock-agent: a chat agent on AWS Bedrock (HTTP API, SQLite history, offline simulator)"};
  app.set_version_flag("--version", std::string("bedrock-agent ") + BA_VERSION);
  app.require_subcommand(1);

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP API (POST /chat, /conversations/{id}, /health, /metrics)");
  add_serve(*serve_cmd, serve);

  ServeOptions lambda_options;
  auto* lambda_cmd = app.add_subcommand(
      "lambda", "Run as an AWS Lambda custom runtime behind API Gateway (the default when AWS_LAMBDA_RUNTIME_API is set)");
  add_serve(*lambda_cmd, lambda_options, /*lambda=*/true);

  SimFlags sim_flags;
  auto* sim_cmd = app.add_subcommand("simulate-bedrock", "Run a local Bedrock Runtime simulator (see docs/simulator.md)");
  add_simulate(*sim_cmd, sim_flags);

  deploy::DeployOptions deploy_options;
  auto* deploy_cmd = app.add_subcommand("deploy", "Deploy to AWS (API Gateway, Lambda, DynamoDB, S3) with CloudFormation; --delete tears it down");
  add_deploy(*deploy_cmd, deploy_options);

  try {
    app.parse(argc, argv);
    if (*sim_cmd) {
      auto& o = sim_flags.o;
      o.ttft = std::chrono::milliseconds(sim_flags.ttft_ms);
      o.per_token = std::chrono::milliseconds(sim_flags.token_ms);
      o.timeout_fault_delay = std::chrono::milliseconds(sim_flags.timeout_fault_delay_ms);
      o.echo = !sim_flags.no_echo;
      o.fault_header = !sim_flags.no_fault_header;
      o.fault_rates = parse_fault_pairs<double>(sim_flags.fault_rates, "--fault");
      o.fault_script = parse_fault_pairs<int>(sim_flags.fault_script, "--fault-script");
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*serve_cmd) return run_serve(serve);
  if (*deploy_cmd) return deploy::run_deploy(deploy_options);
  if (*lambda_cmd) {
    // The deployment template's name for the model (docs/lambda.md); --model-id / BEDROCK_MODEL_ID win.
    if (lambda_cmd->get_option("--model-id")->count() == 0) {
      if (const char* id = std::getenv("MODEL_ID"); id && *id) lambda_options.model_id = id;
    }
    return run_lambda(lambda_options);
  }
  return run_simulate(sim_flags.o);
}

}  // namespace ba::cli
