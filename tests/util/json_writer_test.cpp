#include "util/json_writer.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>

namespace ba {
namespace {

// Every single-byte character below 0x80, inside a string, is escaped exactly as boost::json::serialize
// does (the request log and the Converse body used to be written by it; their readers see no change).
TEST(JsonWriter, StringsAreEscapedAsBoostJsonDoes) {
  for (int c = 0; c < 0x80; ++c) {
    const std::string s = std::string("a") + static_cast<char>(c) + "b";
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, boost::json::serialize(boost::json::string_view(s))) << "character " << c;
  }
  const std::string utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \n\t";
  std::string out;
  append_json_string(out, utf8);
  EXPECT_EQ(out, boost::json::serialize(boost::json::string_view(utf8)));
  EXPECT_EQ(boost::json::parse(out).as_string(), utf8);
}

TEST(JsonWriter, ObjectsArraysAndScalarsMatchTheDomSerializer) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("s", "x\"y").member("n", std::int64_t{-42}).member("i", 7).member("t", true).member("f", false);
  w.key("null").null();
  w.key("empty").begin_object().end_object();
  w.key("list").begin_array().value("a").value(1).begin_object().member("k", "v").end_object().begin_array().end_array().end_array();
  w.key("raw").raw(R"({"pre":[1,2]})");
  w.end_object();
  const boost::json::value dom = {{"s", "x\"y"}, {"n", -42}, {"i", 7}, {"t", true}, {"f", false}, {"null", nullptr},
                                  {"empty", boost::json::object{}},
                                  {"list", boost::json::array{"a", 1, boost::json::object{{"k", "v"}}, boost::json::array{}}},
                                  {"raw", {{"pre", {1, 2}}}}};
  EXPECT_EQ(out, boost::json::serialize(dom));
}

TEST(JsonWriter, DoublesAreShortestDecimalsAndNonFiniteIsNull) {
  std::string out;
  JsonWriter w(out);
  w.begin_array().value(0.5).value(1.0).value(0.1).value(std::numeric_limits<double>::quiet_NaN())
      .value(std::numeric_limits<double>::infinity()).end_array();
  EXPECT_EQ(out, "[0.5,1,0.1,null,null]");
  EXPECT_EQ(boost::json::parse(out).as_array().size(), 5u);
}

// Found by fuzz/util/json_writer_fuzz.cpp: to_chars writes -0.0 as "-0", which Boost.JSON reads back as
// the integer 0 (the sign lost). Written "-0.0", it reads back as the double -0.0.
TEST(JsonWriter, NegativeZeroReadsBackAsNegativeZero) {
  std::string out;
  JsonWriter(out).begin_array().value(-0.0).value(0.0).end_array();
  EXPECT_EQ(out, "[-0.0,0]");
  const auto back = boost::json::parse(out).as_array();
  ASSERT_TRUE(back[0].is_double());
  EXPECT_TRUE(std::signbit(back[0].as_double()));
}

}  // namespace
}  // namespace ba
