// Builds the app (app_context.hpp): options checked, then the model client, stores, rate limiter and
// API context constructed in one place for serve and the Lambda mode; the start-up log line.
#include "cli/app_context.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "agent/chat_service.hpp"
#include "aws/config_file.hpp"
#include "aws/credentials.hpp"
#include "aws/dynamodb.hpp"
#include "aws/endpoints.hpp"
#include "aws/s3.hpp"
#include "bedrock/client.hpp"
#include "bedrock/model_id.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "http/api.hpp"
#include "http/auth.hpp"
#include "net/http_client.hpp"
#include "ratelimit/cost.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retry.hpp"
#include "ratelimit/retrying_client.hpp"
#include "ratelimit/router.hpp"
#include "ratelimit/targets.hpp"
#include "sim/simulator.hpp"
#include "store/dynamodb_budget.hpp"
#include "store/dynamodb_history.hpp"
#include "store/dynamodb_idempotency.hpp"
#include "store/dynamodb_table.hpp"
#include "store/local_files.hpp"
#include "util/encoding.hpp"
#include "store/no_history.hpp"
#include "store/s3_files.hpp"
#include "store/sqlite_history.hpp"
#include "store/sqlite_idempotency.hpp"
#include "store/store_errors.hpp"
#include "util/json_number.hpp"
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

constexpr std::string_view kSqlitePrefix = "sqlite:";
constexpr std::string_view kDynamoPrefix = "dynamodb:";
constexpr std::string_view kNoHistory = "none";

void check_history_spec(const std::string& spec) {
  if (spec == kNoHistory) return;
  const bool sqlite = spec.starts_with(kSqlitePrefix) && spec.size() > kSqlitePrefix.size();
  const bool dynamo = spec.starts_with(kDynamoPrefix) && spec.size() > kDynamoPrefix.size();
  if (!sqlite && !dynamo) {
    throw ConfigError("--history must be sqlite:PATH (e.g. sqlite:./data/history.db), dynamodb:TABLE or none, got '" +
                      spec + "'");
  }
}

// Runs one start-up step (a table or bucket check) to completion on `io`, before anything is served.
template <class T>
T run_startup(boost::asio::io_context& io, boost::asio::awaitable<T> step) {
  std::optional<T> out;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(step), [&](std::exception_ptr e, T v) {
    failure = e;
    out.emplace(std::move(v));
  });
  while (!out) {
    if (io.run_one() == 0) io.restart();
  }
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

void log_warning(std::string_view message) { log_line("warn", std::string(message).c_str()); }

// A store's failure, once per failed call, in the operator's terms: which store, what it uses (table,
// bucket, file), the backend's words, code and request id. The caller got only "<store> unavailable" or
// "<store> misconfigured" (store/store_errors.hpp).
void log_store_failure(const store::StoreFailure& f) {
  namespace json = boost::json;
  const char* fault = f.fault == store::StoreFault::unavailable     ? "unavailable"
                      : f.fault == store::StoreFault::misconfigured ? "misconfigured"
                                                                    : "failed";
  std::string fields = "\"store\":" + json::serialize(json::value(f.store)) + ",\"fault\":\"" + fault +
                       "\",\"resource\":" + json::serialize(json::value(f.resource)) +
                       ",\"error\":" + json::serialize(json::value(store::describe(f)));
  if (f.error && !f.error->code.empty()) fields += ",\"error_code\":" + json::serialize(json::value(f.error->code));
  if (f.error && f.error->http_status) fields += ",\"http_status\":" + std::to_string(f.error->http_status);
  if (f.error && !f.error->request_id.empty()) {
    fields += ",\"upstream_request_id\":" + json::serialize(json::value(f.error->request_id));
  }
  log_line("error", "store failure", fields);
}

// The file store (before the history: DynamoDB spills large turns into it).
void open_files(boost::asio::io_context& io, App& app, aws::CredentialsProvider& credentials) {
  const ServeOptions& o = app.options;
  if (app.files_spec.starts_with("s3://")) {
    auto parsed = store::parse_s3_uri(app.files_spec);
    if (!parsed) throw ConfigError("--files '" + app.files_spec + "': " + parsed.error().message);
    try {
      app.s3 = std::make_unique<aws::S3Client>(*app.http_client, credentials, aws::make_s3_config(app.region));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("S3 client: ") + e.what());
    }
    auto opened = run_startup(io, store::open_s3_file_store(*app.s3,
                                                            store::S3FileOptions{.bucket = parsed->first,
                                                                                 .prefix = parsed->second,
                                                                                 .max_file_bytes = o.max_file_bytes},
                                                            o.create_missing));
    if (!opened) throw std::runtime_error("file store " + app.files_spec + ": " + opened.error().message);
    app.files = store::guard_files(std::move(*opened), log_store_failure);  // failures in the caller's terms
    return;
  }
  auto local = store::make_local_file_store(app.files_spec, store::LocalFileOptions{.max_file_bytes = o.max_file_bytes});
  if (!local) throw ConfigError("--files '" + app.files_spec + "': " + local.error().message);
  app.files = store::guard_files(std::move(*local), log_store_failure);
}

