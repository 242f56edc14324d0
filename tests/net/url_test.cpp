#include "net/url.hpp"

#include <gtest/gtest.h>

namespace ba::net {
namespace {

TEST(UriEncode, KeepsUnreservedEncodesTheRest) {
  EXPECT_EQ(uri_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b/c+d=e&f"), "a%20b%2Fc%2Bd%3De%26f");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b/c");
  EXPECT_EQ(uri_encode("\xC3\xA9*"), "%C3%A9%2A");
  EXPECT_EQ(uri_encode(""), "");
}

TEST(UriDecode, DecodesEscapesAndKeepsMalformed) {
  EXPECT_EQ(uri_decode("a%20b%2fc%2Bd"), "a b/c+d");
  EXPECT_EQ(uri_decode("100%"), "100%");
  EXPECT_EQ(uri_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(uri_decode("a+b"), "a+b");
  EXPECT_EQ(uri_decode(uri_encode("x/y z\xff")), "x/y z\xff");
}

TEST(ParseUrl, DefaultsAndParts) {
  auto u = parse_url("https://Bedrock-Runtime.us-east-1.amazonaws.com/model/x%3A1/converse?a=1&b=2");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/model/x%3A1/converse?a=1&b=2");
  EXPECT_EQ(u->path(), "/model/x%3A1/converse");
  EXPECT_EQ(u->query(), "a=1&b=2");
  EXPECT_EQ(u->authority(), "bedrock-runtime.us-east-1.amazonaws.com");

  auto v = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->scheme, "http");
  EXPECT_EQ(v->host, "127.0.0.1");
  EXPECT_EQ(v->port, 8080);
  EXPECT_EQ(v->target, "/");
  EXPECT_EQ(v->authority(), "127.0.0.1:8080");

  auto w = parse_url("HTTP://user:p%40ss@proxy.local/");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->scheme, "http");
  EXPECT_EQ(w->port, 80);
  EXPECT_EQ(w->userinfo, "user:p%40ss");
  EXPECT_EQ(w->authority(), "proxy.local");

  auto x = parse_url("http://[::1]:9000/a");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->host, "::1");
  EXPECT_EQ(x->authority(), "[::1]:9000");
}

TEST(ParseUrl, RejectsBadInput) {
  EXPECT_FALSE(parse_url("ftp://example.com/"));
  EXPECT_FALSE(parse_url("/relative/path"));
  EXPECT_FALSE(parse_url("http:///nohost"));
  EXPECT_FALSE(parse_url("http://h:99999/"));
  EXPECT_FALSE(parse_url("not a url"));
  EXPECT_EQ(parse_url("ftp://x/").error().kind, ErrorKind::invalid_input);
}

}  // namespace
}  // namespace ba::net
