// POST /chat: the JSON (or SSE) wire format <-> agent::ChatService; the Idempotency-Key header <-> the
// use case's claim (agent/idempotency.hpp), whose outcomes are answered here in /chat's format.
#include <boost/json.hpp>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "agent/idempotency.hpp"
#include "http/api_internal.hpp"
#include "http/errors.hpp"
#include "http/sse.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

constexpr std::string_view kChatRoute = "/chat";

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

// Digits only (no sign, no spaces inside), at most 18 of them.
std::optional<std::int64_t> parse_non_negative(std::string_view v) {
  v = trim(v);
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// The /chat deadline: now + request_timeout, shortened by `X-Request-Timeout-Ms: N` (larger values are
// ignored; anything but a positive integer is a 400) and, in Lambda mode only, by `x-ba-deadline-ms`
// (absolute Unix ms from our Lambda adapter).
Result<SteadyTime> chat_deadline(ApiState& s, const net::ServerRequest& req) {
  const SteadyTime now = s.clock.now();
  SteadyTime deadline = now + s.ctx.config.request_timeout;
  if (auto v = req.headers.get("x-request-timeout-ms")) {
    auto ms = parse_non_negative(*v);
    if (!ms || *ms < 1) {
      return fail(ErrorKind::invalid_input,
                  "header X-Request-Timeout-Ms must be a positive integer (milliseconds); values above " +
                      std::to_string(s.ctx.config.request_timeout.count()) + " are ignored");
    }
    if (std::chrono::milliseconds(*ms) < s.ctx.config.request_timeout) deadline = now + std::chrono::milliseconds(*ms);
  }
  if (s.ctx.config.trust_lambda_headers) {
    if (auto v = req.headers.get("x-ba-deadline-ms")) {
      if (auto abs_ms = parse_non_negative(*v)) {
        const auto wall_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(s.clock.wall().time_since_epoch()).count();
        const SteadyTime lambda_deadline = now + std::chrono::milliseconds(std::max<std::int64_t>(0, *abs_ms - wall_ms));
        if (lambda_deadline < deadline) deadline = lambda_deadline;
      }
    }
  }
  return deadline;
}

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
  w.end_object();
  w.member("max_tokens", out.max_tokens);
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

// The chat's finish() completes its Idempotency-Key (before the "done" event) or releases it.
boost::asio::awaitable<void> stream_chat(std::shared_ptr<ApiState> state, agent::PendingChat chat,
                                         net::BodyWriter& writer, RequestLog& log) {
  ApiState& s = *state;
  bool client_gone = false;
  bedrock::DeltaHandler on_delta = [&writer, &client_gone](std::string_view text) -> boost::asio::awaitable<bool> {
    bool ok = co_await writer.write(delta_event(text));
    if (!ok) client_gone = true;
    co_return ok;
  };
  auto out = co_await s.ctx.chat.finish(chat, std::move(on_delta));
  log.call = chat.report();
  if (out) {
    log.input_tokens = out->usage.input_tokens;
    log.output_tokens = out->usage.output_tokens;
    log.upstream_request_id = out->upstream_request_id;
    co_await writer.write(sse_event("done", chat_body(*out, log.request_id, false)));
  } else {
    log.error_type = client_gone ? "client_disconnected" : std::string(to_string(out.error().kind));
    log.upstream_request_id = out.error().request_id;
    if (!client_gone) {
      json::object err;
      err["type"] = to_string(out.error().kind);
      err["message"] = out.error().message;
      if (out.error().retry_after) err["retry_after_ms"] = out.error().retry_after->count();
      co_await writer.write(sse_event("error", json::serialize(err)));
    }
  }
}

net::ServerResponse sse_response(const std::string& request_id) {
  net::ServerResponse r;
  r.status = 200;
  r.headers.set("Content-Type", "text/event-stream");
  r.headers.set("Cache-Control", "no-cache");
  r.headers.set("X-Accel-Buffering", "no");
  r.headers.set("x-request-id", request_id);
  return r;
}

// A repeat of a completed Idempotency-Key request: the stored answer (/chat's JSON body, as sent; for a
// streamed request as a short SSE sequence: one delta with the whole text, then done), never the model.
net::ServerResponse replay(RequestLog& log, const agent::IdempotencyOutcome& answer, bool stream) {
  log.replayed = true;
  boost::system::error_code ec;
  json::value stored = json::parse(answer.body, ec);
  if (stream && answer.status == 200 && !ec && stored.is_object()) {
    json::object body = stored.as_object();
    std::string events;
    if (auto t = body.find("response"); t != body.end() && t->value().is_string())
      events += delta_event(t->value().as_string());
    body.erase("response");  // the "done" event: the chat body without the text
    events += sse_event("done", json::serialize(body));
    net::ServerResponse r = sse_response(log.request_id);
    r.headers.set("Idempotent-Replayed", "true");
    r.body = std::move(events);
    return r;
  }
  net::ServerResponse r;
  r.status = answer.status;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("Idempotent-Replayed", "true");
  r.body = answer.body;
  return r;
}

// The parts of POST /chat that do not wait are plain functions: a coroutine's frame keeps a slot for
// every local and temporary of its body (GCC 12), and this frame lives while the model answers.

// The request body and headers as a ChatInput, checked; the error is the response to send.
Result<agent::CheckedChat> chat_input(ApiState& s, const net::ServerRequest& req, RequestLog& log) {
  auto input = parse_chat(req.body);
  if (!input) return fail(std::move(input.error()));
  input->owner = log.caller;
  input->request_id = log.request_id;
  auto deadline = chat_deadline(s, req);
  if (!deadline) return fail(std::move(deadline.error()));
  input->deadline = *deadline;
  log.stream = input->stream;
  return s.ctx.chat.check(std::move(*input));
}

// The Idempotency-Key header as the use case's request: /chat's fingerprint (method, route, canonical
// body) and /chat's JSON body as the answer to store.
agent::IdempotentRequest idempotent_request(std::string_view key, const net::ServerRequest& req, const RequestLog& log) {
  return agent::IdempotentRequest{
      .key = std::string(key),
      .fingerprint = agent::request_fingerprint("POST", kChatRoute, req.body),
      .answer = [request_id = log.request_id](const agent::ChatOutput& out) { return chat_body(out, request_id); },
  };
}

// The claim's outcome on the wire: nothing (go on), the replay, 422 or 409.
std::optional<net::ServerResponse> claim_answer(RequestLog& log, const agent::IdempotencyOutcome& outcome, bool stream) {
  switch (outcome.kind) {
    case agent::IdempotencyOutcome::Kind::claimed: return std::nullopt;
    case agent::IdempotencyOutcome::Kind::replay: return replay(log, outcome, stream);
    case agent::IdempotencyOutcome::Kind::conflict:
      log.error_type = "idempotency_key_reused";
      return error_response(422, "idempotency_key_reused", agent::kKeyReusedMessage);
    case agent::IdempotencyOutcome::Kind::in_progress:
      return failed(log, Error::make(ErrorKind::conflict, std::string(agent::kInProgressMessage))).response;
  }
  return std::nullopt;
}

// Idempotency-Key: read and checked here, claimed by the use case. An answer means the request is done
// (a replay, 409, 422, 400 for a bad key, or the store's error). Without an idempotency store the
// header is ignored.
boost::asio::awaitable<std::optional<net::ServerResponse>> claim_key(ApiState& s, const net::ServerRequest& req,
                                                                     RequestLog& log, agent::CheckedChat& chat) {
  auto key = req.headers.get("idempotency-key");
  if (!key || !s.ctx.chat.keeps_idempotency_keys()) co_return std::nullopt;
  if (!agent::valid_idempotency_key(*key)) {
    co_return failed(log, Error::make(ErrorKind::invalid_input,
                                      "header Idempotency-Key must be " + std::string(agent::kIdempotencyKeyRule)))
        .response;
  }
  auto outcome = co_await s.ctx.chat.claim(chat, idempotent_request(*key, req, log));
  if (!outcome) co_return failed(log, outcome.error()).response;
  co_return claim_answer(log, *outcome, chat.input().stream);
}

// The buffered answer to a finished (or refused) model call (the log is filled; the router writes it).
net::ServerResponse chat_answer(RequestLog& log, const bedrock::CallReport& report, const Result<agent::ChatOutput>& out) {
  log.call = report;
  if (!out) {
    log.upstream_request_id = out.error().request_id;
    net::ServerResponse r = error_response(out.error());
    note_error(log, out.error(), r.status);
    return r;
  }
  log.input_tokens = out->usage.input_tokens;
  log.output_tokens = out->usage.output_tokens;
  log.upstream_request_id = out->upstream_request_id;
  return json_response(200, chat_body(*out, log.request_id));
}

// The SSE response whose body is the streamed chat (already admitted); the router writes the log
// once the body is done. The pending chat is move-only and std::function wants a copyable target,
// hence the shared_ptr; the server calls the body once, so it is moved out, not copied.
Reply start_stream(std::shared_ptr<ApiState> state, agent::PendingChat chat, const RequestLog& log) {
  Reply reply{sse_response(log.request_id), nullptr};
  reply.stream = [state = std::move(state), chat = std::make_shared<agent::PendingChat>(std::move(chat))](
                     net::BodyWriter& w, RequestLog& log) { return stream_chat(state, std::move(*chat), w, log); };
  return reply;
}

}  // namespace

// POST /chat: checked, the Idempotency-Key claimed, the turn prepared (files, owner, history). A
// stream is admitted by the model client before its headers go out, so a refused stream gets a real
// status (429 with Retry-After); a buffered chat is admitted and sent in one step. The use case
// completes or releases the key in those steps; this handler only answers.
boost::asio::awaitable<Reply> handle_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                          std::string /*param*/) {
  ApiState& s = *state;
  auto input = chat_input(s, req, log);
  if (!input) co_return failed(log, input.error());
  if (auto answer = co_await claim_key(s, req, log, *input)) co_return Reply{std::move(*answer), nullptr};
  const bool stream = input->input().stream;

  auto pending = co_await s.ctx.chat.prepare(std::move(*input));
  if (!pending) co_return failed(log, pending.error());
  Result<agent::ChatOutput> out;
  if (stream) {
    auto admitted = co_await s.ctx.chat.admit(*pending);
    if (admitted) co_return start_stream(state, std::move(*pending), log);
    out = fail(std::move(admitted.error()));
  } else {
    out = co_await s.ctx.chat.finish(*pending);
  }
  co_return Reply{chat_answer(log, pending->report(), out), nullptr};
}

}  // namespace ba::http
