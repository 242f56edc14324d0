// The server on several io_contexts (`serve --threads N`): the acceptor deals connections out in turn,
// and everything of one connection (its requests, its handler, what the handler awaits) runs on the
// thread of its context; stop() drains the connections of every context.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "net/http_server.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;

// `n` io_contexts, a thread each, kept running until the destructor.
struct Contexts {
  explicit Contexts(int n) {
    for (int i = 0; i < n; ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(ios.back()->get_executor());
    }
    for (auto& io : ios) threads.emplace_back([&io = *io] { io.run(); });
  }
  ~Contexts() {
    guards.clear();
    for (auto& t : threads) t.join();
  }
  std::vector<asio::io_context*> all() {
    std::vector<asio::io_context*> out;
    for (auto& io : ios) out.push_back(io.get());
    return out;
  }
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
};

// Four requests, one after the other (one keep-alive connection); counts the right answers.
asio::awaitable<void> four_requests(HttpClient& client, std::uint16_t port, int caller, int& ok) {
  for (int i = 0; i < 4; ++i) {
    const std::string body = std::to_string(caller) + "-" + std::to_string(i);
    HttpRequest req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    req.body = body;
    auto r = co_await client.send(std::move(req));
    if (r && r->status == 200 && r->body == body) ++ok;
  }
}

TEST(HttpServerThreads, ConnectionsAreDealtOutAndEachStaysOnOneThread) {
  Contexts contexts(3);
  std::mutex mu;
  std::map<std::uint64_t, std::set<std::thread::id>> threads_by_connection;
  auto server = make_http_server(contexts.all(), {}, [&](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    const auto before = std::this_thread::get_id();
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
    co_await t.async_wait(asio::use_awaitable);  // resumed on the connection's thread
    {
      std::lock_guard lock(mu);
      threads_by_connection[req.connection_id].insert(before);
      threads_by_connection[req.connection_id].insert(std::this_thread::get_id());
    }
    ServerResponse r;
    r.body = req.body;
    co_return r;
  });
  auto port = server->start();
  ASSERT_TRUE(port) << port.error().message;

  // 6 callers at once, each on a connection of its own (its own client), 4 requests each, in turn.
  asio::io_context io;
  int ok = 0;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int c = 0; c < 6; ++c) {
    clients.push_back(make_http_client(io, ClientConfig{.use_proxy_env = false}));
    asio::co_spawn(io, four_requests(*clients.back(), *port, c, ok), asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, 24);

  std::set<std::thread::id> used;
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(threads_by_connection.size(), 6u);
    for (const auto& [id, threads] : threads_by_connection) {
      EXPECT_EQ(threads.size(), 1u) << "connection " << id << " ran on more than one thread";
      used.insert(threads.begin(), threads.end());
    }
  }
  EXPECT_EQ(used.size(), 3u);  // 6 connections in turn over 3 contexts: every thread served two

  std::promise<void> drained;
  server->stop(std::chrono::milliseconds(0), [&] { drained.set_value(); });
  drained.get_future().wait();
}

// A request in flight on each context when stop() is called: each is let finish within the grace,
// then on_drained runs once, when the last connection, whichever context it is on, is gone.
TEST(HttpServerThreads, StopDrainsTheRequestsInFlightOnEveryContext) {
  Contexts contexts(2);
  std::atomic<int> started{0};
  std::promise<void> all_started;
  auto server = make_http_server(contexts.all(), {}, [&](ServerRequest&) -> asio::awaitable<ServerResponse> {
    if (++started == 4) all_started.set_value();
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
    co_await t.async_wait(asio::use_awaitable);
    ServerResponse r;
    r.body = "finished";
    co_return r;
  });
  auto port = server->start();
  ASSERT_TRUE(port) << port.error().message;

  asio::io_context io;
  std::vector<std::unique_ptr<HttpClient>> clients;
  int finished = 0;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(make_http_client(io, ClientConfig{.use_proxy_env = false}));
    asio::co_spawn(io, clients.back()->send(HttpRequest{.method = "GET", .url = "http://127.0.0.1:" + std::to_string(*port) + "/"}),
                   [&](std::exception_ptr, Result<HttpResponse> r) {
                     if (r && r->status == 200 && r->body == "finished") ++finished;
                   });
  }
  std::thread caller([&] { io.run(); });
  all_started.get_future().wait();
  std::promise<void> drained;
  int drained_calls = 0;
  server->stop(std::chrono::seconds(10), [&] {
    ++drained_calls;
    drained.set_value();
  });
  drained.get_future().wait();
  caller.join();
  EXPECT_EQ(finished, 4);
  EXPECT_EQ(drained_calls, 1);
}

}  // namespace
}  // namespace ba::net
