// The compatible APIs' extra routes and blocks: GET /v1/models[/{id}] (http/models_api.cpp) in OpenAI's
// and Anthropic's shapes, POST /v1/messages/count_tokens (Bedrock's CountTokens, no rate-limit budget),
// and inline documents (Anthropic document blocks, OpenAI file parts) as Converse document blocks.
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class CompatExtrasTest : public CompatApiTest {
 protected:
  net::ServerResponse get(const std::string& path, net::Headers headers = {}, bool auth = true) {
    net::ServerRequest req;
    req.method = "GET";
    req.target = req.path = path;
    req.headers = std::move(headers);
    if (auth) req.headers.set("Authorization", std::string("Bearer ") + kKey);
    return run_sync(handler(req));
  }
  static net::Headers anthropic() {
    net::Headers h;
    h.set("anthropic-version", "2023-06-01");
    return h;
  }
  net::ServerResponse count(std::string body) { return post("/v1/messages/count_tokens", std::move(body), anthropic()); }
};

TEST_F(CompatExtrasTest, ModelsListTheConfiguredModelTheAliasTargetsAndTheAliases) {
  auto r = get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = parse(r.body).as_object();
  EXPECT_EQ(b.at("object"), "list");
  std::vector<std::string> ids;
  for (const auto& m : b.at("data").as_array()) {
    ids.emplace_back(m.at("id").as_string());
    EXPECT_EQ(m.at("object"), "model");
  }
  const std::vector<std::string> expected = {kModel, kHaiku, "amazon.titan-text-express-v1", "haiku", "titan"};
  EXPECT_EQ(ids, expected);
  const auto& first = b.at("data").at(0).as_object();
  EXPECT_EQ(first.at("owned_by"), "anthropic");
  EXPECT_EQ(first.at("created"), 1709164800);  // 2024-02-29, the date in the model id
  const auto& titan_alias = b.at("data").at(4).as_object();
  EXPECT_EQ(titan_alias.at("owned_by"), "amazon");  // the alias's target's provider
  EXPECT_EQ(titan_alias.at("created"), 0);           // no date in the id

  auto one = get("/v1/models/haiku");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(parse(one.body).at("id"), "haiku");
  EXPECT_EQ(parse(one.body).at("created"), 1709769600);  // 2024-03-07
  auto encoded = get("/v1/models/anthropic.claude-3-haiku-20240307-v1%3A0");
  ASSERT_EQ(encoded.status, 200) << encoded.body;
  EXPECT_EQ(parse(encoded.body).at("id"), kHaiku);
}

TEST_F(CompatExtrasTest, AnUnknownModelIsOpenAIs404AndTheRoutesNeedAKey) {
  auto r = get("/v1/models/gpt-4o");
  ASSERT_EQ(r.status, 404);
  auto e = parse(r.body).at("error").as_object();
  EXPECT_EQ(e.at("type"), "invalid_request_error");
  EXPECT_EQ(e.at("code"), "model_not_found");
  EXPECT_EQ(e.at("param"), "model");
  EXPECT_NE(e.at("message").as_string().find("gpt-4o"), std::string::npos);

  auto anon = get("/v1/models", {}, false);
  EXPECT_EQ(anon.status, 401);
  EXPECT_TRUE(parse(anon.body).at("error").as_object().contains("code")) << anon.body;  // OpenAI's shape
  auto post_it = post("/v1/models", "{}");
  EXPECT_EQ(post_it.status, 405);
}

TEST_F(CompatExtrasTest, WithAnthropicVersionTheModelsAreInAnthropicsShape) {
  auto r = get("/v1/models", anthropic());
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = parse(r.body).as_object();
  EXPECT_FALSE(b.contains("object"));
  EXPECT_EQ(b.at("has_more"), false);
  EXPECT_EQ(b.at("first_id"), kModel);
  EXPECT_EQ(b.at("last_id"), "titan");
  const auto& m = b.at("data").at(0).as_object();
  EXPECT_EQ(m.at("type"), "model");
  EXPECT_EQ(m.at("display_name"), kModel);
  EXPECT_EQ(m.at("created_at"), "2024-02-29T00:00:00Z");

  auto one = get("/v1/models/haiku", anthropic());
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(parse(one.body).at("type"), "model");
  auto missing = get("/v1/models/nope", anthropic());
  ASSERT_EQ(missing.status, 404);
  EXPECT_EQ(parse(missing.body).at("error").at("type"), "not_found_error");
}

TEST_F(CompatExtrasTest, CountTokensAsksBedrockAndTakesNoChatCall) {
  model.counts.push_back(42);
  auto r = count(R"({"model": "haiku", "system": "Be brief.",
    "messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Count me"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r.body), json::parse(R"({"input_tokens": 42})"));
  ASSERT_EQ(model.count_requests.size(), 1u);
  const auto& req = model.count_requests[0];
  EXPECT_EQ(req.model_id, kHaiku);
  EXPECT_EQ(req.system, "Be brief.");
  EXPECT_EQ(req.messages.size(), 3u);
  EXPECT_EQ(model.admits, 0);  // no admission: CountTokens is free
  EXPECT_TRUE(model.requests.empty());
  EXPECT_EQ(last_log().at("route"), "/v1/messages/count_tokens");
  EXPECT_EQ(last_log().at("status"), 200);
}

