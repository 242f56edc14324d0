// POST /v1/chat/completions: OpenAI's Chat Completions wire format <-> the chat use case in its
// stateless mode (the caller sends the conversation), through the chat driver (chat_flow.cpp: deadline,
// Idempotency-Key, admission, streaming). Only a translator: no chat logic here.
//
// Unsupported fields: a field that would change the answer and that we cannot honour is a 400 naming
// it (legacy functions, response_format other than text, logprobs, penalties, n > 1, audio...); a field that does
// not change the answer is accepted and ignored (user, seed, metadata, store, service_tier,
// prompt_cache_key, safety_identifier, a message's name, an image's detail); anything OpenAI does not
// define is a 400, as OpenAI answers it. See docs/api.md.
#include <boost/json.hpp>

#include <chrono>
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

constexpr std::string_view kRoute = "/v1/chat/completions";

// A request the translator refuses, with what OpenAI's error names: the parameter and a code.
struct WireError {
  int status = 400;
  std::string message;
  std::string param;  // empty: null
  std::string code;   // empty: null
};

std::string openai_json(std::string_view type, std::string_view message, std::string_view param, std::string_view code) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("error").begin_object();
  w.member("message", message).member("type", type);
  if (param.empty()) {
    w.key("param").null();
  } else {
    w.member("param", param);
  }
  if (code.empty()) {
    w.key("code").null();
  } else {
    w.member("code", code);
  }
  w.end_object().end_object();
  return body;
}

// OpenAI's error `type` for a status; `code` is the agent's own error type (rate_limited, throttled...).
std::string_view openai_type(int status, std::string_view our_type) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 429) return our_type == "quota_exceeded" ? "insufficient_quota" : "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

struct Parsed {
  agent::ChatInput input;
  bool include_usage = false;
};

using ParseResult = std::expected<Parsed, WireError>;

WireError bad(std::string param, std::string message) { return WireError{400, std::move(message), std::move(param), {}}; }

// An integer of at least 1 (null: absent).
std::expected<std::optional<int>, WireError> positive_int(const json::value& v, std::string_view name) {
  if (v.is_null()) return std::optional<int>{};
  if (v.is_uint64()) return std::optional<int>{std::numeric_limits<int>::max()};
  if (!v.is_int64() || v.as_int64() < 1) return std::unexpected(bad(std::string(name), std::string(name) + " must be a positive integer"));
  return std::optional<int>{static_cast<int>(std::min<std::int64_t>(v.as_int64(), std::numeric_limits<int>::max()))};
}

// "data:image/png;base64,...." -> an image block.
std::expected<bedrock::ContentBlock, WireError> data_url_image(std::string_view url, const std::string& at) {
  if (url.starts_with("http://") || url.starts_with("https://")) {
    return std::unexpected(bad(at, at + ": this server does not fetch URLs; send the image inline as a data: URL "
                                        "(data:image/png;base64,...)"));
  }
  constexpr std::string_view kData = "data:";
  const auto comma = url.find(',');
  if (!url.starts_with(kData) || comma == std::string_view::npos) {
    return std::unexpected(bad(at, at + ": must be a data: URL (data:image/png;base64,...)"));
  }
  std::string_view meta = url.substr(kData.size(), comma - kData.size());
  constexpr std::string_view kBase64 = ";base64";
  if (!meta.ends_with(kBase64)) return std::unexpected(bad(at, at + ": the data: URL must be base64 (;base64,)"));
  std::string media = to_lower(meta.substr(0, meta.size() - kBase64.size()));
  if (media == "image/jpg") media = "image/jpeg";
  auto kind = agent::attachment_kind(media, "");
  if (!kind || kind->type != bedrock::ContentBlock::Type::image) {
    return std::unexpected(bad(at, at + ": image type '" + media + "' is not supported; send image/png, image/jpeg, "
                                        "image/gif or image/webp"));
  }
  auto bytes = base64_decode(url.substr(comma + 1));
  if (!bytes) return std::unexpected(bad(at, at + ": the data: URL's base64 does not decode"));
  return bedrock::ContentBlock{.type = bedrock::ContentBlock::Type::image, .format = kind->format, .bytes = std::move(*bytes)};
}

// A `file` part: {"file": {"file_data": "data:application/pdf;base64,...", "filename": "report.pdf"}} -> a
// document block named from the file name (name_documents() makes it safe). file_id is refused: this agent
// does not hold OpenAI's files (its own Files API is /files, used by /chat).
std::expected<bedrock::ContentBlock, WireError> file_part(const json::object& p, const std::string& at) {
  auto file = p.find("file");
  if (file == p.end() || !file->value().is_object()) return std::unexpected(bad(at + ".file", at + ".file must be an object"));
  const auto& f = file->value().as_object();
  std::string filename;
  for (const auto& [key, val] : f) {
    if (key == "filename" && (val.is_string() || val.is_null())) {
      if (val.is_string()) filename = std::string(val.as_string());
    } else if (key == "file_id") {
      return std::unexpected(bad(at + ".file.file_id", at + ".file.file_id: file ids are not supported; send the "
                                                            "file inline as file_data (data:application/pdf;base64,...)"));
    } else if (key != "file_data") {
      return std::unexpected(bad(at + ".file." + std::string(key), at + ".file: field '" + std::string(key) + "' is not supported"));
    }
  }
  auto data = f.find("file_data");
  if (data == f.end() || !data->value().is_string()) {
    return std::unexpected(bad(at + ".file.file_data", at + ".file.file_data must be a data: URL (data:application/pdf;base64,...)"));
  }
  const std::string fat = at + ".file.file_data";
  std::string_view url = data->value().as_string();
  const auto comma = url.find(',');
  constexpr std::string_view kData = "data:", kBase64 = ";base64";
  if (!url.starts_with(kData) || comma == std::string_view::npos ||
      !url.substr(0, comma).ends_with(kBase64)) {
    return std::unexpected(bad(fat, fat + ": must be a base64 data: URL (data:application/pdf;base64,...)"));
  }
  const std::string media = to_lower(url.substr(kData.size(), comma - kData.size() - kBase64.size()));
  auto bytes = base64_decode(url.substr(comma + 1));
  if (!bytes) return std::unexpected(bad(fat, fat + ": the data: URL's base64 does not decode"));
  auto block = agent::inline_document(media, filename, std::move(*bytes), filename);
  if (!block) {
    return std::unexpected(bad(fat, fat + ": file type '" + media + "' is not a document the model reads (application/pdf, "
                                         "text/plain, text/csv, text/html, text/markdown, doc, docx, xls, xlsx)"));
  }
  return std::move(*block);
}

