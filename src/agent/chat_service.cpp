#include "agent/chat_service.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "agent/attachments.hpp"
#include "bedrock/codec_common.hpp"
#include "bedrock/model_id.hpp"
#include "util/encoding.hpp"
#include "util/uuid.hpp"

namespace ba::agent {
namespace {

// Structured output (a JSON schema for the reply): models known to take it (bedrock::supports_structured_output),
// a schema that is a JSON object.
Status validate_output_format(const ChatInput& in, const std::string& model) {
  if (!in.output_format) return {};
  if (in.output_format->schema.empty() || in.output_format->schema.front() != '{') {
    return fail(ErrorKind::invalid_input, "the JSON schema for the reply must be a JSON object");
  }
  if (!bedrock::supports_structured_output(model)) {
    return fail(ErrorKind::invalid_input,
                "model '" + model + "' does not support structured output (a JSON schema for the reply) on Bedrock; "
                "use Claude 4.5 or later or another model that does (see docs/api.md, response_format)");
  }
  return {};
}

bool icontains(std::string_view hay, std::string_view needle) {
  return to_lower(hay).find(to_lower(needle)) != std::string::npos;
}

// The turn a stateless chat saves: the last user message's text, a note per image or document.
std::string last_user_text(const std::vector<bedrock::Message>& messages) {
  for (auto m = messages.rbegin(); m != messages.rend(); ++m) {
    if (m->role != "user") continue;
    std::string text;
    for (const auto& b : m->content) {
      if (!text.empty()) text += "\n";
      switch (b.type) {
        case bedrock::ContentBlock::Type::text: text += b.text; break;
        case bedrock::ContentBlock::Type::image: text += "[image]"; break;
        case bedrock::ContentBlock::Type::document: text += "[document]"; break;
        case bedrock::ContentBlock::Type::tool_use: text += "[tool call]"; break;
        case bedrock::ContentBlock::Type::tool_result: text += "[tool result]"; break;
        case bedrock::ContentBlock::Type::reasoning: text += "[reasoning]"; break;
      }
    }
    return text;
  }
  return {};
}

// /chat with prompt caching (ChatConfig::prompt_cache), before the new user message is added: a cache
// point after the system prompt and one after the history (its last block), so the next turn of the
// conversation reads both prefixes from the cache.
void mark_prompt_cache(bedrock::ChatRequest& req) {
  req.system_cache_point = !req.system.empty();
  if (!req.messages.empty() && !req.messages.back().content.empty()) req.messages.back().content.back().cache_point = true;
}

}  // namespace

void append_message(std::vector<bedrock::Message>& messages, bedrock::Message message) {
  if (!messages.empty() && messages.back().role == message.role) {
    auto& into = messages.back().content;
    for (auto& b : message.content) into.push_back(std::move(b));
    return;
  }
  messages.push_back(std::move(message));
}

bool valid_conversation_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ChatService::ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config)
    : model_(model),
      history_(history),
      clock_(&system_clock()),
      config_(std::move(config)),
      profile_(ratelimit::model_profile(config_.model_id, config_.rate_limit)) {}

ChatService::ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config,
                         store::FileStore* files)
    : ChatService(model, history, std::move(config)) {
  files_ = files;
}

ChatService::ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config,
                         store::FileStore* files, store::IdempotencyStore* idempotency, Clock& clock)
    : ChatService(model, history, std::move(config), files) {
  idempotency_ = idempotency;
  clock_ = &clock;
}

Result<ChatService::ReasoningPlan> ChatService::reasoning_plan(const ChatInput& in, std::string_view model_id) const {
  const ChatInput::Reasoning r = in.reasoning.value_or(ChatInput::Reasoning{});
  const ratelimit::ModelProfile profile = model_id.empty() || model_id == config_.model_id
                                              ? profile_
                                              : ratelimit::model_profile(std::string(model_id), config_.rate_limit);
  constexpr int kMin = bedrock::kMinReasoningBudget;
  ReasoningPlan plan;
  if (r.budget_tokens > 0) {  // explicit: Anthropic's thinking.budget_tokens
    plan.max_tokens = ratelimit::effective_max_tokens(in.max_tokens.value_or(0), profile);
    plan.budget_tokens = r.budget_tokens;
    if (plan.budget_tokens < kMin) {
      return fail(ErrorKind::invalid_input, "thinking.budget_tokens must be at least " + std::to_string(kMin) + " (got " +
                                                std::to_string(plan.budget_tokens) + ")");
    }
    if (plan.budget_tokens >= plan.max_tokens) {
      return fail(ErrorKind::invalid_input, "thinking.budget_tokens (" + std::to_string(plan.budget_tokens) +
                                                ") must be less than max_tokens (" + std::to_string(plan.max_tokens) +
                                                (in.max_tokens && *in.max_tokens > plan.max_tokens ? ", this model's clamp" : "") + ")");
    }
    return plan;
  }
  const int effort = r.effort == "high" ? 16384 : r.effort == "medium" ? 4096 : kMin;  // minimal, low: the least
  if (in.max_tokens) {
    plan.max_tokens = ratelimit::effective_max_tokens(*in.max_tokens, profile);
  } else {  // the default leaves the answer its usual room: raised by the budget, within the clamp
    plan.max_tokens = static_cast<int>(std::min<std::int64_t>(profile.max_tokens_clamp,
                                                              std::int64_t{profile.default_max_tokens} + effort));
  }
  if (plan.max_tokens <= kMin) {
    return fail(ErrorKind::invalid_input, "reasoning_effort needs max_tokens above " + std::to_string(kMin) +
                                              " (the smallest reasoning budget, which max_tokens includes); got " +
                                              std::to_string(plan.max_tokens));
  }
  const int room = in.max_tokens ? plan.max_tokens / 2
                                 : std::max(plan.max_tokens - profile.default_max_tokens, plan.max_tokens / 2);
  plan.budget_tokens = std::max(kMin, std::min(effort, room));
  return plan;
}

