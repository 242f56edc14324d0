#pragma once
// Strict parsing of the request bodies the simulator accepts, with Bedrock's ValidationException
// messages ("Malformed input request: ..."). Only what the simulator needs is extracted.
#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sim/prompt_cache.hpp"

namespace ba::sim {

enum class Family { claude, titan, other };

// The InvokeModel body family of a model id, base id, inference profile id (us., eu., apac., global., ...)
// or ARN: anthropic.claude* -> claude, amazon.titan-text* -> titan.
Family family_of(std::string_view model_id);
// The base model id (ARN resource and region prefix removed), e.g. "anthropic.claude-3-haiku-20240307-v1:0".
std::string base_model_id(std::string_view model_id);

struct ParsedRequest {
  std::int64_t input_tokens = 0;  // ceil(bytes/4) of all text (sim/reply.hpp)
  std::int64_t max_tokens = 0;    // the request's cap (or the default)
  std::string last_user_text;     // the text blocks of the last user message, concatenated
  std::map<std::string, std::uint64_t> blocks;  // Converse content blocks other than text, by kind ("document")
  // Tools offered (Converse toolConfig.tools, Claude tools), in order, with their JSON schemas as text.
  struct Tool {
    std::string name;
    std::string schema;
  };
  std::vector<Tool> tools;
  std::string tool_choice;       // "auto" (also when absent), "any", "tool", "none" (Claude only)
  std::string tool_choice_name;  // "tool": the tool's name
  bool last_user_has_tool_results = false;
  std::string tool_results;      // the last user message's tool results' text, joined with "; "
  std::vector<CachePoint> cache_points;  // Converse cachePoint blocks or Claude cache_control marks, in prefix order (sim/prompt_cache.hpp)
  // Converse guardrailConfig (InvokeModel: the X-Amzn-Bedrock-Guardrail* headers, read by the simulator).
  std::string guardrail_id;     // empty: no guardrail
  std::string guardrail_version;
  std::string guardrail_trace;  // "", enabled, disabled, enabled_full
  // Converse outputConfig.textFormat (json_schema): the schema the reply's text must satisfy, as JSON text.
  std::string output_schema;
  // Extended thinking (Converse additionalModelRequestFields.thinking, Claude's `thinking`): the budget when
  // enabled, 0 otherwise. With it, the last assistant turn that calls tools must start with its reasoning,
  // and every reasoning block sent back must carry the simulator's signature (sim/reply.hpp).
  std::int64_t thinking_budget = 0;
};

// On failure: the ValidationException message.
std::expected<ParsedRequest, std::string> parse_converse(std::string_view body, std::int64_t default_max_tokens);
std::expected<ParsedRequest, std::string> parse_claude(std::string_view body);
std::expected<ParsedRequest, std::string> parse_titan(std::string_view body);
// CountTokens: {"input": {"converse": {messages, system, toolConfig, additionalModelRequestFields}}}; the
// conversation is checked as Converse checks it and input_tokens counted the same way (so a count equals
// the usage a Converse call with the same conversation reports). `input.invokeModel` is not simulated.
std::expected<ParsedRequest, std::string> parse_count_tokens(std::string_view body);

}  // namespace ba::sim
