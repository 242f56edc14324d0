// CloudWatch embedded metric format lines from the API's request log.
#include "lambda/emf.hpp"

#include <boost/json.hpp>

#include <utility>

namespace ba::lambda {
namespace {

namespace json = boost::json;

std::int64_t int_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return 0;
}

json::object metric(std::string_view name, std::string_view unit) {
  json::object m;
  m["Name"] = name;
  m["Unit"] = unit;
  return m;
}

}  // namespace

std::optional<std::string> emf_from_request_log(std::string_view line, const EmfOptions& options,
                                                std::int64_t timestamp_ms) {
  boost::system::error_code ec;
  json::value parsed = json::parse(line, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  json::object o = std::move(parsed.as_object());
  const json::value* msg = o.if_contains("msg");
  if (!msg || !msg->is_string() || msg->as_string() != "request") return std::nullopt;
  const json::value* route = o.if_contains("route");
  if (route && route->is_string() && (route->as_string() == "/health" || route->as_string() == "/metrics")) {
    return std::nullopt;
  }
  if (o.contains("_aws")) return std::nullopt;  // never two metadata objects

  std::string model = options.model_id;
  if (const json::value* m = o.if_contains("model"); m && m->is_string() && !m->as_string().empty()) {
    model = std::string(m->as_string());
  }
  const std::int64_t status = int_member(o, "status");
  const std::int64_t attempts = int_member(o, "attempts");

  // The target members: the dimension and the metric values (numbers) on the root node.
  o["Model"] = model;
  o["Requests"] = 1;
  o["Latency"] = int_member(o, "latency_ms");
  o["InputTokens"] = int_member(o, "input_tokens");
  o["OutputTokens"] = int_member(o, "output_tokens");
  o["Throttles"] = int_member(o, "throttles");
  o["Retries"] = attempts > 1 ? attempts - 1 : 0;
  o["QueuedMs"] = int_member(o, "queued_ms");
  o["BackoffMs"] = int_member(o, "backoff_ms");
  o["RateLimited"] = status == 429 ? 1 : 0;
  o["Errors"] = status >= 500 ? 1 : 0;

  json::array metrics;
  metrics.push_back(metric("Requests", "Count"));
  metrics.push_back(metric("Latency", "Milliseconds"));
  metrics.push_back(metric("InputTokens", "Count"));
  metrics.push_back(metric("OutputTokens", "Count"));
  metrics.push_back(metric("Throttles", "Count"));
  metrics.push_back(metric("Retries", "Count"));
  metrics.push_back(metric("QueuedMs", "Milliseconds"));
  metrics.push_back(metric("BackoffMs", "Milliseconds"));
  metrics.push_back(metric("RateLimited", "Count"));
  metrics.push_back(metric("Errors", "Count"));

  json::object directive;
  directive["Namespace"] = options.metric_namespace;
  // One dimension set, [["Model"]], built in two steps: `json::array{json::array{"Model"}}` is a copy of
  // the inner array under the standard's rule for a braced list of one element of the class's own type
  // (CWG 1467, as clang reads it: ["Model"], an EMF document CloudWatch rejects), a nested array under GCC 12.
  json::array dimension_sets;
  dimension_sets.emplace_back(json::array{"Model"});
  directive["Dimensions"] = std::move(dimension_sets);
  directive["Metrics"] = std::move(metrics);
  json::object aws;
  aws["Timestamp"] = timestamp_ms;
  aws["CloudWatchMetrics"] = json::array{std::move(directive)};
  o["_aws"] = std::move(aws);
  return json::serialize(o);
}

std::function<void(std::string_view)> make_emf_log_sink(EmfOptions options,
                                                        std::function<void(std::string_view)> write,
                                                        const Clock* clock) {
  const Clock& c = clock ? *clock : system_clock();
  return [options = std::move(options), write = std::move(write), &c](std::string_view line) {
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(c.wall().time_since_epoch()).count();
    if (auto emf = emf_from_request_log(line, options, now_ms)) {
      write(*emf);
    } else {
      write(line);
    }
  };
}

}  // namespace ba::lambda