// The history store and, on the same backend, the Idempotency-Key store.
void open_history(boost::asio::io_context& io, App& app, aws::CredentialsProvider& credentials) {
  const ServeOptions& o = app.options;
  if (app.history_spec.starts_with(kDynamoPrefix)) {
    const std::string table = app.history_spec.substr(kDynamoPrefix.size());
    try {
      app.dynamodb = std::make_unique<aws::dynamodb::Client>(
          *app.http_client, credentials,
          aws::dynamodb::ClientConfig{.region = app.region,
                                      .endpoint = aws::dynamodb::resolve_dynamodb_endpoint(app.region),
                                      // A request waits on the history at most this long per call (a
                                      // turn is one conditional write): then 503, not a hung chat.
                                      .connect_timeout = std::chrono::milliseconds(1000),
                                      .read_timeout = std::chrono::milliseconds(3000),
                                      .call_timeout = std::chrono::milliseconds(5000)});
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("DynamoDB client: ") + e.what());
    }
    auto ready = run_startup(io, store::ensure_dynamodb_table(*app.dynamodb, table,
                                                              store::EnsureTableOptions{.create_missing = o.create_missing},
                                                              log_warning));
    if (!ready) throw std::runtime_error("DynamoDB table '" + table + "': " + ready.error().message);
    // Failures in the caller's terms (store_errors.hpp); the table's name goes to the log only.
    const std::string resource = "DynamoDB table '" + table + "'";
    app.history = store::guard_history(
        store::make_dynamodb_history(*app.dynamodb,
                                     store::DynamoHistoryOptions{
                                         .table = table,
                                         .retention = std::chrono::hours(24) * o.retention_days,
                                         .files = app.files.get(),
                                         // The turn was stored and answered; only the list lags: logged, not the caller's error.
                                         .on_list_item_failure =
                                             [resource = resource + ", conversation list item (the turn was saved)"](const Error& e) {
                                               store::StoreFailure f{.fault = store::classify_store_error(e),
                                                                     .store = "history store",
                                                                     .resource = resource,
                                                                     .error = &e};
                                               if (f.fault == store::StoreFault::none) f.fault = store::StoreFault::failed;
                                               log_store_failure(f);
                                             }}),
        resource, log_store_failure);
    app.idempotency = store::guard_idempotency(
        store::make_dynamodb_idempotency(*app.dynamodb, store::DynamoIdempotencyOptions{.table = table}), resource,
        log_store_failure);
    return;
  }
  // No history: Idempotency-Key still works, within this process.
  const bool none = app.history_spec == kNoHistory;
  const std::string path = none ? std::string(":memory:") : app.history_spec.substr(kSqlitePrefix.size());
  // A file in a Lambda sandbox's /tmp goes when the sandbox does: no fsyncs (they were most of the
  // SQLite part of a cold start). Elsewhere (a laptop, a server, EFS) commits are synced as usual.
  const bool sync_to_disk = !(app.mode == Mode::lambda && path.starts_with("/tmp/"));
  if (none) {
    app.history = store::make_no_history();
  } else {
    auto history = store::make_sqlite_history(path, store::SqliteOptions{.sync_to_disk = sync_to_disk});
    if (!history) throw ConfigError(history.error().message);
    app.history = store::guard_history(std::move(*history), app.history_spec, log_store_failure);
  }
  auto idempotency = store::make_sqlite_idempotency(path, store::SqliteIdempotencyOptions{.sync_to_disk = sync_to_disk});
  if (!idempotency) throw ConfigError(idempotency.error().message);
  app.idempotency = store::guard_idempotency(std::move(*idempotency), app.history_spec, log_store_failure);
}

}  // namespace

std::string resolve_history(const std::string& option, Mode mode, const aws::GetEnv& env) {
  if (!option.empty()) return option;
  if (auto table = env("CONVERSATION_TABLE"); table && !table->empty()) return "dynamodb:" + *table;
  return mode == Mode::lambda ? "sqlite:/tmp/history.db" : "sqlite:./data/history.db";
}

std::string resolve_files(const std::string& option, Mode mode, const aws::GetEnv& env) {
  if (!option.empty()) return option;
  if (auto bucket = env("FILES_BUCKET"); bucket && !bucket->empty()) return "s3://" + *bucket;
  return mode == Mode::lambda ? "/tmp/files" : "./data/files";
}

std::string resolve_shared_budget(const std::string& option, Mode mode, const aws::GetEnv& env) {
  if (!option.empty()) return option;
  if (mode == Mode::lambda) {
    if (auto table = env("BUDGET_TABLE"); table && !table->empty()) return "dynamodb:" + *table;
  }
  return {};
}

