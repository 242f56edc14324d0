// POST /v1/messages: Anthropic's Messages wire format <-> the chat use case in its stateless mode (the
// caller sends the conversation), through the chat driver (chat_flow.cpp: deadline, Idempotency-Key,
// admission, streaming). Only a translator: no chat logic here.
//
// Unsupported fields: a field that would change the answer and that we cannot honour yet is a 400
// naming it (server tools, container, ...); metadata and
// service_tier are accepted and ignored; anything the Messages API does not define is a 400 ("Extra
// inputs are not permitted", as Anthropic answers it). See docs/api.md.
#include <boost/json.hpp>

#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "agent/attachments.hpp"
#include "bedrock/codec_common.hpp"
#include "http/api_internal.hpp"
#include "http/chat_bodies.hpp"
#include "http/sse.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;

constexpr std::string_view kRoute = "/v1/messages";

// Anthropic's error `type` for a status.
std::string_view anthropic_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string anthropic_json(int status, std::string_view message) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().member("type", "error");
  w.key("error").begin_object().member("type", anthropic_type(status)).member("message", message).end_object();
  w.end_object();
  return body;
}

struct WireError {
  int status = 400;
  std::string message;
};

WireError bad(std::string message) { return WireError{400, std::move(message)}; }

// A field this agent does not offer yet.
WireError unsupported(const std::string& at) {
  return bad(at + ": not supported by this agent yet; remove it (see docs/api.md)");
}

// ---- Prompt caching ----

// A block's or tool's `cache_control`: {"type": "ephemeral", "ttl"?: "5m"}. true: a cache point follows
// it (Converse cachePoint; dropped for models that do not cache, see docs/api.md); null: none.
std::expected<bool, WireError> cache_control(const json::value& v, const std::string& at) {
  if (v.is_null()) return false;
  const auto* o = v.if_object();
  if (!o) return std::unexpected(bad(at + ": Input should be an object"));
  for (const auto& [key, val] : *o) {
    if (key == "type") {
      if (val != "ephemeral") return std::unexpected(bad(at + ".type: Input should be 'ephemeral'"));
    } else if (key == "ttl") {
      if (val != "5m" && !val.is_null()) {
        return std::unexpected(bad(at + ".ttl: only '5m' is supported by this agent (Bedrock's default cache point)"));
      }
    } else {
      return std::unexpected(bad(at + "." + std::string(key) + ": Extra inputs are not permitted"));
    }
  }
  if (!o->if_contains("type")) return std::unexpected(bad(at + ".type: Field required"));
  return true;
}

// Bedrock takes at most 4 cache points a request, as Anthropic's API takes 4 cache_control blocks.
std::expected<void, WireError> check_cache_points(const agent::ChatInput& in) {
  std::size_t n = in.system_cache_point ? 1 : 0;
  if (in.messages)
    for (const auto& m : *in.messages)
      for (const auto& b : m.content) n += b.cache_point ? 1 : 0;
  for (const auto& t : in.tools) n += t.cache_point ? 1 : 0;
  if (n > 4) {
    return std::unexpected(bad("A maximum of 4 blocks with cache_control may be provided. Found " + std::to_string(n) + "."));
  }
  return {};
}

std::expected<bedrock::ContentBlock, WireError> image_block(const json::object& b, const std::string& at) {
  auto source = b.if_contains("source");
  if (!source || !source->is_object()) return std::unexpected(bad(at + ".source: Field required"));
  const auto& s = source->as_object();
  auto type = s.if_contains("type");
  if (type && *type == "url") {
    return std::unexpected(bad(at + ".source: this server does not fetch URLs; send the image as base64 "
                                    "({\"type\": \"base64\", \"media_type\": \"image/png\", \"data\": ...})"));
  }
  if (!type || *type != "base64") return std::unexpected(bad(at + ".source.type: only base64 images are supported"));
  auto media = s.if_contains("media_type");
  auto data = s.if_contains("data");
  if (!media || !media->is_string() || !data || !data->is_string()) {
    return std::unexpected(bad(at + ".source: media_type and data are required strings"));
  }
  auto kind = agent::attachment_kind(media->as_string(), "");
  if (!kind || kind->type != bedrock::ContentBlock::Type::image) {
    return std::unexpected(bad(at + ".source.media_type: image/png, image/jpeg, image/gif or image/webp"));
  }
  auto bytes = base64_decode(data->as_string());
  if (!bytes) return std::unexpected(bad(at + ".source.data: not valid base64"));
  return bedrock::ContentBlock{.type = bedrock::ContentBlock::Type::image, .format = kind->format, .bytes = std::move(*bytes)};
}

