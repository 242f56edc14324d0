// GCC 12 reports a false -Wmismatched-new-delete on Asio awaitable frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "agent/chat_service.hpp"
#include "aws/config_file.hpp"
#include "aws/credentials.hpp"
#include "aws/endpoints.hpp"
#include "bedrock/client.hpp"
#include "bedrock/model_id.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "http/api.hpp"
#include "http/auth.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "ratelimit/cost.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retry.hpp"
#include "ratelimit/retrying_client.hpp"
#include "sim/simulator.hpp"
#include "store/sqlite_history.hpp"
#include "util/metrics.hpp"

namespace ba::cli {

ratelimit::RateLimitConfig make_rate_limit_config(const ServeOptions& o) {
  ratelimit::RateLimitConfig c;
  c.limits.rpm = o.max_rpm;
  c.limits.tpm = o.max_tpm;
  c.limits.daily_tokens = o.max_tokens_per_day;
  ratelimit::ModelOverride ov;
  if (o.burndown > 0) ov.burndown = o.burndown;
  if (o.default_max_tokens > 0) ov.default_max_tokens = o.default_max_tokens;
  if (o.max_tokens_clamp > 0) ov.max_tokens_clamp = o.max_tokens_clamp;
  // Keyed by the whole model id: the longest (so the most specific) override wins in model_profile.
  if (ov.burndown || ov.default_max_tokens || ov.max_tokens_clamp) c.model_overrides[o.model_id] = ov;
  c.retry.max_attempts = o.retry_max_attempts;
  c.retry.base = std::chrono::milliseconds(o.retry_base_ms);
  c.retry.throttle_base = std::chrono::milliseconds(o.retry_throttle_base_ms);
  c.retry.cap = std::chrono::milliseconds(o.retry_cap_ms);
  c.default_deadline = std::chrono::seconds(o.request_timeout_s);  // one value with ApiConfig::request_timeout
  c.adaptive = !o.no_adaptive;
  return c;
}

namespace {

namespace json = boost::json;

// Start-up configuration errors: reported on stderr, exit code 2.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool is_loopback(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.starts_with("127.");
}

// Where the default chain would find credentials, judged from the environment and the shared files
// only (no network, no credential_process run). Empty when no source is configured.
std::string detect_credentials_source(const std::string& profile_option) {
  const aws::GetEnv env = aws::process_env();
  auto set = [&](const char* name) {
    auto v = env(name);
    return v && !v->empty();
  };
  if (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")) return "environment";
  const std::string profile = aws::profile_name(profile_option, env);
  const auto files = aws::shared_files(env);
  if (auto creds = aws::load_ini(files.credentials)) {
    if (auto sec = aws::credentials_profile(*creds, profile); sec && sec->contains("aws_access_key_id")) {
      return "profile:" + profile;
    }
  }
  if (auto config = aws::load_ini(files.config)) {
    if (auto sec = aws::config_profile(*config, profile)) {
      if (sec->contains("aws_access_key_id")) return "profile:" + profile;
      if (sec->contains("credential_process")) return "process (profile " + profile + ")";
    }
  }
  if (set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")) return "container";
  return {};
}

std::string history_path(const std::string& spec) {
  constexpr std::string_view prefix = "sqlite:";
  if (!spec.starts_with(prefix) || spec.size() == prefix.size()) {
    throw ConfigError("--history must be sqlite:PATH (e.g. sqlite:./data/history.db), got '" + spec + "'");
  }
  return spec.substr(prefix.size());
}

int serve(const ServeOptions& o) {
  // --- validate everything before binding anything ---
  if (auto st = bedrock::validate_model_id(o.model_id); !st) {
    throw ConfigError("--model-id '" + o.model_id + "': " + st.error().message);
  }
  bedrock::Api api;
  if (o.api == "converse") {
    api = bedrock::Api::converse;
  } else if (o.api == "invoke") {
    api = bedrock::Api::invoke;
    if (bedrock::model_family(o.model_id) == bedrock::ModelFamily::other) {
      throw ConfigError("--api invoke supports Anthropic Claude and Amazon Titan Text models only; model '" +
                        o.model_id + "' needs --api converse");
    }
  } else {
    throw ConfigError("--api must be converse or invoke, got '" + o.api + "'");
  }
  const std::string db_path = history_path(o.history);

  http::ApiKeys keys;
  if (!o.api_keys_file.empty()) {
    auto loaded = http::ApiKeys::load_file(o.api_keys_file);
    if (!loaded) throw ConfigError(loaded.error().message);
    keys = std::move(*loaded);
  }
  if (keys.empty() && !is_loopback(o.host) && !o.allow_anonymous) {
    throw ConfigError("refusing to listen on " + o.host +
                      " without API keys: anyone who can reach it could use your AWS account. Pass "
                      "--api-keys-file FILE (one key per line), or --allow-anonymous if a proxy in front authenticates");
  }

  boost::asio::io_context io;
  std::unique_ptr<sim::Simulator> simulator;
  std::unique_ptr<net::HttpClient> http_client = net::make_http_client(io);
  std::unique_ptr<aws::CredentialsProvider> credentials;
  std::string region;
  std::string region_note;
  std::string endpoint;
  std::string credentials_source;

  if (o.simulate) {
    region = o.region.empty() ? "us-east-1" : o.region;
    sim::SimulatorOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.region = region;
    so.access_key_id = "AKIDSIMULATOR00000000";
    so.secret_access_key = "simulator-secret-key-not-a-real-secret";
    simulator = sim::make_simulator(io, so);
    auto port = simulator->start();
    if (!port) throw std::runtime_error("cannot start the simulator: " + port.error().message);
    endpoint = "http://127.0.0.1:" + std::to_string(*port);
    credentials = aws::make_static_provider(
        {.access_key_id = so.access_key_id, .secret_access_key = so.secret_access_key, .source = "static"});
    credentials_source = "static (simulator)";
  } else {
    region = aws::resolve_region(o.region, o.profile);
    if (region.empty()) {
      region = "us-east-1";
      region_note = "no region configured (--region, AWS_REGION, AWS_DEFAULT_REGION or the profile); using us-east-1";
    }
    endpoint = aws::resolve_endpoint("Bedrock Runtime", "bedrock-runtime", region);
    credentials = aws::make_default_chain(*http_client, aws::ProviderSettings{.profile = o.profile});
    credentials_source = detect_credentials_source(o.profile);
  }

  std::unique_ptr<bedrock::ModelClient> model;
  try {
    model = bedrock::make_bedrock_client(*http_client, *credentials,
                                         bedrock::BedrockConfig{.region = region, .endpoint = endpoint, .api = api});
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("Bedrock client: ") + e.what());
  }

  auto history = store::make_sqlite_history(db_path);
  if (!history) throw ConfigError(history.error().message);

  // Rate limiting: one budget store, admission and retry budget per process; the RetryingClient wraps
  // the Bedrock client (budget key = model id + region). Its metrics go to the registry /metrics renders.
  const ratelimit::RateLimitConfig rate_limit = make_rate_limit_config(o);
  const ratelimit::ModelProfile profile = ratelimit::model_profile(o.model_id, rate_limit);
  if (o.max_tokens_clamp > 0 && o.default_max_tokens > o.max_tokens_clamp) {
    throw ConfigError("--default-max-tokens " + std::to_string(o.default_max_tokens) + " is above --max-tokens-clamp " +
                      std::to_string(o.max_tokens_clamp));
  }
  metrics::Registry registry;
  ratelimit::InProcessBudgetStore budget_store(rate_limit, system_clock());
  ratelimit::LimiterAdmission admission(budget_store, system_clock());
  ratelimit::RetryBudget retry_budget(rate_limit.retry);
  ratelimit::RetryingClient limited(*model, admission, retry_budget, registry, system_clock(), system_random(),
                                    ratelimit::RetryingClient::Options{.region = region, .config = rate_limit});

  agent::ChatConfig chat_config;
  chat_config.model_id = o.model_id;
  chat_config.limits.max_input_chars = o.max_input_chars;
  chat_config.limits.history_turns = o.history_turns;
  chat_config.rate_limit = rate_limit;
  agent::ChatService chat(limited, **history, chat_config);

  http::ApiContext context{
      .chat = chat,
      .history = **history,
      .keys = keys,
      .config = {.body_limit = o.max_body_bytes,
                 .request_timeout = std::chrono::seconds(o.request_timeout_s),
                 .version = BA_VERSION,
                 .model_id = o.model_id,
                 .region = region,
                 .api = o.api,
                 .history = o.history,
                 .credentials_source = credentials_source,
                 .rate_limit = rate_limit},
      .metrics = &registry,
  };
  net::ServerOptions server_options;
  server_options.host = o.host;
  server_options.port = o.port;
  server_options.body_limit = o.max_body_bytes;
  server_options.error_response = http::server_error_response;
  auto server = net::make_http_server(io, server_options, http::make_api_handler(context));
  auto port = server->start();
  if (!port) {
    std::fprintf(stderr, "bedrock-agent: cannot listen on %s:%u: %s\n", o.host.c_str(), o.port,
                 port.error().message.c_str());
    return 1;
  }

  json::object info;
  info["version"] = BA_VERSION;
  info["host"] = o.host;
  info["port"] = *port;
  info["url"] = "http://" + (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
                std::to_string(*port);
  info["model"] = o.model_id;
  info["region"] = region;
  info["api"] = o.api;
  info["history"] = o.history;
  info["credentials"] = credentials_source.empty() ? "none" : credentials_source;
  info["auth"] = keys.empty() ? "none" : "api_key";
  info["simulate"] = o.simulate;
  info["max_rpm"] = o.max_rpm;
  info["max_tpm"] = o.max_tpm;
  info["max_tokens_per_day"] = o.max_tokens_per_day;
  info["max_tokens"] = profile.default_max_tokens;
  info["max_tokens_clamp"] = profile.max_tokens_clamp;
  info["burndown"] = profile.burndown;
  info["request_timeout_s"] = o.request_timeout_s;
  if (o.simulate) info["simulator"] = endpoint;
  std::string extra = json::serialize(info);
  log_line("info", "listening", extra.substr(1, extra.size() - 2));
  if (!region_note.empty()) log_line("warn", region_note.c_str());
  if (o.request_timeout_s > 29) {
    log_line("warn", "--request-timeout is above API Gateway's 29 s integration timeout");
  }
  const std::int64_t clamp_cost = ratelimit::estimate_cost(0, profile.max_tokens_clamp, profile.burndown);
  if (o.max_tpm > 0 && static_cast<double>(clamp_cost) > o.max_tpm) {
    log_line("warn", "--max-tpm is below max_tokens_clamp x burndown: requests asking for the clamp get 400",
             "\"clamp_cost\":" + std::to_string(clamp_cost));
  }
  if (credentials_source.empty()) {
    log_line("warn", "no AWS credentials found; /chat answers 503 until some are configured",
             "\"hint\":" + json::serialize(json::value(chat_config.credentials_hint)));
  }

  constexpr std::chrono::milliseconds grace{2000};
  run_until_signal(
      io,
      [&] {
        server->stop(grace);
        if (simulator) simulator->stop(grace);
      },
      grace);
  log_line("info", "stopped");
  return 0;
}

}  // namespace

int run_serve(const ServeOptions& options) {
  try {
    return serve(options);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "bedrock-agent serve: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bedrock-agent serve: %s\n", e.what());
    return 1;
  }
}

}  // namespace ba::cli
