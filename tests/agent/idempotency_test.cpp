// Idempotency-Key in the chat use case: the key rule, the request fingerprint, and ChatService's claim
// with its completion and release across the phases (the front door's side: tests/http/chat_api_test.cpp).
#include "agent/idempotency.hpp"

#include <gtest/gtest.h>

#include "agent/chat_service.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/memory_idempotency.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

using namespace std::chrono_literals;
using Kind = agent::IdempotencyOutcome::Kind;

TEST(IdempotencyKey, Validation) {
  EXPECT_TRUE(agent::valid_idempotency_key("a"));
  EXPECT_TRUE(agent::valid_idempotency_key("9f1c2b7e-4a3d-4c1e-8b6a-2f0e1d3c4b5a"));
  EXPECT_TRUE(agent::valid_idempotency_key(std::string(255, 'k')));
  EXPECT_TRUE(agent::valid_idempotency_key("!~{}[]\"'"));
  EXPECT_FALSE(agent::valid_idempotency_key(""));
  EXPECT_FALSE(agent::valid_idempotency_key(std::string(256, 'k')));
  EXPECT_FALSE(agent::valid_idempotency_key("has space"));
  EXPECT_FALSE(agent::valid_idempotency_key("tab\there"));
  EXPECT_FALSE(agent::valid_idempotency_key("nl\n"));
  EXPECT_FALSE(agent::valid_idempotency_key("del\x7f"));
  EXPECT_FALSE(agent::valid_idempotency_key("caf\xc3\xa9"));
}

TEST(IdempotencyKey, RequestFingerprintIgnoresKeyOrderAndWhitespaceButNotValuesOrRoute) {
  auto h = [](std::string_view body, std::string_view route = "/chat") {
    return agent::request_fingerprint("POST", route, body);
  };
  EXPECT_EQ(h(R"({"input":"hi","stream":false})"), h(R"({ "stream" : false,
      "input" : "hi" })"));
  EXPECT_EQ(h(R"({"a":{"y":1,"x":[1,{"q":2,"p":3}]}})"), h(R"({"a":{"x":[1,{"p":3,"q":2}],"y":1}})"));
  EXPECT_NE(h(R"({"input":"hi"})"), h(R"({"input":"hi!"})"));
  EXPECT_NE(h(R"({"a":[1,2]})"), h(R"({"a":[2,1]})"));
  EXPECT_NE(h(R"({"input":"hi"})"), h(R"({"input":"hi"})", "/other"));
  EXPECT_EQ(h("not json").size(), 64u);
  EXPECT_NE(h("not json"), h("not json "));
}

// The records stored before idempotency moved into the use case hold this hash: it must not change.
TEST(IdempotencyKey, TheFingerprintIsTheHashStoredRecordsHold) {
  EXPECT_EQ(agent::request_fingerprint("POST", "/chat", R"({ "stream": true, "input": "hi" })"),
            sha256_hex("POST /chat\n{\"input\":\"hi\",\"stream\":true}"));
  EXPECT_NE(agent::request_fingerprint("POST", "/chat", R"({"input":"hi"})"),
            agent::request_fingerprint("POST", "/v1/messages", R"({"input":"hi"})"));
}

TEST(IdempotencyDecide, AnotherRequestIsAConflictEvenWhileTheFirstRuns) {
  store::IdempotencyRecord r;
  r.request_hash = "aaa";
  r.state = store::IdempotencyRecord::State::in_flight;
  EXPECT_EQ(agent::decide(r, "bbb").kind, Kind::conflict);
  EXPECT_EQ(agent::decide(r, "aaa").kind, Kind::in_progress);
  r.state = store::IdempotencyRecord::State::completed;
  r.status = 200;
  r.response_body = R"({"response":"stored"})";
  EXPECT_EQ(agent::decide(r, "bbb").kind, Kind::conflict);
  auto replay = agent::decide(r, "aaa");
  EXPECT_EQ(replay.kind, Kind::replay);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.body, R"({"response":"stored"})");
}

