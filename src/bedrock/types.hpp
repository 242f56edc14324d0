#pragma once
// The model-facing request and reply, independent of the wire API (Converse or InvokeModel).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ba::bedrock {

struct ContentBlock {
  enum class Type { text, image, document, tool_use, tool_result, reasoning };
  Type type = Type::text;
  std::string text;    // text; reasoning: the reasoning text (empty when redacted)
  std::string format;  // image: png|jpeg|gif|webp; document: pdf|csv|doc|docx|xls|xlsx|html|txt|md
  std::string name;    // document name; tool_use: the tool's name
  std::string bytes;   // raw bytes (base64-encoded on the wire); reasoning: the redacted (encrypted) content
  // reasoning: the signature the model gave its reasoning text. A reasoning block (assistant messages and
  // replies) is sent back exactly as the model returned it: its text with its signature (Converse
  // reasoningContent.reasoningText, Claude's "thinking" block), or, redacted, its encrypted bytes (Converse
  // reasoningContent.redactedContent, Claude's "redacted_thinking" block, whose `data` is their base64).
  std::string signature;
  // tool_use (assistant) and tool_result (user): the call's id, as the model gave it.
  std::string tool_use_id;
  // tool_use: the tool's input, a JSON object as compact JSON text (written to the wire as it is).
  std::string input;
  // tool_result: what the tool returned, as text, image and document blocks (Converse: toolResult.content[]
  // text / image / document; a text block with format "json" holds a JSON document, toolResult json), and
  // whether it failed (status "error").
  std::vector<ContentBlock> content;
  bool is_error = false;
  // Prompt caching: a cache point follows this block (Converse: a {"cachePoint": {"type": "default"}}
  // block after it in the message). Sent only to models that cache (prompt_cache_support).
  bool cache_point = false;

  static ContentBlock make_text(std::string t) { return ContentBlock{.type = Type::text, .text = std::move(t)}; }
  // A tool result's JSON document (compact JSON text).
  static ContentBlock make_json(std::string json) { return ContentBlock{.type = Type::text, .text = std::move(json), .format = "json"}; }
  bool is_json() const { return type == Type::text && format == "json"; }
  static ContentBlock make_reasoning(std::string text, std::string signature) {
    ContentBlock b{.type = Type::reasoning, .text = std::move(text)};
    b.signature = std::move(signature);
    return b;
  }
  static ContentBlock make_redacted_reasoning(std::string bytes) {
    return ContentBlock{.type = Type::reasoning, .bytes = std::move(bytes)};
  }
  bool is_redacted_reasoning() const { return type == Type::reasoning && !bytes.empty(); }
  static ContentBlock make_tool_use(std::string id, std::string name, std::string input_json) {
    ContentBlock b{.type = Type::tool_use, .name = std::move(name)};
    b.tool_use_id = std::move(id);
    b.input = std::move(input_json);
    return b;
  }
};

// A tool the model may call (Converse toolConfig.tools[].toolSpec).
struct ToolSpec {
  std::string name;          // 1-64 of [a-zA-Z0-9_-]
  std::string description;   // empty: none
  std::string input_schema;  // a JSON Schema object as compact JSON text
  bool cache_point = false;  // prompt caching: a cache point follows this tool (toolConfig.tools)
};

// Converse toolChoice; `none` has no Converse form: the tools are not sent (see converse::encode_request).
struct ToolChoice {
  enum class Mode { auto_, any, tool, none };
  Mode mode = Mode::auto_;
  std::string name;  // Mode::tool
};

// A Bedrock guardrail applied to a call (--guardrail ID:VERSION): Converse's guardrailConfig, InvokeModel's
// X-Amzn-Bedrock-GuardrailIdentifier / -GuardrailVersion / -Trace headers. When it intervenes, the reply
// is the guardrail's blocked message with stop reason guardrail_intervened.
struct GuardrailConfig {
  std::string identifier;  // the guardrail's id or ARN
  std::string version;     // "DRAFT" or a version number
  std::string trace;       // "" (not sent), "enabled", "disabled" or "enabled_full" (Converse's spelling)
};

// Structured output (Converse outputConfig.textFormat of type json_schema): the reply's text is a JSON
// document satisfying `schema`. Only some models take it (supports_structured_output).
struct OutputFormat {
  std::string schema;       // a JSON Schema object as compact JSON text (sent as a string, as Converse wants)
  std::string name;         // empty: none
  std::string description;  // empty: none
};