int ChatService::effective_max_tokens(std::optional<int> requested, std::string_view model_id) const {
  if (model_id.empty() || model_id == config_.model_id) {
    return ratelimit::effective_max_tokens(requested.value_or(0), profile_);
  }
  return ratelimit::effective_max_tokens(requested.value_or(0),
                                         ratelimit::model_profile(std::string(model_id), config_.rate_limit));
}

std::optional<std::string> ChatService::resolve_model(std::string_view name) const {
  if (auto a = config_.model_aliases.find(name); a != config_.model_aliases.end()) return a->second;
  for (const auto& m : models()) {
    if (m == name) return m;
  }
  return std::nullopt;
}

std::vector<std::string> ChatService::models() const {
  std::vector<std::string> out{config_.model_id};
  for (const auto& [alias, target] : config_.model_aliases) {
    if (std::find(out.begin(), out.end(), target) == out.end()) out.push_back(target);
  }
  return out;
}

Status ChatService::validate_messages(const ChatInput& in) const {
  const auto& lim = config_.limits;
  const auto& messages = *in.messages;
  if (messages.empty()) return fail(ErrorKind::invalid_input, "messages must hold at least one message");
  if (messages.size() > lim.max_messages) {
    return fail(ErrorKind::invalid_input, "messages holds " + std::to_string(messages.size()) +
                                              " messages; the limit is " + std::to_string(lim.max_messages));
  }
  if (messages.front().role != "user") {
    return fail(ErrorKind::invalid_input, "the conversation must start with a user message (after any system prompt)");
  }
  std::size_t chars = in.system.size(), images = 0, documents = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (m.role != "user" && m.role != "assistant") {
      return fail(ErrorKind::invalid_input, at + ": role must be user or assistant");
    }
    if (i > 0 && m.role == messages[i - 1].role) {
      return fail(ErrorKind::invalid_input, at + ": user and assistant messages must alternate");
    }
    if (m.content.empty()) return fail(ErrorKind::invalid_input, at + ": content must not be empty");
    for (const auto& b : m.content) {
      switch (b.type) {
        case bedrock::ContentBlock::Type::text:
          if (trim(b.text).empty()) {
            return fail(ErrorKind::invalid_input, at + ": a text content block must not be empty or blank");
          }
          chars += b.text.size();
          break;
        case bedrock::ContentBlock::Type::image:
          if (++images > lim.max_images) {
            return fail(ErrorKind::invalid_input,
                        "too many images; at most " + std::to_string(lim.max_images) + " per request");
          }
          if (b.bytes.empty() || b.bytes.size() > lim.max_image_bytes) {
            return fail(ErrorKind::invalid_input, at + ": an image must hold 1 to " +
                                                      std::to_string(lim.max_image_bytes) + " bytes; this one has " +
                                                      std::to_string(b.bytes.size()));
          }
          break;
        case bedrock::ContentBlock::Type::document:
          if (++documents > lim.max_documents) {
            return fail(ErrorKind::invalid_input,
                        "too many documents; at most " + std::to_string(lim.max_documents) + " per request");
          }
          if (b.bytes.empty() || b.bytes.size() > lim.max_document_bytes) {
            return fail(ErrorKind::invalid_input, at + ": a document must hold 1 to " +
                                                      std::to_string(lim.max_document_bytes) + " bytes");
          }
          break;
        case bedrock::ContentBlock::Type::tool_use:
          if (m.role != "assistant") return fail(ErrorKind::invalid_input, at + ": tool calls belong in assistant messages");
          chars += b.name.size() + b.input.size();
          break;
        case bedrock::ContentBlock::Type::reasoning:
          if (m.role != "assistant") return fail(ErrorKind::invalid_input, at + ": reasoning belongs in assistant messages");
          if (b.text.empty() == b.bytes.empty()) {
            return fail(ErrorKind::invalid_input, at + ": a reasoning block holds its text with its signature, or redacted data");
          }
          chars += b.text.size() + b.signature.size() + b.bytes.size();
          break;
        case bedrock::ContentBlock::Type::tool_result:
          if (m.role != "user") return fail(ErrorKind::invalid_input, at + ": tool results belong in user messages");
          for (const auto& part : b.content) {
            chars += part.text.size();
            // Images and documents in a tool result: the same limits as in a user message.
            const bool image = part.type == bedrock::ContentBlock::Type::image;
            if (image && (++images > lim.max_images || part.bytes.empty() || part.bytes.size() > lim.max_image_bytes)) {
              return fail(ErrorKind::invalid_input, at + ": a tool result's image must hold 1 to " +
                                                        std::to_string(lim.max_image_bytes) + " bytes, at most " +
                                                        std::to_string(lim.max_images) + " images per request");
            }
            const bool document = part.type == bedrock::ContentBlock::Type::document;
            if (document && (++documents > lim.max_documents || part.bytes.empty() || part.bytes.size() > lim.max_document_bytes)) {
              return fail(ErrorKind::invalid_input, at + ": a tool result's document must hold 1 to " +
                                                        std::to_string(lim.max_document_bytes) + " bytes, at most " +
                                                        std::to_string(lim.max_documents) + " documents per request");
            }
          }
          break;
      }
    }
  }
  if (chars > lim.max_conversation_chars) {
    return fail(ErrorKind::invalid_input, "the conversation's text is " + std::to_string(chars) +
                                              " bytes; the limit is " + std::to_string(lim.max_conversation_chars));
  }
  if (!in.files.empty()) return fail(ErrorKind::internal, "files cannot be attached to a stateless chat");
  for (const auto& t : in.tools) chars += t.name.size() + t.description.size() + t.input_schema.size();
  if (chars > lim.max_conversation_chars) {
    return fail(ErrorKind::invalid_input, "the conversation's text with the tool definitions is " + std::to_string(chars) +
                                              " bytes; the limit is " + std::to_string(lim.max_conversation_chars));
  }
  return validate_tools(in);
}

