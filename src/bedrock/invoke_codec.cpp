#include "bedrock/invoke_codec.hpp"

#include <boost/json.hpp>
#include <optional>

#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::bedrock::invoke {
namespace json = boost::json;
using detail::int_field;
using detail::object_field;
using detail::parse_object;
using detail::string_field;

namespace {

constexpr std::string_view kAnthropicVersion = "bedrock-2023-05-31";

// Structural UTF-8 check (lead byte + continuation bytes); enough to keep binary out of a text source.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    if (c < 0x80) extra = 0;
    else if ((c & 0xE0) == 0xC0 && c >= 0xC2) extra = 1;
    else if ((c & 0xF0) == 0xE0) extra = 2;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4) extra = 3;
    else return false;
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += extra + 1;
  }
  return true;
}

std::optional<std::int64_t> opt_int(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
  return std::nullopt;
}

Error invalid(std::string msg) { return Error::make(ErrorKind::invalid_input, std::move(msg)); }

// ---- Claude ----
// Claude's native body, written straight to text as the Converse body is (util/json_writer.hpp), not built
// as a DOM first. Tool inputs and schemas are compact JSON objects (validate_request, the API layers) and
// are written as they are.

// Prompt caching in Claude's native body: the marked block (or tool, or the system prompt) carries
// cache_control, where Converse puts a cachePoint block after it.
void write_ephemeral(JsonWriter& w) { w.key("cache_control").begin_object().member("type", "ephemeral").end_object(); }

Status json_object_text(std::string_view text, std::string_view what) {
  if (text.empty() || text.front() != '{') return fail(invalid(std::string(what) + " must be a JSON object"));
  return {};
}

Status write_claude_block(JsonWriter& w, const ContentBlock& b) {
  switch (b.type) {
    case ContentBlock::Type::text: w.begin_object().member("type", "text").member("text", b.text); break;
    case ContentBlock::Type::image:
      w.begin_object().member("type", "image").key("source").begin_object();
      w.member("type", "base64").member("media_type", "image/" + b.format).member("data", base64_encode(b.bytes));
      w.end_object();
      break;
    case ContentBlock::Type::document: {
      const bool text_doc = b.format == "txt" || b.format == "md" || b.format == "csv" || b.format == "html";
      if (b.format != "pdf" && !text_doc)
        return fail(invalid("the Claude InvokeModel body takes pdf and text documents only; \"" + b.name + "\" is " +
                            b.format + ": use the Converse API for it"));
      if (text_doc && !valid_utf8(b.bytes))
        return fail(invalid("document \"" + b.name + "\" (" + b.format + ") is not valid UTF-8 text"));
      w.begin_object().member("type", "document").key("source").begin_object();
      if (text_doc) w.member("type", "text").member("media_type", "text/plain").member("data", b.bytes);
      else w.member("type", "base64").member("media_type", "application/pdf").member("data", base64_encode(b.bytes));
      w.end_object();
      if (!b.name.empty()) w.member("title", b.name);
      break;
    }
    case ContentBlock::Type::tool_use:
      if (auto ok = json_object_text(b.input, "a tool call's input"); !ok) return ok;
      w.begin_object().member("type", "tool_use").member("id", b.tool_use_id).member("name", b.name).key("input").raw(b.input);
      break;
    case ContentBlock::Type::tool_result:
      w.begin_object().member("type", "tool_result").member("tool_use_id", b.tool_use_id).key("content").begin_array();
      for (const auto& part : b.content) {
        if (part.type == ContentBlock::Type::text) {  // a JSON document too: Claude's tool_result has no JSON block
          w.begin_object().member("type", "text").member("text", part.text).end_object();
          continue;
        }
        if (auto ok = write_claude_block(w, part); !ok) return ok;  // image, document
      }
      w.end_array();
      if (b.is_error) w.member("is_error", true);
      break;
    case ContentBlock::Type::reasoning:  // sent back unchanged
      if (b.is_redacted_reasoning()) {
        w.begin_object().member("type", "redacted_thinking").member("data", base64_encode(b.bytes));
      } else {
        w.begin_object().member("type", "thinking").member("thinking", b.text).member("signature", b.signature);
      }
      break;
  }
  if (b.cache_point) write_ephemeral(w);
  w.end_object();
  return {};
}

