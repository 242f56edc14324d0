// Differential test: our signer against @smithy/signature-v4 (tests/node/sigv4_oracle.mjs) on seeded
// random requests.
//
// Finding (by experiment, see SigV4Differential.JsSignerEncodesThePathItIsGiven): with uriEscapePath=true
// the JS signer percent-encodes request.path once more. Given the raw path "/ሴ" it reproduces the AWS
// suite's get-utf8 signature (single encoding); given "/%E1%88%B4" it signs "/%25E1%2588%25B4". The
// SDK's serializers put the already-encoded path (e.g. "/model/...v1%3A0/converse") in request.path,
// so the JS signer double-encodes, as AWS requires for non-S3 services. Our HttpRequest.url also holds
// the encoded (wire) path, so both signers are given the same once-encoded path: apples to apples.
// With uriEscapePath=false (S3) both use the path as given. Query maps go to JS decoded (JS encodes
// them), and encoded into our url.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <iostream>
#include <map>
#include <sstream>

#include "aws/sigv4.hpp"
#include "support/aws_oracles.hpp"
#include "net/url.hpp"
#include "util/clock.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

struct Case {
  std::string method, host, encoded_path, service, region;
  std::vector<std::pair<std::string, std::string>> query;  // decoded, repeated keys allowed
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Credentials creds;
  std::int64_t epoch_s = 0;
  bool presign = false;
  std::int64_t expires = 0;
  bool s3() const { return service == "s3"; }
};

template <class T>
const T& pick(SeededRandom& rng, const std::vector<T>& v) {
  return v[rng.next_u64() % v.size()];
}

Case random_case(SeededRandom& rng, int i) {
  static const std::vector<std::string> services = {"bedrock", "dynamodb", "s3"};
  static const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "HEAD"};
  static const std::vector<std::string> regions = {"us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"};
  static const std::vector<std::string> segments = {
      "model", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "converse", "converse-stream", "invoke",
      "a b", "\xc3\xbcn\xc3\xaf", "~tilde", "x+y", "semi;colon", "eq=al", "100%", "\xe1\x88\xb4", "it's(1)*!",
      "..", ".", "", "bucket", "key.txt", "q?mark", "hash#tag", "co,mma", "at@sign", "$dollar&amp"};
  static const std::vector<std::string> qkeys = {"a", "b", "Key", "list-type", "prefix", "x y", "\xc3\xa4", "e~",
                                                 "A", "z=", "max-keys", "continuation-token", "_u", "%"};
  static const std::vector<std::string> qvals = {"", "1", "value", "a b", "sl/ash", "p+lus", "eq=", "\xe2\x82\xac",
                                                 "~ok", "*star", "amp&"};
  static const std::vector<std::string> hnames = {"Content-Type", "X-Amz-Target", "x-amzn-bedrock-trace",
                                                  "My-Header", "X-CUSTOM-thing", "Accept", "User-Agent",
                                                  "x-amzn-bedrock-guardrailidentifier", "Content-Length"};
  static const std::vector<std::string> hvals = {"application/json", "  a   b  ", "\tt\tab ", "x", "DynamoDB_20120810.PutItem",
                                                 "ENABLED", "v1,v2", "a  \t b"};
  static const std::vector<std::string> bodies = {"", "{}", R"({"messages":[{"role":"user","content":[{"text":"Hi \u00e9"}]}]})",
                                                  "plain body\nwith lines", "\xc3\xa9t\xc3\xa9"};
  Case c;
  c.service = pick(rng, services);
  c.method = pick(rng, methods);
  c.region = pick(rng, regions);
  c.host = (c.service == "bedrock" ? "bedrock-runtime." : c.service + ".") + c.region + ".amazonaws.com";
  const auto nseg = 1 + rng.next_u64() % 5;
  for (std::uint64_t s = 0; s < nseg; ++s) c.encoded_path += "/" + net::uri_encode(pick(rng, segments));
  if (rng.next_u64() % 4 == 0) c.encoded_path += "/";
  if (i % 10 == 0) c.encoded_path = "/model/" + net::uri_encode("us.anthropic.claude-3-5-sonnet-20240620-v1:0") + "/converse";
  const auto nq = rng.next_u64() % 5;
  for (std::uint64_t q = 0; q < nq; ++q) {
    auto key = pick(rng, qkeys);
    c.query.emplace_back(key, pick(rng, qvals));
    if (rng.next_u64() % 4 == 0) c.query.emplace_back(key, pick(rng, qvals));  // repeated key
  }
  std::vector<std::string> used;
  const auto nh = rng.next_u64() % 5;
  for (std::uint64_t h = 0; h < nh; ++h) {
    auto name = pick(rng, hnames);
    if (std::ranges::find(used, name) != used.end()) continue;  // JS headers are an object: no duplicates
    used.push_back(name);
    c.headers.emplace_back(name, pick(rng, hvals));
  }
  c.body = (c.method == "POST" || c.method == "PUT") ? pick(rng, bodies) : "";
  c.creds.access_key_id = "AKIA" + std::to_string(1000 + rng.next_u64() % 9000);
  c.creds.secret_access_key = "secret/" + std::to_string(rng.next_u64()) + "+Key";
  if (rng.next_u64() % 2) c.creds.session_token = "FwoGZXIvYXdz//tok+en=" + std::to_string(rng.next_u64());
  c.epoch_s = 1'420'070'400 + static_cast<std::int64_t>(rng.next_u64() % 473'040'000);  // 2015..2030
  c.presign = i % 5 == 4;
  c.expires = 1 + static_cast<std::int64_t>(rng.next_u64() % 604'800);
  return c;
}

