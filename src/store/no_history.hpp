#pragma once
// The "no history" store (`--history none`): a stateless chat proxy. Nothing is written and nothing is
// read. A chat without a conversation_id, or with include_history false, works as usual (the reply still
// carries a conversation_id, as a request id for the caller); anything that needs stored turns (a
// conversation_id with include_history, GET or DELETE /conversations/{id}) is refused with
// invalid_input saying that history is off, rather than silently answering without the context.
#include <memory>

#include "store/history.hpp"

namespace ba::store {

std::unique_ptr<HistoryStore> make_no_history();

// The message of the invalid_input the store answers when asked for stored turns.
inline constexpr std::string_view kHistoryOffMessage =
    "conversation history is off on this server (--history none): send \"include_history\": false, or run it "
    "with a history store (sqlite:PATH or dynamodb:TABLE)";

}  // namespace ba::store
