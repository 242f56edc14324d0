#include "bedrock/client.hpp"

#include <cctype>
#include <stdexcept>
#include <utility>
#include <vector>

#include "aws/credentials.hpp"
#include "aws/errors.hpp"
#include "aws/eventstream.hpp"
#include "aws/sigv4.hpp"
#include "bedrock/codec_common.hpp"
#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"
#include "bedrock/model_id.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"

namespace ba::bedrock {
namespace {

using boost::asio::awaitable;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kEventStream = "application/vnd.amazon.eventstream";

struct Prepared {
  Operation op = Operation::converse;
  ModelFamily family = ModelFamily::other;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // InvokeModel: the guardrail's
};

// InvokeModel takes the guardrail as headers (Converse: guardrailConfig in the body); the trace in
// InvokeModel's spelling (ENABLED, DISABLED, ENABLED_FULL).
std::vector<std::pair<std::string, std::string>> guardrail_headers(const GuardrailConfig& g) {
  std::vector<std::pair<std::string, std::string>> h{{"X-Amzn-Bedrock-GuardrailIdentifier", g.identifier},
                                                     {"X-Amzn-Bedrock-GuardrailVersion", g.version}};
  if (!g.trace.empty()) {
    std::string trace = g.trace;
    for (char& c : trace) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    h.emplace_back("X-Amzn-Bedrock-Trace", std::move(trace));
  }
  return h;
}

// Everything one streamed call needs while body bytes arrive.
struct StreamState {
  aws::eventstream::Decoder decoder;
  StreamAccumulator acc;
  bool invoke = false;
  ModelFamily family = ModelFamily::other;
  DeltaHandler* on_delta = nullptr;
  std::optional<Error> error;  // a stream failure (exception frame, corruption, bad payload)
  bool cancelled = false;      // the DeltaHandler asked to stop
  std::size_t delivered = 0;   // pieces of the reply handed to the DeltaHandler (any kind)
  // After an exception frame the service ends the stream; reading on to the end (within a small
  // allowance) lets the call finish normally, so the response headers (x-amzn-RequestId) are known.
  bool draining = false;
  std::size_t drained = 0;
};

constexpr std::size_t kDrainAllowance = 64 * 1024;

std::int64_t elapsed_ms(SteadyTime start, SteadyTime end) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
}

// Handles one message frame; false when the stream must stop.
awaitable<bool> handle_frame(StreamState& st, const aws::eventstream::Message& msg) {
  const auto message_type = msg.header(":message-type").value_or("event");
  if (message_type == "exception") {
    st.error = aws::parse_stream_exception(msg.header(":exception-type").value_or(""), msg.payload);
    st.draining = true;
    co_return true;
  }
  if (message_type == "error") {
    st.error = aws::parse_stream_exception(msg.header(":error-code").value_or("UnknownError"),
                                           msg.header(":error-message").value_or(msg.payload));
    st.draining = true;
    co_return true;
  }
  if (message_type != "event") co_return true;  // unknown message types are skipped, as the SDKs do
  const auto event_type = msg.header(":event-type").value_or("");
  Result<std::optional<StreamDelta>> delta;
  if (st.invoke) {
    if (event_type != "chunk") co_return true;
    delta = invoke::apply_stream_chunk(st.acc, msg.payload, st.family);
  } else {
    delta = converse::apply_stream_event(st.acc, event_type, msg.payload);
  }
  if (!delta) {
    st.error = std::move(delta.error());
    co_return false;
  }
  if (*delta) st.acc.add_reasoning(**delta);  // the reply's reasoning blocks, whole, for the response
  if (*delta && st.on_delta && *st.on_delta) {
    const StreamDelta piece = std::move(**delta);
    ++st.delivered;
    if (!co_await (*st.on_delta)(piece)) {
      st.cancelled = true;
      co_return false;
    }
  }
  co_return true;
}

// The body sink: feed the decoder, hand every complete frame on.
awaitable<bool> on_body(StreamState* st, std::string_view chunk) {
  if (st->draining) {
    st->drained += chunk.size();
    co_return st->drained <= kDrainAllowance;
  }
  st->decoder.feed(chunk);
  while (!st->draining) {
    auto next = st->decoder.next();
    if (!next) {
      Error e = std::move(next.error());
      e.kind = ErrorKind::network;
      st->error = std::move(e);
      co_return false;
    }
    if (!*next) co_return true;
    if (!co_await handle_frame(*st, **next)) co_return false;
  }
  co_return true;
}

class BedrockClient final : public ModelClient {
 public:
  BedrockClient(net::HttpClient& http, aws::CredentialsProvider& credentials, BedrockConfig config, Clock& clock)
      : http_(http), credentials_(credentials), config_(std::move(config)), clock_(clock) {
    if (config_.region.empty()) throw std::invalid_argument("Bedrock client: no region configured");
    while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
    if (config_.endpoint.empty()) throw std::invalid_argument("Bedrock client: no endpoint configured");
    if (auto url = net::parse_url(config_.endpoint); !url)
      throw std::invalid_argument("Bedrock client: bad endpoint \"" + config_.endpoint + "\": " + url.error().message);
  }