boost::json::object to_json(const Case& c) {
  boost::json::object o;
  o["method"] = c.method;
  o["hostname"] = c.host;
  o["path"] = c.encoded_path;
  boost::json::object q;
  for (const auto& [k, v] : c.query) {
    if (auto* existing = q.if_contains(k)) {
      if (existing->is_string()) *existing = boost::json::array{*existing, boost::json::value(v)};
      else existing->as_array().push_back(boost::json::value(v));
    } else {
      q[k] = v;
    }
  }
  o["query"] = q;
  boost::json::object h;
  h["host"] = c.host;
  for (const auto& [k, v] : c.headers) h[k] = v;
  o["headers"] = h;
  o["body"] = c.body;
  boost::json::object cr;
  cr["accessKeyId"] = c.creds.access_key_id;
  cr["secretAccessKey"] = c.creds.secret_access_key;
  if (!c.creds.session_token.empty()) cr["sessionToken"] = c.creds.session_token;
  o["credentials"] = cr;
  o["region"] = c.region;
  o["service"] = c.service;
  o["time"] = c.epoch_s * 1000;
  o["uriEscapePath"] = !c.s3();
  o["applyChecksum"] = c.s3();
  o["presign"] = c.presign;
  o["expires"] = c.expires;
  return o;
}

net::HttpRequest to_request(const Case& c) {
  net::HttpRequest r;
  r.method = c.method;
  r.url = "https://" + c.host + c.encoded_path;
  std::string q;
  for (const auto& [k, v] : c.query) q += (q.empty() ? "" : "&") + net::uri_encode(k) + "=" + net::uri_encode(v);
  if (!q.empty()) r.url += "?" + q;
  r.headers.add("host", c.host);
  for (const auto& [k, v] : c.headers) r.headers.add(k, v);
  r.body = c.body;
  return r;
}

