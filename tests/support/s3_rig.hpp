#pragma once
// Test rig for S3: one s3rver for the whole test binary (started on first use, killed at exit, its
// folder removed), and an io_context on its own thread with an HttpClient, static credentials
// (S3RVER/S3RVER) and an aws::S3Client pointing at it (path-style). Used by tests/aws and tests/store
// (include "support/s3_rig.hpp").
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <vector>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include "aws/credentials.hpp"
#include "aws/s3.hpp"
#include "net/http_client.hpp"
#include <openssl/crypto.h>

#include "support/child_process.hpp"
#include "support/shell.hpp"
#include "util/encoding.hpp"

namespace ba::test {

inline constexpr const char* kNoS3rver = "s3rver is not installed (node_modules/s3rver) or node is missing";

inline bool s3rver_available() {
  static const bool ok = node_package_available("s3rver");
  return ok;
}

// The binary's s3rver and its storage folder.
struct SharedS3rver {
  std::filesystem::path dir;
  std::unique_ptr<NodeServer> server;
  std::string url;
  std::string endpoint() const { return url; }
  ~SharedS3rver() {
    server.reset();  // kill first, then remove what it stored
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

// The binary's s3rver (started on first use); nullptr when unavailable.
// BA_S3RVER_PORT=N uses an s3rver already listening on 127.0.0.1:N (debugging: run it without --silent).
inline const SharedS3rver* shared_s3rver() {
  static std::once_flag once;
  static SharedS3rver shared;
  std::call_once(once, [] {
    if (const char* port = std::getenv("BA_S3RVER_PORT"); port && *port) {
      shared.url = "http://127.0.0.1:" + std::string(port);
      return;
    }
    if (!s3rver_available()) return;
    shared.dir = std::filesystem::temp_directory_path() / ("ba-s3rver-" + std::to_string(::getpid()));
    shared.server.reset(new NodeServer(start_s3rver(shared.dir)));  // with OpenSSL's legacy provider
    shared.url = shared.server->endpoint();
  });
  return shared.url.empty() ? nullptr : &shared;
}

inline aws::Credentials s3rver_credentials() {
  aws::Credentials creds;
  creds.access_key_id = "S3RVER";
  creds.secret_access_key = "S3RVER";
  creds.source = "static";
  return creds;
}

class S3Rig {
 public:
  explicit S3Rig(std::string endpoint, aws::S3Config config = {}, aws::Credentials creds = s3rver_credentials())
      : work_(io_.get_executor()) {
    http_ = net::make_http_client(io_);
    creds_ = aws::make_static_provider(creds);
    if (config.region.empty()) config.region = "us-east-1";
    config.endpoint = std::move(endpoint);
    config.path_style = true;
    client_ = std::make_unique<aws::S3Client>(*http_, *creds_, config);
    thread_ = std::thread([this] {
      io_.run();
      OPENSSL_thread_stop();  // this thread's OpenSSL state (error queue, DRBG), before OpenSSL's exit cleanup
    });
  }
  ~S3Rig() {
    work_.reset();
    io_.stop();  // idle keep-alive connections may keep the context busy
    thread_.join();
  }
  S3Rig(const S3Rig&) = delete;
  S3Rig& operator=(const S3Rig&) = delete;

  boost::asio::io_context& io() { return io_; }
  net::HttpClient& http() { return *http_; }
  aws::CredentialsProvider& credentials() { return *creds_; }
  aws::S3Client& client() { return *client_; }

  // Runs `task` on the rig's io thread and waits for it (call from the test's thread).
  template <class T>
  T run(boost::asio::awaitable<T> task) {
    std::promise<T> p;
    auto f = p.get_future();
    boost::asio::co_spawn(io_, std::move(task), [&p](std::exception_ptr e, T v) {
      if (e) p.set_exception(e);
      else p.set_value(std::move(v));
    });
    return f.get();
  }

  // A bucket name not used before in this process (created by the caller).
  static std::string unique_bucket(std::string_view tag) {
    return "ba-" + std::string(tag) + "-" + uuid_v4().substr(0, 8);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
  std::unique_ptr<aws::S3Client> client_;
  std::thread thread_;
};

// An HttpClient that records every request and either answers from `script` or passes the request on
// to `inner` (nullptr: unscripted requests fail with a network error).
class RecordingHttp final : public net::HttpClient {
 public:
  explicit RecordingHttp(net::HttpClient* inner = nullptr) : inner_(inner) {}
  struct Seen {
    std::string method, url;
    net::Headers headers;
    std::string body;
  };
  std::vector<Seen> seen;
  std::function<std::optional<net::HttpResponse>(const net::HttpRequest&)> script;

  boost::asio::awaitable<Result<net::HttpResponse>> send(net::HttpRequest request, net::RequestOptions options) override {
    seen.push_back({request.method, request.url, request.headers, request.body});
    if (script) {
      if (auto r = script(request)) co_return *r;
    }
    if (!inner_) co_return fail(ErrorKind::network, "no scripted response");
    co_return co_await inner_->send(std::move(request), options);
  }
  boost::asio::awaitable<Result<net::HttpResponse>> send_streaming(net::HttpRequest request, net::BodySink sink,
                                                                   net::RequestOptions options) override {
    seen.push_back({request.method, request.url, request.headers, request.body});
    if (script) {
      if (auto r = script(request)) {
        if (r->status / 100 == 2) {
          if (!co_await sink(r->body)) co_return fail(ErrorKind::cancelled, "sink stopped");
          r->body.clear();
        }
        co_return *r;
      }
    }
    if (!inner_) co_return fail(ErrorKind::network, "no scripted response");
    co_return co_await inner_->send_streaming(std::move(request), std::move(sink), options);
  }

 private:
  net::HttpClient* inner_;
};

// Runs tests/node/s3_oracle.mjs with `request` (JSON) and returns its stdout (one JSON object).
inline std::string run_s3_oracle(const std::string& request_json) {
  char tmpl[] = "/tmp/ba-s3-oracle-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  {
    std::ofstream(tmpl, std::ios::binary) << request_json;
  }
  std::string out = shell("cd '" + std::string(BA_SOURCE_DIR) + "' && NODE_NO_WARNINGS=1 node tests/node/s3_oracle.mjs '" +
                          std::string(tmpl) + "'")
                        .output;
  std::filesystem::remove(tmpl);
  return out;
}

}  // namespace ba::test
