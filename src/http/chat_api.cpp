// POST /chat: the JSON (or SSE) wire format <-> agent::ChatService, through the chat driver
// (chat_flow.cpp: deadline, Idempotency-Key, admission, streaming), answered in /chat's format.
#include <boost/json.hpp>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "agent/idempotency.hpp"
#include "http/api_internal.hpp"
#include "http/chat_bodies.hpp"
#include "http/errors.hpp"
#include "http/sse.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

constexpr std::string_view kChatRoute = "/chat";

}  // namespace

Result<agent::ChatInput> parse_chat(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return fail(ErrorKind::invalid_input, "the request body is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return fail(ErrorKind::invalid_input, "the request body must be a JSON object");
  agent::ChatInput in;
  bool have_input = false;
  for (const auto& [key, val] : v.as_object()) {
    auto type_error = [&](std::string_view expected) {
      return fail(ErrorKind::invalid_input, "field '" + std::string(key) + "' must be " + std::string(expected));
    };
    if (key == "input") {
      if (!val.is_string()) return type_error("a string");
      in.input = std::string(val.as_string());
      have_input = true;
    } else if (key == "conversation_id") {
      if (val.is_null()) continue;
      if (!val.is_string()) return type_error("a string (" + std::string(agent::kConversationIdRule) + ")");
      in.conversation_id = std::string(val.as_string());
    } else if (key == "include_history") {
      if (!val.is_bool()) return type_error("true or false");
      in.include_history = val.as_bool();
    } else if (key == "stream") {
      if (!val.is_bool()) return type_error("true or false");
      in.stream = val.as_bool();
    } else if (key == "system") {
      if (val.is_null()) continue;
      if (!val.is_string()) return type_error("a string");
      in.system = std::string(val.as_string());
    } else if (key == "max_tokens") {
      if (val.is_null()) continue;
      std::int64_t n;
      if (val.is_int64()) {
        n = val.as_int64();
      } else if (val.is_uint64()) {
        n = std::numeric_limits<std::int64_t>::max();
      } else {
        return type_error("an integer");
      }
      if (n > std::numeric_limits<int>::max()) n = std::numeric_limits<int>::max();
      if (n < std::numeric_limits<int>::min()) n = std::numeric_limits<int>::min();
      in.max_tokens = static_cast<int>(n);
    } else if (key == "temperature") {
      if (val.is_null()) continue;
      if (!val.is_number()) return type_error("a number between 0 and 1");
      in.temperature = val.to_number<double>();
    } else if (key == "files") {
      if (val.is_null()) continue;
      if (!val.is_array()) return type_error("an array of file ids (from POST /files)");
      for (const auto& f : val.as_array()) {
        if (!f.is_string()) return type_error("an array of file ids (from POST /files)");
        in.files.emplace_back(f.as_string());
      }
    } else {
      return fail(ErrorKind::invalid_input,
                  "unknown field '" + std::string(key) +
                      "'; accepted: input, conversation_id, include_history, system, max_tokens, temperature, stream, "
                      "files");
    }
  }
  if (!have_input) return fail(ErrorKind::invalid_input, "field 'input' is required (a non-empty string)");
  return in;
}

namespace {

// The JSON answer of a buffered /chat (also the answer an Idempotency-Key stores, streamed or not);
// without the text, the "done" event of a stream (the deltas carried it).
std::string chat_body(const agent::ChatOutput& out, const std::string& request_id, bool with_response = true) {
  std::string body;
  body.reserve(out.response.size() + 256);
  JsonWriter w(body);
  w.begin_object();
  if (with_response) w.member("response", out.response);
  w.member("conversation_id", out.conversation_id);
  w.member("model_id", out.model_id);
  w.member("stop_reason", out.stop_reason);
  w.key("usage").begin_object();
  w.member("input_tokens", out.usage.input_tokens).member("output_tokens", out.usage.output_tokens);
  // Prompt caching (--prompt-cache): tokens read from and written to Bedrock's cache, not in input_tokens.
  w.member("cache_read_input_tokens", out.usage.cache_read_input_tokens);
  w.member("cache_write_input_tokens", out.usage.cache_write_input_tokens);
  w.end_object();
  w.member("max_tokens", out.max_tokens);
  // --guardrail-trace: what the guardrail assessed (Bedrock's trace.guardrail, as Bedrock wrote it).
  if (!out.guardrail_trace.empty()) w.key("guardrail_trace").raw(out.guardrail_trace);
  if (!out.call.region.empty()) {  // routed over targets: the one that served
    w.key("served_by").begin_object();
    w.member("model_id", out.call.model_id).member("region", out.call.region);
    w.end_object();
  }
  w.member("request_id", request_id);
  w.end_object();
  return body;
}

// A stream's "delta" event carrying `text`.
std::string delta_event(std::string_view text) {
  std::string d;
  JsonWriter(d).begin_object().member("text", text).end_object();
  return sse_event("delta", d);
}

// /chat's wire format for the chat driver (chat_flow.cpp).
class ChatApiFormat final : public ChatFormat {
 public:
  explicit ChatApiFormat(std::string request_id) : request_id_(std::move(request_id)) {}
  std::string_view route() const override { return kChatRoute; }
  ErrorBody error_body() const override { return &native_error_body; }
  std::string answer(const agent::ChatOutput& out) const override { return chat_body(out, request_id_); }
  // Text only: /chat's stream carries the reply's text (tool calls and reasoning are not part of it).
  std::string stream_delta(const bedrock::StreamDelta& d) const override {
    return d.kind == bedrock::StreamDelta::Kind::text ? delta_event(d.text) : std::string();
  }
  // The "done" event: the chat body without the text (the deltas carried it).
  std::string stream_done(const agent::ChatOutput& out) const override {
    return sse_event("done", chat_body(out, request_id_, false));
  }
  std::string stream_error(const Error& e) const override {
    json::object err;
    err["type"] = to_string(e.kind);
    err["message"] = e.message;
    if (e.retry_after) err["retry_after_ms"] = e.retry_after->count();
    return sse_event("error", json::serialize(err));
  }
  // One delta with the whole text, then the stored body without the text as "done" (its request_id is
  // the original request's).
  std::optional<std::string> replay_stream(std::string_view stored) const override {
    boost::system::error_code ec;
    json::value v = json::parse(stored, ec);
    if (ec || !v.is_object()) return std::nullopt;
    json::object body = v.as_object();
    std::string events;
    if (auto t = body.find("response"); t != body.end() && t->value().is_string())
      events += delta_event(t->value().as_string());
    body.erase("response");
    events += sse_event("done", json::serialize(body));
    return events;
  }

 private:
  std::string request_id_;
};

}  // namespace

// POST /chat: the body translated, then the chat driver (run_chat) in /chat's format.
// A plain function, not a coroutine: the parsed body goes into run_chat, not into a frame of its own.
boost::asio::awaitable<Reply> handle_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                          std::string /*param*/) {
  auto input = parse_chat(req.body);
  if (!input) return ready(failed(log, input.error()));
  return run_chat(std::move(state), req, log, std::move(*input), std::make_shared<const ChatApiFormat>(log.request_id));
}

}  // namespace ba::http
