#include "util/encoding.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

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
  // Many draws (across refills of the random block): all well-formed and distinct.
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    auto id = uuid_v4();
    ASSERT_EQ(id.size(), 36u);
    for (std::size_t p : {8u, 13u, 18u, 23u}) ASSERT_EQ(id[p], '-') << id;
    ASSERT_EQ(id[14], '4') << id;
    ASSERT_TRUE(std::string_view("89ab").find(id[19]) != std::string_view::npos) << id;
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef-"), std::string::npos) << id;
    ASSERT_TRUE(seen.insert(id).second) << id;
  }
}

TEST(Encoding, UuidV4AfterForkDiffersFromTheParent) {
  // Twice: if the block happened to be used up at the first fork, both sides would refill on their own
  // and differ anyway; the parent's draw in between means the second fork finds a partly used block.
  for (int round = 0; round < 2; ++round) {
    (void)uuid_v4();  // the block is filled
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::string id = uuid_v4();
      (void)!write(fds[1], id.data(), id.size());
      _exit(0);
    }
    close(fds[1]);
    std::string parent = uuid_v4();  // the parent's next id from the same block
    char buf[64];
    ssize_t n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_EQ(n, 36);
    EXPECT_NE(std::string(buf, 36), parent) << "round " << round;
  }
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
