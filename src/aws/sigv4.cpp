#include "aws/sigv4.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// Headers the SDKs never sign: proxies and HTTP stacks add, drop or rewrite them.
bool unsignable(std::string_view lower_name) {
  static constexpr std::string_view kNames[] = {
      "authorization", "cache-control", "connection", "expect", "from", "keep-alive", "max-forwards", "pragma",
      "referer",       "te",            "trailer",    "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"};
  if (std::ranges::find(kNames, lower_name) != std::end(kNames)) return true;
  return lower_name.starts_with("proxy-") || lower_name.starts_with("sec-");
}

// scheme://authority/path?query#fragment, split without validation: the path may hold any bytes.
struct UrlParts {
  std::string scheme, authority, path, query;
};

UrlParts split_url(std::string_view url) {
  UrlParts p;
  if (auto s = url.find("://"); s != std::string_view::npos) {
    p.scheme = to_lower(url.substr(0, s));
    url.remove_prefix(s + 3);
  }
  auto a = url.find_first_of("/?#");
  p.authority = std::string(url.substr(0, a));
  url = a == std::string_view::npos ? std::string_view{} : url.substr(a);
  if (auto f = url.find('#'); f != std::string_view::npos) url = url.substr(0, f);
  if (auto q = url.find('?'); q != std::string_view::npos) {
    p.query = std::string(url.substr(q + 1));
    url = url.substr(0, q);
  }
  p.path = std::string(url);
  return p;
}

// The Host header value: the authority without userinfo and without the scheme's default port.
std::string host_value(const UrlParts& u) {
  std::string_view a = u.authority;
  if (auto at = a.rfind('@'); at != std::string_view::npos) a.remove_prefix(at + 1);
  auto colon = a.rfind(':');
  if (colon != std::string_view::npos && a.find(']', colon) == std::string_view::npos) {
    auto port = a.substr(colon + 1);
    if ((u.scheme == "https" && port == "443") || (u.scheme == "http" && port == "80")) a = a.substr(0, colon);
  }
  return std::string(a);
}

std::string canonical_uri(std::string_view path, const SigningParams& params) {
  if (path.empty()) path = "/";
  std::string normalized;
  if (params.normalize_path) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
      auto end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      auto seg = path.substr(start, end - start);
      if (seg == "..") {
        if (!segments.empty()) segments.pop_back();
      } else if (!seg.empty() && seg != ".") {
        segments.push_back(seg);
      }
      start = end + 1;
    }
    if (path.starts_with('/')) normalized = "/";
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (i) normalized += '/';
      normalized += segments[i];
    }
    if (!segments.empty() && path.ends_with('/')) normalized += '/';
    if (normalized.empty()) normalized = "/";
  } else {
    normalized = std::string(path);
  }
  return params.double_encode_path ? net::uri_encode(normalized, false) : normalized;
}

using QueryPairs = std::vector<std::pair<std::string, std::string>>;  // decoded

QueryPairs parse_query(std::string_view query) {
  QueryPairs out;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto piece = query.substr(start, end - start);
    if (!piece.empty()) {
      auto eq = piece.find('=');
      if (eq == std::string_view::npos) out.emplace_back(net::uri_decode(piece), "");
      else out.emplace_back(net::uri_decode(piece.substr(0, eq)), net::uri_decode(piece.substr(eq + 1)));
    }
    start = end + 1;
  }
  return out;
}

std::string canonical_query(const QueryPairs& pairs) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(pairs.size());
  for (const auto& [k, v] : pairs) enc.emplace_back(net::uri_encode(k), net::uri_encode(v));
  std::ranges::sort(enc);  // by encoded key, then encoded value
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string canonical_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool in_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out += ' ';
    in_space = false;
    out += c;
  }
  return out;
}

struct CanonicalHeaders {
  std::string block;   // "name:value\n" lines
  std::string signed_list;
};

CanonicalHeaders canonical_headers(const net::Headers& headers) {
  // (lower-case name, value) in order of appearance; a stable sort keeps repeated names in that order,
  // and their values are joined by ','.
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(headers.size());
  for (const auto& h : headers) {
    std::string name = to_lower(trim(h.name));
    if (unsignable(name)) continue;
    pairs.emplace_back(std::move(name), canonical_value(h.value));
  }
  std::ranges::stable_sort(pairs, {}, &std::pair<std::string, std::string>::first);
  CanonicalHeaders c;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::string& name = pairs[i].first;
    if (i > 0 && name == pairs[i - 1].first) {
      c.block.back() = ',';  // the previous value's '\n'
    } else {
      if (!c.signed_list.empty()) c.signed_list += ';';
      c.signed_list += name;
      c.block += name;
      c.block += ':';
    }
    c.block += pairs[i].second;
    c.block += '\n';
  }
  return c;
}

std::pair<std::string, std::string> format_time(WallTime t) {  // 20150830T123600Z, 20150830
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  std::string amz(buf);
  return {amz, amz.substr(0, 8)};
}

// Derived keys change once a day per (secret, region, service): cache a few.
std::string signing_key(const std::string& secret, const std::string& date, const std::string& region,
                        const std::string& service) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> cache;
  auto id = std::make_tuple(sha256(secret), date, region, service);
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(id); it != cache.end()) return it->second;
  }
  std::string k = hmac_sha256("AWS4" + secret, date);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  k = hmac_sha256(k, "aws4_request");
  std::lock_guard lock(mutex);
  if (cache.size() >= 64) cache.clear();
  cache.emplace(std::move(id), k);
  return k;
}

