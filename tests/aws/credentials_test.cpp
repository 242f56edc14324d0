#include "aws/credentials.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "aws/config_file.hpp"
#include "aws/endpoints.hpp"
#include "support/aws_oracles.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"

namespace ba::aws {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

GetEnv env_of(const Env& env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// Runs one awaitable to completion on `io`.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> a) {
  std::optional<T> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(a)); }, asio::detached);
  io.restart();
  while (!out && io.run_one() > 0) {
  }
  if (!out) throw std::runtime_error("the io_context ran out of work before the operation completed");
  return std::move(*out);
}

class CredentialsTest : public ::testing::Test {
 protected:
  CredentialsTest() : http_(net::make_http_client(io_, net::ClientConfig{.use_proxy_env = false})) {}

  // A provider whose environment is `env` plus HOME=<temp dir> and IMDS disabled unless given.
  std::unique_ptr<CredentialsProvider> chain(Env env, std::string profile = {}) {
    env.try_emplace("HOME", home_.path().string());
    env.try_emplace("AWS_EC2_METADATA_DISABLED", "true");
    return make_default_chain(*http_, ProviderSettings{.profile = std::move(profile), .getenv = env_of(env)}, clock_);
  }
  Result<Credentials> get(CredentialsProvider& p) { return run(io_, p.get()); }

  asio::io_context io_;
  std::unique_ptr<net::HttpClient> http_;
  test::TempDir home_;
  ManualClock clock_{WallTime{std::chrono::seconds{1'800'000'000}}};  // 2027-01-15T08:00:00Z
};

TEST_F(CredentialsTest, EnvironmentSource) {
  auto p = chain({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "secret"}, {"AWS_SESSION_TOKEN", "tok"}});
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->secret_access_key, "secret");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->source, "environment");
  EXPECT_FALSE(c->expiration.has_value());
}

TEST_F(CredentialsTest, NothingConfiguredIsUnauthorizedListingSources) {
  auto p = chain({{"AWS_ACCESS_KEY_ID", "only-id"}});
  auto c = get(*p);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::unauthorized);
  for (const char* s : {"environment", "profile default", "container", "imds", "AWS_EC2_METADATA_DISABLED"})
    EXPECT_NE(c.error().message.find(s), std::string::npos) << s << " in " << c.error().message;
}

TEST_F(CredentialsTest, ProfilesFromBothFilesWithPrecedence) {
  home_.write(".aws/credentials",
              "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s-default\n\n"
              "[work]\naws_access_key_id=AKIDWORK ; inline comment\naws_secret_access_key=s-work\n"
              "aws_session_token = t-work\n\n[both]\naws_access_key_id = FROMCREDS\naws_secret_access_key = s1\n");
  home_.write(".aws/config",
              "[default]\nregion = us-west-2\n[profile cfgonly]\naws_access_key_id = AKIDCFG\n"
              "aws_secret_access_key = s-cfg\n[profile both]\naws_access_key_id = FROMCONFIG\n"
              "aws_secret_access_key = s2\n[work]\naws_access_key_id = NOT-A-PROFILE-SECTION\n");
  auto d = get(*chain({}));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(d->source, "profile:default");

  auto w = get(*chain({{"AWS_PROFILE", "work"}}));
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->access_key_id, "AKIDWORK");
  EXPECT_EQ(w->session_token, "t-work");
  EXPECT_EQ(w->source, "profile:work");

  auto explicit_beats_env = get(*chain({{"AWS_PROFILE", "work"}}, "default"));
  ASSERT_TRUE(explicit_beats_env);
  EXPECT_EQ(explicit_beats_env->access_key_id, "AKIDDEFAULT");

  auto cfg = get(*chain({{"AWS_PROFILE", "cfgonly"}}));
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->access_key_id, "AKIDCFG");

  auto both = get(*chain({}, "both"));  // the credentials file wins over config
  ASSERT_TRUE(both);
  EXPECT_EQ(both->access_key_id, "FROMCREDS");

  auto env_first = get(*chain({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "x"}, {"AWS_PROFILE", "work"}}));
  ASSERT_TRUE(env_first);
  EXPECT_EQ(env_first->source, "environment");

  auto missing = get(*chain({{"AWS_PROFILE", "nope"}}));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("profile nope"), std::string::npos) << missing.error().message;
}

