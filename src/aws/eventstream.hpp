#pragma once
// The AWS event-stream binary framing (application/vnd.amazon.eventstream): prelude, typed headers,
// payload, two CRC-32s. Used by ConverseStream/InvokeModelWithResponseStream and by the simulator.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/result.hpp"

namespace ba::aws::eventstream {

struct HeaderValue {
  enum class Type : std::uint8_t { bool_true = 0, bool_false = 1, int8 = 2, int16 = 3, int32 = 4, int64 = 5,
                                   bytes = 6, string = 7, timestamp = 8, uuid = 9 };
  Type type = Type::string;
  std::int64_t integer = 0;  // int types, timestamp (ms)
  std::string data;          // bytes, string, uuid (16 raw bytes)
};

struct MessageHeader {
  std::string name;
  HeaderValue value;
};

struct Message {
  std::vector<MessageHeader> headers;
  std::string payload;
  // The string value of a header, if present and of string type.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Encodes one frame.
std::string encode(const Message& message);
// Convenience: a frame with string headers only.
std::string encode(const std::vector<std::pair<std::string, std::string>>& string_headers, std::string_view payload);

// Incremental decoder: feed bytes as they arrive, take complete messages out. Any corruption (bad CRC,
// impossible lengths, duplicate or malformed headers, over-size) is a permanent error.
class Decoder {
 public:
  static constexpr std::size_t kMaxPayload = 24 * 1024 * 1024;
  static constexpr std::size_t kMaxHeaders = 128 * 1024;

  void feed(std::string_view bytes);
  // Next complete message, std::nullopt if more bytes are needed, or an Error (kind network) on corruption.
  Result<std::optional<Message>> next();
  // True if bytes of an incomplete frame are buffered (a truncated stream at EOF).
  bool has_partial() const { return buffer_.size() > offset_; }

 private:
  std::string buffer_;
  std::size_t offset_ = 0;
  std::optional<Error> error_;
};

}  // namespace ba::aws::eventstream
