#include "net/http_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "raw_server.hpp"
#include "support/sanitizers.hpp"
#include "support/server_harness.hpp"
#include "tls_cert.hpp"
#include "util/encoding.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::RawServer;
using testing::run_until_done;
using testing::ServerThread;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);


HttpRequest get(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  return r;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

ClientConfig no_proxy_config() {
  ClientConfig c;
  c.use_proxy_env = false;
  return c;
}

Handler echo_handler() {
  return [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.headers.set("X-Method", req.method);
    r.headers.set("X-Target", req.target);
    r.headers.set("X-Host", std::string(req.headers.get("host").value_or("")));
    r.headers.set("X-UA", std::string(req.headers.get("user-agent").value_or("")));
    r.headers.set("X-CL", std::string(req.headers.get("content-length").value_or("-")));
    r.headers.set("X-Custom", std::string(req.headers.get("x-custom").value_or("")));
    r.headers.set("X-Conn", std::to_string(req.connection_id));
    r.body = "echo:" + req.body;
    co_return r;
  };
}

TEST(HttpClient, GetAndPost) {
  ServerThread srv({}, echo_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());

  auto req = get(srv.url("/a/b?x=1&y=%20"));
  req.headers.set("X-Custom", "c1");
  auto r = run_until_done(io, client->send(req));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("x-method"), "GET");
  EXPECT_EQ(r->headers.get("x-target"), "/a/b?x=1&y=%20");
  EXPECT_EQ(r->headers.get("x-host"), "127.0.0.1:" + std::to_string(srv.port()));
  EXPECT_EQ(r->headers.get("x-ua"), "bedrock-agent/0.1");
  EXPECT_EQ(r->headers.get("x-custom"), "c1");
  EXPECT_EQ(r->headers.get("x-cl"), "-");
  EXPECT_EQ(r->body, "echo:");

  HttpRequest post;
  post.method = "POST";
  post.url = srv.url("/chat");
  post.headers.set("User-Agent", "mine/1");
  post.headers.set("Content-Length", "999");  // wrong on purpose: the client sets the real one
  post.body = "{\"q\":\"hi\"}";
  auto p = run_until_done(io, client->send(post));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->headers.get("x-method"), "POST");
  EXPECT_EQ(p->headers.get("x-ua"), "mine/1");
  EXPECT_EQ(p->headers.get("x-cl"), std::to_string(post.body.size()));
  EXPECT_EQ(p->body, "echo:{\"q\":\"hi\"}");

  HttpRequest empty_post;
  empty_post.method = "POST";
  empty_post.url = srv.url("/");
  auto e = run_until_done(io, client->send(empty_post));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->headers.get("x-cl"), "0");
}

// Bodies far larger than a socket buffer: the write that does not wait (write_now.hpp) takes what the
// socket accepts and the async write sends the rest, on both sides; every byte arrives in order, twice,
// on one kept-alive connection.
TEST(HttpClient, BodiesLargerThanTheSocketBufferGoBothWaysIntact) {
  ServerOptions options;
  options.body_limit = 16 * 1024 * 1024;
  ServerThread srv(options, echo_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  std::string body(6 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7919) % 26);
  for (int round = 0; round < 2; ++round) {
    HttpRequest post;
    post.method = "POST";
    post.url = srv.url("/big");
    post.body = body;
    RequestOptions opts;
    opts.body_limit = 16 * 1024 * 1024;
    auto r = run_until_done(io, client->send(post, opts));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->body.size(), body.size() + 5);
    EXPECT_TRUE(r->body == "echo:" + body);
    EXPECT_EQ(r->headers.get("x-conn"), "1");
  }
}

