// GET /v1/models and GET /v1/models/{id}: the models this agent calls, as OpenAI's Models API lists them,
// or as Anthropic's when the request carries `anthropic-version` (the Anthropic SDK always sends it).
// Entries: the configured model, the aliases' targets, then each alias under its own name (owned by its
// target's provider). `created` is the release date in the model id when it has one (YYYYMMDD), else 0.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bedrock/model_id.hpp"
#include "http/api_internal.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::http {
namespace {

struct ModelEntry {
  std::string id;      // what a caller names in `model`
  std::string target;  // the Bedrock model id it stands for
};

std::vector<ModelEntry> entries(const agent::ChatService& chat) {
  std::vector<ModelEntry> out;
  for (const auto& m : chat.models()) out.push_back({m, m});
  for (const auto& [alias, target] : chat.config().model_aliases) {
    bool listed = false;  // an alias spelled like a model id is listed once
    for (const auto& e : out) listed = listed || e.id == alias;
    if (!listed) out.push_back({alias, target});
  }
  return out;
}

// "anthropic" for anthropic.claude-..., us.anthropic.claude-... and foundation-model ARNs; "bedrock"
// when the id does not say (an application inference profile, a provisioned model...).
std::string owned_by(std::string_view model_id) {
  const auto info = bedrock::describe_model_id(model_id);
  std::string_view base = info.base_model_id;
  if (base.empty() && info.kind == bedrock::ModelIdInfo::Kind::base) base = model_id;
  const auto dot = base.find('.');
  if (base.empty() || dot == std::string_view::npos || dot == 0) return "bedrock";
  return std::string(base.substr(0, dot));
}

// The first run of exactly 8 digits that reads as a date from 2000 on, as Unix seconds of that day.
std::int64_t release_date(std::string_view id) {
  for (std::size_t i = 0; i + 8 <= id.size(); ++i) {
    auto digit = [&](std::size_t k) { return k < id.size() && id[k] >= '0' && id[k] <= '9'; };
    if (!digit(i) || (i > 0 && digit(i - 1))) continue;
    std::size_t n = 0;
    while (digit(i + n)) ++n;
    if (n != 8) {
      i += n;
      continue;
    }
    auto num = [&](std::size_t at, std::size_t len) { return std::stoi(std::string(id.substr(at, len))); };
    const std::chrono::year_month_day ymd{std::chrono::year{num(i, 4)},
                                          std::chrono::month{static_cast<unsigned>(num(i + 4, 2))},
                                          std::chrono::day{static_cast<unsigned>(num(i + 6, 2))}};
    if (!ymd.ok() || ymd.year() < std::chrono::year{2000}) continue;
    return std::chrono::sys_days{ymd}.time_since_epoch() / std::chrono::seconds{1};
  }
  return 0;
}

std::string rfc3339(std::int64_t unix_seconds) {
  const std::chrono::sys_days day{std::chrono::days{unix_seconds / 86400}};
  const std::chrono::year_month_day ymd{day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT00:00:00Z", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

void write_openai(JsonWriter& w, const ModelEntry& e) {
  w.begin_object().member("id", e.id).member("object", "model").member("created", release_date(e.target));
  w.member("owned_by", owned_by(e.target)).end_object();
}

void write_anthropic(JsonWriter& w, const ModelEntry& e) {
  w.begin_object().member("type", "model").member("id", e.id).member("display_name", e.id);
  w.member("created_at", rfc3339(release_date(e.target))).end_object();
}

bool anthropic_client(const net::ServerRequest& req) { return req.headers.get("anthropic-version").has_value(); }

std::string models_list_body(const agent::ChatService& chat, bool anthropic) {
  const auto list = entries(chat);
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  if (!anthropic) w.member("object", "list");
  w.key("data").begin_array();
  for (const auto& e : list) anthropic ? write_anthropic(w, e) : write_openai(w, e);
  w.end_array();
  if (anthropic) {
    w.member("has_more", false);
    if (list.empty()) {
      w.key("first_id").null().key("last_id").null();
    } else {
      w.member("first_id", list.front().id).member("last_id", list.back().id);
    }
  }
  w.end_object();
  return body;
}

}  // namespace

boost::asio::awaitable<Reply> handle_models(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                            RequestLog& /*log*/, std::string /*param*/) {
  co_return Reply{json_response(200, models_list_body(state->ctx.chat, anthropic_client(req))), nullptr};
}

boost::asio::awaitable<Reply> handle_model(std::shared_ptr<ApiState> state, net::ServerRequest& req, RequestLog& log,
                                           std::string param) {
  const bool anthropic = anthropic_client(req);
  const std::string id = net::uri_decode(param);
  for (const auto& e : entries(state->ctx.chat)) {
    if (e.id != id) continue;
    std::string body;
    JsonWriter w(body);
    anthropic ? write_anthropic(w, e) : write_openai(w, e);
    co_return Reply{json_response(200, std::move(body)), nullptr};
  }
  log.error_type = std::string(to_string(ErrorKind::not_found));
  const std::string message = "The model '" + id + "' does not exist or you do not have access to it.";
  if (anthropic) co_return Reply{json_response(404, anthropic_error_body(404, "not_found", "model: " + id)), nullptr};
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("error").begin_object();
  w.member("message", message).member("type", "invalid_request_error").member("param", "model");
  w.member("code", "model_not_found").end_object().end_object();
  co_return Reply{json_response(404, std::move(body)), nullptr};
}

}  // namespace ba::http
