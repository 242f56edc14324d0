#pragma once
// Inside the HTTP API (not for other folders): what the router (api.cpp) and the route handlers
// (chat_api.cpp, openai_api.cpp, anthropic_api.cpp, conversations_api.cpp, health_api.cpp,
// files_api.cpp) share, and the chat driver the three chat front doors use (chat_flow.cpp).
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
#include "http/errors.hpp"
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
  std::string model;  // a chat's model id when the request chose one (else ApiConfig::model_id)
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

// ---- The chat driver (chat_flow.cpp) ----

// A chat front door's wire format: how its answers, stream events and errors look. One object per
// request (it may keep the request's id, the model name asked for, stream options). The driver calls it;
// it never calls the use case itself.
class ChatFormat {
 public:
  virtual ~ChatFormat() = default;
  // The route the Idempotency-Key's fingerprint names (one key on two routes is a conflict).
  virtual std::string_view route() const = 0;
  // The API's error body, and whether its errors carry retry-after-ms next to Retry-After.
  virtual ErrorBody error_body() const = 0;
  virtual bool retry_after_ms() const { return false; }
  // The buffered answer's body (200), also what an Idempotency-Key stores and replays.
  virtual std::string answer(const agent::ChatOutput& out) const = 0;
  // A stream's body: the events before the first delta (written once admitted), those of one piece of the
  // reply as the model sends it (text, a tool call's start or input fragment, reasoning; empty: nothing
  // to write for it), after a success, after a failure (the client is still there). A format may keep
  // the stream's state (one format per request).
  virtual std::string stream_start() const { return {}; }
  virtual std::string stream_delta(const bedrock::StreamDelta& delta) const = 0;
  virtual std::string stream_done(const agent::ChatOutput& out) const = 0;
  virtual std::string stream_error(const Error& e) const = 0;
  // A stored answer() replayed to a streamed repeat, as the events of that stream; nullopt: it is
  // answered as stored JSON.
  virtual std::optional<std::string> replay_stream(std::string_view stored) const = 0;

  // The error response in this format.
  net::ServerResponse error(const Error& e) const { return error_response(e, error_body(), retry_after_ms()); }
  net::ServerResponse error(int status, std::string_view type, std::string_view message) const {
    return error_response(status, type, message, error_body());
  }
};

// One chat request through the use case, for any front door: the deadline (request_timeout shortened by
// X-Request-Timeout-Ms, and in Lambda mode by x-ba-deadline-ms), check, the Idempotency-Key's claim,
// prepare, then a buffered answer or a stream admitted before its headers go out. `input` is the front
// door's translation of the body; owner, request id and deadline are filled here.
boost::asio::awaitable<Reply> run_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                       agent::ChatInput input, std::shared_ptr<const ChatFormat> format);

// An awaitable already done: what a handler that is a plain function (one whose synchronous part should
// not sit in a coroutine frame while the chat is in flight) returns when it answers without waiting.
boost::asio::awaitable<Reply> ready(Reply reply);

// Headers an answer in an event stream carries (200, text/event-stream, no caching or proxy buffering).
net::ServerResponse sse_response(const std::string& request_id);

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
boost::asio::awaitable<Reply> handle_openai_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                 RequestLog& log, std::string param);
boost::asio::awaitable<Reply> handle_anthropic_messages(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                        RequestLog& log, std::string param);
// POST /v1/messages/count_tokens (anthropic_api.cpp): Bedrock's CountTokens, no rate-limit budget.
boost::asio::awaitable<Reply> handle_anthropic_count_tokens(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                            RequestLog& log, std::string param);
// GET /v1/models and GET /v1/models/{id} (models_api.cpp): OpenAI's shape, Anthropic's with anthropic-version.
boost::asio::awaitable<Reply> handle_models(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                            std::string param);
boost::asio::awaitable<Reply> handle_model(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                           std::string id);
// The compatible APIs' error bodies (for the router's own errors on their routes: 401, 405, 413).
std::string openai_error_body(int status, std::string_view type, std::string_view message);
std::string anthropic_error_body(int status, std::string_view type, std::string_view message);

}  // namespace ba::http
