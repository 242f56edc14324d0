// GET /conversations (the caller's list) and the chat page (GET /, /assets/{name}) through the router.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/api.hpp"
#include "http/web_assets.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/run_sync.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class PageApiTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }

  void build(std::vector<std::string> keys) {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    agent::ChatConfig cfg;
    cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
    api_keys = http::ApiKeys(keys);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = api_keys,
        .config = {.body_limit = 4096, .version = "0.1.0", .model_id = cfg.model_id, .region = "us-east-1"},
        .log = [](std::string_view) {},
    });
    handler = http::make_api_handler(*context);
  }

  net::ServerResponse call(std::string method, std::string target, net::Headers headers = {}, std::string body = {}) {
    net::ServerRequest req;
    req.method = std::move(method);
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.headers = std::move(headers);
    req.body = std::move(body);
    req.remote_address = "127.0.0.1";
    return run_sync(handler(req));
  }

  void chat(const std::string& conversation, const std::string& input, net::Headers headers = {}) {
    model.reply("answer");
    auto r = call("POST", "/chat", std::move(headers),
                  R"({"input": ")" + input + R"(", "conversation_id": ")" + conversation + R"("})");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys api_keys;
  std::unique_ptr<http::ApiContext> context;
  net::Handler handler;
};

TEST_F(PageApiTest, ConversationsListsTheCallersConversationsNewestFirst) {
  chat("c-old", "first question");
  chat("c-old", "second question");
  chat("c-new", "another topic");
  auto r = call("GET", "/conversations");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = json::parse(r.body).as_object();
  auto& list = body.at("conversations").as_array();
  ASSERT_EQ(list.size(), 2u);
  // (The order is the store suite's to check, on a clock it sets.)
  for (auto& v : list) {
    auto& c = v.as_object();
    if (c.at("id").as_string() == "c-old") {
      EXPECT_EQ(c.at("title").as_string(), "first question");
      EXPECT_EQ(c.at("turns").as_int64(), 2);
      EXPECT_TRUE(c.at("updated_at").as_string().ends_with("Z"));
      EXPECT_TRUE(c.at("created_at").as_string().ends_with("Z"));
    }
  }
  EXPECT_TRUE(body.at("next_cursor").is_null());
}

TEST_F(PageApiTest, ConversationsPaginatesWithLimitAndCursor) {
  for (int i = 0; i < 3; ++i) chat("c" + std::to_string(i), "q");
  auto first = call("GET", "/conversations?limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  auto b1 = json::parse(first.body).as_object();
  EXPECT_EQ(b1.at("conversations").as_array().size(), 2u);
  ASSERT_TRUE(b1.at("next_cursor").is_string());
  auto second = call("GET", "/conversations?limit=2&cursor=" + std::string(b1.at("next_cursor").as_string()));
  ASSERT_EQ(second.status, 200) << second.body;
  auto b2 = json::parse(second.body).as_object();
  EXPECT_EQ(b2.at("conversations").as_array().size(), 1u);
  EXPECT_TRUE(b2.at("next_cursor").is_null());
  for (std::string bad : {"limit=0", "limit=101", "limit=x", "cursor=%21%21"}) {
    EXPECT_EQ(call("GET", "/conversations?" + bad).status, 400) << bad;
  }
  EXPECT_EQ(call("DELETE", "/conversations").status, 405);
}

TEST_F(PageApiTest, ConversationsNeedAKeyAndShowOnlyTheCallersOwn) {
  build({"alice-secret-key", "bob-secret-key"});
  EXPECT_EQ(call("GET", "/conversations").status, 401);
  net::Headers alice{{"Authorization", "Bearer alice-secret-key"}}, bob{{"x-api-key", "bob-secret-key"}};
  chat("conv-a", "alice's", alice);
  chat("conv-b", "bob's", bob);
  auto r = call("GET", "/conversations", alice);
  ASSERT_EQ(r.status, 200);
  auto doc = json::parse(r.body);
  auto& list = doc.at("conversations").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("id").as_string(), "conv-a");
}

TEST_F(PageApiTest, ThePageIsServedWithAStrictPolicyAndAnETag) {
  build({"a-key"});  // the page itself needs no key: it asks for one
  auto r = call("GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("/assets/app.js"), std::string::npos);
  auto csp = r.headers.get("content-security-policy");
  ASSERT_TRUE(csp);
  EXPECT_NE(csp->find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp->find("script-src 'self';"), std::string::npos);
  EXPECT_EQ(csp->find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(csp->find("http"), std::string::npos);  // no other origin
  EXPECT_EQ(r.headers.get("cache-control"), "no-cache");
  EXPECT_EQ(r.headers.get("x-content-type-options"), "nosniff");
  // No inline script or style in the page.
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_EQ(r.body.find("<style"), std::string::npos);
  EXPECT_EQ(r.body.find("style="), std::string::npos);
  auto etag = r.headers.get("etag");
  ASSERT_TRUE(etag);
  auto again = call("GET", "/", {{"If-None-Match", std::string(*etag)}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.headers.get("etag"), *etag);
  EXPECT_EQ(call("GET", "/", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST_F(PageApiTest, EveryEmbeddedAssetIsServedWithItsType) {
  ASSERT_GE(http::web_assets().size(), 3u);
  for (const auto& a : http::web_assets()) {
    if (a.name == "index.html") continue;
    auto r = call("GET", "/assets/" + std::string(a.name));
    ASSERT_EQ(r.status, 200) << a.name;
    EXPECT_EQ(r.body, a.body);
    EXPECT_EQ(r.headers.get("content-type"), a.content_type);
    ASSERT_TRUE(r.headers.get("etag"));
    EXPECT_EQ(call("GET", "/assets/" + std::string(a.name), {{"If-None-Match", "W/" + std::string(*r.headers.get("etag"))}}).status, 304);
  }
  EXPECT_EQ(call("GET", "/assets/app.js").headers.get("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(call("GET", "/assets/nope.js").status, 404);
  EXPECT_EQ(call("GET", "/assets/").status, 404);
  EXPECT_EQ(call("POST", "/").status, 405);
}

}  // namespace
}  // namespace ba::test
