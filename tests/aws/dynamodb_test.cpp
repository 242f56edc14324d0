#include "aws/dynamodb.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <fstream>
#include <sstream>

#include "aws/credentials.hpp"
#include "support/dynamodb_rig.hpp"
#include "support/aws_oracles.hpp"
#include "net/http_client.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::aws::dynamodb {
namespace {

namespace json = boost::json;
using ba::test::run_sync;

// Scripted transport: records requests, answers from a queue.
class FakeHttp final : public net::HttpClient {
 public:
  std::vector<net::HttpRequest> requests;
  std::deque<Result<net::HttpResponse>> answers;

  boost::asio::awaitable<Result<net::HttpResponse>> send(net::HttpRequest request, net::RequestOptions) override {
    requests.push_back(std::move(request));
    if (answers.empty()) co_return net::HttpResponse{200, {}, "{}"};
    auto a = std::move(answers.front());
    answers.pop_front();
    co_return a;
  }
  boost::asio::awaitable<Result<net::HttpResponse>> send_streaming(net::HttpRequest, net::BodySink,
                                                                   net::RequestOptions) override {
    co_return fail(ErrorKind::internal, "not used");
  }
};

net::HttpResponse answer(int status, std::string body, net::Headers headers = {}) {
  return net::HttpResponse{status, std::move(headers), std::move(body)};
}

net::HttpResponse error_answer(int status, std::string_view type, std::string_view message = "m") {
  json::object body{{"__type", "com.amazonaws.dynamodb.v20120810#" + std::string(type)}, {"message", message}};
  return answer(status, json::serialize(body));
}

struct Fixture {
  FakeHttp http;
  std::unique_ptr<CredentialsProvider> creds =
      make_static_provider(Credentials{"AKIDEXAMPLE", "secret", "token", std::nullopt, "static"});
  ManualClock clock;
  SeededRandom random{7};
  Client client;
  explicit Fixture(int max_attempts = 3)
      : client(http, *creds,
               ClientConfig{.region = "eu-west-1",
                            .endpoint = "http://127.0.0.1:1/",
                            .max_attempts = max_attempts,
                            .base_backoff = std::chrono::milliseconds(1),
                            .max_backoff = std::chrono::milliseconds(2)},
               clock, random) {}
};

TEST(DynamoDbClient, SendsJson10WithTargetAndSigV4) {
  Fixture f;
  f.http.answers.push_back(answer(200, R"({"Item":{"pk":{"S":"a"},"n":{"N":"42"}}})"));
  auto got = run_sync(f.client.get_item("tbl", Item{{"pk", attr_s("a")}}));
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ(get_n(**got, "n"), 42);
  ASSERT_EQ(f.http.requests.size(), 1u);
  const auto& r = f.http.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:1/");
  EXPECT_EQ(r.headers.get("X-Amz-Target"), "DynamoDB_20120810.GetItem");
  EXPECT_EQ(r.headers.get("Content-Type"), "application/x-amz-json-1.0");
  auto auth = std::string(r.headers.get("Authorization").value_or(""));
  EXPECT_NE(auth.find("/eu-west-1/dynamodb/aws4_request"), std::string::npos) << auth;
  EXPECT_NE(auth.find("x-amz-target"), std::string::npos) << "the target header must be signed: " << auth;
  EXPECT_EQ(r.headers.get("X-Amz-Security-Token"), "token");
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("TableName").as_string(), "tbl");
  EXPECT_TRUE(body.at("ConsistentRead").as_bool());
  EXPECT_EQ(body.at("Key").at("pk").at("S").as_string(), "a");
}

TEST(DynamoDbClient, ErrorsAreTyped) {
  struct Row {
    int status;
    const char* type;
    ErrorKind kind;
    bool retryable;
  };
  const Row rows[] = {
      {400, "ConditionalCheckFailedException", ErrorKind::conflict, false},
      {400, "ResourceNotFoundException", ErrorKind::not_found, false},
      {400, "ValidationException", ErrorKind::invalid_input, false},
      {400, "ProvisionedThroughputExceededException", ErrorKind::throttled, true},
      {400, "ThrottlingException", ErrorKind::throttled, true},
      {400, "RequestLimitExceeded", ErrorKind::throttled, true},
      {500, "InternalServerError", ErrorKind::unavailable, true},
  };
  for (const auto& row : rows) {
    Fixture f(1);  // one attempt: see the classification, not the retries
    f.http.answers.push_back(error_answer(row.status, row.type, "why"));
    auto st = run_sync(f.client.put_item("tbl", Item{{"pk", attr_s("a")}}));
    ASSERT_FALSE(st) << row.type;
    EXPECT_EQ(st.error().kind, row.kind) << row.type;
    EXPECT_EQ(st.error().retryable, row.retryable) << row.type;
    EXPECT_EQ(st.error().code, row.type);
    EXPECT_NE(st.error().message.find("PutItem"), std::string::npos) << st.error().message;
  }
}