// Tools: stateless mode only (the history stores text turns), models that take them, and what Bedrock
// checks before the call (names, ids, the choice; bedrock::validate_request).
Status ChatService::validate_tools(const ChatInput& in) const {
  const bool tool_blocks = bedrock::has_tool_blocks(*in.messages);
  const auto mode = in.tool_choice.mode;
  if (in.tools.empty() && !tool_blocks && (mode == bedrock::ToolChoice::Mode::auto_ || mode == bedrock::ToolChoice::Mode::none)) {
    return {};
  }
  if (in.conversation_id) {
    return fail(ErrorKind::invalid_input,
                "tools cannot be used with x-conversation-id: the saved history holds text turns only, so a tool "
                "call could not be stored faithfully; send the whole conversation without x-conversation-id");
  }
  const std::string& model = in.model_id.empty() ? config_.model_id : in.model_id;
  if (bedrock::model_family(model) == bedrock::ModelFamily::amazon_titan_text) {
    return fail(ErrorKind::invalid_input, "model '" + model + "' does not support tools (Amazon Titan Text)");
  }
  // The model request's tool part, checked as the Bedrock client checks it.
  return bedrock::validate_request_tools(in.tools, in.tool_choice, *in.messages);
}

// Extended thinking: Anthropic Claude models, without the sampling settings Claude refuses with it (a
// temperature other than 1, top_k, top_p below 0.95) or a forced tool call, within max_tokens.
Status ChatService::validate_reasoning(const ChatInput& in, const std::string& model) const {
  if (!in.reasoning) return {};
  const std::string what = "reasoning (thinking / reasoning_effort)";
  if (bedrock::model_family(model) != bedrock::ModelFamily::anthropic_claude) {
    return fail(ErrorKind::invalid_input, "model '" + model + "' does not support " + what +
                                              " here: extended thinking is offered for Anthropic Claude models (Claude "
                                              "3.7 Sonnet, Claude 4 and later); see docs/api.md, Reasoning");
  }
  if (in.temperature && *in.temperature != 1.0) {
    return fail(ErrorKind::invalid_input, "temperature cannot be set with " + what +
                                              ": Claude reasons at its default temperature (1) only; remove temperature");
  }
  if (in.top_k) return fail(ErrorKind::invalid_input, "top_k cannot be set with " + what + ": remove top_k");
  if (in.top_p && *in.top_p < 0.95) {
    return fail(ErrorKind::invalid_input, "top_p must be between 0.95 and 1 with " + what);
  }
  const auto mode = in.tool_choice.mode;
  if (mode == bedrock::ToolChoice::Mode::any || mode == bedrock::ToolChoice::Mode::tool) {
    return fail(ErrorKind::invalid_input, "tool_choice cannot force a tool call with " + what +
                                              ": Claude takes only auto (or none) with thinking");
  }
  auto plan = reasoning_plan(in, model);
  if (!plan) return fail(std::move(plan.error()));
  return {};
}