// A message's content: a string, or an array of parts (text; image_url and file for user messages).
std::expected<std::vector<bedrock::ContentBlock>, WireError> parse_content(const json::value& v, const std::string& at,
                                                                           bool images) {
  std::vector<bedrock::ContentBlock> out;
  if (v.is_string()) {
    if (v.as_string().empty()) return std::unexpected(bad(at, at + " must not be empty"));
    out.push_back(bedrock::ContentBlock::make_text(std::string(v.as_string())));
    return out;
  }
  if (!v.is_array()) return std::unexpected(bad(at, at + " must be a string or an array of content parts"));
  std::size_t j = 0;
  for (const auto& part : v.as_array()) {
    const std::string pat = at + "[" + std::to_string(j++) + "]";
    if (!part.is_object()) return std::unexpected(bad(pat, pat + " must be an object"));
    const auto& p = part.as_object();
    auto type = p.find("type");
    if (type == p.end() || !type->value().is_string()) return std::unexpected(bad(pat + ".type", pat + ".type is required"));
    const std::string_view t = type->value().as_string();
    if (t == "text") {
      auto text = p.find("text");
      if (text == p.end() || !text->value().is_string() || text->value().as_string().empty()) {
        return std::unexpected(bad(pat + ".text", pat + ".text must be a non-empty string"));
      }
      out.push_back(bedrock::ContentBlock::make_text(std::string(text->value().as_string())));
    } else if (t == "image_url" && images) {
      auto image = p.find("image_url");
      const json::object* io = image != p.end() && image->value().is_object() ? &image->value().as_object() : nullptr;
      auto url = io ? io->find("url") : json::object::const_iterator{};
      if (!io || url == io->end() || !url->value().is_string()) {
        return std::unexpected(bad(pat + ".image_url.url", pat + ".image_url.url must be a string"));
      }
      auto block = data_url_image(url->value().as_string(), pat + ".image_url.url");
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));  // "detail" is a hint Bedrock has no use for
    } else if (t == "file" && images) {
      auto block = file_part(p, pat);
      if (!block) return std::unexpected(block.error());
      out.push_back(std::move(*block));
    } else {
      return std::unexpected(bad(pat + ".type", pat + ": content parts of type '" + std::string(t) +
                                                    "' are not supported here (supported: text" +
                                                    (images ? ", image_url with a data: URL, file with file_data)" : ")")));
    }
  }
  if (out.empty()) return std::unexpected(bad(at, at + " must not be empty"));
  return out;
}

// ---- Tools ----

// Text of a tool message's content: a string or text parts.
std::expected<std::string, WireError> tool_text(const json::value& v, const std::string& at) {
  if (v.is_string()) return std::string(v.as_string());
  if (!v.is_array()) return std::unexpected(bad(at, at + " must be a string or an array of text parts"));
  std::string out;
  std::size_t j = 0;
  for (const auto& part : v.as_array()) {
    const std::string pat = at + "[" + std::to_string(j++) + "]";
    const auto* p = part.if_object();
    auto text = p ? p->if_contains("text") : nullptr;
    if (!p || !p->if_contains("type") || p->at("type") != "text" || !text || !text->is_string()) {
      return std::unexpected(bad(pat, pat + " must be a text part ({\"type\": \"text\", \"text\": ...})"));
    }
    out += text->as_string();
  }
  return out;
}

// A tool message's content beyond text (nullopt: text only, read by tool_text): a JSON object (an extension
// OpenAI does not define) -> toolResult json; parts with an image_url (data: URL) or a file (file_data) ->
// text, image and document blocks, in order.
std::optional<std::expected<std::vector<bedrock::ContentBlock>, WireError>> rich_tool_content(const json::value& v,
                                                                                            const std::string& at) {
  using Out = std::expected<std::vector<bedrock::ContentBlock>, WireError>;
  if (v.is_object()) return Out{std::vector<bedrock::ContentBlock>{bedrock::ContentBlock::make_json(bedrock::detail::to_json(v))}};
  if (!v.is_array()) return std::nullopt;
  bool rich = false;
  for (const auto& part : v.as_array()) {
    const auto* p = part.if_object();
    auto type = p ? p->if_contains("type") : nullptr;
    rich = rich || (type && (*type == "image_url" || *type == "file"));
  }
  if (!rich) return std::nullopt;
  auto blocks = parse_content(v, at, true);
  if (!blocks) return Out{std::unexpected(blocks.error())};
  return Out{std::move(*blocks)};
}

// {"role": "tool", "tool_call_id", "content"} -> a toolResult block (consecutive ones merge into one user
// message, as Bedrock wants the results of one assistant turn together).
std::expected<bedrock::ContentBlock, WireError> tool_message(const json::object& m, const std::string& at) {
  for (const auto& [key, val] : m) {
    if (key != "role" && key != "content" && key != "tool_call_id" && key != "name") {
      return std::unexpected(bad(at + "." + std::string(key), at + ": field '" + std::string(key) + "' is not supported"));
    }
  }
  auto id = m.if_contains("tool_call_id");
  if (!id || !id->is_string() || id->as_string().empty()) {
    return std::unexpected(bad(at + ".tool_call_id", at + ".tool_call_id must be a non-empty string"));
  }
  auto content = m.if_contains("content");
  if (!content || content->is_null()) return std::unexpected(bad(at + ".content", at + ".content is required"));
  bedrock::ContentBlock b{.type = bedrock::ContentBlock::Type::tool_result};
  b.tool_use_id = std::string(id->as_string());
  if (auto rich = rich_tool_content(*content, at + ".content")) {
    if (!*rich) return std::unexpected(rich->error());
    b.content = std::move(**rich);
    return b;
  }
  auto text = tool_text(*content, at + ".content");
  if (!text) return std::unexpected(text.error());
  if (!text->empty()) b.content.push_back(bedrock::ContentBlock::make_text(std::move(*text)));
  return b;
}

