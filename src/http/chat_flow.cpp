// The chat driver every chat front door uses (POST /chat, POST /v1/chat/completions, POST /v1/messages):
// the deadline, the Idempotency-Key header <-> the use case's claim (agent/idempotency.hpp), prepare,
// admit, finish; buffered or streamed. What goes on the wire is the front door's ChatFormat.
#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "agent/idempotency.hpp"
#include "http/api_internal.hpp"
#include "util/encoding.hpp"

namespace ba::http {
namespace {

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

// The chat deadline: now + request_timeout, shortened by `X-Request-Timeout-Ms: N` (larger values are
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

// Our own failures to reach the model endpoint (net::HttpClient's "net.*" codes) name internal hosts and
// ports in the resolver's, socket's or OpenSSL's words: the log keeps those (note_error), the caller
// learns which step failed.
Error for_caller(Error e) {
  const bool timed_out = e.kind == ErrorKind::timeout;
  std::string_view what;
  if (e.code == "net.resolve") {
    what = timed_out ? "model endpoint unreachable: resolving its host name timed out"
                     : "model endpoint unreachable: its host name does not resolve";
  } else if (e.code == "net.connect") {
    what = timed_out ? "model endpoint unreachable: connecting timed out"
                     : "model endpoint unreachable: the connection failed";
  } else if (e.code == "net.tls_certificate") {
    what = "model endpoint not trusted: its TLS certificate failed verification, nothing was sent";
  } else if (e.code == "net.tls") {
    what = "model endpoint unreachable: the TLS handshake failed";
  }
  if (!what.empty()) e.message = std::string(what) + " (the server log has the details)";
  return e;
}

// The error response in the front door's format, noted in the log.
Reply failed_as(RequestLog& log, const ChatFormat& format, const Error& e) {
  net::ServerResponse r = format.error(for_caller(e));
  note_error(log, e, r.status);
  return Reply{std::move(r), nullptr};
}

// The model call streamed into the SSE body (already admitted). The chat's finish() completes its
// Idempotency-Key (before the final events) or releases it.
boost::asio::awaitable<void> stream_chat(std::shared_ptr<ApiState> state, agent::PendingChat chat,
                                         std::shared_ptr<const ChatFormat> format, net::BodyWriter& writer,
                                         RequestLog& log) {
  ApiState& s = *state;
  bool client_gone = false;
  if (auto start = format->stream_start(); !start.empty()) client_gone = !co_await writer.write(start);
  bedrock::DeltaHandler on_delta = [&writer, &client_gone, &format](const bedrock::StreamDelta& d) -> boost::asio::awaitable<bool> {
    if (client_gone) co_return false;
    const std::string events = format->stream_delta(d);
    if (events.empty()) co_return true;  // a piece this format does not show
    if (!co_await writer.write(events)) client_gone = true;
    co_return !client_gone;
  };
  auto out = co_await s.ctx.chat.finish(chat, std::move(on_delta));
  log.call = chat.report();
  if (out) {
    log.input_tokens = out->usage.input_tokens;
    log.output_tokens = out->usage.output_tokens;
    log.upstream_request_id = out->upstream_request_id;
    co_await writer.write(format->stream_done(*out));
  } else {
    log.upstream_request_id = out.error().request_id;
    if (client_gone) {
      log.error_type = "client_disconnected";
    } else {
      Error e = out.error();
      if (e.kind == ErrorKind::cancelled) {
        // Not by the client (it is still there): the end of a drain cancelled the call. Like a buffered
        // chat's 503 (net/http_server.cpp), the stream ends with an error the caller may retry; the
        // Idempotency-Key was released and nothing was saved.
        e = Error::make(ErrorKind::unavailable, "the server is shutting down; retry the request");
        e.retryable = true;
        e.retry_after = std::chrono::seconds{1};
      }
      note_error(log, e, status_for(e));  // a 5xx's message, as for a buffered chat
      co_await writer.write(format->stream_error(for_caller(std::move(e))));
    }
  }
}

// A repeat of a completed Idempotency-Key request: the stored answer as sent (for a streamed request
// as the front door's short event stream), never the model.
net::ServerResponse replay(RequestLog& log, const ChatFormat& format, const agent::IdempotencyOutcome& answer,
                           bool stream) {
  log.replayed = true;
  if (stream && answer.status == 200) {
    if (auto events = format.replay_stream(answer.body)) {
      net::ServerResponse r = sse_response(log.request_id);
      r.headers.set("Idempotent-Replayed", "true");
      r.body = std::move(*events);
      return r;
    }
  }
  net::ServerResponse r;
  r.status = answer.status;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("Idempotent-Replayed", "true");
  r.body = answer.body;
  return r;
}

// The parts of a chat that do not wait are plain functions: a coroutine's frame keeps a slot for every
// local and temporary of its body (GCC 12), and the driver's frame lives while the model answers.

// The input completed (owner, request id, deadline) and checked; the error is the response to send.
Result<agent::CheckedChat> checked_input(ApiState& s, const net::ServerRequest& req, RequestLog& log,
                                         agent::ChatInput input) {
  input.owner = log.caller;
  input.request_id = log.request_id;
  auto deadline = chat_deadline(s, req);
  if (!deadline) return fail(std::move(deadline.error()));
  input.deadline = *deadline;
  log.stream = input.stream;
  if (!input.model_id.empty()) log.model = input.model_id;
  return s.ctx.chat.check(std::move(input));
}

// The Idempotency-Key header as the use case's request: the front door's fingerprint (method, route,
// canonical body) and its answer to store.
agent::IdempotentRequest idempotent_request(std::string_view key, const net::ServerRequest& req,
                                            std::shared_ptr<const ChatFormat> format) {
  auto fingerprint = agent::request_fingerprint("POST", format->route(), req.body);
  return agent::IdempotentRequest{
      .key = std::string(key),
      .fingerprint = std::move(fingerprint),
      .answer = [format = std::move(format)](const agent::ChatOutput& out) { return format->answer(out); },
  };
}

// The claim's outcome on the wire: nothing (go on), the replay, 422 or 409.
std::optional<net::ServerResponse> claim_answer(RequestLog& log, const ChatFormat& format,
                                                const agent::IdempotencyOutcome& outcome, bool stream) {
  switch (outcome.kind) {
    case agent::IdempotencyOutcome::Kind::claimed: return std::nullopt;
    case agent::IdempotencyOutcome::Kind::replay: return replay(log, format, outcome, stream);
    case agent::IdempotencyOutcome::Kind::conflict:
      log.error_type = "idempotency_key_reused";
      return format.error(422, "idempotency_key_reused", agent::kKeyReusedMessage);
    case agent::IdempotencyOutcome::Kind::in_progress:
      return failed_as(log, format, Error::make(ErrorKind::conflict, std::string(agent::kInProgressMessage))).response;
  }
  return std::nullopt;
}

// Idempotency-Key: read and checked here, claimed by the use case. An answer means the request is done
// (a replay, 409, 422, 400 for a bad key, or the store's error). Without an idempotency store the
// header is ignored.
boost::asio::awaitable<std::optional<net::ServerResponse>> claim_key(ApiState& s, const net::ServerRequest& req,
                                                                     RequestLog& log, agent::CheckedChat& chat,
                                                                     std::shared_ptr<const ChatFormat> format) {
  auto key = req.headers.get("idempotency-key");
  if (!key || !s.ctx.chat.keeps_idempotency_keys()) co_return std::nullopt;
  if (!agent::valid_idempotency_key(*key)) {
    co_return failed_as(log, *format,
                        Error::make(ErrorKind::invalid_input,
                                    "header Idempotency-Key must be " + std::string(agent::kIdempotencyKeyRule)))
        .response;
  }
  auto outcome = co_await s.ctx.chat.claim(chat, idempotent_request(*key, req, format));
  if (!outcome) co_return failed_as(log, *format, outcome.error()).response;
  co_return claim_answer(log, *format, *outcome, chat.input().stream);
}

// The buffered answer to a finished (or refused) model call (the log is filled; the router writes it).
net::ServerResponse chat_answer(RequestLog& log, const ChatFormat& format, const bedrock::CallReport& report,
                                const Result<agent::ChatOutput>& out) {
  log.call = report;
  if (!out) {
    log.upstream_request_id = out.error().request_id;
    net::ServerResponse r = format.error(for_caller(out.error()));
    note_error(log, out.error(), r.status);
    return r;
  }
  log.input_tokens = out->usage.input_tokens;
  log.output_tokens = out->usage.output_tokens;
  log.upstream_request_id = out->upstream_request_id;
  return json_response(200, format.answer(*out));
}

// The SSE response whose body is the streamed chat (already admitted); the router writes the log
// once the body is done. The pending chat is move-only and std::function wants a copyable target,
// hence the shared_ptr; the server calls the body once, so it is moved out, not copied.
Reply start_stream(std::shared_ptr<ApiState> state, agent::PendingChat chat, std::shared_ptr<const ChatFormat> format,
                   const RequestLog& log) {
  Reply reply{sse_response(log.request_id), nullptr};
  reply.stream = [state = std::move(state), chat = std::make_shared<agent::PendingChat>(std::move(chat)),
                  format = std::move(format)](net::BodyWriter& w, RequestLog& log) {
    return stream_chat(state, std::move(*chat), format, w, log);
  };
  return reply;
}

}  // namespace

net::ServerResponse sse_response(const std::string& request_id) {
  net::ServerResponse r;
  r.status = 200;
  r.headers.set("Content-Type", "text/event-stream");
  r.headers.set("Cache-Control", "no-cache");
  r.headers.set("X-Accel-Buffering", "no");
  r.headers.set("x-request-id", request_id);
  return r;
}

// Checked, the Idempotency-Key claimed, the turn prepared (files, owner, history). A stream is admitted
// by the model client before its headers go out, so a refused stream gets a real status (429 with
// Retry-After); a buffered chat is admitted and sent in one step. The use case completes or releases
// the key in those steps; this driver only answers.
namespace {

// From the claim to the answer. The checked input is on the heap (8 bytes in this frame, not 720) and
// is gone once prepare() has taken it: this frame lives while the model answers and the turn is saved.
boost::asio::awaitable<Reply> run_checked(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                          std::unique_ptr<agent::CheckedChat> checked,
                                          std::shared_ptr<const ChatFormat> format) {
  ApiState& s = *state;
  if (auto answer = co_await claim_key(s, req, log, *checked, format)) co_return Reply{std::move(*answer), nullptr};
  const bool stream = checked->input().stream;

  auto pending = co_await s.ctx.chat.prepare(std::move(*checked));
  checked.reset();
  if (!pending) co_return failed_as(log, *format, pending.error());
  Result<agent::ChatOutput> out;
  if (stream) {
    auto admitted = co_await s.ctx.chat.admit(*pending);
    if (admitted) co_return start_stream(state, std::move(*pending), std::move(format), log);
    out = fail(std::move(admitted.error()));
  } else {
    out = co_await s.ctx.chat.finish(*pending);
  }
  co_return Reply{chat_answer(log, *format, pending->report(), out), nullptr};
}

}  // namespace

boost::asio::awaitable<Reply> ready(Reply reply) { co_return reply; }

// Not a coroutine: the check does no I/O, and a frame would keep the input and its checked copy
// (1.3 KB) for as long as the chat is in flight (10,000 chats: 13 MB).
boost::asio::awaitable<Reply> run_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                       agent::ChatInput input, std::shared_ptr<const ChatFormat> format) {
  auto checked = checked_input(*state, req, log, std::move(input));
  if (!checked) return ready(failed_as(log, *format, checked.error()));
  return run_checked(std::move(state), req, log, std::make_unique<agent::CheckedChat>(std::move(*checked)),
                     std::move(format));
}

}  // namespace ba::http
