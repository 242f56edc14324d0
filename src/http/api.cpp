// GCC 12 reports a false -Wmismatched-new-delete on Asio awaitable frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "http/api.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "http/errors.hpp"
#include "http/files_api.hpp"
#include "http/idempotency.hpp"
#include "http/sse.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"
#include "util/metrics.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

constexpr std::string_view kChatRoute = "/chat";
constexpr std::string_view kConversationRoute = "/conversations/{id}";
constexpr std::string_view kHealthRoute = "/health";
constexpr std::string_view kMetricsRoute = "/metrics";
constexpr std::string_view kNoRoute = "(unmatched)";
constexpr std::string_view kConversationsPrefix = "/conversations/";

struct ApiMetrics {
  explicit ApiMetrics(metrics::Registry& r)
      : requests(r.counter("ba_http_requests_total", "HTTP requests by route and status", {"route", "status"})),
        duration(r.histogram("ba_http_request_duration_seconds", "HTTP request latency", {"route"})),
        tokens(r.counter("ba_model_tokens_total", "Model tokens used by completed chat turns",
                         {"model", "direction"})) {}
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Family<metrics::Counter>& tokens;
};

struct State {
  ApiContext& ctx;
  std::optional<ApiMetrics> metrics;
  Clock& clock;
};