// An assistant message's tool_calls: [{id, type: "function", function: {name, arguments}}] -> toolUse
// blocks; arguments must be a JSON object (as a string).
std::expected<std::vector<bedrock::ContentBlock>, WireError> tool_calls(const json::value& v, const std::string& at) {
  if (!v.is_array()) return std::unexpected(bad(at, at + " must be an array"));
  std::vector<bedrock::ContentBlock> out;
  std::size_t j = 0;
  for (const auto& cv : v.as_array()) {
    const std::string cat = at + "[" + std::to_string(j++) + "]";
    const auto* c = cv.if_object();
    if (!c) return std::unexpected(bad(cat, cat + " must be an object"));
    for (const auto& [key, val] : *c) {
      if (key != "id" && key != "type" && key != "function") {
        return std::unexpected(bad(cat + "." + std::string(key), cat + ": field '" + std::string(key) + "' is not supported"));
      }
    }
    auto id = c->if_contains("id");
    if (!id || !id->is_string() || id->as_string().empty()) return std::unexpected(bad(cat + ".id", cat + ".id must be a non-empty string"));
    if (auto type = c->if_contains("type"); type && *type != "function") {
      return std::unexpected(bad(cat + ".type", cat + ".type must be \"function\""));
    }
    auto fn = c->if_contains("function");
    const auto* f = fn ? fn->if_object() : nullptr;
    auto name = f ? f->if_contains("name") : nullptr;
    if (!name || !name->is_string()) return std::unexpected(bad(cat + ".function.name", cat + ".function.name must be a string"));
    auto args = f->if_contains("arguments");
    if (!args || !args->is_string()) {
      return std::unexpected(bad(cat + ".function.arguments", cat + ".function.arguments must be a string (JSON)"));
    }
    boost::system::error_code ec;
    json::value input = args->as_string().empty() ? json::value(json::object{}) : json::parse(args->as_string(), ec);
    if (ec || !input.is_object()) {
      return std::unexpected(bad(cat + ".function.arguments", cat + ".function.arguments must be a JSON object as a string" +
                                                                   (ec ? " (it is not valid JSON: " + ec.message() + ")" : "")));
    }
    out.push_back(bedrock::ContentBlock::make_tool_use(std::string(id->as_string()), std::string(name->as_string()),
                                                       bedrock::detail::to_json(input)));
  }
  return out;
}

// tools: [{"type": "function", "function": {name, description?, parameters?, strict?}}].
std::expected<void, WireError> parse_tools(const json::value& v, agent::ChatInput& in) {
  if (v.is_null()) return {};
  if (!v.is_array()) return std::unexpected(bad("tools", "tools must be an array"));
  std::size_t i = 0;
  for (const auto& tv : v.as_array()) {
    const std::string at = "tools[" + std::to_string(i++) + "]";
    const auto* t = tv.if_object();
    if (!t) return std::unexpected(bad(at, at + " must be an object"));
    auto type = t->if_contains("type");
    if (!type || *type != "function") {
      return std::unexpected(bad(at + ".type", at + ".type must be \"function\" (custom tools are not supported)"));
    }
    auto fn = t->if_contains("function");
    const auto* f = fn ? fn->if_object() : nullptr;
    if (!f) return std::unexpected(bad(at + ".function", at + ".function is required"));
    bedrock::ToolSpec spec;
    for (const auto& [key, val] : *f) {
      const std::string fat = at + ".function." + std::string(key);
      if (key == "name") {
        if (!val.is_string()) return std::unexpected(bad(fat, fat + " must be a string"));
        spec.name = std::string(val.as_string());
      } else if (key == "description") {
        if (!val.is_string() && !val.is_null()) return std::unexpected(bad(fat, fat + " must be a string"));
        if (val.is_string()) spec.description = std::string(val.as_string());
      } else if (key == "parameters") {
        if (!val.is_object() && !val.is_null()) return std::unexpected(bad(fat, fat + " must be a JSON Schema object"));
        if (val.is_object()) spec.input_schema = bedrock::detail::to_json(val);
      } else if (key == "strict") {
        if (val.is_null() || (val.is_bool() && !val.as_bool())) continue;
        return std::unexpected(bad(fat, fat + ": strict schema adherence cannot be guaranteed on Bedrock; remove it"));
      } else {
        return std::unexpected(bad(fat, fat + " is not supported"));
      }
    }
    if (spec.name.empty()) return std::unexpected(bad(at + ".function.name", at + ".function.name is required"));
    // No parameters: a function without arguments (Converse needs a schema).
    if (spec.input_schema.empty()) spec.input_schema = R"({"type":"object","properties":{}})";
    in.tools.push_back(std::move(spec));
  }
  return {};
}

// tool_choice: "auto" | "required" | "none" | {"type": "function", "function": {"name"}}.
std::expected<void, WireError> parse_tool_choice(const json::value& v, agent::ChatInput& in) {
  using Mode = bedrock::ToolChoice::Mode;
  if (v.is_null() || v == "auto") return {};
  if (v == "required") {
    in.tool_choice.mode = Mode::any;
    return {};
  }
  if (v == "none") {
    in.tool_choice.mode = Mode::none;
    return {};
  }
  const auto* o = v.if_object();
  auto fn = o && o->if_contains("type") && o->at("type") == "function" ? o->if_contains("function") : nullptr;
  auto name = fn && fn->is_object() ? fn->as_object().if_contains("name") : nullptr;
  if (!name || !name->is_string()) {
    return std::unexpected(bad("tool_choice", "tool_choice must be \"auto\", \"required\", \"none\" or "
                                              "{\"type\": \"function\", \"function\": {\"name\": ...}}"));
  }
  in.tool_choice.mode = Mode::tool;
  in.tool_choice.name = std::string(name->as_string());
  return {};
}

// ---- Reasoning ----

