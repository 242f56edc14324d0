#include "util/json_number.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

namespace ba {
namespace {

std::string text(const boost::json::value& v) { return boost::json::serialize(v); }

TEST(JsonNumber, WholeNumbersReadAsIntegers) {
  EXPECT_EQ(text(json_number(50.0)), "50");
  EXPECT_EQ(text(json_number(100.0)), "100");
  EXPECT_EQ(text(json_number(0.0)), "0");
  EXPECT_EQ(text(json_number(-3.0)), "-3");
  EXPECT_EQ(text(json_number(9007199254740992.0)), "9007199254740992");
}

TEST(JsonNumber, EverythingElseStaysADouble) {
  EXPECT_TRUE(json_number(0.5).is_double());
  EXPECT_TRUE(json_number(1e300).is_double());
  EXPECT_TRUE(json_number(std::numeric_limits<double>::infinity()).is_double());
  EXPECT_TRUE(json_number(std::numeric_limits<double>::quiet_NaN()).is_double());
}

TEST(JsonNumber, WholeDocument) {
  boost::json::value doc = {{"max_rpm", 50.0}, {"pct", 99.5}, {"runs", {100.0, 2.25}}, {"n", 7}, {"s", "x"}};
  whole_numbers_as_integers(doc);
  EXPECT_EQ(text(doc), R"({"max_rpm":50,"pct":9.95E1,"runs":[100,2.25E0],"n":7,"s":"x"})");
}

}  // namespace
}  // namespace ba