SigningParams params_for(const Case& c) {
  return SigningParams{.region = c.region,
                       .service = c.service,
                       .time = WallTime{std::chrono::seconds{c.epoch_s}},
                       .double_encode_path = !c.s3(),
                       .normalize_path = !c.s3(),
                       .sign_body = c.s3()};
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs sorted_query_of_url(const std::string& url) {
  Pairs out;
  auto q = url.find('?');
  std::string_view query = q == std::string::npos ? std::string_view{} : std::string_view(url).substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto piece = query.substr(0, amp);
    auto eq = piece.find('=');
    out.emplace_back(net::uri_decode(piece.substr(0, eq)), eq == std::string_view::npos ? "" : net::uri_decode(piece.substr(eq + 1)));
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  std::ranges::sort(out);
  return out;
}

Pairs sorted_query_of_json(const boost::json::object& q) {
  Pairs out;
  for (const auto& [k, v] : q) {
    if (v.is_array()) {
      for (const auto& e : v.as_array()) out.emplace_back(std::string(k), std::string(e.as_string()));
    } else {
      out.emplace_back(std::string(k), std::string(v.as_string()));
    }
  }
  std::ranges::sort(out);
  return out;
}

TEST(SigV4Differential, MatchesSmithySignerOnRandomRequests) {
  if (!test::node_available()) GTEST_SKIP() << "node or node_modules not available";
  SeededRandom rng(0x5157'4ULL);
  constexpr int kCases = 400;
  std::vector<Case> cases;
  std::ostringstream in;
  for (int i = 0; i < kCases; ++i) {
    cases.push_back(random_case(rng, i));
    in << boost::json::serialize(to_json(cases.back())) << "\n";
  }
  auto out = test::run_node("sigv4_oracle.mjs", in.str());
  ASSERT_TRUE(out.has_value()) << "oracle failed";
  std::istringstream lines(*out);
  std::string line;
  int signed_ok = 0, presigned_ok = 0;
  std::map<std::string, int> per_service;
  for (int i = 0; i < kCases; ++i) {
    const Case& c = cases[static_cast<std::size_t>(i)];
    ASSERT_TRUE(std::getline(lines, line)) << i;
    auto js = boost::json::parse(line).as_object();
    ASSERT_FALSE(js.contains("error")) << i << ": " << line;
    auto req = to_request(c);
    if (!c.presign) {
      auto d = sign_request(req, c.creds, params_for(c));
      const std::string expected(js.at("authorization").as_string());
      EXPECT_EQ(req.headers.get("Authorization").value_or(""), expected)
          << "case " << i << " " << c.method << " " << req.url << "\n" << d.canonical_request;
      if (req.headers.get("Authorization").value_or("") == expected) ++signed_ok;
    } else {
      auto d = presign_request(req, c.creds, params_for(c), std::chrono::seconds(c.expires));
      auto ours = sorted_query_of_url(req.url);
      auto theirs = sorted_query_of_json(js.at("query").as_object());
      EXPECT_EQ(ours, theirs) << "case " << i << " " << c.method << " " << req.url << "\n" << d.canonical_request;
      if (ours == theirs) ++presigned_ok;
    }
    ++per_service[c.service];
  }
  std::cout << "[sigv4 differential] header-signed " << signed_ok << ", presigned " << presigned_ok << " of " << kCases
            << " (bedrock " << per_service["bedrock"] << ", dynamodb " << per_service["dynamodb"] << ", s3 "
            << per_service["s3"] << ")\n";
  EXPECT_EQ(signed_ok + presigned_ok, kCases);
  EXPECT_GE(kCases, 300);
}

TEST(SigV4Differential, JsSignerEncodesThePathItIsGiven) {
  if (!test::node_available()) GTEST_SKIP() << "node or node_modules not available";
  // The AWS suite's get-utf8 case: raw path "/ሴ" signs to 8318018e...; encoded "/%E1%88%B4" does not.
  std::ostringstream in;
  for (const char* path : {"/\xe1\x88\xb4", "/%E1%88%B4"}) {
    Case c{.method = "GET", .host = "example.amazonaws.com", .encoded_path = path, .service = "service",
           .region = "us-east-1"};
    c.creds = {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
    c.epoch_s = 1'440'938'160;
    auto o = to_json(c);
    o["uriEscapePath"] = true;
    o["applyChecksum"] = false;
    in << boost::json::serialize(o) << "\n";
  }
  auto out = test::run_node("sigv4_oracle.mjs", in.str());
  ASSERT_TRUE(out.has_value());
  std::istringstream lines(*out);
  std::string raw, encoded;
  std::getline(lines, raw);
  std::getline(lines, encoded);
  EXPECT_NE(raw.find("Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"), std::string::npos);
  EXPECT_EQ(encoded.find("Signature=8318018e"), std::string::npos);
}

// A presigned URL presigned again (found by the sigv4 fuzzer, fuzz/corpus/sigv4/presigned-query-
// params): the parameters presigning sets replace the URL's own, as the official signer's do, instead of
// appearing twice (and the old ones being signed as the caller's parameters).
TEST(SigV4Differential, PresigningAPresignedUrlReplacesItsParameters) {
  if (!test::node_available()) GTEST_SKIP() << "node or node_modules not available";
  Case c{.method = "GET", .host = "bucket.s3.eu-west-3.amazonaws.com", .encoded_path = "/key.txt", .service = "s3",
         .region = "eu-west-3"};
  c.query = {{"versionId", "v1"}};
  c.creds = {.access_key_id = "AKIDFIRST", .secret_access_key = "first/secret", .session_token = "first+token"};
  c.epoch_s = 1'700'000'000;
  c.presign = true;
  c.expires = 900;
  auto first = to_request(c);
  presign_request(first, c.creds, params_for(c), std::chrono::seconds(c.expires));
  Case again = c;
  again.query = sorted_query_of_url(first.url);
  again.creds = {.access_key_id = "AKIDSECOND", .secret_access_key = "second/secret", .session_token = "second"};
  again.epoch_s = 1'700'003'600;
  again.expires = 60;
  auto out = test::run_node("sigv4_oracle.mjs", boost::json::serialize(to_json(again)) + "\n");
  ASSERT_TRUE(out.has_value()) << "oracle failed";
  auto js = boost::json::parse(*out).as_object();
  ASSERT_FALSE(js.contains("error")) << *out;
  auto req = to_request(again);
  presign_request(req, again.creds, params_for(again), std::chrono::seconds(again.expires));
  const auto ours = sorted_query_of_url(req.url);
  EXPECT_EQ(ours, sorted_query_of_json(js.at("query").as_object())) << req.url;
  std::map<std::string, int> count;
  for (const auto& [k, v] : ours) ++count[k];
  for (const char* name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                           "X-Amz-Security-Token", "X-Amz-Signature", "versionId"})
    EXPECT_EQ(count[name], 1) << name << " in " << req.url;
  EXPECT_NE(req.url.find("X-Amz-Credential=AKIDSECOND%2F20231114%2F"), std::string::npos) << req.url;
  EXPECT_NE(req.url.find("X-Amz-Expires=60&"), std::string::npos) << req.url;
}

TEST(SigV4, ModelIdPathIsDoubleEncodedForBedrockAndSingleForS3) {
  Credentials creds{.access_key_id = "AKID", .secret_access_key = "secret"};
  net::HttpRequest r{.method = "POST",
                     .url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
                     .body = "{}"};
  auto d = sign_request(r, creds, {.region = "us-east-1", .service = "bedrock", .time = WallTime{}});
  EXPECT_TRUE(d.canonical_request.starts_with("POST\n/model/us.anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n"))
      << d.canonical_request;
  EXPECT_EQ(r.headers.get("Host"), "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_TRUE(r.headers.has("X-Amz-Date"));
  EXPECT_FALSE(r.headers.has("X-Amz-Security-Token"));
  net::HttpRequest s3{.method = "GET", .url = "http://127.0.0.1:80/bucket/a%20b/../c"};
  auto d3 = sign_request(s3, creds, {.region = "us-east-1", .service = "s3", .time = WallTime{},
                                     .double_encode_path = false, .normalize_path = false, .sign_body = true,
                                     .payload_hash = "UNSIGNED-PAYLOAD"});
  EXPECT_TRUE(d3.canonical_request.starts_with("GET\n/bucket/a%20b/../c\n")) << d3.canonical_request;
  EXPECT_EQ(s3.headers.get("Host"), "127.0.0.1");  // default port dropped
  EXPECT_EQ(s3.headers.get("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_TRUE(d3.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4, ResigningReplacesPreviousSignatureAndToken) {
  Credentials a{.access_key_id = "AKID", .secret_access_key = "s", .session_token = "tok"};
  Credentials b{.access_key_id = "AKID2", .secret_access_key = "s2"};
  net::HttpRequest r{.method = "GET", .url = "https://dynamodb.us-east-1.amazonaws.com:8443/"};
  sign_request(r, a, {.region = "us-east-1", .service = "dynamodb", .time = WallTime{}});
  EXPECT_EQ(r.headers.get("Host"), "dynamodb.us-east-1.amazonaws.com:8443");
  EXPECT_EQ(r.headers.get("X-Amz-Security-Token"), "tok");
  auto d = sign_request(r, b, {.region = "us-east-1", .service = "dynamodb", .time = WallTime{std::chrono::hours(24)}});
  EXPECT_FALSE(r.headers.has("X-Amz-Security-Token"));
  int auth = 0;
  for (const auto& h : r.headers) auth += iequals(h.name, "authorization");
  EXPECT_EQ(auth, 1);
  EXPECT_NE(r.headers.get("Authorization")->find("Credential=AKID2/19700102/"), std::string_view::npos);
  EXPECT_EQ(d.canonical_request.find("authorization"), std::string::npos);
}

}  // namespace
}  // namespace ba::aws
