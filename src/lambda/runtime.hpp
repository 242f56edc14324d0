#pragma once
// The Lambda custom runtime: the Runtime API loop (next, response, invocation error, init error)
// over net::HttpClient, one invocation at a time, on the caller's io_context. See docs/lambda.md.
//
//   GET  http://{api}/2018-06-01/runtime/invocation/next            blocks until an event (no timeout)
//   POST http://{api}/2018-06-01/runtime/invocation/{id}/response   202; 413 -> an error is posted instead
//   POST http://{api}/2018-06-01/runtime/invocation/{id}/error      Lambda-Runtime-Function-Error-Type
//   POST http://{api}/2018-06-01/runtime/init/error                 before the loop, if start-up failed
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::lambda {

struct Invocation {
  std::string request_id;         // Lambda-Runtime-Aws-Request-Id
  SteadyTime deadline;            // Lambda-Runtime-Deadline-Ms mapped onto the steady clock
  std::int64_t deadline_unix_ms = 0;  // the header itself (Unix ms)
  std::string function_arn;       // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;           // Lambda-Runtime-Trace-Id (also exported as _X_AMZN_TRACE_ID)
  std::string client_context;     // Lambda-Runtime-Client-Context (mobile SDK invokes)
  std::string cognito_identity;   // Lambda-Runtime-Cognito-Identity
  std::string event;              // the event JSON
};

// The function: the response payload (JSON) or an Error, posted as an invocation error whose type is
// error.code if set, else "BedrockAgent.<kind>".
using InvocationHandler = std::function<boost::asio::awaitable<Result<std::string>>(const Invocation&)>;

struct RuntimeOptions {
  std::string api;  // host:port, from AWS_LAMBDA_RUNTIME_API
  // Checked before each /next: true ends the loop with 0 (tests; a shutdown signal).
  std::function<bool()> should_stop;
  // One JSON object per line (no trailing newline); nullptr: stderr (CloudWatch Logs in Lambda).
  std::function<void(std::string_view)> log;
  Clock* clock = nullptr;                           // nullptr: system_clock()
  bool export_trace_id = true;                      // set/unset _X_AMZN_TRACE_ID per invocation
  std::chrono::milliseconds post_timeout{10'000};   // read timeout for response/error posts
  // Used as given instead of a client of its own (tests); must outlive the loop.
  net::HttpClient* client = nullptr;
};

// Runs the loop until should_stop() (returns 0) or until the Runtime API fails hard (returns 1:
// /next unreachable or answering non-200, or a 500 on a post, which the Runtime API documents as
// "exit now"; Lambda then restarts the container). Invocation failures never end the loop.
boost::asio::awaitable<int> run_runtime(boost::asio::io_context& io, RuntimeOptions options,
                                        InvocationHandler handler);

// Reports a start-up failure (POST /runtime/init/error) with errorType error.code or
// "BedrockAgent.<kind>"; the process should exit non-zero afterwards.
boost::asio::awaitable<Status> post_init_error(boost::asio::io_context& io, const RuntimeOptions& options,
                                               const Error& error);

// The invocation handler for API Gateway: event -> net::ServerRequest -> `api` -> proxy response JSON
// (v1 or v2, as the event was). Sets the trusted request headers x-ba-caller (see apigw.hpp) and
// x-ba-deadline-ms (the invocation deadline, absolute Unix ms). An event that is not an API Gateway
// proxy event gets a 400 proxy response (not an invocation error). A streamed response is buffered.
// An exception from `api` becomes an invocation error (API Gateway answers 502).
InvocationHandler make_apigw_handler(net::Handler api);

// The error-type string used for `error` in Lambda-Runtime-Function-Error-Type.
std::string lambda_error_type(const Error& error);

}  // namespace ba::lambda
