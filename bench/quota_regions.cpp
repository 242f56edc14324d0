// bench/quota_regions: routing over two regions (issue 18) against the same load on one region.
//
// One process, one io_context. Each region is a `simulate-bedrock` with a request quota of its own
// (--rpm per region, a minute's burst); the agent's API server in front; --clients callers posting /chat.
//   single : one target (today's path: one RetryingClient, budget = the region's quota)
//   two    : two targets in two regions (the Router over a RetryingClient per region, budget = each quota)
// Callers are closed-loop (the next request when the previous answers; Retry-After honoured on a 429),
// so they want more than the quota; with --pace-rpm=N they want N requests per minute in all (each
// caller at N/clients, a request at most every 60·clients/N s). Reported over a window after a warm-up:
// goodput (successful requests per minute) as % of the combined quota and of the demand, upstream
// throttled calls as % of upstream calls, client-visible errors, p50/p99 latency, calls per region.
// Usage: build/bench_quota_regions [--seconds=60] [--warmup=10] [--clients=20] [--rpm=600]
//        [--ttft-ms=300] [--pace-rpm=0] [--only=single,two] [--json=bench/results/quota-regions.json]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "bedrock/client.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "quota_support.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retrying_client.hpp"
#include "ratelimit/router.hpp"
#include "sim/simulator.hpp"
#include "store/no_history.hpp"
#include "util/json_number.hpp"
#include "util/metrics.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono;
using namespace ba;
using bench::percentile;
using bench::prompt;
using bench::sleep_until;

namespace {

const char* kModel = "anthropic.claude-3-sonnet-20240229-v1:0";

struct Params {
  int seconds = 60, warmup = 10, clients = 20;
  std::int64_t rpm = 600;  // per region
  int ttft_ms = 300;
  double pace_rpm = 0;     // 0: closed loop
  std::string only = "single,two";
  std::string json_path = std::string(BA_SOURCE_DIR) + "/bench/results/quota-regions.json";
};

struct Sample {
  SteadyTime done;
  double latency_ms;
  int status;
  std::string error_type;
};

struct RunResult {
  std::string name;
  int regions = 1;
  double goodput_rpm = 0, quota_pct = 0, demand_pct = 0, throttled_pct = 0;
  std::uint64_t upstream_calls = 0, upstream_throttled = 0, ok = 0, failed = 0;
  std::map<std::string, std::uint64_t> errors;
  std::vector<std::uint64_t> per_region_ok;
  double p50_ms = 0, p99_ms = 0;
};

struct Region {
  std::unique_ptr<sim::Simulator> simulator;
  std::unique_ptr<bedrock::ModelClient> model;
  std::unique_ptr<ratelimit::InProcessBudgetStore> store;
  std::unique_ptr<ratelimit::LimiterAdmission> admission;
  std::unique_ptr<ratelimit::RetryBudget> retry_budget;
  std::unique_ptr<ratelimit::RetryingClient> client;
  sim::SimStats start, end;
};

RunResult run(const Params& p, int regions) {
  asio::io_context io;
  auto upstream_http = net::make_http_client(io, {.max_idle_per_origin = 1024});
  auto creds = aws::make_static_provider({.access_key_id = "AKIDBENCH", .secret_access_key = "bench-secret"});
  metrics::Registry registry;
  const char* names[] = {"us-east-1", "us-west-2"};
  std::vector<std::unique_ptr<Region>> rs;
  std::vector<ratelimit::RouterTarget> targets;
  ratelimit::RateLimitConfig base;
  base.limits.rpm = static_cast<double>(p.rpm);
  base.limits.tpm = 0;
  for (int i = 0; i < regions; ++i) {
    auto r = std::make_unique<Region>();
    sim::SimulatorOptions so;
    so.rpm = p.rpm;
    so.region = names[i];
    so.ttft = milliseconds(p.ttft_ms);
    so.reply_tokens = 20;
    so.fault_header = false;
    r->simulator = sim::make_simulator(io, so);
    auto port = r->simulator->start().value();
    r->model = bedrock::make_bedrock_client(*upstream_http, *creds,
                                            {.region = names[i], .endpoint = "http://127.0.0.1:" + std::to_string(port)});
    ratelimit::RateLimitConfig c = base;
    if (regions > 1) c.retry.max_attempts = 1;  // the router retries
    r->store = std::make_unique<ratelimit::InProcessBudgetStore>(c, ba::system_clock());
    r->admission = std::make_unique<ratelimit::LimiterAdmission>(*r->store, ba::system_clock());
    r->retry_budget = std::make_unique<ratelimit::RetryBudget>(c.retry);
    r->client = std::make_unique<ratelimit::RetryingClient>(*r->model, *r->admission, *r->retry_budget, registry,
                                                            ba::system_clock(), ba::system_random(),
                                                            ratelimit::RetryingClient::Options{.region = names[i], .config = c});
    targets.push_back({kModel, names[i], r->client.get()});
    rs.push_back(std::move(r));
  }
  ratelimit::RetryBudget retry_budget(base.retry);
  ratelimit::RouterConfig rc;
  rc.retry = base.retry;
  std::unique_ptr<ratelimit::Router> router;
  if (regions > 1) {
    router = std::make_unique<ratelimit::Router>(std::move(targets), retry_budget, registry, ba::system_clock(),
                                                 ba::system_random(), rc);
  }
  bedrock::ModelClient& model = router ? static_cast<bedrock::ModelClient&>(*router) : *rs[0]->client;

  auto history = store::make_no_history();
  agent::ChatService chat(model, *history);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat, .history = *history, .keys = keys, .config = {}, .metrics = &registry,
                       .log = [](std::string_view) {}};
  ctx.config.request_timeout = seconds(25);
  auto server = net::make_http_server(io, {.host = "127.0.0.1", .port = 0}, http::make_api_handler(ctx));
  auto port = server->start().value();

