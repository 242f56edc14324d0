// bench/quota: quota efficiency of the rate limiter against a simulated Bedrock quota.
//
// One process, one io_context: `simulate-bedrock` enforcing a real quota (RPM + TPM, charged as Bedrock
// charges), the agent's API server in front of it, and many concurrent HTTP clients posting /chat.
// Three runs side by side on the same quota:
//   (a) our limiter with budget = the real quota
//   (b) our limiter with budget = 2x the real quota (adaptive rate must converge)
//   (c) the original design (request timestamps, sleep-and-recurse, 5 throttle retries), as baseline
// Clients honour Retry-After on a 429. Reported per run, over a steady-state window after a warm-up: goodput as % of the quota, upstream
// throttled calls as % of upstream calls, client-visible errors by type, p50/p99 latency.
// --burst-seconds=LIST sizes the simulator's buckets (seconds of the rate; Bedrock's hold less than a
// minute): every run is repeated for each burst in the list.
//
// --scenario=convergence (issue 12): how fast the adaptive budget finds a quota with a short burst. Only
// run (b) — budget 2x the quota, 1200 RPM against 600 RPM — with no history store (`--history none`),
// request-bound (no TPM quota or budget), 300 ms model latency, 20 clients, measured over the first
// 60 s from a cold start (no warm-up), for bursts of 1, 10 and 60 s. Any option below still overrides.
// Usage: build/bench_quota [--scenario=quota|convergence] [--seconds=60] [--warmup=45] [--clients=32]
//        [--rpm=600] [--tpm=60000] [--burst-seconds=60[,10,...]] [--max-tokens=300] [--reply-tokens=100]
//        [--ttft-ms=200] [--token-ms=10] [--only=a,b,c] [--history=sqlite|none]
//        [--json=bench/results/quota.json]   (convergence: bench/results/quota-convergence.json)
// BENCH_TRACE=1 prints the limiter's state and the simulator's counts every --trace-ms (default 5000).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "baseline_client.hpp"
#include "quota_support.hpp"
#include "bedrock/client.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retrying_client.hpp"
#include "sim/simulator.hpp"
#include "store/no_history.hpp"
#include "store/sqlite_history.hpp"
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

struct Params {
  std::string scenario = "quota";
  int seconds = 60, warmup = 45, clients = 32;
  std::int64_t rpm = 600, tpm = 60'000;
  std::vector<double> bursts{60};  // simulator bucket sizes, seconds of the rate
  double burst_seconds = 60;       // the one in force for a run
  int max_tokens = 300;
  std::int64_t reply_tokens = 100;
  int ttft_ms = 200, token_ms = 10;
  std::string only = "a,b,c";
  bool no_history = false;
  int trace_ms = 5000;
  std::string json_path = std::string(BA_SOURCE_DIR) + "/bench/results/quota.json";
};

// The convergence scenario's defaults (see the top of the file).
void convergence_defaults(Params& p) {
  p.scenario = "convergence";
  p.seconds = 60;
  p.warmup = 0;
  p.clients = 20;
  p.rpm = 600;
  p.tpm = 0;
  p.bursts = {1, 10, 60};
  p.ttft_ms = 300;
  p.token_ms = 0;
  p.only = "b";
  p.no_history = true;
  p.trace_ms = 1000;
  p.json_path = std::string(BA_SOURCE_DIR) + "/bench/results/quota-convergence.json";
}

struct Sample {
  SteadyTime done;
  double latency_ms;
  int status;
  std::string error_type;
  std::int64_t charged_tokens;  // input + output of a successful reply
};

struct RunResult {
  std::string name, description;
  double burst_seconds = 60;
  double goodput_pct = 0, request_util_pct = 0, token_util_pct = 0;
  double throttled_pct = 0;
  std::uint64_t upstream_calls = 0, upstream_throttled = 0;
  std::uint64_t ok = 0, failed = 0;
  std::map<std::string, std::uint64_t> errors;
  double p50_ms = 0, p99_ms = 0;
};

