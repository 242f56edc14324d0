#pragma once
// Deterministic synthetic replies and the simulator's token counting rule.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ba::sim {

// The simulator's token estimate for input text: ceil(UTF-8 bytes / 4) of all the text in the request
// (system prompt + every text block of every message; images and documents count 0).
std::int64_t count_tokens(std::string_view text);

// "[[tokens=N]]" anywhere in `text` (the last user message): the reply length it asks for.
std::optional<std::int64_t> requested_tokens(std::string_view text);

struct Reply {
  std::string text;
  std::vector<std::string> pieces;  // the stream deltas; their concatenation is `text`
  std::int64_t output_tokens = 0;
  bool truncated = false;           // clamped by max_tokens (stopReason max_tokens)
};

struct ReplySpec {
  std::uint64_t seed = 0;
  std::string_view fingerprint;     // the request content: same fingerprint and seed, same reply
  std::string_view last_user_text;  // "[[tokens=N]]" and "echo:" are read from here
  std::int64_t reply_tokens = 20;   // the length when the request asks for none
  std::int64_t max_tokens = 4096;
  bool echo = true;                 // "echo:<text>" replies <text>
};

// Generated mode: min(N, max_tokens) words from a fixed list, one word = one output token.
// Echo mode: the text after "echo:" (leading spaces dropped), ceil(bytes/4) tokens, cut to
// max_tokens x 4 bytes (at a UTF-8 boundary) when longer.
Reply make_reply(const ReplySpec& spec);

// A tool call the simulator answers with (docs/simulator.md, "Tools").
struct ToolCall {
  std::string id;     // "tooluse_" + 22 characters from the request's fingerprint and the seed
  std::string name;
  std::string input;  // a JSON object
  std::vector<std::string> input_pieces;  // the stream deltas (two to four); their concatenation is `input`
  std::int64_t output_tokens = 0;         // ceil(bytes/4) of name + input
};

// An input object satisfying a simple JSON schema: the required properties (recursively), by type:
// string "sample" (or the enum's first value), integer/number their minimum or 1, boolean true, array
// [] (minItems: that many items), object {} with its own required properties, null null.
std::string tool_input_for(std::string_view schema_json);
ToolCall make_tool_call(std::uint64_t seed, std::string_view fingerprint, std::string name, std::string_view schema_json);

// ---- Extended thinking (docs/simulator.md, "Reasoning") ----

// The reasoning the simulator answers with when thinking is enabled: a text with a signature (base64 of an
// HMAC-SHA256 of the text under the simulator's secret), or, when the last user message holds
// kRedactedThinkingTrigger, redacted content (16 random-looking bytes and their 16-byte MAC).
inline constexpr std::string_view kRedactedThinkingTrigger = "[[redacted-thinking]]";
struct Reasoning {
  std::string text;                 // empty when redacted
  std::string signature;            // base64
  std::string redacted;             // raw bytes; empty unless redacted
  std::vector<std::string> pieces;  // the stream deltas of `text`
  std::int64_t output_tokens = 0;   // counted in the reply's output tokens, within the budget
};
Reasoning make_reasoning(std::uint64_t seed, std::string_view fingerprint, std::string_view last_user_text,
                         std::int64_t budget_tokens);
// Whether a reasoning block sent back is one the simulator gave (its signature or MAC verifies).
bool reasoning_signature_valid(std::string_view text, std::string_view signature);
bool redacted_reasoning_valid(std::string_view bytes);

}  // namespace ba::sim
