// Faults in every backend, through the real binary (issue 16): the history's DynamoDB (dynalite) and the
// files' S3 (s3rver) stopped, restarted during load, restarted empty (table or bucket gone), answering
// 500, throttling, refusing expired credentials, freezing and dropping connections (a fault proxy in
// front of them, tests/support/fault_proxy.hpp); the Bedrock endpoint's name not resolving and a TLS
// peer with a certificate we must not trust. Each gives the caller a clear status and message in its
// own terms (503 with Retry-After while a store is down; 500 for a misconfigured store, the details in
// the log only), loses no answered turn, and recovers by itself when the service returns.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "support/child_process.hpp"
#include "support/dynamodb_rig.hpp"
#include "support/fault_proxy.hpp"
#include "support/s3_rig.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string binary() { return std::string(BA_BINARY_DIR) + "/bedrock-agent"; }

fs::path temp_dir(std::string_view tag) {
  auto dir = fs::temp_directory_path() / ("ba-faults-" + std::string(tag) + "-" + uuid_v4().substr(0, 8));
  fs::create_directories(dir);
  return dir;
}

// One `bedrock-agent serve` process; its log lines are read on a thread as they come (a full stderr
// pipe would stall the agent), and kept for the test to search.
class Agent {
 public:
  Agent(std::vector<std::string> args, std::vector<std::string> env) {
    std::vector<std::string> argv{binary(), "serve", "--port", "0"};
    for (auto& a : args) argv.push_back(std::move(a));
    child_ = std::make_unique<Child>(std::move(argv), std::move(env));
    while (auto l = child_->line()) {
      lines_.push_back(*l);
      auto v = json::parse(*l);
      if (v.is_object() && v.as_object().contains("msg") && v.at("msg").as_string() == "listening") {
        port_ = static_cast<int>(v.at("port").to_number<int>());
        break;
      }
    }
    if (!port_) throw std::runtime_error("agent did not start: " + child_->rest());
    drain_ = std::thread([this] {
      while (!stop_) {
        auto l = child_->line();
        if (!l) {
          std::this_thread::sleep_for(20ms);
          continue;
        }
        std::lock_guard lock(mutex_);
        lines_.push_back(std::move(*l));
      }
    });
  }
  ~Agent() {
    stop_ = true;
    child_->signal(SIGTERM);
    drain_.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // The log lines so far that contain every one of `parts`.
  std::vector<std::string> log_lines_with(std::initializer_list<std::string_view> parts) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      bool all = true;
      for (auto p : parts) all = all && l.find(p) != std::string::npos;
      if (all) out.push_back(l);
    }
    return out;
  }
  // The log lines that contain every one of `parts`, waiting for the first one up to 20 s (a request's log
  // line is written after its answer went out; a hang guard, not a timing).
  std::vector<std::string> wait_for_log(std::initializer_list<std::string_view> parts) {
    for (int i = 0; i < 400; ++i) {
      auto found = log_lines_with(parts);
      if (!found.empty()) return found;
      std::this_thread::sleep_for(50ms);
    }
    return {};
  }
  // The log lines seen so far (for failure messages).
  std::string log() {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all;
  }

 private:
  std::unique_ptr<Child> child_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> lines_;
  std::thread drain_;
};

// One request on its own connection (callable from any thread).
net::HttpResponse http(std::string method, std::string url, std::string body = {}, net::Headers headers = {}) {
  asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  net::HttpRequest req{.method = std::move(method), .url = std::move(url), .headers = std::move(headers), .body = std::move(body)};
  if (!req.body.empty() && !req.headers.has("content-type")) req.headers.set("Content-Type", "application/json");
  std::optional<Result<net::HttpResponse>> out;
  asio::co_spawn(io, client->send(std::move(req), net::RequestOptions{.read_timeout = 60s}),
                 [&](std::exception_ptr, Result<net::HttpResponse> r) { out = std::move(r); });
  io.run();
  if (!out || !*out) throw std::runtime_error("request failed: " + (out ? out->error().message : std::string("no answer")));
  return std::move(**out);
}

net::HttpResponse chat(const Agent& a, const std::string& conversation, const std::string& text,
                       net::Headers headers = {}) {
  json::object body{{"conversation_id", conversation}, {"input", "echo:" + text}};
  return http("POST", a.base() + "/chat", json::serialize(body), std::move(headers));
}

