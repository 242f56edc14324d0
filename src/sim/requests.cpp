#include "sim/requests.hpp"

#include <boost/json.hpp>

#include <array>
#include <optional>
#include "sim/text.hpp"

#include "sim/reply.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace json = boost::json;
namespace {

using Parsed = std::expected<ParsedRequest, std::string>;

std::unexpected<std::string> malformed(std::string_view what) {
  return std::unexpected(detail::format("Malformed input request: {}, please reformat your input and try again.", what));
}

template <std::size_t N>
bool one_of(std::string_view key, const std::array<std::string_view, N>& keys) {
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

std::expected<json::object, std::string> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::unexpected(detail::format("Malformed input request: {}, please reformat your input and try again.",
                                             ec.message()));
  if (!v.is_object())
    return std::unexpected(std::string(
        "Malformed input request: #: expected type: JSONObject, found: " +
        std::string(v.is_array() ? "JSONArray" : v.is_string() ? "String" : "Other") +
        ", please reformat your input and try again."));
  return std::move(v.as_object());
}

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.as_uint64());
  return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_double()) return v.as_double();
  if (auto i = as_int(v)) return static_cast<double>(*i);
  return std::nullopt;
}

// Checks a [0,1] number at `path`; empty string when fine.
std::string check_unit(const json::object& o, std::string_view key, std::string_view path) {
  auto it = o.find(key);
  if (it == o.end()) return {};
  auto n = as_number(it->value());
  if (!n) return detail::format("{}: expected type: Number", path);
  if (*n < 0 || *n > 1) return detail::format("{}: {} is not in the range [0, 1]", path, *n);
  return {};
}

bool string_list(const json::value& v) {
  if (!v.is_array()) return false;
  for (const auto& s : v.as_array())
    if (!s.is_string()) return false;
  return true;
}

// The roles of a conversation: starts with user, alternates.
std::string check_roles(const std::vector<std::string_view>& roles, bool converse) {
  if (roles.empty()) return converse ? "A conversation must start with a user message. Try again with a conversation that starts with a user message." : "messages: at least one message is required";
  if (roles.front() != "user")
    return converse ? "A conversation must start with a user message. Try again with a conversation that starts with a "
                      "user message."
                    : "messages: first message must use the \"user\" role";
  for (std::size_t i = 1; i < roles.size(); ++i)
    if (roles[i] == roles[i - 1])
      return converse ? "A conversation must alternate between user and assistant roles. Make sure the conversation "
                        "alternates between user and assistant roles and try again."
                      : detail::format("messages: roles must alternate between \"user\" and \"assistant\", but found "
                                    "multiple \"{}\" roles in a row", roles[i]);
  return {};
}

// ---- Extended thinking ----

// What the thinking rules look at in a conversation: each assistant turn's first block and whether it
// calls tools, and the first reasoning block whose signature does not verify.
struct ThinkingCheck {
  struct Turn {
    std::size_t index = 0;
    std::string first;  // the first block's type, in Anthropic's terms (thinking, redacted_thinking, text, tool_use)
    bool tool_use = false;
  };
  std::vector<Turn> assistant_turns;
  std::string bad_signature;  // "messages.1.content.0": the first reasoning block that is not the simulator's
  std::optional<double> temperature;
  bool top_k = false;
  std::optional<std::int64_t> budget;  // thinking enabled (whatever the value)
};

void note_reasoning(ThinkingCheck& c, bool valid, std::size_t message, std::size_t block) {
  if (!valid && c.bad_signature.empty()) c.bad_signature = detail::format("messages.{}.content.{}", message, block);
}

// Anthropic's checks behind Bedrock (its messages, wrapped as Bedrock wraps a model's 400); empty when fine.
std::string check_thinking(const ThinkingCheck& c, ParsedRequest& out) {
  if (!c.budget) return {};
  constexpr std::string_view kWrap = "The model returned the following errors: ";
  constexpr std::string_view kDocs = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking";
  if (*c.budget < 1024)
    return detail::format("{}thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", kWrap);
  if (*c.budget >= out.max_tokens) return detail::format("{}`max_tokens` must be greater than `thinking.budget_tokens`.{}", kWrap, kDocs);
  if (c.temperature && *c.temperature != 1.0)
    return detail::format("{}`temperature` may only be set to 1 when thinking is enabled.{}", kWrap, kDocs);
  if (c.top_k) return detail::format("{}`top_k` must be unset when thinking is enabled.{}", kWrap, kDocs);
  if (out.tool_choice == "any" || out.tool_choice == "tool")
    return detail::format("{}Thinking may not be enabled when tool_choice forces tool use.", kWrap);
  for (auto t = c.assistant_turns.rbegin(); t != c.assistant_turns.rend(); ++t) {
    if (!t->tool_use) continue;
    if (t->first != "thinking" && t->first != "redacted_thinking")
      return detail::format("{}messages.{}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When "
                            "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
                            "the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks "
                            "from previous turns. To avoid this requirement, disable `thinking`.{}",
                            kWrap, t->index, t->first, kDocs);
    break;
  }
  if (!c.bad_signature.empty())
    return detail::format("{}{}: Invalid `signature` in `thinking` block", kWrap, c.bad_signature);
  out.thinking_budget = *c.budget;
  return {};
}

