#pragma once
// A scripted ModelClient for tests: replies (or errors) are queued; every request is recorded.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bedrock/model_client.hpp"

namespace ba::test {

struct ScriptedReply {
  Result<bedrock::ChatResponse> result;
  std::vector<bedrock::StreamDelta> deltas;  // streamed before the result (chat_stream only)
};

// Text deltas as stream pieces.
inline std::vector<bedrock::StreamDelta> text_deltas(const std::vector<std::string>& texts) {
  std::vector<bedrock::StreamDelta> out;
  for (const auto& t : texts) out.push_back(bedrock::StreamDelta::make_text(t));
  return out;
}

// A tool call as it streams: its start, then its input in `pieces` (none: a tool without input).
inline std::vector<bedrock::StreamDelta> tool_deltas(std::int64_t block_index, const std::string& id,
                                                     const std::string& name, const std::vector<std::string>& pieces) {
  using Kind = bedrock::StreamDelta::Kind;
  std::vector<bedrock::StreamDelta> out{{.kind = Kind::tool_use_start, .block_index = block_index, .tool_use_id = id, .name = name}};
  for (const auto& p : pieces)
    out.push_back({.kind = Kind::tool_use_input, .block_index = block_index, .text = p, .tool_use_id = id, .name = name});
  return out;
}

class FakeModel final : public bedrock::ModelClient {
 public:
  void reply(std::string text, std::vector<std::string> deltas = {}) {
    bedrock::ChatResponse r;
    r.text = std::move(text);
    r.stop_reason = "end_turn";
    r.usage.input_tokens = 10;
    r.usage.output_tokens = 5;
    r.request_id = "upstream-req";
    script.push_back({r, text_deltas(deltas)});
  }
  // The last scripted reply streams `pieces` (text, tool calls, reasoning) instead of its text deltas.
  void stream(std::vector<bedrock::StreamDelta> pieces) { script.back().deltas = std::move(pieces); }
  // A reply that calls tools (stop reason tool_use): text (may be empty) then the tool_use blocks.
  void reply_tools(std::string text, std::vector<bedrock::ContentBlock> calls, std::vector<std::string> deltas = {}) {
    reply(std::move(text), std::move(deltas));
    script.back().result->tool_uses = std::move(calls);
    script.back().result->stop_reason = "tool_use";
  }
  void error(Error e, std::vector<std::string> deltas = {}) { script.push_back({std::unexpected(std::move(e)), text_deltas(deltas)}); }

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options) override {
    requests.push_back(request);
    last_options = options;
    ++buffered_calls;
    co_return next().result;
  }

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options) override {
    requests.push_back(request);
    last_options = options;
    ++stream_calls;
    ScriptedReply r = next();
    for (const auto& d : r.deltas) {
      if (!co_await on_delta(d)) {
        cancelled = true;
        co_return fail(ErrorKind::cancelled, "the caller cancelled the stream");
      }
    }
    co_return r.result;
  }

  // CountTokens: answers from `counts` (front first), records what it was asked.
  boost::asio::awaitable<Result<std::int64_t>> count_tokens(const bedrock::ChatRequest& request,
                                                            bedrock::CallOptions options) override {
    count_requests.push_back(request);
    last_options = options;
    if (counts.empty()) co_return fail(ErrorKind::internal, "FakeModel: no count scripted");
    Result<std::int64_t> r = std::move(counts.front());
    counts.pop_front();
    co_return r;
  }
  std::deque<Result<std::int64_t>> counts;
  std::vector<bedrock::ChatRequest> count_requests;

  // The call in phases: admit() fails with `admit_errors` (front first) while there are any; report()
  // is `report` when set.
  std::unique_ptr<bedrock::ModelCall> start(bedrock::ChatRequest request, bedrock::CallOptions options) override {
    return std::make_unique<Call>(*this, std::move(request), options);
  }

  std::deque<ScriptedReply> script;
  std::deque<Error> admit_errors;
  int admits = 0;
  std::vector<bedrock::ChatRequest> requests;
  bedrock::CallOptions last_options;
  int buffered_calls = 0;
  int stream_calls = 0;
  bool cancelled = false;
  std::optional<bedrock::CallReport> report;  // what every call reports when set

 private:
  class Call final : public bedrock::ModelCall {
   public:
    Call(FakeModel& m, bedrock::ChatRequest r, bedrock::CallOptions o) : m_(m), request_(std::move(r)), options_(o) {}
    boost::asio::awaitable<Status> admit() override {
      ++m_.admits;
      admitted_ = true;
      if (!m_.admit_errors.empty()) {
        Error e = std::move(m_.admit_errors.front());
        m_.admit_errors.pop_front();
        co_return fail(std::move(e));
      }
      co_return Status{};
    }
    boost::asio::awaitable<Result<bedrock::ChatResponse>> send(bedrock::DeltaHandler on_delta) override {
      if (!admitted_) {
        if (auto st = co_await admit(); !st) co_return fail(std::move(st.error()));
      }
      if (on_delta) co_return co_await m_.chat_stream(request_, std::move(on_delta), options_);
      co_return co_await m_.chat(request_, options_);
    }
    const bedrock::CallReport& report() const override { return m_.report ? *m_.report : none_; }

   private:
    FakeModel& m_;
    bedrock::ChatRequest request_;
    bedrock::CallOptions options_;
    bedrock::CallReport none_;
    bool admitted_ = false;
  };

  ScriptedReply next() {
    if (script.empty()) return {std::unexpected(Error::make(ErrorKind::internal, "FakeModel: script is empty")), {}};
    ScriptedReply r = std::move(script.front());
    script.pop_front();
    return r;
  }
};

}  // namespace ba::test
