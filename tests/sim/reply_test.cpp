#include "sim/reply.hpp"

#include <gtest/gtest.h>

#include "sim/requests.hpp"
#include "sim/simulator.hpp"

namespace ba::sim {
namespace {

TEST(SimTokens, CountIsCeilOfBytesOverFour) {
  EXPECT_EQ(count_tokens(""), 0);
  EXPECT_EQ(count_tokens("a"), 1);
  EXPECT_EQ(count_tokens("abcd"), 1);
  EXPECT_EQ(count_tokens("abcde"), 2);
  EXPECT_EQ(count_tokens("Hello there"), 3);
}

TEST(SimTokens, RequestedTokensTag) {
  EXPECT_EQ(requested_tokens("please [[tokens=42]] now"), 42);
  EXPECT_EQ(requested_tokens("[[tokens=0]]"), 0);
  EXPECT_FALSE(requested_tokens("[[tokens=x]]"));
  EXPECT_FALSE(requested_tokens("[[tokens=5]"));
  EXPECT_FALSE(requested_tokens("no tag"));
}

TEST(SimReply, SameRequestSameReplyAndSeedMatters) {
  ReplySpec spec{.seed = 7, .fingerprint = "model\n{body}", .last_user_text = "hi", .reply_tokens = 12};
  auto a = make_reply(spec);
  auto b = make_reply(spec);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.output_tokens, 12);
  EXPECT_EQ(a.pieces.size(), 12u);
  std::string joined;
  for (const auto& p : a.pieces) joined += p;
  EXPECT_EQ(joined, a.text);
  spec.fingerprint = "model\n{other body}";
  EXPECT_NE(make_reply(spec).text, a.text);
  spec.fingerprint = "model\n{body}";
  spec.seed = 8;
  EXPECT_NE(make_reply(spec).text, a.text);
}

TEST(SimReply, TokensTagAndMaxTokensClamp) {
  auto r = make_reply({.fingerprint = "f", .last_user_text = "x [[tokens=5]]", .reply_tokens = 20, .max_tokens = 100});
  EXPECT_EQ(r.output_tokens, 5);
  EXPECT_FALSE(r.truncated);
  r = make_reply({.fingerprint = "f", .last_user_text = "x", .reply_tokens = 20, .max_tokens = 7});
  EXPECT_EQ(r.output_tokens, 7);
  EXPECT_EQ(r.pieces.size(), 7u);
  EXPECT_TRUE(r.truncated);
}

TEST(SimReply, EchoRepliesTheRestAndClampsAtUtf8Boundary) {
  auto r = make_reply({.fingerprint = "f", .last_user_text = "echo:  hello big world"});
  EXPECT_EQ(r.text, "hello big world");
  EXPECT_EQ(r.output_tokens, 4);
  ASSERT_EQ(r.pieces.size(), 3u);
  EXPECT_EQ(r.pieces[1], " big");
  // 2 tokens = 8 bytes; "ééééé" is 10 bytes: cut to 8 bytes = 4 characters, never half a character.
  r = make_reply({.fingerprint = "f", .last_user_text = "echo:\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", .max_tokens = 2});
  EXPECT_EQ(r.text, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
  EXPECT_TRUE(r.truncated);
  r = make_reply({.fingerprint = "f", .last_user_text = "echo:abcdefg", .max_tokens = 1});
  EXPECT_EQ(r.text, "abcd");
  // Echo off: generated words.
  r = make_reply({.fingerprint = "f", .last_user_text = "echo: hi", .reply_tokens = 3, .echo = false});
  EXPECT_EQ(r.output_tokens, 3);
  EXPECT_NE(r.text, "hi");
}

TEST(SimRequests, ModelFamilies) {
  EXPECT_EQ(family_of("anthropic.claude-3-haiku-20240307-v1:0"), Family::claude);
  EXPECT_EQ(family_of("us.anthropic.claude-3-5-sonnet-20240620-v1:0"), Family::claude);
  EXPECT_EQ(family_of("global.anthropic.claude-sonnet-4-20250514-v1:0"), Family::claude);
  EXPECT_EQ(family_of("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2"), Family::claude);
  EXPECT_EQ(family_of("amazon.titan-text-express-v1"), Family::titan);
  EXPECT_EQ(family_of("amazon.titan-embed-text-v1"), Family::other);
  EXPECT_EQ(family_of("meta.llama3-8b-instruct-v1:0"), Family::other);
  EXPECT_EQ(base_model_id("us.anthropic.claude-3-haiku-20240307-v1:0"), "anthropic.claude-3-haiku-20240307-v1:0");
}

TEST(SimRequests, ConverseCountsAllTextAndTakesTheLastUserMessage) {
  auto p = parse_converse(
      R"({"system":[{"text":"abcd"}],"messages":[{"role":"user","content":[{"text":"1234"}]},)"
      R"({"role":"assistant","content":[{"text":"5678"}]},{"role":"user","content":[{"text":"echo:"},{"text":"xyz"}]}],)"
      R"("inferenceConfig":{"maxTokens":33,"temperature":0.5}})",
      4096);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->input_tokens, 5);  // 4 + 4 + 4 + 8 bytes = 20 bytes
  EXPECT_EQ(p->max_tokens, 33);
  EXPECT_EQ(p->last_user_text, "echo:xyz");
  auto d = parse_converse(R"({"messages":[{"role":"user","content":[{"text":"x"}]}]})", 4096);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->max_tokens, 4096);
}

