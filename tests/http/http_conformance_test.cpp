// The router's side of RFC 9110 (methods): HEAD wherever GET is, 405 with Allow for a method a route
// does not take, 501 for a method no route implements, the absolute form; the real router behind a
// real server, probed with raw bytes (docs/http-conformance.md).
#include <gtest/gtest.h>

#include "agent/chat_service.hpp"
#include "http/api.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/raw_http.hpp"
#include "support/server_harness.hpp"

namespace ba::test {
namespace {

using net::testing::parse_responses;
using net::testing::roundtrip;

class RouterConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    agent::ChatConfig cfg;
    cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = keys,
        .config = {.body_limit = 4096,
                   .version = "0.1.0",
                   .model_id = cfg.model_id,
                   .region = "us-east-1",
                   .credentials_source = "environment"},
        .log = [](std::string_view) {},
    });
    net::ServerOptions opts;
    opts.error_response = http::server_error_response;
    server = std::make_unique<net::testing::ServerThread>(opts, http::make_api_handler(*context));
  }
  std::vector<net::testing::RawResponse> exchange(std::string_view raw, std::vector<bool> head = {}) {
    return parse_responses(roundtrip(server->port(), raw), std::move(head));
  }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys keys;
  std::unique_ptr<http::ApiContext> context;
  std::unique_ptr<net::testing::ServerThread> server;
};

// RFC 9110 section 9.1: a general-purpose server MUST support GET and HEAD; HEAD answers as GET would,
// without the content (section 9.3.2).
TEST_F(RouterConformance, HeadIsAnsweredWhereverGetIs) {
  auto rs = exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                     "HEAD /conversations/nope HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                     {false, true, true, false});
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[1].status, 200);
  EXPECT_EQ(rs[1].get("content-type"), rs[0].get("content-type"));
  EXPECT_EQ(rs[1].get("content-length"), std::to_string(rs[0].body.size()));
  EXPECT_TRUE(rs[1].get("x-request-id"));
  EXPECT_EQ(rs[2].status, 404);  // what GET would answer, without its body
  EXPECT_EQ(rs[3].status, 200);
  EXPECT_EQ(rs[3].body.substr(0, 1), "{");  // nothing of the HEAD answers leaked into it
  // A route without GET has no HEAD either.
  auto post_only = exchange("HEAD /chat HTTP/1.1\r\nHost: x\r\n\r\n", {true});
  ASSERT_EQ(post_only.size(), 1u);
  EXPECT_EQ(post_only[0].status, 405);
  EXPECT_EQ(post_only[0].get("allow"), "POST");
}

// RFC 9110 section 15.5.6: a 405 MUST carry Allow (HEAD listed next to GET); section 9.1: a method
// implemented by no route (unknown, PATCH, TRACE, CONNECT, a lower-case "get": methods are case-sensitive)
// SHOULD get 501, on any path.
TEST_F(RouterConformance, NotAllowedIs405WithAllowAndUnknownMethodsAre501) {
  auto rs = exchange("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                     "PUT /conversations/abc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                     "GET /chat HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].status, 405);
  EXPECT_EQ(rs[0].get("allow"), "GET, HEAD");
  EXPECT_EQ(rs[1].status, 405);
  EXPECT_EQ(rs[1].get("allow"), "GET, HEAD, DELETE");
  EXPECT_EQ(rs[2].get("allow"), "POST");
  for (std::string_view raw : {"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n", "PATCH /chat HTTP/1.1\r\nHost: x\r\n\r\n",
                               "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", "get /health HTTP/1.1\r\nHost: x\r\n\r\n",
                               "FOO /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
                               "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"}) {
    auto r = exchange(raw);
    ASSERT_EQ(r.size(), 1u) << raw;
    EXPECT_EQ(r[0].status, 501) << raw;
    EXPECT_NE(r[0].body.find("not_implemented"), std::string::npos) << r[0].body;
  }
}

// RFC 9112 section 3.2.2: the absolute form reaches the same route as the origin form.
TEST_F(RouterConformance, AbsoluteFormReachesTheRoute) {
  auto rs = exchange("GET http://agent.example/health HTTP/1.1\r\nHost: agent.example\r\n\r\n"
                     "GET http://agent.example/chat HTTP/1.1\r\nHost: agent.example\r\n\r\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[1].status, 405);
}

}  // namespace
}  // namespace ba::test