namespace {

// The rate limiter's budget store: per process, or shared through a DynamoDB table. The table is
// checked (key schema) or created (--create-missing) before anything is written to it; a table that
// cannot be reached at start-up does not stop the server: the store serves from its local share and
// tries the table again (docs/rate-limiting.md, "Shared budget").
// The table of a non-empty --shared-budget spec; ConfigError naming the accepted form otherwise.
std::string shared_budget_table(const std::string& spec) {
  auto table = store::parse_shared_budget_spec(spec);
  if (!table) {
    throw ConfigError("--shared-budget must be dynamodb:TABLE (a DynamoDB table name: 3-255 of a-z A-Z 0-9 _ . -), got '" +
                      spec + "'");
  }
  return *table;
}

// A budget store with `config`'s limits: per process, or on the shared table open_budget checked.
std::unique_ptr<ratelimit::BudgetStore> make_budget_store(App& app, const ratelimit::RateLimitConfig& config) {
  if (!app.budget_dynamodb) return std::make_unique<ratelimit::InProcessBudgetStore>(config, system_clock());
  store::DynamoBudgetOptions bo;
  bo.table_checked = app.budget_table_checked;
  bo.table = shared_budget_table(app.shared_budget_spec);
  bo.config = config;
  bo.metrics = &app.registry;
  bo.log = [](std::string_view level, std::string_view message) {
    log_line(std::string(level).c_str(), std::string(message).c_str());
  };
  return store::make_dynamodb_budget(*app.budget_dynamodb, std::move(bo));
}

void open_budget(boost::asio::io_context& io, App& app, aws::CredentialsProvider& credentials) {
  const ServeOptions& o = app.options;
  if (app.shared_budget_spec.empty()) {
    app.budget_store = make_budget_store(app, app.rate_limit);
    return;
  }
  const std::string table = shared_budget_table(app.shared_budget_spec);
  try {
    // No retries of its own: a retried ADD whose first attempt landed would count twice. Short
    // timeouts: past them a chat is served from the local share instead of waiting on the table.
    app.budget_dynamodb = std::make_unique<aws::dynamodb::Client>(
        *app.http_client, credentials,
        aws::dynamodb::ClientConfig{.region = app.region,
                                    .endpoint = aws::dynamodb::resolve_dynamodb_endpoint(app.region),
                                    .connect_timeout = std::chrono::milliseconds(1000),
                                    .read_timeout = std::chrono::milliseconds(2000),
                                    .max_attempts = 1});
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("DynamoDB client (shared budget): ") + e.what());
  }
  auto ready = run_startup(io, store::ensure_dynamodb_table(*app.budget_dynamodb, table,
                                                            store::EnsureTableOptions{.create_missing = o.create_missing},
                                                            log_warning));
  if (!ready) {
    const Error& e = ready.error();
    if (e.kind == ErrorKind::not_found || e.kind == ErrorKind::invalid_input || e.kind == ErrorKind::forbidden ||
        e.kind == ErrorKind::unauthorized) {
      throw ConfigError("--shared-budget table '" + table + "': " + e.message);
    }
    // Unreachable now: start anyway. Every write names the key and is conditioned on the item the
    // store creates, so nothing is written to a table that is not ours.
    log_warning("shared budget table '" + table + "' cannot be checked now (" + e.message +
                "); serving from this instance's share until it answers");
  }
  app.budget_table_checked = ready.has_value();
  app.budget_store = make_budget_store(app, app.rate_limit);
}

// Routing over targets (--target / --targets-file): each target gets its own Bedrock client (its region
// and endpoint), budget store (its limits; with --shared-budget the same table, a key per model+region),
// admission and RetryingClient with one attempt (the router retries across targets); the router is the
// chat service's model client.
std::vector<ratelimit::TargetSpec> read_targets(const ServeOptions& o) {
  std::vector<ratelimit::TargetSpec> out;
  if (!o.targets.empty() && !o.targets_file.empty()) {
    throw ConfigError("give targets with --target or with --targets-file, not both");
  }
  for (const auto& spec : o.targets) {
    auto t = ratelimit::parse_target(spec);
    if (!t) throw ConfigError("--target '" + spec + "': " + t.error().message);
    out.push_back(std::move(*t));
  }
  if (!o.targets_file.empty()) {
    auto file = ratelimit::load_targets_file(o.targets_file);
    if (!file) throw ConfigError("--targets-file: " + file.error().message);
    out = std::move(*file);
  }
  return out;
}

// --simulate: the simulator of `region` (one per region, each with quotas of its own, as Bedrock's are
// per region), started on first use.
std::string simulated_endpoint(boost::asio::io_context& io, App& app, const std::string& region) {
  if (app.simulated_endpoints.empty()) app.simulated_endpoints[app.region] = app.endpoint;
  auto it = app.simulated_endpoints.find(region);
  if (it != app.simulated_endpoints.end()) return it->second;
  sim::SimulatorOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.region = region;
  so.access_key_id = "AKIDSIMULATOR00000000";
  so.secret_access_key = "simulator-secret-key-not-a-real-secret";
  auto simulator = sim::make_simulator(io, so);
  auto port = simulator->start();
  if (!port) throw std::runtime_error("cannot start the simulator for " + region + ": " + port.error().message);
  app.region_simulators.push_back(std::move(simulator));
  return app.simulated_endpoints.emplace(region, "http://127.0.0.1:" + std::to_string(*port)).first->second;
}

