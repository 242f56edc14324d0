#pragma once
// The chat use case, independent of HTTP: validate the input, load the conversation's recent turns,
// call the model (buffered or streaming), save the turn only when the call succeeded.
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_client.hpp"
#include "bedrock/types.hpp"
#include "ratelimit/config.hpp"
#include "ratelimit/cost.hpp"
#include "store/files.hpp"
#include "store/history.hpp"
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
};

struct ChatInput {
  std::string owner;                           // caller identity (API key fingerprint or "anonymous")
  std::optional<std::string> conversation_id;  // absent: a new conversation
  std::string input;
  bool include_history = true;
  std::string system;
  std::optional<int> max_tokens;
  std::optional<double> temperature;
  bool stream = false;                         // informational; streaming is chosen by passing a DeltaHandler
  std::optional<SteadyTime> deadline;
  std::string request_id;                      // ours, saved with the turn
  // Ids of the caller's files to attach (images and documents, see agent/attachments.hpp). They go to
  // the model in this turn's user message, before the text; the saved turn keeps the text plus a note
  // "[attached files: name (id), ...]" (the content is not copied into the history).
  std::vector<std::string> files;
  // Filled by ChatService::load_files() (chat() calls it when the HTTP layer has not).
  struct Attachment {
    std::string id;
    std::string name;
    bedrock::ContentBlock block;
  };
  std::optional<std::vector<Attachment>> attachments;
  // Optional out-parameter: what the model client reported about the call (attempts, throttles, waits),
  // filled on success and on failure (for the request log).
  bedrock::CallReport* report = nullptr;
};

struct ChatOutput {
  std::string response;
  std::string conversation_id;
  std::string model_id;
  std::string stop_reason;
  bedrock::Usage usage;
  std::string upstream_request_id;
  bool new_conversation = false;
  std::int64_t seq = 0;  // the saved turn's sequence number
  int max_tokens = 0;    // the effective max_tokens sent (after the model default and clamp)
  bedrock::CallReport call;  // what the model client reported (zeros for a plain client)
};

// 1-128 characters of [A-Za-z0-9._:-].
bool valid_conversation_id(std::string_view id);
inline constexpr std::string_view kConversationIdRule = "1-128 characters of A-Z a-z 0-9 . _ : -";

class ChatService {
 public:
  ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config = {});
  // With a file store, ChatInput::files may name the caller's files (without one, files are a 400).
  ChatService(bedrock::ModelClient& model, store::HistoryStore& history, ChatConfig config, store::FileStore* files);

  // Checks the input alone (no I/O); the HTTP layer calls it before committing to a streamed response.
  Status validate(const ChatInput& input) const;

  // One turn. With `on_delta` the model is called in streaming mode and each text delta is forwarded;
  // a handler returning false cancels the call (ErrorKind::cancelled) and nothing is saved.
  // A failed call leaves the history unchanged.
  boost::asio::awaitable<Result<ChatOutput>> chat(ChatInput input, bedrock::DeltaHandler on_delta = nullptr);

  // Loads input.files into input.attachments (owner-checked; sizes checked with head() before reading).
  // Errors: not_found (unknown or another owner's id), invalid_input (a type the model cannot read, a file
  // over the per-file limit, too many images or documents, an empty file). The HTTP layer calls it before
  // committing to a streamed response so these errors keep their status codes.
  boost::asio::awaitable<Status> load_files(ChatInput& input);

  boost::asio::awaitable<Result<std::vector<store::Turn>>> conversation(std::string owner, std::string conversation_id);
  boost::asio::awaitable<Status> remove(std::string owner, std::string conversation_id);

  const ChatConfig& config() const { return config_; }
  // The model's profile (burndown, default and clamp of max_tokens) after the config's overrides.
  const ratelimit::ModelProfile& profile() const { return profile_; }
  // What a request asking for `requested` (absent: the default) is sent with.
  int effective_max_tokens(std::optional<int> requested) const;

 private:
  Error map_model_error(Error e) const;

  bedrock::ModelClient& model_;
  store::HistoryStore& history_;
  store::FileStore* files_ = nullptr;
  ChatConfig config_;
  ratelimit::ModelProfile profile_;
};

}  // namespace ba::agent