// An assistant message's thinking_blocks (LiteLLM's convention, as the answer writes them): [{"type":
// "thinking", "thinking", "signature"} | {"type": "redacted_thinking", "data": base64}] -> reasoning blocks,
// sent back unchanged before the message's text and tool calls.
std::expected<std::vector<bedrock::ContentBlock>, WireError> thinking_blocks(const json::value& v, const std::string& at) {
  std::vector<bedrock::ContentBlock> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return std::unexpected(bad(at, at + " must be an array"));
  std::size_t j = 0;
  for (const auto& bv : v.as_array()) {
    const std::string bat = at + "[" + std::to_string(j++) + "]";
    const auto* b = bv.if_object();
    auto type = b ? b->if_contains("type") : nullptr;
    auto str = [&](std::string_view k) -> const json::string* {
      auto x = b->if_contains(k);
      return x && x->is_string() ? &x->as_string() : nullptr;
    };
    if (type && *type == "thinking") {
      for (const auto& [key, val] : *b) {
        if (key != "type" && key != "thinking" && key != "signature" && key != "cache_control") {
          return std::unexpected(bad(bat + "." + std::string(key), bat + ": field '" + std::string(key) + "' is not supported"));
        }
      }
      const auto* text = str("thinking");
      const auto* signature = str("signature");
      if (!text || text->empty()) return std::unexpected(bad(bat + ".thinking", bat + ".thinking must be a non-empty string"));
      if (!signature) return std::unexpected(bad(bat + ".signature", bat + ".signature must be a string (as the answer gave it)"));
      out.push_back(bedrock::ContentBlock::make_reasoning(std::string(*text), std::string(*signature)));
    } else if (type && *type == "redacted_thinking") {
      const auto* data = str("data");
      auto bytes = data ? base64_decode(*data) : std::nullopt;
      if (!bytes || bytes->empty()) return std::unexpected(bad(bat + ".data", bat + ".data must be the base64 the answer gave"));
      out.push_back(bedrock::ContentBlock::make_redacted_reasoning(std::move(*bytes)));
    } else {
      return std::unexpected(bad(bat + ".type", bat + ".type must be \"thinking\" or \"redacted_thinking\""));
    }
  }
  return out;
}

// reasoning_effort: none (or null) -> no reasoning; minimal | low | medium | high -> a budget
// (ChatService::reasoning_plan).
std::expected<void, WireError> parse_reasoning_effort(const json::value& v, agent::ChatInput& in) {
  if (v.is_null() || v == "none") return {};
  if (v != "minimal" && v != "low" && v != "medium" && v != "high") {
    return std::unexpected(bad("reasoning_effort", "reasoning_effort must be none, minimal, low, medium or high"));
  }
  in.reasoning = agent::ChatInput::Reasoning{.effort = std::string(v.as_string())};
  return {};
}

std::expected<void, WireError> parse_messages(const json::value& v, agent::ChatInput& in) {
  if (!v.is_array()) return std::unexpected(bad("messages", "messages must be an array"));
  std::vector<bedrock::Message> messages;
  std::size_t i = 0;
  for (const auto& mv : v.as_array()) {
    const std::string at = "messages[" + std::to_string(i++) + "]";
    if (!mv.is_object()) return std::unexpected(bad(at, at + " must be an object"));
    const auto& m = mv.as_object();
    auto role_it = m.find("role");
    if (role_it == m.end() || !role_it->value().is_string()) return std::unexpected(bad(at + ".role", at + ".role is required"));
    const std::string_view role = role_it->value().as_string();
    if (role == "tool") {
      auto block = tool_message(m, at);
      if (!block) return std::unexpected(block.error());
      agent::append_message(messages, bedrock::Message{"user", {std::move(*block)}});
      continue;
    }
    if (role == "function") {
      return std::unexpected(bad(at + ".role", at + ": 'function' messages (the legacy functions API) are not "
                                                   "supported; use tools and 'tool' messages"));
    }
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      return std::unexpected(bad(at + ".role", at + ".role must be system, developer, user or assistant"));
    }
    for (const auto& [key, val] : m) {
      if (key == "role" || key == "content" || key == "name") continue;  // name: accepted, not sent
      if (key == "tool_calls" && role == "assistant") continue;  // read below
      // The reasoning an answer gave: thinking_blocks is sent back (read below); reasoning_content, its text
      // alone (no signature), is not (docs/api.md, Reasoning).
      if ((key == "thinking_blocks" || key == "reasoning_content") && role == "assistant") continue;
      if (key == "function_call" && role == "assistant") {
        if (val.is_null()) continue;
        return std::unexpected(bad(at + ".function_call", at + ".function_call (the legacy functions API) is not "
                                                           "supported; use tool_calls"));
      }
      if (key == "refusal" && role == "assistant" && val.is_null()) continue;
      return std::unexpected(bad(at + "." + std::string(key), at + ": field '" + std::string(key) + "' is not supported"));
    }
    auto content = m.find("content");
    std::vector<bedrock::ContentBlock> calls;
    if (auto tc = m.find("tool_calls"); role == "assistant" && tc != m.end() && !tc->value().is_null()) {
      auto parsed_calls = tool_calls(tc->value(), at + ".tool_calls");
      if (!parsed_calls) return std::unexpected(parsed_calls.error());
      calls = std::move(*parsed_calls);
    }
    std::vector<bedrock::ContentBlock> reasoning;
    if (auto tb = m.find("thinking_blocks"); role == "assistant" && tb != m.end()) {
      auto parsed_blocks = thinking_blocks(tb->value(), at + ".thinking_blocks");
      if (!parsed_blocks) return std::unexpected(parsed_blocks.error());
      reasoning = std::move(*parsed_blocks);
    }
    const bool no_content = content == m.end() || content->value().is_null() ||
                            (content->value().is_string() && content->value().as_string().empty());
    if (!calls.empty() && no_content) {  // an assistant turn that only calls tools (after its reasoning)
      for (auto& c : calls) reasoning.push_back(std::move(c));
      agent::append_message(messages, bedrock::Message{"assistant", std::move(reasoning)});
      continue;
    }
    if (content == m.end() || content->value().is_null()) {
      return std::unexpected(bad(at + ".content", at + ".content is required"));
    }
    const bool system = role == "system" || role == "developer";
    auto blocks = parse_content(content->value(), at + ".content", role == "user");
    if (!blocks) return std::unexpected(blocks.error());
    for (auto& c : calls) blocks->push_back(std::move(c));
    if (!reasoning.empty()) blocks->insert(blocks->begin(), std::make_move_iterator(reasoning.begin()),
                                           std::make_move_iterator(reasoning.end()));
    if (system) {
      // Bedrock takes one system prompt, before the conversation.
      if (!messages.empty()) {
        return std::unexpected(bad(at + ".role", at + ": " + std::string(role) +
                                                     " messages must come before the user and assistant messages "
                                                     "(Bedrock takes one system prompt)"));
      }
      for (const auto& b : *blocks) {
        if (!in.system.empty()) in.system += "\n\n";
        in.system += b.text;
      }
      continue;
    }
    agent::append_message(messages, bedrock::Message{std::string(role), std::move(*blocks)});
  }
  agent::name_documents(messages);
  in.messages = std::move(messages);
  return {};
}

// ---- Structured output ----