// Claude's native tools and tool_choice (none: no tools sent, as with Converse).
Status write_claude_tools(JsonWriter& w, const ChatRequest& r) {
  if (r.tools.empty() || r.tool_choice.mode == ToolChoice::Mode::none) return {};
  w.key("tools").begin_array();
  for (const auto& t : r.tools) {
    if (auto ok = json_object_text(t.input_schema, "a tool's input schema"); !ok) return ok;
    w.begin_object().member("name", t.name);
    if (!t.description.empty()) w.member("description", t.description);
    w.key("input_schema").raw(t.input_schema);
    if (t.cache_point) write_ephemeral(w);
    w.end_object();
  }
  w.end_array();
  switch (r.tool_choice.mode) {
    case ToolChoice::Mode::auto_: w.key("tool_choice").begin_object().member("type", "auto").end_object(); break;
    case ToolChoice::Mode::any: w.key("tool_choice").begin_object().member("type", "any").end_object(); break;
    case ToolChoice::Mode::tool:
      w.key("tool_choice").begin_object().member("type", "tool").member("name", r.tool_choice.name).end_object();
      break;
    case ToolChoice::Mode::none: break;
  }
  return {};
}

Result<std::string> claude_request(const ChatRequest& r) {
  std::string out;
  out.reserve(detail::encoded_size_hint(r));
  JsonWriter w(out);
  w.begin_object().member("anthropic_version", kAnthropicVersion).member("max_tokens", r.max_tokens);
  if (!r.system.empty() && r.system_cache_point) {
    w.key("system").begin_array().begin_object().member("type", "text").member("text", r.system);
    write_ephemeral(w);
    w.end_object().end_array();
  } else if (!r.system.empty()) {
    w.member("system", r.system);
  }
  w.key("messages").begin_array();
  for (const auto& m : r.messages) {
    w.begin_object().member("role", m.role).key("content").begin_array();
    for (const auto& b : m.content)
      if (auto ok = write_claude_block(w, b); !ok) return std::unexpected(std::move(ok.error()));
    w.end_array().end_object();
  }
  w.end_array();
  if (r.temperature) w.member("temperature", *r.temperature);
  if (r.top_p) w.member("top_p", *r.top_p);
  if (r.top_k) w.member("top_k", *r.top_k);
  if (!r.stop_sequences.empty()) {
    w.key("stop_sequences").begin_array();
    for (const auto& s : r.stop_sequences) w.value(s);
    w.end_array();
  }
  if (auto ok = write_claude_tools(w, r); !ok) return std::unexpected(std::move(ok.error()));
  if (r.reasoning)
    w.key("thinking").begin_object().member("type", "enabled").member("budget_tokens", r.reasoning->budget_tokens).end_object();
  w.end_object();
  return out;
}

void claude_usage(Usage& u, const json::object& o) {
  if (auto v = opt_int(o, "input_tokens")) u.input_tokens = *v;
  if (auto v = opt_int(o, "output_tokens")) u.output_tokens = *v;
  if (auto v = opt_int(o, "cache_read_input_tokens")) u.cache_read_input_tokens = *v;
  if (auto v = opt_int(o, "cache_creation_input_tokens")) u.cache_write_input_tokens = *v;
}

Result<ChatResponse> claude_response(const json::object& root) {
  if (string_field(root, "type") == "error") {
    const auto* err = object_field(root, "error");
    return std::unexpected(detail::malformed("Claude response", "error: " + (err ? string_field(*err, "message") : "")));
  }
  auto content = root.find("content");
  if (content == root.end() || !content->value().is_array())
    return std::unexpected(detail::malformed("Claude response", "no content array"));
  ChatResponse r;
  for (const auto& block : content->value().get_array()) {
    if (!block.is_object()) continue;
    const auto& b = block.get_object();
    const std::string type = string_field(b, "type");
    if (type == "text") r.text += string_field(b, "text");
    if (type == "thinking") r.reasoning.push_back(ContentBlock::make_reasoning(string_field(b, "thinking"), string_field(b, "signature")));
    if (type == "redacted_thinking") {
      // Claude's `data` is the redacted content's base64 (Converse's redactedContent blob, as bytes).
      auto bytes = base64_decode(string_field(b, "data"));
      if (!bytes || bytes->empty()) return std::unexpected(detail::malformed("Claude response", "redacted_thinking data is not base64"));
      r.reasoning.push_back(ContentBlock::make_redacted_reasoning(std::move(*bytes)));
    }
    if (type == "tool_use") {
      auto input = b.find("input");
      r.tool_uses.push_back(ContentBlock::make_tool_use(
          string_field(b, "id"), string_field(b, "name"),
          input == b.end() || input->value().is_null() ? "{}" : detail::to_json(input->value())));
    }
  }
  r.stop_reason = string_field(root, "stop_reason");
  if (const auto* usage = object_field(root, "usage")) claude_usage(r.usage, *usage);
  return r;
}

