#pragma once
// JSON error responses: {"error": {"type": "...", "message": "..."}}.
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "util/result.hpp"

namespace ba::http {

// The HTTP status we answer with for an error of this kind (upstream errors included).
int status_for(const Error& error);

std::string error_json(std::string_view type, std::string_view message);

// A complete error response (JSON body, Content-Type, Retry-After when known).
net::ServerResponse error_response(const Error& error);
net::ServerResponse error_response(int status, std::string_view type, std::string_view message);

}  // namespace ba::http