RunResult run(const Params& p, char which) {
  asio::io_context io;

  sim::SimulatorOptions so;
  so.rpm = p.rpm;
  so.tpm = p.tpm;
  so.burst_seconds = p.burst_seconds;
  so.reply_tokens = p.reply_tokens;
  so.ttft = milliseconds(p.ttft_ms);
  so.per_token = milliseconds(p.token_ms);
  so.fault_header = false;
  auto simulator = sim::make_simulator(io, so);
  auto sim_port = simulator->start().value();

  auto upstream_http = net::make_http_client(io, {.max_idle_per_origin = 1024});
  auto creds = aws::make_static_provider({.access_key_id = "AKIDBENCH", .secret_access_key = "bench-secret"});
  auto bedrock = bedrock::make_bedrock_client(
      *upstream_http, *creds,
      {.region = "us-east-1", .endpoint = "http://127.0.0.1:" + std::to_string(sim_port)});

  metrics::Registry registry;
  ratelimit::RateLimitConfig rl;
  double factor = which == 'b' ? 2.0 : 1.0;
  rl.limits.rpm = static_cast<double>(p.rpm) * factor;
  rl.limits.tpm = static_cast<double>(p.tpm) * factor;
  ratelimit::InProcessBudgetStore budget_store(rl, ba::system_clock());
  ratelimit::LimiterAdmission admission(budget_store, ba::system_clock());
  ratelimit::RetryBudget retry_budget(rl.retry);
  ratelimit::RetryingClient limited(*bedrock, admission, retry_budget, registry, ba::system_clock(), ba::system_random(),
                                    {.region = "us-east-1", .config = rl});
  bench::BaselineClient baseline(*bedrock, static_cast<int>(p.rpm), ba::system_random());
  bedrock::ModelClient& model = which == 'c' ? static_cast<bedrock::ModelClient&>(baseline) : limited;

  auto tmp = std::filesystem::temp_directory_path() / ("bench-quota-" + std::to_string(::getpid()) + which);
  std::filesystem::create_directories(tmp);
  auto history = p.no_history ? store::make_no_history() : store::make_sqlite_history((tmp / "history.db").string()).value();
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
  sim::SimStats at_window_start, at_window_end;
  int running = p.clients;

  for (int c = 0; c < p.clients; ++c) {
    asio::co_spawn(
        io,
        [&, c]() -> asio::awaitable<void> {
          for (int n = 0; steady_clock::now() < window_end; ++n) {
            json::object body{{"input", prompt(c, n)}, {"include_history", false}, {"max_tokens", p.max_tokens}};
            net::HttpRequest req{.method = "POST", .url = "http://127.0.0.1:" + std::to_string(port) + "/chat",
                                 .headers = {{"Content-Type", "application/json"}},
                                 .body = json::serialize(body)};
            auto t0 = steady_clock::now();
            // API Gateway's 29 s integration timeout is the caller's deadline.
            auto r = co_await client_http->send(std::move(req), {.read_timeout = seconds(29), .deadline = t0 + seconds(29)});
            Sample s{.done = steady_clock::now(), .latency_ms = 0, .status = 0, .error_type = {}, .charged_tokens = 0};
            s.latency_ms = duration<double, std::milli>(s.done - t0).count();
            if (!r) {
              s.error_type = "client_" + std::string(to_string(r.error().kind));
            } else {
              s.status = r->status;
              boost::system::error_code ec;
              auto v = json::parse(r->body, ec);
              if (r->status == 200 && !ec && v.is_object()) {
                auto& u = v.at("usage").as_object();
                s.charged_tokens = u.at("input_tokens").to_number<std::int64_t>() + u.at("output_tokens").to_number<std::int64_t>();
              } else if (!ec && v.is_object() && v.as_object().contains("error")) {
                s.error_type = std::to_string(r->status) + " " + json::value_to<std::string>(v.at("error").at("type"));
              } else {
                s.error_type = std::to_string(r->status);
              }
            }
            // A well-behaved caller honours Retry-After on a 429 before trying again.
            std::optional<double> retry_after;
            if (r && r->status == 429) {
              if (auto h = r->headers.get("Retry-After")) retry_after = std::atof(std::string(*h).c_str());
            }
            samples.push_back(std::move(s));
            if (retry_after && *retry_after > 0) {
              co_await sleep_until(steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(*retry_after)));
            }
          }
          if (--running == 0) {
            server->stop(milliseconds(100));
            simulator->stop(milliseconds(100));
          }
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await sleep_until(window_start);
        at_window_start = simulator->stats();
        sim::SimStats last = at_window_start;
        for (auto t = window_start; t < window_end; t += milliseconds(p.trace_ms)) {
          co_await sleep_until(t);
          if (std::getenv("BENCH_TRACE")) {
            auto snap = budget_store.snapshot({.model = "anthropic.claude-3-sonnet-20240229-v1:0", .region = "us-east-1"});
            auto now = simulator->stats();
            std::fprintf(stderr,
                         "  t=%5.1fs requests_available=%.1f tokens_available=%.0f waiting=%zu adaptive=%d "
                         "fill_rate=%.2f/s | upstream ok=%llu throttled=%llu\n",
                         duration<double>(t - start).count(), snap.requests_available, snap.tokens_available,
                         snap.waiting, int(snap.adaptive_enabled), snap.adaptive_fill_rate,
                         static_cast<unsigned long long>(now.succeeded - last.succeeded),
                         static_cast<unsigned long long>(now.throttled - last.throttled));
            last = now;
          }
        }
        co_await sleep_until(window_end);
        at_window_end = simulator->stats();
      },
      asio::detached);
  io.run();
  std::filesystem::remove_all(tmp);

  RunResult out;
  out.name = std::string(1, which);
  out.burst_seconds = p.burst_seconds;
  out.description = which == 'a'   ? "budget = quota"
                    : which == 'b' ? "budget = 2x quota"
                                   : "original design (baseline)";
  std::vector<double> latencies;
  std::int64_t tokens = 0;
  for (const auto& s : samples) {
    if (s.done < window_start || s.done >= window_end) continue;
    latencies.push_back(s.latency_ms);
    if (s.status == 200) {
      ++out.ok;
      tokens += s.charged_tokens;
    } else {
      ++out.failed;
      ++out.errors[s.error_type];
    }
  }
  double minutes = p.seconds / 60.0;
  out.request_util_pct = 100.0 * static_cast<double>(out.ok) / (static_cast<double>(p.rpm) * minutes);
  out.token_util_pct = p.tpm > 0 ? 100.0 * static_cast<double>(tokens) / (static_cast<double>(p.tpm) * minutes) : 0;
  out.goodput_pct = std::max(out.request_util_pct, out.token_util_pct);
  out.upstream_calls = at_window_end.requests_total - at_window_start.requests_total;
  out.upstream_throttled = at_window_end.throttled - at_window_start.throttled;
  out.throttled_pct = out.upstream_calls ? 100.0 * static_cast<double>(out.upstream_throttled) / static_cast<double>(out.upstream_calls) : 0;
  out.p50_ms = percentile(latencies, 0.50);
  out.p99_ms = percentile(latencies, 0.99);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {  // the scenario first: it sets defaults the other options override
    std::string a = argv[i];
    if (a == "--scenario=convergence") convergence_defaults(p);
    else if (a.starts_with("--scenario=") && a != "--scenario=quota") {
      std::fprintf(stderr, "unknown scenario %s (quota or convergence)\n", a.c_str());
      return 2;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "--scenario") continue;
    else if (k == "--seconds") p.seconds = std::stoi(v);
    else if (k == "--warmup") p.warmup = std::stoi(v);
    else if (k == "--clients") p.clients = std::stoi(v);
    else if (k == "--rpm") p.rpm = std::stoll(v);
    else if (k == "--tpm") p.tpm = std::stoll(v);
    else if (k == "--max-tokens") p.max_tokens = std::stoi(v);
    else if (k == "--reply-tokens") p.reply_tokens = std::stoll(v);
    else if (k == "--ttft-ms") p.ttft_ms = std::stoi(v);
    else if (k == "--token-ms") p.token_ms = std::stoi(v);
    else if (k == "--only") p.only = v;
    else if (k == "--burst-seconds") {
      p.bursts.clear();
      for (std::size_t from = 0; from <= v.size();) {
        auto comma = std::min(v.find(',', from), v.size());
        p.bursts.push_back(std::stod(v.substr(from, comma - from)));
        if (!(p.bursts.back() > 0)) {
          std::fprintf(stderr, "--burst-seconds: each value must be > 0\n");
          return 2;
        }
        from = comma + 1;
      }
    } else if (k == "--history") {
      if (v != "none" && v != "sqlite") {
        std::fprintf(stderr, "--history: sqlite or none\n");
        return 2;
      }
      p.no_history = v == "none";
    } else if (k == "--trace-ms") p.trace_ms = std::max(1, std::stoi(v));
    else if (k == "--json") p.json_path = v;
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of bench/quota.cpp)\n", a.c_str());
      return 2;
    }
  }
  std::string bursts;
  for (double b : p.bursts) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", b);
    bursts += (bursts.empty() ? "" : ", ") + std::string(buf);
  }
  std::printf("scenario %s; quota: %lld RPM, %lld TPM (0: none), bucket burst %s s; %d clients; max_tokens %d, "
              "reply %lld tokens, ~100 input tokens; latency %d ms + %d ms/token; history %s; window %d s after "
              "%d s warm-up\n",
              p.scenario.c_str(), static_cast<long long>(p.rpm), static_cast<long long>(p.tpm), bursts.c_str(),
              p.clients, p.max_tokens, static_cast<long long>(p.reply_tokens), p.ttft_ms, p.token_ms,
              p.no_history ? "none" : "sqlite", p.seconds, p.warmup);
  std::vector<RunResult> results;
  for (double burst : p.bursts) {
    p.burst_seconds = burst;
    for (char which : {'a', 'b', 'c'}) {
      if (p.only.find(which) == std::string::npos) continue;
      std::fprintf(stderr, "running (%c), burst %g s...\n", which, burst);
      results.push_back(run(p, which));
    }
  }
  std::printf("\n%-4s %-28s %7s %9s %9s %9s %11s %8s %8s %9s %9s  %s\n", "run", "", "burst", "goodput%", "req%",
              "tok%", "throttled%", "ok", "failed", "p50 ms", "p99 ms", "client errors");
  json::array arr;
  for (const auto& r : results) {
    std::string errs;
    json::object eo;
    for (const auto& [k, v] : r.errors) {
      errs += k + ":" + std::to_string(v) + " ";
      eo[k] = v;
    }
    std::printf("(%s)  %-28s %6gs %9.1f %9.1f %9.1f %11.2f %8llu %8llu %9.0f %9.0f  %s\n", r.name.c_str(),
                r.description.c_str(), r.burst_seconds, r.goodput_pct, r.request_util_pct, r.token_util_pct, r.throttled_pct,
                static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.failed), r.p50_ms, r.p99_ms,
                errs.empty() ? "-" : errs.c_str());
    arr.push_back(json::object{{"run", r.name}, {"description", r.description}, {"burst_seconds", r.burst_seconds},
                               {"goodput_pct", r.goodput_pct},
                               {"request_utilisation_pct", r.request_util_pct}, {"token_utilisation_pct", r.token_util_pct},
                               {"upstream_calls", r.upstream_calls}, {"upstream_throttled", r.upstream_throttled},
                               {"throttled_pct", r.throttled_pct}, {"ok", r.ok}, {"failed", r.failed},
                               {"errors", eo}, {"p50_ms", r.p50_ms}, {"p99_ms", r.p99_ms}});
  }
  json::array burst_list;
  for (double b : p.bursts) burst_list.push_back(b);
  json::object doc{{"benchmark", "quota"},
                   {"params", json::object{{"scenario", p.scenario}, {"burst_seconds", burst_list},
                                           {"history", p.no_history ? "none" : "sqlite"}, {"seconds", p.seconds}, {"warmup", p.warmup}, {"clients", p.clients},
                                           {"rpm", p.rpm}, {"tpm", p.tpm}, {"max_tokens", p.max_tokens},
                                           {"reply_tokens", p.reply_tokens}, {"ttft_ms", p.ttft_ms},
                                           {"token_ms", p.token_ms}}},
                   {"results", arr}};
  std::filesystem::create_directories(std::filesystem::path(p.json_path).parent_path());
  json::value out = std::move(doc);
  ba::whole_numbers_as_integers(out);  // "goodput_pct":100, not 1E2
  std::ofstream(p.json_path) << json::serialize(out) << "\n";
  std::printf("\nwrote %s\n", p.json_path.c_str());
  return 0;
}
