#include "sim/auth.hpp"

#include <openssl/crypto.h>

#include <ctime>
#include "sim/text.hpp"
#include <vector>

#include "aws/sigv4.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace {

constexpr const char* kMismatch =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details.";

struct ParsedAuth {
  std::string access_key;
  std::string date;     // scope date YYYYMMDD
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lower case
  std::string signature;
};

AuthFailure incomplete(std::string msg) { return AuthFailure{400, "IncompleteSignatureException", std::move(msg)}; }

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::optional<AuthFailure> parse_sigv4(std::string_view value, ParsedAuth& out) {
  value.remove_prefix(std::string_view("AWS4-HMAC-SHA256").size());
  bool have_cred = false, have_signed = false, have_sig = false;
  for (auto part : split(value, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos) return incomplete(detail::format("Authorization header requires each component to be of the form key=value. '{}' is not.", part));
    auto key = part.substr(0, eq);
    auto val = part.substr(eq + 1);
    if (key == "Credential") {
      auto scope = split(val, '/');
      if (scope.size() != 5 || scope[4] != "aws4_request" || scope[0].empty())
        return incomplete(detail::format("Credential should be scoped to a valid region. '{}'", val));
      out.access_key = std::string(scope[0]);
      out.date = std::string(scope[1]);
      out.region = std::string(scope[2]);
      out.service = std::string(scope[3]);
      have_cred = true;
    } else if (key == "SignedHeaders") {
      for (auto h : split(val, ';'))
        if (!h.empty()) out.signed_headers.push_back(to_lower(h));
      have_signed = !out.signed_headers.empty();
    } else if (key == "Signature") {
      out.signature = std::string(val);
      have_sig = !out.signature.empty();
    }
  }
  if (!have_cred) return incomplete("Authorization header requires 'Credential' parameter.");
  if (!have_signed) return incomplete("Authorization header requires 'SignedHeaders' parameter.");
  if (!have_sig) return incomplete("Authorization header requires 'Signature' parameter.");
  return std::nullopt;
}

// "20150830T123600Z" -> time point.
std::optional<WallTime> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int y = num(0, 4), mo = num(4, 2), d = num(6, 2), h = num(9, 2), mi = num(11, 2), se = num(13, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
    return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return WallTime{std::chrono::sys_days{ymd}.time_since_epoch() + std::chrono::hours{h} + std::chrono::minutes{mi} +
                  std::chrono::seconds{se}};
}

std::string amz_date(WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<AuthFailure> check_auth(const net::ServerRequest& request, const AuthConfig& config, WallTime now) {
  auto header = request.headers.get("authorization");
  if (!header || trim(*header).empty()) return AuthFailure{403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  const std::string_view value = trim(*header);

  if (value.size() > 7 && iequals(value.substr(0, 7), "Bearer ")) {
    const auto token = trim(value.substr(7));
    if (token.empty()) return AuthFailure{403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
    if (!config.api_key.empty() && !constant_time_equal(token, config.api_key))
      return AuthFailure{403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix"};
    return std::nullopt;
  }
  if (!value.starts_with("AWS4-HMAC-SHA256 ")) {
    return incomplete(detail::format("Authorization header requires 'Credential' parameter. Authorization header requires "
                                  "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
                                  "Authorization={}", value.substr(0, value.find(' '))));
  }
  ParsedAuth parsed;
  if (auto bad = parse_sigv4(value, parsed)) return bad;

  const bool verify = !config.access_key_id.empty() && !config.secret_access_key.empty();
  if (!verify) return std::nullopt;

  if (parsed.access_key != config.access_key_id)
    return AuthFailure{403, "UnrecognizedClientException", "The security token included in the request is invalid."};
  if (parsed.service != config.service)
    return AuthFailure{403, "InvalidSignatureException",
                       detail::format("Credential should be scoped to correct service: '{}'. ", config.service)};
  if (!config.region.empty() && parsed.region != config.region)
    return AuthFailure{403, "InvalidSignatureException",
                       detail::format("Credential should be scoped to a valid region, not '{}'. ", parsed.region)};

  auto date_header = request.headers.get("x-amz-date");
  if (!date_header)
    return incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  auto signed_at = parse_amz_date(*date_header);
  if (!signed_at) return incomplete(detail::format("Date must be in ISO-8601 'basic format'. Got '{}'.", *date_header));
  if (date_header->substr(0, 8) != parsed.date)
    return AuthFailure{403, "InvalidSignatureException",
                       detail::format("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                                   "HTTP: '{}' != '{}', from '{}'.", parsed.date, date_header->substr(0, 8), *date_header)};
  if (*signed_at + config.max_skew < now)
    return AuthFailure{403, "InvalidSignatureException",
                       detail::format("Signature expired: {} is now earlier than {} ({} - {} min.)", *date_header,
                                   amz_date(now - config.max_skew), amz_date(now), config.max_skew.count())};
  if (*signed_at - config.max_skew > now)
    return AuthFailure{403, "InvalidSignatureException",
                       detail::format("Signature not yet current: {} is still later than {} ({} + {} min.)", *date_header,
                                   amz_date(now + config.max_skew), amz_date(now), config.max_skew.count())};

  // Rebuild the request from the headers the client signed and sign it again with our secret.
  net::HttpRequest copy;
  copy.method = request.method;
  const auto host = request.headers.get("host");
  copy.url = "http://" + std::string(host ? *host : std::string_view("localhost")) + request.target;
  copy.body = request.body;
  aws::Credentials creds{.access_key_id = config.access_key_id, .secret_access_key = config.secret_access_key};
  aws::SigningParams params{.region = parsed.region, .service = parsed.service, .time = *signed_at};
  for (const auto& name : parsed.signed_headers) {
    if (name == "x-amz-date" || name == "authorization") continue;  // re-added by the signer
    if (name == "x-amz-security-token") {
      if (auto token = request.headers.get(name)) creds.session_token = std::string(*token);
      continue;
    }
    if (name == "x-amz-content-sha256")
      if (auto hash = request.headers.get(name)) params.payload_hash = std::string(*hash);
    bool found = false;
    for (const auto& h : request.headers)
      if (iequals(h.name, name)) {
        copy.headers.add(name, h.value);
        found = true;
      }
    if (!found) return AuthFailure{403, "InvalidSignatureException", kMismatch};
  }
  const auto details = aws::sign_request(copy, creds, params);
  if (!constant_time_equal(details.signature, parsed.signature))
    return AuthFailure{403, "InvalidSignatureException", kMismatch};
  return std::nullopt;
}

}  // namespace ba::sim