// ChatService's phases with a key: claim, then prepare/admit/finish complete or release it.
class IdempotentChatTest : public ::testing::Test {
 protected:
  IdempotentChatTest() {
    auto s = store::make_sqlite_history(":memory:");
    EXPECT_TRUE(s);
    history = std::move(*s);
    build({});
  }
  void build(agent::ChatConfig cfg, store::IdempotencyStore* store = nullptr) {
    service = std::make_unique<agent::ChatService>(model, *history, std::move(cfg), nullptr, store ? store : &idem,
                                                   clock);
  }

  agent::ChatInput input(std::string text, std::string owner = "alice") {
    agent::ChatInput in;
    in.owner = std::move(owner);
    in.input = std::move(text);
    in.conversation_id = "conv";
    in.request_id = "rid";
    in.deadline = clock.now() + 5s;
    return in;
  }
  // What a front door gives the use case: the key, its fingerprint, and its own answer body.
  static agent::IdempotentRequest keyed(std::string key, std::string route = "/chat", std::string body = "{}") {
    return agent::IdempotentRequest{
        .key = std::move(key),
        .fingerprint = agent::request_fingerprint("POST", route, body),
        .answer = [](const agent::ChatOutput& out) { return "answer:" + out.response; },
    };
  }

  // One request through the phases as a front door runs them: the claim's outcome, and the turn when
  // it was claimed.
  struct Run {
    agent::IdempotencyOutcome outcome;
    std::optional<Result<agent::ChatOutput>> out;
  };
  Run run(agent::ChatInput in, agent::IdempotentRequest key) {
    return run_sync([&]() -> boost::asio::awaitable<Run> {
      Run r;
      auto checked = service->check(std::move(in));
      EXPECT_TRUE(checked) << checked.error().message;
      auto claimed = co_await service->claim(*checked, std::move(key));
      EXPECT_TRUE(claimed) << claimed.error().message;
      r.outcome = *claimed;
      if (r.outcome.kind != Kind::claimed) co_return r;
      auto pending = co_await service->prepare(std::move(*checked));
      if (!pending) {
        r.out = fail(pending.error());
        co_return r;
      }
      r.out = co_await service->finish(*pending);
      co_return r;
    }());
  }

  std::size_t turns(const std::string& owner = "alice") {
    auto t = run_sync(history->load(owner, "conv", 100));
    return t ? t->size() : 0;
  }

  ManualClock clock;
  MemoryIdempotency idem{clock};
  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
};

TEST_F(IdempotentChatTest, ARepeatIsReplayedFromTheFrontDoorsAnswerWithoutASecondCallTurnOrCharge) {
  model.reply("the one answer");
  model.reply("never produced");
  auto first = run(input("hello"), keyed("k1"));
  EXPECT_EQ(first.outcome.kind, Kind::claimed);
  ASSERT_TRUE(first.out && *first.out) << first.out->error().message;
  EXPECT_EQ(idem.completes, 1);
  EXPECT_EQ(idem.releases, 0);

  auto repeat = run(input("hello"), keyed("k1"));
  EXPECT_EQ(repeat.outcome.kind, Kind::replay);
  EXPECT_EQ(repeat.outcome.status, 200);
  EXPECT_EQ(repeat.outcome.body, "answer:the one answer");
  EXPECT_FALSE(repeat.out) << "a replay runs nothing";
  EXPECT_EQ(model.admits, 1) << "the repeat was not charged to the rate limiter";
  EXPECT_EQ(model.buffered_calls, 1);
  EXPECT_EQ(turns(), 1u);
}

TEST_F(IdempotentChatTest, TheSameKeyOnAnotherRouteOrWithAnotherBodyIsAConflict) {
  model.reply("one");
  ASSERT_EQ(run(input("hello"), keyed("k1", "/chat", R"({"input":"hello"})")).outcome.kind, Kind::claimed);
  EXPECT_EQ(run(input("hello"), keyed("k1", "/v1/chat/completions", R"({"input":"hello"})")).outcome.kind,
            Kind::conflict);
  EXPECT_EQ(run(input("hello"), keyed("k1", "/chat", R"({"input":"other"})")).outcome.kind, Kind::conflict);
  EXPECT_EQ(model.admits, 1);
  EXPECT_EQ(idem.releases, 0) << "a conflict leaves the first answer alone";
}

