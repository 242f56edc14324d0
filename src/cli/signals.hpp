#pragma once
// Graceful shutdown on SIGINT/SIGTERM for the long-running subcommands.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace ba::cli {

// Runs `io` on this thread until it stops. The first SIGINT/SIGTERM calls `on_signal` (stop accepting,
// let in-flight requests finish) and stops the loop after `grace`; a second signal stops it at once.
void run_until_signal(boost::asio::io_context& io, std::function<void()> on_signal, std::chrono::milliseconds grace);

// One JSON log line on stderr: {"ts","level","msg", ...extra} where `extra_json` is a JSON object's
// members without braces (may be empty).
// Writes whatever a batched log (below) holds first, so lines keep their order.
void log_line(const char* level, const char* msg, const std::string& extra_json = {});

// A sink for the per-request log lines of `serve`: lines go to stderr in batches, one write(2) per
// batch instead of one per request. A line waits at most `delay` (or until 16 KiB are pending), on a
// timer of `io`; log_line() and the end of run_until_signal() write what is pending.
std::function<void(std::string_view)> make_batched_stderr_log(boost::asio::io_context& io,
                                                               std::chrono::milliseconds delay);
// Writes the pending batched lines now.
void flush_batched_log();

// Lifts the soft limit on open files to the hard one, as Go's runtime does at start-up: every chat in
// flight holds two sockets (its caller's and Bedrock's), so a soft limit of 1,024 would cap a server near
// 500 chats at once. Returns the soft limit now in force (0 if it cannot be read).
std::uint64_t raise_open_file_limit();

}  // namespace ba::cli
