#include "util/encoding.hpp"

#include <gtest/gtest.h>

namespace ba {
namespace {

TEST(Encoding, HexAndSha256) {
  EXPECT_EQ(hex_encode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Encoding, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Encoding, Base64RoundTripAndRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYmE=").value(), "fooba");
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Z").has_value());
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  EXPECT_EQ(base64_decode(base64_encode(all)).value(), all);
}

TEST(Encoding, Crc32MatchesZlib) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
}

TEST(Encoding, UuidV4Shape) {
  auto a = uuid_v4();
  auto b = uuid_v4();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(a, b);
}

TEST(Encoding, CaseHelpers) {
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_EQ(trim("  x y \r\n"), "x y");
  EXPECT_EQ(to_lower("AbC"), "abc");
}

}  // namespace
}  // namespace ba

#include "util/clock.hpp"

namespace ba {
namespace {

TEST(Clock, Iso8601WithMilliseconds) {
  EXPECT_EQ(iso8601_ms(WallTime{std::chrono::milliseconds{1'700'000'000'123}}), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(iso8601_ms(WallTime{}), "1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace ba
