#include "util/encoding.hpp"
#include "util/uuid.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <pthread.h>

#include <cstring>
#include <stdexcept>

namespace ba {

std::string hex_encode(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  char* o = out.data();
  for (unsigned char c : bytes) {
    *o++ = digits[c >> 4];
    *o++ = digits[c & 0xf];
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) | (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) |
                      std::uint8_t(bytes[i + 2]);
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(table[(v >> 6) & 63]);
    out.push_back(table[v & 63]);
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(rest == 2 ? table[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  return out;
}

namespace {

// OpenSSL 3's one-shot SHA256() and HMAC() look their algorithm up by name (a search of the provider's
// method store under a lock) and allocate a context on every call: that was most of SigV4's cost per
// request. The algorithms are fetched once, and each thread keeps one context of each, re-initialised
// per use.
struct DigestContexts {
  EVP_MD_CTX* md = nullptr;
  EVP_MAC_CTX* mac = nullptr;

  DigestContexts() {
    static EVP_MD* const sha = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    md = EVP_MD_CTX_new();
    mac = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (!sha || !md || !mac || EVP_DigestInit_ex2(md, sha, nullptr) != 1 || EVP_MAC_CTX_set_params(mac, params) != 1)
      throw std::runtime_error("OpenSSL: SHA-256 or HMAC unavailable");
  }
  ~DigestContexts() {
    EVP_MAC_CTX_free(mac);
    EVP_MD_CTX_free(md);
  }
  DigestContexts(const DigestContexts&) = delete;
  DigestContexts& operator=(const DigestContexts&) = delete;
};

DigestContexts& digest_contexts() {
  thread_local DigestContexts c;
  return c;
}

}  // namespace

std::string sha256(std::string_view data) {
  EVP_MD_CTX* ctx = digest_contexts().md;
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  // Init with a null type keeps the fetched SHA-256 and resets the state.
  if (EVP_DigestInit_ex2(ctx, nullptr, nullptr) != 1 || EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), nullptr) != 1)
    throw std::runtime_error("OpenSSL: SHA-256 failed");
  return out;
}

std::string sha256_hex(std::string_view data) { return hex_encode(sha256(data)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  EVP_MAC_CTX* ctx = digest_contexts().mac;
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  std::size_t len = 0;
  // An empty key must still be given (a null key would reuse the previous one).
  static constexpr unsigned char kNoKey = 0;
  const auto* k = key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, k, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) != 1 || len != out.size())
    throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  return out;
}

std::uint32_t crc32(std::string_view data, std::uint32_t seed) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = seed ^ 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

namespace {

// Random bytes for ids, drawn from OpenSSL's CSPRNG a block at a time: RAND_bytes costs two getpid
// system calls (its fork check) per call, which showed up on every request. A fork empties the
// forking thread's block (the only thread the child has), so a child never repeats its parent's ids.
struct RandomBlock {
  unsigned char bytes[512];
  std::size_t used = sizeof bytes;
};
thread_local RandomBlock random_block;

void take_random(unsigned char* out, std::size_t n) {
  static const int registered = pthread_atfork(nullptr, nullptr, [] { random_block.used = sizeof random_block.bytes; });
  (void)registered;
  RandomBlock& r = random_block;
  if (r.used + n > sizeof r.bytes) {
    if (RAND_bytes(r.bytes, sizeof r.bytes) != 1) throw std::runtime_error("RAND_bytes failed");
    r.used = 0;
  }
  std::memcpy(out, r.bytes + r.used, n);
  OPENSSL_cleanse(r.bytes + r.used, n);
  r.used += n;
}

}  // namespace

namespace {

// 16 bytes as 8-4-4-4-12 lowercase hex, with the version nibble and the RFC 9562 variant set.
std::string format_uuid(unsigned char (&b)[16], unsigned version) {
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | (version << 4));
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t pos = 0;
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
    out[pos++] = digits[b[i] >> 4];
    out[pos++] = digits[b[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string uuid_v4() {
  unsigned char b[16];
  take_random(b, sizeof b);
  return format_uuid(b, 4);
}

std::string uuid_v7(std::int64_t unix_ms) {
  unsigned char b[16];
  take_random(b, sizeof b);
  const auto ms = static_cast<std::uint64_t>(unix_ms < 0 ? 0 : unix_ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  return format_uuid(b, 7);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  return to_lower(haystack).find(to_lower(needle)) != std::string::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace ba
