#pragma once
// Inside the HTTP API: the request bodies of the chat front doors translated to the use case's input, as
// their handlers do first (chat_api.cpp, openai_api.cpp, anthropic_api.cpp), for fuzz/http/. /chat's
// errors are invalid_input; the compatible APIs' are the response their handler answers (OpenAI's or
// Anthropic's error JSON; 400, or 404 for an unknown model).
#include <expected>
#include <string_view>

#include "agent/chat_service.hpp"
#include "net/http_server.hpp"
#include "util/result.hpp"

namespace ba::http {

Result<agent::ChatInput> parse_chat(std::string_view body);
std::expected<agent::ChatInput, net::ServerResponse> parse_openai_body(std::string_view body,
                                                                     const agent::ChatService& chat);
std::expected<agent::ChatInput, net::ServerResponse> parse_anthropic_body(std::string_view body,
                                                                        const agent::ChatService& chat);

}  // namespace ba::http