// A document block: a base64 source (application/pdf and the other document types Converse reads) or a
// text source (plain text), named from its title; URL and file sources are refused (no fetching, no
// Anthropic Files API). name_documents() makes the names Converse-safe and unique afterwards.
std::expected<bedrock::ContentBlock, WireError> document_block(const json::object& b, const std::string& at) {
  for (const auto& [key, val] : b) {
    if (key == "context" && !val.is_null()) return std::unexpected(unsupported(at + ".context"));
    const bool known = key == "type" || key == "source" || key == "title" || key == "context" || key == "citations" ||
                       key == "cache_control";
    if (!known) return std::unexpected(bad(at + "." + std::string(key) + ": Extra inputs are not permitted"));
  }
  std::string title;
  if (auto t = b.if_contains("title"); t && !t->is_null()) {
    if (!t->is_string()) return std::unexpected(bad(at + ".title: Input should be a valid string"));
    title = std::string(t->as_string());
  }
  auto source = b.if_contains("source");
  if (!source || !source->is_object()) return std::unexpected(bad(at + ".source: Field required"));
  const auto& s = source->as_object();
  auto type = s.if_contains("type");
  const std::string_view t = type && type->is_string() ? std::string_view(type->as_string()) : std::string_view();
  if (t == "url") {
    return std::unexpected(bad(at + ".source: this server does not fetch URLs; send the document as base64 "
                                    "({\"type\": \"base64\", \"media_type\": \"application/pdf\", \"data\": ...}) "
                                    "or as text ({\"type\": \"text\", \"media_type\": \"text/plain\", \"data\": ...})"));
  }
  if (t != "base64" && t != "text") {
    return std::unexpected(bad(at + ".source.type: only base64 and text document sources are supported"));
  }
  auto media = s.if_contains("media_type");
  auto data = s.if_contains("data");
  if (!media || !media->is_string() || !data || !data->is_string()) {
    return std::unexpected(bad(at + ".source: media_type and data are required strings"));
  }
  std::string bytes;
  if (t == "text") {
    if (media->as_string() != "text/plain") return std::unexpected(bad(at + ".source.media_type: Input should be 'text/plain'"));
    bytes = std::string(data->as_string());
  } else {
    auto decoded = base64_decode(data->as_string());
    if (!decoded) return std::unexpected(bad(at + ".source.data: not valid base64"));
    bytes = std::move(*decoded);
  }
  auto block = agent::inline_document(media->as_string(), "", std::move(bytes), std::move(title));
  if (!block) {
    return std::unexpected(bad(at + ".source.media_type: '" + std::string(media->as_string()) +
                               "' is not a document type the model reads (application/pdf, text/plain, text/csv, "
                               "text/html, text/markdown, doc, docx, xls, xlsx)"));
  }
  return std::move(*block);
}

// ---- Tools ----

// {"type": "tool_use", "id", "name", "input": {...}} -> a toolUse block.
std::expected<bedrock::ContentBlock, WireError> tool_use_block(const json::object& b, const std::string& at) {
  auto id = b.if_contains("id");
  auto name = b.if_contains("name");
  auto input = b.if_contains("input");
  if (!id || !id->is_string()) return std::unexpected(bad(at + ".id: Field required"));
  if (!name || !name->is_string()) return std::unexpected(bad(at + ".name: Field required"));
  if (!input || !input->is_object()) return std::unexpected(bad(at + ".input: Input should be a valid dictionary"));
  return bedrock::ContentBlock::make_tool_use(std::string(id->as_string()), std::string(name->as_string()),
                                              bedrock::detail::to_json(*input));
}

// {"type": "tool_result", "tool_use_id", "content"?: string | [text, image, document blocks] | {JSON object}, "is_error"?}
// -> a toolResult block (images and documents as Converse toolResult image/document; a JSON object, an
// extension Anthropic does not define, as toolResult json).
std::expected<bedrock::ContentBlock, WireError> tool_result_block(const json::object& b, const std::string& at) {
  auto id = b.if_contains("tool_use_id");
  if (!id || !id->is_string()) return std::unexpected(bad(at + ".tool_use_id: Field required"));
  bedrock::ContentBlock out{.type = bedrock::ContentBlock::Type::tool_result};
  out.tool_use_id = std::string(id->as_string());
  if (auto e = b.if_contains("is_error"); e && !e->is_null()) {
    if (!e->is_bool()) return std::unexpected(bad(at + ".is_error: Input should be a valid boolean"));
    out.is_error = e->as_bool();
  }
  auto content = b.if_contains("content");
  if (!content || content->is_null()) return out;
  if (content->is_string()) {
    if (!content->as_string().empty()) out.content.push_back(bedrock::ContentBlock::make_text(std::string(content->as_string())));
    return out;
  }
  if (content->is_object()) {
    out.content.push_back(bedrock::ContentBlock::make_json(bedrock::detail::to_json(*content)));
    return out;
  }
  if (!content->is_array()) return std::unexpected(bad(at + ".content: Input should be a valid string or list of content blocks"));
  std::size_t j = 0;
  for (const auto& pv : content->as_array()) {
    const std::string pat = at + ".content." + std::to_string(j++);
    const auto* p = pv.if_object();
    auto type = p ? p->if_contains("type") : nullptr;
    if (type && (*type == "image" || *type == "document")) {  // what the tool returned: Converse toolResult content
      auto block = *type == "image" ? image_block(*p, pat) : document_block(*p, pat);
      if (!block) return std::unexpected(block.error());
      out.content.push_back(std::move(*block));
      continue;
    }
    if (!type || *type != "text") {
      return std::unexpected(bad(pat + ": only text, image and document blocks are supported in a tool_result"));
    }
    for (const auto& [key, val] : *p) {
      if (key == "cache_control") {  // Converse has no cache point inside a toolResult: one after it
        auto marked = cache_control(val, pat + ".cache_control");
        if (!marked) return std::unexpected(marked.error());
        out.cache_point = out.cache_point || *marked;
      }
      if (key != "type" && key != "text" && key != "cache_control") return std::unexpected(bad(pat + "." + std::string(key) + ": Extra inputs are not permitted"));
    }
    auto text = p->if_contains("text");
    if (!text || !text->is_string()) return std::unexpected(bad(pat + ".text: Field required"));
    if (!text->as_string().empty()) out.content.push_back(bedrock::ContentBlock::make_text(std::string(text->as_string())));
  }
  return out;
}