TEST_F(IdempotentChatTest, ARepeatWhileTheFirstRunsIsInProgressAndChargedNothing) {
  model.reply("first");
  auto outcome = run_sync([&]() -> boost::asio::awaitable<Kind> {
    auto first = service->check(input("hello"));
    auto claimed = co_await service->claim(*first, keyed("k1"));
    EXPECT_EQ(claimed->kind, Kind::claimed);
    auto pending = co_await service->prepare(std::move(*first));
    EXPECT_TRUE(pending);
    // The first holds the key (prepared, not finished) when the repeat comes.
    auto second = service->check(input("hello"));
    auto repeat = co_await service->claim(*second, keyed("k1"));
    auto done = co_await service->finish(*pending);
    EXPECT_TRUE(done);
    co_return repeat->kind;
  }());
  EXPECT_EQ(outcome, Kind::in_progress);
  EXPECT_EQ(model.admits, 1);
  EXPECT_EQ(turns(), 1u);
  EXPECT_EQ(run(input("hello"), keyed("k1")).outcome.kind, Kind::replay);
}

TEST_F(IdempotentChatTest, AFailedModelCallStoresNothingAndReleasesTheKeySoARetryRuns) {
  model.error(Error::make(ErrorKind::upstream, "model failed"));
  model.reply("second time");
  auto failed = run(input("hello"), keyed("k1"));
  EXPECT_EQ(failed.outcome.kind, Kind::claimed);
  ASSERT_TRUE(failed.out && !*failed.out);
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.completes, 0);
  EXPECT_EQ(idem.size(), 0u);
  EXPECT_EQ(turns(), 0u);
  auto retry = run(input("hello"), keyed("k1"));
  EXPECT_EQ(retry.outcome.kind, Kind::claimed);
  ASSERT_TRUE(retry.out && *retry.out);
  EXPECT_EQ((*retry.out)->response, "second time");
  EXPECT_EQ(run(input("hello"), keyed("k1")).outcome.body, "answer:second time");
}

TEST_F(IdempotentChatTest, APrepareFailureReleasesTheKey) {
  model.reply("alice's");
  ASSERT_TRUE(run_sync(service->chat(input("mine"))));
  // Bob's request names Alice's conversation: not_found in prepare(), before the model.
  auto refused = run(input("theirs", "bob"), keyed("k1"));
  EXPECT_EQ(refused.outcome.kind, Kind::claimed);
  ASSERT_TRUE(refused.out && !*refused.out);
  EXPECT_EQ((*refused.out).error().kind, ErrorKind::not_found);
  EXPECT_EQ(idem.claims, 1);
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
}

TEST_F(IdempotentChatTest, AnAdmissionFailureReleasesTheKey) {
  Error shed = Error::make(ErrorKind::rate_limited, "shed");
  shed.retry_after = 1s;
  model.admit_errors.push_back(shed);
  auto status = run_sync([&]() -> boost::asio::awaitable<Status> {
    auto checked = service->check(input("hello"));
    auto claimed = co_await service->claim(*checked, keyed("k1"));
    EXPECT_EQ(claimed->kind, Kind::claimed);
    auto pending = co_await service->prepare(std::move(*checked));
    co_return co_await service->admit(*pending);
  }());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
}

TEST_F(IdempotentChatTest, AStreamThatTheCallerLeavesReleasesTheKey) {
  model.reply("Hello world", {"Hel", "lo"});
  auto out = run_sync([&]() -> boost::asio::awaitable<Result<agent::ChatOutput>> {
    auto in = input("hi");
    in.stream = true;
    auto checked = service->check(std::move(in));
    (void)co_await service->claim(*checked, keyed("k1"));
    auto pending = co_await service->prepare(std::move(*checked));
    co_return co_await service->finish(*pending, [](const bedrock::StreamDelta&) -> boost::asio::awaitable<bool> {
      co_return false;
    });
  }());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::cancelled);
  EXPECT_EQ(idem.releases, 1);
  EXPECT_EQ(idem.size(), 0u);
}

TEST_F(IdempotentChatTest, TheClaimLastsTheDeadlinePlusTheMargin) {
  model.reply("a");
  run(input("hello"), keyed("k1"));
  EXPECT_EQ(idem.last_ttl, 5s + 10s);
  // Without a deadline: the rate limiter's default deadline.
  model.reply("b");
  auto in = input("hello");
  in.deadline.reset();
  run(in, keyed("k2"));
  EXPECT_EQ(idem.last_ttl, 25s + 10s);
  agent::ChatConfig cfg;
  cfg.idempotency.in_flight_margin = 2s;
  build(cfg);
  model.reply("c");
  run(input("hello"), keyed("k3"));
  EXPECT_EQ(idem.last_ttl, 5s + 2s);
}

