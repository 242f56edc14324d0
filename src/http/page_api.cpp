// GET / and GET /assets/{name}: the chat page, from the assets compiled into the binary
// (http/web_assets.hpp). Public (the page holds no data; every API call it makes is authenticated), with an
// ETag and a strict Content-Security-Policy.
#include <vector>
#include <string>

#include "http/api_internal.hpp"
#include "http/errors.hpp"
#include "http/web_assets.hpp"
#include "util/encoding.hpp"

namespace ba::http {
namespace {

// Only this origin's scripts and styles (no inline code, no other origin); images from here, or the page's
// own previews (blob:). A reply's Markdown image pointing elsewhere is not fetched.
constexpr std::string_view kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Served {
  const WebAsset* asset = nullptr;
  std::string etag;
};

// The assets with their ETags (a digest of the body), computed once.
const std::vector<Served>& served() {
  static const std::vector<Served> all = [] {
    std::vector<Served> v;
    for (const WebAsset& a : web_assets()) v.push_back({&a, "\"" + sha256_hex(a.body).substr(0, 32) + "\""});
    return v;
  }();
  return all;
}

// Whether an If-None-Match header names `etag` (a list, weak validators and * included).
bool matches_etag(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
  }
  return false;
}

}  // namespace

boost::asio::awaitable<Reply> handle_page(std::shared_ptr<ApiState> /*state*/, net::ServerRequest& req,
                                          RequestLog& /*log*/, std::string param) {
  const std::string name = req.path == "/" ? std::string("index.html") : param;
  for (const Served& s : served()) {
    if (s.asset->name != name || name.empty()) continue;
    net::ServerResponse r;
    r.headers.set("ETag", s.etag);
    // Revalidated on every load (a new binary may bring new assets under the same names): a 304 costs
    // no body.
    r.headers.set("Cache-Control", "no-cache");
    r.headers.set("X-Content-Type-Options", "nosniff");
    r.headers.set("Referrer-Policy", "no-referrer");
    if (name == "index.html") {
      r.headers.set("Content-Security-Policy", std::string(kPageCsp));
      r.headers.set("X-Frame-Options", "DENY");
    }
    if (auto inm = req.headers.get("if-none-match"); inm && matches_etag(*inm, s.etag)) {
      r.status = 304;
      co_return Reply{std::move(r), nullptr};
    }
    r.status = 200;
    r.headers.set("Content-Type", std::string(s.asset->content_type));
    r.body = std::string(s.asset->body);
    co_return Reply{std::move(r), nullptr};
  }
  co_return Reply{error_response(404, "not_found", "no page asset named '" + name + "'"), nullptr};
}

}  // namespace ba::http
