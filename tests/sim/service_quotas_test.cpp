// The simulator's Service Quotas API and our client (aws/service_quotas.hpp) against each other and
// against the official @aws-sdk/client-service-quotas (tests/node/service_quotas_oracle.mjs).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aws/credentials.hpp"
#include "aws/service_quotas.hpp"
#include "net/http_client.hpp"
#include "sim/sim_harness.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;
namespace sq = aws::service_quotas;

// 23 quotas: four pages of 7 through the SDK, one page of 100 through our client.
std::vector<ServiceQuota> many_quotas() {
  std::vector<ServiceQuota> out;
  for (int i = 0; i < 23; ++i) {
    ServiceQuota q;
    q.name = "On-demand InvokeModel tokens per minute for Test Model " + std::to_string(i);
    q.code = quota_code_for(q.name);
    q.value = 1000.0 * (i + 1);
    q.default_value = 5;
    out.push_back(std::move(q));
  }
  return out;
}

SimulatorOptions options() {
  SimulatorOptions o;
  o.access_key_id = "AKIDQUOTAS";
  o.secret_access_key = "quotas-secret";
  o.region = "us-west-2";
  o.service_quotas = many_quotas();
  return o;
}

Result<std::vector<sq::Quota>> list(std::uint16_t port, std::string secret = "quotas-secret",
                                    std::string region = "us-west-2") {
  boost::asio::io_context io;
  auto http = net::make_http_client(io);
  auto creds = aws::make_static_provider(
      {.access_key_id = "AKIDQUOTAS", .secret_access_key = std::move(secret), .source = "static"});
  sq::Client client(*http, *creds,
                    sq::ClientConfig{.region = std::move(region), .endpoint = "http://127.0.0.1:" + std::to_string(port)});
  return testing::run(io, client.list_service_quotas("bedrock"));
}

TEST(ServiceQuotasClient, ListsEveryQuotaFromTheSimulatorWithAVerifiedSignature) {
  testing::SimThread server(options());
  auto got = list(server.port());
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 23u);
  EXPECT_EQ((*got)[4].name, "On-demand InvokeModel tokens per minute for Test Model 4");
  EXPECT_EQ((*got)[4].value, 5000);
  EXPECT_EQ((*got)[4].code, quota_code_for((*got)[4].name));
  EXPECT_EQ(server.sim().stats().auth_failures, 0u);
  EXPECT_EQ(server.sim().stats().service_quotas_calls, 1u);
  EXPECT_EQ(server.sim().stats().requests_total, 0u);  // not a Bedrock call
}

TEST(ServiceQuotasClient, FollowsNextTokenAcrossPages) {
  auto opts = options();
  for (int i = 23; i < 230; ++i) {
    ServiceQuota q;
    q.name = "Cross-Region InvokeModel tokens per minute for Test Model " + std::to_string(i);
    q.code = quota_code_for(q.name);
    q.value = i;
    opts.service_quotas.push_back(std::move(q));
  }
  testing::SimThread server(opts);
  auto got = list(server.port());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->size(), 230u);
  EXPECT_EQ(got->back().value, 229);
  EXPECT_EQ(server.sim().stats().service_quotas_calls, 3u);  // 100 + 100 + 30
}

TEST(ServiceQuotasClient, FailuresAreErrorsNamingTheService) {
  testing::SimThread server(options());
  auto bad = list(server.port(), "wrong-secret");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Service Quotas ListServiceQuotas"), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().kind, ErrorKind::unauthorized);
  auto wrong_region = list(server.port(), "quotas-secret", "eu-west-1");  // the scope must name the simulator's region
  EXPECT_FALSE(wrong_region);
  server.sim().fail_service_quotas(1);
  auto denied = list(server.port());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::forbidden) << denied.error().message;
  EXPECT_NE(denied.error().message.find("servicequotas:ListServiceQuotas"), std::string::npos) << denied.error().message;
  EXPECT_TRUE(list(server.port()));  // only the next call failed
}