// Auto budgets (--max-rpm/--max-tpm auto, rpm=/tpm=auto): which targets read which quotas, from which
// Service Quotas endpoint; the first reading, before any budget store is built (the shared budget takes
// its budgets at construction). Nothing when no budget is auto.
void read_quotas(boost::asio::io_context& io, App& app) {
  const ServeOptions& o = app.options;
  struct Source {
    ratelimit::AutoQuotaTarget target;
    std::string endpoint;
  };
  std::vector<Source> sources;
  if (app.target_specs.empty()) {
    ratelimit::AutoQuotaTarget t;
    t.model_id = o.model_id;
    t.region = app.region;
    t.rpm_auto = o.max_rpm_auto;
    t.tpm_auto = o.max_tpm_auto;
    t.fallback = app.rate_limit.limits;
    sources.push_back({std::move(t), o.simulate ? app.endpoint : std::string()});
  } else {
    for (const auto& spec : app.target_specs) {
      ratelimit::AutoQuotaTarget t;
      t.model_id = spec.model_id;
      t.region = spec.region;
      t.rpm_auto = !spec.provisioned() && (spec.rpm_auto || (!spec.rpm && o.max_rpm_auto));
      t.tpm_auto = !spec.provisioned() && (spec.tpm_auto || (!spec.tpm && o.max_tpm_auto));
      t.pins = {spec.rpm_quota, spec.tpm_quota};
      t.fallback = app.rate_limit.limits;
      t.fallback.rpm = spec.effective_rpm(o.max_rpm);
      t.fallback.tpm = spec.effective_tpm(o.max_tpm);
      std::string endpoint = spec.quotas_endpoint;
      if (endpoint.empty() && o.simulate && (t.rpm_auto || t.tpm_auto)) endpoint = simulated_endpoint(io, app, spec.region);
      sources.push_back({std::move(t), std::move(endpoint)});
    }
  }
  bool any = false;
  for (const auto& s : sources) any = any || s.target.rpm_auto || s.target.tpm_auto;
  if (!any) return;
  // One client per (endpoint, region); the list function finds it by region through the target's entry.
  std::map<std::string, aws::service_quotas::Client*> by_region;
  std::vector<ratelimit::AutoQuotaTarget> targets;
  for (auto& s : sources) {
    if (s.target.rpm_auto || s.target.tpm_auto) {
      const std::string endpoint =
          s.endpoint.empty() ? aws::service_quotas::resolve_service_quotas_endpoint(s.target.region) : s.endpoint;
      const std::string key = endpoint + " " + s.target.region;
      auto& client = app.quota_clients[key];
      if (!client) {
        try {
          client = std::make_unique<aws::service_quotas::Client>(
              *app.http_client, *app.credentials,
              aws::service_quotas::ClientConfig{.region = s.target.region, .endpoint = endpoint});
        } catch (const std::invalid_argument& e) {
          throw ConfigError("target " + s.target.model_id + " in " + s.target.region + ": " + e.what());
        }
      }
      if (by_region.contains(s.target.region) && by_region[s.target.region] != client.get()) {
        throw ConfigError("targets in " + s.target.region + " name different quotas_endpoint values (one per region)");
      }
      by_region[s.target.region] = client.get();
    }
    targets.push_back(std::move(s.target));
  }
  auto list = [by_region](const std::string& region) -> boost::asio::awaitable<Result<std::vector<ratelimit::QuotaEntry>>> {
    auto it = by_region.find(region);
    if (it == by_region.end()) co_return fail(ErrorKind::internal, "no Service Quotas client for " + region);
    auto got = co_await it->second->list_service_quotas("bedrock");
    if (!got) co_return std::unexpected(std::move(got.error()));
    std::vector<ratelimit::QuotaEntry> out;
    out.reserve(got->size());
    for (auto& q : *got) out.push_back({std::move(q.code), std::move(q.name), q.value});
    co_return out;
  };
  app.auto_quotas = std::make_unique<ratelimit::AutoQuotas>(
      std::move(targets), std::move(list),
      [](std::string_view level, std::string_view message) {
        log_line(std::string(level).c_str(), std::string(message).c_str());
      },
      std::chrono::seconds(o.quota_refresh_s));
  run_startup(io, [](ratelimit::AutoQuotas& a) -> boost::asio::awaitable<bool> {
    co_await a.refresh();
    co_return true;
  }(*app.auto_quotas));
  if (app.target_specs.empty()) {
    const auto l = app.auto_quotas->limits(0);
    app.rate_limit.limits.rpm = l.rpm;
    app.rate_limit.limits.tpm = l.tpm;
  }
}

