// No secret in any log line or error body (issue 16): the real binary, given known secrets (its callers'
// API keys, AWS access key, secret key and session token), is driven through every kind of answer (chats
// plain and streamed on the three chat routes, errors of every origin: bad and missing keys, validation,
// upstream faults, throttles, an unreachable file store, presigned URLs), and then everything it wrote
// to its log and every body it answered is searched for those secrets and for SigV4 signatures.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "e2e/e2e_harness.hpp"
#include "support/child_process.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

std::string binary() { return std::string(BA_BINARY_DIR) + "/bedrock-agent"; }

// Distinctive values, so a match can only be a leak.
constexpr const char* kApiKey = "sk-ba-SECRET-apikey-7f3a9c1e5b";
constexpr const char* kWrongKey = "sk-ba-SECRET-wrongkey-2d8e4f6a0c";
constexpr const char* kAccessKeyId = "AKIASECRETTEST7Q2WZ";
constexpr const char* kSecretKey = "SECRETsecretKEY/7f3a9c1e5b2d8e4f6a0c1b3d5e7f9a";
constexpr const char* kSessionToken = "SECRETsessionTOKEN//7f3a9c1e5b2d8e4f6a0c1b3d5e7f9aIQoJb3JpZ2luX2Vj";

std::optional<int> port_of(Child& child, std::string_view msg, std::vector<std::string>& lines) {
  while (auto l = child.line()) {
    lines.push_back(*l);
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("msg") && v.at("msg").as_string() == msg) {
      return static_cast<int>(v.at("port").to_number<int>());
    }
  }
  return std::nullopt;
}

struct Answer {
  int status = 0;
  std::string body;
  std::string headers;  // "name: value\n" each
};

class Caller {
 public:
  explicit Caller(int port)
      : base_("http://127.0.0.1:" + std::to_string(port)),
        client_(net::make_http_client(io_, net::ClientConfig{.use_proxy_env = false})) {}

  Answer send(std::string method, std::string path, std::string body, net::Headers headers) {
    std::optional<Result<net::HttpResponse>> out;
    if (!body.empty()) headers.set("Content-Type", "application/json");
    boost::asio::co_spawn(
        io_, client_->send(net::HttpRequest{.method = std::move(method), .url = base_ + path, .headers = std::move(headers), .body = std::move(body)}),
        [&](std::exception_ptr, Result<net::HttpResponse> r) {
          out = std::move(r);
          io_.stop();
        });
    io_.restart();
    io_.run();
    if (!out || !*out) throw std::runtime_error("request to " + path + " failed");
    Answer a{.status = (*out)->status, .body = (*out)->body};
    for (const auto& h : (*out)->headers) a.headers += h.name + ": " + h.value + "\n";
    return a;
  }

 private:
  boost::asio::io_context io_;
  std::string base_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST(SecretsE2E, NoSecretReachesALogLineOrAnErrorBody) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-secrets-" + uuid_v4());
  std::filesystem::create_directories(dir);
  {
    std::ofstream keys(dir / "keys");
    keys << "# the callers' keys\n" << kApiKey << "\n";
  }

  // The simulator verifies the agent's SigV4 signatures with the secret key (a wrong signature is 403).
  std::vector<std::string> sim_lines;  // the simulator's own log (not the agent's; not searched)
  Child sim({binary(), "simulate-bedrock", "--port", "0", "--access-key-id", kAccessKeyId, "--secret-access-key", kSecretKey});
  auto sim_port = port_of(sim, "simulator listening", sim_lines);
  ASSERT_TRUE(sim_port) << sim.rest();
  const std::string sim_url = "http://127.0.0.1:" + std::to_string(*sim_port);

  // The file store: s3rver verifying SigV4 with the same key pair.
  if (!node_package_available("s3rver")) GTEST_SKIP() << "s3rver is not installed (node_modules/s3rver)";
  std::unique_ptr<NodeServer> s3(new NodeServer(start_s3rver(dir / "s3", kAccessKeyId, kSecretKey)));

