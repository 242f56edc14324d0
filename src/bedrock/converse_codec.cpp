#include "bedrock/converse_codec.hpp"

#include <boost/json.hpp>
#include <optional>

#include "util/encoding.hpp"
#include "util/json_writer.hpp"

namespace ba::bedrock::converse {
namespace json = boost::json;
using detail::int_field;
using detail::object_field;
using detail::parse_object;
using detail::string_field;
namespace {

void write_block(JsonWriter& w, const ContentBlock& b) {
  w.begin_object();
  switch (b.type) {
    case ContentBlock::Type::text: w.member("text", b.text); break;
    case ContentBlock::Type::image:
      w.key("image").begin_object();
      w.member("format", b.format);
      w.key("source").begin_object().member("bytes", base64_encode(b.bytes)).end_object();
      w.end_object();
      break;
    case ContentBlock::Type::document:
      w.key("document").begin_object();  // member order as the official JS SDK writes it
      w.member("name", b.name);
      w.key("source").begin_object().member("bytes", base64_encode(b.bytes)).end_object();
      w.member("format", b.format);
      w.end_object();
      break;
    case ContentBlock::Type::tool_use:  // member order as the official JS SDK writes it
      w.key("toolUse").begin_object();
      w.member("toolUseId", b.tool_use_id).member("name", b.name).key("input").raw(b.input);
      w.end_object();
      break;
    case ContentBlock::Type::tool_result:
      w.key("toolResult").begin_object();
      w.member("toolUseId", b.tool_use_id);
      w.key("content").begin_array();
      for (const auto& part : b.content) {
        if (part.is_json()) {
          w.begin_object().key("json").raw(part.text).end_object();
        } else {
          write_block(w, part);  // text, image, document: the same members in ToolResultContentBlock
        }
      }
      w.end_array();
      if (b.is_error) w.member("status", "error");
      w.end_object();
      break;
    case ContentBlock::Type::reasoning:  // sent back unchanged; member order as the official JS SDK writes it
      w.key("reasoningContent").begin_object();
      if (b.is_redacted_reasoning()) {
        w.member("redactedContent", base64_encode(b.bytes));
      } else {
        w.key("reasoningText").begin_object().member("text", b.text);
        if (!b.signature.empty()) w.member("signature", b.signature);
        w.end_object();
      }
      w.end_object();
      break;
  }
  w.end_object();
}

// additionalModelRequestFields (after guardrailConfig, as the official JS SDK writes it): the model's own
// parameters, top_k and extended thinking.
void write_additional_fields(JsonWriter& w, const ChatRequest& request) {
  if (!request.top_k && !request.reasoning) return;
  w.key("additionalModelRequestFields").begin_object();
  if (request.top_k) w.member("top_k", *request.top_k);
  if (request.reasoning) {
    w.key("thinking").begin_object().member("type", "enabled").member("budget_tokens", request.reasoning->budget_tokens);
    w.end_object();
  }
  w.end_object();
}

// A reply's reasoningContent block: {reasoningText: {text, signature}} or {redactedContent: base64}.
std::optional<ContentBlock> reasoning_of(const json::object& rc) {
  if (const auto* rt = object_field(rc, "reasoningText"))
    return ContentBlock::make_reasoning(string_field(*rt, "text"), string_field(*rt, "signature"));
  if (auto red = rc.find("redactedContent"); red != rc.end() && red->value().is_string()) {
    auto bytes = base64_decode(std::string_view(red->value().get_string()));
    if (bytes && !bytes->empty()) return ContentBlock::make_redacted_reasoning(std::move(*bytes));
  }
  return std::nullopt;
}

// Prompt caching: {"cachePoint": {"type": "default"}}, after the block, tool or system prompt it marks.
void write_cache_point(JsonWriter& w) {
  w.begin_object().key("cachePoint").begin_object().member("type", "default").end_object().end_object();
}

// toolConfig (after inferenceConfig, as the official JS SDK writes it). Tool choice none: no toolConfig
// at all (validate_request refuses none when the messages hold tool blocks, which need it).
void write_tool_config(JsonWriter& w, const ChatRequest& request) {
  if (request.tools.empty() || request.tool_choice.mode == ToolChoice::Mode::none) return;
  w.key("toolConfig").begin_object();
  w.key("tools").begin_array();
  for (const auto& t : request.tools) {
    w.begin_object().key("toolSpec").begin_object();
    w.member("name", t.name);
    w.key("inputSchema").begin_object().key("json").raw(t.input_schema).end_object();
    if (!t.description.empty()) w.member("description", t.description);
    w.end_object().end_object();
    if (t.cache_point) write_cache_point(w);
  }
  w.end_array();
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::auto_: w.key("toolChoice").begin_object().key("auto").begin_object().end_object().end_object(); break;
    case ToolChoice::Mode::any: w.key("toolChoice").begin_object().key("any").begin_object().end_object().end_object(); break;
    case ToolChoice::Mode::tool:
      w.key("toolChoice").begin_object().key("tool").begin_object().member("name", request.tool_choice.name).end_object().end_object();
      break;
    case ToolChoice::Mode::none: break;
  }
  w.end_object();
}

// guardrailConfig (after toolConfig, as the official JS SDK writes it); the same body for ConverseStream
// (its streamProcessingMode is left to Bedrock's default, sync).
void write_guardrail_config(JsonWriter& w, const ChatRequest& request) {
  if (!request.guardrail) return;
  const GuardrailConfig& g = *request.guardrail;
  w.key("guardrailConfig").begin_object();
  w.member("guardrailIdentifier", g.identifier).member("guardrailVersion", g.version);
  if (!g.trace.empty()) w.member("trace", g.trace);
  w.end_object();
}

// outputConfig (last, as the official JS SDK writes it): structured output, the schema as a string.
void write_output_config(JsonWriter& w, const ChatRequest& request) {
  if (!request.output_format) return;
  const OutputFormat& f = *request.output_format;
  w.key("outputConfig").begin_object().key("textFormat").begin_object();
  w.member("type", "json_schema");
  w.key("structure").begin_object().key("jsonSchema").begin_object();
  w.member("schema", f.schema);
  if (!f.name.empty()) w.member("name", f.name);
  if (!f.description.empty()) w.member("description", f.description);
  w.end_object().end_object();
  w.end_object().end_object();
}

// A reply's toolUse block: {toolUseId, name, input (a JSON document)}.
ContentBlock tool_use_of(const json::object& tu) {
  auto input = tu.find("input");
  std::string in = input == tu.end() || input->value().is_null() ? "{}" : detail::to_json(input->value());
  return ContentBlock::make_tool_use(string_field(tu, "toolUseId"), string_field(tu, "name"), std::move(in));
}

Usage parse_usage(const json::object& u) {
  Usage usage;
  usage.input_tokens = int_field(u, "inputTokens");
  usage.output_tokens = int_field(u, "outputTokens");
  usage.cache_read_input_tokens = int_field(u, "cacheReadInputTokens");
  usage.cache_write_input_tokens = int_field(u, "cacheWriteInputTokens");
  return usage;
}

void write_messages_and_system(JsonWriter& w, const ChatRequest& request) {
  w.key("messages").begin_array();
  for (const auto& m : request.messages) {
    w.begin_object().member("role", m.role);
    w.key("content").begin_array();
    for (const auto& b : m.content) {
      write_block(w, b);
      if (b.cache_point) write_cache_point(w);
    }
    w.end_array().end_object();
  }
  w.end_array();
  if (!request.system.empty()) {
    w.key("system").begin_array().begin_object().member("text", request.system).end_object();
    if (request.system_cache_point) write_cache_point(w);
    w.end_array();
  }
}

}  // namespace

