// Differential tests against the official JS SDK (tests/node/s3_oracle.mjs): what we write the SDK reads,
// what the SDK writes we read, and our presigned URLs carry the same query (signature included) as the
// SDK's S3RequestPresigner for the same credentials, time and request.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "aws/s3.hpp"
#include "support/s3_rig.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

namespace json = boost::json;
using test::S3Rig;

bool sdk_available() {
  return test::node_package_available("@aws-sdk/client-s3") && test::node_package_available("@aws-sdk/s3-request-presigner");
}

json::object oracle(const json::object& request) {
  const std::string out = test::run_s3_oracle(json::serialize(request));
  boost::system::error_code ec;
  auto v = json::parse(out, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "oracle output is not JSON: " << out;
    return {};
  }
  if (auto* e = v.as_object().if_contains("error")) ADD_FAILURE() << "oracle error: " << json::serialize(*e);
  return v.as_object();
}

std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> out;
  auto q = url.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto piece = rest.substr(0, amp);
    auto eq = piece.find('=');
    out[net::uri_decode(piece.substr(0, eq))] = eq == std::string_view::npos ? "" : net::uri_decode(piece.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

struct PresignCase {
  const char* method;
  const char* key;
  std::vector<std::pair<std::string, std::string>> headers;
  const char* session_token;
  int expires;
};

TEST(S3Oracle, PresignedQueryMatchesTheSdkPresigner) {
  if (!sdk_available()) GTEST_SKIP() << "@aws-sdk/client-s3 or @aws-sdk/s3-request-presigner is not installed";
  boost::asio::io_context io;
  auto http = net::make_http_client(io);
  auto provider = make_static_provider(test::s3rver_credentials());
  S3Config config;
  config.region = "eu-central-1";
  config.endpoint = "http://127.0.0.1:9000";
  config.path_style = true;
  S3Client client(*http, *provider, config);
  const WallTime at{std::chrono::seconds(1'700'000'000)};

  const PresignCase cases[] = {
      {"GET", "plain.txt", {}, "", 300},
      {"GET", "dir/with space/+plus/\xC3\xA9t\xC3\xA9~(1).txt", {}, "", 604800},
      {"PUT", "files/abc/0123", {{"x-amz-meta-name", "r%C3%A9sum%C3%A9.pdf"}, {"x-amz-meta-created-ms", "17"}}, "", 900},
      {"GET", "temp.txt", {}, "FwoGZXIvYXdzEBYaDH+session/token==", 60},
  };
  for (const auto& c : cases) {
    Credentials creds;
    creds.access_key_id = "AKIDEXAMPLE";
    creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    creds.session_token = c.session_token;
    net::Headers headers;
    for (const auto& [k, v] : c.headers) headers.add(k, v);
    auto ours = client.presign_with(creds, at, c.method, "bkt", c.key, std::chrono::seconds(c.expires), headers);
    ASSERT_TRUE(ours) << ours.error().message;

    json::object req{{"op", "presign"},
                     {"region", "eu-central-1"},
                     {"protocol", "http:"},
                     {"hostname", "127.0.0.1"},
                     {"port", 9000},
                     {"path", "/bkt/" + net::uri_encode(c.key, false)},
                     {"method", c.method},
                     {"time", 1'700'000'000'000LL},
                     {"expires", c.expires}};
    json::object cred{{"accessKeyId", creds.access_key_id}, {"secretAccessKey", creds.secret_access_key}};
    if (!creds.session_token.empty()) cred["sessionToken"] = creds.session_token;
    req["credentials"] = cred;
    json::object h;
    for (const auto& [k, v] : c.headers) h[k] = v;
    req["headers"] = h;
    auto sdk = oracle(req);
    ASSERT_TRUE(sdk.contains("query")) << c.key;
    std::map<std::string, std::string> expected;
    for (const auto& [k, v] : sdk["query"].as_object()) expected[std::string(k)] = std::string(v.as_string());
    EXPECT_EQ(query_of(ours->url), expected) << c.method << " " << c.key << "\n" << ours->url;
    EXPECT_FALSE(expected["X-Amz-Signature"].empty());
  }
}

class S3OracleLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sdk_available()) GTEST_SKIP() << "@aws-sdk/client-s3 is not installed";
    auto* server = test::shared_s3rver();
    if (!server) GTEST_SKIP() << test::kNoS3rver;
    S3Config config;
    config.multipart_threshold = 5 << 20;
    config.part_size = 5 << 20;
    rig = std::make_unique<S3Rig>(server->endpoint(), config);
    bucket = S3Rig::unique_bucket("oracle");
    ASSERT_TRUE(rig->run(rig->client().create_bucket(bucket)));
  }
  json::object sdk_get(const std::string& key) {
    return oracle({{"op", "get"}, {"endpoint", test::shared_s3rver()->endpoint()}, {"bucket", bucket}, {"key", key}});
  }
  std::unique_ptr<S3Rig> rig;
  std::string bucket;
};

