#pragma once
// Server-Sent Events framing (text/event-stream).
#include <string>
#include <string_view>

namespace ba::http {

// "event: <name>\ndata: <line>\n...\n\n"; a data value with newlines becomes several data lines.
std::string sse_event(std::string_view name, std::string_view data);

}  // namespace ba::http