  auto client_http = net::make_http_client(io, {.max_idle_per_origin = 1024});
  std::vector<Sample> samples;
  auto start = steady_clock::now();
  auto window_start = start + seconds(p.warmup);
  auto window_end = window_start + seconds(p.seconds);
  int running = p.clients;
  const auto interval = p.pace_rpm > 0 ? duration_cast<steady_clock::duration>(duration<double>(60.0 * p.clients / p.pace_rpm))
                                       : steady_clock::duration::zero();

  for (int c = 0; c < p.clients; ++c) {
    asio::co_spawn(
        io,
        [&, c]() -> asio::awaitable<void> {
          // Paced callers start spread over one interval.
          auto next = start + (p.pace_rpm > 0 ? interval * c / p.clients : steady_clock::duration::zero());
          for (int n = 0; steady_clock::now() < window_end; ++n) {
            if (p.pace_rpm > 0) {
              co_await sleep_until(next);
              next += interval;
            }
            json::object body{{"input", prompt(c, n)}, {"include_history", false}, {"max_tokens", 100}};
            net::HttpRequest req{.method = "POST", .url = "http://127.0.0.1:" + std::to_string(port) + "/chat",
                                 .headers = {{"Content-Type", "application/json"}},
                                 .body = json::serialize(body)};
            auto t0 = steady_clock::now();
            auto r = co_await client_http->send(std::move(req), {.read_timeout = seconds(29), .deadline = t0 + seconds(29)});
            Sample s{.done = steady_clock::now(), .latency_ms = 0, .status = 0, .error_type = {}};
            s.latency_ms = duration<double, std::milli>(s.done - t0).count();
            std::optional<double> retry_after;
            if (!r) {
              s.error_type = "client_" + std::string(to_string(r.error().kind));
            } else {
              s.status = r->status;
              if (r->status != 200) {
                boost::system::error_code ec;
                auto v = json::parse(r->body, ec);
                s.error_type = std::to_string(r->status) +
                               (!ec && v.is_object() && v.as_object().contains("error")
                                    ? " " + json::value_to<std::string>(v.at("error").at("type"))
                                    : std::string());
              }
              if (r->status == 429) {
                if (auto h = r->headers.get("Retry-After")) retry_after = std::atof(std::string(*h).c_str());
              }
            }
            samples.push_back(std::move(s));
            if (p.pace_rpm <= 0 && retry_after && *retry_after > 0) {
              co_await sleep_until(steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(*retry_after)));
            }
          }
          if (--running == 0) {
            server->stop(milliseconds(100));
            for (auto& r : rs) r->simulator->stop(milliseconds(100));
          }
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await sleep_until(window_start);
        for (auto& r : rs) r->start = r->simulator->stats();
        co_await sleep_until(window_end);
        for (auto& r : rs) r->end = r->simulator->stats();
      },
      asio::detached);
  io.run();