TEST(HttpClient, InvalidUrlIsInvalidInput) {
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  auto r = run_until_done(io, client->send(get("ftp://127.0.0.1/")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_input);
}

TEST(HttpClient, PoolReusesOneConnectionForSequentialRequests) {
  ServerThread srv({}, echo_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  std::set<std::string> conns;
  for (int i = 0; i < 5; ++i) {
    auto r = run_until_done(io, client->send(get(srv.url("/n"))));
    ASSERT_TRUE(r) << r.error().message;
    conns.insert(std::string(*r->headers.get("x-conn")));
  }
  EXPECT_EQ(conns.size(), 1u);

  // A pool of size zero never reuses.
  ClientConfig cfg = no_proxy_config();
  cfg.max_idle_per_origin = 0;
  auto unpooled = make_http_client(io, cfg);
  std::set<std::string> conns2;
  for (int i = 0; i < 3; ++i) {
    auto r = run_until_done(io, unpooled->send(get(srv.url("/n"))));
    ASSERT_TRUE(r);
    conns2.insert(std::string(*r->headers.get("x-conn")));
  }
  EXPECT_EQ(conns2.size(), 3u);
}

TEST(HttpClient, ServerClosingConnectionIsNotReused) {
  ServerThread srv({}, [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.close_connection = true;
    r.body = std::to_string(req.connection_id);
    co_return r;
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  auto a = run_until_done(io, client->send(get(srv.url())));
  auto b = run_until_done(io, client->send(get(srv.url())));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->body, b->body);
}

Handler chunk_handler(std::vector<std::string> parts, int status = 200) {
  return [parts, status](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.status = status;
    r.stream = [parts](BodyWriter& w) -> asio::awaitable<void> {
      for (const auto& p : parts) {
        if (!co_await w.write(p)) co_return;
        co_await sleep_for(std::chrono::milliseconds(2));
      }
    };
    co_return r;
  };
}

TEST(HttpClient, ChunkedResponseIsBuffered) {
  ServerThread srv({}, chunk_handler({"alpha", "beta", "gamma"}));
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  auto r = run_until_done(io, client->send(get(srv.url())));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->headers.get("transfer-encoding"), "chunked");
  EXPECT_EQ(r->body, "alphabetagamma");
  // The connection goes back to the pool after a chunked body.
  auto again = run_until_done(io, client->send(get(srv.url())));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "alphabetagamma");
}

TEST(HttpClient, StreamingSinkGetsChunksInOrderAsTheyArrive) {
  std::atomic<int> acked{0};
  std::atomic<bool> server_waited_too_long{false};
  const std::vector<std::string> parts = {"one ", "two ", "three"};
  ServerThread srv({}, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [&](BodyWriter& w) -> asio::awaitable<void> {
      for (int i = 0; i < static_cast<int>(parts.size()); ++i) {
        if (!co_await w.write(parts[i])) co_return;
        // The next chunk is only produced once the client has seen this one: a buffering client
        // would leave us waiting here.
        int spins = 0;
        while (acked.load() <= i && ++spins < 5000) co_await sleep_for(std::chrono::milliseconds(1));
        if (acked.load() <= i) server_waited_too_long = true;
      }
    };
    co_return r;
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  std::string received;
  int calls = 0;
  BodySink sink = [&](std::string_view chunk) -> asio::awaitable<bool> {
    received += chunk;
    ++calls;
    acked = static_cast<int>(std::count(received.begin(), received.end(), ' ') +
                             (received.ends_with("three") ? 1 : 0));
    co_return true;
  };
  auto r = run_until_done(io, client->send_streaming(get(srv.url()), sink));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(received, "one two three");
  EXPECT_GE(calls, 3);
  EXPECT_FALSE(server_waited_too_long.load());
}

TEST(HttpClient, StreamingSinkFalseCancelsAndClosesTheConnection) {
  std::promise<void> writer_saw_close;
  auto closed = writer_saw_close.get_future();
  ServerThread srv({}, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [&](BodyWriter& w) -> asio::awaitable<void> {
      std::string blob(4096, 'z');
      for (int i = 0; i < 100000; ++i) {
        if (!co_await w.write(blob)) {
          writer_saw_close.set_value();
          co_return;
        }
        co_await sleep_for(std::chrono::milliseconds(1));
      }
    };
    co_return r;
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  int calls = 0;
  BodySink sink = [&](std::string_view) -> asio::awaitable<bool> { co_return ++calls < 2; };
  auto r = run_until_done(io, client->send_streaming(get(srv.url()), sink));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(closed.wait_for(std::chrono::seconds(60)), std::future_status::ready);
}

TEST(HttpClient, StreamingBuffersNon2xxBodies) {
  ServerThread srv({}, [](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.status = 503;
    r.body = "{\"message\":\"busy\"}";
    co_return r;
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  int calls = 0;
  BodySink sink = [&](std::string_view) -> asio::awaitable<bool> {
    ++calls;
    co_return true;
  };
  auto r = run_until_done(io, client->send_streaming(get(srv.url()), sink));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "{\"message\":\"busy\"}");
  EXPECT_EQ(calls, 0);
}

TEST(HttpClient, ResponseBodyLimit) {
  ServerThread srv({}, [](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.body = std::string(1000, 'x');
    co_return r;
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  RequestOptions opts;
  opts.body_limit = 100;
  auto r = run_until_done(io, client->send(get(srv.url()), opts));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::too_large);
  opts.body_limit = 1000;
  EXPECT_TRUE(run_until_done(io, client->send(get(srv.url()), opts)));
}

// A server that reads requests and never answers (until released at the end of the test).
struct SilentServer {
  std::atomic<bool> release{false};
  ServerThread srv{{}, [this](ServerRequest&) -> asio::awaitable<ServerResponse> {
                     while (!release.load()) co_await sleep_for(std::chrono::milliseconds(5));
                     co_return ServerResponse{};
                   }};
  ~SilentServer() { release = true; }
};

TEST(HttpClient, ReadTimeoutWhenServerNeverAnswers) {
  SilentServer silent;
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  RequestOptions opts;
  opts.read_timeout = std::chrono::milliseconds(100);
  auto r = run_until_done(io, client->send(get(silent.srv.url()), opts));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::timeout);
  EXPECT_TRUE(r.error().retryable);
}

TEST(HttpClient, DeadlineBoundsTheWholeRequest) {
  SilentServer silent;
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  RequestOptions opts;
  opts.read_timeout = std::chrono::milliseconds(600'000);
  opts.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  auto r = run_until_done(io, client->send(get(silent.srv.url()), opts));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::timeout);
  EXPECT_NE(r.error().message.find("deadline"), std::string::npos) << r.error().message;

  opts.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  auto past = run_until_done(io, client->send(get(silent.srv.url()), opts));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::timeout);
}

TEST(HttpClient, ConnectionRefusedIsNetworkError) {
  std::uint16_t port;
  {
    asio::io_context tmp;
    tcp::acceptor a(tmp, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  auto r = run_until_done(io, client->send(get("http://127.0.0.1:" + std::to_string(port) + "/")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_TRUE(r.error().retryable);
}

// Takes every file descriptor a lowered limit allows; all given back (and the limit restored) by release()
// or at the end of the scope, however the test ends.
// The sanitizers' runtime needs descriptors of its own (UBSan's vptr check probes memory through a pipe):
// with none left it reports false errors, so the squeeze tests run in the plain build only.
constexpr bool kSanitized = ba::test::kAddressSanitizer;

struct Squeeze {
  rlimit saved{};
  std::vector<int> held;
  Squeeze() {
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0) throw std::runtime_error("getrlimit");
    rlimit low = saved;
    low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 256);
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) throw std::runtime_error("setrlimit");
    for (int fd; (fd = ::dup(2)) >= 0;) held.push_back(fd);
  }
  void release() {
    for (int fd : held) ::close(fd);
    held.clear();
    setrlimit(RLIMIT_NOFILE, &saved);
  }
  ~Squeeze() { release(); }
};

// Out of file descriptors (10,000 chats hold 20,000 sockets) for longer than the connect budget: the error
// says so, instead of the "operation canceled" a range connect reports when it cannot open the socket.
TEST(HttpClient, NoFileDescriptorLeftIsReportedAsSuch) {
  if (kSanitized) GTEST_SKIP() << "the sanitizer runtime needs free descriptors";
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  { tcp::socket warm(io); }  // the reactor's own descriptors (epoll, eventfd, timerfd) exist before the squeeze
  Squeeze squeeze;
  RequestOptions options;
  options.connect_timeout = std::chrono::milliseconds(150);
  auto r = run_until_done(io, client->send(get("http://127.0.0.1:9/"), options));
  squeeze.release();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_NE(r.error().message.find("Too many open files"), std::string::npos) << r.error().message;
}

// Descriptors freed while the connect waits for one (chats finishing): the call goes through.
TEST(HttpClient, ConnectWaitsForAFileDescriptorWithinItsBudget) {
  if (kSanitized) GTEST_SKIP() << "the sanitizer runtime needs free descriptors";
  ServerThread server({}, echo_handler());
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  { tcp::socket warm(io); }
  auto squeeze = std::make_unique<Squeeze>();
  asio::steady_timer later(io, std::chrono::milliseconds(100));
  later.async_wait([&](boost::system::error_code) { squeeze->release(); });
  auto r = run_until_done(io, client->send(get(server.url("/after-the-wait"))));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("x-target").value_or(""), "/after-the-wait");
}

TEST(HttpClient, TruncatedBodyIsNetworkError) {
  RawServer raw([](tcp::socket s) -> asio::awaitable<void> {
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
    if (ec) co_return;
    std::string_view partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a bit";
    co_await asio::async_write(s, asio::buffer(partial.data(), partial.size()), kTuple);
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  auto r = run_until_done(io, client->send(get("http://127.0.0.1:" + std::to_string(raw.port()) + "/")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_TRUE(r.error().retryable);
}

// A body of known length is read straight into the response: arriving in pieces, after a HEAD whose
// Content-Length has no body behind it, on one kept-alive connection.
TEST(HttpClient, KnownLengthBodiesInPiecesAndHeadOnOneConnection) {
  RawServer raw([](tcp::socket s) -> asio::awaitable<void> {
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
    if (ec) co_return;
    buf.erase(0, n);
    std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
    co_await asio::async_write(s, asio::buffer(head.data(), head.size()), kTuple);
    std::tie(ec, n) = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
    if (ec) co_return;
    std::string_view first = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello";
    co_await asio::async_write(s, asio::buffer(first.data(), first.size()), kTuple);
    asio::steady_timer pause(s.get_executor(), std::chrono::milliseconds(20));
    co_await pause.async_wait(kTuple);
    std::string_view rest = " world";
    co_await asio::async_write(s, asio::buffer(rest.data(), rest.size()), kTuple);
    std::tie(ec, n) = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  const std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  auto h = run_until_done(io, client->send(HttpRequest{.method = "HEAD", .url = url}));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->headers.get("content-length"), "11");
  EXPECT_EQ(h->body, "");
  auto g = run_until_done(io, client->send(get(url)));
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->body, "hello world");
  EXPECT_EQ(raw.connections(), 1);
}

// Answers the first request on each connection, then reads the second one and hangs up without a word:
// a kept-alive connection the server dropped just as it was reused.
asio::awaitable<void> answer_once_then_drop(tcp::socket s) {
  std::string buf;
  auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
  if (ec) co_return;
  std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(ok.data(), ok.size()), kTuple);
  if (wec) co_return;
  buf.erase(0, n);
  co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
}

TEST(HttpClient, DeadPooledConnectionIsRetriedOnlyWhenSafe) {
  RawServer raw(answer_once_then_drop);
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  const std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  auto first = run_until_done(io, client->send(get(url)));
  ASSERT_TRUE(first) << first.error().message;
  auto second = run_until_done(io, client->send(get(url)));  // pooled conn dies: GET is retried on a fresh one
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->body, "ok");
  EXPECT_EQ(raw.connections(), 2);

  HttpRequest post;
  post.method = "POST";
  post.url = url;
  post.body = "not idempotent";
  auto third = run_until_done(io, client->send(post));  // pooled conn dies after the POST was sent: no retry
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().kind, ErrorKind::network);
  EXPECT_TRUE(third.error().retryable);
  EXPECT_EQ(raw.connections(), 2);
}

TEST(HttpClient, PooledConnectionClosedByServerIsNotUsedForPost) {
  std::promise<void> first_closed;
  auto closed = first_closed.get_future();
  std::atomic<int> served{0};
  RawServer raw([&](tcp::socket s) -> asio::awaitable<void> {
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
    if (ec) co_return;
    std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    co_await asio::async_write(s, asio::buffer(ok.data(), ok.size()), kTuple);
    if (++served == 1) {
      boost::system::error_code ignored;
      s.shutdown(tcp::socket::shutdown_both, ignored);
      s.close();  // idle keep-alive connection closed by the server
      first_closed.set_value();
    } else {
      co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n\r\n", kTuple);
    }
  });
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());
  const std::string url = "http://127.0.0.1:" + std::to_string(raw.port()) + "/";
  ASSERT_TRUE(run_until_done(io, client->send(get(url))));
  closed.wait();
  HttpRequest post;
  post.method = "POST";
  post.url = url;
  post.body = "x";
  auto r = run_until_done(io, client->send(post));  // the dead pooled connection is noticed before sending
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(raw.connections(), 2);
}

// ---- TLS ----

struct TlsPeer {
  testing::TempCertGuard cert;
  std::unique_ptr<ServerThread> srv;
  explicit TlsPeer(const std::string& sans) : cert{testing::make_self_signed_cert("test", sans)} {
    ServerOptions opts;
    opts.tls_cert_file = cert.cert.cert_file;
    opts.tls_key_file = cert.cert.key_file;
    srv = std::make_unique<ServerThread>(opts, echo_handler());
  }
  std::string url(std::string_view host) const {
    return "https://" + std::string(host) + ":" + std::to_string(srv->port()) + "/secure";
  }
};

TEST(HttpClient, HttpsWithTrustedCertificate) {
  TlsPeer peer("DNS:localhost,IP:127.0.0.1");
  asio::io_context io;
  ClientConfig cfg = no_proxy_config();
  cfg.ca_file = peer.cert.cert.cert_file;
  auto client = make_http_client(io, cfg);
  for (std::string host : {"localhost", "127.0.0.1"}) {
    auto r = run_until_done(io, client->send(get(peer.url(host))));
    ASSERT_TRUE(r) << host << ": " << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers.get("x-target"), "/secure");
  }
  // Pooled TLS connections are reused.
  std::set<std::string> conns;
  for (int i = 0; i < 3; ++i) {
    auto r = run_until_done(io, client->send(get(peer.url("localhost"))));
    ASSERT_TRUE(r);
    conns.insert(std::string(*r->headers.get("x-conn")));
  }
  EXPECT_EQ(conns.size(), 1u);
}

TEST(HttpClient, HttpsFailsWithoutTrustedCertificate) {
  TlsPeer peer("DNS:localhost,IP:127.0.0.1");
  asio::io_context io;
  auto client = make_http_client(io, no_proxy_config());  // system store only
  auto r = run_until_done(io, client->send(get(peer.url("localhost"))));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network);

  ClientConfig insecure = no_proxy_config();
  insecure.verify_tls = false;
  auto lax = make_http_client(io, insecure);
  auto ok = run_until_done(io, lax->send(get(peer.url("localhost"))));
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST(HttpClient, HttpsFailsOnHostNameMismatch) {
  TlsPeer peer("DNS:wrong.test");
  asio::io_context io;
  ClientConfig cfg = no_proxy_config();
  cfg.ca_file = peer.cert.cert.cert_file;
  auto client = make_http_client(io, cfg);
  for (std::string host : {"localhost", "127.0.0.1"}) {
    auto r = run_until_done(io, client->send(get(peer.url(host))));
    ASSERT_FALSE(r) << host;
    EXPECT_EQ(r.error().kind, ErrorKind::network);
  }
  // Same trust anchor, verification off: succeeds, so the failure above is the host name check.
  cfg.verify_tls = false;
  auto lax = make_http_client(io, cfg);
  EXPECT_TRUE(run_until_done(io, lax->send(get(peer.url("localhost")))));
}

// ---- proxies ----

std::function<std::optional<std::string>(std::string_view)> fake_env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct ProxyLog {
  std::mutex mu;
  std::vector<std::string> lines;  // request line targets / CONNECT authorities
  std::vector<std::string> auth;   // Proxy-Authorization values
  void add(std::string line, std::string a) {
    std::lock_guard lock(mu);
    lines.push_back(std::move(line));
    auth.push_back(std::move(a));
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return lines.size();
  }
};

TEST(HttpClient, HttpProxyGetsAbsoluteFormAndCredentials) {
  ProxyLog log;
  ServerThread proxy({}, [&](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    log.add(req.target, std::string(req.headers.get("proxy-authorization").value_or("")));
    ServerResponse r;
    r.body = "via proxy";
    co_return r;
  });
  ServerThread origin({}, echo_handler());
  asio::io_context io;
  ClientConfig cfg;
  cfg.getenv = fake_env({{"HTTP_PROXY", "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port())},
                         {"NO_PROXY", "other.test, .example.internal"}});
  auto client = make_http_client(io, cfg);

  auto r = run_until_done(io, client->send(get("http://api.example.com:8080/v1/x?q=1")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "via proxy");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.lines[0], "http://api.example.com:8080/v1/x?q=1");
  EXPECT_EQ(log.auth[0], "Basic " + base64_encode("user:p@ss"));

  // NO_PROXY suffix match: goes direct (and fails to resolve), the proxy sees nothing.
  (void)run_until_done(io, client->send(get("http://svc.example.internal/")));
  EXPECT_EQ(log.size(), 1u);

  // use_proxy_env=false ignores the variables.
  cfg.use_proxy_env = false;
  auto plain = make_http_client(io, cfg);
  auto o = run_until_done(io, plain->send(get(origin.url("/direct"))));
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->headers.get("x-target"), "/direct");
  EXPECT_EQ(log.size(), 1u);

  // NO_PROXY=* bypasses everything; lower-case names work too.
  ClientConfig star;
  star.getenv = fake_env({{"http_proxy", "127.0.0.1:" + std::to_string(proxy.port())}, {"no_proxy", "*"}});
  auto bypass = make_http_client(io, star);
  auto s = run_until_done(io, bypass->send(get(origin.url("/star"))));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->headers.get("x-target"), "/star");
  EXPECT_EQ(log.size(), 1u);

  // Proxy without a scheme, exact NO_PROXY host with a non-matching port: proxied.
  ClientConfig port_cfg;
  port_cfg.getenv = fake_env({{"http_proxy", "127.0.0.1:" + std::to_string(proxy.port())}, {"no_proxy", "127.0.0.1:1"}});
  auto via = make_http_client(io, port_cfg);
  auto v = run_until_done(io, via->send(get(origin.url("/p"))));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->body, "via proxy");
  EXPECT_EQ(log.size(), 2u);
}