// {"type": "enabled", "budget_tokens": N} | {"type": "disabled"}; empty when fine.
std::string parse_thinking_config(const json::value& v, std::string_view at, ThinkingCheck& c) {
  const auto* o = v.if_object();
  auto type = o ? o->if_contains("type") : nullptr;
  if (!type || (*type != "enabled" && *type != "disabled")) return detail::format("{}.type: must be enabled or disabled", at);
  if (*type == "disabled") return {};
  auto budget = o->if_contains("budget_tokens");
  auto n = budget ? as_int(*budget) : std::nullopt;
  if (!n) return detail::format("{}.budget_tokens: expected type: Integer", at);
  c.budget = *n;
  return {};
}

// A Converse reasoningContent block: {reasoningText: {text, signature?}} | {redactedContent: base64}; empty
// when fine. Its validity is noted in `c`.
std::string converse_reasoning_block(const json::object& b, std::string_view role, const std::string& at, ThinkingCheck& c,
                                     std::size_t message, std::size_t block, std::string& kind) {
  if (role != "assistant") return detail::format("{}.content.reasoningContent: only assistant messages may hold reasoningContent", at);
  if (b.size() != 1) return detail::format("{}.content.reasoningContent: exactly one of reasoningText, redactedContent", at);
  const auto& kv = *b.begin();
  if (kv.key() == "reasoningText") {
    const auto* rt = kv.value().if_object();
    auto text = rt ? rt->if_contains("text") : nullptr;
    if (!text || !text->is_string()) return detail::format("{}.content.reasoningContent.reasoningText.text: required key not found", at);
    auto sig = rt->if_contains("signature");
    note_reasoning(c, sig && sig->is_string() && reasoning_signature_valid(text->as_string(), sig->as_string()), message, block);
    kind = "thinking";
    return {};
  }
  if (kv.key() == "redactedContent") {
    auto bytes = kv.value().is_string() ? base64_decode(kv.value().as_string()) : std::nullopt;
    if (!bytes) return detail::format("{}.content.reasoningContent.redactedContent: expected base64 bytes", at);
    note_reasoning(c, redacted_reasoning_valid(*bytes), message, block);
    kind = "redacted_thinking";
    return {};
  }
  return detail::format("{}.content.reasoningContent: unknown member [{}]", at, std::string_view(kv.key()));
}

constexpr std::array<std::string_view, 12> kConverseKeys = {
    "messages",  "system",         "inferenceConfig", "toolConfig",        "guardrailConfig",
    "additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
    "requestMetadata", "performanceConfig", "serviceTier", "outputConfig"};
constexpr std::array<std::string_view, 14> kBlockKeys = {
    "text",           "image",      "document",         "video",        "audio",         "toolUse",     "toolResult",
    "guardContent",   "cachePoint", "reasoningContent", "citationsContent", "searchResult", "toolAddition",
    "toolRemoval"};
constexpr std::array<std::string_view, 4> kInferenceKeys = {"maxTokens", "temperature", "topP", "stopSequences"};