  awaitable<Result<ChatResponse>> chat(const ChatRequest& request, CallOptions options) override {
    const SteadyTime start = clock_.now();
    auto prepared = prepare(request, false);
    if (!prepared) co_return std::unexpected(std::move(prepared.error()));
    auto http_request = co_await build_request(*prepared);
    if (!http_request) co_return std::unexpected(std::move(http_request.error()));
    auto sent = co_await http_.send(std::move(*http_request), request_options(options));
    co_return decode(*prepared, sent, start);
  }

  awaitable<Result<ChatResponse>> chat_stream(const ChatRequest& request, DeltaHandler on_delta,
                                              CallOptions options) override {
    const SteadyTime start = clock_.now();
    auto prepared = prepare(request, true);
    if (!prepared) co_return std::unexpected(std::move(prepared.error()));
    auto http_request = co_await build_request(*prepared);
    if (!http_request) co_return std::unexpected(std::move(http_request.error()));

    StreamState state;
    state.invoke = prepared->op == Operation::invoke_stream;
    state.family = prepared->family;
    state.on_delta = &on_delta;
    StreamState* st = &state;
    net::BodySink sink = [st](std::string_view chunk) { return on_body(st, chunk); };
    auto sent = co_await http_.send_streaming(std::move(*http_request), std::move(sink), request_options(options));

    if (state.cancelled) co_return fail(ErrorKind::cancelled, "the stream was cancelled by the caller");
    if (state.error) {
      Error e = std::move(*state.error);
      if (sent) e.request_id = std::string(sent->headers.get("x-amzn-RequestId").value_or(""));
      if (state.delivered > 0) {
        e.message += " (after " + std::to_string(state.delivered) + " streamed parts of the reply)";
      }
      co_return std::unexpected(std::move(e));
    }
    if (!sent) co_return std::unexpected(std::move(sent.error()));
    const net::HttpResponse& response = *sent;
    const std::string request_id(response.headers.get("x-amzn-RequestId").value_or(""));
    if (response.status < 200 || response.status > 299) co_return std::unexpected(http_error(response));

    // Anything that is not a complete, finished stream is an error, never a partial success.
    if (state.decoder.has_partial() || !state.acc.finished) {
      Error e = Error::make(ErrorKind::network,
                            state.decoder.has_partial()
                                ? "Bedrock event stream truncated: the connection ended inside a frame"
                                : std::string("Bedrock event stream ended before its final event (") +
                                      (state.invoke ? "message_stop/completionReason" : "messageStop") + ")");
      e.retryable = state.delivered == 0;  // nothing (text, tool call, reasoning) reached the caller: a retry is safe
      e.request_id = request_id;
      e.http_status = response.status;
      co_return std::unexpected(std::move(e));
    }
    ChatResponse out = state.acc.to_response();
    out.request_id = request_id;
    out.latency_ms = elapsed_ms(start, clock_.now());
    co_return out;
  }

  awaitable<Result<std::int64_t>> count_tokens(const ChatRequest& request, CallOptions options) override {
    if (auto ok = validate_request(request); !ok) co_return std::unexpected(std::move(ok.error()));
    Prepared p;
    p.op = Operation::count_tokens;
    p.body = converse::encode_count_tokens(request);
    p.path = model_path(request.model_id, p.op);
    auto http_request = co_await build_request(p);
    if (!http_request) co_return std::unexpected(std::move(http_request.error()));
    auto sent = co_await http_.send(std::move(*http_request), request_options(options));
    if (!sent) co_return std::unexpected(std::move(sent.error()));
    if (sent->status < 200 || sent->status > 299) co_return std::unexpected(http_error(*sent));
    auto n = converse::decode_count_tokens(sent->body);
    if (!n) n.error().request_id = std::string(sent->headers.get("x-amzn-RequestId").value_or(""));
    co_return n;
  }

