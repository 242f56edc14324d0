#include "aws/eventstream.hpp"

#include <unordered_set>

#include "util/encoding.hpp"

namespace ba::aws::eventstream {
namespace {

constexpr std::size_t kPreludeLen = 12;  // total_len, headers_len, prelude_crc
constexpr std::size_t kMinFrame = 16;    // prelude + message_crc

void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get_be(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

// Over-long names (> 255 bytes) and values (> 65535 bytes) cannot be framed: they are truncated so
// the frame stays well-formed (callers never send such headers; AWS uses short ASCII names).
void encode_header(std::string& out, const MessageHeader& h) {
  using T = HeaderValue::Type;
  const std::string_view name = std::string_view(h.name).substr(0, 255);
  put_u8(out, static_cast<std::uint8_t>(name.size()));
  out += name;
  put_u8(out, static_cast<std::uint8_t>(h.value.type));
  const auto u = static_cast<std::uint64_t>(h.value.integer);
  switch (h.value.type) {
    case T::bool_true:
    case T::bool_false: break;
    case T::int8: put_be(out, u, 1); break;
    case T::int16: put_be(out, u, 2); break;
    case T::int32: put_be(out, u, 4); break;
    case T::int64:
    case T::timestamp: put_be(out, u, 8); break;
    case T::bytes:
    case T::string: {
      const std::string_view data = std::string_view(h.value.data).substr(0, 65535);
      put_be(out, data.size(), 2);
      out += data;
      break;
    }
    case T::uuid: {
      std::string id = h.value.data.substr(0, 16);
      id.resize(16, '\0');
      out += id;
      break;
    }
  }
}

Error corrupt(std::string msg) { return Error::make(ErrorKind::network, "event stream: " + std::move(msg)); }

// Parses the headers block; an Error on malformed or duplicate headers.
Result<std::vector<MessageHeader>> decode_headers(std::string_view in) {
  using T = HeaderValue::Type;
  std::vector<MessageHeader> headers;
  std::unordered_set<std::string> seen;
  std::size_t pos = 0;
  auto need = [&](std::size_t n) { return in.size() - pos >= n; };
  while (pos < in.size()) {
    const std::size_t name_len = static_cast<unsigned char>(in[pos++]);
    if (name_len == 0) return fail(corrupt("empty header name"));
    if (!need(name_len + 1)) return fail(corrupt("truncated header"));
    MessageHeader h;
    h.name.assign(in.substr(pos, name_len));
    pos += name_len;
    const auto type = static_cast<std::uint8_t>(in[pos++]);
    if (type > 9) return fail(corrupt("unknown header type " + std::to_string(type)));
    h.value.type = static_cast<T>(type);
    auto fixed = [&](int bytes) -> bool {
      if (!need(static_cast<std::size_t>(bytes))) return false;
      std::uint64_t raw = get_be(in, pos, bytes);
      pos += static_cast<std::size_t>(bytes);
      switch (bytes) {  // sign-extend
        case 1: h.value.integer = static_cast<std::int8_t>(raw); break;
        case 2: h.value.integer = static_cast<std::int16_t>(raw); break;
        case 4: h.value.integer = static_cast<std::int32_t>(raw); break;
        default: h.value.integer = static_cast<std::int64_t>(raw); break;
      }
      return true;
    };
    bool ok = true;
    switch (h.value.type) {
      case T::bool_true: h.value.integer = 1; break;
      case T::bool_false: h.value.integer = 0; break;
      case T::int8: ok = fixed(1); break;
      case T::int16: ok = fixed(2); break;
      case T::int32: ok = fixed(4); break;
      case T::int64:
      case T::timestamp: ok = fixed(8); break;
      case T::bytes:
      case T::string: {
        if (!need(2)) {
          ok = false;
          break;
        }
        const auto len = static_cast<std::size_t>(get_be(in, pos, 2));
        pos += 2;
        if (!need(len)) {
          ok = false;
          break;
        }
        h.value.data.assign(in.substr(pos, len));
        pos += len;
        break;
      }
      case T::uuid:
        if (!need(16)) {
          ok = false;
          break;
        }
        h.value.data.assign(in.substr(pos, 16));
        pos += 16;
        break;
    }
    if (!ok) return fail(corrupt("truncated value of header " + h.name));
    if (!seen.insert(h.name).second) return fail(corrupt("duplicate header " + h.name));
    headers.push_back(std::move(h));
  }
  return headers;
}

}  // namespace

std::optional<std::string_view> Message::header(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name && h.value.type == HeaderValue::Type::string) return std::string_view(h.value.data);
  return std::nullopt;
}

std::string encode(const Message& message) {
  std::string headers;
  for (const auto& h : message.headers) encode_header(headers, h);
  const std::size_t total = kMinFrame + headers.size() + message.payload.size();
  std::string out;
  out.reserve(total);
  put_be(out, total, 4);
  put_be(out, headers.size(), 4);
  put_be(out, crc32(out), 4);
  out += headers;
  out += message.payload;
  put_be(out, crc32(out), 4);
  return out;
}

std::string encode(const std::vector<std::pair<std::string, std::string>>& string_headers, std::string_view payload) {
  Message m;
  for (const auto& [name, value] : string_headers)
    m.headers.push_back({name, HeaderValue{.type = HeaderValue::Type::string, .data = value}});
  m.payload.assign(payload);
  return encode(m);
}

void Decoder::feed(std::string_view bytes) {
  if (error_) return;
  if (offset_ > 0 && offset_ >= buffer_.size() / 2) {  // compact consumed bytes
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<Message>> Decoder::next() {
  if (error_) return fail(*error_);
  const std::string_view avail = std::string_view(buffer_).substr(offset_);
  if (avail.size() < kPreludeLen) return std::optional<Message>{};
  const auto total = static_cast<std::size_t>(get_be(avail, 0, 4));
  const auto headers_len = static_cast<std::size_t>(get_be(avail, 4, 4));
  const auto prelude_crc = static_cast<std::uint32_t>(get_be(avail, 8, 4));
  auto failed = [&](std::string msg) -> Result<std::optional<Message>> {
    error_ = corrupt(std::move(msg));
    return fail(*error_);
  };
  if (crc32(avail.substr(0, 8)) != prelude_crc) return failed("prelude CRC mismatch");
  if (total < kMinFrame || headers_len > total - kMinFrame) return failed("impossible frame lengths");
  if (headers_len > kMaxHeaders) return failed("headers exceed 128 KiB");
  if (total - kMinFrame - headers_len > kMaxPayload) return failed("payload exceeds 24 MiB");
  if (avail.size() < total) return std::optional<Message>{};
  const std::string_view frame = avail.substr(0, total);
  const auto message_crc = static_cast<std::uint32_t>(get_be(frame, total - 4, 4));
  if (crc32(frame.substr(0, total - 4)) != message_crc) return failed("message CRC mismatch");
  auto headers = decode_headers(frame.substr(kPreludeLen, headers_len));
  if (!headers) {
    error_ = headers.error();
    return fail(*error_);
  }
  Message m;
  m.headers = std::move(*headers);
  m.payload.assign(frame.substr(kPreludeLen + headers_len, total - kMinFrame - headers_len));
  offset_ += total;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return std::optional<Message>{std::move(m)};
}

}  // namespace ba::aws::eventstream