// A Converse toolUse / toolResult block; empty when fine. Their text goes to `tool_text` (tokens) and a
// result's text to `results` too.
std::string converse_tool_block(std::string_view kind, const json::object& b, std::string_view role, const std::string& at,
                                std::string& tool_text, std::string& results) {
  auto id = b.if_contains("toolUseId");
  if (!id || !id->is_string() || id->as_string().empty() || id->as_string().size() > 64)
    return detail::format("{}.content.{}.toolUseId: expected a string of 1-64 characters", at, kind);
  if (kind == "toolUse") {
    if (role != "assistant") return detail::format("{}.content.toolUse: only assistant messages may hold toolUse", at);
    auto name = b.if_contains("name");
    auto input = b.if_contains("input");
    if (!name || !name->is_string() || name->as_string().empty()) return detail::format("{}.content.toolUse.name: required key not found", at);
    if (!input) return detail::format("{}.content.toolUse.input: required key not found", at);
    tool_text += name->as_string();
    tool_text += json::serialize(*input);
    return {};
  }
  if (role != "user") return detail::format("{}.content.toolResult: only user messages may hold toolResult", at);
  auto content = b.if_contains("content");
  if (!content || !content->is_array()) return detail::format("{}.content.toolResult.content: expected type: JSONArray", at);
  if (auto status = b.if_contains("status"); status && *status != "success" && *status != "error")
    return detail::format("{}.content.toolResult.status: must be success or error", at);
  for (const auto& part : content->as_array()) {
    if (!part.is_object() || part.as_object().size() != 1)
      return detail::format("{}.content.toolResult.content: each block must have exactly one member", at);
    const auto& kv = *part.as_object().begin();
    std::string piece;
    if (kv.key() == "text" && kv.value().is_string()) piece = kv.value().as_string();
    else if (kv.key() == "json") piece = json::serialize(kv.value());
    else if (kv.key() == "image" || kv.key() == "document") results += results.empty() ? "[" + std::string(kv.key()) + "]" : "; [" + std::string(kv.key()) + "]";
    else if (kv.key() != "video")
      return detail::format("{}.content.toolResult.content: unknown block [{}]", at, std::string_view(kv.key()));
    tool_text += piece;
    if (!results.empty() && !piece.empty()) results += "; ";
    results += piece;
  }
  return {};
}

// toolConfig: {"tools": [{"toolSpec": {name, description?, inputSchema: {json}}}], "toolChoice"?}.
std::string converse_tool_config(const json::value& v, ParsedRequest& out, std::string& tool_text) {
  if (!v.is_object()) return "toolConfig: expected type: JSONObject";
  const auto& tc = v.as_object();
  auto tools = tc.if_contains("tools");
  if (!tools || !tools->is_array() || tools->as_array().empty()) return "toolConfig.tools: expected a non-empty JSONArray";
  for (const auto& t : tools->as_array()) {
    auto spec = t.is_object() ? t.as_object().if_contains("toolSpec") : nullptr;
    if (!spec) continue;  // cachePoint, systemTool...
    if (!spec->is_object()) return "toolConfig.tools.toolSpec: expected type: JSONObject";
    const auto& so = spec->as_object();
    auto name = so.if_contains("name");
    auto schema = so.if_contains("inputSchema");
    auto js = schema && schema->is_object() ? schema->as_object().if_contains("json") : nullptr;
    if (!name || !name->is_string() || name->as_string().empty()) return "toolConfig.tools.toolSpec.name: required key not found";
    if (!js || !js->is_object()) return "toolConfig.tools.toolSpec.inputSchema.json: expected type: JSONObject";
    for (const auto& known : out.tools)
      if (known.name == name->as_string()) return "toolConfig.tools: tool names must be unique";
    out.tools.push_back({std::string(name->as_string()), json::serialize(*js)});
    tool_text += out.tools.back().name + out.tools.back().schema;
    if (auto d = so.if_contains("description"); d && d->is_string()) tool_text += d->as_string();
  }
  out.tool_choice = "auto";
  if (auto choice = tc.if_contains("toolChoice")) {
    if (!choice->is_object() || choice->as_object().size() != 1) return "toolConfig.toolChoice: exactly one of auto, any, tool";
    const auto& kv = *choice->as_object().begin();
    if (kv.key() != "auto" && kv.key() != "any" && kv.key() != "tool") return "toolConfig.toolChoice: exactly one of auto, any, tool";
    out.tool_choice = std::string(kv.key());
    if (kv.key() == "tool") {
      auto name = kv.value().is_object() ? kv.value().as_object().if_contains("name") : nullptr;
      if (!name || !name->is_string()) return "toolConfig.toolChoice.tool.name: required key not found";
      out.tool_choice_name = std::string(name->as_string());
      bool found = false;
      for (const auto& t : out.tools) found = found || t.name == out.tool_choice_name;
      if (!found) return "toolConfig.toolChoice.tool.name: no tool of that name in toolConfig.tools";
    }
  }
  return {};
}

