#include "bedrock/converse_codec.hpp"

#include <boost/json.hpp>

#include "util/encoding.hpp"

namespace ba::bedrock::converse {
namespace json = boost::json;
using detail::int_field;
using detail::object_field;
using detail::parse_object;
using detail::string_field;
namespace {

json::object encode_block(const ContentBlock& b) {
  json::object out;
  switch (b.type) {
    case ContentBlock::Type::text: out["text"] = b.text; break;
    case ContentBlock::Type::image: {
      json::object image;
      image["format"] = b.format;
      image["source"] = json::object{{"bytes", base64_encode(b.bytes)}};
      out["image"] = std::move(image);
      break;
    }
    case ContentBlock::Type::document: {
      json::object doc;  // member order as the official JS SDK writes it
      doc["name"] = b.name;
      doc["source"] = json::object{{"bytes", base64_encode(b.bytes)}};
      doc["format"] = b.format;
      out["document"] = std::move(doc);
      break;
    }
  }
  return out;
}

Usage parse_usage(const json::object& u) {
  Usage usage;
  usage.input_tokens = int_field(u, "inputTokens");
  usage.output_tokens = int_field(u, "outputTokens");
  usage.cache_read_input_tokens = int_field(u, "cacheReadInputTokens");
  usage.cache_write_input_tokens = int_field(u, "cacheWriteInputTokens");
  return usage;
}

}  // namespace

std::string encode_request(const ChatRequest& request) {
  json::object body;
  json::array messages;
  for (const auto& m : request.messages) {
    json::array content;
    for (const auto& b : m.content) content.push_back(encode_block(b));
    messages.push_back(json::object{{"role", m.role}, {"content", std::move(content)}});
  }
  body["messages"] = std::move(messages);
  if (!request.system.empty()) body["system"] = json::array{json::object{{"text", request.system}}};
  json::object config;
  config["maxTokens"] = request.max_tokens;
  if (request.temperature) config["temperature"] = *request.temperature;
  if (request.top_p) config["topP"] = *request.top_p;
  if (!request.stop_sequences.empty()) config["stopSequences"] = detail::string_array(request.stop_sequences);
  body["inferenceConfig"] = std::move(config);
  return detail::to_json(body);
}

Result<ChatResponse> decode_response(std::string_view body) {
  auto parsed = parse_object(body, "Converse response");
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
  }
  r.stop_reason = string_field(root, "stopReason");
  if (const auto* usage = object_field(root, "usage")) r.usage = parse_usage(*usage);
  if (const auto* metrics = object_field(root, "metrics")) r.latency_ms = int_field(*metrics, "latencyMs");
  return r;
}

Result<std::string> apply_stream_event(StreamAccumulator& acc, std::string_view event_type, std::string_view payload) {
  const bool known = event_type == "messageStart" || event_type == "contentBlockStart" ||
                     event_type == "contentBlockDelta" || event_type == "contentBlockStop" ||
                     event_type == "messageStop" || event_type == "metadata";
  if (!known) return std::string{};
  auto parsed = parse_object(payload, "ConverseStream " + std::string(event_type) + " event");
  if (!parsed) return std::unexpected(parsed.error());
  const json::object& ev = *parsed;
  if (event_type == "contentBlockDelta") {
    const auto* delta = object_field(ev, "delta");
    if (!delta) return std::unexpected(detail::malformed("ConverseStream contentBlockDelta event", "no delta"));
    auto t = delta->find("text");
    if (t == delta->end() || !t->value().is_string()) return std::string{};  // toolUse, reasoning, citations...
    std::string text(t->value().get_string());
    acc.text += text;
    return text;
  }
  if (event_type == "messageStop") {
    acc.stop_reason = string_field(ev, "stopReason");
    acc.finished = true;
  } else if (event_type == "metadata") {
    if (const auto* usage = object_field(ev, "usage")) acc.usage = parse_usage(*usage);
    if (const auto* metrics = object_field(ev, "metrics")) acc.latency_ms = int_field(*metrics, "latencyMs");
    acc.has_metadata = true;
  }
  return std::string{};
}

}  // namespace ba::bedrock::converse