TEST(DynamoDbClient, RetriesThrottlesThenSucceeds) {
  Fixture f(3);
  f.http.answers.push_back(error_answer(400, "ProvisionedThroughputExceededException"));
  f.http.answers.push_back(error_answer(400, "ThrottlingException"));
  f.http.answers.push_back(answer(200, "{}"));
  auto st = run_sync(f.client.put_item("tbl", Item{{"pk", attr_s("a")}}));
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(f.http.requests.size(), 3u);
}

TEST(DynamoDbClient, GivesUpAfterMaxAttempts) {
  Fixture f(2);
  for (int i = 0; i < 3; ++i) f.http.answers.push_back(error_answer(400, "ThrottlingException"));
  auto st = run_sync(f.client.put_item("tbl", Item{{"pk", attr_s("a")}}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::throttled);
  EXPECT_EQ(f.http.requests.size(), 2u);
}

TEST(DynamoDbClient, ConditionFailureIsNotRetried) {
  Fixture f(3);
  f.http.answers.push_back(error_answer(400, "ConditionalCheckFailedException"));
  auto st = run_sync(f.client.put_item("tbl", Item{{"pk", attr_s("a")}}, {"attribute_not_exists(pk)", {}, {}}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::conflict);
  EXPECT_EQ(f.http.requests.size(), 1u);
}

TEST(DynamoDbClient, Crc32MismatchIsRetriedAndThenANetworkError) {
  Fixture f(2);
  const std::string body = R"({"Item":{"pk":{"S":"a"}}})";
  const std::string good = std::to_string(crc32(body));
  const std::string wrong = std::to_string(crc32(body) + 1u);
  f.http.answers.push_back(answer(200, body, {{"x-amz-crc32", wrong}}));
  f.http.answers.push_back(answer(200, body, {{"x-amz-crc32", good}}));
  auto got = run_sync(f.client.get_item("tbl", Item{{"pk", attr_s("a")}}));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(f.http.requests.size(), 2u);

  Fixture g(1);
  g.http.answers.push_back(answer(200, body, {{"x-amz-crc32", "12345"}}));
  auto bad = run_sync(g.client.get_item("tbl", Item{{"pk", attr_s("a")}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::network);
}

TEST(DynamoDbClient, QueryPageAndLastEvaluatedKey) {
  Fixture f;
  f.http.answers.push_back(answer(
      200, R"({"Items":[{"pk":{"S":"a"},"sk":{"N":"2"}},{"pk":{"S":"a"},"sk":{"N":"1"}}],"Count":2,
              "LastEvaluatedKey":{"pk":{"S":"a"},"sk":{"N":"1"}}})"));
  f.http.answers.push_back(answer(200, R"({"Items":[],"Count":0})"));
  QueryRequest q{.table = "tbl", .key_condition = "#pk = :pk", .names = Item{{"#pk", "pk"}},
                 .values = Item{{":pk", attr_s("a")}}, .forward = false, .limit = 2};
  auto page = run_sync(f.client.query(q));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(get_n(page->items[0], "sk"), 2);
  ASSERT_TRUE(page->last_evaluated_key);
  q.exclusive_start_key = page->last_evaluated_key;
  auto next = run_sync(f.client.query(q));
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->items.empty());
  EXPECT_FALSE(next->last_evaluated_key);
  auto sent = json::parse(f.http.requests[1].body).as_object();
  EXPECT_FALSE(sent.at("ScanIndexForward").as_bool());
  EXPECT_EQ(sent.at("Limit").as_int64(), 2);
  EXPECT_EQ(sent.at("ExclusiveStartKey").at("sk").at("N").as_string(), "1");
}

TEST(DynamoDbClient, BatchDeleteResubmitsUnprocessedItems) {
  Fixture f;
  std::vector<Item> keys;
  for (int i = 0; i < 30; ++i) keys.push_back(Item{{"pk", attr_s("a")}, {"sk", attr_n(i)}});
  // First batch of 25: two come back unprocessed.
  f.http.answers.push_back(answer(
      200, R"({"UnprocessedItems":{"tbl":[{"DeleteRequest":{"Key":{"pk":{"S":"a"},"sk":{"N":"3"}}}},
                                          {"DeleteRequest":{"Key":{"pk":{"S":"a"},"sk":{"N":"4"}}}}]}})"));
  auto st = run_sync(f.client.batch_delete("tbl", keys));
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(f.http.requests.size(), 2u);
  auto first = json::parse(f.http.requests[0].body).as_object();
  EXPECT_EQ(first.at("RequestItems").at("tbl").as_array().size(), 25u);
  auto second = json::parse(f.http.requests[1].body).as_object();
  EXPECT_EQ(second.at("RequestItems").at("tbl").as_array().size(), 7u);  // 2 unprocessed + the last 5
}

TEST(DynamoDbClient, AttributeHelpersAndItemSize) {
  Item item{{"s", attr_s("hello")}, {"n", attr_n(-12345)}, {"b", attr_bool(true)}, {"z", attr_null()},
            {"m", attr_m(Item{{"x", attr_s("y")}})}, {"l", attr_l(json::array{attr_n(1), attr_s("two")})}};
  EXPECT_EQ(get_s(item, "s"), "hello");
  EXPECT_EQ(get_n(item, "n"), -12345);
  EXPECT_EQ(get_bool(item, "b"), true);
  EXPECT_FALSE(get_s(item, "n"));  // wrong type
  EXPECT_FALSE(get_n(item, "missing"));
  ASSERT_NE(get_m(item, "m"), nullptr);
  EXPECT_EQ(get_s(*get_m(item, "m"), "x"), "y");
  EXPECT_EQ(json::serialize(item.at("z")), R"({"NULL":true})");
  Item big{{"text", attr_s(std::string(1000, 'x'))}};
  EXPECT_EQ(item_size(big), 4u + 1000u);
  Item bad{{"n", json::object{{"N", "1.5"}}}};
  EXPECT_FALSE(get_n(bad, "n"));
}

TEST(DynamoDbClient, EndpointResolution) {
  auto env = [](std::map<std::string, std::string> m) {
    return GetEnv([m](std::string_view k) -> std::optional<std::string> {
      auto it = m.find(std::string(k));
      if (it == m.end()) return std::nullopt;
      return it->second;
    });
  };
  EXPECT_EQ(resolve_dynamodb_endpoint("us-west-2", env({})), "https://dynamodb.us-west-2.amazonaws.com");
  EXPECT_EQ(resolve_dynamodb_endpoint("us-west-2", env({{"AWS_ENDPOINT_URL", "http://localhost:4566/"}})),
            "http://localhost:4566");
  EXPECT_EQ(resolve_dynamodb_endpoint("us-west-2", env({{"AWS_ENDPOINT_URL", "http://localhost:4566"},
                                                        {"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"}})),
            "http://127.0.0.1:8000");
}

TEST(DynamoDbClient, BadConfigurationThrowsAtStartUp) {
  FakeHttp http;
  auto creds = make_static_provider(Credentials{"a", "b", "", std::nullopt, "static"});
  EXPECT_THROW(Client(http, *creds, ClientConfig{.region = "", .endpoint = "http://x"}), std::invalid_argument);
  EXPECT_THROW(Client(http, *creds, ClientConfig{.region = "r", .endpoint = ""}), std::invalid_argument);
  EXPECT_THROW(Client(http, *creds, ClientConfig{.region = "r", .endpoint = "ftp://x"}), std::invalid_argument);
}

// ---- Request shapes against the official service model (aws-models/dynamodb-2012-08-10.json) ----------

class ShapeChecker {
 public:
  explicit ShapeChecker(const json::object& model) : shapes_(model.at("shapes").as_object()), ops_(model.at("operations").as_object()) {}

  // Problems found in `body` as input of `operation` (empty: conforms).
  std::vector<std::string> check(std::string_view operation, const json::value& body) const {
    std::vector<std::string> problems;
    const auto& op = ops_.at(operation).as_object();
    check_shape(std::string(op.at("input").at("shape").as_string()), body, std::string(operation), problems);
    return problems;
  }

 private:
  void check_shape(const std::string& name, const json::value& v, const std::string& path,
                   std::vector<std::string>& problems) const {
    const auto& shape = shapes_.at(name).as_object();
    const std::string type(shape.at("type").as_string());
    if (type == "structure") {
      if (!v.is_object()) return problems.push_back(path + ": not an object");
      const auto& members = shape.at("members").as_object();
      for (const auto& [k, mv] : v.as_object()) {
        auto* m = members.if_contains(k);
        if (!m) {
          problems.push_back(path + "." + std::string(k) + ": not a member of " + name);
          continue;
        }
        check_shape(std::string(m->at("shape").as_string()), mv, path + "." + std::string(k), problems);
      }
      if (auto* req = shape.if_contains("required")) {
        for (const auto& r : req->as_array()) {
          if (!v.as_object().contains(r.as_string())) problems.push_back(path + ": missing " + std::string(r.as_string()));
        }
      }
      if (name == "AttributeValue" && v.as_object().size() != 1) problems.push_back(path + ": not exactly one type");
    } else if (type == "map") {
      if (!v.is_object()) return problems.push_back(path + ": not a map");
      for (const auto& [k, mv] : v.as_object()) {
        check_shape(std::string(shape.at("value").at("shape").as_string()), mv, path + "[" + std::string(k) + "]", problems);
      }
    } else if (type == "list") {
      if (!v.is_array()) return problems.push_back(path + ": not a list");
      for (const auto& e : v.as_array()) check_shape(std::string(shape.at("member").at("shape").as_string()), e, path + "[]", problems);
    } else if (type == "string") {
      if (!v.is_string()) return problems.push_back(path + ": not a string");
      if (auto* en = shape.if_contains("enum")) {
        bool found = false;
        for (const auto& e : en->as_array()) found = found || e == v;
        if (!found) problems.push_back(path + ": " + json::serialize(v) + " not in the enum");
      }
    } else if (type == "boolean") {
      if (!v.is_bool()) problems.push_back(path + ": not a boolean");
    } else if (type == "integer" || type == "long") {
      if (!v.is_int64() && !v.is_uint64()) problems.push_back(path + ": not an integer");
    } else if (type == "blob") {
      if (!v.is_string()) problems.push_back(path + ": not base64 text");
    }
  }

  const json::object& shapes_;
  const json::object& ops_;
};

TEST(DynamoDbClient, RequestBodiesMatchTheServiceModel) {
  auto path = ba::aws::test::shared_dir() / "reference" / "aws-models" / "dynamodb-2012-08-10.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path << " (set BA_SHARED_DIR)";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const json::value model = json::parse(ss.str());
  ShapeChecker checker(model.as_object());

  Fixture f(1);
  Item key{{"pk", attr_s("conv#c1")}, {"sk", attr_n(1)}};
  Item item = key;
  item["text"] = attr_s("x");
  item["m"] = attr_m(Item{{"a", attr_bool(false)}});
  item["l"] = attr_l(json::array{attr_null()});
  Condition cond{"attribute_not_exists(#pk) OR #e <= :now", Item{{"#pk", "pk"}, {"#e", "expires_at_ms"}},
                 Item{{":now", attr_n(5)}}};
  (void)run_sync(f.client.get_item("tbl", key));
  (void)run_sync(f.client.put_item("tbl", item, cond));
  (void)run_sync(f.client.update_item("tbl", key, "SET #e = :now", cond));
  (void)run_sync(f.client.delete_item("tbl", key, cond));
  (void)run_sync(f.client.query(QueryRequest{.table = "tbl", .key_condition = "#pk = :pk", .names = Item{{"#pk", "pk"}},
                                             .values = Item{{":pk", attr_s("conv#c1")}}, .projection = "#pk",
                                             .forward = false, .limit = 10, .exclusive_start_key = key}));
  (void)run_sync(f.client.batch_delete("tbl", {key}));
  (void)run_sync(f.client.describe_table("tbl"));
  (void)run_sync(f.client.create_table("tbl", {{"pk", "S", "HASH"}, {"sk", "N", "RANGE"}}));
  (void)run_sync(f.client.update_time_to_live("tbl", "expires_at"));
  const char* expected[] = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query",
                            "BatchWriteItem", "DescribeTable", "CreateTable", "UpdateTimeToLive"};
  ASSERT_EQ(f.http.requests.size(), std::size(expected));
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    const auto& r = f.http.requests[i];
    EXPECT_EQ(r.headers.get("X-Amz-Target"), "DynamoDB_20120810." + std::string(expected[i]));
    auto problems = checker.check(expected[i], json::parse(r.body));
    EXPECT_TRUE(problems.empty()) << expected[i] << ": " << problems.front();
  }
  // The checker itself notices a stray member.
  EXPECT_FALSE(checker.check("PutItem", json::parse(R"({"TableName":"t","Item":{},"Bogus":1})")).empty());
}

