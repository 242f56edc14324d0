#include "store/idempotency_suite.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

using namespace std::chrono_literals;
using State = store::IdempotencyRecord::State;

std::int64_t ms_of(const ManualClock& c) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(c.wall().time_since_epoch()).count();
}

}  // namespace

void IdempotencyStoreSuite::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / ("ba-idem-" + uuid_v4());
  std::filesystem::create_directories(dir_);
}

void IdempotencyStoreSuite::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TEST_P(IdempotencyStoreSuite, FirstClaimWinsARepeatSeesItInFlight) {
  auto s = open();
  auto first = run_sync(s->claim("alice", "k1", "hash-1", 30s));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->has_value());
  auto again = run_sync(s->claim("alice", "k1", "hash-2", 30s));
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->state, State::in_flight);
  EXPECT_EQ((*again)->request_hash, "hash-1");  // the first claimer's hash, to detect a reused key
  EXPECT_EQ((*again)->expires_at_ms, ms_of(clock_) + 30'000);
}

TEST_P(IdempotencyStoreSuite, ACompletedAnswerIsReturnedToRepeats) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "h", 30s)));
  clock_.advance(2s);
  auto done = run_sync(s->complete("alice", "k1", 201, R"({"reply":"hi"})", 24h));
  ASSERT_TRUE(done) << done.error().message;
  for (int i = 0; i < 2; ++i) {
    auto r = run_sync(s->claim("alice", "k1", "h", 30s));
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->state, State::completed);
    EXPECT_EQ((*r)->status, 201);
    EXPECT_EQ((*r)->response_body, R"({"reply":"hi"})");
    EXPECT_EQ((*r)->request_hash, "h");
    EXPECT_EQ((*r)->expires_at_ms, ms_of(clock_) + 24 * 3600 * 1000);
  }
}

TEST_P(IdempotencyStoreSuite, ReleaseFreesTheKey) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "h1", 30s)));
  ASSERT_TRUE(run_sync(s->release("alice", "k1")));
  auto r = run_sync(s->claim("alice", "k1", "h2", 30s));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  auto seen = run_sync(s->claim("alice", "k1", "h3", 30s));
  ASSERT_TRUE(seen && seen->has_value());
  EXPECT_EQ((*seen)->request_hash, "h2");
}

TEST_P(IdempotencyStoreSuite, ReleaseNeverDropsACompletedAnswer) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "h", 30s)));
  ASSERT_TRUE(run_sync(s->complete("alice", "k1", 200, "answer", 1h)));
  ASSERT_TRUE(run_sync(s->release("alice", "k1")));
  auto r = run_sync(s->claim("alice", "k1", "h", 30s));
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->state, State::completed);
  EXPECT_EQ((*r)->response_body, "answer");
  // Releasing a key nobody holds is a no-op too.
  EXPECT_TRUE(run_sync(s->release("alice", "never-claimed")));
}

TEST_P(IdempotencyStoreSuite, CompleteNeedsAnInFlightClaim) {
  auto s = open();
  auto never = run_sync(s->complete("alice", "k1", 200, "x", 1h));
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().kind, ErrorKind::conflict);
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "h", 30s)));
  ASSERT_TRUE(run_sync(s->complete("alice", "k1", 200, "first", 1h)));
  auto twice = run_sync(s->complete("alice", "k1", 500, "second", 1h));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().kind, ErrorKind::conflict);
  auto r = run_sync(s->claim("alice", "k1", "h", 30s));
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->response_body, "first");
}

TEST_P(IdempotencyStoreSuite, AnExpiredClaimIsReplaced) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "crashed", 10s)));
  clock_.advance(9999ms);
  auto still = run_sync(s->claim("alice", "k1", "other", 10s));
  ASSERT_TRUE(still && still->has_value());
  EXPECT_EQ((*still)->request_hash, "crashed");
  clock_.advance(1ms);  // now == expires_at_ms: expired
  auto mine = run_sync(s->claim("alice", "k1", "retry", 10s));
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_FALSE(mine->has_value());
  auto seen = run_sync(s->claim("alice", "k1", "x", 10s));
  ASSERT_TRUE(seen && seen->has_value());
  EXPECT_EQ((*seen)->request_hash, "retry");
}

