// API Gateway proxy events (payload v1 and v2) <-> net::ServerRequest / net::ServerResponse.
#include "lambda/apigw.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <vector>

#include "util/encoding.hpp"

namespace ba::lambda {
namespace {

namespace json = boost::json;

const json::object* object_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) return nullptr;
  return &it->value().get_object();
}

const json::object* object_path(const json::object& o, std::initializer_list<std::string_view> keys) {
  const json::object* cur = &o;
  for (auto k : keys) {
    cur = object_at(*cur, k);
    if (!cur) return nullptr;
  }
  return cur;
}

std::optional<std::string_view> string_at(const json::object* o, std::string_view key) {
  if (!o) return std::nullopt;
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return std::nullopt;
  return std::string_view(it->value().get_string());
}

std::string_view non_empty(std::optional<std::string_view> v) { return v ? *v : std::string_view(); }

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string percent_encode(std::string_view s, std::string_view also_keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (is_unreserved(c) || also_keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

// A path as ServerRequest wants it (percent-encoded); '%' is kept so an already-encoded path survives.
std::string encode_path(std::string_view path) {
  std::string p = percent_encode(path, "/:@!$&'()*+,;=%");
  if (p.empty() || p.front() != '/') p.insert(p.begin(), '/');
  return p;
}

bool reserved_header(std::string_view name) {
  return name.size() >= kReservedHeaderPrefix.size() && iequals(name.substr(0, kReservedHeaderPrefix.size()), kReservedHeaderPrefix);
}

void add_header(net::Headers& h, std::string_view name, std::string_view value) {
  if (name.empty() || reserved_header(name)) return;
  h.add(std::string(name), std::string(value));
}

Status decode_body(const json::object& ev, std::string& out) {
  auto it = ev.find("body");
  if (it == ev.end() || it->value().is_null()) return {};
  if (!it->value().is_string()) return fail(ErrorKind::invalid_input, "event body is not a string");
  std::string_view body = it->value().get_string();
  bool b64 = false;
  if (auto f = ev.find("isBase64Encoded"); f != ev.end() && f->value().is_bool()) b64 = f->value().get_bool();
  if (!b64) {
    out.assign(body);
    return {};
  }
  auto decoded = base64_decode(body);
  if (!decoded) return fail(ErrorKind::invalid_input, "event body is not valid base64");
  out = std::move(*decoded);
  return {};
}

void finish_target(net::ServerRequest& r) { r.target = r.query.empty() ? r.path : r.path + "?" + r.query; }

Result<ApigwRequest> parse_v1(const json::object& ev) {
  ApigwRequest out;
  out.version = 1;
  auto& r = out.request;
  r.method = std::string(ev.at("httpMethod").get_string());
  r.path = encode_path(ev.at("path").get_string());

  // Query: multiValue* carries every value; the single-valued map only the last one.
  std::string query;
  auto append_param = [&](std::string_view k, std::string_view v) {
    if (!query.empty()) query += '&';
    query += percent_encode(k, "");
    query += '=';
    query += percent_encode(v, "");
  };
  if (auto* mv = object_at(ev, "multiValueQueryStringParameters")) {
    for (const auto& [k, v] : *mv) {
      if (!v.is_array()) continue;
      for (const auto& item : v.get_array())
        if (item.is_string()) append_param(k, item.get_string());
    }
  } else if (auto* sv = object_at(ev, "queryStringParameters")) {
    for (const auto& [k, v] : *sv)
      if (v.is_string()) append_param(k, v.get_string());
  }
  r.query = std::move(query);
  finish_target(r);

  if (auto* mv = object_at(ev, "multiValueHeaders")) {
    for (const auto& [k, v] : *mv) {
      if (!v.is_array()) continue;
      for (const auto& item : v.get_array())
        if (item.is_string()) add_header(r.headers, k, item.get_string());
    }
  } else if (auto* sv = object_at(ev, "headers")) {
    for (const auto& [k, v] : *sv)
      if (v.is_string()) add_header(r.headers, k, v.get_string());
  }
  if (auto st = decode_body(ev, r.body); !st) return std::unexpected(std::move(st.error()));

  const json::object* ctx = object_at(ev, "requestContext");
  const json::object* identity = ctx ? object_at(*ctx, "identity") : nullptr;
  const json::object* authorizer = ctx ? object_at(*ctx, "authorizer") : nullptr;
  r.remote_address = std::string(non_empty(string_at(identity, "sourceIp")));
  Identity& id = out.identity;
  if (auto k = string_at(identity, "apiKeyId"); k && !k->empty()) {
    id = {std::string(*k), "apikey"};
  } else if (auto p = string_at(authorizer, "principalId"); p && !p->empty()) {
    id = {std::string(*p), "authorizer"};
  } else if (auto s = string_at(authorizer ? object_at(*authorizer, "claims") : nullptr, "sub"); s && !s->empty()) {
    id = {std::string(*s), "jwt"};
  } else if (auto a = string_at(identity, "userArn"); a && !a->empty()) {
    id = {std::string(*a), "iam"};
  }
  return out;
}

Result<ApigwRequest> parse_v2(const json::object& ev) {
  ApigwRequest out;
  out.version = 2;
  auto& r = out.request;
  const json::object* ctx = object_at(ev, "requestContext");
  const json::object* http = ctx ? object_at(*ctx, "http") : nullptr;
  r.method = std::string(non_empty(string_at(http, "method")));
  r.remote_address = std::string(non_empty(string_at(http, "sourceIp")));

  std::string_view raw_path = non_empty(string_at(&ev, "rawPath"));
  if (raw_path.empty()) raw_path = non_empty(string_at(http, "path"));
  // A named stage (not $default) appears as the first path segment.
  if (auto stage = string_at(ctx, "stage"); stage && !stage->empty() && *stage != "$default") {
    std::string prefix = "/" + std::string(*stage);
    if (raw_path == prefix) {
      raw_path = "/";
    } else if (raw_path.size() > prefix.size() && raw_path.substr(0, prefix.size()) == prefix &&
               raw_path[prefix.size()] == '/') {
      raw_path.remove_prefix(prefix.size());
    }
  }
  r.path = encode_path(raw_path);
  r.query = std::string(non_empty(string_at(&ev, "rawQueryString")));
  finish_target(r);

  if (auto* h = object_at(ev, "headers")) {
    for (const auto& [k, v] : *h)
      if (v.is_string()) add_header(r.headers, k, v.get_string());
  }
  if (auto it = ev.find("cookies"); it != ev.end() && it->value().is_array()) {
    std::string cookie;
    for (const auto& c : it->value().get_array()) {
      if (!c.is_string()) continue;
      if (!cookie.empty()) cookie += "; ";
      cookie += c.get_string();
    }
    if (!cookie.empty()) {
      if (auto existing = r.headers.get("cookie")) cookie = std::string(*existing) + "; " + cookie;
      r.headers.set("cookie", std::move(cookie));
    }
  }
  if (auto st = decode_body(ev, r.body); !st) return std::unexpected(std::move(st.error()));

  const json::object* auth = ctx ? object_at(*ctx, "authorizer") : nullptr;
  Identity& id = out.identity;
  if (auto sub = string_at(auth ? object_path(*auth, {"jwt", "claims"}) : nullptr, "sub"); sub && !sub->empty()) {
    id = {std::string(*sub), "jwt"};
  } else if (auto p = string_at(auth ? object_at(*auth, "lambda") : nullptr, "principalId"); p && !p->empty()) {
    id = {std::string(*p), "authorizer"};
  } else if (auto* iam = auth ? object_at(*auth, "iam") : nullptr) {
    auto arn = string_at(iam, "userArn");
    if (!arn || arn->empty()) arn = string_at(iam, "callerId");
    if (arn && !arn->empty()) id = {std::string(*arn), "iam"};
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

bool textual_type(std::string_view content_type) {
  std::string t = to_lower(trim(content_type.substr(0, content_type.find(';'))));
  if (t.starts_with("text/")) return true;
  return t.find("json") != std::string::npos || t.find("xml") != std::string::npos ||
         t.find("javascript") != std::string::npos || t == "application/x-www-form-urlencoded";
}

bool dropped_response_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection") ||
         iequals(name, "keep-alive");
}

class AppendWriter final : public net::BodyWriter {
 public:
  explicit AppendWriter(std::string& out) : out_(out) {}
  boost::asio::awaitable<bool> write(std::string_view chunk) override {
    out_.append(chunk);
    co_return true;
  }

 private:
  std::string& out_;
};

}  // namespace

Result<ApigwRequest> parse_apigw_event(std::string_view event_json) {
  boost::system::error_code ec;
  json::value v = json::parse(event_json, ec);
  if (ec) return fail(ErrorKind::invalid_input, "event is not JSON: " + ec.message());
  if (!v.is_object()) return fail(ErrorKind::invalid_input, "event is not a JSON object");
  const json::object& ev = v.get_object();

  Result<ApigwRequest> out = fail(ErrorKind::invalid_input, "not an API Gateway proxy event");
  const json::object* ctx = object_at(ev, "requestContext");
  if (string_at(&ev, "version") == std::string_view("2.0") && string_at(ctx ? object_at(*ctx, "http") : nullptr, "method")) {
    out = parse_v2(ev);
  } else if (string_at(&ev, "httpMethod") && string_at(&ev, "path")) {
    out = parse_v1(ev);
  }
  if (!out) return out;
  if (out->request.method.empty()) return fail(ErrorKind::invalid_input, "event has no HTTP method");
  // Client-supplied x-ba-* headers were dropped while copying; now set the trusted ones.
  if (auto caller = out->identity.header_value(); !caller.empty())
    out->request.headers.set(std::string(kCallerHeader), std::move(caller));
  return out;
}

Result<net::ServerRequest> from_apigw_event(std::string_view event_json, Identity* out) {
  auto r = parse_apigw_event(event_json);
  if (!r) return std::unexpected(std::move(r.error()));
  if (out) *out = r->identity;
  return std::move(r->request);
}

boost::asio::awaitable<void> buffer_response(net::ServerResponse& response) {
  if (!response.stream) co_return;
  auto stream = std::move(response.stream);
  response.stream = nullptr;
  AppendWriter writer(response.body);
  co_await stream(writer);
}

std::string to_apigw_response(const net::ServerResponse& response, int version) {
  json::object out;
  out["statusCode"] = response.status;

  // Group header values by name (first spelling wins), keeping first-seen order.
  std::vector<std::pair<std::string, std::vector<std::string>>> grouped;
  std::vector<std::string> cookies;
  std::string content_type;
  for (const auto& h : response.headers) {
    if (dropped_response_header(h.name)) continue;
    if (iequals(h.name, "content-type") && content_type.empty()) content_type = h.value;
    if (version == 2 && iequals(h.name, "set-cookie")) {
      cookies.push_back(h.value);
      continue;
    }
    auto it = std::find_if(grouped.begin(), grouped.end(), [&](const auto& g) { return iequals(g.first, h.name); });
    if (it == grouped.end()) {
      grouped.push_back({h.name, {h.value}});
    } else {
      it->second.push_back(h.value);
    }
  }

  json::object headers;
  if (version == 2) {
    for (const auto& [name, values] : grouped) {
      std::string joined;
      for (const auto& v : values) {
        if (!joined.empty()) joined += ",";
        joined += v;
      }
      headers[name] = joined;
    }
    out["headers"] = std::move(headers);
    if (!cookies.empty()) {
      json::array arr;
      for (auto& c : cookies) arr.emplace_back(c);
      out["cookies"] = std::move(arr);
    }
  } else {
    json::object multi;
    for (const auto& [name, values] : grouped) {
      if (values.size() == 1) headers[name] = values.front();
      json::array arr;
      for (const auto& v : values) arr.emplace_back(v);
      multi[name] = std::move(arr);
    }
    out["headers"] = std::move(headers);
    out["multiValueHeaders"] = std::move(multi);
  }

  const std::string& body = response.body;
  bool text = body.empty() || ((content_type.empty() || textual_type(content_type)) && valid_utf8(body));
  if (text) {
    out["body"] = body;
    out["isBase64Encoded"] = false;
  } else {
    out["body"] = base64_encode(body);
    out["isBase64Encoded"] = true;
  }
  return json::serialize(out);
}

net::ServerResponse error_proxy_response(int status, std::string_view type, std::string_view message) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("content-type", "application/json");
  json::object err{{"type", type}, {"message", message}};
  r.body = json::serialize(json::object{{"error", std::move(err)}});
  return r;
}

}  // namespace ba::lambda