TEST_F(CredentialsTest, FileLocationsFromEnvironment) {
  auto creds = home_.write("elsewhere/creds.ini", "[p]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  auto p = chain({{"AWS_SHARED_CREDENTIALS_FILE", creds.string()}, {"AWS_PROFILE", "p"}});
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  auto cfg = home_.write("elsewhere/cfg.ini", "[profile q]\naws_access_key_id = AKIDCFGFILE\naws_secret_access_key = s\n");
  auto q = get(*chain({{"AWS_CONFIG_FILE", cfg.string()}, {"AWS_PROFILE", "q"}}));
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->access_key_id, "AKIDCFGFILE");
}

// A credential_process script that counts its runs and prints keys numbered by run, expiring at the
// time written in <home>/exp.
void write_process(const test::TempDir& home, const std::string& profile_extra = "") {
  const std::string dir = home.path().string();
  home.write("proc.sh",
             "#!/bin/sh\nn=$(cat '" + dir + "/count' 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > '" + dir +
                 "/count'\nexp=$(cat '" + dir + "/exp')\n"
                 "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC%s\", \"SecretAccessKey\": \"s\", "
                 "\"SessionToken\": \"t\", \"Expiration\": \"%s\"}' \"$n\" \"$exp\"\n");
  home.write(".aws/config", "[default]\ncredential_process = sh '" + dir + "/proc.sh'\n" + profile_extra);
}
int runs(const test::TempDir& home) {
  std::ifstream f(home.path() / "count");
  int n = 0;
  f >> n;
  return n;
}

