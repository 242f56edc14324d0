#pragma once
// The cost model: what Bedrock's quota charges for a request (bedrock-protocol.md §6).
//   reserve  = input tokens (estimate) + max_tokens × burndown
//   settle   = input_tokens + cache_write_input_tokens + output_tokens × burndown
// Burndown is 5 for Claude Opus 4, Sonnet 4 and later (any claude-*-4*, claude-*-5*), 1 otherwise.
#include <cstdint>
#include <string>
#include <string_view>

#include "bedrock/types.hpp"
#include "ratelimit/config.hpp"

namespace ba::ratelimit {

struct ModelProfile {
  std::string family;           // table key, e.g. "claude-sonnet-4"; "default" when unknown
  double burndown = 1.0;
  int default_max_tokens = 1024;
  int max_tokens_clamp = 4096;
};

// Looks the model id up (region prefix such as "us." and ARNs are fine: matching is by substring),
// then applies config.model_overrides (longest matching key wins) and config.default_max_tokens.
ModelProfile model_profile(std::string_view model_id, const RateLimitConfig& config = {});

// requested <= 0 means "not set" -> the profile default; anything above the clamp is clamped.
int effective_max_tokens(int requested, const ModelProfile& profile);

// Conservative text estimate: ceil(bytes / chars_per_token). English averages ~3.5–4 characters per
// Claude token and non-ASCII text more bytes per token, so bytes/3 over-estimates; settlement refunds.
std::int64_t estimate_text_tokens(std::string_view text, double chars_per_token = 3.0);

// Prompt + history + attachments: text by bytes; images a flat 1,600 (Claude's ~1.15 MP maximum);
// documents ceil(bytes / chars_per_token) for text formats, bytes/8 for binary ones (pdf, doc*, xls*);
// tool definitions (name, description, schema) and tool_use/tool_result blocks (id, name, input, result
// text) as text; plus 4 tokens of framing per message (and per tool block).
std::int64_t estimate_input_tokens(const bedrock::ChatRequest& request, double chars_per_token = 3.0);

// input + max_tokens × burndown, rounded up.
std::int64_t estimate_cost(std::int64_t input_tokens_estimate, int max_tokens, double burndown);

// What Bedrock charged for a finished call.
std::int64_t charged_tokens(const bedrock::Usage& usage, double burndown);

}  // namespace ba::ratelimit
