// bench/quota_fleet: one Bedrock quota, a fleet of agent processes (issue 12's benchmark).
//
// Child processes on loopback: dynalite (node), one `bedrock-agent simulate-bedrock` per quota shape
// enforcing the quota, and for N in --instances, N instances in front of it, side by side:
//   shared       N `bedrock-agent serve --shared-budget dynamodb:<fresh table> --create-missing`
//   per-process  N `bedrock-agent serve` with their own budget each (no --shared-budget)
//   original     N processes of the original design (bench/baseline_client.hpp behind the project's
//                /chat API; this program started with --original-instance), each with its own limiter
// Every instance is configured with the whole quota (--max-rpm/--max-tpm), --history none.
// C callers post /chat round-robin over the N instances (HTTP/1.1 keep-alive), honouring Retry-After on
// a 429, for a warm-up (not counted) and a window. Two quota shapes:
//   requests  600 RPM, no TPM quota, 300 ms per call, max_tokens 300
//   tokens    20,000 TPM (600 RPM, not binding), 2 s per call, max_tokens 1000, 23-token replies, so a
//             reservation (~1,137 tokens) dwarfs the charge (~123)
// Reported per run, over the window: goodput as % of the binding quota (successful calls/min vs RPM, or
// tokens charged vs TPM), upstream calls throttled (simulator stats, reset before every run), failed
// requests by status, p50/p99 latency of every response and p99 / the fair queueing wait (callers /
// the quota's rate in requests/s: the latency of a closed loop of C callers served FIFO at the quota),
// DynamoDB writes per successful chat (ba_shared_budget_writes_total summed over the instances).
//
// Usage: build/bench_quota_fleet [--seconds=30] [--warmup=S] [--clients=20] [--instances=4,20]
//        [--shapes=requests,tokens] [--modes=shared,per-process[,original]] [--burst-seconds=S]
//        [--token-burst-seconds=S] [--rpm=600] [--tpm=20000] [--reply-tokens=23]
//        [--binary=build/bedrock-agent] [--json=bench/results/quota_fleet.json] [--logs=DIR] [--quiet]
// The warm-up is 20 s (request-bound) and 60 s (token-bound) unless --warmup gives one for both: the
// simulator's buckets and the budgets start full, and with one minute of burst the token-bound shape
// needs about a minute to spend it (in-flight reservations, not callers, limit how fast it drains).
// --burst-seconds (request-bound shape) and --token-burst-seconds (token-bound) are passed to the
// simulator as --burst-seconds (bucket = rate x burst; a simulator without the flag has one minute).
// --logs keeps every child's log under DIR (otherwise a temporary directory, kept only when a run lost
// an instance).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "baseline_client.hpp"
#include "quota_support.hpp"
#include "bedrock/client.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "store/no_history.hpp"
#include "util/json_number.hpp"
#include "util/metrics.hpp"

extern char** environ;

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono;
using namespace ba;
using bench::percentile;
using bench::prompt;
using bench::sleep_until;

