#pragma once
// A scripted ModelClient for tests: replies (or errors) are queued; every request is recorded.
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "bedrock/model_client.hpp"

namespace ba::test {

struct ScriptedReply {
  Result<bedrock::ChatResponse> result;
  std::vector<std::string> deltas;  // streamed before the result (chat_stream only)
};

class FakeModel final : public bedrock::ModelClient {
 public:
  void reply(std::string text, std::vector<std::string> deltas = {}) {
    bedrock::ChatResponse r;
    r.text = std::move(text);
    r.stop_reason = "end_turn";
    r.usage.input_tokens = 10;
    r.usage.output_tokens = 5;
    r.request_id = "upstream-req";
    script.push_back({r, std::move(deltas)});
  }
  void error(Error e, std::vector<std::string> deltas = {}) { script.push_back({std::unexpected(std::move(e)), std::move(deltas)}); }

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options) override {
    requests.push_back(request);
    last_options = options;
    if (report && options.report) *options.report = *report;
    ++buffered_calls;
    co_return next().result;
  }

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options) override {
    requests.push_back(request);
    last_options = options;
    if (report && options.report) *options.report = *report;
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

  std::deque<ScriptedReply> script;
  std::vector<bedrock::ChatRequest> requests;
  bedrock::CallOptions last_options;
  int buffered_calls = 0;
  int stream_calls = 0;
  bool cancelled = false;
  std::optional<bedrock::CallReport> report;  // copied to CallOptions::report when both are set

 private:
  ScriptedReply next() {
    if (script.empty()) return {std::unexpected(Error::make(ErrorKind::internal, "FakeModel: script is empty")), {}};
    ScriptedReply r = std::move(script.front());
    script.pop_front();
    return r;
  }
};

}  // namespace ba::test
