#pragma once
// A ChatService for the body fuzzers (fuzz/http/*_body_fuzz.cpp): a scripted model (never called: the
// fuzzers stop before the model), no history, two aliases so that model names resolve both ways.
#include <boost/json.hpp>
#include <memory>
#include <string>

#include "agent/chat_service.hpp"
#include "fuzz_check.hpp"
#include "store/no_history.hpp"
#include "support/fake_model.hpp"

namespace ba::fuzz {

struct ChatRig {
  ChatRig() : history(store::make_no_history()), chat(model, *history, config()) {}
  static agent::ChatConfig config() {
    agent::ChatConfig c;
    c.model_aliases = {{"gpt-4o", "anthropic.claude-3-haiku-20240307-v1:0"}, {"claude", c.model_id}};
    return c;
  }
  test::FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  agent::ChatService chat;
};

// Checks what a stateless conversation must be once translated: a model this agent calls, user and
// assistant alternating (consecutive messages of one role merged); then the use case's own check
// (no I/O) either passes or says invalid_input.
inline void check_translated(const agent::ChatService& chat, const agent::ChatInput& in) {
  if (!in.model_id.empty()) {
    bool known = false;
    for (const auto& m : chat.models()) known = known || m == in.model_id;
    FUZZ_CHECK(known);
  }
  if (in.messages) {
    for (std::size_t i = 0; i < in.messages->size(); ++i) {
      const auto& m = (*in.messages)[i];
      FUZZ_CHECK(m.role == "user" || m.role == "assistant");
      if (i > 0) FUZZ_CHECK(m.role != (*in.messages)[i - 1].role);
    }
  }
  auto checked = chat.check(in);
  if (!checked) FUZZ_CHECK(!checked.error().message.empty());
}

// An error response's body: JSON, an object.
inline boost::json::object error_json(const net::ServerResponse& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  FUZZ_CHECK(!ec && v.is_object());
  return v.as_object();
}

}  // namespace ba::fuzz
