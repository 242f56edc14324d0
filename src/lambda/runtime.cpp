// The Lambda Runtime API loop and the API Gateway invocation handler.
#include "lambda/runtime.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "lambda/apigw.hpp"
#include "util/encoding.hpp"

namespace ba::lambda {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view kPrefix = "/2018-06-01/runtime";
// Lambda's own error type for a response the Runtime API refused as too large.
constexpr std::string_view kTooLargeType = "Function.ResponseSizeTooLarge";

void log_stderr(std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); }

class Logger {
 public:
  explicit Logger(std::function<void(std::string_view)> sink) : sink_(std::move(sink)) {
    if (!sink_) sink_ = log_stderr;
  }
  void operator()(std::string_view level, std::string_view message, std::string_view request_id = {},
                  int status = 0) const {
    json::object o;
    o["level"] = level;
    o["component"] = "lambda-runtime";
    o["message"] = message;
    if (!request_id.empty()) o["aws_request_id"] = request_id;
    if (status != 0) o["status"] = status;
    sink_(json::serialize(o));
  }

 private:
  std::function<void(std::string_view)> sink_;
};

std::string base_url(std::string_view api) { return "http://" + std::string(api) + std::string(kPrefix); }

std::string error_body(const Error& e, std::string_view type) {
  json::object o;
  o["errorMessage"] = e.message;
  o["errorType"] = type;
  o["stackTrace"] = json::array();
  return json::serialize(o);
}

std::int64_t wall_ms(const Clock& c) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(c.wall().time_since_epoch()).count();
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  s = trim(s);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string header_or_empty(const net::Headers& h, std::string_view name) {
  auto v = h.get(name);
  return v ? std::string(*v) : std::string();
}

enum class PostOutcome { accepted, too_large, fatal, failed };


struct Poster {
  net::HttpClient& client;
  const RuntimeOptions& options;
  const Logger& log;

  boost::asio::awaitable<PostOutcome> post(std::string url, std::string body, std::string error_type,
                                           std::string_view request_id) {
    net::HttpRequest req;
    req.method = "POST";
    req.url = std::move(url);
    req.headers.set("Content-Type", "application/json");
    if (!error_type.empty()) req.headers.set("Lambda-Runtime-Function-Error-Type", error_type);
    req.body = std::move(body);
    net::RequestOptions ro;
    ro.read_timeout = options.post_timeout;
    auto r = co_await client.send(std::move(req), ro);
    if (!r) {
      log("error", "posting to the Runtime API failed: " + r.error().message, request_id);
      co_return PostOutcome::failed;
    }
    if (r->status == 202 || r->status == 200) co_return PostOutcome::accepted;
    if (r->status == 413) co_return PostOutcome::too_large;
    log("error", "the Runtime API refused a post: " + r->body.substr(0, 512), request_id, r->status);
    co_return r->status >= 500 ? PostOutcome::fatal : PostOutcome::failed;
  }
};

void export_trace(const std::string& trace_id) {
  if (trace_id.empty()) {
    ::unsetenv("_X_AMZN_TRACE_ID");
  } else {
    ::setenv("_X_AMZN_TRACE_ID", trace_id.c_str(), 1);
  }
}

boost::asio::awaitable<int> loop(net::HttpClient& client, const RuntimeOptions& options, const InvocationHandler& handler) {
  Logger log(options.log);
  const Clock& clock = options.clock ? *options.clock : system_clock();
  Poster poster{client, options, log};
  const std::string base = base_url(options.api);

  for (;;) {
    if (options.should_stop && options.should_stop()) co_return 0;

    net::HttpRequest next_req;
    next_req.url = base + "/invocation/next";
    net::RequestOptions next_opts;
    next_opts.read_timeout = std::chrono::hours(24 * 365);  // blocks until Lambda has an event
    auto next = co_await client.send(std::move(next_req), next_opts);
    if (!next) {
      log("error", "GET /runtime/invocation/next failed: " + next.error().message);
      co_return 1;
    }
    if (next->status != 200) {
      log("error", "GET /runtime/invocation/next answered " + std::to_string(next->status) + ": " +
                       next->body.substr(0, 512), {}, next->status);
      co_return 1;
    }

    Invocation inv;
    inv.request_id = header_or_empty(next->headers, "Lambda-Runtime-Aws-Request-Id");
    if (inv.request_id.empty()) {
      log("error", "the Runtime API sent an event without Lambda-Runtime-Aws-Request-Id");
      co_return 1;
    }
    const SteadyTime now = clock.now();
    const std::int64_t now_ms = wall_ms(clock);
    std::optional<std::int64_t> deadline_ms;
    if (auto d = next->headers.get("Lambda-Runtime-Deadline-Ms")) deadline_ms = parse_int(*d);
    if (!deadline_ms) {
      log("warn", "missing or invalid Lambda-Runtime-Deadline-Ms; assuming 15 minutes", inv.request_id);
      deadline_ms = now_ms + 15 * 60 * 1000;
    }
    inv.deadline_unix_ms = *deadline_ms;
    inv.deadline = now + std::chrono::milliseconds(*deadline_ms - now_ms);
    inv.function_arn = header_or_empty(next->headers, "Lambda-Runtime-Invoked-Function-Arn");
    inv.trace_id = header_or_empty(next->headers, "Lambda-Runtime-Trace-Id");
    inv.client_context = header_or_empty(next->headers, "Lambda-Runtime-Client-Context");
    inv.cognito_identity = header_or_empty(next->headers, "Lambda-Runtime-Cognito-Identity");
    inv.event = std::move(next->body);
    if (options.export_trace_id) export_trace(inv.trace_id);

    Result<std::string> result = fail(ErrorKind::internal, "no result");
    try {
      result = co_await handler(inv);
    } catch (const std::exception& e) {
      result = fail(ErrorKind::internal, std::string("the handler threw: ") + e.what());
    }

    const std::string inv_url = base + "/invocation/" + inv.request_id;
    PostOutcome outcome;
    if (result) {
      outcome = co_await poster.post(inv_url + "/response", std::move(*result), {}, inv.request_id);
      if (outcome == PostOutcome::too_large) {
        log("error", "the response was too large for Lambda; posting an error instead", inv.request_id, 413);
        Error e = Error::make(ErrorKind::too_large, "the response exceeds Lambda's payload limit");
        outcome = co_await poster.post(inv_url + "/error", error_body(e, kTooLargeType), std::string(kTooLargeType),
                                       inv.request_id);
      }
    } else {
      const std::string type = lambda_error_type(result.error());
      log("error", "invocation failed: " + result.error().message, inv.request_id);
      outcome = co_await poster.post(inv_url + "/error", error_body(result.error(), type), type, inv.request_id);
    }
    if (outcome == PostOutcome::fatal) co_return 1;
  }
}

