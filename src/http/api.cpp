// The router: one route table (method, path pattern, authentication, body limit, handler) applied in one
// place; the request log line and the HTTP metrics written here for every route, streamed or not.
#include "http/api.hpp"

#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "http/api_internal.hpp"
#include "http/errors.hpp"
#include "util/encoding.hpp"
#include "util/metrics.hpp"

namespace ba::http {
namespace {

enum class BodyLimit { api, files };

struct Route {
  std::string_view pattern;  // the route's label in the log and the metrics; "{id}" is the parameter
  std::string_view methods;  // "GET, DELETE"; anything else is 405 with this as Allow
  bool authenticate;         // false: answered before the API key is looked at (and without a body limit)
  BodyLimit limit;
  RouteHandler handler;
  bool chat = false;  // the log line names the model and whether it streamed
  ErrorBody errors = &native_error_body;  // the shape of this route's errors (the compatible APIs': their own)
};

// Matched in order: exact paths before the patterns with a parameter.
constexpr std::array kRoutes{
    Route{"/chat", "POST", true, BodyLimit::api, &handle_chat, true},
    Route{"/v1/chat/completions", "POST", true, BodyLimit::api, &handle_openai_chat, true, &openai_error_body},
    Route{"/v1/messages", "POST", true, BodyLimit::api, &handle_anthropic_messages, true, &anthropic_error_body},
    Route{"/v1/messages/count_tokens", "POST", true, BodyLimit::api, &handle_anthropic_count_tokens, false,
          &anthropic_error_body},
    Route{"/v1/models", "GET", true, BodyLimit::api, &handle_models, false, &openai_error_body},
    // The rest of the path, '/' included (an ARN is a model id too).
    Route{"/v1/models/{id}", "GET", true, BodyLimit::api, &handle_model, false, &openai_error_body},
    Route{"/conversations", "GET", true, BodyLimit::api, &handle_conversation_list},
    Route{"/conversations/{id}", "GET, DELETE", true, BodyLimit::api, &handle_conversation},
    Route{"/health", "GET", false, BodyLimit::api, &handle_health},
    Route{"/", "GET", false, BodyLimit::api, &handle_page},  // the chat page (page_api.cpp)
    Route{"/assets/{name}", "GET", false, BodyLimit::api, &handle_page},
    Route{"/metrics", "GET", true, BodyLimit::api, &handle_metrics},
    Route{"/files", "GET, POST", true, BodyLimit::files, &handle_files_route},
    Route{"/files/presign", "POST", true, BodyLimit::files, &handle_files_route},
    // The rest of the path, '/' included (the Files API answers a name with '/' itself).
    Route{"/files/{id}", "GET, PUT, DELETE", true, BodyLimit::files, &handle_files_route},
};

constexpr std::string_view kRouteList =
    "routes: POST /chat, POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /v1/models/{id}, GET /conversations, GET|DELETE /conversations/{id}, "
    "GET|POST /files, GET|PUT|DELETE /files/{id}, POST /files/presign, GET /health, GET /metrics, GET / (the chat page)";

// Whether `path` matches `pattern`; `param` gets what "{id}" matched (one segment, possibly empty, except
// under /files/ and /v1/models/ where it is the rest of the path).
bool matches(std::string_view pattern, std::string_view path, std::string& param) {
  auto brace = pattern.find("/{");
  if (brace == std::string_view::npos) return path == pattern;
  std::string_view prefix = pattern.substr(0, brace + 1);
  if (!path.starts_with(prefix)) return false;
  std::string_view rest = path.substr(prefix.size());
  if (!pattern.starts_with("/files/") && !pattern.starts_with("/v1/models/") && rest.find('/') != std::string_view::npos) return false;
  param = std::string(rest);
  return true;
}

const Route* find_route(std::string_view path, std::string& param) {
  for (const Route& r : kRoutes) {
    if (matches(r.pattern, path, param)) return &r;
  }
  return nullptr;
}

// ---- Methods (RFC 9110 section 9; docs/http-conformance.md) ----

// The methods some route implements. Any other (PATCH, TRACE, CONNECT, an unknown token; methods are
// case-sensitive) is not implemented for any resource: 501, not 405 (RFC 9110 section 9.1).
bool method_implemented(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})
    if (method == m) return true;
  return false;
}

net::ServerResponse not_implemented(std::string_view method) {
  return error_response(501, "not_implemented",
                        "method " + std::string(method) + " is not implemented by this server (" +
                            std::string(kRouteList) + ")");
}

