#include "store/dynamodb_history.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <set>

#include "support/aws_oracles.hpp"
#include "store/dynamodb_test_support.hpp"
#include "store/history_store_suite.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
namespace dyn = aws::dynamodb;
using namespace std::chrono_literals;

std::unique_ptr<store::HistoryStore> open_dynamo(const std::filesystem::path& dir) {
  DynamoRig* rig = shared_rig();
  if (!rig) throw std::runtime_error(kNoDynalite);
  auto inner = store::make_dynamodb_history(rig->client(), {.table = table_for(*rig, dir)});
  return std::make_unique<ForwardingHistory>(*rig, std::move(inner));
}

std::vector<HistoryBackend> dynamo_backends() {
  if (!dynalite_available()) return {};  // DynamoHistory.DynaliteIsAvailable says why
  return {HistoryBackend{"dynamodb", open_dynamo}};
}

INSTANTIATE_TEST_SUITE_P(DynamoDb, HistoryStoreSuite, ::testing::ValuesIn(dynamo_backends()),
                         [](const auto& info) { return info.param.name; });

store::Turn make_turn(std::string conversation, std::string user, std::string reply = "a") {
  store::Turn t;
  t.conversation_id = std::move(conversation);
  t.user_input = std::move(user);
  t.assistant_reply = std::move(reply);
  t.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  t.input_tokens = 5;
  t.output_tokens = 7;
  t.stop_reason = "end_turn";
  t.request_id = "req-" + std::to_string(t.user_input.size());
  return t;
}

class DynamoHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
    rig_ = shared_rig();
    ASSERT_NE(rig_, nullptr);
    table_ = DynamoRig::unique_table("h");
    create_table(*rig_, table_);
  }

  std::unique_ptr<store::HistoryStore> make(store::DynamoHistoryOptions o = {}) {
    o.table = table_;
    return store::make_dynamodb_history(rig_->client(), std::move(o));
  }

  template <class T>
  T run(boost::asio::awaitable<T> t) {
    return rig_->run(std::move(t));
  }

  // Every raw item of a conversation, oldest first (what is really in the table).
  std::vector<dyn::Item> raw_items(const std::string& conversation) {
    std::vector<dyn::Item> out;
    dyn::QueryRequest q{.table = table_, .key_condition = "#pk = :pk", .names = dyn::Item{{"#pk", "pk"}},
                        .values = dyn::Item{{":pk", dyn::attr_s("conv#" + conversation)}}};
    for (;;) {
      auto page = run(rig_->client().query(q));
      EXPECT_TRUE(page) << page.error().message;
      if (!page) return out;
      for (auto& i : page->items) out.push_back(std::move(i));
      if (!page->last_evaluated_key) return out;
      q.exclusive_start_key = page->last_evaluated_key;
    }
  }

  DynamoRig* rig_ = nullptr;
  std::string table_;
};

TEST(DynamoHistoryEnvironment, DynaliteIsAvailable) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite << ": the DynamoDB history tests are skipped";
  ASSERT_NE(shared_dynalite(), nullptr);
}

