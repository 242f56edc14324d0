// POST /chat's Idempotency-Key (chat_api.cpp): the header read and checked, the use case's claim
// (agent/idempotency.hpp, tested on its own in tests/agent/idempotency_test.cpp) answered on the wire.
#include "http/api.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "store/local_files.hpp"
#include "store/sqlite_history.hpp"
#include "store/sqlite_idempotency.hpp"
#include "support/fake_model.hpp"
#include "support/memory_idempotency.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class CollectingWriter final : public net::BodyWriter {
 public:
  boost::asio::awaitable<bool> write(std::string_view chunk) override {
    body += chunk;
    co_return true;
  }
  std::string body;
};

// A model whose buffered calls wait until release() (to hold a request in flight).
class BlockingModel final : public bedrock::ModelClient {
 public:
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest&, bedrock::CallOptions) override {
    ++calls;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, std::chrono::hours(1));
    gate = &timer;
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    gate = nullptr;
    bedrock::ChatResponse r;
    r.text = "slow answer";
    r.stop_reason = "end_turn";
    co_return r;
  }
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& req, bedrock::DeltaHandler,
                                                                    bedrock::CallOptions o) override {
    co_return co_await chat(req, o);
  }
  void release() {
    if (gate) gate->cancel();
  }
  int calls = 0;
  boost::asio::steady_timer* gate = nullptr;
};

class IdempotencyApiTest : public ::testing::Test {
 protected:
  void SetUp() override { build(model); }

  void build(bedrock::ModelClient& m, bool with_store = true, std::vector<std::string> keys = {},
             store::IdempotencyStore* store = nullptr) {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    if (dir.empty()) dir = std::filesystem::temp_directory_path() / ("ba-idem-" + uuid_v4());
    auto f = store::make_local_file_store(dir.string());
    ASSERT_TRUE(f);
    files = std::move(*f);
    service = std::make_unique<agent::ChatService>(m, *history, agent::ChatConfig{}, files.get(),
                                                   with_store ? (store ? store : &idem) : nullptr, clock);
    api_keys = http::ApiKeys(keys);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = api_keys,
        .config = {.model_id = "anthropic.claude-3-sonnet-20240229-v1:0", .credentials_source = "environment"},
        .log = [this](std::string_view line) { logs.emplace_back(line); },
        .clock = &clock,
        .files = files.get(),
    });
    handler = http::make_api_handler(*context);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  net::ServerRequest request(std::string body, std::string key, net::Headers headers = {}) {
    net::ServerRequest req;
    req.method = "POST";
    req.target = req.path = "/chat";
    req.headers = std::move(headers);
    if (!key.empty()) req.headers.set("Idempotency-Key", key);
    req.body = std::move(body);
    return req;
  }
  net::ServerResponse chat(std::string body, std::string key, net::Headers headers = {}) {
    auto req = request(std::move(body), std::move(key), std::move(headers));
    return run_sync(handler(req));
  }
  // A streamed response's whole body.
  std::string drain(net::ServerResponse& r) {
    if (!r.stream) return r.body;
    CollectingWriter w;
    run_sync([&]() -> boost::asio::awaitable<bool> {
      co_await r.stream(w);
      co_return true;
    }());
    return w.body;
  }
  std::size_t turns(const std::string& conversation, const std::string& owner = "anonymous") {
    auto t = run_sync(history->load(owner, conversation, 100));
    return t ? t->size() : 0;
  }
  static std::string error_type(const net::ServerResponse& r) {
    return std::string(json::parse(r.body).at("error").at("type").as_string());
  }

  ManualClock clock;
  MemoryIdempotency idem{clock};
  FakeModel model;
  std::filesystem::path dir;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<store::FileStore> files;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys api_keys;
  std::unique_ptr<http::ApiContext> context;
  net::Handler handler;
  std::vector<std::string> logs;
};

TEST_F(IdempotencyApiTest, ARepeatReplaysTheAnswerWithoutCallingTheModelOrWritingASecondTurn) {
  model.reply("the one answer");
  model.reply("a second answer that must never be produced");
  const std::string body = R"({"input": "hello", "conversation_id": "conv-1"})";
  auto first = chat(body, "key-1");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_FALSE(first.headers.has("Idempotent-Replayed"));
  auto second = chat(body, "key-1");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(second.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(model.buffered_calls, 1);
  EXPECT_EQ(turns("conv-1"), 1u);
  EXPECT_EQ(idem.completes, 1);
  EXPECT_TRUE(json::parse(logs.back()).at("idempotent_replay").as_bool());
  // The same body with other key order and spacing is the same request.
  auto third = chat(R"({ "conversation_id" : "conv-1", "input" : "hello" })", "key-1");
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.body, first.body);
  EXPECT_EQ(model.buffered_calls, 1);
}

