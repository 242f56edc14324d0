#pragma once
// Server-Sent Events framing (text/event-stream).
#include <string>
#include <string_view>

namespace ba::http {

// "event: <name>\ndata: <line>\n...\n\n"; a data value with newlines becomes several data lines.
std::string sse_event(std::string_view name, std::string_view data);
// "data: <data>\n\n": an unnamed event (OpenAI's streams); `data` must be one line (compact JSON).
std::string sse_data(std::string_view data);

}  // namespace ba::http