void invocation_metrics(StreamAccumulator& acc, const json::object& o) {
  const auto* m = object_field(o, "amazon-bedrock-invocationMetrics");
  if (!m) return;
  if (auto v = opt_int(*m, "inputTokenCount")) acc.usage.input_tokens = *v;
  if (auto v = opt_int(*m, "outputTokenCount")) acc.usage.output_tokens = *v;
  if (auto v = opt_int(*m, "cacheReadInputTokenCount")) acc.usage.cache_read_input_tokens = *v;
  if (auto v = opt_int(*m, "cacheWriteInputTokenCount")) acc.usage.cache_write_input_tokens = *v;
  if (auto v = opt_int(*m, "invocationLatency")) acc.latency_ms = *v;
  acc.has_metadata = true;
}

Result<std::optional<StreamDelta>> claude_chunk(StreamAccumulator& acc, const json::object& ev) {
  using Kind = StreamDelta::Kind;
  const std::string type = string_field(ev, "type");
  const std::int64_t index = int_field(ev, "index");
  std::optional<StreamDelta> delta;
  if (type == "message_start") {
    if (const auto* msg = object_field(ev, "message"))
      if (const auto* usage = object_field(*msg, "usage")) claude_usage(acc.usage, *usage);
  } else if (type == "content_block_start") {
    const auto* block = object_field(ev, "content_block");
    const std::string btype = block ? string_field(*block, "type") : "";
    if (btype == "text") {
      if (auto t = string_field(*block, "text"); !t.empty()) delta = StreamDelta::make_text(std::move(t), index);
    } else if (btype == "tool_use") {
      acc.tool_uses.push_back(ContentBlock::make_tool_use(string_field(*block, "id"), string_field(*block, "name"), {}));
      acc.tool_indexes.push_back(index);
      delta = StreamDelta{.kind = Kind::tool_use_start, .block_index = index,
                          .tool_use_id = acc.tool_uses.back().tool_use_id, .name = acc.tool_uses.back().name};
    } else if (btype == "thinking") {
      if (auto t = string_field(*block, "thinking"); !t.empty())
        delta = StreamDelta{.kind = Kind::reasoning_text, .block_index = index, .text = std::move(t)};
    } else if (btype == "redacted_thinking") {
      if (auto data = string_field(*block, "data"); !data.empty())
        delta = StreamDelta{.kind = Kind::reasoning_redacted, .block_index = index, .text = std::move(data)};
    }
  } else if (type == "content_block_delta") {
    const auto* d = object_field(ev, "delta");
    const std::string dtype = d ? string_field(*d, "type") : "";
    if (dtype == "text_delta") {
      if (auto t = string_field(*d, "text"); !t.empty()) delta = StreamDelta::make_text(std::move(t), index);
    } else if (dtype == "input_json_delta") {
      StreamDelta piece{.kind = Kind::tool_use_input, .block_index = index, .text = string_field(*d, "partial_json")};
      for (std::size_t i = 0; i < acc.tool_uses.size(); ++i) {
        if (acc.tool_indexes[i] != index) continue;
        acc.tool_uses[i].input += piece.text;
        piece.tool_use_id = acc.tool_uses[i].tool_use_id;
        piece.name = acc.tool_uses[i].name;
      }
      if (!piece.text.empty()) delta = std::move(piece);
    } else if (dtype == "thinking_delta") {
      if (auto t = string_field(*d, "thinking"); !t.empty())
        delta = StreamDelta{.kind = Kind::reasoning_text, .block_index = index, .text = std::move(t)};
    } else if (dtype == "signature_delta") {
      if (auto sig = string_field(*d, "signature"); !sig.empty())
        delta = StreamDelta{.kind = Kind::reasoning_signature, .block_index = index, .text = std::move(sig)};
    }
  } else if (type == "message_delta") {
    if (const auto* d = object_field(ev, "delta")) {
      if (auto reason = string_field(*d, "stop_reason"); !reason.empty()) acc.stop_reason = reason;
    }
    if (const auto* usage = object_field(ev, "usage")) claude_usage(acc.usage, *usage);
  } else if (type == "message_stop") {
    acc.finished = true;
  } else if (type == "error") {
    const auto* err = object_field(ev, "error");
    std::string etype = err ? string_field(*err, "type") : "";
    std::string message = "Claude stream error" + (etype.empty() ? "" : " " + etype) +
                          (err ? ": " + string_field(*err, "message") : "");
    Error e = Error::make(ErrorKind::upstream, std::move(message));
    e.code = etype;
    if (etype == "overloaded_error") {
      e.kind = ErrorKind::unavailable;
      e.retryable = true;
    } else if (etype == "rate_limit_error") {
      e.kind = ErrorKind::throttled;
      e.retryable = true;
      e.throttle = true;
    }
    return std::unexpected(std::move(e));
  }
  invocation_metrics(acc, ev);
  if (delta && delta->kind == Kind::text) acc.text += delta->text;
  return delta;
}