// guardrailConfig: {guardrailIdentifier, guardrailVersion, trace?, streamProcessingMode? (ConverseStream)}.
std::string converse_guardrail(const json::value& v, ParsedRequest& out) {
  const auto* g = v.if_object();
  if (!g) return "Malformed input request: guardrailConfig: expected type: JSONObject, please reformat your input and try again.";
  for (const auto& kv : *g) {
    const std::string_view k = kv.key();
    if (k != "guardrailIdentifier" && k != "guardrailVersion" && k != "trace" && k != "streamProcessingMode")
      return detail::format("Malformed input request: guardrailConfig: extraneous key [{}] is not permitted, please reformat your input and try again.", k);
  }
  auto id = g->if_contains("guardrailIdentifier");
  auto version = g->if_contains("guardrailVersion");
  if (!id || !id->is_string() || id->as_string().empty() || !version || !version->is_string() || version->as_string().empty())
    return "1 validation error detected: Value null at 'guardrailConfig.guardrailIdentifier' or 'guardrailConfig.guardrailVersion' "
           "failed to satisfy constraint: Member must not be null";
  out.guardrail_id = std::string(id->as_string());
  out.guardrail_version = std::string(version->as_string());
  if (auto t = g->if_contains("trace")) {
    if (*t != "enabled" && *t != "disabled" && *t != "enabled_full")
      return "1 validation error detected: Value at 'guardrailConfig.trace' failed to satisfy constraint: Member must "
             "satisfy enum value set: [enabled, disabled, enabled_full]";
    out.guardrail_trace = std::string(t->as_string());
  }
  if (auto m = g->if_contains("streamProcessingMode"); m && *m != "sync" && *m != "async")
    return "1 validation error detected: Value at 'guardrailConfig.streamProcessingMode' failed to satisfy constraint: "
           "Member must satisfy enum value set: [sync, async]";
  return {};
}

// outputConfig: {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "<JSON text>",
// name?, description?}}}, "effort"?}. The schema is a string holding a JSON object.
std::string converse_output_config(const json::value& v, ParsedRequest& out) {
  if (!v.is_object()) return "outputConfig: expected type: JSONObject";
  for (const auto& kv : v.as_object())
    if (kv.key() != "textFormat" && kv.key() != "effort")
      return detail::format("outputConfig: extraneous key [{}] is not permitted", std::string_view(kv.key()));
  auto tf = v.as_object().if_contains("textFormat");
  if (!tf) return {};
  if (!tf->is_object()) return "outputConfig.textFormat: expected type: JSONObject";
  auto type = tf->as_object().if_contains("type");
  if (!type || *type != "json_schema") return "outputConfig.textFormat.type: must be json_schema";
  auto structure = tf->as_object().if_contains("structure");
  auto js = structure && structure->is_object() ? structure->as_object().if_contains("jsonSchema") : nullptr;
  if (!js || !js->is_object()) return "outputConfig.textFormat.structure.jsonSchema: required key not found";
  auto schema = js->as_object().if_contains("schema");
  if (!schema || !schema->is_string()) return "outputConfig.textFormat.structure.jsonSchema.schema: expected type: String";
  boost::system::error_code ec;
  json::value parsed = json::parse(schema->as_string(), ec);
  if (ec || !parsed.is_object()) return "outputConfig.textFormat.structure.jsonSchema.schema: not a JSON schema object";
  out.output_schema = std::string(schema->as_string());
  return {};
}

// Claude's tools [{name, description?, input_schema}] and tool_choice {type: auto|any|tool|none, name}.
std::string claude_tools(const json::object& body, ParsedRequest& out, std::string& tool_text) {
  auto tools = body.if_contains("tools");
  if (!tools) return {};
  if (!tools->is_array()) return "#/tools: expected type: JSONArray";
  for (const auto& t : tools->as_array()) {
    if (!t.is_object()) return "#/tools: expected type: JSONObject";
    auto name = t.as_object().if_contains("name");
    auto schema = t.as_object().if_contains("input_schema");
    if (!name || !name->is_string()) return "#/tools: required key [name] not found";
    if (!schema || !schema->is_object()) return "#/tools: required key [input_schema] not found";
    out.tools.push_back({std::string(name->as_string()), json::serialize(*schema)});
    tool_text += out.tools.back().name + out.tools.back().schema;
    if (auto d = t.as_object().if_contains("description"); d && d->is_string()) tool_text += d->as_string();
  }
  out.tool_choice = "auto";
  if (auto choice = body.if_contains("tool_choice")) {
    auto type = choice->is_object() ? choice->as_object().if_contains("type") : nullptr;
    if (!type || !type->is_string()) return "#/tool_choice: required key [type] not found";
    out.tool_choice = std::string(type->as_string());
    if (out.tool_choice != "auto" && out.tool_choice != "any" && out.tool_choice != "tool" && out.tool_choice != "none")
      return "#/tool_choice/type: not a valid enum value";
    if (out.tool_choice == "tool") {
      auto name = choice->as_object().if_contains("name");
      if (!name || !name->is_string()) return "#/tool_choice: required key [name] not found";
      out.tool_choice_name = std::string(name->as_string());
    }
  }
  return {};
}

}  // namespace

std::string base_model_id(std::string_view id) {
  if (id.starts_with("arn:")) {
    auto slash = id.rfind('/');
    if (slash != std::string_view::npos) id = id.substr(slash + 1);
  }
  for (std::string_view prefix : {"us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global."})
    if (id.starts_with(prefix)) {
      id.remove_prefix(prefix.size());
      break;
    }
  return std::string(id);
}

