#pragma once
// InvokeModel / InvokeModelWithResponseStream native bodies for the model families we speak:
// Anthropic Claude (Messages API, anthropic_version bedrock-2023-05-31) and Amazon Titan Text.
// Other models (and ids that hide the base model, such as provisioned-throughput or application
// inference profile ARNs) must use the Converse API.
#include <optional>
#include <string>
#include <string_view>

#include "bedrock/codec_common.hpp"
#include "bedrock/types.hpp"
#include "util/result.hpp"

namespace ba::bedrock::invoke {

// The native request body (Claude: tools as its native tools/tool_choice, tool_use and tool_result
// blocks). ErrorKind::invalid_input when the family is `other`, when Titan gets tools or an
// image or document, or when Claude gets a document format it has no body for (doc/docx/xls/xlsx).
Result<std::string> encode_request(const ChatRequest& request, ModelFamily family);

// Parses a 2xx InvokeModel response body. Stop reasons are normalized to Converse's vocabulary
// (Titan FINISH -> end_turn, LENGTH -> max_tokens, STOP_CRITERIA_MET -> stop_sequence,
// CONTENT_FILTERED -> content_filtered). Bad JSON or a missing content/results list is ErrorKind::upstream.
Result<ChatResponse> decode_response(std::string_view body, ModelFamily family);

// Applies one InvokeModelWithResponseStream `chunk` event payload ({"bytes":"<base64>"}) and returns
// the piece of the reply it carried, if any (as converse::apply_stream_event): Claude text_delta,
// content_block_start tool_use (a tool call's start), input_json_delta (a fragment of its input),
// thinking / thinking_delta, signature_delta, redacted_thinking; Titan outputText. A Claude "error"
// event becomes an Error (overloaded -> unavailable, rate limit -> throttled).
Result<std::optional<StreamDelta>> apply_stream_chunk(StreamAccumulator& acc, std::string_view chunk_payload,
                                                      ModelFamily family);
// The same for an already-decoded model chunk (the JSON inside "bytes").
Result<std::optional<StreamDelta>> apply_model_chunk(StreamAccumulator& acc, std::string_view model_json,
                                                     ModelFamily family);

// Titan completionReason -> normalized stop reason.
std::string titan_stop_reason(std::string_view completion_reason);
// The Titan "User: ...\nBot:" transcript for a request (system prompt first).
std::string titan_transcript(const ChatRequest& request);

}  // namespace ba::bedrock::invoke
