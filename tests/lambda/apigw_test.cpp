#include "lambda/apigw.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
using lambda::Identity;
using lambda::parse_apigw_event;

// A REST API (payload v1) event as API Gateway sends it for POST /chat with a usage-plan API key.
constexpr std::string_view kV1Post = R"({
  "resource": "/{proxy+}",
  "path": "/chat",
  "httpMethod": "POST",
  "headers": {"Accept": "application/json", "Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
              "x-api-key": "k3y-value", "X-BA-Caller": "apikey:forged", "x-ba-deadline-ms": "1"},
  "multiValueHeaders": {"Accept": ["application/json", "text/plain"], "Content-Type": ["application/json"],
                        "Host": ["abc123.execute-api.us-east-1.amazonaws.com"], "x-api-key": ["k3y-value"],
                        "X-BA-Caller": ["apikey:forged"], "x-ba-deadline-ms": ["1"]},
  "queryStringParameters": null,
  "multiValueQueryStringParameters": null,
  "pathParameters": {"proxy": "chat"},
  "stageVariables": null,
  "requestContext": {
    "accountId": "123456789012", "apiId": "abc123", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "resourcePath": "/{proxy+}", "httpMethod": "POST", "path": "/prod/chat", "protocol": "HTTP/1.1",
    "identity": {"apiKey": "k3y-value", "apiKeyId": "kid-4711", "sourceIp": "203.0.113.7", "userAgent": "curl/8.4.0",
                 "userArn": null, "cognitoIdentityId": null},
    "authorizer": {"principalId": "should-not-win"}
  },
  "body": "{\"message\":\"hello\"}",
  "isBase64Encoded": false
})";

constexpr std::string_view kV1GetQuery = R"({
  "resource": "/conversations/{id}",
  "path": "/conversations/3f1c2d4e-0000-4000-8000-000000000001",
  "httpMethod": "GET",
  "headers": {"Accept": "*/*"},
  "multiValueHeaders": {"Accept": ["*/*"]},
  "queryStringParameters": {"limit": "10", "tag": "c"},
  "multiValueQueryStringParameters": {"limit": ["10"], "tag": ["a b", "c"], "q": ["x&y=z"]},
  "pathParameters": {"id": "3f1c2d4e-0000-4000-8000-000000000001"},
  "requestContext": {"stage": "prod", "requestId": "r-2", "identity": {"sourceIp": "198.51.100.2", "apiKeyId": null},
                     "authorizer": {"principalId": "user-42", "integrationLatency": 3}},
  "body": null,
  "isBase64Encoded": false
})";

// An HTTP API (payload v2) event on a named stage, with a JWT authorizer and cookies.
constexpr std::string_view kV2Get = R"({
  "version": "2.0",
  "routeKey": "$default",
  "rawPath": "/prod/conversations/abc",
  "rawQueryString": "limit=10&tag=a%20b&tag=c",
  "cookies": ["session=s1", "theme=dark"],
  "headers": {"accept": "application/json,text/plain", "host": "xyz.execute-api.eu-west-1.amazonaws.com",
              "x-ba-caller": "jwt:forged", "x-forwarded-for": "192.0.2.9"},
  "queryStringParameters": {"limit": "10", "tag": "a b,c"},
  "requestContext": {
    "accountId": "123456789012", "apiId": "xyz", "domainName": "xyz.execute-api.eu-west-1.amazonaws.com",
    "http": {"method": "GET", "path": "/prod/conversations/abc", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.9",
             "userAgent": "agent/1"},
    "authorizer": {"jwt": {"claims": {"sub": "user-sub-77", "iss": "https://issuer.example"}, "scopes": null}},
    "requestId": "JKJaXmPLvHcESHA=", "routeKey": "$default", "stage": "prod", "time": "10/Mar/2025:00:00:00 +0000",
    "timeEpoch": 1741564800000
  },
  "isBase64Encoded": false
})";

std::string v2_post(std::string_view body, bool b64, std::string_view stage = "$default",
                    std::string_view raw_path = "/chat", std::string_view authorizer = "{}") {
  json::object ev{{"version", "2.0"},
                  {"routeKey", "POST /chat"},
                  {"rawPath", raw_path},
                  {"rawQueryString", ""},
                  {"headers", json::object{{"content-type", "application/json"}, {"content-length", "17"}}},
                  {"requestContext", json::object{{"http", json::object{{"method", "POST"}, {"path", raw_path},
                                                                       {"sourceIp", "192.0.2.1"}}},
                                                  {"stage", stage},
                                                  {"authorizer", json::parse(authorizer)}}},
                  {"body", body},
                  {"isBase64Encoded", b64}};
  return json::serialize(ev);
}

