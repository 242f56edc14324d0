#pragma once
// A fault-injecting TCP/HTTP proxy for integration tests, in front of dynalite or s3rver (which cannot be
// told to fail): on loopback, on its own thread. In `pass` mode it relays bytes both ways; on command it
// answers every request with a 500, a throttle or an expired-token error in the service's own format
// (DynamoDB JSON 1.0 or S3 REST-XML), freezes (accepts, reads, never answers), or drops the connection
// once the request arrived. Changing the mode closes every open connection, so the next request of a
// keep-alive client sees the new mode at once.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace ba::test {

class FaultProxy {
 public:
  enum class Flavor { dynamodb, s3 };
  enum class Mode { pass, error500, throttle, expired_token, freeze, drop };

  FaultProxy(int upstream_port, Flavor flavor)
      : upstream_port_(upstream_port),
        flavor_(flavor),
        acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FaultProxy() {
    boost::asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      close_all();
    });
    io_.stop();
    thread_.join();
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Requests answered with a fault so far (not counting relayed ones).
  int faults() const { return faults_.load(); }

  // Switches the mode and closes the open connections (waits until done).
  void set(Mode mode) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      mode_ = mode;
      close_all();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  using tcp = boost::asio::ip::tcp;
  using Socket = std::shared_ptr<tcp::socket>;

  void close_all() {
    for (auto& s : open_) {
      boost::system::error_code ec;
      s->shutdown(tcp::socket::shutdown_both, ec);
      s->close(ec);
    }
    open_.clear();
  }

  boost::asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto s = std::make_shared<tcp::socket>(io_);
      co_await acceptor_.async_accept(*s, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      open_.insert(s);
      boost::asio::co_spawn(io_, serve(s, mode_), boost::asio::detached);
    }
  }

  boost::asio::awaitable<void> serve(Socket client, Mode mode) {
    if (mode == Mode::pass) {
      auto upstream = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      const tcp::endpoint target(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(upstream_port_));
      co_await upstream->async_connect(target, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) {
        forget(client);
        co_return;
      }
      open_.insert(upstream);
      boost::asio::co_spawn(io_, relay(upstream, client), boost::asio::detached);
      co_await relay(client, upstream);
      co_return;
    }
    // A fault: read one request (head and Content-Length body), then answer it (or not) and close.
    std::string buffer;
    boost::system::error_code ec;
    auto n = co_await boost::asio::async_read_until(*client, boost::asio::dynamic_buffer(buffer), "\r\n\r\n",
                                                    boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) {
      forget(client);
      co_return;
    }
    const std::string head = buffer.substr(0, n);
    const std::size_t length = content_length(head);
    if (buffer.size() - n < length) {
      std::string rest(length - (buffer.size() - n), '\0');
      co_await boost::asio::async_read(*client, boost::asio::buffer(rest),
                                       boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    ++faults_;
    if (mode == Mode::freeze) co_return;  // the socket stays open (in open_) until the mode changes
    if (mode != Mode::drop) {
      const std::string response = answer(mode, head.starts_with("HEAD "));
      co_await boost::asio::async_write(*client, boost::asio::buffer(response),
                                        boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    forget(client);
  }

  boost::asio::awaitable<void> relay(Socket from, Socket to) {
    char data[16384];
    for (;;) {
      boost::system::error_code ec;
      auto n = co_await from->async_read_some(boost::asio::buffer(data),
                                              boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) break;
      co_await boost::asio::async_write(*to, boost::asio::buffer(data, n),
                                        boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) break;
    }
    forget(from);
    forget(to);
  }

  void forget(const Socket& s) {
    boost::system::error_code ec;
    s->shutdown(tcp::socket::shutdown_both, ec);
    s->close(ec);
    open_.erase(s);
  }

  static std::size_t content_length(const std::string& head) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<std::size_t>(std::stoull(lower.substr(at + 17)));
  }

  std::string answer(Mode mode, bool head_request) const {
    int status = 500;
    std::string reason = "Internal Server Error", body, type;
    if (flavor_ == Flavor::dynamodb) {
      type = "application/x-amz-json-1.0";
      if (mode == Mode::throttle) {
        status = 400;
        reason = "Bad Request";
        body = R"({"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."})";
      } else if (mode == Mode::expired_token) {
        status = 400;
        reason = "Bad Request";
        body = R"({"__type":"com.amazon.coral.service#ExpiredTokenException","message":"The security token included in the request is expired"})";
      } else {
        body = R"({"__type":"com.amazon.coral.service#InternalFailure","message":"injected by the test proxy"})";
      }
    } else {
      type = "application/xml";
      if (mode == Mode::throttle) {
        status = 503;
        reason = "Slow Down";
        body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
      } else if (mode == Mode::expired_token) {
        status = 400;
        reason = "Bad Request";
        body = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";
      } else {
        body = "<Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>";
      }
    }
    if (head_request) body.clear();
    return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
           "\r\nx-amzn-RequestId: FAULTPROXY0001\r\nx-amz-request-id: FAULTPROXY0001\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }

  int upstream_port_;
  Flavor flavor_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  Mode mode_ = Mode::pass;  // on the io thread
  std::set<Socket> open_;   // on the io thread
  std::atomic<int> faults_{0};
  std::thread thread_;
};

}  // namespace ba::test
