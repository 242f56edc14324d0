#include "ratelimit/cost.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace ba::ratelimit {
namespace {

struct Row {
  std::string_view key;  // substring of the model id
  double burndown;
  int default_max;
  int clamp;
};

// First match wins, so more specific keys come first. Clamps are the models' output maxima.
constexpr std::array kTable{
    Row{"claude-opus-4", 5.0, 1024, 32'000},
    Row{"claude-sonnet-4", 5.0, 1024, 64'000},
    Row{"claude-haiku-4", 5.0, 1024, 64'000},
    Row{"claude-opus-5", 5.0, 1024, 32'000},
    Row{"claude-sonnet-5", 5.0, 1024, 64'000},
    Row{"claude-haiku-5", 5.0, 1024, 64'000},
    Row{"claude-3-7-sonnet", 1.0, 1024, 64'000},
    Row{"claude-3-5-haiku", 1.0, 1024, 8'192},
    Row{"claude-3-5-sonnet", 1.0, 1024, 8'192},
    Row{"claude-3", 1.0, 1024, 4'096},
    Row{"claude", 1.0, 1024, 4'096},
    Row{"titan-text-premier", 1.0, 512, 3'072},
    Row{"titan-text-express", 1.0, 512, 8'192},
    Row{"titan-text-lite", 1.0, 512, 4'096},
    Row{"titan", 1.0, 512, 3'072},
};

bool binary_document(std::string_view format) {
  return format == "pdf" || format == "doc" || format == "docx" || format == "xls" || format == "xlsx";
}

}  // namespace

ModelProfile model_profile(std::string_view model_id, const RateLimitConfig& config) {
  ModelProfile p{.family = "default"};
  for (const auto& row : kTable) {
    if (model_id.find(row.key) != std::string_view::npos) {
      p = ModelProfile{std::string(row.key), row.burndown, row.default_max, row.clamp};
      break;
    }
  }
  if (config.default_max_tokens) p.default_max_tokens = *config.default_max_tokens;
  const ModelOverride* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [key, ov] : config.model_overrides) {
    if (model_id.find(key) != std::string_view::npos && (best == nullptr || key.size() > best_len)) {
      best = &ov;
      best_len = key.size();
    }
  }
  if (best) {
    if (best->burndown) p.burndown = *best->burndown;
    if (best->default_max_tokens) p.default_max_tokens = *best->default_max_tokens;
    if (best->max_tokens_clamp) p.max_tokens_clamp = *best->max_tokens_clamp;
  }
  p.default_max_tokens = std::min(p.default_max_tokens, p.max_tokens_clamp);
  return p;
}

int effective_max_tokens(int requested, const ModelProfile& profile) {
  if (requested <= 0) return profile.default_max_tokens;
  return std::min(requested, profile.max_tokens_clamp);
}

std::int64_t estimate_text_tokens(std::string_view text, double chars_per_token) {
  if (text.empty()) return 0;
  if (!(chars_per_token > 0)) chars_per_token = 3.0;
  return static_cast<std::int64_t>(std::ceil(static_cast<double>(text.size()) / chars_per_token));
}

std::int64_t estimate_input_tokens(const bedrock::ChatRequest& request, double chars_per_token) {
  std::int64_t total = estimate_text_tokens(request.system, chars_per_token);
  // Tool definitions reach the model as text (the provider adds a tool-use system prompt on top).
  for (const auto& t : request.tools) {
    total += 8 + estimate_text_tokens(t.name, chars_per_token) + estimate_text_tokens(t.description, chars_per_token) +
             estimate_text_tokens(t.input_schema, chars_per_token);
  }
  if (request.output_format) total += 8 + estimate_text_tokens(request.output_format->schema, chars_per_token);
  for (const auto& m : request.messages) {
    total += 4;
    for (const auto& b : m.content) {
      switch (b.type) {
        case bedrock::ContentBlock::Type::text: total += estimate_text_tokens(b.text, chars_per_token); break;
        case bedrock::ContentBlock::Type::image: total += 1600; break;
        case bedrock::ContentBlock::Type::document:
          total += binary_document(b.format) ? static_cast<std::int64_t>((b.bytes.size() + 7) / 8)
                                             : estimate_text_tokens(b.bytes, chars_per_token);
          total += estimate_text_tokens(b.name, chars_per_token);
          break;
        case bedrock::ContentBlock::Type::tool_use:
          total += 4 + estimate_text_tokens(b.tool_use_id, chars_per_token) + estimate_text_tokens(b.name, chars_per_token) +
                   estimate_text_tokens(b.input, chars_per_token);
          break;
        case bedrock::ContentBlock::Type::tool_result:
          total += 4 + estimate_text_tokens(b.tool_use_id, chars_per_token);
          for (const auto& part : b.content) {
            total += estimate_text_tokens(part.text, chars_per_token);
            if (part.type == bedrock::ContentBlock::Type::image) total += 1600;
            if (part.type == bedrock::ContentBlock::Type::document) {
              total += binary_document(part.format) ? static_cast<std::int64_t>((part.bytes.size() + 7) / 8)
                                                    : estimate_text_tokens(part.bytes, chars_per_token);
            }
          }
          break;
        case bedrock::ContentBlock::Type::reasoning:  // earlier reasoning sent back (a tool turn): read as input
          total += estimate_text_tokens(b.text, chars_per_token) + static_cast<std::int64_t>((b.bytes.size() + 3) / 4);
          break;
      }
    }
  }
  return total;
}

std::int64_t estimate_cost(std::int64_t input_tokens_estimate, int max_tokens, double burndown) {
  return input_tokens_estimate +
         static_cast<std::int64_t>(std::ceil(static_cast<double>(std::max(max_tokens, 0)) * burndown));
}

std::int64_t charged_tokens(const bedrock::Usage& usage, double burndown) {
  return usage.input_tokens + usage.cache_write_input_tokens +
         static_cast<std::int64_t>(std::ceil(static_cast<double>(usage.output_tokens) * burndown));
}

}  // namespace ba::ratelimit