Family family_of(std::string_view model_id) {
  const std::string base = base_model_id(model_id);
  if (base.starts_with("anthropic.claude")) return Family::claude;
  if (base.starts_with("amazon.titan-text") || base.starts_with("amazon.titan-tg1")) return Family::titan;
  return Family::other;
}

Parsed parse_converse(std::string_view body, std::int64_t default_max_tokens) {
  auto obj = parse_object(body);
  if (!obj) return std::unexpected(obj.error());
  for (const auto& kv : *obj)
    if (!one_of(kv.key(), kConverseKeys)) return malformed(detail::format("extraneous key [{}] is not permitted", std::string_view(kv.key())));

  ParsedRequest out;
  out.max_tokens = default_max_tokens;
  std::string all_text;

  if (auto it = obj->find("system"); it != obj->end()) {
    if (!it->value().is_array()) return malformed("system: expected type: JSONArray");
    for (const auto& b : it->value().as_array()) {
      if (!b.is_object() || b.as_object().size() != 1) return malformed("system: each block must have exactly one member");
      const auto& bo = b.as_object();
      if (auto t = bo.find("text"); t != bo.end()) {
        if (!t->value().is_string() || t->value().as_string().empty()) return malformed("system: text must be a non-empty string");
        all_text += t->value().as_string();
      }
    }
  }

  auto mit = obj->find("messages");
  if (mit == obj->end()) return malformed("#: required key [messages] not found");
  if (!mit->value().is_array()) return malformed("messages: expected type: JSONArray");
  std::vector<std::string_view> roles;
  std::size_t index = 0;
  std::string tool_text, results;  // all tool input and result text; the current message's result text
  bool tool_blocks = false;
  ThinkingCheck thinking;
  for (const auto& m : mit->value().as_array()) {
    const std::size_t message_index = index;
    const std::string at = detail::format("messages.{}", index++);
    if (!m.is_object()) return malformed(detail::format("{}: expected type: JSONObject", at));
    const auto& mo = m.as_object();
    for (const auto& kv : mo)
      if (kv.key() != "role" && kv.key() != "content")
        return malformed(detail::format("{}: extraneous key [{}] is not permitted", at, std::string_view(kv.key())));
    auto role = mo.find("role");
    if (role == mo.end() || !role->value().is_string()) return malformed(detail::format("{}.role: required key not found", at));
    const std::string_view r = role->value().as_string();
    if (r != "user" && r != "assistant")
      return std::unexpected(detail::format("1 validation error detected: Value '{}' at '{}.role' failed to satisfy "
                                         "constraint: Member must satisfy enum value set: [user, assistant]", r, at));
    roles.push_back(r);
    auto content = mo.find("content");
    if (content == mo.end() || !content->value().is_array()) return malformed(detail::format("{}.content: expected type: JSONArray", at));
    if (content->value().as_array().empty())
      return std::unexpected(detail::format("The content field in the Message object at {} is empty. Add a ContentBlock "
                                         "object to the content field and try again.", at));
    std::string text;
    ThinkingCheck::Turn turn{.index = message_index};
    std::size_t block_index = 0;
    for (const auto& b : content->value().as_array()) {
      if (!b.is_object() || b.as_object().size() != 1)
        return malformed(detail::format("{}.content: each ContentBlock must have exactly one member", at));
      const auto& kv = *b.as_object().begin();
      if (!one_of(kv.key(), kBlockKeys)) return malformed(detail::format("{}.content: unknown ContentBlock [{}]", at, std::string_view(kv.key())));
      std::string kind = kv.key() == "text" ? "text" : kv.key() == "toolUse" ? "tool_use" : std::string(kv.key());
      if (kv.key() == "reasoningContent" && kv.value().is_object()) {
        auto bad = converse_reasoning_block(kv.value().as_object(), r, at, thinking, message_index, block_index, kind);
        if (!bad.empty()) return malformed(bad);
      }
      if (block_index++ == 0) turn.first = kind;
      turn.tool_use = turn.tool_use || kv.key() == "toolUse";
      if (kv.key() == "text") {
        if (!kv.value().is_string()) return malformed(detail::format("{}.content.text: expected type: String", at));
        text += kv.value().as_string();
      } else if (!kv.value().is_object()) {
        return malformed(detail::format("{}.content.{}: expected type: JSONObject", at, std::string_view(kv.key())));
      } else {
        ++out.blocks[std::string(kv.key())];
        if (kv.key() == "toolUse" || kv.key() == "toolResult") {
          auto bad = converse_tool_block(kv.key(), kv.value().as_object(), r, at, tool_text, results);
          if (!bad.empty()) return malformed(bad);
          tool_blocks = true;
        }
      }
    }
    all_text += text;
    if (r == "user") {
      out.last_user_text = std::move(text);
      out.last_user_has_tool_results = !results.empty();
      out.tool_results = std::move(results);
    }
    if (r == "assistant") thinking.assistant_turns.push_back(std::move(turn));
    results.clear();
  }
  if (auto bad = check_roles(roles, true); !bad.empty()) return std::unexpected(bad);
  if (auto it = obj->find("additionalModelRequestFields"); it != obj->end()) {
    if (!it->value().is_object()) return malformed("additionalModelRequestFields: expected type: JSONObject");
    const auto& fields = it->value().as_object();
    if (auto th = fields.if_contains("thinking")) {
      if (auto bad = parse_thinking_config(*th, "additionalModelRequestFields.thinking", thinking); !bad.empty()) return malformed(bad);
    }
    thinking.top_k = fields.contains("top_k");
  }
  if (auto it = obj->find("toolConfig"); it != obj->end()) {
    if (auto bad = converse_tool_config(it->value(), out, tool_text); !bad.empty()) return malformed(bad);
  } else if (tool_blocks) {
    return std::unexpected(std::string(
        "The toolConfig field must be defined when using toolUse and toolResult content blocks."));
  }
  all_text += tool_text;
  if (auto it = obj->find("outputConfig"); it != obj->end()) {
    if (auto bad = converse_output_config(it->value(), out); !bad.empty()) return malformed(bad);
    all_text += out.output_schema;
  }

  if (auto it = obj->find("inferenceConfig"); it != obj->end()) {
    if (!it->value().is_object()) return malformed("inferenceConfig: expected type: JSONObject");
    const auto& ic = it->value().as_object();
    for (const auto& kv : ic)
      if (!one_of(kv.key(), kInferenceKeys)) return malformed(detail::format("inferenceConfig: extraneous key [{}] is not permitted", std::string_view(kv.key())));
    if (auto mt = ic.find("maxTokens"); mt != ic.end()) {
      auto n = as_int(mt->value());
      if (!n) return malformed("inferenceConfig.maxTokens: expected type: Integer");
      if (*n < 1)
        return std::unexpected(detail::format("1 validation error detected: Value '{}' at 'inferenceConfig.maxTokens' failed "
                                           "to satisfy constraint: Member must have value greater than or equal to 1", *n));
      out.max_tokens = *n;
    }
    if (auto bad = check_unit(ic, "temperature", "inferenceConfig.temperature"); !bad.empty()) return malformed(bad);
    if (auto t = ic.find("temperature"); t != ic.end()) thinking.temperature = as_number(t->value());
    if (auto bad = check_unit(ic, "topP", "inferenceConfig.topP"); !bad.empty()) return malformed(bad);
    if (auto ss = ic.find("stopSequences"); ss != ic.end() && !string_list(ss->value()))
      return malformed("inferenceConfig.stopSequences: expected a list of strings");
  }
  if (auto bad = check_thinking(thinking, out); !bad.empty()) return std::unexpected(bad);
  out.input_tokens = count_tokens(all_text);
  out.cache_points = converse_cache_points(*obj);
  if (auto it = obj->find("guardrailConfig"); it != obj->end()) {
    if (auto bad = converse_guardrail(it->value(), out); !bad.empty()) return std::unexpected(bad);
  }
  return out;
}

