#include "sim/prompt_cache.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "sim/reply.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace json = boost::json;
namespace {

bool is_cache_point(const json::value& v) { return v.is_object() && v.as_object().if_contains("cachePoint"); }

// The text a block contributes to the token count (as parse_converse counts it: text, tool specs).
void add_text(const json::value& v, std::string& text) {
  if (!v.is_object()) return;
  const auto& o = v.as_object();
  if (auto t = o.if_contains("text"); t && t->is_string()) text += t->as_string();
  if (auto spec = o.if_contains("toolSpec"); spec && spec->is_object()) {
    const auto& s = spec->as_object();
    if (auto n = s.if_contains("name"); n && n->is_string()) text += n->as_string();
    if (auto schema = s.if_contains("inputSchema"); schema && schema->is_object())
      if (auto js = schema->as_object().if_contains("json")) text += json::serialize(*js);
    if (auto d = s.if_contains("description"); d && d->is_string()) text += d->as_string();
  }
}

bool has_cache_control(const json::value& v) { return v.is_object() && v.as_object().if_contains("cache_control"); }

// A Claude block's text for the token count (as parse_claude counts it: text, tool inputs and results,
// tool definitions).
void add_claude_text(const json::value& v, std::string& text) {
  if (v.is_string()) text += v.as_string();
  if (!v.is_object()) return;
  const auto& o = v.as_object();
  if (auto t = o.if_contains("text"); t && t->is_string()) text += t->as_string();
  if (auto in = o.if_contains("input")) text += json::serialize(*in);
  if (auto c = o.if_contains("content")) {
    if (c->is_string()) text += c->as_string();
    if (c->is_array())
      for (const auto& part : c->as_array()) add_claude_text(part, text);
  }
  if (auto n = o.if_contains("name"); n && n->is_string() && o.contains("input_schema")) {
    text += n->as_string();
    text += json::serialize(o.at("input_schema"));
    if (auto d = o.if_contains("description"); d && d->is_string()) text += d->as_string();
  }
}

// Each message's content with its section name ("message:<role>:"), in order: the same in Converse and
// Claude bodies.
template <class Walk>
void walk_messages(const json::object& body, Walk& walk) {
  auto messages = body.if_contains("messages");
  if (!messages || !messages->is_array()) return;
  for (const auto& m : messages->as_array()) {
    if (!m.is_object()) continue;
    auto role = m.as_object().if_contains("role");
    auto content = m.as_object().if_contains("content");
    if (!content) continue;
    walk(*content, role && role->is_string() ? std::string("message:") + std::string(role->as_string()) + ":" : "message:");
  }
}

}  // namespace

std::vector<CachePoint> claude_cache_points(const json::object& body) {
  std::vector<CachePoint> points;
  std::string prefix, text;
  auto walk = [&](const json::value& list, std::string_view section) {
    prefix += section;
    if (!list.is_array()) {  // a string: no mark possible
      if (list.is_string()) prefix += list.as_string();
      add_claude_text(list, text);
      return;
    }
    for (const auto& item : list.as_array()) {
      json::value unmarked = item;
      if (unmarked.is_object()) unmarked.as_object().erase("cache_control");
      prefix += json::serialize(unmarked);
      add_claude_text(item, text);
      if (has_cache_control(item)) points.push_back({hex_encode(sha256(prefix)), count_tokens(text)});
    }
  };
  if (auto tools = body.if_contains("tools")) walk(*tools, "tools:");
  if (auto system = body.if_contains("system")) walk(*system, "system:");
  walk_messages(body, walk);
  return points;
}

std::vector<CachePoint> converse_cache_points(const json::object& body) {
  std::vector<CachePoint> points;
  std::string prefix;  // the serialized content so far (the key's input)
  std::string text;    // its text (the token count's input)
  auto point = [&] { points.push_back({hex_encode(sha256(prefix)), count_tokens(text)}); };
  auto walk = [&](const json::value& list, std::string_view section) {
    if (!list.is_array()) return;
    prefix += section;
    for (const auto& item : list.as_array()) {
      if (is_cache_point(item)) {
        point();
        continue;
      }
      prefix += json::serialize(item);
      add_text(item, text);
    }
  };
  if (auto tc = body.if_contains("toolConfig"); tc && tc->is_object())
    if (auto tools = tc->as_object().if_contains("tools")) walk(*tools, "tools:");
  if (auto system = body.if_contains("system")) walk(*system, "system:");
  walk_messages(body, walk);
  return points;
}

CacheUse PromptCache::use(const std::string& model, const std::vector<CachePoint>& points, std::int64_t input_tokens) {
  if (points.empty()) return {};
  const SteadyTime now = clock_.now();
  std::lock_guard lock(mu_);
  std::erase_if(expiry_, [&](const auto& entry) { return entry.second <= now; });
  CacheUse use;
  std::size_t hit = points.size();  // the longest remembered prefix
  for (std::size_t i = points.size(); i-- > 0;) {
    if (expiry_.contains({model, points[i].key})) {
      hit = i;
      break;
    }
  }
  if (hit < points.size()) use.read = points[hit].tokens;
  use.write = std::max<std::int64_t>(0, points.back().tokens - use.read);
  for (const auto& p : points) expiry_[{model, p.key}] = now + ttl_;  // written, or refreshed by the hit
  use.read = std::min(use.read, input_tokens);
  use.write = std::min(use.write, input_tokens - use.read);
  return use;
}

void PromptCache::clear() {
  std::lock_guard lock(mu_);
  expiry_.clear();
}

}  // namespace ba::sim
