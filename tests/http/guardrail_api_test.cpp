// A guardrail's intervention as each API says it: /chat's stop_reason guardrail_intervened, OpenAI's
// finish_reason content_filter, Anthropic's stop_reason refusal (buffered and streamed).
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"

namespace ba::test {
namespace {

class GuardrailApiTest : public CompatApiTest {
 protected:
  void blocked() {
    model.reply("Sorry, the model cannot answer this question.", {"Sorry, the model cannot answer this question."});
    model.script.back().result->stop_reason = "guardrail_intervened";
  }
};

TEST_F(GuardrailApiTest, EachApiSaysItInItsOwnWords) {
  blocked();
  auto chat = post("/chat", R"({"input": "forbidden"})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(parse(chat.body).at("stop_reason"), "guardrail_intervened");
  EXPECT_EQ(parse(chat.body).at("response"), "Sorry, the model cannot answer this question.");
  EXPECT_FALSE(parse(chat.body).as_object().contains("guardrail_trace"));  // no trace asked for

  // --guardrail-trace: /chat shows what the guardrail assessed (buffered, and in a stream's done event).
  blocked();
  model.script.back().result->guardrail_trace = R"({"inputAssessment":{"gr1":{"wordPolicy":{}}}})";
  auto traced = post("/chat", R"({"input": "forbidden"})");
  ASSERT_EQ(traced.status, 200) << traced.body;
  EXPECT_EQ(parse(traced.body).at("guardrail_trace").at("inputAssessment").at("gr1"), parse(R"({"wordPolicy":{}})"));
  blocked();
  model.script.back().result->guardrail_trace = R"({"inputAssessment":{"gr1":{"wordPolicy":{}}}})";
  auto traced_stream = post("/chat", R"({"input": "forbidden", "stream": true})");
  const std::string events = drain(traced_stream);
  EXPECT_NE(events.find(R"("guardrail_trace":{"inputAssessment":{"gr1":{"wordPolicy":{}}}})"), std::string::npos) << events;

  blocked();
  auto openai = post("/v1/chat/completions", R"({"model": "haiku", "messages": [{"role": "user", "content": "forbidden"}]})");
  ASSERT_EQ(openai.status, 200) << openai.body;
  EXPECT_EQ(parse(openai.body).at("choices").at(0).at("finish_reason"), "content_filter");

  blocked();
  auto streamed = post("/v1/chat/completions", R"({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "forbidden"}]})");
  EXPECT_NE(drain(streamed).find(R"("finish_reason":"content_filter")"), std::string::npos);

  blocked();
  net::Headers h;
  h.set("x-api-key", kKey);
  h.set("anthropic-version", "2023-06-01");
  auto anthropic = post("/v1/messages", R"({"model": "haiku", "max_tokens": 10, "messages": [{"role": "user", "content": "forbidden"}]})", h);
  ASSERT_EQ(anthropic.status, 200) << anthropic.body;
  EXPECT_EQ(parse(anthropic.body).at("stop_reason"), "refusal");
}

}  // namespace
}  // namespace ba::test