Parsed parse_claude(std::string_view body) {
  constexpr std::array<std::string_view, 13> kKeys = {"anthropic_version", "anthropic_beta", "max_tokens", "system",
                                                      "messages", "temperature", "top_p", "top_k", "stop_sequences",
                                                      "tools", "tool_choice", "metadata", "thinking"};
  auto obj = parse_object(body);
  if (!obj) return std::unexpected(obj.error());
  for (const auto& kv : *obj)
    if (!one_of(kv.key(), kKeys)) return malformed(detail::format("#: extraneous key [{}] is not permitted", std::string_view(kv.key())));
  for (std::string_view required : {"anthropic_version", "max_tokens", "messages"})
    if (!obj->contains(required)) return malformed(detail::format("#: required key [{}] not found", required));

  const auto& version = obj->at("anthropic_version");
  if (!version.is_string()) return malformed("#/anthropic_version: expected type: String");
  if (version.as_string() != "bedrock-2023-05-31") return std::unexpected(std::string("Invalid API version"));

  ParsedRequest out;
  auto mt = as_int(obj->at("max_tokens"));
  if (!mt) return malformed("#/max_tokens: expected type: Integer");
  if (*mt < 1) return malformed(detail::format("#/max_tokens: {} is not greater or equal to 1", *mt));
  out.max_tokens = *mt;

  std::string all_text;
  if (auto it = obj->find("system"); it != obj->end()) {
    if (it->value().is_string()) {
      all_text += it->value().as_string();
    } else if (it->value().is_array()) {
      for (const auto& b : it->value().as_array()) {
        if (!b.is_object()) return malformed("#/system: expected type: JSONObject");
        if (auto t = b.as_object().find("text"); t != b.as_object().end() && t->value().is_string()) all_text += t->value().as_string();
      }
    } else {
      return malformed("#/system: expected type: String");
    }
  }
  const auto& messages = obj->at("messages");
  if (!messages.is_array()) return malformed("#/messages: expected type: JSONArray");
  std::vector<std::string_view> roles;
  std::size_t index = 0;
  std::string tool_text, results;
  bool has_results = false;
  ThinkingCheck thinking;
  for (const auto& m : messages.as_array()) {
    const std::size_t message_index = index;
    const std::string at = detail::format("#/messages/{}", index++);
    if (!m.is_object()) return malformed(detail::format("{}: expected type: JSONObject", at));
    const auto& mo = m.as_object();
    for (std::string_view required : {"role", "content"})
      if (!mo.contains(required)) return malformed(detail::format("{}: required key [{}] not found", at, required));
    if (!mo.at("role").is_string()) return malformed(detail::format("{}/role: expected type: String", at));
    const std::string_view r = mo.at("role").as_string();
    if (r != "user" && r != "assistant") return malformed(detail::format("{}/role: {} is not a valid enum value", at, r));
    roles.push_back(r);
    std::string text;
    ThinkingCheck::Turn turn{.index = message_index, .first = "text"};
    const auto& content = mo.at("content");
    if (content.is_string()) {
      text = content.as_string();
    } else if (content.is_array()) {
      std::size_t bi = 0;
      for (const auto& b : content.as_array()) {
        const std::size_t block_index = bi;
        const std::string bat = detail::format("{}/content/{}", at, bi++);
        if (!b.is_object()) return malformed(detail::format("{}: expected type: JSONObject", bat));
        const auto& bo = b.as_object();
        auto type = bo.find("type");
        if (type == bo.end() || !type->value().is_string()) return malformed(detail::format("{}: required key [type] not found", bat));
        const std::string_view block_type = type->value().as_string();
        if (block_index == 0) turn.first = std::string(block_type);
        turn.tool_use = turn.tool_use || block_type == "tool_use";
        if (block_type == "thinking") {
          auto t = bo.if_contains("thinking");
          auto sig = bo.if_contains("signature");
          if (!t || !t->is_string() || !sig || !sig->is_string())
            return malformed(detail::format("{}: required keys [thinking, signature] not found", bat));
          note_reasoning(thinking, reasoning_signature_valid(t->as_string(), sig->as_string()), message_index, block_index);
        } else if (block_type == "redacted_thinking") {
          auto data = bo.if_contains("data");
          auto bytes = data && data->is_string() ? base64_decode(data->as_string()) : std::nullopt;
          if (!bytes) return malformed(detail::format("{}: required key [data] not found", bat));
          note_reasoning(thinking, redacted_reasoning_valid(*bytes), message_index, block_index);
        }
        if (type->value().as_string() == "text") {
          auto t = bo.find("text");
          if (t == bo.end() || !t->value().is_string()) return malformed(detail::format("{}: required key [text] not found", bat));
          text += t->value().as_string();
        } else if (type->value().as_string() == "tool_use") {
          if (auto in = bo.if_contains("input")) tool_text += json::serialize(*in);
        } else if (type->value().as_string() == "tool_result") {
          std::string piece;
          if (auto c = bo.if_contains("content"); c && c->is_string()) {
            piece = c->as_string();
          } else if (c && c->is_array()) {
            for (const auto& part : c->as_array())
              if (auto t = part.is_object() ? part.as_object().if_contains("text") : nullptr; t && t->is_string()) piece += t->as_string();
          }
          tool_text += piece;
          if (!results.empty() && !piece.empty()) results += "; ";
          results += piece;
          has_results = true;
        }
      }
    } else {
      return malformed(detail::format("{}/content: expected type: JSONArray", at));
    }
    all_text += text;
    if (r == "user") {
      out.last_user_text = std::move(text);
      out.last_user_has_tool_results = has_results;
      out.tool_results = std::move(results);
    }
    if (r == "assistant") thinking.assistant_turns.push_back(std::move(turn));
    results.clear();
    has_results = false;
  }
  if (auto bad = check_roles(roles, false); !bad.empty()) return std::unexpected(bad);
  if (auto bad = claude_tools(*obj, out, tool_text); !bad.empty()) return malformed(bad);
  if (auto th = obj->find("thinking"); th != obj->end()) {
    if (auto bad = parse_thinking_config(th->value(), "#/thinking", thinking); !bad.empty()) return malformed(bad);
  }
  if (auto t = obj->find("temperature"); t != obj->end()) thinking.temperature = as_number(t->value());
  thinking.top_k = obj->contains("top_k");
  all_text += tool_text;
  if (auto bad = check_unit(*obj, "temperature", "#/temperature"); !bad.empty()) return malformed(bad);
  if (auto bad = check_unit(*obj, "top_p", "#/top_p"); !bad.empty()) return malformed(bad);
  if (auto ss = obj->find("stop_sequences"); ss != obj->end() && !string_list(ss->value()))
    return malformed("#/stop_sequences: expected type: JSONArray of String");
  if (auto bad = check_thinking(thinking, out); !bad.empty()) return std::unexpected(bad);
  out.input_tokens = count_tokens(all_text);
  out.cache_points = claude_cache_points(*obj);
  if (out.cache_points.size() > 4)
    return std::unexpected(detail::format("A maximum of 4 blocks with cache_control may be provided. Found {}.",
                                          out.cache_points.size()));
  return out;
}