void build_router(boost::asio::io_context& io, App& app, bedrock::Api api) {
  const ServeOptions& o = app.options;
  for (std::size_t i = 0; i < app.target_specs.size(); ++i) {
    const ratelimit::TargetSpec& spec = app.target_specs[i];
    auto stack = std::make_unique<App::TargetStack>();
    std::string endpoint = spec.endpoint;
    if (endpoint.empty() && o.simulate) endpoint = simulated_endpoint(io, app, spec.region);
    if (endpoint.empty()) endpoint = aws::resolve_endpoint("Bedrock Runtime", "bedrock-runtime", spec.region);
    try {
      stack->model = bedrock::make_bedrock_client(
          *app.http_client, *app.credentials,
          bedrock::BedrockConfig{.region = spec.region, .endpoint = endpoint, .api = api});
    } catch (const std::invalid_argument& e) {
      throw ConfigError("target " + spec.name() + ": Bedrock client: " + e.what());
    }
    stack->endpoint = endpoint;
    ratelimit::RateLimitConfig config = app.rate_limit;
    config.limits.rpm = spec.effective_rpm(o.max_rpm);
    config.limits.tpm = spec.effective_tpm(o.max_tpm);
    if (app.auto_quotas) {  // the budgets read from the account at start-up (or the fallbacks)
      const auto l = app.auto_quotas->limits(i);
      config.limits.rpm = l.rpm;
      config.limits.tpm = l.tpm;
    }
    config.retry.max_attempts = 1;  // the router retries, on another target when it can
    stack->store = make_budget_store(app, config);
    stack->admission = std::make_unique<ratelimit::LimiterAdmission>(*stack->store, system_clock());
    stack->retry_budget = std::make_unique<ratelimit::RetryBudget>(config.retry);  // unused: one attempt
    stack->client = std::make_unique<ratelimit::RetryingClient>(
        *stack->model, *stack->admission, *stack->retry_budget, app.registry, system_clock(), system_random(),
        ratelimit::RetryingClient::Options{.region = spec.region, .config = config});
    if (app.auto_quotas) app.auto_quotas->set_store(i, stack->store.get());
    app.targets.push_back(std::move(stack));
  }
  std::vector<ratelimit::RouterTarget> targets;
  for (std::size_t i = 0; i < app.target_specs.size(); ++i) {
    targets.push_back({app.target_specs[i].model_id, app.target_specs[i].region, app.targets[i]->client.get(),
                       app.target_specs[i].weight});
  }
  ratelimit::RouterConfig rc;
  rc.spill_after = std::chrono::milliseconds(o.spill_after_ms);
  rc.circuit.failures_to_open = o.circuit_failures;
  rc.circuit.cool_down = std::chrono::milliseconds(o.circuit_cool_down_ms);
  rc.retry = app.rate_limit.retry;
  app.router = std::make_unique<ratelimit::Router>(
      std::move(targets), *app.retry_budget, app.registry, system_clock(), system_random(), rc,
      [](std::string_view level, std::string_view message) {
        log_line(std::string(level).c_str(), std::string(message).c_str());
      });
}

}  // namespace

std::optional<bedrock::GuardrailConfig> parse_guardrail(const std::string& spec, const std::string& trace) {
  if (spec.empty()) {
    if (!trace.empty()) throw ConfigError("--guardrail-trace needs --guardrail ID:VERSION");
    return std::nullopt;
  }
  const auto colon = spec.rfind(':');  // an ARN has colons of its own: the version follows the last one
  const std::string id = colon == std::string::npos ? std::string() : spec.substr(0, colon);
  const std::string version = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  const bool plain_id = !id.empty() && id.size() <= 64 &&
                        std::all_of(id.begin(), id.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
  const bool arn = id.starts_with("arn:aws") && id.find(":guardrail/") != std::string::npos && id.size() <= 2048;
  const bool numbered = !version.empty() && version.size() <= 8 && version[0] != '0' &&
                        std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!(plain_id || arn) || !(version == "DRAFT" || numbered)) {
    throw ConfigError("--guardrail '" + spec + "' must be ID:VERSION (ID: the guardrail's id, 1-64 of a-z 0-9, or its ARN; "
                      "VERSION: DRAFT or a version number)");
  }
  if (!trace.empty() && trace != "enabled" && trace != "disabled" && trace != "enabled_full") {
    throw ConfigError("--guardrail-trace must be enabled, disabled or enabled_full, got '" + trace + "'");
  }
  return bedrock::GuardrailConfig{.identifier = id, .version = version, .trace = trace};
}

