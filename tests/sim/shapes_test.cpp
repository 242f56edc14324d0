// The simulator's answers to request shapes beyond text and tools: structured output (Converse
// outputConfig.textFormat json_schema) answered with JSON satisfying the schema, refused for models
// without it.
#include <gtest/gtest.h>

#include "sim/simulator.hpp"
#include "sim/sim_harness.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;
using testing::Answer;
using testing::call;
using testing::decode_frames;
using testing::model_request;

constexpr std::string_view kSonnet45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
constexpr std::string_view kSchema =
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":3},"tags":{"type":"array","items":{"type":"string"},"minItems":1}},"required":["name","age","tags"],"additionalProperties":false})";

json::object structured_body() {
  return json::object{
      {"messages", json::array{json::object{{"role", "user"}, {"content", json::array{json::object{{"text", "A person?"}}}}}}},
      {"outputConfig", {{"textFormat", {{"type", "json_schema"}, {"structure", {{"jsonSchema", {{"schema", kSchema}, {"name", "person"}}}}}}}}}};
}

class SimShapesTest : public ::testing::Test {
 protected:
  Answer send(net::ServerRequest req) {
    if (!sim_) sim_ = make_simulator(io, opts);
    return testing::run(io, call(*sim_, std::move(req)));
  }
  boost::asio::io_context io;
  SimulatorOptions opts;
  std::unique_ptr<Simulator> sim_;
};

TEST_F(SimShapesTest, StructuredOutputIsJsonSatisfyingTheSchema) {
  auto a = send(model_request(kSonnet45, "converse", json::serialize(structured_body())));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body);
  EXPECT_EQ(b.at("stopReason"), "end_turn");
  const auto text = b.at("output").at("message").at("content").at(0).at("text").as_string();
  EXPECT_EQ(json::parse(text), json::parse(R"({"name":"sample","age":3,"tags":["sample"]})")) << text;
}

TEST_F(SimShapesTest, StructuredOutputStreamsTheSameJson) {
  auto a = send(model_request(kSonnet45, "converse-stream", json::serialize(structured_body())));
  ASSERT_EQ(a.response.status, 200) << a.body;
  std::string text;
  int deltas = 0;
  for (const auto& f : decode_frames(a.body).frames) {
    if (f.event_type != "contentBlockDelta") continue;
    text += json::parse(f.payload).at("delta").at("text").as_string();
    ++deltas;
  }
  EXPECT_EQ(deltas, 2);
  EXPECT_EQ(json::parse(text), json::parse(R"({"name":"sample","age":3,"tags":["sample"]})"));
}

TEST_F(SimShapesTest, StructuredOutputIsRefusedForOlderModelsAndBadSchemas) {
  auto old = send(model_request("anthropic.claude-3-haiku-20240307-v1:0", "converse", json::serialize(structured_body())));
  EXPECT_EQ(old.response.status, 400) << old.body;
  EXPECT_NE(old.body.find("outputConfig.textFormat"), std::string::npos) << old.body;
  auto body = structured_body();
  body["outputConfig"].as_object()["textFormat"].as_object()["structure"].as_object()["jsonSchema"].as_object()["schema"] = "[1]";
  auto bad = send(model_request(kSonnet45, "converse", json::serialize(body)));
  EXPECT_EQ(bad.response.status, 400) << bad.body;
}

}  // namespace
}  // namespace ba::sim