// The caller's error: {"error": {"type", "message"}}.
std::pair<std::string, std::string> error_of(const net::HttpResponse& r) {
  auto v = json::parse(r.body);
  const auto& e = v.at("error").as_object();
  return {std::string(e.at("type").as_string()), std::string(e.at("message").as_string())};
}

// Nothing of the backend in a body: no loopback address, no port of the backend, no AWS request id or code.
void expect_nothing_internal(const net::HttpResponse& r, int backend_port) {
  EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(std::to_string(backend_port)), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("FAULTPROXY"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("Exception"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("refused"), std::string::npos) << r.body;
}

void expect_store_unavailable(const net::HttpResponse& r, std::string_view store, int backend_port) {
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.headers.get("Retry-After").has_value()) << r.body;
  auto [type, message] = error_of(r);
  EXPECT_EQ(type, "unavailable");
  EXPECT_EQ(message, std::string(store) + " unavailable, retry shortly");
  expect_nothing_internal(r, backend_port);
}

void expect_store_misconfigured(const net::HttpResponse& r, std::string_view store, int backend_port) {
  EXPECT_EQ(r.status, 500) << r.body;
  auto [type, message] = error_of(r);
  EXPECT_EQ(type, "internal_error");
  EXPECT_EQ(message, std::string(store) + " misconfigured: see the server log");
  EXPECT_EQ(r.body.find("not found"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("not_found"), std::string::npos) << r.body;
  expect_nothing_internal(r, backend_port);
}

std::vector<std::string> store_env(const std::string& dynamodb, const std::string& s3 = {}) {
  std::vector<std::string> env{"AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER", "AWS_REGION=us-east-1",
                               "AWS_PROFILE=none-such", "AWS_EC2_METADATA_DISABLED=true"};
  if (!dynamodb.empty()) env.push_back("AWS_ENDPOINT_URL_DYNAMODB=" + dynamodb);
  if (!s3.empty()) env.push_back("AWS_ENDPOINT_URL_S3=" + s3);
  return env;
}

// dynalite on `port` (0: a free one), in memory or keeping its data under `dir`.
std::unique_ptr<NodeServer> dynalite_at(int port, const fs::path& dir = {}) {
  std::vector<std::string> args{"--host", "127.0.0.1", "--port", "{port}"};
  if (!dir.empty()) {
    args.push_back("--path");
    args.push_back(dir.string());
  }
  return std::make_unique<NodeServer>("dynalite/cli.js", std::move(args), std::vector<std::string>{}, port);
}

// s3rver on `port` (0: a free one) storing under `dir` (see start_s3rver).
std::unique_ptr<NodeServer> s3rver_at(int port, const fs::path& dir) {
  fs::create_directories(dir);
  const char* inherited = std::getenv("NODE_OPTIONS");
  std::string options = inherited && *inherited ? std::string(inherited) + " " : std::string();
  return std::make_unique<NodeServer>(
      "s3rver/bin/s3rver.js", std::vector<std::string>{"-d", dir.string(), "-a", "127.0.0.1", "-p", "{port}", "--silent"},
      std::vector<std::string>{"NODE_OPTIONS=" + options + "--openssl-legacy-provider"}, port);
}

std::vector<std::string> dynamo_history_args(const std::string& table, const fs::path& dir) {
  return {"--simulate", "--history", "dynamodb:" + table, "--create-missing", "--files", (dir / "files").string()};
}

// The stored turns' inputs of a conversation.
std::vector<std::string> stored_inputs(const Agent& a, const std::string& conversation) {
  auto r = http("GET", a.base() + "/conversations/" + conversation);
  if (r.status != 200) throw std::runtime_error("GET /conversations/" + conversation + ": " + std::to_string(r.status) + " " + r.body);
  std::vector<std::string> out;
  const json::value body = json::parse(r.body);
  for (const auto& t : body.at("turns").as_array()) out.emplace_back(t.at("input").as_string());
  return out;
}

TEST(StoreFaultsE2E, DynamoDbDownIs503WithRetryAfterAndComesBackByItself) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
  const auto dir = temp_dir("ddb-down");
  auto dynalite = dynalite_at(0, dir / "ddb");
  const int port = dynalite->port();
  const std::string table = DynamoRig::unique_table("down");
  Agent agent(dynamo_history_args(table, dir), store_env(dynalite->endpoint()));
  const std::string conversation = "down-" + uuid_v4();
  ASSERT_EQ(chat(agent, conversation, "before").status, 200);

  dynalite.reset();  // the table's endpoint is gone: connections refused
  auto r = chat(agent, conversation, "while down");
  expect_store_unavailable(r, "history store", port);
  auto idem = chat(agent, conversation, "keyed", {{"Idempotency-Key", "outage-key"}});
  expect_store_unavailable(idem, "history store", port);
  expect_store_unavailable(http("GET", agent.base() + "/conversations/" + conversation), "history store", port);
  expect_store_unavailable(http("GET", agent.base() + "/conversations"), "history store", port);
  // /health (no authentication) says the history is in error, in the same words.
  auto health = http("GET", agent.base() + "/health");
  EXPECT_EQ(health.body.find("127.0.0.1"), std::string::npos) << health.body;
  // The operator's log line names the table and what failed underneath.
  auto logged = agent.wait_for_log({"\"msg\":\"store failure\"", "\"fault\":\"unavailable\"",
                                       "\"resource\":\"DynamoDB table '" + table + "'"});
  ASSERT_FALSE(logged.empty()) << agent.log();
  EXPECT_NE(logged.front().find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos) << logged.front();
  EXPECT_FALSE(agent.wait_for_log({"\"route\":\"/chat\"", "\"status\":503", "history store unavailable"}).empty());

  dynalite = dynalite_at(port, dir / "ddb");  // back, with its data
  auto back = chat(agent, conversation, "after");
  EXPECT_EQ(back.status, 200) << back.body;
  // The key of the chat that failed was released: the same key runs once the store is back.
  auto keyed = chat(agent, conversation, "keyed", {{"Idempotency-Key", "outage-key"}});
  EXPECT_EQ(keyed.status, 200) << keyed.body;
  EXPECT_EQ(stored_inputs(agent, conversation), (std::vector<std::string>{"echo:before", "echo:after", "echo:keyed"}));
  dynalite.reset();
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, DynamoDbRestartedDuringAStreamOfChatsLosesNoAnsweredTurn) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
  const auto dir = temp_dir("ddb-restart");
  auto dynalite = dynalite_at(0, dir / "ddb");
  const int port = dynalite->port();
  const std::string table = DynamoRig::unique_table("restart");
  Agent agent(dynamo_history_args(table, dir), store_env(dynalite->endpoint()));

  // Four callers, each chatting on its own conversation one turn after another.
  constexpr int kCallers = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> answered;  // conversation -> inputs answered 200
  std::vector<std::string> unexpected;
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      const std::string conversation = "restart-" + std::to_string(c) + "-" + uuid_v4().substr(0, 8);
      for (int i = 0; !stop && i < 2000; ++i) {
        const std::string text = "turn " + std::to_string(i);
        net::HttpResponse r;
        try {
          r = chat(agent, conversation, text);
        } catch (const std::exception& e) {
          std::lock_guard lock(mutex);
          unexpected.push_back(e.what());
          ++other;
          continue;
        }
        std::lock_guard lock(mutex);
        if (r.status == 200) {
          ++ok;
          answered[conversation].push_back("echo:" + text);
        } else if (r.status == 503 && r.headers.get("Retry-After")) {
          ++unavailable;
        } else {
          ++other;
          unexpected.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  auto wait_until = [&](auto done) {
    for (int i = 0; i < 600 && !done(); ++i) std::this_thread::sleep_for(50ms);  // a hang guard, not a timing
    return done();
  };
  EXPECT_TRUE(wait_until([&] { return ok >= 20; }));
  dynalite.reset();  // killed in the middle of the stream
  EXPECT_TRUE(wait_until([&] { return unavailable >= 4; }));
  dynalite = dynalite_at(port, dir / "ddb");
  const int ok_at_restart = ok;
  EXPECT_TRUE(wait_until([&] { return ok >= ok_at_restart + 20; })) << "the agent did not recover by itself";
  stop = true;
  for (auto& t : callers) t.join();

  EXPECT_EQ(other.load(), 0) << (unexpected.empty() ? std::string() : unexpected.front());
  EXPECT_GE(unavailable.load(), 4);
  // Every turn answered 200 is stored, in order. (A turn answered 503 may be stored too: when dynalite
  // dies after writing it and before answering, the write's answer is lost and the retries find no
  // server. That is never half a turn, and the caller was told to retry.)
  for (const auto& [conversation, inputs] : answered) {
    const auto stored = stored_inputs(agent, conversation);
    std::size_t next = 0;
    for (const auto& s : stored) {
      if (next < inputs.size() && s == inputs[next]) ++next;
    }
    EXPECT_EQ(next, inputs.size()) << conversation << ": a turn answered 200 is missing";
    EXPECT_LE(stored.size(), inputs.size() + 2) << conversation;
  }
  dynalite.reset();
  fs::remove_all(dir);
}

// The store's credentials come from a credential_process that hands out credentials living 3 s, so under
// a steady stream of chats they are refreshed again and again; for a while the process fails (the
// credentials run out): chats get 503 "history store unavailable", and succeed again once it works.
TEST(StoreFaultsE2E, StoreCredentialsThatExpireUnderLoadAre503UntilTheyAreRenewed) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
  const auto dir = temp_dir("creds");
  const fs::path broken = dir / "broken";
  {
    std::ofstream script(dir / "creds.sh");
    script << "#!/bin/sh\n"
           << "if [ -e '" << broken.string() << "' ]; then echo 'credential source down' >&2; exit 1; fi\n"
           << "exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\n"
           << "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\",\"SecretAccessKey\":\"secret\","
              "\"SessionToken\":\"token\",\"Expiration\":\"%s\"}' \"$exp\"\n";
    std::ofstream config(dir / "config");
    config << "[profile faults]\ncredential_process = /bin/sh " << (dir / "creds.sh").string() << "\nregion = us-east-1\n";
  }
  auto dynalite = dynalite_at(0);
  const std::string table = DynamoRig::unique_table("creds");
  Agent agent(dynamo_history_args(table, dir),
              {"AWS_CONFIG_FILE=" + (dir / "config").string(), "AWS_SHARED_CREDENTIALS_FILE=" + (dir / "none").string(),
               "AWS_PROFILE=faults", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
               "AWS_ENDPOINT_URL_DYNAMODB=" + dynalite->endpoint()});
  const std::string conversation = "creds-" + uuid_v4();
  std::vector<std::string> answered;
  auto run = [&](int n, int& ok, int& unavailable) {
    for (int i = 0; i < n; ++i) {
      const std::string text = "turn " + std::to_string(answered.size()) + "-" + std::to_string(i);
      auto r = chat(agent, conversation, text);
      if (r.status == 200) {
        ++ok;
        answered.push_back("echo:" + text);
      } else {
        EXPECT_EQ(r.status, 503) << r.body;
        if (r.status == 503) {
          ++unavailable;
          EXPECT_EQ(error_of(r).second, "history store unavailable, retry shortly");
        }
      }
    }
  };
  int ok = 0, unavailable = 0;
  run(10, ok, unavailable);
  EXPECT_EQ(ok, 10);
  std::ofstream(broken) << "";
  // The cached credentials live at most 3 s more; then every chat needs a refresh that fails.
  for (int i = 0; i < 200 && unavailable == 0; ++i) {
    run(1, ok, unavailable);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(unavailable, 0) << "the credentials never ran out";
  fs::remove(broken);
  int ok_after = 0, unavailable_after = 0;
  run(10, ok_after, unavailable_after);
  EXPECT_EQ(ok_after, 10) << "the agent did not pick up renewed credentials by itself";
  EXPECT_EQ(stored_inputs(agent, conversation), answered);
  EXPECT_FALSE(agent.wait_for_log({"\"msg\":\"store failure\"", "\"fault\":\"unavailable\"", table}).empty())
      << agent.log();
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, TableGoneIs500WithTheTableInTheLogNeverNotFound) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
  const auto dir = temp_dir("ddb-gone");
  auto dynalite = dynalite_at(0);  // in memory: a restart loses the table
  const int port = dynalite->port();
  const std::string table = DynamoRig::unique_table("gone");
  Agent agent(dynamo_history_args(table, dir), store_env(dynalite->endpoint()));
  const std::string conversation = "gone-" + uuid_v4();
  ASSERT_EQ(chat(agent, conversation, "before").status, 200);

  dynalite.reset();
  dynalite = dynalite_at(port);  // the endpoint answers again, without the table
  expect_store_misconfigured(chat(agent, conversation, "after"), "history store", port);
  expect_store_misconfigured(chat(agent, "new-" + uuid_v4(), "new"), "history store", port);
  expect_store_misconfigured(http("GET", agent.base() + "/conversations/" + conversation), "history store", port);
  expect_store_misconfigured(http("GET", agent.base() + "/conversations"), "history store", port);
  auto logged = agent.wait_for_log({"\"msg\":\"store failure\"", "\"fault\":\"misconfigured\"",
                                       "DynamoDB table '" + table + "'", "ResourceNotFoundException"});
  EXPECT_FALSE(logged.empty()) << agent.log();
  dynalite.reset();
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, DynamoDbFaultsBehindAProxyAre503AndPassWhenTheyStop) {
  if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
  const auto dir = temp_dir("ddb-proxy");
  auto dynalite = dynalite_at(0);
  FaultProxy proxy(dynalite->port(), FaultProxy::Flavor::dynamodb);
  const std::string table = DynamoRig::unique_table("proxy");
  Agent agent(dynamo_history_args(table, dir), store_env(proxy.endpoint()));
  const std::string conversation = "proxy-" + uuid_v4();
  ASSERT_EQ(chat(agent, conversation, "first").status, 200);

  struct Case {
    FaultProxy::Mode mode;
    std::string code;  // in the log line (error_code), when the backend named one
  };
  const std::vector<Case> cases{{FaultProxy::Mode::error500, "InternalFailure"},
                                {FaultProxy::Mode::throttle, "ThrottlingException"},
                                {FaultProxy::Mode::expired_token, "ExpiredTokenException"},
                                {FaultProxy::Mode::drop, ""},
                                {FaultProxy::Mode::freeze, ""}};  // past the history's 5 s call budget
  for (const auto& c : cases) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(c.mode)));
    proxy.set(c.mode);
    expect_store_unavailable(chat(agent, conversation, "faulty"), "history store", proxy.port());
    if (!c.code.empty()) {
      EXPECT_FALSE(agent.wait_for_log({"\"msg\":\"store failure\"", "\"error_code\":\"" + c.code + "\""}).empty())
          << agent.log();
    }
    proxy.set(FaultProxy::Mode::pass);
    auto back = chat(agent, conversation, "ok");
    EXPECT_EQ(back.status, 200) << back.body;
  }
  EXPECT_GT(proxy.faults(), 0);
  // Only the answered turns are stored.
  EXPECT_EQ(stored_inputs(agent, conversation).size(), 1 + cases.size());
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, S3DownIs503AndABucketGoneIs500) {
  if (!s3rver_available()) GTEST_SKIP() << kNoS3rver;
  const auto dir = temp_dir("s3");
  auto s3 = s3rver_at(0, dir / "s3");
  const int port = s3->port();
  const std::string bucket = "ba-faults-" + uuid_v4().substr(0, 8);
  Agent agent({"--simulate", "--history", "none", "--files", "s3://" + bucket, "--create-missing"},
              store_env({}, s3->endpoint()));
  const std::string upload = R"({"name": "a.txt", "content_type": "text/plain", "content_base64": "aGVsbG8="})";
  auto posted = http("POST", agent.base() + "/files", upload);
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id(json::parse(posted.body).at("id").as_string());

  s3.reset();  // stopped
  expect_store_unavailable(http("GET", agent.base() + "/files"), "file store", port);
  expect_store_unavailable(http("GET", agent.base() + "/files/" + id), "file store", port);
  expect_store_unavailable(http("POST", agent.base() + "/files", upload), "file store", port);
  EXPECT_FALSE(agent.wait_for_log({"\"msg\":\"store failure\"", "\"resource\":\"s3://" + bucket}).empty())
      << agent.log();

  s3 = s3rver_at(port, dir / "s3");  // back, with the file
  auto got = http("GET", agent.base() + "/files/" + id);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, "hello");

  s3.reset();
  s3 = s3rver_at(port, dir / "s3-empty");  // back, without the bucket
  expect_store_misconfigured(http("GET", agent.base() + "/files"), "file store", port);
  expect_store_misconfigured(http("GET", agent.base() + "/files/" + id), "file store", port);
  expect_store_misconfigured(http("POST", agent.base() + "/files", upload), "file store", port);
  EXPECT_FALSE(agent.wait_for_log({"\"msg\":\"store failure\"", "\"fault\":\"misconfigured\"", "s3://" + bucket,
                                     "NoSuchBucket"})
                   .empty())
      << agent.log();
  s3.reset();
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, S3FaultsBehindAProxyAre503AndPassWhenTheyStop) {
  if (!s3rver_available()) GTEST_SKIP() << kNoS3rver;
  const auto dir = temp_dir("s3-proxy");
  auto s3 = s3rver_at(0, dir / "s3");
  FaultProxy proxy(s3->port(), FaultProxy::Flavor::s3);
  const std::string bucket = "ba-faults-" + uuid_v4().substr(0, 8);
  Agent agent({"--simulate", "--history", "none", "--files", "s3://" + bucket, "--create-missing"},
              store_env({}, proxy.endpoint()));
  for (auto mode : {FaultProxy::Mode::error500, FaultProxy::Mode::throttle, FaultProxy::Mode::expired_token,
                    FaultProxy::Mode::drop}) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    proxy.set(mode);
    expect_store_unavailable(http("GET", agent.base() + "/files"), "file store", proxy.port());
    proxy.set(FaultProxy::Mode::pass);
    auto back = http("GET", agent.base() + "/files");
    EXPECT_EQ(back.status, 200) << back.body;
  }
  EXPECT_FALSE(agent.wait_for_log({"\"msg\":\"store failure\"", "\"error_code\":\"SlowDown\""}).empty())
      << agent.log();
  fs::remove_all(dir);
}