std::vector<std::string> values(const net::Headers& h, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& x : h)
    if (iequals(x.name, name)) out.push_back(x.value);
  return out;
}

TEST(ApigwEvent, V1PostWithApiKeyIdentityAndMultiValueHeaders) {
  Identity id;
  auto r = lambda::from_apigw_event(kV1Post, &id);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/chat");
  EXPECT_EQ(r->target, "/chat");
  EXPECT_EQ(r->query, "");
  EXPECT_EQ(r->body, R"({"message":"hello"})");
  EXPECT_EQ(r->remote_address, "203.0.113.7");
  EXPECT_EQ(id.principal, "kid-4711");
  EXPECT_EQ(id.source, "apikey");
  // Every multi-value header value survives; the forged x-ba-* headers do not.
  EXPECT_EQ(values(r->headers, "accept"), (std::vector<std::string>{"application/json", "text/plain"}));
  EXPECT_EQ(values(r->headers, "x-ba-caller"), (std::vector<std::string>{"apikey:kid-4711"}));
  EXPECT_FALSE(r->headers.has("x-ba-deadline-ms"));
  EXPECT_EQ(r->headers.get("x-api-key"), "k3y-value");
  EXPECT_EQ(r->headers.get("content-type"), "application/json");
}

TEST(ApigwEvent, V1SingleValueHeadersWhenNoMultiValue) {
  auto ev = json::parse(kV1Post).as_object();
  ev.erase("multiValueHeaders");
  auto r = parse_apigw_event(json::serialize(ev));
  ASSERT_TRUE(r);
  EXPECT_EQ(values(r->request.headers, "accept"), (std::vector<std::string>{"application/json"}));
  EXPECT_EQ(values(r->request.headers, "x-ba-caller"), (std::vector<std::string>{"apikey:kid-4711"}));
  EXPECT_EQ(r->version, 1);
}

TEST(ApigwEvent, V1GetWithMultiValueQueryAndAuthorizerPrincipal) {
  auto r = parse_apigw_event(kV1GetQuery);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.method, "GET");
  EXPECT_EQ(r->request.path, "/conversations/3f1c2d4e-0000-4000-8000-000000000001");
  EXPECT_EQ(r->request.query, "limit=10&tag=a%20b&tag=c&q=x%26y%3Dz");
  EXPECT_EQ(r->request.target, r->request.path + "?" + r->request.query);
  EXPECT_EQ(r->request.body, "");
  EXPECT_EQ(r->identity.principal, "user-42");
  EXPECT_EQ(r->identity.source, "authorizer");
  EXPECT_EQ(r->request.headers.get("x-ba-caller"), "authorizer:user-42");
}

TEST(ApigwEvent, V1SingleValueQueryWhenNoMultiValue) {
  auto ev = json::parse(kV1GetQuery).as_object();
  ev["multiValueQueryStringParameters"] = nullptr;
  auto r = parse_apigw_event(json::serialize(ev));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.query, "limit=10&tag=c");
}

TEST(ApigwEvent, V1Base64BodyAndCognitoClaims) {
  auto ev = json::parse(kV1Post).as_object();
  std::string binary("\x00\x01\xfe\xff payload", 12);
  ev["body"] = base64_encode(binary);
  ev["isBase64Encoded"] = true;
  auto& ctx = ev["requestContext"].as_object();
  ctx["identity"].as_object()["apiKeyId"] = nullptr;
  ctx["authorizer"] = json::object{{"claims", json::object{{"sub", "cognito-sub-1"}, {"email", "a@example.com"}}}};
  auto r = parse_apigw_event(json::serialize(ev));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.body, binary);
  EXPECT_EQ(r->identity.source, "jwt");
  EXPECT_EQ(r->request.headers.get("x-ba-caller"), "jwt:cognito-sub-1");
}

TEST(ApigwEvent, V1NoIdentityMeansNoCallerHeader) {
  auto ev = json::parse(kV1Post).as_object();
  auto& ctx = ev["requestContext"].as_object();
  ctx["identity"].as_object()["apiKeyId"] = "";
  ctx["authorizer"] = nullptr;
  auto r = parse_apigw_event(json::serialize(ev));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->identity.principal.empty());
  EXPECT_FALSE(r->request.headers.has("x-ba-caller"));  // and the forged one is gone
}

