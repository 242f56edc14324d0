// JsonWriter against Boost.JSON (docs/testing.md, "Fuzzing"). Two inputs in one:
// - any bytes as a string: append_json_string writes what boost::json::serialize writes for that string
//   (the same escapes), and when the bytes are UTF-8 Boost.JSON reads them back unchanged;
// - bytes that Boost.JSON parses: the value written member by member through JsonWriter is what
//   boost::json::serialize writes, except doubles (shortest round trip: std::from_chars must read each
//   back as the same double, -0.0 included; non-finite ones are null). Boost.JSON 1.81 itself reads
//   decimals imprecisely (exact reading came in 1.83), so its reading of our text may be 1 ULP off.
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "util/json_writer.hpp"

namespace json = boost::json;

namespace {

bool has_double(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: return true;
    case json::kind::array:
      for (const auto& e : v.as_array())
        if (has_double(e)) return true;
      return false;
    case json::kind::object:
      for (const auto& [k, e] : v.as_object())
        if (has_double(e)) return true;
      return false;
    default: return false;
  }
}

void write(ba::JsonWriter& w, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: w.null(); break;
    case json::kind::bool_: w.value(v.as_bool()); break;
    case json::kind::int64: w.value(v.as_int64()); break;
    case json::kind::uint64: w.raw(json::serialize(v)); break;  // JsonWriter has no unsigned 64-bit value
    case json::kind::double_: {
      const double d = v.as_double();
      std::string alone;
      ba::JsonWriter(alone).value(d);
      if (std::isfinite(d)) {
        double back = 0;
        auto [p, ec] = std::from_chars(alone.data(), alone.data() + alone.size(), back);
        FUZZ_CHECK(ec == std::errc() && p == alone.data() + alone.size());
        FUZZ_CHECK(back == d && std::signbit(back) == std::signbit(d));
      } else {
        FUZZ_CHECK(alone == "null");
      }
      w.value(d);
      break;
    }
    case json::kind::string: w.value(std::string_view(v.as_string())); break;
    case json::kind::array:
      w.begin_array();
      for (const auto& e : v.as_array()) write(w, e);
      w.end_array();
      break;
    case json::kind::object:
      w.begin_object();
      for (const auto& [k, e] : v.as_object()) {
        w.key(std::string_view(k));
        write(w, e);
      }
      w.end_object();
      break;
  }
}

// `got` (read back from JsonWriter's text) is `want`, doubles compared as numbers.
bool same(const json::value& want, const json::value& got) {
  if (want.is_double()) {
    const double d = want.as_double();
    if (!std::isfinite(d)) return got.is_null();
    if (!got.is_number()) return false;
    const double g = got.to_number<double>();
    // Boost.JSON 1.81 reads decimals imprecisely: up to 2 ULP off (fuzz/corpus/json_writer/
    // imprecise-boost-read*; the text itself is exact, std::from_chars reads it back bit for bit).
    // Allowed: 4 ULP.
    if (std::signbit(g) != std::signbit(d)) return false;
    double x = d;
    for (int ulp = 0; ulp <= 4; ++ulp, x = std::nextafter(x, g))
      if (x == g) return true;
    return false;
  }
  if (want.is_array()) {
    if (!got.is_array() || got.as_array().size() != want.as_array().size()) return false;
    for (std::size_t i = 0; i < want.as_array().size(); ++i)
      if (!same(want.as_array()[i], got.as_array()[i])) return false;
    return true;
  }
  if (want.is_object()) {
    if (!got.is_object() || got.as_object().size() != want.as_object().size()) return false;
    auto g = got.as_object().begin();
    for (const auto& [k, e] : want.as_object()) {
      if (g->key() != k || !same(e, g->value())) return false;
      ++g;
    }
    return true;
  }
  return want == got;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  std::string ours;
  ba::append_json_string(ours, bytes);
  FUZZ_CHECK(ours == json::serialize(json::string(bytes)));
  boost::system::error_code ec;
  json::value back = json::parse(ours, ec);
  if (!ec) FUZZ_CHECK(back.is_string() && back.as_string() == bytes);

  json::value v = json::parse(bytes, ec);
  if (ec) return 0;
  std::string text;
  ba::JsonWriter w(text);
  write(w, v);
  if (!has_double(v)) {
    FUZZ_CHECK(text == json::serialize(v));
  }
  json::value reread = json::parse(text, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(same(v, reread));
  return 0;
}