std::unique_ptr<App> build_app(boost::asio::io_context& io, const ServeOptions& o, Mode mode) {
  auto app = std::make_unique<App>();
  app->options = o;
  app->mode = mode;
  // --- validate everything before binding anything ---
  if (auto st = bedrock::validate_model_id(o.model_id); !st) {
    throw ConfigError("--model-id '" + o.model_id + "': " + st.error().message);
  }
  std::map<std::string, std::string, std::less<>> aliases;
  for (const auto& spec : o.model_aliases) {
    const auto eq = spec.find('=');
    const std::string name = eq == std::string::npos ? std::string() : std::string(trim(std::string_view(spec).substr(0, eq)));
    const std::string target = eq == std::string::npos ? std::string() : std::string(trim(std::string_view(spec).substr(eq + 1)));
    if (name.empty() || target.empty()) throw ConfigError("--model-alias '" + spec + "' must be NAME=MODEL_ID");
    if (auto st = bedrock::validate_model_id(target); !st) {
      throw ConfigError("--model-alias '" + spec + "': " + st.error().message);
    }
    if (o.api == "invoke" && bedrock::model_family(target) == bedrock::ModelFamily::other) {
      throw ConfigError("--model-alias '" + spec + "': --api invoke supports Anthropic Claude and Amazon Titan Text "
                        "models only");
    }
    if (!aliases.emplace(name, target).second) throw ConfigError("--model-alias '" + name + "' is given twice");
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
  app->target_specs = read_targets(o);
  for (auto& t : app->target_specs) {
    if (t.model_id.empty()) t.model_id = o.model_id;
    if (api == bedrock::Api::invoke && bedrock::model_family(t.model_id) == bedrock::ModelFamily::other) {
      throw ConfigError("target " + t.name() + ": --api invoke supports Anthropic Claude and Amazon Titan Text "
                        "models only");
    }
  }
  app->history_spec = resolve_history(o.history, mode);
  check_history_spec(app->history_spec);
  app->shared_budget_spec = resolve_shared_budget(o.shared_budget, mode);
  if (!app->shared_budget_spec.empty()) shared_budget_table(app->shared_budget_spec);  // checked before binding
  app->files_spec = resolve_files(o.files, mode);

  if (mode == Mode::server) {
    if (!o.api_keys_file.empty()) {
      auto loaded = http::ApiKeys::load_file(o.api_keys_file);
      if (!loaded) throw ConfigError(loaded.error().message);
      app->keys = std::move(*loaded);
    }
    if (app->keys.empty() && !is_loopback(o.host) && !o.allow_anonymous) {
      throw ConfigError("refusing to listen on " + o.host +
                        " without API keys: anyone who can reach it could use your AWS account. Pass "
                        "--api-keys-file FILE (one key per line), or --allow-anonymous if a proxy in front authenticates");
    }
  }
  if (o.max_tokens_clamp > 0 && o.default_max_tokens > o.max_tokens_clamp) {
    throw ConfigError("--default-max-tokens " + std::to_string(o.default_max_tokens) + " is above --max-tokens-clamp " +
                      std::to_string(o.max_tokens_clamp));
  }

  app->http_client = net::make_http_client(io);
  // A Bedrock API key, as the AWS SDKs read it: Bedrock Runtime calls then carry it instead of a SigV4
  // signature; DynamoDB and S3 keep the credentials chain. The key is never logged.
  const std::optional<std::string> bedrock_key = aws::bearer_token_from_env(aws::process_env(), "bedrock");
  if (bedrock_key) app->bedrock_auth = "api_key";
  if (o.simulate) {
    app->region = o.region.empty() ? "us-east-1" : o.region;
    sim::SimulatorOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.region = app->region;
    so.access_key_id = "AKIDSIMULATOR00000000";
    so.secret_access_key = "simulator-secret-key-not-a-real-secret";
    if (bedrock_key) so.api_key = *bedrock_key;  // the simulator then accepts this key and no other
    app->simulator = sim::make_simulator(io, so);
    auto port = app->simulator->start();
    if (!port) throw std::runtime_error("cannot start the simulator: " + port.error().message);
    app->endpoint = "http://127.0.0.1:" + std::to_string(*port);
    app->credentials = aws::make_static_provider(
        {.access_key_id = so.access_key_id, .secret_access_key = so.secret_access_key, .source = "static"});
    app->credentials_source = "static (simulator)";
  } else {
    app->region = aws::resolve_region(o.region, o.profile);
    if (app->region.empty()) {
      app->region = "us-east-1";
      app->region_note =
          "no region configured (--region, AWS_REGION, AWS_DEFAULT_REGION or the profile); using us-east-1";
    }
    app->endpoint = aws::resolve_endpoint("Bedrock Runtime", "bedrock-runtime", app->region);
    app->credentials = aws::make_default_chain(*app->http_client, aws::ProviderSettings{.profile = o.profile});
    app->credentials_source = detect_credentials_source(o.profile);
    if (app->credentials_source.empty() && bedrock_key) app->credentials_source = "bedrock_api_key";
  }

  try {
    app->model = bedrock::make_bedrock_client(
        *app->http_client, *app->credentials,
        bedrock::BedrockConfig{
            .region = app->region, .endpoint = app->endpoint, .api = api, .bearer_token = bedrock_key.value_or("")});
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("Bedrock client: ") + e.what());
  }

  // The stores sign with the Bedrock credentials, except with --simulate (only the simulator accepts
  // those): then with the default chain, for DynamoDB and S3 endpoints such as dynalite and s3rver.
  aws::CredentialsProvider* store_credentials = app->credentials.get();
  if (o.simulate && (app->history_spec.starts_with(kDynamoPrefix) || app->files_spec.starts_with("s3://") ||
                     !app->shared_budget_spec.empty())) {
    app->store_credentials = aws::make_default_chain(*app->http_client, aws::ProviderSettings{.profile = o.profile});
    store_credentials = app->store_credentials.get();
  }
  open_files(io, *app, *store_credentials);
  open_history(io, *app, *store_credentials);

  // Rate limiting: one budget store, admission and retry budget per process; the RetryingClient wraps
  // the Bedrock client (budget key = model id + region). Its metrics go to the registry /metrics renders.
  app->rate_limit = make_rate_limit_config(o);
  app->profile = ratelimit::model_profile(o.model_id, app->rate_limit);
  if (!app->target_specs.empty()) {
    std::set<std::pair<std::string, std::string>> seen;
    for (auto& t : app->target_specs) {
      if (t.region.empty()) t.region = app->region;
      if (!seen.emplace(t.model_id, t.region).second) {
        throw ConfigError("target " + t.name() + " is given twice (one budget per model and region)");
      }
    }
  }
  read_quotas(io, *app);  // auto budgets: before the stores take them
  open_budget(io, *app, *store_credentials);
  if (app->auto_quotas && app->target_specs.empty()) app->auto_quotas->set_store(0, app->budget_store.get());
  app->admission = std::make_unique<ratelimit::LimiterAdmission>(*app->budget_store, system_clock());
  app->retry_budget = std::make_unique<ratelimit::RetryBudget>(app->rate_limit.retry);
  app->limited = std::make_unique<ratelimit::RetryingClient>(
      *app->model, *app->admission, *app->retry_budget, app->registry, system_clock(), system_random(),
      ratelimit::RetryingClient::Options{.region = app->region, .config = app->rate_limit});

  if (!app->target_specs.empty()) build_router(io, *app, api);
  if (app->auto_quotas) app->auto_quotas->start(io);  // then every --quota-refresh-s
  bedrock::ModelClient& model_client =
      app->router ? static_cast<bedrock::ModelClient&>(*app->router) : static_cast<bedrock::ModelClient&>(*app->limited);
  const std::string model_id = app->router ? app->target_specs.front().model_id : o.model_id;
  if (app->router) app->profile = ratelimit::model_profile(model_id, app->rate_limit);

  app->chat_config.model_id = model_id;
  app->chat_config.model_aliases = std::move(aliases);
  app->chat_config.prompt_cache = o.prompt_cache;
  app->chat_config.guardrail = parse_guardrail(o.guardrail, o.guardrail_trace);
  app->chat_config.limits.max_input_chars = o.max_input_chars;
  app->chat_config.limits.history_turns = o.history_turns;
  app->chat_config.rate_limit = app->rate_limit;
  app->chat = std::make_unique<agent::ChatService>(model_client, *app->history, app->chat_config, app->files.get(),
                                                   app->idempotency.get(), system_clock());

  app->context = std::make_unique<http::ApiContext>(http::ApiContext{
      .chat = *app->chat,
      .history = *app->history,
      .keys = app->keys,
      .config = {.body_limit = o.max_body_bytes,
                 .request_timeout = std::chrono::seconds(o.request_timeout_s),
                 .version = BA_VERSION,
                 .model_id = model_id,
                 .region = app->region,
                 .api = o.api,
                 .history = app->history_spec,
                 .budget = app->shared_budget_spec.empty() ? std::string("per_process") : app->shared_budget_spec,
                 .credentials_source = app->credentials_source,
                 .trust_lambda_headers = mode == Mode::lambda,
                 .cors_origins = o.cors_origins,
                 .rate_limit = app->rate_limit},
      .metrics = &app->registry,
  });
  // POST /files carries base64 (4/3 of the file) in JSON; PUT /files/{name} the raw bytes.
  app->context->config.files_body_limit = o.max_file_bytes / 3 * 4 + 64 * 1024;
  app->context->files = app->files.get();
  if (app->router) {
    app->context->targets = [a = app.get()] {
      std::vector<http::TargetHealth> out;
      const auto status = a->router->status();
      for (std::size_t i = 0; i < status.size(); ++i) {
        const auto& st = status[i];
        const auto& spec = a->target_specs[i];
        http::TargetHealth t;
        t.model_id = st.model_id;
        t.region = st.region;
        t.circuit = st.circuit == ratelimit::Circuit::State::closed ? "closed"
                    : st.circuit == ratelimit::Circuit::State::open ? "open"
                                                                    : "half_open";
        t.in_rotation = !st.removed;
        t.rpm = spec.effective_rpm(a->options.max_rpm);
        t.tpm = spec.effective_tpm(a->options.max_tpm);
        if (a->auto_quotas && i < a->auto_quotas->size()) {
          const auto l = a->auto_quotas->limits(i);
          t.rpm = l.rpm;
          t.tpm = l.tpm;
          t.rpm_source = a->auto_quotas->rpm_source(i);
          t.tpm_source = a->auto_quotas->tpm_source(i);
        }
        t.weight = spec.weight;
        out.push_back(std::move(t));
      }
      return out;
    };
  }
  return app;
}

