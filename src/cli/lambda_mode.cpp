// The Lambda mode of the binary: the app serve builds, run by the Runtime API loop.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "cli/app_context.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "lambda/emf.hpp"
#include "lambda/runtime.hpp"

namespace ba::cli {
namespace {

// One line on stdout, flushed (CloudWatch Logs reads the function's stdout and stderr line by line).
void write_stdout(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Lambda's shutdown phase (with an extension registered, Lambda sends SIGTERM, then SIGKILL after
// about 300 ms for the runtime; 500 ms with an internal extension): an invocation still in flight that
// long after the signal is cancelled (kCancelAfter), then the loop stops regardless (kStopAfter).
constexpr std::chrono::milliseconds kCancelAfter{100};
constexpr std::chrono::milliseconds kStopAfter{250};

// The Runtime API loop in a coroutine whose cancellation fails what the invocation awaits (its Bedrock
// call) with an error value instead of throwing at its next co_await: the chat releases its
// Idempotency-Key claim and the invocation is answered (503) before the loop sees should_stop.
boost::asio::awaitable<int> cancellable_runtime(boost::asio::io_context& io, lambda::RuntimeOptions ro,
                                                lambda::InvocationHandler handler) {
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  co_return co_await lambda::run_runtime(io, std::move(ro), std::move(handler));
}

int post_init_failure(const std::string& runtime_api, ErrorKind kind, const std::string& message) {
  boost::asio::io_context io{1};  // run by this thread alone
  lambda::RuntimeOptions ro;
  ro.api = runtime_api;
  Error error = Error::make(kind, message);
  error.code = kind == ErrorKind::invalid_input ? "BedrockAgent.ConfigError" : "BedrockAgent.InitError";
  boost::asio::co_spawn(io, lambda::post_init_error(io, ro, error), [](std::exception_ptr, Status) {});
  io.run();
  return 1;
}

}  // namespace

std::string lambda_ca_bundle(const std::string& default_file, const std::function<bool(const std::string&)>& exists,
                             const aws::GetEnv& env) {
  for (const char* name : {"SSL_CERT_FILE", "SSL_CERT_DIR"}) {
    if (auto v = env(name); v && !v->empty()) return {};
  }
  if (!default_file.empty() && exists(default_file)) return {};
  for (const char* candidate :
       {"/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"}) {
    if (exists(candidate)) return candidate;
  }
  return {};
}

int run_as_lambda(boost::asio::io_context& io, App& app, const std::string& runtime_api) {
  // Request lines become EMF lines on stdout: CloudWatch extracts the metrics the alarms use.
  app.context->log = lambda::make_emf_log_sink(lambda::EmfOptions{.model_id = app.options.model_id}, write_stdout);
  // Invocations being handled (0 or 1): on SIGTERM an idle loop stops at once, a busy one finishes or
  // is cancelled first.
  auto in_flight = std::make_shared<int>(0);
  lambda::InvocationHandler handler =
      [in_flight, api = lambda::make_apigw_handler(http::make_api_handler(*app.context))](
          const lambda::Invocation& inv) -> boost::asio::awaitable<Result<std::string>> {
    ++*in_flight;
    struct Done {
      std::shared_ptr<int> n;
      ~Done() { --*n; }
    } done{in_flight};
    co_return co_await api(inv);
  };

  {
    boost::json::object where;
    where["runtime_api"] = runtime_api;
    std::string extra = boost::json::serialize(where);
    log_startup(app, extra.substr(1, extra.size() - 2));
  }

  lambda::RuntimeOptions ro;
  ro.api = runtime_api;
  bool stopping = false;
  ro.should_stop = [&stopping] { return stopping; };  // checked after each invocation is answered
  std::optional<int> rc;
  boost::asio::cancellation_signal cancel;
  boost::asio::co_spawn(io, cancellable_runtime(io, ro, std::move(handler)),
                        boost::asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, int code) {
                          rc = e ? 1 : code;
                          io.stop();
                        }));
  // Lambda sends SIGTERM only to functions with extensions, at shutdown. Idle (waiting for the next
  // event): stop at once. An invocation in flight may finish for kCancelAfter, is then cancelled (its
  // Bedrock call aborted, its Idempotency-Key released, its answer a 503), and the loop stops after
  // it is answered, at the latest kStopAfter after the signal. The EMF and log lines are written
  // (and flushed) as they happen; the exit code is 0.
  boost::asio::steady_timer cancel_timer(io);
  bool cut_off = false;
  run_until_signal(
      io,
      [&] {
        stopping = true;
        if (*in_flight == 0) {
          io.stop();
          return;
        }
        cancel_timer.expires_after(kCancelAfter);
        cancel_timer.async_wait([&](const boost::system::error_code& ec) {
          if (ec || *in_flight == 0) return;
          cut_off = true;
          cancel.emit(boost::asio::cancellation_type::terminal);
        });
      },
      kStopAfter - std::chrono::milliseconds(250));  // run_until_signal adds 250 ms
  if (rc && *rc != 0) log_line("error", "the Runtime API loop ended", "\"exit_code\":" + std::to_string(*rc));
  if (stopping) {
    log_line("info", "stopped", std::string("\"invocation_cancelled\":") + (cut_off ? "true" : "false") +
                                    ",\"invocation_unanswered\":" + (*in_flight > 0 ? "true" : "false"));
    return 0;
  }
  return rc.value_or(0);
}

int run_lambda(const ServeOptions& options) {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) {
    std::fprintf(stderr, "bedrock-agent lambda: AWS_LAMBDA_RUNTIME_API is not set (Lambda sets it; tests point it "
                         "at a fake Runtime API)\n");
    return 2;
  }
  const std::string runtime_api = api;
  // Before any TLS context exists: OpenSSL reads SSL_CERT_FILE in set_default_verify_paths.
  const std::string ca = lambda_ca_bundle(X509_get_default_cert_file(), [](const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  });
  if (!ca.empty()) ::setenv("SSL_CERT_FILE", ca.c_str(), 1);
  // Clients, credentials, connections, the limiter and the history are made here, once per container.
  boost::asio::io_context io{1};  // run by this thread alone
  std::unique_ptr<App> app;
  try {
    app = build_app(io, options, Mode::lambda);
  } catch (const ConfigError& e) {
    log_line("error", e.what());
    return post_init_failure(runtime_api, ErrorKind::invalid_input, e.what());
  } catch (const std::exception& e) {
    log_line("error", e.what());
    return post_init_failure(runtime_api, ErrorKind::internal, e.what());
  }
  return run_as_lambda(io, *app, runtime_api);
}

}  // namespace ba::cli
