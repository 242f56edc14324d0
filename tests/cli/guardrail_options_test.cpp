// --guardrail ID:VERSION and --guardrail-trace (cli/app_context.hpp parse_guardrail).
#include <gtest/gtest.h>

#include "cli/app_context.hpp"

namespace ba::test {
namespace {

TEST(ParseGuardrail, IdOrArnAndVersion) {
  EXPECT_FALSE(cli::parse_guardrail("", "").has_value());
  auto g = cli::parse_guardrail("abc123xyz:DRAFT", "");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->identifier, "abc123xyz");
  EXPECT_EQ(g->version, "DRAFT");
  EXPECT_EQ(g->trace, "");
  g = cli::parse_guardrail("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123xyz:12", "enabled_full");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->identifier, "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123xyz");  // the version after the last colon
  EXPECT_EQ(g->version, "12");
  EXPECT_EQ(g->trace, "enabled_full");
}

TEST(ParseGuardrail, AnythingElseStopsStartUpNamingTheForm) {
  for (const char* bad : {"abc", "abc:", ":1", "ABC:1", "abc:0", "abc:01", "abc:draft", "abc:123456789", "a-b:1",
                          "arn:aws:s3:::bucket:1"}) {
    try {
      cli::parse_guardrail(bad, "");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const cli::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("must be ID:VERSION"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(cli::parse_guardrail("abc:1", "loud"), cli::ConfigError);
  EXPECT_THROW(cli::parse_guardrail("", "enabled"), cli::ConfigError);  // a trace without a guardrail
}

}  // namespace
}  // namespace ba::test