TEST(ApigwEvent, V1PathIsPercentEncoded) {
  auto ev = json::parse(kV1GetQuery).as_object();
  ev["path"] = "/conversations/a b";
  auto r = parse_apigw_event(json::serialize(ev));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.path, "/conversations/a%20b");
}

TEST(ApigwEvent, V2GetStripsStageJoinsCookiesAndUsesJwtSub) {
  Identity id;
  auto r = lambda::from_apigw_event(kV2Get, &id);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/conversations/abc");
  EXPECT_EQ(r->query, "limit=10&tag=a%20b&tag=c");
  EXPECT_EQ(r->target, "/conversations/abc?limit=10&tag=a%20b&tag=c");
  EXPECT_EQ(r->headers.get("cookie"), "session=s1; theme=dark");
  EXPECT_EQ(r->headers.get("accept"), "application/json,text/plain");
  EXPECT_EQ(r->remote_address, "192.0.2.9");
  EXPECT_EQ(id.principal, "user-sub-77");
  EXPECT_EQ(id.source, "jwt");
  EXPECT_EQ(values(r->headers, "x-ba-caller"), (std::vector<std::string>{"jwt:user-sub-77"}));
}

TEST(ApigwEvent, V2StagePrefixOnlyStrippedForThatStage) {
  // $default: the path is the route.
  auto r = parse_apigw_event(v2_post("{}", false, "$default", "/prod/chat"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.path, "/prod/chat");
  // A named stage that is only a prefix of the first segment is not stripped.
  r = parse_apigw_event(v2_post("{}", false, "pro", "/prod/chat"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.path, "/prod/chat");
  r = parse_apigw_event(v2_post("{}", false, "prod", "/prod"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.path, "/");
  r = parse_apigw_event(v2_post("{}", false, "prod", "/prod/chat"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.path, "/chat");
}

TEST(ApigwEvent, V2PostBase64BodyAndLambdaOrIamAuthorizer) {
  auto r = parse_apigw_event(v2_post(base64_encode(R"({"message":"hi"})"), true, "$default", "/chat",
                                     R"({"lambda": {"principalId": "tenant-9", "plan": "gold"}})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(r->request.method, "POST");
  EXPECT_EQ(r->request.body, R"({"message":"hi"})");
  EXPECT_EQ(r->request.headers.get("x-ba-caller"), "authorizer:tenant-9");

  r = parse_apigw_event(v2_post("{}", false, "$default", "/chat",
                                R"({"iam": {"accessKey": "AKIA", "accountId": "1", "callerId": "AIDA1",
                                     "userArn": "arn:aws:iam::1:user/alice", "userId": "AIDA1"}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.headers.get("x-ba-caller"), "iam:arn:aws:iam::1:user/alice");
}

TEST(ApigwEvent, RejectsWhatIsNotAnApiGatewayEvent) {
  EXPECT_FALSE(parse_apigw_event("not json"));
  EXPECT_FALSE(parse_apigw_event("[1,2]"));
  EXPECT_FALSE(parse_apigw_event(R"({"Records": [{"eventSource": "aws:s3"}]})"));
  EXPECT_FALSE(parse_apigw_event(R"({"version": "2.0", "rawPath": "/chat"})"));  // no requestContext.http
  auto bad = parse_apigw_event(v2_post("***not base64***", true));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_input);
}

json::object response_json(const net::ServerResponse& r, int version) {
  return json::parse(lambda::to_apigw_response(r, version)).as_object();
}

TEST(ApigwResponse, V1JsonBodyWithSingleAndMultiValueHeaders) {
  net::ServerResponse r;
  r.status = 201;
  r.headers.add("Content-Type", "application/json");
  r.headers.add("Content-Length", "11");
  r.headers.add("x-request-id", "rid-1");
  r.headers.add("Set-Cookie", "a=1");
  r.headers.add("Set-Cookie", "b=2");
  r.body = R"({"ok":true})";
  auto o = response_json(r, 1);
  EXPECT_EQ(o.at("statusCode").as_int64(), 201);
  EXPECT_EQ(o.at("body").as_string(), R"({"ok":true})");
  EXPECT_FALSE(o.at("isBase64Encoded").as_bool());
  const auto& h = o.at("headers").as_object();
  EXPECT_EQ(h.at("Content-Type").as_string(), "application/json");
  EXPECT_EQ(h.at("x-request-id").as_string(), "rid-1");
  EXPECT_FALSE(h.contains("Set-Cookie"));      // more than one value: only in multiValueHeaders
  EXPECT_FALSE(h.contains("Content-Length"));  // API Gateway computes it
  const auto& mv = o.at("multiValueHeaders").as_object();
  EXPECT_EQ(mv.at("Set-Cookie"), (json::array{"a=1", "b=2"}));
  EXPECT_EQ(mv.at("x-request-id"), (json::array{"rid-1"}));
  EXPECT_FALSE(o.contains("cookies"));
}

TEST(ApigwResponse, V2SetCookieBecomesCookiesAndRepeatedHeadersJoin) {
  net::ServerResponse r;
  r.status = 200;
  r.headers.add("Content-Type", "text/plain; charset=utf-8");
  r.headers.add("Set-Cookie", "a=1; Path=/");
  r.headers.add("Vary", "Accept");
  r.headers.add("Set-Cookie", "b=2");
  r.headers.add("vary", "Origin");
  r.body = "héllo";
  auto o = response_json(r, 2);
  EXPECT_EQ(o.at("statusCode").as_int64(), 200);
  EXPECT_EQ(o.at("body").as_string(), "héllo");
  EXPECT_FALSE(o.at("isBase64Encoded").as_bool());
  EXPECT_EQ(o.at("cookies"), (json::array{"a=1; Path=/", "b=2"}));
  const auto& h = o.at("headers").as_object();
  EXPECT_FALSE(h.contains("Set-Cookie"));
  EXPECT_EQ(h.at("Vary").as_string(), "Accept,Origin");
  EXPECT_FALSE(o.contains("multiValueHeaders"));
}

TEST(ApigwResponse, BinaryBodyIsBase64) {
  net::ServerResponse r;
  r.headers.set("Content-Type", "image/png");
  r.body = std::string("\x89PNG\r\n\x1a\n\x00\x00", 10);
  for (int version : {1, 2}) {
    auto o = response_json(r, version);
    EXPECT_TRUE(o.at("isBase64Encoded").as_bool());
    EXPECT_EQ(base64_decode(o.at("body").as_string()), r.body);
  }
  // A textual type with bytes that are not UTF-8 cannot go in a JSON string either.
  r.headers.set("Content-Type", "application/json");
  r.body = "\xff\xfe";
  auto o = response_json(r, 1);
  EXPECT_TRUE(o.at("isBase64Encoded").as_bool());
  EXPECT_EQ(base64_decode(o.at("body").as_string()), r.body);
  // A text body without a content type stays text; an empty body is never base64.
  r.headers = {};
  r.body = "plain";
  EXPECT_FALSE(response_json(r, 2).at("isBase64Encoded").as_bool());
  r.headers.set("Content-Type", "application/octet-stream");
  r.body.clear();
  EXPECT_FALSE(response_json(r, 2).at("isBase64Encoded").as_bool());
}

class Chunks final {
 public:
  static boost::asio::awaitable<void> write(net::BodyWriter& w) {
    co_await w.write("event: delta\ndata: {\"text\":\"a\"}\n\n");
    co_await w.write("event: done\ndata: {}\n\n");
  }
};

TEST(ApigwResponse, StreamedResponseIsBuffered) {
  net::ServerResponse r;
  r.headers.set("Content-Type", "text/event-stream");
  r.stream = &Chunks::write;
  run_sync([](net::ServerResponse& resp) -> boost::asio::awaitable<int> {
    co_await lambda::buffer_response(resp);
    co_return 0;
  }(r));
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.body, "event: delta\ndata: {\"text\":\"a\"}\n\nevent: done\ndata: {}\n\n");
  auto o = response_json(r, 2);
  EXPECT_EQ(o.at("body").as_string(), r.body);
  EXPECT_EQ(o.at("headers").as_object().at("Content-Type").as_string(), "text/event-stream");
}

TEST(ApigwResponse, ErrorProxyResponseShape) {
  auto r = lambda::error_proxy_response(400, "invalid_input", "not an API Gateway proxy event");
  auto o = response_json(r, 1);
  EXPECT_EQ(o.at("statusCode").as_int64(), 400);
  auto body = json::parse(o.at("body").as_string());
  EXPECT_EQ(body.at("error").at("type").as_string(), "invalid_input");
}

}  // namespace
}  // namespace ba::test