std::string startup_fields(const App& app) {
  const ServeOptions& o = app.options;
  json::object info;
  info["version"] = BA_VERSION;
  info["model"] = app.chat_config.model_id;
  if (!app.chat_config.model_aliases.empty()) {
    json::object aliases;
    for (const auto& [name, target] : app.chat_config.model_aliases) aliases[name] = target;
    info["model_aliases"] = std::move(aliases);
  }
  info["region"] = app.region;
  if (!app.target_specs.empty()) {
    json::array targets;
    for (std::size_t i = 0; i < app.target_specs.size(); ++i) {
      const auto& t = app.target_specs[i];
      json::object to;
      to["model"] = t.model_id;
      to["region"] = t.region;
      to["rpm"] = t.effective_rpm(o.max_rpm);
      to["tpm"] = t.effective_tpm(o.max_tpm);
      if (app.auto_quotas && i < app.auto_quotas->size()) {
        const auto l = app.auto_quotas->limits(i);
        to["rpm"] = l.rpm;
        to["tpm"] = l.tpm;
        to["rpm_source"] = app.auto_quotas->rpm_source(i);
        to["tpm_source"] = app.auto_quotas->tpm_source(i);
      }
      if (t.weight != 1) to["weight"] = t.weight;
      if (t.units) to["units"] = *t.units;
      if (i < app.targets.size()) to["endpoint"] = app.targets[i]->endpoint;
      targets.push_back(std::move(to));
    }
    info["targets"] = std::move(targets);
    info["spill_after_ms"] = o.spill_after_ms;
  }
  info["api"] = o.api;
  if (app.chat_config.guardrail) {
    info["guardrail"] = app.chat_config.guardrail->identifier + ":" + app.chat_config.guardrail->version;
  }
  if (o.prompt_cache) {  // on, or asked for with a model that takes no cache points (then /chat sends none)
    info["prompt_cache"] = bedrock::prompt_cache_support(app.chat_config.model_id).any() ? "on" : "unsupported_by_model";
  }
  info["history"] = app.history_spec;
  info["files"] = app.files_spec;
  info["credentials"] = app.credentials_source.empty() ? "none" : app.credentials_source;
  info["bedrock_auth"] = app.bedrock_auth;
  info["auth"] = app.mode == Mode::lambda ? "api_gateway" : (app.keys.empty() ? "none" : "api_key");
  info["simulate"] = o.simulate;
  info["max_rpm"] = app.rate_limit.limits.rpm;
  info["max_tpm"] = app.rate_limit.limits.tpm;
  if (o.max_rpm_auto || o.max_tpm_auto) {
    info["quota_refresh_s"] = o.quota_refresh_s;
    if (app.target_specs.empty() && app.auto_quotas) {
      info["rpm_source"] = app.auto_quotas->rpm_source(0);
      info["tpm_source"] = app.auto_quotas->tpm_source(0);
    }
  }
  info["max_tokens_per_day"] = o.max_tokens_per_day;
  info["budget"] = app.shared_budget_spec.empty() ? std::string("per_process") : app.shared_budget_spec;
  info["max_tokens"] = app.profile.default_max_tokens;
  info["max_tokens_clamp"] = app.profile.max_tokens_clamp;
  info["burndown"] = app.profile.burndown;
  info["request_timeout_s"] = o.request_timeout_s;
  if (o.simulate) info["simulator"] = app.endpoint;
  if (app.max_open_files) info["max_open_files"] = app.max_open_files;
  json::value doc = std::move(info);
  whole_numbers_as_integers(doc);  // "max_rpm":50, not 5E1
  std::string s = json::serialize(doc);
  return s.substr(1, s.size() - 2);
}