boost::asio::awaitable<Result<std::string>> handle_apigw(std::shared_ptr<const net::Handler> api, const Invocation& inv) {
  auto parsed = parse_apigw_event(inv.event);
  if (!parsed)
    co_return to_apigw_response(error_proxy_response(400, "invalid_request", parsed.error().message), 1);
  parsed->request.headers.set(std::string(kDeadlineHeader), std::to_string(inv.deadline_unix_ms));
  const bool head = parsed->request.method == "HEAD";  // before the API sees (and may rewrite) the request
  net::ServerResponse response;
  std::string failure;
  try {
    response = co_await (*api)(parsed->request);
    co_await buffer_response(response);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty() || response.abort_connection)
    co_return fail(ErrorKind::internal, failure.empty() ? "the API dropped the request" : "the API threw: " + failure);
  // Cancelled (Lambda's shutdown cancels the loop's coroutine, cli/lambda_mode.cpp): the API answers 499
  // "cancelled", meant for a caller who went away; here the caller is still there, and gets a plain 503
  // it may retry. An answer the API did finish is sent as it is.
  if (response.status == 499) {
    response = error_proxy_response(503, "unavailable", "the function is shutting down; retry the request");
    response.headers.set("Retry-After", "1");
  }
  // HEAD: the API answers it as GET (same status and headers); as the HTTP server does, the body is
  // dropped (RFC 9110 section 9.3.2). Its Content-Length is dropped too, as for every proxy response.
  if (head) response.body.clear();
  co_return to_apigw_response(response, parsed->version);
}

}  // namespace

std::string lambda_error_type(const Error& error) {
  if (!error.code.empty()) return error.code;
  return "BedrockAgent." + std::string(to_string(error.kind));
}

boost::asio::awaitable<int> run_runtime(boost::asio::io_context& io, RuntimeOptions options,
                                        InvocationHandler handler) {
  std::unique_ptr<net::HttpClient> own;
  net::HttpClient* client = options.client;
  if (!client) {
    // The Runtime API is local to the sandbox: never through a proxy the function's environment names.
    own = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
    client = own.get();
  }
  co_return co_await loop(*client, options, handler);
}

boost::asio::awaitable<Status> post_init_error(boost::asio::io_context& io, const RuntimeOptions& options,
                                               const Error& error) {
  std::unique_ptr<net::HttpClient> own;
  net::HttpClient* client = options.client;
  if (!client) {
    own = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
    client = own.get();
  }
  Logger log(options.log);
  log("error", "initialization failed: " + error.message);
  Poster poster{*client, options, log};
  const std::string type = lambda_error_type(error);
  auto outcome = co_await poster.post(base_url(options.api) + "/init/error", error_body(error, type), type, {});
  if (outcome != PostOutcome::accepted) co_return fail(ErrorKind::unavailable, "the Runtime API did not accept the init error");
  co_return Status{};
}

InvocationHandler make_apigw_handler(net::Handler api) {
  auto shared = std::make_shared<const net::Handler>(std::move(api));
  // The loop awaits the handler while its Invocation lives, so the event is not copied.
  return [shared](const Invocation& inv) { return handle_apigw(shared, inv); };
}

}  // namespace ba::lambda