  std::vector<std::string> agent_lines;
  Child agent({binary(), "serve", "--port", "0", "--api-keys-file", (dir / "keys").string(), "--history",
               "sqlite:" + (dir / "h.db").string(), "--files", "s3://ba-secrets-test-bucket", "--create-missing", "--max-rpm", "1000",
               "--model-id", "anthropic.claude-3-haiku-20240307-v1:0"},
              {std::string("AWS_ACCESS_KEY_ID=") + kAccessKeyId, std::string("AWS_SECRET_ACCESS_KEY=") + kSecretKey,
               std::string("AWS_SESSION_TOKEN=") + kSessionToken, "AWS_REGION=us-east-1", "AWS_PROFILE=",
               "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + sim_url,
               "AWS_ENDPOINT_URL_S3=" + s3->endpoint(), "AWS_CONFIG_FILE=/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE=/dev/null"});
  auto port = port_of(agent, "listening", agent_lines);
  ASSERT_TRUE(port) << agent.rest();

  Caller caller(*port);
  Caller sim_control(*sim_port);
  const net::Headers bearer{{"Authorization", std::string("Bearer ") + kApiKey}};
  const net::Headers x_api_key{{"x-api-key", kApiKey}};
  std::vector<Answer> answers;
  auto fault = [&](std::string kind, int count = 1) {
    ASSERT_EQ(sim_control.send("POST", "/sim/fault?kind=" + kind + "&count=" + std::to_string(count), "", {}).status, 200);
  };

