#pragma once
// Errors as values on the request path: every fallible call returns Result<T>.
// An Error says why (kind), what the far side called it (code), and whether a retry can help.
#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace ba {

enum class ErrorKind {
  invalid_input,   // the caller's request is wrong (400)
  unauthorized,    // no or bad credentials/API key (401)
  forbidden,       // authenticated but not allowed (403)
  not_found,       // no such conversation/file/model (404)
  conflict,        // concurrent or in-flight duplicate (409)
  too_large,       // payload over a limit (413)
  rate_limited,    // our own limiter shed the request (429)
  throttled,       // upstream throttled us (429 ThrottlingException and friends)
  quota_exceeded,  // a cap that retrying will not fix soon (daily tokens, service quota)
  unavailable,     // upstream 5xx/unavailable or no credentials (503)
  timeout,         // deadline or I/O timeout (504)
  upstream,        // the model failed (424 ModelErrorException, stream errors)
  network,         // connection refused/reset, TLS failure, truncated response
  cancelled,       // the caller went away
  internal,        // a bug or an unexpected state on our side (500)
};

std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  std::string code;        // far side's error type, e.g. "ThrottlingException"; empty if ours
  int http_status = 0;     // upstream HTTP status if any
  bool retryable = false;  // a retry of the same call may succeed
  bool throttle = false;   // the failure is a throttle (feeds adaptive rate and backoff)
  std::optional<std::chrono::milliseconds> retry_after;  // a hint from the far side or our limiter
  std::string request_id;  // upstream request id if known

  static Error make(ErrorKind k, std::string msg) { return Error{.kind = k, .message = std::move(msg)}; }
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorKind k, std::string msg) { return std::unexpected(Error::make(k, std::move(msg))); }
inline std::unexpected<Error> fail(Error e) { return std::unexpected(std::move(e)); }

}  // namespace ba