TEST_F(DynamoHistory, FiftyConcurrentAppendsOnOneIoContextLoseNothing) {
  constexpr int kChats = 50;
  int list_failures = 0;  // the list item's conditional updates lose races here: not failures
  auto store = make({.conflict_backoff = 2ms, .on_list_item_failure = [&](const Error&) { ++list_failures; }});
  std::vector<std::optional<Result<store::Turn>>> results(kChats);
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < kChats; ++i) {
    boost::asio::co_spawn(
        rig_->io(),
        [&, i]() -> boost::asio::awaitable<void> {
          results[i] = co_await store->append("alice", make_turn("busy", "q" + std::to_string(i)));
          if (++done == kChats) all.set_value();
        },
        boost::asio::detached);
  }
  all.get_future().get();
  std::set<std::int64_t> seqs;
  for (int i = 0; i < kChats; ++i) {
    ASSERT_TRUE(results[i].has_value());
    ASSERT_TRUE(*results[i]) << (*results[i]).error().message;
    seqs.insert((*results[i])->seq);
  }
  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kChats));
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kChats);
  auto turns = run(store->load("alice", "busy", 1000));
  ASSERT_TRUE(turns) << turns.error().message;
  ASSERT_EQ(turns->size(), static_cast<std::size_t>(kChats));
  std::set<std::string> inputs;
  for (std::size_t i = 0; i < turns->size(); ++i) {
    EXPECT_EQ((*turns)[i].seq, static_cast<std::int64_t>(i + 1));
    inputs.insert((*turns)[i].user_input);
  }
  EXPECT_EQ(inputs.size(), static_cast<std::size_t>(kChats));  // every chat's own turn, none twice
  EXPECT_EQ(list_failures, 0);
  // Each turn's seq is the one its append reported.
  for (int i = 0; i < kChats; ++i) {
    EXPECT_EQ((*turns)[(*results[i])->seq - 1].user_input, "q" + std::to_string(i));
  }
}

TEST_F(DynamoHistory, ConcurrentFirstWritesHaveOneOwner) {
  auto store = make({.conflict_backoff = 1ms});
  std::vector<std::optional<Result<store::Turn>>> results(10);
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < 10; ++i) {
    boost::asio::co_spawn(
        rig_->io(),
        [&, i]() -> boost::asio::awaitable<void> {
          results[i] = co_await store->append("owner" + std::to_string(i), make_turn("contested", "hi"));
          if (++done == 10) all.set_value();
        },
        boost::asio::detached);
  }
  all.get_future().get();
  int winners = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r.has_value());
    if (*r) {
      ++winners;
      EXPECT_EQ((*r)->seq, 1);
    } else {
      EXPECT_EQ(r->error().kind, ErrorKind::not_found) << r->error().message;
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(raw_items("contested").size(), 1u);
}

TEST_F(DynamoHistory, PaginatesLoadAndRemove) {
  auto store = make({.page_size = 3});
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(run(store->append("alice", make_turn("long", "q" + std::to_string(i)))));
  auto last7 = run(store->load("alice", "long", 7));
  ASSERT_TRUE(last7) << last7.error().message;
  ASSERT_EQ(last7->size(), 7u);
  EXPECT_EQ(last7->front().user_input, "q4");
  EXPECT_EQ(last7->back().user_input, "q10");
  auto all = run(store->load("alice", "long", 100));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*all)[i].seq, i + 1);
  ASSERT_TRUE(run(store->append("alice", make_turn("other", "keep me"))));
  ASSERT_TRUE(run(store->remove("alice", "long")));
  EXPECT_TRUE(raw_items("long").empty());
  EXPECT_EQ(raw_items("other").size(), 1u);  // another conversation is untouched
}