  // Successful chats on the three routes, plain and streamed.
  answers.push_back(caller.send("POST", "/chat", R"({"input":"echo:hello","conversation_id":"c1"})", bearer));
  ASSERT_EQ(answers.back().status, 200) << answers.back().body;
  answers.push_back(caller.send("POST", "/chat", R"({"input":"stream please","stream":true})", x_api_key));
  EXPECT_EQ(answers.back().status, 200);
  answers.push_back(caller.send("POST", "/v1/chat/completions",
                                R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]})",
                                bearer));
  EXPECT_EQ(answers.back().status, 200) << answers.back().body;
  answers.push_back(caller.send(
      "POST", "/v1/messages",
      R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})",
      net::Headers{{"x-api-key", kApiKey}, {"anthropic-version", "2023-06-01"}}));
  EXPECT_EQ(answers.back().status, 200);
  answers.push_back(caller.send("GET", "/conversations/c1", "", bearer));
  EXPECT_EQ(answers.back().status, 200);

  // Authentication failures: a wrong key in each header, in a body field, and none.
  answers.push_back(caller.send("POST", "/chat", R"({"input":"hi"})", {{"Authorization", std::string("Bearer ") + kWrongKey}}));
  EXPECT_EQ(answers.back().status, 401);
  answers.push_back(caller.send("POST", "/v1/messages", R"({"input":"hi"})", {{"x-api-key", kWrongKey}}));
  EXPECT_EQ(answers.back().status, 401);
  answers.push_back(caller.send("GET", "/conversations", "", {{"Authorization", std::string("Basic ") + kWrongKey}}));
  EXPECT_EQ(answers.back().status, 401);
  answers.push_back(caller.send("POST", "/chat", R"({"input":"hi"})", {}));
  EXPECT_EQ(answers.back().status, 401);

  // Validation errors that echo what the caller sent.
  answers.push_back(caller.send("POST", "/chat", std::string(R"({"input":"hi","api_key":")") + kApiKey + R"("})", bearer));
  EXPECT_EQ(answers.back().status, 400);
  answers.push_back(caller.send("POST", "/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"hi"}]})", bearer));
  EXPECT_EQ(answers.back().status, 404);

  // Upstream failures: each fault once, plain and streamed (retries included).
  // (A 500 is retried: every attempt gets one.)
  for (std::string kind : {"access-denied", "validation", "model-error", "throttle-daily", "500", "not-found"}) {
    fault(kind, kind == "500" ? 3 : 1);
    answers.push_back(caller.send("POST", "/chat", R"({"input":"hi"})", bearer));
    EXPECT_GE(answers.back().status, 400) << kind;
  }
  fault("stream-exception:modelStreamErrorException");
  answers.push_back(caller.send("POST", "/chat", R"({"input":"a long answer [[tokens=64]]","stream":true})", bearer));

  // Files: presigning (its URL carries a signature, for the caller only), an upload to an unreachable store.
  auto presign = caller.send("POST", "/files/presign", R"({"name":"report.pdf","content_type":"application/pdf"})", bearer);
  std::string signature;
  if (presign.status == 200) {
    const auto url = std::string(json::parse(presign.body).at("url").as_string());
    const auto at = url.find("X-Amz-Signature=");
    ASSERT_NE(at, std::string::npos) << url;
    signature = url.substr(at + 16, 64);
    EXPECT_EQ(url.find(kSecretKey), std::string::npos);
  } else {
    ADD_FAILURE() << "presign: " << presign.status << " " << presign.body;
  }
  answers.push_back(caller.send("POST", "/files", R"({"name":"a.txt","content_base64":"aGVsbG8="})", bearer));
  EXPECT_EQ(answers.back().status, 201) << answers.back().body;
  answers.push_back(caller.send("GET", "/files/no-such-file", "", bearer));
  EXPECT_EQ(answers.back().status, 404) << answers.back().body;
  // The file store goes away: an upload and a chat with a file fail, and say so without any secret.
  s3.reset();
  answers.push_back(caller.send("POST", "/files", R"({"name":"b.txt","content_base64":"aGVsbG8="})", bearer));
  EXPECT_GE(answers.back().status, 500) << answers.back().body;
  answers.push_back(caller.send("GET", "/files", "", bearer));
  answers.push_back(caller.send("GET", "/metrics", "", bearer));
  answers.push_back(caller.send("GET", "/health", "", {}));

  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_exit(), 0);
  while (auto l = agent.line()) agent_lines.push_back(*l);
  ASSERT_GT(agent_lines.size(), answers.size()) << "the request log is missing";

  std::vector<std::string> secrets{kApiKey, kWrongKey, kSecretKey, kSessionToken};
  if (!signature.empty()) secrets.push_back(signature);
  // A SigV4 Authorization header's or presigned URL's signature, whoever made it.
  const std::vector<std::string> signature_marks{"Signature=", "X-Amz-Signature", "X-Amz-Security-Token", "Credential="};
  for (const std::string& line : agent_lines) {
    for (const auto& s : secrets) EXPECT_EQ(line.find(s), std::string::npos) << "a secret in the log: " << line;
    for (const auto& m : signature_marks) EXPECT_EQ(line.find(m), std::string::npos) << "a signature in the log: " << line;
    // The API key's fingerprint is how callers appear; its own bytes never do.
    EXPECT_EQ(line.find("7f3a9c1e5b"), std::string::npos) << line;
  }
  for (const Answer& a : answers) {
    for (const auto& s : secrets) {
      EXPECT_EQ(a.body.find(s), std::string::npos) << "a secret in a body: " << a.status << " " << a.body;
      EXPECT_EQ(a.headers.find(s), std::string::npos) << "a secret in a header: " << a.headers;
    }
    for (const auto& m : signature_marks) EXPECT_EQ(a.body.find(m), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("7f3a9c1e5b"), std::string::npos) << a.body;
  }
  // The simulator verified every signature (so the secret key was really in use) and refused none.
  auto stats = json::parse(sim_control.send("GET", "/sim/stats", "", {}).body);
  EXPECT_GT(stats.at("succeeded").to_number<int>(), 3) << stats;
  EXPECT_EQ(stats.at("auth_failures").to_number<int>(), 0) << stats;
  sim.signal(SIGTERM);
  sim.wait_exit();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ba::test