// The proxy variables are read when the client is made, not on every request (they were four getenv
// calls and four strings per request on the io threads); a client made later sees a changed value.
TEST(HttpClient, ProxyVariablesAreReadOnceWhenTheClientIsMade) {
  ServerThread origin({}, echo_handler());
  asio::io_context io;
  int reads = 0;
  std::string no_proxy = "*";
  ClientConfig cfg;
  cfg.getenv = [&](std::string_view name) -> std::optional<std::string> {
    ++reads;
    if (name == "NO_PROXY") return no_proxy;
    if (name == "HTTP_PROXY") return "http://127.0.0.1:1";  // refuses: a request sent through it fails
    return std::nullopt;
  };
  auto client = make_http_client(io, cfg);
  const int at_start = reads;
  EXPECT_GT(at_start, 0);
  for (int i = 0; i < 3; ++i) {
    auto r = run_until_done(io, client->send(get(origin.url("/direct"))));
    ASSERT_TRUE(r) << r.error().message;  // NO_PROXY=* as read at the start: direct
  }
  EXPECT_EQ(reads, at_start);

  no_proxy = "";  // a new client reads the new value: through the (refusing) proxy
  auto later = make_http_client(io, cfg);
  EXPECT_FALSE(run_until_done(io, later->send(get(origin.url("/direct")))));
  auto first = run_until_done(io, client->send(get(origin.url("/direct"))));
  EXPECT_TRUE(first) << first.error().message;
}

asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, 8192> buf;
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), kTuple);
    if (ec) break;
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), kTuple);
    if (wec) break;
  }
  boost::system::error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
}

// A CONNECT-only proxy: logs the request line, dials the target and relays bytes both ways.
RawServer::Session connect_proxy(ProxyLog& log) {
  return [&log](tcp::socket s) -> asio::awaitable<void> {
    auto client = std::make_shared<tcp::socket>(std::move(s));
    std::string head;
    auto [ec, n] = co_await asio::async_read_until(*client, asio::dynamic_buffer(head), "\r\n\r\n", kTuple);
    if (ec) co_return;
    std::string line = head.substr(0, head.find("\r\n"));
    std::string auth;
    if (auto p = head.find("Proxy-Authorization: "); p != std::string::npos)
      auth = head.substr(p + 21, head.find("\r\n", p) - p - 21);
    log.add(line, auth);
    if (!line.starts_with("CONNECT ")) co_return;
    std::string authority = line.substr(8, line.find(' ', 8) - 8);
    auto colon = authority.rfind(':');
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, results] =
        co_await resolver.async_resolve(authority.substr(0, colon), authority.substr(colon + 1), kTuple);
    if (rec) co_return;
    auto upstream = std::make_shared<tcp::socket>(co_await asio::this_coro::executor);
    auto [cec, ep] = co_await asio::async_connect(*upstream, results, kTuple);
    if (cec) co_return;
    std::string_view ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    co_await asio::async_write(*client, asio::buffer(ok.data(), ok.size()), kTuple);
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, pump(client, upstream), asio::detached);
    asio::co_spawn(ex, pump(upstream, client), asio::detached);
  };
}

