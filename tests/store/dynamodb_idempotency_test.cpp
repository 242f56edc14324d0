#include "store/dynamodb_idempotency.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/aws_oracles.hpp"
#include "store/dynamodb_test_support.hpp"
#include "store/idempotency_suite.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
namespace dyn = aws::dynamodb;
using namespace std::chrono_literals;

std::unique_ptr<store::IdempotencyStore> open_dynamo(const std::filesystem::path& dir, Clock& clock) {
  DynamoRig* rig = shared_rig();
  if (!rig) throw std::runtime_error(kNoDynalite);
  auto inner = store::make_dynamodb_idempotency(rig->client(), {.table = table_for(*rig, dir), .clock = &clock});
  return std::make_unique<ForwardingIdempotency>(*rig, std::move(inner));
}

std::vector<IdempotencyBackend> dynamo_backends() {
  if (!dynalite_available()) return {};  // DynamoHistoryEnvironment.DynaliteIsAvailable says why
  return {IdempotencyBackend{"dynamodb", open_dynamo}};
}

INSTANTIATE_TEST_SUITE_P(DynamoDb, IdempotencyStoreSuite, ::testing::ValuesIn(dynamo_backends()),
                         [](const auto& info) { return info.param.name; });

class DynamoIdempotency : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
    rig_ = shared_rig();
    ASSERT_NE(rig_, nullptr);
    table_ = DynamoRig::unique_table("i");
    create_table(*rig_, table_);
    store_ = store::make_dynamodb_idempotency(rig_->client(), {.table = table_, .clock = &clock_});
  }
  template <class T>
  T run(boost::asio::awaitable<T> t) {
    return rig_->run(std::move(t));
  }

  DynamoRig* rig_ = nullptr;
  std::string table_;
  ManualClock clock_;
  std::unique_ptr<store::IdempotencyStore> store_;
};

TEST_F(DynamoIdempotency, ItemsFollowTheDocumentedSchema) {
  ASSERT_TRUE(run(store_->claim("alice", "k1", "h1", 30s)));
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall().time_since_epoch()).count();
  auto item = run(rig_->client().get_item(
      table_, dyn::Item{{"pk", dyn::attr_s("idem#" + sha256_hex("alice") + "#k1")}, {"sk", dyn::attr_n(0)}}));
  ASSERT_TRUE(item && *item);
  EXPECT_EQ(dyn::get_s(**item, "kind"), "idempotency");
  EXPECT_EQ(dyn::get_s(**item, "owner"), "alice");
  EXPECT_EQ(dyn::get_s(**item, "idem_key"), "k1");
  EXPECT_EQ(dyn::get_s(**item, "state"), "in_flight");
  EXPECT_EQ(dyn::get_s(**item, "request_hash"), "h1");
  EXPECT_EQ(dyn::get_n(**item, "expires_at_ms"), now_ms + 30'000);
  EXPECT_EQ(dyn::get_n(**item, "expires_at"), (now_ms + 30'000 + 999) / 1000);
}

TEST_F(DynamoIdempotency, AnOversizedAnswerIsTooLarge) {
  ASSERT_TRUE(run(store_->claim("alice", "k1", "h1", 30s)));
  auto st = run(store_->complete("alice", "k1", 200, std::string(360 * 1024, 'x'), 1h));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::too_large);
}

TEST_F(DynamoIdempotency, TheOfficialSdkReadsOurRecordsAndWeReadItsRecords) {
  if (!node_package_available("@aws-sdk/client-dynamodb")) GTEST_SKIP() << "@aws-sdk/client-dynamodb not installed";
  ASSERT_TRUE(run(store_->claim("alice", "ours", "hash-ours", 30s)));
  ASSERT_TRUE(run(store_->complete("alice", "ours", 200, R"({"reply":"stored"})", 1h)));
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall().time_since_epoch()).count();
  json::object input{
      {"endpoint", shared_dynalite()->endpoint()},
      {"table", table_},
      {"idem_read", json::array{json::object{{"owner", "alice"}, {"key", "ours"}}}},
      {"idem_write", json::array{json::object{{"owner", "alice"}, {"key", "theirs"}, {"state", "completed"},
                                              {"request_hash", "hash-theirs"}, {"status", 201},
                                              {"response_body", "sdk body"}, {"expires_at_ms", now_ms + 60'000}}}}};
  auto out = aws::test::run_node("dynamodb_oracle.mjs", json::serialize(input));
  ASSERT_TRUE(out) << "node tests/node/dynamodb_oracle.mjs failed";
  auto result = json::parse(*out).as_object();
  ASSERT_TRUE(result.at("ok").as_bool()) << *out;
  const auto& ours = result.at("idem").as_array().at(0).as_object();
  EXPECT_EQ(ours.at("values").at("state").as_string(), "completed");
  EXPECT_EQ(ours.at("values").at("status").as_string(), "200");
  EXPECT_EQ(ours.at("types").at("status").as_string(), "N");
  EXPECT_EQ(ours.at("values").at("response_body").as_string(), R"({"reply":"stored"})");
  EXPECT_EQ(ours.at("types").at("expires_at").as_string(), "N");

  auto theirs = run(store_->claim("alice", "theirs", "hash-theirs", 30s));
  ASSERT_TRUE(theirs) << theirs.error().message;
  ASSERT_TRUE(theirs->has_value());
  EXPECT_EQ((*theirs)->state, store::IdempotencyRecord::State::completed);
  EXPECT_EQ((*theirs)->status, 201);
  EXPECT_EQ((*theirs)->response_body, "sdk body");
  EXPECT_EQ((*theirs)->request_hash, "hash-theirs");
}

}  // namespace
}  // namespace ba::test