// Extended thinking (Claude): the model reasons before it answers, within `budget_tokens` of max_tokens
// (Converse additionalModelRequestFields.thinking, Claude's native `thinking`; budget_tokens >= 1024 and
// below max_tokens). The reply's reasoning blocks come first (ChatResponse::reasoning).
struct ReasoningConfig {
  int budget_tokens = 0;
};
inline constexpr int kMinReasoningBudget = 1024;

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
  std::vector<ToolSpec> tools;  // empty: no tools offered
  ToolChoice tool_choice;
  bool system_cache_point = false;  // prompt caching: a cache point after the system prompt
  std::optional<GuardrailConfig> guardrail;  // none: no guardrail
  std::optional<OutputFormat> output_format;  // unset: free text
  std::optional<ReasoningConfig> reasoning;   // unset: no extended thinking
};

// Where a model takes prompt-cache points (Bedrock's prompt caching: Claude 3.5 Haiku, Claude 3.7 Sonnet
// and Claude 4 and later in system, messages and tools; Amazon Nova in system and messages). Decided
// from the base model id (region prefixes and foundation-model / inference-profile ARNs are fine); an id
// that hides its base model (application inference profile, provisioned or custom model) caches nothing.
struct PromptCacheSupport {
  bool system = false;
  bool messages = false;
  bool tools = false;
  bool any() const { return system || messages || tools; }
};
PromptCacheSupport prompt_cache_support(std::string_view model_id);

// The request's cache points (system, message blocks, tools).
std::size_t count_cache_points(const ChatRequest& request);
// Clears the cache points the model does not take (prompt_cache_support): the answer is the same
// without them, only its cost and latency differ.
void drop_unsupported_cache_points(ChatRequest& request);

// Whether any message holds a tool_use or tool_result block.
bool has_tool_blocks(const std::vector<Message>& messages);

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_read_input_tokens = 0;
  std::int64_t cache_write_input_tokens = 0;
};

struct ChatResponse {
  // The reply's reasoning blocks (Type::reasoning), in order: they come before its text and tool uses.
  std::vector<ContentBlock> reasoning;
  std::string text;
  std::vector<ContentBlock> tool_uses;  // the reply's tool_use blocks, in order (after its text)
  std::string stop_reason;  // end_turn, max_tokens, stop_sequence, ...
  Usage usage;
  std::string request_id;   // x-amzn-RequestId
  std::int64_t latency_ms = 0;
  // Converse's trace.guardrail (GuardrailTraceAssessment) as compact JSON, when a guardrail ran with its
  // trace asked for (--guardrail-trace) and Bedrock returned one; empty otherwise.
  std::string guardrail_trace;
};

// One piece of a streamed reply, as the model sends it (ConverseStream events, InvokeModelWithResponseStream
// chunks): what ModelClient::chat_stream hands its DeltaHandler. A tool call arrives as its start, then
// its input as JSON text in fragments (their concatenation is the input; none for a tool without input).
struct StreamDelta {
  enum class Kind {
    text,                 // `text`: a fragment of the reply's text
    tool_use_start,       // a tool call begins: `tool_use_id`, `name`
    tool_use_input,       // `text`: a fragment of the tool call's input JSON (`tool_use_id`, `name` set too)
    reasoning_text,       // `text`: a fragment of the model's reasoning (thinking)
    reasoning_signature,  // `text`: the reasoning block's signature
    reasoning_redacted,   // `text`: redacted (encrypted) reasoning, base64 as on the wire
  };
  Kind kind = Kind::text;
  std::int64_t block_index = 0;  // the reply's content block, as the model numbers it (contentBlockIndex, index)
  std::string text;
  std::string tool_use_id;
  std::string name;

  static StreamDelta make_text(std::string t, std::int64_t index = 0) {
    return StreamDelta{.kind = Kind::text, .block_index = index, .text = std::move(t)};
  }
};

enum class Api { converse, invoke };

// Which native body InvokeModel uses for a model id (after any region prefix or ARN).
enum class ModelFamily { anthropic_claude, amazon_titan_text, other };
ModelFamily model_family(std::string_view model_id);

// Whether Bedrock's structured output (outputConfig.textFormat) is known to work with a model: Anthropic
// Claude 4.5 and later (claude-haiku-4-5, claude-sonnet-4-5, claude-opus-4-5, claude-opus-4-6, ...) and
// the open-weight families AWS lists for it (qwen, deepseek, mistral, google gemma, nvidia nemotron,
// minimax, moonshot). Ids that hide their base model (application inference profile ARNs, provisioned
// or custom models) count as supported: Bedrock itself then decides. docs/api.md, "response_format".
bool supports_structured_output(std::string_view model_id);

}  // namespace ba::bedrock
