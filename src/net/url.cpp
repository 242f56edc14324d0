#include "net/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "util/encoding.hpp"

namespace ba::net {

namespace {
bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xF]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (default_port()) return h;
  return h + ":" + std::to_string(port);
}

std::string Url::path() const {
  auto q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

std::string Url::query() const {
  auto q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

Result<Url> parse_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail(ErrorKind::invalid_input, "invalid URL: " + parsed.error().message());
  const boost::urls::url_view& u = *parsed;
  Url url;
  url.scheme = to_lower(u.scheme());
  if (url.scheme != "http" && url.scheme != "https")
    return fail(ErrorKind::invalid_input, "unsupported URL scheme '" + url.scheme + "'");
  if (!u.has_authority() || u.encoded_host().empty()) return fail(ErrorKind::invalid_input, "URL has no host");
  if (u.host_type() == boost::urls::host_type::ipv6) {
    url.host = to_lower(u.encoded_host_address());
  } else {
    url.host = to_lower(uri_decode(u.encoded_host()));
  }
  if (u.has_port()) {
    auto p = u.port();
    if (p.empty()) {
      url.port = url.scheme == "https" ? 443 : 80;
    } else {
      unsigned long v = 0;
      for (char c : p) {
        if (c < '0' || c > '9') return fail(ErrorKind::invalid_input, "invalid URL port");
        v = v * 10 + static_cast<unsigned long>(c - '0');
        if (v > 65535) return fail(ErrorKind::invalid_input, "invalid URL port");
      }
      if (v == 0) return fail(ErrorKind::invalid_input, "invalid URL port");
      url.port = static_cast<std::uint16_t>(v);
    }
  } else {
    url.port = url.scheme == "https" ? 443 : 80;
  }
  if (u.has_userinfo()) url.userinfo = std::string(u.encoded_userinfo());
  url.target = std::string(u.encoded_path());
  if (url.target.empty()) url.target = "/";
  if (u.has_query()) url.target += "?" + std::string(u.encoded_query());
  return url;
}

}  // namespace ba::net
