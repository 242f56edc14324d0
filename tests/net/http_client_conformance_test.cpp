// The upstream client against what RFC 9112 and RFC 9110 require of a client: reading answers framed
// by Content-Length, chunked or the close, skipping 1xx, no content after HEAD/204/304, treating broken
// framing as an error and never reusing such a connection, and never sending a request a field could
// split. Each probed against a raw socket serving crafted bytes (docs/http-conformance.md).
#include <gtest/gtest.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <map>

#include "net/http_client.hpp"
#include "raw_server.hpp"
#include "support/server_harness.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::RawServer;
using testing::run_until_done;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// Answers every request on a connection with the bytes mapped to its path ("/ok": kOk), and keeps the
// connection open for more (so only the client can decide not to reuse it). A path mapped to a
// response that starts with "close:" gets the rest and then the close.
RawServer::Session canned(std::map<std::string, std::string> answers) {
  answers.emplace("/ok", std::string(kOk));
  return [answers](tcp::socket s) -> asio::awaitable<void> {
    std::string buf;
    for (;;) {
      auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
      if (ec) co_return;
      const std::string head = buf.substr(0, n);
      buf.erase(0, n);
      const auto sp = head.find(' ');
      const std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      auto it = answers.find(path);
      std::string answer = it == answers.end() ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" : it->second;
      const bool close = answer.starts_with("close:");
      if (close) answer.erase(0, 6);
      auto [wec, wn] = co_await asio::async_write(s, asio::buffer(answer), kTuple);
      if (wec || close) co_return;
    }
  };
}

class ClientConformance : public ::testing::Test {
 protected:
  void serve(std::map<std::string, std::string> answers) { raw_ = std::make_unique<RawServer>(canned(std::move(answers))); }
  Result<HttpResponse> send(std::string path, std::string method = "GET") {
    HttpRequest r;
    r.method = std::move(method);
    r.url = "http://127.0.0.1:" + std::to_string(raw_->port()) + path;
    return run_until_done(io_, client_->send(std::move(r)));
  }
  int connections() const { return raw_->connections(); }

  asio::io_context io_;
  std::unique_ptr<HttpClient> client_ = make_http_client(io_, ClientConfig{.use_proxy_env = false});
  std::unique_ptr<RawServer> raw_;
};

// RFC 9112 section 6.3: Content-Length, chunked (with extensions and trailers), and the close frame a
// body; a close-delimited answer's connection cannot be reused.
TEST_F(ClientConformance, BodiesFramedByLengthChunkedOrClose) {
  serve({{"/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"},
         {"/close", "close:HTTP/1.1 200 OK\r\n\r\nuntil the end"}});
  auto a = send("/ok");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->body, "ok");
  auto b = send("/chunked");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->body, "abcde");
  auto c = send("/close");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->body, "until the end");
  EXPECT_EQ(connections(), 1);
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 2);
}

// RFC 9110 section 15.2: a client MUST be able to parse 1xx answers before the final one, and ignores
// those it does not expect.
TEST_F(ClientConformance, InterimAnswersAreSkipped) {
  serve({{"/early", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
                    "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"}});
  auto r = send("/early");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done");
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 1);
}

// RFC 9110 sections 9.3.2, 15.3.5, 15.4.5 and RFC 9112 section 6.3: an answer to HEAD, a 204 and a 304
// end with their head whatever Content-Length says; the connection carries on.
TEST_F(ClientConformance, HeadAnd204And304HaveNoContent) {
  serve({{"/head", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"},
         {"/204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"},
         {"/304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}});
  auto h = send("/head", "HEAD");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->body, "");
  for (std::string path : {"/204", "/304"}) {
    auto r = send(path);
    ASSERT_TRUE(r) << path << ": " << r.error().message;
    EXPECT_EQ(r->body, "") << path;
  }
  auto ok = send("/ok");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->body, "ok");
  EXPECT_EQ(connections(), 1);
}

// RFC 9112 section 9.6 and 9.3: after "Connection: close", or an HTTP/1.0 answer without keep-alive, the
// client does not send another request on the connection (the server here would still answer one).
TEST_F(ClientConformance, CloseAndHttp10AnswersAreNotReused) {
  serve({{"/close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"},
         {"/old", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb"},
         {"/old-kept", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc"}});
  ASSERT_TRUE(send("/close"));
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 2);
  ASSERT_TRUE(send("/old"));
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 3);
  ASSERT_TRUE(send("/old-kept"));
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 3);
}

// RFC 9112 sections 6.1 and 6.3: framing that cannot be trusted (Content-Length next to Transfer-
// Encoding, differing or invalid lengths, a bad chunk, a coding other than chunked that we never
// accepted, more bytes than announced, a 101 we did not ask for) fails the request, and the connection
// is closed, never reused ("MUST close the connection ... and discard the received response").
TEST_F(ClientConformance, BrokenFramingFailsAndTheConnectionIsDropped) {
  const std::map<std::string, std::string> bad = {
      {"/cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
      {"/te-cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
      {"/two-cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
      {"/bad-cl", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nab"},
      {"/bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
      {"/gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
      {"/gzip-cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"},
      {"/101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"},
  };
  serve(bad);
  for (const auto& [path, answer] : bad) {
    auto r = send(path);
    ASSERT_FALSE(r) << path << " was accepted";
    EXPECT_EQ(r.error().kind, ErrorKind::network) << path;
    const int before = connections();
    auto ok = send("/ok");  // on a new connection
    ASSERT_TRUE(ok) << path << ": " << ok.error().message;
    EXPECT_EQ(connections(), before + 1) << path;
  }

  // More bytes than announced: the answer is read, the connection is not used again.
  serve({{"/extra", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabEXTRA"}});
  auto e = send("/extra");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->body, "ab");
  ASSERT_TRUE(send("/ok"));
  EXPECT_EQ(connections(), 2);
}

// RFC 9112 sections 3 and 5, RFC 9110 section 5.5: a request is never sent with a method or field name
// that is not a token, or a CR, LF or NUL in a field value (request splitting, header injection).
TEST_F(ClientConformance, RequestsAFieldCouldSplitAreNotSent) {
  serve({});
  using namespace std::string_literals;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"X-A", "a\r\nX-Injected: 1"}, {"X-A", "a\nb"}, {"X-A", "a\0b"s}, {"X A", "1"}, {"X-A:", "1"}, {"", "1"}}) {
    HttpRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(raw_->port()) + "/ok";
    r.headers.add(name, value);
    auto res = run_until_done(io_, client_->send(std::move(r)));
    ASSERT_FALSE(res) << name;
    EXPECT_EQ(res.error().kind, ErrorKind::invalid_input) << name;
  }
  for (std::string method : {"GE T", "GET\r\n", ""}) {
    auto res = send("/ok", method);
    ASSERT_FALSE(res) << method;
    EXPECT_EQ(res.error().kind, ErrorKind::invalid_input) << method;
  }
  EXPECT_EQ(connections(), 0);
}

}  // namespace
}  // namespace ba::net
