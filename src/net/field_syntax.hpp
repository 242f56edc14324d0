#pragma once
// What may go on the wire in a request or response head (RFC 9110 section 5), checked on what we send
// (the server's responses, the client's requests), so that a value taken from input cannot inject a
// field or split the message. Implemented in http_message.cpp.
#include <string_view>

namespace ba::net {

// RFC 9110 section 5.6.2: a token (a method, a field name) is one or more tchar.
bool is_token(std::string_view s);
// A field value that cannot end the field early or split the message: no CR, LF or NUL (RFC 9110
// section 5.5).
bool is_safe_field_value(std::string_view s);

}  // namespace ba::net