namespace {

void log_startup_warnings(const App& app) {
  const ServeOptions& o = app.options;
  if (!app.region_note.empty()) log_line("warn", app.region_note.c_str());
  if (o.request_timeout_s > 29) {
    log_line("warn", "--request-timeout is above API Gateway's 29 s integration timeout");
  }
  const std::int64_t clamp_cost =
      ratelimit::estimate_cost(0, app.profile.max_tokens_clamp, app.profile.burndown);
  if (o.max_tpm > 0 && static_cast<double>(clamp_cost) > o.max_tpm) {
    log_line("warn", "--max-tpm is below max_tokens_clamp x burndown: requests asking for the clamp get 400",
             "\"clamp_cost\":" + std::to_string(clamp_cost));
  }
  if (app.max_open_files && app.max_open_files < 4096) {
    log_line("warn", "the limit on open files is low: each chat in flight holds two sockets (raise it with ulimit -n or LimitNOFILE=)",
             "\"max_open_files\":" + std::to_string(app.max_open_files));
  }
  if (app.credentials_source.empty()) {
    log_line("warn", "no AWS credentials found; /chat answers 503 until some are configured",
             "\"hint\":" + json::serialize(json::value(app.chat_config.credentials_hint)));
  }
}

}  // namespace

void log_startup(const App& app, const std::string& extra_json) {
  std::string fields = extra_json.empty() ? startup_fields(app) : extra_json + "," + startup_fields(app);
  log_line("info", app.mode == Mode::lambda ? "lambda runtime starting" : "listening", fields);
  log_startup_warnings(app);
}

}  // namespace ba::cli
