#pragma once
// A fake Lambda Runtime API for tests (runtime_test.cpp in-process, package_test.cpp with the real binary).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/http_server.hpp"
#include "util/result.hpp"

namespace ba::test {

inline constexpr std::string_view kArn = "arn:aws:lambda:us-east-1:123456789012:function:bedrock-agent";

struct QueuedEvent {
  std::string id;
  std::string body;
  std::int64_t deadline_ms = 0;
  std::string trace_id;
};

struct Posted {
  std::string kind;  // "response", "error", "init"
  std::string id;
  std::string body;
  std::string error_type;
  int answered = 0;
};

// A fake Lambda Runtime API on 127.0.0.1:0. /next blocks (a timer) until an event is queued or the
// fake is closed (then /next answers 500). Every post is recorded with the status it was answered.
class FakeRuntimeApi {
 public:
  explicit FakeRuntimeApi(boost::asio::io_context& io) : wake_(io) {
    net::ServerOptions o;
    o.body_limit = 8 * 1024 * 1024;
    server_ = net::make_http_server(io, o, [this](net::ServerRequest& r) { return handle(r); });
    auto port = server_->start();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
  }
  ~FakeRuntimeApi() { stop(); }
  void stop() {
    close();
    server_->stop(std::chrono::milliseconds(0));
  }

  std::string api() const { return "127.0.0.1:" + std::to_string(port_); }
  void queue(QueuedEvent e) {
    events_.push_back(std::move(e));
    wake_.cancel();
  }
  void close() {
    closed_ = true;
    wake_.cancel();
  }
  std::size_t count(std::string_view kind) const {
    std::size_t n = 0;
    for (const auto& p : posts)
      if (p.kind == kind) ++n;
    return n;
  }

  std::size_t accepted() const {
    std::size_t n = 0;
    for (const auto& p : posts)
      if (p.answered == 202 && p.kind != "init") ++n;
    return n;
  }

  std::vector<Posted> posts;
  std::set<std::string> answer_413;  // request ids whose /response gets 413
  int answer_posts_with = 202;
  std::set<std::uint64_t> connections;
  std::vector<std::string> protocol_errors;
  int next_calls = 0;
  int delivered = 0;  // events handed out by /next

 private:
  boost::asio::awaitable<net::ServerResponse> handle(net::ServerRequest& req) {
    connections.insert(req.connection_id);
    constexpr std::string_view kBase = "/2018-06-01/runtime";
    net::ServerResponse res;
    if (!req.path.starts_with(kBase)) {
      protocol_errors.push_back("bad path " + req.path);
      res.status = 404;
      co_return res;
    }
    std::string_view rest = std::string_view(req.path).substr(kBase.size());
    if (req.method == "GET" && rest == "/invocation/next") {
      ++next_calls;
      while (events_.empty() && !closed_) {
        wake_.expires_at(boost::asio::steady_timer::time_point::max());
        co_await wake_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      if (events_.empty()) {
        res.status = 500;
        res.body = R"({"errorMessage":"closed","errorType":"Runtime.Closed"})";
        co_return res;
      }
      QueuedEvent e = std::move(events_.front());
      events_.pop_front();
      ++delivered;
      outstanding_.insert(e.id);
      res.headers.set("Lambda-Runtime-Aws-Request-Id", e.id);
      res.headers.set("Lambda-Runtime-Deadline-Ms", std::to_string(e.deadline_ms));
      res.headers.set("Lambda-Runtime-Invoked-Function-Arn", std::string(kArn));
      if (!e.trace_id.empty()) res.headers.set("Lambda-Runtime-Trace-Id", e.trace_id);
      res.headers.set("Content-Type", "application/json");
      res.body = std::move(e.body);
      co_return res;
    }
    if (req.method != "POST") {
      protocol_errors.push_back("bad method " + req.method + " " + req.path);
      res.status = 405;
      co_return res;
    }
    Posted p;
    p.body = req.body;
    if (auto t = req.headers.get("Lambda-Runtime-Function-Error-Type")) p.error_type = std::string(*t);
    if (rest == "/init/error") {
      p.kind = "init";
    } else if (rest.starts_with("/invocation/")) {
      std::string_view tail = rest.substr(std::string_view("/invocation/").size());
      auto slash = tail.find('/');
      p.id = std::string(tail.substr(0, slash));
      p.kind = slash == std::string_view::npos ? "" : std::string(tail.substr(slash + 1));
      if (!outstanding_.contains(p.id)) protocol_errors.push_back("post for an id not handed out: " + p.id);
    }
    if (p.kind != "init" && p.kind != "response" && p.kind != "error") {
      protocol_errors.push_back("bad post " + req.path);
      res.status = 404;
      co_return res;
    }
    res.status = answer_posts_with;
    if (p.kind == "response" && answer_413.contains(p.id)) {
      res.status = 413;
      res.body = R"({"errorMessage":"Exceeded maximum allowed payload size","errorType":"RequestEntityTooLarge"})";
    } else if (res.status == 202) {
      if (p.kind != "init") outstanding_.erase(p.id);  // answered once
      res.body = R"({"status":"OK"})";
    }
    p.answered = res.status;
    posts.push_back(std::move(p));
    co_return res;
  }

  boost::asio::steady_timer wake_;
  std::unique_ptr<net::HttpServer> server_;
  std::uint16_t port_ = 0;
  std::deque<QueuedEvent> events_;
  std::set<std::string> outstanding_;
  bool closed_ = false;
};

}  // namespace ba::test
