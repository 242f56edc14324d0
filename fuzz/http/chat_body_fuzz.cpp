// POST /chat's body (http::parse_chat, then the use case's check; docs/testing.md, "Fuzzing"). Checked:
// every failure is invalid_input with a message; a body that parses is a JSON object whose "input" is the
// input, and the use case's check passes or fails with a message.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "http/chat_bodies.hpp"
#include "http/chat_rig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ba::fuzz::ChatRig rig;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto in = ba::http::parse_chat(body);
  if (!in) {
    FUZZ_CHECK(in.error().kind == ba::ErrorKind::invalid_input && !in.error().message.empty());
    return 0;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  FUZZ_CHECK(!ec && v.is_object());
  const auto* input = v.as_object().if_contains("input");
  FUZZ_CHECK(input && input->is_string() && input->as_string() == in->input);
  FUZZ_CHECK(!in->messages);
  ba::fuzz::check_translated(rig.chat, *in);
  return 0;
}