namespace {

constexpr const char* kAccessKey = "AKIDBENCH";
constexpr const char* kSecretKey = "bench-secret";

struct Shape {
  std::string name;
  std::int64_t rpm = 0, tpm = 0;  // the quota (0: none); every instance gets the same
  int ttft_ms = 0;
  int max_tokens = 0;
  std::string binding;  // "requests" | "tokens"
  int warmup_s = 0;
  std::optional<double> burst_s;  // the simulator's bucket in seconds of quota (unset: its default, 60)
};

struct Params {
  int seconds = 30, clients = 20;
  std::optional<int> warmup;  // unset: per shape (20 s request-bound, 60 s token-bound)
  std::vector<int> instances{4, 20};
  std::vector<std::string> shapes{"requests", "tokens"};
  std::vector<std::string> modes{"shared", "per-process"};
  std::int64_t rpm = 600;     // request-bound shape's RPM (also the token-bound shape's, not binding)
  std::int64_t tpm = 20'000;  // token-bound shape's TPM
  std::int64_t reply_tokens = 23;
  std::optional<double> burst_seconds, token_burst_seconds;
  std::string binary = std::string(BA_BINARY_DIR) + "/bedrock-agent";
  std::string json_path = std::string(BA_SOURCE_DIR) + "/bench/results/quota_fleet.json";
  std::string logs;
  bool quiet = false;
};

Shape make_shape(const Params& p, const std::string& name) {
  if (name == "requests") {
    return {.name = name, .rpm = p.rpm, .tpm = 0, .ttft_ms = 300, .max_tokens = 300, .binding = "requests",
            .warmup_s = p.warmup.value_or(20), .burst_s = p.burst_seconds};
  }
  if (name == "tokens") {
    return {.name = name, .rpm = p.rpm, .tpm = p.tpm, .ttft_ms = 2000, .max_tokens = 1000, .binding = "tokens",
            .warmup_s = p.warmup.value_or(60), .burst_s = p.token_burst_seconds};
  }
  throw std::invalid_argument("unknown shape '" + name + "' (requests, tokens)");
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------------
// Child processes: own process group, stdout and stderr to a log file, killed (SIGKILL to the group)
// and reaped by the destructor, and by the kernel if this program dies first (PR_SET_PDEATHSIG).

class Process {
 public:
  Process(std::vector<std::string> args, const std::vector<std::string>& env, fs::path log) : log_(std::move(log)) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + log_.string());
    std::vector<std::string> envs;
    const std::vector<std::string> dropped{"BEDROCK_AGENT_SHARED_BUDGET=", "AWS_PROFILE=", "AWS_SESSION_TOKEN=",
                                           "MAX_REQUESTS_PER_MINUTE=", "MAX_TOKENS_PER_MINUTE="};
    for (char** e = environ; *e; ++e) {
      std::string s(*e);
      auto eq = s.find('=');
      bool skip = false;
      for (const auto& o : env) skip = skip || (eq != std::string::npos && s.compare(0, eq + 1, o, 0, eq + 1) == 0);
      for (const auto& d : dropped) skip = skip || s.starts_with(d);
      if (!skip) envs.push_back(std::move(s));
    }
    for (const auto& o : env) envs.push_back(o);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(fd);
      throw std::runtime_error("fork failed for " + args[0]);
    }
    if (pid_ == 0) {  // async-signal-safe calls only until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::setpgid(0, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    ::close(fd);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() { kill(); }

  void kill() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // False once the process has exited (reaped here; exit_code() says how).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return false;
    }
    return true;
  }
  int exit_code() const { return exit_code_; }
  const fs::path& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  fs::path log_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string& s, std::size_t n = 1500) { return s.size() <= n ? s : s.substr(s.size() - n); }