// What one request log line says.
struct RequestLog {
  std::string request_id;
  std::string method;
  std::string_view route = kNoRoute;
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


void emit(State& s, const RequestLog& log) {
  auto elapsed = s.clock.now() - log.start;
  double latency_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::string line;
  line.reserve(512);
  JsonWriter w(line);
  w.begin_object();
  w.member("ts", iso8601_ms(s.clock.wall()));
  w.member("level", log.status >= 500 ? "error" : (log.status >= 400 ? "warn" : "info"));
  w.member("msg", "request");
  w.member("request_id", log.request_id);
  w.member("method", log.method);
  w.member("route", log.route);
  w.member("status", log.status);
  w.member("latency_ms", static_cast<std::int64_t>(latency_ms + 0.5));
  if (log.route == kChatRoute) {
    w.member("model", s.ctx.config.model_id);
    w.member("stream", log.stream);
  }
  if (log.input_tokens) w.member("input_tokens", *log.input_tokens);
  if (log.output_tokens) w.member("output_tokens", *log.output_tokens);
  if (!log.caller.empty()) w.member("caller", log.caller);
  if (log.replayed) w.member("idempotent_replay", true);
  if (!log.error_type.empty()) w.member("error", log.error_type);
  if (!log.error_message.empty()) w.member("error_message", log.error_message);
  if (!log.upstream_request_id.empty()) w.member("upstream_request_id", log.upstream_request_id);
  if (log.call) {
    w.member("attempts", log.call->attempts);
    w.member("throttles", log.call->throttles);
    w.member("queued_ms", static_cast<std::int64_t>(log.call->queued.count()));
    w.member("backoff_ms", static_cast<std::int64_t>(log.call->backoff.count()));
    w.member("max_tokens", log.call->max_tokens);
  }
  w.end_object();
  if (s.ctx.log) {
    s.ctx.log(line);
  } else {
    log_to_stderr(line);
  }
  if (s.metrics) {
    s.metrics->requests.labels({std::string(log.route), std::to_string(log.status)}).inc();
    s.metrics->duration.labels({std::string(log.route)}).observe(latency_ms / 1000.0);
    if (log.input_tokens) s.metrics->tokens.labels({s.ctx.config.model_id, "input"}).inc(static_cast<double>(*log.input_tokens));
    if (log.output_tokens) s.metrics->tokens.labels({s.ctx.config.model_id, "output"}).inc(static_cast<double>(*log.output_tokens));
  }
}

// Finishes a response: request id header, the log line.
net::ServerResponse finish(State& s, RequestLog& log, net::ServerResponse r) {
  r.headers.set("x-request-id", log.request_id);
  log.status = r.status;
  emit(s, log);
  return r;
}

// 5xx messages say what failed on our side or upstream (a refused connect, Bedrock's own words); 4xx
// ones describe the caller's request, which the caller already has, and are not logged.
void note_error(RequestLog& log, const Error& e, int status) {
  log.error_type = std::string(to_string(e.kind));
  if (status >= 500) log.error_message = e.message;
}

net::ServerResponse fail_with(State& s, RequestLog& log, const Error& e) {
  net::ServerResponse r = error_response(e);
  note_error(log, e, r.status);
  return finish(s, log, std::move(r));
}

net::ServerResponse json_response(int status, std::string body) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

net::ServerResponse json_response(int status, const json::value& v) { return json_response(status, json::serialize(v)); }

net::ServerResponse method_not_allowed(std::string_view method, std::string_view route, std::string_view allow) {
  auto r = error_response(405, "method_not_allowed",
                          "method " + std::string(method) + " is not allowed on " + std::string(route) +
                              "; allowed: " + std::string(allow));
  r.headers.set("Allow", std::string(allow));
  return r;
}

// Accepts a caller's x-request-id when it is a sane token; otherwise makes one.
std::string request_id_for(const net::ServerRequest& req) {
  if (auto v = req.headers.get("x-request-id"); v && agent::valid_conversation_id(*v)) return std::string(*v);
  return uuid_v4();
}

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
Result<SteadyTime> chat_deadline(State& s, const net::ServerRequest& req) {
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

json::object usage_json(std::int64_t in, std::int64_t out) {
  json::object u;
  u["input_tokens"] = in;
  u["output_tokens"] = out;
  return u;
}

// The JSON answer of a buffered /chat (also what an Idempotency-Key stores, streamed or not); without
// the text, the "done" event of a stream (the deltas carried it).
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

// An Idempotency-Key claimed by this request: completed with the answer or released on failure.
struct IdempotencyClaim {
  std::string owner;
  std::string key;
};

boost::asio::awaitable<void> settle_claim(State& s, const std::optional<IdempotencyClaim>& claim, int status,
                                          const std::string* body) {
  if (!claim || !s.ctx.idempotency) co_return;
  if (body) {
    // A failure here only means a repeat runs the request again once the claim expires.
    (void)co_await s.ctx.idempotency->complete(claim->owner, claim->key, status, *body, s.ctx.config.idempotency_retention);
  } else {
    (void)co_await s.ctx.idempotency->release(claim->owner, claim->key);
  }
}

boost::asio::awaitable<void> stream_chat(std::shared_ptr<State> state, agent::PendingChat chat, RequestLog log,
                                         std::optional<IdempotencyClaim> claim, net::BodyWriter& writer) {
  State& s = *state;
  bool client_gone = false;
  bedrock::DeltaHandler on_delta = [&writer, &client_gone](std::string_view text) -> boost::asio::awaitable<bool> {
    bool ok = co_await writer.write(delta_event(text));
    if (!ok) client_gone = true;
    co_return ok;
  };
  auto out = co_await s.ctx.chat.finish(chat, std::move(on_delta));
  log.status = 200;
  log.call = chat.report();
  if (out) {
    log.input_tokens = out->usage.input_tokens;
    log.output_tokens = out->usage.output_tokens;
    log.upstream_request_id = out->upstream_request_id;
    const std::string stored = chat_body(*out, log.request_id);
    co_await settle_claim(s, claim, 200, &stored);
    co_await writer.write(sse_event("done", chat_body(*out, log.request_id, false)));
  } else {
    co_await settle_claim(s, claim, 0, nullptr);
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
  emit(s, log);
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

// A repeat of a completed Idempotency-Key request: the stored answer (as JSON, or for a streamed
// request as a short SSE sequence: one delta with the whole text, then done), never the model.
net::ServerResponse replay(State& s, RequestLog& log, const store::IdempotencyRecord& record, bool stream) {
  log.replayed = true;
  boost::system::error_code ec;
  json::value stored = json::parse(record.response_body, ec);
  if (stream && record.status == 200 && !ec && stored.is_object()) {
    json::object body = stored.as_object();
    std::string events;
    if (auto t = body.find("response"); t != body.end() && t->value().is_string())
      events += delta_event(t->value().as_string());
    body.erase("response");  // the "done" event: the chat body without the text
    events += sse_event("done", json::serialize(body));
    net::ServerResponse r = sse_response(log.request_id);
    r.headers.set("Idempotent-Replayed", "true");
    r.body = std::move(events);
    return finish(s, log, std::move(r));
  }
  net::ServerResponse r;
  r.status = record.status;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("Idempotent-Replayed", "true");
  r.body = record.response_body;
  return finish(s, log, std::move(r));
}

// The parts of POST /chat that do not wait are plain functions: a coroutine's frame keeps a slot for
// every local and temporary of its body (GCC 12), and this frame lives while the model answers.

// The request body and headers as a ChatInput, checked; the error is the response to send.
Result<agent::CheckedChat> chat_input(State& s, const net::ServerRequest& req, RequestLog& log) {
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

// What an Idempotency-Key lookup decided: answer now (an error or a replay), or go on holding `claim`
// (empty without a key).
struct ClaimOutcome {
  std::optional<net::ServerResponse> answer;
  std::optional<IdempotencyClaim> claim;
};

net::ServerResponse answer_existing(State& s, RequestLog& log, const store::IdempotencyRecord& record,
                                    const std::string& hash, bool stream) {
  if (record.request_hash != hash) {
    log.error_type = "idempotency_key_reused";
    return finish(s, log,
                  error_response(422, "idempotency_key_reused",
                                 "this Idempotency-Key was used with a different request body; use a new key for a new "
                                 "request"));
  }
  if (record.state == store::IdempotencyRecord::State::in_flight) {
    return fail_with(s, log, Error::make(ErrorKind::conflict,
                                         "a request with this Idempotency-Key is still in progress; retry once it has "
                                         "finished to get its answer"));
  }
  return replay(s, log, record, stream);
}

boost::asio::awaitable<ClaimOutcome> claim_key(State& s, const net::ServerRequest& req, RequestLog& log,
                                               SteadyTime deadline, bool stream) {
  ClaimOutcome outcome;
  auto key = req.headers.get("idempotency-key");
  if (!key || !s.ctx.idempotency) co_return outcome;
  if (!valid_idempotency_key(*key)) {
    outcome.answer = fail_with(s, log, Error::make(ErrorKind::invalid_input, "header Idempotency-Key must be " +
                                                                                std::string(kIdempotencyKeyRule)));
    co_return outcome;
  }
  const std::string hash = idempotency_request_hash("POST", kChatRoute, req.body);
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - s.clock.now()) +
                   s.ctx.config.idempotency_in_flight_margin;
  auto existing = co_await s.ctx.idempotency->claim(log.caller, std::string(*key), hash, ttl);
  if (!existing) {
    outcome.answer = fail_with(s, log, existing.error());
  } else if (*existing) {
    outcome.answer = answer_existing(s, log, **existing, hash, stream);
  } else {
    outcome.claim = IdempotencyClaim{log.caller, std::string(*key)};
  }
  co_return outcome;
}

// The buffered answer to a finished (or refused) model call (the log is filled; finish() writes it).
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

// The SSE response whose body is the streamed chat (already admitted). The coroutine's state lives in
// stream_chat's frame. The server calls this once, so the pending chat is moved in, not copied (it is
// move-only; std::function wants a copyable target, hence the shared_ptr).
net::ServerResponse start_stream(std::shared_ptr<State> state, agent::PendingChat chat, const RequestLog& log,
                                 std::optional<IdempotencyClaim> claim) {
  net::ServerResponse r = sse_response(log.request_id);
  r.stream = [state = std::move(state), chat = std::make_shared<agent::PendingChat>(std::move(chat)), log,
              claim = std::move(claim)](net::BodyWriter& w) mutable {
    return stream_chat(state, std::move(*chat), log, claim, w);
  };
  return r;
}

// POST /chat: checked, the Idempotency-Key claimed, the turn prepared (files, owner, history). A
// stream is admitted by the model client before its headers go out, so a refused stream gets a real
// status (429 with Retry-After); a buffered chat is admitted and sent in one step.
boost::asio::awaitable<net::ServerResponse> handle_chat(std::shared_ptr<State> state, net::ServerRequest& req,
                                                        RequestLog& log) {
  State& s = *state;
  auto input = chat_input(s, req, log);
  if (!input) co_return fail_with(s, log, input.error());
  auto claimed = co_await claim_key(s, req, log, *input->input().deadline, input->input().stream);
  if (claimed.answer) co_return std::move(*claimed.answer);
  std::optional<IdempotencyClaim> claim = std::move(claimed.claim);
  const bool stream = input->input().stream;

  auto pending = co_await s.ctx.chat.prepare(std::move(*input));
  if (!pending) {
    co_await settle_claim(s, claim, 0, nullptr);
    co_return fail_with(s, log, pending.error());
  }
  Result<agent::ChatOutput> out;
  if (stream) {
    auto admitted = co_await s.ctx.chat.admit(*pending);
    if (admitted) co_return start_stream(state, std::move(*pending), log, std::move(claim));
    out = fail(std::move(admitted.error()));
  } else {
    out = co_await s.ctx.chat.finish(*pending);
  }
  net::ServerResponse r = chat_answer(log, pending->report(), out);
  co_await settle_claim(s, claim, out ? 200 : 0, out ? &r.body : nullptr);
  co_return finish(s, log, std::move(r));
}

boost::asio::awaitable<net::ServerResponse> handle_conversation(std::shared_ptr<State> state, net::ServerRequest& req,
                                                                RequestLog& log, std::string id) {
  State& s = *state;
  if (req.method == "DELETE") {
    auto st = co_await s.ctx.chat.remove(log.caller, id);
    if (!st) co_return fail_with(s, log, st.error());
    net::ServerResponse r;
    r.status = 204;
    co_return finish(s, log, std::move(r));
  }
  auto turns = co_await s.ctx.chat.conversation(log.caller, id);
  if (!turns) co_return fail_with(s, log, turns.error());
  json::array list;
  for (const auto& t : *turns) {
    json::object o;
    o["seq"] = t.seq;
    o["input"] = t.user_input;
    o["response"] = t.assistant_reply;
    o["model_id"] = t.model_id;
    o["stop_reason"] = t.stop_reason;
    o["usage"] = usage_json(t.input_tokens, t.output_tokens);
    o["created_at"] = iso8601_ms(WallTime{std::chrono::milliseconds{t.created_at_ms}});
    o["request_id"] = t.request_id;
    list.push_back(std::move(o));
  }
  json::object body;
  body["conversation_id"] = id;
  body["turns"] = std::move(list);
  co_return finish(s, log, json_response(200, body));
}

net::ServerResponse handle_health(State& s, RequestLog& log) {
  const auto& c = s.ctx.config;
  auto history = s.ctx.history.check();
  const bool creds = !c.credentials_source.empty();
  json::object body;
  body["status"] = "";  // set below, once the file store was checked too
  if (!c.version.empty()) body["version"] = c.version;
  json::object model;
  model["id"] = c.model_id;
  model["region"] = c.region;
  model["api"] = c.api;
  body["model"] = std::move(model);
  json::object cred;
  cred["found"] = creds;
  if (creds) {
    cred["source"] = c.credentials_source;
  } else {
    cred["hint"] = c.credentials_hint.empty() ? s.ctx.chat.config().credentials_hint : c.credentials_hint;
  }
  body["credentials"] = std::move(cred);
  json::object hist;
  hist["backend"] = c.history;
  hist["status"] = history ? "ok" : "error";
  if (!history) hist["error"] = history.error().message;
  body["history"] = std::move(hist);
  bool files_ok = true;
  if (s.ctx.files) {
    auto st = s.ctx.files->check();
    files_ok = st.has_value();
    json::object f;
    f["backend"] = s.ctx.files->describe();
    f["status"] = files_ok ? "ok" : "error";
    if (!files_ok) f["error"] = st.error().message;
    body["files"] = std::move(f);
  }
  body["auth"] = s.ctx.keys.empty() ? "none" : "api_key";
  if (c.rate_limit) {
    const auto& rl = *c.rate_limit;
    const auto& lim = rl.limits_for(c.model_id);
    const auto& profile = s.ctx.chat.profile();
    json::object r;
    r["max_rpm"] = lim.rpm;
    r["max_tpm"] = lim.tpm;
    r["max_tokens_per_day"] = lim.daily_tokens;
    r["burndown"] = profile.burndown;
    r["default_max_tokens"] = profile.default_max_tokens;
    r["max_tokens_clamp"] = profile.max_tokens_clamp;
    r["default_deadline_ms"] = static_cast<std::int64_t>(rl.default_deadline.count());
    r["retry_max_attempts"] = rl.retry.max_attempts;
    r["adaptive"] = rl.adaptive;
    body["rate_limit"] = std::move(r);
  }
  const bool ready = history && files_ok;
  body["status"] = !ready ? "unavailable" : (creds ? "ok" : "degraded");
  return finish(s, log, json_response(ready ? 200 : 503, body));
}

// Routing, the method check, /health, authentication and the body limit: everything before a route's
// handler, as a plain function (not in the coroutine's frame). An answer means the request is done.
std::optional<net::ServerResponse> route_request(State& s, net::ServerRequest& req, RequestLog& log,
                                                 std::string& conversation_id) {
  const std::string& path = req.path;
  std::string_view allow;
  if (path == kChatRoute) {
    log.route = kChatRoute;
    allow = "POST";
  } else if (path.starts_with(kConversationsPrefix) &&
             path.find('/', kConversationsPrefix.size()) == std::string::npos) {
    log.route = kConversationRoute;
    allow = "GET, DELETE";
    conversation_id = path.substr(kConversationsPrefix.size());
  } else if (path == kHealthRoute) {
    log.route = kHealthRoute;
    allow = "GET";
  } else if (path == kMetricsRoute) {
    log.route = kMetricsRoute;
    allow = "GET";
  } else if (auto files = files_route(path)) {
    log.route = *files;
    allow = files_route_methods(*files);
  } else {
    return finish(s, log,
                  error_response(404, "not_found",
                                 "no route for " + req.method + " " + path +
                                     "; routes: POST /chat, GET|DELETE /conversations/{id}, GET|POST /files, "
                                     "GET|PUT|DELETE /files/{id}, POST /files/presign, GET /health, GET /metrics"));
  }
  bool allowed = false;
  for (std::string_view m : {"POST", "GET", "PUT", "DELETE"}) {
    if (req.method == m && allow.find(m) != std::string_view::npos) allowed = true;
  }
  if (!allowed) return finish(s, log, method_not_allowed(req.method, log.route, allow));

  if (log.route == kHealthRoute) return handle_health(s, log);

  auto caller = s.ctx.keys.authenticate(req.headers);
  if (!caller) {
    const bool presented = presented_key(req.headers).has_value();
    auto r = error_response(401, to_string(ErrorKind::unauthorized),
                            presented ? "the API key is not valid"
                                      : "an API key is required: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'");
    r.headers.set("WWW-Authenticate", "Bearer");
    log.error_type = std::string(to_string(ErrorKind::unauthorized));
    return finish(s, log, std::move(r));
  }
  log.caller = *caller;
  // Lambda mode: API Gateway authenticated the caller (API key id or authorizer principal) and our
  // adapter passed it on as x-ba-caller, having dropped any client-sent x-ba-* header.
  if (s.ctx.config.trust_lambda_headers) {
    if (auto v = req.headers.get("x-ba-caller"); v && !trim(*v).empty()) log.caller = std::string(trim(*v));
  }

  const std::size_t body_limit = files_route(path) ? s.ctx.config.files_body_limit : s.ctx.config.body_limit;
  if (req.body.size() > body_limit) {
    return fail_with(s, log,
                     Error::make(ErrorKind::too_large, "the request body is " + std::to_string(req.body.size()) +
                                                           " bytes; the limit is " + std::to_string(body_limit)));
  }
  return std::nullopt;
}

boost::asio::awaitable<net::ServerResponse> handle(std::shared_ptr<State> state, net::ServerRequest& req) {
  State& s = *state;
  RequestLog log;
  log.start = s.clock.now();
  log.request_id = request_id_for(req);
  log.method = req.method;
  std::string conversation_id;
  if (auto answer = route_request(s, req, log, conversation_id)) co_return std::move(*answer);
  const bool files_api = files_route(req.path).has_value();
  if (files_api) {
    auto r = co_await handle_files(s.ctx.files, {.presign_expiry = s.ctx.config.presign_expiry}, req,
                                   std::string(log.route), log.caller);
    log.error_type = std::move(r.error_type);
    co_return finish(s, log, std::move(r.response));
  }

  if (log.route == kMetricsRoute) {
    net::ServerResponse r;
    r.status = 200;
    r.headers.set("Content-Type", std::string(metrics::kContentType));
    if (s.ctx.metrics) r.body = s.ctx.metrics->render();
    co_return finish(s, log, std::move(r));
  }
  if (log.route == kChatRoute) co_return co_await handle_chat(state, req, log);
  co_return co_await handle_conversation(state, req, log, std::move(conversation_id));
}

}  // namespace

void log_to_stderr(std::string_view line) {
  std::string out(line);
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

net::ServerResponse server_error_response(int status, std::string_view type, std::string_view message) {
  auto r = error_response(status, type, message);
  r.headers.set("x-request-id", uuid_v4());
  return r;
}

net::Handler make_api_handler(ApiContext& context) {
  auto state = std::shared_ptr<State>(new State{context, std::nullopt, context.clock ? *context.clock : system_clock()});
  if (context.metrics) state->metrics.emplace(*context.metrics);
  return [state](net::ServerRequest& req) { return handle(state, req); };
}

}  // namespace ba::http
