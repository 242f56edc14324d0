#pragma once
// The API handler with a scripted model, an idempotency store and API keys, for the compatible routes'
// tests (openai_api_test.cpp, anthropic_api_test.cpp).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "http/api.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/memory_idempotency.hpp"
#include "support/run_sync.hpp"

namespace ba::test {

class CollectingBody final : public net::BodyWriter {
 public:
  explicit CollectingBody(int accept = 1'000'000) : accept_(accept) {}
  boost::asio::awaitable<bool> write(std::string_view chunk) override {
    if (accept_-- <= 0) co_return false;
    body += chunk;
    writes.emplace_back(chunk);
    co_return true;
  }
  std::string body;
  std::vector<std::string> writes;  // each write, in order (a stream writes once per piece of the reply)

 private:
  int accept_;
};

class CompatApiTest : public ::testing::Test {
 protected:
  static constexpr const char* kModel = "anthropic.claude-3-sonnet-20240229-v1:0";
  static constexpr const char* kHaiku = "anthropic.claude-3-haiku-20240307-v1:0";
  static constexpr const char* kKey = "sk-1";

  void SetUp() override {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    keys = http::ApiKeys({kKey});
    wire({{"haiku", kHaiku}, {"titan", "amazon.titan-text-express-v1"}});
  }

  // (Re)builds the chat service, the API context and the handler with these model aliases.
  void wire(std::map<std::string, std::string, std::less<>> aliases) {
    agent::ChatConfig cfg;
    cfg.model_id = kModel;
    cfg.model_aliases = std::move(aliases);
    service = std::make_unique<agent::ChatService>(model, *history, cfg, nullptr, &idem, clock);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = keys,
        .config = {.body_limit = 64 * 1024, .model_id = kModel},
        .log = [this](std::string_view line) { logs.emplace_back(line); },
        .clock = &clock,
    });
    handler = http::make_api_handler(*context);
  }

  net::ServerResponse post(const std::string& path, std::string body, net::Headers headers = {}, bool auth = true) {
    net::ServerRequest req;
    req.method = "POST";
    req.target = req.path = path;
    req.headers = std::move(headers);
    if (auth && !req.headers.has("x-api-key") && !req.headers.has("authorization")) {
      req.headers.set("Authorization", std::string("Bearer ") + kKey);
    }
    req.body = std::move(body);
    return run_sync(handler(req));
  }
  static std::string drain(net::ServerResponse& r, int accept = 1'000'000) {
    if (!r.stream) return r.body;
    CollectingBody w(accept);
    run_sync([&]() -> boost::asio::awaitable<bool> {
      co_await r.stream(w);
      co_return true;
    }());
    return w.body;
  }
  // A stream's writes, one by one.
  static std::vector<std::string> drain_writes(net::ServerResponse& r) {
    CollectingBody w;
    run_sync([&]() -> boost::asio::awaitable<bool> {
      co_await r.stream(w);
      co_return true;
    }());
    return w.writes;
  }
  static boost::json::value parse(const std::string& s) { return boost::json::parse(s); }
  boost::json::object last_log() { return parse(logs.back()).as_object(); }

  ManualClock clock;
  MemoryIdempotency idem{clock};
  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys keys;
  std::unique_ptr<http::ApiContext> context;
  net::Handler handler;
  std::vector<std::string> logs;
};

}  // namespace ba::test
