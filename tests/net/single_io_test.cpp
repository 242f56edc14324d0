// The usual shape of an integration test elsewhere in the project: server and client on one
// single-threaded io_context, the test coroutine stops the server, io_context::run() returns.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "net/http_client.hpp"
#include "net/http_server.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;

TEST(NetSingleIo, ServerAndClientShareOneIoContextAndRunReturns) {
  asio::io_context io;
  auto server = make_http_server(io, {}, [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.body = "hello " + req.body;
    co_return r;
  });
  auto port = server->start();
  ASSERT_TRUE(port) << port.error().message;
  ClientConfig cfg;
  cfg.use_proxy_env = false;
  auto client = make_http_client(io, cfg);

  std::vector<std::string> bodies;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          HttpRequest req;
          req.method = "POST";
          req.url = "http://127.0.0.1:" + std::to_string(*port) + "/";
          req.body = std::to_string(i);
          auto r = co_await client->send(req);
          bodies.push_back(r ? r->body : "error: " + r.error().message);
        }
        server->stop();  // the client's pooled connection is idle: closed at once
        done = true;
      },
      asio::detached);
  io.run();  // returns only once the server has fully stopped
  EXPECT_TRUE(done);
  EXPECT_EQ(bodies, (std::vector<std::string>{"hello 0", "hello 1", "hello 2"}));
}

}  // namespace
}  // namespace ba::net
