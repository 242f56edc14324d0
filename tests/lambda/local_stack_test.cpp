// The local stack (issue 5): deploy/template.yaml, the package and the code must agree. The test reads
// the template (cfn-lint's loader), creates the DynamoDB tables its environment names (history, shared
// budget) in dynalite with the template's key schemas and its bucket in s3rver, unzips the package and
// runs `bootstrap` under the fake Runtime API with the Lambda environment the template sets (Refs
// resolved to parameter defaults and to the tables and bucket made here) and the bundled simulator as
// Bedrock. The binary itself checks the tables' schemas at start-up (no --create-missing here), so a
// template whose keys the code does not expect fails the test. Skips when the package, cfn-lint,
// dynalite or s3rver is missing.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/dynamodb_rig.hpp"
#include "support/s3_rig.hpp"
#include "lambda/binary_harness.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// An API Gateway REST (v1) proxy event from the caller whose API key id is `key_id`.
std::string v1_event(std::string_view method, std::string_view path, std::string_view body, std::string_view key_id) {
  json::object ev;
  ev["resource"] = "/{proxy+}";
  ev["path"] = path;
  ev["httpMethod"] = method;
  ev["headers"] = json::object{{"content-type", "application/json"}};
  ev["requestContext"] = json::object{{"stage", "prod"},
                                      {"requestId", "gw-" + uuid_v4()},
                                      {"identity", json::object{{"apiKeyId", key_id}, {"sourceIp", "203.0.113.9"}}}};
  if (body.empty()) {
    ev["body"] = nullptr;
  } else {
    ev["body"] = body;
  }
  ev["isBase64Encoded"] = false;
  return json::serialize(ev);
}

const json::object* resource_of_type(const json::object& t, std::string_view type, std::string* logical = nullptr) {
  for (const auto& [name, r] : t.at("Resources").as_object()) {
    if (r.as_object().at("Type").as_string() == type) {
      if (logical) *logical = name;
      return &r.as_object().at("Properties").as_object();
    }
  }
  return nullptr;
}

std::string scalar(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

class LocalStack : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(package_zip())) GTEST_SKIP() << package_zip() << " does not exist: run `make package` first";
    if (!dynalite_available()) GTEST_SKIP() << kNoDynalite;
    if (!s3rver_available()) GTEST_SKIP() << kNoS3rver;
    auto t = decode_template();
    if (!t) GTEST_SKIP() << "cfn-lint's loader (python3 cfnlint.decode) is not available to read the template";
    template_ = std::move(*t);
    ShellRun r = shell("unzip -q " + quote(package_zip()) + " -d " + quote(dir_.path() / "pkg"));
    ASSERT_EQ(r.rc, 0) << r.output;
  }

  json::object template_;
  TempDir dir_;
};

