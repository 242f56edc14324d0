#pragma once
// Pieces shared by the Converse and InvokeModel codecs and the client: request validation, the
// streaming accumulator, and a JSON writer with plain decimal numbers.
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/types.hpp"
#include "util/result.hpp"

namespace ba::bedrock {

// Checks what Bedrock would reject with a ValidationException, before anything is sent:
// a valid model id, at least one message, the first one from the user, roles user|assistant,
// no empty message, max_tokens >= 1, temperature/top_p in [0,1], image/document formats and names;
// tools: valid unique names and object schemas, a tool_choice naming one of them, tool_use blocks in
// assistant messages and tool_result blocks in user messages with valid ids, and tool blocks only with
// tools given and a choice other than none (Bedrock needs toolConfig with them; Converse has no "none").
// Errors are ErrorKind::invalid_input with a message naming the offending field.
Status validate_request(const ChatRequest& request);
// Its tool part alone: tools, tool_choice, and tool blocks in the messages only with tools given and a
// choice other than none (ChatService checks it before anything is charged).
Status validate_request_tools(const std::vector<ToolSpec>& tools, const ToolChoice& choice,
                              const std::vector<Message>& messages);

// State of one streamed reply (ConverseStream or InvokeModelWithResponseStream), fed event by event.
struct StreamAccumulator {
  std::string text;            // all text deltas so far
  std::vector<ContentBlock> tool_uses;  // tool_use blocks so far (input: the JSON text streamed so far)
  std::vector<std::int64_t> tool_indexes;  // each tool use's contentBlockIndex (InvokeModel: index)
  std::string stop_reason;     // normalized: end_turn, max_tokens, stop_sequence, content_filtered, ...
  Usage usage;
  std::int64_t latency_ms = 0;  // as reported by Bedrock (metrics.latencyMs / invocationLatency)
  bool finished = false;        // the stream's terminal event (messageStop, message_stop, Titan completionReason)
  bool has_metadata = false;    // usage/metrics seen
  std::string guardrail_trace;  // the metadata event's trace.guardrail (compact JSON), if any
  std::vector<ContentBlock> reasoning;  // reasoning blocks so far, assembled from the reasoning pieces
  std::vector<std::int64_t> reasoning_indexes;  // each reasoning block's contentBlockIndex (InvokeModel: index)

  // Adds a reasoning piece (StreamDelta reasoning_text / _signature / _redacted) to its block; other
  // pieces are ignored. The Bedrock client calls it with every piece a codec returns.
  void add_reasoning(const StreamDelta& piece);
  ChatResponse to_response() const;
};

namespace detail {
// Serializes like boost::json::serialize, but numbers with a fractional part are written as the
// shortest round-trip decimal (0.5, not 5E-1).
std::string to_json(const boost::json::value& v);
// About the bytes a request's body takes (texts, base64 payloads, tools), to reserve before writing it.
std::size_t encoded_size_hint(const ChatRequest& request);
// A JSON array of strings (stop sequences).
boost::json::array string_array(const std::vector<std::string>& items);
// An ErrorKind::upstream error for a reply we cannot make sense of.
Error malformed(std::string_view what, std::string_view detail);
// Parses `text` as a JSON object; anything else is malformed(what, ...).
Result<boost::json::object> parse_object(std::string_view text, std::string_view what);
// The same with the DOM's memory from `sp` (a monotonic arena on the caller's stack, when nothing of the
// DOM outlives the caller).
Result<boost::json::object> parse_object(std::string_view text, std::string_view what, boost::json::storage_ptr sp);
// Lenient field readers: a missing or mistyped field reads as 0 / "" / nullptr.
std::int64_t int_field(const boost::json::object& o, std::string_view key);
std::string string_field(const boost::json::object& o, std::string_view key);
const boost::json::object* object_field(const boost::json::object& o, std::string_view key);
}  // namespace detail

}  // namespace ba::bedrock