Status ChatService::validate(const ChatInput& in) const {
  const auto& lim = config_.limits;
  if (in.conversation_id && !valid_conversation_id(*in.conversation_id)) {
    return fail(ErrorKind::invalid_input,
                "conversation_id must be " + std::string(kConversationIdRule) + "; omit it to start a new conversation");
  }
  if (in.messages) {
    if (auto st = validate_messages(in); !st) return st;
  } else {
    if (trim(in.input).empty()) return fail(ErrorKind::invalid_input, "input must be a non-empty string");
    if (in.input.size() > lim.max_input_chars) {
      return fail(ErrorKind::invalid_input, "input is " + std::to_string(in.input.size()) +
                                                " characters; the limit is " + std::to_string(lim.max_input_chars));
    }
  }
  const std::string& model = in.model_id.empty() ? config_.model_id : in.model_id;
  if (!in.model_id.empty() && !resolve_model(in.model_id)) {
    return fail(ErrorKind::not_found, "model '" + in.model_id + "' is not one this agent calls");
  }
  if (in.system.size() > lim.max_system_chars) {
    return fail(ErrorKind::invalid_input, "system is " + std::to_string(in.system.size()) +
                                              " characters; the limit is " + std::to_string(lim.max_system_chars));
  }
  if (in.max_tokens && *in.max_tokens < 1) {
    return fail(ErrorKind::invalid_input, "max_tokens must be a positive integer (values above " +
                                              std::to_string(profile_.max_tokens_clamp) + " are clamped to it)");
  }
  if (in.temperature && (!std::isfinite(*in.temperature) || *in.temperature < 0.0 || *in.temperature > 1.0)) {
    return fail(ErrorKind::invalid_input, "temperature must be a number between 0 and 1");
  }
  if (in.top_p && (!std::isfinite(*in.top_p) || *in.top_p < 0.0 || *in.top_p > 1.0)) {
    return fail(ErrorKind::invalid_input, "top_p must be a number between 0 and 1");
  }
  if (in.top_k) {
    if (*in.top_k < 0) return fail(ErrorKind::invalid_input, "top_k must be a non-negative integer");
    if (bedrock::model_family(model) != bedrock::ModelFamily::anthropic_claude) {
      return fail(ErrorKind::invalid_input, "top_k is supported for Anthropic Claude models only, not for model '" +
                                                model + "'");
    }
  }
  if (auto st = validate_output_format(in, model); !st) return st;
  if (auto st = validate_reasoning(in, model); !st) return st;
  if (in.stop_sequences.size() > lim.max_stop_sequences) {
    return fail(ErrorKind::invalid_input, "at most " + std::to_string(lim.max_stop_sequences) + " stop sequences");
  }
  for (const auto& stop : in.stop_sequences) {
    if (stop.empty()) return fail(ErrorKind::invalid_input, "a stop sequence must not be empty");
  }
  if (!in.files.empty()) {
    if (!files_) {
      return fail(ErrorKind::invalid_input, "this server has no file store, so 'files' cannot be attached");
    }
    const std::size_t max_files = lim.max_images + lim.max_documents;
    if (in.files.size() > max_files) {
      return fail(ErrorKind::invalid_input, std::to_string(in.files.size()) + " files attached; at most " +
                                                std::to_string(lim.max_images) + " images and " +
                                                std::to_string(lim.max_documents) + " documents per request");
    }
    std::set<std::string_view> seen;
    for (const auto& id : in.files) {
      if (!store::valid_file_id(id)) {
        return fail(ErrorKind::invalid_input,
                    "files: '" + id.substr(0, 80) + "' is not a file id (ids are 1-64 characters of A-Z a-z 0-9 _ -, as "
                                                    "returned by POST /files)");
      }
      if (!seen.insert(id).second) return fail(ErrorKind::invalid_input, "files: '" + id + "' is attached twice");
    }
  }
  if (in.owner.empty()) return fail(ErrorKind::internal, "chat called without a caller identity");
  return {};
}