// ---- Titan ----

std::string block_text(const Message& m) {
  std::string out;
  for (const auto& b : m.content) {
    if (b.type != ContentBlock::Type::text) continue;
    if (!out.empty()) out += "\n";
    out += b.text;
  }
  return out;
}

Result<std::string> titan_request(const ChatRequest& r) {
  if (!r.tools.empty() || has_tool_blocks(r.messages))
    return std::unexpected(invalid("the model does not support tools (Amazon Titan Text); use a model that does "
                                   "(e.g. Anthropic Claude 3+)"));
  for (const auto& m : r.messages)
    for (const auto& b : m.content)
      if (b.type != ContentBlock::Type::text)
        return std::unexpected(invalid(std::string("Amazon Titan Text models accept text only: remove the ") +
                                       (b.type == ContentBlock::Type::image      ? "image"
                                        : b.type == ContentBlock::Type::reasoning ? "reasoning"
                                                                                  : "document") +
                                       " or use a model that supports it (e.g. Anthropic Claude 3+)"));
  if (r.top_k) return std::unexpected(invalid("Amazon Titan Text models take no top_k"));
  if (r.reasoning) return std::unexpected(invalid("Amazon Titan Text models do not reason (no extended thinking)"));
  std::string out;
  JsonWriter w(out);
  w.begin_object().member("inputText", titan_transcript(r)).key("textGenerationConfig").begin_object();
  w.member("maxTokenCount", r.max_tokens);
  if (r.temperature) w.member("temperature", *r.temperature);
  if (r.top_p) w.member("topP", *r.top_p);
  if (!r.stop_sequences.empty()) {
    w.key("stopSequences").begin_array();
    for (const auto& s : r.stop_sequences) w.value(s);
    w.end_array();
  }
  w.end_object().end_object();
  return out;
}

Result<ChatResponse> titan_response(const json::object& root) {
  auto results = root.find("results");
  if (results == root.end() || !results->value().is_array() || results->value().get_array().empty())
    return std::unexpected(detail::malformed("Titan response", "no results"));
  ChatResponse r;
  r.usage.input_tokens = int_field(root, "inputTextTokenCount");
  for (const auto& item : results->value().get_array()) {
    if (!item.is_object()) return std::unexpected(detail::malformed("Titan response", "a result is not an object"));
    const auto& o = item.get_object();
    r.text += string_field(o, "outputText");
    r.usage.output_tokens += int_field(o, "tokenCount");
    if (r.stop_reason.empty()) r.stop_reason = titan_stop_reason(string_field(o, "completionReason"));
  }
  return r;
}

Result<std::optional<StreamDelta>> titan_chunk(StreamAccumulator& acc, const json::object& ev) {
  std::string text = string_field(ev, "outputText");
  if (auto v = opt_int(ev, "inputTextTokenCount")) acc.usage.input_tokens = *v;
  if (auto v = opt_int(ev, "totalOutputTextTokenCount")) acc.usage.output_tokens = *v;
  if (auto reason = string_field(ev, "completionReason"); !reason.empty()) {
    acc.stop_reason = titan_stop_reason(reason);
    acc.finished = true;
  }
  invocation_metrics(acc, ev);
  if (text.empty()) return std::nullopt;
  acc.text += text;
  return StreamDelta::make_text(std::move(text), int_field(ev, "index"));
}

Error no_family(std::string_view what) {
  return invalid(std::string(what) +
                 ": the model id does not name an Anthropic Claude or Amazon Titan Text model, so there is no "
                 "InvokeModel body for it (provisioned-throughput, custom-model and application-inference-profile "
                 "ARNs hide the base model); use the Converse API (api = converse)");
}

}  // namespace

