#pragma once
// AWS error responses to typed Errors, as botocore parses them: the x-amzn-ErrorType header, else
// the body's code/Code/__type, else the HTTP status; type cut at ':' and after the last '#'.
#include <string_view>

#include "net/http_message.hpp"
#include "util/result.hpp"

namespace ba::aws {

// Maps an AWS error type + HTTP status + message to an Error with kind/retryable/throttle set:
// throttling codes (ThrottlingException, TooManyRequestsException, ...) -> throttled, retryable;
// "per day" throttles -> quota_exceeded, not retryable; ModelNotReadyException -> retryable;
// 500/502/503/504 -> unavailable, retryable; ModelTimeoutException (408) -> timeout, not retryable;
// ModelErrorException/ModelStreamErrorException (424) -> upstream; ValidationException -> invalid_input;
// AccessDeniedException -> forbidden; ResourceNotFoundException -> not_found;
// ServiceQuotaExceededException -> quota_exceeded; x-amz-retry-after (ms) -> retry_after.
Error classify_error(std::string_view type, int http_status, std::string message);

// Parses a non-2xx JSON (rest-json / json 1.0) response.
Error parse_json_error(const net::HttpResponse& response);

// Parses an in-stream exception frame (:message-type=exception or error) into an Error.
Error parse_stream_exception(std::string_view exception_type, std::string_view payload);

}  // namespace ba::aws
