#pragma once
// The chat use case, independent of HTTP: validate the input, load the conversation's recent turns,
// call the model (buffered or streaming), save the turn only when the call succeeded.
//
// One entry, chat(), or the same steps in phases for a front door that must know the call was admitted
// before it commits to an answer (a stream's 200 and headers), or that carries an Idempotency-Key:
//   check()    validates the input (no I/O) -> CheckedChat (the only way in to prepare())
//   claim()    optional: claims the request's Idempotency-Key, or says how to answer a repeat
//              (agent/idempotency.hpp); a claimed key is completed or released by the phases below
//   prepare()  reads the attached files, checks the conversation's owner, loads the history window,
//              builds the model request (max_tokens decided here, once) -> PendingChat; nothing waits
//   admit()    waits for the model client's admission (rate limit, deadline); nothing is sent
//   finish()   calls the model (streamed with a DeltaHandler) and saves the turn
// PendingChat::report() is the model client's call report, a value readable after any phase.
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/idempotency.hpp"
#include "bedrock/model_client.hpp"
#include "bedrock/types.hpp"
#include "ratelimit/config.hpp"
#include "ratelimit/cost.hpp"
#include "store/files.hpp"
#include "store/history.hpp"
#include "store/idempotency.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::agent {

struct ChatLimits {
  std::size_t max_input_chars = 100'000;   // bytes of UTF-8, counted as sent
  std::size_t max_system_chars = 20'000;
  // max_tokens (default and clamp) is not here: one source of truth, ratelimit::model_profile with
  // ChatConfig::rate_limit's overrides (the same config the RetryingClient reserves budget with).
  std::size_t history_turns = 20;          // newest turns sent to the model
  std::size_t history_chars = 200'000;     // and at most this many characters of them
  // Attached files (Converse limits per request; bytes as stored, before base64).
  std::size_t max_images = 20;
  std::uint64_t max_image_bytes = 3'750'000;
  std::size_t max_documents = 5;
  std::uint64_t max_document_bytes = 4'500'000;
  // A whole conversation sent by the caller (ChatInput::messages): its text, system prompt included.
  std::size_t max_conversation_chars = 1'000'000;
  std::size_t max_messages = 1'000;
  std::size_t max_stop_sequences = 2'500;  // Converse's limit (each at least one character)
};

struct ChatConfig {
  std::string model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  ChatLimits limits;
  // Read for max_tokens only: default_max_tokens and model_overrides (burndown/default/clamp) select the
  // model profile; callers asking for more than its clamp are clamped, not rejected.
  ratelimit::RateLimitConfig rate_limit;
  // Shown in the 503 when the model client reports that no AWS credentials were found.
  std::string credentials_hint =
      "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
      "(or --profile) with a profile in ~/.aws/credentials, then restart; or run offline with --simulate";
  // Idempotency-Key: how long answers are kept, how long an in-flight claim outlives its deadline.
  IdempotencyConfig idempotency;
  // Other names callers may give a model (--model-alias name=model-id). The models this agent calls are
  // model_id and the aliases' targets, nothing else (ChatService::resolve_model).
  std::map<std::string, std::string, std::less<>> model_aliases;
  // Prompt caching on /chat (--prompt-cache): a cache point after the system prompt and one after the
  // history sent with the turn, for models that cache (bedrock::prompt_cache_support); the stateless
  // front doors place theirs as the caller marks them (ChatInput::system_cache_point, the blocks' and
  // tools' cache_point).
  bool prompt_cache = false;
  // A Bedrock guardrail on every model call (--guardrail ID:VERSION), /chat and the compatible routes
  // alike. A turn it blocked (stop reason guardrail_intervened) is answered as Bedrock returned it (the
  // guardrail's message) and not saved in the history: Bedrock's guardrail assesses the whole
  // conversation it is sent, so a stored blocked input would block every later turn too.
  std::optional<bedrock::GuardrailConfig> guardrail;
};