TEST(ServiceQuotasClient, ParsesPagesAndSkipsQuotasWithoutAValue) {
  auto page = sq::parse_list_service_quotas(
      R"({"Quotas":[{"QuotaCode":"L-1","QuotaName":"a","Value":5.0E0},{"QuotaCode":"L-2","QuotaName":"b"}],"NextToken":"t"})");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->quotas.size(), 1u);
  EXPECT_EQ(page->quotas[0].value, 5);
  EXPECT_EQ(page->next_token, "t");
  EXPECT_FALSE(sq::parse_list_service_quotas("[]"));
  EXPECT_FALSE(sq::parse_list_service_quotas(R"({"Quotas":{}})"));
}

TEST(ServiceQuotasClient, EndpointHonoursTheServiceOverride) {
  auto env = [](const char* over) {
    return aws::GetEnv([over](std::string_view name) -> std::optional<std::string> {
      if (over && name == "AWS_ENDPOINT_URL_SERVICE_QUOTAS") return std::string(over);
      return std::nullopt;
    });
  };
  EXPECT_EQ(sq::resolve_service_quotas_endpoint("eu-west-1", env(nullptr)), "https://servicequotas.eu-west-1.amazonaws.com");
  EXPECT_EQ(sq::resolve_service_quotas_endpoint("eu-west-1", env("http://127.0.0.1:9/")), "http://127.0.0.1:9");
}

bool node_available() {
  if (!std::filesystem::exists(std::filesystem::path(BA_SOURCE_DIR) / "node_modules" / "@aws-sdk" / "client-service-quotas"))
    return false;
  return std::system("node --version > /dev/null 2>&1") == 0;
}

TEST(ServiceQuotasOracle, OurRequestIsTheOfficialClientsAndItReadsTheSimulator) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-service-quotas not available";
  testing::SimThread server(options());
  const std::string code = quota_code_for("On-demand InvokeModel tokens per minute for Test Model 2");
  const auto out = std::filesystem::temp_directory_path() / ("ba-sq-oracle-" + std::to_string(server.port()) + ".json");
  const std::string cmd = "cd '" + std::string(BA_SOURCE_DIR) +
                          "' && NODE_NO_WARNINGS=1 node tests/node/service_quotas_oracle.mjs " +
                          std::to_string(server.port()) + " AKIDQUOTAS quotas-secret us-west-2 " + code + " > '" +
                          out.string() + "' 2>/dev/null";  // stderr: the SDK's deprecation notes
  const int rc = std::system(cmd.c_str());
  std::stringstream ss;
  ss << std::ifstream(out).rdbuf();
  std::filesystem::remove(out);
  ASSERT_EQ(rc, 0) << ss.str();
  const json::value v = json::parse(ss.str());
  ASSERT_TRUE(v.at("ok").as_bool()) << ss.str();

  // The request: the same operation header, content type, method, path and body bytes.
  const auto& req = v.at("request").as_object();
  EXPECT_EQ(req.at("method").as_string(), "POST");
  EXPECT_EQ(req.at("path").as_string(), "/");
  EXPECT_EQ(req.at("headers").at("x-amz-target").as_string(), std::string(sq::kTargetPrefix) + "ListServiceQuotas");
  EXPECT_EQ(req.at("headers").at("content-type").as_string(), sq::kContentType);
  EXPECT_EQ(req.at("body").as_string(), sq::list_service_quotas_body("bedrock", 100, "7"));

  // The simulator through the SDK: every quota over four pages, GetServiceQuota, and its errors.
  const auto& listed = v.at("listed").as_array();
  ASSERT_EQ(listed.size(), 23u);
  auto ours = list(server.port());
  ASSERT_TRUE(ours);
  for (std::size_t i = 0; i < listed.size(); ++i) {
    EXPECT_EQ(listed[i].at("code").as_string(), (*ours)[i].code);
    EXPECT_EQ(listed[i].at("name").as_string(), (*ours)[i].name);
    EXPECT_EQ(listed[i].at("value").to_number<double>(), (*ours)[i].value);
  }
  EXPECT_EQ(v.at("get").to_number<double>(), 3000);
  EXPECT_EQ(v.at("missing").as_string(), "NoSuchResourceException");
  EXPECT_EQ(v.at("bad_signature").as_string(), "InvalidSignatureException");
}

}  // namespace
}  // namespace ba::sim
