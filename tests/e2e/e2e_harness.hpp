#pragma once
// End-to-end harness: the Bedrock simulator, the real Bedrock client wrapped in the rate limiter's
// RetryingClient (as `serve` wires it), and the API server, all on one io_context in this thread, and a
// real HTTP client as the caller (loopback only).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "bedrock/client.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "ratelimit/config.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retry.hpp"
#include "ratelimit/retrying_client.hpp"
#include "sim/simulator.hpp"
#include "store/sqlite_history.hpp"
#include "util/encoding.hpp"
#include "util/metrics.hpp"

namespace ba::test {

// Test defaults: budgets that do not get in the way, tiny retry bases so retries are quick (tests never
// assert durations), adaptive rate off (it makes the request after a throttle wait up to 2 s).
inline ratelimit::RateLimitConfig test_rate_limit() {
  ratelimit::RateLimitConfig c;
  c.limits.rpm = 100'000;
  c.retry.base = std::chrono::milliseconds(1);
  c.retry.throttle_base = std::chrono::milliseconds(2);
  c.retry.cap = std::chrono::milliseconds(5);
  c.adaptive = false;
  c.default_deadline = std::chrono::seconds(25);
  return c;
}

struct StackOptions {
  std::vector<std::string> api_keys;
  bool no_credentials = false;  // the default chain with an empty environment
  sim::SimulatorOptions sim;
  bool limiter = true;          // wrap the Bedrock client in RetryingClient (as serve does)
  ratelimit::RateLimitConfig rate_limit = test_rate_limit();
};

class Stack {
 public:
  explicit Stack(StackOptions o = {}) {
    dir_ = std::filesystem::temp_directory_path() / ("ba-e2e-" + uuid_v4());
    o.sim.host = "127.0.0.1";
    o.sim.port = 0;
    o.sim.region = "us-east-1";
    o.sim.access_key_id = "AKIDE2ETEST";
    o.sim.secret_access_key = "e2e-secret";
    simulator = sim::make_simulator(io, o.sim);
    auto sport = simulator->start();
    if (!sport) throw std::runtime_error(sport.error().message);

    upstream_http = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
    if (o.no_credentials) {
      aws::ProviderSettings ps;
      ps.home = dir_.string();
      ps.getenv = [](std::string_view name) -> std::optional<std::string> {
        if (name == "AWS_EC2_METADATA_DISABLED") return "true";
        return std::nullopt;
      };
      credentials = aws::make_default_chain(*upstream_http, ps);
    } else {
      credentials = aws::make_static_provider(
          {.access_key_id = "AKIDE2ETEST", .secret_access_key = "e2e-secret", .source = "static"});
    }
    model = bedrock::make_bedrock_client(
        *upstream_http, *credentials,
        bedrock::BedrockConfig{.region = "us-east-1", .endpoint = "http://127.0.0.1:" + std::to_string(*sport)});
    auto h = store::make_sqlite_history((dir_ / "history.db").string());
    if (!h) throw std::runtime_error(h.error().message);
    history = std::move(*h);
    agent::ChatConfig cc;
    cc.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
    cc.rate_limit = o.rate_limit;
    bedrock::ModelClient* used = model.get();
    if (o.limiter) {
      budget_store = std::make_unique<ratelimit::InProcessBudgetStore>(o.rate_limit, system_clock());
      admission = std::make_unique<ratelimit::LimiterAdmission>(*budget_store, system_clock());
      retry_budget = std::make_unique<ratelimit::RetryBudget>(o.rate_limit.retry);
      limited = std::make_unique<ratelimit::RetryingClient>(
          *model, *admission, *retry_budget, registry, system_clock(), random,
          ratelimit::RetryingClient::Options{.region = "us-east-1", .config = o.rate_limit});
      used = limited.get();
    }
    chat = std::make_unique<agent::ChatService>(*used, *history, cc);
    keys = http::ApiKeys(o.api_keys);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *chat,
        .history = *history,
        .keys = keys,
        .config = {.request_timeout = o.rate_limit.default_deadline,  // one value, as serve sets it
                   .model_id = cc.model_id,
                   .region = "us-east-1",
                   .credentials_source = o.no_credentials ? "" : "static",
                   .rate_limit = o.rate_limit},
        .metrics = &registry,
        .log = [this](std::string_view line) { logs.emplace_back(line); },
    });
    net::ServerOptions so;
    so.error_response = http::server_error_response;
    so.body_limit = 64 * 1024;
    server = net::make_http_server(io, so, http::make_api_handler(*context));
    auto port = server->start();
    if (!port) throw std::runtime_error(port.error().message);
    base = "http://127.0.0.1:" + std::to_string(*port);
    caller = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  }

  ~Stack() {
    server->stop(std::chrono::milliseconds(0));
    simulator->stop(std::chrono::milliseconds(0));
    io.restart();
    io.run_for(std::chrono::milliseconds(500));
    caller.reset();
    server.reset();
    upstream_http.reset();
    simulator.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs `task` on the shared io_context until it completes (servers keep running in between).
  template <class T>
  T run(boost::asio::awaitable<T> task) {
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
      error = e;
      if (!e) out.emplace(std::move(value));
      io.stop();
    });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
  }

  net::HttpResponse send(std::string method, std::string path, std::string body = {}, net::Headers headers = {}) {
    net::HttpRequest req;
    req.method = std::move(method);
    req.url = base + path;
    req.headers = std::move(headers);
    if (!body.empty() && !req.headers.has("content-type")) req.headers.set("Content-Type", "application/json");
    req.body = std::move(body);
    auto r = run(caller->send(std::move(req)));
    if (!r) throw std::runtime_error("caller: " + r.error().message);
    return std::move(*r);
  }

  net::HttpResponse chat_call(const boost::json::object& body, net::Headers headers = {}) {
    return send("POST", "/chat", boost::json::serialize(body), std::move(headers));
  }

  boost::asio::io_context io;
  std::unique_ptr<sim::Simulator> simulator;
  std::unique_ptr<net::HttpClient> upstream_http;
  std::unique_ptr<aws::CredentialsProvider> credentials;
  std::unique_ptr<bedrock::ModelClient> model;
  metrics::Registry registry;
  SeededRandom random{42};
  std::unique_ptr<ratelimit::InProcessBudgetStore> budget_store;
  std::unique_ptr<ratelimit::LimiterAdmission> admission;
  std::unique_ptr<ratelimit::RetryBudget> retry_budget;
  std::unique_ptr<ratelimit::RetryingClient> limited;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> chat;
  http::ApiKeys keys;
  std::unique_ptr<http::ApiContext> context;
  std::unique_ptr<net::HttpServer> server;
  std::unique_ptr<net::HttpClient> caller;
  std::string base;
  std::vector<std::string> logs;

 private:
  std::filesystem::path dir_;
};

}  // namespace ba::test
