#pragma once
// Inside the HTTP API (not for other folders): what the router (api.cpp) and the route handlers
// (chat_api.cpp, conversations_api.cpp, health_api.cpp, files_api.cpp) share.
//
// A handler gets the request, its request log and the route's path parameter and returns a Reply; it
// fills the log's fields (errors, tokens, the call report) but never writes the log line or the
// metrics: the router does, once per request, when the response is complete (for a stream, once its
// body was written).
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/api.hpp"
#include "util/metrics.hpp"

namespace ba::http {

inline constexpr std::string_view kNoRoute = "(unmatched)";

struct ApiMetrics {
  explicit ApiMetrics(metrics::Registry& r);
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Family<metrics::Counter>& tokens;
};

struct ApiState {
  ApiContext& ctx;
  std::optional<ApiMetrics> metrics;
  Clock& clock;
};

// What one request log line says.
struct RequestLog {
  std::string request_id;
  std::string method;
  std::string_view route = kNoRoute;
  bool chat = false;  // a chat route: the line names the model and whether it streamed
  std::string caller;
  int status = 0;
  std::string error_type;
  std::string error_message;  // for 5xx answers only: what failed on our side or upstream
  std::optional<std::int64_t> input_tokens, output_tokens;
  std::string upstream_request_id;
  bool stream = false;
  bool replayed = false;  // an Idempotency-Key repeat answered from the store
  std::optional<bedrock::CallReport> call;  // /chat once the model was called (or admission refused)
  SteadyTime start;
};

// Writes the body of a streamed response; the log is written once it returns.
using StreamBody = std::function<boost::asio::awaitable<void>(net::BodyWriter&, RequestLog&)>;

struct Reply {
  net::ServerResponse response;  // without x-request-id (the router adds it)
  StreamBody stream;             // set: the response's body is streamed (response.stream stays empty)
};

using RouteHandler = boost::asio::awaitable<Reply> (*)(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                      RequestLog& log, std::string param);

// The request log line and the HTTP metrics (request_log.cpp).
void write_request_log(ApiState& s, const RequestLog& log);

// 5xx messages say what failed on our side or upstream (a refused connect, Bedrock's own words); 4xx
// ones describe the caller's request, which the caller already has, and are not logged.
void note_error(RequestLog& log, const Error& e, int status);
// The JSON error response for `e`, noted in the log.
Reply failed(RequestLog& log, const Error& e);

net::ServerResponse json_response(int status, std::string body);

// The route handlers.
boost::asio::awaitable<Reply> handle_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                          std::string param);
boost::asio::awaitable<Reply> handle_conversation_list(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                       RequestLog& log, std::string param);
boost::asio::awaitable<Reply> handle_conversation(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                  RequestLog& log, std::string id);
boost::asio::awaitable<Reply> handle_health(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                            std::string param);
boost::asio::awaitable<Reply> handle_metrics(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                             RequestLog& log, std::string param);
boost::asio::awaitable<Reply> handle_page(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                          std::string param);
boost::asio::awaitable<Reply> handle_files_route(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                 RequestLog& log, std::string param);

}  // namespace ba::http
