#include "sim/reply.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/json.hpp>

#include "util/clock.hpp"
#include "util/encoding.hpp"

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

namespace json = boost::json;

json::value sample_for(const json::value& schema, int depth);

// The first type a schema names ("type": "x" or ["x", "null"]).
std::string schema_type(const json::object& s) {
  auto t = s.if_contains("type");
  if (t && t->is_string()) return std::string(t->as_string());
  if (t && t->is_array()) {
    for (const auto& x : t->as_array())
      if (x.is_string() && x.as_string() != "null") return std::string(x.as_string());
    return "null";
  }
  if (s.contains("properties")) return "object";
  return "string";
}

json::value sample_object(const json::object& s, int depth) {
  json::object out;
  auto props = s.if_contains("properties");
  auto required = s.if_contains("required");
  if (!props || !props->is_object() || !required || !required->is_array()) return out;
  for (const auto& r : required->as_array()) {
    if (!r.is_string()) continue;
    auto p = props->as_object().if_contains(r.as_string());
    out[r.as_string()] = p ? sample_for(*p, depth + 1) : json::value("sample");
  }
  return out;
}

json::value sample_for(const json::value& schema, int depth) {
  if (!schema.is_object() || depth > 8) return "sample";
  const auto& s = schema.as_object();
  if (auto e = s.if_contains("enum"); e && e->is_array() && !e->as_array().empty()) return e->as_array()[0];
  if (auto c = s.if_contains("const")) return *c;
  const std::string type = schema_type(s);
  auto minimum = s.if_contains("minimum");
  if (type == "integer") return minimum && minimum->is_number() ? json::value(static_cast<std::int64_t>(minimum->to_number<double>())) : json::value(1);
  if (type == "number") return minimum && minimum->is_number() ? *minimum : json::value(1);
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  if (type == "object") return sample_object(s, depth);
  if (type == "array") {
    json::array out;
    auto items = s.if_contains("items");
    auto min_items = s.if_contains("minItems");
    const std::int64_t n = min_items && min_items->is_int64() ? std::min<std::int64_t>(min_items->as_int64(), 16) : 0;
    for (std::int64_t i = 0; i < n; ++i) out.push_back(items ? sample_for(*items, depth + 1) : json::value("sample"));
    return out;
  }
  return "sample";
}

}  // namespace

std::string tool_input_for(std::string_view schema_json) {
  boost::system::error_code ec;
  json::value schema = json::parse(schema_json, ec);
  if (ec || !schema.is_object()) return "{}";
  json::value v = sample_object(schema.as_object(), 0);
  return json::serialize(v);
}

ToolCall make_tool_call(std::uint64_t seed, std::string_view fingerprint, std::string name, std::string_view schema_json) {
  ToolCall t;
  const std::string digest = hex_encode(sha256(std::to_string(seed) + '\n' + std::string(fingerprint)));
  t.id = "tooluse_" + digest.substr(0, 22);
  t.name = std::move(name);
  t.input = tool_input_for(schema_json);
  // A few pieces (four, fewer for a shorter input, never fewer than two), cut between bytes that start
  // UTF-8 sequences, as a model streams its tool input.
  const std::size_t n = std::clamp<std::size_t>(t.input.size(), 2, 4);
  std::size_t from = 0;
  for (std::size_t i = 1; i <= n; ++i) {
    const std::size_t to = i == n ? t.input.size() : utf8_prefix(t.input, t.input.size() * i / n).size();
    if (to > from || i == n) t.input_pieces.push_back(t.input.substr(from, to - from));
    from = std::max(from, to);
  }
  t.output_tokens = count_tokens(t.name) + count_tokens(t.input);
  return t;
}

namespace {
// The simulator's own secret for reasoning signatures: signatures only need to be unforgeable by a client
// that edits the reasoning, not secret from one that reads this source.
constexpr std::string_view kReasoningSecret = "bedrock-agent-simulator/reasoning-signature/v1";
std::string reasoning_mac(std::string_view data) { return hmac_sha256(kReasoningSecret, data); }
}  // namespace

Reasoning make_reasoning(std::uint64_t seed, std::string_view fingerprint, std::string_view last_user_text,
                         std::int64_t budget_tokens) {
  Reasoning r;
  const std::string digest = sha256(std::to_string(seed) + "\nreasoning\n" + std::string(fingerprint));
  if (last_user_text.find(kRedactedThinkingTrigger) != std::string_view::npos) {
    const std::string nonce = digest.substr(0, 16);
    r.redacted = nonce + reasoning_mac("redacted\n" + nonce).substr(0, 16);
    r.output_tokens = 8;
    return r;
  }
  // "Considering: <the question's start>." then words, within the budget (one word a token).
  std::string_view topic = utf8_prefix(last_user_text, 48);
  Reply words = make_reply(ReplySpec{.seed = seed ^ 0x7265617361ULL, .fingerprint = fingerprint, .last_user_text = {},
                                     .reply_tokens = 12, .max_tokens = std::max<std::int64_t>(budget_tokens - 16, 1),
                                     .echo = false});
  r.pieces.push_back("Considering: " + std::string(topic) + ".");
  for (auto& p : words.pieces) r.pieces.push_back(p.starts_with(' ') ? p : " " + p);
  for (const auto& p : r.pieces) r.text += p;
  r.signature = base64_encode(reasoning_mac("text\n" + r.text));
  r.output_tokens = count_tokens(r.text);
  return r;
}

bool reasoning_signature_valid(std::string_view text, std::string_view signature) {
  return !signature.empty() && base64_encode(reasoning_mac("text\n" + std::string(text))) == signature;
}

bool redacted_reasoning_valid(std::string_view bytes) {
  return bytes.size() == 32 && reasoning_mac("redacted\n" + std::string(bytes.substr(0, 16))).substr(0, 16) == bytes.substr(16);
}

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
