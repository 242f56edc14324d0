#include "util/encoding.hpp"
#include "util/uuid.hpp"

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

// The digest and MAC contexts are kept per thread and re-initialised per call: interleaved calls with
// keys of every kind (short, empty, longer than a block, which HMAC hashes first) must not leak state
// into each other. Expected values: RFC 4231 cases 1, 2 and 6, the empty-key MAC as computed by
// `openssl dgst -sha256 -hmac ''`, and FIPS 180-2's "abc".
TEST(Encoding, DigestsKeepNoStateBetweenCalls) {
  const std::string key1(20, '\x0b');
  const std::string key6(131, '\xaa');
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(hex_encode(hmac_sha256(key1, "Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_encode(hmac_sha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    EXPECT_EQ(hex_encode(hmac_sha256(key6, "Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
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

TEST(Encoding, UuidV7CarriesTheTimeAndSortsByIt) {
  // RFC 9562 section 5.7: 48 bits of Unix milliseconds, version 7, variant 10, random bits.
  const std::string a = uuid_v7(0x0123456789AB);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a.substr(0, 14), "01234567-89ab-");
  EXPECT_EQ(a[14], '7');
  EXPECT_TRUE(std::string_view("89ab").find(a[19]) != std::string_view::npos) << a;
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef-"), std::string::npos) << a;
  EXPECT_NE(uuid_v7(0x0123456789AB), a);  // the same millisecond: random bits differ
  // Later milliseconds sort after, as strings too (what a TEXT index compares).
  std::string prev = uuid_v7(1'700'000'000'000);
  for (std::int64_t ms = 1'700'000'000'001; ms < 1'700'000'000'200; ++ms) {
    std::string id = uuid_v7(ms);
    ASSERT_LT(prev, id);
    prev = id;
  }
  EXPECT_EQ(uuid_v7(-5).substr(0, 14), "00000000-0000-");  // before 1970: clamped
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
  // A leap day, the last millisecond of a year, a time before 1970, and 2100 (not a leap year): as gmtime_r has them.
  EXPECT_EQ(iso8601_ms(WallTime{std::chrono::milliseconds{951'782'400'000}}), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(iso8601_ms(WallTime{std::chrono::milliseconds{1'704'067'199'999}}), "2023-12-31T23:59:59.999Z");
  EXPECT_EQ(iso8601_ms(WallTime{std::chrono::milliseconds{-1}}), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(iso8601_ms(WallTime{std::chrono::milliseconds{4'102'444'800'007}}), "2100-01-01T00:00:00.007Z");
}

}  // namespace
}  // namespace ba