  RunResult out;
  out.name = regions > 1 ? "two" : "single";
  out.regions = regions;
  std::vector<double> latencies;
  for (const auto& s : samples) {
    if (s.done < window_start || s.done >= window_end) continue;
    latencies.push_back(s.latency_ms);
    if (s.status == 200) {
      ++out.ok;
    } else {
      ++out.failed;
      ++out.errors[s.error_type];
    }
  }
  const double minutes = p.seconds / 60.0;
  out.goodput_rpm = static_cast<double>(out.ok) / minutes;
  out.quota_pct = 100.0 * out.goodput_rpm / (static_cast<double>(p.rpm) * regions);
  out.demand_pct = p.pace_rpm > 0 ? 100.0 * out.goodput_rpm / p.pace_rpm : 0;
  for (auto& r : rs) {
    out.upstream_calls += r->end.requests_total - r->start.requests_total;
    out.upstream_throttled += r->end.throttled - r->start.throttled;
    out.per_region_ok.push_back(r->end.succeeded - r->start.succeeded);
  }
  out.throttled_pct =
      out.upstream_calls ? 100.0 * static_cast<double>(out.upstream_throttled) / static_cast<double>(out.upstream_calls) : 0;
  out.p50_ms = percentile(latencies, 0.50);
  out.p99_ms = percentile(latencies, 0.99);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "--seconds") p.seconds = std::stoi(v);
    else if (k == "--warmup") p.warmup = std::stoi(v);
    else if (k == "--clients") p.clients = std::stoi(v);
    else if (k == "--rpm") p.rpm = std::stoll(v);
    else if (k == "--ttft-ms") p.ttft_ms = std::stoi(v);
    else if (k == "--pace-rpm") p.pace_rpm = std::stod(v);
    else if (k == "--only") p.only = v;
    else if (k == "--json") p.json_path = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::fprintf(stderr, "quota_regions: %lld RPM per region, %d clients (%s), %d s window after %d s warm-up\n",
               static_cast<long long>(p.rpm), p.clients,
               p.pace_rpm > 0 ? ("paced at " + std::to_string(static_cast<int>(p.pace_rpm)) + " RPM").c_str() : "closed loop",
               p.seconds, p.warmup);
  json::array runs;
  for (int regions : {1, 2}) {
    const std::string name = regions > 1 ? "two" : "single";
    if (p.only.find(name) == std::string::npos) continue;
    RunResult r = run(p, regions);
    std::string per_region;
    for (auto n : r.per_region_ok) per_region += (per_region.empty() ? "" : "/") + std::to_string(n);
    std::fprintf(stderr,
                 "  %-6s goodput %.0f RPM = %.1f%% of %lld RPM%s | upstream %llu calls, %.2f%% throttled | ok %llu "
                 "failed %llu | p50 %.0f ms p99 %.0f ms | ok per region %s\n",
                 r.name.c_str(), r.goodput_rpm, r.quota_pct, static_cast<long long>(p.rpm * regions),
                 p.pace_rpm > 0 ? (" (" + std::to_string(static_cast<int>(r.demand_pct)) + "% of demand)").c_str() : "",
                 static_cast<unsigned long long>(r.upstream_calls), r.throttled_pct,
                 static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.failed), r.p50_ms, r.p99_ms,
                 per_region.c_str());
    for (const auto& [type, n] : r.errors) std::fprintf(stderr, "         %s: %llu\n", type.c_str(), static_cast<unsigned long long>(n));
    json::object o;
    o["run"] = r.name;
    o["regions"] = r.regions;
    o["goodput_rpm"] = r.goodput_rpm;
    o["quota_pct"] = r.quota_pct;
    o["demand_pct"] = r.demand_pct;
    o["upstream_calls"] = r.upstream_calls;
    o["upstream_throttled"] = r.upstream_throttled;
    o["throttled_pct"] = r.throttled_pct;
    o["ok"] = r.ok;
    o["failed"] = r.failed;
    json::object errors;
    for (const auto& [type, n] : r.errors) errors[type] = n;
    o["errors"] = std::move(errors);
    json::array per;
    for (auto n : r.per_region_ok) per.push_back(n);
    o["ok_per_region"] = std::move(per);
    o["p50_ms"] = r.p50_ms;
    o["p99_ms"] = r.p99_ms;
    runs.push_back(std::move(o));
  }
  json::object doc{{"rpm_per_region", p.rpm}, {"clients", p.clients}, {"seconds", p.seconds}, {"warmup", p.warmup},
                   {"ttft_ms", p.ttft_ms}, {"pace_rpm", p.pace_rpm}, {"runs", std::move(runs)}};
  json::value v = std::move(doc);
  whole_numbers_as_integers(v);
  std::ofstream(p.json_path) << json::serialize(v) << "\n";
  std::fprintf(stderr, "wrote %s\n", p.json_path.c_str());
  return 0;
}
