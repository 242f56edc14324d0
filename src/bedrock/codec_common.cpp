#include "bedrock/codec_common.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "bedrock/model_id.hpp"
#include "util/encoding.hpp"

namespace ba::bedrock {
namespace {

constexpr std::array<std::string_view, 4> kImageFormats{"png", "jpeg", "gif", "webp"};
constexpr std::array<std::string_view, 9> kDocumentFormats{"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"};

template <std::size_t N>
bool one_of(std::string_view v, const std::array<std::string_view, N>& set) {
  for (auto s : set)
    if (s == v) return true;
  return false;
}

// Converse's patterns: toolUseId [a-zA-Z0-9_.:-]+ (1-64), tool name [a-zA-Z0-9_-]+ (1-64).
bool valid_ident(std::string_view v, std::string_view extra) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}
bool valid_tool_name(std::string_view v) { return valid_ident(v, "_-"); }
bool valid_tool_use_id(std::string_view v) { return valid_ident(v, "_.:-"); }

}  // namespace

Status validate_request_tools(const std::vector<ToolSpec>& tools, const ToolChoice& choice,
                              const std::vector<Message>& messages) {
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const auto& t = tools[i];
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!valid_tool_name(t.name))
      return fail(ErrorKind::invalid_input, at + ": a tool name must be 1-64 characters of a-z A-Z 0-9 _ - (got \"" + t.name + "\")");
    if (t.input_schema.empty() || t.input_schema.front() != '{')
      return fail(ErrorKind::invalid_input, at + ": the input schema must be a JSON object");
    for (std::size_t j = 0; j < i; ++j)
      if (tools[j].name == t.name) return fail(ErrorKind::invalid_input, at + ": tool names must be unique (\"" + t.name + "\")");
  }
  const auto mode = choice.mode;
  if ((mode == ToolChoice::Mode::any || mode == ToolChoice::Mode::tool) && tools.empty())
    return fail(ErrorKind::invalid_input, "tool_choice asks for a tool call, but no tools are given");
  if (mode == ToolChoice::Mode::tool) {
    bool found = false;
    for (const auto& t : tools) found = found || t.name == choice.name;
    if (!found) return fail(ErrorKind::invalid_input, "tool_choice names the tool \"" + choice.name + "\", which is not among the tools");
  }
  if (has_tool_blocks(messages)) {
    if (tools.empty())
      return fail(ErrorKind::invalid_input,
                  "the messages hold tool calls or tool results, but no tools are given: Bedrock requires the tool "
                  "definitions with them");
    if (mode == ToolChoice::Mode::none)
      return fail(ErrorKind::invalid_input,
                  "tool_choice \"none\" cannot be honoured when the messages hold tool calls or tool results: Bedrock "
                  "has no such choice and needs the tools sent with them; use \"auto\"");
  }
  return {};
}

namespace {

bool in_unit_range(double v) { return std::isfinite(v) && v >= 0.0 && v <= 1.0; }

void write(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        out += boost::json::serialize(boost::json::string_view(kv.key()));
        out.push_back(':');
        write(out, kv.value());
      }
      out.push_back('}');
      break;
    }
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write(out, e);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {  // JSON has no NaN/Inf; validation keeps them out of requests
        out += "null";
        break;
      }
      std::array<char, 64> buf{};
      auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
      out.append(buf.data(), ec == std::errc{} ? end : buf.data());
      break;
    }
    default: out += boost::json::serialize(v); break;
  }
}

}  // namespace

namespace {
// A tool result's content: non-empty text or JSON, images and documents as in a user message.
Status validate_tool_result_content(const ContentBlock& b, const std::string& at) {
  for (const auto& part : b.content) {
    switch (part.type) {
      case ContentBlock::Type::text:
        if (part.text.empty()) return fail(ErrorKind::invalid_input, at + ": a tool result's text must be non-empty text");
        break;
      case ContentBlock::Type::image:
        if (!one_of(part.format, kImageFormats) || part.bytes.empty())
          return fail(ErrorKind::invalid_input, at + ": a tool result's image must be png, jpeg, gif or webp with bytes");
        break;
      case ContentBlock::Type::document:
        if (!one_of(part.format, kDocumentFormats) || part.bytes.empty() || part.name.empty() || part.name.size() > 200)
          return fail(ErrorKind::invalid_input, at + ": a tool result's document needs a known format, bytes and a 1-200 character name");
        break;
      case ContentBlock::Type::tool_use:
      case ContentBlock::Type::tool_result:
      case ContentBlock::Type::reasoning:
        return fail(ErrorKind::invalid_input, at + ": a tool result holds text, JSON, images and documents only");
    }
  }
  return {};
}
}  // namespace