TEST_F(CompatExtrasTest, CountTokensRefusesWhatItDoesNotDefineAndPassesBedrocksRefusalOn) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  for (const std::string field : {R"("max_tokens": 5)", R"("stream": true)", R"("temperature": 0.5)"}) {
    auto r = count(R"({"model": "haiku", )" + field + ", " + m + "}");
    ASSERT_EQ(r.status, 400) << field;
    EXPECT_NE(parse(r.body).at("error").at("message").as_string().find("Extra inputs are not permitted"), std::string::npos);
  }
  auto unknown = count(R"({"model": "gpt-4o", )" + m + "}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(model.count_requests.empty());

  Error refused = Error::make(ErrorKind::invalid_input, "The provided model doesn't support counting tokens.");
  refused.http_status = 400;
  refused.code = "ValidationException";
  model.counts.push_back(std::unexpected(refused));
  auto r = count(R"({"model": "titan", )" + m + "}");
  ASSERT_EQ(r.status, 400) << r.body;
  auto e = parse(r.body).as_object();
  EXPECT_EQ(e.at("type"), "error");
  EXPECT_EQ(e.at("error").at("type"), "invalid_request_error");
  const std::string msg(e.at("error").at("message").as_string());
  EXPECT_NE(msg.find("cannot count tokens for model 'amazon.titan-text-express-v1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("doesn't support counting tokens"), std::string::npos) << msg;
}

TEST_F(CompatExtrasTest, AnthropicDocumentBlocksBecomeNamedConverseDocuments) {
  model.reply("A summary.");
  const std::string pdf = base64_encode("%PDF-1.4 fake");
  auto r = post("/v1/messages", R"({"model": "haiku", "max_tokens": 50, "messages": [{"role": "user", "content": [
      {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ")" + pdf + R"("},
       "title": "Q3 report: final/v2", "citations": {"enabled": false}},
      {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}},
      {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "more"}, "title": "Q3 report: final/v2"},
      {"type": "text", "text": "Summarize"}]}]})",
                anthropic());
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& blocks = model.requests.at(0).messages.at(0).content;
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].type, bedrock::ContentBlock::Type::document);
  EXPECT_EQ(blocks[0].format, "pdf");
  EXPECT_EQ(blocks[0].bytes, "%PDF-1.4 fake");
  EXPECT_EQ(blocks[0].name, "Q3 report final v2");  // Converse's name characters only
  EXPECT_EQ(blocks[1].format, "txt");
  EXPECT_EQ(blocks[1].bytes, "plain notes");
  EXPECT_EQ(blocks[1].name, "document 2");
  EXPECT_EQ(blocks[2].name, "Q3 report final v2 (2)");  // unique within the request
}

TEST_F(CompatExtrasTest, DocumentSourcesTheAgentCannotTakeAre400) {
  struct Case {
    std::string block;
    std::string says;
  };
  const std::vector<Case> cases = {
      {R"({"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}})", "does not fetch URLs"},
      {R"({"type": "document", "source": {"type": "file", "file_id": "file_1"}})", "only base64 and text"},
      {R"({"type": "document", "source": {"type": "base64", "media_type": "application/zip", "data": "AAAA"}})",
       "not a document type"},
      {R"({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "***"}})",
       "not valid base64"},
      {R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}, "context": "c"})",
       "context"},
      {R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}, "frob": 1})",
       "Extra inputs"},
  };
  for (const auto& c : cases) {
    auto r = post("/v1/messages",
                  R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [)" + c.block + "]}]}",
                  anthropic());
    ASSERT_EQ(r.status, 400) << c.block << " -> " << r.body;
    EXPECT_NE(parse(r.body).at("error").at("message").as_string().find(c.says), std::string::npos) << r.body;
  }
  // Converse's limit: 5 documents per request.
  std::string many;
  for (int i = 0; i < 6; ++i)
    many += R"({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},)";
  auto r = post("/v1/messages",
                R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [)" + many +
                    R"({"type": "text", "text": "?"}]}]})",
                anthropic());
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("too many documents"), std::string::npos) << r.body;
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(CompatExtrasTest, OpenAIFilePartsBecomeDocuments) {
  model.reply("Read it.");
  const std::string pdf = base64_encode("%PDF-1.7 x");
  auto r = post("/v1/chat/completions", R"({"model": "haiku", "messages": [{"role": "user", "content": [
      {"type": "file", "file": {"file_data": "data:application/pdf;base64,)" + pdf + R"(", "filename": "annual report.pdf"}},
      {"type": "text", "text": "Summarize"}]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& b = model.requests.at(0).messages.at(0).content.at(0);
  EXPECT_EQ(b.type, bedrock::ContentBlock::Type::document);
  EXPECT_EQ(b.format, "pdf");
  EXPECT_EQ(b.name, "annual report");
  EXPECT_EQ(b.bytes, "%PDF-1.7 x");

  auto by_id = post("/v1/chat/completions", R"({"model": "haiku", "messages": [{"role": "user", "content": [
      {"type": "file", "file": {"file_id": "file-abc"}}]}]})");
  ASSERT_EQ(by_id.status, 400);
  EXPECT_EQ(parse(by_id.body).at("error").at("param"), "messages[0].content[0].file.file_id");
  auto zip = post("/v1/chat/completions", R"({"model": "haiku", "messages": [{"role": "user", "content": [
      {"type": "file", "file": {"file_data": "data:application/zip;base64,AAAA", "filename": "a.zip"}}]}]})");
  ASSERT_EQ(zip.status, 400);
  EXPECT_NE(zip.body.find("not a document the model reads"), std::string::npos) << zip.body;
}

}  // namespace
}  // namespace ba::test