// response_format: {"type": "text"} (the default), or {"type": "json_schema", "json_schema": {name, description?,
// schema, strict?}} -> Converse outputConfig.textFormat (json_schema). Bedrock constrains the reply to the
// schema whether or not `strict` is set. json_object has no honest mapping (Bedrock's structured output
// needs a schema, and "any JSON" is not one every model takes): a 400 saying so.
std::expected<void, WireError> parse_response_format(const json::value& v, agent::ChatInput& in) {
  constexpr std::string_view kAt = "response_format";
  if (v.is_null()) return {};
  const auto* o = v.if_object();
  auto type = o ? o->if_contains("type") : nullptr;
  if (!type || !type->is_string()) {
    return std::unexpected(bad(std::string(kAt), "response_format must be an object with a type (text or json_schema)"));
  }
  const std::string_view t = type->as_string();
  if (t == "text") return {};
  if (t == "json_object") {
    return std::unexpected(bad("response_format.type",
                               "response_format json_object is not supported: Bedrock's structured output needs a JSON "
                               "schema; send {\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}"));
  }
  if (t != "json_schema") {
    return std::unexpected(bad("response_format.type", "response_format.type must be text or json_schema"));
  }
  for (const auto& [key, val] : *o) {
    if (key != "type" && key != "json_schema") {
      return std::unexpected(bad("response_format." + std::string(key), "response_format: field '" + std::string(key) + "' is not supported"));
    }
  }
  auto js = o->if_contains("json_schema");
  const auto* j = js ? js->if_object() : nullptr;
  if (!j) return std::unexpected(bad("response_format.json_schema", "response_format.json_schema must be an object"));
  bedrock::OutputFormat format;
  for (const auto& [key, val] : *j) {
    const std::string at = "response_format.json_schema." + std::string(key);
    if (key == "name") {
      if (!val.is_string() || val.as_string().empty() || val.as_string().size() > 64) {
        return std::unexpected(bad(at, at + " must be a string of 1-64 characters"));
      }
      format.name = std::string(val.as_string());
    } else if (key == "description") {
      if (!val.is_string() && !val.is_null()) return std::unexpected(bad(at, at + " must be a string"));
      if (val.is_string()) format.description = std::string(val.as_string());
    } else if (key == "schema") {
      if (!val.is_object()) return std::unexpected(bad(at, at + " must be a JSON Schema object"));
      format.schema = bedrock::detail::to_json(val);
    } else if (key == "strict") {
      // Bedrock's structured output holds the reply to the schema in either case.
      if (!val.is_bool() && !val.is_null()) return std::unexpected(bad(at, at + " must be true or false"));
    } else {
      return std::unexpected(bad(at, "response_format.json_schema: field '" + std::string(key) + "' is not supported"));
    }
  }
  if (format.name.empty()) return std::unexpected(bad("response_format.json_schema.name", "response_format.json_schema.name is required"));
  if (format.schema.empty()) {
    return std::unexpected(bad("response_format.json_schema.schema",
                               "response_format.json_schema.schema is required: Bedrock's structured output needs a schema"));
  }
  in.output_format = std::move(format);
  return {};
}

// Fields accepted only with a value that asks for nothing (null, false, 0, "none", an empty list...).
bool asks_nothing(std::string_view key, const json::value& v) {
  if (v.is_null()) return true;
  if (key == "logprobs") return v.is_bool() && !v.as_bool();
  if (key == "frequency_penalty" || key == "presence_penalty") return v.is_number() && v.to_number<double>() == 0.0;
  if (key == "logit_bias") return v.is_object() && v.as_object().empty();
  if (key == "functions") return v.is_array() && v.as_array().empty();
  if (key == "function_call") return v.is_string() && (v.as_string() == "none" || v.as_string() == "auto");
  if (key == "response_format") {
    if (!v.is_object()) return false;
    auto t = v.as_object().find("type");
    return t != v.as_object().end() && t->value() == "text";
  }
  if (key == "modalities") return v.is_array() && v.as_array().size() == 1 && v.as_array()[0] == "text";
  return false;
}