struct ChatInput {
  std::string owner;                           // caller identity (API key fingerprint or "anonymous")
  std::optional<std::string> conversation_id;  // absent: a new conversation
  std::string input;
  bool include_history = true;
  std::string system;
  std::optional<int> max_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;                 // Anthropic Claude models only
  std::vector<std::string> stop_sequences;
  // The model to call, one resolve_model() returned; empty: ChatConfig::model_id.
  std::string model_id;
  // Stateless mode (the OpenAI- and Anthropic-compatible front doors): the whole conversation as the
  // caller sent it, user and assistant alternating from a user message (append_message merges
  // consecutive messages of one role). Then `input`, `include_history` and `files` are unused: no
  // history is loaded, and a turn is saved only under a conversation_id (its input: the last user
  // message's text, an "[image]" note per image).
  std::optional<std::vector<bedrock::Message>> messages;
  // Stateless mode only (with messages, without conversation_id): the tools the model may call and how.
  std::vector<bedrock::ToolSpec> tools;
  bedrock::ToolChoice tool_choice;
  // Stateless mode: a prompt-cache point after the system prompt (Anthropic's cache_control on a system
  // block). Cache points a model does not take are dropped (bedrock::drop_unsupported_cache_points).
  bool system_cache_point = false;
  // The reply as JSON satisfying this schema (Converse structured output); models that support it only.
  std::optional<bedrock::OutputFormat> output_format;
  // Extended thinking (Anthropic Claude models only): an explicit budget (Anthropic's thinking.budget_tokens,
  // at least 1024 and below max_tokens) or an effort (OpenAI's reasoning_effort) the budget is derived
  // from (ChatService::reasoning_plan). Unset: no reasoning. docs/api.md, "Reasoning".
  struct Reasoning {
    int budget_tokens = 0;  // > 0: explicit
    std::string effort;     // minimal | low | medium | high (budget_tokens 0)
  };
  std::optional<Reasoning> reasoning;
  bool stream = false;  // streaming is chosen by passing a DeltaHandler; this tells admission to expect it
  std::optional<SteadyTime> deadline;
  std::string request_id;                      // ours, saved with the turn
  // Ids of the caller's files to attach (images and documents, see agent/attachments.hpp). They go to
  // the model in this turn's user message, before the text; the saved turn keeps the text plus a note
  // "[attached files: name (id), ...]" (the content is not copied into the history).
  std::vector<std::string> files;
  struct Attachment {
    std::string id;
    std::string name;
    bedrock::ContentBlock block;
  };
  // Filled by ChatService::prepare() (read from the file store, owner-checked).
  std::optional<std::vector<Attachment>> attachments;
};

struct ChatOutput {
  std::vector<bedrock::ContentBlock> reasoning;  // the model's reasoning blocks, before its text (in order)
  std::string response;
  std::vector<bedrock::ContentBlock> tool_uses;  // the model's tool calls (stop_reason tool_use), after the text
  std::string conversation_id;
  std::string model_id;
  std::string stop_reason;
  std::string guardrail_trace;  // Bedrock's trace of the guardrail (--guardrail-trace), compact JSON; empty: none
  bedrock::Usage usage;
  std::string upstream_request_id;
  bool new_conversation = false;
  std::int64_t seq = 0;  // the saved turn's sequence number
  int max_tokens = 0;    // the effective max_tokens sent (after the model default and clamp)
  bedrock::CallReport call;  // what the model client reported (zeros for a plain client)
};

// An input ChatService::check() accepted (and, once claim()ed, the Idempotency-Key it holds).
class CheckedChat {
 public:
  const ChatInput& input() const { return input_; }

 private:
  friend class ChatService;
  explicit CheckedChat(ChatInput input) : input_(std::move(input)) {}
  ChatInput input_;
  std::optional<IdempotentRequest> key_;  // claimed by claim(); prepare() hands it to the PendingChat
};

