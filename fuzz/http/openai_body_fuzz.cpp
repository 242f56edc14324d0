// POST /v1/chat/completions' body (http::parse_openai_body, then the use case's check; docs/testing.md,
// "Fuzzing"). Checked: a failure is a 400 (404 for an unknown model) with OpenAI's error JSON
// {"error": {"message", "type", "param", "code"}}; a success names a model this agent calls, holds the
// conversation with user and assistant alternating, and the use case's check passes or fails with a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "http/chat_bodies.hpp"
#include "http/chat_rig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ba::fuzz::ChatRig rig;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto in = ba::http::parse_openai_body(body, rig.chat);
  if (!in) {
    FUZZ_CHECK(in.error().status == 400 || in.error().status == 404);
    auto o = ba::fuzz::error_json(in.error());
    const auto& err = o.at("error").as_object();
    FUZZ_CHECK(err.at("message").is_string() && !err.at("message").as_string().empty());
    FUZZ_CHECK(err.at("type").is_string());
    FUZZ_CHECK(err.contains("param") && err.contains("code"));
    return 0;
  }
  FUZZ_CHECK(!in->model_id.empty() && in->messages.has_value());
  ba::fuzz::check_translated(rig.chat, *in);
  return 0;
}