// Waits for the JSON log line whose "msg" is `msg` and returns its "port".
int wait_listening(Process& p, std::string_view msg, seconds patience = seconds(30)) {
  const auto until = steady_clock::now() + patience;
  const std::string needle = "\"msg\":\"" + std::string(msg) + "\"";
  while (steady_clock::now() < until) {
    std::string log = read_file(p.log());
    for (std::size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
      auto begin = log.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      auto end = log.find('\n', at);
      if (end == std::string::npos) break;  // not complete yet
      boost::system::error_code ec;
      auto v = json::parse(std::string_view(log).substr(begin, end - begin), ec);
      if (!ec && v.is_object() && v.as_object().contains("port")) return static_cast<int>(v.at("port").to_number<std::int64_t>());
    }
    if (!p.running()) {
      throw std::runtime_error("process exited (code " + std::to_string(p.exit_code()) + ") before listening; " +
                               p.log().string() + ":\n" + tail(log));
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  throw std::runtime_error("no '" + std::string(msg) + "' line within " + std::to_string(patience.count()) + " s in " +
                           p.log().string());
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool wait_for_port(int port, milliseconds patience) {
  const auto until = steady_clock::now() + patience;
  while (steady_clock::now() < until) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// ---------------------------------------------------------------------------------------------------
// The original design as a process of its own (`bench_quota_fleet --original-instance --endpoint=URL
// --rpm=N`): the BaselineClient in front of the real Bedrock client, behind the project's /chat API.

int run_original_instance(const std::string& endpoint, int rpm) {
  asio::io_context io;
  auto upstream_http = net::make_http_client(io, {.max_idle_per_origin = 1024});
  auto creds = aws::make_static_provider({.access_key_id = kAccessKey, .secret_access_key = kSecretKey});
  auto bedrock = bedrock::make_bedrock_client(*upstream_http, *creds, {.region = "us-east-1", .endpoint = endpoint});
  bench::BaselineClient baseline(*bedrock, rpm, ba::system_random());
  auto history = store::make_no_history();
  agent::ChatService chat(baseline, *history);
  http::ApiKeys keys;
  metrics::Registry registry;
  http::ApiContext ctx{.chat = chat, .history = *history, .keys = keys, .config = {}, .metrics = &registry,
                       .log = [](std::string_view) {}};
  ctx.config.request_timeout = seconds(25);
  auto server = net::make_http_server(io, {.host = "127.0.0.1", .port = 0}, http::make_api_handler(ctx));
  auto port = server->start();
  if (!port) {
    std::fprintf(stderr, "cannot listen: %s\n", port.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "{\"msg\":\"listening\",\"port\":%u}\n", static_cast<unsigned>(*port));
  std::fflush(stderr);
  io.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// The load and what it measured.

struct Sample {
  SteadyTime done;
  double latency_ms = 0;
  int status = 0;
  std::string error_type;
  std::string error_message;        // the answer's error.message (and Retry-After), for the report
  std::int64_t charged_tokens = 0;  // input + output of a successful reply
};

// Prometheus text -> series ("name{labels}") -> value.
using Series = std::map<std::string, double>;

Series parse_metrics(std::string_view text) {
  Series out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty() || line.front() == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    out[std::string(line.substr(0, sp))] += std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
  }
  return out;
}

// Sum of a family's series (every label set).
double family(const Series& s, std::string_view name) {
  double sum = 0;
  for (const auto& [k, v] : s) {
    if (k == name || (k.size() > name.size() && k.starts_with(name) && k[name.size()] == '{')) sum += v;
  }
  return sum;
}

Series minus(const Series& end, const Series& start) {
  Series d = end;
  for (const auto& [k, v] : start) d[k] -= v;
  return d;
}

struct SimCounters {
  std::uint64_t requests_total = 0, throttled = 0;
};

struct RunResult {
  std::string shape, mode;
  int instances = 0;
  double goodput_pct = 0, request_util_pct = 0, token_util_pct = 0;
  std::uint64_t upstream_calls = 0, upstream_throttled = 0;
  double throttled_pct = 0;
  std::uint64_t ok = 0, failed = 0;
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> error_examples;  // error type -> one message
  double p50_ms = 0, p99_ms = 0, fair_ms = 0;
  std::optional<double> writes_per_chat;
  std::map<std::string, double> writes_by_op;
  double budget_errors = 0, fallback_reservations = 0, agent_throttles = 0, agent_rate_limited = 0;
  std::uint64_t warmup_failed = 0, warmup_throttled = 0;  // before the window (not in the figures above)
  int lost_instances = 0;                 // exited before the end of the run
  std::vector<std::string> warnings;      // the instances' warn/error log lines (first few)
  std::vector<std::string> misses;        // targets missed (shared mode)
};

asio::awaitable<std::optional<std::string>> fetch(net::HttpClient& http, std::string method, std::string target) {
  // Named, not temporaries in the co_await expression (GCC 12 may destroy those twice).
  net::HttpRequest req;
  req.method = std::move(method);
  req.url = std::move(target);
  net::RequestOptions options{.read_timeout = seconds(5), .deadline = steady_clock::now() + seconds(5)};
  auto r = co_await http.send(std::move(req), options);
  if (!r || r->status != 200) co_return std::nullopt;
  co_return std::move(r->body);
}

asio::awaitable<SimCounters> sim_counters(net::HttpClient& http, int sim_port) {
  SimCounters c;
  std::string target = url(sim_port) + "/sim/stats";
  if (auto body = co_await fetch(http, "GET", std::move(target))) {
    boost::system::error_code ec;
    auto v = json::parse(*body, ec);
    if (!ec && v.is_object()) {
      c.requests_total = v.at("requests_total").to_number<std::uint64_t>();
      c.throttled = v.at("throttled").to_number<std::uint64_t>();
    }
  }
  co_return c;
}

class Bench {
 public:
  explicit Bench(Params p) : p_(std::move(p)) {
    if (p_.logs.empty()) {
      dir_ = fs::temp_directory_path() / ("bench-quota-fleet-" + std::to_string(::getpid()));
    } else {
      dir_ = fs::absolute(p_.logs);
      keep_ = true;
    }
    fs::create_directories(dir_);
    auto self = fs::read_symlink("/proc/self/exe");
    self_ = self.string();
    dynalite_port_ = free_loopback_port();
    auto script = fs::path(BA_SOURCE_DIR) / "node_modules" / "dynalite" / "cli.js";
    if (!fs::exists(script)) throw std::runtime_error("dynalite is not installed: " + script.string() + " (npm ci)");
    dynalite_.emplace(std::vector<std::string>{node_path(), script.string(), "--host", "127.0.0.1", "--port",
                                               std::to_string(dynalite_port_)},
                      std::vector<std::string>{"NODE_NO_WARNINGS=1"}, dir_ / "dynalite.log");
    if (!wait_for_port(dynalite_port_, seconds(30))) {
      throw std::runtime_error("dynalite did not start: " + tail(read_file(dir_ / "dynalite.log")));
    }
  }
  ~Bench() {
    sim_.reset();
    dynalite_.reset();
    if (!keep_) fs::remove_all(dir_);
  }

  const fs::path& dir() const { return dir_; }

  void start_simulator(const Shape& s) {
    sim_.reset();
    std::vector<std::string> args{p_.binary, "simulate-bedrock", "--port", "0", "--rpm", std::to_string(s.rpm),
                                  "--tpm", std::to_string(s.tpm), "--ttft-ms", std::to_string(s.ttft_ms),
                                  "--token-ms", "0", "--reply-tokens", std::to_string(p_.reply_tokens),
                                  "--no-fault-header"};
    if (s.burst_s) {
      args.push_back("--burst-seconds");
      args.push_back(format_number(*s.burst_s));
    }
    sim_.emplace(std::move(args), std::vector<std::string>{}, dir_ / ("simulator-" + s.name + ".log"));
    sim_port_ = wait_listening(*sim_, "simulator listening");
  }

  RunResult run(const Shape& s, const std::string& mode, int n) {
    const std::string tag = s.name + "-" + mode + "-" + std::to_string(n);
    fs::path run_dir = dir_ / tag;
    fs::create_directories(run_dir);
    std::vector<std::unique_ptr<Process>> fleet;
    std::vector<int> ports;
    const std::string table = "fleet_" + std::to_string(::getpid()) + "_" + std::to_string(++runs_);
    const std::vector<std::string> env{
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + url(sim_port_), "AWS_ENDPOINT_URL_DYNAMODB=" + url(dynalite_port_),
        std::string("AWS_ACCESS_KEY_ID=") + kAccessKey, std::string("AWS_SECRET_ACCESS_KEY=") + kSecretKey,
        "AWS_REGION=us-east-1"};
    auto start_one = [&](int i) {
      auto log = run_dir / ("instance-" + std::to_string(i) + ".log");
      std::vector<std::string> args;
      if (mode == "original") {
        args = {self_, "--original-instance", "--endpoint=" + url(sim_port_), "--rpm=" + std::to_string(s.rpm)};
      } else {
        args = {p_.binary, "serve", "--host", "127.0.0.1", "--port", "0", "--history", "none", "--files",
                (run_dir / ("files-" + std::to_string(i))).string(), "--max-rpm", std::to_string(s.rpm)};
        if (s.tpm > 0) {
          args.push_back("--max-tpm");
          args.push_back(std::to_string(s.tpm));
        }
        if (mode == "shared") {
          args.push_back("--shared-budget");
          args.push_back("dynamodb:" + table);
          args.push_back("--create-missing");
        }
      }
      fleet.push_back(std::make_unique<Process>(std::move(args), env, log));
    };
    // The first instance creates the table; the others start once it listens (no CreateTable race).
    start_one(0);
    ports.push_back(wait_listening(*fleet[0], "listening"));
    for (int i = 1; i < n; ++i) start_one(i);
    for (int i = 1; i < n; ++i) ports.push_back(wait_listening(*fleet[static_cast<std::size_t>(i)], "listening"));

    asio::io_context io;
    auto http = net::make_http_client(io, {.max_idle_per_origin = 1024});
    std::vector<Sample> samples;
    SimCounters sim_start, sim_end;
    std::vector<Series> metrics_start(ports.size()), metrics_end(ports.size());
    int lost = 0;
    SteadyTime start, window_start, window_end;
    std::uint64_t rr = 0;

    auto snapshot_metrics = [&](std::vector<Series>& into) -> asio::awaitable<void> {
      for (std::size_t i = 0; i < ports.size(); ++i) {
        std::string target = url(ports[i]) + "/metrics";
        if (auto body = co_await fetch(*http, "GET", std::move(target))) into[i] = parse_metrics(*body);
      }
    };

    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::string reset = url(sim_port_) + "/sim/reset";
          co_await fetch(*http, "POST", std::move(reset));  // fresh quota buckets and stats
          start = steady_clock::now();
          window_start = start + seconds(s.warmup_s);
          window_end = window_start + seconds(p_.seconds);
          for (int c = 0; c < p_.clients; ++c) {
            asio::co_spawn(io, client(*http, c, s, ports, rr, window_end, samples), asio::detached);
          }
          // Progress every 10 s (stderr), the window's snapshots, then the fleet is stopped: requests
          // still in flight fail at once and the callers end.
          std::size_t seen = 0;
          bool window_started = false;
          auto open_window = [&]() -> asio::awaitable<void> {
            co_await sleep_until(window_start);
            sim_start = co_await sim_counters(*http, sim_port_);
            co_await snapshot_metrics(metrics_start);
            window_started = true;
          };
          for (auto t = start + seconds(10); t < window_end; t += seconds(10)) {
            if (!window_started && t >= window_start) co_await open_window();
            co_await sleep_until(t);
            if (p_.quiet) continue;
            auto sc = co_await sim_counters(*http, sim_port_);
            std::uint64_t ok = 0, bad = 0;
            for (; seen < samples.size(); ++seen) ++(samples[seen].status == 200 ? ok : bad);
            std::fprintf(stderr, "  t=%3.0fs  last 10 s: %llu ok, %llu failed; upstream so far: %llu calls, %llu throttled\n",
                         duration<double>(t - start).count(), static_cast<unsigned long long>(ok),
                         static_cast<unsigned long long>(bad), static_cast<unsigned long long>(sc.requests_total),
                         static_cast<unsigned long long>(sc.throttled));
          }
          if (!window_started) co_await open_window();
          co_await sleep_until(window_end);
          sim_end = co_await sim_counters(*http, sim_port_);
          co_await snapshot_metrics(metrics_end);
          for (auto& f : fleet) {
            if (!f->running()) ++lost;
            f->kill();
          }
        },
        asio::detached);
    io.run();

    RunResult out;
    out.shape = s.name;
    out.mode = mode;
    out.instances = n;
    out.lost_instances = lost;
    std::vector<double> latencies;
    std::int64_t tokens = 0;
    for (const auto& x : samples) {
      if (x.done < window_start && x.status != 200) ++out.warmup_failed;
      if (x.done < window_start || x.done >= window_end) continue;
      latencies.push_back(x.latency_ms);
      if (x.status == 200) {
        ++out.ok;
        tokens += x.charged_tokens;
      } else {
        ++out.failed;
        ++out.errors[x.error_type];
        out.error_examples.emplace(x.error_type, x.error_message);
      }
    }
    const double minutes = p_.seconds / 60.0;
    out.request_util_pct = s.rpm ? 100.0 * static_cast<double>(out.ok) / (static_cast<double>(s.rpm) * minutes) : 0;
    out.token_util_pct = s.tpm ? 100.0 * static_cast<double>(tokens) / (static_cast<double>(s.tpm) * minutes) : 0;
    out.goodput_pct = s.binding == "tokens" ? out.token_util_pct : out.request_util_pct;
    out.upstream_calls = sim_end.requests_total - sim_start.requests_total;
    out.upstream_throttled = sim_end.throttled - sim_start.throttled;
    out.warmup_throttled = sim_start.throttled;
    out.throttled_pct = out.upstream_calls ? 100.0 * static_cast<double>(out.upstream_throttled) / static_cast<double>(out.upstream_calls) : 0;
    out.p50_ms = percentile(latencies, 0.50);
    out.p99_ms = percentile(latencies, 0.99);
    // The quota's rate in requests/s: RPM/60, or TPM/60 over the mean charge of a successful call.
    double rate = s.rpm > 0 ? static_cast<double>(s.rpm) / 60.0 : 1e9;
    if (s.tpm > 0 && out.ok > 0) {
      rate = std::min(rate, static_cast<double>(s.tpm) / 60.0 / (static_cast<double>(tokens) / static_cast<double>(out.ok)));
    }
    out.fair_ms = 1000.0 * p_.clients / rate;

    Series delta;
    for (std::size_t i = 0; i < ports.size(); ++i) {
      for (const auto& [k, v] : minus(metrics_end[i], metrics_start[i])) delta[k] += v;
    }
    const std::string writes = "ba_shared_budget_writes_total";
    for (const auto& [k, v] : delta) {
      if (k.starts_with(writes + "{op=\"") && v != 0) {
        out.writes_by_op[k.substr(writes.size() + 5, k.size() - writes.size() - 7)] = v;
      }
    }
    if (mode == "shared" && out.ok) out.writes_per_chat = family(delta, writes) / static_cast<double>(out.ok);
    out.budget_errors = family(delta, "ba_shared_budget_errors_total");
    out.fallback_reservations = family(delta, "ba_shared_budget_fallback_total");
    out.agent_throttles = family(delta, "ba_upstream_throttles_total");
    out.agent_rate_limited = family(delta, "ba_rate_limited_total");

    for (const auto& f : fleet) {
      std::istringstream in(read_file(f->log()));
      for (std::string line; std::getline(in, line);) {
        bool warn = line.find("\"level\":\"warn\"") != std::string::npos || line.find("\"level\":\"error\"") != std::string::npos;
        // Request lines (4xx are "warn") are counted above; dynalite has no TTL (a start-up warning).
        if (!warn || line.find("\"msg\":\"request\"") != std::string::npos ||
            line.find("UpdateTimeToLive") != std::string::npos)
          continue;
        if (out.warnings.size() < 5) out.warnings.push_back(f->log().filename().string() + ": " + line);
      }
    }
    if (lost) {
      keep_ = true;
      std::fprintf(stderr, "  %d instance(s) exited during the run; logs kept in %s\n", lost, run_dir.c_str());
    }
    if (mode == "shared") {
      if (out.goodput_pct < 95) out.misses.push_back("goodput < 95%");
      if (out.throttled_pct > 1) out.misses.push_back("throttled > 1%");
      if (out.failed) out.misses.push_back("failed requests");
      if (out.p99_ms > 1.5 * out.fair_ms) out.misses.push_back("p99 > 1.5x fair wait");
      if (lost) out.misses.push_back("instances lost");
    }
    return out;
  }

 private:
  // One caller: posts /chat round-robin over the instances until the window ends, honouring
  // Retry-After on a 429 (as a well-behaved caller does) before its next request.
  asio::awaitable<void> client(net::HttpClient& http, int c, const Shape& s, const std::vector<int>& ports,
                               std::uint64_t& rr, SteadyTime window_end, std::vector<Sample>& samples) {
    for (int n = 0; steady_clock::now() < window_end; ++n) {
      const int port = ports[rr++ % ports.size()];
      json::object body{{"input", prompt(c, n)}, {"include_history", false}, {"max_tokens", s.max_tokens}};
      net::HttpRequest req{.method = "POST", .url = url(port) + "/chat",
                           .headers = {{"Content-Type", "application/json"}}, .body = json::serialize(body)};
      auto t0 = steady_clock::now();
      // API Gateway's 29 s integration timeout is the caller's deadline.
      net::RequestOptions options{.read_timeout = seconds(29), .deadline = t0 + seconds(29)};
      auto r = co_await http.send(std::move(req), options);
      Sample x{.done = steady_clock::now()};
      x.latency_ms = duration<double, std::milli>(x.done - t0).count();
      if (!r) {
        x.error_type = "client_" + std::string(to_string(r.error().kind));
      } else {
        x.status = r->status;
        boost::system::error_code ec;
        auto v = json::parse(r->body, ec);
        if (r->status == 200 && !ec && v.is_object()) {
          auto& u = v.at("usage").as_object();
          x.charged_tokens = u.at("input_tokens").to_number<std::int64_t>() + u.at("output_tokens").to_number<std::int64_t>();
        } else if (!ec && v.is_object() && v.as_object().contains("error")) {
          x.error_type = std::to_string(r->status) + " " + json::value_to<std::string>(v.at("error").at("type"));
          if (auto* m = v.at("error").as_object().if_contains("message"); m && m->is_string()) {
            x.error_message = std::string(m->as_string());
          }
        } else {
          x.error_type = std::to_string(r->status);
        }
      }
      std::optional<double> retry_after;
      if (r && r->status == 429) {
        if (auto h = r->headers.get("Retry-After")) {
          retry_after = std::atof(std::string(*h).c_str());
          x.error_message += " (Retry-After " + std::string(*h) + ")";
        }
      }
      samples.push_back(std::move(x));
      if (retry_after && *retry_after > 0) {
        auto until = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(*retry_after));
        co_await sleep_until(std::min(until, window_end));
      }
    }
  }

  static std::string node_path() {
    for (const char* dir : {"/usr/local/bin", "/usr/bin"}) {
      auto p = fs::path(dir) / "node";
      if (fs::exists(p)) return p.string();
    }
    if (const char* path = std::getenv("PATH")) {
      std::istringstream in(path);
      for (std::string d; std::getline(in, d, ':');) {
        if (fs::exists(fs::path(d) / "node")) return (fs::path(d) / "node").string();
      }
    }
    throw std::runtime_error("node not found");
  }

  Params p_;
  fs::path dir_;
  bool keep_ = false;
  std::string self_;
  int dynalite_port_ = 0, sim_port_ = 0;
  int runs_ = 0;
  std::optional<Process> dynalite_, sim_;
};

}  // namespace

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string x; std::getline(in, x, ',');) {
    if (!x.empty()) out.push_back(x);
  }
  return out;
}

