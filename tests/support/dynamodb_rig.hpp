#pragma once
// Test rig for DynamoDB: one dynalite for the whole test binary, and an io_context running on its own
// thread with an HttpClient, static credentials and an aws::dynamodb::Client pointing at it.
// Used by the aws, store, lambda and e2e tests (include "support/dynamodb_rig.hpp").
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "aws/credentials.hpp"
#include "aws/dynamodb.hpp"
#include "net/http_client.hpp"
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include "support/child_process.hpp"
#include "util/encoding.hpp"

namespace ba::test {

inline constexpr const char* kNoDynalite = "dynalite is not installed (node_modules/dynalite) or node is missing";

inline bool dynalite_available() {
  static const bool ok = node_package_available("dynalite");
  return ok;
}

// The binary's dynalite, started on first use and killed at exit; nullptr when unavailable.
inline NodeServer* shared_dynalite() {
  struct Holder {  // NodeServer cannot move: construct it in place
    NodeServer server;
    Holder() : server(start_dynalite()) {}
  };
  static std::once_flag once;
  static std::optional<Holder> holder;
  std::call_once(once, [] {
    if (dynalite_available()) holder.emplace();
  });
  return holder ? &holder->server : nullptr;
}

class DynamoRig {
 public:
  explicit DynamoRig(std::string endpoint, aws::dynamodb::ClientConfig config = {})
      : work_(io_.get_executor()) {
    http_ = net::make_http_client(io_);
    aws::Credentials creds;
    creds.access_key_id = "AKIDTEST";
    creds.secret_access_key = "secret";
    creds.source = "static";
    creds_ = aws::make_static_provider(creds);
    config.region = "us-east-1";
    config.endpoint = std::move(endpoint);
    client_ = std::make_unique<aws::dynamodb::Client>(*http_, *creds_, config);
    thread_ = std::thread([this] {
      io_.run();
      OPENSSL_thread_stop();  // this thread's OpenSSL state (error queue, DRBG), before OpenSSL's exit cleanup
    });
  }
  ~DynamoRig() {
    work_.reset();
    // Idle keep-alive connections may keep the context busy: stop it once the tests are done with it.
    io_.stop();
    thread_.join();
  }
  DynamoRig(const DynamoRig&) = delete;
  DynamoRig& operator=(const DynamoRig&) = delete;

  boost::asio::io_context& io() { return io_; }
  aws::dynamodb::Client& client() { return *client_; }

  // Runs `task` on the rig's io thread and waits for it (callable from any other thread).
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

  void run(boost::asio::awaitable<void> task) {
    std::promise<void> p;
    auto f = p.get_future();
    boost::asio::co_spawn(io_, std::move(task), [&p](std::exception_ptr e) {
      if (e) p.set_exception(e);
      else p.set_value();
    });
    f.get();
  }

  // A table name not used before in this process.
  static std::string unique_table(std::string_view tag) {
    return "ba-" + std::string(tag) + "-" + uuid_v4().substr(0, 8);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
  std::unique_ptr<aws::dynamodb::Client> client_;
  std::thread thread_;
};

// One rig on the shared dynalite for the whole binary; nullptr when dynalite is unavailable.
inline DynamoRig* shared_rig() {
  static std::once_flag once;
  static std::unique_ptr<DynamoRig> rig;
  std::call_once(once, [] {
    if (auto* d = shared_dynalite()) rig = std::make_unique<DynamoRig>(d->endpoint());
    // Stopped when the test run ends, not at exit: its io thread must be gone before the leak check.
    struct StopRig : ::testing::Environment {
      void TearDown() override { rig.reset(); }
    };
    ::testing::AddGlobalTestEnvironment(new StopRig);
  });
  return rig.get();
}

}  // namespace ba::test
