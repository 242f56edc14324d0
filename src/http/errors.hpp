#pragma once
// JSON error responses: {"error": {"type": "...", "message": "..."}} on the native routes; the
// compatible routes (OpenAI, Anthropic) write their own API's shape through an ErrorBody.
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "util/result.hpp"

namespace ba::http {

// The HTTP status we answer with for an error of this kind (upstream errors included).
int status_for(const Error& error);

std::string error_json(std::string_view type, std::string_view message);

// A route's error body for (status, our error type, message): error_json on the native routes.
using ErrorBody = std::string (*)(int status, std::string_view type, std::string_view message);
std::string native_error_body(int status, std::string_view type, std::string_view message);

// A complete error response (JSON body, Content-Type, Retry-After when known). `body` writes the body
// (native_error_body by default); `retry_after_ms` adds `retry-after-ms` (the exact wait, which the
// OpenAI and Anthropic clients prefer to Retry-After's whole seconds).
net::ServerResponse error_response(const Error& error, ErrorBody body = &native_error_body, bool retry_after_ms = false);
net::ServerResponse error_response(int status, std::string_view type, std::string_view message,
                                   ErrorBody body = &native_error_body);

}  // namespace ba::http