TEST_F(CredentialsTest, CredentialProcess) {
  write_process(home_);
  home_.write("exp", "2027-01-15T09:00:00Z");
  auto p = chain({});
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDPROC1");
  EXPECT_EQ(c->session_token, "t");
  EXPECT_EQ(c->source, "process");
  ASSERT_TRUE(c->expiration);
  EXPECT_EQ(*c->expiration, WallTime{std::chrono::seconds{1'800'003'600}});
}

TEST_F(CredentialsTest, CredentialProcessFailures) {
  home_.write(".aws/config", "[default]\ncredential_process = sh -c 'exit 3'\n[profile nover]\n"
                             "credential_process = echo '{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\"}'\n");
  auto bad = get(*chain({}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("status 3"), std::string::npos) << bad.error().message;
  auto nover = get(*chain({}, "nover"));
  ASSERT_FALSE(nover);
  EXPECT_NE(nover.error().message.find("Version"), std::string::npos) << nover.error().message;
}

TEST_F(CredentialsTest, CachesAndRefreshesFiveMinutesBeforeExpiry) {
  write_process(home_);
  home_.write("exp", "2027-01-15T09:00:00Z");  // clock starts at 08:00
  auto p = chain({});
  ASSERT_EQ(get(*p)->access_key_id, "AKIDPROC1");
  ASSERT_EQ(get(*p)->access_key_id, "AKIDPROC1");
  EXPECT_EQ(runs(home_), 1);
  clock_.advance(54min);  // 08:54, 6 minutes left: cached
  EXPECT_EQ(get(*p)->access_key_id, "AKIDPROC1");
  EXPECT_EQ(runs(home_), 1);
  home_.write("exp", "2027-01-15T10:00:00Z");
  clock_.advance(2min);  // 08:56, 4 minutes left: refresh
  EXPECT_EQ(get(*p)->access_key_id, "AKIDPROC2");
  EXPECT_EQ(get(*p)->access_key_id, "AKIDPROC2");
  EXPECT_EQ(runs(home_), 2);
}

TEST_F(CredentialsTest, FailedRefreshServesUnexpiredCredentialsThenFails) {
  write_process(home_);
  home_.write("exp", "2027-01-15T09:00:00Z");
  auto p = chain({});
  ASSERT_TRUE(get(*p));
  home_.write(".aws/config", "[default]\ncredential_process = sh -c 'exit 1'\n");
  clock_.advance(57min);  // inside the refresh window: refresh fails, cached still valid
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDPROC1");
  clock_.advance(4min);  // 09:01: expired
  auto e = get(*p);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::unauthorized);
}

TEST_F(CredentialsTest, ConcurrentGetsShareOneRefresh) {
  write_process(home_);
  home_.write("exp", "2027-01-15T09:00:00Z");
  auto p = chain({});
  std::vector<std::string> keys;
  for (int i = 0; i < 8; ++i) {
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
      auto c = co_await p->get();
      keys.push_back(c ? c->access_key_id : "error: " + c.error().message);
    }, asio::detached);
  }
  io_.run();
  ASSERT_EQ(keys.size(), 8u);
  for (const auto& k : keys) EXPECT_EQ(k, "AKIDPROC1");
  EXPECT_EQ(runs(home_), 1);
}

// --- container and IMDS against a real loopback server ------------------------------------------------

// The server runs on its own io_context and thread (as a real metadata endpoint would be another
// process); the provider under test runs on the fixture's io_context.
class ServerTest : public CredentialsTest {
 protected:
  void serve(net::Handler handler) {
    server_ = net::make_http_server(server_io_, net::ServerOptions{}, std::move(handler));
    auto port = server_->start();
    ASSERT_TRUE(port) << port.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    thread_ = std::thread([this] { server_io_.run(); });
  }
  ~ServerTest() override {
    if (server_) server_->stop(0ms);
    if (thread_.joinable()) thread_.join();
  }
  void record(std::string line) {
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  asio::io_context server_io_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  std::string base_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

constexpr const char* kCredsJson =
    R"({"AccessKeyId":"AKIDNET","SecretAccessKey":"snet","Token":"tnet","Expiration":"2027-01-15T14:00:00Z"})";

TEST_F(ServerTest, ContainerFullUriWithTokenFromEnvAndFile) {
  serve([this](net::ServerRequest& r) -> asio::awaitable<net::ServerResponse> {
    record(r.method + " " + r.target + " " + std::string(r.headers.get("Authorization").value_or("-")));
    net::ServerResponse resp;
    if (r.target != "/v2/credentials/abc") resp.status = 404;
    else resp.body = kCredsJson;
    co_return resp;
  });
  auto p = chain({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", base_ + "/v2/credentials/abc"},
                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"}});
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDNET");
  EXPECT_EQ(c->session_token, "tnet");
  EXPECT_EQ(c->source, "container");
  EXPECT_EQ(*c->expiration, WallTime{std::chrono::seconds{1'800'021'600}});
  auto file = home_.write("token", "file-token\n");
  auto q = chain({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", base_ + "/v2/credentials/abc"},
                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"},
                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file.string()}});
  ASSERT_TRUE(get(*q));
  auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "GET /v2/credentials/abc env-token");
  EXPECT_EQ(got[1], "GET /v2/credentials/abc file-token");
}

TEST_F(ServerTest, ContainerErrorsFallThroughWithReason) {
  serve([](net::ServerRequest&) -> asio::awaitable<net::ServerResponse> {
    co_return net::ServerResponse{.status = 500, .body = "oops"};
  });
  auto c = get(*chain({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", base_ + "/creds"}}));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("container: HTTP 500"), std::string::npos) << c.error().message;
  auto remote = get(*chain({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds"}}));
  ASSERT_FALSE(remote);
  EXPECT_NE(remote.error().message.find("not allowed"), std::string::npos) << remote.error().message;
}

TEST_F(ServerTest, ImdsV2TokenThenRoleThenCredentials) {
  serve([this](net::ServerRequest& r) -> asio::awaitable<net::ServerResponse> {
    std::string h = r.method == "PUT" ? std::string(r.headers.get("X-aws-ec2-metadata-token-ttl-seconds").value_or("-"))
                                      : std::string(r.headers.get("X-aws-ec2-metadata-token").value_or("-"));
    record(r.method + " " + r.target + " " + h);
    net::ServerResponse resp;
    if (r.method == "PUT" && r.target == "/latest/api/token") resp.body = "imds-token";
    else if (r.headers.get("X-aws-ec2-metadata-token") != "imds-token") resp.status = 401;
    else if (r.target == "/latest/meta-data/iam/security-credentials/") resp.body = "my-role\n";
    else if (r.target == "/latest/meta-data/iam/security-credentials/my-role")
      resp.body = R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"AKIDIMDS","SecretAccessKey":"simds","Token":"timds","Expiration":"2027-01-15T14:00:00Z"})";
    else resp.status = 404;
    co_return resp;
  });
  auto p = chain({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", base_ + "/"}, {"AWS_EC2_METADATA_DISABLED", "false"}});
  auto c = get(*p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDIMDS");
  EXPECT_EQ(c->session_token, "timds");
  EXPECT_EQ(c->source, "imds");
  auto got = lines();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "PUT /latest/api/token 21600");
  EXPECT_EQ(got[1], "GET /latest/meta-data/iam/security-credentials/ imds-token");
  EXPECT_EQ(got[2], "GET /latest/meta-data/iam/security-credentials/my-role imds-token");
  ASSERT_TRUE(get(*p));  // cached: no new requests
  EXPECT_EQ(lines().size(), 3u);
}

TEST_F(ServerTest, ImdsDisabledMakesNoRequest) {
  serve([this](net::ServerRequest& r) -> asio::awaitable<net::ServerResponse> {
    record(r.target);
    co_return net::ServerResponse{.status = 404};
  });
  auto c = get(*chain({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", base_}, {"AWS_EC2_METADATA_DISABLED", "TRUE"}}));
  ASSERT_FALSE(c);
  EXPECT_TRUE(lines().empty());
  auto refused = get(*chain({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", base_}, {"AWS_EC2_METADATA_DISABLED", "false"}}));
  ASSERT_FALSE(refused);  // the server has no token endpoint
  EXPECT_NE(refused.error().message.find("imds: token request returned HTTP 404"), std::string::npos)
      << refused.error().message;
}

TEST(StaticProvider, ReturnsItsCredentials) {
  asio::io_context io;
  auto p = make_static_provider(Credentials{.access_key_id = "A", .secret_access_key = "B"});
  auto c = run(io, p->get());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "A");
  EXPECT_EQ(c->source, "static");
}

// --- config files, endpoints, regions ------------------------------------------------------------------

TEST(SharedConfig, IniParsing) {
  auto ini = parse_ini(
      "; top comment\n[default]\nregion = eu-west-1   # trailing\nKey=Va#lue\n\n[profile  spaced ]\n"
      "s3 =\n  max_concurrent_requests = 10\nregion=us-east-2\r\n[ plain ]\nx = y\n");
  ASSERT_TRUE(ini.contains("default"));
  EXPECT_EQ(ini["default"]["region"], "eu-west-1");
  EXPECT_EQ(ini["default"]["key"], "Va#lue");
  auto spaced = config_profile(ini, "spaced");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->at("region"), "us-east-2");
  EXPECT_NE(spaced->at("s3").find("max_concurrent_requests = 10"), std::string::npos);
  EXPECT_FALSE(config_profile(ini, "plain").has_value());  // config needs "profile " for named profiles
  EXPECT_TRUE(credentials_profile(ini, "plain").has_value());
  EXPECT_EQ(config_profile(ini, "default")->at("region"), "eu-west-1");
}

TEST(SharedConfig, Iso8601) {
  auto t = WallTime{std::chrono::seconds{1'800'003'600}};
  EXPECT_EQ(parse_iso8601("2027-01-15T09:00:00Z"), t);
  EXPECT_EQ(parse_iso8601("2027-01-15T09:00:00.123Z"), t);
  EXPECT_EQ(parse_iso8601("2027-01-15T10:00:00+01:00"), t);
  EXPECT_FALSE(parse_iso8601("tomorrow").has_value());
  EXPECT_FALSE(parse_iso8601("2027-13-15T09:00:00Z").has_value());
}

// Found by fuzz/aws/config_file_fuzz.cpp: years the clock cannot hold overflowed (undefined behaviour in
// from_time_t: "+026-..." read as year 26, and "9999-12-31", which credential processes send for
// credentials that never expire), and sscanf's %d took signs and spaces.
TEST(SharedConfig, Iso8601OutsideTheClockAndNonDigits) {
  EXPECT_EQ(parse_iso8601("9999-12-31T23:59:59Z"), WallTime::max());
  EXPECT_EQ(parse_iso8601("2263-01-01T00:00:00Z"), WallTime::max());
  EXPECT_FALSE(parse_iso8601("0026-11-25T13:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("+026-11-25T13:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("2027-01-15T-1:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("2027- 1-15T09:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("2027-01-15T09:00:00+1:000").has_value());
  EXPECT_EQ(parse_iso8601("1970-01-01T00:00:00Z"), WallTime{});
}

TEST(Endpoints, ServiceSpecificThenGlobalThenDefault) {
  Env env;
  EXPECT_EQ(resolve_endpoint("Bedrock Runtime", "bedrock-runtime", "us-east-1", env_of(env)),
            "https://bedrock-runtime.us-east-1.amazonaws.com");
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:4566/";
  EXPECT_EQ(resolve_endpoint("Bedrock Runtime", "bedrock-runtime", "us-east-1", env_of(env)), "http://127.0.0.1:4566");
  env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = "http://127.0.0.1:9000";
  EXPECT_EQ(resolve_endpoint("Bedrock Runtime", "bedrock-runtime", "us-east-1", env_of(env)), "http://127.0.0.1:9000");
  EXPECT_EQ(resolve_endpoint("DynamoDB", "dynamodb", "eu-west-1", env_of(env)), "http://127.0.0.1:4566");
  env["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:8000";
  EXPECT_EQ(resolve_endpoint("DynamoDB", "dynamodb", "eu-west-1", env_of(env)), "http://127.0.0.1:8000");
  env["AWS_ENDPOINT_URL_SOME_SERVICE"] = "http://127.0.0.1:1";
  EXPECT_EQ(resolve_endpoint("some-service", "x", "r", env_of(env)), "http://127.0.0.1:1");
}

TEST(Endpoints, RegionPrecedence) {
  test::TempDir home;
  home.write(".aws/config", "[default]\nregion = eu-central-1\n[profile other]\nregion = ap-south-1\n");
  Env env{{"HOME", home.path().string()}};
  EXPECT_EQ(resolve_region("", "", env_of(env)), "eu-central-1");
  EXPECT_EQ(resolve_region("", "other", env_of(env)), "ap-south-1");
  env["AWS_PROFILE"] = "other";
  EXPECT_EQ(resolve_region("", "", env_of(env)), "ap-south-1");
  env["AWS_DEFAULT_REGION"] = "us-west-1";
  EXPECT_EQ(resolve_region("", "", env_of(env)), "us-west-1");
  env["AWS_REGION"] = "us-west-2";
  EXPECT_EQ(resolve_region("", "", env_of(env)), "us-west-2");
  EXPECT_EQ(resolve_region("sa-east-1", "", env_of(env)), "sa-east-1");
  Env none{{"HOME", (home.path() / "nowhere").string()}};
  EXPECT_EQ(resolve_region("", "", env_of(none)), "");
}

}  // namespace
}  // namespace ba::aws

namespace ba::aws {
namespace {
TEST_F(ServerTest, ClientReturnsLongBodyIntact) {
  serve([](net::ServerRequest&) -> asio::awaitable<net::ServerResponse> {
    net::ServerResponse r;
    r.body = "hello hello hello hello hello hello";
    co_return r;
  });
  net::HttpRequest req{.method = "GET", .url = base_ + "/x"};
  auto fut = asio::co_spawn(io_, http_->send(req), asio::use_future);
  io_.restart();
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (io_.run_one() == 0) io_.restart();
  }
  auto r = fut.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "hello hello hello hello hello hello");
}
}  // namespace
}  // namespace ba::aws

namespace ba::aws {
namespace {

// The variable the SDKs read a service's bearer token from (getBearerTokenEnvKey in @aws-sdk/core).
TEST(BearerToken, TheVariableIsNamedAfterTheSigningName) {
  EXPECT_EQ(bearer_token_env_name("bedrock"), "AWS_BEARER_TOKEN_BEDROCK");
  EXPECT_EQ(bearer_token_env_name("bedrock-agent.x"), "AWS_BEARER_TOKEN_BEDROCK_AGENT_X");
  std::map<std::string, std::string> vars{{"AWS_BEARER_TOKEN_BEDROCK", "ABSKkey"}, {"AWS_BEARER_TOKEN_S3", ""}};
  GetEnv env = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(bearer_token_from_env(env, "bedrock"), "ABSKkey");
  EXPECT_EQ(bearer_token_from_env(env, "s3"), std::nullopt);  // empty: unset
  EXPECT_EQ(bearer_token_from_env(env, "dynamodb"), std::nullopt);
}

}  // namespace
}  // namespace ba::aws
