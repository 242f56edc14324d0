// POST /v1/chat/completions: OpenAI's Chat Completions wire format <-> the chat use case in its
// stateless mode (the caller sends the conversation), through the chat driver (chat_flow.cpp: deadline,
// Idempotency-Key, admission, streaming). Only a translator: no chat logic here.
//
// Unsupported fields: a field that would change the answer and that we cannot honour is a 400 naming
// it (tools, response_format other than text, logprobs, penalties, n > 1, audio...); a field that does
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

// A message's content: a string, or an array of parts (text; image_url for user messages).
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
    } else {
      return std::unexpected(bad(pat + ".type", pat + ": content parts of type '" + std::string(t) +
                                                    "' are not supported here (supported: text" +
                                                    (images ? ", image_url with a data: URL)" : ")")));
    }
  }
  if (out.empty()) return std::unexpected(bad(at, at + " must not be empty"));
  return out;
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
    if (role == "tool" || role == "function") {
      return std::unexpected(bad(at + ".role", at + ": '" + std::string(role) + "' messages are not supported: this "
                                                   "agent does not offer tools yet"));
    }
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      return std::unexpected(bad(at + ".role", at + ".role must be system, developer, user or assistant"));
    }
    for (const auto& [key, val] : m) {
      if (key == "role" || key == "content" || key == "name") continue;  // name: accepted, not sent
      if ((key == "tool_calls" || key == "function_call") && role == "assistant") {
        if (val.is_null() || (val.is_array() && val.as_array().empty())) continue;
        return std::unexpected(bad(at + "." + std::string(key), at + "." + std::string(key) +
                                                                    ": tool calls are not supported: this agent does "
                                                                    "not offer tools yet"));
      }
      if (key == "refusal" && role == "assistant" && val.is_null()) continue;
      return std::unexpected(bad(at + "." + std::string(key), at + ": field '" + std::string(key) + "' is not supported"));
    }
    auto content = m.find("content");
    if (content == m.end() || content->value().is_null()) {
      return std::unexpected(bad(at + ".content", at + ".content is required"));
    }
    const bool system = role == "system" || role == "developer";
    auto blocks = parse_content(content->value(), at + ".content", role == "user");
    if (!blocks) return std::unexpected(blocks.error());
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
  in.messages = std::move(messages);
  return {};
}

// Fields accepted only with a value that asks for nothing (null, false, 0, "none", an empty list...).
bool asks_nothing(std::string_view key, const json::value& v) {
  if (v.is_null()) return true;
  if (key == "logprobs") return v.is_bool() && !v.as_bool();
  if (key == "frequency_penalty" || key == "presence_penalty") return v.is_number() && v.to_number<double>() == 0.0;
  if (key == "logit_bias") return v.is_object() && v.as_object().empty();
  if (key == "tools" || key == "functions") return v.is_array() && v.as_array().empty();
  if (key == "tool_choice" || key == "function_call") return v.is_string() && (v.as_string() == "none" || v.as_string() == "auto");
  if (key == "parallel_tool_calls") return v.is_bool();
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
    } else if (key == "logprobs" || key == "top_logprobs" || key == "frequency_penalty" || key == "presence_penalty" ||
               key == "logit_bias" || key == "tools" || key == "functions" || key == "tool_choice" ||
               key == "function_call" || key == "parallel_tool_calls" || key == "response_format" ||
               key == "modalities" || key == "reasoning_effort" || key == "audio" || key == "prediction" ||
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
};

Answer answer_of(const agent::ChatOutput& out) {
  const auto& u = out.usage;
  return Answer{out.response, std::string(finish_reason(out.stop_reason)),
                u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens, u.output_tokens,
                u.cache_read_input_tokens};
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
    w.key("message").begin_object().member("role", "assistant").member("content", a.text);
    w.key("refusal").null();
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
  std::string stream_delta(std::string_view text) const override { return chunk("content", text, {}); }
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
    if (!a.text.empty()) events += original.stream_delta(a.text);
    events += original.done(a);
    return events;
  }

 private:
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
  // The last chunks: the finish reason, the usage chunk (stream_options.include_usage), [DONE].
  std::string done(const Answer& a) const {
    std::string events = chunk({}, {}, a.finish_reason);
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

  std::string id_;
  std::int64_t created_;
  std::string model_;
  bool include_usage_;
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
boost::asio::awaitable<Reply> handle_openai_chat(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                 RequestLog& log, std::string /*param*/) {
  auto parsed = parse_request(req.body, state->ctx.chat);
  if (!parsed) {
    const WireError& e = parsed.error();
    log.error_type = e.code.empty() ? std::string(to_string(ErrorKind::invalid_input)) : e.code;
    co_return Reply{json_response(e.status, openai_json(openai_type(e.status, {}), e.message, e.param, e.code)), nullptr};
  }
  if (auto id = req.headers.get("x-conversation-id")) parsed->input.conversation_id = std::string(*id);
  const auto created =
      std::chrono::duration_cast<std::chrono::seconds>(state->clock.wall().time_since_epoch()).count();
  auto format = std::make_shared<const OpenAIFormat>("chatcmpl-" + log.request_id, created, parsed->input.model_id,
                                                     parsed->include_usage);
  co_return co_await run_chat(std::move(state), req, log, std::move(parsed->input), std::move(format));
}

}  // namespace ba::http
