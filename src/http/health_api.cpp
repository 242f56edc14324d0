// GET /health (readiness, no authentication) and GET /metrics (Prometheus text).
#include <boost/json.hpp>

#include "http/api_internal.hpp"
#include "util/json_number.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

// Not a coroutine: nothing here waits.
net::ServerResponse health(ApiState& s) {
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
    r["budget"] = c.budget;
    body["rate_limit"] = std::move(r);
  }
  bool routable = true;
  if (s.ctx.targets) {
    json::array targets;
    bool any = false;
    for (const auto& t : s.ctx.targets()) {
      json::object o;
      o["model"] = t.model_id;
      o["region"] = t.region;
      o["circuit"] = t.circuit;
      o["in_rotation"] = t.in_rotation;
      o["rpm"] = t.rpm;
      o["tpm"] = t.tpm;
      if (!t.rpm_source.empty()) o["rpm_source"] = t.rpm_source;
      if (!t.tpm_source.empty()) o["tpm_source"] = t.tpm_source;
      if (t.weight != 1) o["weight"] = t.weight;
      any = any || t.in_rotation;
      targets.push_back(std::move(o));
    }
    routable = any;
    body["targets"] = std::move(targets);
  }
  const bool ready = history && files_ok;
  body["status"] = !ready ? "unavailable" : (creds && routable ? "ok" : "degraded");
  json::value doc = std::move(body);
  whole_numbers_as_integers(doc);  // "max_rpm":50, not 5E1 (the budgets are doubles)
  return json_response(ready ? 200 : 503, json::serialize(doc));
}

}  // namespace

boost::asio::awaitable<Reply> handle_health(std::shared_ptr<ApiState> state, net::ServerRequest& /*req*/,
                                            RequestLog& /*log*/, std::string /*param*/) {
  co_return Reply{health(*state), nullptr};
}

boost::asio::awaitable<Reply> handle_metrics(std::shared_ptr<ApiState> state, net::ServerRequest& /*req*/,
                                             RequestLog& /*log*/, std::string /*param*/) {
  net::ServerResponse r;
  r.status = 200;
  r.headers.set("Content-Type", std::string(metrics::kContentType));
  if (state->ctx.metrics) r.body = state->ctx.metrics->render();
  co_return Reply{std::move(r), nullptr};
}

}  // namespace ba::http