ParseResult parse_request(std::string_view body, const agent::ChatService& chat) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::unexpected(bad({}, "the request body is not valid JSON (" + ec.message() + ")"));
  if (!v.is_object()) return std::unexpected(bad({}, "the request body must be a JSON object"));
  Parsed out;
  agent::ChatInput& in = out.input;
  std::optional<int> max_tokens, max_completion_tokens;
  bool have_model = false, have_messages = false;
  for (const auto& [k, val] : v.as_object()) {
    const std::string key(k);
    if (key == "model") {
      if (!val.is_string() || val.as_string().empty()) return std::unexpected(bad(key, "model must be a non-empty string"));
      auto model = chat.resolve_model(val.as_string());
      if (!model) {
        std::string known;
        for (const auto& m : chat.models()) known += (known.empty() ? "" : ", ") + m;
        for (const auto& [alias, target] : chat.config().model_aliases) known += ", " + alias;
        return std::unexpected(WireError{404,
                                         "The model '" + std::string(val.as_string()) +
                                             "' does not exist or you do not have access to it. Models: " + known,
                                         key, "model_not_found"});
      }
      in.model_id = std::move(*model);
      have_model = true;
    } else if (key == "messages") {
      if (auto st = parse_messages(val, in); !st) return std::unexpected(st.error());
      have_messages = true;
    } else if (key == "stream") {
      if (!val.is_null() && !val.is_bool()) return std::unexpected(bad(key, "stream must be true or false"));
      in.stream = val.is_bool() && val.as_bool();
    } else if (key == "stream_options") {
      if (val.is_null()) continue;
      if (!val.is_object()) return std::unexpected(bad(key, "stream_options must be an object"));
      for (const auto& [ok, ov] : val.as_object()) {
        if (ok == "include_usage" && ov.is_bool()) {
          out.include_usage = ov.as_bool();
        } else if (ok != "include_obfuscation") {  // padding against side channels: nothing to pad here
          return std::unexpected(bad("stream_options." + std::string(ok), "stream_options." + std::string(ok) + " is not supported"));
        }
      }
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      auto n = positive_int(val, key);
      if (!n) return std::unexpected(n.error());
      (key == "max_tokens" ? max_tokens : max_completion_tokens) = *n;
    } else if (key == "temperature" || key == "top_p") {
      if (val.is_null()) continue;
      if (!val.is_number()) return std::unexpected(bad(key, key + " must be a number"));
      const double x = val.to_number<double>();
      if (x < 0 || x > 1) {
        return std::unexpected(bad(key, key + " must be between 0 and 1: Bedrock models take 0-1 (" + key +
                                            " is not rescaled from OpenAI's range)"));
      }
      (key == "temperature" ? in.temperature : in.top_p) = x;
    } else if (key == "stop") {
      if (val.is_null()) continue;
      if (val.is_string()) {
        in.stop_sequences.emplace_back(val.as_string());
      } else if (val.is_array()) {
        for (const auto& s : val.as_array()) {
          if (!s.is_string()) return std::unexpected(bad(key, "stop must be a string or an array of strings"));
          in.stop_sequences.emplace_back(s.as_string());
        }
      } else {
        return std::unexpected(bad(key, "stop must be a string or an array of strings"));
      }
    } else if (key == "n") {
      if (!val.is_null() && !(val.is_int64() && val.as_int64() == 1)) {
        return std::unexpected(bad(key, "n must be 1: this agent returns one choice per request"));
      }
    } else if (key == "user" || key == "seed" || key == "metadata" || key == "store" || key == "service_tier" ||
               key == "prompt_cache_key" || key == "safety_identifier") {
      continue;  // accepted and ignored: they do not change the answer (docs/api.md)
    } else if (key == "tools") {
      if (auto st = parse_tools(val, in); !st) return std::unexpected(st.error());
    } else if (key == "tool_choice") {
      if (auto st = parse_tool_choice(val, in); !st) return std::unexpected(st.error());
    } else if (key == "parallel_tool_calls") {
      // Accepted: Bedrock has no switch for it (a model may still call several tools in one turn).
      if (!val.is_null() && !val.is_bool()) return std::unexpected(bad(key, "parallel_tool_calls must be true or false"));
    } else if (key == "response_format") {
      if (auto st = parse_response_format(val, in); !st) return std::unexpected(st.error());
    } else if (key == "reasoning_effort") {
      if (auto st = parse_reasoning_effort(val, in); !st) return std::unexpected(st.error());
    } else if (key == "logprobs" || key == "top_logprobs" || key == "frequency_penalty" || key == "presence_penalty" ||
               key == "logit_bias" || key == "functions" ||
               key == "function_call" ||
               key == "modalities" || key == "audio" || key == "prediction" ||
               key == "web_search_options" || key == "verbosity") {
      if (asks_nothing(key, val)) continue;
      return std::unexpected(bad(key, key + " is not supported by this agent yet; remove it (see docs/api.md)"));
    } else {
      return std::unexpected(bad(key, "Unrecognized request argument supplied: " + key));
    }
  }
  if (!have_model) return std::unexpected(bad("model", "model is required"));
  if (!have_messages) return std::unexpected(bad("messages", "messages is required"));
  if (max_tokens && max_completion_tokens && *max_tokens != *max_completion_tokens) {
    return std::unexpected(bad("max_tokens", "max_tokens and max_completion_tokens differ; send one of them"));
  }
  in.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  if (!in.stream && out.include_usage) out.include_usage = false;
  return out;
}

// Converse's stop reason as OpenAI's finish_reason.
std::string_view finish_reason(std::string_view stop) {
  if (stop == "max_tokens") return "length";
  if (stop == "tool_use") return "tool_calls";
  if (stop == "guardrail_intervened" || stop == "content_filtered") return "content_filter";
  return "stop";  // end_turn, stop_sequence
}

// What an answer says, as written (also read back from a stored answer for a streamed repeat).
struct Answer {
  std::string text;
  std::string finish_reason;
  std::int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  std::vector<bedrock::ContentBlock> tool_calls;  // tool_use blocks: tool_use_id, name, input (arguments)
  std::vector<bedrock::ContentBlock> reasoning;   // the reasoning blocks (before the text)
};

Answer answer_of(const agent::ChatOutput& out) {
  const auto& u = out.usage;
  return Answer{out.response, std::string(finish_reason(out.stop_reason)),
                u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens, u.output_tokens,
                u.cache_read_input_tokens, out.tool_uses, out.reasoning};
}

// message.reasoning_content: the reasoning text (its blocks' text, joined; DeepSeek's and vLLM's field).
std::string reasoning_text(const std::vector<bedrock::ContentBlock>& reasoning) {
  std::string out;
  for (const auto& r : reasoning) {
    if (r.is_redacted_reasoning()) continue;
    if (!out.empty()) out += "\n\n";
    out += r.text;
  }
  return out;
}

// message.thinking_blocks (LiteLLM's field): each reasoning block as Anthropic writes it, to be sent back.
void write_thinking_blocks(JsonWriter& w, const std::vector<bedrock::ContentBlock>& reasoning) {
  w.key("thinking_blocks").begin_array();
  for (const auto& r : reasoning) {
    if (r.is_redacted_reasoning()) {
      w.begin_object().member("type", "redacted_thinking").member("data", base64_encode(r.bytes)).end_object();
    } else {
      w.begin_object().member("type", "thinking").member("thinking", r.text).member("signature", r.signature).end_object();
    }
  }
  w.end_array();
}

// A stored answer's thinking_blocks, read back for a streamed repeat.
std::vector<bedrock::ContentBlock> read_thinking_blocks(const json::object& message) {
  auto blocks = message.if_contains("thinking_blocks");
  if (!blocks) return {};
  auto parsed = thinking_blocks(*blocks, "thinking_blocks");
  return parsed ? std::move(*parsed) : std::vector<bedrock::ContentBlock>{};
}

// message.tool_calls / a stored answer's, read back for a streamed repeat.
void write_tool_calls(JsonWriter& w, const std::vector<bedrock::ContentBlock>& calls) {
  w.key("tool_calls").begin_array();
  for (const auto& c : calls) {
    w.begin_object().member("id", c.tool_use_id).member("type", "function");
    w.key("function").begin_object().member("name", c.name).member("arguments", c.input).end_object();
    w.end_object();
  }
  w.end_array();
}