Status validate_request(const ChatRequest& request) {
  if (auto ok = validate_model_id(request.model_id); !ok) return ok;
  if (request.messages.empty()) return fail(ErrorKind::invalid_input, "messages must not be empty");
  if (request.messages.front().role != "user")
    return fail(ErrorKind::invalid_input, "the first message must have role \"user\"");
  if (request.max_tokens < 1)
    return fail(ErrorKind::invalid_input, "max_tokens must be at least 1 (got " + std::to_string(request.max_tokens) + ")");
  if (request.temperature && !in_unit_range(*request.temperature))
    return fail(ErrorKind::invalid_input, "temperature must be between 0 and 1");
  if (request.top_p && !in_unit_range(*request.top_p))
    return fail(ErrorKind::invalid_input, "top_p must be between 0 and 1");
  for (const auto& s : request.stop_sequences)
    if (s.empty()) return fail(ErrorKind::invalid_input, "stop sequences must not be empty strings");
  if (request.reasoning) {
    const int budget = request.reasoning->budget_tokens;
    if (budget < kMinReasoningBudget || budget >= request.max_tokens)
      return fail(ErrorKind::invalid_input, "the reasoning budget must be at least " + std::to_string(kMinReasoningBudget) +
                                                " tokens and less than max_tokens (got " + std::to_string(budget) +
                                                " with max_tokens " + std::to_string(request.max_tokens) + ")");
  }
  if (auto ok = validate_request_tools(request.tools, request.tool_choice, request.messages); !ok) return ok;
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    const auto& m = request.messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (m.role != "user" && m.role != "assistant")
      return fail(ErrorKind::invalid_input, where + ".role must be \"user\" or \"assistant\" (got \"" + m.role + "\")");
    if (m.content.empty()) return fail(ErrorKind::invalid_input, where + " has no content");
    for (std::size_t j = 0; j < m.content.size(); ++j) {
      const auto& b = m.content[j];
      const std::string at = where + ".content[" + std::to_string(j) + "]";
      switch (b.type) {
        case ContentBlock::Type::text:
          if (b.text.empty()) return fail(ErrorKind::invalid_input, at + ": text must not be empty");
          break;
        case ContentBlock::Type::tool_use:
          if (m.role != "assistant") return fail(ErrorKind::invalid_input, at + ": tool calls are only allowed in assistant messages");
          if (!valid_tool_use_id(b.tool_use_id))
            return fail(ErrorKind::invalid_input, at + ": a tool call id must be 1-64 characters of a-z A-Z 0-9 _ . : - (got \"" + b.tool_use_id + "\")");
          if (!valid_tool_name(b.name))
            return fail(ErrorKind::invalid_input, at + ": a tool name must be 1-64 characters of a-z A-Z 0-9 _ - (got \"" + b.name + "\")");
          if (b.input.empty() || b.input.front() != '{')
            return fail(ErrorKind::invalid_input, at + ": a tool call's input must be a JSON object");
          break;
        case ContentBlock::Type::tool_result:
          if (m.role != "user") return fail(ErrorKind::invalid_input, at + ": tool results are only allowed in user messages");
          if (!valid_tool_use_id(b.tool_use_id))
            return fail(ErrorKind::invalid_input, at + ": a tool call id must be 1-64 characters of a-z A-Z 0-9 _ . : - (got \"" + b.tool_use_id + "\")");
          if (auto ok = validate_tool_result_content(b, at); !ok) return ok;
          break;
        case ContentBlock::Type::reasoning:
          if (m.role != "assistant") return fail(ErrorKind::invalid_input, at + ": reasoning is only allowed in assistant messages");
          if (b.text.empty() == b.bytes.empty())
            return fail(ErrorKind::invalid_input, at + ": a reasoning block holds either its text (with its signature) or redacted content");
          break;
        case ContentBlock::Type::image:
          if (m.role != "user") return fail(ErrorKind::invalid_input, at + ": images are only allowed in user messages");
          if (!one_of(b.format, kImageFormats))
            return fail(ErrorKind::invalid_input, at + ": image format must be png, jpeg, gif or webp (got \"" + b.format + "\")");
          if (b.bytes.empty()) return fail(ErrorKind::invalid_input, at + ": image has no bytes");
          break;
        case ContentBlock::Type::document:
          if (m.role != "user") return fail(ErrorKind::invalid_input, at + ": documents are only allowed in user messages");
          if (!one_of(b.format, kDocumentFormats))
            return fail(ErrorKind::invalid_input,
                        at + ": document format must be pdf, csv, doc, docx, xls, xlsx, html, txt or md (got \"" + b.format + "\")");
          if (b.name.empty() || b.name.size() > 200)
            return fail(ErrorKind::invalid_input, at + ": document name must be 1-200 characters");
          if (b.bytes.empty()) return fail(ErrorKind::invalid_input, at + ": document has no bytes");
          break;
      }
    }
  }
  return {};
}

