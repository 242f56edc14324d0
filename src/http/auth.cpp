#include "http/auth.hpp"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

#include "util/encoding.hpp"

namespace ba::http {

std::string key_fingerprint(std::string_view key) { return "key:" + sha256_hex(key).substr(0, 16); }

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
  for (const auto& k : keys) digests_.push_back({sha256(k), key_fingerprint(k)});
}

Result<ApiKeys> ApiKeys::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorKind::invalid_input, "cannot read the API keys file '" + path + "'");
  std::vector<std::string> keys;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string_view k = trim(line);
    if (k.empty() || k.front() == '#') continue;
    for (char c : k) {
      if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
        return fail(ErrorKind::invalid_input, "API keys file '" + path + "' line " + std::to_string(lineno) +
                                                  ": a key must be one token of printable characters without spaces");
      }
    }
    keys.emplace_back(k);
  }
  if (in.bad()) return fail(ErrorKind::invalid_input, "error reading the API keys file '" + path + "'");
  if (keys.empty()) {
    return fail(ErrorKind::invalid_input,
                "the API keys file '" + path + "' holds no key (one key per line; '#' starts a comment)");
  }
  return ApiKeys(keys);
}

std::optional<std::string> presented_key(const net::Headers& headers) {
  if (auto auth = headers.get("authorization")) {
    std::string_view v = trim(*auth);
    if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) {
      std::string_view token = trim(v.substr(7));
      if (!token.empty()) return std::string(token);
    }
  }
  if (auto key = headers.get("x-api-key")) {
    std::string_view v = trim(*key);
    if (!v.empty()) return std::string(v);
  }
  return std::nullopt;
}

std::optional<std::string> ApiKeys::authenticate(const net::Headers& headers) const {
  if (digests_.empty()) return std::string(kAnonymousOwner);
  auto key = presented_key(headers);
  if (!key) return std::nullopt;
  // Compare fixed-size digests in constant time, visiting every key whatever matches.
  const std::string digest = sha256(*key);
  const Entry* match = nullptr;
  for (const auto& e : digests_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (!match) return std::nullopt;
  return match->fingerprint;
}

}  // namespace ba::http