std::string encode_count_tokens(const ChatRequest& request) {
  std::string out;
  out.reserve(detail::encoded_size_hint(request) + 32);
  JsonWriter w(out);
  w.begin_object().key("input").begin_object().key("converse").begin_object();
  write_messages_and_system(w, request);
  write_tool_config(w, request);  // the tools' definitions are input tokens too
  write_additional_fields(w, request);
  w.end_object().end_object().end_object();
  return out;
}

Result<std::int64_t> decode_count_tokens(std::string_view body) {
  auto parsed = parse_object(body, "CountTokens response");
  if (!parsed) return std::unexpected(parsed.error());
  auto it = parsed->find("inputTokens");
  if (it == parsed->end() || !it->value().is_int64() || it->value().as_int64() < 0)
    return std::unexpected(detail::malformed("CountTokens response", "no inputTokens"));
  return it->value().as_int64();
}

std::string encode_request(const ChatRequest& request) {
  std::string out;
  out.reserve(detail::encoded_size_hint(request));
  JsonWriter w(out);
  w.begin_object();
  write_messages_and_system(w, request);
  w.key("inferenceConfig").begin_object();
  w.member("maxTokens", request.max_tokens);
  if (request.temperature) w.member("temperature", *request.temperature);
  if (request.top_p) w.member("topP", *request.top_p);
  if (!request.stop_sequences.empty()) {
    w.key("stopSequences").begin_array();
    for (const auto& s : request.stop_sequences) w.value(s);
    w.end_array();
  }
  w.end_object();
  write_tool_config(w, request);
  write_guardrail_config(w, request);
  write_additional_fields(w, request);
  write_output_config(w, request);
  w.end_object();
  return out;
}

namespace {
// ConverseOutput's / ConverseStreamMetadataEvent's trace.guardrail, as compact JSON ("" when absent).
std::string guardrail_trace_of(const json::object& o) {
  const json::object* trace = object_field(o, "trace");
  const json::object* guardrail = trace ? object_field(*trace, "guardrail") : nullptr;
  return guardrail ? detail::to_json(*guardrail) : std::string{};
}
}  // namespace

