#include "store/dynamodb_table.hpp"

#include <gtest/gtest.h>

#include "store/dynamodb_test_support.hpp"

namespace ba::test {
namespace {

namespace dyn = aws::dynamodb;

class DynamoTable : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
    rig_ = shared_rig();
    ASSERT_NE(rig_, nullptr);
  }
  DynamoRig* rig_ = nullptr;
};

TEST_F(DynamoTable, AMissingTableIsNotFoundUnlessCreateMissing) {
  const std::string table = DynamoRig::unique_table("e");
  auto st = rig_->run(store::ensure_dynamodb_table(rig_->client(), table));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::not_found);
  EXPECT_NE(st.error().message.find("--create-missing"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find(table), std::string::npos);
  auto still_absent = rig_->run(rig_->client().describe_table(table));
  ASSERT_TRUE(still_absent);
  EXPECT_FALSE(*still_absent);
}

TEST_F(DynamoTable, CreateMissingMakesTheDocumentedTableAndWaitsUntilActive) {
  const std::string table = DynamoRig::unique_table("e");
  std::vector<std::string> warnings;
  auto st = rig_->run(store::ensure_dynamodb_table(
      rig_->client(), table, {.create_missing = true, .poll_interval = std::chrono::milliseconds(50)},
      [&](std::string_view w) { warnings.emplace_back(w); }));
  ASSERT_TRUE(st) << st.error().message;
  auto d = rig_->run(rig_->client().describe_table(table));
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->status, "ACTIVE");
  ASSERT_EQ((*d)->key_schema.size(), 2u);
  EXPECT_EQ((*d)->key_schema[0].name, "pk");
  EXPECT_EQ((*d)->key_schema[0].type, "S");
  EXPECT_EQ((*d)->key_schema[0].key_type, "HASH");
  EXPECT_EQ((*d)->key_schema[1].name, "sk");
  EXPECT_EQ((*d)->key_schema[1].type, "N");
  EXPECT_EQ((*d)->key_schema[1].key_type, "RANGE");
  EXPECT_EQ((*d)->billing_mode, "PAY_PER_REQUEST");
  // dynalite has no UpdateTimeToLive: tolerated, with a warning.
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("UpdateTimeToLive"), std::string::npos);
  // Running it again on the existing table is fine and creates nothing.
  warnings.clear();
  EXPECT_TRUE(rig_->run(store::ensure_dynamodb_table(rig_->client(), table, {.create_missing = true},
                                                     [&](std::string_view w) { warnings.emplace_back(w); })));
  EXPECT_TRUE(warnings.empty());
}

TEST_F(DynamoTable, AnExistingTableWithAnotherKeySchemaIsRejected) {
  const std::string table = DynamoRig::unique_table("e");
  ASSERT_TRUE(rig_->run(rig_->client().create_table(table, {{"id", "S", "HASH"}})));
  auto st = rig_->run(store::ensure_dynamodb_table(rig_->client(), table, {.create_missing = true}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(st.error().message.find("id (S, HASH)"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace ba::test