bool simulator_has_flag(const std::string& binary, const std::string& flag) {
  std::string cmd = "'" + binary + "' simulate-bedrock --help 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return false;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ::pclose(f);
  return out.find(flag) != std::string::npos;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void print_table(const std::vector<RunResult>& results) {
  std::printf("\n%-8s %3s %-11s %9s %8s %11s %6s %6s %8s %8s %8s %9s %8s  %s\n", "shape", "N", "mode", "goodput%",
              "tokens%", "throttled%", "ok", "failed", "p50 ms", "p99 ms", "fair ms", "p99/fair", "wr/chat",
              "client errors / targets missed");
  for (const auto& r : results) {
    std::string errs;
    for (const auto& [k, v] : r.errors) errs += k + ":" + std::to_string(v) + " ";
    if (errs.empty()) errs = "-";
    if (r.warmup_failed || r.warmup_throttled) {
      errs += " (warm-up: " + std::to_string(r.warmup_failed) + " failed, " + std::to_string(r.warmup_throttled) +
              " throttled)";
    }
    if (!r.misses.empty()) {
      errs += " | missed:";
      for (const auto& m : r.misses) errs += " " + m + ";";
    } else if (r.mode == "shared") {
      errs += " | targets met";
    }
    std::string writes = r.writes_per_chat ? std::to_string(*r.writes_per_chat).substr(0, 4) : "-";
    std::printf("%-8s %3d %-11s %9.1f %8.1f %11.2f %6llu %6llu %8.0f %8.0f %8.0f %9.2f %8s  %s\n", r.shape.c_str(),
                r.instances, r.mode.c_str(), r.goodput_pct, r.token_util_pct, r.throttled_pct,
                static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.failed), r.p50_ms, r.p99_ms,
                r.fair_ms, r.fair_ms > 0 ? r.p99_ms / r.fair_ms : 0.0, writes.c_str(), errs.c_str());
  }
}