boost::asio::awaitable<Result<std::int64_t>> ChatService::count_tokens(ChatInput input) {
  if (!input.messages) co_return fail(ErrorKind::internal, "count_tokens needs a stateless conversation (messages)");
  input.reasoning.reset();  // the budget bounds the answer, not the input (no max_tokens to check it against)
  if (auto st = validate(input); !st) co_return std::unexpected(std::move(st.error()));
  bedrock::ChatRequest request;
  request.model_id = input.model_id.empty() ? config_.model_id : input.model_id;
  request.messages = std::move(*input.messages);
  request.system = std::move(input.system);
  request.top_k = input.top_k;
  request.system_cache_point = input.system_cache_point;
  bedrock::drop_unsupported_cache_points(request);
  const std::string model_id = request.model_id;
  auto n = co_await model_.count_tokens(request, bedrock::CallOptions{.deadline = input.deadline});
  if (n) co_return n;
  Error e = std::move(n.error());
  if (e.kind == ErrorKind::invalid_input && (e.http_status != 0 || !e.code.empty())) {
    e.message = "Bedrock cannot count tokens for model '" + model_id + "' (CountTokens): " + e.message;
    co_return std::unexpected(std::move(e));
  }
  co_return std::unexpected(map_model_error(std::move(e), model_id));
}

Error ChatService::map_model_error(Error e, const std::string& model_id) const {
  const bool from_aws = e.http_status != 0 || !e.code.empty();
  switch (e.kind) {
    case ErrorKind::unauthorized:
      if (!from_aws) {
        // The credentials chain found nothing: a server configuration problem, not the caller's.
        std::string detail = e.message;
        e.kind = ErrorKind::unavailable;
        e.message = config_.credentials_hint;
        if (!detail.empty()) e.message += " (" + detail + ")";
        e.retryable = false;
        return e;
      }
      [[fallthrough]];
    case ErrorKind::forbidden:
      e.message = "Bedrock refused the AWS credentials for model '" + model_id + "'" +
                  (e.code.empty() ? "" : " (" + e.code + ")") + ": " + e.message +
                  " - check the IAM permissions (bedrock:InvokeModel*) and that model access is enabled in this region";
      e.kind = ErrorKind::upstream;
      return e;
    case ErrorKind::not_found:
      e.message = "Bedrock does not know model '" + model_id + "' in this region" +
                  (e.message.empty() ? "" : ": " + e.message) +
                  " - check --model-id (base id, inference profile id or ARN) and --region";
      e.kind = ErrorKind::upstream;
      return e;
    case ErrorKind::quota_exceeded:
      if (from_aws && icontains(e.message, "per day")) {
        e.message = "Bedrock's daily token cap for model '" + model_id +
                    "' is reached (tokens per day; retrying today will not help): " + e.message;
      } else if (!from_aws && icontains(e.message, "daily")) {
        e.message += " (the daily cap, --max-tokens-per-day; it resets at 00:00 UTC)";
      }
      return e;
    default:
      return e;
  }
}

boost::asio::awaitable<Status> ChatService::load_files(ChatInput& in) {
  if (in.attachments || in.files.empty()) co_return Status{};
  const auto& lim = config_.limits;
  std::vector<ChatInput::Attachment> out;
  std::size_t images = 0, documents = 0;
  std::set<std::string> doc_names;
  for (const auto& id : in.files) {
    auto info = co_await files_->head(in.owner, id);
    if (!info) {
      Error e = info.error();
      if (e.kind == ErrorKind::not_found) e.message = "files: no file '" + id + "' (upload it with POST /files first)";
      co_return fail(std::move(e));
    }
    auto kind = attachment_kind(info->content_type, info->name);
    const std::string what = "file '" + id + "' (" + info->name + ")";
    if (!kind) {
      co_return fail(ErrorKind::invalid_input, what + " has type '" + info->content_type +
                                                   "', which cannot be sent to the model; supported: " +
                                                   std::string(supported_attachment_types()));
    }
    const bool image = kind->type == bedrock::ContentBlock::Type::image;
    const std::uint64_t max_bytes = image ? lim.max_image_bytes : lim.max_document_bytes;
    if (info->size == 0) co_return fail(ErrorKind::invalid_input, what + " is empty");
    if (info->size > max_bytes) {
      co_return fail(ErrorKind::invalid_input, what + " is " + std::to_string(info->size) + " bytes; the model takes " +
                                                   (image ? "images" : "documents") + " of at most " +
                                                   std::to_string(max_bytes) + " bytes");
    }
    if (image && ++images > lim.max_images) {
      co_return fail(ErrorKind::invalid_input,
                     "too many images attached; at most " + std::to_string(lim.max_images) + " per request");
    }
    if (!image && ++documents > lim.max_documents) {
      co_return fail(ErrorKind::invalid_input,
                     "too many documents attached; at most " + std::to_string(lim.max_documents) + " per request");
    }
    auto bytes = co_await files_->read(in.owner, id);
    if (!bytes) co_return fail(bytes.error());
    if (bytes->size() > max_bytes || bytes->empty()) {
      co_return fail(ErrorKind::conflict, what + " changed while it was being read; try again");
    }
    bedrock::ContentBlock block;
    block.type = kind->type;
    block.format = kind->format;
    block.bytes = std::move(*bytes);
    if (!image) {
      // Document names must be unique within a request.
      std::string base = document_block_name(info->name, "document");
      std::string name = base;
      for (int n = 2; !doc_names.insert(name).second; ++n) name = base + " (" + std::to_string(n) + ")";
      block.name = std::move(name);
    }
    out.push_back({id, info->name, std::move(block)});
  }
  in.attachments = std::move(out);
  co_return Status{};
}