std::vector<bedrock::ContentBlock> read_tool_calls(const json::object& message) {
  std::vector<bedrock::ContentBlock> out;
  auto calls = message.if_contains("tool_calls");
  if (!calls || !calls->is_array()) return out;
  for (const auto& c : calls->as_array()) {
    const auto* o = c.if_object();
    auto fn = o ? o->if_contains("function") : nullptr;
    if (!fn || !fn->is_object()) continue;
    auto str = [](const json::object& x, std::string_view k) {
      auto v = x.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    out.push_back(bedrock::ContentBlock::make_tool_use(str(*o, "id"), str(fn->as_object(), "name"),
                                                       str(fn->as_object(), "arguments")));
  }
  return out;
}

// Cuts a tool call's arguments into stream fragments (at UTF-8 sequence starts), as OpenAI streams them.
std::vector<std::string_view> fragments(std::string_view s, std::size_t size) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    std::size_t n = std::min(size, s.size());
    while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = s.size();
    out.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return out;
}

void write_usage(JsonWriter& w, const Answer& a) {
  w.key("usage").begin_object();
  w.member("prompt_tokens", a.prompt_tokens).member("completion_tokens", a.completion_tokens);
  w.member("total_tokens", a.prompt_tokens + a.completion_tokens);
  w.key("prompt_tokens_details").begin_object().member("cached_tokens", a.cached_tokens).end_object();
  w.end_object();
}

class OpenAIFormat final : public ChatFormat {
 public:
  OpenAIFormat(std::string id, std::int64_t created, std::string model, bool include_usage)
      : id_(std::move(id)), created_(created), model_(std::move(model)), include_usage_(include_usage) {}

  std::string_view route() const override { return kRoute; }
  ErrorBody error_body() const override { return &openai_error_body; }
  bool retry_after_ms() const override { return true; }

  std::string answer(const agent::ChatOutput& out) const override {
    const Answer a = answer_of(out);
    std::string body;
    body.reserve(a.text.size() + 512);
    JsonWriter w(body);
    w.begin_object();
    head(w, "chat.completion");
    w.key("choices").begin_array().begin_object().member("index", 0);
    w.key("message").begin_object().member("role", "assistant");
    if (a.text.empty() && !a.tool_calls.empty()) {
      w.key("content").null();  // a turn that only calls tools
    } else {
      w.member("content", a.text);
    }
    if (!a.reasoning.empty()) {
      w.member("reasoning_content", reasoning_text(a.reasoning));
      write_thinking_blocks(w, a.reasoning);
    }
    w.key("refusal").null();
    if (!a.tool_calls.empty()) write_tool_calls(w, a.tool_calls);
    w.end_object();
    w.key("logprobs").null();
    w.member("finish_reason", a.finish_reason);
    w.end_object().end_array();
    write_usage(w, a);
    w.key("system_fingerprint").null();
    w.end_object();
    return body;
  }
  std::string stream_start() const override { return chunk("role", "assistant", {}); }
  // Text as content chunks; a tool call as it arrives: its first chunk names it (index, id, type, name,
  // arguments ""), each input fragment is an arguments chunk. Reasoning text as reasoning_content chunks;
  // its signature and redacted content reach the client whole in the thinking_blocks chunk at the end.
  std::string stream_delta(const bedrock::StreamDelta& d) const override {
    using Kind = bedrock::StreamDelta::Kind;
    switch (d.kind) {
      case Kind::text: return chunk("content", d.text, {});
      case Kind::reasoning_text:
        reasoning_streamed_ = true;
        return chunk("reasoning_content", d.text, {});
      case Kind::tool_use_start: {
        std::string events = close_tools();
        streamed_.push_back(StreamedCall{d.tool_use_id, false});
        return events + tool_chunk(streamed_.size() - 1, &d.tool_use_id, d.name, {});
      }
      case Kind::tool_use_input:
        for (std::size_t i = 0; i < streamed_.size(); ++i) {
          if (streamed_[i].id != d.tool_use_id) continue;
          streamed_[i].has_arguments = true;
          return tool_chunk(i, nullptr, {}, d.text);
        }
        return {};
      default: return {};
    }
  }
  std::string stream_done(const agent::ChatOutput& out) const override { return done(answer_of(out)); }
  std::string stream_error(const Error& e) const override {
    const int status = status_for(e);
    return sse_data(openai_json(openai_type(status, to_string(e.kind)), e.message, {}, to_string(e.kind)));
  }
  std::optional<std::string> replay_stream(std::string_view stored) const override {
    boost::system::error_code ec;
    json::value v = json::parse(stored, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto* choice = v.as_object().if_contains("choices");
    const auto* usage = v.as_object().if_contains("usage");
    if (!choice || !choice->is_array() || choice->as_array().empty() || !usage || !usage->is_object()) return std::nullopt;
    const json::value& c = choice->as_array()[0];
    Answer a;
    auto text = c.as_object().if_contains("message");
    if (auto content = text && text->is_object() ? text->as_object().if_contains("content") : nullptr;
        content && content->is_string()) {
      a.text = std::string(content->as_string());
    }
    if (text && text->is_object()) a.tool_calls = read_tool_calls(text->as_object());
    if (text && text->is_object()) a.reasoning = read_thinking_blocks(text->as_object());
    if (auto fr = c.as_object().if_contains("finish_reason"); fr && fr->is_string()) a.finish_reason = std::string(fr->as_string());
    auto num = [&](std::string_view name) {
      auto n = usage->as_object().if_contains(name);
      return n && n->is_int64() ? n->as_int64() : 0;
    };
    a.prompt_tokens = num("prompt_tokens");
    a.completion_tokens = num("completion_tokens");
    if (auto d = usage->as_object().if_contains("prompt_tokens_details"); d && d->is_object()) {
      if (auto n = d->as_object().if_contains("cached_tokens"); n && n->is_int64()) a.cached_tokens = n->as_int64();
    }
    // The stored answer's id, time and model: the repeat is the first answer again.
    auto str = [&](std::string_view name) {
      auto s = v.as_object().if_contains(name);
      return s && s->is_string() ? std::string(s->as_string()) : std::string();
    };
    auto created = v.as_object().if_contains("created");
    OpenAIFormat original(str("id"), created && created->is_int64() ? created->as_int64() : created_, str("model"),
                          include_usage_);
    std::string events = original.stream_start();
    if (auto reasoning = reasoning_text(a.reasoning); !reasoning.empty()) {
      events += original.stream_delta(bedrock::StreamDelta{.kind = bedrock::StreamDelta::Kind::reasoning_text, .text = reasoning});
    }
    if (!a.text.empty()) events += original.stream_delta(bedrock::StreamDelta::make_text(a.text));
    events += original.done(a);
    return events;
  }

 private:
  // The chunk whose delta is {"thinking_blocks": [...]}: the answer's reasoning blocks whole (LiteLLM's
  // field), what a client sends back; reasoning_content too when the model did not stream it.
  std::string thinking_chunk(const Answer& a) const {
    std::string d;
    JsonWriter w(d);
    w.begin_object();
    head(w, "chat.completion.chunk");
    w.key("choices").begin_array().begin_object().member("index", 0);
    w.key("delta").begin_object();
    if (!reasoning_streamed_) w.member("reasoning_content", reasoning_text(a.reasoning));
    write_thinking_blocks(w, a.reasoning);
    w.end_object();
    w.key("logprobs").null().key("finish_reason").null();
    w.end_object().end_array();
    if (include_usage_) w.key("usage").null();
    w.end_object();
    return sse_data(d);
  }
  void head(JsonWriter& w, std::string_view object) const {
    w.member("id", id_).member("object", object).member("created", created_).member("model", model_);
  }
  // One chat.completion.chunk with delta {field: value} (no field: an empty delta) and a finish_reason.
  std::string chunk(std::string_view field, std::string_view value, std::string_view finish) const {
    std::string d;
    d.reserve(value.size() + 256);
    JsonWriter w(d);
    w.begin_object();
    head(w, "chat.completion.chunk");
    w.key("choices").begin_array().begin_object().member("index", 0);
    w.key("delta").begin_object();
    if (field == "role") {
      w.member("role", value).member("content", "");
    } else if (!field.empty()) {
      w.member(field, value);
    }
    w.end_object();
    w.key("logprobs").null();
    if (finish.empty()) {
      w.key("finish_reason").null();
    } else {
      w.member("finish_reason", finish);
    }
    w.end_object().end_array();
    if (include_usage_) w.key("usage").null();
    w.end_object();
    return sse_data(d);
  }
  // A chunk whose delta is {"tool_calls": [one call's part]}: the first names the call (id, type, name,
  // arguments ""), the next ones carry argument fragments.
  std::string tool_chunk(std::size_t index, const std::string* id, std::string_view name, std::string_view arguments) const {
    std::string d;
    d.reserve(arguments.size() + 320);
    JsonWriter w(d);
    w.begin_object();
    head(w, "chat.completion.chunk");
    w.key("choices").begin_array().begin_object().member("index", 0);
    w.key("delta").begin_object().key("tool_calls").begin_array().begin_object();
    w.member("index", static_cast<std::int64_t>(index));
    if (id) w.member("id", *id).member("type", "function");
    w.key("function").begin_object();
    if (id) w.member("name", name);
    w.member("arguments", arguments).end_object();
    w.end_object().end_array().end_object();
    w.key("logprobs").null().key("finish_reason").null();
    w.end_object().end_array();
    if (include_usage_) w.key("usage").null();
    w.end_object();
    return sse_data(d);
  }
  // The streamed tool calls that got no input fragment: arguments "{}" (an empty object, so that the
  // assembled arguments are JSON).
  std::string close_tools() const {
    std::string events;
    for (std::size_t i = 0; i < streamed_.size(); ++i) {
      if (streamed_[i].has_arguments) continue;
      streamed_[i].has_arguments = true;
      events += tool_chunk(i, nullptr, {}, "{}");
    }
    return events;
  }
  // The last chunks: the tool calls not streamed as they arrived (a replayed answer's, or a model's that
  // sends them with its reply), the finish reason, the usage chunk (stream_options.include_usage), [DONE].
  std::string done(const Answer& a) const {
    std::string events = close_tools();
    if (!a.reasoning.empty()) events += thinking_chunk(a);
    for (std::size_t i = streamed_.size(); i < a.tool_calls.size(); ++i) {
      events += tool_chunk(i, &a.tool_calls[i].tool_use_id, a.tool_calls[i].name, {});
      for (auto piece : fragments(a.tool_calls[i].input, 64)) events += tool_chunk(i, nullptr, {}, piece);
    }
    events += chunk({}, {}, a.finish_reason);
    if (include_usage_) {
      std::string d;
      JsonWriter w(d);
      w.begin_object();
      head(w, "chat.completion.chunk");
      w.key("choices").begin_array().end_array();
      write_usage(w, a);
      w.end_object();
      events += sse_data(d);
    }
    events += sse_data("[DONE]");
    return events;
  }

  // The tool calls streamed as they arrived, in order (their index in tool_calls[]).
  struct StreamedCall {
    std::string id;
    bool has_arguments = false;
  };

  std::string id_;
  std::int64_t created_;
  std::string model_;
  bool include_usage_;
  mutable std::vector<StreamedCall> streamed_;  // one format per request
  mutable bool reasoning_streamed_ = false;     // reasoning_content chunks were sent
};

}  // namespace

