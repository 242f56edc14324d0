#include "cli/signals.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "util/clock.hpp"

namespace ba::cli {
namespace {

// The lines waiting to be written (one batch for the process).
struct Pending {
  std::mutex mutex;
  std::string text;
  bool timer_armed = false;
};
Pending& pending() {
  static Pending p;
  return p;
}

void write_stderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

// Writes the batch; the caller holds the mutex.
void flush_locked(Pending& p) {
  if (p.text.empty()) return;
  write_stderr(p.text);
  p.text.clear();
}

}  // namespace

void flush_batched_log() {
  auto& p = pending();
  std::lock_guard lock(p.mutex);
  flush_locked(p);
}

std::function<void(std::string_view)> make_batched_stderr_log(boost::asio::io_context& io,
                                                               std::chrono::milliseconds delay) {
  constexpr std::size_t kFlushAt = 16 * 1024;
  auto timer = std::make_shared<boost::asio::steady_timer>(io);
  return [timer, delay](std::string_view line) {
    auto& p = pending();
    std::lock_guard lock(p.mutex);
    p.text.append(line);
    p.text += '\n';
    if (p.text.size() >= kFlushAt) {
      flush_locked(p);
      return;
    }
    if (p.timer_armed) return;
    p.timer_armed = true;
    // Lines come from every io thread (serve --threads); the timer is armed on its own context's
    // thread (a timer is not thread-safe), once per batch.
    boost::asio::post(timer->get_executor(), [timer, delay] {
      timer->expires_after(delay);
      timer->async_wait([timer](const boost::system::error_code&) {
        auto& q = pending();
        std::lock_guard lock(q.mutex);
        q.timer_armed = false;
        flush_locked(q);
      });
    });
  };
}

std::uint64_t raise_open_file_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;  // RLIM_INFINITY is refused for open files: then the limit stays
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return static_cast<std::uint64_t>(r.rlim_cur);
}

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
  flush_batched_log();
}

void log_line(const char* level, const char* msg, const std::string& extra_json) {
  std::string line = std::string("{\"ts\":\"") + iso8601_ms(std::chrono::system_clock::now()) +
                     "\",\"level\":\"" + level + "\",\"msg\":" + boost::json::serialize(boost::json::value(msg));
  if (!extra_json.empty()) line += "," + extra_json;
  line += "}\n";
  auto& p = pending();
  std::lock_guard lock(p.mutex);
  flush_locked(p);
  write_stderr(line);
}

}  // namespace ba::cli
