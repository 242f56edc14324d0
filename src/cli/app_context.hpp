#pragma once
// "The app": everything `serve` and the Lambda mode share, built once per process (per Lambda
// container) by build_app and run by run_as_server or run_as_lambda. One construction path, so the
// server and the Lambda function cannot drift apart (credentials, model client, rate limiter, history,
// API context).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "aws/dynamodb.hpp"
#include "aws/s3.hpp"
#include "aws/endpoints.hpp"
#include "aws/service_quotas.hpp"
#include "bedrock/model_client.hpp"
#include "cli/options.hpp"
#include "http/api.hpp"
#include "http/auth.hpp"
#include "net/http_client.hpp"
#include "ratelimit/config.hpp"
#include "ratelimit/auto_quotas.hpp"
#include "ratelimit/cost.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retry.hpp"
#include "ratelimit/retrying_client.hpp"
#include "ratelimit/router.hpp"
#include "ratelimit/targets.hpp"
#include "sim/simulator.hpp"
#include "store/files.hpp"
#include "store/history.hpp"
#include "store/idempotency.hpp"
#include "util/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::cli {

enum class Mode { server, lambda };

// Start-up configuration errors: exit code 2 (serve) or an init error (Lambda).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The history backend spec, decided in this one place: --history / BEDROCK_AGENT_HISTORY when given,
// else CONVERSATION_TABLE (the template's DynamoDB table) as "dynamodb:<table>", else
// sqlite:/tmp/history.db in Lambda (the only writable path there) and sqlite:./data/history.db otherwise.
std::string resolve_history(const std::string& option, Mode mode, const aws::GetEnv& env = aws::process_env());

// The file store spec, likewise: --files / BEDROCK_AGENT_FILES when given, else FILES_BUCKET (the
// template's bucket) as "s3://<bucket>", else /tmp/files in Lambda and ./data/files otherwise.
std::string resolve_files(const std::string& option, Mode mode, const aws::GetEnv& env = aws::process_env());

// The shared budget spec: --shared-budget / BEDROCK_AGENT_SHARED_BUDGET when given, else in Lambda
// mode BUDGET_TABLE (the template's table) as "dynamodb:<table>", else empty (a per-process budget).
std::string resolve_shared_budget(const std::string& option, Mode mode, const aws::GetEnv& env = aws::process_env());

// Members in construction order (destroyed in reverse). Built only by build_app.
struct App {
  ServeOptions options;
  Mode mode = Mode::server;
  std::string history_spec;  // resolve_history's answer
  std::string region;
  std::string region_note;  // a warning to log, if the region was defaulted
  std::string endpoint;
  std::string credentials_source;
  // "api_key" when AWS_BEARER_TOKEN_BEDROCK is set (Bedrock calls carry it as a bearer token), else "sigv4".
  std::string bedrock_auth = "sigv4";
  std::uint64_t max_open_files = 0;  // serve: the soft limit after raise_open_file_limit (0: not known)
  std::unique_ptr<sim::Simulator> simulator;
  std::unique_ptr<net::HttpClient> http_client;
  std::unique_ptr<aws::CredentialsProvider> credentials;
  std::unique_ptr<bedrock::ModelClient> model;
  std::string files_spec;  // resolve_files's answer
  std::unique_ptr<aws::CredentialsProvider> store_credentials;  // --simulate with AWS stores only
  std::unique_ptr<aws::S3Client> s3;                            // --files s3://...
  std::unique_ptr<aws::dynamodb::Client> dynamodb;              // --history dynamodb:...
  std::unique_ptr<store::FileStore> files;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<store::IdempotencyStore> idempotency;
  http::ApiKeys keys;
  ratelimit::RateLimitConfig rate_limit;
  ratelimit::ModelProfile profile;
  metrics::Registry registry;
  std::string shared_budget_spec;                                // resolve_shared_budget's answer
  std::unique_ptr<aws::dynamodb::Client> budget_dynamodb;        // --shared-budget: no retries, short timeouts
  std::unique_ptr<ratelimit::BudgetStore> budget_store;          // per process, or the shared table
  std::unique_ptr<ratelimit::LimiterAdmission> admission;
  // serve --threads N > 1 with --shared-budget: the admission every io thread uses, run on the main
  // context (the shared store is not thread-safe). Null otherwise: `admission` is used directly.
  std::unique_ptr<ratelimit::OwnedAdmission> owned_admission;
  std::unique_ptr<ratelimit::RetryBudget> retry_budget;
  std::unique_ptr<ratelimit::RetryingClient> limited;
  bool budget_table_checked = false;                             // --shared-budget: the table answered at start-up
  // Targets (--target / --targets-file): a stack each and the router over them; empty: `limited` serves.
  struct TargetStack {
    std::string endpoint;
    std::unique_ptr<bedrock::ModelClient> model;
    std::unique_ptr<ratelimit::BudgetStore> store;
    std::unique_ptr<ratelimit::LimiterAdmission> admission;
    std::unique_ptr<ratelimit::OwnedAdmission> owned_admission;  // as App::owned_admission
    std::unique_ptr<ratelimit::RetryBudget> retry_budget;
    std::unique_ptr<ratelimit::RetryingClient> client;
  };
  std::vector<ratelimit::TargetSpec> target_specs;               // defaults filled (model, region)
  std::vector<std::unique_ptr<sim::Simulator>> region_simulators;  // --simulate: one per other target region
  std::vector<std::unique_ptr<TargetStack>> targets;
  std::unique_ptr<ratelimit::Router> router;
  // --max-rpm/--max-tpm auto (or rpm=/tpm=auto per target): one Service Quotas client per region read,
  // and the refresher (one entry per target, or one for the single-target path). After the stores it
  // updates, so it goes first.
  std::map<std::string, std::string> simulated_endpoints;  // --simulate: region -> its simulator's URL
  std::map<std::string, std::unique_ptr<aws::service_quotas::Client>> quota_clients;  // by endpoint + region
  std::unique_ptr<ratelimit::AutoQuotas> auto_quotas;
  agent::ChatConfig chat_config;
  std::unique_ptr<agent::ChatService> chat;
  std::unique_ptr<http::ApiContext> context;
};