TEST_F(S3OracleLive, TheSdkReadsWhatWeWrote) {
  const std::string body = "hello from C++ \x01\x02\xff";
  S3PutOptions o;
  o.content_type = "text/plain; charset=utf-8";
  o.metadata = {{"name", "notes%20v1.txt"}, {"sha256", sha256_hex(body)}};
  auto put = rig->run(rig->client().put_object(bucket, "ours/a b+c.txt", body, o));
  ASSERT_TRUE(put) << put.error().message;
  auto got = sdk_get("ours/a b+c.txt");
  ASSERT_TRUE(got.contains("size"));
  EXPECT_EQ(got["size"].as_int64(), static_cast<std::int64_t>(body.size()));
  EXPECT_EQ(*base64_decode(std::string(got["body_b64"].as_string())), body);
  EXPECT_EQ(got["contentType"].as_string(), "text/plain; charset=utf-8");
  EXPECT_EQ(got["metadata"].as_object()["name"].as_string(), "notes%20v1.txt");
  EXPECT_EQ(got["metadata"].as_object()["sha256"].as_string(), sha256_hex(body));
  EXPECT_EQ(got["etag"].as_string(), put->etag);

  // A multipart upload, byte for byte.
  std::string big(11 << 20, '\0');
  SeededRandom r(9);
  for (auto& ch : big) ch = static_cast<char>(r.next_u64());
  ASSERT_TRUE(rig->run(rig->client().put_large(bucket, "ours/big.bin", big)));
  auto got_big = sdk_get("ours/big.bin");
  ASSERT_TRUE(got_big.contains("sha256"));
  EXPECT_EQ(got_big["size"].as_int64(), static_cast<std::int64_t>(big.size()));
  EXPECT_EQ(got_big["sha256"].as_string(), sha256_hex(big));
}

TEST_F(S3OracleLive, WeReadWhatTheSdkWrote) {
  const std::string body = "written by @aws-sdk/client-s3";
  auto put = oracle({{"op", "put"},
                     {"endpoint", test::shared_s3rver()->endpoint()},
                     {"bucket", bucket},
                     {"key", "sdk/\xC3\xA9t\xC3\xA9 (1).json"},
                     {"body_b64", base64_encode(body)},
                     {"contentType", "application/json"},
                     {"metadata", json::object{{"name", "x"}, {"created-ms", "42"}}}});
  ASSERT_TRUE(put.contains("etag"));
  auto got = rig->run(rig->client().get_object_bytes(bucket, "sdk/\xC3\xA9t\xC3\xA9 (1).json"));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->second, body);
  EXPECT_EQ(got->first.content_type, "application/json");
  EXPECT_EQ(got->first.meta("name").value_or(""), "x");
  EXPECT_EQ(got->first.meta("created-ms").value_or(""), "42");
  EXPECT_EQ(got->first.etag, std::string(put["etag"].as_string()));
  auto listed = rig->run(rig->client().list_objects(bucket, {.prefix = "sdk/"}));
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "sdk/\xC3\xA9t\xC3\xA9 (1).json");
  EXPECT_EQ(listed->objects[0].size, body.size());

  // And the SDK's listing agrees with ours on keys we wrote.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rig->run(rig->client().put_object(bucket, "l/" + std::to_string(i), "x")));
  auto sdk_list = oracle({{"op", "list"}, {"endpoint", test::shared_s3rver()->endpoint()}, {"bucket", bucket}, {"prefix", "l/"}, {"maxKeys", 10}});
  ASSERT_TRUE(sdk_list.contains("keys"));
  EXPECT_EQ(json::serialize(sdk_list["keys"]), R"(["l/0","l/1","l/2"])");
}

}  // namespace
}  // namespace ba::aws
