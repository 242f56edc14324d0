#pragma once
// Test helpers: a server running on its own thread and a blocking raw HTTP client for it.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "net/http_server.hpp"

namespace ba::net::testing {

// Runs `task` on `io` (this thread) until it completes; rethrows what it throws.
template <class T>
T run_until_done(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  auto fut = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.restart();
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (io.run_one() == 0) io.restart();
  }
  return fut.get();
}

// Starts `handler` on 127.0.0.1:0 with an io_context running on a background thread.
// The destructor stops the server (grace 0) and joins the thread.
class ServerThread {
 public:
  ServerThread(ServerOptions options, Handler handler) {
    server_ = make_http_server(io_, std::move(options), std::move(handler));
    auto port = server_->start();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ServerThread() {
    server_->stop(std::chrono::milliseconds(0));
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }
  HttpServer& server() { return *server_; }
  boost::asio::io_context& io() { return io_; }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  // Stops the server and waits until io_context::run returns.
  void stop_and_join(std::chrono::milliseconds grace) {
    server_->stop(grace);
    if (thread_.joinable()) thread_.join();
  }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace ba::net::testing
