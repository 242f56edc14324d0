// Request shapes on the compatible APIs beyond text and tools: OpenAI's response_format (json_schema ->
// Converse structured output, refused for models without it); tool results holding images, documents and
// JSON (Anthropic tool_result blocks, OpenAI tool message parts). The official clients' view is in
// tests/e2e/compat_clients_e2e_test.cpp ("shapes").
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

constexpr const char* kSonnet45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

class ShapesApiTest : public CompatApiTest {
 protected:
  void SetUp() override {
    CompatApiTest::SetUp();
    // One more alias: a model that takes structured output.
    wire({{"haiku", kHaiku}, {"sonnet45", kSonnet45}});
  }
  net::ServerResponse chat(std::string body) { return post("/v1/chat/completions", std::move(body)); }
  static json::object error_of(const net::ServerResponse& r) { return parse(r.body).at("error").as_object(); }
};

constexpr std::string_view kFormat =
    R"("response_format": {"type": "json_schema", "json_schema": {"name": "person", "description": "Who", "strict": true,
       "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}})";

TEST_F(ShapesApiTest, ResponseFormatJsonSchemaIsStructuredOutput) {
  model.reply(R"({"name":"Ada"})");
  auto r = chat(R"({"model": "sonnet45", "messages": [{"role": "user", "content": "Who?"}], )" + std::string(kFormat) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  ASSERT_TRUE(req.output_format);
  EXPECT_EQ(req.output_format->name, "person");
  EXPECT_EQ(req.output_format->description, "Who");
  EXPECT_EQ(req.output_format->schema,
            R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  EXPECT_EQ(parse(r.body).at("choices").at(0).at("message").at("content"), R"({"name":"Ada"})");
  // response_format text (or null) asks for nothing.
  model.reply("plain");
  auto text = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "text"}})");
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_FALSE(model.requests.at(1).output_format);
}

TEST_F(ShapesApiTest, ResponseFormatForAModelWithoutStructuredOutputIs400SayingSo) {
  auto r = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "Who?"}], )" + std::string(kFormat) + "}");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_NE(error_of(r).at("message").as_string().find("does not support structured output"), std::string::npos) << r.body;
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(ShapesApiTest, ResponseFormatsWithoutAnHonestMappingAre400NamingTheField) {
  struct Case {
    std::string format;
    std::string param;
  };
  const std::vector<Case> cases = {
      {R"({"type": "json_object"})", "response_format.type"},
      {R"({"type": "xml"})", "response_format.type"},
      {R"("json")", "response_format"},
      {R"({"type": "json_schema"})", "response_format.json_schema"},
      {R"({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}})", "response_format.json_schema.name"},
      {R"({"type": "json_schema", "json_schema": {"name": "x"}})", "response_format.json_schema.schema"},
      {R"({"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}})", "response_format.json_schema.schema"},
      {R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "extra": 1}})", "response_format.json_schema.extra"},
  };
  for (const auto& c : cases) {
    auto r = chat(R"({"model": "sonnet45", "messages": [{"role": "user", "content": "x"}], "response_format": )" + c.format + "}");
    ASSERT_EQ(r.status, 400) << c.format << " -> " << r.body;
    EXPECT_EQ(error_of(r).at("param"), json::value(c.param)) << c.format << " -> " << r.body;
  }
  auto r = chat(R"({"model": "sonnet45", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})");
  EXPECT_NE(error_of(r).at("message").as_string().find("json_schema"), std::string::npos);
  EXPECT_TRUE(model.requests.empty());
}

// A 1x1 PNG and a small PDF, base64.
constexpr std::string_view kPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
constexpr std::string_view kPdf = "JVBERi0xLjQKJSVFT0YK";

TEST_F(ShapesApiTest, AnthropicToolResultsCarryImagesDocumentsAndJson) {
  model.reply("seen");
  net::Headers h;
  h.set("anthropic-version", "2023-06-01");
  auto r = post("/v1/messages", R"({"model": "haiku", "max_tokens": 50, "tools": [{"name": "chart", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "Chart?"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "chart", "input": {}},
                                        {"type": "tool_use", "id": "t2", "name": "chart", "input": {}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [
          {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ")" + std::string(kPng) + R"("}},
          {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ")" + std::string(kPdf) + R"("}, "title": "Q3.pdf"},
          {"type": "text", "text": "the chart"}]},
        {"type": "tool_result", "tool_use_id": "t2", "content": {"rows": [1, 2], "ok": true}}]}]})", h);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& results = model.requests.at(0).messages.at(2).content;
  ASSERT_EQ(results.size(), 2u);
  const auto& first = results[0].content;
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].type, bedrock::ContentBlock::Type::image);
  EXPECT_EQ(first[0].format, "png");
  EXPECT_EQ(first[1].type, bedrock::ContentBlock::Type::document);
  EXPECT_EQ(first[1].format, "pdf");
  EXPECT_EQ(first[1].name, "Q3");  // named as documents in messages are
  EXPECT_EQ(first[2].text, "the chart");
  ASSERT_EQ(results[1].content.size(), 1u);
  EXPECT_TRUE(results[1].content[0].is_json());
  EXPECT_EQ(results[1].content[0].text, R"({"rows":[1,2],"ok":true})");

  auto bad = post("/v1/messages", R"({"model": "haiku", "max_tokens": 50, "tools": [{"name": "chart", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "Chart?"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "chart", "input": {}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "search_result"}]}]}]})", h);
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(ShapesApiTest, OpenAIToolMessagesCarryImagesFilesAndJson) {
  model.reply("seen");
  auto r = chat(R"({"model": "haiku", "tools": [{"type": "function", "function": {"name": "chart"}}], "messages": [
      {"role": "user", "content": "Chart?"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "chart", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "chart", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "the chart"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,)" + std::string(kPng) + R"("}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,)" + std::string(kPdf) + R"(", "filename": "q3.pdf"}}]},
      {"role": "tool", "tool_call_id": "c2", "content": {"rows": [1, 2]}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& results = model.requests.at(0).messages.at(2).content;
  ASSERT_EQ(results.size(), 2u);
  ASSERT_EQ(results[0].content.size(), 3u);
  EXPECT_EQ(results[0].content[0].text, "the chart");
  EXPECT_EQ(results[0].content[1].type, bedrock::ContentBlock::Type::image);
  EXPECT_EQ(results[0].content[2].type, bedrock::ContentBlock::Type::document);
  EXPECT_EQ(results[0].content[2].name, "q3");
  EXPECT_TRUE(results[1].content.at(0).is_json());
  EXPECT_EQ(results[1].content.at(0).text, R"({"rows":[1,2]})");
  // An http(s) image in a tool message is refused as anywhere else.
  auto url = chat(R"({"model": "haiku", "tools": [{"type": "function", "function": {"name": "chart"}}], "messages": [
      {"role": "user", "content": "Chart?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "chart", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]})");
  EXPECT_EQ(url.status, 400) << url.body;
  EXPECT_EQ(error_of(url).at("param"), "messages[2].content[0].image_url.url");
}

}  // namespace
}  // namespace ba::test
