// SigV4 canonicalisation (aws::sign_request, presign_request; docs/testing.md, "Fuzzing") on a fuzzed
// method, path, query, headers, body, flags and time. Checked:
// - signing is deterministic, and the canonical request has its documented lines (method, URI, query,
//   one line per signed header, blank, signed header list, payload hash);
// - what must not matter does not: the order of the query's parameters, percent-encoding of unreserved
//   characters in the query (%41 for A), the order of differently named headers and the case of names;
// - the canonical URI starts with '/', and with path normalisation holds no "." / ".." / empty segment;
// - the canonical query's parameters are sorted and encoded (unreserved characters and %XX only);
// - a presigned URL carries its signature, and the query a server rebuilds from the URL (without
//   X-Amz-Signature) is the canonical query that was signed.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aws/sigv4.hpp"
#include "fuzz_check.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace {

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string token(FuzzedDataProvider& in, std::size_t max) {
  std::string s = in.ConsumeRandomLengthString(max);
  for (char& c : s)
    if (!unreserved(c)) c = 'x';
  return s.empty() ? std::string("x") : s;
}

// Canonical query rebuilt as a server does, from a raw query (pieces decoded, re-encoded, sorted).
std::string server_query(std::string_view query, bool drop_signature, bool drop_token) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& piece : split(query, '&')) {
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    std::string k = ba::net::uri_decode(std::string_view(piece).substr(0, eq));
    std::string v = eq == std::string::npos ? std::string() : ba::net::uri_decode(std::string_view(piece).substr(eq + 1));
    if (drop_signature && k == "X-Amz-Signature") continue;
    if (drop_token && k == "X-Amz-Security-Token") continue;
    pairs.emplace_back(ba::net::uri_encode(k), ba::net::uri_encode(v));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ba::aws::SigningParams params;
  params.region = token(in, 16);
  params.service = token(in, 16);
  // Up to 2255: the clock counts nanoseconds in 64 bits.
  params.time = ba::WallTime{std::chrono::seconds{in.ConsumeIntegralInRange<std::int64_t>(0, 9'000'000'000)}};
  params.double_encode_path = in.ConsumeBool();
  params.normalize_path = in.ConsumeBool();
  params.sign_body = in.ConsumeBool();
  params.omit_session_token = in.ConsumeBool();
  if (in.ConsumeBool()) params.payload_hash = "UNSIGNED-PAYLOAD";
  ba::aws::Credentials creds;
  creds.access_key_id = token(in, 20);
  creds.secret_access_key = in.ConsumeRandomLengthString(40);
  if (in.ConsumeBool()) creds.session_token = in.ConsumeRandomLengthString(40);

  ba::net::HttpRequest req;
  req.method = token(in, 8);
  const std::string path = in.ConsumeRandomLengthString(64);
  std::string query = in.ConsumeRandomLengthString(96);
  for (char& c : query)
    if (c == '#') c = '%';  // a fragment would end the query
  const std::string host = in.ConsumeBool() ? "example.amazonaws.com" : "127.0.0.1:8000";
  // request.url holds the path percent-encoded once, as the clients build it.
  std::string path_part = ba::net::uri_encode(path, false);
  if (!path_part.starts_with('/')) path_part.insert(0, "/");
  req.url = "https://" + host + path_part + (query.empty() ? "" : "?" + query);
  const int header_count = in.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < header_count; ++i) {
    std::string name = token(in, 12);
    req.headers.add(name, in.ConsumeRandomLengthString(32));
  }
  req.body = in.ConsumeRemainingBytesAsString();

  ba::net::HttpRequest a = req, b = req;
  const auto da = ba::aws::sign_request(a, creds, params);
  const auto db = ba::aws::sign_request(b, creds, params);
  FUZZ_CHECK(da.canonical_request == db.canonical_request && da.signature == db.signature);
  FUZZ_CHECK(da.signature.size() == 64);

  const auto lines = split(da.canonical_request, '\n');
  FUZZ_CHECK(lines.size() >= 6);
  FUZZ_CHECK(lines[0] == req.method);
  const std::string& uri = lines[1];
  FUZZ_CHECK(uri.starts_with('/'));
  if (params.normalize_path) {
    // Segments of the canonical URI (double-encoded or not, "." stays "."): no dot or empty segment
    // between the leading '/' and a trailing '/'.
    auto segs = split(std::string_view(uri).substr(1), '/');
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (i + 1 == segs.size() && segs[i].empty()) continue;
      FUZZ_CHECK(!segs[i].empty() && segs[i] != "." && segs[i] != "..");
    }
  }
  const std::string& cq = lines[2];
  FUZZ_CHECK(cq == server_query(query, false, false));
  {
    std::vector<std::string> params_sorted = cq.empty() ? std::vector<std::string>() : split(cq, '&');
    for (const auto& p : params_sorted) {
      for (std::size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '%') {
          FUZZ_CHECK(i + 2 < p.size());
          FUZZ_CHECK(std::isxdigit(static_cast<unsigned char>(p[i + 1])) && std::isxdigit(static_cast<unsigned char>(p[i + 2])));
          FUZZ_CHECK(!std::islower(static_cast<unsigned char>(p[i + 1])) && !std::islower(static_cast<unsigned char>(p[i + 2])));
        } else {
          FUZZ_CHECK(unreserved(c) || c == '=');
        }
      }
    }
  }
  // Headers: from line 3 up to the blank line; then the signed list, then the payload hash.
  std::size_t blank = 3;
  while (blank < lines.size() && !lines[blank].empty()) ++blank;
  FUZZ_CHECK(blank + 3 == lines.size());
  const auto names = split(lines[blank + 1], ';');
  FUZZ_CHECK(std::is_sorted(names.begin(), names.end()));
  FUZZ_CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  FUZZ_CHECK(names.size() == blank - 3);
  FUZZ_CHECK(std::find(names.begin(), names.end(), "host") != names.end());
  FUZZ_CHECK(std::find(names.begin(), names.end(), "x-amz-date") != names.end());
  for (std::size_t i = 3; i < blank; ++i) FUZZ_CHECK(lines[i].starts_with(names[i - 3] + ":"));

  // Reordered query parameters, unreserved characters percent-encoded, headers grouped by name with
  // upper-case names: the same canonical request.
  {
    ba::net::HttpRequest c = req;
    auto pieces = split(query, '&');
    std::reverse(pieces.begin(), pieces.end());
    std::string q2;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (i) q2 += '&';
      const bool escapes = pieces[i].find('%') != std::string::npos;  // leave %XX sequences whole
      for (char ch : pieces[i]) {
        if (!escapes && unreserved(ch) && (ch & 1)) {
          static constexpr char hex[] = "0123456789ABCDEF";
          q2 += '%';
          q2 += hex[static_cast<unsigned char>(ch) >> 4];
          q2 += hex[static_cast<unsigned char>(ch) & 15];
        } else {
          q2 += ch;
        }
      }
    }
    c.url = "https://" + host + path_part + (query.empty() ? "" : "?" + q2);
    std::vector<ba::net::Header> hs(req.headers.begin(), req.headers.end());
    std::stable_sort(hs.begin(), hs.end(), [](const auto& x, const auto& y) {
      return ba::to_lower(x.name) > ba::to_lower(y.name);
    });
    c.headers = {};
    for (auto& h : hs) {
      std::string upper = h.name;
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      c.headers.add(upper, h.value);
    }
    const auto dc = ba::aws::sign_request(c, creds, params);
    FUZZ_CHECK(dc.canonical_request == da.canonical_request);
  }

  // Presigned: the URL carries the signature; the query rebuilt from it is the one that was signed.
  {
    ba::net::HttpRequest p = req;
    const auto dp = ba::aws::presign_request(p, creds, params, std::chrono::seconds{900});
    const auto plines = split(dp.canonical_request, '\n');
    FUZZ_CHECK(plines.size() >= 6);
    auto q = p.url.find('?');
    FUZZ_CHECK(q != std::string::npos);
    const std::string pq = p.url.substr(q + 1);
    FUZZ_CHECK(pq.find("X-Amz-Signature=" + dp.signature) != std::string::npos);
    const bool token_unsigned = !creds.session_token.empty() && params.omit_session_token;
    FUZZ_CHECK(server_query(pq, true, token_unsigned) == plines[2]);
  }
  return 0;
}
