// The Lambda mode of the binary: the app serve builds, run by the Runtime API loop.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
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
  auto handler = lambda::make_apigw_handler(http::make_api_handler(*app.context));

  {
    boost::json::object where;
    where["runtime_api"] = runtime_api;
    std::string extra = boost::json::serialize(where);
    log_startup(app, extra.substr(1, extra.size() - 2));
  }

  lambda::RuntimeOptions ro;
  ro.api = runtime_api;
  std::optional<int> rc;
  boost::asio::co_spawn(io, lambda::run_runtime(io, ro, std::move(handler)), [&](std::exception_ptr e, int code) {
    rc = e ? 1 : code;
    io.stop();
  });
  // Lambda sends SIGTERM only to functions with extensions; stop at once then (no grace: the Runtime
  // API has no notion of draining).
  run_until_signal(io, [&] { io.stop(); }, std::chrono::milliseconds(0));
  if (rc && *rc != 0) log_line("error", "the Runtime API loop ended", "\"exit_code\":" + std::to_string(*rc));
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