// tools: [{name, description?, input_schema, type?: "custom"}] (server tools are not offered).
std::expected<void, WireError> parse_tools(const json::value& v, agent::ChatInput& in) {
  if (v.is_null()) return {};
  if (!v.is_array()) return std::unexpected(bad("tools: Input should be a valid list"));
  std::size_t i = 0;
  for (const auto& tv : v.as_array()) {
    const std::string at = "tools." + std::to_string(i++);
    const auto* t = tv.if_object();
    if (!t) return std::unexpected(bad(at + ": Input should be an object"));
    bedrock::ToolSpec spec;
    for (const auto& [key, val] : *t) {
      if (key == "name" && val.is_string()) {
        spec.name = std::string(val.as_string());
      } else if (key == "description" && (val.is_string() || val.is_null())) {
        if (val.is_string()) spec.description = std::string(val.as_string());
      } else if (key == "input_schema" && val.is_object()) {
        spec.input_schema = bedrock::detail::to_json(val);
      } else if (key == "type") {
        if (!val.is_null() && val != "custom") {
          return std::unexpected(bad(at + ".type: server tools ('" + std::string(val.is_string() ? val.as_string() : "?") +
                                     "') are not supported by this agent; define custom tools (name, input_schema)"));
        }
      } else if (key == "cache_control") {
        auto marked = cache_control(val, at + ".cache_control");
        if (!marked) return std::unexpected(marked.error());
        spec.cache_point = *marked;
      } else if (key == "name" || key == "description" || key == "input_schema") {
        return std::unexpected(bad(at + "." + std::string(key) + ": Input should be a valid " +
                                   (key == "input_schema" ? "dictionary" : "string")));
      } else {
        return std::unexpected(bad(at + "." + std::string(key) + ": Extra inputs are not permitted"));
      }
    }
    if (spec.name.empty()) return std::unexpected(bad(at + ".name: Field required"));
    if (spec.input_schema.empty()) return std::unexpected(bad(at + ".input_schema: Field required"));
    in.tools.push_back(std::move(spec));
  }
  return {};
}

// tool_choice: {type: auto|any|tool|none, name (tool), disable_parallel_tool_use?}.
std::expected<void, WireError> parse_tool_choice(const json::value& v, agent::ChatInput& in) {
  using Mode = bedrock::ToolChoice::Mode;
  if (v.is_null()) return {};
  const auto* o = v.if_object();
  if (!o) return std::unexpected(bad("tool_choice: Input should be an object"));
  for (const auto& [key, val] : *o) {
    if (key != "type" && key != "name" && key != "disable_parallel_tool_use") {
      return std::unexpected(bad("tool_choice." + std::string(key) + ": Extra inputs are not permitted"));
    }
  }
  auto type = o->if_contains("type");
  if (type && *type == "auto") in.tool_choice.mode = Mode::auto_;
  else if (type && *type == "any") in.tool_choice.mode = Mode::any;
  else if (type && *type == "none") in.tool_choice.mode = Mode::none;
  else if (type && *type == "tool") {
    auto name = o->if_contains("name");
    if (!name || !name->is_string()) return std::unexpected(bad("tool_choice.name: Field required"));
    in.tool_choice.mode = Mode::tool;
    in.tool_choice.name = std::string(name->as_string());
  } else {
    return std::unexpected(bad("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"));
  }
  return {};
}

// ---- Extended thinking ----

// {"type": "thinking", "thinking", "signature"} | {"type": "redacted_thinking", "data": base64} (in an
// assistant message, as a response gave it) -> a reasoning block, sent back unchanged.
std::expected<bedrock::ContentBlock, WireError> thinking_block(const json::object& b, std::string_view t, const std::string& at) {
  for (const auto& [key, val] : b) {
    const bool known = key == "type" || key == "cache_control" ||
                       (t == "thinking" && (key == "thinking" || key == "signature")) || (t == "redacted_thinking" && key == "data");
    if (!known) return std::unexpected(bad(at + "." + std::string(key) + ": Extra inputs are not permitted"));
  }
  auto str = [&](std::string_view k) -> const json::string* {
    auto v = b.if_contains(k);
    return v && v->is_string() ? &v->as_string() : nullptr;
  };
  if (t == "redacted_thinking") {
    const auto* data = str("data");
    if (!data) return std::unexpected(bad(at + ".data: Field required"));
    auto bytes = base64_decode(*data);
    if (!bytes || bytes->empty()) return std::unexpected(bad(at + ".data: not the base64 a response gave"));
    return bedrock::ContentBlock::make_redacted_reasoning(std::move(*bytes));
  }
  const auto* text = str("thinking");
  const auto* signature = str("signature");
  if (!text) return std::unexpected(bad(at + ".thinking: Field required"));
  if (!signature) return std::unexpected(bad(at + ".signature: Field required"));
  return bedrock::ContentBlock::make_reasoning(std::string(*text), std::string(*signature));
}

// thinking: {"type": "enabled", "budget_tokens": N} | {"type": "disabled"} | null.
std::expected<void, WireError> parse_thinking(const json::value& v, agent::ChatInput& in) {
  if (v.is_null()) return {};
  const auto* o = v.if_object();
  if (!o) return std::unexpected(bad("thinking: Input should be an object"));
  auto type = o->if_contains("type");
  if (type && *type == "disabled") {
    for (const auto& [key, val] : *o) {
      if (key != "type") return std::unexpected(bad("thinking." + std::string(key) + ": Extra inputs are not permitted"));
    }
    return {};
  }
  if (!type || *type != "enabled") return std::unexpected(bad("thinking.type: Input should be 'enabled' or 'disabled'"));
  for (const auto& [key, val] : *o) {
    if (key != "type" && key != "budget_tokens") {
      return std::unexpected(bad("thinking." + std::string(key) + ": Extra inputs are not permitted"));
    }
  }
  auto budget = o->if_contains("budget_tokens");
  if (!budget) return std::unexpected(bad("thinking.budget_tokens: Field required"));
  if (!budget->is_int64() || budget->as_int64() < bedrock::kMinReasoningBudget) {
    return std::unexpected(bad("thinking.budget_tokens: Input should be greater than or equal to " +
                               std::to_string(bedrock::kMinReasoningBudget)));
  }
  in.reasoning = agent::ChatInput::Reasoning{
      .budget_tokens = static_cast<int>(std::min<std::int64_t>(budget->as_int64(), std::numeric_limits<int>::max()))};
  return {};
}

