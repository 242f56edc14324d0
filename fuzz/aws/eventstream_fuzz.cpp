// The event-stream decoder (aws::eventstream::Decoder; docs/testing.md, "Fuzzing"). The first byte picks
// how the rest is used: bit 0 set, the CRCs of every frame the bytes describe are fixed first (so that
// mutations reach the header and payload parsing, not only the CRC checks); the remaining bits seed the
// sizes of the pieces the stream is fed in. Checked:
// - fed whole or in pieces, the decoder returns the same messages and fails (or not) the same way;
// - once failed it stays failed; each message re-encoded is the frame it came from, byte for byte;
// - the payload and header limits hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aws/eventstream.hpp"
#include "fuzz_check.hpp"
#include "util/encoding.hpp"

namespace es = ba::aws::eventstream;

namespace {

struct Outcome {
  std::vector<es::Message> messages;
  bool failed = false;
  bool partial = false;
};

bool same(const es::Message& a, const es::Message& b) {
  if (a.payload != b.payload || a.headers.size() != b.headers.size()) return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    const auto &x = a.headers[i], &y = b.headers[i];
    if (x.name != y.name || x.value.type != y.value.type || x.value.integer != y.value.integer ||
        x.value.data != y.value.data)
      return false;
  }
  return true;
}

void drain(es::Decoder& d, Outcome& out) {
  for (;;) {
    auto m = d.next();
    if (!m) {
      out.failed = true;
      auto again = d.next();  // a corrupt stream stays corrupt
      FUZZ_CHECK(!again);
      return;
    }
    if (!*m) return;
    out.messages.push_back(std::move(**m));
  }
}

Outcome decode(std::string_view bytes, std::uint8_t seed) {
  es::Decoder d;
  Outcome out;
  std::size_t at = 0;
  std::uint32_t state = seed | 1u;
  while (at < bytes.size() && !out.failed) {
    std::size_t n = bytes.size() - at;
    if (seed) {
      state = state * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (state >> 16) % 64);
    }
    d.feed(bytes.substr(at, n));
    at += n;
    drain(d, out);
  }
  if (!out.failed) out.partial = d.has_partial();
  return out;
}

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

void put32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

// Rewrites the prelude and message CRCs of each frame the total-length fields describe.
void fix_crcs(std::string& s) {
  std::size_t at = 0;
  while (s.size() - at >= 16) {
    const std::uint32_t total = be32(s, at);
    if (total < 16 || total > s.size() - at) return;
    put32(s, at + 8, ba::crc32(std::string_view(s).substr(at, 8)));
    put32(s, at + total - 4, ba::crc32(std::string_view(s).substr(at, total - 4)));
    at += total;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 1) fix_crcs(bytes);

  const Outcome whole = decode(bytes, 0);
  const Outcome pieces = decode(bytes, static_cast<std::uint8_t>(mode >> 1));
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.messages.size() == pieces.messages.size());
  for (std::size_t i = 0; i < whole.messages.size(); ++i) FUZZ_CHECK(same(whole.messages[i], pieces.messages[i]));
  if (!whole.failed) FUZZ_CHECK(whole.partial == pieces.partial);

  // Each message re-encoded is its frame: the frames are consecutive from the start of the bytes.
  std::size_t at = 0;
  for (const auto& m : whole.messages) {
    FUZZ_CHECK(m.payload.size() <= es::Decoder::kMaxPayload);
    const std::string frame = es::encode(m);
    FUZZ_CHECK(std::string_view(bytes).substr(at, frame.size()) == frame);
    at += frame.size();
    for (const auto& h : m.headers) {
      FUZZ_CHECK(!h.name.empty());
      if (h.value.type == es::HeaderValue::Type::uuid) FUZZ_CHECK(h.value.data.size() == 16);
    }
  }
  if (!whole.failed && !whole.partial) FUZZ_CHECK(at == bytes.size());
  return 0;
}