 private:
  // A buffered answer as a ChatResponse (a plain function: the coroutine's frame stays small while the
  // call waits).
  Result<ChatResponse> decode(const Prepared& prepared, Result<net::HttpResponse>& sent, SteadyTime start) const {
    if (!sent) return std::unexpected(std::move(sent.error()));
    const net::HttpResponse& response = *sent;
    const std::string request_id(response.headers.get("x-amzn-RequestId").value_or(""));
    if (response.status < 200 || response.status > 299) return std::unexpected(http_error(response));
    Result<ChatResponse> out = prepared.op == Operation::invoke ? invoke::decode_response(response.body, prepared.family)
                                                                : converse::decode_response(response.body);
    if (!out) {
      out.error().request_id = request_id;
      out.error().http_status = response.status;
      return out;
    }
    out->request_id = request_id;
    out->latency_ms = elapsed_ms(start, clock_.now());
    return out;
  }

  Result<Prepared> prepare(const ChatRequest& request, bool stream) const {
    if (auto ok = validate_request(request); !ok) return std::unexpected(std::move(ok.error()));
    Prepared p;
    if (config_.api == Api::converse) {
      p.op = stream ? Operation::converse_stream : Operation::converse;
      p.body = converse::encode_request(request);
    } else {
      p.op = stream ? Operation::invoke_stream : Operation::invoke;
      p.family = model_family(request.model_id);
      auto body = invoke::encode_request(request, p.family);
      if (!body) return std::unexpected(std::move(body.error()));
      p.body = std::move(*body);
      if (request.guardrail) p.headers = guardrail_headers(*request.guardrail);
    }
    p.path = model_path(request.model_id, p.op);
    return p;
  }

  awaitable<Result<net::HttpRequest>> build_request(const Prepared& p) {
    if (!config_.bearer_token.empty()) co_return unsigned_request(p);
    auto creds = co_await credentials_.get();
    if (!creds) co_return std::unexpected(std::move(creds.error()));
    net::HttpRequest req = unsigned_request(p);
    aws::SigningParams params;
    params.region = config_.region;
    params.service = "bedrock";
    params.time = clock_.wall();
    aws::sign_request(req, *creds, params);
    co_return req;
  }

  // The request before authentication; with a bearer token (a Bedrock API key) already authenticated.
  net::HttpRequest unsigned_request(const Prepared& p) const {
    net::HttpRequest req;
    req.method = "POST";
    req.url = config_.endpoint + p.path;
    req.headers.set("Content-Type", std::string(kJson));
    switch (p.op) {
      case Operation::converse:
      case Operation::count_tokens:
      case Operation::invoke: req.headers.set("Accept", std::string(kJson)); break;
      case Operation::converse_stream: req.headers.set("Accept", std::string(kEventStream)); break;
      case Operation::invoke_stream:
        req.headers.set("Accept", std::string(kEventStream));
        req.headers.set("X-Amzn-Bedrock-Accept", std::string(kJson));
        break;
    }
    for (const auto& [name, value] : p.headers) req.headers.set(name, value);
    req.body = p.body;
    if (!config_.bearer_token.empty()) req.headers.set("Authorization", "Bearer " + config_.bearer_token);
    return req;
  }

  net::RequestOptions request_options(const CallOptions& options) const {
    net::RequestOptions o;
    o.connect_timeout = config_.connect_timeout;
    o.read_timeout = config_.read_timeout;
    o.deadline = options.deadline;
    return o;
  }

  static Error http_error(const net::HttpResponse& response) {
    Error e = aws::parse_json_error(response);
    if (e.request_id.empty()) e.request_id = std::string(response.headers.get("x-amzn-RequestId").value_or(""));
    return e;
  }

  net::HttpClient& http_;
  aws::CredentialsProvider& credentials_;
  BedrockConfig config_;
  Clock& clock_;
};

}  // namespace

std::unique_ptr<ModelClient> make_bedrock_client(net::HttpClient& http, aws::CredentialsProvider& credentials,
                                                 BedrockConfig config, Clock& clock) {
  return std::make_unique<BedrockClient>(http, credentials, std::move(config), clock);
}

}  // namespace ba::bedrock