// A content block list: text blocks; in a message (not the system prompt) also image, document, tool_use,
// tool_result, thinking and redacted_thinking blocks.
std::expected<std::vector<bedrock::ContentBlock>, WireError> parse_blocks(const json::value& v, const std::string& at,
                                                                          bool images) {
  std::vector<bedrock::ContentBlock> out;
  if (v.is_string()) {
    out.push_back(bedrock::ContentBlock::make_text(std::string(v.as_string())));
    return out;
  }
  if (!v.is_array()) return std::unexpected(bad(at + ": Input should be a valid string or list of content blocks"));
  std::size_t j = 0;
  for (const auto& bv : v.as_array()) {
    const std::string bat = at + "." + std::to_string(j++);
    if (!bv.is_object()) return std::unexpected(bad(bat + ": Input should be an object"));
    const auto& b = bv.as_object();
    auto type = b.if_contains("type");
    if (!type || !type->is_string()) return std::unexpected(bad(bat + ".type: Field required"));
    const std::string_view t = type->as_string();
    bool cache_point = false;
    for (const auto& [key, val] : b) {
      if (key == "cache_control") {
        auto marked = cache_control(val, bat + ".cache_control");
        if (!marked) return std::unexpected(marked.error());
        cache_point = *marked;
      }
      const bool citations_off = val.is_object() && val.as_object().size() == 1 &&
                                 val.as_object().if_contains("enabled") && *val.as_object().if_contains("enabled") == false;
      if (key == "citations" && !val.is_null() && !citations_off) return std::unexpected(unsupported(bat + ".citations"));
      const bool known = key == "type" || key == "cache_control" || key == "citations" ||
                         (t == "text" && key == "text") || (t == "image" && key == "source");
      if (!known && (t == "text" || t == "image")) {
        return std::unexpected(bad(bat + "." + std::string(key) + ": Extra inputs are not permitted"));
      }
    }
    if (t == "text") {
      auto text = b.if_contains("text");
      if (!text || !text->is_string()) return std::unexpected(bad(bat + ".text: Field required"));
      out.push_back(bedrock::ContentBlock::make_text(std::string(text->as_string())));
    } else if ((t == "tool_use" || t == "tool_result") && images) {
      for (const auto& [key, val] : b) {
        const bool known = key == "type" || key == "cache_control" ||
                           (t == "tool_use" && (key == "id" || key == "name" || key == "input")) ||
                           (t == "tool_result" && (key == "tool_use_id" || key == "content" || key == "is_error"));
        if (!known) return std::unexpected(bad(bat + "." + std::string(key) + ": Extra inputs are not permitted"));
      }
      auto block = t == "tool_use" ? tool_use_block(b, bat) : tool_result_block(b, bat);
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));
    } else if ((t == "thinking" || t == "redacted_thinking") && images) {
      auto block = thinking_block(b, t, bat);
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));
    } else if (t == "image" && images) {
      auto block = image_block(b, bat);
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));
    } else if (t == "document" && images) {
      auto block = document_block(b, bat);
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));
    } else {
      return std::unexpected(bad(bat + ": content blocks of type '" + std::string(t) +
                                 "' are not supported by this agent yet (supported: text" +
                                 (images ? ", image, document, tool_use, tool_result, thinking, redacted_thinking)" : ")")));
    }
    if (cache_point) out.back().cache_point = true;
  }
  return out;
}

std::expected<void, WireError> parse_messages(const json::value& v, agent::ChatInput& in) {
  if (!v.is_array()) return std::unexpected(bad("messages: Input should be a valid list"));
  std::vector<bedrock::Message> messages;
  std::size_t i = 0;
  for (const auto& mv : v.as_array()) {
    const std::string at = "messages." + std::to_string(i++);
    if (!mv.is_object()) return std::unexpected(bad(at + ": Input should be an object"));
    const auto& m = mv.as_object();
    for (const auto& [key, val] : m) {
      if (key != "role" && key != "content") return std::unexpected(bad(at + "." + std::string(key) + ": Extra inputs are not permitted"));
    }
    auto role = m.if_contains("role");
    if (!role || (*role != "user" && *role != "assistant")) {
      return std::unexpected(bad(at + ".role: Input should be 'user' or 'assistant'"));
    }
    auto content = m.if_contains("content");
    if (!content) return std::unexpected(bad(at + ".content: Field required"));
    auto blocks = parse_blocks(*content, at + ".content", true);
    if (!blocks) return std::unexpected(blocks.error());
    if (blocks->empty()) return std::unexpected(bad(at + ".content: must not be empty"));
    // Consecutive messages of one role are combined into one turn, as Anthropic's API does.
    agent::append_message(messages, bedrock::Message{std::string(role->as_string()), std::move(*blocks)});
  }
  agent::name_documents(messages);
  in.messages = std::move(messages);
  return {};
}