// Whether `route` takes `method`; HEAD wherever GET is (RFC 9110 section 9.1: a general-purpose server
// MUST support both; the handler answers HEAD as GET and the server drops the body).
bool method_allowed(const Route& route, std::string_view method) {
  if (method == "HEAD") method = "GET";
  for (std::string_view m : {"POST", "GET", "PUT", "DELETE"}) {
    if (method == m && route.methods.find(m) != std::string_view::npos) return true;
  }
  return false;
}

// The route's methods as an Allow value: HEAD after GET.
std::string allow_header(const Route& route) {
  std::string allow(route.methods);
  if (auto get = allow.find("GET"); get != std::string::npos) allow.insert(get + 3, ", HEAD");
  return allow;
}

net::ServerResponse method_not_allowed(std::string_view method, const Route& route) {
  std::string allow = allow_header(route);
  auto r = error_response(405, "method_not_allowed",
                          "method " + std::string(method) + " is not allowed on " + std::string(route.pattern) +
                              "; allowed: " + allow,
                          route.errors);
  r.headers.set("Allow", std::move(allow));  // RFC 9110 section 15.5.6: a 405 MUST list them
  return r;
}

// Accepts a caller's x-request-id when it is a sane token; otherwise makes one.
std::string request_id_for(const net::ServerRequest& req) {
  if (auto v = req.headers.get("x-request-id"); v && agent::valid_conversation_id(*v)) return std::string(*v);
  return uuid_v4();
}

// Headers every response carries unless its handler chose otherwise (the page and file downloads set
// their own policy): no MIME sniffing, no framing, no caching of answers, no referrer, no content.
void set_security_headers(net::Headers& h) {
  if (!h.has("X-Content-Type-Options")) h.set("X-Content-Type-Options", "nosniff");
  if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  if (!h.has("X-Frame-Options")) h.set("X-Frame-Options", "DENY");
  if (!h.has("Cache-Control")) h.set("Cache-Control", "no-store");
  if (!h.has("Referrer-Policy")) h.set("Referrer-Policy", "no-referrer");
}

// The headers our answers carry that a page's script may read (the rest are hidden from it by CORS).
constexpr std::string_view kCorsExposed =
    "x-request-id, Retry-After, retry-after-ms, Idempotent-Replayed, Location, Content-Disposition, ETag";

// The Access-Control-Allow-Origin value for this request: its Origin when configured ("*" when any is),
// nothing when CORS is off or the origin is not listed (the browser then refuses the answer to the page).
std::optional<std::string> cors_origin(const ApiConfig& config, const net::ServerRequest& req) {
  if (config.cors_origins.empty()) return std::nullopt;
  auto origin = req.headers.get("Origin");
  if (!origin) return std::nullopt;
  for (const std::string& allowed : config.cors_origins) {
    if (allowed == "*") return std::string("*");
    if (allowed == *origin) return std::string(*origin);
  }
  return std::nullopt;
}

// A header-name list as browsers send it in Access-Control-Request-Headers: tokens and ", " only.
bool header_list(std::string_view v) {
  if (v.size() > 1024) return false;
  for (char c : v) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!token && c != ',' && c != ' ') return false;
  }
  return true;
}

// A CORS preflight from an allowed origin, answered before authentication (browsers send no credentials
// with it): the route's methods and whatever request headers the page asked for (its origin is trusted).
net::ServerResponse preflight(const Route& route, const net::ServerRequest& req) {
  net::ServerResponse r;
  r.status = 204;
  r.headers.set("Access-Control-Allow-Methods", allow_header(route));
  if (auto asked = req.headers.get("Access-Control-Request-Headers"); asked && header_list(*asked)) {
    r.headers.set("Access-Control-Allow-Headers", std::string(*asked));
  }
  r.headers.set("Access-Control-Max-Age", "600");
  return r;
}

