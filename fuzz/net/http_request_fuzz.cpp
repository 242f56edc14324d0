// The server's request reading (net::read_requests: Beast's request_parser with our limits, then our
// Host check and target split, as in a connection's session; docs/testing.md, "Fuzzing"). The first byte
// picks the piece size the bytes arrive in; limits are small so that 413 and 431 are reachable. Checked:
// - whole or in pieces, the same requests and the same error status; a request the bytes cut short may
//   instead be refused (400) when more of it arrived at once;
// - methods are tokens, header names tokens, header values without CR, LF or NUL; bodies within the
//   limit; path and query split the target; a Host header is single and a host[:port];
// - the only errors are 400, 413 and 431, as JSON {"error": {"type", "message"}}.
#include <boost/json.hpp>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "net/http_server.hpp"
#include "net/request_reader.hpp"
#include "util/encoding.hpp"

namespace {

bool tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!tchar(c)) return false;
  return true;
}

bool same(const ba::net::ServerRequest& a, const ba::net::ServerRequest& b) {
  if (a.method != b.method || a.target != b.target || a.path != b.path || a.query != b.query || a.body != b.body ||
      a.headers.size() != b.headers.size())
    return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers.items()[i].name != b.headers.items()[i].name || a.headers.items()[i].value != b.headers.items()[i].value)
      return false;
  }
  return true;
}

void check(const ba::net::ServerRequest& r, const ba::net::ServerOptions& opts) {
  FUZZ_CHECK(token(r.method));
  FUZZ_CHECK(!r.target.empty() && !r.path.empty());
  FUZZ_CHECK(r.body.size() <= opts.body_limit);
  // An absolute-form target (its scheme in any case, RFC 3986 section 3.1: fuzz/corpus/http_request/
  // absolute-form-scheme-case) is split from its path on; the others are path[?query] as they came.
  std::string scheme = r.target.substr(0, 8);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!scheme.starts_with("http://") && !scheme.starts_with("https://")) {
    const std::string joined = r.target.find('?') == std::string::npos ? r.path : r.path + "?" + r.query;
    FUZZ_CHECK(joined == r.target || (r.path == "/" && r.target.starts_with('?')));
  }
  int hosts = 0;
  for (const auto& h : r.headers) {
    FUZZ_CHECK(token(h.name));
    for (char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    if (ba::iequals(h.name, "host")) {
      ++hosts;
      for (char c : h.value)
        FUZZ_CHECK(std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view("-._~%!$&'()*+,;=:[]").find(c) != std::string_view::npos);
    }
  }
  FUZZ_CHECK(hosts <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 32;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  ba::net::ServerOptions opts;
  opts.body_limit = 2048;
  opts.header_limit = 1024;

  const auto whole = ba::net::read_requests(bytes, opts);
  const auto pieces = ba::net::read_requests(bytes, opts, piece);
  FUZZ_CHECK(whole.requests.size() == pieces.requests.size());
  for (std::size_t i = 0; i < whole.requests.size(); ++i) {
    FUZZ_CHECK(same(whole.requests[i], pieces.requests[i]));
    check(whole.requests[i], opts);
  }
  // A request the bytes leave unfinished may be refused early when more of it is buffered (Beast rejects
  // a bad request line before the header is complete): then only "cut short" or an answer the request
  // line alone decides are possible: 400, 414 (a request line over the head limit) or 505 (HTTP/0.x or
  // 2+; fuzz/corpus/http_request/early-505-unfinished-head).
  if (whole.incomplete != pieces.incomplete) {
    const auto& decided = whole.incomplete ? pieces : whole;
    FUZZ_CHECK(decided.error &&
               (decided.error->status == 400 || decided.error->status == 414 || decided.error->status == 505));
  } else {
    FUZZ_CHECK(whole.error.has_value() == pieces.error.has_value());
    // Both refuse the bytes; which refusal can depend on where they were cut (a line that is too long
    // for the head, 414 or 431, may be seen as malformed, 400, before it is seen whole:
    // fuzz/corpus/http_request/pem-lines). A body over the limit (413) is the same either way.
    if (whole.error && (whole.error->status == 413 || pieces.error->status == 413))
      FUZZ_CHECK(whole.error->status == pieces.error->status);
  }
  for (const auto* r : {&whole, &pieces}) {
    if (!r->error) continue;
    const int s = r->error->status;
    // 414 and 505 came with the HTTP conformance work (docs/http-conformance.md): a request line over
    // the head limit, a well-formed request line naming HTTP/0.x or 2+ (fuzz/corpus/http_request/
    // version-0.1-is-505), and 501 for a transfer coding before chunked (fuzz/corpus/http_request/
    // coding-before-chunked-is-501).
    FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
    boost::system::error_code ec;
    auto v = boost::json::parse(r->error->body, ec);
    FUZZ_CHECK(!ec && v.is_object() && v.as_object().at("error").as_object().at("type").is_string());
  }
  return 0;
}