SigningDetails finish(std::string canonical_request, const std::string& amz_date, const std::string& scope,
                      const Credentials& creds, const std::string& date, const SigningParams& params) {
  SigningDetails d;
  d.canonical_request = std::move(canonical_request);
  d.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" + sha256_hex(d.canonical_request);
  d.signature = hex_encode(hmac_sha256(signing_key(creds.secret_access_key, date, params.region, params.service),
                                       d.string_to_sign));
  return d;
}

std::string payload_hash_of(const net::HttpRequest& request, const SigningParams& params) {
  if (!params.payload_hash.empty()) return params.payload_hash;
  if (auto h = request.headers.get("x-amz-content-sha256")) return std::string(*h);
  return sha256_hex(request.body);
}

}  // namespace

SigningDetails sign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params) {
  const UrlParts url = split_url(request.url);
  const auto [amz_date, date] = format_time(params.time);
  const std::string scope = date + "/" + params.region + "/" + params.service + "/aws4_request";

  request.headers.remove("Authorization");
  if (!request.headers.has("Host")) request.headers.set("Host", host_value(url));
  request.headers.set("X-Amz-Date", amz_date);
  request.headers.remove("X-Amz-Security-Token");
  if (!creds.session_token.empty() && !params.omit_session_token)
    request.headers.set("X-Amz-Security-Token", creds.session_token);
  const std::string payload_hash = payload_hash_of(request, params);
  if (params.sign_body) request.headers.set("X-Amz-Content-Sha256", payload_hash);

  const CanonicalHeaders ch = canonical_headers(request.headers);
  std::string creq = request.method + "\n" + canonical_uri(url.path, params) + "\n" +
                     canonical_query(parse_query(url.query)) + "\n" + ch.block + "\n" + ch.signed_list + "\n" +
                     payload_hash;
  SigningDetails d = finish(std::move(creq), amz_date, scope, creds, date, params);
  request.headers.set("Authorization", std::string(kAlgorithm) + " Credential=" + creds.access_key_id + "/" + scope +
                                           ", SignedHeaders=" + ch.signed_list + ", Signature=" + d.signature);
  if (!creds.session_token.empty() && params.omit_session_token)
    request.headers.set("X-Amz-Security-Token", creds.session_token);
  return d;
}

SigningDetails presign_request(net::HttpRequest& request, const Credentials& creds, const SigningParams& params,
                               std::chrono::seconds expires) {
  const UrlParts url = split_url(request.url);
  const auto [amz_date, date] = format_time(params.time);
  const std::string scope = date + "/" + params.region + "/" + params.service + "/aws4_request";

  request.headers.remove("Authorization");
  request.headers.remove("X-Amz-Date");
  request.headers.remove("X-Amz-Security-Token");  // goes in the query
  if (!request.headers.has("Host")) request.headers.set("Host", host_value(url));

  QueryPairs query = parse_query(url.query);
  std::string payload_hash = params.payload_hash;
  if (payload_hash.empty()) {
    auto h = request.headers.get("x-amz-content-sha256");
    payload_hash = h ? std::string(*h) : sha256_hex(request.body);
  }
  net::Headers kept;
  for (const auto& h : request.headers) {  // hoist x-amz-* headers into the query
    if (to_lower(trim(h.name)).starts_with("x-amz-")) query.emplace_back(std::string(trim(h.name)), h.value);
    else kept.add(h.name, h.value);
  }
  request.headers = std::move(kept);
  const CanonicalHeaders ch = canonical_headers(request.headers);
  // The parameters presigning sets replace any the URL already has, as the official signers' do (an
  // already presigned URL presigned again): a server would read a repeated X-Amz-Date or X-Amz-Signature
  // as the request's, and a repeated one would be signed as the caller's own parameter.
  std::erase_if(query, [](const auto& p) {
    for (std::string_view name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                  "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"})
      if (iequals(p.first, name)) return true;
    return false;
  });

  QueryPairs added = {{"X-Amz-Algorithm", std::string(kAlgorithm)},
                      {"X-Amz-Credential", creds.access_key_id + "/" + scope},
                      {"X-Amz-Date", amz_date},
                      {"X-Amz-Expires", std::to_string(expires.count())},
                      {"X-Amz-SignedHeaders", ch.signed_list}};
  if (!creds.session_token.empty() && !params.omit_session_token)
    added.emplace_back("X-Amz-Security-Token", creds.session_token);
  query.insert(query.end(), added.begin(), added.end());

  std::string creq = request.method + "\n" + canonical_uri(url.path, params) + "\n" + canonical_query(query) + "\n" +
                     ch.block + "\n" + ch.signed_list + "\n" + payload_hash;
  SigningDetails d = finish(std::move(creq), amz_date, scope, creds, date, params);

  query.emplace_back("X-Amz-Signature", d.signature);
  if (!creds.session_token.empty() && params.omit_session_token)
    query.emplace_back("X-Amz-Security-Token", creds.session_token);
  std::string q;
  for (const auto& [k, v] : query) {
    if (!q.empty()) q += '&';
    q += net::uri_encode(k) + "=" + net::uri_encode(v);
  }
  request.url = (url.scheme.empty() ? std::string() : url.scheme + "://") + url.authority +
                (url.path.empty() ? std::string("/") : url.path) + "?" + q;
  return d;
}

}  // namespace ba::aws