// Validates the options and builds the app on `io` (which must outlive it). Throws ConfigError for
// invalid configuration, std::runtime_error for other start-up failures. Lambda mode: the API trusts
// the adapter's x-ba-* headers and API keys are not used (API Gateway authenticates).
// --guardrail ID:VERSION and --guardrail-trace: none when `spec` is empty; a ConfigError unless ID is a
// guardrail id (1-64 of a-z 0-9) or a guardrail ARN and VERSION is DRAFT or 1-99999999.
std::optional<bedrock::GuardrailConfig> parse_guardrail(const std::string& spec, const std::string& trace);

std::unique_ptr<App> build_app(boost::asio::io_context& io, const ServeOptions& options, Mode mode);

// The start-up log line's fields (JSON members without braces), for both modes.
std::string startup_fields(const App& app);

// The start-up log line ("listening" / "lambda runtime starting") and its warnings; `extra_json` are
// more members without braces (may be empty).
void log_startup(const App& app, const std::string& extra_json = {});

// The CA bundle the Lambda mode points OpenSSL at (SSL_CERT_FILE), or empty to leave it alone. The
// packaged binary carries the build machine's OpenSSL, whose default paths (Debian: /usr/lib/ssl) do
// not exist on Amazon Linux 2023. Empty when SSL_CERT_FILE/SSL_CERT_DIR is set or `default_file`
// exists; else the first existing of /etc/pki/tls/certs/ca-bundle.crt (Amazon Linux),
// /etc/ssl/certs/ca-certificates.crt (Debian/Ubuntu), /etc/ssl/cert.pem.
std::string lambda_ca_bundle(const std::string& default_file, const std::function<bool(const std::string&)>& exists,
                             const aws::GetEnv& env = aws::process_env());

// Serves HTTP until SIGINT/SIGTERM (exit codes as run_serve), on `io` run by the calling thread and on
// each of `more` run by a thread of its own (--threads; joined before it returns; the contexts must
// outlive the app). The first overload: `io` alone.
int run_as_server(boost::asio::io_context& io, App& app);
int run_as_server(boost::asio::io_context& io, std::vector<std::unique_ptr<boost::asio::io_context>>& more, App& app);

// Runs the Lambda Runtime API loop (AWS_LAMBDA_RUNTIME_API) until the Runtime API fails (1) or a signal.
int run_as_lambda(boost::asio::io_context& io, App& app, const std::string& runtime_api);

}  // namespace ba::cli