TEST_F(IdempotentChatTest, AnswersAreKeptForTheConfiguredRetention) {
  agent::ChatConfig cfg;
  cfg.idempotency.retention = 1h;
  build(cfg);
  model.reply("first");
  model.reply("after the retention");
  ASSERT_EQ(run(input("hello"), keyed("k1")).outcome.kind, Kind::claimed);
  clock.advance(59min);
  EXPECT_EQ(run(input("hello"), keyed("k1")).outcome.kind, Kind::replay);
  clock.advance(2min);
  EXPECT_EQ(run(input("hello"), keyed("k1")).outcome.kind, Kind::claimed);
  EXPECT_EQ(model.buffered_calls, 2);
}

TEST_F(IdempotentChatTest, KeysBelongToTheirOwner) {
  model.reply("for alice");
  model.reply("for bob");
  auto in_bob = input("hello", "bob");
  in_bob.conversation_id = "bobs";
  EXPECT_EQ(run(input("hello"), keyed("shared")).outcome.kind, Kind::claimed);
  EXPECT_EQ(run(in_bob, keyed("shared")).outcome.kind, Kind::claimed);
  EXPECT_EQ(model.buffered_calls, 2);
}

TEST_F(IdempotentChatTest, WithoutAStoreTheKeyIsIgnored) {
  agent::ChatService plain(model, *history);
  EXPECT_FALSE(plain.keeps_idempotency_keys());
  EXPECT_TRUE(service->keeps_idempotency_keys());
  auto checked = plain.check(input("hello"));
  ASSERT_TRUE(checked);
  auto outcome = run_sync(plain.claim(*checked, keyed("k1")));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->kind, Kind::claimed);
  model.reply("answer");
  auto pending = run_sync(plain.prepare(std::move(*checked)));
  ASSERT_TRUE(pending);
  EXPECT_TRUE(run_sync(plain.finish(*pending)));
  EXPECT_EQ(idem.claims + idem.completes + idem.releases, 0);
}

TEST_F(IdempotentChatTest, AMalformedClaimIsRefused) {
  auto checked = service->check(input("hello"));
  ASSERT_TRUE(checked);
  auto bad_key = run_sync(service->claim(*checked, keyed("has space")));
  ASSERT_FALSE(bad_key);
  EXPECT_EQ(bad_key.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(bad_key.error().message.find(agent::kIdempotencyKeyRule), std::string::npos);
  auto no_answer = keyed("k1");
  no_answer.answer = nullptr;
  auto refused = run_sync(service->claim(*checked, std::move(no_answer)));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::internal);
  ASSERT_TRUE(run_sync(service->claim(*checked, keyed("k1"))));
  auto twice = run_sync(service->claim(*checked, keyed("k2")));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().kind, ErrorKind::internal);
  EXPECT_EQ(idem.claims, 1);
}

// A store that cannot be reached: the claim's error is the answer, and nothing runs.
class UnreachableIdempotency final : public store::IdempotencyStore {
 public:
  boost::asio::awaitable<Result<std::optional<store::IdempotencyRecord>>> claim(std::string, std::string, std::string,
                                                                                std::chrono::milliseconds) override {
    co_return fail(ErrorKind::unavailable, "the idempotency table is unreachable");
  }
  boost::asio::awaitable<Status> complete(std::string, std::string, int, std::string,
                                          std::chrono::milliseconds) override {
    co_return Status{};
  }
  boost::asio::awaitable<Status> release(std::string, std::string) override { co_return Status{}; }
};

TEST_F(IdempotentChatTest, AStoreErrorIsTheClaimsError) {
  UnreachableIdempotency down;
  build({}, &down);
  auto checked = service->check(input("hello"));
  ASSERT_TRUE(checked);
  auto outcome = run_sync(service->claim(*checked, keyed("k1")));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(model.admits, 0);
}

}  // namespace
}  // namespace ba::test
