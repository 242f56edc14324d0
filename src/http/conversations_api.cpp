// GET and DELETE /conversations/{id}: the caller's turns as JSON, or removed.
#include <boost/json.hpp>
#include <charconv>

#include "http/api_internal.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

json::object usage_json(std::int64_t in, std::int64_t out) {
  json::object u;
  u["input_tokens"] = in;
  u["output_tokens"] = out;
  return u;
}

// The value of `name` in the request's query; nullopt when absent.
std::optional<std::string> query_value(const net::ServerRequest& req, std::string_view name) {
  std::string_view query = req.query;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    if (net::uri_decode(part.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : net::uri_decode(part.substr(eq + 1));
    }
  }
  return std::nullopt;
}

}  // namespace

// GET /conversations?limit=N&cursor=C: the caller's conversations, newest first.
boost::asio::awaitable<Reply> handle_conversation_list(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                       RequestLog& log, std::string) {
  ApiState& s = *state;
  std::size_t limit = 20;
  if (auto v = query_value(req, "limit")) {
    std::size_t n = 0;
    const char* end = v->data() + v->size();
    if (auto [p, ec] = std::from_chars(v->data(), end, n); ec != std::errc() || p != end) n = 0;
    limit = n;
  }
  std::string cursor = query_value(req, "cursor").value_or("");
  auto page = co_await s.ctx.chat.conversations(log.caller, limit, std::move(cursor));
  if (!page) co_return failed(log, page.error());
  json::array list;
  for (const auto& c : page->conversations) {
    json::object o;
    o["id"] = c.id;
    o["title"] = c.title;
    o["created_at"] = iso8601_ms(WallTime{std::chrono::milliseconds{c.created_at_ms}});
    o["updated_at"] = iso8601_ms(WallTime{std::chrono::milliseconds{c.updated_at_ms}});
    o["turns"] = c.turns;
    list.push_back(std::move(o));
  }
  json::object body;
  body["conversations"] = std::move(list);
  body["next_cursor"] = page->next_cursor.empty() ? json::value(nullptr) : json::value(page->next_cursor);
  co_return Reply{json_response(200, json::serialize(body)), nullptr};
}

boost::asio::awaitable<Reply> handle_conversation(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                  RequestLog& log, std::string id) {
  ApiState& s = *state;
  if (req.method == "DELETE") {
    auto st = co_await s.ctx.chat.remove(log.caller, id);
    if (!st) co_return failed(log, st.error());
    net::ServerResponse r;
    r.status = 204;
    co_return Reply{std::move(r), nullptr};
  }
  auto turns = co_await s.ctx.chat.conversation(log.caller, id);
  if (!turns) co_return failed(log, turns.error());
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
  co_return Reply{json_response(200, json::serialize(body)), nullptr};
}

}  // namespace ba::http