// ---- Against dynalite ------------------------------------------------------------------------------

TEST(DynamoDbClientDynalite, CreateDescribePutGetQueryDelete) {
  if (!ba::test::dynalite_available()) GTEST_SKIP() << ba::test::kNoDynalite;
  auto* rig = ba::test::shared_rig();
  ASSERT_NE(rig, nullptr);
  Client& c = rig->client();
  const std::string table = ba::test::DynamoRig::unique_table("client");

  auto absent = rig->run(c.describe_table(table));
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_FALSE(*absent);
  ASSERT_TRUE(rig->run(c.create_table(table, {{"pk", "S", "HASH"}, {"sk", "N", "RANGE"}})));
  auto desc = rig->run(c.describe_table(table));
  ASSERT_TRUE(desc && *desc);
  EXPECT_EQ((*desc)->name, table);
  ASSERT_EQ((*desc)->key_schema.size(), 2u);
  EXPECT_EQ((*desc)->key_schema[0].name, "pk");
  EXPECT_EQ((*desc)->key_schema[0].type, "S");
  EXPECT_EQ((*desc)->key_schema[1].key_type, "RANGE");
  for (int i = 0; i < 200 && (*desc)->status != "ACTIVE"; ++i) {
    rig->run(wait_for(std::chrono::milliseconds(50)));
    desc = rig->run(c.describe_table(table));
    ASSERT_TRUE(desc && *desc);
  }
  ASSERT_EQ((*desc)->status, "ACTIVE");

  const Condition absent_only{"attribute_not_exists(#pk)", Item{{"#pk", "pk"}}, {}};
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(rig->run(c.put_item(table, Item{{"pk", attr_s("a")}, {"sk", attr_n(i)}, {"v", attr_s(std::to_string(i))}},
                                    absent_only)));
  }
  auto dup = rig->run(c.put_item(table, Item{{"pk", attr_s("a")}, {"sk", attr_n(3)}}, absent_only));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::conflict);

  auto got = rig->run(c.get_item(table, Item{{"pk", attr_s("a")}, {"sk", attr_n(3)}}));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(get_s(**got, "v"), "3");  // the conditional failure changed nothing

  QueryRequest q{.table = table, .key_condition = "#pk = :pk", .names = Item{{"#pk", "pk"}},
                 .values = Item{{":pk", attr_s("a")}}, .forward = false, .limit = 2};
  std::vector<std::int64_t> seen;
  for (;;) {
    auto page = rig->run(c.query(q));
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& it : page->items) seen.push_back(*get_n(it, "sk"));
    if (!page->last_evaluated_key) break;
    q.exclusive_start_key = page->last_evaluated_key;
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{5, 4, 3, 2, 1}));

  auto updated = rig->run(c.update_item(table, Item{{"pk", attr_s("a")}, {"sk", attr_n(1)}}, "SET #v = :v",
                                        {"#v = :old", Item{{"#v", "v"}}, Item{{":v", attr_s("one")}, {":old", attr_s("1")}}}));
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(get_s(*updated, "v"), "one");

  std::vector<Item> keys;
  for (int i = 1; i <= 5; ++i) keys.push_back(Item{{"pk", attr_s("a")}, {"sk", attr_n(i)}});
  ASSERT_TRUE(rig->run(c.batch_delete(table, keys)));
  q.exclusive_start_key.reset();
  auto empty = rig->run(c.query(q));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->items.empty());

  auto missing_table = rig->run(c.put_item("ba-no-such-table", Item{{"pk", attr_s("a")}, {"sk", attr_n(1)}}));
  ASSERT_FALSE(missing_table);
  EXPECT_EQ(missing_table.error().kind, ErrorKind::not_found);
  auto invalid = rig->run(c.put_item(table, Item{{"pk", attr_s("a")}}));  // no sort key
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().kind, ErrorKind::invalid_input);
  auto ttl = rig->run(c.update_time_to_live(table, "expires_at"));
  if (!ttl) {
    EXPECT_EQ(ttl.error().code, "UnknownOperationException");  // dynalite has no TTL
  }
}

TEST(DynamoDbClientDynalite, UnreachableEndpointIsANetworkError) {
  ba::test::DynamoRig rig("http://127.0.0.1:" + std::to_string(ba::test::free_loopback_port()),
                      ClientConfig{.max_attempts = 2, .base_backoff = std::chrono::milliseconds(1)});
  auto r = rig.run(rig.client().describe_table("whatever"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::network) << r.error().message;
}

}  // namespace
}  // namespace ba::aws::dynamodb
