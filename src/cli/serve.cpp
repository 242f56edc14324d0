// `serve`: the app (app_context.hpp) behind the HTTP server until SIGINT/SIGTERM.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "cli/app_context.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "http/api.hpp"
#include "net/http_server.hpp"
#include "sim/simulator.hpp"

namespace ba::cli {

namespace json = boost::json;

unsigned io_threads(const ServeOptions& options) {
  if (options.threads > 0) return options.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

// The io threads beyond the main one (`serve --threads N`): N - 1 io_contexts, one thread each, kept
// running (a work guard) until stop_and_join. The contexts outlive the app (run_serve owns them) because
// what the app keeps (the HTTP client's pooled connections) may belong to them.
class IoThreads {
 public:
  explicit IoThreads(std::vector<std::unique_ptr<boost::asio::io_context>>& contexts) : contexts_(contexts) {
    for (auto& c : contexts_) {
      guards_.emplace_back(c->get_executor());
      threads_.emplace_back([&io = *c] { io.run(); });
    }
  }
  ~IoThreads() { stop_and_join(); }
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  void stop_and_join() {
    guards_.clear();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>>& contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace

int run_as_server(boost::asio::io_context& io, App& app) {
  std::vector<std::unique_ptr<boost::asio::io_context>> none;
  return run_as_server(io, none, app);
}

int run_as_server(boost::asio::io_context& io, std::vector<std::unique_ptr<boost::asio::io_context>>& more, App& app) {
  const ServeOptions& o = app.options;
  net::ServerOptions server_options;
  server_options.host = o.host;
  server_options.port = o.port;
  server_options.body_limit = std::max(o.max_body_bytes, app.context->config.files_body_limit);  // each route checks its own
  server_options.error_response = http::server_error_response;
  server_options.idle_timeout = std::chrono::seconds(o.idle_timeout_s);
  // Request log lines are written in batches (at most 50 ms late), not with one write(2) per request.
  if (!app.context->log) app.context->log = make_batched_stderr_log(io, std::chrono::milliseconds(50));
  // Connections go round-robin to `io` (which also runs the acceptor, the simulator, the quota refresher
  // and the drain's timers) and the other io threads' contexts.
  std::vector<boost::asio::io_context*> contexts{&io};
  for (auto& c : more) contexts.push_back(c.get());
  IoThreads threads(more);
  auto server = net::make_http_server(contexts, server_options, http::make_api_handler(*app.context));
  auto port = server->start();
  if (!port) {
    std::fprintf(stderr, "bedrock-agent: cannot listen on %s:%u: %s\n", o.host.c_str(), o.port,
                 port.error().message.c_str());
    return 1;
  }

  json::object where;
  where["host"] = o.host;
  where["port"] = *port;
  where["url"] = "http://" + (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
                 std::to_string(*port);
  std::string extra = json::serialize(where);
  log_startup(app, extra.substr(1, extra.size() - 2));

  // Drain: in-flight chats and streams finish (their turns and Idempotency-Key records are written
  // before their answers end), then the loop stops. What is still running at the drain timeout is
  // cancelled (HttpServer::stop): its Bedrock call is aborted, nothing is saved for it, its claimed
  // Idempotency-Key is released, and the caller gets 503 with Retry-After (a stream ends with its
  // error event). The loop stops at the latest kDrainCancelGrace after the drain timeout.
  const std::chrono::milliseconds drain{std::chrono::seconds(o.drain_timeout_s)};
  boost::asio::steady_timer settle_writes(io);
  run_until_signal(
      io,
      [&] {
        server->stop(drain, [&] {
          // Give the last background writes (a shared budget's settles) a moment, then stop.
          settle_writes.expires_after(std::chrono::milliseconds(100));
          settle_writes.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) io.stop();
          });
        });
        if (app.simulator) app.simulator->stop(drain);
        for (auto& simulator : app.region_simulators) simulator->stop(drain);
      },
      drain + net::kDrainCancelGrace);
  // The drain is over on every thread (on_drained fires once no connection is left on any of them), or
  // its time is up: the other io threads stop where they are and are joined before the server goes.
  threads.stop_and_join();
  server.reset();
  log_line("info", "stopped");
  return 0;
}

int run_serve(const ServeOptions& options) {
  try {
    const std::uint64_t open_files = raise_open_file_limit();
    boost::asio::io_context io{1};  // run by this thread alone
    // --threads N: N - 1 more contexts, each run by a thread of its own (IoThreads), declared before
    // the app so that they outlive it.
    std::vector<std::unique_ptr<boost::asio::io_context>> more;
    for (unsigned i = 1; i < io_threads(options); ++i) more.push_back(std::make_unique<boost::asio::io_context>(1));
    auto app = build_app(io, options, Mode::server);
    app->max_open_files = open_files;
    return run_as_server(io, more, *app);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "bedrock-agent serve: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bedrock-agent serve: %s\n", e.what());
    return 1;
  }
}

}  // namespace ba::cli
