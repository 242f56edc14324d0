#include "cli/signals.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "util/clock.hpp"

namespace ba::cli {

void run_until_signal(boost::asio::io_context& io, std::function<void()> on_signal, std::chrono::milliseconds grace) {
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer deadline(io);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> handler;
  handler = [&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (stopping) {
      log_line("warn", "second signal: stopping now");
      io.stop();
      return;
    }
    stopping = true;
    log_line("info", "shutting down", "\"signal\":" + std::to_string(signo));
    if (on_signal) on_signal();
    signals.async_wait(handler);
    deadline.expires_after(grace + std::chrono::milliseconds(250));
    deadline.async_wait([&](const boost::system::error_code& e) {
      if (!e) io.stop();
    });
  };
  signals.async_wait(handler);
  io.run();
}

void log_line(const char* level, const char* msg, const std::string& extra_json) {
  std::string line = std::string("{\"ts\":\"") + iso8601_ms(std::chrono::system_clock::now()) +
                     "\",\"level\":\"" + level + "\",\"msg\":" + boost::json::serialize(boost::json::value(msg));
  if (!extra_json.empty()) line += "," + extra_json;
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ba::cli