struct PendingChat::State {
  ChatOutput out;  // conversation_id, model_id, new_conversation so far
  std::string owner;
  std::optional<IdempotentRequest> key;  // claimed: completed by finish(), released by a failure
  std::string turn_input;  // the user text as saved (with the attached files' note)
  std::string request_id;
  int max_tokens = 0;
  std::unique_ptr<bedrock::ModelCall> call;
};

PendingChat::PendingChat(std::unique_ptr<State> state) : state_(std::move(state)) {}
PendingChat::PendingChat() = default;
PendingChat::PendingChat(PendingChat&&) noexcept = default;
PendingChat& PendingChat::operator=(PendingChat&&) noexcept = default;
PendingChat::~PendingChat() = default;

bedrock::CallReport PendingChat::report() const {
  bedrock::CallReport r = state_->call->report();
  if (r.max_tokens == 0) r.max_tokens = state_->max_tokens;
  return r;
}

Result<CheckedChat> ChatService::check(ChatInput input) const {
  if (auto st = validate(input); !st) return fail(std::move(st.error()));
  return CheckedChat(std::move(input));
}

boost::asio::awaitable<Result<ChatOutput>> ChatService::chat(ChatInput input, bedrock::DeltaHandler on_delta) {
  if (on_delta) input.stream = true;  // admission expects a stream's latency
  auto checked = check(std::move(input));
  if (!checked) co_return fail(std::move(checked.error()));
  auto pending = co_await prepare(std::move(*checked));
  if (!pending) co_return fail(std::move(pending.error()));
  co_return co_await finish(*pending, std::move(on_delta));
}

boost::asio::awaitable<Result<IdempotencyOutcome>> ChatService::claim(CheckedChat& chat, IdempotentRequest request) {
  if (!idempotency_) co_return IdempotencyOutcome{};  // no store: the key is ignored
  if (!valid_idempotency_key(request.key)) {
    co_return fail(ErrorKind::invalid_input, "Idempotency-Key must be " + std::string(kIdempotencyKeyRule));
  }
  if (request.fingerprint.empty() || !request.answer || chat.key_) {
    co_return fail(ErrorKind::internal, "claim() needs a fingerprint and an answer, once per chat");
  }
  const ChatInput& in = chat.input_;
  const SteadyTime now = clock_->now();
  const SteadyTime deadline = in.deadline.value_or(now + config_.rate_limit.default_deadline);
  const auto ttl =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + config_.idempotency.in_flight_margin;
  auto existing = co_await idempotency_->claim(in.owner, request.key, request.fingerprint, ttl);
  if (!existing) co_return fail(std::move(existing.error()));
  if (*existing) co_return decide(**existing, request.fingerprint);
  chat.key_ = std::move(request);
  co_return IdempotencyOutcome{};
}

boost::asio::awaitable<void> ChatService::release_key(const std::string& owner, std::optional<IdempotentRequest>& key) {
  if (!key) co_return;
  std::string k = std::move(key->key);
  key.reset();
  (void)co_await idempotency_->release(owner, std::move(k));
}

boost::asio::awaitable<void> ChatService::complete_key(const std::string& owner, std::optional<IdempotentRequest>& key,
                                                       const ChatOutput& out) {
  if (!key) co_return;
  std::string k = std::move(key->key);
  std::string answer = key->answer(out);
  key.reset();
  // A failure here only means that a repeat runs the request again once the claim expires.
  (void)co_await idempotency_->complete(owner, std::move(k), 200, std::move(answer), config_.idempotency.retention);
}

boost::asio::awaitable<Result<PendingChat>> ChatService::prepare(CheckedChat checked) {
  auto pending = co_await prepare_turn(checked.input_);
  if (!pending) {
    co_await release_key(checked.input_.owner, checked.key_);
  } else {
    pending->state_->key = std::move(checked.key_);
  }
  co_return pending;
}

