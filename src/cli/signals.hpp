#pragma once
// Graceful shutdown on SIGINT/SIGTERM for the long-running subcommands.
#include <chrono>
#include <functional>

namespace boost::asio {
class io_context;
}

namespace ba::cli {

// Runs `io` on this thread until it stops. The first SIGINT/SIGTERM calls `on_signal` (stop accepting,
// let in-flight requests finish) and stops the loop after `grace`; a second signal stops it at once.
void run_until_signal(boost::asio::io_context& io, std::function<void()> on_signal, std::chrono::milliseconds grace);

// One JSON log line on stderr: {"ts","level","msg", ...extra} where `extra_json` is a JSON object's
// members without braces (may be empty).
void log_line(const char* level, const char* msg, const std::string& extra_json = {});

}  // namespace ba::cli