// Fields POST /v1/messages/count_tokens does not define (its body is the Messages body without them).
bool not_a_count_tokens_field(std::string_view key) {
  return key == "max_tokens" || key == "temperature" || key == "top_p" || key == "top_k" || key == "stop_sequences" ||
         key == "stream" || key == "metadata" || key == "service_tier" || key == "container";
}

// `count_tokens`: the body of POST /v1/messages/count_tokens (no max_tokens, no sampling settings).
std::expected<agent::ChatInput, WireError> parse_request(std::string_view body, const agent::ChatService& chat,
                                                         bool count_tokens = false) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::unexpected(bad("the request body is not valid JSON (" + ec.message() + ")"));
  if (!v.is_object()) return std::unexpected(bad("the request body must be a JSON object"));
  agent::ChatInput in;
  bool have_model = false, have_messages = false;
  for (const auto& [k, val] : v.as_object()) {
    const std::string key(k);
    if (count_tokens && not_a_count_tokens_field(key)) return std::unexpected(bad(key + ": Extra inputs are not permitted"));
    if (key == "model") {
      if (!val.is_string() || val.as_string().empty()) return std::unexpected(bad("model: Input should be a valid string"));
      auto model = chat.resolve_model(val.as_string());
      if (!model) return std::unexpected(WireError{404, "model: " + std::string(val.as_string())});
      in.model_id = std::move(*model);
      have_model = true;
    } else if (key == "messages") {
      if (auto st = parse_messages(val, in); !st) return std::unexpected(st.error());
      have_messages = true;
    } else if (key == "max_tokens") {
      if (!val.is_int64() || val.as_int64() < 1) {
        return std::unexpected(bad("max_tokens: Input should be an integer greater than or equal to 1"));
      }
      in.max_tokens = static_cast<int>(std::min<std::int64_t>(val.as_int64(), std::numeric_limits<int>::max()));
    } else if (key == "system") {
      auto blocks = parse_blocks(val, "system", false);
      if (!blocks) return std::unexpected(blocks.error());
      for (const auto& b : *blocks) {
        if (!in.system.empty()) in.system += "\n\n";
        in.system += b.text;
        // One system prompt for Converse: a cache_control on any of its blocks puts the point after it all.
        in.system_cache_point = in.system_cache_point || b.cache_point;
      }
    } else if (key == "temperature" || key == "top_p") {
      if (!val.is_number()) return std::unexpected(bad(key + ": Input should be a valid number"));
      (key == "temperature" ? in.temperature : in.top_p) = val.to_number<double>();
    } else if (key == "top_k") {
      if (!val.is_int64()) return std::unexpected(bad("top_k: Input should be a valid integer"));
      in.top_k = static_cast<int>(std::clamp<std::int64_t>(val.as_int64(), -1, std::numeric_limits<int>::max()));
    } else if (key == "stop_sequences") {
      if (!val.is_array()) return std::unexpected(bad("stop_sequences: Input should be a valid list"));
      for (const auto& s : val.as_array()) {
        if (!s.is_string()) return std::unexpected(bad("stop_sequences: Input should be a list of strings"));
        in.stop_sequences.emplace_back(s.as_string());
      }
    } else if (key == "stream") {
      if (!val.is_bool()) return std::unexpected(bad("stream: Input should be a valid boolean"));
      in.stream = val.as_bool();
    } else if (key == "metadata" || key == "service_tier") {
      continue;  // accepted and ignored: they do not change the answer (docs/api.md)
    } else if (key == "tools") {
      if (auto st = parse_tools(val, in); !st) return std::unexpected(st.error());
    } else if (key == "tool_choice") {
      if (auto st = parse_tool_choice(val, in); !st) return std::unexpected(st.error());
    } else if (key == "thinking") {
      if (auto st = parse_thinking(val, in); !st) return std::unexpected(st.error());
    } else if (key == "container" || key == "mcp_servers" || key == "context_management") {
      if (val.is_null()) continue;
      return std::unexpected(unsupported(key));
    } else {
      return std::unexpected(bad(key + ": Extra inputs are not permitted"));
    }
  }
  if (!have_model) return std::unexpected(bad("model: Field required"));
  if (!have_messages) return std::unexpected(bad("messages: Field required"));
  if (!in.max_tokens && !count_tokens) return std::unexpected(bad("max_tokens: Field required"));
  if (auto st = check_cache_points(in); !st) return std::unexpected(st.error());
  return in;
}

// Converse's stop reason as Anthropic's.
std::string_view stop_reason(std::string_view stop) {
  if (stop == "max_tokens" || stop == "stop_sequence" || stop == "tool_use") return stop;
  if (stop == "guardrail_intervened" || stop == "content_filtered") return "refusal";
  return "end_turn";
}

// What an answer says, as written (also read back from a stored answer for a streamed repeat).
struct Answer {
  std::string text;
  std::string stop_reason;
  std::int64_t input_tokens = 0, output_tokens = 0, cache_write = 0, cache_read = 0;
  std::vector<bedrock::ContentBlock> tool_uses;  // after the text block
  std::vector<bedrock::ContentBlock> reasoning;  // thinking / redacted_thinking blocks, before the text
};

Answer answer_of(const agent::ChatOutput& out) {
  return Answer{out.response, std::string(stop_reason(out.stop_reason)), out.usage.input_tokens,
                out.usage.output_tokens, out.usage.cache_write_input_tokens, out.usage.cache_read_input_tokens,
                out.tool_uses, out.reasoning};
}

