#include "http/errors.hpp"

#include <boost/json.hpp>

namespace ba::http {

int status_for(const Error& e) {
  switch (e.kind) {
    case ErrorKind::invalid_input: return 400;
    case ErrorKind::unauthorized: return 401;
    case ErrorKind::forbidden: return 403;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::too_large: return 413;
    case ErrorKind::rate_limited:
    case ErrorKind::throttled:
    case ErrorKind::quota_exceeded: return 429;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::timeout: return 504;
    case ErrorKind::upstream: return e.http_status == 424 ? 424 : 502;
    case ErrorKind::network: return 502;
    case ErrorKind::cancelled: return 499;  // the client is gone; nobody reads this
    case ErrorKind::internal: return 500;
  }
  return 500;
}

std::string error_json(std::string_view type, std::string_view message) {
  boost::json::object inner;
  inner["type"] = type;
  inner["message"] = message;
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

std::string native_error_body(int /*status*/, std::string_view type, std::string_view message) {
  return error_json(type, message);
}

net::ServerResponse error_response(int status, std::string_view type, std::string_view message, ErrorBody body) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body(status, type, message);
  return r;
}

net::ServerResponse error_response(const Error& e, ErrorBody body, bool retry_after_ms) {
  auto r = error_response(status_for(e), to_string(e.kind), e.message, body);
  if (e.retry_after && (e.kind == ErrorKind::rate_limited || e.kind == ErrorKind::throttled ||
                        e.kind == ErrorKind::quota_exceeded || e.kind == ErrorKind::unavailable)) {
    auto ms = e.retry_after->count();
    // Whole seconds, rounded up, at least 1 (a 0 would invite an immediate retry).
    r.headers.set("Retry-After", std::to_string(ms <= 1000 ? 1 : (ms + 999) / 1000));
    if (retry_after_ms) r.headers.set("retry-after-ms", std::to_string(ms < 1 ? 1 : ms));
  }
  return r;
}

}  // namespace ba::http
