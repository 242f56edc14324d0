// The request log line and the HTTP metrics: written here, once per request, by the router.
#include <cstdio>

#include "http/api_internal.hpp"
#include "http/errors.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::http {

ApiMetrics::ApiMetrics(metrics::Registry& r)
    : requests(r.counter("ba_http_requests_total", "HTTP requests by route and status", {"route", "status"})),
      duration(r.histogram("ba_http_request_duration_seconds", "HTTP request latency", {"route"})),
      tokens(r.counter("ba_model_tokens_total", "Model tokens used by completed chat turns", {"model", "direction"})) {}

void write_request_log(ApiState& s, const RequestLog& log) {
  auto elapsed = s.clock.now() - log.start;
  double latency_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const std::string& model = log.model.empty() ? s.ctx.config.model_id : log.model;
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
  if (log.chat) {
    w.member("model", model);
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
    if (!log.call->region.empty()) {  // routed over targets: the one that served (or was tried last)
      w.member("target_model", log.call->model_id);
      w.member("target_region", log.call->region);
    }
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
    if (log.input_tokens) s.metrics->tokens.labels({model, "input"}).inc(static_cast<double>(*log.input_tokens));
    if (log.output_tokens) s.metrics->tokens.labels({model, "output"}).inc(static_cast<double>(*log.output_tokens));
  }
}


void note_error(RequestLog& log, const Error& e, int status) {
  log.error_type = std::string(to_string(e.kind));
  if (status >= 500) log.error_message = e.message;
}

Reply failed(RequestLog& log, const Error& e) {
  net::ServerResponse r = error_response(e);
  note_error(log, e, r.status);
  return Reply{std::move(r), nullptr};
}

net::ServerResponse json_response(int status, std::string body) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

void log_to_stderr(std::string_view line) {
  std::string out(line);
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ba::http