// A reasoning block as Anthropic writes it: thinking (text, signature) or redacted_thinking (data, base64).
void write_thinking(JsonWriter& w, const bedrock::ContentBlock& r) {
  if (r.is_redacted_reasoning()) {
    w.begin_object().member("type", "redacted_thinking").member("data", base64_encode(r.bytes)).end_object();
  } else {
    w.begin_object().member("type", "thinking").member("thinking", r.text).member("signature", r.signature).end_object();
  }
}

void write_tool_use(JsonWriter& w, const bedrock::ContentBlock& t) {
  w.begin_object().member("type", "tool_use").member("id", t.tool_use_id).member("name", t.name);
  w.key("input").raw(t.input);
  w.end_object();
}

// A stored answer's tool_use block, read back for a streamed repeat.
bedrock::ContentBlock read_tool_use(const json::object& b) {
  auto str = [&](std::string_view k) {
    auto v = b.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto input = b.if_contains("input");
  return bedrock::ContentBlock::make_tool_use(str("id"), str("name"),
                                              input && input->is_object() ? bedrock::detail::to_json(*input) : "{}");
}

void write_usage(JsonWriter& w, const Answer& a) {
  w.key("usage").begin_object();
  w.member("input_tokens", a.input_tokens).member("output_tokens", a.output_tokens);
  w.member("cache_creation_input_tokens", a.cache_write).member("cache_read_input_tokens", a.cache_read);
  w.end_object();
}

std::string event(std::string_view name, const std::string& data) { return sse_event(name, data); }

class AnthropicFormat final : public ChatFormat {
 public:
  AnthropicFormat(std::string id, std::string model) : id_(std::move(id)), model_(std::move(model)) {}

  std::string_view route() const override { return kRoute; }
  ErrorBody error_body() const override { return &anthropic_error_body; }
  bool retry_after_ms() const override { return true; }

  std::string answer(const agent::ChatOutput& out) const override { return message(answer_of(out), true); }

  // message_start (usage is known at the end: message_delta carries it). Blocks start as the model's
  // reply arrives: a text block with the first text, a tool_use block with each tool call.
  std::string stream_start() const override {
    std::string d;
    JsonWriter w(d);
    w.begin_object().member("type", "message_start").key("message").raw(message(Answer{}, false)).end_object();
    return event("message_start", d);
  }
  // Text into the open text block (one is started after a tool call); a tool call as its own block,
  // content_block_start with input {}, then each input fragment as an input_json_delta. Reasoning as
  // Anthropic streams it: a thinking block (content_block_start {"type": "thinking", "thinking": "",
  // "signature": ""}, thinking_delta, signature_delta), a redacted_thinking block whole in its start.
  std::string stream_delta(const bedrock::StreamDelta& d) const override {
    using Kind = bedrock::StreamDelta::Kind;
    switch (d.kind) {
      case Kind::reasoning_text:
      case Kind::reasoning_signature: {
        std::string events;
        if (open_ != Open::thinking || open_source_ != d.block_index) {
          events = close_block();
          open_ = Open::thinking;
          open_source_ = d.block_index;
          events += block_start(R"({"type":"content_block_start","index":)" + std::to_string(next_index_++) +
                                R"(,"content_block":{"type":"thinking","thinking":"","signature":""}})");
        }
        std::string f;
        JsonWriter w(f);
        w.begin_object().member("type", "content_block_delta").member("index", static_cast<std::int64_t>(next_index_ - 1));
        w.key("delta").begin_object();
        if (d.kind == Kind::reasoning_text) {
          w.member("type", "thinking_delta").member("thinking", d.text);
        } else {
          w.member("type", "signature_delta").member("signature", d.text);
        }
        w.end_object().end_object();
        return events + event("content_block_delta", f);
      }
      case Kind::reasoning_redacted: {
        std::string events = close_block();
        open_ = Open::redacted;
        open_source_ = d.block_index;
        std::string f;
        JsonWriter w(f);
        w.begin_object().member("type", "content_block_start").member("index", static_cast<std::int64_t>(next_index_++));
        w.key("content_block").begin_object().member("type", "redacted_thinking").member("data", d.text).end_object();
        w.end_object();
        return events + block_start(f);
      }
      case Kind::text: {
        std::string events;
        if (open_ != Open::text) {
          events = close_block();  // (in this order: text_start() opens the next block)
          events += text_start();
        }
        return events + text_delta(d.text);
      }
      case Kind::tool_use_start: {
        std::string events = close_block();
        streamed_tools_.push_back(StreamedTool{d.tool_use_id, next_index_, false});
        open_ = Open::tool;
        events += block_start(R"({"type":"content_block_start","index":)" + std::to_string(next_index_++) +
                              R"(,"content_block":)" + tool_use_json(d.tool_use_id, d.name) + "}");
        return events;
      }
      case Kind::tool_use_input:
        for (auto& t : streamed_tools_) {
          if (t.id != d.tool_use_id) continue;
          t.has_input = true;
          return input_delta(t.index, d.text);
        }
        return {};
      default: return {};
    }
  }
  std::string stream_done(const agent::ChatOutput& out) const override { return done(answer_of(out)); }
  std::string stream_error(const Error& e) const override { return event("error", anthropic_json(status_for(e), e.message)); }

 private:
  enum class Open { none, text, tool, thinking, redacted };
  // A tool call streamed as it arrived: its id, block index, whether an input fragment came.
  struct StreamedTool {
    std::string id;
    std::size_t index = 0;
    bool has_input = false;
  };

  // A content_block_start event, then a ping after the stream's first block.
  std::string block_start(const std::string& data) const {
    std::string events = event("content_block_start", data);
    if (!pinged_) events += event("ping", R"({"type":"ping"})");
    pinged_ = true;
    return events;
  }
  // A text block's start (the next index), left open.
  std::string text_start() const {
    open_ = Open::text;
    return block_start(R"({"type":"content_block_start","index":)" + std::to_string(next_index_++) +
                       R"(,"content_block":{"type":"text","text":""}})");
  }
  // The open block's stop; a tool call whose input never came gets "{}", so that its input is an object.
  std::string close_block() const {
    if (open_ == Open::none) return {};
    const std::size_t index = next_index_ - 1;
    std::string events;
    if (open_ == Open::tool && !streamed_tools_.empty() && !streamed_tools_.back().has_input) {
      streamed_tools_.back().has_input = true;
      events += input_delta(index, "{}");
    }
    open_ = Open::none;
    return events + event("content_block_stop", R"({"type":"content_block_stop","index":)" + std::to_string(index) + "}");
  }
  static std::string tool_use_json(std::string_view id, std::string_view name) {
    std::string d;
    JsonWriter w(d);
    w.begin_object().member("type", "tool_use").member("id", id).member("name", name);
    w.key("input").begin_object().end_object().end_object();
    return d;
  }
  static std::string input_delta(std::size_t index, std::string_view fragment) {
    std::string f;
    JsonWriter fw(f);
    fw.begin_object().member("type", "content_block_delta").member("index", static_cast<std::int64_t>(index));
    fw.key("delta").begin_object().member("type", "input_json_delta").member("partial_json", fragment).end_object();
    fw.end_object();
    return event("content_block_delta", f);
  }
  std::string text_delta(std::string_view text) const {
    std::string d;
    d.reserve(text.size() + 96);
    JsonWriter w(d);
    w.begin_object().member("type", "content_block_delta").member("index", static_cast<std::int64_t>(next_index_ - 1));
    w.key("delta").begin_object().member("type", "text_delta").member("text", text).end_object();
    w.end_object();
    return event("content_block_delta", d);
  }
  // One tool_use block not streamed as it arrived, at the next index: its start (input {}), the input as
  // input_json_delta fragments, its stop.
  std::string tool_events(const bedrock::ContentBlock& t) const {
    const std::size_t index = next_index_++;
    std::string events = event("content_block_start", R"({"type":"content_block_start","index":)" +
                                                          std::to_string(index) + R"(,"content_block":)" +
                                                          tool_use_json(t.tool_use_id, t.name) + "}");
    std::string_view input = t.input;
    while (!input.empty()) {
      std::size_t n = std::min<std::size_t>(64, input.size());
      while (n < input.size() && n > 0 && (static_cast<unsigned char>(input[n]) & 0xC0) == 0x80) --n;
      if (n == 0) n = input.size();
      events += input_delta(index, input.substr(0, n));
      input.remove_prefix(n);
    }
    events += event("content_block_stop",
                    R"({"type":"content_block_stop","index":)" + std::to_string(index) + "}");
    return events;
  }

 public:
  std::optional<std::string> replay_stream(std::string_view stored) const override {
    boost::system::error_code ec;
    json::value v = json::parse(stored, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.as_object();
    Answer a;
    if (auto content = o.if_contains("content"); content && content->is_array()) {
      for (const auto& b : content->as_array()) {
        if (auto t = b.is_object() ? b.as_object().if_contains("text") : nullptr; t && t->is_string()) a.text += t->as_string();
        if (b.is_object() && b.as_object().if_contains("type") && b.as_object().at("type") == "tool_use") {
          a.tool_uses.push_back(read_tool_use(b.as_object()));
        }
        auto type = b.is_object() ? b.as_object().if_contains("type") : nullptr;
        if (type && (*type == "thinking" || *type == "redacted_thinking")) {
          if (auto r = thinking_block(b.as_object(), type->as_string(), "content")) a.reasoning.push_back(std::move(*r));
        }
      }
    }
    if (auto s = o.if_contains("stop_reason"); s && s->is_string()) a.stop_reason = std::string(s->as_string());
    if (auto u = o.if_contains("usage"); u && u->is_object()) {
      auto num = [&](std::string_view name) {
        auto n = u->as_object().if_contains(name);
        return n && n->is_int64() ? n->as_int64() : 0;
      };
      a.input_tokens = num("input_tokens");
      a.output_tokens = num("output_tokens");
      a.cache_write = num("cache_creation_input_tokens");
      a.cache_read = num("cache_read_input_tokens");
    }
    auto str = [&](std::string_view name) {
      auto s = o.if_contains(name);
      return s && s->is_string() ? std::string(s->as_string()) : std::string();
    };
    AnthropicFormat original(str("id"), str("model"));  // the repeat is the first answer again
    std::string events = original.stream_start();
    using Kind = bedrock::StreamDelta::Kind;
    for (std::size_t i = 0; i < a.reasoning.size(); ++i) {  // each block as the model streamed it
      const auto& r = a.reasoning[i];
      const auto index = static_cast<std::int64_t>(i);
      if (r.is_redacted_reasoning()) {
        events += original.stream_delta(bedrock::StreamDelta{.kind = Kind::reasoning_redacted, .block_index = index, .text = base64_encode(r.bytes)});
        continue;
      }
      events += original.stream_delta(bedrock::StreamDelta{.kind = Kind::reasoning_text, .block_index = index, .text = r.text});
      events += original.stream_delta(bedrock::StreamDelta{.kind = Kind::reasoning_signature, .block_index = index, .text = r.signature});
    }
    if (!a.text.empty()) events += original.stream_delta(bedrock::StreamDelta::make_text(a.text));
    events += original.done(a);
    return events;
  }

 private:
  // The message object: complete (the buffered answer) or as message_start announces it.
  std::string message(const Answer& a, bool complete) const {
    std::string body;
    body.reserve(a.text.size() + 320);
    JsonWriter w(body);
    w.begin_object().member("id", id_).member("type", "message").member("role", "assistant").member("model", model_);
    w.key("content").begin_array();
    if (complete)
      for (const auto& r : a.reasoning) write_thinking(w, r);
    if (complete && !a.text.empty()) w.begin_object().member("type", "text").member("text", a.text).end_object();
    if (complete)
      for (const auto& t : a.tool_uses) write_tool_use(w, t);
    w.end_array();
    if (complete) {
      w.member("stop_reason", a.stop_reason);
    } else {
      w.key("stop_reason").null();
    }
    w.key("stop_sequence").null();
    write_usage(w, a);
    w.end_object();
    return body;
  }
  // The open block's stop (an empty text block when the reply has no block at all), the tool_use blocks
  // not streamed as they arrived (a replayed answer's, or a model's that sends them with its reply),
  // message_delta, message_stop.
  std::string done(const Answer& a) const {
    const bool streamed_any = next_index_ > 0;
    const std::size_t streamed = streamed_tools_.size();
    std::string events;
    if (!streamed_any && a.tool_uses.size() <= streamed) events += text_start();
    events += close_block();
    if (!pinged_) events += event("ping", R"({"type":"ping"})");
    pinged_ = true;
    for (std::size_t i = streamed; i < a.tool_uses.size(); ++i) events += tool_events(a.tool_uses[i]);
    std::string d;
    JsonWriter w(d);
    w.begin_object().member("type", "message_delta");
    w.key("delta").begin_object().member("stop_reason", a.stop_reason).key("stop_sequence").null().end_object();
    write_usage(w, a);
    w.end_object();
    events += event("message_delta", d);
    events += event("message_stop", R"({"type":"message_stop"})");
    return events;
  }

  std::string id_;
  std::string model_;
  // The stream's state (one format per request): the next block's index, the open block, the tool calls
  // streamed, whether the ping was sent.
  mutable std::size_t next_index_ = 0;
  mutable Open open_ = Open::none;
  mutable std::int64_t open_source_ = -1;  // the open reasoning block's index in the model's reply
  mutable std::vector<StreamedTool> streamed_tools_;
  mutable bool pinged_ = false;
};

}  // namespace

std::string anthropic_error_body(int status, std::string_view /*type*/, std::string_view message) {
  return anthropic_json(status, message);
}

std::expected<agent::ChatInput, net::ServerResponse> parse_anthropic_body(std::string_view body,
                                                                        const agent::ChatService& chat) {
  auto parsed = parse_request(body, chat);
  if (!parsed) return std::unexpected(json_response(parsed.error().status, anthropic_json(parsed.error().status, parsed.error().message)));
  return std::move(*parsed);
}

// POST /v1/messages: the body translated (errors in Anthropic's shape), then the chat driver in
// Anthropic's format. `anthropic-version` and `anthropic-beta` are accepted (the body says what is
// asked); `x-conversation-id` saves the turn under that conversation.
// A plain function, not a coroutine: the translated body goes into run_chat, not into a frame of its own.
boost::asio::awaitable<Reply> handle_anthropic_messages(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                        RequestLog& log, std::string /*param*/) {
  auto parsed = parse_request(req.body, state->ctx.chat);
  if (!parsed) {
    const WireError& e = parsed.error();
    log.error_type = std::string(to_string(e.status == 404 ? ErrorKind::not_found : ErrorKind::invalid_input));
    return ready(Reply{json_response(e.status, anthropic_json(e.status, e.message)), nullptr});
  }
  if (auto id = req.headers.get("x-conversation-id")) parsed->conversation_id = std::string(*id);
  std::string id = "msg_" + log.request_id;
  std::erase(id, '-');
  auto format = std::make_shared<const AnthropicFormat>(std::move(id), parsed->model_id);
  return run_chat(std::move(state), req, log, std::move(*parsed), std::move(format));
}

// POST /v1/messages/count_tokens: the Messages body without max_tokens and sampling settings, counted by
// Bedrock's CountTokens -> {"input_tokens": N}. Free upstream, so it takes no rate-limit budget; errors in
// Anthropic's shape (a model Bedrock cannot count for: 400 invalid_request_error with Bedrock's message).
boost::asio::awaitable<Reply> handle_anthropic_count_tokens(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                            RequestLog& log, std::string /*param*/) {
  auto parsed = parse_request(req.body, state->ctx.chat, true);
  if (!parsed) {
    const WireError& e = parsed.error();
    log.error_type = std::string(to_string(e.status == 404 ? ErrorKind::not_found : ErrorKind::invalid_input));
    co_return Reply{json_response(e.status, anthropic_json(e.status, e.message)), nullptr};
  }
  log.model = parsed->model_id;
  parsed->owner = log.caller;
  parsed->request_id = log.request_id;
  parsed->deadline = state->clock.now() + state->ctx.config.request_timeout;
  auto n = co_await state->ctx.chat.count_tokens(std::move(*parsed));
  if (!n) {
    const int status = status_for(n.error());
    note_error(log, n.error(), status);
    co_return Reply{json_response(status, anthropic_json(status, n.error().message)), nullptr};
  }
  log.input_tokens = *n;
  std::string body;
  JsonWriter w(body);
  w.begin_object().member("input_tokens", *n).end_object();
  co_return Reply{json_response(200, std::move(body)), nullptr};
}

}  // namespace ba::http