Parsed parse_titan(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return std::unexpected(obj.error());
  for (const auto& kv : *obj)
    if (kv.key() != "inputText" && kv.key() != "textGenerationConfig")
      return malformed(detail::format("#: extraneous key [{}] is not permitted", std::string_view(kv.key())));
  auto it = obj->find("inputText");
  if (it == obj->end()) return malformed("#: required key [inputText] not found");
  if (!it->value().is_string()) return malformed("#/inputText: expected type: String");
  ParsedRequest out;
  out.last_user_text = it->value().as_string();
  out.max_tokens = 512;
  if (auto cfg = obj->find("textGenerationConfig"); cfg != obj->end()) {
    if (!cfg->value().is_object()) return malformed("#/textGenerationConfig: expected type: JSONObject");
    const auto& c = cfg->value().as_object();
    for (const auto& kv : c)
      if (kv.key() != "temperature" && kv.key() != "topP" && kv.key() != "maxTokenCount" && kv.key() != "stopSequences")
        return malformed(detail::format("#/textGenerationConfig: extraneous key [{}] is not permitted", std::string_view(kv.key())));
    if (auto m = c.find("maxTokenCount"); m != c.end()) {
      auto n = as_int(m->value());
      if (!n) return malformed("#/textGenerationConfig/maxTokenCount: expected type: Integer");
      if (*n < 0 || *n > 8192)
        return malformed(detail::format("#/textGenerationConfig/maxTokenCount: {} is not in the range [0, 8192]", *n));
      out.max_tokens = *n;
    }
    if (auto bad = check_unit(c, "temperature", "#/textGenerationConfig/temperature"); !bad.empty()) return malformed(bad);
    if (auto bad = check_unit(c, "topP", "#/textGenerationConfig/topP"); !bad.empty()) return malformed(bad);
    if (auto ss = c.find("stopSequences"); ss != c.end() && !string_list(ss->value()))
      return malformed("#/textGenerationConfig/stopSequences: expected type: JSONArray of String");
  }
  out.input_tokens = count_tokens(out.last_user_text);
  return out;
}

Parsed parse_count_tokens(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return std::unexpected(obj.error());
  for (const auto& kv : *obj)
    if (kv.key() != "input") return malformed(detail::format("extraneous key [{}] is not permitted", std::string_view(kv.key())));
  auto input = obj->find("input");
  if (input == obj->end() || !input->value().is_object()) return malformed("#: required key [input] not found");
  const auto& in = input->value().as_object();
  if (in.size() != 1) return malformed("input: exactly one of [converse, invokeModel] must be set");
  auto converse = in.find("converse");
  if (converse == in.end()) {
    if (in.contains("invokeModel")) return std::unexpected(std::string("input.invokeModel is not supported by the simulator"));
    return malformed("input: exactly one of [converse, invokeModel] must be set");
  }
  if (!converse->value().is_object()) return malformed("input.converse: expected type: JSONObject");
  for (const auto& kv : converse->value().as_object()) {
    const std::string_view k = kv.key();
    if (k != "messages" && k != "system" && k != "toolConfig" && k != "additionalModelRequestFields")
      return malformed(detail::format("input.converse: extraneous key [{}] is not permitted", k));
  }
  return parse_converse(json::serialize(converse->value()), 0);
}

}  // namespace ba::sim
