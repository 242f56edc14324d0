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
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  std::string line = std::string("{\"ts\":\"") + ts + "\",\"level\":\"" + level + "\",\"msg\":" +
                     boost::json::serialize(boost::json::value(msg));
  if (!extra_json.empty()) line += "," + extra_json;
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ba::cli
