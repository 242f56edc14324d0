#pragma once
// The model-facing request and reply, independent of the wire API (Converse or InvokeModel).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ba::bedrock {

struct ContentBlock {
  enum class Type { text, image, document };
  Type type = Type::text;
  std::string text;    // text
  std::string format;  // image: png|jpeg|gif|webp; document: pdf|csv|doc|docx|xls|xlsx|html|txt|md
  std::string name;    // document name
  std::string bytes;   // raw bytes (base64-encoded on the wire)

  static ContentBlock make_text(std::string t) { return ContentBlock{.type = Type::text, .text = std::move(t)}; }
};

struct Message {
  std::string role;  // "user" | "assistant"
  std::vector<ContentBlock> content;
};

struct ChatRequest {
  std::string model_id;  // base model id, inference profile id or ARN
  std::vector<Message> messages;
  std::string system;    // empty: none
  int max_tokens = 1024;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;  // Anthropic Claude only (Converse: additionalModelRequestFields.top_k)
  std::vector<std::string> stop_sequences;
};

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_read_input_tokens = 0;
  std::int64_t cache_write_input_tokens = 0;
};

struct ChatResponse {
  std::string text;
  std::string stop_reason;  // end_turn, max_tokens, stop_sequence, ...
  Usage usage;
  std::string request_id;   // x-amzn-RequestId
  std::int64_t latency_ms = 0;
};

enum class Api { converse, invoke };

// Which native body InvokeModel uses for a model id (after any region prefix or ARN).
enum class ModelFamily { anthropic_claude, amazon_titan_text, other };
ModelFamily model_family(std::string_view model_id);

}  // namespace ba::bedrock