json::object to_json(const RunResult& r) {
  json::object errors, examples, ops;
  for (const auto& [k, v] : r.errors) errors[k] = v;
  for (const auto& [k, v] : r.error_examples) examples[k] = v;
  for (const auto& [k, v] : r.writes_by_op) ops[k] = v;
  json::array warnings, misses;
  for (const auto& w : r.warnings) warnings.push_back(json::value(w));
  for (const auto& m : r.misses) misses.push_back(json::value(m));
  json::object o{{"shape", r.shape},
                 {"mode", r.mode},
                 {"instances", r.instances},
                 {"goodput_pct", r.goodput_pct},
                 {"request_utilisation_pct", r.request_util_pct},
                 {"token_utilisation_pct", r.token_util_pct},
                 {"upstream_calls", r.upstream_calls},
                 {"upstream_throttled", r.upstream_throttled},
                 {"throttled_pct", r.throttled_pct},
                 {"ok", r.ok},
                 {"failed", r.failed},
                 {"errors", errors},
                 {"error_examples", examples},
                 {"p50_ms", r.p50_ms},
                 {"p99_ms", r.p99_ms},
                 {"fair_wait_ms", r.fair_ms},
                 {"p99_over_fair", r.fair_ms > 0 ? r.p99_ms / r.fair_ms : 0.0},
                 {"budget_writes_by_op", ops},
                 {"budget_errors", r.budget_errors},
                 {"fallback_reservations", r.fallback_reservations},
                 {"agent_upstream_throttles", r.agent_throttles},
                 {"agent_rate_limited", r.agent_rate_limited},
                 {"warmup_failed", r.warmup_failed},
                 {"warmup_upstream_throttled", r.warmup_throttled},
                 {"lost_instances", r.lost_instances},
                 {"warnings", warnings}};
  if (r.writes_per_chat) o["writes_per_chat"] = *r.writes_per_chat;
  if (r.mode == "shared") o["targets_missed"] = misses;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && std::string(argv[1]) == "--original-instance") {
    std::string endpoint;
    int rpm = 0;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (a.starts_with("--endpoint=")) endpoint = a.substr(11);
      if (a.starts_with("--rpm=")) rpm = std::stoi(a.substr(6));
    }
    return run_original_instance(endpoint, rpm);
  }
  Params p;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto eq = a.find('=');
      std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
      if (k == "--seconds") p.seconds = std::stoi(v);
      else if (k == "--warmup") p.warmup = std::stoi(v);
      else if (k == "--token-burst-seconds") p.token_burst_seconds = std::stod(v);
      else if (k == "--clients") p.clients = std::stoi(v);
      else if (k == "--instances") {
        p.instances.clear();
        for (const auto& x : split(v)) p.instances.push_back(std::stoi(x));
      } else if (k == "--shapes") p.shapes = split(v);
      else if (k == "--modes") p.modes = split(v);
      else if (k == "--burst-seconds") p.burst_seconds = std::stod(v);
      else if (k == "--rpm") p.rpm = std::stoll(v);
      else if (k == "--tpm") p.tpm = std::stoll(v);
      else if (k == "--reply-tokens") p.reply_tokens = std::stoll(v);
      else if (k == "--binary") p.binary = v;
      else if (k == "--json") p.json_path = v;
      else if (k == "--logs") p.logs = v;
      else if (k == "--quiet") p.quiet = true;
      else throw std::invalid_argument("unknown option " + a);
    }
    for (const auto& m : p.modes) {
      if (m != "shared" && m != "per-process" && m != "original") throw std::invalid_argument("unknown mode " + m);
    }
    for (int n : p.instances) {
      if (n < 1) throw std::invalid_argument("--instances must be positive");
    }
    for (const auto& s : p.shapes) make_shape(p, s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_quota_fleet: %s (see the comment at the top of bench/quota_fleet.cpp)\n", e.what());
    return 2;
  }
  p.binary = fs::absolute(p.binary).string();
  if (!fs::exists(p.binary)) {
    std::fprintf(stderr, "bench_quota_fleet: no binary at %s (build the bedrock-agent target)\n", p.binary.c_str());
    return 2;
  }
  if ((p.burst_seconds || p.token_burst_seconds) && !simulator_has_flag(p.binary, "--burst-seconds")) {
    std::fprintf(stderr, "bench_quota_fleet: this simulator has no --burst-seconds; run without it (burst = 60 s)\n");
    return 2;
  }

  std::printf("fleet quota benchmark, %s: %d callers round-robin over N instances; %d s window after a warm-up\n",
              utc_now().c_str(), p.clients, p.seconds);
  for (const auto& name : p.shapes) {
    auto s = make_shape(p, name);
    std::printf("  %-8s quota %lld RPM, %s TPM, simulator burst %s s; %d ms per call; max_tokens %d, replies %lld "
                "tokens, ~100 input tokens; warm-up %d s\n",
                s.name.c_str(), static_cast<long long>(s.rpm), s.tpm ? std::to_string(s.tpm).c_str() : "no",
                s.burst_s ? format_number(*s.burst_s).c_str() : "60 (default)", s.ttft_ms, s.max_tokens,
                static_cast<long long>(p.reply_tokens), s.warmup_s);
  }
  std::fflush(stdout);

  std::vector<RunResult> results;
  try {
    Bench bench(p);
    for (const auto& name : p.shapes) {
      auto s = make_shape(p, name);
      bench.start_simulator(s);
      for (int n : p.instances) {
        for (const auto& mode : p.modes) {
          std::fprintf(stderr, "running %s-bound, %d instances, %s...\n", s.name.c_str(), n, mode.c_str());
          results.push_back(bench.run(s, mode, n));
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_quota_fleet: %s\n", e.what());
    if (!results.empty()) print_table(results);
    return 1;
  }
  print_table(results);

  json::array arr;
  for (const auto& r : results) arr.push_back(to_json(r));
  json::array inst, shapes, modes;
  for (int n : p.instances) inst.push_back(n);
  for (const auto& name : p.shapes) {
    auto s = make_shape(p, name);
    json::object o{{"name", s.name}, {"rpm", s.rpm}, {"tpm", s.tpm}, {"ttft_ms", s.ttft_ms},
                   {"max_tokens", s.max_tokens}, {"binding", s.binding}, {"warmup_s", s.warmup_s}};
    if (s.burst_s) o["burst_s"] = *s.burst_s;
    else o["burst_s"] = 60;
    shapes.push_back(std::move(o));
  }
  for (const auto& m : p.modes) modes.push_back(json::value(m));
  json::object params{{"seconds", p.seconds}, {"clients", p.clients}, {"instances", inst}, {"shapes", shapes},
                      {"modes", modes}, {"reply_tokens", p.reply_tokens}, {"client_timeout_s", 29},
                      {"agent_request_timeout_s", 25}};
  json::object doc{{"benchmark", "quota_fleet"}, {"date", utc_now()}, {"params", params}, {"results", arr}};
  std::filesystem::create_directories(std::filesystem::path(p.json_path).parent_path());
  json::value out = std::move(doc);
  ba::whole_numbers_as_integers(out);  // "goodput_pct":100, not 1E2
  std::ofstream(p.json_path) << json::serialize(out) << "\n";
  std::printf("\nwrote %s\n", p.json_path.c_str());
  return 0;
}