TEST_F(DynamoHistory, ItemsFollowTheDocumentedSchema) {
  ManualClock clock;
  auto store = make({.retention = std::chrono::hours(24 * 30), .clock = &clock});
  auto t = make_turn("schema", "question", "answer");
  t.created_at_ms = 1'234;
  ASSERT_TRUE(run(store->append("alice", t)));
  auto items = raw_items("schema");
  ASSERT_EQ(items.size(), 1u);
  const auto& it = items[0];
  EXPECT_EQ(dyn::get_s(it, "pk"), "conv#schema");
  EXPECT_EQ(dyn::get_n(it, "sk"), 1);
  EXPECT_EQ(dyn::get_s(it, "kind"), "turn");
  EXPECT_EQ(dyn::get_s(it, "conversation_id"), "schema");
  EXPECT_EQ(dyn::get_s(it, "owner"), "alice");
  EXPECT_EQ(dyn::get_s(it, "user_input"), "question");
  EXPECT_EQ(dyn::get_s(it, "assistant_reply"), "answer");
  EXPECT_EQ(dyn::get_s(it, "model_id"), t.model_id);
  EXPECT_EQ(dyn::get_n(it, "input_tokens"), 5);
  EXPECT_EQ(dyn::get_n(it, "output_tokens"), 7);
  EXPECT_EQ(dyn::get_s(it, "stop_reason"), "end_turn");
  EXPECT_EQ(dyn::get_n(it, "created_at_ms"), 1'234);
  EXPECT_EQ(dyn::get_s(it, "request_id"), t.request_id);
  ASSERT_TRUE(dyn::get_s(it, "write_id"));
  // TTL: write time + retention, epoch seconds.
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(clock.wall().time_since_epoch()).count();
  EXPECT_EQ(dyn::get_n(it, "expires_at"), now_s + 30 * 24 * 3600);

  // A later write gets a later TTL (refreshed per written turn); retention 0 means no TTL attribute.
  clock.advance(std::chrono::hours(1));
  ASSERT_TRUE(run(store->append("alice", make_turn("schema", "again"))));
  EXPECT_EQ(dyn::get_n(raw_items("schema")[1], "expires_at"), now_s + 3600 + 30 * 24 * 3600);
  auto forever = make({.retention = std::chrono::seconds(0)});
  ASSERT_TRUE(run(forever->append("alice", make_turn("forever", "x"))));
  EXPECT_FALSE(raw_items("forever")[0].contains("expires_at"));
}

TEST_F(DynamoHistory, ALargeTurnSpillsToTheFileStoreAndComesBackWhole) {
  MemoryBlobs files;
  auto store = make({.files = &files});
  std::string reply;
  for (int i = 0; reply.size() < 450 * 1024; ++i) reply += "line " + std::to_string(i) + " \xE2\x9C\x93\n";
  const std::string input = "summarise the manual";
  auto t = run(store->append("alice", make_turn("big", input, reply)));
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(run(store->append("alice", make_turn("big", "small follow-up", "ok"))));

  auto items = raw_items("big");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_FALSE(items[0].contains("assistant_reply"));
  auto ref = dyn::get_s(items[0], "assistant_reply_blob");
  ASSERT_TRUE(ref);
  EXPECT_EQ(dyn::get_s(items[0], "user_input"), input);  // the small text stays in the item
  EXPECT_LT(dyn::item_size(items[0]), 350u * 1024u);
  {
    std::lock_guard lock(files.mutex);
    ASSERT_EQ(files.blobs.count(*ref), 1u);
    EXPECT_EQ(files.blobs[*ref], reply);
  }

  auto turns = run(store->load("alice", "big", 10));
  ASSERT_TRUE(turns) << turns.error().message;
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ((*turns)[0].assistant_reply, reply);
  EXPECT_EQ((*turns)[0].user_input, input);
  EXPECT_EQ((*turns)[1].assistant_reply, "ok");

  // Both texts too large: both spill.
  auto both = run(store->append("alice", make_turn("big", std::string(360 * 1024, 'u'), std::string(360 * 1024, 'r'))));
  ASSERT_TRUE(both) << both.error().message;
  auto three = raw_items("big");
  EXPECT_TRUE(three[2].contains("user_input_blob"));
  EXPECT_TRUE(three[2].contains("assistant_reply_blob"));
  auto again = run(store->load("alice", "big", 1));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->at(0).user_input, std::string(360 * 1024, 'u'));
  EXPECT_EQ(again->at(0).assistant_reply, std::string(360 * 1024, 'r'));

  // Removing the conversation removes its blobs too.
  ASSERT_TRUE(run(store->remove("alice", "big")));
  std::lock_guard lock(files.mutex);
  EXPECT_TRUE(files.blobs.empty());
}

TEST_F(DynamoHistory, ALargeTurnWithoutAFileStoreIsTooLargeNotTruncated) {
  auto store = make();
  auto r = run(store->append("alice", make_turn("big", "q", std::string(420 * 1024, 'x'))));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::too_large);
  EXPECT_NE(r.error().message.find("file store"), std::string::npos) << r.error().message;
  EXPECT_TRUE(raw_items("big").empty());
}