TEST_F(LocalStack, TheTemplatesTableBucketAndEnvironmentRunThePackagedBinary) {
  // --- the tables, as the template declares them ---
  std::string table_logical, bucket_logical, function_logical;
  const json::object* table = resource_of_type(template_, "AWS::DynamoDB::Table", &table_logical);
  const json::object* bucket_props = resource_of_type(template_, "AWS::S3::Bucket", &bucket_logical);
  const json::object* function = resource_of_type(template_, "AWS::Lambda::Function", &function_logical);
  ASSERT_TRUE(table && bucket_props && function);
  // The template may declare more than one bucket (e.g. for logs): the function's FILES_BUCKET Ref names it.
  const json::object& vars = function->at("Environment").as_object().at("Variables").as_object();
  ASSERT_TRUE(vars.contains("FILES_BUCKET") && vars.at("FILES_BUCKET").as_object().contains("Ref"));
  bucket_logical = std::string(vars.at("FILES_BUCKET").as_object().at("Ref").as_string());
  ASSERT_TRUE(vars.contains("CONVERSATION_TABLE") && vars.at("CONVERSATION_TABLE").as_object().contains("Ref"));
  table_logical = std::string(vars.at("CONVERSATION_TABLE").as_object().at("Ref").as_string());

  // Every table the environment names (CONVERSATION_TABLE, BUDGET_TABLE, ...): logical id -> name made here.
  std::map<std::string, std::string> tables;
  DynamoRig ddb(shared_dynalite()->endpoint());
  const json::object& resources = template_.at("Resources").as_object();
  for (const auto& [name, value] : vars) {
    if (!value.is_object() || !value.as_object().contains("Ref")) continue;
    const std::string ref(value.as_object().at("Ref").as_string());
    if (!resources.contains(ref) || resources.at(ref).at("Type").as_string() != "AWS::DynamoDB::Table") continue;
    if (tables.contains(ref)) continue;
    table = &resources.at(ref).at("Properties").as_object();
    const std::string physical = DynamoRig::unique_table("stack");
    json::object create{{"TableName", physical},
                        {"KeySchema", table->at("KeySchema")},
                        {"AttributeDefinitions", table->at("AttributeDefinitions")},
                        {"BillingMode", table->contains("BillingMode") ? table->at("BillingMode")
                                                                       : json::value("PAY_PER_REQUEST")}};
    auto created = ddb.run(ddb.client().call("CreateTable", std::move(create)));
    ASSERT_TRUE(created) << name << ": " << created.error().message;
    tables[ref] = physical;
  }
  ASSERT_TRUE(tables.contains(table_logical));
  const std::string table_name = tables.at(table_logical);
  const std::string bucket = S3Rig::unique_bucket("stack");
  S3Rig s3(shared_s3rver()->endpoint());
  auto made = s3.run(s3.client().create_bucket(bucket));
  ASSERT_TRUE(made) << made.error().message;

  // --- the Lambda's environment, as the template sets it ---
  const json::object& params = template_.at("Parameters").as_object();
  // A condition (Fn::Equals, Fn::Not, Condition) with every parameter at its default.
  const json::object* conditions =
      template_.contains("Conditions") ? &template_.at("Conditions").as_object() : nullptr;
  std::function<std::string(const json::value&)> operand = [&](const json::value& x) {
    if (x.is_object() && x.as_object().contains("Ref")) return scalar(params.at(x.at("Ref").as_string()).at("Default"));
    return scalar(x);
  };
  std::function<bool(const json::value&)> holds = [&](const json::value& c) -> bool {
    const json::object& o = c.as_object();
    if (o.contains("Fn::Equals")) return operand(o.at("Fn::Equals").at(0)) == operand(o.at("Fn::Equals").at(1));
    if (o.contains("Fn::Not")) return !holds(o.at("Fn::Not").at(0));
    if (o.contains("Condition")) return holds(conditions->at(o.at("Condition").as_string()));
    ADD_FAILURE() << "a condition this test cannot evaluate: " << json::serialize(c);
    return false;
  };
  std::vector<std::string> env;
  for (const auto& [name, declared] : vars) {
    std::string v;
    json::value value = declared;
    // Fn::If [condition, then, else]: the branch the default parameters choose; AWS::NoValue: no variable.
    while (value.is_object() && value.as_object().contains("Fn::If")) {
      const json::array& branch = value.at("Fn::If").as_array();
      ASSERT_TRUE(conditions && conditions->contains(branch.at(0).as_string())) << name << ": " << json::serialize(value);
      value = holds(conditions->at(branch.at(0).as_string())) ? branch.at(1) : branch.at(2);
    }
    if (value.is_object() && value.as_object().contains("Ref") && value.at("Ref") == "AWS::NoValue") continue;
    if (value.is_object() && value.as_object().contains("Ref")) {
      std::string ref(value.as_object().at("Ref").as_string());
      if (auto it = tables.find(ref); it != tables.end()) {
        v = it->second;
      } else if (ref == bucket_logical) {
        v = bucket;
      } else {
        ASSERT_TRUE(params.contains(ref)) << name << " refers to " << ref << ", which this test cannot resolve";
        ASSERT_TRUE(params.at(ref).as_object().contains("Default")) << "parameter " << ref << " has no default";
        v = scalar(params.at(ref).at("Default"));
      }
    } else {
      ASSERT_FALSE(value.is_object()) << name << ": an intrinsic this test cannot resolve: " << json::serialize(value);
      v = scalar(value);
    }
    env.push_back(std::string(name) + "=" + v);
  }
  RuntimeApiThread runtime;
  env.insert(env.end(), {"AWS_LAMBDA_RUNTIME_API=" + runtime.api(), "AWS_REGION=us-east-1",
                         "BEDROCK_AGENT_SIMULATE=1",  // the bundled simulator plays Bedrock
                         "AWS_ENDPOINT_URL_DYNAMODB=" + shared_dynalite()->endpoint(),
                         "AWS_ENDPOINT_URL_S3=" + shared_s3rver()->endpoint(), "AWS_ACCESS_KEY_ID=S3RVER",
                         "AWS_SECRET_ACCESS_KEY=S3RVER", "HOME=" + dir_.path().string()});

  Child child({(dir_.path() / "pkg" / "bootstrap").string()}, env, /*merge_stdout=*/true);
  std::size_t answered = 0;
  // Queues one event and waits for its answer (the response body as JSON, and its status).
  auto invoke = [&](std::string event) -> std::pair<int, json::value> {
    const std::string id = "inv-" + std::to_string(answered + 1);
    runtime.queue(id, std::move(event));
    auto posts = runtime.wait_for("response", ++answered, child);
    for (const auto& p : posts) {
      if (p.id != id) continue;
      auto o = json::parse(p.body).as_object();
      const int status = static_cast<int>(o.at("statusCode").as_int64());
      const auto& b = o.at("body");
      json::value body = b.is_string() && !b.as_string().empty() ? json::parse(b.as_string()) : json::value();
      return {status, body};
    }
    return {0, json::value()};
  };

  auto file = invoke(v1_event("POST", "/files",
                              json::serialize(json::object{{"name", "notes.txt"},
                                                           {"content_type", "text/plain"},
                                                           {"content_base64", base64_encode("the local stack")}}),
                              "key-a"));
  ASSERT_EQ(file.first, 201) << json::serialize(file.second) << "\n" << child.rest();
  const std::string file_id(file.second.at("id").as_string());

  auto first = invoke(v1_event(
      "POST", "/chat",
      json::serialize(json::object{{"input", "echo:first"}, {"conversation_id", "c-local"}, {"files", json::array{file_id}}}),
      "key-a"));
  ASSERT_EQ(first.first, 200) << json::serialize(first.second);
  EXPECT_EQ(first.second.at("response").as_string(), "first");
  auto second = invoke(v1_event("POST", "/chat", R"({"input":"echo:second","conversation_id":"c-local"})", "key-a"));
  ASSERT_EQ(second.first, 200) << json::serialize(second.second);
  auto history = invoke(v1_event("GET", "/conversations/c-local", "", "key-a"));
  ASSERT_EQ(history.first, 200) << json::serialize(history.second);
  EXPECT_EQ(history.second.at("turns").as_array().size(), 2u);
  auto foreign = invoke(v1_event("GET", "/conversations/c-local", "", "key-b"));
  EXPECT_EQ(foreign.first, 404) << json::serialize(foreign.second);
  auto foreign_file = invoke(v1_event("GET", "/files/" + file_id, "", "key-b"));
  EXPECT_EQ(foreign_file.first, 404);

  runtime.close();
  child.wait_exit();
  const std::string output = child.rest();
  EXPECT_TRUE(runtime.protocol_errors().empty()) << output;

  // What landed where the template says: two turn items in the table, one object in the bucket.
  aws::dynamodb::QueryRequest q;
  q.table = table_name;
  q.key_condition = "pk = :pk";
  q.values = aws::dynamodb::Item{{":pk", aws::dynamodb::attr_s("conv#c-local")}};
  auto page = ddb.run(ddb.client().query(q));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->items.size(), 2u) << output;
  auto objects = s3.run(s3.client().list_objects(bucket));
  ASSERT_TRUE(objects) << objects.error().message;
  ASSERT_EQ(objects->objects.size(), 1u);
  EXPECT_TRUE(objects->objects[0].key.ends_with(file_id)) << objects->objects[0].key;
}

}  // namespace
}  // namespace ba::test