TEST_F(IdempotencyApiTest, TheSameKeyWithADifferentBodyIs422) {
  model.reply("one");
  ASSERT_EQ(chat(R"({"input": "hello"})", "key-1").status, 200);
  auto other = chat(R"({"input": "something else"})", "key-1");
  EXPECT_EQ(other.status, 422) << other.body;
  EXPECT_EQ(error_type(other), "idempotency_key_reused");
  EXPECT_EQ(model.buffered_calls, 1);
}

TEST_F(IdempotencyApiTest, AFailureReleasesTheKeySoARetryRunsAgain) {
  Error e = Error::make(ErrorKind::throttled, "Too many requests");
  e.code = "ThrottlingException";
  e.http_status = 429;
  model.error(e);
  model.reply("worked the second time");
  const std::string body = R"({"input": "hello", "conversation_id": "c"})";
  auto first = chat(body, "key-1");
  EXPECT_EQ(first.status, 429) << first.body;
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
  EXPECT_EQ(turns("c"), 0u);
  auto retry = chat(body, "key-1");
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_FALSE(retry.headers.has("Idempotent-Replayed"));
  auto replay = chat(body, "key-1");
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(model.buffered_calls, 2);
  EXPECT_EQ(turns("c"), 1u);
}

TEST_F(IdempotencyApiTest, ARepeatWhileTheFirstIsInFlightIs409) {
  BlockingModel slow;
  build(slow);
  const std::string body = R"({"input": "hello", "conversation_id": "c"})";
  boost::asio::io_context io;
  std::optional<net::ServerResponse> first, second;
  auto req1 = request(body, "key-1");
  auto req2 = request(body, "key-1");
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { first = co_await handler(req1); },
                        boost::asio::detached);
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        while (slow.calls == 0 || !slow.gate) co_await boost::asio::post(io, boost::asio::use_awaitable);
        second = co_await handler(req2);
        slow.release();
      },
      boost::asio::detached);
  io.run();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->status, 409) << second->body;
  EXPECT_EQ(error_type(*second), "conflict");
  EXPECT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(slow.calls, 1);
  EXPECT_EQ(turns("c"), 1u);
  // Once finished, a repeat gets the stored answer.
  auto third = chat(body, "key-1");
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(slow.calls, 1);
}

TEST_F(IdempotencyApiTest, TheInFlightClaimLastsTheDeadlinePlusTheMargin) {
  model.reply("a");
  ASSERT_EQ(chat(R"({"input": "hello"})", "key-1").status, 200);
  EXPECT_EQ(idem.last_ttl, 25'000ms + 10'000ms);
  model.reply("b");
  ASSERT_EQ(chat(R"({"input": "hello"})", "key-2", {{"X-Request-Timeout-Ms", "3000"}}).status, 200);
  EXPECT_EQ(idem.last_ttl, 3'000ms + 10'000ms);
}

TEST_F(IdempotencyApiTest, AnswersAreKeptForTheRetentionWindowOnly) {
  model.reply("first");
  model.reply("after expiry");
  const std::string body = R"({"input": "hello"})";
  ASSERT_EQ(chat(body, "key-1").status, 200);
  clock.advance(23h);
  EXPECT_EQ(chat(body, "key-1").headers.get("Idempotent-Replayed"), "true");
  clock.advance(2h);
  auto later = chat(body, "key-1");
  EXPECT_EQ(later.status, 200);
  EXPECT_FALSE(later.headers.has("Idempotent-Replayed"));
  EXPECT_EQ(model.buffered_calls, 2);
}

TEST_F(IdempotencyApiTest, KeysBelongToTheCaller) {
  build(model, true, {"key-a", "key-b"});
  model.reply("for a");
  model.reply("for b");
  const std::string body = R"({"input": "hello"})";
  auto a = chat(body, "shared", {{"x-api-key", "key-a"}});
  auto b = chat(body, "shared", {{"x-api-key", "key-b"}});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_FALSE(b.headers.has("Idempotent-Replayed"));
  EXPECT_EQ(model.buffered_calls, 2);
  EXPECT_NE(a.body, b.body);
}

