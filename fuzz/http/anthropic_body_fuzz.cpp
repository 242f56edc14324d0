// POST /v1/messages' body (http::parse_anthropic_body, then the use case's check; docs/testing.md,
// "Fuzzing"). Checked: a failure is a 400 (404 for an unknown model) with Anthropic's error JSON
// {"type": "error", "error": {"type", "message"}}; a success names a model this agent calls, asks for
// max_tokens >= 1, holds the conversation with user and assistant alternating, and the use case's check
// passes or fails with a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "http/chat_bodies.hpp"
#include "http/chat_rig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ba::fuzz::ChatRig rig;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto in = ba::http::parse_anthropic_body(body, rig.chat);
  if (!in) {
    FUZZ_CHECK(in.error().status == 400 || in.error().status == 404);
    auto o = ba::fuzz::error_json(in.error());
    FUZZ_CHECK(o.at("type") == "error");
    const auto& err = o.at("error").as_object();
    FUZZ_CHECK(err.at("type").is_string() && err.at("message").is_string() && !err.at("message").as_string().empty());
    return 0;
  }
  FUZZ_CHECK(!in->model_id.empty() && in->messages.has_value());
  FUZZ_CHECK(in->max_tokens && *in->max_tokens >= 1);
  ba::fuzz::check_translated(rig.chat, *in);
  return 0;
}