TEST_P(IdempotencyStoreSuite, AnExpiredAnswerIsForgotten) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "h", 10s)));
  ASSERT_TRUE(run_sync(s->complete("alice", "k1", 200, "old", 1h)));
  clock_.advance(1h);
  auto r = run_sync(s->claim("alice", "k1", "h-new", 10s));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST_P(IdempotencyStoreSuite, KeysArePerOwner) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->claim("alice", "k1", "ha", 30s)));
  auto bob = run_sync(s->claim("bob", "k1", "hb", 30s));
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->has_value());
  ASSERT_TRUE(run_sync(s->complete("bob", "k1", 200, "bob's", 1h)));
  auto alice = run_sync(s->claim("alice", "k1", "ha", 30s));
  ASSERT_TRUE(alice && alice->has_value());
  EXPECT_EQ((*alice)->state, State::in_flight);
  EXPECT_EQ((*alice)->request_hash, "ha");
  // bob's release does not touch alice's claim.
  ASSERT_TRUE(run_sync(s->release("bob", "k1")));
  ASSERT_TRUE(run_sync(s->release("bob", "k2")));
  auto still = run_sync(s->claim("alice", "k1", "ha", 30s));
  ASSERT_TRUE(still && still->has_value());
}

TEST_P(IdempotencyStoreSuite, ValuesAreStoredVerbatim) {
  auto s = open();
  const std::string owner = "o'wner \"x\" \xE2\x9C\x93";
  const std::string key = "key with spaces/slashes#hash and \xC3\xA9 ;--";
  std::string body = R"({"reply":"quote ' \" newline \n unicode \u2713"})";
  body += std::string(20'000, 'z');
  ASSERT_TRUE(run_sync(s->claim(owner, key, "h", 30s)));
  ASSERT_TRUE(run_sync(s->complete(owner, key, 200, body, 1h)));
  auto r = run_sync(s->claim(owner, key, "h", 30s));
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->response_body, body);
  // A very long key works and stays distinct from its prefix.
  const std::string long_key(1500, 'k');
  ASSERT_TRUE(run_sync(s->claim(owner, long_key, "long", 30s)));
  auto prefix = run_sync(s->claim(owner, long_key.substr(0, 1499), "short", 30s));
  ASSERT_TRUE(prefix);
  EXPECT_FALSE(prefix->has_value());
}

TEST_P(IdempotencyStoreSuite, HandlesShareTheData) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(run_sync(a->claim("alice", "k1", "h", 30s)));
  auto r = run_sync(b->claim("alice", "k1", "h", 30s));
  ASSERT_TRUE(r && r->has_value());
  ASSERT_TRUE(run_sync(b->complete("alice", "k1", 200, "via b", 1h)));
  auto c = run_sync(a->claim("alice", "k1", "h", 30s));
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->response_body, "via b");
}

TEST_P(IdempotencyStoreSuite, ConcurrentClaimsHaveOneWinner) {
  constexpr int kThreads = 8;
  auto a = open();
  auto b = open();
  std::atomic<int> winners{0}, losers{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      store::IdempotencyStore& s = (t % 2 == 0) ? *a : *b;
      for (int round = 0; round < 5; ++round) {
        auto r = run_sync(s.claim("alice", "race-" + std::to_string(round), "h" + std::to_string(t), 30s));
        if (!r) ++errors;
        else if (r->has_value()) ++losers;
        else ++winners;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(winners.load(), 5);  // one per key
  EXPECT_EQ(losers.load(), kThreads * 5 - 5);
}

}  // namespace ba::test