bool has_tool_blocks(const std::vector<Message>& messages) {
  for (const auto& m : messages)
    for (const auto& b : m.content)
      if (b.type == ContentBlock::Type::tool_use || b.type == ContentBlock::Type::tool_result) return true;
  return false;
}

void StreamAccumulator::add_reasoning(const StreamDelta& piece) {
  using Kind = StreamDelta::Kind;
  if (piece.kind != Kind::reasoning_text && piece.kind != Kind::reasoning_signature && piece.kind != Kind::reasoning_redacted)
    return;
  ContentBlock* block = nullptr;
  for (std::size_t i = 0; i < reasoning.size(); ++i)
    if (reasoning_indexes[i] == piece.block_index) block = &reasoning[i];
  if (!block) {
    reasoning.push_back(ContentBlock{.type = ContentBlock::Type::reasoning});
    reasoning_indexes.push_back(piece.block_index);
    block = &reasoning.back();
  }
  switch (piece.kind) {
    case Kind::reasoning_text: block->text += piece.text; break;
    case Kind::reasoning_signature: block->signature += piece.text; break;
    case Kind::reasoning_redacted:  // base64 as on the wire
      if (auto bytes = base64_decode(piece.text)) block->bytes += *bytes;
      break;
    default: break;
  }
}

ChatResponse StreamAccumulator::to_response() const {
  ChatResponse r;
  r.reasoning = reasoning;
  r.text = text;
  r.tool_uses = tool_uses;
  for (auto& t : r.tool_uses)
    if (t.input.empty()) t.input = "{}";  // a tool without input parameters streams no input
  r.stop_reason = stop_reason;
  r.usage = usage;
  r.latency_ms = latency_ms;
  r.guardrail_trace = guardrail_trace;
  return r;
}

namespace detail {

boost::json::array string_array(const std::vector<std::string>& items) {
  boost::json::array out;
  for (const auto& s : items) out.push_back(boost::json::string(s));
  return out;
}

std::size_t encoded_size_hint(const ChatRequest& request) {
  std::size_t size = 256 + request.system.size();
  for (const auto& m : request.messages)
    for (const auto& b : m.content)
      size += 64 + b.text.size() + b.name.size() + b.bytes.size() * 4 / 3 + b.input.size() + b.signature.size();
  for (const auto& t : request.tools) size += 96 + t.name.size() + t.description.size() + t.input_schema.size();
  return size;
}

std::string to_json(const boost::json::value& v) {
  std::string out;
  write(out, v);
  return out;
}

Error malformed(std::string_view what, std::string_view detail) {
  Error e = Error::make(ErrorKind::upstream, "malformed " + std::string(what) + ": " + std::string(detail));
  return e;
}

Result<boost::json::object> parse_object(std::string_view text, std::string_view what) {
  return parse_object(text, what, {});
}

Result<boost::json::object> parse_object(std::string_view text, std::string_view what, boost::json::storage_ptr sp) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec, std::move(sp));
  if (ec) return std::unexpected(malformed(what, "invalid JSON (" + ec.message() + ")"));
  if (!v.is_object()) return std::unexpected(malformed(what, "expected a JSON object"));
  return std::move(v.get_object());
}

std::int64_t int_field(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  const auto& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
  return 0;
}

std::string string_field(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

const boost::json::object* object_field(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
}

}  // namespace detail
}  // namespace ba::bedrock
