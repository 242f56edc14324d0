// GET and DELETE /conversations/{id}: the caller's turns as JSON, or removed.
#include <boost/json.hpp>

#include "http/api_internal.hpp"
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

}  // namespace

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