// The route, the method check, authentication and the body limit: everything before a route's handler,
// as a plain function (not in the coroutine's frame). An answer means the request is done.
std::optional<net::ServerResponse> admit_request(ApiState& s, net::ServerRequest& req, RequestLog& log,
                                                 const Route*& route, std::string& param) {
  if (!method_implemented(req.method)) return not_implemented(req.method);
  route = find_route(req.path, param);
  if (!route) {
    return error_response(404, "not_found", "no route for " + req.method + " " + req.path + "; " + std::string(kRouteList));
  }
  log.route = route->pattern;
  log.chat = route->chat;
  if (req.method == "OPTIONS" && req.headers.has("Access-Control-Request-Method") && cors_origin(s.ctx.config, req)) {
    return preflight(*route, req);
  }
  if (!method_allowed(*route, req.method)) return method_not_allowed(req.method, *route);
  if (!route->authenticate) return std::nullopt;

  auto caller = s.ctx.keys.authenticate(req.headers);
  if (!caller) {
    const bool presented = presented_key(req.headers).has_value();
    auto r = error_response(401, to_string(ErrorKind::unauthorized),
                            presented ? "the API key is not valid"
                                      : "an API key is required: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                            route->errors);
    r.headers.set("WWW-Authenticate", "Bearer");
    log.error_type = std::string(to_string(ErrorKind::unauthorized));
    return r;
  }
  log.caller = *caller;
  // Lambda mode: API Gateway authenticated the caller (API key id or authorizer principal) and our
  // adapter passed it on as x-ba-caller, having dropped any client-sent x-ba-* header.
  if (s.ctx.config.trust_lambda_headers) {
    if (auto v = req.headers.get("x-ba-caller"); v && !trim(*v).empty()) log.caller = std::string(trim(*v));
  }

  const std::size_t body_limit =
      route->limit == BodyLimit::files ? s.ctx.config.files_body_limit : s.ctx.config.body_limit;
  if (req.body.size() > body_limit) {
    const Error e = Error::make(ErrorKind::too_large, "the request body is " + std::to_string(req.body.size()) +
                                                          " bytes; the limit is " + std::to_string(body_limit));
    note_error(log, e, 413);
    return error_response(e, route->errors);
  }
  return std::nullopt;
}

// A streamed body, then its log line.
boost::asio::awaitable<void> stream_then_log(std::shared_ptr<ApiState> state, StreamBody& body, RequestLog& log,
                                             net::BodyWriter& writer) {
  co_await body(writer, log);
  write_request_log(*state, log);
}

// Every response leaves here: the request id header, and the log line (a stream's once its body is done).
net::ServerResponse complete(std::shared_ptr<ApiState> state, RequestLog& log, Reply reply,
                             const std::optional<std::string>& cors) {
  net::ServerResponse r = std::move(reply.response);
  r.headers.set("x-request-id", log.request_id);
  set_security_headers(r.headers);
  if (cors) {
    r.headers.set("Access-Control-Allow-Origin", *cors);
    r.headers.set("Access-Control-Expose-Headers", std::string(kCorsExposed));
  }
  // The answer depends on Origin whenever CORS is on, so a cache must not serve one origin's to another.
  if (!state->ctx.config.cors_origins.empty()) r.headers.add("Vary", "Origin");
  log.status = r.status;
  if (!reply.stream) {
    write_request_log(*state, log);
    return r;
  }
  // The server keeps the response (and so this callable and its captures) alive while the body is written.
  r.stream = [state = std::move(state), body = std::move(reply.stream), log = std::move(log)](
                 net::BodyWriter& w) mutable { return stream_then_log(state, body, log, w); };
  return r;
}

boost::asio::awaitable<net::ServerResponse> handle(std::shared_ptr<ApiState> state, net::ServerRequest& req) {
  RequestLog log;
  log.start = state->clock.now();
  log.request_id = request_id_for(req);
  log.method = req.method;
  const Route* route = nullptr;
  std::string param;
  const std::optional<std::string> cors = cors_origin(state->ctx.config, req);
  if (auto answer = admit_request(*state, req, log, route, param)) {
    co_return complete(state, log, Reply{std::move(*answer), nullptr}, cors);
  }
  if (req.method == "HEAD") req.method = "GET";  // the log keeps HEAD; the server sends no body
  Reply reply = co_await route->handler(state, req, log, std::move(param));
  co_return complete(std::move(state), log, std::move(reply), cors);
}

}  // namespace

net::ServerResponse server_error_response(int status, std::string_view type, std::string_view message) {
  auto r = error_response(status, type, message);
  r.headers.set("x-request-id", uuid_v4());
  set_security_headers(r.headers);
  return r;
}

net::Handler make_api_handler(ApiContext& context) {
  auto state =
      std::shared_ptr<ApiState>(new ApiState{context, std::nullopt, context.clock ? *context.clock : system_clock()});
  if (context.metrics) state->metrics.emplace(*context.metrics);
  return [state](net::ServerRequest& req) { return handle(state, req); };
}

}  // namespace ba::http