// A turn ready for the model: files read, owner checked, history loaded, the model call started (not
// sent). Move-only, one pointer wide (it waits in coroutine frames). Dropping it unsent gives an
// admitted call's budget back and saves nothing; an Idempotency-Key it holds is then freed only when its
// claim expires (the deadline plus the margin), so a front door finishes what it prepared.
class PendingChat {
 public:
  PendingChat();  // empty (awaitable results need a default); only ChatService::prepare() makes real ones
  PendingChat(PendingChat&&) noexcept;
  PendingChat& operator=(PendingChat&&) noexcept;
  ~PendingChat();
  // The model client's report so far; max_tokens is the one sent (after the model default and clamp).
  bedrock::CallReport report() const;

 private:
  friend class ChatService;
  struct State;
  explicit PendingChat(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Adds `message` to a stateless conversation (ChatInput::messages), merged into the last message when
// both have the same role: Bedrock wants user and assistant to alternate, and Anthropic's API merges
// consecutive turns of one role the same way.
void append_message(std::vector<bedrock::Message>& messages, bedrock::Message message);

// 1-128 characters of [A-Za-z0-9._:-].
bool valid_conversation_id(std::string_view id);
inline constexpr std::string_view kConversationIdRule = "1-128 characters of A-Z a-z 0-9 . _ : -";

class ChatService {
 public:
  ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config = {});
  // With a file store, ChatInput::files may name the caller's files (without one, files are a 400).
  ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config, store::FileStore* files);
  // With an idempotency store, claim() makes a turn safe to repeat under an Idempotency-Key (without one
  // the key is ignored); `clock` times the in-flight claims against the input's deadline.
  ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config, store::FileStore* files,
              store::IdempotencyStore* idempotency, Clock& clock);

  // Checks the input alone (no I/O).
  Status validate(const ChatInput& input) const;
  Result<CheckedChat> check(ChatInput input) const;

  // One turn: check, prepare, finish. With `on_delta` the model is called in streaming mode and each
  // text delta is forwarded; a handler returning false cancels the call (ErrorKind::cancelled) and
  // nothing is saved. A failed call leaves the history unchanged.
  boost::asio::awaitable<Result<ChatOutput>> chat(ChatInput input, bedrock::DeltaHandler on_delta = nullptr);

  // Whether claim() keeps keys (an idempotency store was given); without one a front door ignores the key.
  bool keeps_idempotency_keys() const { return idempotency_ != nullptr; }
  // Claims request.key for the input's owner, before anything is read or charged (agent/idempotency.hpp).
  // claimed: the chat holds the key (no store: nothing to hold); prepare(), admit() and finish() release
  // it when they fail, and finish() completes it with request.answer(output) once the turn is saved.
  // replay, conflict, in_progress: the request is answered so, and goes no further. Errors:
  // invalid_input (a key that is not valid_idempotency_key), the store's.
  boost::asio::awaitable<Result<IdempotencyOutcome>> claim(CheckedChat& chat, IdempotentRequest request);

  // Everything before the model call that does not wait for the model client. Errors: not_found (a
  // file that is unknown or another owner's, another owner's conversation), invalid_input (a file type
  // the model cannot read, a file over the per-file limit, too many images or documents, an empty
  // file), the stores' errors.
  boost::asio::awaitable<Result<PendingChat>> prepare(CheckedChat chat);
  // Waits for the model client's admission without sending (rate_limited with retry_after,
  // quota_exceeded, ...). Optional: finish() admits a call that was not.
  boost::asio::awaitable<Status> admit(PendingChat& chat);
  // Calls the model and saves the turn; the output's `call` is the call report.
  boost::asio::awaitable<Result<ChatOutput>> finish(PendingChat& chat, bedrock::DeltaHandler on_delta = nullptr);

  // The input tokens of a stateless conversation (input.messages, system, top_k) as the model counts them
  // (Bedrock's CountTokens): validated like a chat, nothing read or saved, no rate-limit budget taken
  // (CountTokens is free). A model that cannot count: invalid_input with Bedrock's message.
  boost::asio::awaitable<Result<std::int64_t>> count_tokens(ChatInput input);

  boost::asio::awaitable<Result<std::vector<store::Turn>>> conversation(std::string owner, std::string conversation_id);
  boost::asio::awaitable<Status> remove(std::string owner, std::string conversation_id);
  // The owner's conversations, newest first: `limit` 1..kMaxListLimit (invalid_input otherwise).
  static constexpr std::size_t kMaxListLimit = 100;
  boost::asio::awaitable<Result<store::ConversationPage>> conversations(std::string owner, std::size_t limit,
                                                                       std::string cursor);

  const ChatConfig& config() const { return config_; }
  // The model's profile (burndown, default and clamp of max_tokens) after the config's overrides.
  const ratelimit::ModelProfile& profile() const { return profile_; }
  // What a request asking for `requested` (absent: the default) is sent with (to `model_id`; empty:
  // the configured model).
  int effective_max_tokens(std::optional<int> requested, std::string_view model_id = {}) const;
  // A turn with reasoning: the max_tokens it is sent with and its reasoning budget (below max_tokens).
  // An explicit budget keeps the effective max_tokens; an effort's budget (minimal and low 1024, medium
  // 4096, high 16384) is cut to half of an explicit max_tokens (at least 1024), and without max_tokens
  // the default is raised by the budget (within the model's clamp). invalid_input when it cannot fit.
  struct ReasoningPlan {
    int max_tokens = 0;
    int budget_tokens = 0;
  };
  Result<ReasoningPlan> reasoning_plan(const ChatInput& input, std::string_view model_id) const;
  // The model id a caller's name stands for: ChatConfig::model_id, an alias, or an alias's target;
  // nullopt: not a model this agent calls.
  std::optional<std::string> resolve_model(std::string_view name) const;
  // The models this agent calls: ChatConfig::model_id first, then the aliases' targets (each once).
  std::vector<std::string> models() const;

 private:
  // Reads input.files into input.attachments (owner-checked; sizes checked with head() before reading).
  boost::asio::awaitable<Status> load_files(ChatInput& input);
  // prepare() but for the Idempotency-Key it carries.
  boost::asio::awaitable<Result<PendingChat>> prepare_turn(ChatInput& input);
  // A claimed key, settled once: released (the turn failed and stores nothing, so a retry runs again),
  // or completed with the front door's answer for `out`.
  boost::asio::awaitable<void> release_key(const std::string& owner, std::optional<IdempotentRequest>& key);
  boost::asio::awaitable<void> complete_key(const std::string& owner, std::optional<IdempotentRequest>& key,
                                            const ChatOutput& out);
  // finish()'s work that does not wait, out of its frame (which lives for the whole model call): whether
  // the turn is saved, the turn, and the answer.
  static bool saves_turn(const PendingChat& chat, const bedrock::ChatResponse& reply);
  static store::Turn turn_of(PendingChat& chat, const bedrock::ChatResponse& reply);
  static ChatOutput output_of(PendingChat& chat, bedrock::ChatResponse reply, std::int64_t seq);
  Error map_model_error(Error e, const std::string& model_id) const;
  Status validate_messages(const ChatInput& input) const;
  Status validate_tools(const ChatInput& input) const;
  Status validate_reasoning(const ChatInput& input, const std::string& model) const;
  // prepare()'s plain part (no frame space while the history loads): the model request and its call.
  PendingChat start_call(std::unique_ptr<PendingChat::State> state, ChatInput& input,
                         const std::vector<store::Turn>& turns);
  PendingChat finish_start(std::unique_ptr<PendingChat::State> state, ChatInput& input, bedrock::ChatRequest request);

  bedrock::ModelClient& model_;
  store::HistoryStore& history_;
  store::FileStore* files_ = nullptr;
  store::IdempotencyStore* idempotency_ = nullptr;
  Clock* clock_ = nullptr;  // system_clock() unless given
  ChatConfig config_;
  ratelimit::ModelProfile profile_;
};

}  // namespace ba::agent