std::string openai_error_body(int status, std::string_view type, std::string_view message) {
  return openai_json(openai_type(status, type), message, {}, type);
}

std::expected<agent::ChatInput, net::ServerResponse> parse_openai_body(std::string_view body,
                                                                     const agent::ChatService& chat) {
  auto parsed = parse_request(body, chat);
  if (!parsed) {
    const WireError& e = parsed.error();
    return std::unexpected(json_response(e.status, openai_json(openai_type(e.status, {}), e.message, e.param, e.code)));
  }
  return std::move(parsed->input);
}

// POST /v1/chat/completions: the body translated (errors in OpenAI's shape, naming the parameter),
// then the chat driver in OpenAI's format. `x-conversation-id` saves the turn under that conversation.
// A plain function, not a coroutine: the translated body goes into run_chat, not into a frame of its own.
boost::asio::awaitable<Reply> handle_openai_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                 RequestLog& log, std::string /*param*/) {
  auto parsed = parse_request(req.body, state->ctx.chat);
  if (!parsed) {
    const WireError& e = parsed.error();
    log.error_type = e.code.empty() ? std::string(to_string(ErrorKind::invalid_input)) : e.code;
    return ready(Reply{json_response(e.status, openai_json(openai_type(e.status, {}), e.message, e.param, e.code)), nullptr});
  }
  if (auto id = req.headers.get("x-conversation-id")) parsed->input.conversation_id = std::string(*id);
  const auto created =
      std::chrono::duration_cast<std::chrono::seconds>(state->clock.wall().time_since_epoch()).count();
  auto format = std::make_shared<const OpenAIFormat>("chatcmpl-" + log.request_id, created, parsed->input.model_id,
                                                     parsed->include_usage);
  return run_chat(std::move(state), req, log, std::move(parsed->input), std::move(format));
}

}  // namespace ba::http