std::string titan_stop_reason(std::string_view reason) {
  if (reason == "FINISH" || reason == "FINISHED") return "end_turn";
  if (reason == "LENGTH") return "max_tokens";
  if (reason == "STOP_CRITERIA_MET") return "stop_sequence";
  if (reason == "CONTENT_FILTERED") return "content_filtered";
  return to_lower(reason);
}

std::string titan_transcript(const ChatRequest& r) {
  std::string out;
  if (!r.system.empty()) out += r.system + "\n\n";
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    const auto& m = r.messages[i];
    const bool last = i + 1 == r.messages.size();
    out += m.role == "assistant" ? "Bot: " : "User: ";
    out += block_text(m);
    if (!last) out += "\n";
  }
  // A trailing assistant message is a prefill the model continues; otherwise the bot's turn starts.
  if (r.messages.empty() || r.messages.back().role != "assistant") out += "\nBot:";
  return out;
}

Result<std::string> encode_request(const ChatRequest& request, ModelFamily family) {
  if (request.output_format) {
    return fail(ErrorKind::invalid_input, "structured output (a JSON schema for the reply) is sent through the Converse "
                                          "API only; this agent calls InvokeModel (--api invoke)");
  }
  switch (family) {
    case ModelFamily::anthropic_claude: return claude_request(request);
    case ModelFamily::amazon_titan_text: return titan_request(request);
    case ModelFamily::other: break;
  }
  return std::unexpected(no_family("model \"" + request.model_id + "\""));
}

// A guardrail given in the X-Amzn-Bedrock-Guardrail* headers that blocked the input or the answer marks
// the native body (or the stream chunk) with "amazon-bedrock-guardrailAction": "INTERVENED"; the text is
// then the guardrail's blocked message. Its stop reason is Converse's: guardrail_intervened.
namespace {
constexpr std::string_view kGuardrailIntervened = "guardrail_intervened";
bool guardrail_intervened(const json::object& o) { return string_field(o, "amazon-bedrock-guardrailAction") == "INTERVENED"; }
}  // namespace

Result<ChatResponse> decode_response(std::string_view body, ModelFamily family) {
  if (family == ModelFamily::other) return std::unexpected(no_family("InvokeModel response"));
  // What is kept of the reply is copied out: its DOM can live in a buffer on the stack (as Converse's).
  unsigned char scratch[4096];
  json::monotonic_resource arena(scratch, sizeof scratch);
  auto parsed = parse_object(body, family == ModelFamily::anthropic_claude ? "Claude response" : "Titan response", &arena);
  if (!parsed) return std::unexpected(parsed.error());
  auto r = family == ModelFamily::anthropic_claude ? claude_response(*parsed) : titan_response(*parsed);
  if (r && guardrail_intervened(*parsed)) r->stop_reason = kGuardrailIntervened;
  return r;
}

Result<std::optional<StreamDelta>> apply_model_chunk(StreamAccumulator& acc, std::string_view model_json,
                                                     ModelFamily family) {
  if (family == ModelFamily::other) return std::unexpected(no_family("InvokeModel stream"));
  auto parsed = parse_object(model_json, family == ModelFamily::anthropic_claude ? "Claude stream chunk" : "Titan stream chunk");
  if (!parsed) return std::unexpected(parsed.error());
  const bool intervened = acc.stop_reason == kGuardrailIntervened || guardrail_intervened(*parsed);
  auto delta = family == ModelFamily::anthropic_claude ? claude_chunk(acc, *parsed) : titan_chunk(acc, *parsed);
  if (intervened) acc.stop_reason = kGuardrailIntervened;  // later chunks' stop reasons do not undo it
  return delta;
}

Result<std::optional<StreamDelta>> apply_stream_chunk(StreamAccumulator& acc, std::string_view chunk_payload,
                                                      ModelFamily family) {
  auto wrapper = parse_object(chunk_payload, "InvokeModelWithResponseStream chunk");
  if (!wrapper) return std::unexpected(wrapper.error());
  auto it = wrapper->find("bytes");
  if (it == wrapper->end() || !it->value().is_string())
    return std::unexpected(detail::malformed("InvokeModelWithResponseStream chunk", "no \"bytes\" string"));
  auto decoded = base64_decode(std::string_view(it->value().get_string()));
  if (!decoded) return std::unexpected(detail::malformed("InvokeModelWithResponseStream chunk", "\"bytes\" is not base64"));
  return apply_model_chunk(acc, *decoded, family);
}

}  // namespace ba::bedrock::invoke