TEST_F(IdempotencyApiTest, InvalidKeysAre400AndInvalidRequestsClaimNothing) {
  for (std::string key : {std::string("has space"), std::string(256, 'k'), std::string("caf\xc3\xa9")}) {
    auto r = chat(R"({"input": "hello"})", key);
    EXPECT_EQ(r.status, 400) << key;
    EXPECT_NE(r.body.find("Idempotency-Key"), std::string::npos);
  }
  auto bad = chat(R"({"input": ""})", "key-1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(idem.claims, 0);
  EXPECT_EQ(model.buffered_calls, 0);
}

TEST_F(IdempotencyApiTest, AMissingAttachmentReleasesTheKey) {
  auto r = chat(R"({"input": "read this", "files": ["AAAAAAAAAAAAAAAAAAAAAA"]})", "key-1");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(idem.claims, 1);
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
}

TEST_F(IdempotencyApiTest, WithoutAStoreTheHeaderIsIgnored) {
  build(model, false);
  model.reply("one");
  model.reply("two");
  EXPECT_EQ(chat(R"({"input": "hello"})", "key-1").status, 200);
  auto r = chat(R"({"input": "hello"})", "key-1");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.headers.has("Idempotent-Replayed"));
  EXPECT_EQ(model.buffered_calls, 2);
}

TEST_F(IdempotencyApiTest, AStreamedRepeatIsReplayedAsAShortEventStream) {
  model.reply("Hello world", {"Hel", "lo ", "world"});
  const std::string body = R"({"input": "hi", "stream": true, "conversation_id": "s"})";
  auto first = chat(body, "key-1");
  ASSERT_EQ(first.status, 200);
  std::string events = drain(first);
  EXPECT_NE(events.find("event: done"), std::string::npos) << events;
  EXPECT_EQ(idem.completes, 1);

  auto again = chat(body, "key-1");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.headers.get("Content-Type"), "text/event-stream");
  std::string replayed = drain(again);
  auto delta = replayed.find("event: delta\ndata: {\"text\":\"Hello world\"}");
  auto done = replayed.find("event: done");
  EXPECT_NE(delta, std::string::npos) << replayed;
  ASSERT_NE(done, std::string::npos) << replayed;
  EXPECT_LT(delta, done);
  EXPECT_NE(replayed.find("\"conversation_id\":\"s\"", done), std::string::npos) << replayed;
  EXPECT_EQ(replayed.find("\"response\"", done), std::string::npos) << "done carries no text";
  EXPECT_EQ(model.stream_calls, 1);
  EXPECT_EQ(turns("s"), 1u);
  // A buffered request is a different request (the body differs), so it is 422 with this key.
  EXPECT_EQ(chat(R"({"input": "hi", "conversation_id": "s"})", "key-1").status, 422);
}

TEST_F(IdempotencyApiTest, AFailedStreamReleasesTheKey) {
  model.error(Error::make(ErrorKind::upstream, "model failed"), {"partial"});
  const std::string body = R"({"input": "hi", "stream": true})";
  auto first = chat(body, "key-1");
  std::string events = drain(first);
  EXPECT_NE(events.find("event: error"), std::string::npos) << events;
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
}

// The same flow on the SQLite idempotency store (the embedded default).
TEST_F(IdempotencyApiTest, WorksWithTheSqliteStore) {
  auto sqlite = store::make_sqlite_idempotency(":memory:", {.clock = &clock});
  ASSERT_TRUE(sqlite) << sqlite.error().message;
  build(model, true, {}, sqlite->get());
  model.error(Error::make(ErrorKind::timeout, "deadline"));
  model.reply("stored answer");
  model.reply("never");
  const std::string body = R"({"input": "hello", "conversation_id": "q"})";
  EXPECT_EQ(chat(body, "k").status, 504);
  auto ok = chat(body, "k");
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto again = chat(body, "k");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.body, ok.body);
  EXPECT_EQ(chat(R"({"input": "other"})", "k").status, 422);
  EXPECT_EQ(model.buffered_calls, 2);
  EXPECT_EQ(turns("q"), 1u);
  EXPECT_EQ(idem.claims, 0) << "the in-memory fake must not have been used";
}

}  // namespace
}  // namespace ba::test
