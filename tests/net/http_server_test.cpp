#include "net/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <future>

#include "support/server_harness.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using testing::ServerThread;

// A blocking client on one connection.
class RawConn {
 public:
  explicit RawConn(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> send(http::request<http::string_body> req) {
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    http::write(socket_, req);
    return read();
  }
  http::response<http::string_body> read() {
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }
  void write_raw(std::string_view raw) { asio::write(socket_, asio::buffer(raw.data(), raw.size())); }
  // True when the server has closed the connection (clean EOF or reset).
  bool closed_by_peer() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

http::request<http::string_body> make_req(http::verb verb, std::string target, std::string body = {}) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::move(body);
  return req;
}

Handler echo_handler() {
  return [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.headers.set("X-Method", req.method);
    r.headers.set("X-Path", req.path);
    r.headers.set("X-Query", req.query);
    r.headers.set("X-Remote", req.remote_address);
    r.headers.set("X-Echo-Header", std::string(req.headers.get("x-in").value_or("")));
    r.body = "echo:" + req.body;
    co_return r;
  };
}

TEST(HttpServer, GetAndPostRoundTrip) {
  ServerThread srv({}, echo_handler());
  RawConn c(srv.port());
  auto get = make_req(http::verb::get, "/hello/a%20b?x=1&y=2");
  get.set("X-In", "v1");
  auto r1 = c.send(std::move(get));
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_EQ(r1["X-Method"], "GET");
  EXPECT_EQ(r1["X-Path"], "/hello/a%20b");
  EXPECT_EQ(r1["X-Query"], "x=1&y=2");
  EXPECT_EQ(r1["X-Remote"], "127.0.0.1");
  EXPECT_EQ(r1["X-Echo-Header"], "v1");
  EXPECT_EQ(r1.body(), "echo:");

  RawConn c2(srv.port());
  auto r2 = c2.send(make_req(http::verb::post, "/chat", "{\"a\":1}"));
  EXPECT_EQ(r2.result_int(), 200);
  EXPECT_EQ(r2["X-Method"], "POST");
  EXPECT_EQ(r2.body(), "echo:{\"a\":1}");
  EXPECT_EQ(r2[http::field::content_length], std::to_string(r2.body().size()));
}

TEST(HttpServer, KeepAliveServesTwoRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  ServerThread srv({}, [&](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.body = req.path + "#" + std::to_string(++calls);
    co_return r;
  });
  RawConn c(srv.port());
  auto r1 = c.send(make_req(http::verb::get, "/one"));
  EXPECT_TRUE(r1.keep_alive());
  auto r2 = c.send(make_req(http::verb::post, "/two", "body"));
  EXPECT_EQ(r1.body(), "/one#1");
  EXPECT_EQ(r2.body(), "/two#2");
  EXPECT_TRUE(r2.keep_alive());
  // Pipelined: both requests written before reading.
  c.write_raw("GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body(), "/p1#3");
  EXPECT_EQ(c.read().body(), "/p2#4");
}

TEST(HttpServer, OversizedBodyGets413AndHandlerIsNotCalled) {
  std::atomic<int> calls{0};
  ServerOptions opts;
  opts.body_limit = 100;
  ServerThread srv(opts, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ++calls;
    co_return ServerResponse{};
  });
  RawConn c(srv.port());
  auto r = c.send(make_req(http::verb::post, "/x", std::string(1000, 'a')));
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_NE(r.body().find("\"type\":\"payload_too_large\""), std::string::npos) << r.body();
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(calls.load(), 0);

  // At the limit is fine.
  RawConn c2(srv.port());
  EXPECT_EQ(c2.send(make_req(http::verb::post, "/x", std::string(100, 'a'))).result_int(), 200);

  // A chunked body over the limit is rejected too.
  RawConn c3(srv.port());
  c3.write_raw("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  c3.write_raw("64\r\n" + std::string(100, 'b') + "\r\n64\r\n" + std::string(100, 'b') + "\r\n0\r\n\r\n");
  EXPECT_EQ(c3.read().result_int(), 413);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, CustomErrorResponseIsUsedForLimits) {
  ServerOptions opts;
  opts.body_limit = 10;
  opts.error_response = [](int status, std::string_view type, std::string_view) {
    ServerResponse r;
    r.status = status;
    r.body = "custom:" + std::string(type);
    return r;
  };
  ServerThread srv(opts, echo_handler());
  RawConn c(srv.port());
  auto r = c.send(make_req(http::verb::post, "/x", std::string(11, 'a')));
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(r.body(), "custom:payload_too_large");
}

TEST(HttpServer, MalformedRequestGets400) {
  ServerThread srv({}, echo_handler());
  RawConn c(srv.port());
  c.write_raw("GET / HTTP/1.1\r\nHost x\r\n\r\n");
  auto r = c.read();
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_NE(r.body().find("bad_request"), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, HostIsRequiredOnceAndWellFormedInHttp11) {
  ServerThread srv({}, echo_handler());
  // RFC 9112 section 3.2: no Host, two Hosts, or a Host that is not host[:port] -> 400, connection closed.
  for (std::string_view raw : {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                               "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                               "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"}) {
    RawConn c(srv.port());
    c.write_raw(raw);
    auto r = c.read();
    EXPECT_EQ(r.result_int(), 400) << raw;
    EXPECT_NE(r.body().find("Host"), std::string::npos) << r.body();
    EXPECT_TRUE(c.closed_by_peer()) << raw;
  }
  // Accepted: an empty Host (allowed when the target has no authority), a port, an IP literal, and
  // HTTP/1.0 without Host.
  for (std::string_view raw : {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
                               "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET / HTTP/1.0\r\n\r\n"}) {
    RawConn c(srv.port());
    c.write_raw(raw);
    EXPECT_EQ(c.read().result_int(), 200) << raw;
  }
}

TEST(HttpServer, OversizedHeaderGets431) {
  ServerOptions opts;
  opts.header_limit = 1024;
  ServerThread srv(opts, echo_handler());
  RawConn c(srv.port());
  auto req = make_req(http::verb::get, "/");
  req.set("X-Big", std::string(2000, 'h'));
  auto r = c.send(std::move(req));
  EXPECT_EQ(r.result_int(), 431);
}

TEST(HttpServer, StreamedChunksArriveInOrder) {
  ServerThread srv({}, [](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.headers.set("Content-Type", "text/event-stream");
    r.stream = [](BodyWriter& w) -> asio::awaitable<void> {
      for (std::string_view part : {"alpha", "beta", "gamma"}) {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
        if (!co_await w.write(part)) co_return;
      }
    };
    co_return r;
  });
  RawConn c(srv.port());
  auto req = make_req(http::verb::get, "/stream");
  req.set(http::field::host, "x");
  http::write(c.socket(), req);
  http::response_parser<http::string_body> parser;
  std::vector<std::string> chunks;
  auto on_header = [&](std::uint64_t, std::string_view, boost::system::error_code&) { chunks.emplace_back(); };
  auto on_body = [&](std::uint64_t, std::string_view body, boost::system::error_code&) -> std::size_t {
    chunks.back() += body;
    return body.size();
  };
  parser.on_chunk_header(on_header);
  parser.on_chunk_body(on_body);
  http::read(c.socket(), c.buffer(), parser);
  auto& res = parser.get();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], "alpha");
  EXPECT_EQ(chunks[1], "beta");
  EXPECT_EQ(chunks[2], "gamma");
  // Keep-alive after a streamed response.
  EXPECT_EQ(c.send(make_req(http::verb::get, "/again")).result_int(), 200);
}

// A streamed chunk far larger than the socket buffer: written partly at once, the rest asynchronously.
TEST(HttpServer, StreamedChunkLargerThanTheSocketBufferArrivesWhole) {
  std::string big(5 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('0' + (i / 4096) % 10);
  ServerThread srv({}, [&big](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [&big](BodyWriter& w) -> asio::awaitable<void> {
      co_await w.write("head;");
      co_await w.write(big);
      co_await w.write(";tail");
    };
    co_return r;
  });
  RawConn c(srv.port());
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto req = make_req(http::verb::get, "/s");
  req.set(http::field::host, "x");
  http::write(c.socket(), req);
  http::read(c.socket(), c.buffer(), parser);
  auto& r = parser.get();
  EXPECT_EQ(r.result_int(), 200);
  ASSERT_EQ(r.body().size(), big.size() + 10);
  EXPECT_TRUE(r.body() == "head;" + big + ";tail");
}

TEST(HttpServer, StreamedResponseToHttp10IsCloseDelimited) {
  ServerThread srv({}, [](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [](BodyWriter& w) -> asio::awaitable<void> {
      co_await w.write("one,");
      co_await w.write("two");
    };
    co_return r;
  });
  RawConn c(srv.port());
  c.write_raw("GET / HTTP/1.0\r\n\r\n");
  std::string all;
  boost::system::error_code ec;
  asio::read(c.socket(), asio::dynamic_buffer(all), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(all.find("chunked"), std::string::npos) << all;
  EXPECT_TRUE(all.ends_with("\r\n\r\none,two")) << all;
}

TEST(HttpServer, WriterReportsPeerGone) {
  std::promise<int> result;
  auto fut = result.get_future();
  ServerThread srv({}, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [&](BodyWriter& w) -> asio::awaitable<void> {
      std::string blob(16 * 1024, 'x');
      for (int i = 0; i < 100000; ++i) {
        if (!co_await w.write(blob)) {
          result.set_value(i);
          co_return;
        }
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
      }
      result.set_value(-1);
    };
    co_return r;
  });
  {
    RawConn c(srv.port());
    c.write_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[1024];
    c.socket().read_some(asio::buffer(buf));  // the stream has started
  }  // the client goes away
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_GT(fut.get(), 0);
}

TEST(HttpServer, AbortAndCloseConnection) {
  ServerThread srv({}, [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.abort_connection = req.path == "/abort";
    r.close_connection = req.path == "/close";
    r.body = "ok";
    co_return r;
  });
  RawConn a(srv.port());
  a.write_raw("GET /abort HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(a.closed_by_peer());

  RawConn c(srv.port());
  auto r = c.send(make_req(http::verb::get, "/close"));
  EXPECT_EQ(r.body(), "ok");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(r[http::field::connection], "close");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, HandlerExceptionGives500) {
  ServerThread srv({}, [](ServerRequest&) -> asio::awaitable<ServerResponse> {
    throw std::runtime_error("boom");
    co_return ServerResponse{};
  });
  RawConn c(srv.port());
  EXPECT_EQ(c.send(make_req(http::verb::get, "/")).result_int(), 500);
}

TEST(HttpServer, StopClosesIdleLetsInFlightFinishAndEndsRun) {
  std::promise<void> in_handler;
  auto in_handler_f = in_handler.get_future();
  ServerThread srv({}, [&](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    if (req.path == "/slow") {
      in_handler.set_value();
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
      co_await t.async_wait(asio::use_awaitable);
      r.body = "slow done";
    }
    co_return r;
  });
  RawConn idle(srv.port());
  EXPECT_EQ(idle.send(make_req(http::verb::get, "/")).result_int(), 200);  // now idle, kept alive

  RawConn busy(srv.port());
  auto slow = make_req(http::verb::get, "/slow");
  slow.set(http::field::host, "x");
  http::write(busy.socket(), slow);
  in_handler_f.wait();

  auto stopped = std::async(std::launch::async, [&] { srv.stop_and_join(std::chrono::seconds(30)); });
  EXPECT_TRUE(idle.closed_by_peer());
  auto r = busy.read();
  EXPECT_EQ(r.body(), "slow done");
  EXPECT_FALSE(r.keep_alive());
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)), std::future_status::ready);  // io.run() returned
  boost::system::error_code ec;
  tcp::socket s(idle.socket().get_executor());
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), srv.port()), ec);
  EXPECT_TRUE(ec);  // no longer accepting
}

