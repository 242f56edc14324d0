// Regression: the Result a client call returns must own its memory once perform() has returned.
// A GCC 12 miscompilation (a co_await inside ?: in perform()) destroyed the exchange result twice,
// so callers read a freed response body (heap-use-after-free / double free under ASan). It showed in
// tests/aws, whose shape these tests copy: the server on its own thread and io_context, the client on
// another io_context driven by co_spawn + use_future (or a detached wrapper coroutine), and bodies
// and header values longer than std::string's small-buffer size so that they live on the heap.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "net/http_client.hpp"
#include "raw_server.hpp"
#include "support/server_harness.hpp"
#include "tls_cert.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::RawServer;
using testing::run_until_done;
using testing::ServerThread;

// The exact shape of credentials_test.cpp's ServerTest.ClientReturnsLongBodyIntact: co_spawn + use_future
// (testing::run_until_done) and, below, a detached wrapper coroutine.

// The shape of credentials_test.cpp's run(): a wrapper coroutine moves the result out.
template <class T>
T run_detached(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(task)); }, asio::detached);
  io.restart();
  while (!out && io.run_one() > 0) {
  }
  if (!out) throw std::runtime_error("the io_context ran out of work before the request completed");
  return std::move(*out);
}

// Position-dependent content: a body that is freed, reused or cut short does not compare equal.
std::string body_of(std::size_t n) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s.push_back(kAlphabet[(i * 7 + i / kAlphabet.size()) % kAlphabet.size()]);
  return s;
}

const std::string kLongHeader = "a header value well past the small-string buffer";

// GET /<n> answers <n> bytes of body_of(n) with status 200; /404/<n> the same with status 404.
Handler sized_handler() {
  return [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    std::string_view t = req.target;
    ServerResponse r;
    if (t.starts_with("/404/")) {
      r.status = 404;
      t.remove_prefix(4);
    }
    r.body = body_of(std::stoul(std::string(t.substr(1))));
    r.headers.set("X-Long", kLongHeader);
    r.headers.set("X-Conn", std::to_string(req.connection_id));
    co_return r;
  };
}

HttpRequest get(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  return r;
}

ClientConfig no_proxy_config() {
  ClientConfig c;
  c.use_proxy_env = false;
  return c;
}

constexpr std::size_t kSizes[] = {35, 16, 15, 0, 1000, 16 * 1024 + 1, 200'000};

// Fresh connection first, then the pooled one, through both ways of driving the client.
void expect_intact_bodies(asio::io_context& io, HttpClient& client, const std::string& base) {
  std::set<std::string> conns;
  for (std::size_t n : kSizes) {
    auto a = run_until_done(io, client.send(get(base + std::to_string(n))));
    ASSERT_TRUE(a) << n << ": " << a.error().message;
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body, body_of(n)) << n;
    EXPECT_EQ(a->headers.get("x-long"), kLongHeader);
    conns.insert(std::string(a->headers.get("x-conn").value_or("-")));

    auto b = run_detached(io, client.send(get(base + std::to_string(n))));
    ASSERT_TRUE(b) << n << ": " << b.error().message;
    EXPECT_EQ(b->body, body_of(n)) << n;
    EXPECT_EQ(b->headers.get("x-long"), kLongHeader);
    conns.insert(std::string(b->headers.get("x-conn").value_or("-")));
  }
  EXPECT_EQ(conns.size(), 1u) << "every request after the first runs on the pooled connection";
}

TEST(HttpClientResult, BodiesFromAServerOnAnotherThreadSurviveTheReturn) {
  ServerThread srv({}, sized_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  expect_intact_bodies(io, *client, srv.url("/"));
}

TEST(HttpClientResult, TlsBodiesSurviveTheReturn) {
  testing::TempCertGuard cert{testing::make_self_signed_cert("test", "DNS:localhost,IP:127.0.0.1")};
  ServerOptions opts;
  opts.tls_cert_file = cert.cert.cert_file;
  opts.tls_key_file = cert.cert.key_file;
  ServerThread srv(opts, sized_handler());
  asio::io_context io;
  ClientConfig cfg = no_proxy_config();
  cfg.ca_file = cert.cert.cert_file;
  auto client = make_http_client(io, cfg);
  expect_intact_bodies(io, *client, "https://localhost:" + std::to_string(srv.port()) + "/");
}

TEST(HttpClientResult, BufferedErrorBodyOfAStreamingCallSurvivesTheReturn) {
  ServerThread srv({}, sized_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  int sink_calls = 0;
  BodySink sink = [&](std::string_view) -> asio::awaitable<bool> {
    ++sink_calls;
    co_return true;
  };
  auto r = run_until_done(io, client->send_streaming(get(srv.url("/404/5000")), sink));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, body_of(5000));
  EXPECT_EQ(sink_calls, 0);
}

// The error branch of perform() returns the exchange's Error the same way: its message is on the heap.
TEST(HttpClientResult, ErrorsSurviveTheReturn) {
  RawServer raw([](tcp::socket s) -> asio::awaitable<void> {
    std::string buf;
    auto tuple = asio::as_tuple(asio::use_awaitable);
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", tuple);
    if (ec) co_return;
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + body_of(5000);
    co_await asio::async_write(s, asio::buffer(head), tuple);  // then hang up mid-body
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  const std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  for (int i = 0; i < 2; ++i) {
    auto r = i == 0 ? run_until_done(io, client->send(get(url))) : run_detached(io, client->send(get(url)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::network);
    EXPECT_NE(r.error().message.find("reading the response body failed"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace ba::net
