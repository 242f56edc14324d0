#include "sim/reply.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "util/clock.hpp"

namespace ba::sim {
namespace {

constexpr std::array<std::string_view, 64> kWords = {
    "the",   "quick", "brown", "fox",   "jumps", "over",  "lazy",  "dog",   "river", "stone", "cloud", "light",
    "north", "south", "east",  "west",  "green", "blue",  "red",   "amber", "small", "large", "quiet", "loud",
    "bread", "salt",  "water", "fire",  "wind",  "earth", "moon",  "sun",   "star",  "field", "tree",  "leaf",
    "road",  "house", "door",  "key",   "book",  "page",  "line",  "word",  "note",  "song",  "bell",  "clock",
    "tea",   "milk",  "honey", "apple", "pear",  "plum",  "grape", "lemon", "iron",  "gold",  "glass", "paper",
    "ink",   "wool",  "silk",  "rope"};

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Splits into deltas: each piece is a word with the whitespace before it.
std::vector<std::string> split_pieces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && s[j] == ' ') ++j;
    while (j < s.size() && s[j] != ' ') ++j;
    out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::int64_t count_tokens(std::string_view text) { return static_cast<std::int64_t>((text.size() + 3) / 4); }

std::optional<std::int64_t> requested_tokens(std::string_view text) {
  constexpr std::string_view kTag = "[[tokens=";
  const auto at = text.find(kTag);
  if (at == std::string_view::npos) return std::nullopt;
  const auto begin = text.data() + at + kTag.size();
  const auto end = text.data() + text.size();
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc{} || ptr + 1 >= end || ptr[0] != ']' || ptr[1] != ']' || n < 0) return std::nullopt;
  return n;
}

Reply make_reply(const ReplySpec& spec) {
  Reply r;
  const std::int64_t max_tokens = std::max<std::int64_t>(spec.max_tokens, 0);
  std::string_view user = spec.last_user_text;
  if (spec.echo && user.starts_with("echo:")) {
    std::string_view rest = user.substr(5);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::int64_t tokens = count_tokens(rest);
    if (tokens > max_tokens) {
      rest = utf8_prefix(rest, static_cast<std::size_t>(max_tokens) * 4);
      tokens = max_tokens;
      r.truncated = true;
    }
    r.text = std::string(rest);
    r.pieces = split_pieces(rest);
    r.output_tokens = tokens;
    return r;
  }
  const std::int64_t wanted = requested_tokens(user).value_or(spec.reply_tokens);
  const std::int64_t n = std::min(std::max<std::int64_t>(wanted, 0), max_tokens);
  r.truncated = wanted > max_tokens;
  SeededRandom rng(spec.seed ^ fnv1a(spec.fingerprint));
  for (std::int64_t i = 0; i < n; ++i) {
    std::string piece = i == 0 ? "" : " ";
    piece += kWords[rng.next_u64() % kWords.size()];
    r.text += piece;
    r.pieces.push_back(std::move(piece));
  }
  r.output_tokens = n;
  return r;
}

}  // namespace ba::sim
