#pragma once
// API keys for the HTTP API: `Authorization: Bearer <key>` or `x-api-key: <key>`.
// Keys are held only as SHA-256 digests and compared in constant time; a caller is identified by a
// stable fingerprint of its key ("key:" + 16 hex chars of SHA-256), which owns its conversations and
// appears in logs. The key itself is never stored or logged.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_message.hpp"
#include "util/result.hpp"

namespace ba::http {

inline constexpr std::string_view kAnonymousOwner = "anonymous";

std::string key_fingerprint(std::string_view key);

class ApiKeys {
 public:
  ApiKeys() = default;
  explicit ApiKeys(const std::vector<std::string>& keys);

  // One key per line; blank lines and lines starting with '#' are ignored; surrounding whitespace is
  // trimmed. Errors: the file cannot be read, or holds no key (invalid_input), or a key has spaces.
  static Result<ApiKeys> load_file(const std::string& path);

  bool empty() const { return digests_.empty(); }
  std::size_t size() const { return digests_.size(); }

  // The caller's fingerprint if the headers carry a known key; nullopt otherwise. With no keys
  // configured every request is "anonymous".
  std::optional<std::string> authenticate(const net::Headers& headers) const;

 private:
  struct Entry {
    std::string digest;       // raw SHA-256 of the key
    std::string fingerprint;  // key_fingerprint(key)
  };
  std::vector<Entry> digests_;
};

// The presented key: the Bearer token of Authorization, else x-api-key; nullopt if neither.
std::optional<std::string> presented_key(const net::Headers& headers);

}  // namespace ba::http
