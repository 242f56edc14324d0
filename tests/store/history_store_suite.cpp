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

namespace ba::test {
namespace {

std::vector<std::string> ids(const store::ConversationPage& page) {
  std::vector<std::string> out;
  for (const auto& c : page.conversations) out.push_back(c.id);
  return out;
}

// A turn written at a given time (the list's order), so that the order does not depend on the clock.
store::Turn turn_at(std::string conversation, std::string user, std::int64_t at_ms) {
  store::Turn t = make_turn(std::move(conversation), std::move(user), "reply");
  t.created_at_ms = at_ms;
  return t;
}

}  // namespace

TEST_P(HistoryStoreSuite, ListIsNewestFirstWithTitleTimeAndTurnCount) {
  auto s = open();
  const std::string owner = "lister-" + uuid_v4();  // the DynamoDB backends share a table between tests
  const std::string a = "la-" + uuid_v4(), b = "lb-" + uuid_v4();
  ASSERT_TRUE(run_sync(s->append(owner, turn_at(a, "  First   question\nabout  things ", 1'000'000))));
  ASSERT_TRUE(run_sync(s->append(owner, turn_at(b, std::string(200, 'x'), 2'000'000))));
  ASSERT_TRUE(run_sync(s->append(owner, turn_at(a, "second question", 3'000'000))));
  auto page = run_sync(s->list(owner, 10, ""));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(ids(*page), (std::vector<std::string>{b, a}));  // by creation: b was started last
  EXPECT_TRUE(page->next_cursor.empty());
  const auto& ca = page->conversations[1];
  EXPECT_EQ(ca.title, "First question about things");
  EXPECT_EQ(ca.turns, 2);
  EXPECT_EQ(ca.created_at_ms, 1'000'000);
  EXPECT_EQ(ca.updated_at_ms, 3'000'000);
  const auto& cb = page->conversations[0];
  EXPECT_EQ(cb.title, std::string(store::kTitleChars, 'x') + "\u2026");
  EXPECT_EQ(cb.turns, 1);
}

TEST_P(HistoryStoreSuite, ListPaginatesWithACursor) {
  auto s = open();
  const std::string owner = "pager-" + uuid_v4();
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) {
    std::string id = "p" + std::to_string(i) + "-" + uuid_v4();
    ASSERT_TRUE(run_sync(s->append(owner, turn_at(id, "q" + std::to_string(i), 1'000'000 + i * 1000))));
    want.insert(want.begin(), id);
  }
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = run_sync(s->list(owner, 2, cursor));
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_LE(page->conversations.size(), 2u);
    for (auto& id : ids(*page)) seen.push_back(id);
    cursor = page->next_cursor;
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(seen, want);
  EXPECT_EQ(pages, 3);
  // A page that holds exactly the rest is the last: no cursor to an empty page.
  auto whole = run_sync(s->list(owner, 5, ""));
  ASSERT_TRUE(whole);
  EXPECT_EQ(ids(*whole), want);
  EXPECT_TRUE(whole->next_cursor.empty());
  auto rest = run_sync(s->list(owner, 3, ""));
  ASSERT_TRUE(rest);
  auto tail = run_sync(s->list(owner, 2, rest->next_cursor));
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->conversations.size(), 2u);
  EXPECT_TRUE(tail->next_cursor.empty());
}

TEST_P(HistoryStoreSuite, ListShowsOnlyTheCallersConversations) {
  auto s = open();
  const std::string alice = "alice-" + uuid_v4(), bob = "bob-" + uuid_v4();
  const std::string mine = "m-" + uuid_v4(), theirs = "t-" + uuid_v4();
  ASSERT_TRUE(run_sync(s->append(alice, turn_at(mine, "mine", 1'000'000))));
  ASSERT_TRUE(run_sync(s->append(bob, turn_at(theirs, "theirs", 2'000'000))));
  ASSERT_TRUE(run_sync(s->append(bob, turn_at("t2-" + uuid_v4(), "theirs too", 3'000'000))));
  auto page = run_sync(s->list(alice, 10, ""));
  ASSERT_TRUE(page);
  EXPECT_EQ(ids(*page), (std::vector<std::string>{mine}));
  // Bob's cursor does not open Alice's list beyond what she sees herself.
  auto bobs = run_sync(s->list(bob, 1, ""));
  ASSERT_TRUE(bobs);
  ASSERT_FALSE(bobs->next_cursor.empty());
  auto crossed = run_sync(s->list(alice, 10, bobs->next_cursor));
  if (crossed) {
    for (const auto& c : crossed->conversations) EXPECT_EQ(c.id, mine);
  }
  auto none = run_sync(s->list("nobody-" + uuid_v4(), 10, ""));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->conversations.empty());
}

TEST_P(HistoryStoreSuite, ListForgetsARemovedConversation) {
  auto s = open();
  const std::string owner = "remover-" + uuid_v4();
  const std::string keep = "k-" + uuid_v4(), drop = "d-" + uuid_v4();
  ASSERT_TRUE(run_sync(s->append(owner, turn_at(keep, "keep", 1'000'000))));
  ASSERT_TRUE(run_sync(s->append(owner, turn_at(drop, "drop", 2'000'000))));
  ASSERT_TRUE(run_sync(s->remove(owner, drop)));
  auto page = run_sync(s->list(owner, 10, ""));
  ASSERT_TRUE(page);
  EXPECT_EQ(ids(*page), (std::vector<std::string>{keep}));
}

TEST_P(HistoryStoreSuite, ListRejectsACursorItDidNotHandOut) {
  auto s = open();
  for (std::string bad : {"!!!", "bm90IGEgY3Vyc29y", "a b"}) {
    auto page = run_sync(s->list("alice", 10, bad));
    ASSERT_FALSE(page) << bad;
    EXPECT_EQ(page.error().kind, ErrorKind::invalid_input) << bad;
  }
}

TEST(ConversationTitle, CollapsesWhitespaceAndCutsOnACodePoint) {
  EXPECT_EQ(store::conversation_title("  a \n\t b  "), "a b");
  EXPECT_EQ(store::conversation_title(""), "");
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "\u00e4";
  std::string want;
  for (std::size_t i = 0; i < store::kTitleChars; ++i) want += "\u00e4";
  EXPECT_EQ(store::conversation_title(umlauts), want + "\u2026");
}

}  // namespace ba::test
