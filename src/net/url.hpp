#pragma once
// URL helpers shared by the HTTP client, the SigV4 signer and the AWS clients.
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ba::net {

// RFC 3986 percent-encoding: A-Za-z0-9 - . _ ~ are kept, every other byte becomes %XX (uppercase hex).
// With encode_slash=false, '/' is kept as well (paths).
std::string uri_encode(std::string_view s, bool encode_slash = true);
// Decodes %XX sequences; a malformed escape is kept as is. '+' is not treated as a space.
std::string uri_decode(std::string_view s);

struct Url {
  std::string scheme;    // lower case: "http" or "https"
  std::string host;      // lower case; an IPv6 literal without brackets
  std::uint16_t port = 0;  // explicit or the scheme default (80/443)
  std::string target;    // path + optional "?query", never empty ("/" at least), kept percent-encoded
  std::string userinfo;  // "user:password" as written (percent-encoded), empty if none

  bool default_port() const { return port == (scheme == "https" ? 443 : 80); }
  // "host" or "host:port" when the port is not the scheme default (the Host header value).
  std::string authority() const;
  std::string path() const;   // target without the query
  std::string query() const;  // after '?', raw; empty if none
};

// Parses an absolute http(s) URL. Other schemes, a missing host or a bad port are invalid_input.
Result<Url> parse_url(std::string_view text);

}  // namespace ba::net