TEST(HttpServer, StopGraceClosesStuckRequests) {
  std::promise<void> in_handler;
  auto in_handler_f = in_handler.get_future();
  ServerThread srv({}, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.stream = [&](BodyWriter& w) -> asio::awaitable<void> {
      in_handler.set_value();
      while (co_await w.write("tick")) {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
      }
    };
    co_return r;
  });
  RawConn c(srv.port());
  c.write_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  in_handler_f.wait();
  auto stopped = std::async(std::launch::async, [&] { srv.stop_and_join(std::chrono::milliseconds(20)); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  std::string all;
  boost::system::error_code ec;
  asio::read(c.socket(), asio::dynamic_buffer(all), ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(all.find("0\r\n\r\n"), std::string::npos);  // never completed
}

// The per-connection read deadline (http_server.cpp, Deadline): a request that stops arriving is cut off
// after read_timeout of silence, and the handler is never called.
TEST(HttpServer, ReadDeadlineClosesAStalledRequest) {
  ServerOptions opts;
  opts.read_timeout = std::chrono::seconds(1);
  opts.idle_timeout = std::chrono::seconds(1);
  std::atomic<int> calls{0};
  ServerThread srv(opts, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    ++calls;
    co_return ServerResponse{};
  });
  RawConn c(srv.port());
  c.write_raw("POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_TRUE(c.closed_by_peer());  // blocks until the server's deadline closes the connection
  EXPECT_EQ(calls.load(), 0);
}

// No deadline while the handler runs (a model call takes seconds): a handler slower than both timeouts is
// answered, and the connection then serves another request, whose deadline starts afresh; an idle
// connection is closed after idle_timeout.
TEST(HttpServer, DeadlineSparesTheHandlerAndRestartsWithEachRequest) {
  ServerOptions opts;
  opts.read_timeout = std::chrono::seconds(1);
  opts.idle_timeout = std::chrono::seconds(1);
  ServerThread srv(opts, [&](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    if (req.path == "/slow") {  // a slow upstream, as a model call
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(2500));
      co_await t.async_wait(asio::use_awaitable);
    }
    ServerResponse r;
    r.body = req.path;
    co_return r;
  });
  RawConn c(srv.port());
  auto r1 = c.send(make_req(http::verb::get, "/slow"));
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_EQ(r1.body(), "/slow");
  auto r2 = c.send(make_req(http::verb::get, "/fast"));
  EXPECT_EQ(r2.result_int(), 200);
  EXPECT_EQ(r2.body(), "/fast");
  EXPECT_TRUE(c.closed_by_peer());  // idle: closed by the deadline
}

}  // namespace
}  // namespace ba::net