TEST_F(DynamoHistory, AMissingSpilledBlobIsAnErrorNotAnEmptyText) {
  MemoryBlobs files;
  auto store = make({.files = &files});
  ASSERT_TRUE(run(store->append("alice", make_turn("big", "q", std::string(400 * 1024, 'x')))));
  {
    std::lock_guard lock(files.mutex);
    files.blobs.clear();
  }
  auto r = run(store->load("alice", "big", 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::internal);
}

TEST_F(DynamoHistory, ReadsATurnWrittenWithOnlyTheRequiredAttributes) {
  // Another writer (see tests/node/dynamodb_oracle.mjs for the official SDK) may omit optional attributes.
  dyn::Item item{{"pk", dyn::attr_s("conv#minimal")}, {"sk", dyn::attr_n(1)}, {"owner", dyn::attr_s("alice")},
                 {"user_input", dyn::attr_s("hello")}};
  ASSERT_TRUE(run(rig_->client().put_item(table_, item)));
  auto store = make();
  auto turns = run(store->load("alice", "minimal", 10));
  ASSERT_TRUE(turns) << turns.error().message;
  ASSERT_EQ(turns->size(), 1u);
  EXPECT_EQ((*turns)[0].user_input, "hello");
  EXPECT_EQ((*turns)[0].assistant_reply, "");
  EXPECT_EQ((*turns)[0].input_tokens, 0);
  auto next = run(store->append("alice", make_turn("minimal", "more")));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 2);
}

TEST_F(DynamoHistory, CheckReportsTheLastFailure) {
  DynamoRig dead("http://127.0.0.1:" + std::to_string(free_loopback_port()),
                 dyn::ClientConfig{.max_attempts = 1});
  auto store = store::make_dynamodb_history(dead.client(), {.table = "whatever"});
  EXPECT_TRUE(store->check());
  auto r = dead.run(store->load("alice", "c", 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  auto health = store->check();
  ASSERT_FALSE(health);
  EXPECT_EQ(health.error().kind, ErrorKind::network);

  // A healthy store stays healthy after an ordinary not_found.
  auto good = make();
  auto nf = run(good->load("alice", "nope", 10));
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().kind, ErrorKind::not_found);
  EXPECT_TRUE(good->check());
}

// An HTTP client that answers every UpdateItem with DynamoDB's 500 InternalFailure and passes the rest
// on: the list item's update fails after the turn itself was written.
class FailingUpdateItem final : public net::HttpClient {
 public:
  explicit FailingUpdateItem(net::HttpClient& inner) : inner_(inner) {}
  boost::asio::awaitable<Result<net::HttpResponse>> send(net::HttpRequest request, net::RequestOptions options) override {
    if (auto target = request.headers.get("X-Amz-Target"); target && target->ends_with(".UpdateItem")) {
      ++failed;
      net::HttpResponse r{.status = 500};
      r.headers.set("Content-Type", "application/x-amz-json-1.0");
      r.body = R"({"__type":"com.amazon.coral.service#InternalFailure","message":"injected"})";
      co_return r;
    }
    co_return co_await inner_.send(std::move(request), std::move(options));
  }
  boost::asio::awaitable<Result<net::HttpResponse>> send_streaming(net::HttpRequest request, net::BodySink sink,
                                                                   net::RequestOptions options) override {
    co_return co_await inner_.send_streaming(std::move(request), std::move(sink), std::move(options));
  }
  int failed = 0;

 private:
  net::HttpClient& inner_;
};

// The list item's update failing after the turn was stored is not the caller's error (the turn is saved
// and answered) but is told (the server logs it as a store failure); the next turn repairs the list.
TEST_F(DynamoHistory, AFailedListItemUpdateIsToldAndRepairedByTheNextTurn) {
  std::unique_ptr<net::HttpClient> http;  // made and dropped on the rig's io thread, whose connections it holds
  rig_->run([&]() -> boost::asio::awaitable<void> {
    http = net::make_http_client(rig_->io());
    co_return;
  }());
  FailingUpdateItem failing(*http);
  aws::Credentials creds;
  creds.access_key_id = "AKIDTEST";
  creds.secret_access_key = "secret";
  auto provider = aws::make_static_provider(creds);
  dyn::Client client(failing, *provider, dyn::ClientConfig{.region = "us-east-1", .endpoint = shared_dynalite()->endpoint(),
                                                           .max_attempts = 1});
  std::vector<Error> told;
  store::DynamoHistoryOptions o;
  o.table = table_;
  o.on_list_item_failure = [&](const Error& e) { told.push_back(e); };
  auto broken = store::make_dynamodb_history(client, o);
  ASSERT_TRUE(run(broken->append("dave", make_turn("c-list", "first question"))));
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(failing.failed, 1);
  EXPECT_NE(told[0].kind, ErrorKind::conflict);
  auto turns = run(broken->load("dave", "c-list", 10));
  ASSERT_TRUE(turns) << turns.error().message;
  EXPECT_EQ(turns->size(), 1u);  // the turn is stored
  auto listed = run(broken->list("dave", 10, ""));
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->conversations.empty());  // the list lags

  auto healthy = make();
  ASSERT_TRUE(run(healthy->append("dave", make_turn("c-list", "second question"))));
  listed = run(healthy->list("dave", 10, ""));
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->conversations.size(), 1u);
  EXPECT_EQ(listed->conversations[0].turns, 2);
  broken.reset();
  rig_->run([&]() -> boost::asio::awaitable<void> {
    http.reset();
    co_return;
  }());
}