// Without --simulate, against a Bedrock endpoint that cannot be reached as configured.
std::vector<std::string> bedrock_env(const std::string& endpoint) {
  return {"AWS_ACCESS_KEY_ID=AKIDFAULTS", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1",
          "AWS_PROFILE=none-such", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + endpoint};
}

TEST(StoreFaultsE2E, ABedrockEndpointNameThatDoesNotResolveIsAClearModelEndpointError) {
  const auto dir = temp_dir("dns");
  Agent agent({"--history", "none", "--files", (dir / "files").string(), "--retry-max-attempts", "1"},
              bedrock_env("https://does-not-resolve.invalid"));
  auto r = http("POST", agent.base() + "/chat", R"({"input": "hello"})", {{"X-Request-Timeout-Ms", "10000"}});
  EXPECT_TRUE(r.status == 502 || r.status == 504) << r.status << " " << r.body;
  auto [type, message] = error_of(r);
  EXPECT_NE(message.find("model endpoint unreachable"), std::string::npos) << message;
  EXPECT_EQ(r.body.find("does-not-resolve"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("Host not found"), std::string::npos) << r.body;
  // The log has the name that did not resolve.
  EXPECT_FALSE(agent.wait_for_log({"\"route\":\"/chat\"", "does-not-resolve.invalid"}).empty()) << agent.log();
  fs::remove_all(dir);
}

TEST(StoreFaultsE2E, ATlsPeerWithAnUntrustedCertificateGetsNothingAndTheCallerAClearError) {
  if (std::system("openssl version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl command";
  const auto dir = temp_dir("tls");
  const std::string key = (dir / "key.pem").string(), cert = (dir / "cert.pem").string();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " + key +
                         " -out " + cert + " > /dev/null 2>&1")
                            .c_str()),
            0);
  const int port = free_loopback_port();
  // A TLS server (answering HTTP requests with a status page, whatever its stdin) that logs handshakes.
  Child peer({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert", cert, "-key", key, "-www"},
             {}, true);
  ASSERT_TRUE(wait_for_port(port));
  Agent agent({"--history", "none", "--files", (dir / "files").string()},
              bedrock_env("https://127.0.0.1:" + std::to_string(port)));
  auto r = http("POST", agent.base() + "/chat", R"({"input": "a secret the peer must not see"})");
  EXPECT_EQ(r.status, 502) << r.body;
  auto [type, message] = error_of(r);
  EXPECT_NE(message.find("model endpoint not trusted"), std::string::npos) << message;
  EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("self-signed"), std::string::npos) << r.body;
  EXPECT_FALSE(agent.wait_for_log({"\"route\":\"/chat\"", "certificate"}).empty()) << agent.log();
  peer.signal(SIGKILL);
  const std::string seen = peer.rest();
  EXPECT_NE(seen.find("unknown ca"), std::string::npos) << seen;  // we refused its certificate
  EXPECT_EQ(seen.find("POST"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("a secret"), std::string::npos) << seen;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ba::test
