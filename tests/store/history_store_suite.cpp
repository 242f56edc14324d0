#include "store/history_store_suite.hpp"

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

store::Turn make_turn(std::string conversation, std::string user, std::string reply) {
  store::Turn t;
  t.conversation_id = std::move(conversation);
  t.user_input = std::move(user);
  t.assistant_reply = std::move(reply);
  t.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  t.input_tokens = 11;
  t.output_tokens = 22;
  t.stop_reason = "end_turn";
  t.request_id = "req-1";
  return t;
}

std::vector<std::string> inputs(const std::vector<store::Turn>& turns) {
  std::vector<std::string> out;
  for (const auto& t : turns) out.push_back(t.user_input);
  return out;
}

}  // namespace

void HistoryStoreSuite::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / ("ba-history-" + uuid_v4());
  std::filesystem::create_directories(dir_);
}

void HistoryStoreSuite::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TEST_P(HistoryStoreSuite, AppendAssignsSequenceAndLoadReturnsOldestFirst) {
  auto s = open();
  for (int i = 1; i <= 3; ++i) {
    auto t = run_sync(s->append("alice", make_turn("c1", "q" + std::to_string(i), "a" + std::to_string(i))));
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->seq, i);
    EXPECT_GT(t->created_at_ms, 0);
  }
  auto turns = run_sync(s->load("alice", "c1", 10));
  ASSERT_TRUE(turns) << turns.error().message;
  EXPECT_EQ(inputs(*turns), (std::vector<std::string>{"q1", "q2", "q3"}));
  const auto& last = turns->back();
  EXPECT_EQ(last.seq, 3);
  EXPECT_EQ(last.assistant_reply, "a3");
  EXPECT_EQ(last.conversation_id, "c1");
  EXPECT_EQ(last.model_id, "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(last.input_tokens, 11);
  EXPECT_EQ(last.output_tokens, 22);
  EXPECT_EQ(last.stop_reason, "end_turn");
  EXPECT_EQ(last.request_id, "req-1");
}

TEST_P(HistoryStoreSuite, LoadLimitKeepsTheNewestTurns) {
  auto s = open();
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "q" + std::to_string(i), "a"))));
  auto turns = run_sync(s->load("alice", "c1", 2));
  ASSERT_TRUE(turns);
  EXPECT_EQ(inputs(*turns), (std::vector<std::string>{"q4", "q5"}));
  auto none = run_sync(s->load("alice", "c1", 0));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(HistoryStoreSuite, UnknownConversationIsNotFound) {
  auto s = open();
  auto turns = run_sync(s->load("alice", "nope", 10));
  ASSERT_FALSE(turns);
  EXPECT_EQ(turns.error().kind, ErrorKind::not_found);
}

TEST_P(HistoryStoreSuite, OwnersAreIsolated) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "secret", "reply"))));
  auto other = run_sync(s->load("bob", "c1", 10));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, ErrorKind::not_found);
  auto hijack = run_sync(s->append("bob", make_turn("c1", "mine now", "x")));
  ASSERT_FALSE(hijack);
  EXPECT_EQ(hijack.error().kind, ErrorKind::not_found);
  auto del = run_sync(s->remove("bob", "c1"));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().kind, ErrorKind::not_found);
  auto mine = run_sync(s->load("alice", "c1", 10));
  ASSERT_TRUE(mine);
  EXPECT_EQ(inputs(*mine), (std::vector<std::string>{"secret"}));
}

TEST_P(HistoryStoreSuite, ConversationsAreSeparate) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "one", "x"))));
  auto t = run_sync(s->append("alice", make_turn("c2", "two", "x")));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->seq, 1);
  auto turns = run_sync(s->load("alice", "c2", 10));
  ASSERT_TRUE(turns);
  EXPECT_EQ(inputs(*turns), (std::vector<std::string>{"two"}));
}

TEST_P(HistoryStoreSuite, RemoveDeletesTheConversation) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "q1", "a1"))));
  ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "q2", "a2"))));
  ASSERT_TRUE(run_sync(s->remove("alice", "c1")));
  auto gone = run_sync(s->load("alice", "c1", 10));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
  auto again = run_sync(s->remove("alice", "c1"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::not_found);
  // The id can be reused afterwards (by anyone), starting again at seq 1.
  auto fresh = run_sync(s->append("bob", make_turn("c1", "new", "x")));
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->seq, 1);
}

TEST_P(HistoryStoreSuite, ConcurrentAppendsLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  // Two handles on the same data, used from several threads at once.
  auto a = open();
  auto b = open();
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      store::HistoryStore& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < kPerThread; ++i) {
        auto r = run_sync(s.append("alice", make_turn("c1", "t" + std::to_string(t) + "-" + std::to_string(i), "a")));
        if (r) {
          seqs[t].push_back(r->seq);
        } else {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
  std::set<std::int64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto turns = run_sync(a->load("alice", "c1", 1000));
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < turns->size(); ++i) EXPECT_EQ((*turns)[i].seq, static_cast<std::int64_t>(i + 1));
}

TEST_P(HistoryStoreSuite, DataSurvivesReopen) {
  {
    auto s = open();
    ASSERT_TRUE(run_sync(s->append("alice", make_turn("c1", "remember me", "ok"))));
  }
  auto s = open();
  auto turns = run_sync(s->load("alice", "c1", 10));
  ASSERT_TRUE(turns) << turns.error().message;
  EXPECT_EQ(inputs(*turns), (std::vector<std::string>{"remember me"}));
  auto next = run_sync(s->append("alice", make_turn("c1", "again", "ok")));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 2);
}

TEST_P(HistoryStoreSuite, CheckIsOk) {
  auto s = open();
  EXPECT_TRUE(s->check());
}

TEST_P(HistoryStoreSuite, OwnerOfNamesWhoHoldsAConversation) {
  auto s = open();
  auto none = run_sync(s->owner_of("c-owned"));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  ASSERT_TRUE(run_sync(s->append("alice", make_turn("c-owned", "q", "a"))));
  auto alice = run_sync(s->owner_of("c-owned"));
  ASSERT_TRUE(alice && *alice);
  EXPECT_EQ(**alice, "alice");
  ASSERT_TRUE(run_sync(s->remove("alice", "c-owned")));
  auto gone = run_sync(s->owner_of("c-owned"));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

TEST_P(HistoryStoreSuite, TextIsStoredVerbatim) {
  auto s = open();
  std::string tricky = "quote ' \" semicolon; -- comment\nnewline \xE2\x9C\x93 and a NUL-free tail";
  ASSERT_TRUE(run_sync(s->append("o'wner", make_turn("c.1:x-y_z", tricky, tricky))));
  auto turns = run_sync(s->load("o'wner", "c.1:x-y_z", 10));
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 1u);
  EXPECT_EQ((*turns)[0].user_input, tricky);
  EXPECT_EQ((*turns)[0].assistant_reply, tricky);
}

}  // namespace ba::test