TEST_F(DynamoHistory, AMissingTableIsNotFound) {
  store::DynamoHistoryOptions o;
  o.table = "ba-missing-" + uuid_v4().substr(0, 8);
  auto store = store::make_dynamodb_history(rig_->client(), o);
  auto r = run(store->append("alice", make_turn("c", "q")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
}

// ---- Differential oracle: the official @aws-sdk/client-dynamodb on the same table ----------------------

TEST_F(DynamoHistory, TheOfficialSdkReadsWhatWeWriteAndWeReadWhatItWrites) {
  if (!node_package_available("@aws-sdk/client-dynamodb")) GTEST_SKIP() << "@aws-sdk/client-dynamodb not installed";
  auto store = make();
  const std::string unicode = "caf\xC3\xA9 \xF0\x9F\x98\x80 \"quoted\"\nline";
  auto first = make_turn("ours", unicode, "reply one");
  first.created_at_ms = 1'700'000'000'123;
  ASSERT_TRUE(run(store->append("alice", first)));
  ASSERT_TRUE(run(store->append("alice", make_turn("ours", "second", "reply two"))));

  json::object input{{"endpoint", shared_dynalite()->endpoint()},
                     {"table", table_},
                     {"read", json::array{"ours"}},
                     // The SDK writes a conversation of its own, and a third turn on ours.
                     {"write", json::array{json::object{{"conversation_id", "theirs"}, {"seq", 1}, {"owner", "alice"},
                                                        {"user_input", "sdk question"}, {"assistant_reply", "sdk answer"},
                                                        {"input_tokens", 3}, {"output_tokens", 4}},
                                           json::object{{"conversation_id", "ours"}, {"seq", 3}, {"owner", "alice"},
                                                        {"user_input", "sdk third"}, {"assistant_reply", "sdk reply"},
                                                        {"input_tokens", 8}, {"output_tokens", 9}}}}};
  auto out = aws::test::run_node("dynamodb_oracle.mjs", json::serialize(input));
  ASSERT_TRUE(out) << "node tests/node/dynamodb_oracle.mjs failed";
  auto result = json::parse(*out).as_object();
  ASSERT_TRUE(result.at("ok").as_bool()) << *out;

  // What the SDK saw of our items: the documented names and types.
  const auto& read = result.at("read").at("ours").as_array();
  ASSERT_EQ(read.size(), 2u) << *out;
  const auto& t1 = read[0].as_object();
  EXPECT_EQ(t1.at("values").at("user_input").as_string(), unicode);
  EXPECT_EQ(t1.at("values").at("assistant_reply").as_string(), "reply one");
  EXPECT_EQ(t1.at("values").at("owner").as_string(), "alice");
  EXPECT_EQ(t1.at("values").at("sk").as_string(), "1");
  EXPECT_EQ(t1.at("values").at("created_at_ms").as_string(), "1700000000123");  // N, read as a string (exact)
  const auto& types = t1.at("types").as_object();
  for (const char* s : {"pk", "kind", "conversation_id", "owner", "user_input", "assistant_reply", "model_id",
                        "stop_reason", "request_id", "write_id"}) {
    EXPECT_EQ(types.at(s).as_string(), "S") << s;
  }
  for (const char* n : {"sk", "input_tokens", "output_tokens", "created_at_ms", "expires_at"}) {
    EXPECT_EQ(types.at(n).as_string(), "N") << n;
  }
  EXPECT_EQ(read[1].at("values").at("user_input").as_string(), "second");

  // What we read of the SDK's items.
  auto theirs = run(store->load("alice", "theirs", 10));
  ASSERT_TRUE(theirs) << theirs.error().message;
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ((*theirs)[0].user_input, "sdk question");
  EXPECT_EQ((*theirs)[0].assistant_reply, "sdk answer");
  EXPECT_EQ((*theirs)[0].input_tokens, 3);
  EXPECT_EQ((*theirs)[0].output_tokens, 4);
  EXPECT_EQ((*theirs)[0].model_id, "sdk-model");
  EXPECT_EQ((*theirs)[0].request_id, "sdk-request");
  EXPECT_EQ((*theirs)[0].created_at_ms, 1'700'000'000'000);
  auto ours = run(store->load("alice", "ours", 10));
  ASSERT_TRUE(ours);
  ASSERT_EQ(ours->size(), 3u);
  EXPECT_EQ((*ours)[2].user_input, "sdk third");
  // Our next turn goes after the SDK's; the SDK's owner is honoured.
  auto next = run(store->append("alice", make_turn("theirs", "ours now")));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 2);
  auto bob = run(store->load("bob", "theirs", 10));
  ASSERT_FALSE(bob);
  EXPECT_EQ(bob.error().kind, ErrorKind::not_found);
}

}  // namespace
}  // namespace ba::test