boost::asio::awaitable<Result<PendingChat>> ChatService::prepare_turn(ChatInput& in) {
  const auto& lim = config_.limits;
  if (auto st = co_await load_files(in); !st) co_return fail(std::move(st.error()));

  auto state = std::make_unique<PendingChat::State>();
  ChatOutput& out = state->out;
  out.model_id = in.model_id.empty() ? config_.model_id : in.model_id;
  std::vector<store::Turn> turns;
  if (in.messages) {
    // Stateless: the caller sent the conversation. With a conversation id the turn is saved under it
    // (the owner checked first, as for /chat); nothing is loaded.
    if (in.conversation_id) {
      out.conversation_id = *in.conversation_id;
      auto holder = co_await history_.owner_of(out.conversation_id);
      if (!holder) co_return fail(holder.error());
      if (*holder && **holder != in.owner) {
        co_return fail(ErrorKind::not_found, "conversation '" + out.conversation_id + "' not found");
      }
      out.new_conversation = !*holder;
    }
  } else if (in.conversation_id) {
    out.conversation_id = *in.conversation_id;
    // Another owner's conversation is refused before the model is called (and before any tokens are
    // spent), with the same answer as a conversation that does not exist for this caller.
    auto holder = co_await history_.owner_of(out.conversation_id);
    if (!holder) co_return fail(holder.error());
    if (*holder && **holder != in.owner) {
      co_return fail(ErrorKind::not_found, "conversation '" + out.conversation_id + "' not found");
    }
    if (in.include_history && lim.history_turns > 0) {
      auto loaded = co_await history_.load(in.owner, out.conversation_id, lim.history_turns);
      if (loaded) {
        turns = std::move(*loaded);
      } else if (loaded.error().kind == ErrorKind::not_found) {
        // A caller-chosen id that does not exist yet starts a new conversation under that id
        // (if another owner took it meanwhile, saving the turn reports not_found).
        out.new_conversation = true;
      } else {
        co_return fail(loaded.error());
      }
    }
  } else {
    // Time-ordered: the history store's indexes grow at their end (util/encoding.hpp).
    out.conversation_id = uuid_v7(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      clock_->wall().time_since_epoch()).count());
    out.new_conversation = true;
  }
  co_return start_call(std::move(state), in, turns);
}

PendingChat ChatService::start_call(std::unique_ptr<PendingChat::State> state, ChatInput& in,
                                    const std::vector<store::Turn>& turns) {
  // Keep the newest turns that fit the character budget.
  std::size_t budget = config_.limits.history_chars;
  std::size_t first = turns.size();
  while (first > 0) {
    const auto& t = turns[first - 1];
    std::size_t cost = t.user_input.size() + t.assistant_reply.size();
    if (cost > budget) break;
    budget -= cost;
    --first;
  }

  bedrock::ChatRequest req;
  req.model_id = state->out.model_id;
  req.system = in.system;
  req.max_tokens = effective_max_tokens(in.max_tokens, req.model_id);  // the one place max_tokens is decided
  req.temperature = in.temperature;
  req.top_p = in.top_p;
  req.top_k = in.top_k;
  req.stop_sequences = std::move(in.stop_sequences);
  req.tools = std::move(in.tools);
  req.tool_choice = std::move(in.tool_choice);
  req.system_cache_point = in.system_cache_point;
  req.output_format = std::move(in.output_format);
  if (in.reasoning) {  // checked by validate(): the plan fits
    if (auto plan = reasoning_plan(in, req.model_id)) {
      req.max_tokens = plan->max_tokens;
      req.reasoning = bedrock::ReasoningConfig{.budget_tokens = plan->budget_tokens};
    }
  }
  if (in.messages) {
    state->turn_input = last_user_text(*in.messages);
    req.messages = std::move(*in.messages);
    return finish_start(std::move(state), in, std::move(req));
  }
  for (std::size_t i = first; i < turns.size(); ++i) {
    req.messages.push_back({"user", {bedrock::ContentBlock::make_text(turns[i].user_input)}});
    req.messages.push_back({"assistant", {bedrock::ContentBlock::make_text(turns[i].assistant_reply)}});
  }
  state->turn_input = std::move(in.input);
  bedrock::Message user{"user", {}};
  if (in.attachments) {
    for (auto& a : *in.attachments) user.content.push_back(std::move(a.block));
  }
  user.content.push_back(bedrock::ContentBlock::make_text(state->turn_input));
  if (config_.prompt_cache) mark_prompt_cache(req);
  req.messages.push_back(std::move(user));
  if (in.attachments && !in.attachments->empty()) {
    state->turn_input += "\n\n[attached files: ";
    for (std::size_t i = 0; i < in.attachments->size(); ++i) {
      const auto& a = (*in.attachments)[i];
      if (i > 0) state->turn_input += ", ";
      state->turn_input += a.name + " (" + a.id + ")";
    }
    state->turn_input += "]";
  }
  return finish_start(std::move(state), in, std::move(req));
}