TEST(SimRequests, ConverseIsStrict) {
  auto bad = [](std::string_view body) {
    auto p = parse_converse(body, 100);
    return p ? std::string("accepted") : p.error();
  };
  EXPECT_TRUE(bad("{oops").starts_with("Malformed input request: "));
  EXPECT_TRUE(bad("[]").starts_with("Malformed input request: "));
  EXPECT_TRUE(bad("{}").starts_with("Malformed input request: #: required key [messages] not found"));
  EXPECT_NE(bad(R"({"messages":[],"bogus":1})").find("extraneous key [bogus]"), std::string::npos);
  EXPECT_TRUE(bad(R"({"messages":[{"role":"assistant","content":[{"text":"x"}]}]})").starts_with("A conversation must start with a user message."));
  EXPECT_TRUE(bad(R"({"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"user","content":[{"text":"y"}]}]})")
                  .starts_with("A conversation must alternate between user and assistant roles."));
  EXPECT_NE(bad(R"({"messages":[{"role":"system","content":[{"text":"x"}]}]})").find("enum value set: [user, assistant]"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[]}]})").find("is empty"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[{"text":"x","image":{}}]}]})").find("exactly one member"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[{"text":1}]}]})").find("expected type: String"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":0}})").find("greater than or equal to 1"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"temperature":1.5}})").find("temperature"), std::string::npos);
  EXPECT_NE(bad(R"({"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":1.5}})").find("Integer"), std::string::npos);
}

TEST(SimRequests, ClaudeBodyRequiresVersionMaxTokensAndMessages) {
  auto ok = parse_claude(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":9,"system":"abcd",)"
                         R"("messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}]})");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->max_tokens, 9);
  EXPECT_EQ(ok->input_tokens, 3);  // 9 bytes
  EXPECT_EQ(ok->last_user_text, "hello");
  auto err = [](std::string_view body) {
    auto p = parse_claude(body);
    return p ? std::string("accepted") : p.error();
  };
  EXPECT_EQ(err(R"({"anthropic_version":"bedrock-2023-05-31","messages":[]})"),
            "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.");
  EXPECT_EQ(err(R"({"max_tokens":5,"messages":[]})"),
            "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.");
  EXPECT_EQ(err(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[],"model":"x"})"),
            "Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.");
  EXPECT_EQ(err(R"({"anthropic_version":"2023-06-01","max_tokens":5,"messages":[{"role":"user","content":"x"}]})"), "Invalid API version");
  EXPECT_NE(err(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"assistant","content":"x"}]})").find("first message"), std::string::npos);
}

TEST(SimRequests, TitanBody) {
  auto ok = parse_titan(R"({"inputText":"User: hi\nBot:","textGenerationConfig":{"maxTokenCount":77,"temperature":0.1}})");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->max_tokens, 77);
  EXPECT_EQ(ok->input_tokens, 4);
  auto def = parse_titan(R"({"inputText":"x"})");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->max_tokens, 512);
  EXPECT_FALSE(parse_titan(R"({"textGenerationConfig":{}})"));
  EXPECT_FALSE(parse_titan(R"({"inputText":"x","messages":[]})"));
  EXPECT_FALSE(parse_titan(R"({"inputText":"x","textGenerationConfig":{"maxTokenCount":-1}})"));
}

TEST(SimFaults, ParseAndPrintRoundTrip) {
  for (std::string_view name : {"throttle", "throttle-tokens", "throttle-daily", "500", "503", "timeout", "model-not-ready",
                                "model-error", "access-denied", "not-found", "service-quota", "validation", "drop",
                                "drop-mid-stream", "stream-exception:throttlingException"}) {
    auto f = parse_fault(name);
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(to_string(*f), name);
  }
  EXPECT_EQ(parse_fault("stream-exception:modelStreamErrorException")->exception_type, "modelStreamErrorException");
  EXPECT_FALSE(parse_fault("bogus"));
  EXPECT_FALSE(parse_fault("stream-exception:bad type"));
}

}  // namespace
}  // namespace ba::sim