TEST(HttpClient, HttpsThroughConnectProxy) {
  TlsPeer peer("DNS:localhost,IP:127.0.0.1");
  ProxyLog log;
  RawServer proxy(connect_proxy(log));
  asio::io_context io;
  ClientConfig cfg;
  cfg.ca_file = peer.cert.cert.cert_file;
  cfg.getenv = fake_env({{"HTTPS_PROXY", "http://u:pw@127.0.0.1:" + std::to_string(proxy.port())},
                         {"HTTP_PROXY", "http://127.0.0.1:1"}});
  auto client = make_http_client(io, cfg);
  auto r = run_until_done(io, client->send(get(peer.url("localhost"))));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->headers.get("x-target"), "/secure");  // origin-form inside the tunnel
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.lines[0], "CONNECT localhost:" + std::to_string(peer.srv->port()) + " HTTP/1.1");
  EXPECT_EQ(log.auth[0], "Basic " + base64_encode("u:pw"));

  // The tunnel is pooled like any connection.
  auto again = run_until_done(io, client->send(get(peer.url("localhost"))));
  ASSERT_TRUE(again);
  EXPECT_EQ(proxy.connections(), 1);

  // NO_PROXY: straight to the origin.
  ClientConfig direct_cfg = cfg;
  direct_cfg.getenv = fake_env({{"HTTPS_PROXY", "http://127.0.0.1:" + std::to_string(proxy.port())},
                                {"NO_PROXY", "localhost"}});
  auto direct = make_http_client(io, direct_cfg);
  ASSERT_TRUE(run_until_done(io, direct->send(get(peer.url("localhost")))));
  EXPECT_EQ(proxy.connections(), 1);

  // A proxy that refuses CONNECT is a network error.
  ProxyLog log2;
  RawServer refusing([&log2](tcp::socket s) -> asio::awaitable<void> {
    std::string head;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(head), "\r\n\r\n", kTuple);
    if (ec) co_return;
    log2.add(head.substr(0, head.find("\r\n")), "");
    std::string_view no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    co_await asio::async_write(s, asio::buffer(no.data(), no.size()), kTuple);
  });
  ClientConfig refused_cfg = cfg;
  refused_cfg.getenv = fake_env({{"HTTPS_PROXY", "http://127.0.0.1:" + std::to_string(refusing.port())}});
  auto refused = make_http_client(io, refused_cfg);
  auto f = run_until_done(io, refused->send(get(peer.url("localhost"))));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().kind, ErrorKind::network);
  EXPECT_EQ(f.error().http_status, 403);
  EXPECT_EQ(log2.size(), 1u);
}

}  // namespace
}  // namespace ba::net