PendingChat ChatService::finish_start(std::unique_ptr<PendingChat::State> state, ChatInput& in,
                                      bedrock::ChatRequest req) {
  state->owner = std::move(in.owner);
  state->request_id = std::move(in.request_id);
  state->max_tokens = req.max_tokens;
  bedrock::drop_unsupported_cache_points(req);
  req.guardrail = config_.guardrail;
  state->call = model_.start(std::move(req), bedrock::CallOptions{.deadline = in.deadline, .stream = in.stream});
  return PendingChat(std::move(state));
}

boost::asio::awaitable<Status> ChatService::admit(PendingChat& chat) {
  auto st = co_await chat.state_->call->admit();
  if (!st) {
    co_await release_key(chat.state_->owner, chat.state_->key);
    co_return fail(map_model_error(std::move(st.error()), chat.state_->out.model_id));
  }
  co_return Status{};
}

// A stateless chat without a conversation id saves nothing (out.conversation_id is empty), nor does a turn
// a guardrail blocked (ChatConfig::guardrail).
bool ChatService::saves_turn(const PendingChat& chat, const bedrock::ChatResponse& reply) {
  return !chat.state_->out.conversation_id.empty() && reply.stop_reason != "guardrail_intervened";
}

store::Turn ChatService::turn_of(PendingChat& chat, const bedrock::ChatResponse& reply) {
  PendingChat::State& p = *chat.state_;
  store::Turn turn;
  turn.conversation_id = p.out.conversation_id;
  turn.user_input = std::move(p.turn_input);
  turn.assistant_reply = reply.text;
  turn.model_id = p.out.model_id;
  turn.input_tokens = reply.usage.input_tokens;
  turn.output_tokens = reply.usage.output_tokens;
  turn.stop_reason = reply.stop_reason;
  turn.request_id = p.request_id;
  return turn;
}

ChatOutput ChatService::output_of(PendingChat& chat, bedrock::ChatResponse reply, std::int64_t seq) {
  ChatOutput out = std::move(chat.state_->out);
  out.reasoning = std::move(reply.reasoning);
  out.response = std::move(reply.text);
  out.tool_uses = std::move(reply.tool_uses);
  out.stop_reason = std::move(reply.stop_reason);
  out.guardrail_trace = std::move(reply.guardrail_trace);
  out.usage = reply.usage;
  out.upstream_request_id = std::move(reply.request_id);
  out.seq = seq;
  out.call = chat.report();
  out.max_tokens = out.call.max_tokens;
  out.new_conversation = out.new_conversation || out.seq == 1;
  return out;
}

boost::asio::awaitable<Result<ChatOutput>> ChatService::finish(PendingChat& chat, bedrock::DeltaHandler on_delta) {
  PendingChat::State& p = *chat.state_;
  auto reply = co_await p.call->send(std::move(on_delta));
  if (!reply) {
    co_await release_key(p.owner, p.key);
    co_return fail(map_model_error(std::move(reply.error()), p.out.model_id));
  }
  std::int64_t seq = 0;
  if (saves_turn(chat, *reply)) {
    auto appended = co_await history_.append(p.owner, turn_of(chat, *reply));
    if (!appended) {
      co_await release_key(p.owner, p.key);
      co_return fail(appended.error());
    }
    seq = appended->seq;
  }
  ChatOutput out = output_of(chat, std::move(*reply), seq);
  co_await complete_key(p.owner, p.key, out);
  co_return out;
}

boost::asio::awaitable<Result<std::vector<store::Turn>>> ChatService::conversation(std::string owner,
                                                                                   std::string conversation_id) {
  if (!valid_conversation_id(conversation_id)) {
    co_return fail(ErrorKind::invalid_input, "conversation id must be " + std::string(kConversationIdRule));
  }
  co_return co_await history_.load(std::move(owner), std::move(conversation_id),
                                   std::numeric_limits<std::size_t>::max());
}

boost::asio::awaitable<Status> ChatService::remove(std::string owner, std::string conversation_id) {
  if (!valid_conversation_id(conversation_id)) {
    co_return fail(ErrorKind::invalid_input, "conversation id must be " + std::string(kConversationIdRule));
  }
  co_return co_await history_.remove(std::move(owner), std::move(conversation_id));
}

boost::asio::awaitable<Result<store::ConversationPage>> ChatService::conversations(std::string owner,
                                                                                  std::size_t limit,
                                                                                  std::string cursor) {
  if (limit < 1 || limit > kMaxListLimit) {
    co_return fail(ErrorKind::invalid_input, "limit must be 1 to " + std::to_string(kMaxListLimit));
  }
  co_return co_await history_.list(std::move(owner), limit, std::move(cursor));
}

}  // namespace ba::agent
