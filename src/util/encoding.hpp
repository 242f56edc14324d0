#pragma once
// Byte encodings and digests shared by the AWS protocols (OpenSSL underneath, never in this header).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ba {

std::string hex_encode(std::string_view bytes);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt on invalid input

std::string sha256(std::string_view data);                          // raw 32 bytes
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::uint32_t crc32(std::string_view data, std::uint32_t seed = 0);   // IEEE, as zlib

// Random version-4 UUID, lowercase with dashes; also used for request and conversation ids.
std::string uuid_v4();

// ASCII helpers.
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool icontains(std::string_view haystack, std::string_view needle);  // ASCII case-insensitive
std::string_view trim(std::string_view s);

}  // namespace ba
