#pragma once
// Running the Lambda binary in tests: the fake Runtime API on an io thread of its own, the package zip,
// shell commands and temporary folders (package_test.cpp, local_stack_test.cpp).
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "lambda/fake_runtime_api.hpp"
#include "support/child_process.hpp"
#include "support/shell.hpp"

namespace ba::test {

namespace lambda_harness_detail {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline fs::path source_dir() { return fs::path(BA_SOURCE_DIR); }

inline fs::path package_zip() {
  if (const char* z = std::getenv("BA_LAMBDA_ZIP"); z && *z) return z;
  return source_dir() / "build-lambda-pkg" / "bedrock-agent-lambda.zip";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ba-lambda-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The fake Runtime API on an io thread of its own; the child process talks to it over 127.0.0.1.
class RuntimeApiThread {
 public:
  RuntimeApiThread() : work_(io_.get_executor()), fake_(io_), thread_([this] { io_.run(); }) {}
  ~RuntimeApiThread() {
    on_io([this] {
      fake_.stop();
      return 0;
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  template <class F>
  auto on_io(F f) -> decltype(f()) {
    std::promise<decltype(f())> p;
    auto fut = p.get_future();
    asio::post(io_, [&] { p.set_value(f()); });
    return fut.get();
  }
  std::string api() const { return fake_.api(); }
  void queue(std::string id, std::string body) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    on_io([&] {
      fake_.queue({std::move(id), std::move(body), now + 60'000, "Root=1-5759e988-bd862e3fe1be46a994272793"});
      return 0;
    });
  }
  // Waits (a hang guard of 60 s, not a timing assertion) until `n` posts of `kind` arrived.
  std::vector<Posted> wait_for(std::string_view kind, std::size_t n, Child& child) {
    for (int i = 0; i < 3000; ++i) {
      auto posts = on_io([&] { return fake_.posts; });
      std::size_t count = 0;
      for (const auto& p : posts)
        if (p.kind == kind) ++count;
      if (count >= n) return posts;
      if (!child.running()) break;
      std::this_thread::sleep_for(20ms);
    }
    return on_io([&] { return fake_.posts; });
  }
  // Waits (a hang guard of 60 s) until `n` events were handed out by /next.
  bool wait_delivered(int n, Child& child) {
    for (int i = 0; i < 3000; ++i) {
      if (on_io([&] { return fake_.delivered; }) >= n) return true;
      if (!child.running()) return false;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  void close() {
    on_io([this] {
      fake_.close();
      return 0;
    });
  }
  std::vector<std::string> protocol_errors() {
    return on_io([this] { return fake_.protocol_errors; });
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  FakeRuntimeApi fake_;
  std::thread thread_;
};

}  // namespace lambda_harness_detail

using lambda_harness_detail::package_zip;
using lambda_harness_detail::RuntimeApiThread;
using lambda_harness_detail::source_dir;
using lambda_harness_detail::TempDir;

}  // namespace ba::test
