#pragma once
// The Converse / ConverseStream wire format (rest-json), independent of HTTP.
#include <optional>
#include <string>
#include <string_view>

#include "bedrock/codec_common.hpp"
#include "bedrock/types.hpp"
#include "util/result.hpp"

namespace ba::bedrock::converse {

// The request body for Converse and ConverseStream (the model id goes in the path, not the body).
// Unset options are omitted; bytes are base64-encoded. Does not validate (see validate_request).
std::string encode_request(const ChatRequest& request);

// The CountTokens request body for the same conversation: {"input": {"converse": {"messages", "system",
// "additionalModelRequestFields"}}} (no inferenceConfig: ConverseTokensRequest has none).
std::string encode_count_tokens(const ChatRequest& request);
// A 2xx CountTokens response's inputTokens; anything else is ErrorKind::upstream.
Result<std::int64_t> decode_count_tokens(std::string_view body);

// Parses a 2xx Converse response: reasoningContent blocks (ChatResponse::reasoning), text blocks
// concatenated, toolUse blocks, stopReason, usage (incl. cache tokens),
// metrics.latencyMs. Unknown keys are ignored. Invalid JSON or a missing output message is
// ErrorKind::upstream.
Result<ChatResponse> decode_response(std::string_view body);

// Applies one ConverseStream event (`:event-type` + JSON payload) to `acc` and returns the piece of the
// reply it carried, if any: contentBlockDelta text, toolUse.input (a fragment of the input JSON),
// reasoningContent text / signature / redactedContent; contentBlockStart toolUse (a tool call's start).
// Empty fragments and events without a piece (messageStart, messageStop, metadata, ...) give nullopt.
// Unknown event types are ignored; an unparsable payload is ErrorKind::upstream.
Result<std::optional<StreamDelta>> apply_stream_event(StreamAccumulator& acc, std::string_view event_type,
                                                      std::string_view payload);

}  // namespace ba::bedrock::converse