namespace ba::test {
namespace {

TEST_F(DynamoHistory, AConversationFromBeforeTheListIsListedFromItsNextTurn) {
  // A turn item as earlier versions wrote it: no list_sk, and no list item under the owner.
  dyn::Item item{{"pk", dyn::attr_s("conv#legacy")}, {"sk", dyn::attr_n(1)}, {"owner", dyn::attr_s("carol")},
                 {"kind", dyn::attr_s("turn")},      {"user_input", dyn::attr_s("old question")},
                 {"created_at_ms", dyn::attr_n(1000)}};
  ASSERT_TRUE(run(rig_->client().put_item(table_, item)));
  auto store = make();
  auto before = run(store->list("carol", 10, ""));
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_TRUE(before->conversations.empty());
  auto t = make_turn("legacy", "new question");
  t.created_at_ms = 5000;
  ASSERT_TRUE(run(store->append("carol", t)));
  auto after = run(store->list("carol", 10, ""));
  ASSERT_TRUE(after);
  ASSERT_EQ(after->conversations.size(), 1u);
  EXPECT_EQ(after->conversations[0].id, "legacy");
  EXPECT_EQ(after->conversations[0].turns, 2);
  EXPECT_EQ(after->conversations[0].title, "new question");  // the first input the list saw
  EXPECT_EQ(after->conversations[0].updated_at_ms, 5000);
  // Every turn after that carries the list position, and the list item is the one per-owner item.
  auto items = raw_items("legacy");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_FALSE(dyn::get_n(items[0], "list_sk"));
  EXPECT_TRUE(dyn::get_n(items[1], "list_sk"));
  ASSERT_TRUE(run(store->remove("carol", "legacy")));
  auto gone = run(store->list("carol", 10, ""));
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->conversations.empty());
}

}  // namespace
}  // namespace ba::test