Result<ChatResponse> decode_response(std::string_view body) {
  // What is kept of the reply is copied out below: its DOM can live in a buffer on the stack.
  unsigned char scratch[4096];
  json::monotonic_resource arena(scratch, sizeof scratch);
  auto parsed = parse_object(body, "Converse response", &arena);
  if (!parsed) return std::unexpected(parsed.error());
  const json::object& root = *parsed;
  const json::object* output = object_field(root, "output");
  const json::object* message = output ? object_field(*output, "message") : nullptr;
  if (!message) return std::unexpected(detail::malformed("Converse response", "no output.message"));
  auto content = message->find("content");
  if (content == message->end() || !content->value().is_array())
    return std::unexpected(detail::malformed("Converse response", "output.message.content is not an array"));
  ChatResponse r;
  for (const auto& block : content->value().get_array()) {
    if (!block.is_object()) continue;
    if (auto t = block.get_object().find("text"); t != block.get_object().end() && t->value().is_string())
      r.text += t->value().get_string();
    if (const auto* tu = object_field(block.get_object(), "toolUse")) r.tool_uses.push_back(tool_use_of(*tu));
    if (const auto* rc = object_field(block.get_object(), "reasoningContent"))
      if (auto reasoning = reasoning_of(*rc)) r.reasoning.push_back(std::move(*reasoning));
  }
  r.stop_reason = string_field(root, "stopReason");
  if (const auto* usage = object_field(root, "usage")) r.usage = parse_usage(*usage);
  if (const auto* metrics = object_field(root, "metrics")) r.latency_ms = int_field(*metrics, "latencyMs");
  r.guardrail_trace = guardrail_trace_of(root);
  return r;
}

Result<std::optional<StreamDelta>> apply_stream_event(StreamAccumulator& acc, std::string_view event_type,
                                                      std::string_view payload) {
  using Kind = StreamDelta::Kind;
  const bool known = event_type == "messageStart" || event_type == "contentBlockStart" ||
                     event_type == "contentBlockDelta" || event_type == "contentBlockStop" ||
                     event_type == "messageStop" || event_type == "metadata";
  if (!known) return std::nullopt;
  unsigned char scratch[2048];  // as in decode_response: nothing of the DOM outlives this call
  json::monotonic_resource arena(scratch, sizeof scratch);
  auto parsed = parse_object(payload, "ConverseStream " + std::string(event_type) + " event", &arena);
  if (!parsed) return std::unexpected(parsed.error());
  const json::object& ev = *parsed;
  const std::int64_t index = int_field(ev, "contentBlockIndex");
  if (event_type == "contentBlockDelta") {
    const auto* delta = object_field(ev, "delta");
    if (!delta) return std::unexpected(detail::malformed("ConverseStream contentBlockDelta event", "no delta"));
    if (const auto* tu = object_field(*delta, "toolUse")) {
      StreamDelta d{.kind = Kind::tool_use_input, .block_index = index, .text = string_field(*tu, "input")};
      for (std::size_t i = 0; i < acc.tool_uses.size(); ++i) {
        if (acc.tool_indexes[i] != index) continue;
        acc.tool_uses[i].input += d.text;
        d.tool_use_id = acc.tool_uses[i].tool_use_id;
        d.name = acc.tool_uses[i].name;
      }
      if (d.text.empty()) return std::nullopt;
      return d;
    }
    if (const auto* rc = object_field(*delta, "reasoningContent")) {
      // One of text, signature, redactedContent (a blob: base64 in the JSON, kept so).
      StreamDelta d{.kind = Kind::reasoning_text, .block_index = index};
      if (auto t = string_field(*rc, "text"); !t.empty()) {
        d.text = std::move(t);
      } else if (auto sig = string_field(*rc, "signature"); !sig.empty()) {
        d.kind = Kind::reasoning_signature;
        d.text = std::move(sig);
      } else if (auto red = string_field(*rc, "redactedContent"); !red.empty()) {
        d.kind = Kind::reasoning_redacted;
        d.text = std::move(red);
      } else {
        return std::nullopt;
      }
      return d;
    }
    auto t = delta->find("text");
    if (t == delta->end() || !t->value().is_string() || t->value().get_string().empty()) return std::nullopt;  // citations...
    StreamDelta d = StreamDelta::make_text(std::string(t->value().get_string()), index);
    acc.text += d.text;
    return d;
  }
  if (event_type == "contentBlockStart") {
    const auto* start = object_field(ev, "start");
    if (const auto* tu = start ? object_field(*start, "toolUse") : nullptr) {
      acc.tool_uses.push_back(ContentBlock::make_tool_use(string_field(*tu, "toolUseId"), string_field(*tu, "name"), {}));
      acc.tool_indexes.push_back(index);
      return StreamDelta{.kind = Kind::tool_use_start, .block_index = index,
                         .tool_use_id = acc.tool_uses.back().tool_use_id, .name = acc.tool_uses.back().name};
    }
  } else if (event_type == "messageStop") {
    acc.stop_reason = string_field(ev, "stopReason");
    acc.finished = true;
  } else if (event_type == "metadata") {
    if (const auto* usage = object_field(ev, "usage")) acc.usage = parse_usage(*usage);
    if (const auto* metrics = object_field(ev, "metrics")) acc.latency_ms = int_field(*metrics, "latencyMs");
    acc.guardrail_trace = guardrail_trace_of(ev);
    acc.has_metadata = true;
  }
  return std::nullopt;
}

}  // namespace ba::bedrock::converse
